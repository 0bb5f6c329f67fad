/* selective_scan.cu — Mamba-1 selective scan with Δ bias, softplus, D skip and
 * z gate (spec §6.3–6.4 forward, §9.7 backward); the state resets at every
 * document start.
 *
 * Chunked over rows (scan_chunk.cuh has the layout and the three passes):
 *   forward:  k_sc_local (chunk end states from zero, Σδ) → k_sc_carry (state
 *             before each chunk, sequential over chunks per (channel, state))
 *             → k_sc_fwd_final (rerun each chunk from its true start, gate).
 *   backward: k_sc_local<BWD> (adds the zero-carry adjoint sums) → k_sc_carry
 *             (states and adjoints, the two directions in parallel) →
 *             k_sc_bwd_final (scan_bwd.cuh: 4 lanes per channel, cached
 *             sub-chunk states and decays) → k_scan_bc_reduce (dB/dC: channel
 *             blocks added in order) → hy_cuda_sum_partials for ddt_bias,
 *             dA_log, dD (chunks in order).  No float atomics: bitwise
 *             reproducible.
 * Parallelism: (DI / channels per CTA) × (N / SC_L) CTAs, fp32 states in
 * registers, B/C rows staged once per CTA in shared memory.
 * Scratch (backward, DS = 16): carries 2·N·DI·DS/SC_L fp32 (= N·DI·2 bytes),
 * dB/dC partials N·2·DS·4·DI/32 bytes, parameter partials N·DI·DS·4/SC_L
 * bytes: about 2 fp32 [N, DI] in all.
 * The pre-gating output y used by dz is recomputed in fp32 (the official
 * kernel keeps a bf16 copy; the difference is one rounding). */
#include <stdlib.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/scan_bwd.cuh"
#include "kernels/cuda/scan_chunk.cuh"
#include "kernels/cuda/scan_fwd.cuh"
#include "kernels/selective_scan.h"

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

/* Carve the carry arrays (and, when bwd_out, the backward partials) from scratch. */
static hy_status scan_scratch(hy_cuda_ctx *c, int N, int DI, int DS, int groups, sc_carry *cy, sc_bwd_out *bo) {
    const size_t nch = (size_t)HY_CEIL_DIV(N, SC_L), w = (size_t)DI * DS;
    size_t b_h = hy_cuda_align(nch * w * 4), b_ds = hy_cuda_align(nch * DI * 4), total = b_h + b_ds;
    size_t b_pbc = 0, b_p1 = 0;
    if (bo) {
        b_pbc = hy_cuda_align((size_t)groups * N * 2 * DS * 4), b_p1 = hy_cuda_align(nch * DI * 4);
        total += b_h /* lloc */ + b_pbc + b_h /* pA */ + 2 * b_p1;
    }
    void *scr;
    HY_TRY(hy_cuda_scratch(c, total, &scr));
    char *p = (char *)scr;
    cy->hend = (float *)p, p += b_h;
    cy->dsum = (float *)p, p += b_ds;
    cy->lloc = NULL;
    if (bo) {
        cy->lloc = (float *)p, p += b_h;
        bo->pbc = (float *)p, p += b_pbc;
        bo->pA = (float *)p, p += b_h;
        bo->pdt = (float *)p, p += b_p1;
        bo->pD = (float *)p;
    }
    return HY_OK;
}

