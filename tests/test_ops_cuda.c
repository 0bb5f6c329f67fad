/* test_ops_cuda.c — CUDA backend ops against the CPU reference ops (label gpu):
 * the helpers of test_ops_cuda.h, and the row/pointwise ops: memory helpers,
 * embedding, rmsnorm, norm_avg, matmul, rope, swiglu, cross-entropy, gather/scatter.
 * The sequence ops (attention, conv1d, selective scan) are in
 * test_ops_cuda_seq.c.  Method and tolerance rule: test_ops_cuda.h.
 * Needs a GPU: with none visible every case fails with the CUDA message. */
#include "tests/test_ops_cuda.h"

const char *const tc_mode_name[2] = {"fp32", "bf16"};

/* ------------------------------------------------------------------ helpers */

int tc_env_open(tc_env *e) {
    memset(e, 0, sizeof *e);
    if (hy_backend_cpu_create(&e->cpu, 0) != HY_OK || hy_backend_cuda_create(&e->gpu[TC_FP32], 0, HY_DTYPE_F32) != HY_OK ||
        hy_backend_cuda_create(&e->gpu[TC_BF16], 0, HY_DTYPE_BF16) != HY_OK) {
        fprintf(stderr, "  FAIL: cannot create the backends: %s\n", hy_last_error());
        tc_env_close(e);
        return 1;
    }
    return 0;
}

void tc_env_close(tc_env *e) {
    if (e->cpu) hy_backend_cpu_destroy(e->cpu);
    for (int i = 0; i < 2; i++)
        if (e->gpu[i]) hy_backend_cuda_destroy(e->gpu[i]);
    memset(e, 0, sizeof *e);
}

void tc_sides(tc_env *e, int mode, tc_side s[2]) {
    memset(s, 0, 2 * sizeof *s);
    s[0].o = e->cpu;
    s[1].o = e->gpu[mode];
    s[0].round = s[1].round = mode == TC_BF16;
}

void tc_side_free(tc_side *s) {
    for (int i = 0; i < s->nmem; i++) s->o->free(s->o->ctx, s->mem[i]);
    s->nmem = 0;
}

float *tc_host(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) HY_PANIC("out of host memory (%zu floats)", n);
    return p;
}
float *tc_rand(hy_test_rng *r, size_t n, float scale) {
    float *p = tc_host(n);
    hy_test_fill(r, p, n, scale);
    return p;
}
float *tc_nan(size_t n) {
    float *p = tc_host(n);
    for (size_t i = 0; i < n; i++) p[i] = NAN;
    return p;
}
float tc_bf16r(float x) { return hy_bf16_to_f32(hy_f32_to_bf16(x)); }

static void *tc_alloc(tc_side *s, size_t bytes) {
    void *p = NULL;
    if (s->nmem >= 64) HY_PANIC("tc_side: too many buffers");
    if (s->o->alloc(s->o->ctx, &p, bytes ? bytes : 4, "test buffer") != HY_OK) HY_PANIC("alloc: %s", hy_last_error());
    return s->mem[s->nmem++] = p;
}

void *tc_act(tc_side *s, const float *h, size_t n) {
    int bf = s->o->act_dtype == HY_DTYPE_BF16;
    void *d = tc_alloc(s, n * (bf ? 2 : 4));
    void *t = malloc(n ? n * 4 : 4);
    if (!t) HY_PANIC("out of host memory");
    for (size_t i = 0; i < n; i++) {
        if (bf) ((uint16_t *)t)[i] = hy_f32_to_bf16(h[i]);
        else ((float *)t)[i] = s->round ? tc_bf16r(h[i]) : h[i];
    }
    if (s->o->to_dev(s->o->ctx, d, t, n * (bf ? 2 : 4)) != HY_OK) HY_PANIC("to_dev: %s", hy_last_error());
    free(t);
    return d;
}

float *tc_f32(tc_side *s, const float *h, size_t n) {
    float *d = tc_alloc(s, n * 4);
    if (s->o->to_dev(s->o->ctx, d, h, n * 4) != HY_OK) HY_PANIC("to_dev: %s", hy_last_error());
    return d;
}

int32_t *tc_i32(tc_side *s, const int32_t *h, size_t n) {
    int32_t *d = tc_alloc(s, n * 4);
    if (s->o->to_dev(s->o->ctx, d, h, n * 4) != HY_OK) HY_PANIC("to_dev: %s", hy_last_error());
    return d;
}

void tc_get_act(tc_side *s, const void *d, size_t n, float *out) {
    int bf = s->o->act_dtype == HY_DTYPE_BF16;
    if (!bf) {
        if (s->o->to_host(s->o->ctx, out, d, n * 4) != HY_OK) HY_PANIC("to_host: %s", hy_last_error());
        return;
    }
    uint16_t *t = malloc(n ? n * 2 : 2);
    if (!t) HY_PANIC("out of host memory");
    if (s->o->to_host(s->o->ctx, t, d, n * 2) != HY_OK) HY_PANIC("to_host: %s", hy_last_error());
    for (size_t i = 0; i < n; i++) out[i] = hy_bf16_to_f32(t[i]);
    free(t);
}

void tc_get_f32(tc_side *s, const float *d, size_t n, float *out) {
    if (s->o->to_host(s->o->ctx, out, d, n * 4) != HY_OK) HY_PANIC("to_host: %s", hy_last_error());
}

