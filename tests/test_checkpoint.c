/* test_checkpoint.c — safetensors reader/writer, checkpoint directories,
 * initialisation, the counter-based RNG, `hymba init` and `hymba info`.
 * Every malformed input is its own case and must give its message (never a
 * crash); round trips compare bytes. */
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/safetensors.h"
#include "tests/harness.h"

#define SPEC12 HY_SHARED_DIR "/reference/spec12"
#define TOKDIR HY_SHARED_DIR "/hymba-1.5b"

/* ---- fixtures ---- */

typedef struct {
    hy_config c;
    hy_param_table t;
    float *w;
    char dir[256];
} hy_fx;

static int hy_fx_open(hy_fx *f, const char *tag) {
    memset(f, 0, sizeof *f);
    HY_EXPECT_OK(hy_config_load(&f->c, SPEC12 "/config.json"));
    HY_EXPECT_OK(hy_params_build(&f->t, &f->c));
    HY_EXPECT_OK(hy_malloc((void **)&f->w, f->t.total * sizeof(float), 1, "test weights"));
    HY_EXPECT(hy_test_tmpdir(f->dir, sizeof f->dir, tag) == 0);
    return 0;
}

static void hy_fx_close(hy_fx *f) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    hy_test_run(cmd, NULL);
    hy_free(f->w);
    hy_params_free(&f->t);
}

static float *hy_fx_alloc(const hy_fx *f) {
    float *p = NULL;
    if (hy_malloc((void **)&p, f->t.total * sizeof(float), 1, "test weights")) return NULL;
    return p;
}

/* Raw safetensors file: u64 header length, header text, `data_len` bytes. */
static int hy_write_raw_st(const char *path, const char *header, size_t data_len) {
    size_t hl = strlen(header), n = 8 + hl + data_len;
    unsigned char *b = calloc(1, n);
    uint64_t h = hl;
    memcpy(b, &h, 8);
    memcpy(b + 8, header, hl);
    int r = hy_test_write_file(path, b, n);
    free(b);
    return r;
}

static hy_status hy_open_raw(const char *dir, const char *header, size_t data_len) {
    char p[400];
    snprintf(p, sizeof p, "%s/bad.safetensors", dir);
    if (hy_write_raw_st(p, header, data_len)) return hy_errorf(HY_ERR_IO, "test: cannot write %s", p);
    hy_st_file *f = NULL;
    hy_status st = hy_st_open(&f, p);
    hy_st_close(f);
    return st;
}

static long hy_file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) ? -1 : (long)sb.st_size;
}

/* Distinct shard file names of DIR's index, in order of first appearance. */
static int hy_shard_names(const char *dir, char names[][64], int max) {
    char p[400];
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
    hy_json *idx;
    if (hy_json_load_file(&idx, p)) return -1;
    const hy_json *map = hy_json_get(idx, "weight_map");
    int n = 0;
    for (void *it = hy_json_iter(map); it; it = hy_json_iter_next(map, it)) {
        const char *v = hy_json_str(hy_json_iter_value(it));
        int seen = 0;
        for (int i = 0; i < n; i++) seen |= !strcmp(names[i], v);
        if (!seen && n < max) snprintf(names[n++], 64, "%s", v);
    }
    hy_json_free(idx);
    return n;
}

/* ---- safetensors ---- */

HY_TEST(st_roundtrip_f32_bitexact) {
    char dir[256], p[300];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "st") == 0);
    snprintf(p, sizeof p, "%s/a.safetensors", dir);
    float a[37];
    hy_test_rng r = {11};
    hy_test_fill(&r, a, 37, 3.0f);
    uint32_t special[] = {0x7fc00001u /* NaN with payload */, 0x7f800000u, 0xff800000u, 0x80000000u, 0x00000001u /* denormal */};
    memcpy(a, special, sizeof special);
    float scalar = 2.5f;
    hy_st_entry e[] = {
        {.name = "w", .dtype = HY_DTYPE_F32, .ndim = 2, .shape = {37, 1}, .data = a},
        {.name = "s", .dtype = HY_DTYPE_F32, .ndim = 0, .data = &scalar},
        {.name = "empty", .dtype = HY_DTYPE_F32, .ndim = 2, .shape = {0, 3}, .data = a},
    };
    const char *meta[] = {"producer", "test"};
    HY_EXPECT_OK(hy_st_write(p, e, 3, meta, 1));
    hy_st_file *f;
    HY_EXPECT_OK(hy_st_open(&f, p));
    HY_EXPECT(hy_st_count(f) == 3);
    const hy_st_tensor *w = hy_st_find(f, "w"), *s = hy_st_find(f, "s"), *z = hy_st_find(f, "empty");
    HY_EXPECT(w && s && z && w->dtype == HY_DTYPE_F32 && w->ndim == 2 && w->shape[0] == 37 && w->shape[1] == 1);
    HY_EXPECT(!memcmp(w->data, a, sizeof a));
    HY_EXPECT(s->ndim == 0 && s->numel == 1 && !memcmp(s->data, &scalar, 4));
    HY_EXPECT(z->numel == 0 && z->nbytes == 0);
    float back[37];
    HY_EXPECT_OK(hy_st_to_f32(w, back));
    HY_EXPECT(!memcmp(back, a, sizeof a));
    HY_EXPECT(!strcmp(hy_st_metadata(f, "format"), "pt") && !strcmp(hy_st_metadata(f, "producer"), "test"));
    hy_st_close(f);
    /* header padded with spaces to a multiple of 8; no temporaries left */
    FILE *fp = fopen(p, "rb");
    uint64_t hl = 0;
    HY_EXPECT(fp && fread(&hl, 8, 1, fp) == 1);
    char *hdr = calloc(1, hl + 1);
    HY_EXPECT(fread(hdr, 1, hl, fp) == hl);
    fclose(fp);
    HY_EXPECT_MSG(hl % 8 == 0 && hdr[0] == '{', "header length %llu", (unsigned long long)hl);
    size_t k = hl;
    while (k > 0 && hdr[k - 1] == ' ') k--;
    HY_EXPECT(k > 0 && hdr[k - 1] == '}' && hl - k < 8);
    HY_EXPECT(strstr(hdr, "\"__metadata__\":{\"format\":\"pt\",\"producer\":\"test\"}"));
    free(hdr);
    char cmd[400], *out = NULL;
    snprintf(cmd, sizeof cmd, "ls -A '%s'", dir);
    HY_EXPECT(hy_test_run(cmd, &out) == 0 && out && !strcmp(out, "a.safetensors\n"));
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return hy_test_run(cmd, NULL);
}

