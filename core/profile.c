/* profile.c — spec §11's FLOP count and the profiling ops-table decorator
 * (profile.h).
 *
 * The decorator keeps one record per op entry, indexed by an enum; each
 * wrapper is the same three steps: sync + clock, the inner call with the
 * caller's arguments untouched, sync + clock + add.  Timing between syncs
 * measures the device work of asynchronous backends (CUDA) and the call
 * itself on the CPU; the syncs cost a little, so a profiled step is slower
 * than an unprofiled one (the bench reports both).  FLOP and byte counts are
 * estimates for the report only; nothing depends on them. */
#include "profile.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "core/timer.h"

/* ---- spec §11 ---- */

int64_t hy_attn_pairs(int64_t T, int M, int W) {
    if (T <= 0) return 0;
    if (W < 0 || W >= T) return T * (T + 1) / 2;
    /* rows i < W see i+1 keys; rows i ≥ W see W+1 keys in the window */
    int64_t p = (int64_t)W * (W + 1) / 2 + (T - W) * (int64_t)(W + 1);
    /* plus the meta keys j < M that fell out of the window: j < i − W */
    for (int64_t i = W + 1; i < T; i++) p += (i - W < M) ? i - W : M;
    return p;
}

double hy_flops_per_token(const hy_config *c, int L, hy_flops_breakdown *out) {
    hy_flops_breakdown b;
    memset(&b, 0, sizeof b);
    double T = (double)L + c->num_meta, rows = T / L;
    double C = c->hidden_size, DI = c->di, R = c->dt_rank, DS = c->d_state, F = c->intermediate_size;
    double per_pair = 6.0 * c->num_heads * (c->dqk + c->dv) / L;
    double pg = (double)hy_attn_pairs((int64_t)T, c->num_meta, -1);
    double pw = (double)hy_attn_pairs((int64_t)T, c->num_meta, c->sliding_window);
    for (int l = 0; l < c->num_layers; l++) {
        double params = hy_config_in_proj_rows(c, l) * C + C * DI + (R + 2 * DS) * DI + DI * R + 3 * C * F;
        b.layer_matmul += 6.0 * params * rows;
        if (c->is_global[l]) b.attn_global += per_pair * pg;
        else b.attn_swa += per_pair * pw;
    }
    b.head = 6.0 * (double)c->vocab_size * C;
    b.scan = c->num_layers * 27.0 * DI * DS * rows;
    b.conv = c->num_layers * 6.0 * c->d_conv * DI * rows;
    b.total = b.layer_matmul + b.head + b.attn_global + b.attn_swa + b.scan + b.conv;
    if (out) *out = b;
    return b.total;
}

/* ---- the decorator ---- */

typedef enum {
    P_COPY, P_ZERO, P_CAST_TO_ACT, P_CAST_TO_F32, P_COPY2D, P_AXPBY, P_EMB_FWD, P_EMB_BWD, P_RMS_FWD, P_RMS_BWD, P_NAVG_FWD, P_NAVG_BWD,
    P_MM_FWD, P_MM_BWD,
    P_ROPE_FWD, P_ROPE_BWD, P_ATT_FWD, P_ATT_BWD, P_CONV_FWD, P_CONV_BWD, P_SCAN_FWD, P_SCAN_BWD, P_SWIGLU_FWD, P_SWIGLU_BWD,
    P_CE_FWD, P_CE_BWD, P_GATHER, P_SCATTER, P_CONV_STEP, P_SCAN_STEP, P_ATT_DECODE, P_ADAMW, P_SUMSQ, P_ALL_FINITE, P_SCALE, P_COUNT
} hy_prof_op;

static const char *const hy_prof_names[P_COUNT] = {
    "copy", "zero", "cast_to_act", "cast_to_f32", "copy2d", "axpby", "embedding_fwd", "embedding_bwd", "rmsnorm_fwd", "rmsnorm_bwd",
    "norm_avg_fwd", "norm_avg_bwd", "matmul_fwd", "matmul_bwd", "rope_fwd", "rope_bwd", "attention_fwd", "attention_bwd", "conv1d_fwd",
    "conv1d_bwd", "scan_fwd",
    "scan_bwd", "swiglu_fwd", "swiglu_bwd", "ce_fwd", "ce_bwd", "gather_rows", "scatter_rows", "conv1d_step", "scan_step",
    "attention_decode", "adamw", "sumsq", "all_finite", "scale"};

