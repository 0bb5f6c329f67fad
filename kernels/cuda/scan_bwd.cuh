/* scan_bwd.cuh — private to kernels/cuda/selective_scan.cu: the final pass of
 * the chunked selective-scan backward (spec §9.7), after k_sc_local<BWD> and
 * k_sc_carry have left Hin (state before the chunk) and Λin (= ã_{r1}·λ_{r1},
 * the adjoint flowing in from the next chunk) per (chunk, channel, state).
 *
 * Layout of scan_chunk.cuh (sb<S>: 4 lanes per channel, S states per lane,
 * CPB = 32 channels per CTA).  Few states per lane leave registers for caching
 * a whole sub-chunk of K rows: its states hs and decays ã (as), so the reverse
 * walk needs no exp.  Staged in shared memory:
 *   sdl[j][ch]     = (δ, δ·u) for the whole chunk (the sweeps and the walk),
 *   ssc[b][jj][ch] = (gy, u, σ(s_Δ), dz factor) for one sub-chunk, double-
 *                    buffered; its raw inputs are loaded while the previous
 *                    sub-chunk is processed.
 *
 * Per CTA:
 *   sweep    — forward from Hin over the chunk, the state before every K-row
 *              sub-chunk saved to shared memory (ck, thread-private);
 *   then per sub-chunk, last to first:
 *     recompute its K states and decays into registers (hs, as),
 *     walk its rows backwards: λ_t = gy_t·C_t + ã_{t+1}·λ_{t+1};
 *       each lane writes its sums over its states of C·h (y), λ·B and
 *       λ·ã·h_{t−1}·A2 to spt; dA is accumulated per lane;
 *       dB_t = Σ_e λ·δ·u and dC_t = Σ_e gy·h_t over the CTA's channels: a
 *       warp reduce-scatter over the 8 channels of the warp (each lane ends
 *       with whole-warp sums of 2S/8 values), the warps added in order
 *       through shared memory, one fp32 partial per (channel block, row) in
 *       scratch;
 *     epilogue: per (row, channel), coalesced over channels: the 4 lanes'
 *       sums added in order, dz, du, dδ (through softplus) written, dD and
 *       dt_bias accumulated per channel.
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

/* Shared-memory map of the final pass, in floats. */
template <int S> struct sbf {
    typedef sb<S> L;
    enum {
        O_SSC = 0,                                  /* float4 [2][K][CPB] */
        O_SPT = O_SSC + 2 * 4 * L::K * L::CPB,      /* float4 [K][4][CPB] per-lane sums */
        O_SDL = O_SPT + 4 * L::K * 4 * L::CPB,      /* float2 [SC_L][CPB] */
        O_SBC = O_SDL + 2 * SC_L * L::CPB,          /* [SC_L][2][NSP] */
        O_CK = O_SBC + SC_L * 2 * L::NSP,           /* [NSUB][S][NT] */
        O_RED = O_CK + L::NSUB * S * L::NT,         /* [NW][K][2·NSP] */
        O_RS = O_RED + L::NW * L::K * 2 * L::NSP,   /* int [SC_L] */
        FLOATS = O_RS + SC_L
    };
};

/* Raw inputs of this thread's sub-chunk staging items. */
template <int S> struct sb_raw {
    float u[sb<S>::NR], d[sb<S>::NR], z[sb<S>::NR], g[sb<S>::NR];
};

/* Items: channel it.ic of the block, rows j0 + it.jr + RS·k of the chunk. */
template <typename T, int S>
static __device__ __forceinline__ void sb_load_raw(sb_raw<S> &r, const sc_items &it, const T *u, const T *delta, const T *z,
                                                   int ldz, const T *dy, int t0, int j0, int cnt, int DI) {
#pragma unroll
    for (int k = 0; k < sb<S>::NR; k++) {
        const int j = j0 + it.jr + k * sb<S>::RS;
        r.u[k] = r.d[k] = r.z[k] = r.g[k] = 0.f;
        if (j < cnt && it.ie < DI) {
            const size_t t = (size_t)(t0 + j), o = t * DI + it.ie;
            r.u[k] = hy_ld<T>(u + o), r.d[k] = hy_ld<T>(delta + o), r.g[k] = hy_ld<T>(dy + o);
            r.z[k] = hy_ld<T>(z + t * ldz + it.ie);
        }
    }
}