HY_TEST(st_roundtrip_bf16_bitexact) {
    char dir[256], p[300];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "st") == 0);
    snprintf(p, sizeof p, "%s/b.safetensors", dir);
    enum { N = 1000 };
    uint16_t raw[N];
    float src[N];
    hy_test_rng r = {5};
    for (int i = 0; i < N; i++) raw[i] = (uint16_t)(hy_test_uniform(&r) * 65536.0);
    hy_test_fill(&r, src, N, 10.0f);
    src[0] = 1.00390625f; /* tie → even */
    int64_t ids[6] = {-100, 0, 1, 32000, INT64_MAX, INT64_MIN};
    int32_t i32[3] = {-7, 0, 7};
    hy_st_entry e[] = {
        {.name = "raw", .dtype = HY_DTYPE_BF16, .ndim = 2, .shape = {10, 100}, .data = raw},
        {.name = "conv", .dtype = HY_DTYPE_BF16, .ndim = 1, .shape = {N}, .data = src, .from_f32 = 1},
        {.name = "ids", .dtype = HY_DTYPE_I64, .ndim = 2, .shape = {2, 3}, .data = ids},
        {.name = "i32", .dtype = HY_DTYPE_I32, .ndim = 1, .shape = {3}, .data = i32},
    };
    HY_EXPECT_OK(hy_st_write(p, e, 4, NULL, 0));
    hy_st_file *f;
    HY_EXPECT_OK(hy_st_open(&f, p));
    const hy_st_tensor *t = hy_st_find(f, "raw");
    HY_EXPECT(t && t->dtype == HY_DTYPE_BF16 && !memcmp(t->data, raw, sizeof raw));
    t = hy_st_find(f, "conv");
    float back[N];
    HY_EXPECT_OK(hy_st_to_f32(t, back));
    for (int i = 0; i < N; i++) {
        uint16_t h;
        memcpy(&h, (const char *)t->data + 2 * i, 2);
        HY_EXPECT_MSG(h == hy_f32_to_bf16(src[i]) && back[i] == hy_bf16_to_f32(h), "element %d: %g -> 0x%04x", i, (double)src[i], h);
    }
    HY_EXPECT(back[0] == 1.0f);
    int64_t got[6];
    HY_EXPECT_OK(hy_st_to_i64(hy_st_find(f, "ids"), got));
    HY_EXPECT(!memcmp(got, ids, sizeof ids));
    HY_EXPECT_OK(hy_st_to_i64(hy_st_find(f, "i32"), got));
    HY_EXPECT(got[0] == -7 && got[2] == 7);
    HY_EXPECT_ERR(hy_st_to_f32(hy_st_find(f, "ids"), back), "not a floating-point type");
    HY_EXPECT_ERR(hy_st_to_i64(hy_st_find(f, "raw"), got), "not an integer type");
    hy_st_close(f);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return hy_test_run(cmd, NULL);
}

HY_TEST(st_writer_rejects_duplicates) {
    float x = 1;
    hy_st_entry e[] = {{.name = "a", .dtype = HY_DTYPE_F32, .ndim = 1, .shape = {1}, .data = &x},
                       {.name = "a", .dtype = HY_DTYPE_F32, .ndim = 1, .shape = {1}, .data = &x}};
    HY_EXPECT_ERR(hy_st_write("/tmp/hymba-never-written.safetensors", e, 2, NULL, 0), "tensor 'a' appears twice");
    HY_EXPECT(access("/tmp/hymba-never-written.safetensors", F_OK) != 0);
    return 0;
}

#define ST_ERR_CASE(name, header, data_len, needle)                               \
    HY_TEST(name) {                                                               \
        char dir[256];                                                            \
        HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "st") == 0);                    \
        HY_EXPECT_ERR(hy_open_raw(dir, header, data_len), needle);                \
        HY_EXPECT_MSG(strstr(hy_last_error(), "bad.safetensors"), "no file name in: %s", hy_last_error()); \
        fprintf(stderr, "  message: %s\n", hy_last_error());                     \
        char cmd[300];                                                            \
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);                            \
        return hy_test_run(cmd, NULL);                                            \
    }

