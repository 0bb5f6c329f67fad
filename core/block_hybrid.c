/* block_hybrid.c — one Hymba decoder layer (spec §1 steps a–l, §7.1–7.2):
 *   H = RMSNorm_in(X); P = H·W_inᵀ; attention and SSM branches on P;
 *   Fu = (RMSNorm_pa1(A) + RMSNorm_pa2(Y)) / 2; X' = X + Fu·W_outᵀ;
 *   X'' = X' + MLP(RMSNorm_premlp(X')).
 * The fusion Fu is one op each way (kernels/norm_avg.h): forward reads A and Y
 * once and writes Fu and both rstd; backward reads dFu, A, Y and writes dA, dY
 * and both gain gradients — instead of two RMSNorms, an axpby and their
 * intermediate rows.  The forward and the recomputation share hy_block_fuse. */
#include "model_internal.h"

/* h1 = RMSNorm_in(X). */
hy_status hy_block_in_norm(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    int C = c->hidden_size;
    return o->rmsnorm_fwd(o->ctx, a->h1, C, a->rstd1, a->x, C, hy_mw(m, l, HY_P_IN_NORM), m->seqs.n, C, (float)c->rms_eps);
}

/* fu = (RMSNorm_pa1(A) + RMSNorm_pa2(Y)) / 2, rstd_pa1/2 saved. */
hy_status hy_block_fuse(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    return o->norm_avg_fwd(o->ctx, a->fu, a->rstd_pa1, a->rstd_pa2, a->attn, a->y, hy_mw(m, l, HY_P_PA1_NORM), hy_mw(m, l, HY_P_PA2_NORM),
                           m->seqs.n, c->di, (float)c->rms_eps);
}

hy_status hy_block_layer_fwd(hy_model *m, int l, hy_act *out) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    void *x = o->ctx;
    hy_layer_acts *a = &m->layers[l];
    int n = m->seqs.n, C = c->hidden_size, DI = c->di;
    hy_pcols pc = hy_model_pcols(c, l);
    HY_TRY(hy_block_in_norm(m, l));
    HY_TRY(o->matmul_fwd(x, a->p, pc.ld, a->h1, C, hy_mw(m, l, HY_P_IN_PROJ), n, pc.ld, C, 0));
    HY_TRY(hy_block_attn_fwd(m, l));
    HY_TRY(hy_block_mamba_fwd(m, l));
    HY_TRY(hy_block_fuse(m, l));
    HY_TRY(o->copy(x, a->xmid, a->x, (size_t)n * C * m->esz));
    HY_TRY(o->matmul_fwd(x, a->xmid, C, a->fu, DI, hy_mw(m, l, HY_P_OUT_PROJ), n, C, DI, 1));
    HY_TRY(o->copy(x, out, a->xmid, (size_t)n * C * m->esz));
    return hy_block_mlp_fwd(m, l, out);
}

/* m->gs.dr holds d(layer output) on entry and d(layer input) on exit. */
hy_status hy_block_layer_bwd(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    void *x = o->ctx;
    hy_layer_acts *a = &m->layers[l];
    hy_grad_scratch *g = &m->gs;
    int n = m->seqs.n, C = c->hidden_size, DI = c->di;
    hy_pcols pc = hy_model_pcols(c, l);
    HY_TRY(hy_block_mlp_bwd(m, l));
    HY_TRY(hy_block_recompute_mixer(m, l));
    HY_TRY(o->matmul_bwd(x, g->dfu, DI, hy_mg(m, l, HY_P_OUT_PROJ), g->dr, C, a->fu, DI, hy_mw(m, l, HY_P_OUT_PROJ), n, C, DI, 0));
    HY_TRY(o->norm_avg_bwd(x, g->dattn, g->dy, hy_mg(m, l, HY_P_PA1_NORM), hy_mg(m, l, HY_P_PA2_NORM), g->dfu, a->attn, a->y,
                           hy_mw(m, l, HY_P_PA1_NORM), hy_mw(m, l, HY_P_PA2_NORM), a->rstd_pa1, a->rstd_pa2, n, DI));
    HY_TRY(hy_block_mamba_bwd(m, l));
    HY_TRY(hy_block_attn_bwd(m, l));
    HY_TRY(hy_block_recompute_h1(m, l));
    HY_TRY(o->matmul_bwd(x, g->dh, C, hy_mg(m, l, HY_P_IN_PROJ), g->dp, pc.ld, a->h1, C, hy_mw(m, l, HY_P_IN_PROJ), n, pc.ld, C, 0));
    return o->rmsnorm_bwd(x, g->dr, C, hy_mg(m, l, HY_P_IN_NORM), g->dh, C, a->x, C, hy_mw(m, l, HY_P_IN_NORM), a->rstd1, n, C, 1);
}
