/* bench_kernels.c — `hymba bench --kernels`: every op of a training step
 * alone, at the shapes of the config (default Hymba-1.5B), timed on the
 * chosen backend and checked against the CPU reference op.
 *
 * For each case (attention with the sliding window and meta prefix, attention
 * over a global layer, selective scan, conv1d, RMSNorm, SwiGLU, RoPE, the
 * in_proj product, the LM head product and the cross-entropy) the inputs are
 * drawn from a counter-based RNG (core/rng.h), so the backend and the CPU see
 * the same values.  Timing: the backend wrapped in the profiling decorator
 * (core/profile.h: a sync around each call; FLOPs for products and attention,
 * mandatory bytes for the rest), --warmup calls, then --steps timed calls per
 * op; the report gives ms per call and the achieved TFLOP/s or GB/s against
 * two ceilings measured in the same run on the same backend: a large
 * matmul_fwd (8192³) and a large device copy (bytes read + written).
 * Check: the same case at a reduced shape (two documents of up to 1200 text
 * tokens, so the window boundary is crossed; all head/channel dimensions as
 * in the config) on the backend and on the CPU, every output compared as
 * ‖got − ref‖₂ / ‖ref‖₂ against a tolerance for the storage dtype. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/bench_kernels.h"
#include "core/alloc.h"
#include "core/profile.h"
#include "core/rng.h"
#include "core/timer.h"
#include "kernels/backend.h"

enum { HY_KB_MAX_OUT = 6 };

/* Shapes of one run, and the batch metadata on the backend. */
typedef struct {
    int N, n_docs, doc_rows, M, W;
    int C, DI, DS, DC, NH, NKV, DQK, DV, F, P, V, Vp, chunk;
    hy_seqs s;
    int32_t *cu_host;
} hy_kb_shape;

/* Outputs of a case copied to the host (check mode). */
typedef struct {
    int n;
    const char *name[HY_KB_MAX_OUT];
    float *data[HY_KB_MAX_OUT];
    size_t len[HY_KB_MAX_OUT];
} hy_kb_out;

/* Backend buffers of one case, freed together. */
typedef struct {
    const hy_ops *o;
    void *p[48];
    int n;
    uint64_t stream; /* next RNG stream */
} hy_kb_bufs;

static hy_status hy_kb_alloc(hy_kb_bufs *b, void **out, size_t bytes) {
    if (b->n >= (int)HY_ARRAY_LEN(b->p)) return hy_errorf(HY_ERR_INTERNAL, "bench --kernels: too many buffers in one case");
    HY_TRY(b->o->alloc(b->o->ctx, out, bytes, "bench --kernels buffer"));
    b->p[b->n++] = *out;
    return HY_OK;
}

static void hy_kb_free(hy_kb_bufs *b) {
    for (int i = 0; i < b->n; i++) b->o->free(b->o->ctx, b->p[i]);
    b->n = 0;
}

/* n values a + s·N(0,1) (or a + s·U[0,1) when uniform), from the next stream. */
static hy_status hy_kb_host(hy_kb_bufs *b, size_t n, double a, double s, int uniform, float **out) {
    HY_TRY(hy_malloc((void **)out, n * sizeof(float), 0, "bench --kernels host values"));
    uint64_t st = ++b->stream;
    for (size_t i = 0; i < n; i++) (*out)[i] = (float)(a + s * (uniform ? hy_rng_uniform(7, st, i) : hy_rng_normal(7, st, i)));
    return HY_OK;
}

/* A backend act-dtype buffer of n random values. */
static hy_status hy_kb_act(hy_kb_bufs *b, size_t n, double a, double s, int uniform, hy_act **out) {
    float *h, *f;
    HY_TRY(hy_kb_host(b, n, a, s, uniform, &h));
    hy_status st = hy_kb_alloc(b, (void **)&f, n * sizeof(float));
    if (!st) st = hy_kb_alloc(b, (void **)out, n * hy_dtype_size(b->o->act_dtype));
    if (!st) st = b->o->to_dev(b->o->ctx, f, h, n * sizeof(float));
    if (!st) st = b->o->cast_to_act(b->o->ctx, *out, f, n);
    hy_free(h);
    return st;
}

