/* rope.cu — rotary embedding in place, rotate-half convention (spec §4.1, §9.3).
 *
 * For each row (position p = pos[row]), head h and m < D/2, with angle
 * a = fp32(p · inv_freq[m]):
 *   fwd:  x[m] ← x[m]·cos a − x[m+D/2]·sin a;   x[m+D/2] ← x[m+D/2]·cos a + x[m]·sin a
 *   bwd:  the inverse rotation (the same with sin a negated).
 * cos/sin are fp32 (accurate cosf/sinf, not the fast intrinsics) rounded to
 * the storage type as the reference does (ρ(cos), ρ(sin) in bf16), the
 * rotation itself in fp32 with one rounding on store.  One thread per pair. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/rope.h"

template <typename T>
static __global__ void k_rope(T *x, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D, float sign) {
    int half = D / 2;
    size_t total = (size_t)n * H * half;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        int m = (int)(i % half);
        size_t rh = i / half;
        int h = (int)(rh % H);
        size_t row = rh / H;
        float a = (float)pos[row] * inv_freq[m], sn, cs;
        sincosf(a, &sn, &cs);
        cs = hy_round<T>(cs);
        sn = sign * hy_round<T>(sn);
        T *p = x + row * (size_t)ldx + (size_t)h * D;
        float x0 = hy_ld<T>(p + m), x1 = hy_ld<T>(p + m + half);
        hy_st<T>(p + m, x0 * cs - x1 * sn);
        hy_st<T>(p + m + half, x1 * cs + x0 * sn);
    }
}

static hy_status rope_run(void *ctx, hy_act *x, int ldx, const int32_t *pos, const float *inv_freq, int n, int H, int D,
                          float sign, const char *what) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    size_t total = (size_t)n * H * (D / 2);
    if (!total) return HY_OK;
    if (D % 2) return hy_errorf(HY_ERR_ARG, "%s: head dim D = %d must be even", what, D);
    unsigned g = hy_cuda_blocks(total, 256);
    if (hy_cuda_bf16(c))
        k_rope<__nv_bfloat16><<<g, 256, 0, c->stream>>>((__nv_bfloat16 *)x, ldx, pos, inv_freq, n, H, D, sign);
    else
        k_rope<float><<<g, 256, 0, c->stream>>>((float *)x, ldx, pos, inv_freq, n, H, D, sign);
    HY_CUDA_LAUNCH_CHECK(c, what);
    return HY_OK;
}

extern "C" hy_status hy_rope_fwd_cuda(void *ctx, hy_act *x /* [N, H·D] ldx */, int ldx, const int32_t *pos /* [N] */,
                                      const float *inv_freq /* [D/2] */, int n, int H, int D) {
    return rope_run(ctx, x, ldx, pos, inv_freq, n, H, D, 1.f, "rope_fwd");
}

extern "C" hy_status hy_rope_bwd_cuda(void *ctx, hy_act *dx /* [N, H·D] ldx */, int ldx, const int32_t *pos /* [N] */,
                                      const float *inv_freq /* [D/2] */, int n, int H, int D) {
    return rope_run(ctx, dx, ldx, pos, inv_freq, n, H, D, -1.f, "rope_bwd");
}
