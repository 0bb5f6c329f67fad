/* rmsnorm.cu — RMSNorm forward and backward (spec §8, §9.2).
 *
 *   fwd:  rstd = 1/sqrt(mean(x²) + eps);  out = w ⊙ ρ(x·rstd)   (ρ: storage rounding)
 *   bwd:  n = x·rstd;  g = dout ⊙ w;  dx (+)= rstd·(g − n·mean(g⊙n));  dw += Σ_rows dout ⊙ n
 *
 * One block per row for the row-local parts (fp32 block reductions).  dw is
 * a column sum over rows: deterministic two-stage reduction — per chunk of
 * HY_RMS_CHUNK rows a partial sum per column in scratch, then one thread per
 * column adds the partials in chunk order (no atomics). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/rmsnorm.h"

enum { HY_RMS_THREADS = 256, HY_RMS_CHUNK = 64 };
/* Rows of at most HY_RMS_WARP_D elements (Hymba's dt/B/C norms: 100, 16, 16)
 * get one warp each, 8 rows per block, instead of a 256-thread block per row
 * that leaves most threads idle; the sums are warp shuffles (fixed order). */
enum { HY_RMS_WARP_D = 256, HY_RMS_WARP_ROWS = HY_RMS_THREADS / 32 };

template <typename T>
static __global__ void k_rms_fwd_warp(T *out, int ldo, float *rstd, const T *x, int ldx, const T *w, int n, int D, float eps) {
    int lane = threadIdx.x & 31;
    size_t row = (size_t)blockIdx.x * HY_RMS_WARP_ROWS + (threadIdx.x >> 5);
    if (row >= (size_t)n) return; /* the whole warp leaves together */
    const T *xr = x + row * (size_t)ldx;
    float ss = 0.f;
    for (int i = lane; i < D; i += 32) {
        float v = hy_ld<T>(xr + i);
        ss += v * v;
    }
    float r = rsqrtf(hy_warp_sum(ss) / (float)D + eps);
    if (lane == 0) rstd[row] = r;
    T *orow = out + row * (size_t)ldo;
    for (int i = lane; i < D; i += 32) hy_st<T>(orow + i, hy_ld<T>(w + i) * hy_round<T>(hy_ld<T>(xr + i) * r));
}

template <typename T>
static __global__ void k_rms_bwd_dx_warp(T *dx, int lddx, const T *dout, int ldo, const T *x, int ldx, const T *w, const float *rstd,
                                         int n, int D, int accumulate) {
    int lane = threadIdx.x & 31;
    size_t row = (size_t)blockIdx.x * HY_RMS_WARP_ROWS + (threadIdx.x >> 5);
    if (row >= (size_t)n) return;
    const T *xr = x + row * (size_t)ldx, *dr = dout + row * (size_t)ldo;
    float r = rstd[row], dot = 0.f;
    for (int i = lane; i < D; i += 32) dot += hy_ld<T>(dr + i) * hy_ld<T>(w + i) * hy_ld<T>(xr + i) * r;
    dot = hy_warp_sum(dot) / (float)D;
    T *dxr = dx + row * (size_t)lddx;
    for (int i = lane; i < D; i += 32) {
        float g = hy_ld<T>(dr + i) * hy_ld<T>(w + i), nv = hy_ld<T>(xr + i) * r;
        float v = r * (g - nv * dot);
        hy_st<T>(dxr + i, accumulate ? hy_ld<T>(dxr + i) + v : v);
    }
}

template <typename T>
static __global__ void k_rms_fwd(T *out, int ldo, float *rstd, const T *x, int ldx, const T *w, int D, float eps) {
    __shared__ float sh[32];
    size_t row = blockIdx.x;
    const T *xr = x + row * (size_t)ldx;
    float ss = 0.f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float v = hy_ld<T>(xr + i);
        ss += v * v;
    }
    ss = hy_block_sum(ss, sh);
    float r = rsqrtf(ss / (float)D + eps);
    if (threadIdx.x == 0) rstd[row] = r;
    T *orow = out + row * (size_t)ldo;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float nv = hy_round<T>(hy_ld<T>(xr + i) * r);
        hy_st<T>(orow + i, hy_ld<T>(w + i) * nv);
    }
}

template <typename T>
static __global__ void k_rms_bwd_dx(T *dx, int lddx, const T *dout, int ldo, const T *x, int ldx, const T *w, const float *rstd,
                             int D, int accumulate) {
    __shared__ float sh[32];
    size_t row = blockIdx.x;
    const T *xr = x + row * (size_t)ldx, *dr = dout + row * (size_t)ldo;
    float r = rstd[row], dot = 0.f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) dot += hy_ld<T>(dr + i) * hy_ld<T>(w + i) * hy_ld<T>(xr + i) * r;
    dot = hy_block_sum(dot, sh) / (float)D;
    T *dxr = dx + row * (size_t)lddx;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float g = hy_ld<T>(dr + i) * hy_ld<T>(w + i), nv = hy_ld<T>(xr + i) * r;
        float v = r * (g - nv * dot);
        hy_st<T>(dxr + i, accumulate ? hy_ld<T>(dxr + i) + v : v);
    }
}

