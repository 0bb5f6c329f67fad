/* rope.c — CPU rotary embedding, rotate-half pairs (m, m+D/2) (kernels/rope.h).
 * The angle is one fp32 product (float)pos·inv_freq[m], exactly as the spec
 * forms it; cos/sin are evaluated in fp32 and not rounded further (the CPU is
 * the fp32 reference).  The backward is the same rotation with −sin. */
#include <math.h>

#include "kernels/rope.h"

/* Rotate every head of every row by sign·φ (sign = +1 forward, −1 backward). */
static void rope_apply(float *x, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D, float sign) {
    HY_ASSERT(D % 2 == 0);
    int half = D / 2;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        float *row = x + (size_t)r * ldx;
        float p = (float)pos[r];
        for (int m = 0; m < half; m++) {
            float phi = p * inv_freq[m];
            float c = cosf(phi), sn = sign * sinf(phi);
            for (int h = 0; h < H; h++) {
                float *xh = row + (size_t)h * D;
                float a = xh[m], b = xh[m + half];
                xh[m] = a * c - b * sn;
                xh[m + half] = b * c + a * sn;
            }
        }
    }
}

hy_status hy_rope_fwd_cpu(void *ctx, hy_act *x, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D) {
    rope_apply(x, ldx, pos, inv_freq, n, H, D, 1.0f);
    return HY_OK;
}

hy_status hy_rope_bwd_cpu(void *ctx, hy_act *dx, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D) {
    rope_apply(dx, ldx, pos, inv_freq, n, H, D, -1.0f);
    return HY_OK;
}
