/* scan_chunk.cuh — private to kernels/cuda/selective_scan.cu: the chunked
 * selective scan's shared pieces (lane layout, staging of the chunk's rows,
 * the cross-chunk carry).  The chunk passes are in scan_fwd.cuh (local,
 * forward final) and scan_bwd.cuh (backward final).
 *
 * Layout (sb<S>).  Rows are cut into chunks of SC_L rows over the whole packed
 * batch (a chunk may hold document starts).  A CTA of 128 threads covers one
 * chunk and CPB = 32 channels; each channel's DS states are split over G = 4
 * adjacent lanes, S = 4 states per lane in fp32 registers (S = 8 for DS ≤ 32;
 * padding states n ≥ DS have B = C = 0 and stay 0).  Few states per lane keep
 * the register count low (high occupancy, and room for the backward's cached
 * sub-chunk).
 * Staging.  Everything that depends on (row, channel) only — softplus δ, δ·u,
 * the gates — is computed once per channel, not once per lane: thread tid takes
 * channel ic = tid % CPB and rows jr + 4k of the chunk (jr = tid / CPB), issues
 * all its global loads first (coalesced: a warp reads 32 consecutive channels
 * of one row), then writes fp32 values to shared memory.  The chunk's B and C
 * rows and reset flags are staged once as fp32 too.  The scan loops then read
 * only shared memory: no global-load latency inside them.
 *
 * Resets.  With ã_t = 0 at a document start (pos == 0) and exp(δ·A) elsewhere,
 * h_t = ã_t·h_{t−1} + δ·B·u and λ_t = gy·C + ã_{t+1}·λ_{t+1} hold across
 * document boundaries, so a chunk needs no knowledge of where documents lie.
 * ã = 0 is produced without a per-state select: the exponent's multiplier is
 * +inf on a reset row and every A2 is strictly negative (padding states use −1),
 * so ex2(−inf) = 0.
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
 *            is exp(A·dsum) (0 on reset).  The two directions run in parallel
 *            (blockIdx.y).
 *   final  — per (chunk, channel): rerun the chunk from Hin.
 * Every sum has a fixed order: results are bitwise reproducible.
 * Math: fp32.  In bf16 mode softplus and the sigmoids use the fast intrinsics
 * (__expf/__logf/__fdividef: errors ~1e-6, far below the bf16 output rounding);
 * the fp32 verification mode keeps the libm-accurate ones of the CPU op.  The
 * per-state exp is ex2.approx (2 ulp, the instruction exp2f compiles to)
 * in both modes. */
#ifndef HY_CUDA_SCAN_CHUNK_CUH
#define HY_CUDA_SCAN_CHUNK_CUH
#include "kernels/cuda/common.cuh"

enum { SC_THREADS = 128, SC_L = 64 };
#define SC_LOG2E 1.4426950408889634f
#define SC_LN2 0.6931471805599453f

/* Shapes of the layout for S states per lane. */
template <int S> struct sb {
    enum {
        G = 4, NT = SC_THREADS, CPB = NT / G, NSP = S * G, NW = NT / 32,
        K = S <= 4 ? 8 : 4,   /* backward sub-chunk rows */
        NSUB = SC_L / K,
        RS = NT / CPB,        /* staging row step */
        NR = K / RS,          /* sub-chunk staging items per thread */
        NI = SC_L / RS        /* chunk staging items per thread */
    };
};

template <typename T> static __device__ __forceinline__ float sc_softplus(float s) {
    if (sizeof(T) == 2) return s > 20.f ? s : __logf(1.f + __expf(s));
    return s > 20.f ? s : log1pf(expf(s));
}
template <typename T> static __device__ __forceinline__ float sc_sigmoid(float x) {
    if (sizeof(T) == 2) return __fdividef(1.f, 1.f + __expf(-x));
    return hy_sigmoid(x);
}
/* 2^x (ex2.approx, denormal results flushed: they only arise as factors < 1e-38;
 * ex2(−inf) = +0) */
