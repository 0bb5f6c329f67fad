/* ops.h — the ops table: the only interface between the model (core/, written
 * once) and a backend (kernels/cpu, kernels/cuda).  Each op has its own header
 * in kernels/ documenting the math; this file gathers the function pointers.
 *
 * Conventions (every op):
 *   - `ctx` is the backend context (streams, handles, scratch); every pointer
 *     is backend memory (host for CPU, device for CUDA) unless marked "host".
 *   - Storage types.  `hy_act` pointers hold activations/weights in the
 *     backend's storage dtype (ops->act_dtype: F32 on the CPU, BF16 or F32 on
 *     CUDA).  `float` pointers are always fp32: parameter gradients, norm and
 *     softmax statistics, losses.  `int32_t` pointers are token ids/positions.
 *   - Row strides: an argument `x` with `ldx` is a [rows, cols] matrix whose
 *     row r starts at x + r·ldx elements, so ops read column blocks (q, k, v,
 *     x, z of the in_proj output) in place.
 *   - Accumulation: parameter gradients ALWAYS accumulate (+=).  Activation
 *     gradients overwrite unless the op takes an `accumulate` flag (residual
 *     stream, shared K/V, branch merge).
 *   - Packed documents: `hy_seqs` describes a micro-batch of documents laid
 *     end to end; no op mixes information across a document boundary.
 *   - Every op returns HY_OK or a status with a message (launch failures).  */
