/* safetensors.h — reader (mmap) and writer of the safetensors format:
 *   u64 little-endian header length H, H bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ..., "__metadata__": {..}}
 *   then the raw little-endian tensor bytes.
 * The reader validates everything before handing out a tensor: header length
 * within the file, JSON well-formed, known dtype, shape × dtype size equal to
 * the offset span, spans inside the data region and non-overlapping. */
#ifndef HY_SAFETENSORS_H
#define HY_SAFETENSORS_H
#include "dtype.h"
#include "hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { HY_ST_MAX_DIMS = 8 };

typedef struct {
    char *name;
    hy_dtype dtype;
    int ndim;
    int64_t shape[HY_ST_MAX_DIMS];
    size_t numel;
    const void *data; /* inside the mapping; may be unaligned */
    size_t nbytes;
} hy_st_tensor;

typedef struct hy_st_file hy_st_file;

hy_status hy_st_open(hy_st_file **out, const char *path);
void hy_st_close(hy_st_file *f);
int hy_st_count(const hy_st_file *f);
const hy_st_tensor *hy_st_at(const hy_st_file *f, int i);
const hy_st_tensor *hy_st_find(const hy_st_file *f, const char *name); /* NULL if absent */
const char *hy_st_path(const hy_st_file *f);
/* Value of a "__metadata__" entry, NULL if absent. */
const char *hy_st_metadata(const hy_st_file *f, const char *key);

/* Convert a floating tensor (F32/BF16/F16) to fp32 host memory [numel];
 * exact (every bf16/f16 value is an fp32 value).  Integer tensors → HY_ERR_FORMAT. */
hy_status hy_st_to_f32(const hy_st_tensor *t, float *dst /* [numel] */);
/* Convert an integer tensor (I64/I32) to int64 [numel]; floats → HY_ERR_FORMAT. */
hy_status hy_st_to_i64(const hy_st_tensor *t, int64_t *dst /* [numel] */);
/* "[2, 3]" for messages (buf of at least 24·ndim bytes is plenty). */
const char *hy_st_shape_str(const int64_t *shape, int ndim, char *buf, size_t n);

typedef struct {
    const char *name;
    hy_dtype dtype;     /* dtype written to the file */
    int ndim;
    int64_t shape[HY_ST_MAX_DIMS];
    const void *data;   /* host data already in `dtype`, or fp32 when `from_f32` */
    int from_f32;       /* convert fp32 → dtype while writing */
} hy_st_entry;

/* Write entries (in the given order, data packed back to back) to `path`
 * with the metadata {"format": "pt"} followed by the optional string pairs
 * meta[2i] = key, meta[2i+1] = value (n_meta pairs).  The header JSON is
 * padded with spaces to a multiple of 8 bytes so the data region starts
 * 8-byte aligned.  Durable: written to "<path>.tmp-XXXXXX", fsynced, renamed over
 * `path`, and the directory fsynced; on failure the temporary is removed and
 * an existing `path` is untouched.  fp32 → bf16 rounds to nearest even. */
hy_status hy_st_write(const char *path, const hy_st_entry *entries, int n, const char *const *meta, int n_meta);

#ifdef __cplusplus
}
#endif
#endif
