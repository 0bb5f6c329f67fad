/* checkpoint.c — Hugging Face checkpoint directories ↔ the flat fp32 weight
 * buffer (see checkpoint.h), and the from-scratch initialisation.
 *
 * Loading checks completeness against the parameter table, not against the
 * file: every table tensor exactly once, exact shapes, nothing unknown, and a
 * tied lm_head.  Shards stay mapped until the end so the lm_head comparison can
 * read the embedding wherever it lives.  Saving walks the table in order, so
 * the shard plan is a pure function of the table, the dtype and the limit. */
#include "checkpoint.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "fsutil.h"
#include "json.h"
#include "rng.h"
#include "safetensors.h"

enum { HY_CKPT_LIST = 5 }; /* names quoted in "missing"/"unknown" messages */

static const char hy_single_name[] = "model.safetensors";
static const char hy_index_name[] = "model.safetensors.index.json";

hy_status hy_ckpt_load_config(const char *dir, hy_config *cfg) {
    char p[HY_PATH_MAX];
    HY_TRY(hy_fs_join(p, sizeof p, dir, "config.json"));
    return hy_config_load(cfg, p);
}

/* ---- loading ---- */

typedef struct {
    const hy_param_table *t;
    float *w;
    unsigned char *seen;          /* [t->count] */
    int n_extra;
    char extra[HY_CKPT_LIST][128];
    const hy_st_tensor *lm_head;
    const hy_st_file *lm_head_file;
    hy_dtype embed_dtype;
} hy_load;

static hy_status hy_load_tensor(hy_load *L, const hy_st_file *f, const hy_st_tensor *x) {
    char got[160], want[160];
    if (!strcmp(x->name, "lm_head.weight")) {
        L->lm_head = x;
        L->lm_head_file = f;
        return HY_OK;
    }
    const hy_param_desc *d = hy_params_find(L->t, x->name);
    if (!d) {
        if (L->n_extra < HY_CKPT_LIST) snprintf(L->extra[L->n_extra], sizeof L->extra[0], "%s", x->name);
        L->n_extra++;
        return HY_OK;
    }
    int idx = (int)(d - L->t->desc);
    if (L->seen[idx]) return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s' appears in more than one shard", hy_st_path(f), x->name);
    if (x->dtype != HY_DTYPE_F32 && x->dtype != HY_DTYPE_BF16 && x->dtype != HY_DTYPE_F16)
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': dtype %s, expected a floating-point dtype (F32, BF16 or F16)", hy_st_path(f),
                         x->name, hy_dtype_name(x->dtype));
    int same = x->ndim == d->ndim;
    for (int k = 0; same && k < d->ndim; k++) same = x->shape[k] == d->shape[k];
    if (!same)
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s': shape %s, expected %s from config.json%s", hy_st_path(f), x->name,
                         hy_st_shape_str(x->shape, x->ndim, got, sizeof got), hy_st_shape_str(d->shape, d->ndim, want, sizeof want),
                         d->id == HY_P_IN_PROJ ? " (in_proj rows depend on whether the layer computes or reuses K/V: check kv_reuse_group)"
                                               : " (do the weights belong to this config?)");
    HY_TRY(hy_st_to_f32(x, L->w + d->offset));
    if (d->id == HY_P_EMBED) L->embed_dtype = x->dtype;
    L->seen[idx] = 1;
    return HY_OK;
}

/* lm_head.weight present: it must equal the embedding bit for bit once both
 * are fp32 (compared in chunks, no second V×C buffer). */
static hy_status hy_check_lm_head(hy_load *L) {
    const hy_st_tensor *x = L->lm_head;
    const hy_param_desc *e = hy_params_get(L->t, -1, HY_P_EMBED);
    char got[160], want[160];
    if (x->ndim != 2 || x->shape[0] != e->shape[0] || x->shape[1] != e->shape[1])
        return hy_errorf(HY_ERR_FORMAT, "%s: tensor 'lm_head.weight': shape %s, expected %s (the embedding's): untied lm_head not supported",
                         hy_st_path(L->lm_head_file), hy_st_shape_str(x->shape, x->ndim, got, sizeof got),
                         hy_st_shape_str(e->shape, e->ndim, want, sizeof want));
    enum { CHUNK = 1 << 20 };
    float *buf;
    HY_TRY(hy_malloc((void **)&buf, CHUNK * sizeof(float), 0, "lm_head comparison buffer"));
    const float *emb = L->w + e->offset;
    size_t es = hy_dtype_size(x->dtype);
    hy_status st = HY_OK;
    for (size_t b = 0; b < x->numel && st == HY_OK; b += CHUNK) {
        hy_st_tensor part = *x;
        part.numel = hy_zmin(CHUNK, x->numel - b);
        part.nbytes = part.numel * es;
        part.data = (const unsigned char *)x->data + b * es;
        st = hy_st_to_f32(&part, buf);
        if (st == HY_OK && memcmp(buf, emb + b, part.numel * sizeof(float))) {
            size_t i = 0;
            while (!memcmp(&buf[i], &emb[b + i], sizeof(float))) i++;
            size_t at = b + i, cols = (size_t)e->shape[1];
            st = hy_errorf(HY_ERR_FORMAT, "%s: lm_head.weight differs from model.embed_tokens.weight at [%zu, %zu] (%.9g vs %.9g): "
                           "untied lm_head not supported (Hymba ties the LM head to the embedding; drop lm_head.weight or "
                           "make it equal)", hy_st_path(L->lm_head_file), at / cols, at % cols, (double)buf[i], (double)emb[at]);
        }
    }
    hy_free(buf);
    return st;
}

