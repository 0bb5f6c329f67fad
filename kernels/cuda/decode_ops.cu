/* decode_ops.cu — incremental-decoding ops on the GPU (kernels/decode_ops.h):
 * conv and scan continued from a carried state, attention of a chunk of
 * query rows against the meta + ring K/V cache.  Forward only.
 *
 * Variant 0 ("correct first"; decoding is latency-bound, one token a step):
 *   conv1d_step       one thread per channel walks the n rows in order; the
 *                     input window [state ; x] is read in place and the state
 *                     rewritten with the last DC−1 inputs at the end.
 *   scan_step         one thread per channel walks the rows in order, its DS
 *                     states read and written in the fp32 h (L1-resident);
 *                     the per-state update and the C·h sum follow the CPU op's
 *                     order.
 *   attention_decode  one block of DEC_WARPS warps per (query row, head).
 *                     The visible keys (meta segment, then the window segment,
 *                     in increasing j, as the CPU enumerates them) are split
 *                     into DEC_WARPS contiguous runs; each warp runs an online
 *                     softmax over its run (q·k as a warp sum, each lane
 *                     owning DV/32 output columns), then the block merges the
 *                     warps' (max, sum, output) in warp order.  Fixed
 *                     assignment and order: deterministic, no atomics.
 * Limits: DC ≤ 64, DS ≤ HY_SCAN_MAX_DS, DQK ≤ 256, DV ≤ 256. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/decode_ops.h"
#include "kernels/selective_scan.h"

enum { DEC_MAX_DC = 64, DEC_THREADS = 128, DEC_WARPS = 4, DEC_MAX_D = 256, DEC_VPL = DEC_MAX_D / 32 };

static __device__ __forceinline__ float dec_softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }

/* ------------------------------------------------------------------ conv1d_step */

template <typename T>
static __global__ void k_conv1d_step(T *u, const T *x, int ldx, T *state, const T *w, const T *b, int n, int DI, int DC) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= DI) return;
    const int H = DC - 1;
    /* row t of in = [state ; x]: t < H from the state (oldest first), else x row t − H */
#define DEC_IN(t) ((t) < H ? hy_ld<T>(state + (size_t)(t) * DI + e) : hy_ld<T>(x + (size_t)((t) - H) * ldx + e))
    const float be = hy_ld<T>(b + e);
    for (int r = 0; r < n; r++) {
        float pre = be;
        for (int k = 0; k < DC; k++) pre += hy_ld<T>(w + (size_t)e * DC + k) * DEC_IN(r + k);
        hy_st<T>(u + (size_t)r * DI + e, pre * hy_sigmoid(pre));
    }
    /* new state: in rows n .. n+H−1; index n+k > k is read before row n+k is rewritten */
    for (int k = 0; k < H; k++) {
        const float v = DEC_IN(n + k);
        hy_st<T>(state + (size_t)k * DI + e, v);
    }
#undef DEC_IN
}

extern "C" hy_status hy_conv1d_step_cuda(void *ctx, hy_act *u, const hy_act *x, int ldx, hy_act *state, const hy_act *w, const hy_act *b,
                                         int n, int DI, int DC) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (DC < 1 || DC > DEC_MAX_DC)
        return hy_errorf(HY_ERR_UNSUPPORTED, "conv1d_step: kernel width DC = %d; the CUDA backend supports 1..%d", DC, DEC_MAX_DC);
    if (n < 1 || DI < 1) return HY_OK;
    const unsigned g = (unsigned)HY_CEIL_DIV(DI, DEC_THREADS);
    if (hy_cuda_bf16(c))
        k_conv1d_step<__nv_bfloat16><<<g, DEC_THREADS, 0, c->stream>>>((__nv_bfloat16 *)u, (const __nv_bfloat16 *)x, ldx,
                                                                      (__nv_bfloat16 *)state, (const __nv_bfloat16 *)w,
                                                                      (const __nv_bfloat16 *)b, n, DI, DC);
    else
        k_conv1d_step<float><<<g, DEC_THREADS, 0, c->stream>>>((float *)u, (const float *)x, ldx, (float *)state, (const float *)w,
                                                              (const float *)b, n, DI, DC);
    HY_CUDA_LAUNCH_CHECK(c, "conv1d_step");
    return HY_OK;
}

/* ------------------------------------------------------------------ scan_step */

