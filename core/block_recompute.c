/* block_recompute.c — selective activation recomputation (model.h,
 * HY_MODEL_TRAIN).  The views marked (R) in model_internal.h are one buffer
 * shared by all layers; the forward writes them as usual and the next layer
 * overwrites them, so the backward of layer l recomputes each one right before
 * its first use, with the same op on the same saved inputs.  The ops are
 * deterministic, so the recomputed values — and every gradient — are
 * bit-identical to keeping them (HY_MODEL_TRAIN_KEEP_ALL; test_model checks).
 *
 * Cost per layer: four RMSNorms, one SwiGLU, one conv1d + SiLU, one scan
 * forward, one axpby and the dt_proj product (2·R·DI FLOPs per row) — a few
 * percent of a step; saved: 2C + 4DI + F activation elements per row and layer
 * (about 45% of a layer's activations for Hymba-1.5B). */
#include "model_internal.h"

/* h2 = RMSNorm_premlp(X') and mm = silu(gate) ⊙ up. */
hy_status hy_block_recompute_mlp(hy_model *m, int l) {
    if (!m->recompute) return HY_OK;
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    int n = m->seqs.n, C = c->hidden_size, F = c->intermediate_size;
    HY_TRY(o->rmsnorm_fwd(o->ctx, a->h2, C, a->rstd2, a->xmid, C, hy_mw(m, l, HY_P_MLP_NORM), n, C, (float)c->rms_eps));
    return o->swiglu_fwd(o->ctx, a->mm, a->gu, hy_at(m, a->gu, (size_t)F), 2 * F, n, F);
}

/* The mixer's intermediates, in forward order: u = silu(conv1d(x)),
 * delta = dt_proj(dtn), y = the gated scan (from the saved, normalised B/C
 * and z), fu = (RMSNorm_pa1(A) + RMSNorm_pa2(Y)) / 2 — each exactly as the
 * forward forms it.  Needed from the out_proj backward on. */
hy_status hy_block_recompute_mixer(hy_model *m, int l) {
    if (!m->recompute) return HY_OK;
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    void *x = o->ctx;
    hy_layer_acts *a = &m->layers[l];
    int n = m->seqs.n, R = c->dt_rank, DI = c->di, DS = c->d_state;
    float eps = (float)c->rms_eps;
    hy_pcols pc = hy_model_pcols(c, l);
    HY_TRY(o->conv1d_fwd(x, a->u, hy_at(m, a->p, (size_t)pc.x), pc.ld, hy_mw(m, l, HY_P_CONV_W), hy_mw(m, l, HY_P_CONV_B), &m->seqs, DI,
                         c->d_conv));
    HY_TRY(o->matmul_fwd(x, a->delta, DI, a->dtn, R, hy_mw(m, l, HY_P_DT_PROJ_W), n, DI, R, 0));
    HY_TRY(o->scan_fwd(x, a->y, a->u, a->delta, hy_mw(m, l, HY_P_DT_PROJ_B), hy_mw(m, l, HY_P_A_LOG), a->bn, a->cn, DS,
                       hy_mw(m, l, HY_P_D_SKIP), hy_at(m, a->p, (size_t)pc.z), pc.ld, &m->seqs, DI, DS));
    HY_TRY(o->rmsnorm_fwd(x, a->fu, DI, a->rstd_pa1, a->attn, DI, hy_mw(m, l, HY_P_PA1_NORM), n, DI, eps));
    HY_TRY(o->rmsnorm_fwd(x, m->tmp_di, DI, a->rstd_pa2, a->y, DI, hy_mw(m, l, HY_P_PA2_NORM), n, DI, eps));
    return o->axpby(x, a->fu, 0.5f, a->fu, 0.5f, m->tmp_di, (size_t)n * DI);
}

/* h1 = RMSNorm_in(X). */
hy_status hy_block_recompute_h1(hy_model *m, int l) {
    if (!m->recompute) return HY_OK;
    const hy_config *c = &m->cfg;
    const hy_ops *o = m->ops;
    hy_layer_acts *a = &m->layers[l];
    int C = c->hidden_size;
    return o->rmsnorm_fwd(o->ctx, a->h1, C, a->rstd1, a->x, C, hy_mw(m, l, HY_P_IN_NORM), m->seqs.n, C, (float)c->rms_eps);
}
