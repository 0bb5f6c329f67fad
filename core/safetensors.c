/* safetensors.c — the safetensors reader (mmap) and writer (see safetensors.h).
 *
 * Reader invariant: once hy_st_open returns HY_OK, every tensor's bytes lie
 * inside the mapping, no two tensors overlap, and shape × element size equals
 * the byte span, so callers can convert without further checks.  Every
 * rejection names the file and, where there is one, the tensor.
 * Writer invariant: a file at `path` is either the old one or the complete new
 * one (tmp + fsync + rename).
 * The format is little-endian; so are all hosts this toolkit targets. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "fsutil.h"
#include "json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

enum { HY_ST_MAX_HEADER = 100 << 20 }; /* same cap as the reference implementation */

struct hy_st_file {
    char *path;
    void *map;
    size_t map_len;
    const unsigned char *data; /* start of the data region */
    size_t data_len;
    int count;
    hy_st_tensor *tensors;
    int n_meta;
    char **meta; /* [2·n_meta]: key, value */
};

static hy_status hy_st_strdup(char **out, const char *s) {
    size_t n = strlen(s) + 1;
    HY_TRY(hy_malloc((void **)out, n, 0, "safetensors string"));
    memcpy(*out, s, n);
    return HY_OK;
}

const char *hy_st_shape_str(const int64_t *shape, int ndim, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

void hy_st_close(hy_st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->count; i++) hy_free(f->tensors[i].name);
    for (int i = 0; i < 2 * f->n_meta; i++) hy_free(f->meta[i]);
    hy_free(f->tensors);
    hy_free(f->meta);
    if (f->map) munmap(f->map, f->map_len);
    hy_free(f->path);
    hy_free(f);
}

/* "__metadata__": an object of string values. */
static hy_status hy_st_parse_meta(hy_st_file *f, const hy_json *m) {
    if (hy_json_typeof(m) != HY_JSON_OBJECT)
        return hy_errorf(HY_ERR_FORMAT, "%s: __metadata__: expected an object, got %s", f->path, hy_json_describe(m));
    size_t n = hy_json_len(m);
    HY_TRY(hy_malloc((void **)&f->meta, sizeof(char *) * (2 * n + 1), 1, "safetensors metadata"));
    for (void *it = hy_json_iter(m); it; it = hy_json_iter_next(m, it)) {
        const char *v = hy_json_str(hy_json_iter_value(it));
        if (!v)
            return hy_errorf(HY_ERR_FORMAT, "%s: __metadata__: \"%s\": expected a string, got %s", f->path, hy_json_iter_key(it),
                             hy_json_describe(hy_json_iter_value(it)));
        HY_TRY(hy_st_strdup(&f->meta[2 * f->n_meta], hy_json_iter_key(it)));
        f->n_meta++; /* counted once the key is owned, so close() frees it */
        HY_TRY(hy_st_strdup(&f->meta[2 * f->n_meta - 1], v));
    }
    return HY_OK;
}

static hy_status hy_st_parse_shape(hy_st_file *f, const char *name, const hy_json *sh, hy_st_tensor *t) {
    if (hy_json_typeof(sh) != HY_JSON_ARRAY || hy_json_len(sh) > HY_ST_MAX_DIMS)
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': shape: expected an array of at most %d integers, got %s", f->path, name,
                         HY_ST_MAX_DIMS, hy_json_describe(sh));
    t->ndim = (int)hy_json_len(sh);
    t->numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        const hy_json *v = hy_json_at(sh, (size_t)d);
        int64_t x = hy_json_int(v);
        if (hy_json_typeof(v) != HY_JSON_INT)
            return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': shape[%d]: expected a non-negative integer, got %s", f->path, name, d,
                             hy_json_describe(v));
        if (x < 0 || x > (1ll << 40))
            return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': shape[%d]: expected a non-negative integer, got %lld", f->path, name, d,
                             (long long)x);
        t->shape[d] = x;
        if (x && t->numel > ((size_t)1 << 50) / (size_t)x)
            return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': shape has too many elements", f->path, name);
        t->numel *= (size_t)x;
    }
    return HY_OK;
}