/* A backend fp32 buffer: random, or zero when s == 0. */
static hy_status hy_kb_f32(hy_kb_bufs *b, size_t n, double a, double s, float **out) {
    HY_TRY(hy_kb_alloc(b, (void **)out, n * sizeof(float)));
    if (s == 0 && a == 0) return HY_OK; /* alloc zeroes */
    float *h;
    HY_TRY(hy_kb_host(b, n, a, s, 0, &h));
    hy_status st = b->o->to_dev(b->o->ctx, *out, h, n * sizeof(float));
    hy_free(h);
    return st;
}

static hy_status hy_kb_zero_act(hy_kb_bufs *b, size_t n, hy_act **out) {
    return hy_kb_alloc(b, (void **)out, n * hy_dtype_size(b->o->act_dtype));
}

/* Record an output (check mode only): act or fp32 backend buffer → host fp32. */
static hy_status hy_kb_keep(hy_kb_bufs *b, hy_kb_out *out, const char *name, const void *buf, size_t n, int is_act) {
    if (!out) return HY_OK;
    if (out->n >= HY_KB_MAX_OUT) return hy_errorf(HY_ERR_INTERNAL, "bench --kernels: too many outputs");
    float *h, *f = (float *)buf;
    HY_TRY(hy_malloc((void **)&h, n * sizeof(float), 0, "bench --kernels output"));
    out->name[out->n] = name, out->data[out->n] = h, out->len[out->n] = n, out->n++;
    if (is_act) {
        HY_TRY(hy_kb_alloc(b, (void **)&f, n * sizeof(float)));
        HY_TRY(b->o->cast_to_f32(b->o->ctx, f, buf, n));
    }
    return b->o->to_host(b->o->ctx, h, f, n * sizeof(float));
}

/* ---- the cases: inputs, `reps` calls of each op, outputs ---- */

typedef hy_status (*hy_kb_case_fn)(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out);

static hy_status hy_kb_attention(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    const hy_ops *o = b->o;
    size_t N = (size_t)s->N, qw = (size_t)s->NH * s->DQK, kw = (size_t)s->NKV * s->DQK, vw = (size_t)s->NKV * s->DV, ow = (size_t)s->NH * s->DV;
    hy_act *q, *k, *v, *att, *dout, *dq, *dk, *dv;
    float *lse;
    HY_TRY(hy_kb_act(b, N * qw, 0, 1, 0, &q));
    HY_TRY(hy_kb_act(b, N * kw, 0, 1, 0, &k));
    HY_TRY(hy_kb_act(b, N * vw, 0, 1, 0, &v));
    HY_TRY(hy_kb_act(b, N * ow, 0, 1, 0, &dout));
    HY_TRY(hy_kb_zero_act(b, N * ow, &att));
    HY_TRY(hy_kb_zero_act(b, N * qw, &dq));
    HY_TRY(hy_kb_zero_act(b, N * kw, &dk));
    HY_TRY(hy_kb_zero_act(b, N * vw, &dv));
    HY_TRY(hy_kb_f32(b, (size_t)s->NH * N, 0, 0, &lse));
    float scale = 1.0f / sqrtf((float)s->DQK);
    for (int r = 0; r < reps; r++)
        HY_TRY(o->attention_fwd(o->ctx, att, lse, q, (int)qw, k, (int)kw, v, (int)vw, &s->s, s->NH, s->NKV, s->DQK, s->DV, s->M, W, scale));
    for (int r = 0; r < reps; r++)
        HY_TRY(o->attention_bwd(o->ctx, dq, (int)qw, dk, dv, dout, att, lse, q, (int)qw, k, (int)kw, v, (int)vw, &s->s, s->NH, s->NKV,
                                s->DQK, s->DV, s->M, W, scale));
    HY_TRY(hy_kb_keep(b, out, "out", att, N * ow, 1));
    HY_TRY(hy_kb_keep(b, out, "lse", lse, (size_t)s->NH * N, 0));
    HY_TRY(hy_kb_keep(b, out, "dq", dq, N * qw, 1));
    HY_TRY(hy_kb_keep(b, out, "dk", dk, N * kw, 1));
    return hy_kb_keep(b, out, "dv", dv, N * vw, 1);
}

