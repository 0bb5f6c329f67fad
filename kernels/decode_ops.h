/* decode_ops.h — the ops of incremental decoding (spec §10): a chunk of n ≥ 1
 * new rows of ONE sequence against a state carried from the rows before it.
 * n = 1 is a generation step; n > 1 is a prefill chunk.  The training ops
 * (conv1d.h, selective_scan.h, attention.h) start every document from zero
 * state; these continue one.  Fed the same rows in any chunking, they give the
 * training forward's results (CPU: the same summation order, so the same
 * floats up to the products' BLAS blocking).
 *
 * conv1d_step — causal depthwise conv + bias + SiLU with a carried history.
 *   state [DC−1, DI] holds the previous DC−1 inputs x, OLDEST ROW FIRST (time-
 *   major, so a prefill can fill it with copy2d from x rows; zeros = empty
 *   history).  With in = [state ; x] (DC−1+n rows):
 *     u[r,e] = silu(b[e] + Σ_{k=0..DC−1} w[e,k] · in[r+k, e])
 *   then state ← the last DC−1 rows of in.  u overwrites; state is in/out.
 *
 * scan_step — the selective recurrence of selective_scan.h continued from
 *   h [DI,DS] (fp32, in/out; zeros = start of a sequence):
 *     δ = softplus₂₀(delta[r,e] + dt_bias[e]);  A = −exp(A_log)
 *     h[e,n] = exp(δ·A[e,n])·h[e,n] + δ·Bm[r,n]·u[r,e]
 *     y[r,e] = (Σ_n Cm[r,n]·h[e,n] + D[e]·u[r,e]) · silu(z[r,e])
 *   rows r = 0..n−1 in order; y overwrites.  Bm/Cm share the row stride ldbc,
 *   z has stride ldz (column blocks of wider buffers, as in training).
 *
 * attention_decode — n query rows at sequence indices i0 .. i0+n−1 (meta tokens
 *   included in the index, i.e. the RoPE position) against a K/V cache:
 *     kc [M+R, NKV·DQK], vc [M+R, NKV·DV], dense rows.  Key j < M (a meta
 *     token) lives in slot j; key j ≥ M in slot M + (j−M) mod R (a ring of R
 *     text slots; a global cache simply has R ≥ every text position).
 *   The caller appends the chunk's own keys before the call.  Mask: exactly
 *   the training predicate of attention.h, j ≤ i ∧ (W < 0 ∨ i−j ≤ W ∨ j < M),
 *   so the query sees itself and W previous positions plus every meta token.
 *   (Pass W−1 to get the official cached decode's window, spec §10.2.)
 *   Keys are visited in increasing j, as the training kernel does.
 *   Requirement (HY_ERR_ARG otherwise): every key the chunk needs is resident,
 *   i.e. the text keys from max(M, i0−W) (M when W < 0) to i0+n−1 span at
 *   most R slots.  GQA contiguous (head h reads kv head h/(NH/NKV)); out
 *   [n, NH·DV] overwrites; scale is applied to q·k.
 *
 * CPU: fp32; conv and scan parallel over channel blocks, attention over
 * (row, head); every sum in a fixed order (deterministic). */
#ifndef HY_KERNELS_DECODE_OPS_H
#define HY_KERNELS_DECODE_OPS_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_conv1d_step_cpu(void *ctx, hy_act *u /* [n,DI] */, const hy_act *x /* [n,DI] ldx */, int ldx, hy_act *state /* [DC−1,DI] in/out */,
                             const hy_act *w /* [DI,DC] */, const hy_act *b /* [DI] */, int n, int DI, int DC);
hy_status hy_scan_step_cpu(void *ctx, hy_act *y /* [n,DI] */, float *h /* [DI,DS] in/out */, const hy_act *u /* [n,DI] */,
                           const hy_act *delta /* [n,DI] (no bias) */, const hy_act *dt_bias /* [DI] */, const hy_act *A_log /* [DI,DS] */,
                           const hy_act *Bm /* [n,DS] ldbc */, const hy_act *Cm /* [n,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */,
                           const hy_act *z /* [n,DI] ldz */, int ldz, int n, int DI, int DS);
hy_status hy_attention_decode_cpu(void *ctx, hy_act *out /* [n, NH·DV] */, const hy_act *q /* [n, NH·DQK] ldq */, int ldq,
                                  const hy_act *kc /* [M+R, NKV·DQK] */, const hy_act *vc /* [M+R, NKV·DV] */, int i0, int n, int M, int R,
                                  int W, int NH, int NKV, int DQK, int DV, float scale);

/* Implemented in kernels/cuda/decode_ops.cu. */
hy_status hy_conv1d_step_cuda(void *ctx, hy_act *u /* [n,DI] */, const hy_act *x /* [n,DI] ldx */, int ldx, hy_act *state /* [DC−1,DI] in/out */,
                              const hy_act *w /* [DI,DC] */, const hy_act *b /* [DI] */, int n, int DI, int DC);
hy_status hy_scan_step_cuda(void *ctx, hy_act *y /* [n,DI] */, float *h /* [DI,DS] in/out */, const hy_act *u /* [n,DI] */,
                            const hy_act *delta /* [n,DI] (no bias) */, const hy_act *dt_bias /* [DI] */, const hy_act *A_log /* [DI,DS] */,
                            const hy_act *Bm /* [n,DS] ldbc */, const hy_act *Cm /* [n,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */,
                            const hy_act *z /* [n,DI] ldz */, int ldz, int n, int DI, int DS);
hy_status hy_attention_decode_cuda(void *ctx, hy_act *out /* [n, NH·DV] */, const hy_act *q /* [n, NH·DQK] ldq */, int ldq,
                                   const hy_act *kc /* [M+R, NKV·DQK] */, const hy_act *vc /* [M+R, NKV·DV] */, int i0, int n, int M, int R,
                                   int W, int NH, int NKV, int DQK, int DV, float scale);

#ifdef __cplusplus
}
#endif
#endif
