/* cross_entropy.h — token cross-entropy over the (padded) vocabulary, and the
 * row gather/scatter used to pick text rows out of a packed micro-batch
 * (spec §7.5, §9.1).
 *
 * ce_fwd, per row r with target t_r (logits row stride ld ≥ V; columns ≥ V,
 * the vocabulary padding, are never read):
 *   lse[r]  = log Σ_{v<V} exp(logits[r,v])          (always computed, fp32)
 *   loss[r] = lse[r] − logits[r, t_r]    if t_r ≥ 0;   0 if t_r < 0 (ignored)
 * ce_bwd:
 *   dlogits[r,v] = scale[r] · (exp(logits[r,v] − lse[r]) − [v == t_r])   t_r ≥ 0, v < V
 *                = 0                                                    ignored rows
 *   dlogits[r, V..ld−1] = 0                                             (padding columns)
 * scale[r] is the per-row loss weight (e.g. 1/|valid targets| for a mean).
 * Overwrite: loss, lse and dlogits overwrite.  dlogits may alias logits (the
 * gradient is computed in place): each element is read before it is written.
 * Targets must be < V; the CPU returns HY_ERR_ARG naming the row otherwise.
 * CPU: row sums in double, parallel over rows.
 *
 * gather_rows:  out[r,:] = in[idx[r],:]                (act dtype, C wide, dense rows)
 * scatter_rows: out[idx[r],:] (+)= in[r,:]             rows not named are untouched;
 *               with duplicate indices the contributions are added in order of r
 *               (accumulate) or the last r wins (overwrite). */
#ifndef HY_KERNELS_CROSS_ENTROPY_H
#define HY_KERNELS_CROSS_ENTROPY_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_ce_fwd_cpu(void *ctx, float *loss /* [n] */, float *lse /* [n] */, const hy_act *logits /* [n,V] ld */, int ld,
                        const int32_t *targets /* [n] */, int n, int V);
hy_status hy_ce_bwd_cpu(void *ctx, hy_act *dlogits /* [n,V] ld */, int ld, const hy_act *logits /* [n,V] ld */, const float *lse /* [n] */,
                        const int32_t *targets /* [n] */, const float *scale /* [n] */, int n, int V);
hy_status hy_gather_rows_cpu(void *ctx, hy_act *out /* [n,C] */, const hy_act *in /* [N,C] */, const int32_t *idx /* [n] */, int n, int C);
hy_status hy_scatter_rows_cpu(void *ctx, hy_act *out /* [N,C] */, const hy_act *in /* [n,C] */, const int32_t *idx /* [n] */, int n, int C,
                              int accumulate);

/* Implemented in kernels/cuda/cross_entropy.cu. */
hy_status hy_ce_fwd_cuda(void *ctx, float *loss /* [n] */, float *lse /* [n] */, const hy_act *logits /* [n,V] ld */, int ld,
                         const int32_t *targets /* [n] */, int n, int V);
hy_status hy_ce_bwd_cuda(void *ctx, hy_act *dlogits /* [n,V] ld */, int ld, const hy_act *logits /* [n,V] ld */, const float *lse /* [n] */,
                         const int32_t *targets /* [n] */, const float *scale /* [n] */, int n, int V);
hy_status hy_gather_rows_cuda(void *ctx, hy_act *out /* [n,C] */, const hy_act *in /* [N,C] */, const int32_t *idx /* [n] */, int n, int C);
hy_status hy_scatter_rows_cuda(void *ctx, hy_act *out /* [N,C] */, const hy_act *in /* [n,C] */, const int32_t *idx /* [n] */, int n, int C,
                               int accumulate);

#ifdef __cplusplus
}
#endif
#endif