hy_seqs tc_seqs(tc_side *s, const tc_docs *d) {
    hy_seqs q = {.n = d->n, .n_docs = d->n_docs, .max_len = d->max_len, .cu_host = d->cu};
    q.cu = tc_i32(s, d->cu, (size_t)d->n_docs + 1);
    q.pos = tc_i32(s, d->pos, (size_t)d->n);
    return q;
}

void tc_docs_make(tc_docs *d, const int *lens, int nd) {
    HY_ASSERT(nd >= 1 && nd <= 32);
    memset(d, 0, sizeof *d);
    for (int i = 0; i < nd; i++) d->cu[i + 1] = d->cu[i] + lens[i];
    d->n = d->cu[nd];
    d->n_docs = nd;
    d->pos = malloc((size_t)(d->n ? d->n : 1) * sizeof(int32_t));
    HY_ASSERT(d->pos);
    for (int i = 0; i < nd; i++) {
        for (int t = 0; t < lens[i]; t++) d->pos[d->cu[i] + t] = t;
        if (lens[i] > d->max_len) d->max_len = lens[i];
    }
}
void tc_docs_free(tc_docs *d) { free(d->pos); }

int tc_cmp(const char *op, const char *what, int mode, const float *gpu, const float *cpu, size_t n, tc_tol tol) {
    double mx = 0;
    for (size_t i = 0; i < n; i++)
        if (!isnan(cpu[i]) && fabs(cpu[i]) > mx) mx = fabs(cpu[i]);
    char label[96];
    snprintf(label, sizeof label, "%s %s [%s]", op, what, tc_mode_name[mode]);
    return hy_test_compare(label, gpu, cpu, n, tol.abs * (mx > 0 ? mx : 1), tol.rel) > 0;
}

int tc_same(const char *op, const char *what, int mode, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0) {
            fprintf(stderr, "  FAIL %s %s [%s]: rerun differs at [%zu]: %.9g vs %.9g (not deterministic)\n", op, what,
                    tc_mode_name[mode], i, a[i], b[i]);
            return 1;
        }
    return 0;
}

/* Tolerances shared by the simple ops.  fp32: both sides compute the same
 * fp32 math in a different order/with different libm (cosf, expf), so a few
 * ulps.  bf16: the GPU output is rounded to bf16 (relative 2^-9, 2^-8 after a
 * second rounding); inputs are identical. */
static const tc_tol TOL_F32 = {1e-6, 1e-5};
static const tc_tol TOL_BF16 = {1e-2, 1e-2};
static tc_tol tol_of(int mode) { return mode == TC_BF16 ? TOL_BF16 : TOL_F32; }

/* --------------------------------------------------------- memory helpers */

static int mem_case(tc_env *e, int mode) {
    hy_test_rng rng = {101};
    tc_side s[2];
    int rows = 7, cols = 13, ld = 19, fails = 0;
    size_t n = (size_t)rows * ld;
    float *x = tc_rand(&rng, n, 1.f), *y = tc_rand(&rng, n, 1.f), *out[2], *cp[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        void *dx = tc_act(&s[k], x, n), *dy = tc_act(&s[k], y, n), *dd = tc_act(&s[k], y, n);
        TC_OK(o->axpby(o->ctx, dx, 0.75f, dx, -1.5f, dy, n)); /* out aliases x */
        TC_OK(o->copy2d(o->ctx, dd, ld, dx, ld, rows, cols, 1));
        TC_OK(o->copy2d(o->ctx, dy, ld, dx, ld, rows - 2, cols - 3, 0));
        float *f = tc_f32(&s[k], x, n);
        TC_OK(o->cast_to_f32(o->ctx, f, dd, n));
        TC_OK(o->cast_to_act(o->ctx, dx, f, n));
        out[k] = tc_host(n), cp[k] = tc_host(n);
        tc_get_act(&s[k], dx, n, out[k]);
        tc_get_act(&s[k], dy, n, cp[k]);
    }
    fails += tc_cmp("memory", "axpby+copy2d(acc)+casts", mode, out[1], out[0], n, tol_of(mode));
    fails += tc_cmp("memory", "copy2d", mode, cp[1], cp[0], n, tol_of(mode));
    for (int k = 0; k < 2; k++) free(out[k]), free(cp[k]), tc_side_free(&s[k]);
    free(x), free(y);
    return fails;
}

HY_TEST(cuda_memory_ops) {
    tc_env e;
    if (tc_env_open(&e)) return 1;
    int fails = mem_case(&e, TC_FP32) + mem_case(&e, TC_BF16);
    tc_env_close(&e);
    return fails != 0;
}

/* -------------------------------------------------------------- embedding */

