/* conv1d.c — CPU causal depthwise conv + bias + SiLU (kernels/conv1d.h).
 * A row's document starts at row t − pos[t]; taps reaching before it read 0,
 * which is the zero history at every document start.
 * Forward: every (row, channel) is independent (parallel over rows).
 * Backward: parallel over fixed blocks of channels, rows walked in order; dpre
 * of row t is scattered into dx of the rows it read (dx[t] is initialised when
 * row t is visited, before any later row adds to it), and dw/db of a channel
 * are summed by one thread in row order (deterministic). */
#include <math.h>

#include "kernels/conv1d.h"

enum { CONV_CHANNEL_BLOCK = 32 }; /* channels per work item of the backward */

static inline float conv_pre(const float *x, int ldx, const float *we, float be, int t, int start, int e, int DC) {
    float pre = be;
    for (int k = 0; k < DC; k++) {
        int tt = t - DC + 1 + k;
        if (tt >= start) pre += we[k] * x[(size_t)tt * ldx + e];
    }
    return pre;
}

hy_status hy_conv1d_fwd_cpu(void *ctx, hy_act *u_, const hy_act *x_, int ldx, const hy_act *w_, const hy_act *b_, const hy_seqs *s, int DI,
                            int DC) {
    float *u = u_;
    const float *x = x_, *w = w_, *b = b_;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < s->n; t++) {
        int start = t - s->pos[t];
        for (int e = 0; e < DI; e++) {
            float pre = conv_pre(x, ldx, w + (size_t)e * DC, b[e], t, start, e, DC);
            u[(size_t)t * DI + e] = pre / (1.0f + expf(-pre));
        }
    }
    return HY_OK;
}

hy_status hy_conv1d_bwd_cpu(void *ctx, hy_act *dx_, int lddx, float *dw, float *db, const hy_act *du_, const hy_act *x_, int ldx,
                            const hy_act *w_, const hy_act *b_, const hy_seqs *s, int DI, int DC) {
    float *dx = dx_;
    const float *du = du_, *x = x_, *w = w_, *b = b_;
    int nblocks = HY_CEIL_DIV(DI, CONV_CHANNEL_BLOCK);
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        int e0 = blk * CONV_CHANNEL_BLOCK, e1 = hy_imin(DI, e0 + CONV_CHANNEL_BLOCK);
        for (int t = 0; t < s->n; t++) {
            int start = t - s->pos[t];
            for (int e = e0; e < e1; e++) {
                const float *we = w + (size_t)e * DC;
                float pre = conv_pre(x, ldx, we, b[e], t, start, e, DC);
                float sig = 1.0f / (1.0f + expf(-pre));
                float dpre = du[(size_t)t * DI + e] * sig * (1.0f + pre * (1.0f - sig));
                if (db) db[e] += dpre;
                dx[(size_t)t * lddx + e] = we[DC - 1] * dpre;
                for (int k = 0; k < DC; k++) {
                    int tt = t - DC + 1 + k;
                    if (tt < start) continue;
                    if (dw) dw[(size_t)e * DC + k] += dpre * x[(size_t)tt * ldx + e];
                    if (k < DC - 1) dx[(size_t)tt * lddx + e] += we[k] * dpre;
                }
            }
        }
    }
    return HY_OK;
}
