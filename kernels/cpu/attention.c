/* attention.c — CPU causal GQA attention over packed documents with the Hymba
 * window + meta-token rule (kernels/attention.h).
 *
 * The visible keys of a query at document-relative index i form two disjoint
 * intervals, [0, meta_end) ∪ [lo, i] (att_keys below), which is exactly the
 * predicate j ≤ i ∧ (W < 0 ∨ i − j ≤ W ∨ j < M) enumerated without testing
 * every j.
 * Forward: every (query row, head) is independent: one pass with an online
 * softmax accumulating straight into the output row (no scratch).
 * Backward: recomputes P = exp(S − lse).  Work items are (document, kv group):
 * the item owns dq of its group's query heads and dk/dv of its kv head on the
 * document's rows, so threads never share an output row and each sum runs in a
 * fixed order (deterministic for any thread count). */
#include <math.h>
#include <string.h>

#include "kernels/attention.h"

/* Visible keys of document-relative query i: [0, *meta_end) ∪ [*lo, i]. */
static inline void att_keys(int i, int M, int W, int *meta_end, int *lo) {
    if (W < 0) {
        *meta_end = 0;
        *lo = 0;
        return;
    }
    *lo = i > W ? i - W : 0;
    *meta_end = M < *lo ? M : *lo;
}

/* Eight independent partial sums (combined in a fixed order) let the compiler
 * vectorise the dot product without reassociating floats itself. */
