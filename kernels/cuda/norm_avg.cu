/* norm_avg.cu — the hybrid block's fusion, the average of two RMSNorms
 * (kernels/norm_avg.h; spec §7.1, §9.2), in one pass each way.
 *
 *   fwd:  ra, rb = rstd(a), rstd(b);  fu = ρ(0.5·ρ(wa⊙ρ(a·ra)) + 0.5·ρ(wb⊙ρ(b·rb)))
 *   bwd:  d = dfu/2;  da = ra·(d⊙wa − na·mean(d⊙wa⊙na)), db alike;
 *         dwa += Σ_rows d⊙na,  dwb += Σ_rows d⊙nb
 *
 * Why fused: unfused, the forward is two rmsnorm_fwd (each reads and writes a
 * row) and an axpby (reads two rows, writes one): 6 row passes; fused it reads
 * a and b and writes fu: 3.  The backward was an axpby (2 passes) and two
 * rmsnorm_bwd (3 passes each for dx, 2 more for dw): 10; fused it reads dfu,
 * a, b and writes da, db: 5.
 *
 * Kernels.  Vector path (rmsnorm_row.cuh: rows held in registers as 16-byte
 * vectors, D a multiple of 8 bf16 / 4 fp32, 16-byte aligned buffers): the
 * forward is one block per row and computes each statistic exactly as
 * rmsnorm_fwd's vector path does (same geometry, same sum order), so for
 * D > 256 fu is bitwise rmsnorm_fwd, rmsnorm_fwd, axpby(0.5, 0.5) — the
 * composition the decoder (core/decode.c) still runs.  The backward is one
 * wave of resident blocks, each walking a contiguous run of rows (dx per row,
 * both gains' dw in registers), one partial row per gain and block, summed in
 * a fixed order by hy_rn_reduce_dw.  Any other shape: scalar kernels, one
 * 256-thread block per row, dw from column partials over 64-row chunks.
 * Deterministic (no float atomics); bitwise reproducible on the same GPU. */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/cuda/rmsnorm_row.cuh"
#include "kernels/norm_avg.h"

enum { HY_NAVG_THREADS = 256, HY_NAVG_CHUNK = 64 };

/* ------------------------------------------------------------ vector path */

template <typename T, int VPT>
static __global__ void k_navg_fwd_vec(T *fu, float *rstd_a, float *rstd_b, const T *a, const T *b, const T *wa, const T *wb, int D,
                                      float eps) {
    typedef hy_rn<T> V;
    __shared__ float sh[32];
    const int nv = D / V::EPV;
    size_t row = blockIdx.x, off = row * (size_t)D;
    uint4 av[VPT], bv[VPT];
    hy_rn_load<VPT>(av, a + off, nv);
    hy_rn_load<VPT>(bv, b + off, nv);
    /* one hy_block_sum per statistic: the bits of rmsnorm_fwd's vector path */
    float ra = rsqrtf(hy_block_sum(hy_rn_sumsq<T, VPT>(av), sh) / (float)D + eps);
    float rb = rsqrtf(hy_block_sum(hy_rn_sumsq<T, VPT>(bv), sh) / (float)D + eps);
    if (threadIdx.x == 0) rstd_a[row] = ra, rstd_b[row] = rb;
    uint4 *orow = (uint4 *)(fu + off);
#pragma unroll
    for (int k = 0; k < VPT; k++) {
        int j = threadIdx.x + k * blockDim.x;
        if (j >= nv) continue;
        float fa[V::EPV], fb[V::EPV], ga[V::EPV], gb[V::EPV];
        V::unpack(av[k], fa), V::unpack(bv[k], fb);
        V::unpack(((const uint4 *)wa)[j], ga), V::unpack(((const uint4 *)wb)[j], gb);
#pragma unroll
        for (int e = 0; e < V::EPV; e++) {
            float na = hy_round<T>(ga[e] * hy_round<T>(fa[e] * ra)), nb = hy_round<T>(gb[e] * hy_round<T>(fb[e] * rb));
            fa[e] = 0.5f * na + 0.5f * nb;
        }
        orow[j] = V::pack(fa);
    }
}

/* This thread's gain vectors j (zero past NV). */
static __device__ __forceinline__ uint4 navg_ldw(const void *w, int j, int nv) {
    return j < nv ? ((const uint4 *)w)[j] : make_uint4(0u, 0u, 0u, 0u);
}

/* Block b takes rows [b·rpb, min(n, (b+1)·rpb)) in order; (part != NULL) its
 * dw sums are stored as partial rows b (gain a) and P + b (gain b), P = gridDim.x. */