static int emb_case(tc_env *e, int mode, const int *lens, int nd, int M, int C, int V, int padding_idx) {
    hy_test_rng rng = {201 + (uint64_t)nd};
    tc_docs d;
    tc_docs_make(&d, lens, nd);
    int32_t *ids = malloc((size_t)d.n * 4);
    for (int i = 0; i < d.n; i++) ids[i] = d.pos[i] < M ? -7 : (int)(hy_test_uniform(&rng) * 6) * (V / 6); /* repeats, incl. 0 */
    float *emb = tc_rand(&rng, (size_t)V * C, 1.f), *meta = tc_rand(&rng, (size_t)M * C, 1.f);
    float *dout = tc_rand(&rng, (size_t)d.n * C, 1.f), *de0 = tc_rand(&rng, (size_t)V * C, 1.f);
    float *dm0 = tc_rand(&rng, (size_t)M * C, 1.f), *nan = tc_nan((size_t)d.n * C);
    float *out[2], *de[2], *dm[2];
    tc_side s[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        hy_seqs q = tc_seqs(&s[k], &d);
        int32_t *di = tc_i32(&s[k], ids, (size_t)d.n);
        void *dout_ = tc_act(&s[k], nan, (size_t)d.n * C);
        float *dde = tc_f32(&s[k], de0, (size_t)V * C), *ddm = tc_f32(&s[k], dm0, (size_t)M * C);
        TC_OK(o->embedding_fwd(o->ctx, dout_, di, &q, tc_act(&s[k], emb, (size_t)V * C), tc_act(&s[k], meta, (size_t)M * C), M, C));
        out[k] = tc_host((size_t)d.n * C), de[k] = tc_host((size_t)V * C), dm[k] = tc_host((size_t)M * C + 1);
        tc_get_act(&s[k], dout_, (size_t)d.n * C, out[k]);
        TC_OK(o->embedding_bwd(o->ctx, dde, ddm, tc_act(&s[k], dout, (size_t)d.n * C), di, &q, M, C, V, padding_idx));
        tc_get_f32(&s[k], dde, (size_t)V * C, de[k]);
        tc_get_f32(&s[k], ddm, (size_t)M * C, dm[k]);
    }
    /* copies are exact; the gradients are fp32 sums of identical values in row order */
    int fails = tc_cmp("embedding", "out", mode, out[1], out[0], (size_t)d.n * C, (tc_tol){0, 0});
    fails += tc_cmp("embedding", "demb", mode, de[1], de[0], (size_t)V * C, (tc_tol){1e-6, 1e-6});
    fails += tc_cmp("embedding", "dmeta", mode, dm[1], dm[0], (size_t)M * C, (tc_tol){1e-6, 1e-6});
    for (int k = 0; k < 2; k++) free(out[k]), free(de[k]), free(dm[k]), tc_side_free(&s[k]);
    free(ids), free(emb), free(meta), free(dout), free(de0), free(dm0), free(nan);
    tc_docs_free(&d);
    return fails;
}

/* A bad token id must come back as an error at the next sync, naming the row. */
static int emb_bad_id(tc_env *e) {
    int lens[1] = {4};
    tc_docs d;
    tc_docs_make(&d, lens, 1);
    int32_t ids[4] = {1, 2, 99, 3};
    float g[4 * 8] = {0};
    tc_side s[2];
    tc_sides(e, TC_FP32, s);
    hy_ops *o = s[1].o;
    hy_seqs q = tc_seqs(&s[1], &d);
    float *de = tc_f32(&s[1], g, 4 * 8);
    HY_EXPECT_OK(o->embedding_bwd(o->ctx, de, NULL, tc_act(&s[1], g, 4 * 8), tc_i32(&s[1], ids, 4), &q, 0, 8, 4, -1));
    HY_EXPECT_ERR(o->sync(o->ctx), "row 2 has token id 99");
    HY_EXPECT_OK(o->sync(o->ctx)); /* reported once */
    tc_side_free(&s[1]);
    tc_docs_free(&d);
    return 0;
}

HY_TEST(cuda_embedding) {
    tc_env e;
    if (tc_env_open(&e)) return 1;
    int lens_a[3] = {9, 2, 31}, lens_b[1] = {1}, fails = 0;
    for (int m = 0; m < 2; m++) {
        fails += emb_case(&e, m, lens_a, 3, 3, 48, 37, 0);  /* meta rows, a doc shorter than M, padding row 0 */
        fails += emb_case(&e, m, lens_b, 1, 0, 130, 301, -1); /* T = 1, no meta, no padding idx */
    }
    fails += emb_bad_id(&e);
    tc_env_close(&e);
    return fails != 0;
}

/* ---------------------------------------------------------------- rmsnorm */

