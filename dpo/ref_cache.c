/* ref_cache.c — precomputed DPO reference log-probs (format and contract in
 * ref_cache.h).  The pass over a store uses the ordinary loader on that store
 * alone (weight 1: every pair exactly once, no shuffling) so micro-batches
 * are packed and shifted exactly as in training, and fills one entry per
 * sample from mb->sample; a sample left unfilled is an internal error. */
#include "dpo/ref_cache.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/dtype.h"
#include "core/fsutil.h"
#include "core/log.h"
#include "core/train.h"
#include "datasets/loader.h"
#include "core/timer.h"

enum { HY_REF_HEADER = 64, HY_REF_ENTRY = 32 };
static const char hy_ref_magic[8] = {'H', 'Y', 'R', 'E', 'F', 'L', 'P', 0};

typedef struct {
    double sum[2];
    int64_t count[2];
} hy_ref_entry;

struct hy_ref_cache {
    int n;
    hy_ref_entry **e;         /* [n][n_samples[i]] */
    int64_t *n_samples;       /* [n] */
    hy_ref_cache_report *rep; /* [n] */
};

/* The three input hashes of a cache file. */
typedef struct {
    uint64_t store, ref, backend;
} hy_ref_key;

/* ---------------------------------------------------------------- hashing */

static int hy_is_weight_file(const char *name) {
    if (!strcmp(name, "config.json") || !strcmp(name, "model.safetensors") || !strcmp(name, "model.safetensors.index.json")) return 1;
    /* model-00001-of-00002.safetensors */
    size_t n = strlen(name);
    return n > 18 && !strncmp(name, "model-", 6) && !strcmp(name + n - 12, ".safetensors") && strstr(name, "-of-") != NULL;
}

static int hy_cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

hy_status hy_ref_weights_hash(const char *ref_dir, uint64_t *out) {
    DIR *dir = opendir(ref_dir);
    if (!dir) return hy_errorf(HY_ERR_IO, "%s: cannot list the reference checkpoint directory", ref_dir);
    char *names[256];
    int n = 0, weights = 0;
    struct dirent *de;
    while ((de = readdir(dir)) && n < 256)
        if (hy_is_weight_file(de->d_name) && (names[n] = strdup(de->d_name))) {
            weights += strstr(de->d_name, ".safetensors") != NULL && !strstr(de->d_name, ".index.json");
            n++;
        }
    closedir(dir);
    hy_status st = weights ? HY_OK : hy_errorf(HY_ERR_IO, "%s: no model*.safetensors weights in the reference checkpoint", ref_dir);
    qsort(names, (size_t)n, sizeof names[0], hy_cmp_names);
    hy_hash64_state hs;
    hy_hash64_init(&hs, 0x726566);
    char path[HY_PATH_MAX];
    for (int i = 0; i < n && !st; i++) {
        uint64_t h = 0;
        st = hy_fs_join(path, sizeof path, ref_dir, names[i]);
        if (!st) st = hy_fs_hash_file(path, &h);
        hy_hash64_update(&hs, names[i], strlen(names[i]) + 1);
        hy_hash64_update(&hs, &h, sizeof h);
    }
    for (int i = 0; i < n; i++) free(names[i]);
    *out = hy_hash64_final(&hs);
    return st;
}

static uint64_t hy_backend_hash(const hy_ops *ops) {
    char s[64];
    snprintf(s, sizeof s, "%s/%d", ops->name, (int)ops->act_dtype);
    return hy_hash64(s, strlen(s), 0x6261636b);
}

hy_status hy_ref_cache_path(char *buf, size_t n, const char *store_path, const char *ref_dir) {
    char real[PATH_MAX];
    const char *r = realpath(ref_dir, real) ? real : ref_dir;
    uint64_t h = hy_hash64(r, strlen(r), 0x70617468);
    int k = snprintf(buf, n, "%s.ref-%016llx.hyref", store_path, (unsigned long long)h);
    if (k < 0 || (size_t)k >= n) return hy_errorf(HY_ERR_ARG, "reference cache path too long for %s", store_path);
    return HY_OK;
}

/* ---------------------------------------------------------------- file I/O */

