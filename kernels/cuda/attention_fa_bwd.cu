/* attention_fa_bwd.cu — fused flash-style backward of the bf16 attention path
 * (DQK = 64, DV = 128; contract: kernels/attention.h).  Δ = rowsum(dO∘O) is
 * computed by attention.cu before these kernels run.
 *
 * Deterministic: no atomics, every sum in a fixed order.
 *   k_fa_dkv: one CTA (4 warps, 16 keys each) per (key tile of 64, kv head g,
 *     document).  It loops over the query tiles that can see its keys (from
 *     the diagonal to the window's end, or the document's end for meta keys
 *     and global layers) and, inside, over the G query heads of the group;
 *     Q/dO/lse/Δ tiles are double-buffered with cp.async.  Per step, on
 *     tensor cores: Sᵀ = K·Qᵀ, Pᵀ = exp(Sᵀ − lse), dV += Pᵀ·dO,
 *     dPᵀ = V·dOᵀ, dSᵀ = Pᵀ∘(dPᵀ − Δ), dK += dSᵀ·Q; dK/dV stay in fp32
 *     registers and are added once (+=) to the bf16 dk/dv at the end.
 *   k_fa_dq: one CTA per (query head, query tile, document) over the visible
 *     key tiles (same walk as the forward): S, P, dP = dO·Vᵀ, dS, dQ += dS·K;
 *     dq = scale·dQ is written (overwrite) with row stride lddq (any parity).
 *   Windowed layers: the meta key tiles' query ranges are split in chunks
 *     (hy_fa_split_plan) whose fp32 partials k_fa_dkv_sum adds in order.
 * P and dS enter the second products as bf16 (re-packed C fragments), the
 * statistics and accumulators are fp32. */
#include "kernels/cuda/attention_fa.cuh"

static __device__ __forceinline__ float fa_exp2b(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}