static int rms_case(tc_env *e, int mode, int n, int D, int ldx, int ldo, int acc) {
    hy_test_rng rng = {301 + (uint64_t)D};
    float *x = tc_rand(&rng, (size_t)n * ldx, 1.f), *w = tc_rand(&rng, (size_t)D, 0.3f), *dout = tc_rand(&rng, (size_t)n * ldo, 1.f);
    for (int i = 0; i < D; i++) w[i] += 1.f;
    float *dx0 = acc ? tc_rand(&rng, (size_t)n * ldx, 1.f) : tc_nan((size_t)n * ldx), *dw0 = tc_rand(&rng, (size_t)D, 1.f);
    float *nan = tc_nan((size_t)n * (ldo > ldx ? ldo : ldx)), *out[2], *rs[2], *dx[2], *dw[2], *dx2 = NULL;
    tc_side s[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        void *dx_ = tc_act(&s[k], x, (size_t)n * ldx), *dw_ = tc_act(&s[k], w, (size_t)D), *o_ = tc_act(&s[k], nan, (size_t)n * ldo);
        void *ddx = tc_act(&s[k], dx0, (size_t)n * ldx);
        float *r = tc_f32(&s[k], nan, (size_t)n), *ddw = tc_f32(&s[k], dw0, (size_t)D);
        TC_OK(o->rmsnorm_fwd(o->ctx, o_, ldo, r, dx_, ldx, dw_, n, D, 1e-6f));
        out[k] = tc_host((size_t)n * ldo), rs[k] = tc_host((size_t)n), dx[k] = tc_host((size_t)n * ldx), dw[k] = tc_host((size_t)D);
        tc_get_act(&s[k], o_, (size_t)n * ldo, out[k]);
        tc_get_f32(&s[k], r, (size_t)n, rs[k]);
        /* the backward reads the CPU's rstd on both sides (ops are tested one at a time) */
        float *rc = tc_f32(&s[k], rs[0], (size_t)n);
        TC_OK(o->rmsnorm_bwd(o->ctx, ddx, ldx, ddw, tc_act(&s[k], dout, (size_t)n * ldo), ldo, dx_, ldx, dw_, rc, n, D, acc));
        tc_get_act(&s[k], ddx, (size_t)n * ldx, dx[k]);
        tc_get_f32(&s[k], ddw, (size_t)D, dw[k]);
        if (k == 1) { /* determinism: the same backward again */
            void *ddx2 = tc_act(&s[k], dx0, (size_t)n * ldx);
            TC_OK(o->rmsnorm_bwd(o->ctx, ddx2, ldx, NULL, tc_act(&s[k], dout, (size_t)n * ldo), ldo, dx_, ldx, dw_, rc, n, D, acc));
            dx2 = tc_host((size_t)n * ldx);
            tc_get_act(&s[k], ddx2, (size_t)n * ldx, dx2);
        }
    }
    tc_tol t = tol_of(mode), tr = {1e-6, mode ? 1e-5 : 2e-6}; /* rstd: fp32 statistic from identical inputs */
    int fails = tc_cmp("rmsnorm", "out", mode, out[1], out[0], (size_t)n * ldo, t);
    fails += tc_cmp("rmsnorm", "rstd", mode, rs[1], rs[0], (size_t)n, tr);
    fails += tc_cmp("rmsnorm", "dx", mode, dx[1], dx[0], (size_t)n * ldx, t);
    /* dw: fp32 sums over rows of identical bf16 inputs in both modes */
    fails += tc_cmp("rmsnorm", "dw", mode, dw[1], dw[0], (size_t)D, (tc_tol){1e-5, 1e-4});
    fails += tc_same("rmsnorm", "dx rerun", mode, dx[1], dx2, (size_t)n * ldx);
    for (int k = 0; k < 2; k++) free(out[k]), free(rs[k]), free(dx[k]), free(dw[k]), tc_side_free(&s[k]);
    free(x), free(w), free(dout), free(dx0), free(dw0), free(nan), free(dx2);
    return fails;
}

HY_TEST(cuda_rmsnorm) {
    tc_env e;
    if (tc_env_open(&e)) return 1;
    int fails = 0;
    for (int m = 0; m < 2; m++) {
        fails += rms_case(&e, m, 1, 16, 16, 16, 0);       /* one row (the B/C inner norm width) */
        fails += rms_case(&e, m, 37, 130, 140, 135, 0);   /* odd D, strided in and out */
        fails += rms_case(&e, m, 37, 130, 140, 135, 1);   /* dx accumulates (residual stream) */
        fails += rms_case(&e, m, 70, 1600, 1600, 1600, 1); /* hidden size of 1.5B */
        fails += rms_case(&e, m, 1001, 16, 48, 34, 1);     /* many narrow rows: the warp-per-row path, partial last block */
        fails += rms_case(&e, m, 9, 257, 260, 257, 0);     /* just above the warp-per-row width */
        fails += rms_case(&e, m, 1001, 1600, 1600, 1608, 0); /* vector rows: several rows per backward block, ldo != ldx */
        fails += rms_case(&e, m, 5, 3200, 3208, 3200, 1);    /* vector rows, 4 vectors per thread (bf16), strided x/dx */
        fails += rms_case(&e, m, 33, 1600, 1601, 1600, 0);   /* odd row stride: the scalar fallback */
        fails += rms_case(&e, m, 2000, 100, 132, 100, 1);    /* the dt norm's shape: narrow rows read in place, many warps */
    }
    /* variant 0 (the previous kernels, kept for A/B timing) still agrees */
    if (setenv("HYMBA_RMSNORM_VARIANT", "0", 1) == 0) {
        for (int m = 0; m < 2; m++) fails += rms_case(&e, m, 70, 1600, 1600, 1600, 1) + rms_case(&e, m, 1001, 16, 48, 34, 1);
        unsetenv("HYMBA_RMSNORM_VARIANT");
    } else fails++;
    tc_env_close(&e);
    return fails != 0;
}

/* --------------------------------------------------------------- norm_avg */

/* The hybrid fusion (kernels/norm_avg.h) against the CPU op; the backward run
 * twice (determinism); the GPU forward against the GPU's own unfused
 * composition (rmsnorm_fwd twice + axpby), which must match bit for bit when
 * both take the same row path (D > 256, where rmsnorm leaves its warp path).
 * frozen_b: dwb NULL, so its pre-filled values must come back untouched. */