typedef struct {
    long long calls;
    double seconds, flops, bytes;
} hy_prof_rec;

struct hy_op_profile {
    const hy_ops *inner;
    hy_ops table;
    char name[48];
    double es; /* bytes per act element */
    hy_prof_rec rec[P_COUNT];
};


static hy_status hy_prof_begin(hy_op_profile *p, double *t0) {
    HY_TRY(p->inner->sync(p->inner->ctx));
    *t0 = hy_now_s();
    return HY_OK;
}

/* Close a call that returned `st`; a failed call is not recorded. */
static hy_status hy_prof_end(hy_op_profile *p, hy_prof_op op, double t0, hy_status st, double flops, double bytes) {
    if (st) return st;
    HY_TRY(p->inner->sync(p->inner->ctx));
    hy_prof_rec *r = &p->rec[op];
    r->calls++;
    r->seconds += hy_now_s() - t0;
    r->flops += flops;
    r->bytes += bytes;
    return HY_OK;
}

/* ---- forwarded memory entries ---- */

static hy_status hy_prof_alloc(void *ctx, void **out, size_t bytes, const char *what) {
    const hy_op_profile *p = ctx;
    return p->inner->alloc(p->inner->ctx, out, bytes, what);
}
static void hy_prof_free(void *ctx, void *ptr) {
    const hy_op_profile *p = ctx;
    p->inner->free(p->inner->ctx, ptr);
}
static hy_status hy_prof_to_dev(void *ctx, void *dst, const void *src, size_t bytes) {
    const hy_op_profile *p = ctx;
    return p->inner->to_dev(p->inner->ctx, dst, src, bytes);
}
static hy_status hy_prof_to_host(void *ctx, void *dst, const void *src, size_t bytes) {
    const hy_op_profile *p = ctx;
    return p->inner->to_host(p->inner->ctx, dst, src, bytes);
}
static hy_status hy_prof_sync(void *ctx) {
    const hy_op_profile *p = ctx;
    return p->inner->sync(p->inner->ctx);
}
static void *hy_prof_stream(void *ctx) {
    const hy_op_profile *p = ctx;
    return p->inner->stream(p->inner->ctx);
}

/* ---- profiled memory-bound helpers ---- */

static hy_status hy_prof_copy(void *ctx, void *dst, const void *src, size_t bytes) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_COPY, t0, in->copy(in->ctx, dst, src, bytes), 0, 2.0 * (double)bytes);
}
static hy_status hy_prof_zero(void *ctx, void *dst, size_t bytes) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_ZERO, t0, in->zero(in->ctx, dst, bytes), 0, (double)bytes);
}
static hy_status hy_prof_cast_to_act(void *ctx, hy_act *dst, const float *src, size_t n) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_CAST_TO_ACT, t0, in->cast_to_act(in->ctx, dst, src, n), 0, (double)n * (4 + p->es));
}
static hy_status hy_prof_cast_to_f32(void *ctx, float *dst, const hy_act *src, size_t n) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_CAST_TO_F32, t0, in->cast_to_f32(in->ctx, dst, src, n), 0, (double)n * (4 + p->es));
}
static hy_status hy_prof_copy2d(void *ctx, hy_act *dst, int ldd, const hy_act *src, int lds, int rows, int cols, int acc) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_COPY2D, t0, in->copy2d(in->ctx, dst, ldd, src, lds, rows, cols, acc), 0,
                       (double)rows * cols * p->es * (acc ? 3 : 2));
}
static hy_status hy_prof_axpby(void *ctx, hy_act *out, float a, const hy_act *x, float b, const hy_act *y, size_t n) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_AXPBY, t0, in->axpby(in->ctx, out, a, x, b, y, n), 0, 3.0 * (double)n * p->es);
}

/* ---- model ops ---- */

