/* test_decode.c — incremental decoding (core/decode, kernels/decode_ops) and
 * generation (core/sample, hymba generate / chat), CPU backend:
 *   - the decode ops fed a sequence in chunks equal the training ops on the
 *     whole sequence (conv, scan, attention with a ring cache);
 *   - model level: the logits of every decode step equal the full forward
 *     (hy_model_forward on the whole prefix) at that position, from the first
 *     token after the meta prefix across the window boundary, on the spec12
 *     reference model and on a random tiny config with a small window;
 *     prefill (chunked, ring wrapping inside the prefill) then decode likewise;
 *   - the official-window flag equals a model with window W−1 for generated
 *     tokens and changes nothing before index M + W;
 *   - greedy is deterministic, seeded sampling reproducible, top-k = 1 is
 *     greedy, the sampler's distribution and top-k/top-p cuts are right;
 *   - stop strings and UTF-8 hold-back in the stream;
 *   - `hymba generate` / `hymba chat` on the demo model (random weights). */
#include <math.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/decode.h"
#include "core/model.h"
#include "core/sample.h"
#include "kernels/attention.h"
#include "kernels/backend.h"
#include "kernels/conv1d.h"
#include "kernels/decode_ops.h"
#include "kernels/selective_scan.h"
#include "tests/harness.h"

#define SPEC12 HY_SHARED_DIR "/reference/spec12"

/* The model-level cases run on this backend (tests/cmake/decode.cmake builds a
 * CUDA fp32 and a CUDA bf16 variant too); the op-level cases are CPU only. */
#ifndef HY_DECODE_DEVICE
#define HY_DECODE_DEVICE "cpu"
#endif
#ifndef HY_DECODE_PRECISION
#define HY_DECODE_PRECISION "fp32"
#endif
/* bf16 storage rounds every activation to 8 bits of mantissa, at different
 * places in the n-row decode products than in the whole-sequence forward. */
#ifndef HY_DECODE_TOL_SCALE
#define HY_DECODE_TOL_SCALE 1.0
#endif

/* Tolerance of decode vs full-forward logits, relative to the row's largest
 * |logit|: the two paths run the same ops in the same order except that the
 * products have n = 1 (or chunk) rows instead of the whole sequence, so BLAS
 * may block the sums differently (fp32 rounding only). */
static const double HY_DEC_TOL = 1e-5 * HY_DECODE_TOL_SCALE;
/* The random tiny model (weights 10× the usual init, perturbed gains) is
 * chaotic enough that its own forward differs from itself by up to ~4e-6 when
 * the same tokens run as prefixes of different lengths (measured and printed
 * by tiny_decode_every_step); decode stays within 3e-5 there.  Real mistakes
 * (a key too many or too few, a stale state) give errors of 1e-3 and more. */
static const double HY_DEC_TOL_TINY = 3e-5 * HY_DECODE_TOL_SCALE;

/* A random tiny config: GQA 2, DQK 12 ≠ DV 24, a 2-layer and a 3-layer KV group,
 * M = 5 meta tokens and a window of 4, so the window bites at index M+W+1 = 10. */
static const char HY_TINY_CFG[] =
    "{\"vocab_size\": 97, \"hidden_size\": 48, \"num_hidden_layers\": 7, \"num_attention_heads\": 4,"
    " \"num_key_value_heads\": 2, \"intermediate_size\": 80, \"mamba_expand\": 2, \"mamba_d_state\": 6,"
    " \"mamba_dt_rank\": 5, \"mamba_d_conv\": 4, \"num_memory_tokens\": 5, \"sliding_window\": 4,"
    " \"global_attn_idx\": [0, 6], \"kv_reuse_group\": [[1, 2], [3, 4, 5]], \"rope\": true, \"rope_type\": \"ntk\","
    " \"rope_theta\": 10000.0, \"max_position_embeddings\": 256, \"orig_max_position_embeddings\": 64,"
    " \"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": true, \"num_experts\": 1, \"initializer_range\": 0.2}";

typedef struct {
    hy_ops *ops;
    hy_model *m;
    float *w; /* host weights */
    int V;
} hy_dm;

static void dm_close(hy_dm *t) {
    hy_model_free(t->m);
    hy_backend_destroy(t->ops);
    hy_free(t->w);
    memset(t, 0, sizeof *t);
}

static hy_status dm_open_spec12(hy_dm *t, int max_text) {
    memset(t, 0, sizeof *t);
    HY_TRY(hy_backend_create(&t->ops, HY_DECODE_DEVICE, HY_DECODE_PRECISION));
    HY_TRY(hy_model_open(&t->m, SPEC12, t->ops, max_text, 1, 0));
    t->V = hy_model_config(t->m)->vocab_size;
    HY_TRY(hy_malloc((void **)&t->w, hy_model_params(t->m)->total * 4, 0, "weights"));
    return hy_model_get_weights(t->m, t->w);
}

