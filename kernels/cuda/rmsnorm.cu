/* rmsnorm.cu — RMSNorm forward and backward (spec §8, §9.2).
 *
 *   fwd:  rstd = 1/sqrt(mean(x²) + eps);  out = w ⊙ ρ(x·rstd)   (ρ: storage rounding)
 *   bwd:  n = x·rstd;  g = dout ⊙ w;  dx (+)= rstd·(g − n·mean(g⊙n));  dw += Σ_rows dout ⊙ n
 *
 * Kernels, by row width (the launchers pick; all fp32 math, fixed-order sums):
 *   - narrow rows (D ≤ HY_RMS_WARP_D: the dt/B/C norms, 100 and 16 wide, read
 *     in place from the x_proj output): one warp per row.  The backward is one
 *     kernel: each warp takes HY_RMS_WARP_RPW consecutive rows, writes their dx
 *     and keeps its columns' dw sums in registers, then stores one partial row.
 *   - wide rows with 16-byte aligned rows and D a multiple of 8 (bf16) / 4
 *     (fp32) — the hidden-size norms (1600) — the vector path of
 *     rmsnorm_row.cuh: the whole row in registers as 16-byte vectors, read
 *     once.  Forward: one block per row.  Backward: a grid of one wave of
 *     resident blocks, each walking a contiguous run of rows: dx per row, dw
 *     summed per thread over the block's rows in registers, one partial row
 *     per block (no second read of dout and x for dw).
 *   - anything else (odd D, unaligned strides): one 256-thread block per row
 *     with strided loops; dw from column partials over 64-row chunks.
 * Every dw partial set is summed by hy_rn_reduce_dw: 32 columns × 32 part
 * groups per block, each group in part order, then the groups in order — the
 * second stage is parallel yet deterministic.
 *
 * Variant 0 (HYMBA_RMSNORM_VARIANT=0 in the environment, for A/B timing with
 * `hymba bench --kernels` / `--profile`): the previous kernels — warp per
 * narrow row, scalar block per wide row, separate dw partial kernel summed by
 * hy_cuda_sum_partials — on every shape.  The default (variant 1) is the
 * above; both are deterministic. */
#include <stdlib.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/rmsnorm_row.cuh"
#include "kernels/rmsnorm.h"

enum { HY_RMS_THREADS = 256, HY_RMS_CHUNK = 64 };
/* Rows of at most HY_RMS_WARP_D elements (Hymba's dt/B/C norms: 100, 16, 16)
 * get one warp each, 8 warps per block, instead of a 256-thread block per row
 * that leaves most threads idle; the sums are warp shuffles (fixed order).
 * The fused backward gives each warp HY_RMS_WARP_RPW rows, so the partials
 * are n/8 rows of D floats. */
enum { HY_RMS_WARP_D = 256, HY_RMS_WARP_ROWS = HY_RMS_THREADS / 32, HY_RMS_WARP_COLS = HY_RMS_WARP_D / 32, HY_RMS_WARP_RPW = 8 };

/* ------------------------------------------------------------ narrow rows */

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

/* Variant 0's narrow backward (dx only; dw by the column-partial kernel). */
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

/* Fused narrow backward: warp `wid` owns rows [wid·RPW, +RPW) and columns
 * lane + 32k; dx per row (skipped when dx is NULL), and (part != NULL) its
 * dw sums over those rows, in row order, stored as partial row wid. */