static hy_status hy_kb_scan(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    (void)W;
    const hy_ops *o = b->o;
    size_t N = (size_t)s->N, DI = (size_t)s->DI, DS = (size_t)s->DS;
    hy_act *u, *delta, *dtb, *alog, *bc, *D, *z, *y, *dy, *du, *dd, *dbc, *dz;
    float *gdt, *gA, *gD;
    HY_TRY(hy_kb_act(b, N * DI, 0, 1, 0, &u));
    HY_TRY(hy_kb_act(b, N * DI, -1.0, 1.5, 1, &delta));
    HY_TRY(hy_kb_act(b, DI, -3.0, 2.0, 1, &dtb));
    HY_TRY(hy_kb_act(b, DI * DS, 0.0, 2.7, 1, &alog));
    HY_TRY(hy_kb_act(b, N * 2 * DS, 0, 1, 0, &bc));
    HY_TRY(hy_kb_act(b, DI, 1, 0.1, 0, &D));
    HY_TRY(hy_kb_act(b, N * DI, 0, 1, 0, &z));
    HY_TRY(hy_kb_act(b, N * DI, 0, 1, 0, &dy));
    HY_TRY(hy_kb_zero_act(b, N * DI, &y));
    HY_TRY(hy_kb_zero_act(b, N * DI, &du));
    HY_TRY(hy_kb_zero_act(b, N * DI, &dd));
    HY_TRY(hy_kb_zero_act(b, N * DI, &dz));
    HY_TRY(hy_kb_zero_act(b, N * 2 * DS, &dbc));
    HY_TRY(hy_kb_f32(b, DI, 0, 0, &gdt));
    HY_TRY(hy_kb_f32(b, DI * DS, 0, 0, &gA));
    HY_TRY(hy_kb_f32(b, DI, 0, 0, &gD));
    hy_act *cm = (char *)bc + DS * hy_dtype_size(o->act_dtype), *dcm = (char *)dbc + DS * hy_dtype_size(o->act_dtype);
    int ld = 2 * s->DS;
    for (int r = 0; r < reps; r++)
        HY_TRY(o->scan_fwd(o->ctx, y, u, delta, dtb, alog, bc, cm, ld, D, z, s->DI, &s->s, s->DI, s->DS));
    for (int r = 0; r < reps; r++)
        HY_TRY(o->scan_bwd(o->ctx, du, dd, dbc, dcm, ld, dz, s->DI, gdt, gA, gD, dy, u, delta, dtb, alog, bc, cm, ld, D, z, s->DI, &s->s,
                           s->DI, s->DS));
    HY_TRY(hy_kb_keep(b, out, "y", y, N * DI, 1));
    HY_TRY(hy_kb_keep(b, out, "du", du, N * DI, 1));
    HY_TRY(hy_kb_keep(b, out, "ddelta", dd, N * DI, 1));
    HY_TRY(hy_kb_keep(b, out, "dB|dC", dbc, N * 2 * DS, 1));
    HY_TRY(hy_kb_keep(b, out, "dz", dz, N * DI, 1));
    return hy_kb_keep(b, out, "dA_log", gA, DI * DS, 0);
}

static hy_status hy_kb_conv(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    (void)W;
    const hy_ops *o = b->o;
    size_t N = (size_t)s->N, DI = (size_t)s->DI, DC = (size_t)s->DC;
    hy_act *x, *w, *bias, *u, *du, *dx;
    float *dw, *db;
    HY_TRY(hy_kb_act(b, N * DI, 0, 1, 0, &x));
    HY_TRY(hy_kb_act(b, DI * DC, 0, 0.5, 0, &w));
    HY_TRY(hy_kb_act(b, DI, 0, 0.1, 0, &bias));
    HY_TRY(hy_kb_act(b, N * DI, 0, 1, 0, &du));
    HY_TRY(hy_kb_zero_act(b, N * DI, &u));
    HY_TRY(hy_kb_zero_act(b, N * DI, &dx));
    HY_TRY(hy_kb_f32(b, DI * DC, 0, 0, &dw));
    HY_TRY(hy_kb_f32(b, DI, 0, 0, &db));
    for (int r = 0; r < reps; r++) HY_TRY(o->conv1d_fwd(o->ctx, u, x, s->DI, w, bias, &s->s, s->DI, s->DC));
    for (int r = 0; r < reps; r++) HY_TRY(o->conv1d_bwd(o->ctx, dx, s->DI, dw, db, du, x, s->DI, w, bias, &s->s, s->DI, s->DC));
    HY_TRY(hy_kb_keep(b, out, "u", u, N * DI, 1));
    HY_TRY(hy_kb_keep(b, out, "dx", dx, N * DI, 1));
    return hy_kb_keep(b, out, "dw", dw, DI * DC, 0);
}