static hy_status hy_st_parse_tensor(hy_st_file *f, const char *name, const hy_json *e, hy_st_tensor *t) {
    char b[160];
    if (hy_json_typeof(e) != HY_JSON_OBJECT)
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': expected an object, got %s", f->path, name, hy_json_describe(e));
    const char *dt = hy_json_str(hy_json_get(e, "dtype"));
    if (!dt) return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': dtype: expected a string, got %s", f->path, name, hy_json_describe(hy_json_get(e, "dtype")));
    if (hy_dtype_parse(dt, &t->dtype))
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': unsupported dtype \"%s\" (expected F32, BF16, F16, I64 or I32)", f->path, name, dt);
    HY_TRY(hy_st_parse_shape(f, name, hy_json_get(e, "shape"), t));
    const hy_json *off = hy_json_get(e, "data_offsets");
    const hy_json *o0 = hy_json_at(off, 0), *o1 = hy_json_at(off, 1);
    if (hy_json_typeof(off) != HY_JSON_ARRAY || hy_json_len(off) != 2 || hy_json_typeof(o0) != HY_JSON_INT ||
        hy_json_typeof(o1) != HY_JSON_INT || hy_json_int(o0) < 0 || hy_json_int(o1) < hy_json_int(o0))
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': data_offsets: expected [begin, end] with 0 <= begin <= end", f->path, name);
    size_t beg = (size_t)hy_json_int(o0), end = (size_t)hy_json_int(o1);
    size_t want = t->numel * hy_dtype_size(t->dtype);
    if (end - beg != want)
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': shape %s of %s needs %zu bytes, but data_offsets [%zu, %zu] span %zu",
                         f->path, name, hy_st_shape_str(t->shape, t->ndim, b, sizeof b), dt, want, beg, end, end - beg);
    if (end > f->data_len)
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] exceed the data region of %zu bytes (file truncated?)",
                         f->path, name, beg, end, f->data_len);
    t->data = f->data + beg;
    t->nbytes = want;
    return hy_st_strdup(&t->name, name);
}

static int hy_st_cmp_begin(const void *a, const void *b) {
    const hy_st_tensor *x = *(const hy_st_tensor *const *)a, *y = *(const hy_st_tensor *const *)b;
    return (x->data > y->data) - (x->data < y->data);
}

static hy_status hy_st_check_overlap(hy_st_file *f) {
    const hy_st_tensor **s;
    HY_TRY(hy_malloc((void **)&s, sizeof *s * (size_t)(f->count + 1), 0, "safetensors index"));
    for (int i = 0; i < f->count; i++) s[i] = &f->tensors[i];
    qsort(s, (size_t)f->count, sizeof *s, hy_st_cmp_begin);
    hy_status st = HY_OK;
    for (int i = 1; i < f->count && st == HY_OK; i++) {
        const hy_st_tensor *p = s[i - 1], *q = s[i];
        size_t pb = (size_t)((const unsigned char *)p->data - f->data), qb = (size_t)((const unsigned char *)q->data - f->data);
        if (qb < pb + p->nbytes)
            st = hy_errorf(HY_ERR_FORMAT, "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap (corrupt header)", f->path, p->name, pb,
                           pb + p->nbytes, q->name, qb, qb + q->nbytes);
    }
    hy_free(s);
    return st;
}

static hy_status hy_st_parse_header(hy_st_file *f, const char *text, size_t len) {
    char origin[1100];
    snprintf(origin, sizeof origin, "%s: header", f->path);
    hy_json *root;
    HY_TRY(hy_json_parse(&root, text, len, origin));
    hy_status st = HY_OK;
    if (hy_json_typeof(root) != HY_JSON_OBJECT)
        st = hy_errorf(HY_ERR_FORMAT, "%s: header: expected a JSON object, got %s", f->path, hy_json_describe(root));
    if (st == HY_OK) st = hy_malloc((void **)&f->tensors, sizeof(hy_st_tensor) * (hy_json_len(root) + 1), 1, "safetensors tensors");
    for (void *it = hy_json_iter(root); st == HY_OK && it; it = hy_json_iter_next(root, it)) {
        const char *key = hy_json_iter_key(it);
        if (!strcmp(key, "__metadata__")) st = hy_st_parse_meta(f, hy_json_iter_value(it));
        else {
            st = hy_st_parse_tensor(f, key, hy_json_iter_value(it), &f->tensors[f->count]);
            if (st == HY_OK) f->count++;
        }
    }
    hy_json_free(root);
    return st == HY_OK ? hy_st_check_overlap(f) : st;
}

