/* conv1d.cu — causal depthwise convolution + bias + SiLU (spec §6.1, §9.9),
 * per document: row t of a packed batch sees rows t−DC+1 … t of its own
 * document only (the tap `back` rows behind t is valid iff back ≤ pos[t]).
 *
 *   fwd:  pre = b + Σ_k w[:,k]·x[t−DC+1+k];  u = silu(pre)             (fp32 math)
 *   bwd:  dpre = du·silu'(pre);  dx[t'] = Σ_k w[:,k]·dpre[t'+DC−1−k] (same document only; overwrites)
 *         dw[:,k] += Σ_t dpre[t]·x[t−DC+1+k];  db += Σ_t dpre[t]
 * The same-document test of the backward is the forward's tap test seen from
 * the later row: dpre[r] reaches dx[r−back] iff back ≤ pos[r].
 *
 * Layout: one thread per (channel, run of CV_R rows); a warp covers 32
 * consecutive channels of a row (coalesced).  Each thread slides a window of
 * the last M x values (M = 4 or 8 ≥ DC, compile-time so the window and the
 * dx accumulators stay in registers): x and du are read once per run (plus
 * M−1 rows of overlap), pre is recomputed from x (never stored).
 * Backward: the run's rows own their dw/db contributions (one fp32 partial per
 * run, then a fixed-order sum over runs: deterministic, no atomics); dx of a
 * row is complete once the M−1 rows after it were seen, so each run also reads
 * M−1 rows past its end.  DC ≤ HY_CONV_MAXDC (Hymba: 4). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/conv1d.h"

enum { HY_CONV_MAXDC = 8, CV_R = 64, CV_THREADS = 128 };

static __device__ __forceinline__ float silu_grad(float pre) {
    float s = hy_sigmoid(pre);
    return s * (1.f + pre * (1.f - s));
}

/* Per-thread taps: wr[b] = w[e, DC−1−b] (the tap b rows back), 0 for b ≥ DC. */
template <typename T, int M>
static __device__ __forceinline__ void cv_taps(float *wr, const T *w, int e, int DC) {
#pragma unroll
    for (int b = 0; b < M; b++) wr[b] = b < DC ? hy_ld<T>(w + (size_t)e * DC + (DC - 1 - b)) : 0.f;
}

/* Window xw[M−1−b] = x[r−b]: shift in x[r] (xr). */
template <int M> static __device__ __forceinline__ void cv_shift(float *xw, float xr) {
#pragma unroll
    for (int k = 0; k < M - 1; k++) xw[k] = xw[k + 1];
    xw[M - 1] = xr;
}

/* Preload x[r0−M+1 .. r0−1] so that after shifting in x[r0] the window is full. */
template <typename T, int M>
static __device__ __forceinline__ void cv_preload(float *xw, const T *x, int ldx, int r0, int e) {
#pragma unroll
    for (int k = 0; k < M; k++) {
        int r = r0 - (M - k);
        xw[k] = r >= 0 ? hy_ld<T>(x + (size_t)r * ldx + e) : 0.f;
    }
}

template <int M> static __device__ __forceinline__ float cv_pre(const float *wr, const float *xw, float bias, int p) {
    float acc = bias;
#pragma unroll
    for (int b = 0; b < M; b++)
        if (b <= p) acc = fmaf(wr[b], xw[M - 1 - b], acc);
    return acc;
}

template <typename T, int M>
static __global__ void __launch_bounds__(CV_THREADS)
    k_conv_fwd(T *u, const T *x, int ldx, const T *w, const T *b, const int32_t *pos, int n, int DI, int DC) {
    const int e = blockIdx.x * CV_THREADS + threadIdx.x, r0 = blockIdx.y * CV_R, r1 = min(n, r0 + CV_R);
    if (e >= DI) return;
    float wr[M], xw[M], bias = hy_ld<T>(b + e);
    cv_taps<T, M>(wr, w, e, DC);
    cv_preload<T, M>(xw, x, ldx, r0, e);
    for (int r = r0; r < r1; r++) {
        cv_shift<M>(xw, hy_ld<T>(x + (size_t)r * ldx + e));
        float pre = cv_pre<M>(wr, xw, bias, pos[r]);
        hy_st<T>(u + (size_t)r * DI + e, pre * hy_sigmoid(pre));
    }
}

