/* train_dist.c — the trainer's side of data parallelism (issue 6,
 * docs/multigpu.md §7).  The distributed state and the step's collectives
 * live in core/dp.h (shared with `hymba bench`); this file connects them to
 * the trainer: the optimizer state from the checkpoint (the trainer's files
 * read rank, world and the optimizer buffers from t->dp).
 *
 * World size 1 (the default: no launcher environment) uses the "single"
 * communicator and dp's plain path: the trainer runs exactly as a
 * single-device one.  World size > 1 (hymba launch, torchrun-style, Open MPI
 * or SLURM environment) runs ZeRO-1 (dp.h):
 *   - every rank holds the full weights and gradients (flat buffers padded to
 *     the shard plan's length) and sees its own shard of the data (the
 *     loader's rank/world), so one optimizer step covers world·accum
 *     micro-batches;
 *   - the step's normaliser (supervised targets, pairs) and the metric sums
 *     are all-reduced as a few host doubles, so the loss is the mean over the
 *     whole global batch;
 *   - gradients are reduce-scattered per bucket, overlapping the backward of
 *     the step's last micro-batch; each rank updates the fp32 master weights
 *     and AdamW moments of the chunks it owns, and the weights are
 *     all-gathered;
 *   - the gradient norm is the all-reduced sum of squares of the owned
 *     chunks, so every rank makes the same skip / clip decision;
 *   - a stop request on any rank stops every rank at the same step.
 * Checkpoints are world-size independent: the optimizer shards are gathered
 * into full flat buffers and rank 0 writes them; resuming, every rank reads
 * the full buffers and keeps its chunks, so a run may resume on another
 * number of ranks. */
#include "core/alloc.h"
#include "core/checkpoint.h"
#include "train_internal.h"

/* fp32 master weights and AdamW moments in backend memory (device memory on
 * CUDA: the optimizer step never leaves the device).  A separate master
 * starts from the checkpoint's own values (not their act-dtype rounding). */
hy_status hy_train_dist_alloc_optim(hy_trainer *t) {
    float *host = NULL;
    hy_status st = HY_OK;
    if (hy_dp_master_needs_host(&t->dp, t->ops)) {
        HY_TRY(hy_malloc((void **)&host, t->total * sizeof(float), 1, "host weights"));
        st = hy_ckpt_load_weights(t->model_dir, hy_model_params(t->m), host, NULL);
    }
    if (!st) st = hy_dp_alloc_optim(&t->dp, t->ops, t->m, &t->groups, host);
    hy_free(host);
    return st;
}