/* Random weights with every norm gain, bias, D and A_log perturbed too (so a
 * wrong tensor in the decode path cannot hide behind ones and zeros). */
static hy_status dm_open_cfg(hy_dm *t, const hy_config *cfg, int max_text, uint64_t seed) {
    memset(t, 0, sizeof *t);
    HY_TRY(hy_backend_create(&t->ops, HY_DECODE_DEVICE, HY_DECODE_PRECISION));
    HY_TRY(hy_model_create(&t->m, cfg, t->ops, max_text, 1, 0));
    const hy_param_table *pt = hy_model_params(t->m);
    t->V = cfg->vocab_size;
    HY_TRY(hy_malloc((void **)&t->w, pt->total * 4, 1, "weights"));
    hy_ckpt_init_weights(pt, cfg, seed, t->w);
    hy_test_rng r = {seed + 1};
    for (int i = 0; i < pt->count; i++) {
        const hy_param_desc *d = &pt->desc[i];
        if (d->init != HY_INIT_ONES && d->init != HY_INIT_ZEROS && d->init != HY_INIT_A_LOG) continue;
        for (size_t k = 0; k < d->numel; k++) t->w[d->offset + k] += (float)(0.3 * hy_test_normal(&r));
    }
    return hy_model_set_weights(t->m, t->w);
}

static hy_status dm_open_tiny(hy_dm *t, int max_text, uint64_t seed) {
    hy_config cfg;
    HY_TRY(hy_config_parse(&cfg, HY_TINY_CFG, strlen(HY_TINY_CFG), "tiny config"));
    return dm_open_cfg(t, &cfg, max_text, seed);
}

/* Logits [n, V] of every position of one document, by the training forward. */
static hy_status dm_full(hy_dm *t, const int32_t *ids, int n, float *logits) {
    int32_t *tg = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) tg[i] = -100;
    hy_model_batch b = {.n_docs = 1, .doc_len = &n, .ids = ids, .targets = tg};
    hy_status st = hy_model_forward(t->m, &b, NULL, logits);
    free(tg);
    return st;
}

static void dm_ids(int32_t *ids, int n, int V, uint64_t seed) {
    hy_test_rng r = {seed};
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(hy_test_uniform(&r) * V);
}

/* Relative error of one logits row; updates the worst seen. */
static int dm_row_check(const char *label, int row, const float *got, const float *want, int V, double tol, double *worst) {
    double e = hy_test_rel_inf(got, want, (size_t)V);
    if (e > *worst) *worst = e;
    if (e > tol || isnan(e)) {
        char what[96];
        snprintf(what, sizeof what, "%s row %d (row rel err %.3g > %.1g)", label, row, e, tol);
        hy_test_compare(what, got, want, (size_t)V, 0, tol);
        return 1;
    }
    return 0;
}

/* Prefill `pre` tokens (chunk `chunk`, all rows compared), then step through
 * the rest of n tokens; every row against the full forward. */
static int dm_incremental(hy_dm *t, const char *label, int n, int pre, int chunk, uint64_t seed, double tol) {
    int V = t->V;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)n);
    float *full = malloc(sizeof(float) * (size_t)n * V), *got = malloc(sizeof(float) * (size_t)n * V);
    dm_ids(ids, n, V, seed);
    HY_EXPECT_OK(dm_full(t, ids, n, full));
    hy_decode *d;
    hy_decode_opts o = {.max_ctx = n, .chunk = chunk};
    HY_EXPECT_OK(hy_decode_create(&d, t->m, &o));
    int bad = 0;
    double worst = 0;
    if (pre > 0) {
        HY_EXPECT_OK(hy_decode_prefill(d, ids, pre, got, 1));
        for (int i = 0; i < pre; i++) bad += dm_row_check(label, i, got + (size_t)i * V, full + (size_t)i * V, V, tol, &worst);
    }
    for (int i = pre; i < n; i++) {
        HY_EXPECT_OK(hy_decode_step(d, ids[i], got));
        bad += dm_row_check(label, i, got, full + (size_t)i * V, V, tol, &worst);
    }
    HY_EXPECT(hy_decode_len(d) == n);
    HY_EXPECT(!memcmp(hy_decode_tokens(d), ids, sizeof(int32_t) * (size_t)n));
    int M = hy_model_config(t->m)->num_meta;
    fprintf(stderr, "  %-28s %d tokens (indices %d..%d, prefill %d, chunk %d): worst rel err %.3g, %d bad rows\n", label, n, M, M + n - 1,
            pre, chunk, worst, bad);
    hy_decode_free(d);
    free(ids);
    free(full);
    free(got);
    return bad != 0;
}

/* ---- op level ---- */

static hy_seqs one_doc(int n, int32_t *pos, int32_t *cu) {
    for (int i = 0; i < n; i++) pos[i] = i;
    cu[0] = 0;
    cu[1] = n;
    return (hy_seqs){.n = n, .n_docs = 1, .max_len = n, .cu = cu, .pos = pos, .cu_host = cu};
}