ST_ERR_CASE(st_err_bad_json_header, "{\"a\": {\"dtype\": ", 0, "invalid JSON")
ST_ERR_CASE(st_err_header_not_object, "[1, 2]  ", 0, "header: expected a JSON object")
ST_ERR_CASE(st_err_unknown_dtype, "{\"x\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16,
            "tensor 'x': unsupported dtype \"F64\"")
ST_ERR_CASE(st_err_shape_offset_mismatch, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24,
            "tensor 'x': shape [2, 3] of F32 needs 24 bytes, but data_offsets [0, 20] span 20")
ST_ERR_CASE(st_err_truncated_data, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 16,
            "tensor 'x': data_offsets [0, 24] exceed the data region of 16 bytes (file truncated?)")
ST_ERR_CASE(st_err_overlapping_offsets,
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]},\"b\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[16,40]}}",
            40, "overlap")
ST_ERR_CASE(st_err_reversed_offsets, "{\"x\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8, "tensor 'x': data_offsets")
ST_ERR_CASE(st_err_bad_shape, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,8]}}", 8, "tensor 'x': shape[1]: expected a non-negative integer, got -1")
ST_ERR_CASE(st_err_metadata_not_string, "{\"__metadata__\":{\"format\":1}}", 0, "__metadata__: \"format\": expected a string")

HY_TEST(st_err_header_length_beyond_file) {
    char dir[256], p[300];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "st") == 0);
    snprintf(p, sizeof p, "%s/bad.safetensors", dir);
    unsigned char b[50] = {0};
    uint64_t h = 1000;
    memcpy(b, &h, 8);
    HY_EXPECT(hy_test_write_file(p, b, sizeof b) == 0);
    hy_st_file *f;
    HY_EXPECT_ERR(hy_st_open(&f, p), "header length 1000 exceeds the file size of 50 bytes");
    HY_EXPECT(hy_test_write_file(p, b, 5) == 0);
    HY_EXPECT_ERR(hy_st_open(&f, p), "file is 5 bytes, too short");
    HY_EXPECT_ERR(hy_st_open(&f, "/nonexistent/x.safetensors"), "/nonexistent/x.safetensors: cannot open");
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return hy_test_run(cmd, NULL);
}

/* ---- checkpoints ---- */

HY_TEST(ckpt_spec12_loads) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    memset(f.w, 0xff, f.t.total * sizeof(float)); /* NaN everywhere: gaps must come back zero */
    hy_dtype dt = HY_DTYPE_BF16;
    HY_EXPECT_OK(hy_ckpt_load_weights(SPEC12, &f.t, f.w, &dt));
    HY_EXPECT(dt == HY_DTYPE_F32 && f.t.n_params == 474672);
    hy_st_file *st;
    HY_EXPECT_OK(hy_st_open(&st, SPEC12 "/model.safetensors"));
    HY_EXPECT(hy_st_count(st) == f.t.count && !hy_st_find(st, "lm_head.weight"));
    for (int i = 0; i < f.t.count; i++) {
        const hy_param_desc *d = &f.t.desc[i];
        const hy_st_tensor *x = hy_st_find(st, d->name);
        HY_EXPECT_MSG(x && !memcmp(x->data, f.w + d->offset, d->numel * 4), "%s", d->name);
        size_t end = i + 1 < f.t.count ? f.t.desc[i + 1].offset : f.t.total;
        for (size_t k = d->offset + d->numel; k < end; k++) HY_EXPECT_MSG(f.w[k] == 0.0f, "gap after %s not zero", d->name);
    }
    hy_st_close(st);
    hy_fx_close(&f);
    return 0;
}

HY_TEST(ckpt_save_load_f32_and_bf16) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    hy_ckpt_init_weights(&f.t, &f.c, 3, f.w);
    float *g = hy_fx_alloc(&f);
    HY_EXPECT(g);
    HY_EXPECT_OK(hy_ckpt_save_weights(f.dir, &f.t, f.w, HY_DTYPE_F32, 0));
    hy_dtype dt;
    HY_EXPECT_OK(hy_ckpt_load_weights(f.dir, &f.t, g, &dt));
    HY_EXPECT(dt == HY_DTYPE_F32 && !memcmp(g, f.w, f.t.total * sizeof(float)));
    HY_EXPECT_OK(hy_ckpt_save_weights(f.dir, &f.t, f.w, HY_DTYPE_BF16, 0));
    HY_EXPECT_OK(hy_ckpt_load_weights(f.dir, &f.t, g, &dt));
    HY_EXPECT(dt == HY_DTYPE_BF16);
    for (size_t i = 0; i < f.t.total; i++)
        HY_EXPECT_MSG(g[i] == hy_bf16_to_f32(hy_f32_to_bf16(f.w[i])), "element %zu: %g vs %g", i, (double)g[i], (double)f.w[i]);
    hy_free(g);
    hy_fx_close(&f);
    return 0;
}