static __device__ __forceinline__ float sc_ex2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}

/* This lane's channel and states: n = S·g + i, i < S. */
template <int S> struct sc_lane {
    int e, g, cl, ech; /* cl: channel within the CTA; ech: e < DI */
    float A2[S];       /* A·log2(e) = −exp(A_log)·log2(e) (≤ −1e-30); −1 for padding states */
};

template <typename T, int S>
static __device__ __forceinline__ void sc_lane_init(sc_lane<S> &l, const T *A_log, int DI, int DS) {
    l.cl = threadIdx.x / 4;
    l.e = blockIdx.x * sb<S>::CPB + l.cl;
    l.g = threadIdx.x % 4;
    l.ech = l.e < DI;
#pragma unroll
    for (int i = 0; i < S; i++) {
        int n = S * l.g + i;
        l.A2[i] = (l.ech && n < DS) ? fminf(-expf(hy_ld<T>(A_log + (size_t)l.e * DS + n)) * SC_LOG2E, -1e-30f) : -1.f;
    }
}

/* This thread's staging items: channel ic of the CTA, rows jr + RS·k. */
struct sc_items {
    int ic, jr, ie;
};
template <int S> static __device__ __forceinline__ sc_items sc_items_of() {
    sc_items it;
    it.ic = threadIdx.x % sb<S>::CPB, it.jr = threadIdx.x / sb<S>::CPB;
    it.ie = blockIdx.x * sb<S>::CPB + it.ic;
    return it;
}

/* Shared-memory image of the chunk's B and C: sbc[j][0|1][NSP] as fp32 (zero
 * past DS and past N), srs[j] = 1 on a document start (0 past N). */
template <typename T, int NSP>
static __device__ __forceinline__ void sc_stage(float *sbc, int *srs, const T *Bm, const T *Cm, int ldbc, const int32_t *pos,
                                                int t0, int N, int DS) {
    for (int i = threadIdx.x; i < SC_L * 2 * NSP; i += blockDim.x) {
        int j = i / (2 * NSP), r = i % (2 * NSP), w = r / NSP, n = r % NSP, t = t0 + j;
        float v = 0.f;
        if (t < N && n < DS) v = hy_ld<T>((w ? Cm : Bm) + (size_t)t * ldbc + n);
        sbc[i] = v;
    }
    for (int j = threadIdx.x; j < SC_L; j += blockDim.x) srs[j] = t0 + j < N && pos[t0 + j] == 0;
}

/* This lane's S B (or C) values of staged row j. */
template <int S> static __device__ __forceinline__ void sc_row(const float *sbc, int j, int which, int g, float *v) {
    const float4 *p = (const float4 *)(sbc + j * 2 * S * 4 + which * S * 4 + S * g);
#pragma unroll
    for (int q = 0; q < S / 4; q++) {
        float4 a = p[q];
        v[4 * q] = a.x, v[4 * q + 1] = a.y, v[4 * q + 2] = a.z, v[4 * q + 3] = a.w;
    }
}

/* What the chunk staging computes per (row, channel). */
enum { SC_ST_DL = 0 /* float2 (δ, δ·u) */, SC_ST_GY = 1 /* float4 (δ, δ·u, gy, 0) */, SC_ST_Y = 2 /* float4 (δ, δ·u, D·u, z·σ(z)) */ };

/* Stage the chunk's per-(row, channel) values (0 past the chunk or DI):
 * dst is float2 [SC_L][CPB] for SC_ST_DL, float4 [SC_L][CPB] otherwise.  The
 * loads of NB items are issued before any of them is used. */