HY_TEST(ops_conv_scan_chunked) {
    enum { N = 23, DI = 37, DC = 4, DS = 5, LD = 50 };
    static const int chunks[] = {1, 3, 7, 23};
    hy_test_rng r = {3};
    float x[N * LD], w[DI * DC], b[DI], u_ref[N * DI], u[N * DI], state[(DC - 1) * DI];
    float dl[N * DI], dtb[DI], alog[DI * DS], bc[N * 2 * DS], D[DI], z[N * LD], y_ref[N * DI], y[N * DI], h[DI * DS];
    hy_test_fill(&r, x, N * LD, 1.0f);
    hy_test_fill(&r, w, DI * DC, 0.5f);
    hy_test_fill(&r, b, DI, 0.3f);
    hy_test_fill(&r, dl, N * DI, 1.0f);
    hy_test_fill(&r, dtb, DI, 0.5f);
    hy_test_fill(&r, alog, DI * DS, 0.5f);
    hy_test_fill(&r, bc, N * 2 * DS, 1.0f);
    hy_test_fill(&r, D, DI, 1.0f);
    hy_test_fill(&r, z, N * LD, 1.0f);
    int32_t pos[N], cu[2];
    hy_seqs s = one_doc(N, pos, cu);
    HY_EXPECT_OK(hy_conv1d_fwd_cpu(NULL, u_ref, x, LD, w, b, &s, DI, DC));
    HY_EXPECT_OK(hy_scan_fwd_cpu(NULL, y_ref, u_ref, dl, dtb, alog, bc, bc + DS, 2 * DS, D, z, LD, &s, DI, DS));
    for (size_t c = 0; c < HY_ARRAY_LEN(chunks); c++) {
        memset(state, 0, sizeof state);
        memset(h, 0, sizeof h);
        for (int r0 = 0; r0 < N; r0 += chunks[c]) {
            int k = hy_imin(chunks[c], N - r0);
            HY_EXPECT_OK(hy_conv1d_step_cpu(NULL, u + r0 * DI, x + r0 * LD, LD, state, w, b, k, DI, DC));
            HY_EXPECT_OK(hy_scan_step_cpu(NULL, y + r0 * DI, h, u_ref + r0 * DI, dl + r0 * DI, dtb, alog, bc + r0 * 2 * DS, bc + r0 * 2 * DS + DS,
                                          2 * DS, D, z + r0 * LD, LD, k, DI, DS));
        }
        HY_EXPECT(hy_test_compare("conv1d_step vs conv1d_fwd", u, u_ref, N * DI, 0, 1e-6) == 0);
        HY_EXPECT(hy_test_compare("scan_step vs scan_fwd", y, y_ref, N * DI, 0, 1e-6) == 0);
        /* the carried conv state is the last DC−1 inputs, oldest first */
        for (int k = 0; k < DC - 1; k++)
            for (int e = 0; e < DI; e++) HY_EXPECT(state[k * DI + e] == x[(N - DC + 1 + k) * LD + e]);
    }
    return 0;
}

/* attention_decode over a meta + ring cache, chunk by chunk, vs attention_fwd. */
static int att_case(int N, int M, int W, int chunk) {
    enum { NH = 4, NKV = 2, DQK = 8, DV = 12, LDQ = 40 };
    hy_test_rng r = {(uint64_t)(N * 131 + W * 7 + chunk)};
    int R = W < 0 ? N : W + chunk, slots = M + R;
    float *q = malloc(4 * (size_t)N * LDQ), *k = malloc(4 * (size_t)N * NKV * DQK), *v = malloc(4 * (size_t)N * NKV * DV);
    float *ref = malloc(4 * (size_t)N * NH * DV), *got = malloc(4 * (size_t)N * NH * DV), *lse = malloc(4 * (size_t)N * NH);
    float *kc = malloc(4 * (size_t)slots * NKV * DQK), *vc = malloc(4 * (size_t)slots * NKV * DV);
    hy_test_fill(&r, q, (size_t)N * LDQ, 1.0f);
    hy_test_fill(&r, k, (size_t)N * NKV * DQK, 1.0f);
    hy_test_fill(&r, v, (size_t)N * NKV * DV, 1.0f);
    int32_t *pos = malloc(4 * (size_t)N), cu[2];
    hy_seqs s = one_doc(N, pos, cu);
    HY_EXPECT_OK(hy_attention_fwd_cpu(NULL, ref, lse, q, LDQ, k, NKV * DQK, v, NKV * DV, &s, NH, NKV, DQK, DV, M, W, 0.3f));
    for (int i0 = 0; i0 < N; i0 += chunk) {
        int n = hy_imin(chunk, N - i0);
        for (int j = i0; j < i0 + n; j++) { /* append the chunk's keys first */
            int slot = j < M ? j : M + (j - M) % R;
            memcpy(kc + (size_t)slot * NKV * DQK, k + (size_t)j * NKV * DQK, 4 * NKV * DQK);
            memcpy(vc + (size_t)slot * NKV * DV, v + (size_t)j * NKV * DV, 4 * NKV * DV);
        }
        HY_EXPECT_OK(hy_attention_decode_cpu(NULL, got + (size_t)i0 * NH * DV, q + (size_t)i0 * LDQ, LDQ, kc, vc, i0, n, M, R, W, NH, NKV,
                                             DQK, DV, 0.3f));
    }
    char label[80];
    snprintf(label, sizeof label, "attention_decode N=%d M=%d W=%d chunk=%d", N, M, W, chunk);
    size_t bad = hy_test_compare(label, got, ref, (size_t)N * NH * DV, 0, 1e-6);
    /* a ring one slot too small for the chunk is refused */
    if (W >= 0 && N > M + W + chunk + 1)
        HY_EXPECT_ERR(hy_attention_decode_cpu(NULL, got, q + (size_t)(N - chunk) * LDQ, LDQ, kc, vc, N - chunk, chunk, M, R - 1, W, NH, NKV,
                                              DQK, DV, 0.3f),
                      "ring");
    free(q), free(k), free(v), free(ref), free(got), free(lse), free(kc), free(vc), free(pos);
    return bad != 0;
}

