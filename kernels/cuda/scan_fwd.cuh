/* scan_fwd.cuh — private to kernels/cuda/selective_scan.cu: the chunk-local
 * passes and the forward's final pass of the chunked selective scan.
 *
 * Two layouts, each where it measured faster on the H100 (1.5B shapes):
 *   forward (k_scf_local, k_scf_final): G lanes per channel with S = 16 states
 *     per lane (G = 1 up to DS = 16, 2 up to DS = 32; S = 8, G = 1 up to
 *     DS = 8), CPB = 128/G channels per CTA; per-row scalars (softplus, gate)
 *     computed per lane from coalesced loads, one batch of SCF_K rows prefetched
 *     into registers while the current batch is computed.  (The 4-lane staged
 *     layout below was tried for the forward too: 74.0 vs 59.7 ms/step.)
 *   backward local (k_sc_local<BWD>): the layout of scan_chunk.cuh (4 lanes per
 *     channel, per-(row, channel) values staged in shared memory first), whose
 *     carries the backward's final pass (scan_bwd.cuh) reads.
 * Both write the same carry arrays ([chunk][DI][DS], dsum [chunk][DI]).
 *
 * Per row and lane: h = ã·h + δu·B (from zero in the local pass, from Hin in
 * the final pass, where y = Σ_n C·h + D·u is gated by silu(z)); the backward's
 * local pass also keeps P ← P·ã, L += P·gy·C.
 * Shared memory of k_sc_local (dynamic, bytes from sc_fwd_smem): the staged
 * vectors [SC_L][CPB], then B|C [SC_L][2][NSP] fp32, then the reset flags. */
#ifndef HY_CUDA_SCAN_FWD_CUH
#define HY_CUDA_SCAN_FWD_CUH
#include "kernels/cuda/scan_chunk.cuh"

enum { SCF_K = 8 };

/* Dynamic shared memory of k_sc_local: VW floats per staged vector (2 or 4). */
template <int S> static constexpr size_t sc_fwd_smem(int VW) {
    return sizeof(float) * ((size_t)SC_L * sb<S>::CPB * VW + (size_t)SC_L * 2 * sb<S>::NSP + SC_L);
}

/* Pass 1 in the 4-lane layout (the backward uses BWD = true: it also stages gy
 * and reads C for Lloc). */
template <typename T, int S, bool BWD>
static __global__ void __launch_bounds__(SC_THREADS)
    k_sc_local(sc_carry cy, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm, const T *Cm, int ldbc,
               const T *z, int ldz, const T *dy, const int32_t *pos, int N, int DI, int DS) {
    typedef sb<S> L;
    enum { VW = BWD ? 4 : 2 };
    extern __shared__ __align__(16) float sc_smem[];
    float *sv = sc_smem, *sbc = sv + SC_L * L::CPB * VW;
    int *srs = (int *)(sbc + SC_L * 2 * L::NSP);
    const int c = blockIdx.y, t0 = c * SC_L, cnt = min(SC_L, N - t0);
    sc_stage_rows<T, S, BWD ? SC_ST_GY : SC_ST_DL>(sv, sc_items_of<S>(), u, delta, z, ldz, dy, dt_bias, NULL, t0, cnt, DI);
    sc_stage<T, L::NSP>(sbc, srs, Bm, Cm, ldbc, pos, t0, N, DS);
    sc_lane<S> l;
    sc_lane_init<T, S>(l, A_log, DI, DS);
    __syncthreads();
    float h[S], P[S], Lz[S], dsum = 0.f;
    int reset = 0;
#pragma unroll
    for (int i = 0; i < S; i++) h[i] = 0.f, P[i] = 1.f, Lz[i] = 0.f;
#pragma unroll 8
    for (int j = 0; j < cnt; j++) {
        float dl, dlu, gy = 0.f;
        if (BWD) {
            const float4 v = ((const float4 *)sv)[j * L::CPB + l.cl];
            dl = v.x, dlu = v.y, gy = v.z;
        } else {
            const float2 v = ((const float2 *)sv)[j * L::CPB + l.cl];
            dl = v.x, dlu = v.y;
        }
        const int rs = srs[j];
        const float x = rs ? INFINITY : dl;
        reset |= rs;
        dsum = rs ? dl : dsum + dl;
        float B[S], C[S];
        sc_row<S>(sbc, j, 0, l.g, B);
        if (BWD) sc_row<S>(sbc, j, 1, l.g, C);
#pragma unroll
        for (int i = 0; i < S; i++) {
            const float a = sc_ex2(x * l.A2[i]);
            h[i] = fmaf(a, h[i], dlu * B[i]);
            if (BWD) {
                P[i] *= a;
                Lz[i] = fmaf(P[i] * gy, C[i], Lz[i]);
            }
        }
    }
    const size_t base = ((size_t)c * DI + l.e) * DS + S * l.g;
#pragma unroll
    for (int i = 0; i < S; i++)
        if (l.ech && S * l.g + i < DS) {
            cy.hend[base + i] = h[i];
            if (BWD) cy.lloc[base + i] = Lz[i];
        }
    if (l.ech && l.g == 0) cy.dsum[(size_t)c * DI + l.e] = reset ? -1.f : dsum;
}