HY_TEST(ckpt_sharded_equals_single) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    hy_ckpt_init_weights(&f.t, &f.c, 9, f.w);
    char single[300], sharded[300], p[400];
    snprintf(single, sizeof single, "%s/single", f.dir);
    snprintf(sharded, sizeof sharded, "%s/sharded", f.dir);
    const size_t limit = 300000;
    HY_EXPECT_OK(hy_ckpt_save_weights(single, &f.t, f.w, HY_DTYPE_F32, 0));
    HY_EXPECT_OK(hy_ckpt_save_weights(sharded, &f.t, f.w, HY_DTYPE_F32, limit));
    snprintf(p, sizeof p, "%s/model.safetensors", sharded);
    HY_EXPECT(access(p, F_OK) != 0);
    hy_json *idx;
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", sharded);
    HY_EXPECT_OK(hy_json_load_file(&idx, p));
    HY_EXPECT((size_t)hy_json_int(hy_json_get(hy_json_get(idx, "metadata"), "total_size")) == f.t.n_params * 4);
    HY_EXPECT((int)hy_json_len(hy_json_get(idx, "weight_map")) == f.t.count);
    hy_json_free(idx);
    /* 474,672 fp32 parameters = 1.9 MB → at least 7 shards of ≤ 300 kB, HF names */
    char names[32][64];
    int n = hy_shard_names(sharded, names, 32);
    fprintf(stderr, "  %d shards\n", n);
    HY_EXPECT_MSG(n >= 7 && n < 32, "%d shards", n);
    for (int i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof want, "model-%05d-of-%05d.safetensors", i + 1, n);
        HY_EXPECT_MSG(!strcmp(names[i], want), "shard %d is %s", i, names[i]);
        snprintf(p, sizeof p, "%s/%s", sharded, names[i]);
        long sz = hy_file_size(p);
        HY_EXPECT_MSG(sz > 0 && sz < (long)limit + 20000, "%s is %ld bytes", p, sz); /* tensor data ≤ limit, plus the header */
    }
    float *a = hy_fx_alloc(&f), *b = hy_fx_alloc(&f);
    HY_EXPECT(a && b);
    HY_EXPECT_OK(hy_ckpt_load_weights(single, &f.t, a, NULL));
    HY_EXPECT_OK(hy_ckpt_load_weights(sharded, &f.t, b, NULL));
    HY_EXPECT(!memcmp(a, b, f.t.total * sizeof(float)) && !memcmp(a, f.w, f.t.total * sizeof(float)));
    /* saving single over a sharded directory removes the index and the shards */
    HY_EXPECT_OK(hy_ckpt_save_weights(sharded, &f.t, f.w, HY_DTYPE_BF16, 0));
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", sharded);
    HY_EXPECT(access(p, F_OK) != 0);
    snprintf(p, sizeof p, "%s/%s", sharded, names[0]);
    HY_EXPECT(access(p, F_OK) != 0);
    HY_EXPECT_OK(hy_ckpt_load_weights(sharded, &f.t, b, NULL));
    hy_free(a);
    hy_free(b);
    hy_fx_close(&f);
    return 0;
}

/* A checkpoint built from the table with one deliberate defect. */
typedef struct {
    const char *drop, *extra, *misshape, *as_i64;
    int lm_head; /* 0 absent, 1 equal to the embedding, 2 one element different */
} hy_variant;

static hy_status hy_write_variant(const hy_fx *f, const hy_variant *v) {
    hy_st_entry *e = calloc((size_t)f->t.count + 2, sizeof *e);
    int n = 0;
    for (int i = 0; i < f->t.count; i++) {
        const hy_param_desc *d = &f->t.desc[i];
        if (v->drop && !strcmp(v->drop, d->name)) continue;
        hy_st_entry *x = &e[n++];
        x->name = d->name;
        x->dtype = HY_DTYPE_F32;
        x->ndim = d->ndim;
        for (int k = 0; k < d->ndim; k++) x->shape[k] = d->shape[k];
        x->data = f->w + d->offset;
        if (v->misshape && !strcmp(v->misshape, d->name)) x->shape[0] = 416; /* a consumer's in_proj with producer rows */
        if (v->as_i64 && !strcmp(v->as_i64, d->name)) { x->dtype = HY_DTYPE_I64; x->shape[0] /= 2; }
    }
    size_t big = f->t.total;
    float *alt = malloc(big * sizeof(float));
    memcpy(alt, f->w, big * sizeof(float));
    if (v->extra) e[n++] = (hy_st_entry){.name = v->extra, .dtype = HY_DTYPE_F32, .ndim = 1, .shape = {4}, .data = alt};
    const hy_param_desc *emb = hy_params_get(&f->t, -1, HY_P_EMBED);
    if (v->lm_head) {
        alt[emb->offset + 5 * 64 + 7] += v->lm_head == 2 ? 1e-3f : 0.0f;
        e[n++] = (hy_st_entry){.name = "lm_head.weight", .dtype = HY_DTYPE_F32, .ndim = 2, .shape = {emb->shape[0], emb->shape[1]},
                               .data = alt + emb->offset};
    }
    char p[400];
    snprintf(p, sizeof p, "%s/model.safetensors", f->dir);
    hy_status st = hy_st_write(p, e, n, NULL, 0);
    free(alt);
    free(e);
    return st;
}

static int hy_variant_case(const hy_variant *v, const char *needle) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    hy_ckpt_init_weights(&f.t, &f.c, 1, f.w);
    HY_EXPECT_OK(hy_write_variant(&f, v));
    float *g = hy_fx_alloc(&f);
    if (needle) {
        HY_EXPECT_ERR(hy_ckpt_load_weights(f.dir, &f.t, g, NULL), needle);
        fprintf(stderr, "  message: %s\n", hy_last_error());
    } else {
        HY_EXPECT_OK(hy_ckpt_load_weights(f.dir, &f.t, g, NULL));
        HY_EXPECT(!memcmp(g, f.w, f.t.total * sizeof(float)));
    }
    hy_free(g);
    hy_fx_close(&f);
    return 0;
}

