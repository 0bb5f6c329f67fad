/* scan_fwd.cuh — private to kernels/cuda/selective_scan.cu: the chunk-local
 * pass (forward and backward flavours) and the forward's final pass of the
 * chunked selective scan, in the layout of scan_chunk.cuh (4 lanes per channel,
 * the chunk's per-(row, channel) values staged in shared memory first).
 *
 * Per row and lane the loops read one staged vector (δ, δ·u, ...), the flag and
 * this lane's B (and C) values from shared memory, then update S states:
 *   local:  h = ã·h + δu·B from zero; BWD also P ← P·ã, L += P·gy·C;
 *   final:  h = ã·h + δu·B from Hin, y = Σ_n C·h (4-lane sum) + D·u, gated.
 * Shared memory (dynamic, bytes from sc_fwd_smem): the staged vectors
 * [SC_L][CPB], then B|C [SC_L][2][NSP] fp32, then the reset flags [SC_L]. */
#ifndef HY_CUDA_SCAN_FWD_CUH
#define HY_CUDA_SCAN_FWD_CUH
#include "kernels/cuda/scan_chunk.cuh"

/* Dynamic shared memory of the local / forward-final pass: VW floats per staged
 * vector (2 or 4). */
template <int S> static constexpr size_t sc_fwd_smem(int VW) {
    return sizeof(float) * ((size_t)SC_L * sb<S>::CPB * VW + (size_t)SC_L * 2 * sb<S>::NSP + SC_L);
}

/* Pass 1.  BWD also stages gy and reads C for Lloc. */
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

/* Pass 3 of the forward: rerun the chunk from Hin, write the gated output. */
template <typename T, int S>
static __global__ void __launch_bounds__(SC_THREADS)
    k_sc_fwd_final(T *y, sc_carry cy, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm, const T *Cm,
                   int ldbc, const T *D, const T *z, int ldz, const int32_t *pos, int N, int DI, int DS) {
    typedef sb<S> L;
    extern __shared__ __align__(16) float sc_smem[];
    float4 *sv = (float4 *)sc_smem;
    float *sbc = sc_smem + SC_L * L::CPB * 4;
    int *srs = (int *)(sbc + SC_L * 2 * L::NSP);
    const int c = blockIdx.y, t0 = c * SC_L, cnt = min(SC_L, N - t0);
    sc_stage_rows<T, S, SC_ST_Y>(sv, sc_items_of<S>(), u, delta, z, ldz, NULL, dt_bias, D, t0, cnt, DI);
    sc_stage<T, L::NSP>(sbc, srs, Bm, Cm, ldbc, pos, t0, N, DS);
    sc_lane<S> l;
    sc_lane_init<T, S>(l, A_log, DI, DS);
    float h[S];
    sc_load_carry<S>(cy.hend, l, c, DI, DS, h);
    __syncthreads();
    T *yrow = y + (size_t)t0 * DI + l.e;
#pragma unroll 8
    for (int j = 0; j < cnt; j++) { /* cnt is uniform over the CTA: every lane reaches the shuffles */
        const float4 v = sv[j * L::CPB + l.cl]; /* δ, δ·u, D·u, z·σ(z) */
        const float x = srs[j] ? INFINITY : v.x;
        float B[S], C[S], yp = 0.f;
        sc_row<S>(sbc, j, 0, l.g, B);
        sc_row<S>(sbc, j, 1, l.g, C);
#pragma unroll
        for (int i = 0; i < S; i++) {
            h[i] = fmaf(sc_ex2(x * l.A2[i]), h[i], v.y * B[i]);
            yp = fmaf(C[i], h[i], yp);
        }
        yp += __shfl_xor_sync(0xffffffffu, yp, 1);
        yp += __shfl_xor_sync(0xffffffffu, yp, 2);
        if (l.ech && l.g == 0) hy_st<T>(yrow + (size_t)j * DI, (yp + v.z) * v.w);
    }
}
#endif