HY_TEST(ops_attention_decode_ring) {
    int bad = 0;
    bad += att_case(30, 3, 4, 1);
    bad += att_case(30, 3, 4, 3);
    bad += att_case(30, 3, 4, 7);
    bad += att_case(30, 3, -1, 4);
    bad += att_case(11, 6, 2, 5);  /* window bites inside the meta region's reach */
    bad += att_case(40, 1, 0, 2);  /* W = 0: itself plus the meta token */
    return bad != 0;
}

/* ---- model level ---- */

HY_TEST(spec12_decode_every_step) {
    hy_dm t;
    HY_EXPECT_OK(dm_open_spec12(&t, 64));
    /* M = 8, W = 16: indices 8..47; the window first bites at index 25 */
    int bad = dm_incremental(&t, "spec12 steps", 40, 0, 64, 11, HY_DEC_TOL);
    bad += dm_incremental(&t, "spec12 prefill+steps", 44, 23, 5, 12, HY_DEC_TOL);
    bad += dm_incremental(&t, "spec12 prefill all", 40, 40, 16, 13, HY_DEC_TOL);
    dm_close(&t);
    return bad != 0;
}

HY_TEST(tiny_decode_every_step) {
    hy_dm t;
    HY_EXPECT_OK(dm_open_tiny(&t, 64, 5));
    /* M = 5, W = 4: indices 5..44, window bites from index 10; ring = W + chunk slots */
    int bad = dm_incremental(&t, "tiny steps", 40, 0, 1, 21, HY_DEC_TOL_TINY);
    bad += dm_incremental(&t, "tiny prefill+steps", 40, 17, 3, 22, HY_DEC_TOL_TINY);
    bad += dm_incremental(&t, "tiny prefill chunk 8", 33, 33, 8, 23, HY_DEC_TOL_TINY);
    /* the noise floor: the full forward of every prefix vs the whole sequence */
    enum { N = 40 };
    int32_t ids[N];
    float *all = malloc(4 * (size_t)N * t.V), *part = malloc(4 * (size_t)N * t.V);
    dm_ids(ids, N, t.V, 21);
    HY_EXPECT_OK(dm_full(&t, ids, N, all));
    double floor = 0;
    for (int L = 1; L <= N; L++) {
        HY_EXPECT_OK(dm_full(&t, ids, L, part));
        floor = fmax(floor, hy_test_rel_inf(part + (size_t)(L - 1) * t.V, all + (size_t)(L - 1) * t.V, (size_t)t.V));
    }
    fprintf(stderr, "  noise floor of the forward itself (prefix lengths 1..%d vs %d): %.3g\n", N, N, floor);
    free(all), free(part);
    dm_close(&t);
    return bad != 0;
}

