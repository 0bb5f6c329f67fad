/* block_recompute.c — selective activation recomputation (model.h,
 * HY_MODEL_TRAIN).  The views marked (R) in model_internal.h are one buffer
 * shared by all layers; the forward writes them as usual and the next layer
 * overwrites them, so the backward of layer l recomputes each one right before
 * its first use, through the very step functions the forward uses (block_*.c).
 * The ops are deterministic, so the recomputed values — and every gradient —
 * are bit-identical to keeping them (HY_MODEL_TRAIN_KEEP_ALL; test_model checks).
 *
 * Cost per layer: the RMSNorms and the fused pair of the hybrid fusion
 * (norm_avg), one SwiGLU, one conv1d + SiLU, one scan forward and the
 * dt_proj product (2·R·DI FLOPs per row) — a few
 * percent of a step; saved: 2C + 4DI + F activation elements per row and layer
 * (about 45% of a layer's activations for Hymba-1.5B). */
#include "model_internal.h"

/* h2 and mm, from the saved X' and gate|up. */
hy_status hy_block_recompute_mlp(hy_model *m, int l) {
    if (!m->recompute) return HY_OK;
    HY_TRY(hy_block_mlp_norm(m, l));
    return hy_block_mlp_act(m, l);
}

/* The mixer's intermediates in forward order: u, delta, y (from the saved
 * x/z columns of P, dtn and the normalised B/C), then fu.  Needed from the
 * out_proj backward on. */
hy_status hy_block_recompute_mixer(hy_model *m, int l) {
    if (!m->recompute) return HY_OK;
    HY_TRY(hy_block_mamba_conv(m, l));
    HY_TRY(hy_block_mamba_delta(m, l));
    HY_TRY(hy_block_mamba_scan(m, l));
    return hy_block_fuse(m, l);
}

/* h1, from the saved layer input. */
hy_status hy_block_recompute_h1(hy_model *m, int l) {
    if (!m->recompute) return HY_OK;
    return hy_block_in_norm(m, l);
}
