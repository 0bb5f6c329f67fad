/* block_mlp.c — the SwiGLU MLP (spec §7.3, §9.10): gate and up projections
 * write the two halves of one [N, 2F] buffer, silu(gate) ⊙ up, down projection
 * accumulated straight into the residual stream. */
#include "model_internal.h"

/* h2 = RMSNorm_premlp(X'). */
hy_status hy_block_mlp_norm(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    int C = c->hidden_size;
    return o->rmsnorm_fwd(o->ctx, a->h2, C, a->rstd2, a->xmid, C, hy_mw(m, l, HY_P_MLP_NORM), m->seqs.n, C, (float)c->rms_eps);
}

/* mm = silu(gate) ⊙ up. */
hy_status hy_block_mlp_act(hy_model *m, int l) {
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    int F = m->cfg.intermediate_size;
    return o->swiglu_fwd(o->ctx, a->mm, a->gu, hy_at(m, a->gu, (size_t)F), 2 * F, m->seqs.n, F);
}

hy_status hy_block_mlp_fwd(hy_model *m, int l, hy_act *out) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    void *x = o->ctx;
    hy_layer_acts *a = &m->layers[l];
    int n = m->seqs.n, C = c->hidden_size, F = c->intermediate_size;
    HY_TRY(hy_block_mlp_norm(m, l));
    HY_TRY(o->matmul_fwd(x, a->gu, 2 * F, a->h2, C, hy_mw(m, l, HY_P_GATE), n, F, C, 0));
    HY_TRY(o->matmul_fwd(x, hy_at(m, a->gu, (size_t)F), 2 * F, a->h2, C, hy_mw(m, l, HY_P_UP), n, F, C, 0));
    HY_TRY(hy_block_mlp_act(m, l));
    return o->matmul_fwd(x, out, C, a->mm, F, hy_mw(m, l, HY_P_DOWN), n, C, F, 1);
}

/* Input/output: m->gs.dr = d(layer output) on entry, += the MLP branch's input
 * gradient on exit (so it is d(X') afterwards). */
hy_status hy_block_mlp_bwd(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    void *x = o->ctx;
    hy_layer_acts *a = &m->layers[l];
    hy_grad_scratch *g = &m->gs;
    int n = m->seqs.n, C = c->hidden_size, F = c->intermediate_size;
    HY_TRY(hy_block_recompute_mlp(m, l));
    HY_TRY(o->matmul_bwd(x, g->dmm, F, hy_mg(m, l, HY_P_DOWN), g->dr, C, a->mm, F, hy_mw(m, l, HY_P_DOWN), n, C, F, 0));
    HY_TRY(o->swiglu_bwd(x, g->dgu, hy_at(m, g->dgu, (size_t)F), 2 * F, g->dmm, a->gu, hy_at(m, a->gu, (size_t)F), n, F));
    HY_TRY(o->matmul_bwd(x, g->dh, C, hy_mg(m, l, HY_P_GATE), g->dgu, 2 * F, a->h2, C, hy_mw(m, l, HY_P_GATE), n, F, C, 0));
    HY_TRY(o->matmul_bwd(x, g->dh, C, hy_mg(m, l, HY_P_UP), hy_at(m, g->dgu, (size_t)F), 2 * F, a->h2, C, hy_mw(m, l, HY_P_UP), n, F, C,
                         1));
    return o->rmsnorm_bwd(x, g->dr, C, hy_mg(m, l, HY_P_MLP_NORM), g->dh, C, a->xmid, C, hy_mw(m, l, HY_P_MLP_NORM), a->rstd2, n, C, 1);
}
