/* rmsnorm.h — RMSNorm, used by every norm of the model (spec §8, §9.2).
 *
 * Math, per row x ∈ R^D with gain w:
 *   rstd = 1 / sqrt( (1/D)·Σ_k x[k]² + eps )      (fp32 statistic, saved per row)
 *   n    = x · rstd
 *   out  = w ⊙ n
 * Backward with g = dout ⊙ w:
 *   dx  = rstd · ( g − n · (1/D)·Σ_k g[k]·n[k] )
 *   dw += Σ_rows dout ⊙ n
 * Overwrite/accumulate: out, rstd overwrite; dx overwrites, or adds when
 * `accumulate` is set (residual stream); dw accumulates (fp32).  A NULL dx or dw
 * is skipped (frozen gain, or only the parameter gradient wanted).
 * Row strides: x, out, dout, dx are [n,D] matrices with their own strides, so the
 * inner dt/B/C norms read column blocks of the x_proj output in place.
 * out may alias x (same stride): each row is read fully before it is written.
 * CPU: row statistics are summed in double; dw is reduced column-wise over rows
 * in order (deterministic). */
#ifndef HY_KERNELS_RMSNORM_H
#define HY_KERNELS_RMSNORM_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_rmsnorm_fwd_cpu(void *ctx, hy_act *out /* [n,D] ldo */, int ldo, float *rstd /* [n] */, const hy_act *x /* [n,D] ldx */,
                             int ldx, const hy_act *w /* [D] */, int n, int D, float eps);
hy_status hy_rmsnorm_bwd_cpu(void *ctx, hy_act *dx /* [n,D] lddx, (+)= */, int lddx, float *dw /* [D] += */, const hy_act *dout /* [n,D] ldo */,
                             int ldo, const hy_act *x /* [n,D] ldx */, int ldx, const hy_act *w /* [D] */, const float *rstd /* [n] */,
                             int n, int D, int accumulate);

/* Implemented in kernels/cuda/rmsnorm.cu. */
hy_status hy_rmsnorm_fwd_cuda(void *ctx, hy_act *out /* [n,D] ldo */, int ldo, float *rstd /* [n] */, const hy_act *x /* [n,D] ldx */,
                              int ldx, const hy_act *w /* [D] */, int n, int D, float eps);
hy_status hy_rmsnorm_bwd_cuda(void *ctx, hy_act *dx /* [n,D] lddx, (+)= */, int lddx, float *dw /* [D] += */, const hy_act *dout /* [n,D] ldo */,
                              int ldo, const hy_act *x /* [n,D] ldx */, int ldx, const hy_act *w /* [D] */, const float *rstd /* [n] */,
                              int n, int D, int accumulate);

#ifdef __cplusplus
}
#endif
#endif