static hy_status hy_st_map(hy_st_file *f) {
    int fd = open(f->path, O_RDONLY);
    if (fd < 0) return hy_errorf(HY_ERR_IO, "%s: cannot open: %s", f->path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return hy_errorf(HY_ERR_IO, "%s: cannot stat: %s", f->path, strerror(e));
    }
    f->map_len = (size_t)sb.st_size;
    if (f->map_len < 8) {
        close(fd);
        return hy_errorf(HY_ERR_FORMAT, "%s: file is %zu bytes, too short for the 8-byte header length (truncated or not a safetensors file)",
                         f->path, f->map_len);
    }
    f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return hy_errorf(HY_ERR_IO, "%s: cannot mmap %zu bytes: %s", f->path, f->map_len, strerror(e));
    }
    return HY_OK;
}

hy_status hy_st_open(hy_st_file **out, const char *path) {
    *out = NULL;
    hy_st_file *f;
    HY_TRY(hy_malloc((void **)&f, sizeof *f, 1, "safetensors file"));
    hy_status st = hy_st_strdup(&f->path, path);
    if (st == HY_OK) st = hy_st_map(f);
    if (st == HY_OK) {
        uint64_t h;
        memcpy(&h, f->map, 8);
        if (h > f->map_len - 8 || h > HY_ST_MAX_HEADER)
            st = hy_errorf(HY_ERR_FORMAT, "%s: header length %llu exceeds the file size of %zu bytes (truncated or not a safetensors file)",
                           path, (unsigned long long)h, f->map_len);
        else {
            f->data = (const unsigned char *)f->map + 8 + h;
            f->data_len = f->map_len - 8 - (size_t)h;
            st = hy_st_parse_header(f, (const char *)f->map + 8, (size_t)h);
        }
    }
    if (st != HY_OK) { hy_st_close(f); return st; }
    *out = f;
    return HY_OK;
}

int hy_st_count(const hy_st_file *f) { return f->count; }
const hy_st_tensor *hy_st_at(const hy_st_file *f, int i) { return (i >= 0 && i < f->count) ? &f->tensors[i] : NULL; }
const char *hy_st_path(const hy_st_file *f) { return f->path; }

const hy_st_tensor *hy_st_find(const hy_st_file *f, const char *name) {
    for (int i = 0; i < f->count; i++)
        if (!strcmp(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

const char *hy_st_metadata(const hy_st_file *f, const char *key) {
    for (int i = 0; i < f->n_meta; i++)
        if (!strcmp(f->meta[2 * i], key)) return f->meta[2 * i + 1];
    return NULL;
}

hy_status hy_st_to_f32(const hy_st_tensor *t, float *dst) {
    const unsigned char *src = t->data;
    const int64_t n = (int64_t)t->numel;
    switch (t->dtype) {
    case HY_DTYPE_F32: memcpy(dst, src, t->nbytes); return HY_OK;
    case HY_DTYPE_BF16:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = hy_bf16_to_f32(h);
        }
        return HY_OK;
    case HY_DTYPE_F16:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            dst[i] = hy_f16_to_f32(h);
        }
        return HY_OK;
    default:
        return hy_errorf(HY_ERR_FORMAT, "tensor '%s': dtype %s is not a floating-point type (expected F32, BF16 or F16)", t->name,
                         hy_dtype_name(t->dtype));
    }
}

hy_status hy_st_to_i64(const hy_st_tensor *t, int64_t *dst) {
    const unsigned char *src = t->data;
    if (t->dtype == HY_DTYPE_I64) { memcpy(dst, src, t->nbytes); return HY_OK; }
    if (t->dtype != HY_DTYPE_I32)
        return hy_errorf(HY_ERR_FORMAT, "tensor '%s': dtype %s is not an integer type (expected I64 or I32)", t->name, hy_dtype_name(t->dtype));
    for (size_t i = 0; i < t->numel; i++) {
        int32_t v;
        memcpy(&v, src + 4 * i, 4);
        dst[i] = v;
    }
    return HY_OK;
}

/* ---- writer ---- */

static hy_status hy_write_all(int fd, const void *p, size_t n, const char *path) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = write(fd, c, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return hy_errorf(HY_ERR_IO, "%s: write failed: %s", path, w < 0 ? strerror(errno) : "no progress (disk full?)");
        c += w;
        n -= (size_t)w;
    }
    return HY_OK;
}