template <typename T>
static __global__ void k_rms_bwd_warp(T *dx, int lddx, float *part, const T *dout, int ldo, const T *x, int ldx, const T *w,
                                      const float *rstd, int n, int D, int accumulate) {
    int lane = threadIdx.x & 31, wid = blockIdx.x * HY_RMS_WARP_ROWS + (threadIdx.x >> 5);
    int r0 = wid * HY_RMS_WARP_RPW, r1 = min(n, r0 + HY_RMS_WARP_RPW);
    if (r0 >= n) return; /* the whole warp leaves together; no partial row of its own */
    float wv[HY_RMS_WARP_COLS], acc[HY_RMS_WARP_COLS];
#pragma unroll
    for (int k = 0; k < HY_RMS_WARP_COLS; k++) {
        int col = lane + 32 * k;
        wv[k] = col < D ? hy_ld<T>(w + col) : 0.f;
        acc[k] = 0.f;
    }
    for (int row = r0; row < r1; row++) {
        const T *xr = x + (size_t)row * ldx, *dr = dout + (size_t)row * ldo;
        float dv[HY_RMS_WARP_COLS], xv[HY_RMS_WARP_COLS], r = rstd[row], dot = 0.f;
#pragma unroll
        for (int k = 0; k < HY_RMS_WARP_COLS; k++) {
            int col = lane + 32 * k;
            dv[k] = col < D ? hy_ld<T>(dr + col) : 0.f;
            xv[k] = col < D ? hy_ld<T>(xr + col) : 0.f;
            dot += dv[k] * wv[k] * xv[k] * r;
            acc[k] += dv[k] * (xv[k] * r);
        }
        if (!dx) continue;
        dot = hy_warp_sum(dot) / (float)D;
        T *dxr = dx + (size_t)row * lddx;
#pragma unroll
        for (int k = 0; k < HY_RMS_WARP_COLS; k++) {
            int col = lane + 32 * k;
            if (col >= D) continue;
            float v = r * (dv[k] * wv[k] - xv[k] * r * dot);
            hy_st<T>(dxr + col, accumulate ? hy_ld<T>(dxr + col) + v : v);
        }
    }
    if (!part) return;
#pragma unroll
    for (int k = 0; k < HY_RMS_WARP_COLS; k++) {
        int col = lane + 32 * k;
        if (col < D) part[(size_t)wid * D + col] = acc[k];
    }
}

/* ------------------------------------------- any width: scalar block per row */

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
static __global__ void k_rms_bwd_dw_part(float *partial, const T *dout, int ldo, const T *x, int ldx, const float *rstd, int n, int D) {
    int col = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (col >= D) return;
    int r0 = chunk * HY_RMS_CHUNK, r1 = min(n, r0 + HY_RMS_CHUNK);
    float acc = 0.f;
    for (int r = r0; r < r1; r++) acc += hy_ld<T>(dout + (size_t)r * ldo + col) * hy_ld<T>(x + (size_t)r * ldx + col) * rstd[r];
    partial[(size_t)chunk * D + col] = acc;
}

/* ------------------------------------------ wide rows: whole row in registers */

template <typename T, int VPT>
static __global__ void k_rms_fwd_vec(T *out, int ldo, float *rstd, const T *x, int ldx, const T *w, int D, float eps) {
    typedef hy_rn<T> V;
    __shared__ float sh[32];
    const int nv = D / V::EPV;
    size_t row = blockIdx.x;
    uint4 xv[VPT];
    hy_rn_load<VPT>(xv, x + row * (size_t)ldx, nv);
    float r = rsqrtf(hy_block_sum(hy_rn_sumsq<T, VPT>(xv), sh) / (float)D + eps);
    if (threadIdx.x == 0) rstd[row] = r;
    uint4 *orow = (uint4 *)(out + row * (size_t)ldo);
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        int j = threadIdx.x + k * blockDim.x;
        if (j >= nv) continue;
        float f[V::EPV], g[V::EPV];
        V::unpack(xv[k], f);
        V::unpack(((const uint4 *)w)[j], g);
#pragma unroll
        for (int e = 0; e < V::EPV; e++) f[e] = g[e] * hy_round<T>(f[e] * r);
        orow[j] = V::pack(f);
    }
}

/* Block b takes rows [b·rpb, min(n, (b+1)·rpb)) in order: dx per row (when dx
 * is not NULL), and (part != NULL) each thread's dw sums over those rows,
 * stored as partial row b. */