#ifndef HY_OPS_H
#define HY_OPS_H
#include "../core/dims.h"
#include "../core/dtype.h"
#include "../core/hy_base.h"
#include "../core/optim.h" /* hy_adamw_hparams, hy_optim_groups (optim_ops.h) */
#ifdef __cplusplus
extern "C" {
#endif

typedef void hy_act; /* element of the backend's storage dtype */

/* A packed micro-batch of documents (DESIGN.md §2.5). */
typedef struct {
    int n;                   /* N: rows (positions) in the micro-batch */
    int n_docs;              /* documents */
    int max_len;             /* longest document (rows) */
    const int32_t *cu;       /* [n_docs+1] row offsets of the documents (backend memory) */
    const int32_t *pos;      /* [N] position of each row inside its document (backend memory) */
    const int32_t *cu_host;  /* [n_docs+1] the same offsets on the host */
} hy_seqs;

typedef struct hy_ops hy_ops;
struct hy_ops {
    const char *name;       /* "cpu", "cuda" */
    void *ctx;
    hy_dtype act_dtype;     /* storage dtype of hy_act */
    int host_memory;        /* 1: backend pointers are ordinary host memory (the CPU backend) */

    /* ---- memory ---- */
    hy_status (*alloc)(void *ctx, void **out, size_t bytes, const char *what); /* zeroed */
    void (*free)(void *ctx, void *p);
    hy_status (*to_dev)(void *ctx, void *dst, const void *host_src, size_t bytes);
    hy_status (*to_host)(void *ctx, void *host_dst, const void *src, size_t bytes);
    hy_status (*copy)(void *ctx, void *dst, const void *src, size_t bytes);
    hy_status (*zero)(void *ctx, void *dst, size_t bytes);
    hy_status (*sync)(void *ctx);
    /* dst[n] (act) = src[n] (f32) and back */
    hy_status (*cast_to_act)(void *ctx, hy_act *dst, const float *src, size_t n);
    hy_status (*cast_to_f32)(void *ctx, float *dst, const hy_act *src, size_t n);
    /* dst [rows, cols] (ldd) (+)= src [rows, cols] (lds), act dtype */
    hy_status (*copy2d)(void *ctx, hy_act *dst, int ldd, const hy_act *src, int lds, int rows, int cols, int accumulate);
    /* out[n] = a·x[n] + b·y[n] (out may alias x or y) */
    hy_status (*axpby)(void *ctx, hy_act *out, float a, const hy_act *x, float b, const hy_act *y, size_t n);
    /* the backend's stream (a cudaStream_t) that every op is queued on, for
     * ordering other streams (the communicator's) against it; NULL when ops
     * complete before they return (CPU).  The entry itself may be NULL. */
    void *(*stream)(void *ctx);

    /* ---- embedding.h ---- */
    hy_status (*embedding_fwd)(void *ctx, hy_act *out /* [N,C] */, const int32_t *ids /* [N] (ignored at meta rows) */,
                               const hy_seqs *s, const hy_act *emb /* [V,C] */, const hy_act *meta /* [M,C] */, int M, int C);
    hy_status (*embedding_bwd)(void *ctx, float *demb /* [V,C] += */, float *dmeta /* [M,C] += */, const hy_act *dout /* [N,C] */,
                               const int32_t *ids /* [N] */, const hy_seqs *s, int M, int C, int V, int padding_idx);

    /* ---- rmsnorm.h ---- out = w ⊙ (x · rstd), rstd = 1/sqrt(mean(x²)+eps) */
    hy_status (*rmsnorm_fwd)(void *ctx, hy_act *out /* [n,D] ldo */, int ldo, float *rstd /* [n] */, const hy_act *x /* [n,D] ldx */,
                             int ldx, const hy_act *w /* [D] */, int n, int D, float eps);
    hy_status (*rmsnorm_bwd)(void *ctx, hy_act *dx /* [n,D] lddx, (+)= */, int lddx, float *dw /* [D] += */, const hy_act *dout /* [n,D] ldo */,
                             int ldo, const hy_act *x /* [n,D] ldx */, int ldx, const hy_act *w /* [D] */, const float *rstd /* [n] */,
                             int n, int D, int accumulate);

    /* ---- norm_avg.h ---- fu = (rmsnorm(a; wa) + rmsnorm(b; wb)) / 2, the hybrid block's fusion; contiguous rows */
    hy_status (*norm_avg_fwd)(void *ctx, hy_act *fu /* [n,D] */, float *rstd_a /* [n] */, float *rstd_b /* [n] */, const hy_act *a /* [n,D] */,
                              const hy_act *b /* [n,D] */, const hy_act *wa /* [D] */, const hy_act *wb /* [D] */, int n, int D, float eps);
    /* da, db overwrite; dwa, dwb += (NULL skipped) */
    hy_status (*norm_avg_bwd)(void *ctx, hy_act *da /* [n,D] */, hy_act *db /* [n,D] */, float *dwa /* [D] += */, float *dwb /* [D] += */,
                              const hy_act *dfu /* [n,D] */, const hy_act *a, const hy_act *b, const hy_act *wa, const hy_act *wb,
                              const float *rstd_a /* [n] */, const float *rstd_b /* [n] */, int n, int D);

    /* ---- matmul.h ---- out = in · Wᵀ (PyTorch layout), fp32 accumulation */
    hy_status (*matmul_fwd)(void *ctx, hy_act *out /* [n,O] ldo, (+)= */, int ldo, const hy_act *in /* [n,I] ldi */, int ldi,
                            const hy_act *w /* [O,I] */, int n, int O, int I, int accumulate);
    /* din (+)= dout · W  (skipped when din is NULL);  dw += doutᵀ · in  (skipped when dw is NULL) */
    hy_status (*matmul_bwd)(void *ctx, hy_act *din /* [n,I] lddi */, int lddi, float *dw /* [O,I] += */, const hy_act *dout /* [n,O] ldo */,
                            int ldo, const hy_act *in /* [n,I] ldi */, int ldi, const hy_act *w /* [O,I] */, int n, int O, int I,
                            int accumulate_din);

    /* ---- rope.h ---- in place on H heads of D dims at x (row stride ldx), rotate-half, angle pos·inv_freq */
    hy_status (*rope_fwd)(void *ctx, hy_act *x /* [N, H·D] ldx */, int ldx, const int32_t *pos /* [N] */, const float *inv_freq /* [D/2] */,
                          int n, int H, int D);
    hy_status (*rope_bwd)(void *ctx, hy_act *dx /* [N, H·D] ldx */, int ldx, const int32_t *pos /* [N] */, const float *inv_freq /* [D/2] */,
                          int n, int H, int D);

    /* ---- attention.h ---- GQA (query head h uses kv head h/(NH/NKV)), causal inside each document,
     * window: key j visible from query i (document-relative) iff j ≤ i ∧ (W < 0 ∨ i−j ≤ W ∨ j < M) */
    hy_status (*attention_fwd)(void *ctx, hy_act *out /* [N, NH·DV] */, float *lse /* [NH, N] */, const hy_act *q /* [N, NH·DQK] ldq */,
                               int ldq, const hy_act *k /* [N, NKV·DQK] ldk */, int ldk, const hy_act *v /* [N, NKV·DV] ldv */, int ldv,
                               const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W, float scale);
    /* dq overwrites; dk, dv accumulate (shared K/V collect every reader's gradient) */
    hy_status (*attention_bwd)(void *ctx, hy_act *dq /* [N, NH·DQK] lddq */, int lddq, hy_act *dk /* [N, NKV·DQK] += */,
                               hy_act *dv /* [N, NKV·DV] += */, const hy_act *dout /* [N, NH·DV] */, const hy_act *out /* [N, NH·DV] */,
                               const float *lse /* [NH, N] */, const hy_act *q /* ldq */, int ldq, const hy_act *k /* ldk */, int ldk,
                               const hy_act *v /* ldv */, int ldv, const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W,
                               float scale);

    /* ---- conv1d.h ---- u = silu(b + Σ_k w[:,k]·x[t−DC+1+k]), per document (zero history at its start) */
    hy_status (*conv1d_fwd)(void *ctx, hy_act *u /* [N,DI] */, const hy_act *x /* [N,DI] ldx */, int ldx, const hy_act *w /* [DI,DC] */,
                            const hy_act *b /* [DI] */, const hy_seqs *s, int DI, int DC);
    hy_status (*conv1d_bwd)(void *ctx, hy_act *dx /* [N,DI] lddx (overwrite) */, int lddx, float *dw /* [DI,DC] += */, float *db /* [DI] += */,
                            const hy_act *du /* [N,DI] */, const hy_act *x /* [N,DI] ldx */, int ldx, const hy_act *w, const hy_act *b,
                            const hy_seqs *s, int DI, int DC);

    /* ---- selective_scan.h ---- spec §6.3–6.4 / §9.7; state reset at every document start */
    hy_status (*scan_fwd)(void *ctx, hy_act *y /* [N,DI] */, const hy_act *u /* [N,DI] */, const hy_act *delta /* [N,DI] (no bias) */,
                          const hy_act *dt_bias /* [DI] */, const hy_act *A_log /* [DI,DS] */, const hy_act *Bm /* [N,DS] ldbc */,
                          const hy_act *Cm /* [N,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */, const hy_act *z /* [N,DI] ldz */, int ldz,
                          const hy_seqs *s, int DI, int DS);
    /* du, ddelta, dBm, dCm, dz overwrite; parameter grads accumulate */
    hy_status (*scan_bwd)(void *ctx, hy_act *du /* [N,DI] */, hy_act *ddelta /* [N,DI] */, hy_act *dBm /* [N,DS] lddbc */,
                          hy_act *dCm /* [N,DS] lddbc */, int lddbc, hy_act *dz /* [N,DI] lddz */, int lddz, float *ddt_bias /* [DI] += */,
                          float *dA_log /* [DI,DS] += */, float *dD /* [DI] += */, const hy_act *dy /* [N,DI] */, const hy_act *u,
                          const hy_act *delta, const hy_act *dt_bias, const hy_act *A_log, const hy_act *Bm, const hy_act *Cm, int ldbc,
                          const hy_act *D, const hy_act *z, int ldz, const hy_seqs *s, int DI, int DS);

    /* ---- swiglu.h ---- out = silu(a) ⊙ b */
    hy_status (*swiglu_fwd)(void *ctx, hy_act *out /* [n,F] */, const hy_act *a /* [n,F] ld */, const hy_act *b /* [n,F] ld */, int ld,
                            int n, int F);
    hy_status (*swiglu_bwd)(void *ctx, hy_act *da /* [n,F] ld */, hy_act *db /* [n,F] ld */, int ld, const hy_act *dout /* [n,F] */,
                            const hy_act *a, const hy_act *b, int n, int F);

    /* ---- cross_entropy.h ---- per row r with target t_r ≥ 0: loss_r = lse_r − logit[t_r]; t_r < 0 → 0 */
    hy_status (*ce_fwd)(void *ctx, float *loss /* [n] */, float *lse /* [n] */, const hy_act *logits /* [n,V] ld */, int ld,
                        const int32_t *targets /* [n] */, int n, int V);
    /* dlogits = scale_r · (softmax − onehot(t_r)), 0 for ignored rows; overwrites (padding columns V..ld set to 0) */
    hy_status (*ce_bwd)(void *ctx, hy_act *dlogits /* [n,V] ld */, int ld, const hy_act *logits /* [n,V] ld */, const float *lse /* [n] */,
                        const int32_t *targets /* [n] */, const float *scale /* [n] */, int n, int V);
    /* out rows r = in rows idx[r] (C wide), act dtype */
    hy_status (*gather_rows)(void *ctx, hy_act *out /* [n,C] */, const hy_act *in /* [N,C] */, const int32_t *idx /* [n] */, int n, int C);
    /* out rows idx[r] (+)= in rows r; rows not named are left untouched */
    hy_status (*scatter_rows)(void *ctx, hy_act *out /* [N,C] */, const hy_act *in /* [n,C] */, const int32_t *idx /* [n] */, int n, int C,
                              int accumulate);

    /* ---- decode_ops.h ---- n new rows of one sequence continued from a carried state (spec §10);
     * forward only.  A backend may leave these NULL (core/decode.c then reports it). */
    /* u = silu(b + conv over [state ; x]); state [DC−1,DI] (oldest row first) ← the last DC−1 inputs */
    hy_status (*conv1d_step)(void *ctx, hy_act *u /* [n,DI] */, const hy_act *x /* [n,DI] ldx */, int ldx,
                             hy_act *state /* [DC−1,DI] in/out */, const hy_act *w /* [DI,DC] */, const hy_act *b /* [DI] */, int n, int DI,
                             int DC);
    /* the selective scan of scan_fwd continued from the fp32 state h (in/out); y overwrites */
    hy_status (*scan_step)(void *ctx, hy_act *y /* [n,DI] */, float *h /* [DI,DS] in/out */, const hy_act *u /* [n,DI] */,
                           const hy_act *delta /* [n,DI] (no bias) */, const hy_act *dt_bias /* [DI] */, const hy_act *A_log /* [DI,DS] */,
                           const hy_act *Bm /* [n,DS] ldbc */, const hy_act *Cm /* [n,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */,
                           const hy_act *z /* [n,DI] ldz */, int ldz, int n, int DI, int DS);
    /* queries at sequence indices i0..i0+n−1 against a cache: key j in slot j (j < M) or M + (j−M) mod R;
     * the training mask j ≤ i ∧ (W < 0 ∨ i−j ≤ W ∨ j < M); out overwrites */
    hy_status (*attention_decode)(void *ctx, hy_act *out /* [n, NH·DV] */, const hy_act *q /* [n, NH·DQK] ldq */, int ldq,
                                  const hy_act *kc /* [M+R, NKV·DQK] */, const hy_act *vc /* [M+R, NKV·DV] */, int i0, int n, int M,
                                  int R, int W, int NH, int NKV, int DQK, int DV, float scale);

    /* ---- optim_ops.h ---- the optimizer over the flat fp32 buffers (formulas: core/optim.h) */
    /* one AdamW update over every range of g (host); param/m/v in place; param_act (or NULL) ← act-dtype copy */
    hy_status (*adamw)(void *ctx, const hy_adamw_hparams *h, const hy_optim_groups *g, int64_t t, double lr, float grad_scale,
                       float *param /* [total] */, const float *grad /* [total] */, float *m /* [total] */, float *v /* [total] */,
                       hy_act *param_act /* [total] or NULL */);
    /* *out (host) = Σ x² in fp64, fixed reduction order; synchronises */
    hy_status (*sumsq)(void *ctx, double *out /* host */, const float *x /* [n] */, size_t n);
    /* *out (host) = 1 when every element is finite; synchronises */
    hy_status (*all_finite)(void *ctx, int *out /* host */, const float *x /* [n] */, size_t n);
    /* x[n] *= s */
    hy_status (*scale)(void *ctx, float *x /* [n] */, size_t n, float s);
};

#ifdef __cplusplus
}
#endif
#endif
