/* selective_scan.cu — Mamba-1 selective scan with Δ bias, softplus, D skip and
 * z gate (spec §6.3–6.4 forward, §9.7 backward); the state resets at every
 * document start.
 *
 * Thread layout (forward and backward): one thread per (channel e, state n)
 * of one document; the P = next-pow2(DS) lanes of a channel are adjacent in a
 * warp, so sums over n are shuffles inside a P-lane group and sums over the
 * channels of a warp are shuffles across groups.  A block covers CB = 512/P
 * channels of one document and walks that document's rows in order, the
 * state in an fp32 register.  Grid: (DI / CB, documents).
 *
 * Backward, per block: pass 1 runs the forward and stores the state at each
 * chunk boundary (every K rows) in scratch; pass 2 walks the chunks last to
 * first, recomputes the chunk's K states into registers, then runs the
 * reverse recurrence λ_t = gy_t·C_t + Ā_{t+1}·λ_{t+1} over the chunk.
 *
 * Determinism (no float atomics): dB/dC sum over all DI channels — each block
 * reduces its channels (warp shuffles, then its warps in order through shared
 * memory) into a per-(channel group, row) partial; a second kernel adds the
 * groups in order.  Parameter gradients get one partial per document, added
 * in document order.  Scratch: the boundary states (≈ N·DI·DS·4/K bytes) and
 * the dB/dC partials (N·2·DS·4·DI/CB bytes), about two fp32 [N, DI] tensors.
 *
 * The pre-gating output y used by dz is recomputed in fp32 (the official
 * kernel keeps a bf16 copy; the difference is one rounding). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/selective_scan.h"

enum { HY_SCAN_THREADS = 512 };

static __device__ __forceinline__ float scan_softplus(float s) { return s > 20.f ? s : log1pf(expf(s)); }

/* Sum over the P lanes of a channel group (every lane gets it). */
template <int P> static __device__ __forceinline__ float group_sum(float v) {
#pragma unroll
    for (int o = P / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
/* Sum over the channel groups of a warp, per lane-in-group. */
template <int P> static __device__ __forceinline__ float cross_sum(float v) {
#pragma unroll
    for (int o = P; o < 32; o <<= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Per-thread view of its (channel, state) inputs. */
struct scan_lane {
    int e, n, act; /* act: e < DI and n < DS */
    float A, dtb, Dsk;
};

template <typename T, int P>
static __device__ __forceinline__ scan_lane scan_lane_init(const T *dt_bias, const T *A_log, const T *D, int DI, int DS) {
    scan_lane l;
    l.e = blockIdx.x * (HY_SCAN_THREADS / P) + threadIdx.x / P;
    l.n = threadIdx.x % P;
    l.act = l.e < DI && l.n < DS;
    int ech = l.e < DI;
    l.A = l.act ? -expf(hy_ld<T>(A_log + (size_t)l.e * DS + l.n)) : 0.f;
    l.dtb = ech ? hy_ld<T>(dt_bias + l.e) : 0.f;
    l.Dsk = ech ? hy_ld<T>(D + l.e) : 0.f;
    return l;
}

template <typename T, int P>
static __global__ void __launch_bounds__(HY_SCAN_THREADS)
    k_scan_fwd(T *y, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm, const T *Cm, int ldbc,
               const T *D, const T *z, int ldz, const int32_t *cu, int DI, int DS) {
    scan_lane l = scan_lane_init<T, P>(dt_bias, A_log, D, DI, DS);
    int ech = l.e < DI;
    int r0 = cu[blockIdx.y], r1 = cu[blockIdx.y + 1];
    float h = 0.f;
    for (int t = r0; t < r1; t++) {
        size_t o = (size_t)t * DI + l.e;
        float uv = ech ? hy_ld<T>(u + o) : 0.f;
        float dl = scan_softplus((ech ? hy_ld<T>(delta + o) : 0.f) + l.dtb);
        float b = l.act ? hy_ld<T>(Bm + (size_t)t * ldbc + l.n) : 0.f;
        float cc = l.act ? hy_ld<T>(Cm + (size_t)t * ldbc + l.n) : 0.f;
        h = expf(dl * l.A) * h + dl * b * uv;
        float yv = group_sum<P>(cc * h) + l.Dsk * uv;
        if (ech && l.n == 0) {
            float zv = hy_ld<T>(z + (size_t)t * ldz + l.e);
            hy_st<T>(y + o, yv * zv * hy_sigmoid(zv));
        }
    }
}

/* Scratch layout of the backward. */
struct scan_bwd_scratch {
    float *hb;    /* [slots][DI][DS] state before each chunk's first row */
    float *pbc;   /* [groups][N][2·DS] dB | dC per channel group */
    float *pdt;   /* [docs][DI] */
    float *pD;    /* [docs][DI] */
    float *pA;    /* [docs][DI·DS] */
};

template <typename T, int P, int K>
static __global__ void __launch_bounds__(HY_SCAN_THREADS)
    k_scan_bwd(scan_bwd_scratch sc, T *du, T *ddelta, T *dz, int lddz, const T *dy, const T *u, const T *delta,
               const T *dt_bias, const T *A_log, const T *Bm, const T *Cm, int ldbc, const T *D, const T *z, int ldz,
               const int32_t *cu, int N, int DI, int DS) {
    constexpr int NW = HY_SCAN_THREADS / 32;
    __shared__ float sred[NW][K][2][P];
    scan_lane l = scan_lane_init<T, P>(dt_bias, A_log, D, DI, DS);
    const int ech = l.e < DI, d = blockIdx.y, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int r0 = cu[d], r1 = cu[d + 1], len = r1 - r0, nchunks = (len + K - 1) / K;
    const size_t slot0 = (size_t)(r0 / K) + d;
    float *hb = sc.hb + (size_t)l.e * DS + l.n;
    const size_t slot_stride = (size_t)DI * DS;

    /* pass 1: forward, storing the state before each chunk (chunk 0 starts at zero) */
    float h = 0.f;
    for (int t = r0; t < r1; t++) {
        if (t > r0 && (t - r0) % K == 0 && l.act) hb[(slot0 + (t - r0) / K) * slot_stride] = h;
        size_t o = (size_t)t * DI + l.e;
        float uv = ech ? hy_ld<T>(u + o) : 0.f;
        float dl = scan_softplus((ech ? hy_ld<T>(delta + o) : 0.f) + l.dtb);
        float b = l.act ? hy_ld<T>(Bm + (size_t)t * ldbc + l.n) : 0.f;
        h = expf(dl * l.A) * h + dl * b * uv;
    }

    /* pass 2: chunks in reverse */
    float lam = 0.f, a_next = 0.f, acc_A = 0.f, acc_dt = 0.f, acc_D = 0.f;
    for (int c = nchunks - 1; c >= 0; c--) {
        const int t0 = r0 + c * K, cnt = min(K, r1 - t0);
        const float h_init = (c == 0 || !l.act) ? 0.f : hb[(slot0 + c) * slot_stride];
        float hk[K];
        h = h_init;
#pragma unroll
        for (int j = 0; j < K; j++) {
            if (j < cnt) {
                size_t o = (size_t)(t0 + j) * DI + l.e;
                float uv = ech ? hy_ld<T>(u + o) : 0.f;
                float dl = scan_softplus((ech ? hy_ld<T>(delta + o) : 0.f) + l.dtb);
                float b = l.act ? hy_ld<T>(Bm + (size_t)(t0 + j) * ldbc + l.n) : 0.f;
                h = expf(dl * l.A) * h + dl * b * uv;
            }
            hk[j] = h;
        }
#pragma unroll
        for (int j = K - 1; j >= 0; j--) {
            if (j < cnt) { /* uniform across the block: every lane shuffles */
                const int t = t0 + j;
                const size_t o = (size_t)t * DI + l.e;
                float uv = ech ? hy_ld<T>(u + o) : 0.f;
                float s = (ech ? hy_ld<T>(delta + o) : 0.f) + l.dtb, dl = scan_softplus(s);
                float b = l.act ? hy_ld<T>(Bm + (size_t)t * ldbc + l.n) : 0.f;
                float cc = l.act ? hy_ld<T>(Cm + (size_t)t * ldbc + l.n) : 0.f;
                float zv = ech ? hy_ld<T>(z + (size_t)t * ldz + l.e) : 0.f, gv = ech ? hy_ld<T>(dy + o) : 0.f;
                float sz = hy_sigmoid(zv), gy = gv * zv * sz;
                float a = expf(dl * l.A), hp = j > 0 ? hk[j > 0 ? j - 1 : 0] : h_init, ht = hk[j];
                float yv = group_sum<P>(cc * ht) + l.Dsk * uv;
                lam = gy * cc + a_next * lam;
                float sum_lb = group_sum<P>(lam * b);
                float sum_dd = group_sum<P>(lam * (b * uv + l.A * a * hp));
                acc_A += lam * dl * a * hp;
                float ds = s > 20.f ? sum_dd : sum_dd * hy_sigmoid(s);
                if (l.n == 0 && ech) {
                    hy_st<T>(du + o, gy * l.Dsk + dl * sum_lb);
                    hy_st<T>(ddelta + o, ds);
                    hy_st<T>(dz + (size_t)t * lddz + l.e, gv * yv * sz * (1.f + zv * (1.f - sz)));
                    acc_dt += ds;
                    acc_D += gy * uv;
                }
                a_next = a;
                float pb = cross_sum<P>(lam * dl * uv), pc = cross_sum<P>(gy * ht);
                if (lane < P) {
                    sred[warp][j][0][lane] = pb;
                    sred[warp][j][1][lane] = pc;
                }
            }
        }
        __syncthreads();
        for (int i = threadIdx.x; i < K * 2 * P; i += HY_SCAN_THREADS) {
            int j = i / (2 * P), which = (i / P) % 2, nn = i % P;
            if (j >= cnt || nn >= DS) continue;
            float acc = 0.f;
            for (int w = 0; w < NW; w++) acc += sred[w][j][which][nn];
            sc.pbc[((size_t)blockIdx.x * N + t0 + j) * 2 * DS + which * DS + nn] = acc;
        }
        __syncthreads();
    }
    if (l.act) sc.pA[(size_t)d * DI * DS + (size_t)l.e * DS + l.n] = acc_A * l.A;
    if (ech && l.n == 0) {
        sc.pdt[(size_t)d * DI + l.e] = acc_dt;
        sc.pD[(size_t)d * DI + l.e] = acc_D;
    }
}

/* dBm/dCm[row][n] = Σ_groups pbc[g][row][which·DS + n], groups in order (overwrite) */
template <typename T>
static __global__ void k_scan_bc_reduce(T *dBm, T *dCm, int lddbc, const float *pbc, int groups, int N, int DS) {
    size_t total = (size_t)N * 2 * DS;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total; i += (size_t)gridDim.x * blockDim.x) {
        size_t row = i / (2 * DS);
        int j = (int)(i % (2 * DS));
        float acc = 0.f;
        for (int g = 0; g < groups; g++) acc += pbc[(size_t)g * total + i];
        T *dst = j < DS ? dBm + row * lddbc + j : dCm + row * lddbc + (j - DS);
        hy_st<T>(dst, acc);
    }
}

static int scan_lanes(int DS) { return DS <= 4 ? 4 : DS <= 8 ? 8 : DS <= 16 ? 16 : 32; }

template <typename T>
static hy_status scan_fwd(hy_cuda_ctx *c, T *y, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm,
                          const T *Cm, int ldbc, const T *D, const T *z, int ldz, const hy_seqs *s, int DI, int DS) {
    int P = scan_lanes(DS);
    dim3 grid(HY_CEIL_DIV(DI, HY_SCAN_THREADS / P), s->n_docs);
#define HY_SCAN_FWD(PP) \
    k_scan_fwd<T, PP><<<grid, HY_SCAN_THREADS, 0, c->stream>>>(y, u, delta, dt_bias, A_log, Bm, Cm, ldbc, D, z, ldz, s->cu, DI, DS)
    switch (P) {
    case 4: HY_SCAN_FWD(4); break;
    case 8: HY_SCAN_FWD(8); break;
    case 16: HY_SCAN_FWD(16); break;
    default: HY_SCAN_FWD(32); break;
    }
#undef HY_SCAN_FWD
    HY_CUDA_LAUNCH_CHECK(c, "scan_fwd");
    return HY_OK;
}

template <typename T>
static hy_status scan_bwd(hy_cuda_ctx *c, T *du, T *ddelta, T *dBm, T *dCm, int lddbc, T *dz, int lddz, float *ddt_bias,
                          float *dA_log, float *dD, const T *dy, const T *u, const T *delta, const T *dt_bias,
                          const T *A_log, const T *Bm, const T *Cm, int ldbc, const T *D, const T *z, int ldz,
                          const hy_seqs *s, int DI, int DS) {
    const int P = scan_lanes(DS), K = P == 32 ? 8 : 16, N = s->n, docs = s->n_docs;
    const int groups = HY_CEIL_DIV(DI, HY_SCAN_THREADS / P);
    size_t slots = (size_t)N / K + docs + 1;
    size_t b_hb = hy_cuda_align(slots * DI * DS * 4), b_pbc = hy_cuda_align((size_t)groups * N * 2 * DS * 4);
    size_t b_p1 = hy_cuda_align((size_t)docs * DI * 4), b_pA = hy_cuda_align((size_t)docs * DI * DS * 4);
    void *scr;
    HY_TRY(hy_cuda_scratch(c, b_hb + b_pbc + 2 * b_p1 + b_pA, &scr));
    char *p = (char *)scr;
    scan_bwd_scratch sc;
    sc.hb = (float *)p;
    sc.pbc = (float *)(p + b_hb);
    sc.pdt = (float *)(p + b_hb + b_pbc);
    sc.pD = (float *)(p + b_hb + b_pbc + b_p1);
    sc.pA = (float *)(p + b_hb + b_pbc + 2 * b_p1);
    dim3 grid(groups, docs);
#define HY_SCAN_BWD(PP, KK)                                                                                            \
    k_scan_bwd<T, PP, KK><<<grid, HY_SCAN_THREADS, 0, c->stream>>>(sc, du, ddelta, dz, lddz, dy, u, delta, dt_bias, A_log, \
                                                                   Bm, Cm, ldbc, D, z, ldz, s->cu, N, DI, DS)
    switch (P) {
    case 4: HY_SCAN_BWD(4, 16); break;
    case 8: HY_SCAN_BWD(8, 16); break;
    case 16: HY_SCAN_BWD(16, 16); break;
    default: HY_SCAN_BWD(32, 8); break;
    }
#undef HY_SCAN_BWD
    HY_CUDA_LAUNCH_CHECK(c, "scan_bwd");
    k_scan_bc_reduce<T><<<hy_cuda_blocks((size_t)N * 2 * DS, 256), 256, 0, c->stream>>>(dBm, dCm, lddbc, sc.pbc, groups, N,
                                                                                        DS);
    HY_CUDA_LAUNCH_CHECK(c, "scan_bwd dB/dC reduce");
    if (ddt_bias) HY_TRY(hy_cuda_sum_partials(c, ddt_bias, sc.pdt, docs, (size_t)DI));
    if (dD) HY_TRY(hy_cuda_sum_partials(c, dD, sc.pD, docs, (size_t)DI));
    if (dA_log) HY_TRY(hy_cuda_sum_partials(c, dA_log, sc.pA, docs, (size_t)DI * DS));
    return HY_OK;
}

static hy_status scan_check(int DS) {
    if (DS < 1 || DS > 32) return hy_errorf(HY_ERR_UNSUPPORTED, "selective scan: state size DS = %d; the CUDA op supports 1..32", DS);
    return HY_OK;
}

extern "C" hy_status hy_scan_fwd_cuda(void *ctx, hy_act *y /* [N,DI] */, const hy_act *u /* [N,DI] */,
                                                const hy_act *delta /* [N,DI] */, const hy_act *dt_bias /* [DI] */,
                                                const hy_act *A_log /* [DI,DS] */, const hy_act *Bm /* [N,DS] ldbc */,
                                                const hy_act *Cm /* [N,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */,
                                                const hy_act *z /* [N,DI] ldz */, int ldz, const hy_seqs *s, int DI, int DS) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (s->n <= 0 || DI <= 0 || s->n_docs <= 0) return HY_OK;
    HY_TRY(scan_check(DS));
    typedef __nv_bfloat16 bf;
    if (hy_cuda_bf16(c))
        return scan_fwd<bf>(c, (bf *)y, (const bf *)u, (const bf *)delta, (const bf *)dt_bias, (const bf *)A_log,
                            (const bf *)Bm, (const bf *)Cm, ldbc, (const bf *)D, (const bf *)z, ldz, s, DI, DS);
    return scan_fwd<float>(c, (float *)y, (const float *)u, (const float *)delta, (const float *)dt_bias,
                           (const float *)A_log, (const float *)Bm, (const float *)Cm, ldbc, (const float *)D,
                           (const float *)z, ldz, s, DI, DS);
}

extern "C" hy_status hy_scan_bwd_cuda(void *ctx, hy_act *du /* [N,DI] */, hy_act *ddelta /* [N,DI] */,
                                                hy_act *dBm /* [N,DS] lddbc */, hy_act *dCm /* [N,DS] lddbc */, int lddbc,
                                                hy_act *dz /* [N,DI] lddz */, int lddz, float *ddt_bias /* [DI] += */,
                                                float *dA_log /* [DI,DS] += */, float *dD /* [DI] += */,
                                                const hy_act *dy /* [N,DI] */, const hy_act *u, const hy_act *delta,
                                                const hy_act *dt_bias, const hy_act *A_log, const hy_act *Bm,
                                                const hy_act *Cm, int ldbc, const hy_act *D, const hy_act *z, int ldz,
                                                const hy_seqs *s, int DI, int DS) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (s->n <= 0 || DI <= 0 || s->n_docs <= 0) return HY_OK;
    HY_TRY(scan_check(DS));
    typedef __nv_bfloat16 bf;
    if (hy_cuda_bf16(c))
        return scan_bwd<bf>(c, (bf *)du, (bf *)ddelta, (bf *)dBm, (bf *)dCm, lddbc, (bf *)dz, lddz, ddt_bias, dA_log, dD,
                            (const bf *)dy, (const bf *)u, (const bf *)delta, (const bf *)dt_bias, (const bf *)A_log,
                            (const bf *)Bm, (const bf *)Cm, ldbc, (const bf *)D, (const bf *)z, ldz, s, DI, DS);
    return scan_bwd<float>(c, (float *)du, (float *)ddelta, (float *)dBm, (float *)dCm, lddbc, (float *)dz, lddz, ddt_bias,
                           dA_log, dD, (const float *)dy, (const float *)u, (const float *)delta, (const float *)dt_bias,
                           (const float *)A_log, (const float *)Bm, (const float *)Cm, ldbc, (const float *)D,
                           (const float *)z, ldz, s, DI, DS);
}
