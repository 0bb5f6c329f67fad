/* block_mamba.c — the SSM branch of a Hymba layer (spec §6, §9.7–9.9):
 * x (a column block of P) → causal depthwise conv + SiLU → u → x_proj → s =
 * [dt_low | B | C] → three RMSNorms → dt_proj (bias-free) → selective scan with
 * the Δ bias, softplus, D skip and the z gate (z = another column block of P).
 * Conv and scan state restart at every document (the ops use hy_seqs). */
#include "model_internal.h"

/* u = silu(conv1d(x)) (x: a column block of P). */
hy_status hy_block_mamba_conv(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    hy_pcols pc = hy_model_pcols(c, l);
    return o->conv1d_fwd(o->ctx, a->u, hy_at(m, a->p, (size_t)pc.x), pc.ld, hy_mw(m, l, HY_P_CONV_W), hy_mw(m, l, HY_P_CONV_B), &m->seqs,
                         c->di, c->d_conv);
}

/* delta = dt_proj(dtn), bias not added (the scan adds it). */
hy_status hy_block_mamba_delta(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    return o->matmul_fwd(o->ctx, a->delta, c->di, a->dtn, c->dt_rank, hy_mw(m, l, HY_P_DT_PROJ_W), m->seqs.n, c->di, c->dt_rank, 0);
}

/* y = the gated selective scan of u with delta, the normalised B/C and z. */
hy_status hy_block_mamba_scan(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    int DS = c->d_state, DI = c->di;
    hy_pcols pc = hy_model_pcols(c, l);
    return o->scan_fwd(o->ctx, a->y, a->u, a->delta, hy_mw(m, l, HY_P_DT_PROJ_B), hy_mw(m, l, HY_P_A_LOG), a->bn, a->cn, DS,
                       hy_mw(m, l, HY_P_D_SKIP), hy_at(m, a->p, (size_t)pc.z), pc.ld, &m->seqs, DI, DS);
}

hy_status hy_block_mamba_fwd(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    void *x = o->ctx;
    hy_layer_acts *a = &m->layers[l];
    int n = m->seqs.n, R = c->dt_rank, DS = c->d_state, DI = c->di, S = R + 2 * DS;
    float eps = (float)c->rms_eps;
    HY_TRY(hy_block_mamba_conv(m, l));
    HY_TRY(o->matmul_fwd(x, a->s, S, a->u, DI, hy_mw(m, l, HY_P_X_PROJ), n, S, DI, 0));
    HY_TRY(o->rmsnorm_fwd(x, a->dtn, R, a->rstd_dt, a->s, S, hy_mw(m, l, HY_P_DT_NORM), n, R, eps));
    HY_TRY(o->rmsnorm_fwd(x, a->bn, DS, a->rstd_b, hy_at(m, a->s, (size_t)R), S, hy_mw(m, l, HY_P_B_NORM), n, DS, eps));
    HY_TRY(o->rmsnorm_fwd(x, a->cn, DS, a->rstd_c, hy_at(m, a->s, (size_t)(R + DS)), S, hy_mw(m, l, HY_P_C_NORM), n, DS, eps));
    HY_TRY(hy_block_mamba_delta(m, l));
    return hy_block_mamba_scan(m, l);
}

/* Input: m->gs.dy = d(scan output).  Output: x and z columns of m->gs.dp. */
hy_status hy_block_mamba_bwd(hy_model *m, int l) {
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    void *x = o->ctx;
    hy_layer_acts *a = &m->layers[l];
    hy_grad_scratch *g = &m->gs;
    int n = m->seqs.n, R = c->dt_rank, DS = c->d_state, DI = c->di, S = R + 2 * DS;
    hy_pcols pc = hy_model_pcols(c, l);
    HY_TRY(o->scan_bwd(x, g->du, g->ddelta, g->dbn, g->dcn, DS, hy_at(m, g->dp, (size_t)pc.z), pc.ld, hy_mg(m, l, HY_P_DT_PROJ_B),
                       hy_mg(m, l, HY_P_A_LOG), hy_mg(m, l, HY_P_D_SKIP), g->dy, a->u, a->delta, hy_mw(m, l, HY_P_DT_PROJ_B),
                       hy_mw(m, l, HY_P_A_LOG), a->bn, a->cn, DS, hy_mw(m, l, HY_P_D_SKIP), hy_at(m, a->p, (size_t)pc.z), pc.ld,
                       &m->seqs, DI, DS));
    HY_TRY(o->matmul_bwd(x, g->ddtn, R, hy_mg(m, l, HY_P_DT_PROJ_W), g->ddelta, DI, a->dtn, R, hy_mw(m, l, HY_P_DT_PROJ_W), n, DI, R, 0));
    HY_TRY(o->rmsnorm_bwd(x, g->ds, S, hy_mg(m, l, HY_P_DT_NORM), g->ddtn, R, a->s, S, hy_mw(m, l, HY_P_DT_NORM), a->rstd_dt, n, R, 0));
    HY_TRY(o->rmsnorm_bwd(x, hy_at(m, g->ds, (size_t)R), S, hy_mg(m, l, HY_P_B_NORM), g->dbn, DS, hy_at(m, a->s, (size_t)R), S,
                          hy_mw(m, l, HY_P_B_NORM), a->rstd_b, n, DS, 0));
    HY_TRY(o->rmsnorm_bwd(x, hy_at(m, g->ds, (size_t)(R + DS)), S, hy_mg(m, l, HY_P_C_NORM), g->dcn, DS,
                          hy_at(m, a->s, (size_t)(R + DS)), S, hy_mw(m, l, HY_P_C_NORM), a->rstd_c, n, DS, 0));
    HY_TRY(o->matmul_bwd(x, g->du, DI, hy_mg(m, l, HY_P_X_PROJ), g->ds, S, a->u, DI, hy_mw(m, l, HY_P_X_PROJ), n, S, DI, 1));
    return o->conv1d_bwd(x, hy_at(m, g->dp, (size_t)pc.x), pc.ld, hy_mg(m, l, HY_P_CONV_W), hy_mg(m, l, HY_P_CONV_B), g->du,
                         hy_at(m, a->p, (size_t)pc.x), pc.ld, hy_mw(m, l, HY_P_CONV_W), hy_mw(m, l, HY_P_CONV_B), &m->seqs, DI,
                         c->d_conv);
}