static inline float att_dot(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int c = 0;
    for (; c + 8 <= n; c += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[c + l] * b[c + l];
    for (; c < n; c++) acc[c & 7] += a[c] * b[c];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* One query row of one head: o [DV] = softmax(scale·q·Kᵀ) V, returns lse.
 * k0, v0 point at the document's first row of the kv head. */
static float att_row_fwd(float *o, const float *qi, const float *k0, int ldk, const float *v0, int ldv, int i, int M, int W,
                         int DQK, int DV, float scale) {
    int meta_end, lo;
    att_keys(i, M, W, &meta_end, &lo);
    float mx = -INFINITY, l = 0.0f;
    memset(o, 0, sizeof(float) * (size_t)DV);
    for (int seg = 0; seg < 2; seg++) {
        int j0 = seg ? lo : 0, j1 = seg ? i + 1 : meta_end;
        for (int j = j0; j < j1; j++) {
            float sc = scale * att_dot(qi, k0 + (size_t)j * ldk, DQK);
            if (sc > mx) { /* new running max: rescale what was accumulated */
                float corr = expf(mx - sc);
                l *= corr;
                for (int c = 0; c < DV; c++) o[c] *= corr;
                mx = sc;
            }
            float p = expf(sc - mx);
            const float *vj = v0 + (size_t)j * ldv;
            l += p;
            for (int c = 0; c < DV; c++) o[c] += p * vj[c];
        }
    }
    float inv = 1.0f / l;
    for (int c = 0; c < DV; c++) o[c] *= inv;
    return mx + logf(l);
}

hy_status hy_attention_fwd_cpu(void *ctx, hy_act *out_, float *lse, const hy_act *q_, int ldq, const hy_act *k_, int ldk, const hy_act *v_,
                               int ldv, const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W, float scale) {
    float *out = out_;
    const float *q = q_, *k = k_, *v = v_;
    HY_ASSERT(NKV > 0 && NH % NKV == 0);
    int N = s->n, group = NH / NKV;
#pragma omp parallel for collapse(2) schedule(static)
    for (int h = 0; h < NH; h++) {
        for (int r = 0; r < N; r++) {
            int i = s->pos[r], start = r - i, g = h / group;
            const float *k0 = k + (size_t)start * ldk + (size_t)g * DQK;
            const float *v0 = v + (size_t)start * ldv + (size_t)g * DV;
            float *o = out + (size_t)r * NH * DV + (size_t)h * DV;
            lse[(size_t)h * N + r] = att_row_fwd(o, q + (size_t)r * ldq + (size_t)h * DQK, k0, ldk, v0, ldv, i, M, W, DQK, DV, scale);
        }
    }
    return HY_OK;
}

/* Everything the backward of one (document, query head) needs, as row pointers
 * at the document's first row. */
typedef struct {
    float *dq, *dk, *dv;
    const float *dout, *out, *q, *k, *v, *lse;
    int lddq, lddk, lddv, ldq, ldk, ldv, ldo, len, M, W, DQK, DV;
    float scale;
} att_bwd_head;

static void att_head_bwd(const att_bwd_head *a) {
    int DQK = a->DQK, DV = a->DV;
    for (int i = 0; i < a->len; i++) {
        const float *qi = a->q + (size_t)i * a->ldq, *gi = a->dout + (size_t)i * a->ldo, *oi = a->out + (size_t)i * a->ldo;
        float *dqi = a->dq + (size_t)i * a->lddq;
        float delta = att_dot(gi, oi, DV), z = a->lse[i];
        int meta_end, lo;
        att_keys(i, a->M, a->W, &meta_end, &lo);
        memset(dqi, 0, sizeof(float) * (size_t)DQK);
        for (int seg = 0; seg < 2; seg++) {
            int j0 = seg ? lo : 0, j1 = seg ? i + 1 : meta_end;
            for (int j = j0; j < j1; j++) {
                const float *kj = a->k + (size_t)j * a->ldk, *vj = a->v + (size_t)j * a->ldv;
                float *dkj = a->dk + (size_t)j * a->lddk, *dvj = a->dv + (size_t)j * a->lddv;
                float p = expf(a->scale * att_dot(qi, kj, DQK) - z);
                float ds = p * (att_dot(gi, vj, DV) - delta) * a->scale;
                for (int c = 0; c < DQK; c++) dqi[c] += ds * kj[c];
                for (int c = 0; c < DQK; c++) dkj[c] += ds * qi[c];
                for (int c = 0; c < DV; c++) dvj[c] += p * gi[c];
            }
        }
    }
}

hy_status hy_attention_bwd_cpu(void *ctx, hy_act *dq_, int lddq, hy_act *dk_, hy_act *dv_, const hy_act *dout_, const hy_act *out_,
                               const float *lse, const hy_act *q_, int ldq, const hy_act *k_, int ldk, const hy_act *v_, int ldv,
                               const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W, float scale) {
    float *dq = dq_, *dk = dk_, *dv = dv_;
    const float *dout = dout_, *out = out_, *q = q_, *k = k_, *v = v_;
    const int32_t *cu = s->cu_host ? s->cu_host : s->cu;
    HY_ASSERT(NKV > 0 && NH % NKV == 0);
    int N = s->n, group = NH / NKV, items = s->n_docs * NKV;
    /* dk and dv are dense [N, NKV·DQK] and [N, NKV·DV] (header contract). */
    int lddk = NKV * DQK, lddv = NKV * DV;
#pragma omp parallel for schedule(static)
    for (int it = 0; it < items; it++) {
        int d = it / NKV, g = it % NKV, start = cu[d];
        for (int h = g * group; h < (g + 1) * group; h++) {
            att_bwd_head a = {
                .dq = dq + (size_t)start * lddq + (size_t)h * DQK,
                .dk = dk + (size_t)start * lddk + (size_t)g * DQK,
                .dv = dv + (size_t)start * lddv + (size_t)g * DV,
                .dout = dout + (size_t)start * NH * DV + (size_t)h * DV,
                .out = out + (size_t)start * NH * DV + (size_t)h * DV,
                .q = q + (size_t)start * ldq + (size_t)h * DQK,
                .k = k + (size_t)start * ldk + (size_t)g * DQK,
                .v = v + (size_t)start * ldv + (size_t)g * DV,
                .lse = lse + (size_t)h * N + start,
                .lddq = lddq, .lddk = lddk, .lddv = lddv, .ldq = ldq, .ldk = ldk, .ldv = ldv, .ldo = NH * DV,
                .len = cu[d + 1] - start,
                .M = M, .W = W, .DQK = DQK, .DV = DV, .scale = scale,
            };
            att_head_bwd(&a);
        }
    }
    return HY_OK;
}