template <typename T, int VPT>
static __global__ void k_rms_bwd_vec(T *dx, int lddx, float *part, const T *dout, int ldo, const T *x, int ldx, const T *w,
                                     const float *rstd, int n, int D, int rows_per_block, int accumulate) {
    typedef hy_rn<T> V;
    __shared__ float sh[32];
    const int nv = D / V::EPV;
    int r0 = blockIdx.x * rows_per_block, r1 = min(n, r0 + rows_per_block);
    uint4 wv[VPT];
    hy_rn_load<VPT>(wv, w, nv);
    float acc[VPT][V::EPV];
#pragma unroll
    for (int k = 0; k < VPT; k++)
#pragma unroll
        for (int e = 0; e < V::EPV; e++) acc[k][e] = 0.f;
    for (int row = r0; row < r1; row++) {
        uint4 dv[VPT], xv[VPT], ov[VPT];
        hy_rn_load<VPT>(dv, dout + (size_t)row * ldo, nv);
        hy_rn_load<VPT>(xv, x + (size_t)row * ldx, nv);
        if (dx && accumulate) hy_rn_load<VPT>(ov, dx + (size_t)row * lddx, nv);
        float r = rstd[row], dot = 0.f;
#pragma unroll
        for (int k = 0; k < VPT; k++) {
            float d[V::EPV], xx[V::EPV], ww[V::EPV];
            V::unpack(dv[k], d), V::unpack(xv[k], xx), V::unpack(wv[k], ww);
#pragma unroll
            for (int e = 0; e < V::EPV; e++) {
                float nn = xx[e] * r;
                dot += d[e] * ww[e] * nn;
                acc[k][e] += d[e] * nn;
            }
        }
        if (!dx) continue; /* uniform over the block */
        float mean = hy_block_sum(dot, sh) / (float)D;
        uint4 *dxr = (uint4 *)(dx + (size_t)row * lddx);
#pragma unroll
        for (int k = 0; k < VPT; k++) {
            int j = threadIdx.x + k * blockDim.x;
            if (j >= nv) continue;
            float d[V::EPV], xx[V::EPV], ww[V::EPV], o[V::EPV];
            V::unpack(dv[k], d), V::unpack(xv[k], xx), V::unpack(wv[k], ww);
            if (accumulate) V::unpack(ov[k], o);
#pragma unroll
            for (int e = 0; e < V::EPV; e++) {
                float v = r * (d[e] * ww[e] - xx[e] * r * mean);
                d[e] = accumulate ? o[e] + v : v;
            }
            dxr[j] = V::pack(d);
        }
    }
    if (part) hy_rn_store_partial<T, VPT>(part + (size_t)blockIdx.x * D, acc, nv);
}

/* ------------------------------------------------ the dw second stage */

enum { HY_RN_RED_COLS = 32, HY_RN_RED_GROUPS = 32, HY_RN_RED_BATCH = 8 };

/* Block (x, y): columns [32x, 32x+32) of target y (0: dw0, 1: dw1).  Thread
 * (c, g) sums parts g, g+32, … in order (loads batched 8 at a time), then
 * thread (c, 0) adds the 32 group sums in group order. */
