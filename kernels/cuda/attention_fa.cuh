/* attention_fa.cuh — private to kernels/cuda/attention*.cu: the fused
 * flash-style bf16 attention path (tensor cores, mma.sync m16n8k16 bf16→fp32)
 * for Hymba's head dims DQK = 64, DV = 128.
 *
 * Shared pieces: the PTX wrappers (mma, ldmatrix, cp.async), the swizzled
 * shared-memory tile layout, the mask tests on 64×64 tiles, and the host
 * entry points that attention.cu dispatches to.
 *
 * Tile layout in shared memory: a tile of 64 rows × C bf16 columns (C = 64 or
 * 128), row-major, with the 16-byte chunk c of row r stored at chunk
 * c ^ (r & 7).  ldmatrix then reads 8 rows of one logical chunk from 8
 * different bank groups (no conflicts), and cp.async writes whole chunks.
 *
 * Fragment conventions (PTX ISA, mma.m16n8k16 .bf16): A 16×16 row-major in 4
 * registers (rows lane/4 and +8, columns 2·(lane%4) and +8); B 16×8 in 2
 * registers (k rows 2·(lane%4) and +8, column lane/4); C 16×8 fp32 in 4
 * registers (rows lane/4 and +8, columns 2·(lane%4), +1).  A C fragment pair
 * (two n8 tiles) re-packed to bf16 is exactly an A fragment of k16: that is
 * how P and dS feed the second product without a trip through shared memory.
 *
 * Invariants: every product accumulates in fp32 in a fixed order (no atomics:
 * run-to-run bitwise deterministic); rows past a document's end are loaded as
 * zeros and masked; softmax statistics are fp32 (base-2 inside, lse natural
 * log outside, as the contract says). */
#ifndef HY_CUDA_ATTENTION_FA_CUH
#define HY_CUDA_ATTENTION_FA_CUH
#include "kernels/cuda/common.cuh"

enum {
    HY_FA_DQK = 64,  /* the only head dims of the fused path */
    HY_FA_DV = 128,
    HY_FA_TILE = 64, /* query and key tile rows */
    HY_FA_THREADS = 128 /* 4 warps × 16 rows */
};

#define HY_FA_LOG2E 1.4426950408889634f
#define HY_FA_LN2 0.6931471805599453f

typedef __nv_bfloat16 hy_bf16;

static __device__ __forceinline__ uint32_t fa_smem_u32(const void *p) {
    return (uint32_t)__cvta_generic_to_shared(p);
}

/* C += A·B, m16n8k16, bf16 inputs, fp32 accumulators. */
static __device__ __forceinline__ void fa_mma(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

static __device__ __forceinline__ void fa_ldm4(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}
static __device__ __forceinline__ void fa_ldm4t(uint32_t r[4], uint32_t addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(addr));
}

/* 16-byte async copy; zero-fills the destination when !valid. */
static __device__ __forceinline__ void fa_cp16(uint32_t dst, const void *src, bool valid) {
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n));
}
static __device__ __forceinline__ void fa_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> static __device__ __forceinline__ void fa_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

static __device__ __forceinline__ uint32_t fa_pack(float lo, float hi) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}

/* Element offset of (row r, 16-byte chunk c) in a swizzled tile of C columns. */
template <int C> static __device__ __forceinline__ int fa_off(int r, int c) { return r * C + ((c ^ (r & 7)) << 3); }

/* Async load of 64 rows [r0, r0+64) × C columns of g (row stride ld, already
 * offset to the document's first row and the head's first column) into the
 * swizzled tile sm; rows ≥ len become zeros. */
template <int C>
static __device__ __forceinline__ void fa_load_tile(hy_bf16 *sm, const hy_bf16 *g, int ld, int r0, int len) {
    constexpr int CH = C / 8;
    for (int idx = threadIdx.x; idx < HY_FA_TILE * CH; idx += HY_FA_THREADS) {
        int r = idx / CH, c = idx % CH;
        bool ok = r0 + r < len;
        const hy_bf16 *src = ok ? g + (size_t)(r0 + r) * ld + c * 8 : g;
        fa_cp16(fa_smem_u32(sm + fa_off<C>(r, c)), src, ok);
    }
}

/* ldmatrix addresses.  "A/Bt": 16 rows from rb, 16 columns of k-chunk kk, for
 * an A operand (tile [m][k]) or a transposed B operand (tile [k][n], n = the
 * 16 columns kk·16..).  "B": 16 rows (two n8 tiles) from rb of a tile [n][k],
 * k-chunk kk: registers 0,1 = n-tile rb/8, 2,3 = n-tile rb/8 + 1. */
template <int C> static __device__ __forceinline__ uint32_t fa_addr_a(const hy_bf16 *sm, int rb, int kk) {
    int l = threadIdx.x & 31, m = l >> 3, r = rb + (l & 7) + (m & 1) * 8;
    return fa_smem_u32(sm + fa_off<C>(r, kk * 2 + (m >> 1)));
}
template <int C> static __device__ __forceinline__ uint32_t fa_addr_b(const hy_bf16 *sm, int rb, int kk) {
    int l = threadIdx.x & 31, m = l >> 3, r = rb + (l & 7) + (m >> 1) * 8;
    return fa_smem_u32(sm + fa_off<C>(r, kk * 2 + (m & 1)));
}

