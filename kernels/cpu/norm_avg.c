/* norm_avg.c — CPU average of two RMSNorms (kernels/norm_avg.h).
 *
 * Operation for operation the arithmetic of the unfused composition
 * (hy_rmsnorm_fwd_cpu twice and axpby(0.5, 0.5); backward the 0.5 scaling and
 * hy_rmsnorm_bwd_cpu twice), so the CPU model computes the same bits as it did
 * with separate ops: row statistics in double, fp32 elementwise math in the
 * same order.  Rows are independent (parallel over rows); the gain gradients
 * sum over rows, so they are a second pass in which threads own column chunks
 * and walk rows in order (deterministic, independent of the thread count). */
#include <math.h>

#include "kernels/norm_avg.h"

enum { NAVG_COL_CHUNK = 64 }; /* columns per work item of the gain-gradient reduction */

/* 1/sqrt(mean(x²) + eps), the sum in double (as hy_rmsnorm_fwd_cpu). */
static float navg_rstd(const float *x /* [D] */, int D, float eps) {
    double ss = 0;
    for (int c = 0; c < D; c++) ss += (double)x[c] * x[c];
    return (float)(1.0 / sqrt(ss / D + (double)eps));
}

hy_status hy_norm_avg_fwd_cpu(void *ctx, hy_act *fu_, float *rstd_a, float *rstd_b, const hy_act *a_, const hy_act *b_,
                              const hy_act *wa_, const hy_act *wb_, int n, int D, float eps) {
    (void)ctx;
    float *fu = fu_;
    const float *a = a_, *b = b_, *wa = wa_, *wb = wb_;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *ar = a + (size_t)r * D, *br = b + (size_t)r * D;
        float *o = fu + (size_t)r * D;
        float ra = navg_rstd(ar, D, eps), rb = navg_rstd(br, D, eps);
        rstd_a[r] = ra;
        rstd_b[r] = rb;
        for (int c = 0; c < D; c++) {
            float na = wa[c] * (ar[c] * ra), nb = wb[c] * (br[c] * rb); /* each norm's output, as stored by rmsnorm_fwd */
            o[c] = 0.5f * na + 0.5f * nb;                                /* axpby(0.5, 0.5) */
        }
    }
    return HY_OK;
}

/* dx = r·(d⊙w − x·r·mean) of one row, d = dfu/2, mean = (1/D)·Σ (d⊙w)·(x·r) in double. */
static void navg_row_dx(float *dx /* [D] */, const float *g /* [D] dfu */, const float *x /* [D] */, const float *w /* [D] */, float r,
                        int D) {
    double dot = 0;
    for (int c = 0; c < D; c++) dot += (double)(0.5f * g[c] * w[c]) * (double)(x[c] * r);
    float mean = (float)(dot / D);
    for (int c = 0; c < D; c++) dx[c] = r * (0.5f * g[c] * w[c] - x[c] * r * mean);
}

/* dw[c] += Σ_rows (dfu/2)·(x·r) over columns [c0, c1), rows in order. */
static void navg_cols_dw(float *dw /* [D] += */, const float *dfu /* [n,D] */, const float *x /* [n,D] */, const float *rstd /* [n] */,
                         int n, int D, int c0, int c1) {
    for (int r = 0; r < n; r++) {
        const float *g = dfu + (size_t)r * D, *xr = x + (size_t)r * D;
        for (int c = c0; c < c1; c++) dw[c] += 0.5f * g[c] * (xr[c] * rstd[r]);
    }
}

hy_status hy_norm_avg_bwd_cpu(void *ctx, hy_act *da_, hy_act *db_, float *dwa, float *dwb, const hy_act *dfu_, const hy_act *a_,
                              const hy_act *b_, const hy_act *wa_, const hy_act *wb_, const float *rstd_a, const float *rstd_b, int n,
                              int D) {
    (void)ctx;
    float *da = da_, *db = db_;
    const float *dfu = dfu_, *a = a_, *b = b_, *wa = wa_, *wb = wb_;
    HY_ASSERT(da && db);
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        size_t o = (size_t)r * D;
        navg_row_dx(da + o, dfu + o, a + o, wa, rstd_a[r], D);
        navg_row_dx(db + o, dfu + o, b + o, wb, rstd_b[r], D);
    }
    int nchunks = HY_CEIL_DIV(D, NAVG_COL_CHUNK);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < nchunks; ch++) {
        int c0 = ch * NAVG_COL_CHUNK, c1 = hy_imin(D, c0 + NAVG_COL_CHUNK);
        if (dwa) navg_cols_dw(dwa, dfu, a, rstd_a, n, D, c0, c1);
        if (dwb) navg_cols_dw(dwb, dfu, b, rstd_b, n, D, c0, c1);
    }
    return HY_OK;
}