/* dx for the run's rows; pw[run][e·DC + k], pb[run][e]: the run's dw/db share. */
template <typename T, int M>
static __global__ void __launch_bounds__(CV_THREADS)
    k_conv_bwd(T *dx, int lddx, float *pw, float *pb, const T *du, const T *x, int ldx, const T *w, const T *b,
               const int32_t *pos, int n, int DI, int DC) {
    const int e = blockIdx.x * CV_THREADS + threadIdx.x, r0 = blockIdx.y * CV_R, r1 = min(n, r0 + CV_R);
    if (e >= DI) return;
    float wr[M], xw[M], dacc[M], dw[M], db = 0.f, bias = hy_ld<T>(b + e);
    cv_taps<T, M>(wr, w, e, DC);
    cv_preload<T, M>(xw, x, ldx, r0, e);
#pragma unroll
    for (int k = 0; k < M; k++) dacc[k] = dw[k] = 0.f;
    const int rend = min(n, r1 + M - 1); /* rows whose dpre reaches the run's dx */
    for (int r = r0; r < rend; r++) {
        cv_shift<M>(xw, hy_ld<T>(x + (size_t)r * ldx + e));
        const int p = pos[r];
        const float pre = cv_pre<M>(wr, xw, bias, p), dpre = hy_ld<T>(du + (size_t)r * DI + e) * silu_grad(pre);
        if (r < r1) {
            db += dpre;
#pragma unroll
            for (int k = 0; k < M; k++)
                if (k <= p) dw[k] = fmaf(dpre, xw[M - 1 - k], dw[k]);
        }
        /* dacc[k] belongs to row r−k */
#pragma unroll
        for (int k = M - 1; k > 0; k--) dacc[k] = dacc[k - 1];
        dacc[0] = 0.f;
#pragma unroll
        for (int k = 0; k < M; k++)
            if (k <= p) dacc[k] = fmaf(wr[k], dpre, dacc[k]);
        const int t = r - (M - 1); /* complete: no later row reaches it */
        if (dx && t >= r0) hy_st<T>(dx + (size_t)t * lddx + e, dacc[M - 1]);
    }
    /* rows whose later neighbours lie past the end of the batch */
#pragma unroll
    for (int k = M - 2; k >= 0; k--) {
        const int t = rend - 1 - k;
        if (dx && rend == n && t >= r0 && t < r1 && t > rend - M) hy_st<T>(dx + (size_t)t * lddx + e, dacc[k]);
    }
    if (pw) {
#pragma unroll
        for (int k = 0; k < M; k++)
            if (k < DC) pw[(size_t)blockIdx.y * DI * DC + (size_t)e * DC + (DC - 1 - k)] = dw[k];
        pb[(size_t)blockIdx.y * DI + e] = db;
    }
}

template <typename T, int M>
static hy_status conv_bwd_m(hy_cuda_ctx *c, T *dx, int lddx, float *dw, float *db, const T *du, const T *x, int ldx,
                            const T *w, const T *b, const hy_seqs *s, int DI, int DC) {
    const int n = s->n, runs = HY_CEIL_DIV(n, CV_R);
    float *pw = NULL, *pb = NULL;
    if (dw || db) {
        size_t wbytes = hy_cuda_align((size_t)runs * DI * DC * 4), bbytes = hy_cuda_align((size_t)runs * DI * 4);
        void *scr;
        HY_TRY(hy_cuda_scratch(c, wbytes + bbytes, &scr));
        pw = (float *)scr, pb = (float *)((char *)scr + wbytes);
    }
    k_conv_bwd<T, M><<<dim3(HY_CEIL_DIV(DI, CV_THREADS), runs), CV_THREADS, 0, c->stream>>>(dx, lddx, pw, pb, du, x, ldx, w, b,
                                                                                          s->pos, n, DI, DC);
    HY_CUDA_LAUNCH_CHECK(c, "conv1d_bwd");
    if (dw) HY_TRY(hy_cuda_sum_partials(c, dw, pw, runs, (size_t)DI * DC));
    if (db) HY_TRY(hy_cuda_sum_partials(c, db, pb, runs, (size_t)DI));
    return HY_OK;
}