/* partial[chunk][col] = Σ_{rows of chunk} dout·x·rstd */
template <typename T>
static __global__ void k_rms_bwd_dw_part(float *partial, const T *dout, int ldo, const T *x, int ldx, const float *rstd, int n,
                                  int D) {
    int col = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (col >= D) return;
    int r0 = chunk * HY_RMS_CHUNK, r1 = min(n, r0 + HY_RMS_CHUNK);
    float acc = 0.f;
    for (int r = r0; r < r1; r++)
        acc += hy_ld<T>(dout + (size_t)r * ldo + col) * hy_ld<T>(x + (size_t)r * ldx + col) * rstd[r];
    partial[(size_t)chunk * D + col] = acc;
}

template <typename T>
static hy_status rms_fwd(hy_cuda_ctx *c, T *out, int ldo, float *rstd, const T *x, int ldx, const T *w, int n, int D,
                         float eps) {
    if (D <= HY_RMS_WARP_D)
        k_rms_fwd_warp<T><<<HY_CEIL_DIV(n, HY_RMS_WARP_ROWS), HY_RMS_THREADS, 0, c->stream>>>(out, ldo, rstd, x, ldx, w, n, D, eps);
    else k_rms_fwd<T><<<n, HY_RMS_THREADS, 0, c->stream>>>(out, ldo, rstd, x, ldx, w, D, eps);
    HY_CUDA_LAUNCH_CHECK(c, "rmsnorm_fwd");
    return HY_OK;
}

template <typename T>
static hy_status rms_bwd(hy_cuda_ctx *c, T *dx, int lddx, float *dw, const T *dout, int ldo, const T *x, int ldx,
                         const T *w, const float *rstd, int n, int D, int accumulate) {
    if (dx) {
        if (D <= HY_RMS_WARP_D)
            k_rms_bwd_dx_warp<T><<<HY_CEIL_DIV(n, HY_RMS_WARP_ROWS), HY_RMS_THREADS, 0, c->stream>>>(dx, lddx, dout, ldo, x, ldx, w, rstd,
                                                                                                   n, D, accumulate);
        else k_rms_bwd_dx<T><<<n, HY_RMS_THREADS, 0, c->stream>>>(dx, lddx, dout, ldo, x, ldx, w, rstd, D, accumulate);
        HY_CUDA_LAUNCH_CHECK(c, "rmsnorm_bwd dx");
    }
    if (dw) {
        int nchunks = HY_CEIL_DIV(n, HY_RMS_CHUNK);
        void *scr;
        HY_TRY(hy_cuda_scratch(c, (size_t)nchunks * D * sizeof(float), &scr));
        dim3 grid(HY_CEIL_DIV(D, 128), nchunks);
        k_rms_bwd_dw_part<T><<<grid, 128, 0, c->stream>>>((float *)scr, dout, ldo, x, ldx, rstd, n, D);
        HY_CUDA_LAUNCH_CHECK(c, "rmsnorm_bwd dw partials");
        HY_TRY(hy_cuda_sum_partials(c, dw, (const float *)scr, nchunks, (size_t)D));
    }
    return HY_OK;
}

extern "C" hy_status hy_rmsnorm_fwd_cuda(void *ctx, hy_act *out /* [n,D] ldo */, int ldo, float *rstd /* [n] */,
                                         const hy_act *x /* [n,D] ldx */, int ldx, const hy_act *w /* [D] */, int n, int D,
                                         float eps) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (n <= 0 || D <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        return rms_fwd<__nv_bfloat16>(c, (__nv_bfloat16 *)out, ldo, rstd, (const __nv_bfloat16 *)x, ldx,
                                      (const __nv_bfloat16 *)w, n, D, eps);
    return rms_fwd<float>(c, (float *)out, ldo, rstd, (const float *)x, ldx, (const float *)w, n, D, eps);
}

extern "C" hy_status hy_rmsnorm_bwd_cuda(void *ctx, hy_act *dx /* [n,D] lddx (+)= */, int lddx, float *dw /* [D] += */,
                                         const hy_act *dout /* [n,D] ldo */, int ldo, const hy_act *x /* [n,D] ldx */,
                                         int ldx, const hy_act *w /* [D] */, const float *rstd /* [n] */, int n, int D,
                                         int accumulate) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (n <= 0 || D <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        return rms_bwd<__nv_bfloat16>(c, (__nv_bfloat16 *)dx, lddx, dw, (const __nv_bfloat16 *)dout, ldo,
                                      (const __nv_bfloat16 *)x, ldx, (const __nv_bfloat16 *)w, rstd, n, D, accumulate);
    return rms_bwd<float>(c, (float *)dx, lddx, dw, (const float *)dout, ldo, (const float *)x, ldx, (const float *)w,
                          rstd, n, D, accumulate);
}