HY_TEST(chunking_and_reset_do_not_matter) {
    hy_dm t;
    HY_EXPECT_OK(dm_open_tiny(&t, 64, 9));
    enum { N = 30 };
    int V = t.V;
    int32_t ids[N];
    dm_ids(ids, N, V, 77);
    float a[97], b[97];
    hy_decode *d;
    hy_decode_opts o = {.max_ctx = N, .chunk = 4, .rewind = 3};
    HY_EXPECT_OK(hy_decode_create(&d, t.m, &o));
    HY_EXPECT_OK(hy_decode_prefill(d, ids, N, a, 0));
    /* the same prompt in three pieces after a reset (what chat does across turns) */
    HY_EXPECT_OK(hy_decode_reset(d));
    HY_EXPECT(hy_decode_len(d) == 0);
    HY_EXPECT_OK(hy_decode_prefill(d, ids, 9, NULL, 0));
    HY_EXPECT_OK(hy_decode_step(d, ids[9], NULL));
    HY_EXPECT_OK(hy_decode_prefill(d, ids + 10, N - 10, b, 0));
    double worst = 0;
    HY_EXPECT(dm_row_check("pieces vs one prefill", N - 1, b, a, V, HY_DEC_TOL_TINY, &worst) == 0);
    /* mark after 12 tokens, feed 6 others, rewind, feed the real rest: as if never left */
    int32_t other[6] = {1, 2, 3, 4, 5, 6};
    HY_EXPECT_OK(hy_decode_reset(d));
    HY_EXPECT_ERR(hy_decode_rewind(d), "without a mark");
    HY_EXPECT_OK(hy_decode_prefill(d, ids, 12, NULL, 0));
    HY_EXPECT_OK(hy_decode_mark(d));
    HY_EXPECT_OK(hy_decode_prefill(d, other, 6, NULL, 0));
    HY_EXPECT_OK(hy_decode_rewind(d));
    HY_EXPECT(hy_decode_len(d) == 12);
    HY_EXPECT_OK(hy_decode_prefill(d, ids + 12, N - 12, b, 0));
    HY_EXPECT(dm_row_check("rewound vs one prefill", N - 1, b, a, V, HY_DEC_TOL_TINY, &worst) == 0);
    /* past the rewind budget (ring = W + chunk + rewind = 4 + 4 + 3 slots, budget 7) */
    HY_EXPECT(hy_decode_rewind_budget(d) == 7);
    HY_EXPECT_OK(hy_decode_reset(d));
    HY_EXPECT_OK(hy_decode_prefill(d, ids, 12, NULL, 0));
    HY_EXPECT_OK(hy_decode_mark(d));
    HY_EXPECT_OK(hy_decode_prefill(d, ids + 12, 7, NULL, 0));
    HY_EXPECT_OK(hy_decode_rewind(d));
    HY_EXPECT_OK(hy_decode_prefill(d, ids + 12, 8, NULL, 0));
    HY_EXPECT_ERR(hy_decode_rewind(d), "cannot rewind");
    HY_EXPECT(hy_decode_len(d) == 20);
    /* context full and bad ids feed nothing */
    int32_t one = 1, bad_id = V;
    HY_EXPECT_OK(hy_decode_prefill(d, ids, N - hy_decode_len(d), NULL, 0));
    HY_EXPECT_ERR(hy_decode_step(d, one, NULL), "context full");
    HY_EXPECT(hy_decode_len(d) == N);
    HY_EXPECT_OK(hy_decode_reset(d));
    HY_EXPECT_ERR(hy_decode_prefill(d, &bad_id, 1, NULL, 0), "outside the vocabulary");
    HY_EXPECT(hy_decode_len(d) == 0);
    hy_decode_free(d);
    dm_close(&t);
    return 0;
}

/* With the flag, generated tokens see W−1 previous positions: prefilling a
 * prompt that ends before index M + W and stepping on equals the full forward
 * of the same weights with sliding_window = W − 1; rows before index M + W are
 * bitwise those of the training-window decoder, later rows differ. */
HY_TEST(official_window_flag) {
    hy_dm t, t1;
    HY_EXPECT_OK(dm_open_tiny(&t, 64, 31));
    hy_config c1 = *hy_model_config(t.m);
    c1.sliding_window -= 1;
    HY_EXPECT_OK(dm_open_cfg(&t1, &c1, 64, 31));
    HY_EXPECT_OK(hy_model_set_weights(t1.m, t.w));
    const hy_config *c = hy_model_config(t.m);
    int M = c->num_meta, W = c->sliding_window, V = t.V, n = 36, pre = W - 1; /* prompt indices M .. M+W−2 */
    int32_t ids[36];
    dm_ids(ids, n, V, 5);
    float *full1 = malloc(4 * (size_t)n * V), *ga = malloc(4 * (size_t)V), *gb = malloc(4 * (size_t)V);
    HY_EXPECT_OK(dm_full(&t1, ids, n, full1));
    hy_decode *da, *db;
    hy_decode_opts oa = {.max_ctx = n, .chunk = 3, .official_window = 1}, ob = {.max_ctx = n, .chunk = 3};
    HY_EXPECT_OK(hy_decode_create(&da, t.m, &oa));
    HY_EXPECT_OK(hy_decode_create(&db, t.m, &ob));
    HY_EXPECT_OK(hy_decode_prefill(da, ids, pre, ga, 0));
    HY_EXPECT_OK(hy_decode_prefill(db, ids, pre, gb, 0));
    int bad = 0, differ_after = 0;
    double worst = 0;
    for (int i = pre; i < n; i++) {
        HY_EXPECT_OK(hy_decode_step(da, ids[i], ga));
        HY_EXPECT_OK(hy_decode_step(db, ids[i], gb));
        bad += dm_row_check("official vs W-1 forward", i, ga, full1 + (size_t)i * V, V, HY_DEC_TOL_TINY, &worst);
        int same = !memcmp(ga, gb, 4 * (size_t)V), index = M + i;
        if (index < M + W && !same) {
            fprintf(stderr, "  index %d < M + W = %d: the official window changed the logits\n", index, M + W);
            bad++;
        }
        differ_after += index >= M + W && hy_test_rel_inf(ga, gb, (size_t)V) > 1e-4;
    }
    fprintf(stderr, "  official window: worst rel err vs the W-1 forward %.3g; %d of %d rows past the boundary differ from W\n", worst,
            differ_after, M + n - (M + W));
    HY_EXPECT(differ_after == M + n - (M + W));
    hy_decode_free(da);
    hy_decode_free(db);
    free(full1), free(ga), free(gb);
    dm_close(&t1);
    dm_close(&t);
    return bad != 0;
}

