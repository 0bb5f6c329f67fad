/* block_attn.c — the attention branch of a Hymba layer (spec §4, §5, §9.3–9.4).
 *
 * q (and for KV-computing layers k, v) are column blocks of the in_proj output
 * P; RoPE rotates q and k in place, so P holds post-RoPE q/k for the backward.
 * A consumer layer reads its producer's post-RoPE K and V straight from the
 * producer's P (no copy).  In the backward, every reader of a producer's K/V
 * (the producer itself and its consumers) accumulates into the producer's dK/dV
 * buffers; the last reader in forward order (= the first in backward order)
 * zeroes them, and the producer turns them into the k/v columns of its dP after
 * the inverse RoPE of dK. */
#include "model_internal.h"

#include <math.h>

static int hy_window(const hy_config *c, int l) { return c->is_global[l] ? -1 : c->sliding_window; }

hy_status hy_block_attn_fwd(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    int n = m->seqs.n, prod = c->kv_producer[l];
    hy_pcols pc = hy_model_pcols(c, l), pp = hy_model_pcols(c, prod);
    HY_TRY(o->rope_fwd(o->ctx, hy_at(m, a->p, (size_t)pc.q), pc.ld, m->pos, m->inv_freq, n, c->num_heads, c->dqk));
    if (prod == l)
        HY_TRY(o->rope_fwd(o->ctx, hy_at(m, a->p, (size_t)pc.k), pc.ld, m->pos, m->inv_freq, n, c->num_kv_heads, c->dqk));
    hy_act *pk = hy_at(m, m->layers[prod].p, (size_t)pp.k), *pv = hy_at(m, m->layers[prod].p, (size_t)pp.v);
    float scale = 1.0f / sqrtf((float)c->dqk);
    return o->attention_fwd(o->ctx, a->attn, a->lse, hy_at(m, a->p, (size_t)pc.q), pc.ld, pk, pp.ld, pv, pp.ld, &m->seqs,
                            c->num_heads, c->num_kv_heads, c->dqk, c->dv, c->num_meta, hy_window(c, l), scale);
}

/* Input: m->gs.dattn = d(attention output).  Output: q (and k, v) columns of m->gs.dp. */
hy_status hy_block_attn_bwd(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    hy_grad_scratch *g = &m->gs;
    int n = m->seqs.n, prod = c->kv_producer[l];
    hy_pcols pc = hy_model_pcols(c, l), pp = hy_model_pcols(c, prod);
    size_t esz = m->esz;
    if (c->kv_last_user[prod] == l) {
        HY_TRY(o->zero(o->ctx, g->dk[prod], (size_t)n * c->k_rows * esz));
        HY_TRY(o->zero(o->ctx, g->dv[prod], (size_t)n * c->v_rows * esz));
    }
    hy_act *pk = hy_at(m, m->layers[prod].p, (size_t)pp.k), *pv = hy_at(m, m->layers[prod].p, (size_t)pp.v);
    float scale = 1.0f / sqrtf((float)c->dqk);
    HY_TRY(o->attention_bwd(o->ctx, hy_at(m, g->dp, (size_t)pc.q), pc.ld, g->dk[prod], g->dv[prod], g->dattn, a->attn, a->lse,
                            hy_at(m, a->p, (size_t)pc.q), pc.ld, pk, pp.ld, pv, pp.ld, &m->seqs, c->num_heads, c->num_kv_heads,
                            c->dqk, c->dv, c->num_meta, hy_window(c, l), scale));
    HY_TRY(o->rope_bwd(o->ctx, hy_at(m, g->dp, (size_t)pc.q), pc.ld, m->pos, m->inv_freq, n, c->num_heads, c->dqk));
    if (prod != l) return HY_OK;
    /* producer: every reader has contributed by now */
    HY_TRY(o->rope_bwd(o->ctx, g->dk[l], c->k_rows, m->pos, m->inv_freq, n, c->num_kv_heads, c->dqk));
    HY_TRY(o->copy2d(o->ctx, hy_at(m, g->dp, (size_t)pc.k), pc.ld, g->dk[l], c->k_rows, n, c->k_rows, 0));
    return o->copy2d(o->ctx, hy_at(m, g->dp, (size_t)pc.v), pc.ld, g->dv[l], c->v_rows, n, c->v_rows, 0);
}