static __global__ void __launch_bounds__(HY_FA_THREADS, 2)
    k_fa_dkv(hy_bf16 *dk, hy_bf16 *dv, const hy_bf16 *dout, const float *lse, const float *delta, const hy_bf16 *q, int ldq,
             const hy_bf16 *k, int ldk, const hy_bf16 *v, int ldv, const int32_t *cu, int N, int NH, int NKV, int G, int M, int W,
             float sl2, float scale, hy_fa_split sp, float *part) {
    extern __shared__ __align__(128) unsigned char fa_smem[];
    hy_bf16 *sK = (hy_bf16 *)fa_smem, *sV = sK + 64 * 64;
    /* two buffers of the (query tile, head) step: Q, dO, lse·log2e, Δ */
    hy_bf16 *sQ = sV + 64 * 128, *sO = sQ + 2 * 64 * 64;
    float *sL = (float *)(sO + 2 * 64 * 128), *sD = sL + 2 * 64;
    /* x < mt·nsplit: chunk `sc` of meta key tile kt (partials); else a key tile written directly */
    const int g = blockIdx.y, d = blockIdx.z, xs = sp.mt * sp.nsplit, split = (int)blockIdx.x < xs;
    const int kt = split ? (int)blockIdx.x / sp.nsplit : (int)blockIdx.x - xs + sp.mt, sc = split ? (int)blockIdx.x % sp.nsplit : 0;
    const int base = cu[d], len = cu[d + 1] - base, j0 = kt * HY_FA_TILE;
    if (j0 >= len) return;
    const int j1 = min(len, j0 + HY_FA_TILE) - 1;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    fa_load_tile<64>(sK, k + (size_t)base * ldk + g * 64, ldk, j0, len);
    fa_load_tile<128>(sV, v + (size_t)base * ldv + g * 128, ldv, j0, len);
    const int ilast = (W < 0 || j0 < M) ? len - 1 : min(len - 1, j1 + W);
    const int qa = kt + sc * sp.chunk, qb = split ? min(ilast / HY_FA_TILE, qa + sp.chunk - 1) : ilast / HY_FA_TILE;
    const int niter = qb >= qa ? (qb - qa + 1) * G : 0;
    const int ldo = NH * 128;
    auto issue = [&](int it) {
        const int i0 = (qa + it / G) * HY_FA_TILE, h = g * G + it % G, b = it & 1;
        fa_load_tile<64>(sQ + b * 64 * 64, q + (size_t)base * ldq + h * 64, ldq, i0, len);
        fa_load_tile<128>(sO + b * 64 * 128, dout + (size_t)base * ldo + h * 128, ldo, i0, len);
        if (threadIdx.x < HY_FA_TILE) {
            const int i = i0 + threadIdx.x;
            sL[b * 64 + threadIdx.x] = i < len ? lse[(size_t)h * N + base + i] * HY_FA_LOG2E : 0.f;
            sD[b * 64 + threadIdx.x] = i < len ? delta[(size_t)h * N + base + i] : 0.f;
        }
    };
    if (niter > 0) issue(0);
    fa_commit();

    float dka[8][4], dva[16][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) dka[nt][0] = dka[nt][1] = dka[nt][2] = dka[nt][3] = 0.f;
#pragma unroll
    for (int nt = 0; nt < 16; nt++) dva[nt][0] = dva[nt][1] = dva[nt][2] = dva[nt][3] = 0.f;
    const int jr = j0 + warp * 16 + (lane >> 2);
    for (int it = 0; it < niter; it++) {
        const int bi = it & 1;
        const hy_bf16 *cQ = sQ + bi * 64 * 64, *cO = sO + bi * 64 * 128;
        const float *cL = sL + bi * 64, *cD = sD + bi * 64;
        if (it + 1 < niter) issue(it + 1);
        fa_commit();
        fa_wait<1>();
        __syncthreads();
        const int i0 = (qa + it / G) * HY_FA_TILE;
        /* Sᵀ = K·Qᵀ: 16 keys × 64 queries per warp */
        float s[8][4], dp[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[nt][e] = dp[nt][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t a[4];
            fa_ldm4(a, fa_addr_a<64>(sK, warp * 16, kk));
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t bb[4];
                fa_ldm4(bb, fa_addr_b<64>(cQ, np * 16, kk));
                fa_mma(s[2 * np], a, bb[0], bb[1]);
                fa_mma(s[2 * np + 1], a, bb[2], bb[3]);
            }
        }
        const bool full = i0 + HY_FA_TILE <= len && fa_tile_full(i0, i0 + HY_FA_TILE - 1, j0, j0 + HY_FA_TILE - 1, M, W);
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int ci = nt * 8 + (lane & 3) * 2 + (e & 1), i = i0 + ci, j = jr + (e >> 1) * 8;
                const bool vis = full || (i < len && fa_visible(i, j, M, W));
                s[nt][e] = vis ? fa_exp2b(s[nt][e] * sl2 - cL[ci]) : 0.f;
            }
        /* dV += Pᵀ·dO (k = queries) */
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t a[4] = {fa_pack(s[2 * kk][0], s[2 * kk][1]), fa_pack(s[2 * kk][2], s[2 * kk][3]),
                             fa_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), fa_pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int np = 0; np < 8; np++) {
                uint32_t bb[4];
                fa_ldm4t(bb, fa_addr_a<128>(cO, kk * 16, np));
                fa_mma(dva[2 * np], a, bb[0], bb[1]);
                fa_mma(dva[2 * np + 1], a, bb[2], bb[3]);
            }
        }
        /* dPᵀ = V·dOᵀ (k = value columns) */