static hy_status hy_prof_emb_fwd(void *ctx, hy_act *out, const int32_t *ids, const hy_seqs *s, const hy_act *emb, const hy_act *meta,
                                 int M, int C) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_EMB_FWD, t0, in->embedding_fwd(in->ctx, out, ids, s, emb, meta, M, C), 0,
                       (double)s->n * (2.0 * C * p->es + 4));
}
static hy_status hy_prof_emb_bwd(void *ctx, float *demb, float *dmeta, const hy_act *dout, const int32_t *ids, const hy_seqs *s, int M,
                                 int C, int V, int padding_idx) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_EMB_BWD, t0, in->embedding_bwd(in->ctx, demb, dmeta, dout, ids, s, M, C, V, padding_idx), 0,
                       (double)s->n * ((double)C * (p->es + 8) + 4));
}
static hy_status hy_prof_rms_fwd(void *ctx, hy_act *out, int ldo, float *rstd, const hy_act *x, int ldx, const hy_act *w, int n, int D,
                                 float eps) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_RMS_FWD, t0, in->rmsnorm_fwd(in->ctx, out, ldo, rstd, x, ldx, w, n, D, eps), 0,
                       (double)n * (2.0 * D * p->es + 4) + (double)D * p->es);
}
static hy_status hy_prof_rms_bwd(void *ctx, hy_act *dx, int lddx, float *dw, const hy_act *dout, int ldo, const hy_act *x, int ldx,
                                 const hy_act *w, const float *rstd, int n, int D, int acc) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_RMS_BWD, t0, in->rmsnorm_bwd(in->ctx, dx, lddx, dw, dout, ldo, x, ldx, w, rstd, n, D, acc), 0,
                       (double)n * ((acc ? 4.0 : 3.0) * D * p->es + 4) + (double)D * (p->es + 8));
}
static hy_status hy_prof_navg_fwd(void *ctx, hy_act *fu, float *ra, float *rb, const hy_act *a, const hy_act *b, const hy_act *wa,
                                  const hy_act *wb, int n, int D, float eps) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_NAVG_FWD, t0, in->norm_avg_fwd(in->ctx, fu, ra, rb, a, b, wa, wb, n, D, eps), 0,
                       (double)n * (3.0 * D * p->es + 8) + 2.0 * D * p->es);
}
static hy_status hy_prof_navg_bwd(void *ctx, hy_act *da, hy_act *db, float *dwa, float *dwb, const hy_act *dfu, const hy_act *a,
                                  const hy_act *b, const hy_act *wa, const hy_act *wb, const float *ra, const float *rb, int n, int D) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_NAVG_BWD, t0, in->norm_avg_bwd(in->ctx, da, db, dwa, dwb, dfu, a, b, wa, wb, ra, rb, n, D), 0,
                       (double)n * (5.0 * D * p->es + 8) + 2.0 * D * (p->es + 8));
}
static hy_status hy_prof_mm_fwd(void *ctx, hy_act *out, int ldo, const hy_act *x, int ldi, const hy_act *w, int n, int O, int I,
                                int acc) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_MM_FWD, t0, in->matmul_fwd(in->ctx, out, ldo, x, ldi, w, n, O, I, acc), 2.0 * n * O * (double)I,
                       ((double)n * I + (double)O * I + (acc ? 2.0 : 1.0) * n * O) * p->es);
}
static hy_status hy_prof_mm_bwd(void *ctx, hy_act *din, int lddi, float *dw, const hy_act *dout, int ldo, const hy_act *x, int ldi,
                                const hy_act *w, int n, int O, int I, int acc) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    double one = 2.0 * n * O * (double)I, fl = (din ? one : 0) + (dw ? one : 0);
    double by = (double)n * O * p->es + (din ? ((double)O * I + (acc ? 2.0 : 1.0) * n * I) * p->es : 0) +
                (dw ? (double)n * I * p->es + 8.0 * O * I : 0);
    return hy_prof_end(p, P_MM_BWD, t0, in->matmul_bwd(in->ctx, din, lddi, dw, dout, ldo, x, ldi, w, n, O, I, acc), fl, by);
}
static hy_status hy_prof_rope_fwd(void *ctx, hy_act *x, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_ROPE_FWD, t0, in->rope_fwd(in->ctx, x, ldx, pos, inv_freq, n, H, D), 0, 2.0 * n * H * D * p->es);
}
static hy_status hy_prof_rope_bwd(void *ctx, hy_act *dx, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_ROPE_BWD, t0, in->rope_bwd(in->ctx, dx, ldx, pos, inv_freq, n, H, D), 0, 2.0 * n * H * D * p->es);
}

/* Allowed pairs of a packed micro-batch (host offsets). */
static double hy_prof_pairs(const hy_seqs *s, int M, int W) {
    double pairs = 0;
    for (int d = 0; d < s->n_docs; d++) pairs += (double)hy_attn_pairs(s->cu_host[d + 1] - s->cu_host[d], M, W);
    return pairs;
}

