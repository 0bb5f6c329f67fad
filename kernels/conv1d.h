/* conv1d.h — causal depthwise convolution + bias + SiLU of the Mamba branch
 * (spec §6.1, §9.9).
 *
 * Math, per channel e and row t of a document starting at row t0 = t − pos[t]:
 *   pre[t,e] = b[e] + Σ_{k=0..DC−1} w[e,k] · x[t−DC+1+k, e]     (rows < t0 count as 0)
 *   u[t,e]   = silu(pre[t,e])
 * Tap DC−1 multiplies the current row, tap 0 the row DC−1 steps back (PyTorch
 * cross-correlation).  The history is zero at every document start, so documents
 * shorter than DC simply see fewer taps.
 * Backward (pre is recomputed from x):
 *   dpre[t,e] = du[t,e] · silu'(pre[t,e])
 *   db[e]    += Σ_t dpre[t,e]
 *   dw[e,k]  += Σ_t dpre[t,e] · x[t−DC+1+k, e]
 *   dx[t',e]  = Σ_k w[e,k] · dpre[t'+DC−1−k, e]     (only rows of the same document)
 * Overwrite/accumulate: u and dx overwrite; dw, db accumulate (fp32) and may be
 * NULL (skipped).  dx must not alias x.
 * x (and dx) have row strides (x is a column block of the in_proj output);
 * u and du are dense [N,DI].
 * CPU: parallel over blocks of channels, rows walked in order (deterministic). */
#ifndef HY_KERNELS_CONV1D_H
#define HY_KERNELS_CONV1D_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_conv1d_fwd_cpu(void *ctx, hy_act *u /* [N,DI] */, const hy_act *x /* [N,DI] ldx */, int ldx, const hy_act *w /* [DI,DC] */,
                            const hy_act *b /* [DI] */, const hy_seqs *s, int DI, int DC);
hy_status hy_conv1d_bwd_cpu(void *ctx, hy_act *dx /* [N,DI] lddx (overwrite) */, int lddx, float *dw /* [DI,DC] += */, float *db /* [DI] += */,
                            const hy_act *du /* [N,DI] */, const hy_act *x /* [N,DI] ldx */, int ldx, const hy_act *w /* [DI,DC] */,
                            const hy_act *b /* [DI] */, const hy_seqs *s, int DI, int DC);

/* Implemented in kernels/cuda/conv1d.cu. */
hy_status hy_conv1d_fwd_cuda(void *ctx, hy_act *u /* [N,DI] */, const hy_act *x /* [N,DI] ldx */, int ldx, const hy_act *w /* [DI,DC] */,
                             const hy_act *b /* [DI] */, const hy_seqs *s, int DI, int DC);
hy_status hy_conv1d_bwd_cuda(void *ctx, hy_act *dx /* [N,DI] lddx (overwrite) */, int lddx, float *dw /* [DI,DC] += */, float *db /* [DI] += */,
                             const hy_act *du /* [N,DI] */, const hy_act *x /* [N,DI] ldx */, int ldx, const hy_act *w /* [DI,DC] */,
                             const hy_act *b /* [DI] */, const hy_seqs *s, int DI, int DC);

#ifdef __cplusplus
}
#endif
#endif