template <typename T, int VPT>
static __global__ void k_navg_bwd_vec(T *da, T *db, float *part, const T *dfu, const T *a, const T *b, const T *wa, const T *wb,
                                      const float *rstd_a, const float *rstd_b, int n, int D, int rows_per_block) {
    typedef hy_rn<T> V;
    __shared__ float2 sh[32];
    const int nv = D / V::EPV;
    int r0 = blockIdx.x * rows_per_block, r1 = min(n, r0 + rows_per_block);
    float acc_a[VPT][V::EPV], acc_b[VPT][V::EPV];
#pragma unroll
    for (int k = 0; k < VPT; k++)
#pragma unroll
        for (int e = 0; e < V::EPV; e++) acc_a[k][e] = acc_b[k][e] = 0.f;
    for (int row = r0; row < r1; row++) {
        size_t off = (size_t)row * D;
        uint4 gv[VPT], av[VPT], bv[VPT];
        hy_rn_load<VPT>(gv, dfu + off, nv);
        hy_rn_load<VPT>(av, a + off, nv);
        hy_rn_load<VPT>(bv, b + off, nv);
        float ra = rstd_a[row], rb = rstd_b[row], dota = 0.f, dotb = 0.f;
#pragma unroll
        for (int k = 0; k < VPT; k++) {
            int j = threadIdx.x + k * blockDim.x;
            float g[V::EPV], fa[V::EPV], fb[V::EPV], wA[V::EPV], wB[V::EPV];
            V::unpack(gv[k], g), V::unpack(av[k], fa), V::unpack(bv[k], fb);
            V::unpack(navg_ldw(wa, j, nv), wA), V::unpack(navg_ldw(wb, j, nv), wB);
#pragma unroll
            for (int e = 0; e < V::EPV; e++) {
                float d = 0.5f * g[e], na = fa[e] * ra, nb = fb[e] * rb;
                dota += d * wA[e] * na;
                dotb += d * wB[e] * nb;
                acc_a[k][e] += d * na;
                acc_b[k][e] += d * nb;
            }
        }
        float2 m = hy_rn_block_sum2(dota, dotb, sh);
        float ma = m.x / (float)D, mb = m.y / (float)D;
        uint4 *dar = (uint4 *)(da + off), *dbr = (uint4 *)(db + off);
#pragma unroll
        for (int k = 0; k < VPT; k++) {
            int j = threadIdx.x + k * blockDim.x;
            if (j >= nv) continue;
            float g[V::EPV], fa[V::EPV], fb[V::EPV], wA[V::EPV], wB[V::EPV];
            V::unpack(gv[k], g), V::unpack(av[k], fa), V::unpack(bv[k], fb);
            V::unpack(navg_ldw(wa, j, nv), wA), V::unpack(navg_ldw(wb, j, nv), wB);
#pragma unroll
            for (int e = 0; e < V::EPV; e++) {
                float d = 0.5f * g[e];
                fa[e] = ra * (d * wA[e] - fa[e] * ra * ma);
                fb[e] = rb * (d * wB[e] - fb[e] * rb * mb);
            }
            dar[j] = V::pack(fa);
            dbr[j] = V::pack(fb);
        }
    }
    if (!part) return;
    hy_rn_store_partial<T, VPT>(part + (size_t)blockIdx.x * D, acc_a, nv);
    hy_rn_store_partial<T, VPT>(part + ((size_t)gridDim.x + blockIdx.x) * D, acc_b, nv);
}

/* ------------------------------------------- any shape: scalar block per row */

template <typename T>
static __global__ void k_navg_fwd_any(T *fu, float *rstd_a, float *rstd_b, const T *a, const T *b, const T *wa, const T *wb, int D,
                                      float eps) {
    __shared__ float sh[32];
    size_t row = blockIdx.x, off = row * (size_t)D;
    const T *ar = a + off, *br = b + off;
    float ssa = 0.f, ssb = 0.f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float va = hy_ld<T>(ar + i), vb = hy_ld<T>(br + i);
        ssa += va * va;
        ssb += vb * vb;
    }
    float ra = rsqrtf(hy_block_sum(ssa, sh) / (float)D + eps);
    float rb = rsqrtf(hy_block_sum(ssb, sh) / (float)D + eps);
    if (threadIdx.x == 0) rstd_a[row] = ra, rstd_b[row] = rb;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float na = hy_round<T>(hy_ld<T>(wa + i) * hy_round<T>(hy_ld<T>(ar + i) * ra));
        float nb = hy_round<T>(hy_ld<T>(wb + i) * hy_round<T>(hy_ld<T>(br + i) * rb));
        hy_st<T>(fu + off + i, 0.5f * na + 0.5f * nb);
    }
}

