/* embedding.cu — token and meta-token embedding (spec §1 steps 1–2, §9.12).
 *
 *   fwd:  out[i] = meta[pos[i]] for meta rows (pos[i] < M), else emb[ids[i]]
 *   bwd:  dmeta[m] += Σ_docs dout[row of meta m];  demb[v] += Σ_{text rows i: ids[i] = v ≠ padding_idx} dout[i]
 *
 * Determinism without atomics.  The lookup gradient has many rows per
 * vocabulary entry; the text rows are sorted by (id, row) with CUB's stable
 * radix sort, then one block per run of equal ids sums its rows in row order.
 * The meta gradient loops over documents in order (the meta rows of document
 * d are rows cu[d] .. cu[d]+M−1, since positions restart per document).  Each
 * sum starts from the destination's value and adds rows in row order, as the
 * CPU reference does.  Text ids must lie in [0, V): the backward records the
 * first bad one as a deferred error (reported by the next sync, see
 * common.cuh) and drops the row; the forward, which is not given V, writes NaN
 * for a negative id rather than read out of bounds. */
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/embedding.h"

template <typename T>
static __global__ void k_emb_fwd(T *out, const int32_t *ids, const int32_t *pos, const T *emb, const T *meta, int M, int C) {
    size_t row = blockIdx.x;
    int p = pos[row], id = ids[row];
    const T *src = p < M ? meta + (size_t)p * C : (id >= 0 ? emb + (size_t)id * C : NULL);
    T *o = out + row * (size_t)C;
    for (int i = threadIdx.x; i < C; i += blockDim.x) hy_st<T>(o + i, src ? hy_ld<T>(src + i) : NAN);
}

/* key[i] = ids[i] for text rows that receive gradient, V (sorted last) otherwise */
static __global__ void k_emb_keys(int32_t *key, int32_t *val, int *err, const int32_t *ids, const int32_t *pos, int n, int M,
                                  int V, int padding_idx) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int id = ids[i];
    int text = pos[i] >= M, valid = id >= 0 && id < V;
    if (text && !valid) hy_cuda_flag(err, HY_CUDA_ERR_TOKEN_ID, i, id, V);
    int ok = text && valid && id != padding_idx;
    key[i] = ok ? id : V;
    val[i] = i;
}

/* One block per sorted position; the first position of each run sums the run. */
template <typename T>
static __global__ void k_emb_runs(float *demb, const int32_t *key, const int32_t *val, const T *dout, int n, int C, int V) {
    int p = blockIdx.x, k = key[p];
    if (k >= V || (p > 0 && key[p - 1] == k)) return;
    int q1 = p + 1;
    while (q1 < n && key[q1] == k) q1++;
    for (int col = threadIdx.x; col < C; col += blockDim.x) {
        float acc = demb[(size_t)k * C + col];
        for (int q = p; q < q1; q++) acc += hy_ld<T>(dout + (size_t)val[q] * C + col);
        demb[(size_t)k * C + col] = acc;
    }
}

template <typename T>
static __global__ void k_emb_meta(float *dmeta, const T *dout, const int32_t *cu, int n_docs, int M, int C) {
    int m = blockIdx.y, col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= C) return;
    float acc = dmeta[(size_t)m * C + col];
    for (int d = 0; d < n_docs; d++)
        if (cu[d] + m < cu[d + 1]) acc += hy_ld<T>(dout + (size_t)(cu[d] + m) * C + col);
    dmeta[(size_t)m * C + col] = acc;
}

template <typename T>
static hy_status emb_bwd(hy_cuda_ctx *c, float *demb, float *dmeta, const T *dout, const int32_t *ids, const hy_seqs *s,
                         int M, int C, int V, int padding_idx) {
    int n = s->n;
    if (dmeta && M > 0 && s->n_docs > 0) {
        k_emb_meta<T><<<dim3(HY_CEIL_DIV(C, 128), M), 128, 0, c->stream>>>(dmeta, dout, s->cu, s->n_docs, M, C);
        HY_CUDA_LAUNCH_CHECK(c, "embedding_bwd meta");
    }
    if (!demb || n <= 0) return HY_OK;
    int bits = 1;
    while (bits < 31 && (1LL << bits) <= (long long)V) bits++; /* keys 0..V need `bits` bits */
    size_t cub_bytes = 0;
    cudaError_t e = cub::DeviceRadixSort::SortPairs(NULL, cub_bytes, (const int32_t *)NULL, (int32_t *)NULL,
                                                    (const int32_t *)NULL, (int32_t *)NULL, n, 0, bits, c->stream);
    HY_CUDA_CHECK(c, e);
    size_t arr = hy_cuda_align((size_t)n * 4);
    void *scr;
    HY_TRY(hy_cuda_scratch(c, 4 * arr + hy_cuda_align(cub_bytes), &scr));
    int32_t *k_in = (int32_t *)scr, *v_in = (int32_t *)((char *)scr + arr);
    int32_t *k_out = (int32_t *)((char *)scr + 2 * arr), *v_out = (int32_t *)((char *)scr + 3 * arr);
    void *tmp = (char *)scr + 4 * arr;
    k_emb_keys<<<HY_CEIL_DIV(n, 256), 256, 0, c->stream>>>(k_in, v_in, c->dev_err, ids, s->pos, n, M, V, padding_idx);
    HY_CUDA_LAUNCH_CHECK(c, "embedding_bwd keys");
    HY_CUDA_CHECK(c, cub::DeviceRadixSort::SortPairs(tmp, cub_bytes, k_in, k_out, v_in, v_out, n, 0, bits, c->stream));
    k_emb_runs<T><<<n, 128, 0, c->stream>>>(demb, k_out, v_out, dout, n, C, V);
    HY_CUDA_LAUNCH_CHECK(c, "embedding_bwd runs");
    return HY_OK;
}

extern "C" hy_status hy_embedding_fwd_cuda(void *ctx, hy_act *out /* [N,C] */, const int32_t *ids /* [N] */,
                                           const hy_seqs *s, const hy_act *emb /* [V,C] */, const hy_act *meta /* [M,C] */,
                                           int M, int C) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (s->n <= 0 || C <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        k_emb_fwd<__nv_bfloat16><<<s->n, 128, 0, c->stream>>>((__nv_bfloat16 *)out, ids, s->pos,
                                                              (const __nv_bfloat16 *)emb, (const __nv_bfloat16 *)meta, M, C);
    else
        k_emb_fwd<float><<<s->n, 128, 0, c->stream>>>((float *)out, ids, s->pos, (const float *)emb, (const float *)meta, M,
                                                      C);
    HY_CUDA_LAUNCH_CHECK(c, "embedding_fwd");
    return HY_OK;
}

extern "C" hy_status hy_embedding_bwd_cuda(void *ctx, float *demb /* [V,C] += */, float *dmeta /* [M,C] += */,
                                           const hy_act *dout /* [N,C] */, const int32_t *ids /* [N] */, const hy_seqs *s,
                                           int M, int C, int V, int padding_idx) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (s->n <= 0 || C <= 0) return HY_OK;
    if (hy_cuda_bf16(c))
        return emb_bwd<__nv_bfloat16>(c, demb, dmeta, (const __nv_bfloat16 *)dout, ids, s, M, C, V, padding_idx);
    return emb_bwd<float>(c, demb, dmeta, (const float *)dout, ids, s, M, C, V, padding_idx);
}