HY_TEST(ckpt_err_missing_tensor) {
    hy_variant v = {.drop = "model.layers.5.mamba.D.0"};
    return hy_variant_case(&v, "1 tensor is missing from the checkpoint: 'model.layers.5.mamba.D.0'");
}
HY_TEST(ckpt_err_extra_tensor) {
    hy_variant v = {.extra = "model.layers.0.self_attn.q_proj.weight"};
    return hy_variant_case(&v, "1 tensor is not in the Hymba parameter table: 'model.layers.0.self_attn.q_proj.weight'");
}
HY_TEST(ckpt_err_misshapen_tensor) {
    hy_variant v = {.misshape = "model.layers.2.mamba.in_proj.weight"};
    return hy_variant_case(&v, "tensor 'model.layers.2.mamba.in_proj.weight': shape [416, 64], expected [320, 64]");
}
HY_TEST(ckpt_err_wrong_dtype) {
    hy_variant v = {.as_i64 = "model.final_layernorm.weight"};
    return hy_variant_case(&v, "tensor 'model.final_layernorm.weight': dtype I64, expected a floating-point dtype");
}
HY_TEST(ckpt_tied_lm_head_accepted) {
    hy_variant v = {.lm_head = 1};
    return hy_variant_case(&v, NULL);
}
HY_TEST(ckpt_err_untied_lm_head) {
    hy_variant v = {.lm_head = 2};
    return hy_variant_case(&v, "lm_head.weight differs from model.embed_tokens.weight at [5, 7]");
}
HY_TEST(ckpt_err_untied_lm_head_message) {
    hy_variant v = {.lm_head = 2};
    return hy_variant_case(&v, "untied lm_head not supported");
}

HY_TEST(ckpt_err_missing_shard_file) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    hy_ckpt_init_weights(&f.t, &f.c, 2, f.w);
    HY_EXPECT_OK(hy_ckpt_save_weights(f.dir, &f.t, f.w, HY_DTYPE_BF16, 300000));
    char p[400], names[16][64], needle[128];
    HY_EXPECT(hy_shard_names(f.dir, names, 16) >= 3);
    snprintf(p, sizeof p, "%s/%s", f.dir, names[1]);
    HY_EXPECT(unlink(p) == 0);
    snprintf(needle, sizeof needle, "weight_map: shard \"%s\"", names[1]);
    HY_EXPECT_ERR(hy_ckpt_load_weights(f.dir, &f.t, f.w, NULL), needle);
    HY_EXPECT(strstr(hy_last_error(), "No such file"));
    fprintf(stderr, "  message: %s\n", hy_last_error());
    hy_fx_close(&f);
    return 0;
}

HY_TEST(ckpt_err_index_disagrees_with_shard) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    hy_ckpt_init_weights(&f.t, &f.c, 2, f.w);
    HY_EXPECT_OK(hy_ckpt_save_weights(f.dir, &f.t, f.w, HY_DTYPE_BF16, 300000));
    char p[400], names[16][64], idx[256];
    HY_EXPECT(hy_shard_names(f.dir, names, 16) >= 2);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", f.dir);
    snprintf(idx, sizeof idx, "{\"weight_map\": {\"model.embed_tokens.weight\": \"%s\"}}", names[0]);
    HY_EXPECT(hy_test_write_file(p, idx, strlen(idx)) == 0);
    HY_EXPECT_ERR(hy_ckpt_load_weights(f.dir, &f.t, f.w, NULL), "is not listed in");
    fprintf(stderr, "  message: %s\n", hy_last_error());
    hy_fx_close(&f);
    return 0;
}

HY_TEST(ckpt_err_truncated_file) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    hy_ckpt_init_weights(&f.t, &f.c, 2, f.w);
    HY_EXPECT_OK(hy_ckpt_save_weights(f.dir, &f.t, f.w, HY_DTYPE_F32, 0));
    char p[400];
    snprintf(p, sizeof p, "%s/model.safetensors", f.dir);
    HY_EXPECT(truncate(p, hy_file_size(p) - 1000) == 0);
    HY_EXPECT_ERR(hy_ckpt_load_weights(f.dir, &f.t, f.w, NULL), "(file truncated?)");
    HY_EXPECT(strstr(hy_last_error(), "model.safetensors: tensor 'model.memory_tokens'"));
    fprintf(stderr, "  message: %s\n", hy_last_error());
    hy_fx_close(&f);
    return 0;
}

HY_TEST(ckpt_err_no_weights) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    HY_EXPECT_ERR(hy_ckpt_load_weights(f.dir, &f.t, f.w, NULL), "no model.safetensors or model.safetensors.index.json");
    hy_fx_close(&f);
    return 0;
}

/* ---- initialisation and RNG ---- */

HY_TEST(rng_philox_known_answers) {
    /* Random123 kat_vectors for philox4x32_10 (counter c0..c3, key k0 k1) */
    hy_rng_block b = hy_rng_philox(0, 0, 0);
    HY_EXPECT_MSG(b.w[0] == 0x6627e8d5u && b.w[1] == 0xe169c58du && b.w[2] == 0xbc57ac4cu && b.w[3] == 0x9b00dbd8u, "%08x %08x %08x %08x",
                  b.w[0], b.w[1], b.w[2], b.w[3]);
    b = hy_rng_philox(UINT64_MAX, UINT64_MAX, UINT64_MAX);
    HY_EXPECT_MSG(b.w[0] == 0x408f276du && b.w[1] == 0x41c83b0eu && b.w[2] == 0xa20bc7c6u && b.w[3] == 0x6d5451fdu, "%08x %08x %08x %08x",
                  b.w[0], b.w[1], b.w[2], b.w[3]);
    b = hy_rng_philox(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull);
    HY_EXPECT_MSG(b.w[0] == 0xd16cfe09u && b.w[1] == 0x94fdccebu && b.w[2] == 0x5001e420u && b.w[3] == 0x24126ea1u, "%08x %08x %08x %08x",
                  b.w[0], b.w[1], b.w[2], b.w[3]);
    return 0;
}