static int navg_case(tc_env *e, int mode, int n, int D, int frozen_b) {
    hy_test_rng rng = {351 + (uint64_t)D + (uint64_t)n};
    size_t nD = (size_t)n * D, D2 = 2 * (size_t)D;
    float *a = tc_rand(&rng, nD, 1.f), *b = tc_rand(&rng, nD, 3.f), *wa = tc_rand(&rng, (size_t)D, 0.3f), *wb = tc_rand(&rng, (size_t)D, 0.3f);
    float *dfu = tc_rand(&rng, nD, 1.f), *dw0 = tc_rand(&rng, D2, 1.f), *nan = tc_nan(nD);
    for (int i = 0; i < D; i++) wa[i] += 1.f, wb[i] += 0.5f;
    float *fu[2], *ra[2], *rb[2], *da[2], *db[2], *dw[2], *fu2 = tc_host(nD), *da2 = tc_host(nD), *dw2 = tc_host(D2);
    tc_side s[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        void *a_ = tc_act(&s[k], a, nD), *b_ = tc_act(&s[k], b, nD), *wa_ = tc_act(&s[k], wa, (size_t)D), *wb_ = tc_act(&s[k], wb, (size_t)D);
        void *fu_ = tc_act(&s[k], nan, nD), *da_ = tc_act(&s[k], nan, nD), *db_ = tc_act(&s[k], nan, nD), *dfu_ = tc_act(&s[k], dfu, nD);
        float *ra_ = tc_f32(&s[k], nan, (size_t)n), *rb_ = tc_f32(&s[k], nan, (size_t)n), *dw_ = tc_f32(&s[k], dw0, D2);
        TC_OK(o->norm_avg_fwd(o->ctx, fu_, ra_, rb_, a_, b_, wa_, wb_, n, D, 1e-6f));
        fu[k] = tc_host(nD), ra[k] = tc_host((size_t)n), rb[k] = tc_host((size_t)n), da[k] = tc_host(nD), db[k] = tc_host(nD);
        dw[k] = tc_host(D2);
        tc_get_act(&s[k], fu_, nD, fu[k]);
        tc_get_f32(&s[k], ra_, (size_t)n, ra[k]);
        tc_get_f32(&s[k], rb_, (size_t)n, rb[k]);
        /* the backward reads the CPU's statistics on both sides */
        float *rac = tc_f32(&s[k], ra[0], (size_t)n), *rbc = tc_f32(&s[k], rb[0], (size_t)n);
        TC_OK(o->norm_avg_bwd(o->ctx, da_, db_, dw_, frozen_b ? NULL : dw_ + D, dfu_, a_, b_, wa_, wb_, rac, rbc, n, D));
        tc_get_act(&s[k], da_, nD, da[k]);
        tc_get_act(&s[k], db_, nD, db[k]);
        tc_get_f32(&s[k], dw_, D2, dw[k]);
        if (k == 0) continue;
        void *da2_ = tc_act(&s[k], nan, nD), *db2_ = tc_act(&s[k], nan, nD), *o1 = tc_act(&s[k], nan, nD), *o2 = tc_act(&s[k], nan, nD);
        float *dw2_ = tc_f32(&s[k], dw0, D2), *r1 = tc_f32(&s[k], nan, (size_t)n), *r2 = tc_f32(&s[k], nan, (size_t)n);
        TC_OK(o->norm_avg_bwd(o->ctx, da2_, db2_, dw2_, frozen_b ? NULL : dw2_ + D, dfu_, a_, b_, wa_, wb_, rac, rbc, n, D));
        tc_get_act(&s[k], da2_, nD, da2);
        tc_get_f32(&s[k], dw2_, D2, dw2);
        TC_OK(o->rmsnorm_fwd(o->ctx, o1, D, r1, a_, D, wa_, n, D, 1e-6f));
        TC_OK(o->rmsnorm_fwd(o->ctx, o2, D, r2, b_, D, wb_, n, D, 1e-6f));
        TC_OK(o->axpby(o->ctx, o1, 0.5f, o1, 0.5f, o2, nD));
        tc_get_act(&s[k], o1, nD, fu2);
    }
    tc_tol t = tol_of(mode), tr = {1e-6, mode ? 1e-5 : 2e-6}; /* rstd: fp32 statistics from identical inputs */
    int fails = tc_cmp("norm_avg", "fu", mode, fu[1], fu[0], nD, t);
    fails += tc_cmp("norm_avg", "rstd_a", mode, ra[1], ra[0], (size_t)n, tr);
    fails += tc_cmp("norm_avg", "rstd_b", mode, rb[1], rb[0], (size_t)n, tr);
    fails += tc_cmp("norm_avg", "da", mode, da[1], da[0], nD, t);
    fails += tc_cmp("norm_avg", "db", mode, db[1], db[0], nD, t);
    /* dw: fp32 sums over rows of identical inputs in both modes */
    fails += tc_cmp("norm_avg", "dwa|dwb", mode, dw[1], dw[0], D2, (tc_tol){1e-5, 1e-4});
    fails += tc_same("norm_avg", "da rerun", mode, da[1], da2, nD);
    fails += tc_same("norm_avg", "dw rerun", mode, dw[1], dw2, D2);
    if (D > 256) fails += tc_same("norm_avg", "fu vs rmsnorm_fwd x2 + axpby", mode, fu[1], fu2, nD);
    else fails += tc_cmp("norm_avg", "fu vs rmsnorm_fwd x2 + axpby", mode, fu[1], fu2, nD, t);
    for (int k = 0; k < 2; k++) free(fu[k]), free(ra[k]), free(rb[k]), free(da[k]), free(db[k]), free(dw[k]), tc_side_free(&s[k]);
    free(a), free(b), free(wa), free(wb), free(dfu), free(dw0), free(nan), free(fu2), free(da2), free(dw2);
    return fails;
}

