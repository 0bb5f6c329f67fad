/* conv1d.cu — causal depthwise convolution + bias + SiLU (spec §6.1, §9.9),
 * per document: row t of a packed batch sees rows t−DC+1 … t of its own
 * document only (tap k of row t reads row t−DC+1+k, valid iff DC−1−k ≤ pos[t]).
 *
 *   fwd:  pre = b + Σ_k w[:,k]·x[t−DC+1+k];  u = silu(pre)             (fp32 math)
 *   bwd:  dpre = du·silu'(pre);  dx[t'] = Σ_k w[:,k]·dpre[t'+DC−1−k] (same document only; overwrites)
 *         dw[:,k] += Σ_t dpre[t]·x[t−DC+1+k];  db += Σ_t dpre[t]
 * pre is recomputed from x (never stored).  Two rows are in the same document
 * iff row − pos[row] agrees, so no offsets are needed.  dw/db are reduced
 * deterministically: per chunk of rows a partial in scratch, then a fixed-
 * order sum over chunks.  DC ≤ HY_CONV_MAXDC (Hymba: 4). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/conv1d.h"

enum { HY_CONV_MAXDC = 8, HY_CONV_CHUNK = 64 };

template <typename T>
static __device__ __forceinline__ float conv_pre(const T *x, int ldx, const T *w, const T *b, const int32_t *pos, size_t t,
                                                 int e, int DC) {
    float acc = hy_ld<T>(b + e);
    int p = pos[t];
    for (int k = 0; k < DC; k++) {
        int back = DC - 1 - k;
        if (back <= p) acc += hy_ld<T>(w + (size_t)e * DC + k) * hy_ld<T>(x + (t - back) * (size_t)ldx + e);
    }
    return acc;
}

static __device__ __forceinline__ float silu_grad(float pre) {
    float s = hy_sigmoid(pre);
    return s * (1.f + pre * (1.f - s));
}

template <typename T>
static __global__ void k_conv_fwd(T *u, const T *x, int ldx, const T *w, const T *b, const int32_t *pos, int n, int DI,
                                  int DC) {
    size_t total = (size_t)n * DI;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / DI;
        int e = (int)(i % DI);
        float pre = conv_pre<T>(x, ldx, w, b, pos, t, e, DC);
        hy_st<T>(u + i, pre * hy_sigmoid(pre));
    }
}

template <typename T>
static __global__ void k_conv_bwd_dx(T *dx, int lddx, const T *du, const T *x, int ldx, const T *w, const T *b,
                                     const int32_t *pos, int n, int DI, int DC) {
    size_t total = (size_t)n * DI;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / DI;
        int e = (int)(i % DI);
        long start = (long)t - pos[t];
        float acc = 0.f;
        for (int k = 0; k < DC; k++) {
            size_t r = t + (size_t)(DC - 1 - k);
            if (r >= (size_t)n || (long)r - pos[r] != start) continue;
            float pre = conv_pre<T>(x, ldx, w, b, pos, r, e, DC);
            acc += hy_ld<T>(w + (size_t)e * DC + k) * hy_ld<T>(du + r * DI + e) * silu_grad(pre);
        }
        hy_st<T>(dx + t * (size_t)lddx + e, acc);
    }
}

/* pw[chunk][e·DC + k], pb[chunk][e]: this chunk's rows' contribution */
template <typename T>
static __global__ void k_conv_bwd_part(float *pw, float *pb, const T *du, const T *x, int ldx, const T *w, const T *b,
                                       const int32_t *pos, int n, int DI, int DC) {
    int e = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y;
    if (e >= DI) return;
    float aw[HY_CONV_MAXDC], ab = 0.f;
#pragma unroll
    for (int k = 0; k < HY_CONV_MAXDC; k++) aw[k] = 0.f;
    int r0 = chunk * HY_CONV_CHUNK, r1 = min(n, r0 + HY_CONV_CHUNK);
    for (int t = r0; t < r1; t++) {
        float dpre = hy_ld<T>(du + (size_t)t * DI + e) * silu_grad(conv_pre<T>(x, ldx, w, b, pos, t, e, DC));
        ab += dpre;
        int p = pos[t];
#pragma unroll
        for (int k = 0; k < HY_CONV_MAXDC; k++) {
            int back = DC - 1 - k;
            if (k < DC && back <= p) aw[k] += dpre * hy_ld<T>(x + (size_t)(t - back) * ldx + e);
        }
    }
#pragma unroll
    for (int k = 0; k < HY_CONV_MAXDC; k++)
        if (k < DC) pw[(size_t)chunk * DI * DC + (size_t)e * DC + k] = aw[k];
    pb[(size_t)chunk * DI + e] = ab;
}

