/* scan_bwd.cuh — private to kernels/cuda/selective_scan.cu: the final pass of
 * the chunked selective-scan backward (spec §9.7), after k_sc_local<BWD> and
 * k_sc_carry have left Hin (state before the chunk) and Λin (= ã_{r1}·λ_{r1},
 * the adjoint flowing in from the next chunk) per (chunk, channel, state).
 *
 * Per CTA (one chunk of SC_L rows, CPB channels, layout of scan_chunk.cuh):
 *   sweep 1  — forward from Hin over the chunk, the state before every
 *              SC_K-row sub-chunk saved to shared memory (ck);
 *   then per sub-chunk, last to first:
 *     recompute its SC_K states per row into registers (hs, fully unrolled),
 *     walk its rows backwards: λ_t = gy_t·C_t + ã_{t+1}·λ_{t+1} and
 *       du, dδ (through softplus), dz (from the recomputed pre-gate y) written,
 *       dA, dt_bias, D accumulated per thread,
 *       dB_t = Σ_e λ·δ·u and dC_t = Σ_e gy·h_t reduced over the CTA's channels:
 *       a warp reduce-scatter (each lane ends with whole-warp sums of 16/32·G
 *       of the 16 values), the warps added in order through shared memory,
 *       one fp32 partial per (channel block, row) in scratch.
 * The host then adds the channel blocks' dB/dC partials in order and the
 * chunks' parameter partials in order (hy_cuda_sum_partials): no atomics. */
#ifndef HY_CUDA_SCAN_BWD_CUH
#define HY_CUDA_SCAN_BWD_CUH
#include "kernels/cuda/scan_chunk.cuh"

/* Scratch outputs of the final pass. */
struct sc_bwd_out {
    float *pbc; /* [channel blocks][N][2·DS]  dB | dC partials */
    float *pA;  /* [chunks][DI·DS] */
    float *pdt; /* [chunks][DI] */
    float *pD;  /* [chunks][DI] */
};

/* Sum 16 values over the 32/G channel lanes of a warp: afterwards v[0..R) hold
 * the sums of values base..base+R (R = 1, 1, 2 for G = 1, 2, 4).  For G = 1 the
 * last step is a plain add: only lanes with bit 0 clear write. */
template <int G> static __device__ __forceinline__ int sc_reduce_scatter(float *v, int lane) {
    constexpr int CB = G == 1 ? 5 : G == 2 ? 4 : 3;
    int base = 0;
#pragma unroll
    for (int st = 0; st < CB; st++) {
        const int o = 16 >> st, h = 8 >> st;
        if (h >= 1) {
            const bool bit = (lane & o) != 0;
#pragma unroll
            for (int k = 0; k < h; k++) {
                float send = bit ? v[k] : v[k + h], keep = bit ? v[k + h] : v[k];
                v[k] = keep + __shfl_xor_sync(0xffffffffu, send, o);
            }
            if (bit) base += h;
        } else {
            v[0] += __shfl_xor_sync(0xffffffffu, v[0], o);
        }
    }
    return base;
}

/* Dynamic shared memory of k_sc_bwd_final, in floats. */
template <int G> static constexpr int sc_bwd_smem_floats() {
    return SC_L * 2 * SC_S * G + SC_L + (SC_L / SC_K) * SC_S * SC_THREADS + SC_NW * SC_K * 2 * SC_S * G;
}

/* Raw inputs of one sub-chunk's rows (0 past the chunk or the channels). */
struct sc_raw {
    float u[SC_K], d[SC_K], z[SC_K], g[SC_K];
};
/* Per-row scalars of one sub-chunk, derived once from sc_raw. */
struct sc_rows {
    float uv[SC_K], dl[SC_K], gy[SC_K], fz[SC_K], sg[SC_K];
};

template <typename T>
static __device__ __forceinline__ void sc_load_raw(sc_raw &w, const sc_lane<SC_S> &l, const T *u, const T *delta, const T *z, int ldz,
                                                   const T *dy, int t0, int kc, int DI) {
#pragma unroll
    for (int jj = 0; jj < SC_K; jj++) {
        w.u[jj] = w.d[jj] = w.z[jj] = w.g[jj] = 0.f;
        if (jj < kc && l.ech) {
            size_t o = (size_t)(t0 + jj) * DI + l.e;
            w.u[jj] = hy_ld<T>(u + o), w.d[jj] = hy_ld<T>(delta + o), w.g[jj] = hy_ld<T>(dy + o);
            w.z[jj] = hy_ld<T>(z + (size_t)(t0 + jj) * ldz + l.e);
        }
    }
}