template <typename T>
static __global__ void k_navg_bwd_dx_any(T *da, T *db, const T *dfu, const T *a, const T *b, const T *wa, const T *wb,
                                         const float *rstd_a, const float *rstd_b, int D) {
    __shared__ float2 sh[32];
    size_t row = blockIdx.x, off = row * (size_t)D;
    const T *g = dfu + off, *ar = a + off, *br = b + off;
    float ra = rstd_a[row], rb = rstd_b[row], dota = 0.f, dotb = 0.f;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float d = 0.5f * hy_ld<T>(g + i);
        dota += d * hy_ld<T>(wa + i) * (hy_ld<T>(ar + i) * ra);
        dotb += d * hy_ld<T>(wb + i) * (hy_ld<T>(br + i) * rb);
    }
    float2 m = hy_rn_block_sum2(dota, dotb, sh);
    float ma = m.x / (float)D, mb = m.y / (float)D;
    for (int i = threadIdx.x; i < D; i += blockDim.x) {
        float d = 0.5f * hy_ld<T>(g + i);
        hy_st<T>(da + off + i, ra * (d * hy_ld<T>(wa + i) - hy_ld<T>(ar + i) * ra * ma));
        hy_st<T>(db + off + i, rb * (d * hy_ld<T>(wb + i) - hy_ld<T>(br + i) * rb * mb));
    }
}

/* partial[z][chunk][col] = Σ_{rows of chunk} (dfu/2)·(x·rstd), x = a (z = 0) or b (z = 1) */
template <typename T>
static __global__ void k_navg_bwd_dw_part(float *partial, const T *dfu, const T *a, const T *b, const float *rstd_a, const float *rstd_b,
                                          int n, int D) {
    int col = blockIdx.x * blockDim.x + threadIdx.x, chunk = blockIdx.y, z = blockIdx.z;
    if (col >= D) return;
    const T *x = z ? b : a;
    const float *rs = z ? rstd_b : rstd_a;
    int r0 = chunk * HY_NAVG_CHUNK, r1 = min(n, r0 + HY_NAVG_CHUNK);
    float acc = 0.f;
    for (int r = r0; r < r1; r++) {
        size_t i = (size_t)r * D + col;
        acc += 0.5f * hy_ld<T>(dfu + i) * (hy_ld<T>(x + i) * rs[r]);
    }
    partial[((size_t)z * gridDim.y + chunk) * D + col] = acc;
}

/* ------------------------------------------------------------ launchers */

template <typename T>
static hy_status navg_fwd(hy_cuda_ctx *c, T *fu, float *ra, float *rb, const T *a, const T *b, const T *wa, const T *wb, int n, int D,
                          float eps) {
    hy_rn_geom g = hy_rn_geometry<T>(D);
    int vec = g.vpt && hy_rn_aligned(fu, D, sizeof(T)) && hy_rn_aligned(a, D, sizeof(T)) && hy_rn_aligned(b, D, sizeof(T)) &&
              hy_rn_aligned(wa, 0, sizeof(T)) && hy_rn_aligned(wb, 0, sizeof(T));
    if (!vec) k_navg_fwd_any<T><<<n, HY_NAVG_THREADS, 0, c->stream>>>(fu, ra, rb, a, b, wa, wb, D, eps);
    else if (g.vpt == 1) k_navg_fwd_vec<T, 1><<<n, g.threads, 0, c->stream>>>(fu, ra, rb, a, b, wa, wb, D, eps);
    else if (g.vpt == 2) k_navg_fwd_vec<T, 2><<<n, g.threads, 0, c->stream>>>(fu, ra, rb, a, b, wa, wb, D, eps);
    else k_navg_fwd_vec<T, 4><<<n, g.threads, 0, c->stream>>>(fu, ra, rb, a, b, wa, wb, D, eps);
    HY_CUDA_LAUNCH_CHECK(c, "norm_avg_fwd");
    return HY_OK;
}

template <typename T, int VPT>
static hy_status navg_bwd_vec(hy_cuda_ctx *c, int threads, T *da, T *db, float *dwa, float *dwb, const T *dfu, const T *a, const T *b,
                              const T *wa, const T *wb, const float *ra, const float *rb, int n, int D) {
    int rpb, blocks;
    HY_TRY(hy_rn_rows_per_block(c, (const void *)k_navg_bwd_vec<T, VPT>, threads, n, &rpb, &blocks));
    float *part = NULL;
    if (dwa || dwb) HY_TRY(hy_cuda_scratch(c, 2 * (size_t)blocks * D * sizeof(float), (void **)&part));
    k_navg_bwd_vec<T, VPT><<<blocks, threads, 0, c->stream>>>(da, db, part, dfu, a, b, wa, wb, ra, rb, n, D, rpb);
    HY_CUDA_LAUNCH_CHECK(c, "norm_avg_bwd (vector rows)");
    return hy_rn_reduce_dw(c, dwa, dwb, part, blocks, D);
}

