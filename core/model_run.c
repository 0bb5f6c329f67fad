/* model_run.c — forward and backward over a packed micro-batch (model.h).
 *
 * Row layout: document d occupies rows [cu[d], cu[d+1]) = its M meta tokens
 * then its L_d text tokens; pos restarts at 0 for every document.  The LM head
 * runs on the text rows only (gathered into ytxt), in chunks of head_chunk
 * rows: forward keeps only per-row loss and log-sum-exp; backward recomputes
 * each chunk's logits. */
#include <string.h>

#include "model_internal.h"

/* Validate the batch and upload ids/positions/targets; sets m->seqs, m->nt. */
static hy_status hy_model_stage(hy_model *m, const hy_model_batch *b) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    int M = c->num_meta;
    if (b->n_docs < 1 || b->n_docs > m->max_docs)
        return hy_errorf(HY_ERR_ARG, "micro-batch has %d documents; the model was planned for 1..%d", b->n_docs, m->max_docs);
    long nt = 0;
    for (int d = 0; d < b->n_docs; d++) {
        if (b->doc_len[d] < 1) return hy_errorf(HY_ERR_ARG, "document %d of the micro-batch is empty", d);
        nt += b->doc_len[d];
    }
    if (nt > m->max_text)
        return hy_errorf(HY_ERR_ARG, "micro-batch has %ld text tokens; the model was planned for at most %d", nt, m->max_text);
    long rows = nt + (long)b->n_docs * M;
    if (rows > m->max_rows)
        return hy_errorf(HY_ERR_ARG, "micro-batch has %ld rows (%ld text tokens + %d documents x %d meta tokens); the model was planned for at most %d",
                         rows, nt, b->n_docs, M, m->max_rows);
    int32_t *ids = m->host_i32, *pos = ids + m->max_rows, *tidx = pos + m->max_rows;
    int row = 0, t = 0;
    m->cu_host[0] = 0;
    int max_len = 0;
    for (int d = 0; d < b->n_docs; d++) {
        int L = b->doc_len[d];
        for (int i = 0; i < M; i++, row++) { ids[row] = 0; pos[row] = i; }
        for (int i = 0; i < L; i++, row++, t++) {
            int32_t id = b->ids[t], tg = b->targets[t];
            if (id < 0 || id >= c->vocab_size)
                return hy_errorf(HY_ERR_ARG, "token id %d (document %d, position %d) is outside the vocabulary [0, %d)", id, d, i,
                                 c->vocab_size);
            if (tg >= c->vocab_size || (tg < 0 && tg != -100))
                return hy_errorf(HY_ERR_ARG, "target %d (document %d, position %d) must be in [0, %d) or -100", tg, d, i,
                                 c->vocab_size);
            ids[row] = id;
            pos[row] = M + i;
            tidx[t] = row;
        }
        m->cu_host[d + 1] = row;
        max_len = hy_imax(max_len, M + L);
    }
    HY_TRY(o->to_dev(o->ctx, m->ids, ids, sizeof(int32_t) * (size_t)row));
    HY_TRY(o->to_dev(o->ctx, m->pos, pos, sizeof(int32_t) * (size_t)row));
    HY_TRY(o->to_dev(o->ctx, m->text_idx, tidx, sizeof(int32_t) * (size_t)nt));
    HY_TRY(o->to_dev(o->ctx, m->targets, b->targets, sizeof(int32_t) * (size_t)nt));
    HY_TRY(o->to_dev(o->ctx, m->cu, m->cu_host, sizeof(int32_t) * (size_t)(b->n_docs + 1)));
    m->seqs = (hy_seqs){.n = row, .n_docs = b->n_docs, .max_len = max_len, .cu = m->cu, .pos = m->pos, .cu_host = m->cu_host};
    m->nt = (int)nt;
    return HY_OK;
}

/* The LM head's weight: the embedding padded to Vp rows when V is not a
 * multiple of 128 (an odd N such as 32001 drives the products onto slow
 * kernels); logit columns V..Vp−1 are then 0 and the cross-entropy ignores them. */
static const hy_act *hy_head_w(hy_model *m, int *O) {
    *O = m->head_w ? m->cfg.vocab_padded : m->cfg.vocab_size;
    return m->head_w ? m->head_w : hy_mw(m, -1, HY_P_EMBED);
}

static hy_status hy_head_logits(hy_model *m, int r0, int rows) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    int O;
    const hy_act *w = hy_head_w(m, &O);
    return o->matmul_fwd(o->ctx, m->logits, c->vocab_padded, hy_at(m, m->ytxt, (size_t)r0 * c->hidden_size), c->hidden_size, w, rows, O,
                         c->hidden_size, 0);
}

