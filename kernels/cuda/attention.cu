/* attention.cu — causal GQA attention over packed documents with the sliding
 * window and the always-visible meta prefix (spec §4.3–4.4, §9.4).
 *
 * Mask (document-relative indices): key j is visible from query i iff
 *   j ≤ i  ∧  (W < 0  ∨  i − j ≤ W  ∨  j < M).
 * Query head h reads kv head h / (NH/NKV).  Scores are s = scale·q·k in fp32,
 * the softmax statistics fp32, lse[h][row] = max + log Σ exp(s − max).
 *
 * Variant 0 (this file; "correct first"): plain tiled kernels, fp32 in shared
 * memory, no tensor cores.
 *   fwd:   block = (doc, head, 16 queries); 4 warps × 4 queries; key tiles of
 *          32 (lane = key for the scores, lane = value column for the
 *          accumulation); online softmax.  Tiles fully outside the window are
 *          skipped.
 *   bwd:   Δ_i = Σ_c dO_i·O_i (one warp per (row, head));
 *          dQ: same shape as the forward, overwrites dq;
 *          dK/dV: block = (doc, kv head, 16 keys); loops over the visible
 *          query tiles and, inside, over the group's query heads in order, so
 *          every key's gradient is summed in one fixed order by one warp (no
 *          atomics); the result is added (+=) to dk/dv, as shared K/V collect
 *          every reader's gradient.
 * Limits: DQK ≤ 128, DV ≤ 256 (Hymba: 64 / 128).
 *
 * bf16 storage with DQK = 64, DV = 128 and 16-byte aligned operands takes the
 * fused tensor-core path instead (attention_fa_fwd.cu / attention_fa_bwd.cu;
 * Δ still comes from k_att_delta here).  fp32 storage (verification mode)
 * and other head dims always use the kernels of this file. */
#include "kernels/cuda/attention_fa.cuh"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/attention.h"

enum {
    HY_ATT_WARPS = 4,
    HY_ATT_QW = 4,                              /* queries (fwd, dQ) or keys (dK/dV) per warp */
    HY_ATT_ROWS = HY_ATT_WARPS * HY_ATT_QW,     /* rows of a block's tile */
    HY_ATT_TILE = 32,                           /* keys (fwd, dQ) or queries (dK/dV) per inner tile */
    HY_ATT_MAXQK = 128,
    HY_ATT_MAXV = 256
};

static __device__ __forceinline__ bool att_visible(int i, int j, int M, int W) {
    return j <= i && (W < 0 || i - j <= W || j < M);
}

/* Is the tile of keys [j0, j0+32) invisible to every query in [qa, qb]? */
static __device__ __forceinline__ bool att_tile_hidden(int j0, int qa, int qb, int M, int W) {
    if (j0 > qb) return true;
    return W >= 0 && j0 >= M && j0 + HY_ATT_TILE - 1 < qa - W;
}

/* Load rows [r0, r0+rows) (doc-relative, clipped at len) of head `hd` of a
 * [N, H·D] (ld) tensor into sh[rows][stride] as fp32; zero past the end. */
template <typename T>
static __device__ void att_load(float *sh, int stride, const T *src, int ld, int base, int r0, int rows, int len, int hd,
                                int D) {
    for (int i = threadIdx.x; i < rows * D; i += blockDim.x) {
        int r = i / D, c = i % D;
        int row = r0 + r;
        sh[r * stride + c] = row < len ? hy_ld<T>(src + (size_t)(base + row) * ld + (size_t)hd * D + c) : 0.f;
    }
}