static hy_status hy_kb_rmsnorm(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    (void)W;
    const hy_ops *o = b->o;
    size_t N = (size_t)s->N, C = (size_t)s->C;
    hy_act *x, *w, *y, *dy, *dx;
    float *rstd, *dw;
    HY_TRY(hy_kb_act(b, N * C, 0, 1, 0, &x));
    HY_TRY(hy_kb_act(b, C, 1, 0.1, 0, &w));
    HY_TRY(hy_kb_act(b, N * C, 0, 1, 0, &dy));
    HY_TRY(hy_kb_zero_act(b, N * C, &y));
    HY_TRY(hy_kb_zero_act(b, N * C, &dx));
    HY_TRY(hy_kb_f32(b, N, 0, 0, &rstd));
    HY_TRY(hy_kb_f32(b, C, 0, 0, &dw));
    for (int r = 0; r < reps; r++) HY_TRY(o->rmsnorm_fwd(o->ctx, y, s->C, rstd, x, s->C, w, s->N, s->C, 1e-6f));
    for (int r = 0; r < reps; r++) HY_TRY(o->rmsnorm_bwd(o->ctx, dx, s->C, dw, dy, s->C, x, s->C, w, rstd, s->N, s->C, 0));
    HY_TRY(hy_kb_keep(b, out, "y", y, N * C, 1));
    return hy_kb_keep(b, out, "dx", dx, N * C, 1);
}

static hy_status hy_kb_swiglu(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    (void)W;
    const hy_ops *o = b->o;
    size_t N = (size_t)s->N, F = (size_t)s->F, es = hy_dtype_size(o->act_dtype);
    hy_act *gu, *mm, *dmm, *dgu;
    HY_TRY(hy_kb_act(b, N * 2 * F, 0, 1, 0, &gu));
    HY_TRY(hy_kb_act(b, N * F, 0, 1, 0, &dmm));
    HY_TRY(hy_kb_zero_act(b, N * F, &mm));
    HY_TRY(hy_kb_zero_act(b, N * 2 * F, &dgu));
    for (int r = 0; r < reps; r++) HY_TRY(o->swiglu_fwd(o->ctx, mm, gu, (char *)gu + F * es, 2 * s->F, s->N, s->F));
    for (int r = 0; r < reps; r++)
        HY_TRY(o->swiglu_bwd(o->ctx, dgu, (char *)dgu + F * es, 2 * s->F, dmm, gu, (char *)gu + F * es, s->N, s->F));
    HY_TRY(hy_kb_keep(b, out, "out", mm, N * F, 1));
    return hy_kb_keep(b, out, "dgate|dup", dgu, N * 2 * F, 1);
}

static hy_status hy_kb_rope(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    (void)W;
    const hy_ops *o = b->o;
    size_t N = (size_t)s->N, qw = (size_t)s->NH * s->DQK;
    hy_act *q;
    float *inv;
    HY_TRY(hy_kb_act(b, N * qw, 0, 1, 0, &q));
    HY_TRY(hy_kb_alloc(b, (void **)&inv, sizeof(float) * (size_t)s->DQK / 2));
    float h[512];
    for (int i = 0; i < s->DQK / 2 && i < 512; i++) h[i] = 1.0f / powf(10000.0f, (float)(2 * i) / (float)s->DQK);
    HY_TRY(o->to_dev(o->ctx, inv, h, sizeof(float) * (size_t)s->DQK / 2));
    /* forward then backward: together the identity up to rounding, so repeated calls stay bounded */
    for (int r = 0; r < reps; r++) {
        HY_TRY(o->rope_fwd(o->ctx, q, (int)qw, s->s.pos, inv, s->N, s->NH, s->DQK));
        HY_TRY(o->rope_bwd(o->ctx, q, (int)qw, s->s.pos, inv, s->N, s->NH, s->DQK));
    }
    HY_TRY(o->rope_fwd(o->ctx, q, (int)qw, s->s.pos, inv, s->N, s->NH, s->DQK));
    return hy_kb_keep(b, out, "q", q, N * qw, 1);
}