static hy_status hy_head_fwd(hy_model *m, float *logits_host) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    int V = c->vocab_size, Vp = c->vocab_padded;
    if (logits_host && !m->logits_f32)
        HY_TRY(o->alloc(o->ctx, (void **)&m->logits_f32, sizeof(float) * (size_t)m->head_chunk * Vp, "logits readback"));
    for (int r0 = 0; r0 < m->nt; r0 += m->head_chunk) {
        int rows = hy_imin(m->head_chunk, m->nt - r0);
        HY_TRY(hy_head_logits(m, r0, rows));
        HY_TRY(o->ce_fwd(o->ctx, m->loss_rows + r0, m->lse_rows + r0, m->logits, Vp, m->targets + r0, rows, V));
        if (!logits_host) continue;
        HY_TRY(o->cast_to_f32(o->ctx, m->logits_f32, m->logits, (size_t)rows * Vp));
        for (int r = 0; r < rows; r++)
            HY_TRY(o->to_host(o->ctx, logits_host + (size_t)(r0 + r) * V, m->logits_f32 + (size_t)r * Vp, sizeof(float) * (size_t)V));
    }
    return HY_OK;
}

hy_status hy_model_forward(hy_model *m, const hy_model_batch *b, float *loss_rows, float *logits_host) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    m->have_forward = 0;
    HY_TRY(hy_model_stage(m, b));
    int n = m->seqs.n, C = c->hidden_size, NL = c->num_layers;
    if (m->head_w) HY_TRY(o->copy(o->ctx, m->head_w, hy_mw(m, -1, HY_P_EMBED), (size_t)c->vocab_size * C * m->esz));
    HY_TRY(o->embedding_fwd(o->ctx, m->layers[0].x, m->ids, &m->seqs, hy_mw(m, -1, HY_P_EMBED), hy_mw(m, -1, HY_P_META), c->num_meta, C));
    for (int l = 0; l < NL; l++) HY_TRY(hy_block_layer_fwd(m, l, l + 1 < NL ? m->layers[l + 1].x : m->x_final));
    HY_TRY(o->rmsnorm_fwd(o->ctx, m->yf, C, m->rstd_f, m->x_final, C, hy_mw(m, -1, HY_P_FINAL_NORM), n, C, (float)c->rms_eps));
    HY_TRY(o->gather_rows(o->ctx, m->ytxt, m->yf, m->text_idx, m->nt, C));
    HY_TRY(hy_head_fwd(m, logits_host));
    if (loss_rows) HY_TRY(o->to_host(o->ctx, loss_rows, m->loss_rows, sizeof(float) * (size_t)m->nt));
    HY_TRY(o->sync(o->ctx));
    m->have_forward = 1;
    return HY_OK;
}

hy_status hy_model_backward(hy_model *m, const float *row_weights) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    if (!m->training) return hy_errorf(HY_ERR_ARG, "backward on a model created for inference");
    if (!m->have_forward) return hy_errorf(HY_ERR_ARG, "backward without a preceding forward");
    hy_grad_scratch *g = &m->gs;
    int n = m->seqs.n, C = c->hidden_size, V = c->vocab_size, Vp = c->vocab_padded;
    HY_TRY(o->to_dev(o->ctx, m->row_w, row_weights, sizeof(float) * (size_t)m->nt));
    for (int r0 = 0; r0 < m->nt; r0 += m->head_chunk) {
        int rows = hy_imin(m->head_chunk, m->nt - r0);
        HY_TRY(hy_head_logits(m, r0, rows));
        HY_TRY(o->ce_bwd(o->ctx, g->dlogits, Vp, m->logits, m->lse_rows + r0, m->targets + r0, m->row_w + r0, rows, V));
        /* d(ytxt) through the padded weight (dlogits is 0 in the padding columns);
         * the embedding's gradient over its V real rows */
        int O;
        const hy_act *w = hy_head_w(m, &O);
        HY_TRY(o->matmul_bwd(o->ctx, hy_at(m, g->dytxt, (size_t)r0 * C), C, NULL, g->dlogits, Vp, hy_at(m, m->ytxt, (size_t)r0 * C), C, w,
                             rows, O, C, 0));
        HY_TRY(o->matmul_bwd(o->ctx, NULL, C, hy_mg(m, -1, HY_P_EMBED), g->dlogits, Vp, hy_at(m, m->ytxt, (size_t)r0 * C), C,
                             hy_mw(m, -1, HY_P_EMBED), rows, V, C, 0));
    }
    HY_TRY(o->zero(o->ctx, g->dy_full, (size_t)n * C * m->esz));
    HY_TRY(o->scatter_rows(o->ctx, g->dy_full, g->dytxt, m->text_idx, m->nt, C, 0));
    HY_TRY(o->rmsnorm_bwd(o->ctx, g->dr, C, hy_mg(m, -1, HY_P_FINAL_NORM), g->dy_full, C, m->x_final, C, hy_mw(m, -1, HY_P_FINAL_NORM),
                          m->rstd_f, n, C, 0));
    for (int l = c->num_layers - 1; l >= 0; l--) {
        HY_TRY(hy_block_layer_bwd(m, l));
        if (m->bwd_hook) m->bwd_hook(m->bwd_hook_user, l);
    }
    HY_TRY(o->embedding_bwd(o->ctx, hy_mg(m, -1, HY_P_EMBED), hy_mg(m, -1, HY_P_META), g->dr, m->ids, &m->seqs, c->num_meta, C, V,
                            c->pad_token_id));
    HY_TRY(o->sync(o->ctx));
    m->have_forward = 0;
    return HY_OK;
}
