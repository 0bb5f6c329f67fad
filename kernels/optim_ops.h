/* optim_ops.h — the optimizer ops: AdamW over the flat fp32 buffers, the
 * gradient's sum of squares, a finiteness test and scaling.  They let the
 * trainer keep master weights, gradients and AdamW moments in backend memory
 * (device memory on CUDA) and update them without a host round trip.
 *
 * Math: core/optim.h (torch.optim.AdamW semantics; the scalars — bias
 * corrections, step size, decay multiplier — are formed on the host in fp64
 * exactly as hy_adamw_step forms them, the element math is fp32 in the same
 * operation order).  Ranges come from hy_optim_groups (host array): elements
 * outside every range (alignment gaps between ranges of different decay) are
 * left untouched; they are zero and stay zero.
 *
 * adamw      param, m, v updated in place over every range; grad read only.
 *            param_act (optional, NULL to skip) receives the updated weights
 *            rounded to the act dtype (the bf16 copy the model computes with),
 *            in the same pass.  Elementwise: deterministic.
 * sumsq      *out = Σ x[i]² accumulated in fp64 with a fixed reduction order
 *            (bitwise reproducible run to run for a given backend; the CPU
 *            uses core/optim.c's HY_OPTIM_NORM_CHUNKS chunking, so
 *            sqrt(*out) is bit-identical to hy_optim_global_norm).  *out is
 *            host memory, valid on return (the op synchronises).  A
 *            non-finite element makes the sum non-finite.
 * all_finite *out (host) = 1 when every x[i] is finite, else 0; synchronises.
 * scale      x[i] *= s over [0, n).
 *
 * CPU (kernels/cpu/optim_ops.c): calls core/optim.c.  CUDA
 * (kernels/cuda/optim_ops.cu): grid-stride kernels, ranges batched into few
 * launches; sumsq is a two-stage fp64 reduction (fixed grid of per-block
 * partials, then one block sums them in order), no atomics. */
#ifndef HY_KERNELS_OPTIM_OPS_H
#define HY_KERNELS_OPTIM_OPS_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_adamw_cpu(void *ctx, const hy_adamw_hparams *h, const hy_optim_groups *g /* host */, int64_t t, double lr, float grad_scale,
                       float *param /* [total] */, const float *grad /* [total] */, float *m /* [total] */, float *v /* [total] */,
                       hy_act *param_act /* [total] or NULL */);
hy_status hy_sumsq_cpu(void *ctx, double *out /* host [1] */, const float *x /* [n] */, size_t n);
hy_status hy_all_finite_cpu(void *ctx, int *out /* host [1] */, const float *x /* [n] */, size_t n);
hy_status hy_scale_cpu(void *ctx, float *x /* [n] */, size_t n, float s);

/* Implemented in kernels/cuda/optim_ops.cu. */
hy_status hy_adamw_cuda(void *ctx, const hy_adamw_hparams *h, const hy_optim_groups *g /* host */, int64_t t, double lr, float grad_scale,
                        float *param /* [total] */, const float *grad /* [total] */, float *m /* [total] */, float *v /* [total] */,
                        hy_act *param_act /* [total] or NULL */);
hy_status hy_sumsq_cuda(void *ctx, double *out /* host [1] */, const float *x /* [n] */, size_t n);
hy_status hy_all_finite_cuda(void *ctx, int *out /* host [1] */, const float *x /* [n] */, size_t n);
hy_status hy_scale_cuda(void *ctx, float *x /* [n] */, size_t n, float s);

#ifdef __cplusplus
}
#endif
#endif