static hy_status hy_load_finish(hy_load *L, const char *dir) {
    char list[HY_CKPT_LIST * 130 + 16] = "";
    if (L->n_extra) {
        for (int i = 0; i < L->n_extra && i < HY_CKPT_LIST; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", i ? ", " : "", L->extra[i]);
        return hy_errorf(HY_ERR_FORMAT, "%s: %d tensor%s not in the Hymba parameter table: %s%s (is this a Hymba checkpoint of this config?)",
                         dir, L->n_extra, L->n_extra == 1 ? " is" : "s are", list, L->n_extra > HY_CKPT_LIST ? ", ..." : "");
    }
    int missing = 0;
    for (int i = 0; i < L->t->count; i++) {
        if (L->seen[i]) continue;
        if (missing < HY_CKPT_LIST)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s'", missing ? ", " : "", L->t->desc[i].name);
        missing++;
    }
    if (missing)
        return hy_errorf(HY_ERR_FORMAT, "%s: %d tensor%s missing from the checkpoint: %s%s", dir, missing, missing == 1 ? " is" : "s are",
                         list, missing > HY_CKPT_LIST ? ", ..." : "");
    if (L->lm_head) HY_TRY(hy_check_lm_head(L));
    /* alignment gaps between tensors are zero in every flat buffer */
    for (int i = 0; i < L->t->count; i++) {
        const hy_param_desc *d = &L->t->desc[i];
        size_t end = i + 1 < L->t->count ? L->t->desc[i + 1].offset : L->t->total;
        memset(L->w + d->offset + d->numel, 0, (end - d->offset - d->numel) * sizeof(float));
    }
    return HY_OK;
}

typedef struct {
    int n;
    hy_st_file **f;
    char **name; /* shard file names (sharded layout) */
} hy_shards;

static void hy_shards_free(hy_shards *s) {
    for (int i = 0; i < s->n; i++) {
        hy_st_close(s->f[i]);
        hy_free(s->name[i]);
    }
    hy_free(s->f);
    hy_free(s->name);
    memset(s, 0, sizeof *s);
}

static int hy_shard_index(const hy_shards *s, const char *name) {
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name)) return i;
    return -1;
}

/* weight_map → the distinct shard names, in order of first appearance. */
static hy_status hy_index_shards(const char *ipath, const hy_json *map, hy_shards *s) {
    size_t n = hy_json_len(map);
    HY_TRY(hy_malloc((void **)&s->f, sizeof *s->f * (n + 1), 1, "shard list"));
    HY_TRY(hy_malloc((void **)&s->name, sizeof *s->name * (n + 1), 1, "shard list"));
    for (void *it = hy_json_iter(map); it; it = hy_json_iter_next(map, it)) {
        const char *file = hy_json_str(hy_json_iter_value(it));
        if (!file)
            return hy_errorf(HY_ERR_FORMAT, "%s: weight_map: \"%s\": expected a shard file name (string), got %s", ipath, hy_json_iter_key(it),
                             hy_json_describe(hy_json_iter_value(it)));
        if (!*file || strchr(file, '/') || !strcmp(file, "..") || !strcmp(file, "."))
            return hy_errorf(HY_ERR_FORMAT, "%s: weight_map: \"%s\": expected a file name inside the checkpoint directory, got \"%s\"", ipath,
                             hy_json_iter_key(it), file);
        if (hy_shard_index(s, file) >= 0) continue;
        size_t len = strlen(file) + 1;
        HY_TRY(hy_malloc((void **)&s->name[s->n], len, 0, "shard name"));
        memcpy(s->name[s->n++], file, len);
    }
    return HY_OK;
}

