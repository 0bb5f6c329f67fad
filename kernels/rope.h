/* rope.h — rotary position embedding, rotate-half convention (spec §4.1, §9.3).
 *
 * Math, in place on each of the H heads (D dims, head h at columns h·D) of row i,
 * with p = pos[i] and, for m < D/2:
 *   φ_m  = fp32( (float)p · inv_freq[m] )          (one fp32 product, as the spec)
 *   x'[m]       = x[m]·cos φ_m − x[m+D/2]·sin φ_m
 *   x'[m+D/2]   = x[m+D/2]·cos φ_m + x[m]·sin φ_m
 * Backward (the inverse rotation, also in place on the gradient):
 *   dx[m]       = dx'[m]·cos φ_m + dx'[m+D/2]·sin φ_m
 *   dx[m+D/2]   = dx'[m+D/2]·cos φ_m − dx'[m]·sin φ_m
 * inv_freq [D/2] is fp32 (the "ntk" base of §4.1 is folded in by the caller).
 * Precision: the CPU uses the fp32 cos/sin values; the CUDA path additionally
 * rounds cos/sin (and the products) to bf16 like the official model.
 * D must be even; pos is the document-relative position (meta tokens 0..M−1). */
#ifndef HY_KERNELS_ROPE_H
#define HY_KERNELS_ROPE_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_rope_fwd_cpu(void *ctx, hy_act *x /* [N, H·D] ldx */, int ldx, const int32_t *pos /* [N] */, const float *inv_freq /* [D/2] */,
                          int n, int H, int D);
hy_status hy_rope_bwd_cpu(void *ctx, hy_act *dx /* [N, H·D] ldx */, int ldx, const int32_t *pos /* [N] */, const float *inv_freq /* [D/2] */,
                          int n, int H, int D);

/* Implemented in kernels/cuda/rope.cu. */
hy_status hy_rope_fwd_cuda(void *ctx, hy_act *x /* [N, H·D] ldx */, int ldx, const int32_t *pos /* [N] */, const float *inv_freq /* [D/2] */,
                           int n, int H, int D);
hy_status hy_rope_bwd_cuda(void *ctx, hy_act *dx /* [N, H·D] ldx */, int ldx, const int32_t *pos /* [N] */, const float *inv_freq /* [D/2] */,
                           int n, int H, int D);

#ifdef __cplusplus
}
#endif
#endif