/* ssc[jj][ic] = (gy, u, σ(s_Δ) or 1 past the softplus threshold, dz factor);
 * zero raw values (padding) give gy = u = fz = 0. */
template <typename T, int S>
static __device__ __forceinline__ void sb_put_scalars(float4 *ssc, const sb_raw<S> &r, float dtb, const sc_items &it) {
#pragma unroll
    for (int k = 0; k < sb<S>::NR; k++) {
        const float s = r.d[k] + dtb, zv = r.z[k], gv = r.g[k], sz = sc_sigmoid<T>(zv);
        const float sg = s > 20.f ? 1.f : sc_sigmoid<T>(s);
        ssc[(it.jr + k * sb<S>::RS) * sb<S>::CPB + it.ic] =
            make_float4(gv * zv * sz, r.u[k], sg, gv * sz * (1.f + zv * (1.f - sz)));
    }
}

/* One recurrence step of this lane's states from staged row j; a[] gets ã. */
template <int S>
static __device__ __forceinline__ void sb_step(float *h, float *a, const sc_lane<S> &l, const float2 *sdl, const float *sbc,
                                               const int *srs, int j) {
    const float2 d = sdl[j * sb<S>::CPB + l.cl];
    const float x = srs[j] ? INFINITY : d.x;
    float B[S];
    sc_row<S>(sbc, j, 0, l.g, B);
#pragma unroll
    for (int i = 0; i < S; i++) {
        a[i] = sc_ex2(x * l.A2[i]);
        h[i] = fmaf(a[i], h[i], d.y * B[i]);
    }
}

/* Sum V values over the 8 channel lanes of a warp (lane bits 2..4): afterwards
 * v[0..V/8) hold the sums of values base..base+V/8. */
template <int V> static __device__ __forceinline__ int sb_reduce_scatter(float *v, int lane) {
    int base = 0;
#pragma unroll
    for (int st = 0; st < 3; st++) {
        const int o = 16 >> st, h = (V >> st) / 2;
        const bool bit = (lane & o) != 0;
#pragma unroll
        for (int k = 0; k < h; k++) {
            const float send = bit ? v[k] : v[k + h], keep = bit ? v[k + h] : v[k];
            v[k] = keep + __shfl_xor_sync(0xffffffffu, send, o);
        }
        if (bit) base += h;
    }
    return base;
}

/* One row of the reverse walk: ht, at = cached state and decay of this row,
 * hp = state of the row before, d = (δ, δ·u), gy.  Writes this lane's sums over
 * its states of C·h, λ·B and λ·ã·h_{t−1}·A2 to spt (the epilogue adds the 4
 * lanes), this warp's dB|dC sums of the row to red; accumulates dA (accA). */
template <int S>
static __device__ __forceinline__ void sb_walk_row(const float *ht, const float *at, const float *hp, float *lc, float *accA,
                                                   const sc_lane<S> &l, float2 d, float gy, const float *B, const float *C,
                                                   float *red, float4 *spt, int lane) {
    const float dl = d.x, dlu = d.y;
    float v[2 * S], w0 = 0.f, w1 = 0.f, w2 = 0.f;
#pragma unroll
    for (int i = 0; i < S; i++) {
        const float lam = fmaf(gy, C[i], lc[i]), la = lam * (at[i] * hp[i]);
        w0 = fmaf(C[i], ht[i], w0);
        w1 = fmaf(lam, B[i], w1);
        w2 = fmaf(la, l.A2[i], w2);
        accA[i] = fmaf(la, dl, accA[i]);
        lc[i] = at[i] * lam;
        v[i] = lam * dlu;
        v[S + i] = gy * ht[i];
    }
    *spt = make_float4(w0, w1, w2, 0.f);
    const int base = sb_reduce_scatter<2 * S>(v, lane);
#pragma unroll
    for (int k = 0; k < 2 * S / 8; k++) {
        const int m = base + k;
        red[(m / S) * sb<S>::NSP + S * l.g + m % S] = v[k];
    }
}

/* dB|dC of the sub-chunk's kc rows: the warps' sums added in order. */
template <int S>
static __device__ __forceinline__ void sb_flush_bc(float *pbc, const float *red, int kc, int row0, int bx, int N, int DS) {
    typedef sb<S> L;
    for (int i = threadIdx.x; i < kc * 2 * DS; i += L::NT) {
        const int jj = i / (2 * DS), q = i % (2 * DS), which = q / DS, n = q % DS;
        float acc = 0.f;
#pragma unroll
        for (int w = 0; w < L::NW; w++) acc += red[(w * L::K + jj) * 2 * L::NSP + which * L::NSP + n];
        pbc[((size_t)bx * N + row0 + jj) * 2 * DS + q] = acc;
    }
}