static uint64_t hy_rd64(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Load `path` into *entries when it matches `key`; otherwise *entries stays
 * NULL and `why` says what differs. */
static hy_status hy_ref_load(const char *path, const hy_ref_key *key, int64_t want_n, hy_ref_entry **entries, char *why, size_t nwhy) {
    *entries = NULL;
    if (!hy_fs_exists(path)) {
        snprintf(why, nwhy, "no cache yet");
        return HY_OK;
    }
    char *data;
    size_t len;
    HY_TRY(hy_fs_read_file(path, &data, &len));
    uint32_t version = 0;
    if (len >= HY_REF_HEADER) memcpy(&version, data + 8, 4);
    int64_t n = len >= HY_REF_HEADER ? (int64_t)hy_rd64(data + 40) : -1;
    if (len < HY_REF_HEADER || memcmp(data, hy_ref_magic, 8)) snprintf(why, nwhy, "not a reference cache (bad magic)");
    else if (version != HY_REF_CACHE_VERSION) snprintf(why, nwhy, "cache version %u, this hymba writes %d", version, HY_REF_CACHE_VERSION);
    else if (n < 0 || len != (size_t)HY_REF_HEADER + (size_t)n * HY_REF_ENTRY) snprintf(why, nwhy, "truncated or corrupt (%zu bytes)", len);
    else if (hy_hash64(data + HY_REF_HEADER, len - HY_REF_HEADER, 0) != hy_rd64(data + 48)) snprintf(why, nwhy, "corrupt (payload hash)");
    else if (hy_rd64(data + 16) != key->store || n != want_n) snprintf(why, nwhy, "the token store changed (data or preparation options)");
    else if (hy_rd64(data + 24) != key->ref) snprintf(why, nwhy, "the reference weights changed");
    else if (hy_rd64(data + 32) != key->backend) snprintf(why, nwhy, "computed on another backend or precision");
    else why[0] = 0;
    hy_status st = HY_OK;
    if (!why[0]) {
        st = hy_malloc((void **)entries, (size_t)n * sizeof(hy_ref_entry) + 1, 0, "reference log-probs");
        if (!st) memcpy(*entries, data + HY_REF_HEADER, (size_t)n * HY_REF_ENTRY);
    }
    hy_free(data);
    return st;
}

static hy_status hy_ref_save(const char *path, const hy_ref_key *key, const hy_ref_entry *e, int64_t n) {
    _Static_assert(sizeof(hy_ref_entry) == HY_REF_ENTRY, "entry layout");
    size_t len = HY_REF_HEADER + (size_t)n * HY_REF_ENTRY;
    char *buf;
    HY_TRY(hy_malloc((void **)&buf, len, 1, "reference cache file"));
    memcpy(buf, hy_ref_magic, 8);
    uint32_t v[2] = {HY_REF_CACHE_VERSION, HY_REF_HEADER};
    memcpy(buf + 8, v, 8);
    uint64_t h[4] = {key->store, key->ref, key->backend, (uint64_t)n};
    memcpy(buf + 16, h, 32);
    memcpy(buf + HY_REF_HEADER, e, (size_t)n * HY_REF_ENTRY);
    uint64_t ph = hy_hash64(buf + HY_REF_HEADER, len - HY_REF_HEADER, 0);
    memcpy(buf + 48, &ph, 8);
    hy_status st = hy_fs_write_atomic(path, buf, len);
    hy_free(buf);
    return st;
}

/* ---------------------------------------------------------------- the pass */


typedef struct {
    hy_model *m;       /* borrowed */
    int budget, M;
    int32_t *targets;  /* [budget] */
    float *rows;       /* [budget] */
    void *saved;       /* the model's own weights as stored (act dtype), restored by hy_ref_runner_close */
    size_t saved_bytes;
} hy_ref_runner;

/* Put the reference weights into the borrowed model, keeping its own. */
static hy_status hy_ref_runner_open(hy_ref_runner *r, const char *ref_dir, const hy_ref_cache_opts *o) {
    hy_config cfg;
    HY_TRY(hy_ckpt_load_config(ref_dir, &cfg));
    const hy_config *mc = hy_model_config(o->model);
    if (cfg.num_meta != mc->num_meta || cfg.vocab_size != mc->vocab_size)
        return hy_errorf(HY_ERR_CONFIG, "%s: the reference has %d meta tokens and %d vocabulary entries, the policy %d and %d; the "
                                        "reference must be the same architecture as the policy", ref_dir, cfg.num_meta, cfg.vocab_size,
                         mc->num_meta, mc->vocab_size);
    r->budget = o->budget;
    r->M = mc->num_meta;
    const hy_param_table *pt = hy_model_params(o->model);
    float *ref = NULL;
    HY_TRY(hy_malloc((void **)&r->targets, sizeof(int32_t) * (size_t)r->budget, 0, "reference targets"));
    HY_TRY(hy_malloc((void **)&r->rows, sizeof(float) * (size_t)r->budget, 0, "reference losses"));
    /* the raw backend bytes: no device staging (a GPU full of training state
     * has no room for an fp32 copy) and an exact restore */
    const hy_ops *ops = hy_model_ops(o->model);
    r->saved_bytes = pt->total * hy_dtype_size(ops->act_dtype);
    HY_TRY(hy_malloc(&r->saved, r->saved_bytes, 0, "weights kept during the reference pass"));
    HY_TRY(ops->to_host(ops->ctx, r->saved, hy_model_weights(o->model), r->saved_bytes));
    hy_log_info("dpo: loading the reference weights %s to precompute its log-probs", ref_dir);
    hy_status st = hy_malloc((void **)&ref, sizeof(float) * pt->total, 1, "reference weights");
    if (!st) st = hy_ckpt_load_weights(ref_dir, pt, ref, NULL);
    if (!st) st = hy_model_set_weights(o->model, ref);
    hy_free(ref);
    if (st) {
        hy_error_context("loading the reference %s", ref_dir);
        hy_free(r->saved);
        r->saved = NULL;
        return st;
    }
    r->m = o->model;
    return HY_OK;
}

/* Restore the borrowed model's weights and free the buffers. */
static hy_status hy_ref_runner_close(hy_ref_runner *r) {
    const hy_ops *ops = r->m ? hy_model_ops(r->m) : NULL;
    hy_status st = r->m && r->saved ? ops->to_dev(ops->ctx, hy_model_weights(r->m), r->saved, r->saved_bytes) : HY_OK;
    hy_free(r->targets);
    hy_free(r->rows);
    hy_free(r->saved);
    memset(r, 0, sizeof *r);
    return st;
}

/* Fill e[0..n) from one micro-batch; marks filled sides in `seen`. */
static hy_status hy_ref_absorb(hy_ref_runner *r, const hy_microbatch *mb, hy_ref_entry *e, uint8_t *seen, int64_t n) {
    hy_train_shift_targets(mb, r->targets);
    hy_model_batch b = {.n_docs = mb->n_docs, .doc_len = mb->doc_len, .ids = mb->ids, .targets = r->targets};
    HY_TRY(hy_model_forward(r->m, &b, r->rows, NULL));
    for (int d = 0; d < mb->n_docs; d++) {
        int64_t s = mb->sample[d];
        int side = mb->is_chosen[d] ? 0 : 1;
        if (s < 0 || s >= n || (seen[s] & (1 << side)))
            return hy_errorf(HY_ERR_INTERNAL, "reference pass: sample %lld side %d out of range or seen twice", (long long)s, side);
        double sum = 0;
        int64_t cnt = 0;
        for (int i = mb->doc_start[d]; i < mb->doc_start[d] + mb->doc_len[d]; i++)
            if (r->targets[i] >= 0) {
                sum -= r->rows[i];
                cnt++;
            }
        e[s].sum[side] = sum;
        e[s].count[side] = cnt;
        seen[s] |= (uint8_t)(1 << side);
    }
    return HY_OK;
}

static hy_status hy_ref_compute(hy_ref_runner *r, const char *store, hy_ref_entry *e, int64_t n) {
    hy_loader_opts lo;
    hy_loader_opts_default(&lo);
    lo.budget = r->budget;
    lo.meta_tokens = r->M;
    lo.shuffle = 0;
    hy_loader_source src = {store, 1.0};
    hy_loader *l;
    HY_TRY(hy_loader_create(&l, &src, 1, &lo));
    uint8_t *seen = NULL;
    int64_t steps = 0, tokens = 0;
    double t0 = hy_now_s();
    hy_status st = hy_loader_kind(l) == HY_REC_PREF ? HY_OK
                   : hy_errorf(HY_ERR_DATA, "%s: DPO needs a preference token store (prompt/chosen/rejected records)", store);
    if (!st) st = hy_malloc((void **)&seen, (size_t)n + 1, 1, "reference pass");
    if (!st) st = hy_loader_steps_per_epoch(l, 0, &steps);
    hy_microbatch mb;
    for (int64_t k = 0; k < steps && !st; k++) {
        st = hy_loader_next(l, &mb);
        if (!st && mb.n_docs) st = hy_ref_absorb(r, &mb, e, seen, n);
        tokens += mb.n_tokens;
    }
    for (int64_t s = 0; s < n && !st; s++)
        if (seen[s] != 3) st = hy_errorf(HY_ERR_INTERNAL, "reference pass over %s missed sample %lld", store, (long long)s);
    double dt = hy_now_s() - t0;
    if (!st) hy_log_info("dpo: reference log-probs of %lld pairs (%lld tokens) in %.1f s (%.0f tokens/s)", (long long)n, (long long)tokens, dt,
                         dt > 0 ? (double)tokens / dt : 0.0);
    hy_free(seen);
    hy_loader_free(l);
    return st;
}

/* ---------------------------------------------------------------- API */

static hy_status hy_ref_store_samples(const char *store, int64_t *n, uint64_t *hash) {
    hy_store *s;
    HY_TRY(hy_store_open(&s, store));
    const hy_store_info *info = hy_store_get_info(s);
    *n = info->n_samples;
    hy_rec_kind kind = info->kind;
    hy_store_close(s);
    if (kind != HY_REC_PREF) return hy_errorf(HY_ERR_DATA, "%s: DPO needs a preference token store (prompt/chosen/rejected records)", store);
    return hy_fs_hash_file(store, hash);
}

/* Load or compute store i; opens the runner on first need. */
static hy_status hy_ref_cache_one(hy_ref_cache *c, int i, const char *store, const char *ref_dir, hy_ref_key key, hy_ref_runner *run,
                                  const hy_ref_cache_opts *o) {
    hy_ref_cache_report *rep = &c->rep[i];
    HY_TRY(hy_ref_cache_path(rep->path, sizeof rep->path, store, ref_dir));
    HY_TRY(hy_ref_store_samples(store, &c->n_samples[i], &key.store));
    int64_t n = c->n_samples[i];
    HY_TRY(hy_ref_load(rep->path, &key, n, &c->e[i], rep->why, sizeof rep->why));
    if (c->e[i]) return HY_OK;
    rep->rebuilt = 1;
    hy_log_info("dpo: reference cache %s: rebuilding: %s", rep->path, rep->why);
    if (!run->m) HY_TRY(hy_ref_runner_open(run, ref_dir, o));
    HY_TRY(hy_malloc((void **)&c->e[i], (size_t)n * sizeof(hy_ref_entry) + 1, 1, "reference log-probs"));
    HY_TRY(hy_ref_compute(run, store, c->e[i], n));
    return hy_ref_save(rep->path, &key, c->e[i], n);
}

hy_status hy_ref_cache_open(hy_ref_cache **out, const char *ref_dir, const char *const *stores, int n_stores, const hy_ref_cache_opts *o) {
    *out = NULL;
    hy_ref_cache *c;
    HY_TRY(hy_malloc((void **)&c, sizeof *c, 1, "reference cache"));
    c->n = n_stores;
    hy_status st = hy_malloc((void **)&c->e, sizeof(hy_ref_entry *) * (size_t)(n_stores + 1), 1, "reference cache");
    if (!st) st = hy_malloc((void **)&c->n_samples, sizeof(int64_t) * (size_t)(n_stores + 1), 1, "reference cache");
    if (!st) st = hy_malloc((void **)&c->rep, sizeof(hy_ref_cache_report) * (size_t)(n_stores + 1), 1, "reference cache");
    hy_ref_key key = {0, 0, hy_backend_hash(hy_model_ops(o->model))};
    if (!st) st = hy_ref_weights_hash(ref_dir, &key.ref);
    hy_ref_runner run;
    memset(&run, 0, sizeof run);
    for (int i = 0; i < n_stores && !st; i++) {
        st = hy_ref_cache_one(c, i, stores[i], ref_dir, key, &run, o);
        if (st) hy_error_context("reference log-probs for %s", stores[i]);
    }
    hy_status rs = hy_ref_runner_close(&run);
    if (!st) st = rs;
    if (st) {
        hy_ref_cache_free(c);
        return st;
    }
    *out = c;
    return HY_OK;
}

void hy_ref_cache_free(hy_ref_cache *c) {
    if (!c) return;
    for (int i = 0; c->e && i < c->n; i++) hy_free(c->e[i]);
    hy_free(c->e);
    hy_free(c->n_samples);
    hy_free(c->rep);
    hy_free(c);
}

const hy_ref_cache_report *hy_ref_cache_report_get(const hy_ref_cache *c, int i) { return i >= 0 && i < c->n ? &c->rep[i] : NULL; }

hy_status hy_ref_cache_get(const hy_ref_cache *c, int store, int64_t sample, int side, double *sum, int64_t *count) {
    if (store < 0 || store >= c->n || sample < 0 || sample >= c->n_samples[store] || side < 0 || side > 1)
        return hy_errorf(HY_ERR_INTERNAL, "reference cache lookup (store %d, sample %lld, side %d) out of range", store, (long long)sample,
                         side);
    *sum = c->e[store][sample].sum[side];
    *count = c->e[store][sample].count[side];
    return HY_OK;
}