/* Generate `n` tokens after a prompt with sampler options `so`. */
static hy_status dm_generate(hy_decode *d, const hy_sample_opts *so, const int32_t *prompt, int np, int32_t *out, int n, int V) {
    hy_sampler s;
    float *lg = malloc(4 * (size_t)V);
    HY_TRY(hy_sampler_init(&s, so, V));
    hy_status st = hy_decode_reset(d);
    if (!st) st = hy_decode_prefill(d, prompt, np, lg, 0);
    for (int i = 0; i < n && !st; i++) {
        st = hy_sampler_next(&s, lg, &out[i]);
        if (!st) st = hy_decode_step(d, out[i], lg);
    }
    hy_sampler_free(&s);
    free(lg);
    return st;
}

HY_TEST(greedy_and_seeded_sampling_reproducible) {
    hy_dm t;
    HY_EXPECT_OK(dm_open_spec12(&t, 8));
    enum { NP = 12, NG = 30 };
    int V = t.V;
    int32_t prompt[NP], g1[NG], g2[NG], g3[NG], s1[NG], s2[NG], s3[NG];
    dm_ids(prompt, NP, V, 99);
    hy_decode *d, *d2;
    hy_decode_opts o = {.max_ctx = NP + NG, .chunk = 64}, o2 = {.max_ctx = NP + NG, .chunk = 5};
    HY_EXPECT_OK(hy_decode_create(&d, t.m, &o));
    HY_EXPECT_OK(hy_decode_create(&d2, t.m, &o2));
    hy_sample_opts greedy = hy_sample_opts_default(), samp = hy_sample_opts_default(), k1 = hy_sample_opts_default();
    greedy.temperature = 0;
    samp.temperature = 0.9f, samp.top_k = 50, samp.top_p = 0.95f, samp.seed = 1234;
    k1.top_k = 1, k1.seed = 7;
    HY_EXPECT_OK(dm_generate(d, &greedy, prompt, NP, g1, NG, V));
    HY_EXPECT_OK(dm_generate(d, &greedy, prompt, NP, g2, NG, V));
    HY_EXPECT_OK(dm_generate(d2, &greedy, prompt, NP, g3, NG, V)); /* another prefill chunking */
    HY_EXPECT(!memcmp(g1, g2, sizeof g1) && !memcmp(g1, g3, sizeof g1));
    HY_EXPECT_OK(dm_generate(d, &k1, prompt, NP, s3, NG, V));
    HY_EXPECT_MSG(!memcmp(g1, s3, sizeof g1), "top-k = 1 differs from greedy");
    HY_EXPECT_OK(dm_generate(d, &samp, prompt, NP, s1, NG, V));
    HY_EXPECT_OK(dm_generate(d2, &samp, prompt, NP, s2, NG, V));
    HY_EXPECT_MSG(!memcmp(s1, s2, sizeof s1), "the same seed gave different samples");
    samp.seed = 1235;
    HY_EXPECT_OK(dm_generate(d, &samp, prompt, NP, s2, NG, V));
    HY_EXPECT_MSG(memcmp(s1, s2, sizeof s1) != 0, "seeds 1234 and 1235 gave the same %d tokens", NG);
    HY_EXPECT_MSG(memcmp(s1, g1, sizeof s1) != 0, "sampling at temperature 0.9 reproduced greedy");
    hy_decode_free(d);
    hy_decode_free(d2);
    dm_close(&t);
    return 0;
}

