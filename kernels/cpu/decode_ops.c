/* decode_ops.c — CPU incremental-decoding ops (kernels/decode_ops.h): conv
 * and scan continued from a carried state, attention of a few query rows
 * against a meta + ring K/V cache.
 * Each follows its training op's arithmetic in the same order (conv taps
 * oldest first from the bias, the scan's per-state update and C·h sum, the
 * attention's two key segments with an online softmax and eight-way partial
 * dot products), so chunked decoding reproduces the packed forward's floats.
 * Conv and scan: parallel over fixed channel blocks, rows in order; attention:
 * parallel over (row, head).  No scratch allocation. */
#include <math.h>
#include <string.h>

#include "kernels/decode_ops.h"
#include "kernels/selective_scan.h"

enum { DEC_CHANNEL_BLOCK = 64, DEC_MAX_DC = 64 };

static inline float dec_silu(float x) { return x / (1.0f + expf(-x)); }
static inline float dec_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float dec_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }

hy_status hy_conv1d_step_cpu(void *ctx, hy_act *u_, const hy_act *x_, int ldx, hy_act *state_, const hy_act *w_, const hy_act *b_, int n,
                             int DI, int DC) {
    float *u = u_, *state = state_;
    const float *x = x_, *w = w_, *b = b_;
    if (DC < 1 || DC > DEC_MAX_DC)
        return hy_errorf(HY_ERR_UNSUPPORTED, "conv1d_step: kernel width DC = %d; the CPU backend supports 1..%d", DC, DEC_MAX_DC);
    int H = DC - 1, nblocks = HY_CEIL_DIV(DI, DEC_CHANNEL_BLOCK);
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        for (int e = blk * DEC_CHANNEL_BLOCK; e < hy_imin(DI, (blk + 1) * DEC_CHANNEL_BLOCK); e++) {
            float win[DEC_MAX_DC]; /* in[r .. r+DC−1] of this channel, oldest first */
            const float *we = w + (size_t)e * DC;
            for (int k = 0; k < H; k++) win[k] = state[(size_t)k * DI + e];
            for (int r = 0; r < n; r++) {
                win[H] = x[(size_t)r * ldx + e];
                float pre = b[e];
                for (int k = 0; k < DC; k++) pre += we[k] * win[k];
                u[(size_t)r * DI + e] = dec_silu(pre);
                for (int k = 0; k < H; k++) win[k] = win[k + 1];
            }
            for (int k = 0; k < H; k++) state[(size_t)k * DI + e] = win[k];
        }
    }
    return HY_OK;
}

hy_status hy_scan_step_cpu(void *ctx, hy_act *y_, float *h, const hy_act *u_, const hy_act *delta_, const hy_act *dt_bias_,
                           const hy_act *A_log_, const hy_act *Bm_, const hy_act *Cm_, int ldbc, const hy_act *D_, const hy_act *z_, int ldz,
                           int n, int DI, int DS) {
    float *y = y_;
    const float *u = u_, *delta = delta_, *dt_bias = dt_bias_, *A_log = A_log_, *Bm = Bm_, *Cm = Cm_, *D = D_, *z = z_;
    if (DS > HY_SCAN_MAX_DS)
        return hy_errorf(HY_ERR_UNSUPPORTED, "scan_step: state size DS = %d; the CPU backend supports DS <= %d", DS, HY_SCAN_MAX_DS);
    int nblocks = HY_CEIL_DIV(DI, DEC_CHANNEL_BLOCK);
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        for (int e = blk * DEC_CHANNEL_BLOCK; e < hy_imin(DI, (blk + 1) * DEC_CHANNEL_BLOCK); e++) {
            float A[HY_SCAN_MAX_DS], *he = h + (size_t)e * DS;
            for (int k = 0; k < DS; k++) A[k] = -expf(A_log[(size_t)e * DS + k]);
            for (int r = 0; r < n; r++) {
                const float *B = Bm + (size_t)r * ldbc, *C = Cm + (size_t)r * ldbc;
                size_t re = (size_t)r * DI + e;
                float dl = dec_softplus(delta[re] + dt_bias[e]), uu = u[re], acc = 0.0f;
                for (int k = 0; k < DS; k++) {
                    he[k] = expf(dl * A[k]) * he[k] + dl * B[k] * uu;
                    acc += C[k] * he[k];
                }
                float yy = acc + D[e] * uu, zz = z[(size_t)r * ldz + e];
                y[re] = yy * zz * dec_sigmoid(zz);
            }
        }
    }
    return HY_OK;
}