static hy_status hy_prof_att_fwd(void *ctx, hy_act *out, float *lse, const hy_act *q, int ldq, const hy_act *k, int ldk, const hy_act *v,
                                 int ldv, const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W, float scale) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    double fl = 2.0 * NH * (DQK + DV) * hy_prof_pairs(s, M, W);
    double by = (double)s->n * ((NH * (DQK + DV) + NKV * (DQK + DV)) * p->es + 4.0 * NH);
    return hy_prof_end(p, P_ATT_FWD, t0, in->attention_fwd(in->ctx, out, lse, q, ldq, k, ldk, v, ldv, s, NH, NKV, DQK, DV, M, W, scale),
                       fl, by);
}
static hy_status hy_prof_att_bwd(void *ctx, hy_act *dq, int lddq, hy_act *dk, hy_act *dv, const hy_act *dout, const hy_act *out,
                                 const float *lse, const hy_act *q, int ldq, const hy_act *k, int ldk, const hy_act *v, int ldv,
                                 const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W, float scale) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    double fl = 2.5 * 2.0 * NH * (DQK + DV) * hy_prof_pairs(s, M, W);
    double by = (double)s->n * ((2.0 * NH * (DQK + DV) + 3.0 * NKV * (DQK + DV) + NH * DV) * p->es + 4.0 * NH);
    return hy_prof_end(p, P_ATT_BWD, t0,
                       in->attention_bwd(in->ctx, dq, lddq, dk, dv, dout, out, lse, q, ldq, k, ldk, v, ldv, s, NH, NKV, DQK, DV, M, W,
                                         scale),
                       fl, by);
}
static hy_status hy_prof_conv_fwd(void *ctx, hy_act *u, const hy_act *x, int ldx, const hy_act *w, const hy_act *b, const hy_seqs *s,
                                  int DI, int DC) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_CONV_FWD, t0, in->conv1d_fwd(in->ctx, u, x, ldx, w, b, s, DI, DC), 0,
                       (2.0 * s->n * DI + (double)DI * (DC + 1)) * p->es);
}
static hy_status hy_prof_conv_bwd(void *ctx, hy_act *dx, int lddx, float *dw, float *db, const hy_act *du, const hy_act *x, int ldx,
                                  const hy_act *w, const hy_act *b, const hy_seqs *s, int DI, int DC) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_CONV_BWD, t0, in->conv1d_bwd(in->ctx, dx, lddx, dw, db, du, x, ldx, w, b, s, DI, DC), 0,
                       3.0 * s->n * DI * p->es + (double)DI * (DC + 1) * (p->es + 8));
}
static hy_status hy_prof_scan_fwd(void *ctx, hy_act *y, const hy_act *u, const hy_act *delta, const hy_act *dt_bias, const hy_act *A_log,
                                  const hy_act *Bm, const hy_act *Cm, int ldbc, const hy_act *D, const hy_act *z, int ldz, const hy_seqs *s,
                                  int DI, int DS) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    double by = ((double)s->n * (4.0 * DI + 2.0 * DS) + (double)DI * (DS + 2)) * p->es;
    return hy_prof_end(p, P_SCAN_FWD, t0, in->scan_fwd(in->ctx, y, u, delta, dt_bias, A_log, Bm, Cm, ldbc, D, z, ldz, s, DI, DS), 0, by);
}
static hy_status hy_prof_scan_bwd(void *ctx, hy_act *du, hy_act *ddelta, hy_act *dBm, hy_act *dCm, int lddbc, hy_act *dz, int lddz,
                                  float *ddt_bias, float *dA_log, float *dD, const hy_act *dy, const hy_act *u, const hy_act *delta,
                                  const hy_act *dt_bias, const hy_act *A_log, const hy_act *Bm, const hy_act *Cm, int ldbc, const hy_act *D,
                                  const hy_act *z, int ldz, const hy_seqs *s, int DI, int DS) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    double by = ((double)s->n * (7.0 * DI + 4.0 * DS) + (double)DI * (DS + 2)) * p->es + (double)DI * (DS + 2) * 8.0;
    return hy_prof_end(p, P_SCAN_BWD, t0,
                       in->scan_bwd(in->ctx, du, ddelta, dBm, dCm, lddbc, dz, lddz, ddt_bias, dA_log, dD, dy, u, delta, dt_bias, A_log,
                                    Bm, Cm, ldbc, D, z, ldz, s, DI, DS),
                       0, by);
}
static hy_status hy_prof_swiglu_fwd(void *ctx, hy_act *out, const hy_act *a, const hy_act *b, int ld, int n, int F) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_SWIGLU_FWD, t0, in->swiglu_fwd(in->ctx, out, a, b, ld, n, F), 0, 3.0 * n * F * p->es);
}
static hy_status hy_prof_swiglu_bwd(void *ctx, hy_act *da, hy_act *db, int ld, const hy_act *dout, const hy_act *a, const hy_act *b,
                                    int n, int F) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_SWIGLU_BWD, t0, in->swiglu_bwd(in->ctx, da, db, ld, dout, a, b, n, F), 0, 5.0 * n * F * p->es);
}
static hy_status hy_prof_ce_fwd(void *ctx, float *loss, float *lse, const hy_act *logits, int ld, const int32_t *targets, int n, int V) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_CE_FWD, t0, in->ce_fwd(in->ctx, loss, lse, logits, ld, targets, n, V), 0, (double)n * ((double)V * p->es + 12));
}
static hy_status hy_prof_ce_bwd(void *ctx, hy_act *dlogits, int ld, const hy_act *logits, const float *lse, const int32_t *targets,
                                const float *scale, int n, int V) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_CE_BWD, t0, in->ce_bwd(in->ctx, dlogits, ld, logits, lse, targets, scale, n, V), 0,
                       (double)n * ((double)(V + ld) * p->es + 12));
}
static hy_status hy_prof_gather(void *ctx, hy_act *out, const hy_act *x, const int32_t *idx, int n, int C) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_GATHER, t0, in->gather_rows(in->ctx, out, x, idx, n, C), 0, (double)n * (2.0 * C * p->es + 4));
}
static hy_status hy_prof_scatter(void *ctx, hy_act *out, const hy_act *x, const int32_t *idx, int n, int C, int acc) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_SCATTER, t0, in->scatter_rows(in->ctx, out, x, idx, n, C, acc), 0,
                       (double)n * ((acc ? 3.0 : 2.0) * C * p->es + 4));
}