HY_TEST(rng_normal_moments_and_offsets) {
    enum { N = 1 << 20 };
    float *x = malloc(N * sizeof(float)), *y = malloc(100 * sizeof(float));
    hy_rng_fill_normal(42, 7, 0, x, N, 0.0, 1.0);
    double s = 0, s2 = 0, s4 = 0, in1 = 0;
    for (int i = 0; i < N; i++) {
        s += x[i];
        s2 += (double)x[i] * x[i];
        s4 += (double)x[i] * x[i] * x[i] * x[i];
        in1 += fabsf(x[i]) < 1.0f;
    }
    double mean = s / N, var = s2 / N - mean * mean, kurt = s4 / N / (var * var), p1 = in1 / N;
    fprintf(stderr, "  mean %.5f var %.5f kurtosis %.4f P(|z|<1) %.5f\n", mean, var, kurt, p1);
    HY_EXPECT(fabs(mean) < 5.0 / sqrt(N) && fabs(var - 1) < 5.0 * sqrt(2.0 / N) && fabs(kurt - 3) < 0.05);
    HY_EXPECT(fabs(p1 - 0.682689) < 5.0 * sqrt(0.2166 / N));
    /* any window equals the same slice of a full fill (odd start included) */
    hy_rng_fill_normal(42, 7, 333, y, 100, 0.0, 1.0);
    HY_EXPECT(!memcmp(y, x + 333, 100 * sizeof(float)));
    HY_EXPECT((float)hy_rng_normal(42, 7, 334) == x[334]);
    free(x);
    free(y);
    return 0;
}

HY_TEST(rng_shuffle_and_below) {
    enum { N = 1000 };
    uint32_t a[N], b[N];
    for (int i = 0; i < N; i++) a[i] = b[i] = (uint32_t)i;
    hy_rng_shuffle_u32(1, hy_rng_stream_id("data.shuffle"), a, N);
    hy_rng_shuffle_u32(1, hy_rng_stream_id("data.shuffle"), b, N);
    HY_EXPECT(!memcmp(a, b, sizeof a));
    int seen[N] = {0}, fixed = 0;
    for (int i = 0; i < N; i++) { seen[a[i]]++; fixed += a[i] == (uint32_t)i; }
    for (int i = 0; i < N; i++) HY_EXPECT(seen[i] == 1);
    HY_EXPECT(fixed < 10);
    for (int i = 0; i < N; i++) b[i] = (uint32_t)i;
    hy_rng_shuffle_u32(2, hy_rng_stream_id("data.shuffle"), b, N);
    HY_EXPECT(memcmp(a, b, sizeof a));
    int count[10] = {0};
    for (int i = 0; i < 100000; i++) count[hy_rng_below(3, 4, (uint64_t)i, 10)]++;
    double chi2 = 0;
    for (int k = 0; k < 10; k++) chi2 += (count[k] - 10000.0) * (count[k] - 10000.0) / 10000.0;
    HY_EXPECT_MSG(chi2 < 30, "chi2 %.1f (9 dof)", chi2);
    return 0;
}

HY_TEST(init_deterministic_and_seeded) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    float *g = hy_fx_alloc(&f);
    hy_ckpt_init_weights(&f.t, &f.c, 1234, f.w);
    hy_ckpt_init_weights(&f.t, &f.c, 1234, g);
    HY_EXPECT(!memcmp(f.w, g, f.t.total * sizeof(float)));
    hy_ckpt_init_weights(&f.t, &f.c, 1235, g);
    size_t rnd = 0, diff = 0;
    for (int i = 0; i < f.t.count; i++) {
        const hy_param_desc *d = &f.t.desc[i];
        if (d->init != HY_INIT_NORMAL && d->init != HY_INIT_STDNORMAL) continue;
        for (size_t k = 0; k < d->numel; k++) { rnd++; diff += f.w[d->offset + k] != g[d->offset + k]; }
    }
    HY_EXPECT_MSG(diff > rnd - rnd / 1000, "only %zu of %zu random values differ between seeds", diff, rnd);
    /* the thread count does not matter */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    hy_ckpt_init_weights(&f.t, &f.c, 1234, g);
    omp_set_num_threads(3);
    float *h = hy_fx_alloc(&f);
    hy_ckpt_init_weights(&f.t, &f.c, 1234, h);
    omp_set_num_threads(threads);
    HY_EXPECT(!memcmp(f.w, g, f.t.total * sizeof(float)) && !memcmp(f.w, h, f.t.total * sizeof(float)));
    /* one tensor alone equals its slice */
    const hy_param_desc *d = hy_params_get(&f.t, 4, HY_P_IN_PROJ);
    hy_ckpt_init_tensor(d, &f.c, 1234, h);
    HY_EXPECT(!memcmp(h, f.w + d->offset, d->numel * sizeof(float)));
    hy_free(g);
    hy_free(h);
    hy_fx_close(&f);
    return 0;
}