HY_TEST(cuda_norm_avg) {
    tc_env e;
    if (tc_env_open(&e)) return 1;
    int fails = 0;
    for (int m = 0; m < 2; m++) {
        fails += navg_case(&e, m, 37, 3200, 0);   /* Hymba-1.5B's DI: vector rows */
        fails += navg_case(&e, m, 1001, 1600, 0); /* several rows per backward block */
        fails += navg_case(&e, m, 1, 4096, 0);    /* one row, 4 vectors per thread (bf16) */
        fails += navg_case(&e, m, 3, 16, 0);      /* narrow: one warp per row */
        fails += navg_case(&e, m, 9, 300, 0);     /* D % 8 != 0: scalar kernels in bf16, vectors in fp32 */
        fails += navg_case(&e, m, 5, 130, 1);     /* scalar kernels in both modes; frozen gain b */
    }
    tc_env_close(&e);
    return fails != 0;
}

/* ----------------------------------------------------------------- matmul */

static int mm_case(tc_env *e, int mode, int n, int O, int I, int ldi, int ldo, int acc) {
    hy_test_rng rng = {401 + (uint64_t)O};
    int lddi = ldi + 3;
    float *in = tc_rand(&rng, (size_t)n * ldi, 1.f), *w = tc_rand(&rng, (size_t)O * I, 0.2f);
    float *o0 = acc ? tc_rand(&rng, (size_t)n * ldo, 1.f) : tc_nan((size_t)n * ldo), *dout = tc_rand(&rng, (size_t)n * ldo, 1.f);
    float *di0 = acc ? tc_rand(&rng, (size_t)n * lddi, 1.f) : tc_nan((size_t)n * lddi), *dw0 = tc_rand(&rng, (size_t)O * I, 1.f);
    float *out[2], *di[2], *dw[2];
    tc_side s[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        void *din = tc_act(&s[k], in, (size_t)n * ldi), *dwt = tc_act(&s[k], w, (size_t)O * I);
        void *dout_ = tc_act(&s[k], o0, (size_t)n * ldo), *ddi = tc_act(&s[k], di0, (size_t)n * lddi);
        float *ddw = tc_f32(&s[k], dw0, (size_t)O * I);
        TC_OK(o->matmul_fwd(o->ctx, dout_, ldo, din, ldi, dwt, n, O, I, acc));
        TC_OK(o->matmul_bwd(o->ctx, ddi, lddi, ddw, tc_act(&s[k], dout, (size_t)n * ldo), ldo, din, ldi, dwt, n, O, I, acc));
        out[k] = tc_host((size_t)n * ldo), di[k] = tc_host((size_t)n * lddi), dw[k] = tc_host((size_t)O * I);
        tc_get_act(&s[k], dout_, (size_t)n * ldo, out[k]);
        tc_get_act(&s[k], ddi, (size_t)n * lddi, di[k]);
        tc_get_f32(&s[k], ddw, (size_t)O * I, dw[k]);
    }
    /* fp32: true fp32 products (TF32 off) summed in another order: ~√K ulps of
     * the sum's scale.  bf16: output rounding; dW is an fp32 sum of exact
     * products of identical bf16 values in both modes. */
    tc_tol t = mode ? TOL_BF16 : (tc_tol){1e-5, 1e-4};
    int fails = tc_cmp("matmul", "out", mode, out[1], out[0], (size_t)n * ldo, t);
    fails += tc_cmp("matmul", "din", mode, di[1], di[0], (size_t)n * lddi, t);
    fails += tc_cmp("matmul", "dw", mode, dw[1], dw[0], (size_t)O * I, (tc_tol){1e-5, 1e-4});
    for (int k = 0; k < 2; k++) free(out[k]), free(di[k]), free(dw[k]), tc_side_free(&s[k]);
    free(in), free(w), free(o0), free(dout), free(di0), free(dw0);
    return fails;
}

HY_TEST(cuda_matmul) {
    tc_env e;
    if (tc_env_open(&e)) return 1;
    int fails = 0;
    for (int m = 0; m < 2; m++) {
        fails += mm_case(&e, m, 1, 3, 5, 5, 3, 0);          /* one row, tiny */
        fails += mm_case(&e, m, 37, 130, 64, 70, 133, 0);   /* odd sizes, strided views */
        fails += mm_case(&e, m, 37, 130, 64, 70, 133, 1);   /* accumulate out and din */
        fails += mm_case(&e, m, 64, 300, 100, 101, 384, 0); /* LM-head-like: O not a multiple of 128, padded ld */
        fails += mm_case(&e, m, 200, 256, 512, 512, 256, 1);
    }
    tc_env_close(&e);
    return fails != 0;
}

/* ------------------------------------------------------------------- rope */

