/* common.cuh — private to kernels/cuda: the backend context, the check macros
 * every CUDA call and kernel launch goes through, bf16/fp32 load/store
 * helpers templated on the storage type, and warp/block reductions.
 *
 * Invariants:
 *   - No globals: the device, stream, matmul state and scratch live in
 *     hy_cuda_ctx, reached through the ops table's ctx pointer.
 *   - Every CUDA runtime call is wrapped in HY_CUDA_CHECK(ctx, call); a
 *     failure records "call: error name (string) at file:line on device N"
 *     with hy_errorf(HY_ERR_CUDA, ...) and returns the status.
 *   - Every kernel launch is followed by HY_CUDA_LAUNCH_CHECK(ctx, "what");
 *     with HYMBA_CUDA_SYNC=1 in the environment it also synchronises the
 *     stream, so an asynchronous fault is reported at the launch that caused
 *     it rather than at some later call.
 *   - Math is fp32 (or wider); only storage is templated (float or
 *     __nv_bfloat16).  hy_ld<T> widens, hy_st<T> rounds to nearest even. */
#ifndef HY_CUDA_COMMON_CUH
#define HY_CUDA_COMMON_CUH
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>

#include "core/hy_base.h"
#include "kernels/ops.h"

struct hy_cuda_matmul; /* cuBLASLt state, defined in matmul.cu (its only user) */

typedef struct hy_cuda_ctx {
    int device;
    hy_dtype act;                /* HY_DTYPE_BF16 or HY_DTYPE_F32 */
    cudaStream_t stream;         /* every op runs on this stream */
    int sync_after_launch;       /* HYMBA_CUDA_SYNC=1: synchronise after each launch */
    int sm_count;
    size_t smem_optin;           /* max dynamic shared memory per block (opt-in) */
    struct hy_cuda_matmul *mm;   /* cuBLASLt handle, workspace, fallbacks */
    void *scratch;               /* grows to the high-water mark of the first step, then reused */
    size_t scratch_bytes;
    int *dev_err;                /* [4] device: deferred argument error (code, row, value, bound) */
} hy_cuda_ctx;

/* Deferred argument errors.  Kernels that find bad data (a token id or a
 * target outside [0, V)) cannot return a status; they record the first one
 * here, and the next sync or to_host reports it as HY_ERR_ARG.  That keeps the
 * ops asynchronous while bad input still never passes silently. */
enum { HY_CUDA_ERR_NONE = 0, HY_CUDA_ERR_TOKEN_ID = 1, HY_CUDA_ERR_TARGET = 2 };
static __device__ __forceinline__ void hy_cuda_flag(int *err, int code, int row, int value, int bound) {
    if (atomicCAS(err, 0, code) == 0) {
        err[1] = row;
        err[2] = value;
        err[3] = bound;
    }
}

#define HY_CUDA_CHECK(ctx, call)                                                                            \
    do {                                                                                                    \
        cudaError_t hy_cu_e_ = (call);                                                                      \
        if (hy_cu_e_ != cudaSuccess)                                                                        \
            return hy_errorf(HY_ERR_CUDA, "%s: %s (%s) at %s:%d on device %d", #call,                      \
                             cudaGetErrorName(hy_cu_e_), cudaGetErrorString(hy_cu_e_), __FILE__, __LINE__, \
                             (ctx)->device);                                                                \
    } while (0)

/* After each <<<...>>>: the launch error, and in debug mode the kernel's own. */
#define HY_CUDA_LAUNCH_CHECK(ctx, what)                                                                     \
    do {                                                                                                    \
        cudaError_t hy_cu_e_ = cudaGetLastError();                                                          \
        if (hy_cu_e_ == cudaSuccess && (ctx)->sync_after_launch)                                            \
            hy_cu_e_ = cudaStreamSynchronize((ctx)->stream);                                                \
        if (hy_cu_e_ != cudaSuccess)                                                                        \
            return hy_errorf(HY_ERR_CUDA, "kernel %s: %s (%s) at %s:%d on device %d", (what),              \
                             cudaGetErrorName(hy_cu_e_), cudaGetErrorString(hy_cu_e_), __FILE__, __LINE__, \
                             (ctx)->device);                                                                \
    } while (0)

/* Scratch device memory of at least `bytes`, valid until the next call on
 * this context (stream-ordered: no two ops hold it at the same time).  Grows
 * with a synchronising reallocation; defined in backend_cuda.cu. */
hy_status hy_cuda_scratch(hy_cuda_ctx *c, size_t bytes, void **out);

/* dst[i] += Σ_{k < nparts} partial[k·width + i], k in order: the fixed-order
 * second stage of every deterministic reduction.  Defined in backend_cuda.cu. */
hy_status hy_cuda_sum_partials(hy_cuda_ctx *c, float *dst, const float *partial, int nparts, size_t width);

/* Round a byte count up to 256 so carved scratch sub-buffers stay aligned. */
static inline size_t hy_cuda_align(size_t bytes) { return (bytes + 255) & ~(size_t)255; }

/* ---- storage-typed load/store (math is always fp32) ---- */
template <typename T> __device__ __forceinline__ float hy_ld(const T *p);
template <> __device__ __forceinline__ float hy_ld<float>(const float *p) { return *p; }
template <> __device__ __forceinline__ float hy_ld<__nv_bfloat16>(const __nv_bfloat16 *p) { return __bfloat162float(*p); }

template <typename T> __device__ __forceinline__ void hy_st(T *p, float v);
template <> __device__ __forceinline__ void hy_st<float>(float *p, float v) { *p = v; }
template <> __device__ __forceinline__ void hy_st<__nv_bfloat16>(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

/* Round v to what storing it as T would keep (bf16 rounding, or identity). */
template <typename T> __device__ __forceinline__ float hy_round(float v) {
    T t;
    hy_st<T>(&t, v);
    return hy_ld<T>(&t);
}

/* ---- reductions (fixed shuffle order: deterministic) ---- */
__device__ __forceinline__ float hy_warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float hy_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* Sum over the whole block (blockDim.x a multiple of 32, ≤ 1024); every
 * thread gets the result.  `sh` is ≥ 32 floats of shared memory. */
__device__ __forceinline__ float hy_block_sum(float v, float *sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = hy_warp_sum(v);
    __syncthreads(); /* sh may still be read by a previous call */
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = lane < nw ? sh[lane] : 0.f;
    return hy_warp_sum(t);
}
__device__ __forceinline__ float hy_block_max(float v, float *sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = hy_warp_max(v);
    __syncthreads();
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = lane < nw ? sh[lane] : -INFINITY;
    return hy_warp_max(t);
}

__device__ __forceinline__ float hy_sigmoid(float x) { return 1.f / (1.f + expf(-x)); }

/* Grid size for a grid-stride loop over n elements. */
static inline unsigned hy_cuda_blocks(size_t n, int threads) {
    size_t b = (n + (size_t)threads - 1) / (size_t)threads;
    if (b > 65535u * 16u) b = 65535u * 16u;
    return b ? (unsigned)b : 1u;
}

static inline hy_cuda_ctx *hy_cuda_ctx_of(void *ctx) { return (hy_cuda_ctx *)ctx; }
static inline int hy_cuda_bf16(const hy_cuda_ctx *c) { return c->act == HY_DTYPE_BF16; }

#endif