template <typename T>
static __global__ void k_scan_step(T *y, float *h, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm, const T *Cm,
                                   int ldbc, const T *D, const T *z, int ldz, int n, int DI, int DS) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= DI) return;
    float *he = h + (size_t)e * DS;
    const float db = hy_ld<T>(dt_bias + e), De = hy_ld<T>(D + e);
    for (int r = 0; r < n; r++) {
        const size_t re = (size_t)r * DI + e;
        const float dl = dec_softplus(hy_ld<T>(delta + re) + db), uu = hy_ld<T>(u + re);
        const T *B = Bm + (size_t)r * ldbc, *C = Cm + (size_t)r * ldbc;
        float acc = 0.f;
        for (int k = 0; k < DS; k++) {
            const float A = -expf(hy_ld<T>(A_log + (size_t)e * DS + k));
            const float hk = expf(dl * A) * he[k] + dl * hy_ld<T>(B + k) * uu;
            he[k] = hk;
            acc += hy_ld<T>(C + k) * hk;
        }
        const float yy = acc + De * uu, zz = hy_ld<T>(z + (size_t)r * ldz + e);
        hy_st<T>(y + re, yy * zz * hy_sigmoid(zz));
    }
}

extern "C" hy_status hy_scan_step_cuda(void *ctx, hy_act *y, float *h, const hy_act *u, const hy_act *delta, const hy_act *dt_bias,
                                       const hy_act *A_log, const hy_act *Bm, const hy_act *Cm, int ldbc, const hy_act *D, const hy_act *z,
                                       int ldz, int n, int DI, int DS) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (DS < 1 || DS > HY_SCAN_MAX_DS)
        return hy_errorf(HY_ERR_UNSUPPORTED, "scan_step: state size DS = %d; the CUDA backend supports 1..%d", DS, (int)HY_SCAN_MAX_DS);
    if (n < 1 || DI < 1) return HY_OK;
    const unsigned g = (unsigned)HY_CEIL_DIV(DI, DEC_THREADS);
    typedef __nv_bfloat16 B16;
    if (hy_cuda_bf16(c))
        k_scan_step<B16><<<g, DEC_THREADS, 0, c->stream>>>((B16 *)y, h, (const B16 *)u, (const B16 *)delta, (const B16 *)dt_bias,
                                                            (const B16 *)A_log, (const B16 *)Bm, (const B16 *)Cm, ldbc, (const B16 *)D,
                                                            (const B16 *)z, ldz, n, DI, DS);
    else
        k_scan_step<float><<<g, DEC_THREADS, 0, c->stream>>>((float *)y, h, (const float *)u, (const float *)delta, (const float *)dt_bias,
                                                              (const float *)A_log, (const float *)Bm, (const float *)Cm, ldbc,
                                                              (const float *)D, (const float *)z, ldz, n, DI, DS);
    HY_CUDA_LAUNCH_CHECK(c, "scan_step");
    return HY_OK;
}

/* ------------------------------------------------------------------ attention_decode */

struct dec_att_args {
    int i0, M, R, W, NH, NKV, DQK, DV, ldq;
    float scale;
};

/* Cache slot of sequence index j. */
static __device__ __forceinline__ size_t dec_slot(int j, int M, int R) { return j < M ? (size_t)j : (size_t)M + (size_t)((j - M) % R); }