/* ---- the forward's G-lane layout ---- */

/* Sum over the G lanes of a channel (every lane gets it). */
template <int G> static __device__ __forceinline__ float scf_group_sum(float v) {
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* This thread's channel and states: n = S·g + i, i < S. */
template <int S> struct scf_lane {
    int e, g, ech; /* ech: e < DI */
    float A2[S]; /* A·log2(e) = −exp(A_log)·log2(e) (≤ −1e-30); −1 for padding states */
    float dtb, Dsk;
};

template <typename T, int S, int G>
static __device__ __forceinline__ void scf_lane_init(scf_lane<S> &l, const T *dt_bias, const T *A_log, const T *D, int DI, int DS) {
    l.e = blockIdx.x * (SC_THREADS / G) + threadIdx.x / G;
    l.g = threadIdx.x % G;
    l.ech = l.e < DI;
#pragma unroll
    for (int i = 0; i < S; i++) {
        int n = S * l.g + i;
        l.A2[i] = (l.ech && n < DS) ? fminf(-expf(hy_ld<T>(A_log + (size_t)l.e * DS + n)) * SC_LOG2E, -1e-30f) : -1.f;
    }
    l.dtb = l.ech ? hy_ld<T>(dt_bias + l.e) : 0.f;
    l.Dsk = l.ech ? hy_ld<T>(D + l.e) : 0.f;
}

/* This lane's S B (or C) values of staged row j. */
template <int S, int G> static __device__ __forceinline__ void scf_row(const float *sbc, int j, int which, int g, float *v) {
    const float4 *p = (const float4 *)(sbc + (size_t)j * 2 * S * G + which * S * G + S * g);
#pragma unroll
    for (int q = 0; q < S / 4; q++) {
        float4 a = p[q];
        v[4 * q] = a.x, v[4 * q + 1] = a.y, v[4 * q + 2] = a.z, v[4 * q + 3] = a.w;
    }
}

/* Raw inputs of one batch of SCF_K rows (j0..j0+SCF_K) for channel e: u and
 * delta always, z with LZ, dy with LG; 0 past the chunk or the channels. */
template <typename T, bool LZ, bool LG> struct scf_batch {
    float u[SCF_K], d[SCF_K], z[LZ ? SCF_K : 1], g[LG ? SCF_K : 1];
};
template <typename T, bool LZ, bool LG>
static __device__ __forceinline__ void scf_load_batch(scf_batch<T, LZ, LG> &b, const T *u, const T *delta, const T *z, int ldz,
                                                      const T *dy, int t0, int j0, int cnt, int e, int ech, int DI) {
#pragma unroll
    for (int jj = 0; jj < SCF_K; jj++) {
        b.u[jj] = b.d[jj] = 0.f;
        if (LZ) b.z[jj] = 0.f;
        if (LG) b.g[jj] = 0.f;
        if (j0 + jj < cnt && ech) {
            const size_t t = (size_t)(t0 + j0 + jj), o = t * DI + e;
            b.u[jj] = hy_ld<T>(u + o), b.d[jj] = hy_ld<T>(delta + o);
            if (LZ) b.z[jj] = hy_ld<T>(z + t * ldz + e);
            if (LG) b.g[jj] = hy_ld<T>(dy + o);
        }
    }
}

/* Pass 1 of the forward (G-lane layout). */
template <typename T, int S, int G>
static __global__ void __launch_bounds__(SC_THREADS)
    k_scf_local(sc_carry cy, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm, const T *Cm, int ldbc,
                const T *D, const int32_t *pos, int N, int DI, int DS) {
    __shared__ __align__(16) float sbc[SC_L * 2 * S * G];
    __shared__ int srs[SC_L];
    scf_lane<S> l;
    scf_lane_init<T, S, G>(l, dt_bias, A_log, D, DI, DS);
    const int c = blockIdx.y, t0 = c * SC_L, cnt = min(SC_L, N - t0);
    scf_batch<T, false, false> nb;
    scf_load_batch<T, false, false>(nb, u, delta, NULL, 0, NULL, t0, 0, cnt, l.e, l.ech, DI);
    sc_stage<T, S * G>(sbc, srs, Bm, Cm, ldbc, pos, t0, N, DS);
    __syncthreads();
    float h[S], dsum = 0.f;
    int reset = 0;
#pragma unroll
    for (int i = 0; i < S; i++) h[i] = 0.f;
    for (int j0 = 0; j0 < cnt; j0 += SCF_K) {
        const scf_batch<T, false, false> b = nb;
        if (j0 + SCF_K < cnt) scf_load_batch<T, false, false>(nb, u, delta, NULL, 0, NULL, t0, j0 + SCF_K, cnt, l.e, l.ech, DI);
#pragma unroll
        for (int jj = 0; jj < SCF_K; jj++) {
            if (j0 + jj < cnt) {
                const int j = j0 + jj, rs = srs[j];
                const float dl = sc_softplus<T>(b.d[jj] + l.dtb), dlu = dl * b.u[jj], x = rs ? INFINITY : dl;
                float B[S];
                reset |= rs;
                dsum = rs ? dl : dsum + dl;
                scf_row<S, G>(sbc, j, 0, l.g, B);
#pragma unroll
                for (int i = 0; i < S; i++) h[i] = fmaf(sc_ex2(x * l.A2[i]), h[i], dlu * B[i]);
            }
        }
    }
    size_t base = ((size_t)c * DI + l.e) * DS + S * l.g;
#pragma unroll
    for (int i = 0; i < S; i++)
        if (l.ech && S * l.g + i < DS) cy.hend[base + i] = h[i];
    if (l.ech && l.g == 0) cy.dsum[(size_t)c * DI + l.e] = reset ? -1.f : dsum;
}

/* Load this lane's carried-in values (hend or lloc after the carry pass). */
template <int S>
static __device__ __forceinline__ void scf_load_carry(const float *arr, const scf_lane<S> &l, int c, int DI, int DS, float *v) {
    size_t base = ((size_t)c * DI + l.e) * DS + S * l.g;
#pragma unroll
    for (int i = 0; i < S; i++) v[i] = (l.ech && S * l.g + i < DS) ? arr[base + i] : 0.f;
}

/* Pass 3 of the forward: rerun the chunk from Hin, write the gated output. */
template <typename T, int S, int G>
static __global__ void __launch_bounds__(SC_THREADS)
    k_scf_final(T *y, sc_carry cy, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm, const T *Cm,
                int ldbc, const T *D, const T *z, int ldz, const int32_t *pos, int N, int DI, int DS) {
    __shared__ __align__(16) float sbc[SC_L * 2 * S * G];
    __shared__ int srs[SC_L];
    scf_lane<S> l;
    scf_lane_init<T, S, G>(l, dt_bias, A_log, D, DI, DS);
    const int c = blockIdx.y, t0 = c * SC_L, cnt = min(SC_L, N - t0);
    scf_batch<T, true, false> nb;
    scf_load_batch<T, true, false>(nb, u, delta, z, ldz, NULL, t0, 0, cnt, l.e, l.ech, DI);
    sc_stage<T, S * G>(sbc, srs, Bm, Cm, ldbc, pos, t0, N, DS);
    float h[S];
    scf_load_carry<S>(cy.hend, l, c, DI, DS, h);
    __syncthreads();
    for (int j0 = 0; j0 < cnt; j0 += SCF_K) {
        const scf_batch<T, true, false> b = nb;
        if (j0 + SCF_K < cnt) scf_load_batch<T, true, false>(nb, u, delta, z, ldz, NULL, t0, j0 + SCF_K, cnt, l.e, l.ech, DI);
#pragma unroll
        for (int jj = 0; jj < SCF_K; jj++) {
            if (j0 + jj < cnt) { /* uniform over the CTA: every lane reaches the shuffles */
                const int j = j0 + jj;
                const float dl = sc_softplus<T>(b.d[jj] + l.dtb), dlu = dl * b.u[jj], x = srs[j] ? INFINITY : dl;
                float B[S], C[S], yp = 0.f;
                scf_row<S, G>(sbc, j, 0, l.g, B);
                scf_row<S, G>(sbc, j, 1, l.g, C);
#pragma unroll
                for (int i = 0; i < S; i++) {
                    h[i] = fmaf(sc_ex2(x * l.A2[i]), h[i], dlu * B[i]);
                    yp = fmaf(C[i], h[i], yp);
                }
                const float zv = b.z[jj], yv = scf_group_sum<G>(yp) + l.Dsk * b.u[jj];
                if (l.ech && l.g == 0) hy_st<T>(y + (size_t)(t0 + j) * DI + l.e, yv * zv * sc_sigmoid<T>(zv));
            }
        }
    }
}
#endif