/* ------------------------------------------------------------------ forward */
template <typename T>
static __global__ void __launch_bounds__(HY_ATT_WARPS * 32)
    k_att_fwd(T *out, float *lse, const T *q, int ldq, const T *k, int ldk, const T *v, int ldv, const int32_t *cu, int N,
              int NH, int NKV, int DQK, int DV, int M, int W, float scale) {
    extern __shared__ float smem[];
    const int d = blockIdx.z, h = blockIdx.y, g = h / (NH / NKV);
    const int base = cu[d], len = cu[d + 1] - base, qa = blockIdx.x * HY_ATT_ROWS;
    if (qa >= len) return;
    const int qb = min(len, qa + HY_ATT_ROWS) - 1;
    float *sQ = smem, *sK = sQ + HY_ATT_ROWS * DQK, *sV = sK + HY_ATT_TILE * (DQK + 1);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    att_load<T>(sQ, DQK, q, ldq, base, qa, HY_ATT_ROWS, len, h, DQK);

    float m[HY_ATT_QW], l[HY_ATT_QW], acc[HY_ATT_QW][HY_ATT_MAXV / 32];
#pragma unroll
    for (int r = 0; r < HY_ATT_QW; r++) {
        m[r] = -INFINITY;
        l[r] = 0.f;
#pragma unroll
        for (int i = 0; i < HY_ATT_MAXV / 32; i++) acc[r][i] = 0.f;
    }
    for (int j0 = 0; j0 <= qb; j0 += HY_ATT_TILE) {
        if (att_tile_hidden(j0, qa, qb, M, W)) continue;
        __syncthreads(); /* previous tile fully consumed (and sQ loaded) */
        att_load<T>(sK, DQK + 1, k, ldk, base, j0, HY_ATT_TILE, len, g, DQK);
        att_load<T>(sV, DV + 1, v, ldv, base, j0, HY_ATT_TILE, len, g, DV);
        __syncthreads();
        const int j = j0 + lane;
        float p[HY_ATT_QW];
#pragma unroll
        for (int r = 0; r < HY_ATT_QW; r++) {
            const int i = qa + warp * HY_ATT_QW + r;
            float s = 0.f;
            for (int c = 0; c < DQK; c++) s += sQ[(warp * HY_ATT_QW + r) * DQK + c] * sK[lane * (DQK + 1) + c];
            s = (i < len && j < len && att_visible(i, j, M, W)) ? s * scale : -INFINITY;
            float mt = fmaxf(m[r], hy_warp_max(s));
            float corr = mt == -INFINITY ? 1.f : expf(m[r] - mt);
            p[r] = mt == -INFINITY ? 0.f : expf(s - mt);
            l[r] = l[r] * corr + hy_warp_sum(p[r]);
            m[r] = mt;
#pragma unroll
            for (int c = 0; c < HY_ATT_MAXV / 32; c++) acc[r][c] *= corr;
        }
        for (int jj = 0; jj < HY_ATT_TILE; jj++) {
            float vv[HY_ATT_MAXV / 32];
#pragma unroll
            for (int c = 0; c < HY_ATT_MAXV / 32; c++) vv[c] = lane + 32 * c < DV ? sV[jj * (DV + 1) + lane + 32 * c] : 0.f;
#pragma unroll
            for (int r = 0; r < HY_ATT_QW; r++) {
                float pj = __shfl_sync(0xffffffffu, p[r], jj);
#pragma unroll
                for (int c = 0; c < HY_ATT_MAXV / 32; c++) acc[r][c] += pj * vv[c];
            }
        }
    }
#pragma unroll
    for (int r = 0; r < HY_ATT_QW; r++) {
        const int i = qa + warp * HY_ATT_QW + r;
        if (i >= len) continue;
        const size_t row = (size_t)base + i;
        float inv = 1.f / l[r];
#pragma unroll
        for (int c = 0; c < HY_ATT_MAXV / 32; c++) {
            int col = lane + 32 * c;
            if (col < DV) hy_st<T>(out + row * (size_t)NH * DV + (size_t)h * DV + col, acc[r][c] * inv);
        }
        if (lane == 0) lse[(size_t)h * N + row] = m[r] + logf(l[r]);
    }
}

