/* selective_scan.h — Mamba-1 selective scan with Δ bias, softplus, D skip and
 * z gating (spec §6.3–6.4, §9.7).
 *
 * Math, per channel e ∈ [0,DI), state n ∈ [0,DS), row t (fp32 throughout):
 *   s[t,e]   = delta[t,e] + dt_bias[e]
 *   δ[t,e]   = s > 20 ? s : log(1 + exp(s))                 (softplus, threshold 20)
 *   A[e,n]   = −exp(A_log[e,n])
 *   h[t,e,n] = exp(δ·A[e,n]) · h[t−1,e,n] + δ · Bm[t,n] · u[t,e]   (h = 0 before every
 *                                                                  document start, pos == 0)
 *   y[t,e]   = Σ_n Cm[t,n] · h[t,e,n] + D[e] · u[t,e]
 *   out[t,e] = y[t,e] · silu(z[t,e])
 * Bm and Cm ([N,DS], row stride ldbc) are shared by all channels; they are
 * normally the RMS-normalised B/C columns of a wider buffer.  z has stride ldz.
 * Backward: exactly spec §9.7 (the reverse recurrence of the state adjoint λ);
 *   du, ddelta (= ∂/∂delta, the bias-free dt_proj output), dBm, dCm, dz overwrite;
 *   ddt_bias, dA_log (= dA ⊙ A), dD accumulate (fp32).
 * dBm and dCm share the row stride lddbc (normally column blocks of one gradient
 * buffer), dz has stride lddz; du, ddelta and dy are dense [N,DI].
 * CPU backward: recomputes the states of each (document, channel) into a scratch
 * buffer (hy_malloc'd per call, CPU only); channels are split into fixed blocks
 * whose partial dBm/dCm are summed in block order, so results do not depend on
 * the thread count.  DS ≤ HY_SCAN_MAX_DS. */
#ifndef HY_KERNELS_SELECTIVE_SCAN_H
#define HY_KERNELS_SELECTIVE_SCAN_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { HY_SCAN_MAX_DS = 256 }; /* per-thread state arrays live on the stack */

hy_status hy_scan_fwd_cpu(void *ctx, hy_act *y /* [N,DI] */, const hy_act *u /* [N,DI] */, const hy_act *delta /* [N,DI] (no bias) */,
                          const hy_act *dt_bias /* [DI] */, const hy_act *A_log /* [DI,DS] */, const hy_act *Bm /* [N,DS] ldbc */,
                          const hy_act *Cm /* [N,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */, const hy_act *z /* [N,DI] ldz */, int ldz,
                          const hy_seqs *s, int DI, int DS);
hy_status hy_scan_bwd_cpu(void *ctx, hy_act *du /* [N,DI] */, hy_act *ddelta /* [N,DI] */, hy_act *dBm /* [N,DS] lddbc */,
                          hy_act *dCm /* [N,DS] lddbc */, int lddbc, hy_act *dz /* [N,DI] lddz */, int lddz, float *ddt_bias /* [DI] += */,
                          float *dA_log /* [DI,DS] += */, float *dD /* [DI] += */, const hy_act *dy /* [N,DI] */, const hy_act *u /* [N,DI] */,
                          const hy_act *delta /* [N,DI] */, const hy_act *dt_bias /* [DI] */, const hy_act *A_log /* [DI,DS] */,
                          const hy_act *Bm /* [N,DS] ldbc */, const hy_act *Cm /* [N,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */,
                          const hy_act *z /* [N,DI] ldz */, int ldz, const hy_seqs *s, int DI, int DS);

/* Implemented in kernels/cuda/selective_scan.cu. */
hy_status hy_scan_fwd_cuda(void *ctx, hy_act *y /* [N,DI] */, const hy_act *u /* [N,DI] */, const hy_act *delta /* [N,DI] (no bias) */,
                           const hy_act *dt_bias /* [DI] */, const hy_act *A_log /* [DI,DS] */, const hy_act *Bm /* [N,DS] ldbc */,
                           const hy_act *Cm /* [N,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */, const hy_act *z /* [N,DI] ldz */, int ldz,
                           const hy_seqs *s, int DI, int DS);
hy_status hy_scan_bwd_cuda(void *ctx, hy_act *du /* [N,DI] */, hy_act *ddelta /* [N,DI] */, hy_act *dBm /* [N,DS] lddbc */,
                           hy_act *dCm /* [N,DS] lddbc */, int lddbc, hy_act *dz /* [N,DI] lddz */, int lddz, float *ddt_bias /* [DI] += */,
                           float *dA_log /* [DI,DS] += */, float *dD /* [DI] += */, const hy_act *dy /* [N,DI] */, const hy_act *u /* [N,DI] */,
                           const hy_act *delta /* [N,DI] */, const hy_act *dt_bias /* [DI] */, const hy_act *A_log /* [DI,DS] */,
                           const hy_act *Bm /* [N,DS] ldbc */, const hy_act *Cm /* [N,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */,
                           const hy_act *z /* [N,DI] ldz */, int ldz, const hy_seqs *s, int DI, int DS);

#ifdef __cplusplus
}
#endif
#endif
