/* norm_avg.h — the fusion of the hybrid block's two branches (spec §7.1, §8,
 * §9.2): the average of two RMSNorms of the same width, in one pass.
 *
 * Math, per row with the attention output a ∈ R^D, the SSM output b ∈ R^D and
 * the gains wa (pre_avg_layernorm1), wb (pre_avg_layernorm2):
 *   ra = 1/sqrt((1/D)·Σ a² + eps),  rb = 1/sqrt((1/D)·Σ b² + eps)   (fp32, saved)
 *   fu = ρ( ρ(wa ⊙ ρ(a·ra)) + ρ(wb ⊙ ρ(b·rb)) ) / 2                  (ρ: storage rounding)
 * which is exactly rmsnorm_fwd(a), rmsnorm_fwd(b) and axpby(0.5, 0.5) — the
 * unfused composition — without writing and re-reading the two normalised
 * rows.  Backward with the upstream gradient dfu (d = dfu/2 reaches each norm):
 *   da  = ra·(d⊙wa − na·(1/D)·Σ (d⊙wa)·na),  na = a·ra   (db alike)
 *   dwa += Σ_rows d ⊙ na,  dwb += Σ_rows d ⊙ nb
 * Overwrite/accumulate: fu, rstd_a, rstd_b overwrite; da, db overwrite (the
 * branches' own backward passes start there); dwa, dwb accumulate (fp32);
 * a NULL dwa or dwb is skipped (frozen gain).
 * Layout: every [n,D] argument is contiguous (row stride D) — the hybrid block
 * keeps attn, y, fu and their gradients as whole [N,DI] buffers.
 * Determinism: the gain gradients are sums over rows in a fixed order on both
 * backends (CPU: columns per thread, rows in order; CUDA: per-block partials
 * over fixed row ranges, then a fixed-order sum) — no float atomics.
 * CPU: the very operations of the composition above, so the CPU model's
 * results are bitwise those of the unfused ops. */
#ifndef HY_KERNELS_NORM_AVG_H
#define HY_KERNELS_NORM_AVG_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_norm_avg_fwd_cpu(void *ctx, hy_act *fu /* [n,D] */, float *rstd_a /* [n] */, float *rstd_b /* [n] */,
                              const hy_act *a /* [n,D] */, const hy_act *b /* [n,D] */, const hy_act *wa /* [D] */,
                              const hy_act *wb /* [D] */, int n, int D, float eps);
hy_status hy_norm_avg_bwd_cpu(void *ctx, hy_act *da /* [n,D] = */, hy_act *db /* [n,D] = */, float *dwa /* [D] += */, float *dwb /* [D] += */,
                              const hy_act *dfu /* [n,D] */, const hy_act *a /* [n,D] */, const hy_act *b /* [n,D] */,
                              const hy_act *wa /* [D] */, const hy_act *wb /* [D] */, const float *rstd_a /* [n] */,
                              const float *rstd_b /* [n] */, int n, int D);

/* Implemented in kernels/cuda/norm_avg.cu. */
hy_status hy_norm_avg_fwd_cuda(void *ctx, hy_act *fu /* [n,D] */, float *rstd_a /* [n] */, float *rstd_b /* [n] */,
                               const hy_act *a /* [n,D] */, const hy_act *b /* [n,D] */, const hy_act *wa /* [D] */,
                               const hy_act *wb /* [D] */, int n, int D, float eps);
hy_status hy_norm_avg_bwd_cuda(void *ctx, hy_act *da /* [n,D] = */, hy_act *db /* [n,D] = */, float *dwa /* [D] += */,
                               float *dwb /* [D] += */, const hy_act *dfu /* [n,D] */, const hy_act *a /* [n,D] */,
                               const hy_act *b /* [n,D] */, const hy_act *wa /* [D] */, const hy_act *wb /* [D] */,
                               const float *rstd_a /* [n] */, const float *rstd_b /* [n] */, int n, int D);

#ifdef __cplusplus
}
#endif
#endif