HY_TEST(init_follows_rules) {
    hy_fx f;
    if (hy_fx_open(&f, "ck")) return 1;
    memset(f.w, 0xff, f.t.total * sizeof(float));
    hy_ckpt_init_weights(&f.t, &f.c, 77, f.w);
    double s = 0, s2 = 0, n = 0, m = 0, m2 = 0, mn = 0;
    for (int i = 0; i < f.t.count; i++) {
        const hy_param_desc *d = &f.t.desc[i];
        const float *x = f.w + d->offset;
        size_t end = i + 1 < f.t.count ? f.t.desc[i + 1].offset : f.t.total;
        for (size_t k = d->offset + d->numel; k < end; k++) HY_EXPECT_MSG(f.w[k] == 0.0f, "gap after %s", d->name);
        for (size_t k = 0; k < d->numel; k++) {
            switch (d->init) {
            case HY_INIT_ONES: HY_EXPECT_MSG(x[k] == 1.0f, "%s[%zu] = %g", d->name, k, (double)x[k]); break;
            case HY_INIT_ZEROS: HY_EXPECT_MSG(x[k] == 0.0f, "%s[%zu] = %g", d->name, k, (double)x[k]); break;
            case HY_INIT_A_LOG: HY_EXPECT_MSG(x[k] == (float)log((double)(k % 8 + 1)), "%s[%zu] = %.9g", d->name, k, (double)x[k]); break;
            case HY_INIT_STDNORMAL: m += x[k]; m2 += (double)x[k] * x[k]; mn++; break;
            case HY_INIT_NORMAL_PAD0:
                if (k < 64) { HY_EXPECT_MSG(x[k] == 0.0f, "pad row element %zu = %g", k, (double)x[k]); break; }
                /* fall through */
            case HY_INIT_NORMAL: s += x[k]; s2 += (double)x[k] * x[k]; n++; break;
            }
        }
    }
    HY_EXPECT(f.w[hy_params_off(&f.t, 3, HY_P_A_LOG) + 8 * 17 + 3] == logf(4.0f)); /* A_log[17, 3] = ln 4 */
    double sd = sqrt(s2 / n - (s / n) * (s / n)), msd = sqrt(m2 / mn);
    fprintf(stderr, "  NORMAL: %.0f values, mean %.2e, std %.6f; meta: %.0f values, std %.4f\n", n, s / n, sd, mn, msd);
    HY_EXPECT_MSG(fabs(sd - 0.02) < 0.02 * 5 / sqrt(2 * n), "std %.6f", sd);
    HY_EXPECT(fabs(s / n) < 5 * 0.02 / sqrt(n));
    HY_EXPECT_MSG(fabs(msd - 1.0) < 5 / sqrt(2 * mn), "meta std %.4f", msd);
    hy_fx_close(&f);
    return 0;
}

/* ---- CLI ---- */

static int hy_run_cli(const char *args, char **out) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' %s", hy_test_hymba(), args);
    return hy_test_run(cmd, out);
}

static int hy_same_file(const char *a, const char *b) {
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
    return hy_test_run(cmd, NULL) == 0;
}

HY_TEST(cli_init_bf16_roundtrip) {
    hy_fx f;
    if (hy_fx_open(&f, "cli")) return 1;
    char args[1024], p[400], q[1200], *out = NULL;
    snprintf(args, sizeof args, "init --config %s/config.json --out '%s/m' --seed 7 --tokenizer %s", SPEC12, f.dir, TOKDIR);
    int rc = hy_run_cli(args, &out);
    fprintf(stderr, "%s", out ? out : "");
    HY_EXPECT(rc == 0 && strstr(out, "474,672 parameters") && strstr(out, "BF16") && strstr(out, "5 files copied"));
    free(out);
    snprintf(p, sizeof p, "%s/m", f.dir);
    hy_config c2;
    HY_EXPECT_OK(hy_ckpt_load_config(p, &c2));
    HY_EXPECT(!strcmp(c2.torch_dtype, "bfloat16"));
    memcpy(c2.torch_dtype, f.c.torch_dtype, sizeof c2.torch_dtype);
    HY_EXPECT(!memcmp(&c2, &f.c, sizeof c2));
    hy_json *gen;
    snprintf(q, sizeof q, "%s/m/generation_config.json", f.dir);
    HY_EXPECT_OK(hy_json_load_file(&gen, q));
    HY_EXPECT(hy_json_int(hy_json_get(gen, "bos_token_id")) == 1 && hy_json_int(hy_json_get(gen, "eos_token_id")) == 2 &&
              hy_json_typeof(hy_json_get(gen, "pad_token_id")) == HY_JSON_INT && hy_json_int(hy_json_get(gen, "pad_token_id")) == 0);
    hy_json_free(gen);
    static const char *tok[] = {"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"};
    for (int i = 0; i < 5; i++) {
        snprintf(q, sizeof q, "%s/m/%s", f.dir, tok[i]);
        snprintf(args, sizeof args, "%s/%s", TOKDIR, tok[i]);
        HY_EXPECT_MSG(hy_same_file(q, args), "%s differs from its source", q);
    }
    /* the weights are the in-memory init rounded to bf16, bit for bit */
    float *g = hy_fx_alloc(&f);
    hy_dtype dt;
    HY_EXPECT_OK(hy_ckpt_load_weights(p, &f.t, g, &dt));
    hy_ckpt_init_weights(&f.t, &f.c, 7, f.w);
    HY_EXPECT(dt == HY_DTYPE_BF16);
    for (size_t i = 0; i < f.t.total; i++)
        HY_EXPECT_MSG(g[i] == hy_bf16_to_f32(hy_f32_to_bf16(f.w[i])), "element %zu: %g vs %g", i, (double)g[i], (double)f.w[i]);
    hy_free(g);
    hy_fx_close(&f);
    return 0;
}