/* ---- decode ops (forward only; may be absent in the inner table) ---- */

static hy_status hy_prof_conv_step(void *ctx, hy_act *u, const hy_act *x, int ldx, hy_act *state, const hy_act *w, const hy_act *b, int n,
                                   int DI, int DC) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_CONV_STEP, t0, in->conv1d_step(in->ctx, u, x, ldx, state, w, b, n, DI, DC), 0,
                       (2.0 * n * DI + (double)DI * (3 * DC)) * p->es);
}
static hy_status hy_prof_scan_step(void *ctx, hy_act *y, float *h, const hy_act *u, const hy_act *delta, const hy_act *dt_bias,
                                   const hy_act *A_log, const hy_act *Bm, const hy_act *Cm, int ldbc, const hy_act *D, const hy_act *z,
                                   int ldz, int n, int DI, int DS) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    double by = ((double)n * (4.0 * DI + 2.0 * DS) + (double)DI * (DS + 2)) * p->es + 8.0 * DI * DS;
    return hy_prof_end(p, P_SCAN_STEP, t0, in->scan_step(in->ctx, y, h, u, delta, dt_bias, A_log, Bm, Cm, ldbc, D, z, ldz, n, DI, DS), 0,
                       by);
}
static hy_status hy_prof_att_decode(void *ctx, hy_act *out, const hy_act *q, int ldq, const hy_act *kc, const hy_act *vc, int i0, int n,
                                    int M, int R, int W, int NH, int NKV, int DQK, int DV, float scale) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    double keys = (double)(M + R);
    double by = ((double)n * NH * (DQK + DV) + keys * NKV * (DQK + DV)) * p->es;
    return hy_prof_end(p, P_ATT_DECODE, t0, in->attention_decode(in->ctx, out, q, ldq, kc, vc, i0, n, M, R, W, NH, NKV, DQK, DV, scale),
                       2.0 * n * NH * (DQK + DV) * keys, by);
}

/* ---- optimizer ops ---- */