template <typename T>
static __global__ void __launch_bounds__(DEC_THREADS) k_attention_decode(T *out, const T *q, const T *kc, const T *vc, dec_att_args a) {
    __shared__ float s_m[DEC_WARPS], s_l[DEC_WARPS], s_o[DEC_WARPS][DEC_MAX_D], s_q[DEC_MAX_D];
    const int r = blockIdx.y, hd = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int i = a.i0 + r, g = hd / (a.NH / a.NKV);
    const int lo = a.W < 0 ? 0 : (i > a.W ? i - a.W : 0), meta_end = a.W < 0 ? 0 : min(a.M, lo);
    const int count = meta_end + (i - lo + 1);
    for (int cidx = threadIdx.x; cidx < a.DQK; cidx += blockDim.x)
        s_q[cidx] = hy_ld<T>(q + (size_t)r * a.ldq + (size_t)hd * a.DQK + cidx);
    __syncthreads();
    const int ldk = a.NKV * a.DQK, ldv = a.NKV * a.DV;
    const T *k0 = kc + (size_t)g * a.DQK, *v0 = vc + (size_t)g * a.DV;
    /* this warp's contiguous run of the visible keys */
    const int per = (count + DEC_WARPS - 1) / DEC_WARPS, t0 = warp * per, t1 = min(count, t0 + per);
    float mx = -INFINITY, l = 0.f, o[DEC_VPL];
#pragma unroll
    for (int v = 0; v < DEC_VPL; v++) o[v] = 0.f;
    for (int t = t0; t < t1; t++) {
        const int j = t < meta_end ? t : lo + (t - meta_end);
        const size_t s = dec_slot(j, a.M, a.R);
        float part = 0.f;
        for (int cidx = lane; cidx < a.DQK; cidx += 32) part += s_q[cidx] * hy_ld<T>(k0 + s * ldk + cidx);
        const float sc = a.scale * hy_warp_sum(part);
        if (sc > mx) { /* new running max: rescale what was accumulated */
            const float corr = expf(mx - sc);
            l *= corr;
#pragma unroll
            for (int v = 0; v < DEC_VPL; v++) o[v] *= corr;
            mx = sc;
        }
        const float p = expf(sc - mx);
        l += p;
#pragma unroll
        for (int v = 0; v < DEC_VPL; v++) {
            const int cidx = lane + 32 * v;
            if (cidx < a.DV) o[v] += p * hy_ld<T>(v0 + s * ldv + cidx);
        }
    }
    if (lane == 0) {
        s_m[warp] = mx;
        s_l[warp] = l;
    }
#pragma unroll
    for (int v = 0; v < DEC_VPL; v++)
        if (lane + 32 * v < a.DV) s_o[warp][lane + 32 * v] = o[v];
    __syncthreads();
    /* merge the warps in order (a warp with no keys has max −inf and weight 0) */
    float M = -INFINITY;
    for (int w = 0; w < DEC_WARPS; w++) M = fmaxf(M, s_m[w]);
    float L = 0.f;
    for (int w = 0; w < DEC_WARPS; w++) L += s_m[w] == -INFINITY ? 0.f : s_l[w] * expf(s_m[w] - M);
    for (int cidx = threadIdx.x; cidx < a.DV; cidx += blockDim.x) {
        float acc = 0.f;
        for (int w = 0; w < DEC_WARPS; w++)
            if (s_m[w] != -INFINITY) acc += s_o[w][cidx] * expf(s_m[w] - M);
        hy_st<T>(out + (size_t)r * a.NH * a.DV + (size_t)hd * a.DV + cidx, acc / L);
    }
}

extern "C" hy_status hy_attention_decode_cuda(void *ctx, hy_act *out, const hy_act *q, int ldq, const hy_act *kc, const hy_act *vc, int i0,
                                              int n, int M, int R, int W, int NH, int NKV, int DQK, int DV, float scale) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    HY_ASSERT(NKV > 0 && NH % NKV == 0);
    if (DQK > DEC_MAX_D || DV > DEC_MAX_D)
        return hy_errorf(HY_ERR_UNSUPPORTED, "attention_decode: head dims DQK %d / DV %d; the CUDA backend supports up to %d", DQK, DV,
                         (int)DEC_MAX_D);
    const int last = i0 + n - 1, first_text = W < 0 ? M : hy_imax(M, i0 - W);
    if (i0 < 0 || n < 1 || R < 1 || (last >= M && last - first_text + 1 > R))
        return hy_errorf(HY_ERR_ARG,
                         "attention_decode: rows %d..%d need text keys %d..%d, but the cache ring holds %d slots; hint: the decode "
                         "state sizes the ring as window + chunk",
                         i0, last, first_text, last, R);
    dec_att_args a = {i0, M, R, W, NH, NKV, DQK, DV, ldq, scale};
    dim3 grid((unsigned)NH, (unsigned)n);
    if (hy_cuda_bf16(c))
        k_attention_decode<__nv_bfloat16><<<grid, DEC_THREADS, 0, c->stream>>>((__nv_bfloat16 *)out, (const __nv_bfloat16 *)q,
                                                                              (const __nv_bfloat16 *)kc, (const __nv_bfloat16 *)vc, a);
    else
        k_attention_decode<float><<<grid, DEC_THREADS, 0, c->stream>>>((float *)out, (const float *)q, (const float *)kc, (const float *)vc,
                                                                      a);
    HY_CUDA_LAUNCH_CHECK(c, "attention_decode");
    return HY_OK;
}