/* Raise a kernel's dynamic shared-memory limit to bytes (above the 48 KB default). */
template <typename F> static hy_status scan_smem(hy_cuda_ctx *c, F *kernel, size_t bytes) {
    HY_CUDA_CHECK(c, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return HY_OK;
}

/* The chunk-local pass (BWD: with the adjoint sums) and the carry pass. */
template <typename T, int S, bool BWD>
static hy_status scan_local_carry(hy_cuda_ctx *c, const sc_carry &cy, const T *u, const T *delta, const T *dt_bias,
                                  const T *A_log, const T *Bm, const T *Cm, int ldbc, const T *z, int ldz, const T *dy,
                                  const hy_seqs *s, int DI, int DS) {
    const int N = s->n, nch = HY_CEIL_DIV(N, SC_L);
    const size_t smem = sc_fwd_smem<S>(BWD ? 4 : 2);
    HY_TRY(scan_smem(c, k_sc_local<T, S, BWD>, smem));
    k_sc_local<T, S, BWD><<<dim3(HY_CEIL_DIV(DI, (int)sb<S>::CPB), nch), SC_THREADS, smem, c->stream>>>(
        cy, u, delta, dt_bias, A_log, Bm, Cm, ldbc, z, ldz, dy, s->pos, N, DI, DS);
    HY_CUDA_LAUNCH_CHECK(c, BWD ? "scan_bwd local" : "scan_fwd local");
    k_sc_carry<T><<<dim3(hy_cuda_blocks((size_t)DI * DS, 128), BWD ? 2 : 1), 128, 0, c->stream>>>(cy, A_log, nch, DI, DS);
    HY_CUDA_LAUNCH_CHECK(c, BWD ? "scan_bwd carry" : "scan_fwd carry");
    return HY_OK;
}

template <typename T, int S>
static hy_status scan_fwd_s(hy_cuda_ctx *c, T *y, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm,
                            const T *Cm, int ldbc, const T *D, const T *z, int ldz, const hy_seqs *s, int DI, int DS) {
    const int N = s->n, nch = HY_CEIL_DIV(N, SC_L);
    sc_carry cy;
    HY_TRY(scan_scratch(c, N, DI, DS, 0, &cy, NULL));
    HY_TRY((scan_local_carry<T, S, false>(c, cy, u, delta, dt_bias, A_log, Bm, Cm, ldbc, z, ldz, NULL, s, DI, DS)));
    const size_t smem = sc_fwd_smem<S>(4);
    HY_TRY(scan_smem(c, k_sc_fwd_final<T, S>, smem));
    k_sc_fwd_final<T, S><<<dim3(HY_CEIL_DIV(DI, (int)sb<S>::CPB), nch), SC_THREADS, smem, c->stream>>>(
        y, cy, u, delta, dt_bias, A_log, Bm, Cm, ldbc, D, z, ldz, s->pos, N, DI, DS);
    HY_CUDA_LAUNCH_CHECK(c, "scan_fwd final");
    return HY_OK;
}

template <typename T, int S>
static hy_status scan_bwd_s(hy_cuda_ctx *c, T *du, T *ddelta, T *dBm, T *dCm, int lddbc, T *dz, int lddz, float *ddt_bias,
                            float *dA_log, float *dD, const T *dy, const T *u, const T *delta, const T *dt_bias,
                            const T *A_log, const T *Bm, const T *Cm, int ldbc, const T *D, const T *z, int ldz,
                            const hy_seqs *s, int DI, int DS) {
    const int N = s->n, nch = HY_CEIL_DIV(N, SC_L), groups = HY_CEIL_DIV(DI, (int)sb<S>::CPB);
    sc_carry cy;
    sc_bwd_out bo;
    HY_TRY(scan_scratch(c, N, DI, DS, groups, &cy, &bo));
    HY_TRY((scan_local_carry<T, S, true>(c, cy, u, delta, dt_bias, A_log, Bm, Cm, ldbc, z, ldz, dy, s, DI, DS)));
    const size_t smem = sizeof(float) * (size_t)sbf<S>::FLOATS;
    HY_TRY(scan_smem(c, k_sc_bwd_final<T, S>, smem));
    k_sc_bwd_final<T, S><<<dim3(groups, nch), SC_THREADS, smem, c->stream>>>(bo, cy, du, ddelta, dz, lddz, dy, u, delta, dt_bias,
                                                                            A_log, Bm, Cm, ldbc, D, z, ldz, s->pos, N, DI, DS);
    HY_CUDA_LAUNCH_CHECK(c, "scan_bwd final");
    k_scan_bc_reduce<T><<<hy_cuda_blocks((size_t)N * 2 * DS, 256), 256, 0, c->stream>>>(dBm, dCm, lddbc, bo.pbc, groups, N,
                                                                                        DS);
    HY_CUDA_LAUNCH_CHECK(c, "scan_bwd dB/dC reduce");
    if (ddt_bias) HY_TRY(hy_cuda_sum_partials(c, ddt_bias, bo.pdt, nch, (size_t)DI));
    if (dD) HY_TRY(hy_cuda_sum_partials(c, dD, bo.pD, nch, (size_t)DI));
    if (dA_log) HY_TRY(hy_cuda_sum_partials(c, dA_log, bo.pA, nch, (size_t)DI * DS));
    return HY_OK;
}

/* States per lane: 4 up to DS = 16, 8 up to DS = 32. */
template <typename T>
static hy_status scan_fwd(hy_cuda_ctx *c, T *y, const T *u, const T *delta, const T *dt_bias, const T *A_log, const T *Bm,
                          const T *Cm, int ldbc, const T *D, const T *z, int ldz, const hy_seqs *s, int DI, int DS) {
    if (DS <= 16) return scan_fwd_s<T, 4>(c, y, u, delta, dt_bias, A_log, Bm, Cm, ldbc, D, z, ldz, s, DI, DS);
    return scan_fwd_s<T, 8>(c, y, u, delta, dt_bias, A_log, Bm, Cm, ldbc, D, z, ldz, s, DI, DS);
}

template <typename T>
static hy_status scan_bwd(hy_cuda_ctx *c, T *du, T *ddelta, T *dBm, T *dCm, int lddbc, T *dz, int lddz, float *ddt_bias,
                          float *dA_log, float *dD, const T *dy, const T *u, const T *delta, const T *dt_bias,
                          const T *A_log, const T *Bm, const T *Cm, int ldbc, const T *D, const T *z, int ldz,
                          const hy_seqs *s, int DI, int DS) {
    if (DS <= 16)
        return scan_bwd_s<T, 4>(c, du, ddelta, dBm, dCm, lddbc, dz, lddz, ddt_bias, dA_log, dD, dy, u, delta, dt_bias, A_log,
                                Bm, Cm, ldbc, D, z, ldz, s, DI, DS);
    return scan_bwd_s<T, 8>(c, du, ddelta, dBm, dCm, lddbc, dz, lddz, ddt_bias, dA_log, dD, dy, u, delta, dt_bias, A_log, Bm,
                            Cm, ldbc, D, z, ldz, s, DI, DS);
}

static hy_status scan_check(int DS, int N) {
    if (DS < 1 || DS > 32) return hy_errorf(HY_ERR_UNSUPPORTED, "selective scan: state size DS = %d; the CUDA op supports 1..32", DS);
    if (HY_CEIL_DIV(N, SC_L) > 65535)
        return hy_errorf(HY_ERR_UNSUPPORTED, "selective scan: %d rows in one micro-batch; the CUDA op supports up to %d (hint: "
                         "fewer tokens per micro-batch)", N, 65535 * SC_L);
    return HY_OK;
}

extern "C" hy_status hy_scan_fwd_cuda(void *ctx, hy_act *y /* [N,DI] */, const hy_act *u /* [N,DI] */,
                                                const hy_act *delta /* [N,DI] */, const hy_act *dt_bias /* [DI] */,
                                                const hy_act *A_log /* [DI,DS] */, const hy_act *Bm /* [N,DS] ldbc */,
                                                const hy_act *Cm /* [N,DS] ldbc */, int ldbc, const hy_act *D /* [DI] */,
                                                const hy_act *z /* [N,DI] ldz */, int ldz, const hy_seqs *s, int DI, int DS) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (s->n <= 0 || DI <= 0 || s->n_docs <= 0) return HY_OK;
    HY_TRY(scan_check(DS, s->n));
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
    HY_TRY(scan_check(DS, s->n));
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
