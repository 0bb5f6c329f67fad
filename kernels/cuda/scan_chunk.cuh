/* scan_chunk.cuh — private to kernels/cuda/selective_scan.cu: the chunked
 * selective scan's shared pieces (lane layout, B/C staging, the chunk-local
 * pass, the cross-chunk carry) and the forward's final pass.
 *
 * Layout.  Rows are cut into chunks of SC_L rows over the whole packed batch
 * (a chunk may hold document starts).  A CTA covers one chunk and CPB = 128/G
 * channels; each channel's DS states are split over G adjacent lanes, S states
 * per lane in fp32 registers (S·G ≥ DS; the forward-type passes use S = 16,
 * the backward's final pass S = 8, which leaves registers for its row buffer).  The
 * chunk's B and C rows (and pos) are staged once in shared memory as fp32 and
 * read by every channel of the CTA; per-row scalars (u, delta, z, dy) are read
 * coalesced (a warp covers 32/G consecutive channels of one row).
 *
 * Resets.  With ã_t = 0 at a document start (pos == 0) and exp(δ·A) elsewhere,
 * h_t = ã_t·h_{t−1} + δ·B·u and λ_t = gy·C + ã_{t+1}·λ_{t+1} hold across
 * document boundaries, so a chunk needs no knowledge of where documents lie.
 *
 * Three passes (forward; the backward adds λ):
 *   local  — per (chunk, channel): the chunk's end state from a zero start
 *            (hend), Σδ of the chunk (dsum, −1 when the chunk holds a reset:
 *            the carry-in is then forgotten), and for the backward
 *            Lloc = Σ_t P_t·gy_t·C_t, P_t = Π_{s ≤ t in chunk} ã_s: the chunk's
 *            zero-carry contribution to ã_{r0}·λ_{r0}.
 *   carry  — per (channel, state), sequential over chunks, in place:
 *            hend[c] ← Hin[c] (state before chunk c), Lloc[c] ← Λin[c]
 *            (= ã_{r1}·λ_{r1}, r1 the next chunk's first row); the chunk decay
 *            is exp(A·dsum) (0 on reset).
 *   final  — per (chunk, channel): rerun the chunk from Hin (forward: y; the
 *            backward kernel is in scan_bwd.cuh).
 * Every sum has a fixed order: results are bitwise reproducible.
 * Math: fp32.  In bf16 mode softplus and the sigmoids use the fast intrinsics
 * (__expf/__logf/__fdividef: errors ~1e-6, far below the bf16 output rounding);
 * the fp32 verification mode keeps the libm-accurate ones of the CPU op.  The
 * per-state exp is ex2.approx (2 ulp, the instruction exp2f compiles to)
 * in both modes. */
#ifndef HY_CUDA_SCAN_CHUNK_CUH
#define HY_CUDA_SCAN_CHUNK_CUH
#include "kernels/cuda/common.cuh"

enum { SC_THREADS = 128, SC_L = 64, SC_S = 8, SC_K = 8, SC_NW = SC_THREADS / 32 };
#define SC_LOG2E 1.4426950408889634f
#define SC_LN2 0.6931471805599453f