#pragma unroll
        for (int kk = 0; kk < 8; kk++) {
            uint32_t a[4];
            fa_ldm4(a, fa_addr_a<128>(sV, warp * 16, kk));
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t bb[4];
                fa_ldm4(bb, fa_addr_b<128>(cO, np * 16, kk));
                fa_mma(dp[2 * np], a, bb[0], bb[1]);
                fa_mma(dp[2 * np + 1], a, bb[2], bb[3]);
            }
        }
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[nt][e] *= dp[nt][e] - cD[nt * 8 + (lane & 3) * 2 + (e & 1)];
        /* dK += dSᵀ·Q (k = queries) */
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t a[4] = {fa_pack(s[2 * kk][0], s[2 * kk][1]), fa_pack(s[2 * kk][2], s[2 * kk][3]),
                             fa_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), fa_pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t bb[4];
                fa_ldm4t(bb, fa_addr_a<64>(cQ, kk * 16, np));
                fa_mma(dka[2 * np], a, bb[0], bb[1]);
                fa_mma(dka[2 * np + 1], a, bb[2], bb[3]);
            }
        }
        __syncthreads(); /* buffer b is refilled by the next step's issue */
    }
    fa_wait<0>(); /* no copy in flight at exit (niter = 0: K/V only) */
    if (split) {
        float *pp = part + ((((size_t)d * NKV + g) * sp.mt + kt) * sp.nsplit + sc) * HY_FA_TILE * 192;
#pragma unroll
        for (int rr = 0; rr < 2; rr++) {
            float *row = pp + (size_t)(jr - j0 + rr * 8) * 192 + (lane & 3) * 2;
#pragma unroll
            for (int nt = 0; nt < 8; nt++)
                *reinterpret_cast<float2 *>(row + nt * 8) = make_float2(scale * dka[nt][2 * rr], scale * dka[nt][2 * rr + 1]);
#pragma unroll
            for (int nt = 0; nt < 16; nt++)
                *reinterpret_cast<float2 *>(row + 64 + nt * 8) = make_float2(dva[nt][2 * rr], dva[nt][2 * rr + 1]);
        }
        return;
    }
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
        const int j = jr + rr * 8;
        if (j >= len) continue;
        __nv_bfloat162 *kp = reinterpret_cast<__nv_bfloat162 *>(dk + (size_t)(base + j) * NKV * 64 + g * 64 + (lane & 3) * 2);
        __nv_bfloat162 *vp = reinterpret_cast<__nv_bfloat162 *>(dv + (size_t)(base + j) * NKV * 128 + g * 128 + (lane & 3) * 2);
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            float2 o = __bfloat1622float2(kp[nt * 4]);
            kp[nt * 4] = __floats2bfloat162_rn(o.x + scale * dka[nt][2 * rr], o.y + scale * dka[nt][2 * rr + 1]);
        }
#pragma unroll
        for (int nt = 0; nt < 16; nt++) {
            float2 o = __bfloat1622float2(vp[nt * 4]);
            vp[nt * 4] = __floats2bfloat162_rn(o.x + dva[nt][2 * rr], o.y + dva[nt][2 * rr + 1]);
        }
    }
}

/* dk/dv rows of the split meta tiles += Σ_chunks partial, chunks in order.
 * One thread per (document, kv head, meta row, column pair of the 192). */
static __global__ void k_fa_dkv_sum(hy_bf16 *dk, hy_bf16 *dv, const float *part, const int32_t *cu, int n_docs, int NKV,
                                    hy_fa_split sp) {
    const size_t total = (size_t)n_docs * NKV * sp.mt * HY_FA_TILE * 96;
    for (size_t x = blockIdx.x * (size_t)blockDim.x + threadIdx.x; x < total; x += (size_t)gridDim.x * blockDim.x) {
        const int cp = (int)(x % 96), r = (int)(x / 96 % HY_FA_TILE);
        const size_t tile = x / 96 / HY_FA_TILE; /* (d·NKV + g)·mt + kt */
        const int kt = (int)(tile % sp.mt), g = (int)(tile / sp.mt % NKV), d = (int)(tile / sp.mt / NKV);
        const int base = cu[d], j = kt * HY_FA_TILE + r;
        if (j >= cu[d + 1] - base) continue;
        float2 acc = make_float2(0.f, 0.f);
        for (int c = 0; c < sp.nsplit; c++) {
            const float2 p = *reinterpret_cast<const float2 *>(part + ((tile * sp.nsplit + c) * HY_FA_TILE + r) * 192 + cp * 2);
            acc.x += p.x, acc.y += p.y;
        }
        __nv_bfloat162 *dst = cp < 32 ? reinterpret_cast<__nv_bfloat162 *>(dk + (size_t)(base + j) * NKV * 64 + g * 64 + cp * 2)
                                      : reinterpret_cast<__nv_bfloat162 *>(dv + (size_t)(base + j) * NKV * 128 + g * 128 + (cp - 32) * 2);
        const float2 o = __bfloat1622float2(*dst);
        *dst = __floats2bfloat162_rn(o.x + acc.x, o.y + acc.y);
    }
}

