/* matmul.h — dense product with PyTorch weight layout (nn.Linear without bias).
 *
 * Math:
 *   out[n,O]  (+)=  in[n,I] · W[O,I]ᵀ            (accumulate: add to out instead of overwrite)
 * Backward:
 *   din[n,I]  (+)=  dout[n,O] · W[O,I]           (skipped when din is NULL; accumulate_din)
 *   dW[O,I]    +=   dout[n,O]ᵀ · in[n,I]         (fp32, skipped when dw is NULL)
 * Row strides ldo/ldi/lddi let the product read and write column blocks of
 * wider buffers (the in_proj split); W and dW are dense ([O,I], row stride I).
 * n == 0 is allowed and does nothing.
 * CPU: one cblas_sgemm per product (kernels/cpu/matmul.c is the only CBLAS
 * include site).  CUDA: cuBLASLt with fp32 accumulation. */
#ifndef HY_KERNELS_MATMUL_H
#define HY_KERNELS_MATMUL_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_matmul_fwd_cpu(void *ctx, hy_act *out /* [n,O] ldo, (+)= */, int ldo, const hy_act *in /* [n,I] ldi */, int ldi,
                            const hy_act *w /* [O,I] */, int n, int O, int I, int accumulate);
hy_status hy_matmul_bwd_cpu(void *ctx, hy_act *din /* [n,I] lddi */, int lddi, float *dw /* [O,I] += */, const hy_act *dout /* [n,O] ldo */,
                            int ldo, const hy_act *in /* [n,I] ldi */, int ldi, const hy_act *w /* [O,I] */, int n, int O, int I,
                            int accumulate_din);

/* Implemented in kernels/cuda/matmul.cu. */
hy_status hy_matmul_fwd_cuda(void *ctx, hy_act *out /* [n,O] ldo, (+)= */, int ldo, const hy_act *in /* [n,I] ldi */, int ldi,
                             const hy_act *w /* [O,I] */, int n, int O, int I, int accumulate);
hy_status hy_matmul_bwd_cuda(void *ctx, hy_act *din /* [n,I] lddi */, int lddi, float *dw /* [O,I] += */, const hy_act *dout /* [n,O] ldo */,
                             int ldo, const hy_act *in /* [n,I] ldi */, int ldi, const hy_act *w /* [O,I] */, int n, int O, int I,
                             int accumulate_din);

#ifdef __cplusplus
}
#endif
#endif
