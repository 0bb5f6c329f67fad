/* swiglu.h — the SiLU-gated product of the MLP (spec §7.3, §9.10).
 *
 * Math:   out = silu(a) ⊙ b
 * Backward:
 *   da = dout ⊙ b ⊙ σ(a)·(1 + a·(1 − σ(a)))
 *   db = dout ⊙ silu(a)
 * a and b are [n,F] with one row stride ld: normally a = columns [0,F) and
 * b = columns [F,2F) of one [n,2F] buffer (gate and up projections fused), so
 * ld = 2F.  da and db are written at the same stride (columns of the fused
 * gradient buffer); out and dout are dense [n,F].
 * Overwrite: out, da, db overwrite.  da/db may alias a/b (each element is read
 * before it is written). */
#ifndef HY_KERNELS_SWIGLU_H
#define HY_KERNELS_SWIGLU_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_swiglu_fwd_cpu(void *ctx, hy_act *out /* [n,F] */, const hy_act *a /* [n,F] ld */, const hy_act *b /* [n,F] ld */, int ld,
                            int n, int F);
hy_status hy_swiglu_bwd_cpu(void *ctx, hy_act *da /* [n,F] ld */, hy_act *db /* [n,F] ld */, int ld, const hy_act *dout /* [n,F] */,
                            const hy_act *a /* [n,F] ld */, const hy_act *b /* [n,F] ld */, int n, int F);

/* Implemented in kernels/cuda/swiglu.cu. */
hy_status hy_swiglu_fwd_cuda(void *ctx, hy_act *out /* [n,F] */, const hy_act *a /* [n,F] ld */, const hy_act *b /* [n,F] ld */, int ld,
                             int n, int F);
hy_status hy_swiglu_bwd_cuda(void *ctx, hy_act *da /* [n,F] ld */, hy_act *db /* [n,F] ld */, int ld, const hy_act *dout /* [n,F] */,
                             const hy_act *a /* [n,F] ld */, const hy_act *b /* [n,F] ld */, int n, int F);

#ifdef __cplusplus
}
#endif
#endif