static int rope_case(tc_env *e, int mode, const int *lens, int nd, int H, int D, int ldx) {
    hy_test_rng rng = {501 + (uint64_t)D};
    tc_docs d;
    tc_docs_make(&d, lens, nd);
    float base = 74534.828125f, *inv = tc_host((size_t)D / 2);
    for (int m = 0; m < D / 2; m++) inv[m] = 1.0f / powf(base, (float)(2 * m) / (float)D);
    size_t n = (size_t)d.n * ldx;
    float *x = tc_rand(&rng, n, 1.f), *f[2], *b[2];
    tc_side s[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        hy_seqs q = tc_seqs(&s[k], &d);
        float *di = tc_f32(&s[k], inv, (size_t)D / 2);
        void *dx = tc_act(&s[k], x, n), *dg = tc_act(&s[k], x, n);
        TC_OK(o->rope_fwd(o->ctx, dx, ldx, q.pos, di, d.n, H, D));
        TC_OK(o->rope_bwd(o->ctx, dg, ldx, q.pos, di, d.n, H, D));
        f[k] = tc_host(n), b[k] = tc_host(n);
        tc_get_act(&s[k], dx, n, f[k]);
        tc_get_act(&s[k], dg, n, b[k]);
    }
    /* fp32: cosf/sinf of angles up to ~200 rad differ by an ulp or two between
     * libm and CUDA.  bf16: cos/sin are rounded to bf16 on the GPU (as the
     * official model), then the output: a few 2^-9 relative. */
    tc_tol t = mode ? (tc_tol){2e-2, 2e-2} : (tc_tol){2e-6, 2e-5};
    int fails = tc_cmp("rope", "fwd", mode, f[1], f[0], n, t) + tc_cmp("rope", "bwd", mode, b[1], b[0], n, t);
    for (int k = 0; k < 2; k++) free(f[k]), free(b[k]), tc_side_free(&s[k]);
    free(inv), free(x);
    tc_docs_free(&d);
    return fails;
}

HY_TEST(cuda_rope) {
    tc_env e;
    if (tc_env_open(&e)) return 1;
    int la[3] = {1, 45, 170}, lb[1] = {1}, fails = 0;
    for (int m = 0; m < 2; m++) {
        fails += rope_case(&e, m, la, 3, 5, 64, 5 * 64 + 64 + 7); /* q-like block inside a wider row */
        fails += rope_case(&e, m, la, 3, 3, 16, 50);
        fails += rope_case(&e, m, lb, 1, 1, 64, 64); /* T = 1 */
    }
    tc_env_close(&e);
    return fails != 0;
}

/* ----------------------------------------------------------------- swiglu */

static int swiglu_case(tc_env *e, int mode, int n, int F) {
    hy_test_rng rng = {601 + (uint64_t)F};
    int ld = 2 * F + 3;
    size_t na = (size_t)n * ld, no = (size_t)n * F;
    float *ab = tc_rand(&rng, na, 2.f), *dout = tc_rand(&rng, no, 1.f), *nan = tc_nan(na), *out[2], *g[2];
    tc_side s[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        char *dab = tc_act(&s[k], ab, na), *dg = tc_act(&s[k], nan, na);
        size_t es = hy_dtype_size(o->act_dtype);
        void *dout_ = tc_act(&s[k], nan, no);
        TC_OK(o->swiglu_fwd(o->ctx, dout_, dab, dab + (size_t)F * es, ld, n, F));
        TC_OK(o->swiglu_bwd(o->ctx, dg, dg + (size_t)F * es, ld, tc_act(&s[k], dout, no), dab, dab + (size_t)F * es, n, F));
        out[k] = tc_host(no), g[k] = tc_host(na);
        tc_get_act(&s[k], dout_, no, out[k]);
        tc_get_act(&s[k], dg, na, g[k]); /* the 3 padding columns must stay NaN */
    }
    tc_tol t = tol_of(mode);
    int fails = tc_cmp("swiglu", "out", mode, out[1], out[0], no, t) + tc_cmp("swiglu", "da|db", mode, g[1], g[0], na, t);
    for (int k = 0; k < 2; k++) free(out[k]), free(g[k]), tc_side_free(&s[k]);
    free(ab), free(dout), free(nan);
    return fails;
}

HY_TEST(cuda_swiglu) {
    tc_env e;
    if (tc_env_open(&e)) return 1;
    int fails = 0;
    for (int m = 0; m < 2; m++) fails += swiglu_case(&e, m, 1, 7) + swiglu_case(&e, m, 37, 130) + swiglu_case(&e, m, 64, 1376);
    tc_env_close(&e);
    return fails != 0;
}

/* ---------------------------------------------------- cross-entropy, rows */