/* A product of the model: W = 0 the in_proj ([N,C]·[P,C]ᵀ), W = 1 the LM head
 * on one chunk of text rows ([chunk,C]·[Vp,C]ᵀ). */
static hy_status hy_kb_matmul(hy_kb_bufs *b, const hy_kb_shape *s, int which, int reps, hy_kb_out *out) {
    const hy_ops *o = b->o;
    /* the head runs on the embedding padded to Vp rows, as the model does (model_run.c) */
    int n = which ? s->chunk : s->N, O = which ? s->Vp : s->P, I = s->C, ldo = which ? s->Vp : s->P;
    hy_act *x, *w, *y, *dy, *dx;
    float *dw;
    HY_TRY(hy_kb_act(b, (size_t)n * I, 0, 1, 0, &x));
    HY_TRY(hy_kb_act(b, (size_t)O * I, 0, 0.02, 0, &w));
    HY_TRY(hy_kb_act(b, (size_t)n * ldo, 0, 1, 0, &dy));
    HY_TRY(hy_kb_zero_act(b, (size_t)n * ldo, &y));
    HY_TRY(hy_kb_zero_act(b, (size_t)n * I, &dx));
    HY_TRY(hy_kb_f32(b, (size_t)O * I, 0, 0, &dw));
    for (int r = 0; r < reps; r++) HY_TRY(o->matmul_fwd(o->ctx, y, ldo, x, I, w, n, O, I, 0));
    for (int r = 0; r < reps; r++) HY_TRY(o->matmul_bwd(o->ctx, dx, I, r == 0 ? dw : NULL, dy, ldo, x, I, w, n, O, I, 0));
    HY_TRY(hy_kb_keep(b, out, "out", y, (size_t)n * ldo, 1));
    HY_TRY(hy_kb_keep(b, out, "din", dx, (size_t)n * I, 1));
    return hy_kb_keep(b, out, "dw", dw, (size_t)O * I, 0);
}

static hy_status hy_kb_ce(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    (void)W;
    const hy_ops *o = b->o;
    size_t n = (size_t)s->chunk, Vp = (size_t)s->Vp;
    hy_act *logits, *dl;
    float *loss, *lse, *scale;
    int32_t *tg, *th;
    HY_TRY(hy_kb_act(b, n * Vp, 0, 2, 0, &logits));
    HY_TRY(hy_kb_zero_act(b, n * Vp, &dl));
    HY_TRY(hy_kb_f32(b, n, 0, 0, &loss));
    HY_TRY(hy_kb_f32(b, n, 0, 0, &lse));
    HY_TRY(hy_kb_f32(b, n, 1e-3, 1e-4, &scale));
    HY_TRY(hy_kb_alloc(b, (void **)&tg, n * sizeof(int32_t)));
    HY_TRY(hy_malloc((void **)&th, n * sizeof(int32_t), 0, "targets"));
    for (size_t i = 0; i < n; i++) th[i] = i % 7 == 3 ? -100 : (int32_t)(hy_rng_u64(7, 99, i) % (uint64_t)s->V);
    hy_status st = o->to_dev(o->ctx, tg, th, n * sizeof(int32_t));
    hy_free(th);
    HY_TRY(st);
    for (int r = 0; r < reps; r++) HY_TRY(o->ce_fwd(o->ctx, loss, lse, logits, s->Vp, tg, (int)n, s->V));
    for (int r = 0; r < reps; r++) HY_TRY(o->ce_bwd(o->ctx, dl, s->Vp, logits, lse, tg, scale, (int)n, s->V));
    HY_TRY(hy_kb_keep(b, out, "loss", loss, n, 0));
    return hy_kb_keep(b, out, "dlogits", dl, n * Vp, 1);
}

