/* swiglu.cu — SiLU-gated product (spec §7.3, §9.10), elementwise in fp32.
 *   fwd:  out = silu(a) ⊙ b
 *   bwd:  da = dout ⊙ b ⊙ σ(a)·(1 + a·(1 − σ(a)));   db = dout ⊙ silu(a)   (both overwrite)
 * a and b share one row stride (they are column blocks of one GEMM output);
 * out and dout are contiguous [n, F]. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/swiglu.h"

template <typename T> static __global__ void k_swiglu_fwd(T *out, const T *a, const T *b, int ld, int n, int F) {
    size_t total = (size_t)n * F;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / F, col = i % F, o = r * (size_t)ld + col;
        float av = hy_ld<T>(a + o), bv = hy_ld<T>(b + o);
        hy_st<T>(out + i, av * hy_sigmoid(av) * bv);
    }
}

template <typename T>
static __global__ void k_swiglu_bwd(T *da, T *db, int ld, const T *dout, const T *a, const T *b, int n, int F) {
    size_t total = (size_t)n * F;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / F, col = i % F, o = r * (size_t)ld + col;
        float av = hy_ld<T>(a + o), bv = hy_ld<T>(b + o), g = hy_ld<T>(dout + i), s = hy_sigmoid(av);
        hy_st<T>(da + o, g * bv * s * (1.f + av * (1.f - s)));
        hy_st<T>(db + o, g * av * s);
    }
}

extern "C" hy_status hy_swiglu_fwd_cuda(void *ctx, hy_act *out /* [n,F] */, const hy_act *a /* [n,F] ld */,
                                        const hy_act *b /* [n,F] ld */, int ld, int n, int F) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    size_t total = (size_t)n * F;
    if (!total) return HY_OK;
    unsigned g = hy_cuda_blocks(total, 256);
    if (hy_cuda_bf16(c))
        k_swiglu_fwd<__nv_bfloat16><<<g, 256, 0, c->stream>>>((__nv_bfloat16 *)out, (const __nv_bfloat16 *)a,
                                                              (const __nv_bfloat16 *)b, ld, n, F);
    else
        k_swiglu_fwd<float><<<g, 256, 0, c->stream>>>((float *)out, (const float *)a, (const float *)b, ld, n, F);
    HY_CUDA_LAUNCH_CHECK(c, "swiglu_fwd");
    return HY_OK;
}

extern "C" hy_status hy_swiglu_bwd_cuda(void *ctx, hy_act *da /* [n,F] ld */, hy_act *db /* [n,F] ld */, int ld,
                                        const hy_act *dout /* [n,F] */, const hy_act *a, const hy_act *b, int n, int F) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    size_t total = (size_t)n * F;
    if (!total) return HY_OK;
    unsigned g = hy_cuda_blocks(total, 256);
    if (hy_cuda_bf16(c))
        k_swiglu_bwd<__nv_bfloat16><<<g, 256, 0, c->stream>>>((__nv_bfloat16 *)da, (__nv_bfloat16 *)db, ld,
                                                              (const __nv_bfloat16 *)dout, (const __nv_bfloat16 *)a,
                                                              (const __nv_bfloat16 *)b, n, F);
    else
        k_swiglu_bwd<float><<<g, 256, 0, c->stream>>>((float *)da, (float *)db, ld, (const float *)dout, (const float *)a,
                                                      (const float *)b, n, F);
    HY_CUDA_LAUNCH_CHECK(c, "swiglu_bwd");
    return HY_OK;
}