static int ce_case(tc_env *e, int mode, int n, int V, int ld) {
    hy_test_rng rng = {701 + (uint64_t)V};
    size_t nl = (size_t)n * ld;
    float *lg = tc_rand(&rng, nl, 3.f), *sc = tc_host((size_t)n), *nan = tc_nan(nl), *ls[2], *lse[2], *dl[2];
    int32_t *tg = malloc((size_t)n * 4);
    for (int r = 0; r < n; r++) {
        tg[r] = r % 5 == 2 ? -100 : (int)(hy_test_uniform(&rng) * V);
        sc[r] = 0.5f + (float)hy_test_uniform(&rng);
    }
    tg[n - 1] = V - 1; /* the last real column */
    tc_side s[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        void *dlg = tc_act(&s[k], lg, nl), *dg = tc_act(&s[k], nan, nl);
        int32_t *dt = tc_i32(&s[k], tg, (size_t)n);
        float *dls = tc_f32(&s[k], nan, (size_t)n), *dlse = tc_f32(&s[k], nan, (size_t)n);
        TC_OK(o->ce_fwd(o->ctx, dls, dlse, dlg, ld, dt, n, V));
        TC_OK(o->ce_bwd(o->ctx, dg, ld, dlg, dlse, dt, tc_f32(&s[k], sc, (size_t)n), n, V));
        ls[k] = tc_host((size_t)n), lse[k] = tc_host((size_t)n), dl[k] = tc_host(nl);
        tc_get_f32(&s[k], dls, (size_t)n, ls[k]);
        tc_get_f32(&s[k], dlse, (size_t)n, lse[k]);
        tc_get_act(&s[k], dg, nl, dl[k]); /* padding columns: 0 on both sides */
    }
    /* loss/lse: fp32 (CPU sums in double) from identical logits in both modes */
    tc_tol tl = {1e-6, 1e-5};
    int fails = tc_cmp("ce", "loss", mode, ls[1], ls[0], (size_t)n, tl) + tc_cmp("ce", "lse", mode, lse[1], lse[0], (size_t)n, tl);
    fails += tc_cmp("ce", "dlogits", mode, dl[1], dl[0], nl, mode ? TOL_BF16 : (tc_tol){1e-6, 1e-4});
    for (int k = 0; k < 2; k++) free(ls[k]), free(lse[k]), free(dl[k]), tc_side_free(&s[k]);
    free(lg), free(sc), free(nan), free(tg);
    return fails;
}

static int rows_case(tc_env *e, int mode) {
    hy_test_rng rng = {801};
    int N = 29, n = 17, C = 67;
    int32_t gi[17], si[17];
    for (int r = 0; r < n; r++) gi[r] = (r * 7) % N, si[r] = (r * 5) % 11; /* si repeats: order matters */
    float *big = tc_rand(&rng, (size_t)N * C, 1.f), *small = tc_rand(&rng, (size_t)n * C, 1.f), *nan = tc_nan((size_t)n * C);
    float *g[2], *sa[2], *so[2];
    tc_side s[2];
    tc_sides(e, mode, s);
    for (int k = 0; k < 2; k++) {
        hy_ops *o = s[k].o;
        void *db = tc_act(&s[k], big, (size_t)N * C), *dsm = tc_act(&s[k], small, (size_t)n * C), *dg = tc_act(&s[k], nan, (size_t)n * C);
        void *acc = tc_act(&s[k], big, (size_t)N * C), *ovr = tc_act(&s[k], big, (size_t)N * C);
        TC_OK(o->gather_rows(o->ctx, dg, db, tc_i32(&s[k], gi, (size_t)n), n, C));
        TC_OK(o->scatter_rows(o->ctx, acc, dsm, tc_i32(&s[k], si, (size_t)n), n, C, 1));
        TC_OK(o->scatter_rows(o->ctx, ovr, dsm, tc_i32(&s[k], si, (size_t)n), n, C, 0));
        g[k] = tc_host((size_t)n * C), sa[k] = tc_host((size_t)N * C), so[k] = tc_host((size_t)N * C);
        tc_get_act(&s[k], dg, (size_t)n * C, g[k]);
        tc_get_act(&s[k], acc, (size_t)N * C, sa[k]);
        tc_get_act(&s[k], ovr, (size_t)N * C, so[k]);
    }
    int fails = tc_cmp("gather_rows", "out", mode, g[1], g[0], (size_t)n * C, (tc_tol){0, 0});
    fails += tc_cmp("scatter_rows", "accumulate (repeated rows)", mode, sa[1], sa[0], (size_t)N * C, tol_of(mode));
    fails += tc_cmp("scatter_rows", "overwrite (last wins)", mode, so[1], so[0], (size_t)N * C, (tc_tol){0, 0});
    for (int k = 0; k < 2; k++) free(g[k]), free(sa[k]), free(so[k]), tc_side_free(&s[k]);
    free(big), free(small), free(nan);
    return fails;
}

static int ce_bad_target(tc_env *e) {
    float lg[2 * 8] = {0}, nan[2] = {NAN, NAN};
    int32_t tg[2] = {3, 8};
    tc_side s[2];
    tc_sides(e, TC_BF16, s);
    hy_ops *o = s[1].o;
    float *l = tc_f32(&s[1], nan, 2), *z = tc_f32(&s[1], nan, 2);
    HY_EXPECT_OK(o->ce_fwd(o->ctx, l, z, tc_act(&s[1], lg, 16), 8, tc_i32(&s[1], tg, 2), 2, 8));
    HY_EXPECT_ERR(o->sync(o->ctx), "row 1 has target 8");
    tc_side_free(&s[1]);
    return 0;
}

HY_TEST(cuda_cross_entropy_rows) {
    tc_env e;
    if (tc_env_open(&e)) return 1;
    int fails = 0;
    for (int m = 0; m < 2; m++) {
        fails += ce_case(&e, m, 1, 5, 5);
        fails += ce_case(&e, m, 37, 300, 384);     /* V not a multiple of 128, padded ld */
        fails += ce_case(&e, m, 16, 32001, 32128); /* Hymba's vocabulary */
        fails += rows_case(&e, m);
    }
    fails += ce_bad_target(&e);
    tc_env_close(&e);
    return fails != 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