/* ------------------------------------------------------------ backward: Δ */
template <typename T>
static __global__ void k_att_delta(float *delta, const T *dout, const T *out, int N, int NH, int DV) {
    size_t wid = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (wid >= (size_t)N * NH) return;
    size_t row = wid / NH;
    int h = (int)(wid % NH);
    const T *a = dout + row * (size_t)NH * DV + (size_t)h * DV, *b = out + row * (size_t)NH * DV + (size_t)h * DV;
    float s = 0.f;
    for (int c = lane; c < DV; c += 32) s += hy_ld<T>(a + c) * hy_ld<T>(b + c);
    s = hy_warp_sum(s);
    if (lane == 0) delta[(size_t)h * N + row] = s;
}

/* ----------------------------------------------------------- backward: dQ */
template <typename T>
static __global__ void __launch_bounds__(HY_ATT_WARPS * 32)
    k_att_dq(T *dq, int lddq, const T *dout, const float *lse, const float *delta, const T *q, int ldq, const T *k, int ldk,
             const T *v, int ldv, const int32_t *cu, int N, int NH, int NKV, int DQK, int DV, int M, int W, float scale) {
    extern __shared__ float smem[];
    const int d = blockIdx.z, h = blockIdx.y, g = h / (NH / NKV);
    const int base = cu[d], len = cu[d + 1] - base, qa = blockIdx.x * HY_ATT_ROWS;
    if (qa >= len) return;
    const int qb = min(len, qa + HY_ATT_ROWS) - 1;
    float *sQ = smem, *sO = sQ + HY_ATT_ROWS * DQK, *sK = sO + HY_ATT_ROWS * DV, *sV = sK + HY_ATT_TILE * (DQK + 1);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    att_load<T>(sQ, DQK, q, ldq, base, qa, HY_ATT_ROWS, len, h, DQK);
    att_load<T>(sO, DV, dout, NH * DV, base, qa, HY_ATT_ROWS, len, h, DV);
    float L[HY_ATT_QW], Dl[HY_ATT_QW], acc[HY_ATT_QW][HY_ATT_MAXQK / 32];
#pragma unroll
    for (int r = 0; r < HY_ATT_QW; r++) {
        int i = qa + warp * HY_ATT_QW + r;
        L[r] = i < len ? lse[(size_t)h * N + base + i] : 0.f;
        Dl[r] = i < len ? delta[(size_t)h * N + base + i] : 0.f;
#pragma unroll
        for (int c = 0; c < HY_ATT_MAXQK / 32; c++) acc[r][c] = 0.f;
    }
    for (int j0 = 0; j0 <= qb; j0 += HY_ATT_TILE) {
        if (att_tile_hidden(j0, qa, qb, M, W)) continue;
        __syncthreads();
        att_load<T>(sK, DQK + 1, k, ldk, base, j0, HY_ATT_TILE, len, g, DQK);
        att_load<T>(sV, DV + 1, v, ldv, base, j0, HY_ATT_TILE, len, g, DV);
        __syncthreads();
        const int j = j0 + lane;
        float ds[HY_ATT_QW];
#pragma unroll
        for (int r = 0; r < HY_ATT_QW; r++) {
            const int qi = warp * HY_ATT_QW + r, i = qa + qi;
            ds[r] = 0.f;
            if (i < len && j < len && att_visible(i, j, M, W)) {
                float s = 0.f, dp = 0.f;
                for (int c = 0; c < DQK; c++) s += sQ[qi * DQK + c] * sK[lane * (DQK + 1) + c];
                for (int c = 0; c < DV; c++) dp += sO[qi * DV + c] * sV[lane * (DV + 1) + c];
                float p = expf(s * scale - L[r]);
                ds[r] = p * (dp - Dl[r]);
            }
        }
        for (int jj = 0; jj < HY_ATT_TILE; jj++) {
            float kk[HY_ATT_MAXQK / 32];
#pragma unroll
            for (int c = 0; c < HY_ATT_MAXQK / 32; c++)
                kk[c] = lane + 32 * c < DQK ? sK[jj * (DQK + 1) + lane + 32 * c] : 0.f;
#pragma unroll
            for (int r = 0; r < HY_ATT_QW; r++) {
                float dj = __shfl_sync(0xffffffffu, ds[r], jj);
#pragma unroll
                for (int c = 0; c < HY_ATT_MAXQK / 32; c++) acc[r][c] += dj * kk[c];
            }
        }
    }
#pragma unroll
    for (int r = 0; r < HY_ATT_QW; r++) {
        const int i = qa + warp * HY_ATT_QW + r;
        if (i >= len) continue;
#pragma unroll
        for (int c = 0; c < HY_ATT_MAXQK / 32; c++) {
            int col = lane + 32 * c;
            if (col < DQK) hy_st<T>(dq + ((size_t)base + i) * lddq + (size_t)h * DQK + col, scale * acc[r][c]);
        }
    }
}