template <typename T>
static hy_status conv_fwd(hy_cuda_ctx *c, T *u, const T *x, int ldx, const T *w, const T *b, const hy_seqs *s, int DI, int DC) {
    dim3 grid(HY_CEIL_DIV(DI, CV_THREADS), HY_CEIL_DIV(s->n, CV_R));
    if (DC <= 4)
        k_conv_fwd<T, 4><<<grid, CV_THREADS, 0, c->stream>>>(u, x, ldx, w, b, s->pos, s->n, DI, DC);
    else
        k_conv_fwd<T, HY_CONV_MAXDC><<<grid, CV_THREADS, 0, c->stream>>>(u, x, ldx, w, b, s->pos, s->n, DI, DC);
    HY_CUDA_LAUNCH_CHECK(c, "conv1d_fwd");
    return HY_OK;
}

template <typename T>
static hy_status conv_bwd(hy_cuda_ctx *c, T *dx, int lddx, float *dw, float *db, const T *du, const T *x, int ldx,
                          const T *w, const T *b, const hy_seqs *s, int DI, int DC) {
    if (DC <= 4) return conv_bwd_m<T, 4>(c, dx, lddx, dw, db, du, x, ldx, w, b, s, DI, DC);
    return conv_bwd_m<T, HY_CONV_MAXDC>(c, dx, lddx, dw, db, du, x, ldx, w, b, s, DI, DC);
}

static hy_status conv_check(const hy_seqs *s, int DC) {
    if (DC < 1 || DC > HY_CONV_MAXDC)
        return hy_errorf(HY_ERR_UNSUPPORTED, "conv1d: kernel width DC = %d; the CUDA op supports 1..%d", DC, HY_CONV_MAXDC);
    if (HY_CEIL_DIV(s->n, CV_R) > 65535)
        return hy_errorf(HY_ERR_UNSUPPORTED, "conv1d: %d rows in one micro-batch; the CUDA op supports up to %d", s->n,
                         65535 * CV_R);
    return HY_OK;
}

extern "C" hy_status hy_conv1d_fwd_cuda(void *ctx, hy_act *u /* [N,DI] */, const hy_act *x /* [N,DI] ldx */, int ldx,
                                        const hy_act *w /* [DI,DC] */, const hy_act *b /* [DI] */, const hy_seqs *s, int DI,
                                        int DC) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if ((size_t)s->n * DI == 0) return HY_OK;
    HY_TRY(conv_check(s, DC));
    if (hy_cuda_bf16(c))
        return conv_fwd<__nv_bfloat16>(c, (__nv_bfloat16 *)u, (const __nv_bfloat16 *)x, ldx, (const __nv_bfloat16 *)w,
                                       (const __nv_bfloat16 *)b, s, DI, DC);
    return conv_fwd<float>(c, (float *)u, (const float *)x, ldx, (const float *)w, (const float *)b, s, DI, DC);
}

extern "C" hy_status hy_conv1d_bwd_cuda(void *ctx, hy_act *dx /* [N,DI] lddx (overwrite) */, int lddx,
                                        float *dw /* [DI,DC] += */, float *db /* [DI] += */, const hy_act *du /* [N,DI] */,
                                        const hy_act *x /* [N,DI] ldx */, int ldx, const hy_act *w, const hy_act *b,
                                        const hy_seqs *s, int DI, int DC) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if ((size_t)s->n * DI == 0) return HY_OK;
    HY_TRY(conv_check(s, DC));
    if (hy_cuda_bf16(c))
        return conv_bwd<__nv_bfloat16>(c, (__nv_bfloat16 *)dx, lddx, dw, db, (const __nv_bfloat16 *)du,
                                       (const __nv_bfloat16 *)x, ldx, (const __nv_bfloat16 *)w, (const __nv_bfloat16 *)b, s,
                                       DI, DC);
    return conv_bwd<float>(c, (float *)dx, lddx, dw, db, (const float *)du, (const float *)x, ldx, (const float *)w,
                           (const float *)b, s, DI, DC);
}
