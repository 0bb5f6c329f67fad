/* swiglu.c — CPU SiLU-gated product (kernels/swiglu.h).  Elementwise, parallel
 * over rows; σ is evaluated once per element and shared by both gradients. */
#include <math.h>

#include "kernels/swiglu.h"

hy_status hy_swiglu_fwd_cpu(void *ctx, hy_act *out_, const hy_act *a_, const hy_act *b_, int ld, int n, int F) {
    float *out = out_;
    const float *a = a_, *b = b_;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *ar = a + (size_t)r * ld, *br = b + (size_t)r * ld;
        float *o = out + (size_t)r * F;
        for (int c = 0; c < F; c++) o[c] = ar[c] / (1.0f + expf(-ar[c])) * br[c];
    }
    return HY_OK;
}

hy_status hy_swiglu_bwd_cpu(void *ctx, hy_act *da_, hy_act *db_, int ld, const hy_act *dout_, const hy_act *a_, const hy_act *b_, int n,
                            int F) {
    float *da = da_, *db = db_;
    const float *dout = dout_, *a = a_, *b = b_;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *ar = a + (size_t)r * ld, *br = b + (size_t)r * ld, *g = dout + (size_t)r * F;
        float *dar = da + (size_t)r * ld, *dbr = db + (size_t)r * ld;
        for (int c = 0; c < F; c++) {
            float x = ar[c], y = br[c], sig = 1.0f / (1.0f + expf(-x));
            dar[c] = g[c] * y * sig * (1.0f + x * (1.0f - sig));
            dbr[c] = g[c] * x * sig;
        }
    }
    return HY_OK;
}