/* Open every shard and check that the map and the shards agree both ways. */
static hy_status hy_open_shards(const char *dir, const char *ipath, const hy_json *map, hy_shards *s) {
    for (int i = 0; i < s->n; i++) {
        char p[HY_PATH_MAX];
        HY_TRY(hy_fs_join(p, sizeof p, dir, s->name[i]));
        hy_status st = hy_st_open(&s->f[i], p);
        if (st != HY_OK) {
            hy_error_context("%s: weight_map: shard \"%s\"", ipath, s->name[i]);
            return st;
        }
        for (int k = 0; k < hy_st_count(s->f[i]); k++) {
            const hy_st_tensor *x = hy_st_at(s->f[i], k);
            const char *mapped = hy_json_str(hy_json_get(map, x->name));
            if (!mapped || strcmp(mapped, s->name[i]))
                return hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s' is %s in %s%s%s (stale or mismatched index?)", p, x->name,
                                 mapped ? "assigned to another shard" : "not listed", ipath, mapped ? ": " : "", mapped ? mapped : "");
        }
    }
    for (void *it = hy_json_iter(map); it; it = hy_json_iter_next(map, it)) {
        int k = hy_shard_index(s, hy_json_str(hy_json_iter_value(it)));
        if (!hy_st_find(s->f[k], hy_json_iter_key(it)))
            return hy_errorf(HY_ERR_FORMAT, "%s: weight_map lists tensor '%s' in %s, but that shard has no such tensor", ipath,
                             hy_json_iter_key(it), s->name[k]);
    }
    return HY_OK;
}

static hy_status hy_open_sharded(const char *dir, const char *ipath, hy_shards *s) {
    hy_json *idx;
    HY_TRY(hy_json_load_file(&idx, ipath));
    const hy_json *map = hy_json_get(idx, "weight_map");
    hy_status st = HY_OK;
    if (hy_json_typeof(map) != HY_JSON_OBJECT)
        st = hy_errorf(HY_ERR_FORMAT, "%s: weight_map: expected an object {tensor: shard file}, got %s", ipath, hy_json_describe(map));
    if (st == HY_OK) st = hy_index_shards(ipath, map, s);
    if (st == HY_OK) st = hy_open_shards(dir, ipath, map, s);
    hy_json_free(idx);
    return st;
}

static hy_status hy_open_single(const char *dir, hy_shards *s) {
    char p[HY_PATH_MAX];
    HY_TRY(hy_fs_join(p, sizeof p, dir, hy_single_name));
    if (!hy_fs_exists(p))
        return hy_errorf(HY_ERR_IO, "%s: no %s or %s (not a Hugging Face checkpoint directory?)", dir, hy_single_name, hy_index_name);
    HY_TRY(hy_malloc((void **)&s->f, sizeof *s->f, 1, "shard list"));
    HY_TRY(hy_malloc((void **)&s->name, sizeof *s->name, 1, "shard list"));
    s->n = 1;
    return hy_st_open(&s->f[0], p);
}

hy_status hy_ckpt_load_weights(const char *dir, const hy_param_table *t, float *weights, hy_dtype *src_dtype) {
    hy_shards s = {0};
    hy_load L = {.t = t, .w = weights, .embed_dtype = HY_DTYPE_F32};
    char ipath[HY_PATH_MAX];
    hy_status st = hy_fs_join(ipath, sizeof ipath, dir, hy_index_name);
    if (st == HY_OK) st = hy_fs_exists(ipath) ? hy_open_sharded(dir, ipath, &s) : hy_open_single(dir, &s);
    if (st == HY_OK) st = hy_malloc((void **)&L.seen, (size_t)t->count + 1, 1, "checkpoint bookkeeping");
    for (int i = 0; i < s.n && st == HY_OK; i++)
        for (int k = 0; k < hy_st_count(s.f[i]) && st == HY_OK; k++) st = hy_load_tensor(&L, s.f[i], hy_st_at(s.f[i], k));
    if (st == HY_OK) st = hy_load_finish(&L, dir);
    if (st == HY_OK && src_dtype) *src_dtype = L.embed_dtype;
    hy_free(L.seen);
    hy_shards_free(&s);
    return st;
}

/* ---- saving ---- */

