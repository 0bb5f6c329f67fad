/* cross_entropy.cu — per-row softmax cross-entropy over a (padded) vocabulary
 * (spec §7.5, §9.1), plus the row gather/scatter used around the LM head.
 *
 *   fwd:  lse_r = log Σ_{c<V} exp(logit[r,c]) (every row);  loss_r = lse_r − logit[r,t_r] (t_r ≥ 0), else 0
 *   bwd:  dlogits[r,c] = scale_r·(exp(logit[r,c] − lse_r) − [c = t_r]) for c < V, 0 for ignored
 *         rows and for the padding columns V..ld−1 (overwrites; may alias logits).
 * One block per row; the max and the sum are fp32 block reductions in a
 * fixed order.  A target ≥ V is recorded as a deferred error (reported by the
 * next sync, see common.cuh) and its loss is NaN.
 *
 * scatter_rows honours duplicate indices like the CPU: the (idx, r) pairs are
 * sorted with CUB's stable radix sort, and one block per distinct index adds
 * its rows in order of r (accumulate) or copies the last one (overwrite). */
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cross_entropy.h"

enum { HY_CE_THREADS = 512 };

template <typename T>
static __global__ void k_ce_fwd(float *loss, float *lse, int *err, const T *logits, int ld, const int32_t *targets, int V) {
    __shared__ float sh[32];
    size_t row = blockIdx.x;
    const T *x = logits + row * (size_t)ld;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < V; i += blockDim.x) mx = fmaxf(mx, hy_ld<T>(x + i));
    mx = hy_block_max(mx, sh);
    float s = 0.f;
    for (int i = threadIdx.x; i < V; i += blockDim.x) s += expf(hy_ld<T>(x + i) - mx);
    s = hy_block_sum(s, sh);
    if (threadIdx.x == 0) {
        float l = mx + logf(s);
        int t = targets[row];
        lse[row] = l;
        loss[row] = t < 0 ? 0.f : (t < V ? l - hy_ld<T>(x + t) : NAN);
        if (t >= V) hy_cuda_flag(err, HY_CUDA_ERR_TARGET, (int)row, t, V);
    }
}

template <typename T>
static __global__ void k_ce_bwd(T *dlogits, int ld, const T *logits, const float *lse, const int32_t *targets,
                                const float *scale, int V) {
    size_t row = blockIdx.x;
    int t = targets[row];
    float l = lse[row], sc = t < 0 ? 0.f : scale[row];
    const T *x = logits + row * (size_t)ld;
    T *d = dlogits + row * (size_t)ld;
    for (int i = threadIdx.x; i < ld; i += blockDim.x) {
        float v = 0.f;
        if (i < V && t >= 0) v = sc * (expf(hy_ld<T>(x + i) - l) - (i == t ? 1.f : 0.f));
        hy_st<T>(d + i, v);
    }
}

extern "C" hy_status hy_ce_fwd_cuda(void *ctx, float *loss /* [n] */, float *lse /* [n] */,
                                               const hy_act *logits /* [n,V] ld */, int ld, const int32_t *targets /* [n] */,
                                               int n, int V) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (n <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        k_ce_fwd<__nv_bfloat16><<<n, HY_CE_THREADS, 0, c->stream>>>(loss, lse, c->dev_err, (const __nv_bfloat16 *)logits, ld, targets, V);
    else
        k_ce_fwd<float><<<n, HY_CE_THREADS, 0, c->stream>>>(loss, lse, c->dev_err, (const float *)logits, ld, targets, V);
    HY_CUDA_LAUNCH_CHECK(c, "ce_fwd");
    return HY_OK;
}

extern "C" hy_status hy_ce_bwd_cuda(void *ctx, hy_act *dlogits /* [n,V] ld */, int ld,
                                               const hy_act *logits /* [n,V] ld */, const float *lse /* [n] */,
                                               const int32_t *targets /* [n] */, const float *scale /* [n] */, int n, int V) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (n <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        k_ce_bwd<__nv_bfloat16><<<n, HY_CE_THREADS, 0, c->stream>>>((__nv_bfloat16 *)dlogits, ld,
                                                                    (const __nv_bfloat16 *)logits, lse, targets, scale, V);
    else
        k_ce_bwd<float><<<n, HY_CE_THREADS, 0, c->stream>>>((float *)dlogits, ld, (const float *)logits, lse, targets,
                                                            scale, V);
    HY_CUDA_LAUNCH_CHECK(c, "ce_bwd");
    return HY_OK;
}