template <typename T>
static hy_status conv_bwd(hy_cuda_ctx *c, T *dx, int lddx, float *dw, float *db, const T *du, const T *x, int ldx,
                          const T *w, const T *b, const hy_seqs *s, int DI, int DC) {
    int n = s->n;
    if (dx) {
        k_conv_bwd_dx<T><<<hy_cuda_blocks((size_t)n * DI, 256), 256, 0, c->stream>>>(dx, lddx, du, x, ldx, w, b, s->pos, n,
                                                                                     DI, DC);
        HY_CUDA_LAUNCH_CHECK(c, "conv1d_bwd dx");
    }
    if (!dw && !db) return HY_OK;
    int nchunks = HY_CEIL_DIV(n, HY_CONV_CHUNK);
    size_t wbytes = hy_cuda_align((size_t)nchunks * DI * DC * 4), bbytes = hy_cuda_align((size_t)nchunks * DI * 4);
    void *scr;
    HY_TRY(hy_cuda_scratch(c, wbytes + bbytes, &scr));
    float *pw = (float *)scr, *pb = (float *)((char *)scr + wbytes);
    k_conv_bwd_part<T><<<dim3(HY_CEIL_DIV(DI, 128), nchunks), 128, 0, c->stream>>>(pw, pb, du, x, ldx, w, b, s->pos, n, DI,
                                                                                   DC);
    HY_CUDA_LAUNCH_CHECK(c, "conv1d_bwd partials");
    if (dw) HY_TRY(hy_cuda_sum_partials(c, dw, pw, nchunks, (size_t)DI * DC));
    if (db) HY_TRY(hy_cuda_sum_partials(c, db, pb, nchunks, (size_t)DI));
    return HY_OK;
}

extern "C" hy_status hy_conv1d_fwd_cuda(void *ctx, hy_act *u /* [N,DI] */, const hy_act *x /* [N,DI] ldx */, int ldx,
                                        const hy_act *w /* [DI,DC] */, const hy_act *b /* [DI] */, const hy_seqs *s, int DI,
                                        int DC) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    size_t total = (size_t)s->n * DI;
    if (!total) return HY_OK;
    if (DC < 1 || DC > HY_CONV_MAXDC)
        return hy_errorf(HY_ERR_UNSUPPORTED, "conv1d: kernel width DC = %d; the CUDA op supports 1..%d", DC, HY_CONV_MAXDC);
    unsigned g = hy_cuda_blocks(total, 256);
    if (hy_cuda_bf16(c))
        k_conv_fwd<__nv_bfloat16><<<g, 256, 0, c->stream>>>((__nv_bfloat16 *)u, (const __nv_bfloat16 *)x, ldx,
                                                            (const __nv_bfloat16 *)w, (const __nv_bfloat16 *)b, s->pos, s->n,
                                                            DI, DC);
    else
        k_conv_fwd<float><<<g, 256, 0, c->stream>>>((float *)u, (const float *)x, ldx, (const float *)w, (const float *)b,
                                                    s->pos, s->n, DI, DC);
    HY_CUDA_LAUNCH_CHECK(c, "conv1d_fwd");
    return HY_OK;
}

extern "C" hy_status hy_conv1d_bwd_cuda(void *ctx, hy_act *dx /* [N,DI] lddx (overwrite) */, int lddx,
                                        float *dw /* [DI,DC] += */, float *db /* [DI] += */, const hy_act *du /* [N,DI] */,
                                        const hy_act *x /* [N,DI] ldx */, int ldx, const hy_act *w, const hy_act *b,
                                        const hy_seqs *s, int DI, int DC) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if ((size_t)s->n * DI == 0) return HY_OK;
    if (DC < 1 || DC > HY_CONV_MAXDC)
        return hy_errorf(HY_ERR_UNSUPPORTED, "conv1d: kernel width DC = %d; the CUDA op supports 1..%d", DC, HY_CONV_MAXDC);
    if (hy_cuda_bf16(c))
        return conv_bwd<__nv_bfloat16>(c, (__nv_bfloat16 *)dx, lddx, dw, db, (const __nv_bfloat16 *)du,
                                       (const __nv_bfloat16 *)x, ldx, (const __nv_bfloat16 *)w, (const __nv_bfloat16 *)b, s,
                                       DI, DC);
    return conv_bwd<float>(c, (float *)dx, lddx, dw, db, (const float *)du, (const float *)x, ldx, (const float *)w,
                           (const float *)b, s, DI, DC);
}
