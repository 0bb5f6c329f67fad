/* rmsnorm_row.cuh — private to kernels/cuda: what the vectorised RMSNorm
 * kernels (rmsnorm.cu) and the fused two-norm average (norm_avg.cu) share.
 *
 * A row in registers.  A block of NT threads (a multiple of 32) owns one row of
 * D elements = NV 16-byte vectors (EPV = 8 bf16 or 4 fp32 per vector); thread t
 * holds vectors t, t+NT, …, t+(VPT−1)·NT (those < NV; the others are zero), so
 * each of a warp's VPT loads is one contiguous 512-byte segment and the row is
 * read from memory exactly once.  hy_rn_geometry picks NT and VPT from D alone,
 * and both ops use it with the same per-thread sum order, so the rstd of a
 * norm inside the fused op is bitwise the rstd rmsnorm_fwd computes for it.
 *
 * Preconditions of the vector path (checked by the launchers, which fall back
 * to scalar kernels otherwise): D a multiple of EPV, NV ≤ HY_RN_MAX_VPT ·
 * HY_RN_MAX_THREADS, every row start 16-byte aligned (base pointer and row
 * stride).
 *
 * Gain gradients are reduced in two fixed-order stages: each block writes one
 * partial row (its own rows, in order) and hy_rn_reduce_dw sums the partials
 * in a fixed order — deterministic, no float atomics. */
#ifndef HY_CUDA_RMSNORM_ROW_CUH
#define HY_CUDA_RMSNORM_ROW_CUH
#include "kernels/cuda/common.cuh"

/* The vector path's limits: prefer ≤ 128 threads per row (more rows resident
 * per SM, so more bytes in flight), up to 4 vectors per thread; rows up to
 * 1024 vectors (8192 bf16, 4096 fp32) take it. */
enum { HY_RN_TARGET_THREADS = 128, HY_RN_MAX_THREADS = 256, HY_RN_MAX_VPT = 4 };

/* 16-byte vectors of the storage type: unpack to fp32, pack with the storage
 * rounding (round to nearest even, as hy_st). */
template <typename T> struct hy_rn;
template <> struct hy_rn<__nv_bfloat16> {
    enum { EPV = 8 };
    static __device__ __forceinline__ void unpack(uint4 v, float (&f)[8]) {
        const uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) { /* element 2i is the low half (lower address) */
            f[2 * i] = __uint_as_float(w[i] << 16);
            f[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
        }
    }
    static __device__ __forceinline__ uint4 pack(const float (&f)[8]) {
        uint32_t w[4];
#pragma unroll
        for (int i = 0; i < 4; i++)
            w[i] = (uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(f[2 * i])) |
                   ((uint32_t)__bfloat16_as_ushort(__float2bfloat16_rn(f[2 * i + 1])) << 16);
        return make_uint4(w[0], w[1], w[2], w[3]);
    }
};
template <> struct hy_rn<float> {
    enum { EPV = 4 };
    static __device__ __forceinline__ void unpack(uint4 v, float (&f)[4]) {
        f[0] = __uint_as_float(v.x), f[1] = __uint_as_float(v.y), f[2] = __uint_as_float(v.z), f[3] = __uint_as_float(v.w);
    }
    static __device__ __forceinline__ uint4 pack(const float (&f)[4]) {
        return make_uint4(__float_as_uint(f[0]), __float_as_uint(f[1]), __float_as_uint(f[2]), __float_as_uint(f[3]));
    }
};

/* Launch geometry of a vectorised row kernel: VPT vectors per thread and NT
 * threads per row; vpt = 0 when D cannot take the vector path. */
typedef struct {
    int vpt, threads;
} hy_rn_geom;