/* ---- gather / scatter of whole rows (element type only matters for accumulate) ---- */
template <typename T> static __global__ void k_gather(T *out, const T *in, const int32_t *idx, int n, int C) {
    size_t total = (size_t)n * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / C, col = i % C;
        out[i] = in[(size_t)idx[r] * C + col];
    }
}

static __global__ void k_scatter_keys(int32_t *key, int32_t *val, const int32_t *idx, int n) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < n) {
        key[r] = idx[r];
        val[r] = r;
    }
}

/* One block per sorted position; the first of each run of equal indices
 * writes that output row from all the run's input rows, in order of r. */
template <typename T>
static __global__ void k_scatter_runs(T *out, const T *in, const int32_t *key, const int32_t *val, int n, int C,
                                      int accumulate) {
    int p = blockIdx.x, k = key[p];
    if (p > 0 && key[p - 1] == k) return;
    int q1 = p + 1;
    while (q1 < n && key[q1] == k) q1++;
    T *d = out + (size_t)k * C;
    for (int col = threadIdx.x; col < C; col += blockDim.x) {
        if (!accumulate) {
            d[col] = in[(size_t)val[q1 - 1] * C + col];
            continue;
        }
        float acc = hy_ld<T>(d + col);
        for (int q = p; q < q1; q++) acc += hy_ld<T>(in + (size_t)val[q] * C + col);
        hy_st<T>(d + col, acc);
    }
}

template <typename T>
static hy_status scatter_rows(hy_cuda_ctx *c, T *out, const T *in, const int32_t *idx, int n, int C, int accumulate) {
    size_t cub_bytes = 0;
    HY_CUDA_CHECK(c, cub::DeviceRadixSort::SortPairs(NULL, cub_bytes, (const int32_t *)NULL, (int32_t *)NULL,
                                                     (const int32_t *)NULL, (int32_t *)NULL, n, 0, 31, c->stream));
    size_t arr = hy_cuda_align((size_t)n * 4);
    void *scr;
    HY_TRY(hy_cuda_scratch(c, 4 * arr + hy_cuda_align(cub_bytes), &scr));
    int32_t *k_in = (int32_t *)scr, *v_in = (int32_t *)((char *)scr + arr);
    int32_t *k_out = (int32_t *)((char *)scr + 2 * arr), *v_out = (int32_t *)((char *)scr + 3 * arr);
    k_scatter_keys<<<HY_CEIL_DIV(n, 256), 256, 0, c->stream>>>(k_in, v_in, idx, n);
    HY_CUDA_LAUNCH_CHECK(c, "scatter_rows keys");
    /* indices are row numbers ≥ 0: 31 key bits */
    HY_CUDA_CHECK(c, cub::DeviceRadixSort::SortPairs((char *)scr + 4 * arr, cub_bytes, k_in, k_out, v_in, v_out, n, 0, 31,
                                                     c->stream));
    k_scatter_runs<T><<<n, 128, 0, c->stream>>>(out, in, k_out, v_out, n, C, accumulate);
    HY_CUDA_LAUNCH_CHECK(c, "scatter_rows");
    return HY_OK;
}

extern "C" hy_status hy_gather_rows_cuda(void *ctx, hy_act *out /* [n,C] */, const hy_act *in /* [N,C] */,
                                         const int32_t *idx /* [n] */, int n, int C) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    size_t total = (size_t)n * C;
    if (!total) return HY_OK;
    unsigned g = hy_cuda_blocks(total, 256);
    if (hy_cuda_bf16(c))
        k_gather<__nv_bfloat16><<<g, 256, 0, c->stream>>>((__nv_bfloat16 *)out, (const __nv_bfloat16 *)in, idx, n, C);
    else
        k_gather<float><<<g, 256, 0, c->stream>>>((float *)out, (const float *)in, idx, n, C);
    HY_CUDA_LAUNCH_CHECK(c, "gather_rows");
    return HY_OK;
}

extern "C" hy_status hy_scatter_rows_cuda(void *ctx, hy_act *out /* [N,C] */, const hy_act *in /* [n,C] */,
                                          const int32_t *idx /* [n] */, int n, int C, int accumulate) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (n <= 0 || C <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        return scatter_rows<__nv_bfloat16>(c, (__nv_bfloat16 *)out, (const __nv_bfloat16 *)in, idx, n, C, accumulate);
    return scatter_rows<float>(c, (float *)out, (const float *)in, idx, n, C, accumulate);
}
