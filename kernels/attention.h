/* attention.h — causal GQA softmax attention over packed documents, with the
 * Hymba sliding window and meta-token exception (spec §4.3–4.4, §9.4).
 *
 * Layout: q [N, NH·DQK] (row stride ldq; query head h at columns h·DQK),
 * k [N, NKV·DQK] (ldk), v [N, NKV·DV] (ldv), out [N, NH·DV] dense (head h at
 * columns h·DV), lse [NH, N] (row h holds head h).  GQA is contiguous: query
 * head h reads kv head g = h / (NH/NKV).  DV may differ from DQK (Hymba: 128 vs 64).
 *
 * Mask: with i (query) and j (key) the row indices relative to their document's
 * first row (meta tokens included), key j is visible from query i iff
 *   j ≤ i  ∧  ( W < 0  ∨  i − j ≤ W  ∨  j < M )
 * and never across documents.  W < 0 means global attention.  Every query sees
 * at least itself, so every softmax row is non-empty.
 *
 * Forward:  S = scale · q_h k_gᵀ (masked), P = softmax(S),  out_h = P v_g,
 *           lse[h,i] = log Σ_j exp(S[i,j])  (saved for the backward).
 * Backward (recomputes P = exp(S − lse)):
 *   Δ[i]  = Σ_c dout_h[i,c]·out_h[i,c]
 *   dS    = P ⊙ (dout_h v_gᵀ − Δ)
 *   dq_h  = scale · dS k_g                  (overwrites)
 *   dk_g += scale · dSᵀ q_h                 (accumulates over heads of the group and
 *   dv_g += Pᵀ dout_h                        over calls: shared K/V of KV reuse)
 * dq has its own row stride lddq (it is normally a column block of the in_proj
 * gradient); dk [N, NKV·DQK] and dv [N, NKV·DV] are dense.
 *
 * CPU: fp32, one pass with an online softmax per query row; the backward is
 * parallel over (document, kv group), so no two threads touch the same dk/dv row
 * and the summation order is fixed (deterministic). */
#ifndef HY_KERNELS_ATTENTION_H
#define HY_KERNELS_ATTENTION_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_attention_fwd_cpu(void *ctx, hy_act *out /* [N, NH·DV] */, float *lse /* [NH, N] */, const hy_act *q /* [N, NH·DQK] ldq */,
                               int ldq, const hy_act *k /* [N, NKV·DQK] ldk */, int ldk, const hy_act *v /* [N, NKV·DV] ldv */, int ldv,
                               const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W, float scale);
hy_status hy_attention_bwd_cpu(void *ctx, hy_act *dq /* [N, NH·DQK] lddq */, int lddq, hy_act *dk /* [N, NKV·DQK] += */,
                               hy_act *dv /* [N, NKV·DV] += */, const hy_act *dout /* [N, NH·DV] */, const hy_act *out /* [N, NH·DV] */,
                               const float *lse /* [NH, N] */, const hy_act *q /* ldq */, int ldq, const hy_act *k /* ldk */, int ldk,
                               const hy_act *v /* ldv */, int ldv, const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W,
                               float scale);

/* Implemented in kernels/cuda/attention.cu. */
hy_status hy_attention_fwd_cuda(void *ctx, hy_act *out /* [N, NH·DV] */, float *lse /* [NH, N] */, const hy_act *q /* [N, NH·DQK] ldq */,
                                int ldq, const hy_act *k /* [N, NKV·DQK] ldk */, int ldk, const hy_act *v /* [N, NKV·DV] ldv */, int ldv,
                                const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W, float scale);
hy_status hy_attention_bwd_cuda(void *ctx, hy_act *dq /* [N, NH·DQK] lddq */, int lddq, hy_act *dk /* [N, NKV·DQK] += */,
                                hy_act *dv /* [N, NKV·DV] += */, const hy_act *dout /* [N, NH·DV] */, const hy_act *out /* [N, NH·DV] */,
                                const float *lse /* [NH, N] */, const hy_act *q /* ldq */, int ldq, const hy_act *k /* ldk */, int ldk,
                                const hy_act *v /* ldv */, int ldv, const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W,
                                float scale);

#ifdef __cplusplus
}
#endif
#endif