static hy_status hy_kb_matmul_case(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    (void)W;
    return hy_kb_matmul(b, s, 0, reps, out);
}
static hy_status hy_kb_head_case(hy_kb_bufs *b, const hy_kb_shape *s, int W, int reps, hy_kb_out *out) {
    (void)W;
    return hy_kb_matmul(b, s, 1, reps, out);
}

typedef struct {
    const char *name;
    hy_kb_case_fn fn;
    int global; /* attention over a global layer (W = −1) */
} hy_kb_case;

static const hy_kb_case HY_KB_CASES[] = {
    {"attention (window + meta)", hy_kb_attention, 0},
    {"attention (global layer)", hy_kb_attention, 1},
    {"selective scan", hy_kb_scan, 0},
    {"conv1d + SiLU", hy_kb_conv, 0},
    {"RMSNorm [N,C]", hy_kb_rmsnorm, 0},
    {"SwiGLU [N,F]", hy_kb_swiglu, 0},
    {"RoPE on q", hy_kb_rope, 0},
    {"in_proj product", hy_kb_matmul_case, 0},
    {"LM head product (1 chunk)", hy_kb_head_case, 0},
    {"cross-entropy (1 chunk)", hy_kb_ce, 0},
};

/* ---- shapes ---- */

/* n_docs documents of L text tokens + M meta rows on backend o. */
static hy_status hy_kb_shape_make(hy_kb_shape *s, const hy_config *c, const hy_ops *o, hy_kb_bufs *b, int L, int n_docs) {
    memset(s, 0, sizeof *s);
    s->M = c->num_meta, s->W = c->sliding_window, s->n_docs = n_docs, s->doc_rows = L + c->num_meta;
    s->N = n_docs * s->doc_rows;
    s->C = c->hidden_size, s->DI = c->di, s->DS = c->d_state, s->DC = c->d_conv, s->NH = c->num_heads, s->NKV = c->num_kv_heads;
    s->DQK = c->dqk, s->DV = c->dv, s->F = c->intermediate_size, s->V = c->vocab_size, s->Vp = c->vocab_padded;
    s->P = hy_config_in_proj_rows(c, 0);
    s->chunk = hy_imin(1024, n_docs * L);
    int32_t *pos, *cu, *dpos, *dcu;
    HY_TRY(hy_malloc((void **)&pos, sizeof(int32_t) * (size_t)s->N, 0, "positions"));
    HY_TRY(hy_malloc((void **)&s->cu_host, sizeof(int32_t) * (size_t)(n_docs + 1), 0, "document offsets"));
    cu = s->cu_host;
    for (int d = 0; d <= n_docs; d++) cu[d] = d * s->doc_rows;
    for (int i = 0; i < s->N; i++) pos[i] = i % s->doc_rows;
    hy_status st = hy_kb_alloc(b, (void **)&dpos, sizeof(int32_t) * (size_t)s->N);
    if (!st) st = hy_kb_alloc(b, (void **)&dcu, sizeof(int32_t) * (size_t)(n_docs + 1));
    if (!st) st = o->to_dev(o->ctx, dpos, pos, sizeof(int32_t) * (size_t)s->N);
    if (!st) st = o->to_dev(o->ctx, dcu, cu, sizeof(int32_t) * (size_t)(n_docs + 1));
    hy_free(pos);
    HY_TRY(st);
    s->s = (hy_seqs){.n = s->N, .n_docs = n_docs, .max_len = s->doc_rows, .cu = dcu, .pos = dpos, .cu_host = s->cu_host};
    return HY_OK;
}

/* ---- ceilings measured through the same ops table ---- */