static __global__ void k_rn_reduce_dw(float *dw0, float *dw1, const float *part, int P, int D) {
    __shared__ float sh[HY_RN_RED_GROUPS][HY_RN_RED_COLS + 1];
    float *dst = blockIdx.y ? dw1 : dw0;
    if (!dst) return; /* the whole block */
    const float *pp = part + (size_t)blockIdx.y * P * D;
    int col = blockIdx.x * HY_RN_RED_COLS + threadIdx.x, g = threadIdx.y;
    float s = 0.f;
    if (col < D) {
        const int step = HY_RN_RED_GROUPS;
        int p = g;
        for (; p + (HY_RN_RED_BATCH - 1) * step < P; p += HY_RN_RED_BATCH * step) {
            float v[HY_RN_RED_BATCH];
#pragma unroll
            for (int i = 0; i < HY_RN_RED_BATCH; i++) v[i] = pp[(size_t)(p + i * step) * D + col];
#pragma unroll
            for (int i = 0; i < HY_RN_RED_BATCH; i++) s += v[i];
        }
        for (; p < P; p += step) s += pp[(size_t)p * D + col];
    }
    sh[g][threadIdx.x] = s;
    __syncthreads();
    if (g != 0 || col >= D) return;
    float t = 0.f;
    for (int k = 0; k < HY_RN_RED_GROUPS; k++) t += sh[k][threadIdx.x];
    dst[col] += t;
}

hy_status hy_rn_reduce_dw(hy_cuda_ctx *c, float *dw0, float *dw1, const float *part, int P, int D) {
    if ((!dw0 && !dw1) || P <= 0 || D <= 0) return HY_OK;
    dim3 grid(HY_CEIL_DIV(D, HY_RN_RED_COLS), dw1 ? 2 : 1), block(HY_RN_RED_COLS, HY_RN_RED_GROUPS);
    k_rn_reduce_dw<<<grid, block, 0, c->stream>>>(dw0, dw1, part, P, D);
    HY_CUDA_LAUNCH_CHECK(c, "rmsnorm dw reduction");
    return HY_OK;
}

hy_status hy_rn_rows_per_block(hy_cuda_ctx *c, const void *kernel, int threads, int n, int *rows_per_block, int *blocks) {
    int occ = 0;
    HY_CUDA_CHECK(c, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&occ, kernel, threads, 0));
    long long wave = (long long)(c->sm_count > 0 ? c->sm_count : 1) * (occ > 0 ? occ : 1);
    int rpb = (int)HY_CEIL_DIV((long long)n, wave);
    *rows_per_block = rpb > 0 ? rpb : 1;
    *blocks = HY_CEIL_DIV(n, *rows_per_block);
    return HY_OK;
}

/* ------------------------------------------------------------ launchers */

/* 0: the previous kernels on every shape (A/B timing); 1: the default. */
static int rms_variant(void) {
    const char *e = getenv("HYMBA_RMSNORM_VARIANT");
    return e && e[0] == '0' && e[1] == '\0' ? 0 : 1;
}

template <typename T>
static hy_status rms_fwd(hy_cuda_ctx *c, T *out, int ldo, float *rstd, const T *x, int ldx, const T *w, int n, int D, float eps) {
    hy_rn_geom g = hy_rn_geometry<T>(D);
    int vec = rms_variant() && D > HY_RMS_WARP_D && g.vpt && hy_rn_aligned(x, ldx, sizeof(T)) && hy_rn_aligned(out, ldo, sizeof(T)) &&
              hy_rn_aligned(w, 0, sizeof(T));
    if (D <= HY_RMS_WARP_D)
        k_rms_fwd_warp<T><<<HY_CEIL_DIV(n, HY_RMS_WARP_ROWS), HY_RMS_THREADS, 0, c->stream>>>(out, ldo, rstd, x, ldx, w, n, D, eps);
    else if (!vec) k_rms_fwd<T><<<n, HY_RMS_THREADS, 0, c->stream>>>(out, ldo, rstd, x, ldx, w, D, eps);
    else if (g.vpt == 1) k_rms_fwd_vec<T, 1><<<n, g.threads, 0, c->stream>>>(out, ldo, rstd, x, ldx, w, D, eps);
    else if (g.vpt == 2) k_rms_fwd_vec<T, 2><<<n, g.threads, 0, c->stream>>>(out, ldo, rstd, x, ldx, w, D, eps);
    else k_rms_fwd_vec<T, 4><<<n, g.threads, 0, c->stream>>>(out, ldo, rstd, x, ldx, w, D, eps);
    HY_CUDA_LAUNCH_CHECK(c, "rmsnorm_fwd");
    return HY_OK;
}