template <typename T>
static hy_status navg_bwd_any(hy_cuda_ctx *c, T *da, T *db, float *dwa, float *dwb, const T *dfu, const T *a, const T *b, const T *wa,
                              const T *wb, const float *ra, const float *rb, int n, int D) {
    k_navg_bwd_dx_any<T><<<n, HY_NAVG_THREADS, 0, c->stream>>>(da, db, dfu, a, b, wa, wb, ra, rb, D);
    HY_CUDA_LAUNCH_CHECK(c, "norm_avg_bwd dx");
    if (!dwa && !dwb) return HY_OK;
    int nchunks = HY_CEIL_DIV(n, HY_NAVG_CHUNK);
    float *part;
    HY_TRY(hy_cuda_scratch(c, 2 * (size_t)nchunks * D * sizeof(float), (void **)&part));
    dim3 grid(HY_CEIL_DIV(D, 128), nchunks, 2);
    k_navg_bwd_dw_part<T><<<grid, 128, 0, c->stream>>>(part, dfu, a, b, ra, rb, n, D);
    HY_CUDA_LAUNCH_CHECK(c, "norm_avg_bwd dw partials");
    return hy_rn_reduce_dw(c, dwa, dwb, part, nchunks, D);
}

template <typename T>
static hy_status navg_bwd(hy_cuda_ctx *c, T *da, T *db, float *dwa, float *dwb, const T *dfu, const T *a, const T *b, const T *wa,
                          const T *wb, const float *ra, const float *rb, int n, int D) {
    hy_rn_geom g = hy_rn_geometry<T>(D);
    int vec = g.vpt && hy_rn_aligned(da, D, sizeof(T)) && hy_rn_aligned(db, D, sizeof(T)) && hy_rn_aligned(dfu, D, sizeof(T)) &&
              hy_rn_aligned(a, D, sizeof(T)) && hy_rn_aligned(b, D, sizeof(T)) && hy_rn_aligned(wa, 0, sizeof(T)) &&
              hy_rn_aligned(wb, 0, sizeof(T));
    if (!vec) return navg_bwd_any<T>(c, da, db, dwa, dwb, dfu, a, b, wa, wb, ra, rb, n, D);
    if (g.vpt == 1) return navg_bwd_vec<T, 1>(c, g.threads, da, db, dwa, dwb, dfu, a, b, wa, wb, ra, rb, n, D);
    if (g.vpt == 2) return navg_bwd_vec<T, 2>(c, g.threads, da, db, dwa, dwb, dfu, a, b, wa, wb, ra, rb, n, D);
    return navg_bwd_vec<T, 4>(c, g.threads, da, db, dwa, dwb, dfu, a, b, wa, wb, ra, rb, n, D);
}

typedef __nv_bfloat16 bf16;

extern "C" hy_status hy_norm_avg_fwd_cuda(void *ctx, hy_act *fu /* [n,D] */, float *rstd_a /* [n] */, float *rstd_b /* [n] */,
                                          const hy_act *a /* [n,D] */, const hy_act *b /* [n,D] */, const hy_act *wa /* [D] */,
                                          const hy_act *wb /* [D] */, int n, int D, float eps) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (n <= 0 || D <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        return navg_fwd<bf16>(c, (bf16 *)fu, rstd_a, rstd_b, (const bf16 *)a, (const bf16 *)b, (const bf16 *)wa, (const bf16 *)wb, n, D,
                              eps);
    return navg_fwd<float>(c, (float *)fu, rstd_a, rstd_b, (const float *)a, (const float *)b, (const float *)wa, (const float *)wb, n,
                           D, eps);
}

extern "C" hy_status hy_norm_avg_bwd_cuda(void *ctx, hy_act *da /* [n,D] = */, hy_act *db /* [n,D] = */, float *dwa /* [D] += */,
                                          float *dwb /* [D] += */, const hy_act *dfu /* [n,D] */, const hy_act *a /* [n,D] */,
                                          const hy_act *b /* [n,D] */, const hy_act *wa /* [D] */, const hy_act *wb /* [D] */,
                                          const float *rstd_a /* [n] */, const float *rstd_b /* [n] */, int n, int D) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    HY_ASSERT(da && db);
    if (n <= 0 || D <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        return navg_bwd<bf16>(c, (bf16 *)da, (bf16 *)db, dwa, dwb, (const bf16 *)dfu, (const bf16 *)a, (const bf16 *)b, (const bf16 *)wa,
                              (const bf16 *)wb, rstd_a, rstd_b, n, D);
    return navg_bwd<float>(c, (float *)da, (float *)db, dwa, dwb, (const float *)dfu, (const float *)a, (const float *)b,
                           (const float *)wa, (const float *)wb, rstd_a, rstd_b, n, D);
}
