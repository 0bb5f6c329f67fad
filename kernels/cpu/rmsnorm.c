/* rmsnorm.c — CPU RMSNorm (kernels/rmsnorm.h).
 * Rows are independent in the forward and for dx (parallel over rows, row sums
 * in double).  dw sums over rows, so it is a second pass in which threads own
 * column chunks and walk rows in order (deterministic, no races). */
#include <math.h>

#include "kernels/rmsnorm.h"

enum { RMS_COL_CHUNK = 64 }; /* columns per work item of the dw reduction */

hy_status hy_rmsnorm_fwd_cpu(void *ctx, hy_act *out_, int ldo, float *rstd, const hy_act *x_, int ldx, const hy_act *w_, int n, int D,
                             float eps) {
    float *out = out_;
    const float *x = x_, *w = w_;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *xr = x + (size_t)r * ldx;
        float *o = out + (size_t)r * ldo;
        double ss = 0;
        for (int c = 0; c < D; c++) ss += (double)xr[c] * xr[c];
        float rs = (float)(1.0 / sqrt(ss / D + (double)eps));
        rstd[r] = rs;
        for (int c = 0; c < D; c++) o[c] = w[c] * (xr[c] * rs);
    }
    return HY_OK;
}

hy_status hy_rmsnorm_bwd_cpu(void *ctx, hy_act *dx_, int lddx, float *dw, const hy_act *dout_, int ldo, const hy_act *x_, int ldx,
                             const hy_act *w_, const float *rstd, int n, int D, int accumulate) {
    float *dx = dx_;
    const float *dout = dout_, *x = x_, *w = w_;
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int r = 0; r < n; r++) {
            const float *xr = x + (size_t)r * ldx, *g = dout + (size_t)r * ldo;
            float *d = dx + (size_t)r * lddx;
            float rs = rstd[r];
            double dot = 0; /* Σ_k (dout·w)[k] · n[k] */
            for (int c = 0; c < D; c++) dot += (double)(g[c] * w[c]) * (double)(xr[c] * rs);
            float mean = (float)(dot / D);
            for (int c = 0; c < D; c++) {
                float v = rs * (g[c] * w[c] - xr[c] * rs * mean);
                d[c] = accumulate ? d[c] + v : v;
            }
        }
    }
    if (dw) {
        int nchunks = HY_CEIL_DIV(D, RMS_COL_CHUNK);
#pragma omp parallel for schedule(static)
        for (int ch = 0; ch < nchunks; ch++) {
            int c0 = ch * RMS_COL_CHUNK, c1 = hy_imin(D, c0 + RMS_COL_CHUNK);
            for (int r = 0; r < n; r++) {
                const float *xr = x + (size_t)r * ldx, *g = dout + (size_t)r * ldo;
                for (int c = c0; c < c1; c++) dw[c] += g[c] * (xr[c] * rstd[r]);
            }
        }
    }
    return HY_OK;
}