/* The training kernel's dot product: eight partial sums combined in a fixed order. */
static inline float dec_dot(const float *a, const float *b, int n) {
    float acc[8] = {0};
    int c = 0;
    for (; c + 8 <= n; c += 8)
        for (int l = 0; l < 8; l++) acc[l] += a[c + l] * b[c + l];
    for (; c < n; c++) acc[c & 7] += a[c] * b[c];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

/* Cache slot of sequence index j. */
static inline size_t dec_slot(int j, int M, int R) { return j < M ? (size_t)j : (size_t)M + (size_t)((j - M) % R); }

/* One query row of one head: visible keys [0, meta_end) ∪ [lo, i] (as the
 * training kernel enumerates them), online softmax into o [DV]. */
static void dec_row(float *o, const float *qi, const float *k0, int ldk, const float *v0, int ldv, int i, int M, int R, int W, int DQK, int DV,
                    float scale) {
    int lo = W < 0 ? 0 : (i > W ? i - W : 0), meta_end = W < 0 ? 0 : hy_imin(M, lo);
    float mx = -INFINITY, l = 0.0f;
    memset(o, 0, sizeof(float) * (size_t)DV);
    for (int seg = 0; seg < 2; seg++) {
        int j0 = seg ? lo : 0, j1 = seg ? i + 1 : meta_end;
        for (int j = j0; j < j1; j++) {
            size_t s = dec_slot(j, M, R);
            float sc = scale * dec_dot(qi, k0 + s * (size_t)ldk, DQK);
            if (sc > mx) { /* new running max: rescale what was accumulated */
                float corr = expf(mx - sc);
                l *= corr;
                for (int c = 0; c < DV; c++) o[c] *= corr;
                mx = sc;
            }
            float p = expf(sc - mx);
            const float *vj = v0 + s * (size_t)ldv;
            l += p;
            for (int c = 0; c < DV; c++) o[c] += p * vj[c];
        }
    }
    float inv = 1.0f / l;
    for (int c = 0; c < DV; c++) o[c] *= inv;
}

hy_status hy_attention_decode_cpu(void *ctx, hy_act *out_, const hy_act *q_, int ldq, const hy_act *kc_, const hy_act *vc_, int i0, int n,
                                  int M, int R, int W, int NH, int NKV, int DQK, int DV, float scale) {
    float *out = out_;
    const float *q = q_, *kc = kc_, *vc = vc_;
    HY_ASSERT(NKV > 0 && NH % NKV == 0);
    int last = i0 + n - 1, first_text = W < 0 ? M : hy_imax(M, i0 - W);
    if (i0 < 0 || n < 1 || R < 1 || (last >= M && last - first_text + 1 > R))
        return hy_errorf(HY_ERR_ARG,
                         "attention_decode: rows %d..%d need text keys %d..%d, but the cache ring holds %d slots; hint: the decode "
                         "state sizes the ring as window + chunk",
                         i0, last, first_text, last, R);
    int group = NH / NKV, ldk = NKV * DQK, ldv = NKV * DV;
#pragma omp parallel for collapse(2) schedule(static)
    for (int r = 0; r < n; r++) {
        for (int h = 0; h < NH; h++) {
            int g = h / group;
            dec_row(out + (size_t)r * NH * DV + (size_t)h * DV, q + (size_t)r * ldq + (size_t)h * DQK, kc + (size_t)g * DQK, ldk,
                    vc + (size_t)g * DV, ldv, i0 + r, M, R, W, DQK, DV, scale);
        }
    }
    return HY_OK;
}