/* -------------------------------------------------------- backward: dK, dV */
template <typename T>
static __global__ void __launch_bounds__(HY_ATT_WARPS * 32)
    k_att_dkv(T *dk, T *dv, const T *dout, const float *lse, const float *delta, const T *q, int ldq, const T *k, int ldk,
              const T *v, int ldv, const int32_t *cu, int N, int NH, int NKV, int DQK, int DV, int M, int W, float scale) {
    extern __shared__ float smem[];
    const int d = blockIdx.z, g = blockIdx.y, G = NH / NKV;
    const int base = cu[d], len = cu[d + 1] - base, ka = blockIdx.x * HY_ATT_ROWS;
    if (ka >= len) return;
    const int kb = min(len, ka + HY_ATT_ROWS) - 1;
    float *sK = smem, *sV = sK + HY_ATT_ROWS * DQK, *sQ = sV + HY_ATT_ROWS * DV, *sO = sQ + HY_ATT_TILE * (DQK + 1);
    float *sL = sO + HY_ATT_TILE * (DV + 1), *sD = sL + HY_ATT_TILE;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    att_load<T>(sK, DQK, k, ldk, base, ka, HY_ATT_ROWS, len, g, DQK);
    att_load<T>(sV, DV, v, ldv, base, ka, HY_ATT_ROWS, len, g, DV);
    float ak[HY_ATT_QW][HY_ATT_MAXQK / 32], av[HY_ATT_QW][HY_ATT_MAXV / 32];
#pragma unroll
    for (int r = 0; r < HY_ATT_QW; r++) {
#pragma unroll
        for (int c = 0; c < HY_ATT_MAXQK / 32; c++) ak[r][c] = 0.f;
#pragma unroll
        for (int c = 0; c < HY_ATT_MAXV / 32; c++) av[r][c] = 0.f;
    }
    /* last query that sees any of these keys: all of them when a key is meta or there is no window */
    const int ilast = (W < 0 || ka < M) ? len - 1 : min(len - 1, kb + W);
    for (int i0 = ka; i0 <= ilast; i0 += HY_ATT_TILE) {
        for (int hh = 0; hh < G; hh++) {
            const int h = g * G + hh;
            __syncthreads();
            att_load<T>(sQ, DQK + 1, q, ldq, base, i0, HY_ATT_TILE, len, h, DQK);
            att_load<T>(sO, DV + 1, dout, NH * DV, base, i0, HY_ATT_TILE, len, h, DV);
            if (threadIdx.x < HY_ATT_TILE) {
                int i = i0 + threadIdx.x;
                sL[threadIdx.x] = i < len ? lse[(size_t)h * N + base + i] : 0.f;
                sD[threadIdx.x] = i < len ? delta[(size_t)h * N + base + i] : 0.f;
            }
            __syncthreads();
            const int i = i0 + lane;
            float p[HY_ATT_QW], ds[HY_ATT_QW];
#pragma unroll
            for (int r = 0; r < HY_ATT_QW; r++) {
                const int kr = warp * HY_ATT_QW + r, j = ka + kr;
                p[r] = 0.f;
                ds[r] = 0.f;
                if (i < len && j < len && att_visible(i, j, M, W)) {
                    float s = 0.f, dp = 0.f;
                    for (int c = 0; c < DQK; c++) s += sQ[lane * (DQK + 1) + c] * sK[kr * DQK + c];
                    for (int c = 0; c < DV; c++) dp += sO[lane * (DV + 1) + c] * sV[kr * DV + c];
                    p[r] = expf(s * scale - sL[lane]);
                    ds[r] = p[r] * (dp - sD[lane]);
                }
            }
            for (int ii = 0; ii < HY_ATT_TILE; ii++) {
                float oo[HY_ATT_MAXV / 32], qq[HY_ATT_MAXQK / 32];
#pragma unroll
                for (int c = 0; c < HY_ATT_MAXV / 32; c++) oo[c] = lane + 32 * c < DV ? sO[ii * (DV + 1) + lane + 32 * c] : 0.f;
#pragma unroll
                for (int c = 0; c < HY_ATT_MAXQK / 32; c++)
                    qq[c] = lane + 32 * c < DQK ? sQ[ii * (DQK + 1) + lane + 32 * c] : 0.f;
#pragma unroll
                for (int r = 0; r < HY_ATT_QW; r++) {
                    float pi = __shfl_sync(0xffffffffu, p[r], ii), di = __shfl_sync(0xffffffffu, ds[r], ii);
#pragma unroll
                    for (int c = 0; c < HY_ATT_MAXV / 32; c++) av[r][c] += pi * oo[c];
#pragma unroll
                    for (int c = 0; c < HY_ATT_MAXQK / 32; c++) ak[r][c] += di * qq[c];
                }
            }
        }
    }
#pragma unroll
    for (int r = 0; r < HY_ATT_QW; r++) {
        const int j = ka + warp * HY_ATT_QW + r;
        if (j >= len) continue;
        const size_t row = (size_t)base + j;
#pragma unroll
        for (int c = 0; c < HY_ATT_MAXQK / 32; c++) {
            int col = lane + 32 * c;
            if (col < DQK) {
                T *p = dk + row * (size_t)NKV * DQK + (size_t)g * DQK + col;
                hy_st<T>(p, hy_ld<T>(p) + scale * ak[r][c]);
            }
        }
#pragma unroll
        for (int c = 0; c < HY_ATT_MAXV / 32; c++) {
            int col = lane + 32 * c;
            if (col < DV) {
                T *p = dv + row * (size_t)NKV * DV + (size_t)g * DV + col;
                hy_st<T>(p, hy_ld<T>(p) + av[r][c]);
            }
        }
    }
}