static hy_status hy_prof_adamw(void *ctx, const hy_adamw_hparams *h, const hy_optim_groups *g, int64_t t, double lr, float grad_scale,
                               float *param, const float *grad, float *m, float *v, hy_act *param_act) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    double n = 0;
    for (int i = 0; i < g->count; i++) n += (double)g->ranges[i].numel;
    double by = n * (16.0 + 12.0 + (param_act ? p->es : 0)); /* read p, g, m, v; write p, m, v (+ act copy) */
    return hy_prof_end(p, P_ADAMW, t0, in->adamw(in->ctx, h, g, t, lr, grad_scale, param, grad, m, v, param_act), 0, by);
}
static hy_status hy_prof_sumsq(void *ctx, double *out, const float *x, size_t n) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_SUMSQ, t0, in->sumsq(in->ctx, out, x, n), 0, 4.0 * (double)n);
}
static hy_status hy_prof_all_finite(void *ctx, int *out, const float *x, size_t n) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_ALL_FINITE, t0, in->all_finite(in->ctx, out, x, n), 0, 4.0 * (double)n);
}
static hy_status hy_prof_scale(void *ctx, float *x, size_t n, float s) {
    hy_op_profile *p = ctx;
    const hy_ops *in = p->inner;
    double t0;
    HY_TRY(hy_prof_begin(p, &t0));
    return hy_prof_end(p, P_SCALE, t0, in->scale(in->ctx, x, n, s), 0, 8.0 * (double)n);
}

/* ---- building the table ---- */

/* Every entry of the inner table gets its wrapper; absent (NULL) entries
 * stay absent so callers still see what the backend lacks. */
static void hy_prof_fill(hy_op_profile *p) {
    const hy_ops *in = p->inner;
    hy_ops *t = &p->table;
    *t = *in;
    snprintf(p->name, sizeof p->name, "%s+profile", in->name);
    t->name = p->name;
    t->ctx = p;
    t->alloc = hy_prof_alloc;
    t->free = hy_prof_free;
    t->to_dev = hy_prof_to_dev;
    t->to_host = hy_prof_to_host;
    t->sync = hy_prof_sync;
#define HY_PROF_SET(entry, fn) t->entry = in->entry ? fn : NULL
    HY_PROF_SET(stream, hy_prof_stream);
    HY_PROF_SET(copy, hy_prof_copy);
    HY_PROF_SET(zero, hy_prof_zero);
    HY_PROF_SET(cast_to_act, hy_prof_cast_to_act);
    HY_PROF_SET(cast_to_f32, hy_prof_cast_to_f32);
    HY_PROF_SET(copy2d, hy_prof_copy2d);
    HY_PROF_SET(axpby, hy_prof_axpby);
    HY_PROF_SET(embedding_fwd, hy_prof_emb_fwd);
    HY_PROF_SET(embedding_bwd, hy_prof_emb_bwd);
    HY_PROF_SET(rmsnorm_fwd, hy_prof_rms_fwd);
    HY_PROF_SET(rmsnorm_bwd, hy_prof_rms_bwd);
    HY_PROF_SET(norm_avg_fwd, hy_prof_navg_fwd);
    HY_PROF_SET(norm_avg_bwd, hy_prof_navg_bwd);
    HY_PROF_SET(matmul_fwd, hy_prof_mm_fwd);
    HY_PROF_SET(matmul_bwd, hy_prof_mm_bwd);
    HY_PROF_SET(rope_fwd, hy_prof_rope_fwd);
    HY_PROF_SET(rope_bwd, hy_prof_rope_bwd);
    HY_PROF_SET(attention_fwd, hy_prof_att_fwd);
    HY_PROF_SET(attention_bwd, hy_prof_att_bwd);
    HY_PROF_SET(conv1d_fwd, hy_prof_conv_fwd);
    HY_PROF_SET(conv1d_bwd, hy_prof_conv_bwd);
    HY_PROF_SET(scan_fwd, hy_prof_scan_fwd);
    HY_PROF_SET(scan_bwd, hy_prof_scan_bwd);
    HY_PROF_SET(swiglu_fwd, hy_prof_swiglu_fwd);
    HY_PROF_SET(swiglu_bwd, hy_prof_swiglu_bwd);
    HY_PROF_SET(ce_fwd, hy_prof_ce_fwd);
    HY_PROF_SET(ce_bwd, hy_prof_ce_bwd);
    HY_PROF_SET(gather_rows, hy_prof_gather);
    HY_PROF_SET(scatter_rows, hy_prof_scatter);
    HY_PROF_SET(conv1d_step, hy_prof_conv_step);
    HY_PROF_SET(scan_step, hy_prof_scan_step);
    HY_PROF_SET(attention_decode, hy_prof_att_decode);
    HY_PROF_SET(adamw, hy_prof_adamw);
    HY_PROF_SET(sumsq, hy_prof_sumsq);
    HY_PROF_SET(all_finite, hy_prof_all_finite);
    HY_PROF_SET(scale, hy_prof_scale);
#undef HY_PROF_SET
}