template <typename T> static inline hy_rn_geom hy_rn_geometry(int D) {
    hy_rn_geom g = {0, 0};
    const int epv = 16 / (int)sizeof(T);
    if (D <= 0 || D % epv) return g;
    int nv = D / epv;
    for (int vpt = 1; vpt <= HY_RN_MAX_VPT; vpt *= 2) {
        int t = HY_CEIL_DIV(nv, vpt);
        if (t <= HY_RN_TARGET_THREADS || (vpt == HY_RN_MAX_VPT && t <= HY_RN_MAX_THREADS)) {
            g.vpt = vpt;
            g.threads = HY_CEIL_DIV(t, 32) * 32;
            return g;
        }
    }
    return g;
}

/* Row starts p + r·ld (elements of `esz` bytes) are all 16-byte aligned. */
static inline int hy_rn_aligned(const void *p, long long ld, size_t esz) {
    return ((uintptr_t)p % 16u) == 0 && ((size_t)ld * esz) % 16u == 0;
}

/* This thread's VPT vectors of the row at `row` (NV vectors); zeros past NV. */
template <int VPT> static __device__ __forceinline__ void hy_rn_load(uint4 (&v)[VPT], const void *row, int nv) {
    const uint4 *p = (const uint4 *)row;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        int j = threadIdx.x + k * blockDim.x;
        v[k] = j < nv ? p[j] : make_uint4(0u, 0u, 0u, 0u);
    }
}

/* This thread's share of Σ x² over its vectors, in vector then element order. */
template <typename T, int VPT> static __device__ __forceinline__ float hy_rn_sumsq(const uint4 (&v)[VPT]) {
    float ss = 0.f;
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        float f[hy_rn<T>::EPV];
        hy_rn<T>::unpack(v[k], f);
#pragma unroll
        for (int e = 0; e < hy_rn<T>::EPV; e++) ss += f[e] * f[e];
    }
    return ss;
}

/* Two block sums at once (blockDim.x a multiple of 32); every thread gets
 * both.  Per component the same shuffle and warp order as hy_block_sum. */
static __device__ __forceinline__ float2 hy_rn_block_sum2(float a, float b, float2 *sh /* [32] shared */) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    a = hy_warp_sum(a);
    b = hy_warp_sum(b);
    __syncthreads(); /* sh may still be read by a previous call */
    if (lane == 0) sh[warp] = make_float2(a, b);
    __syncthreads();
    float2 t = lane < nw ? sh[lane] : make_float2(0.f, 0.f);
    return make_float2(hy_warp_sum(t.x), hy_warp_sum(t.y));
}

/* Store this thread's per-column accumulators (the layout of its vectors) as
 * one block's partial row: prow[j·EPV + e] = acc[k][e] for j = t + k·NT < NV. */
template <typename T, int VPT>
static __device__ __forceinline__ void hy_rn_store_partial(float *prow /* [D] */, const float (&acc)[VPT][hy_rn<T>::EPV], int nv) {
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        int j = threadIdx.x + k * blockDim.x;
        if (j >= nv) continue;
        float4 *p = (float4 *)(prow + (size_t)j * hy_rn<T>::EPV);
#pragma unroll
        for (int q = 0; q < hy_rn<T>::EPV / 4; q++)
            p[q] = make_float4(acc[k][4 * q], acc[k][4 * q + 1], acc[k][4 * q + 2], acc[k][4 * q + 3]);
    }
}

/* Rows per block of a gain-gradient kernel: the grid is one wave of resident
 * blocks (sm_count × occupancy), each block taking a contiguous run of rows,
 * so the partials are few and every SM stays busy.  The split depends on the
 * GPU model and the build only: reruns on the same hardware are bitwise equal. */
hy_status hy_rn_rows_per_block(hy_cuda_ctx *c, const void *kernel, int threads, int n, int *rows_per_block, int *blocks);

/* dw0[i] += Σ_{p<P} part[p·D + i] and dw1[i] += Σ_{p<P} part[(P+p)·D + i]
 * (i < D), each sum in a fixed order; a NULL dw0/dw1 is skipped.  Defined in
 * rmsnorm.cu. */
hy_status hy_rn_reduce_dw(hy_cuda_ctx *c, float *dw0 /* [D] += */, float *dw1 /* [D] += or NULL */, const float *part /* [2?,P,D] */,
                          int P, int D);

#endif
