/* embedding.h — token and meta-token embedding (spec §1 steps 1–2, §9.12).
 *
 * Math, for every row i of a packed micro-batch (DESIGN.md §2.5):
 *   out[i] = meta[pos[i]]   if pos[i] < M        (each document's first M rows)
 *          = emb[ids[i]]    otherwise
 * Backward:
 *   dmeta[pos[i]] += dout[i]                 for meta rows
 *   demb[ids[i]]  += dout[i]                 for text rows with ids[i] != padding_idx
 *                                            (PyTorch padding_idx: that row gets no
 *                                            lookup gradient; the tied LM head still
 *                                            writes it through the matmul backward)
 * Overwrite/accumulate: out overwrites; demb and dmeta accumulate (+=, fp32).
 * ids at meta rows are ignored (any value).  Text ids must lie in [0, V): the
 * backward checks them and returns HY_ERR_ARG with the row and value.
 * Determinism: the CPU backward splits the C columns between threads and walks
 * rows in order, so repeated tokens are summed in the same order every run. */
#ifndef HY_KERNELS_EMBEDDING_H
#define HY_KERNELS_EMBEDDING_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

hy_status hy_embedding_fwd_cpu(void *ctx, hy_act *out /* [N,C] */, const int32_t *ids /* [N] */, const hy_seqs *s,
                               const hy_act *emb /* [V,C] */, const hy_act *meta /* [M,C] */, int M, int C);
hy_status hy_embedding_bwd_cpu(void *ctx, float *demb /* [V,C] += */, float *dmeta /* [M,C] += */, const hy_act *dout /* [N,C] */,
                               const int32_t *ids /* [N] */, const hy_seqs *s, int M, int C, int V, int padding_idx);

/* Implemented in kernels/cuda/embedding.cu. */
hy_status hy_embedding_fwd_cuda(void *ctx, hy_act *out /* [N,C] */, const int32_t *ids /* [N] */, const hy_seqs *s,
                                const hy_act *emb /* [V,C] */, const hy_act *meta /* [M,C] */, int M, int C);
hy_status hy_embedding_bwd_cuda(void *ctx, float *demb /* [V,C] += */, float *dmeta /* [M,C] += */, const hy_act *dout /* [N,C] */,
                                const int32_t *ids /* [N] */, const hy_seqs *s, int M, int C, int V, int padding_idx);

#ifdef __cplusplus
}
#endif
#endif