hy_status hy_bench_ceilings(const hy_ops *o, double *tflops, double *gbs, int *mm_n) {
    hy_kb_bufs b = {.o = o};
    int n = o->host_memory ? 1024 : 8192;
    *mm_n = n;
    hy_act *x, *w, *y;
    hy_status st = hy_kb_act(&b, (size_t)n * n, 0, 1, 0, &x);
    if (!st) st = hy_kb_act(&b, (size_t)n * n, 0, 0.02, 0, &w);
    if (!st) st = hy_kb_zero_act(&b, (size_t)n * n, &y);
    double best = 1e30;
    for (int r = 0; r < 6 && !st; r++) {
        double t0 = hy_now_s();
        st = o->matmul_fwd(o->ctx, y, n, x, n, w, n, n, n, 0);
        if (!st) st = o->sync(o->ctx);
        if (r > 0 && hy_now_s() - t0 < best) best = hy_now_s() - t0;
    }
    *tflops = st ? 0 : 2.0 * n * (double)n * n / best * 1e-12;
    hy_kb_free(&b);
    HY_TRY(st);
    size_t bytes = o->host_memory ? (size_t)256 << 20 : (size_t)2 << 30;
    void *p, *q;
    st = hy_kb_alloc(&b, &p, bytes);
    if (!st) st = hy_kb_alloc(&b, &q, bytes);
    best = 1e30;
    for (int r = 0; r < 6 && !st; r++) {
        double t0 = hy_now_s();
        st = o->copy(o->ctx, q, p, bytes);
        if (!st) st = o->sync(o->ctx);
        if (r > 0 && hy_now_s() - t0 < best) best = hy_now_s() - t0;
    }
    *gbs = st ? 0 : 2.0 * (double)bytes / best * 1e-9;
    hy_kb_free(&b);
    return st;
}

/* ---- check: the case at a reduced shape on the backend and on the CPU ---- */

static void hy_kb_out_free(hy_kb_out *o) {
    for (int i = 0; i < o->n; i++) hy_free(o->data[i]);
    o->n = 0;
}

static hy_status hy_kb_run_case(const hy_kb_case *k, const hy_config *c, const hy_ops *o, int L, int n_docs, int reps, hy_kb_out *out) {
    hy_kb_bufs b = {.o = o};
    hy_kb_shape s;
    hy_status st = hy_kb_shape_make(&s, c, o, &b, L, n_docs);
    if (!st) st = k->fn(&b, &s, k->global ? -1 : s.W, reps, out);
    if (!st) st = o->sync(o->ctx);
    hy_kb_free(&b);
    hy_free(s.cu_host);
    return st;
}

/* Worst relative L2 error over the case's outputs; `what` names it. */
static hy_status hy_kb_check(const hy_kb_case *k, const hy_config *c, const hy_ops *dev, const hy_ops *cpu, int L, double *worst,
                             char *what, size_t wn) {
    hy_kb_out g = {0}, r = {0};
    hy_status st = hy_kb_run_case(k, c, dev, L, 2, 1, &g);
    if (!st) st = hy_kb_run_case(k, c, cpu, L, 2, 1, &r);
    *worst = 0;
    snprintf(what, wn, "-");
    for (int i = 0; !st && i < g.n && i < r.n; i++) {
        double d2 = 0, r2 = 0;
        for (size_t j = 0; j < g.len[i]; j++) {
            double d = (double)g.data[i][j] - r.data[i][j];
            d2 += d * d, r2 += (double)r.data[i][j] * r.data[i][j];
        }
        double e = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
        if (!(e <= *worst)) *worst = e, snprintf(what, wn, "%s", g.name[i]); /* NaN sticks */
    }
    hy_kb_out_free(&g);
    hy_kb_out_free(&r);
    return st;
}

/* ---- the report ---- */

