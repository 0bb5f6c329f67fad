/* embedding.c — CPU token/meta embedding (kernels/embedding.h).
 * The forward is a row copy.  The backward sums rows into shared table rows
 * (a token may repeat), so threads own column chunks of the table and walk the
 * rows in order: no races, and the same summation order on every run. */
#include <string.h>

#include "kernels/embedding.h"

enum { EMB_COL_CHUNK = 64 }; /* columns per work item of the backward */

hy_status hy_embedding_fwd_cpu(void *ctx, hy_act *out_, const int32_t *ids, const hy_seqs *s, const hy_act *emb_, const hy_act *meta_,
                               int M, int C) {
    float *out = out_;
    const float *emb = emb_, *meta = meta_;
    const int32_t *pos = s->pos;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < s->n; i++) {
        const float *src = pos[i] < M ? meta + (size_t)pos[i] * C : emb + (size_t)ids[i] * C;
        memcpy(out + (size_t)i * C, src, sizeof(float) * (size_t)C);
    }
    return HY_OK;
}

hy_status hy_embedding_bwd_cpu(void *ctx, float *demb, float *dmeta, const hy_act *dout_, const int32_t *ids, const hy_seqs *s, int M,
                               int C, int V, int padding_idx) {
    const float *dout = dout_;
    const int32_t *pos = s->pos;
    for (int i = 0; i < s->n; i++)
        if (pos[i] >= M && (ids[i] < 0 || ids[i] >= V))
            return hy_errorf(HY_ERR_ARG, "embedding backward: row %d has token id %d; expected 0 <= id < V = %d", i, ids[i], V);
    int nchunks = HY_CEIL_DIV(C, EMB_COL_CHUNK);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < nchunks; ch++) {
        int c0 = ch * EMB_COL_CHUNK, c1 = hy_imin(C, c0 + EMB_COL_CHUNK);
        for (int i = 0; i < s->n; i++) {
            float *dst;
            if (pos[i] < M) dst = dmeta + (size_t)pos[i] * C;
            else if (ids[i] == padding_idx) continue;
            else dst = demb + (size_t)ids[i] * C;
            const float *g = dout + (size_t)i * C;
            for (int c = c0; c < c1; c++) dst[c] += g[c];
        }
    }
    return HY_OK;
}
