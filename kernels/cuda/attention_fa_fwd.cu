/* attention_fa_fwd.cu — fused flash-style forward of the bf16 attention path
 * (DQK = 64, DV = 128; spec §4.3–4.4, §9.4; contract: kernels/attention.h).
 *
 * One CTA of 4 warps per (query head, 64-row query tile, document); warp w
 * owns query rows 16w..16w+15 of the tile.  The CTA walks only the key tiles
 * that intersect the mask — the meta tiles [0, ⌈M/64⌉) and the window band
 * from the tile holding i0 − W up to the diagonal — double-buffering K/V
 * tiles with cp.async.  Per key tile: S = Q·Kᵀ on tensor cores (Q fragments
 * stay in registers), element mask only on boundary tiles, online softmax in
 * fp32 registers (base 2, scale·log2e folded in), P re-packed to bf16 as the
 * A operand of O += P·V.  lse[h, row] = ln2·(m + log2 l) in fp32.
 *
 * Query tiles are launched last-first (blockIdx.y reversed): the tiles with
 * the most keys start earliest.  Documents are the grid's z dimension; tiles
 * past a document's end exit at once. */
#include "kernels/cuda/attention_fa.cuh"

static __device__ __forceinline__ float fa_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

/* Online-softmax update of one warp's 16×64 score tile s (already scaled to
 * base 2 and masked to −inf) against running max m and sum l (2 rows per
 * thread), rescaling the output accumulators o.  s becomes P. */
static __device__ __forceinline__ void fa_softmax_step(float s[8][4], float m[2], float l[2], float o[16][4]) {
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
        float mx = -INFINITY;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) mx = fmaxf(mx, fmaxf(s[nt][2 * rr], s[nt][2 * rr + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        const float mn = fmaxf(m[rr], mx), mu = mn == -INFINITY ? 0.f : mn;
        const float corr = fa_exp2(m[rr] - mu);
        m[rr] = mn;
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            s[nt][2 * rr] = fa_exp2(s[nt][2 * rr] - mu);
            s[nt][2 * rr + 1] = fa_exp2(s[nt][2 * rr + 1] - mu);
            sum += s[nt][2 * rr] + s[nt][2 * rr + 1];
        }
        l[rr] = l[rr] * corr + sum;
#pragma unroll
        for (int nt = 0; nt < 16; nt++) o[nt][2 * rr] *= corr, o[nt][2 * rr + 1] *= corr;
    }
}