/* Outputs of the sub-chunk's rows, one (row, channel) item at a time
 * (coalesced over channels): the 4 lanes' sums added in order, then dz, du and
 * dδ; accD / accdt collect Σ gy·u and Σ dδ of this thread's channel. */
template <typename T, int S>
static __device__ __forceinline__ void sb_epilogue(const float4 *spt, const float4 *ssc, const float2 *sdl, T *du, T *ddelta,
                                                   T *dz, int lddz, int t0, int j0, int kc, const sc_items &it, float Dsk,
                                                   float &accD, float &accdt, int DI) {
    typedef sb<S> L;
#pragma unroll
    for (int k = 0; k < L::NR; k++) {
        const int jj = it.jr + k * L::RS;
        if (jj < kc && it.ie < DI) {
            float4 q = spt[jj * 4 * L::CPB + it.ic];
#pragma unroll
            for (int g = 1; g < 4; g++) {
                const float4 p = spt[(jj * 4 + g) * L::CPB + it.ic];
                q.x += p.x, q.y += p.y, q.z += p.z;
            }
            const float4 sc = ssc[jj * L::CPB + it.ic]; /* gy, u, σ(s_Δ), dz factor */
            const float dl = sdl[(j0 + jj) * L::CPB + it.ic].x, ds = fmaf(sc.y, q.y, q.z * SC_LN2) * sc.z;
            const size_t t = (size_t)(t0 + j0 + jj);
            hy_st<T>(dz + t * lddz + it.ie, sc.w * fmaf(Dsk, sc.y, q.x));
            hy_st<T>(du + t * DI + it.ie, fmaf(sc.x, Dsk, dl * q.y));
            hy_st<T>(ddelta + t * DI + it.ie, ds);
            accD = fmaf(sc.x, sc.y, accD);
            accdt += ds;
        }
    }
}

/* Recompute sub-chunk sub's kc rows from its saved start state (h0): states
 * and decays into hs, as (rows past kc are left as they are: never read). */
template <int S, int K>
static __device__ __forceinline__ void sb_recompute(float (&hs)[K][S], float (&as)[K][S], float *h0, const sc_lane<S> &l,
                                                    const float2 *sdl, const float *sbc, const int *srs, const float *ck,
                                                    int sub, int j0, int kc) {
    float h[S];
#pragma unroll
    for (int i = 0; i < S; i++) h0[i] = h[i] = ck[(sub * S + i) * sb<S>::NT + threadIdx.x];
#pragma unroll
    for (int jj = 0; jj < K; jj++) {
        if (jj < kc) sb_step<S>(h, as[jj], l, sdl, sbc, srs, j0 + jj);
#pragma unroll
        for (int i = 0; i < S; i++) hs[jj][i] = h[i];
    }
}