/* The vector path's backward at VPT vectors per thread (see k_rms_bwd_vec). */
template <typename T, int VPT>
static hy_status rms_bwd_vec(hy_cuda_ctx *c, int threads, T *dx, int lddx, float *dw, const T *dout, int ldo, const T *x, int ldx,
                             const T *w, const float *rstd, int n, int D, int accumulate) {
    int rpb, blocks;
    HY_TRY(hy_rn_rows_per_block(c, (const void *)k_rms_bwd_vec<T, VPT>, threads, n, &rpb, &blocks));
    float *part = NULL;
    if (dw) HY_TRY(hy_cuda_scratch(c, (size_t)blocks * D * sizeof(float), (void **)&part));
    k_rms_bwd_vec<T, VPT><<<blocks, threads, 0, c->stream>>>(dx, lddx, part, dout, ldo, x, ldx, w, rstd, n, D, rpb, accumulate);
    HY_CUDA_LAUNCH_CHECK(c, "rmsnorm_bwd (vector rows)");
    return hy_rn_reduce_dw(c, dw, NULL, part, blocks, D);
}

/* Narrow rows: the fused warp kernel, then the partials' sum. */
template <typename T>
static hy_status rms_bwd_warp(hy_cuda_ctx *c, T *dx, int lddx, float *dw, const T *dout, int ldo, const T *x, int ldx, const T *w,
                              const float *rstd, int n, int D, int accumulate) {
    int warps = HY_CEIL_DIV(n, HY_RMS_WARP_RPW);
    float *part = NULL;
    if (dw) HY_TRY(hy_cuda_scratch(c, (size_t)warps * D * sizeof(float), (void **)&part));
    k_rms_bwd_warp<T><<<HY_CEIL_DIV(warps, HY_RMS_WARP_ROWS), HY_RMS_THREADS, 0, c->stream>>>(dx, lddx, part, dout, ldo, x, ldx, w, rstd,
                                                                                               n, D, accumulate);
    HY_CUDA_LAUNCH_CHECK(c, "rmsnorm_bwd (narrow rows)");
    return hy_rn_reduce_dw(c, dw, NULL, part, warps, D);
}

/* Scalar kernels (any shape; variant 0 everywhere): dx per row, then dw from
 * column partials over 64-row chunks, summed by `legacy` ? the backend's
 * hy_cuda_sum_partials : hy_rn_reduce_dw. */
template <typename T>
static hy_status rms_bwd_scalar(hy_cuda_ctx *c, T *dx, int lddx, float *dw, const T *dout, int ldo, const T *x, int ldx, const T *w,
                                const float *rstd, int n, int D, int accumulate, int legacy) {
    if (dx) {
        if (D <= HY_RMS_WARP_D)
            k_rms_bwd_dx_warp<T><<<HY_CEIL_DIV(n, HY_RMS_WARP_ROWS), HY_RMS_THREADS, 0, c->stream>>>(dx, lddx, dout, ldo, x, ldx, w, rstd,
                                                                                                   n, D, accumulate);
        else k_rms_bwd_dx<T><<<n, HY_RMS_THREADS, 0, c->stream>>>(dx, lddx, dout, ldo, x, ldx, w, rstd, D, accumulate);
        HY_CUDA_LAUNCH_CHECK(c, "rmsnorm_bwd dx");
    }
    if (!dw) return HY_OK;
    int nchunks = HY_CEIL_DIV(n, HY_RMS_CHUNK);
    float *part;
    HY_TRY(hy_cuda_scratch(c, (size_t)nchunks * D * sizeof(float), (void **)&part));
    dim3 grid(HY_CEIL_DIV(D, 128), nchunks);
    k_rms_bwd_dw_part<T><<<grid, 128, 0, c->stream>>>(part, dout, ldo, x, ldx, rstd, n, D);
    HY_CUDA_LAUNCH_CHECK(c, "rmsnorm_bwd dw partials");
    if (legacy) return hy_cuda_sum_partials(c, dw, part, nchunks, (size_t)D);
    return hy_rn_reduce_dw(c, dw, NULL, part, nchunks, D);
}