static void hy_kb_print_rows(const hy_op_profile *p, const hy_kb_case *k, int reps, double ceil_tf, double ceil_gb, double err,
                             const char *what, double tol, int checked) {
    hy_op_profile_row rows[16];
    int n = hy_op_profile_rows(p, rows, 16), first = 1;
    for (int i = 0; i < n; i++) {
        const hy_op_profile_row *r = &rows[i];
        if (!strncmp(r->op, "cast_", 5) || !strcmp(r->op, "copy") || !strcmp(r->op, "zero")) continue; /* input set-up */
        double ms = r->seconds / (double)r->calls * 1e3;
        char ach[64], chk[96];
        if (r->flops > 0)
            snprintf(ach, sizeof ach, "%8.4g TFLOP/s %5.1f%%", r->flops / r->seconds * 1e-12, 100 * r->flops / r->seconds * 1e-12 / ceil_tf);
        else snprintf(ach, sizeof ach, "%8.4g GB/s    %5.1f%%", r->bytes / r->seconds * 1e-9, 100 * r->bytes / r->seconds * 1e-9 / ceil_gb);
        if (!checked) snprintf(chk, sizeof chk, "(not checked)");
        else snprintf(chk, sizeof chk, "%s %.2g (%s, tol %.0e)", err <= tol ? "ok" : "FAIL", err, what, tol);
        printf("%-27s %-14s %9.3f %s  %s\n", first ? k->name : "", r->op, ms, ach, first ? chk : "");
        first = 0;
    }
    (void)reps;
}

hy_status hy_bench_kernels(const hy_config *c, const hy_kbench_args *a) {
    hy_ops *dev = NULL, *cpu = NULL, *wrapped = NULL;
    hy_op_profile *prof = NULL;
    HY_TRY(hy_backend_create(&dev, a->device, a->precision));
    hy_status st = hy_backend_create(&cpu, "cpu", "fp32");
    double tf = 0, gb = 0;
    int mm_n = 0;
    if (!st) st = hy_bench_ceilings(dev, &tf, &gb, &mm_n);
    int n_docs = hy_imax(1, a->tokens / (a->doc_len + c->num_meta)), Lc = hy_imin(a->doc_len, 1200);
    double tol = dev->act_dtype == HY_DTYPE_F32 ? 1e-4 : 2e-2;
    int failed = 0;
    if (!st) {
        printf("backend         %s, %s storage\n", dev->name, hy_dtype_name(dev->act_dtype));
        printf("shapes          %d documents of %d text + %d meta rows = %d rows; hidden %d, %d query / %d kv heads (qk %d, v %d),\n"
               "                window %d, SSM %d channels x %d states, MLP %d, vocabulary %d\n",
               n_docs, a->doc_len, c->num_meta, n_docs * (a->doc_len + c->num_meta), c->hidden_size, c->num_heads, c->num_kv_heads,
               c->dqk, c->dv, c->sliding_window, c->di, c->d_state, c->intermediate_size, c->vocab_size);
        printf("ceilings        %.4g TFLOP/s (matmul_fwd %d^3 here), %.1f GB/s (device copy, read + write)\n", tf, mm_n, gb);
        printf("check           %s vs the CPU op at 2 documents of %d text tokens (relative L2 error, worst output)\n\n",
               a->check ? "each op" : "skipped (--no-check)", Lc);
        printf("%-27s %-14s %9s %-24s  %s\n", "case", "op", "ms/call", "achieved  of ceiling", "check");
    }
    for (size_t i = 0; !st && i < HY_ARRAY_LEN(HY_KB_CASES); i++) {
        const hy_kb_case *k = &HY_KB_CASES[i];
        double err = 0;
        char what[32] = "-";
        if (a->check) st = hy_kb_check(k, c, dev, cpu, Lc, &err, what, sizeof what);
        if (!st) st = hy_ops_profile_wrap(dev, &wrapped, &prof);
        if (!st && a->warmup > 0) st = hy_kb_run_case(k, c, wrapped, a->doc_len, n_docs, a->warmup, NULL);
        if (!st) hy_op_profile_reset(prof);
        if (!st) st = hy_kb_run_case(k, c, wrapped, a->doc_len, n_docs, a->reps, NULL);
        if (!st) hy_kb_print_rows(prof, k, a->reps, tf, gb, err, what, tol, a->check);
        if (a->check && !(err <= tol)) failed++;
        if (wrapped) hy_ops_profile_free(wrapped, prof);
        wrapped = NULL, prof = NULL;
    }
    hy_backend_destroy(cpu);
    hy_backend_destroy(dev);
    HY_TRY(st);
    if (failed) return hy_errorf(HY_ERR_NUMERIC, "bench --kernels: %d case(s) disagree with the CPU reference beyond tolerance", failed);
    return HY_OK;
}
