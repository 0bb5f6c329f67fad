/* train_dist.c — data parallelism for the trainer (issue 6, docs/multigpu.md §7).
 *
 * World size 1 (the default: no launcher environment) uses the "single"
 * communicator and changes nothing: the trainer runs exactly as before.
 * World size > 1 (hymba launch, torchrun-style, Open MPI or SLURM
 * environment) runs ZeRO-1:
 *   - every rank holds the full weights and gradients (flat buffers padded to
 *     the shard plan's length) and sees its own shard of the data (the
 *     loader's rank/world), so one optimizer step covers world·accum
 *     micro-batches;
 *   - the step's normaliser (supervised targets, pairs) and the metric sums
 *     are all-reduced as a few host doubles, so the loss is the mean over the
 *     whole global batch;
 *   - gradients are reduce-scattered per bucket (SUM: each rank already
 *     weighted its rows by 1/global units); each rank keeps the fp32 master
 *     weights and AdamW moments of the chunks it owns only, updates them, and
 *     the weights are all-gathered;
 *   - the gradient norm is the all-reduced sum of squares of the owned
 *     chunks, so every rank makes the same skip / clip decision;
 *   - a stop request on any rank stops every rank at the same step.
 * Checkpoints are world-size independent: the optimizer shards are gathered
 * into full flat buffers and rank 0 writes them; resuming, every rank reads
 * the full buffers and keeps its chunks, so a run may resume on another
 * number of ranks.  Buffers are host memory with the "tcp" communicator (CPU
 * processes) and device memory with NCCL. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "train_internal.h"

hy_status hy_train_dist_init(hy_trainer *t) {
    hy_comm_opts co;
    hy_comm_opts_default(&co);
    co.host_buffers = t->r->train.device == HY_DEVICE_CPU || !hy_backend_has_cuda();
    /* HYMBA_COMM=single|tcp|nccl forces a communicator (e.g. nccl with one GPU,
     * to run the sharded path with world size 1); default: auto */
    const char *kind = getenv("HYMBA_COMM");
    if (kind && *kind) co.kind = kind;
    HY_TRY(hy_comm_create_opts(&t->comm, &co));
    t->rank = hy_comm_rank(t->comm);
    t->world = hy_comm_world(t->comm);
    t->main = t->rank == 0;
    t->sharded = t->world > 1 || strcmp(hy_comm_kind(t->comm), "single") != 0;
    if (t->sharded && t->main)
        hy_log_info("data parallel: %d rank%s over %s (ZeRO-1)", t->world, t->world > 1 ? "s" : "", hy_comm_kind(t->comm));
    return HY_OK;
}

/* The backend device: the communicator's GPU for NCCL, else the recipe's. */
void hy_train_dist_device(hy_trainer *t, char *buf, size_t n, const char *recipe_device) {
    if (!strcmp(hy_comm_kind(t->comm), "nccl")) snprintf(buf, n, "cuda:%d", hy_comm_device(t->comm));
    else snprintf(buf, n, "%s", recipe_device);
}

hy_status hy_train_dist_plan(hy_trainer *t, const hy_config *cfg, size_t *buffer_elems) {
    hy_param_table pt;
    *buffer_elems = 0;
    if (!t->sharded) return HY_OK;
    HY_TRY(hy_params_build(&pt, cfg));
    hy_status st = hy_shard_plan_build_params(&t->plan, &pt, t->world, HY_SHARD_BUCKET_DEFAULT);
    hy_params_free(&pt);
    HY_TRY(st);
    *buffer_elems = t->plan.padded;
    if (t->main) {
        char d[160];
        hy_shard_plan_describe(&t->plan, d, sizeof d);
        hy_log_info("ZeRO-1 shard plan: %s", d);
    }
    return HY_OK;
}

/* Master weights, m, v: the owned chunks only (plan.shard elements), the
 * master initialised from the full fp32 weights `host` [total]. */
hy_status hy_train_dist_alloc_optim(hy_trainer *t, const float *host) {
    const hy_ops *o = t->ops;
    HY_TRY(hy_shard_view_build(&t->view, &t->plan, t->rank, &t->groups));
    size_t bytes = t->plan.shard * sizeof(float);
    HY_TRY(o->alloc(o->ctx, (void **)&t->master, bytes, "master weights shard (fp32)"));
    HY_TRY(o->alloc(o->ctx, (void **)&t->adam_m, bytes, "AdamW first moments shard"));
    HY_TRY(o->alloc(o->ctx, (void **)&t->adam_v, bytes, "AdamW second moments shard"));
    return hy_train_dist_scatter(t, t->master, host);
}