/* ------------------------------------------------------------------ hosts */
static hy_status att_check(const char *what, const hy_seqs *s, int NH, int NKV, int DQK, int DV) {
    if (NKV <= 0 || NH % NKV)
        return hy_errorf(HY_ERR_ARG, "%s: NH = %d must be a multiple of NKV = %d", what, NH, NKV);
    if (DQK < 1 || DQK > HY_ATT_MAXQK || DV < 1 || DV > HY_ATT_MAXV)
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: head dims DQK = %d, DV = %d; the CUDA kernel supports DQK ≤ %d, DV ≤ %d",
                         what, DQK, DV, HY_ATT_MAXQK, HY_ATT_MAXV);
    if (s->n_docs > 65535) return hy_errorf(HY_ERR_UNSUPPORTED, "%s: %d documents in one micro-batch (max 65535)", what, s->n_docs);
    return HY_OK;
}

/* Raise a kernel's dynamic shared memory limit when it needs more than 48 KB. */
static hy_status att_smem(hy_cuda_ctx *c, const void *fn, size_t bytes, const char *what) {
    if (bytes <= 48 * 1024) return HY_OK;
    if (bytes > c->smem_optin)
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: needs %zu bytes of shared memory, device %d allows %zu", what, bytes,
                         c->device, c->smem_optin);
    HY_CUDA_CHECK(c, cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return HY_OK;
}

