/* cuda_ops.h — private to kernels/cuda: the CUDA op entry points that
 * backend_cuda.cu puts in the ops table, and the matmul state's lifetime.
 * Each signature is exactly the ops.h pointer's (the table assignment checks
 * it); the public per-op headers kernels/<op>.h declare the same functions. */
#ifndef HY_CUDA_OPS_H
#define HY_CUDA_OPS_H
#include "kernels/cuda/common.cuh"

extern "C" {
/* matmul.cu: cuBLASLt handle + workspace in ctx->mm */
hy_status hy_cuda_matmul_create(hy_cuda_ctx *c);
void hy_cuda_matmul_destroy(hy_cuda_ctx *c);

hy_status hy_embedding_fwd_cuda(void *ctx, hy_act *out, const int32_t *ids, const hy_seqs *s, const hy_act *emb,
                                const hy_act *meta, int M, int C);
hy_status hy_embedding_bwd_cuda(void *ctx, float *demb, float *dmeta, const hy_act *dout, const int32_t *ids,
                                const hy_seqs *s, int M, int C, int V, int padding_idx);

hy_status hy_rmsnorm_fwd_cuda(void *ctx, hy_act *out, int ldo, float *rstd, const hy_act *x, int ldx, const hy_act *w,
                              int n, int D, float eps);
hy_status hy_rmsnorm_bwd_cuda(void *ctx, hy_act *dx, int lddx, float *dw, const hy_act *dout, int ldo, const hy_act *x,
                              int ldx, const hy_act *w, const float *rstd, int n, int D, int accumulate);

hy_status hy_matmul_fwd_cuda(void *ctx, hy_act *out, int ldo, const hy_act *in, int ldi, const hy_act *w, int n, int O,
                             int I, int accumulate);
hy_status hy_matmul_bwd_cuda(void *ctx, hy_act *din, int lddi, float *dw, const hy_act *dout, int ldo, const hy_act *in,
                             int ldi, const hy_act *w, int n, int O, int I, int accumulate_din);

hy_status hy_rope_fwd_cuda(void *ctx, hy_act *x, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D);
hy_status hy_rope_bwd_cuda(void *ctx, hy_act *dx, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D);

hy_status hy_attention_fwd_cuda(void *ctx, hy_act *out, float *lse, const hy_act *q, int ldq, const hy_act *k, int ldk,
                                const hy_act *v, int ldv, const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M,
                                int W, float scale);
hy_status hy_attention_bwd_cuda(void *ctx, hy_act *dq, int lddq, hy_act *dk, hy_act *dv, const hy_act *dout,
                                const hy_act *out, const float *lse, const hy_act *q, int ldq, const hy_act *k, int ldk,
                                const hy_act *v, int ldv, const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M,
                                int W, float scale);

hy_status hy_conv1d_fwd_cuda(void *ctx, hy_act *u, const hy_act *x, int ldx, const hy_act *w, const hy_act *b,
                             const hy_seqs *s, int DI, int DC);
hy_status hy_conv1d_bwd_cuda(void *ctx, hy_act *dx, int lddx, float *dw, float *db, const hy_act *du, const hy_act *x,
                             int ldx, const hy_act *w, const hy_act *b, const hy_seqs *s, int DI, int DC);

hy_status hy_selective_scan_fwd_cuda(void *ctx, hy_act *y, const hy_act *u, const hy_act *delta, const hy_act *dt_bias,
                                     const hy_act *A_log, const hy_act *Bm, const hy_act *Cm, int ldbc, const hy_act *D,
                                     const hy_act *z, int ldz, const hy_seqs *s, int DI, int DS);
hy_status hy_selective_scan_bwd_cuda(void *ctx, hy_act *du, hy_act *ddelta, hy_act *dBm, hy_act *dCm, int lddbc,
                                     hy_act *dz, int lddz, float *ddt_bias, float *dA_log, float *dD, const hy_act *dy,
                                     const hy_act *u, const hy_act *delta, const hy_act *dt_bias, const hy_act *A_log,
                                     const hy_act *Bm, const hy_act *Cm, int ldbc, const hy_act *D, const hy_act *z,
                                     int ldz, const hy_seqs *s, int DI, int DS);

hy_status hy_swiglu_fwd_cuda(void *ctx, hy_act *out, const hy_act *a, const hy_act *b, int ld, int n, int F);
hy_status hy_swiglu_bwd_cuda(void *ctx, hy_act *da, hy_act *db, int ld, const hy_act *dout, const hy_act *a,
                             const hy_act *b, int n, int F);

hy_status hy_cross_entropy_fwd_cuda(void *ctx, float *loss, float *lse, const hy_act *logits, int ld,
                                    const int32_t *targets, int n, int V);
hy_status hy_cross_entropy_bwd_cuda(void *ctx, hy_act *dlogits, int ld, const hy_act *logits, const float *lse,
                                    const int32_t *targets, const float *scale, int n, int V);
hy_status hy_gather_rows_cuda(void *ctx, hy_act *out, const hy_act *in, const int32_t *idx, int n, int C);
hy_status hy_scatter_rows_cuda(void *ctx, hy_act *out, const hy_act *in, const int32_t *idx, int n, int C,
                               int accumulate);
}
#endif