template <typename T, int S, int MODE>
static __device__ __forceinline__ void sc_stage_rows(void *dst, const sc_items &it, const T *u, const T *delta, const T *z,
                                                     int ldz, const T *dy, const T *dt_bias, const T *D, int t0, int cnt,
                                                     int DI) {
    typedef sb<S> L;
    enum { NB = 8 };
    const bool iech = it.ie < DI;
    const float dtb = iech ? hy_ld<T>(dt_bias + it.ie) : 0.f, Dsk = (MODE == SC_ST_Y && iech) ? hy_ld<T>(D + it.ie) : 0.f;
#pragma unroll
    for (int k0 = 0; k0 < L::NI; k0 += NB) {
        float uu[NB], dd[NB], zz[NB], gg[NB];
#pragma unroll
        for (int k = 0; k < NB; k++) {
            const int j = it.jr + (k0 + k) * L::RS;
            uu[k] = dd[k] = zz[k] = gg[k] = 0.f;
            if (j < cnt && iech) {
                const size_t t = (size_t)(t0 + j), o = t * DI + it.ie;
                uu[k] = hy_ld<T>(u + o), dd[k] = hy_ld<T>(delta + o);
                if (MODE != SC_ST_DL) zz[k] = hy_ld<T>(z + t * ldz + it.ie);
                if (MODE == SC_ST_GY) gg[k] = hy_ld<T>(dy + o);
            }
        }
#pragma unroll
        for (int k = 0; k < NB; k++) {
            const int j = it.jr + (k0 + k) * L::RS;
            const float dl = (j < cnt && iech) ? sc_softplus<T>(dd[k] + dtb) : 0.f, dlu = dl * uu[k];
            if (MODE == SC_ST_DL) {
                ((float2 *)dst)[j * L::CPB + it.ic] = make_float2(dl, dlu);
            } else {
                const float sz = sc_sigmoid<T>(zz[k]);
                const float w = MODE == SC_ST_GY ? gg[k] * zz[k] * sz : zz[k] * sz;
                ((float4 *)dst)[j * L::CPB + it.ic] = make_float4(dl, dlu, MODE == SC_ST_GY ? w : Dsk * uu[k], MODE == SC_ST_GY ? 0.f : w);
            }
        }
    }
}

/* Carry arrays: [chunk][DI·DS] fp32 (hend, Lloc), [chunk][DI] (dsum). */
struct sc_carry {
    float *hend, *lloc, *dsum;
};

/* Pass 2: one thread per (channel, state) and direction (blockIdx.y: 0 the
 * states, chunks in order; 1 the adjoints, in reverse), in place.  The loads of
 * a batch of NB chunks are issued first. */
template <typename T>
static __global__ void __launch_bounds__(128) k_sc_carry(sc_carry cy, const T *A_log, int nch, int DI, int DS) {
    enum { NB = 16 };
    const size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x, W = (size_t)DI * DS;
    if (idx >= W) return;
    const bool rev = blockIdx.y == 1;
    const ptrdiff_t sw = rev ? -(ptrdiff_t)W : (ptrdiff_t)W, sd = rev ? -(ptrdiff_t)DI : (ptrdiff_t)DI;
    const size_t first = rev ? (size_t)(nch - 1) : 0;
    float *p = (rev ? cy.lloc : cy.hend) + first * W + idx;
    const float *pd = cy.dsum + first * DI + idx / DS;
    const float A2 = -expf(hy_ld<T>(A_log + idx)) * SC_LOG2E;
    float H = 0.f;
    for (int b = 0; b < nch; b += NB, p += NB * sw, pd += NB * sd) {
        const int nb = min((int)NB, nch - b);
        float o[NB], ds[NB];
#pragma unroll
        for (int k = 0; k < NB; k++)
            if (k < nb) o[k] = p[k * sw], ds[k] = pd[k * sd];
#pragma unroll
        for (int k = 0; k < NB; k++)
            if (k < nb) {
                p[k * sw] = H;
                H = fmaf(ds[k] < 0.f ? 0.f : sc_ex2(A2 * ds[k]), H, o[k]);
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
#endif