static hy_status hy_save_shard(const char *path, const hy_param_table *t, const float *w, hy_dtype dtype, int first, int end) {
    hy_st_entry *e;
    HY_TRY(hy_malloc((void **)&e, sizeof *e * (size_t)(end - first + 1), 1, "safetensors entries"));
    for (int i = first; i < end; i++) {
        const hy_param_desc *d = &t->desc[i];
        hy_st_entry *x = &e[i - first];
        x->name = d->name;
        x->dtype = dtype;
        x->ndim = d->ndim;
        for (int k = 0; k < d->ndim; k++) x->shape[k] = d->shape[k];
        x->data = w + d->offset;
        x->from_f32 = 1;
    }
    hy_status st = hy_st_write(path, e, end - first, NULL, 0);
    hy_free(e);
    return st;
}

static hy_status hy_unlink_if_present(const char *dir, const char *name) {
    char p[HY_PATH_MAX];
    HY_TRY(hy_fs_join(p, sizeof p, dir, name));
    if (unlink(p) != 0 && errno != ENOENT) return hy_errorf(HY_ERR_IO, "%s: cannot remove stale file: %s", p, strerror(errno));
    return HY_OK;
}

/* Remove model-XXXXX-of-YYYYY.safetensors files of another shard count. */
static hy_status hy_remove_other_shards(const char *dir, int keep_of) {
    for (int of = 1; of <= 99; of++) {
        if (of == keep_of) continue;
        char name[64], p[HY_PATH_MAX];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", 1, of);
        HY_TRY(hy_fs_join(p, sizeof p, dir, name));
        if (!hy_fs_exists(p)) continue;
        for (int i = 1; i <= of; i++) {
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", i, of);
            HY_TRY(hy_unlink_if_present(dir, name));
        }
    }
    return HY_OK;
}

static hy_status hy_save_index(const char *dir, const hy_param_table *t, const int *shard_of, int nshards, size_t total) {
    hy_json *root = hy_json_object(), *meta = hy_json_object(), *map = hy_json_object();
    hy_status st = (root && meta && map) ? hy_json_set(meta, "total_size", hy_json_integer((int64_t)total))
                                         : hy_errorf(HY_ERR_OOM, "out of memory building the shard index");
    for (int i = 0; i < t->count && st == HY_OK; i++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", shard_of[i] + 1, nshards);
        st = hy_json_set(map, t->desc[i].name, hy_json_string(name));
    }
    if (st == HY_OK) { st = hy_json_set(root, "metadata", meta); meta = NULL; }
    if (st == HY_OK) { st = hy_json_set(root, "weight_map", map); map = NULL; }
    char *text = st == HY_OK ? hy_json_dump(root, HY_JSON_INDENT) : NULL;
    if (st == HY_OK && !text) st = hy_errorf(HY_ERR_OOM, "out of memory serialising the shard index");
    char p[HY_PATH_MAX];
    if (st == HY_OK) st = hy_fs_join(p, sizeof p, dir, hy_index_name);
    if (st == HY_OK) {
        size_t n = strlen(text);
        text[n] = '\n'; /* the terminating NUL becomes the final newline */
        st = hy_fs_write_atomic(p, text, n + 1);
    }
    free(text);
    hy_json_free(meta);
    hy_json_free(map);
    hy_json_free(root);
    return st;
}

hy_status hy_ckpt_save_weights(const char *dir, const hy_param_table *t, const float *weights, hy_dtype dtype, size_t shard_bytes) {
    if (dtype != HY_DTYPE_F32 && dtype != HY_DTYPE_BF16 && dtype != HY_DTYPE_F16)
        return hy_errorf(HY_ERR_ARG, "%s: cannot save weights as %s (expected F32, BF16 or F16)", dir, hy_dtype_name(dtype));
    HY_TRY(hy_fs_mkdir_p(dir));
    int *shard_of;
    HY_TRY(hy_malloc((void **)&shard_of, sizeof(int) * ((size_t)t->count + 1), 0, "shard plan"));
    /* greedy in table order, as transformers' save_pretrained does */
    size_t es = hy_dtype_size(dtype), cur = 0, total = 0;
    int ns = 1;
    for (int i = 0; i < t->count; i++) {
        size_t b = t->desc[i].numel * es;
        if (shard_bytes && cur > 0 && cur + b > shard_bytes) { ns++; cur = 0; }
        cur += b;
        total += b;
        shard_of[i] = ns - 1;
    }
    if (ns > 99999) { hy_free(shard_of); return hy_errorf(HY_ERR_ARG, "%s: shard limit of %zu bytes gives %d shards", dir, shard_bytes, ns); }
    hy_status st = HY_OK;
    char p[HY_PATH_MAX];
    if (ns == 1) {
        st = hy_fs_join(p, sizeof p, dir, hy_single_name);
        if (st == HY_OK) st = hy_save_shard(p, t, weights, dtype, 0, t->count);
        if (st == HY_OK) st = hy_unlink_if_present(dir, hy_index_name);
        if (st == HY_OK) st = hy_remove_other_shards(dir, 0);
    } else {
        for (int s = 0, first = 0; s < ns && st == HY_OK; s++) {
            int end = first;
            while (end < t->count && shard_of[end] == s) end++;
            char name[64];
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, ns);
            st = hy_fs_join(p, sizeof p, dir, name);
            if (st == HY_OK) st = hy_save_shard(p, t, weights, dtype, first, end);
            first = end;
        }
        if (st == HY_OK) st = hy_save_index(dir, t, shard_of, ns, total);
        if (st == HY_OK) st = hy_unlink_if_present(dir, hy_single_name);
        if (st == HY_OK && ns <= 99) st = hy_remove_other_shards(dir, ns);
    }
    hy_free(shard_of);
    return st;
}