HY_TEST(sampler_distribution_and_cuts) {
    /* logits ln(1), ln(2), ln(1), ln(4), -inf: probabilities 1/8, 2/8, 1/8, 4/8, 0 */
    float lg[5] = {0.0f, logf(2.0f), 0.0f, logf(4.0f), -INFINITY};
    enum { DRAWS = 40000 };
    hy_sample_opts o = hy_sample_opts_default();
    o.seed = 3;
    const struct { int top_k; float top_p; double want[5]; } cases[] = {
        {0, 1.0f, {0.125, 0.25, 0.125, 0.5, 0}},
        {2, 1.0f, {0, 1.0 / 3, 0, 2.0 / 3, 0}},        /* the two largest */
        {0, 0.7f, {0, 1.0 / 3, 0, 2.0 / 3, 0}},        /* 0.5 + 0.25 reaches 0.7 */
        {0, 0.8f, {0.2, 0.2, 0, 0.6, 0}},              /* + id 0 (tie with id 2: lower id first): 0.875 ≥ 0.8 */
    };
    for (size_t c = 0; c < HY_ARRAY_LEN(cases); c++) {
        o.top_k = cases[c].top_k;
        o.top_p = cases[c].top_p;
        hy_sampler s;
        HY_EXPECT_OK(hy_sampler_init(&s, &o, 5));
        int count[5] = {0};
        for (int i = 0; i < DRAWS; i++) {
            int32_t t;
            HY_EXPECT_OK(hy_sampler_next(&s, lg, &t));
            count[t]++;
        }
        hy_sampler_free(&s);
        double want[5];
        memcpy(want, cases[c].want, sizeof want);
        if (c == 3) { want[0] = 1.0 / 7, want[1] = 2.0 / 7, want[3] = 4.0 / 7; }
        for (int k = 0; k < 5; k++) {
            double f = (double)count[k] / DRAWS;
            HY_EXPECT_MSG(fabs(f - want[k]) < 0.01, "case %zu: token %d frequency %.4f, expected %.4f", c, k, f, want[k]);
        }
    }
    float nan_lg[3] = {0, NAN, 1};
    hy_sampler s;
    HY_EXPECT_OK(hy_sampler_init(&s, &o, 3));
    int32_t t;
    HY_EXPECT_ERR(hy_sampler_next(&s, nan_lg, &t), "NaN");
    hy_sampler_free(&s);
    o.top_p = 0;
    HY_EXPECT_ERR(hy_sampler_init(&s, &o, 3), "top-p");
    HY_EXPECT(hy_sample_argmax(lg, 5) == 3);
    return 0;
}

/* Feed a growing text and collect what the stream releases. */
static size_t stream_feed(hy_stop_stream *s, const char *text, int final, char *out, size_t *out_len) {
    size_t k = hy_stop_stream_update(s, text, strlen(text), final);
    memcpy(out + *out_len, text + s->emitted - k, k);
    *out_len += k;
    out[*out_len] = 0;
    return k;
}

HY_TEST(stop_strings_and_utf8_stream) {
    const char *stops[] = {"<extra_id_1>", "END"};
    hy_stop_stream s;
    char out[256];
    size_t n = 0;
    hy_stop_stream_init(&s, stops, 2);
    stream_feed(&s, "Hello <ext", 0, out, &n);
    HY_EXPECT_MSG(!strcmp(out, "Hello "), "held-back prefix: got \"%s\"", out);
    stream_feed(&s, "Hello <extr", 0, out, &n);
    HY_EXPECT(!strcmp(out, "Hello "));
    stream_feed(&s, "Hello <extrb", 0, out, &n); /* no longer a prefix of a stop string */
    HY_EXPECT_MSG(!strcmp(out, "Hello <extrb"), "got \"%s\"", out);
    stream_feed(&s, "Hello <extrb\n<extra_id_1>User", 0, out, &n);
    HY_EXPECT(s.stopped && s.end == strlen("Hello <extrb\n"));
    HY_EXPECT_MSG(!strcmp(out, "Hello <extrb\n"), "got \"%s\"", out);
    HY_EXPECT(stream_feed(&s, "Hello <extrb\n<extra_id_1>User more", 1, out, &n) == 0);
    /* a stop string split over many steps, and the end of generation releasing a held prefix */
    hy_stop_stream_init(&s, stops, 2);
    n = 0;
    stream_feed(&s, "aE", 0, out, &n);
    stream_feed(&s, "aEN", 0, out, &n);
    HY_EXPECT(!strcmp(out, "a") && !s.stopped);
    stream_feed(&s, "aEN", 1, out, &n);
    HY_EXPECT(!strcmp(out, "aEN") && !s.stopped);
    hy_stop_stream_init(&s, stops, 2);
    n = 0;
    stream_feed(&s, "xxEN", 0, out, &n);
    stream_feed(&s, "xxEND", 0, out, &n);
    HY_EXPECT(s.stopped && s.end == 2 && !strcmp(out, "xx"));
    /* U+FFFD at the end: maybe half of a character split across byte tokens */
    hy_stop_stream_init(&s, stops, 2);
    n = 0;
    stream_feed(&s, "caf\xEF\xBF\xBD", 0, out, &n);
    HY_EXPECT(!strcmp(out, "caf"));
    stream_feed(&s, "caf\xC3\xA9!", 0, out, &n);
    HY_EXPECT_MSG(!strcmp(out, "caf\xC3\xA9!"), "got \"%s\"", out);
    stream_feed(&s, "caf\xC3\xA9!\xEF\xBF\xBD", 1, out, &n); /* a real U+FFFD is released at the end */
    HY_EXPECT(!strcmp(out, "caf\xC3\xA9!\xEF\xBF\xBD"));
    return 0;
}