template <typename T> static __device__ __forceinline__ float sc_softplus(float s) {
    if (sizeof(T) == 2) return s > 20.f ? s : __logf(1.f + __expf(s));
    return s > 20.f ? s : log1pf(expf(s));
}
template <typename T> static __device__ __forceinline__ float sc_sigmoid(float x) {
    if (sizeof(T) == 2) return __fdividef(1.f, 1.f + __expf(-x));
    return hy_sigmoid(x);
}
/* 2^x (ex2.approx, denormal results flushed: they only arise as factors < 1e-38) */
static __device__ __forceinline__ float sc_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* Sum over the G lanes of a channel (every lane gets it). */
template <int G> static __device__ __forceinline__ float sc_group_sum(float v) {
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* This thread's channel and states: n = S·g + i, i < S. */
template <int S> struct sc_lane {
    int e, g, ech; /* ech: e < DI */
    float A2[S]; /* A·log2(e) = −exp(A_log)·log2(e); 0 for padding states */
    float dtb, Dsk;
};

template <typename T, int S, int G>
static __device__ __forceinline__ void sc_lane_init(sc_lane<S> &l, const T *dt_bias, const T *A_log, const T *D, int DI, int DS) {
    l.e = blockIdx.x * (SC_THREADS / G) + threadIdx.x / G;
    l.g = threadIdx.x % G;
    l.ech = l.e < DI;
#pragma unroll
    for (int i = 0; i < S; i++) {
        int n = S * l.g + i;
        l.A2[i] = (l.ech && n < DS) ? -expf(hy_ld<T>(A_log + (size_t)l.e * DS + n)) * SC_LOG2E : 0.f;
    }
    l.dtb = l.ech ? hy_ld<T>(dt_bias + l.e) : 0.f;
    l.Dsk = l.ech ? hy_ld<T>(D + l.e) : 0.f;
}

/* Shared-memory image of one chunk: sbc[j][0|1][NSP] = B|C of row t0+j as fp32
 * (zero past DS and past N), spos[j] = pos (1 past N: no reset). */
template <typename T, int NSP>
static __device__ __forceinline__ void sc_stage(float *sbc, int *spos, const T *Bm, const T *Cm, int ldbc, const int32_t *pos,
                                                int t0, int N, int DS) {
    for (int i = threadIdx.x; i < SC_L * 2 * NSP; i += SC_THREADS) {
        int j = i / (2 * NSP), r = i % (2 * NSP), w = r / NSP, n = r % NSP, t = t0 + j;
        float v = 0.f;
        if (t < N && n < DS) v = hy_ld<T>((w ? Cm : Bm) + (size_t)t * ldbc + n);
        sbc[i] = v;
    }
    for (int j = threadIdx.x; j < SC_L; j += SC_THREADS) spos[j] = t0 + j < N ? pos[t0 + j] : 1;
}

/* This lane's S B (or C) values of staged row j. */
template <int S, int G> static __device__ __forceinline__ void sc_row(const float *sbc, int j, int which, int g, float *v) {
    const float4 *p = (const float4 *)(sbc + (size_t)j * 2 * S * G + which * S * G + S * g);
#pragma unroll
    for (int q = 0; q < S / 4; q++) {
        float4 a = p[q];
        v[4 * q] = a.x, v[4 * q + 1] = a.y, v[4 * q + 2] = a.z, v[4 * q + 3] = a.w;
    }
}

/* Carry arrays: [chunk][DI·DS] fp32 (hend, Lloc), [chunk][DI] (dsum). */
struct sc_carry {
    float *hend, *lloc, *dsum;
};

/* Pass 1.  BWD also reads z, dy, C for Lloc. */
template <typename T, int S, int G, bool BWD>
static __global__ void __launch_bounds__(SC_THREADS)
    k_sc_local(sc_carry cy, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm, const T *Cm, int ldbc,
               const T *D, const T *z, int ldz, const T *dy, const int32_t *pos, int N, int DI, int DS) {
    __shared__ __align__(16) float sbc[SC_L * 2 * S * G];
    __shared__ int spos[SC_L];
    sc_lane<S> l;
    sc_lane_init<T, S, G>(l, dt_bias, A_log, D, DI, DS);
    const int c = blockIdx.y, t0 = c * SC_L, cnt = min(SC_L, N - t0);
    sc_stage<T, S * G>(sbc, spos, Bm, Cm, ldbc, pos, t0, N, DS);
    __syncthreads();
    float h[S], P[S], L[S], dsum = 0.f;
    int reset = 0;
#pragma unroll
    for (int i = 0; i < S; i++) h[i] = 0.f, P[i] = 1.f, L[i] = 0.f;
    for (int j0 = 0; j0 < cnt; j0 += SC_K) {
        float uv[SC_K], dv[SC_K], gy[SC_K];
#pragma unroll
        for (int jj = 0; jj < SC_K; jj++) { /* loads of a batch first: several rows in flight */
            uv[jj] = dv[jj] = gy[jj] = 0.f;
            if (j0 + jj < cnt && l.ech) {
                size_t o = (size_t)(t0 + j0 + jj) * DI + l.e;
                uv[jj] = hy_ld<T>(u + o), dv[jj] = hy_ld<T>(delta + o);
                if (BWD) {
                    float zv = hy_ld<T>(z + (size_t)(t0 + j0 + jj) * ldz + l.e);
                    gy[jj] = hy_ld<T>(dy + o) * zv * sc_sigmoid<T>(zv);
                }
            }
        }
#pragma unroll
        for (int jj = 0; jj < SC_K; jj++) {
            if (j0 + jj < cnt) {
                const int j = j0 + jj, rs = spos[j] == 0;
                float dl = sc_softplus<T>(dv[jj] + l.dtb), dlu = dl * uv[jj], B[S], C[S];
                reset |= rs;
                dsum = rs ? dl : dsum + dl;
                sc_row<S, G>(sbc, j, 0, l.g, B);
                if (BWD) sc_row<S, G>(sbc, j, 1, l.g, C);
#pragma unroll
                for (int i = 0; i < S; i++) {
                    float a = rs ? 0.f : sc_ex2(dl * l.A2[i]);
                    h[i] = fmaf(a, h[i], dlu * B[i]);
                    if (BWD) {
                        P[i] *= a;
                        L[i] = fmaf(P[i] * gy[jj], C[i], L[i]);
                    }
                }
            }
        }
    }
    size_t base = ((size_t)c * DI + l.e) * DS + S * l.g;
#pragma unroll
    for (int i = 0; i < S; i++)
        if (l.ech && S * l.g + i < DS) {
            cy.hend[base + i] = h[i];
            if (BWD) cy.lloc[base + i] = L[i];
        }
    if (l.ech && l.g == 0) cy.dsum[(size_t)c * DI + l.e] = reset ? -1.f : dsum;
}

/* Pass 2: one thread per (channel, state), chunks in order (and, with lloc,
 * in reverse), in place.  Loads of a batch of chunks are issued first. */
template <typename T>
static __global__ void k_sc_carry(sc_carry cy, const T *A_log, int nch, int DI, int DS) {
    enum { NB = 16 };
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x, W = (size_t)DI * DS;
    if (idx >= W) return;
    const size_t e = idx / DS;
    const float A2 = -expf(hy_ld<T>(A_log + idx)) * SC_LOG2E;
    float H = 0.f;
    for (int c0 = 0; c0 < nch; c0 += NB) {
        float o[NB], ds[NB];
#pragma unroll
        for (int k = 0; k < NB; k++)
            if (c0 + k < nch) o[k] = cy.hend[(size_t)(c0 + k) * W + idx], ds[k] = cy.dsum[(size_t)(c0 + k) * DI + e];
#pragma unroll
        for (int k = 0; k < NB; k++)
            if (c0 + k < nch) {
                cy.hend[(size_t)(c0 + k) * W + idx] = H;
                H = fmaf(ds[k] < 0.f ? 0.f : sc_ex2(A2 * ds[k]), H, o[k]);
            }
    }
    if (!cy.lloc) return;
    float Lm = 0.f;
    for (int c0 = nch - 1; c0 >= 0; c0 -= NB) {
        float o[NB], ds[NB];
#pragma unroll
        for (int k = 0; k < NB; k++)
            if (c0 - k >= 0) o[k] = cy.lloc[(size_t)(c0 - k) * W + idx], ds[k] = cy.dsum[(size_t)(c0 - k) * DI + e];
#pragma unroll
        for (int k = 0; k < NB; k++)
            if (c0 - k >= 0) {
                cy.lloc[(size_t)(c0 - k) * W + idx] = Lm;
                Lm = fmaf(ds[k] < 0.f ? 0.f : sc_ex2(A2 * ds[k]), Lm, o[k]);
            }
    }
}

/* Load this lane's carried-in values (hend or lloc after the carry pass). */
template <int S>
static __device__ __forceinline__ void sc_load_carry(const float *arr, const sc_lane<S> &l, int c, int DI, int DS, float *v) {
    size_t base = ((size_t)c * DI + l.e) * DS + S * l.g;
#pragma unroll
    for (int i = 0; i < S; i++) v[i] = (l.ech && S * l.g + i < DS) ? arr[base + i] : 0.f;
}

/* Pass 3 of the forward: rerun the chunk from Hin, write the gated output. */
template <typename T, int S, int G>
static __global__ void __launch_bounds__(SC_THREADS)
    k_sc_fwd_final(T *y, sc_carry cy, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm, const T *Cm,
                   int ldbc, const T *D, const T *z, int ldz, const int32_t *pos, int N, int DI, int DS) {
    __shared__ __align__(16) float sbc[SC_L * 2 * S * G];
    __shared__ int spos[SC_L];
    sc_lane<S> l;
    sc_lane_init<T, S, G>(l, dt_bias, A_log, D, DI, DS);
    const int c = blockIdx.y, t0 = c * SC_L, cnt = min(SC_L, N - t0);
    sc_stage<T, S * G>(sbc, spos, Bm, Cm, ldbc, pos, t0, N, DS);
    float h[S];
    sc_load_carry<S>(cy.hend, l, c, DI, DS, h);
    __syncthreads();
    for (int j0 = 0; j0 < cnt; j0 += SC_K) {
        float uv[SC_K], dv[SC_K], zv[SC_K];
#pragma unroll
        for (int jj = 0; jj < SC_K; jj++) {
            uv[jj] = dv[jj] = zv[jj] = 0.f;
            if (j0 + jj < cnt && l.ech) {
                size_t o = (size_t)(t0 + j0 + jj) * DI + l.e;
                uv[jj] = hy_ld<T>(u + o), dv[jj] = hy_ld<T>(delta + o), zv[jj] = hy_ld<T>(z + (size_t)(t0 + j0 + jj) * ldz + l.e);
            }
        }
#pragma unroll
        for (int jj = 0; jj < SC_K; jj++) {
            if (j0 + jj < cnt) { /* uniform over the CTA: every lane reaches the shuffles */
                const int j = j0 + jj, rs = spos[j] == 0;
                float dl = sc_softplus<T>(dv[jj] + l.dtb), dlu = dl * uv[jj], B[S], C[S], yp = 0.f;
                sc_row<S, G>(sbc, j, 0, l.g, B);
                sc_row<S, G>(sbc, j, 1, l.g, C);
#pragma unroll
                for (int i = 0; i < S; i++) {
                    float a = rs ? 0.f : sc_ex2(dl * l.A2[i]);
                    h[i] = fmaf(a, h[i], dlu * B[i]);
                    yp = fmaf(C[i], h[i], yp);
                }
                float yv = sc_group_sum<G>(yp) + l.Dsk * uv[jj];
                if (l.ech && l.g == 0) hy_st<T>(y + (size_t)(t0 + j) * DI + l.e, yv * zv[jj] * sc_sigmoid<T>(zv[jj]));
            }
        }
    }
}
#endif