static __global__ void __launch_bounds__(HY_FA_THREADS, 2)
    k_fa_dq(hy_bf16 *dq, int lddq, const hy_bf16 *dout, const float *lse, const float *delta, const hy_bf16 *q, int ldq,
            const hy_bf16 *k, int ldk, const hy_bf16 *v, int ldv, const int32_t *cu, int N, int NH, int G, int M, int W, float sl2,
            float scale) {
    extern __shared__ __align__(128) unsigned char fa_smem[];
    hy_bf16 *sQ = (hy_bf16 *)fa_smem, *sO = sQ + 64 * 64, *sK = sO + 64 * 128, *sV = sK + 2 * 64 * 64;
    const int h = blockIdx.x, d = blockIdx.z, qt = gridDim.y - 1 - blockIdx.y;
    const int base = cu[d], len = cu[d + 1] - base, i0 = qt * HY_FA_TILE;
    if (i0 >= len) return;
    const int i1 = min(len, i0 + HY_FA_TILE) - 1, g = h / G;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const hy_bf16 *kg = k + (size_t)base * ldk + g * 64, *vg = v + (size_t)base * ldv + g * 128;
    const fa_krange kr(i0, i1, M, W);
    int t = kr.first();
    fa_load_tile<64>(sQ, q + (size_t)base * ldq + h * 64, ldq, i0, len);
    fa_load_tile<128>(sO, dout + (size_t)base * NH * 128 + h * 128, NH * 128, i0, len);
    fa_load_tile<64>(sK, kg, ldk, t * HY_FA_TILE, len);
    fa_load_tile<128>(sV, vg, ldv, t * HY_FA_TILE, len);
    fa_commit();
    const int r0 = i0 + warp * 16 + (lane >> 2);
    float L[2], D[2];
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
        const int i = r0 + rr * 8;
        L[rr] = i < len ? lse[(size_t)h * N + base + i] * HY_FA_LOG2E : 0.f;
        D[rr] = i < len ? delta[(size_t)h * N + base + i] : 0.f;
    }
    uint32_t qf[4][4], of[8][4];
    float dqa[8][4];
#pragma unroll
    for (int nt = 0; nt < 8; nt++) dqa[nt][0] = dqa[nt][1] = dqa[nt][2] = dqa[nt][3] = 0.f;
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
#pragma unroll
            for (int kk = 0; kk < 8; kk++) fa_ldm4(of[kk], fa_addr_a<128>(sO, warp * 16, kk));
            first = false;
        }
        const hy_bf16 *cK = sK + buf * 64 * 64, *cV = sV + buf * 64 * 128;
        float s[8][4], dp[8][4];
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) s[nt][e] = dp[nt][e] = 0.f;
#pragma unroll
        for (int kk = 0; kk < 4; kk++)
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t b[4];
                fa_ldm4(b, fa_addr_b<64>(cK, np * 16, kk));
                fa_mma(s[2 * np], qf[kk], b[0], b[1]);
                fa_mma(s[2 * np + 1], qf[kk], b[2], b[3]);
            }
#pragma unroll
        for (int kk = 0; kk < 8; kk++)
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t b[4];
                fa_ldm4(b, fa_addr_b<128>(cV, np * 16, kk));
                fa_mma(dp[2 * np], of[kk], b[0], b[1]);
                fa_mma(dp[2 * np + 1], of[kk], b[2], b[3]);
            }
        const int j0 = t * HY_FA_TILE;
        const bool full = fa_tile_full(i0, i1, j0, j0 + HY_FA_TILE - 1, M, W);
#pragma unroll
        for (int nt = 0; nt < 8; nt++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                const int rr = e >> 1, i = r0 + rr * 8, j = j0 + nt * 8 + (lane & 3) * 2 + (e & 1);
                const bool vis = full || (i < len && fa_visible(i, j, M, W));
                const float p = vis ? fa_exp2b(s[nt][e] * sl2 - L[rr]) : 0.f;
                s[nt][e] = p * (dp[nt][e] - D[rr]);
            }
        /* dQ += dS·K (k = keys) */