template <typename T>
static hy_status att_fwd(hy_cuda_ctx *c, T *out, float *lse, const T *q, int ldq, const T *k, int ldk, const T *v, int ldv,
                         const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W, float scale) {
    size_t smem = sizeof(float) * ((size_t)HY_ATT_ROWS * DQK + HY_ATT_TILE * (DQK + 1) + HY_ATT_TILE * (DV + 1));
    HY_TRY(att_smem(c, (const void *)k_att_fwd<T>, smem, "attention_fwd"));
    dim3 grid(HY_CEIL_DIV(s->max_len, HY_ATT_ROWS), NH, s->n_docs);
    k_att_fwd<T><<<grid, HY_ATT_WARPS * 32, smem, c->stream>>>(out, lse, q, ldq, k, ldk, v, ldv, s->cu, s->n, NH, NKV, DQK,
                                                               DV, M, W, scale);
    HY_CUDA_LAUNCH_CHECK(c, "attention_fwd");
    return HY_OK;
}

template <typename T>
static hy_status att_bwd(hy_cuda_ctx *c, T *dq, int lddq, T *dk, T *dv, const T *dout, const T *out, const float *lse,
                         const T *q, int ldq, const T *k, int ldk, const T *v, int ldv, const hy_seqs *s, int NH, int NKV,
                         int DQK, int DV, int M, int W, float scale) {
    const int N = s->n;
    const void *ptrs[] = {q, k, v, dout, out, dk, dv};
    const int lds[] = {ldq, ldk, ldv};
    const bool fused = sizeof(T) == 2 && hy_fa_eligible(DQK, DV, ptrs, 7, lds, 3);
    const hy_fa_split plan = hy_fa_split_plan(s, M, W);
    const size_t dbytes = hy_cuda_align((size_t)NH * N * sizeof(float));
    void *scr;
    HY_TRY(hy_cuda_scratch(c, dbytes + (fused && dk ? hy_fa_split_bytes(&plan, s, NKV) : 0), &scr));
    float *delta = (float *)scr;
    k_att_delta<T><<<hy_cuda_blocks((size_t)N * NH * 32, 256), 256, 0, c->stream>>>(delta, dout, out, N, NH, DV);
    HY_CUDA_LAUNCH_CHECK(c, "attention_bwd delta");
    if (dk && !dv) return hy_errorf(HY_ERR_ARG, "attention_bwd: dk and dv must both be given or both be NULL");
    if (dv && !dk) return hy_errorf(HY_ERR_ARG, "attention_bwd: dk and dv must both be given or both be NULL");
    if (fused)
        return hy_fa_bwd(c, (hy_bf16 *)dq, lddq, (hy_bf16 *)dk, (hy_bf16 *)dv, (const hy_bf16 *)dout, delta, lse, (const hy_bf16 *)q,
                         ldq, (const hy_bf16 *)k, ldk, (const hy_bf16 *)v, ldv, s, NH, NKV, M, W, scale,
                         (float *)((char *)scr + dbytes));
    const int tiles = HY_CEIL_DIV(s->max_len, HY_ATT_ROWS);
    if (dq) {
        size_t smem = sizeof(float) * ((size_t)HY_ATT_ROWS * (DQK + DV) + HY_ATT_TILE * (DQK + 1) + HY_ATT_TILE * (DV + 1));
        HY_TRY(att_smem(c, (const void *)k_att_dq<T>, smem, "attention_bwd dq"));
        k_att_dq<T><<<dim3(tiles, NH, s->n_docs), HY_ATT_WARPS * 32, smem, c->stream>>>(
            dq, lddq, dout, lse, delta, q, ldq, k, ldk, v, ldv, s->cu, N, NH, NKV, DQK, DV, M, W, scale);
        HY_CUDA_LAUNCH_CHECK(c, "attention_bwd dq");
    }
    if (dk && dv) {
        size_t smem = sizeof(float) *
                      ((size_t)HY_ATT_ROWS * (DQK + DV) + HY_ATT_TILE * (DQK + 1) + HY_ATT_TILE * (DV + 1) + 2 * HY_ATT_TILE);
        HY_TRY(att_smem(c, (const void *)k_att_dkv<T>, smem, "attention_bwd dk/dv"));
        k_att_dkv<T><<<dim3(tiles, NKV, s->n_docs), HY_ATT_WARPS * 32, smem, c->stream>>>(
            dk, dv, dout, lse, delta, q, ldq, k, ldk, v, ldv, s->cu, N, NH, NKV, DQK, DV, M, W, scale);
        HY_CUDA_LAUNCH_CHECK(c, "attention_bwd dk/dv");
    } else if (dk || dv) {
        return hy_errorf(HY_ERR_ARG, "attention_bwd: dk and dv must both be given or both be NULL");
    }
    return HY_OK;
}