/* local shard [plan.shard] ← the owned chunks of the full host buffer [total]. */
hy_status hy_train_dist_scatter(hy_trainer *t, float *local, const float *host) {
    const hy_ops *o = t->ops;
    for (int i = 0; i < t->view.count; i++) {
        const hy_shard_seg *s = &t->view.segs[i];
        if (s->n_used) HY_TRY(o->to_dev(o->ctx, local + s->local, host + s->flat, s->n_used * sizeof(float)));
    }
    return HY_OK;
}

/* Full host buffer [total] ← every rank's shard (all ranks call; the
 * gradient buffer is the scratch, so call it only between steps). */
hy_status hy_train_dist_gather(hy_trainer *t, const float *local, float *host) {
    const hy_ops *o = t->ops;
    float *g = hy_model_grads(t->m);
    HY_TRY(o->zero(o->ctx, g, t->plan.padded * sizeof(float)));
    for (int i = 0; i < t->view.count; i++) {
        const hy_shard_seg *s = &t->view.segs[i];
        HY_TRY(o->copy(o->ctx, g + s->flat, local + s->local, s->len * sizeof(float)));
    }
    HY_TRY(o->sync(o->ctx));
    HY_TRY(hy_comm_all_gather_params(t->comm, g, HY_DTYPE_F32, &t->plan, NULL));
    return o->to_host(o->ctx, host, g, t->total * sizeof(float));
}

/* Sum a few host values over the ranks (no-op for one rank). */
hy_status hy_train_dist_sum(hy_trainer *t, double *vals, int n) {
    if (t->world <= 1) return HY_OK;
    return hy_comm_all_reduce_host(t->comm, vals, n, HY_COMM_SUM);
}

int hy_train_dist_any(hy_trainer *t, int flag) {
    if (t->world <= 1) return flag;
    double v = flag;
    if (hy_comm_all_reduce_host(t->comm, &v, 1, HY_COMM_MAX) != HY_OK) return 1;
    return v != 0;
}

/* After the micro-batches of a step: reduce-scatter the gradients and return
 * the global sum of squares of the reduced gradient. */
hy_status hy_train_dist_reduce(hy_trainer *t, double *sumsq) {
    const hy_ops *o = t->ops;
    float *g = hy_model_grads(t->m);
    HY_TRY(o->sync(o->ctx));
    HY_TRY(hy_comm_reduce_scatter_grads(t->comm, g, &t->plan, HY_COMM_SUM, NULL));
    double s = 0;
    for (int i = 0; i < t->view.count; i++) {
        const hy_shard_seg *seg = &t->view.segs[i];
        double part = 0;
        if (seg->n_used) HY_TRY(o->sumsq(o->ctx, &part, g + seg->flat, seg->n_used));
        s += part;
    }
    HY_TRY(hy_comm_all_reduce_host(t->comm, &s, 1, HY_COMM_SUM));
    *sumsq = s;
    return HY_OK;
}

/* AdamW on the owned chunks (their act-dtype copy lands in the weights), then
 * the weights are all-gathered. */
hy_status hy_train_dist_update(hy_trainer *t, double lr, float coef) {
    const hy_ops *o = t->ops;
    float *g = hy_model_grads(t->m);
    char *w = (char *)hy_model_weights(t->m);
    size_t esz = hy_dtype_size(o->act_dtype);
    for (int i = 0; i < t->view.count; i++) {
        const hy_shard_seg *s = &t->view.segs[i];
        HY_TRY(o->adamw(o->ctx, &t->adam, &s->groups, t->t_adam, lr, coef, t->master + s->local, g + s->flat, t->adam_m + s->local,
                        t->adam_v + s->local, (hy_act *)(w + s->flat * esz)));
    }
    HY_TRY(o->sync(o->ctx));
    return hy_comm_all_gather_params(t->comm, w, o->act_dtype, &t->plan, NULL);
}

void hy_train_dist_free(hy_trainer *t) {
    if (t->sharded) {
        hy_shard_view_free(&t->view);
        hy_shard_plan_free(&t->plan);
    }
    hy_comm_free(t->comm);
    t->comm = NULL;
}