/* Mask (document-relative rows): key j visible from query i. */
static __device__ __forceinline__ bool fa_visible(int i, int j, int M, int W) {
    return j <= i && (W < 0 || i - j <= W || j < M);
}
/* Every (i, j) with i in [i0, i1], j in [j0, j1] visible (no element mask needed)? */
static __device__ __forceinline__ bool fa_tile_full(int i0, int i1, int j0, int j1, int M, int W) {
    return j1 <= i0 && (W < 0 || i1 - j0 <= W || j1 < M);
}

/* Key tiles a query tile [i0, i1] can see: [0, mt) (meta) ∪ [wlo, hi] (band). */
struct fa_krange {
    int mt, wlo, hi;
    __device__ __forceinline__ fa_krange(int i0, int i1, int M, int W) {
        mt = (M + HY_FA_TILE - 1) / HY_FA_TILE;
        wlo = (W < 0 || i0 - W <= 0) ? 0 : (i0 - W) / HY_FA_TILE;
        hi = i1 / HY_FA_TILE;
    }
    __device__ __forceinline__ int first() const { return mt > 0 ? 0 : wlo; }
    __device__ __forceinline__ int next(int t) const { return (t + 1 >= mt && t + 1 < wlo) ? wlo : t + 1; }
};

/* Load balance of the dK/dV kernel on windowed layers: a key tile holding
 * meta tokens is seen by every later query of its document (⌈T/64⌉ query
 * tiles × G heads) while a band tile is seen by ≈ W/64 + 1 of them, so the
 * few meta CTAs would finish long after the rest.  Their query range is cut
 * into `nsplit` chunks of `chunk` query tiles, one CTA each, writing fp32
 * partial dK/dV [64 × (64 + 128)] to scratch; a second kernel sums the chunks
 * in order and adds them to dk/dv (deterministic).  mt = 0: no split. */
typedef struct {
    int mt, nsplit, chunk;
} hy_fa_split;

static inline hy_fa_split hy_fa_split_plan(const hy_seqs *s, int M, int W) {
    hy_fa_split p = {0, 1, 0};
    const int tiles = (s->max_len + HY_FA_TILE - 1) / HY_FA_TILE, mt = (M + HY_FA_TILE - 1) / HY_FA_TILE;
    const int chunk = W < 0 ? 0 : (W + HY_FA_TILE - 1) / HY_FA_TILE + 2;
    if (W < 0 || mt == 0 || tiles <= 2 * chunk) return p;
    p.mt = mt < tiles ? mt : tiles;
    p.chunk = chunk;
    p.nsplit = (tiles + chunk - 1) / chunk;
    return p;
}
/* Bytes of fp32 partials the plan needs (0 without a split). */
static inline size_t hy_fa_split_bytes(const hy_fa_split *p, const hy_seqs *s, int NKV) {
    return (size_t)s->n_docs * NKV * p->mt * p->nsplit * HY_FA_TILE * (HY_FA_DQK + HY_FA_DV) * sizeof(float);
}

/* Host entry points (attention_fa_fwd.cu, attention_fa_bwd.cu).  Preconditions
 * (checked by hy_fa_eligible): bf16 storage, DQK = 64, DV = 128, q/k/v/out/dout
 * 16-byte aligned with row strides multiples of 8 elements. */
hy_status hy_fa_fwd(hy_cuda_ctx *c, hy_bf16 *out /* [N, NH·128] */, float *lse /* [NH, N] */, const hy_bf16 *q /* ldq */, int ldq,
                    const hy_bf16 *k /* ldk */, int ldk, const hy_bf16 *v /* ldv */, int ldv, const hy_seqs *s, int NH, int NKV, int M,
                    int W, float scale);
/* part: scratch of hy_fa_split_bytes(&plan) bytes for the plan of
 * hy_fa_split_plan(s, M, W) (unused when that is 0). */
hy_status hy_fa_bwd(hy_cuda_ctx *c, hy_bf16 *dq /* [N, NH·64] lddq */, int lddq, hy_bf16 *dk /* [N, NKV·64] += */,
                    hy_bf16 *dv /* [N, NKV·128] += */, const hy_bf16 *dout /* [N, NH·128] */, const float *delta /* [NH, N] */,
                    const float *lse /* [NH, N] */, const hy_bf16 *q, int ldq, const hy_bf16 *k, int ldk, const hy_bf16 *v, int ldv,
                    const hy_seqs *s, int NH, int NKV, int M, int W, float scale, float *part);

/* Does the fused path apply (layout and alignment)? */
static inline bool hy_fa_eligible(int DQK, int DV, const void *const *ptrs, int nptr, const int *lds, int nld) {
    if (DQK != HY_FA_DQK || DV != HY_FA_DV) return false;
    for (int i = 0; i < nptr; i++)
        if (ptrs[i] && ((uintptr_t)ptrs[i] & 15)) return false;
    for (int i = 0; i < nld; i++)
        if (lds[i] % 8) return false;
    return true;
}

#endif