/* ---- CLI on the demo model ----
 * The commands run with one OpenMP thread: on this tiny model every op is a
 * few microseconds, so a second thread only adds barrier waits (which become
 * milliseconds on a loaded CI machine). */

static int cli_demo_model(char *dir, size_t n) {
    if (hy_test_tmpdir(dir, n, "gen")) return 1;
    char cmd[1024], *log = NULL;
    snprintf(cmd, sizeof cmd, "%s init --config %s/datasets/demo/model/config.json --tokenizer %s/datasets/demo/model --out %s/m --seed 4",
             hy_test_hymba(), HY_SOURCE_DIR, HY_SOURCE_DIR, dir);
    int rc = hy_test_run(cmd, &log);
    if (rc) fprintf(stderr, "  hymba init failed (%d): %s\n", rc, log ? log : "");
    free(log);
    return rc != 0;
}

HY_TEST(cli_generate_demo) {
    char dir[256], cmd[1400], *a = NULL, *b = NULL, *log = NULL;
    HY_EXPECT(cli_demo_model(dir, sizeof dir) == 0);
    /* statistics on stderr */
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s generate --model %s/m --prompt 'What is 2+2?' --max-new-tokens 24", hy_test_hymba(), dir);
    int rc = hy_test_run(cmd, &log);
    HY_EXPECT_MSG(rc == 0, "generate failed (%d): %s", rc, log ? log : "");
    HY_EXPECT_MSG(strstr(log, "tok/s") && strstr(log, "prompt ") && strstr(log, "generated "), "no statistics in: %s", log);
    fprintf(stderr, "  %s", strstr(log, "hymba generate:"));
    free(log);
    /* stdout only: greedy twice and seeded sampling twice give the same text */
    const char *modes[] = {"", "--temperature 0.8 --top-k 40 --top-p 0.9 --seed 17", "--raw --seed 5 --stop e"};
    for (size_t i = 0; i < HY_ARRAY_LEN(modes); i++) {
        snprintf(cmd, sizeof cmd, "(OMP_NUM_THREADS=1 %s generate --model %s/m --prompt 'Tell me a story.' --max-new-tokens 20 %s 2>/dev/null)",
                 hy_test_hymba(), dir, modes[i]);
        HY_EXPECT(hy_test_run(cmd, &a) == 0 && hy_test_run(cmd, &b) == 0);
        HY_EXPECT_MSG(!strcmp(a, b), "mode '%s' not reproducible:\n%s\nvs\n%s", modes[i], a, b);
        HY_EXPECT_MSG(strlen(a) > 1, "mode '%s' produced no text", modes[i]);
        if (i == 2) HY_EXPECT_MSG(!strchr(a, 'e'), "the stop string 'e' was printed: %s", a);
        free(a), free(b);
    }
    snprintf(cmd, sizeof cmd, "%s generate --model %s/m --prompt hi --top-p 2", hy_test_hymba(), dir);
    HY_EXPECT(hy_test_run(cmd, &log) != 0 && strstr(log, "top-p"));
    free(log);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
    return 0;
}

HY_TEST(cli_chat_demo) {
    char dir[256], cmd[1400], *log = NULL;
    HY_EXPECT(cli_demo_model(dir, sizeof dir) == 0);
    snprintf(cmd, sizeof cmd,
             "printf 'Hello there\\nAnd then?\\n/reset\\nSecond conversation\\n' | OMP_NUM_THREADS=1 %s chat --model %s/m --system 'Be brief.' "
             "--max-new-tokens 12",
             hy_test_hymba(), dir);
    int rc = hy_test_run(cmd, &log);
    HY_EXPECT_MSG(rc == 0, "chat failed (%d): %s", rc, log ? log : "");
    int turns = 0;
    for (const char *p = log; (p = strstr(p, "hymba chat: prompt")); p++) turns++;
    HY_EXPECT_MSG(turns == 3, "expected 3 replies, got %d: %s", turns, log);
    HY_EXPECT(strstr(log, "conversation cleared"));
    /* the second turn extends the first: only the new tokens are prefilled */
    const char *t2 = strstr(strstr(log, "hymba chat: prompt") + 1, "hymba chat: prompt");
    int prompt = 0, fed = 0;
    HY_EXPECT(t2 && sscanf(t2, "hymba chat: prompt %d tokens (%d prefilled", &prompt, &fed) == 2);
    fprintf(stderr, "  turn 2: prompt %d tokens, %d prefilled\n", prompt, fed);
    HY_EXPECT_MSG(fed < prompt, "the cache was not reused: %s", t2);
    free(log);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