HY_TEST(cli_init_fp32_sharded) {
    hy_fx f;
    if (hy_fx_open(&f, "cli")) return 1;
    char args[1024], p[400], *out = NULL;
    snprintf(args, sizeof args, "init --config %s --out '%s/m' --seed 8 --dtype fp32 --shard-size 500K", SPEC12, f.dir);
    int rc = hy_run_cli(args, &out);
    fprintf(stderr, "%s", out ? out : "");
    HY_EXPECT(rc == 0 && strstr(out, "4 files (HF shards + index)"));
    free(out);
    snprintf(p, sizeof p, "%s/m", f.dir);
    float *g = hy_fx_alloc(&f);
    HY_EXPECT_OK(hy_ckpt_load_weights(p, &f.t, g, NULL));
    hy_ckpt_init_weights(&f.t, &f.c, 8, f.w);
    HY_EXPECT(!memcmp(g, f.w, f.t.total * sizeof(float)));
    hy_free(g);
    snprintf(args, sizeof args, "info '%s/m'", f.dir);
    rc = hy_run_cli(args, &out);
    HY_EXPECT(rc == 0 && strstr(out, "weights: sharded (model.safetensors.index.json): 155 tensors, 1.81 MiB"));
    free(out);
    hy_fx_close(&f);
    return 0;
}

HY_TEST(cli_init_broken_config_names_field) {
    hy_fx f;
    if (hy_fx_open(&f, "cli")) return 1;
    char p[400], args[1024], *out = NULL;
    snprintf(p, sizeof p, "%s/broken.json", f.dir);
    hy_json *j;
    HY_EXPECT_OK(hy_json_load_file(&j, SPEC12 "/config.json"));
    HY_EXPECT_OK(hy_json_set(j, "hidden_size", hy_json_string("64")));
    HY_EXPECT_OK(hy_json_save_file(j, p, 0));
    hy_json_free(j);
    snprintf(args, sizeof args, "init --config '%s' --out '%s/m'", p, f.dir);
    int rc = hy_run_cli(args, &out);
    fprintf(stderr, "  output: %s", out ? out : "");
    HY_EXPECT(rc == 1 && strstr(out, "broken.json: hidden_size: expected integer, got string"));
    free(out);
    snprintf(args, sizeof args, "info '%s'", p);
    rc = hy_run_cli(args, &out);
    HY_EXPECT(rc == 1 && strstr(out, "hidden_size: expected integer, got string"));
    free(out);
    snprintf(args, sizeof args, "init --config %s/config.json --out '%s/m' --dtype fp8", SPEC12, f.dir);
    rc = hy_run_cli(args, &out);
    HY_EXPECT(rc == 2 && strstr(out, "--dtype: expected bf16 or fp32, got 'fp8'"));
    free(out);
    hy_fx_close(&f);
    return 0;
}

HY_TEST(cli_init_refuses_to_overwrite) {
    hy_fx f;
    if (hy_fx_open(&f, "cli")) return 1;
    char args[1024], *out = NULL;
    snprintf(args, sizeof args, "init --config %s/config.json --out '%s'", SPEC12, f.dir);
    HY_EXPECT(hy_run_cli(args, NULL) == 0);
    int rc = hy_run_cli(args, &out);
    HY_EXPECT(rc == 1 && strstr(out, "already exists (pass --force"));
    free(out);
    snprintf(args, sizeof args, "init --config %s/config.json --out '%s' --force --seed 3", SPEC12, f.dir);
    HY_EXPECT(hy_run_cli(args, NULL) == 0);
    hy_fx_close(&f);
    return 0;
}

HY_TEST(cli_info_reports_roles_and_params) {
    char args[512], *out = NULL;
    snprintf(args, sizeof args, "info %s", SPEC12);
    int rc = hy_run_cli(args, &out);
    fprintf(stderr, "%s", out ? out : "");
    HY_EXPECT(rc == 0 && out);
    HY_EXPECT(strstr(out, "parameters: 474,672 in 155 tensors") && strstr(out, "base 92432.847"));
    HY_EXPECT(strstr(out, "    4  swa     producer -> 5 6") && strstr(out, "    6  swa     consumer <- 4") &&
              strstr(out, "    7  global  own"));
    HY_EXPECT(strstr(out, "KV-computing layers: 5; consumers: 3") && strstr(out, "weights: model.safetensors: 155 tensors"));
    free(out);
    snprintf(args, sizeof args, "info %s/config.json --params", TOKDIR);
    rc = hy_run_cli(args, &out);
    HY_EXPECT(rc == 0 && strstr(out, "parameters: 1,522,797,824") && strstr(out, "KV-computing layers: 17; consumers: 15"));
    HY_EXPECT(strstr(out, "model.layers.17.mamba.in_proj.weight") && strstr(out, "[8000, 1600]") && strstr(out, "[8960, 1600]"));
    HY_EXPECT(strstr(out, "base 74534.83"));
    free(out);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