/* ---- initialisation ---- */

void hy_ckpt_init_tensor(const hy_param_desc *d, const hy_config *c, uint64_t seed, float *dst) {
    const int64_t n = (int64_t)d->numel;
    const uint64_t stream = hy_rng_stream_id(d->name);
    switch (d->init) {
    case HY_INIT_NORMAL:
    case HY_INIT_NORMAL_PAD0:
        hy_rng_fill_normal(seed, stream, 0, dst, d->numel, 0.0, c->initializer_range);
        if (d->init == HY_INIT_NORMAL_PAD0 && c->pad_token_id >= 0 && c->pad_token_id < d->shape[0]) {
            size_t cols = d->numel / (size_t)d->shape[0];
            memset(dst + (size_t)c->pad_token_id * cols, 0, cols * sizeof(float));
        }
        return;
    case HY_INIT_STDNORMAL: hy_rng_fill_normal(seed, stream, 0, dst, d->numel, 0.0, 1.0); return;
    case HY_INIT_ONES:
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) dst[i] = 1.0f;
        return;
    case HY_INIT_ZEROS: memset(dst, 0, d->numel * sizeof(float)); return;
    case HY_INIT_A_LOG: {
        /* A_log[e, k] = ln(k + 1): Mamba's S4D-real initialisation */
        const int64_t ds = d->ndim == 2 ? d->shape[1] : 1;
#pragma omp parallel for schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) dst[i] = (float)log((double)(i % ds + 1));
        return;
    }
    }
    HY_PANIC("parameter %s has unknown init %d", d->name, (int)d->init);
}

void hy_ckpt_init_weights(const hy_param_table *t, const hy_config *c, uint64_t seed, float *w) {
    for (int i = 0; i < t->count; i++) {
        const hy_param_desc *d = &t->desc[i];
        size_t end = i + 1 < t->count ? t->desc[i + 1].offset : t->total;
        hy_ckpt_init_tensor(d, c, seed, w + d->offset);
        memset(w + d->offset + d->numel, 0, (end - d->offset - d->numel) * sizeof(float));
    }
}

/* ---- companion files and sizes (shared by init, training checkpoints, export) ---- */

static const char *const hy_companions[] = {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                                            "added_tokens.json", "generation_config.json"};

const char *hy_ckpt_companion_file(int i) {
    return i >= 0 && (size_t)i < HY_ARRAY_LEN(hy_companions) ? hy_companions[i] : NULL;
}

hy_status hy_ckpt_copy_companions(const char *src_dir, const char *dst_dir, int with_generation, int *copied) {
    char a[HY_PATH_MAX], b[HY_PATH_MAX];
    int n = 0;
    for (int i = 0; hy_ckpt_companion_file(i); i++) {
        const char *f = hy_ckpt_companion_file(i);
        if (!with_generation && !strcmp(f, "generation_config.json")) continue;
        HY_TRY(hy_fs_join(a, sizeof a, src_dir, f));
        if (!hy_fs_exists(a)) continue;
        HY_TRY(hy_fs_join(b, sizeof b, dst_dir, f));
        HY_TRY(hy_fs_copy_file(a, b));
        n++;
    }
    if (copied) *copied = n;
    return HY_OK;
}

int hy_ckpt_parse_size(const char *s, size_t *out) {
    char *end;
    unsigned long long v = strtoull(s, &end, 10), mul = 1;
    if (end == s) return -1;
    if (*end == 'K' || *end == 'k') mul = 1000ull, end++;
    else if (*end == 'M' || *end == 'm') mul = 1000000ull, end++;
    else if (*end == 'G' || *end == 'g') mul = 1000000000ull, end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return -1;
    *out = (size_t)(v * mul);
    return 0;
}