/* (zero raw values give gy = fz = uv = 0: padding channels contribute nothing) */
template <typename T> static __device__ __forceinline__ void sc_rows_of(sc_rows &r, const sc_raw &w, float dtb) {
#pragma unroll
    for (int jj = 0; jj < SC_K; jj++) {
        float s = w.d[jj] + dtb, zv = w.z[jj], gv = w.g[jj], sz = sc_sigmoid<T>(zv);
        r.uv[jj] = w.u[jj];
        r.dl[jj] = sc_softplus<T>(s);
        r.sg[jj] = s > 20.f ? 1.f : sc_sigmoid<T>(s);
        r.gy[jj] = gv * zv * sz;
        r.fz[jj] = gv * sz * (1.f + zv * (1.f - sz));
    }
}

template <typename T, int G>
static __global__ void __launch_bounds__(SC_THREADS, 3)
    k_sc_bwd_final(sc_bwd_out so, sc_carry cy, T *du, T *ddelta, T *dz, int lddz, const T *dy, const T *u, const T *delta,
                   const T *dt_bias, const T *A_log, const T *Bm, const T *Cm, int ldbc, const T *D, const T *z, int ldz,
                   const int32_t *pos, int N, int DI, int DS) {
    constexpr int NSP = SC_S * G;
    extern __shared__ __align__(16) float sc_smem[];
    float *sbc = sc_smem, *ck = sbc + SC_L * 2 * NSP + SC_L, *sred = ck + (SC_L / SC_K) * SC_S * SC_THREADS;
    int *spos = (int *)(sbc + SC_L * 2 * NSP);
    sc_lane<SC_S> l;
    sc_lane_init<T, SC_S, G>(l, dt_bias, A_log, D, DI, DS);
    const int c = blockIdx.y, t0 = c * SC_L, cnt = min(SC_L, N - t0), tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
    sc_stage<T, NSP>(sbc, spos, Bm, Cm, ldbc, pos, t0, N, DS);
    float h[SC_S], lc[SC_S], accA[SC_S], accdt = 0.f, accD = 0.f;
    sc_load_carry<SC_S>(cy.hend, l, c, DI, DS, h);
    sc_load_carry<SC_S>(cy.lloc, l, c, DI, DS, lc);
    __syncthreads();

    /* sweep 1: states before each sub-chunk (u, delta of the next sub-chunk
     * loaded before this one is computed) */
    float nu[SC_K], nd[SC_K];
#pragma unroll
    for (int jj = 0; jj < SC_K; jj++) {
        nu[jj] = nd[jj] = 0.f;
        if (jj < cnt && l.ech) nu[jj] = hy_ld<T>(u + (size_t)(t0 + jj) * DI + l.e), nd[jj] = hy_ld<T>(delta + (size_t)(t0 + jj) * DI + l.e);
    }
    for (int j0 = 0; j0 < cnt; j0 += SC_K) {
        float uv[SC_K], dv[SC_K];
#pragma unroll
        for (int i = 0; i < SC_S; i++) ck[((j0 / SC_K) * SC_S + i) * SC_THREADS + tid] = h[i];
#pragma unroll
        for (int jj = 0; jj < SC_K; jj++) {
            uv[jj] = nu[jj], dv[jj] = nd[jj], nu[jj] = nd[jj] = 0.f;
            if (j0 + SC_K + jj < cnt && l.ech) {
                size_t o = (size_t)(t0 + j0 + SC_K + jj) * DI + l.e;
                nu[jj] = hy_ld<T>(u + o), nd[jj] = hy_ld<T>(delta + o);
            }
        }
#pragma unroll
        for (int jj = 0; jj < SC_K; jj++) {
            if (j0 + jj < cnt) {
                const int j = j0 + jj, rs = spos[j] == 0;
                float dl = sc_softplus<T>(dv[jj] + l.dtb), dlu = dl * uv[jj], B[SC_S];
                sc_row<SC_S, G>(sbc, j, 0, l.g, B);
#pragma unroll
                for (int i = 0; i < SC_S; i++) h[i] = fmaf(rs ? 0.f : sc_ex2(dl * l.A2[i]), h[i], dlu * B[i]);
            }
        }
    }
#pragma unroll
    for (int i = 0; i < SC_S; i++) accA[i] = 0.f;

    for (int j0 = ((cnt - 1) / SC_K) * SC_K; j0 >= 0; j0 -= SC_K) {
        const int kc = min(SC_K, cnt - j0);
        sc_rows r;
        {
            sc_raw raw;
            sc_load_raw<T>(raw, l, u, delta, z, ldz, dy, t0 + j0, kc, DI);
            sc_rows_of<T>(r, raw, l.dtb);
        }
        float h0[SC_S], hs[SC_K][SC_S];
#pragma unroll
        for (int i = 0; i < SC_S; i++) h0[i] = h[i] = ck[((j0 / SC_K) * SC_S + i) * SC_THREADS + tid];
#pragma unroll
        for (int jj = 0; jj < SC_K; jj++) {
            if (jj < kc) {
                const int rs = spos[j0 + jj] == 0;
                float dlu = r.dl[jj] * r.uv[jj], B[SC_S];
                sc_row<SC_S, G>(sbc, j0 + jj, 0, l.g, B);
#pragma unroll
                for (int i = 0; i < SC_S; i++) h[i] = fmaf(rs ? 0.f : sc_ex2(r.dl[jj] * l.A2[i]), h[i], dlu * B[i]);
            }
#pragma unroll
            for (int i = 0; i < SC_S; i++) hs[jj][i] = h[i];
        }
#pragma unroll
        for (int jj = SC_K - 1; jj >= 0; jj--) {
            if (jj < kc) { /* uniform over the CTA */
                const int j = j0 + jj, rs = spos[j] == 0;
                const float dl = r.dl[jj], uv = r.uv[jj], gy = r.gy[jj], dlu = dl * uv;
                float B[SC_S], C[SC_S], v[2 * SC_S], yp = 0.f, lb = 0.f, dd = 0.f;
                sc_row<SC_S, G>(sbc, j, 0, l.g, B);
                sc_row<SC_S, G>(sbc, j, 1, l.g, C);
#pragma unroll
                for (int i = 0; i < SC_S; i++) {
                    float a = rs ? 0.f : sc_ex2(dl * l.A2[i]);
                    float lam = fmaf(gy, C[i], lc[i]), ht = hs[jj][i], hp = jj > 0 ? hs[jj > 0 ? jj - 1 : 0][i] : h0[i];
                    float la = lam * (a * hp);
                    yp = fmaf(C[i], ht, yp);
                    lb = fmaf(lam, B[i], lb);
                    dd = fmaf(la, l.A2[i], dd);
                    accA[i] = fmaf(la, dl, accA[i]);
                    lc[i] = a * lam;
                    v[i] = lam * dlu;
                    v[SC_S + i] = gy * ht;
                }
                yp = sc_group_sum<G>(yp), lb = sc_group_sum<G>(lb), dd = sc_group_sum<G>(dd);
                const float ds = fmaf(uv, lb, dd * SC_LN2) * r.sg[jj];
                if (l.ech && l.g == 0) {
                    const size_t o = (size_t)(t0 + j) * DI + l.e;
                    hy_st<T>(du + o, fmaf(gy, l.Dsk, dl * lb));
                    hy_st<T>(ddelta + o, ds);
                    hy_st<T>(dz + (size_t)(t0 + j) * lddz + l.e, r.fz[jj] * fmaf(l.Dsk, uv, yp));
                }
                accdt += ds;
                accD = fmaf(gy, uv, accD);
                const int base = sc_reduce_scatter<G>(v, lane);
                if (G > 1 || (lane & 1) == 0) {
#pragma unroll
                    for (int k = 0; k < (G == 4 ? 2 : 1); k++) {
                        const int m = base + k;
                        sred[((warp * SC_K + jj) * 2 + m / SC_S) * NSP + SC_S * l.g + m % SC_S] = v[k];
                    }
                }
            }
        }
        __syncthreads();
        for (int i = tid; i < kc * 2 * DS; i += SC_THREADS) {
            const int jj = i / (2 * DS), rr = i % (2 * DS), which = rr / DS, n = rr % DS;
            float acc = 0.f;
#pragma unroll
            for (int w = 0; w < SC_NW; w++) acc += sred[((w * SC_K + jj) * 2 + which) * NSP + n];
            so.pbc[((size_t)blockIdx.x * N + t0 + j0 + jj) * 2 * DS + rr] = acc;
        }
        __syncthreads();
    }

    const size_t pbase = ((size_t)c * DI + l.e) * DS + SC_S * l.g;
#pragma unroll
    for (int i = 0; i < SC_S; i++)
        if (l.ech && SC_S * l.g + i < DS) so.pA[pbase + i] = -accA[i] * expf(hy_ld<T>(A_log + pbase - (size_t)c * DI * DS + i));
    if (l.ech && l.g == 0) {
        so.pdt[(size_t)c * DI + l.e] = accdt;
        so.pD[(size_t)c * DI + l.e] = accD;
    }
}
#endif