typedef hy_status (*hy_body_fn)(int fd, const char *tmp, const void *ctx);

/* Create "<path>.tmp-XXXXXX" (the pattern fsutil's stale-file cleanup
 * knows), let `body` write it, fsync, rename over `path`. */
static hy_status hy_write_durable(const char *path, hy_body_fn body, const void *ctx) {
    char tmp[HY_PATH_MAX + 16];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp) return hy_errorf(HY_ERR_ARG, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return hy_errorf(HY_ERR_IO, "%s: cannot create a temporary file next to it: %s", path, strerror(errno));
    if (fchmod(fd, 0644) != 0) { /* mkstemp creates 0600; checkpoints are meant to be shared */
        int e = errno;
        close(fd);
        unlink(tmp);
        return hy_errorf(HY_ERR_IO, "%s: chmod failed: %s", tmp, strerror(e));
    }
    hy_status st = body(fd, tmp, ctx);
    if (st == HY_OK && fsync(fd) != 0) st = hy_errorf(HY_ERR_IO, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(fd) != 0 && st == HY_OK) st = hy_errorf(HY_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (st == HY_OK && rename(tmp, path) != 0) st = hy_errorf(HY_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (st != HY_OK) { unlink(tmp); return st; }
    return hy_fs_fsync_parent(path);
}

static size_t hy_entry_bytes(const hy_st_entry *e) {
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++) n *= (size_t)e->shape[d];
    return n * hy_dtype_size(e->dtype);
}

static hy_status hy_st_check_entries(const char *path, const hy_st_entry *e, int n) {
    for (int i = 0; i < n; i++) {
        if (!e[i].name || !strcmp(e[i].name, "__metadata__"))
            return hy_errorf(HY_ERR_ARG, "%s: entry %d: invalid tensor name", path, i);
        if (e[i].ndim < 0 || e[i].ndim > HY_ST_MAX_DIMS || hy_dtype_size(e[i].dtype) == 0)
            return hy_errorf(HY_ERR_ARG, "%s: tensor '%s': invalid ndim %d or dtype", path, e[i].name, e[i].ndim);
        for (int d = 0; d < e[i].ndim; d++)
            if (e[i].shape[d] < 0) return hy_errorf(HY_ERR_ARG, "%s: tensor '%s': negative dimension", path, e[i].name);
        if (e[i].from_f32 && e[i].dtype != HY_DTYPE_F32 && e[i].dtype != HY_DTYPE_BF16 && e[i].dtype != HY_DTYPE_F16)
            return hy_errorf(HY_ERR_ARG, "%s: tensor '%s': cannot convert fp32 to %s", path, e[i].name, hy_dtype_name(e[i].dtype));
        for (int j = 0; j < i; j++)
            if (!strcmp(e[i].name, e[j].name)) return hy_errorf(HY_ERR_ARG, "%s: tensor '%s' appears twice", path, e[i].name);
    }
    return HY_OK;
}

static hy_status hy_st_entry_json(hy_json *root, const hy_st_entry *e, size_t beg) {
    hy_json *o = hy_json_object(), *sh = hy_json_array(), *off = hy_json_array();
    hy_status st = (o && sh && off) ? HY_OK : hy_errorf(HY_ERR_OOM, "out of memory building a safetensors header");
    if (st == HY_OK) st = hy_json_set(o, "dtype", hy_json_string(hy_dtype_name(e->dtype)));
    for (int d = 0; st == HY_OK && d < e->ndim; d++) st = hy_json_append(sh, hy_json_integer(e->shape[d]));
    if (st == HY_OK) st = hy_json_append(off, hy_json_integer((int64_t)beg));
    if (st == HY_OK) st = hy_json_append(off, hy_json_integer((int64_t)(beg + hy_entry_bytes(e))));
    if (st == HY_OK) { st = hy_json_set(o, "shape", sh); sh = NULL; }
    if (st == HY_OK) { st = hy_json_set(o, "data_offsets", off); off = NULL; }
    if (st == HY_OK) { st = hy_json_set(root, e->name, o); o = NULL; }
    hy_json_free(o);
    hy_json_free(sh);
    hy_json_free(off);
    return st;
}

/* The header text, space-padded so 8 + length is a multiple of 8. */
static hy_status hy_st_header(const hy_st_entry *e, int n, const char *const *meta, int n_meta, char **out, size_t *len) {
    hy_json *root = hy_json_object(), *m = hy_json_object();
    hy_status st = (root && m) ? hy_json_set(m, "format", hy_json_string("pt")) : hy_errorf(HY_ERR_OOM, "out of memory building a safetensors header");
    for (int i = 0; st == HY_OK && i < n_meta; i++) st = hy_json_set(m, meta[2 * i], hy_json_string(meta[2 * i + 1]));
    if (st == HY_OK) { st = hy_json_set(root, "__metadata__", m); m = NULL; }
    size_t off = 0;
    for (int i = 0; st == HY_OK && i < n; i++) {
        st = hy_st_entry_json(root, &e[i], off);
        off += hy_entry_bytes(&e[i]);
    }
    char *text = st == HY_OK ? hy_json_dump(root, HY_JSON_COMPACT) : NULL;
    if (st == HY_OK && !text) st = hy_errorf(HY_ERR_OOM, "out of memory serialising a safetensors header");
    if (st == HY_OK) {
        size_t tl = strlen(text), padded = (tl + 7) / 8 * 8;
        st = hy_malloc((void **)out, padded + 1, 0, "safetensors header");
        if (st == HY_OK) {
            memcpy(*out, text, tl);
            memset(*out + tl, ' ', padded - tl);
            (*out)[padded] = 0;
            *len = padded;
        }
    }
    free(text);
    hy_json_free(m);
    hy_json_free(root);
    return st;
}

typedef struct {
    const hy_st_entry *e;
    int n;
    const char *header;
    size_t header_len;
} hy_st_job;

/* Convert fp32 rows to the file dtype through a bounded staging buffer. */
static hy_status hy_st_write_converted(int fd, const char *tmp, const hy_st_entry *e, void *stage, size_t stage_elems) {
    size_t n = hy_entry_bytes(e) / hy_dtype_size(e->dtype), es = hy_dtype_size(e->dtype);
    const float *src = e->data;
    for (size_t b = 0; b < n; b += stage_elems) {
        int64_t m = (int64_t)hy_zmin(stage_elems, n - b);
        uint16_t *h = stage;
        if (e->dtype == HY_DTYPE_BF16) {
#pragma omp parallel for schedule(static) if (m > 65536)
            for (int64_t i = 0; i < m; i++) h[i] = hy_f32_to_bf16(src[b + (size_t)i]);
        } else {
#pragma omp parallel for schedule(static) if (m > 65536)
            for (int64_t i = 0; i < m; i++) h[i] = hy_f32_to_f16(src[b + (size_t)i]);
        }
        HY_TRY(hy_write_all(fd, stage, (size_t)m * es, tmp));
    }
    return HY_OK;
}

static hy_status hy_body_st(int fd, const char *tmp, const void *ctx) {
    const hy_st_job *j = ctx;
    uint64_t h = j->header_len;
    HY_TRY(hy_write_all(fd, &h, 8, tmp));
    HY_TRY(hy_write_all(fd, j->header, j->header_len, tmp));
    enum { STAGE = 1 << 22 }; /* elements per conversion chunk (8 MiB of 16-bit values) */
    void *stage = NULL;
    hy_status st = HY_OK;
    for (int i = 0; i < j->n && st == HY_OK; i++) {
        const hy_st_entry *e = &j->e[i];
        size_t nb = hy_entry_bytes(e);
        if (nb == 0) continue;
        if (!e->from_f32 || e->dtype == HY_DTYPE_F32) { st = hy_write_all(fd, e->data, nb, tmp); continue; }
        if (!stage) st = hy_malloc(&stage, STAGE * sizeof(uint16_t), 0, "safetensors conversion buffer");
        if (st == HY_OK) st = hy_st_write_converted(fd, tmp, e, stage, STAGE);
    }
    hy_free(stage);
    return st;
}

hy_status hy_st_write(const char *path, const hy_st_entry *entries, int n, const char *const *meta, int n_meta) {
    HY_TRY(hy_st_check_entries(path, entries, n));
    hy_st_job j = {entries, n, NULL, 0};
    char *header = NULL;
    HY_TRY(hy_st_header(entries, n, meta, n_meta, &header, &j.header_len));
    j.header = header;
    hy_status st = hy_write_durable(path, hy_body_st, &j);
    hy_free(header);
    return st;
}