static __global__ void __launch_bounds__(HY_FA_THREADS, 2)
    k_fa_fwd(hy_bf16 *out, float *lse, const hy_bf16 *q, int ldq, const hy_bf16 *k, int ldk, const hy_bf16 *v, int ldv,
             const int32_t *cu, int N, int NH, int G, int M, int W, float sl2) {
    extern __shared__ __align__(128) unsigned char fa_smem[];
    hy_bf16 *sQ = (hy_bf16 *)fa_smem, *sK = sQ + 64 * 64, *sV = sK + 2 * 64 * 64;
    const int h = blockIdx.x, d = blockIdx.z, qt = gridDim.y - 1 - blockIdx.y;
    const int base = cu[d], len = cu[d + 1] - base, i0 = qt * HY_FA_TILE;
    if (i0 >= len) return;
    const int i1 = min(len, i0 + HY_FA_TILE) - 1, g = h / G;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const hy_bf16 *qg = q + (size_t)base * ldq + h * 64, *kg = k + (size_t)base * ldk + g * 64;
    const hy_bf16 *vg = v + (size_t)base * ldv + g * 128;
    const fa_krange kr(i0, i1, M, W);
    int t = kr.first();
    fa_load_tile<64>(sQ, qg, ldq, i0, len);
    fa_load_tile<64>(sK, kg, ldk, t * HY_FA_TILE, len);
    fa_load_tile<128>(sV, vg, ldv, t * HY_FA_TILE, len);
    fa_commit();

    uint32_t qf[4][4];
    float o[16][4], m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
#pragma unroll
    for (int nt = 0; nt < 16; nt++) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.f;
    const int r0 = i0 + warp * 16 + (lane >> 2);
    bool first = true;
    for (int buf = 0; t <= kr.hi; buf ^= 1) {
        const int tn = kr.next(t);
        if (tn <= kr.hi) {
            fa_load_tile<64>(sK + (buf ^ 1) * 64 * 64, kg, ldk, tn * HY_FA_TILE, len);
            fa_load_tile<128>(sV + (buf ^ 1) * 64 * 128, vg, ldv, tn * HY_FA_TILE, len);
        }
        fa_commit();
        fa_wait<1>();
        __syncthreads();
        if (first) {
#pragma unroll
            for (int kk = 0; kk < 4; kk++) fa_ldm4(qf[kk], fa_addr_a<64>(sQ, warp * 16, kk));
            first = false;
        }
        const hy_bf16 *cK = sK + buf * 64 * 64, *cV = sV + buf * 64 * 128;
        float s[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++) s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
#pragma unroll
        for (int kk = 0; kk < 4; kk++)
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t b[4];
                fa_ldm4(b, fa_addr_b<64>(cK, np * 16, kk));
                fa_mma(s[2 * np], qf[kk], b[0], b[1]);
                fa_mma(s[2 * np + 1], qf[kk], b[2], b[3]);
            }
        const int j0 = t * HY_FA_TILE;
        const bool full = fa_tile_full(i0, i1, j0, j0 + HY_FA_TILE - 1, M, W);
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int i = r0 + (e >> 1) * 8, j = j0 + nt * 8 + (lane & 3) * 2 + (e & 1);
                s[nt][e] = (full || fa_visible(i, j, M, W)) ? s[nt][e] * sl2 : -INFINITY;
            }
        fa_softmax_step(s, m, l, o);
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t a[4] = {fa_pack(s[2 * kk][0], s[2 * kk][1]), fa_pack(s[2 * kk][2], s[2 * kk][3]),
                             fa_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), fa_pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int np = 0; np < 8; np++) {
                uint32_t b[4];
                fa_ldm4t(b, fa_addr_a<128>(cV, kk * 16, np));
                fa_mma(o[2 * np], a, b[0], b[1]);
                fa_mma(o[2 * np + 1], a, b[2], b[3]);
            }
        }
        __syncthreads(); /* this buffer is refilled two tiles from now */
        t = tn;
    }
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
        l[rr] += __shfl_xor_sync(0xffffffffu, l[rr], 1);
        l[rr] += __shfl_xor_sync(0xffffffffu, l[rr], 2);
        const int i = r0 + rr * 8;
        if (i >= len) continue;
        const float inv = 1.f / l[rr];
        hy_bf16 *orow = out + (size_t)(base + i) * NH * 128 + h * 128 + (lane & 3) * 2;
#pragma unroll
        for (int nt = 0; nt < 16; nt++)
            *reinterpret_cast<__nv_bfloat162 *>(orow + nt * 8) =
                __floats2bfloat162_rn(o[nt][2 * rr] * inv, o[nt][2 * rr + 1] * inv);
        if ((lane & 3) == 0) lse[(size_t)h * N + base + i] = (m[rr] + log2f(l[rr])) * HY_FA_LN2;
    }
}

hy_status hy_fa_fwd(hy_cuda_ctx *c, hy_bf16 *out /* [N, NH·128] */, float *lse /* [NH, N] */, const hy_bf16 *q /* ldq */, int ldq,
                    const hy_bf16 *k /* ldk */, int ldk, const hy_bf16 *v /* ldv */, int ldv, const hy_seqs *s, int NH, int NKV, int M,
                    int W, float scale) {
    const size_t smem = sizeof(hy_bf16) * (64 * 64 + 2 * 64 * 64 + 2 * 64 * 128);
    HY_CUDA_CHECK(c, cudaFuncSetAttribute((const void *)k_fa_fwd, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    dim3 grid(NH, HY_CEIL_DIV(s->max_len, HY_FA_TILE), s->n_docs);
    k_fa_fwd<<<grid, HY_FA_THREADS, smem, c->stream>>>(out, lse, q, ldq, k, ldk, v, ldv, s->cu, s->n, NH, NH / NKV, M, W,
                                                       scale * HY_FA_LOG2E);
    HY_CUDA_LAUNCH_CHECK(c, "attention_fwd (fused)");
    return HY_OK;
}