template <typename T, int S>
static __global__ void __launch_bounds__(SC_THREADS, S <= 4 ? 3 : 2)
    k_sc_bwd_final(sc_bwd_out so, sc_carry cy, T *du, T *ddelta, T *dz, int lddz, const T *dy, const T *u, const T *delta,
                   const T *dt_bias, const T *A_log, const T *Bm, const T *Cm, int ldbc, const T *D, const T *z, int ldz,
                   const int32_t *pos, int N, int DI, int DS) {
    typedef sb<S> L;
    typedef sbf<S> M;
    enum { K = L::K, NT = L::NT, CPB = L::CPB };
    extern __shared__ __align__(16) float sc_smem[];
    float4 *ssc0 = (float4 *)(sc_smem + M::O_SSC), *spt = (float4 *)(sc_smem + M::O_SPT);
    float2 *sdl = (float2 *)(sc_smem + M::O_SDL);
    float *sbc = sc_smem + M::O_SBC, *ck = sc_smem + M::O_CK, *red = sc_smem + M::O_RED;
    int *srs = (int *)(sc_smem + M::O_RS);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    const int c = blockIdx.y, t0 = c * SC_L, cnt = min(SC_L, N - t0), nsub = (cnt + K - 1) / K;
    const sc_items it = sc_items_of<S>();
    const float idtb = it.ie < DI ? hy_ld<T>(dt_bias + it.ie) : 0.f, iDsk = it.ie < DI ? hy_ld<T>(D + it.ie) : 0.f;
    sb_raw<S> raw;
    sb_load_raw<T, S>(raw, it, u, delta, z, ldz, dy, t0, (nsub - 1) * K, cnt, DI);
    sc_stage_rows<T, S, SC_ST_DL>(sdl, it, u, delta, NULL, 0, NULL, dt_bias, NULL, t0, cnt, DI);
    sc_stage<T, L::NSP>(sbc, srs, Bm, Cm, ldbc, pos, t0, N, DS);
    sc_lane<S> l;
    sc_lane_init<T, S>(l, A_log, DI, DS);
    float h[S], lc[S], accA[S], accD = 0.f, accdt = 0.f;
    sc_load_carry<S>(cy.hend, l, c, DI, DS, h);
    sc_load_carry<S>(cy.lloc, l, c, DI, DS, lc);
#pragma unroll
    for (int i = 0; i < S; i++) accA[i] = 0.f;
    __syncthreads();

    /* sweep: the state before each sub-chunk (the last one's end is not needed) */
    for (int sub = 0; sub < nsub; sub++) {
#pragma unroll
        for (int i = 0; i < S; i++) ck[(sub * S + i) * NT + tid] = h[i];
        if (sub == nsub - 1) break;
#pragma unroll
        for (int jj = 0; jj < K; jj++) {
            float a[S];
            sb_step<S>(h, a, l, sdl, sbc, srs, sub * K + jj);
        }
    }

    for (int sub = nsub - 1; sub >= 0; sub--) {
        const int j0 = sub * K, kc = min(K, cnt - j0);
        float4 *ssc = ssc0 + (sub & 1) * K * CPB; /* double-buffered: the previous epilogue may still read the other */
        sb_put_scalars<T, S>(ssc, raw, idtb, it);
        if (sub > 0) sb_load_raw<T, S>(raw, it, u, delta, z, ldz, dy, t0, j0 - K, cnt, DI);
        __syncthreads();
        float hs[K][S], as[K][S], h0[S];
        sb_recompute<S, K>(hs, as, h0, l, sdl, sbc, srs, ck, sub, j0, kc);
#pragma unroll
        for (int jj = K - 1; jj >= 0; jj--) {
            if (jj < kc) { /* uniform over the CTA */
                const int j = j0 + jj;
                float B[S], C[S];
                sc_row<S>(sbc, j, 0, l.g, B);
                sc_row<S>(sbc, j, 1, l.g, C);
                sb_walk_row<S>(hs[jj], as[jj], jj > 0 ? hs[jj > 0 ? jj - 1 : 0] : h0, lc, accA, l, sdl[j * CPB + l.cl],
                               ssc[jj * CPB + l.cl].x, B, C, red + (warp * K + jj) * 2 * L::NSP, spt + (jj * 4 + l.g) * CPB + l.cl,
                               lane);
            }
        }
        __syncthreads();
        sb_flush_bc<S>(so.pbc, red, kc, t0 + j0, blockIdx.x, N, DS);
        sb_epilogue<T, S>(spt, ssc, sdl, du, ddelta, dz, lddz, t0, j0, kc, it, iDsk, accD, accdt, DI);
    }

    const size_t pbase = ((size_t)c * DI + l.e) * DS + S * l.g;
#pragma unroll
    for (int i = 0; i < S; i++)
        if (l.ech && S * l.g + i < DS) so.pA[pbase + i] = -accA[i] * expf(hy_ld<T>(A_log + (size_t)l.e * DS + S * l.g + i));
    /* D and dt_bias partials: the RS staging threads of a channel added in order */
    float2 *sacc = (float2 *)red;
    __syncthreads();
    sacc[tid] = make_float2(accD, accdt);
    __syncthreads();
    if (tid < CPB && it.ie < DI) {
        float2 a = sacc[tid];
#pragma unroll
        for (int r = 1; r < L::RS; r++) a.x += sacc[r * CPB + tid].x, a.y += sacc[r * CPB + tid].y;
        so.pD[(size_t)c * DI + it.ie] = a.x;
        so.pdt[(size_t)c * DI + it.ie] = a.y;
    }
}
#endif
