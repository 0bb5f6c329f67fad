/* store_format.h — on-disk structures of the token store, shared by the
 * writer (store.c) and the reader (store_read.c).  Internal: users include
 * store.h.  The byte layout is specified in datasets/FORMAT.md; every struct
 * here is little-endian with natural alignment and no padding (checked by the
 * static asserts), so it is written and read with one fwrite/pread. */
#ifndef HY_STORE_FORMAT_H
#define HY_STORE_FORMAT_H
#include <stddef.h>

#include "datasets/store.h"

#define HY_STORE_MAGIC "HYSTORE\0"     /* 8 bytes at offset 0 */
#define HY_STORE_END_MAGIC "HYSTEND\0" /* last 8 bytes of the file */
enum { HY_STORE_HEADER_BYTES = 64 };
enum { HY_STORE_MAX_SEQ = 1 << 24 }; /* tokens per sequence; far above any context length */
#define HY_STORE_TRAILER_SEED 0x687973746f7265ull /* "hystore": seed of header and trailer hashes */

typedef struct {
    char magic[8];        /* HY_STORE_MAGIC */
    uint32_t version;     /* HY_STORE_VERSION */
    uint32_t kind;        /* hy_rec_kind */
    uint64_t n_samples;
    uint64_t n_blocks;
    uint64_t meta_offset; /* JSON metadata */
    uint64_t meta_bytes;
    uint64_t index_offset; /* hy_store_block[n_blocks] then hy_store_entry[n_samples] */
    uint64_t header_hash;  /* hy_hash64 of the 56 bytes above */
} hy_store_header;

typedef struct {
    uint64_t offset;       /* file offset of the zstd frame */
    uint32_t comp_bytes;   /* frame size */
    uint32_t raw_bytes;    /* decompressed size = Σ 5·(len[0]+len[1]) of its samples */
    uint64_t first_sample; /* index of its first sample */
} hy_store_block;

typedef struct {
    uint64_t hash; /* hy_hash64 of metadata + block index + sample index */
    char magic[8]; /* HY_STORE_END_MAGIC */
} hy_store_trailer;

_Static_assert(sizeof(hy_store_header) == HY_STORE_HEADER_BYTES, "store header is 64 bytes");
_Static_assert(sizeof(hy_store_block) == 24, "block index entry is 24 bytes");
_Static_assert(sizeof(hy_store_entry) == 32, "sample index entry is 32 bytes");
_Static_assert(sizeof(hy_store_trailer) == 16, "trailer is 16 bytes");

/* Build the metadata JSON (malloc'd string, release with free()). */
hy_status hy_store_meta_json(char **out, hy_rec_kind kind, const hy_store_key *key, const hy_store_stats *stats, const hy_errlog *skipped,
                             const char *model_dir, uint32_t max_len);

#endif