hy_status hy_ops_profile_wrap(const hy_ops *inner, hy_ops **out, hy_op_profile **prof) {
    HY_ASSERT(inner && inner->sync && out && prof);
    hy_op_profile *p;
    HY_TRY(hy_malloc((void **)&p, sizeof *p, 1, "op profiler"));
    memset(p, 0, sizeof *p);
    p->inner = inner;
    p->es = (double)hy_dtype_size(inner->act_dtype);
    hy_prof_fill(p);
    *out = &p->table;
    *prof = p;
    return HY_OK;
}

void hy_ops_profile_free(hy_ops *wrapped, hy_op_profile *prof) {
    HY_ASSERT(!wrapped || (prof && wrapped == &prof->table));
    hy_free(prof);
}

void hy_op_profile_reset(hy_op_profile *p) { memset(p->rec, 0, sizeof p->rec); }

double hy_op_profile_seconds(const hy_op_profile *p) {
    double s = 0;
    for (int i = 0; i < P_COUNT; i++) s += p->rec[i].seconds;
    return s;
}

static int hy_prof_row_cmp(const void *a, const void *b) {
    double x = ((const hy_op_profile_row *)a)->seconds, y = ((const hy_op_profile_row *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

int hy_op_profile_rows(const hy_op_profile *p, hy_op_profile_row *rows, int cap) {
    hy_op_profile_row all[P_COUNT];
    int n = 0;
    for (int i = 0; i < P_COUNT; i++)
        if (p->rec[i].calls)
            all[n++] = (hy_op_profile_row){hy_prof_names[i], p->rec[i].calls, p->rec[i].seconds, p->rec[i].flops, p->rec[i].bytes};
    qsort(all, (size_t)n, sizeof all[0], hy_prof_row_cmp);
    if (n > cap) n = cap;
    memcpy(rows, all, sizeof all[0] * (size_t)n);
    return n;
}

void hy_op_profile_report(const hy_op_profile *p, FILE *f, double wall_s, int steps) {
    hy_op_profile_report_ceil(p, f, wall_s, steps, 0, 0);
}

void hy_op_profile_report_ceil(const hy_op_profile *p, FILE *f, double wall_s, int steps, double tflops_ceil, double gbs_ceil) {
    hy_op_profile_row rows[P_COUNT];
    int n = hy_op_profile_rows(p, rows, P_COUNT);
    double inside = hy_op_profile_seconds(p), denom = wall_s > inside ? wall_s : inside;
    if (steps < 1) steps = 1;
    if (denom <= 0) denom = 1e-30;
    int ceil = tflops_ceil > 0 && gbs_ceil > 0;
    fprintf(f, "%-18s %10s %12s %8s %14s%s\n", "op", "calls/step", "ms/step", "share", "achieved", ceil ? "  of ceiling" : "");
    for (int i = 0; i < n; i++) {
        const hy_op_profile_row *r = &rows[i];
        char ach[32] = "-", of[24] = "";
        if (r->seconds > 0 && r->flops > 0) {
            snprintf(ach, sizeof ach, "%.3f TFLOP/s", r->flops / r->seconds * 1e-12);
            if (ceil) snprintf(of, sizeof of, "  %9.1f%%", 100.0 * r->flops / r->seconds * 1e-12 / tflops_ceil);
        } else if (r->seconds > 0 && r->bytes > 0) {
            snprintf(ach, sizeof ach, "%.2f GB/s", r->bytes / r->seconds * 1e-9);
            if (ceil) snprintf(of, sizeof of, "  %9.1f%%", 100.0 * r->bytes / r->seconds * 1e-9 / gbs_ceil);
        }
        fprintf(f, "%-18s %10.1f %12.3f %7.1f%% %14s%s\n", r->op, (double)r->calls / steps, 1e3 * r->seconds / steps,
                100.0 * r->seconds / denom, ach, of);
    }
    double rest = denom - inside;
    fprintf(f, "%-18s %10s %12.3f %7.1f%% %14s\n", "(outside ops)", "-", 1e3 * rest / steps, 100.0 * rest / denom, "-");
    fprintf(f, "%-18s %10s %12.3f %7.1f%%\n", "step", "-", 1e3 * denom / steps, 100.0);
}