extern "C" hy_status hy_attention_fwd_cuda(void *ctx, hy_act *out /* [N, NH·DV] */, float *lse /* [NH, N] */,
                                           const hy_act *q /* [N, NH·DQK] ldq */, int ldq, const hy_act *k /* [N, NKV·DQK] ldk */,
                                           int ldk, const hy_act *v /* [N, NKV·DV] ldv */, int ldv, const hy_seqs *s, int NH,
                                           int NKV, int DQK, int DV, int M, int W, float scale) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (s->n <= 0 || s->n_docs <= 0 || NH <= 0) return HY_OK;
    HY_TRY(att_check("attention_fwd", s, NH, NKV, DQK, DV));
    typedef __nv_bfloat16 bf;
    const void *ptrs[] = {q, k, v, out};
    const int lds[] = {ldq, ldk, ldv};
    if (hy_cuda_bf16(c) && hy_fa_eligible(DQK, DV, ptrs, 4, lds, 3))
        return hy_fa_fwd(c, (bf *)out, lse, (const bf *)q, ldq, (const bf *)k, ldk, (const bf *)v, ldv, s, NH, NKV, M, W, scale);
    if (hy_cuda_bf16(c))
        return att_fwd<bf>(c, (bf *)out, lse, (const bf *)q, ldq, (const bf *)k, ldk, (const bf *)v, ldv, s, NH, NKV, DQK, DV,
                           M, W, scale);
    return att_fwd<float>(c, (float *)out, lse, (const float *)q, ldq, (const float *)k, ldk, (const float *)v, ldv, s, NH,
                          NKV, DQK, DV, M, W, scale);
}

extern "C" hy_status hy_attention_bwd_cuda(void *ctx, hy_act *dq /* [N, NH·DQK] lddq */, int lddq,
                                           hy_act *dk /* [N, NKV·DQK] += */, hy_act *dv /* [N, NKV·DV] += */,
                                           const hy_act *dout /* [N, NH·DV] */, const hy_act *out /* [N, NH·DV] */,
                                           const float *lse /* [NH, N] */, const hy_act *q, int ldq, const hy_act *k, int ldk,
                                           const hy_act *v, int ldv, const hy_seqs *s, int NH, int NKV, int DQK, int DV,
                                           int M, int W, float scale) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (s->n <= 0 || s->n_docs <= 0 || NH <= 0) return HY_OK;
    HY_TRY(att_check("attention_bwd", s, NH, NKV, DQK, DV));
    typedef __nv_bfloat16 bf;
    if (hy_cuda_bf16(c))
        return att_bwd<bf>(c, (bf *)dq, lddq, (bf *)dk, (bf *)dv, (const bf *)dout, (const bf *)out, lse, (const bf *)q, ldq,
                           (const bf *)k, ldk, (const bf *)v, ldv, s, NH, NKV, DQK, DV, M, W, scale);
    return att_bwd<float>(c, (float *)dq, lddq, (float *)dk, (float *)dv, (const float *)dout, (const float *)out, lse,
                          (const float *)q, ldq, (const float *)k, ldk, (const float *)v, ldv, s, NH, NKV, DQK, DV, M, W,
                          scale);
}