#pragma unroll
        for (int kk = 0; kk < 4; kk++) {
            uint32_t a[4] = {fa_pack(s[2 * kk][0], s[2 * kk][1]), fa_pack(s[2 * kk][2], s[2 * kk][3]),
                             fa_pack(s[2 * kk + 1][0], s[2 * kk + 1][1]), fa_pack(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
            for (int np = 0; np < 4; np++) {
                uint32_t b[4];
                fa_ldm4t(b, fa_addr_a<64>(cK, kk * 16, np));
                fa_mma(dqa[2 * np], a, b[0], b[1]);
                fa_mma(dqa[2 * np + 1], a, b[2], b[3]);
            }
        }
        __syncthreads();
        t = tn;
    }
#pragma unroll
    for (int rr = 0; rr < 2; rr++) {
        const int i = r0 + rr * 8;
        if (i >= len) continue;
        hy_bf16 *row = dq + (size_t)(base + i) * lddq + h * 64 + (lane & 3) * 2;
#pragma unroll
        for (int nt = 0; nt < 8; nt++) {
            row[nt * 8] = __float2bfloat16_rn(scale * dqa[nt][2 * rr]);
            row[nt * 8 + 1] = __float2bfloat16_rn(scale * dqa[nt][2 * rr + 1]);
        }
    }
}

hy_status hy_fa_bwd(hy_cuda_ctx *c, hy_bf16 *dq /* [N, NH·64] lddq */, int lddq, hy_bf16 *dk /* [N, NKV·64] += */,
                    hy_bf16 *dv /* [N, NKV·128] += */, const hy_bf16 *dout /* [N, NH·128] */, const float *delta /* [NH, N] */,
                    const float *lse /* [NH, N] */, const hy_bf16 *q, int ldq, const hy_bf16 *k, int ldk, const hy_bf16 *v, int ldv,
                    const hy_seqs *s, int NH, int NKV, int M, int W, float scale, float *part) {
    const int tiles = HY_CEIL_DIV(s->max_len, HY_FA_TILE), G = NH / NKV;
    const float sl2 = scale * HY_FA_LOG2E;
    if (dk && dv) {
        const size_t smem = sizeof(hy_bf16) * (64 * 64 + 64 * 128 + 2 * 64 * 64 + 2 * 64 * 128) + sizeof(float) * 4 * 64;
        HY_CUDA_CHECK(c, cudaFuncSetAttribute((const void *)k_fa_dkv, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        const hy_fa_split sp = hy_fa_split_plan(s, M, W);
        const int nx = tiles - sp.mt + sp.mt * sp.nsplit;
        k_fa_dkv<<<dim3(nx, NKV, s->n_docs), HY_FA_THREADS, smem, c->stream>>>(dk, dv, dout, lse, delta, q, ldq, k, ldk, v, ldv, s->cu,
                                                                               s->n, NH, NKV, G, M, W, sl2, scale, sp, part);
        HY_CUDA_LAUNCH_CHECK(c, "attention_bwd dk/dv (fused)");
        if (sp.mt) {
            const size_t n = (size_t)s->n_docs * NKV * sp.mt * HY_FA_TILE * 96;
            k_fa_dkv_sum<<<hy_cuda_blocks(n, 256), 256, 0, c->stream>>>(dk, dv, part, s->cu, s->n_docs, NKV, sp);
            HY_CUDA_LAUNCH_CHECK(c, "attention_bwd dk/dv meta sum (fused)");
        }
    }
    if (dq) {
        const size_t smem = sizeof(hy_bf16) * (64 * 64 + 64 * 128 + 2 * 64 * 64 + 2 * 64 * 128);
        HY_CUDA_CHECK(c, cudaFuncSetAttribute((const void *)k_fa_dq, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
        k_fa_dq<<<dim3(NH, tiles, s->n_docs), HY_FA_THREADS, smem, c->stream>>>(dq, lddq, dout, lse, delta, q, ldq, k, ldk, v, ldv, s->cu,
                                                                                s->n, NH, G, M, W, sl2, scale);
        HY_CUDA_LAUNCH_CHECK(c, "attention_bwd dq (fused)");
    }
    return HY_OK;
}