template <typename T>
static hy_status rms_bwd(hy_cuda_ctx *c, T *dx, int lddx, float *dw, const T *dout, int ldo, const T *x, int ldx, const T *w,
                         const float *rstd, int n, int D, int accumulate) {
    if (!rms_variant()) return rms_bwd_scalar<T>(c, dx, lddx, dw, dout, ldo, x, ldx, w, rstd, n, D, accumulate, 1);
    if (D <= HY_RMS_WARP_D) return rms_bwd_warp<T>(c, dx, lddx, dw, dout, ldo, x, ldx, w, rstd, n, D, accumulate);
    hy_rn_geom g = hy_rn_geometry<T>(D);
    int vec = g.vpt && hy_rn_aligned(dout, ldo, sizeof(T)) && hy_rn_aligned(x, ldx, sizeof(T)) && hy_rn_aligned(w, 0, sizeof(T)) &&
              (!dx || hy_rn_aligned(dx, lddx, sizeof(T)));
    if (!vec) return rms_bwd_scalar<T>(c, dx, lddx, dw, dout, ldo, x, ldx, w, rstd, n, D, accumulate, 0);
    if (g.vpt == 1) return rms_bwd_vec<T, 1>(c, g.threads, dx, lddx, dw, dout, ldo, x, ldx, w, rstd, n, D, accumulate);
    if (g.vpt == 2) return rms_bwd_vec<T, 2>(c, g.threads, dx, lddx, dw, dout, ldo, x, ldx, w, rstd, n, D, accumulate);
    return rms_bwd_vec<T, 4>(c, g.threads, dx, lddx, dw, dout, ldo, x, ldx, w, rstd, n, D, accumulate);
}

extern "C" hy_status hy_rmsnorm_fwd_cuda(void *ctx, hy_act *out /* [n,D] ldo */, int ldo, float *rstd /* [n] */,
                                         const hy_act *x /* [n,D] ldx */, int ldx, const hy_act *w /* [D] */, int n, int D, float eps) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (n <= 0 || D <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        return rms_fwd<__nv_bfloat16>(c, (__nv_bfloat16 *)out, ldo, rstd, (const __nv_bfloat16 *)x, ldx, (const __nv_bfloat16 *)w, n, D,
                                      eps);
    return rms_fwd<float>(c, (float *)out, ldo, rstd, (const float *)x, ldx, (const float *)w, n, D, eps);
}

extern "C" hy_status hy_rmsnorm_bwd_cuda(void *ctx, hy_act *dx /* [n,D] lddx (+)= */, int lddx, float *dw /* [D] += */,
                                         const hy_act *dout /* [n,D] ldo */, int ldo, const hy_act *x /* [n,D] ldx */, int ldx,
                                         const hy_act *w /* [D] */, const float *rstd /* [n] */, int n, int D, int accumulate) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (n <= 0 || D <= 0 || (!dx && !dw)) return HY_OK;
    if (hy_cuda_bf16(c))
        return rms_bwd<__nv_bfloat16>(c, (__nv_bfloat16 *)dx, lddx, dw, (const __nv_bfloat16 *)dout, ldo, (const __nv_bfloat16 *)x, ldx,
                                      (const __nv_bfloat16 *)w, rstd, n, D, accumulate);
    return rms_bwd<float>(c, (float *)dx, lddx, dw, (const float *)dout, ldo, (const float *)x, ldx, (const float *)w, rstd, n, D,
                          accumulate);
}
