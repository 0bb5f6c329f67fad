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
 *     weighted its rows by 1/global units), overlapping the backward of the
 *     step's last micro-batch: the model's backward hook launches a bucket as
 *     soon as the layers it covers have run their backward (readiness stages,
 *     shard.h), the embedding and meta-token buckets after the whole
 *     backward; earlier micro-batches only accumulate.  Each rank keeps
 *     the fp32 master weights and AdamW moments of the chunks it owns only,
 *     updates them, and the weights are all-gathered;
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
    /* HYMBA_DP_OVERLAP=0 reduce-scatters every bucket after the backward
     * (same values bit for bit: a debugging and measuring aid) */
    const char *ov = getenv("HYMBA_DP_OVERLAP");
    t->overlap = !(ov && !strcmp(ov, "0"));
    if (t->sharded && t->main)
        hy_log_info("data parallel: %d rank%s over %s (ZeRO-1)", t->world, t->world > 1 ? "s" : "", hy_comm_kind(t->comm));
    return HY_OK;
}

/* The backend device: the communicator's GPU for NCCL, else the recipe's. */
void hy_train_dist_device(hy_trainer *t, char *buf, size_t n, const char *recipe_device) {
    if (!strcmp(hy_comm_kind(t->comm), "nccl")) snprintf(buf, n, "cuda:%d", hy_comm_device(t->comm));
    else snprintf(buf, n, "%s", recipe_device);
}

/* HYMBA_DP_BUCKET_ELEMS: bucket size of the shard plan in elements (default
 * HY_SHARD_BUCKET_DEFAULT; small values let tests overlap tiny models). */
static hy_status hy_train_dist_bucket_env(size_t *bucket) {
    const char *s = getenv("HYMBA_DP_BUCKET_ELEMS");
    if (!s || !*s) return HY_OK;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || v < 1 || v > ((unsigned long long)1 << 40) || s[0] == '-')
        return hy_errorf(HY_ERR_CONFIG, "environment variable HYMBA_DP_BUCKET_ELEMS=\"%s\": expected a whole number of elements in "
                         "1..2^40 (default %zu); hint: unset it to use the default", s, (size_t)HY_SHARD_BUCKET_DEFAULT);
    *bucket = (size_t)v;
    return HY_OK;
}

hy_status hy_train_dist_plan(hy_trainer *t, const hy_config *cfg, size_t *buffer_elems) {
    hy_param_table pt;
    *buffer_elems = 0;
    if (!t->sharded) return HY_OK;
    size_t bucket = HY_SHARD_BUCKET_DEFAULT;
    HY_TRY(hy_train_dist_bucket_env(&bucket));
    HY_TRY(hy_params_build(&pt, cfg));
    hy_status st = hy_shard_plan_build_params(&t->plan, &pt, t->world, bucket);
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

/* The model's backward hook: layer `layer`'s backward has been queued, so
 * every bucket of stage ≥ layer is final (shard.h) and goes out now, after
 * the work queued so far on the backend stream.  The hook cannot return a
 * status: the first error is kept (later launches are skipped; the
 * communicator's failure is sticky anyway) and hy_train_dist_reduce reports
 * it once the backward has returned. */
static void hy_train_dist_layer_done(void *user, int layer) {
    hy_trainer *t = user;
    if (!t->red_open || t->red_err) return;
    hy_status st = hy_comm_reducer_ready(t->comm, &t->red, layer);
    if (st) {
        t->red_err = st;
        snprintf(t->red_msg, sizeof t->red_msg, "%s", hy_last_error());
    }
}

/* Before the last micro-batch of a step (the earlier ones only accumulate
 * locally): open the reducer over the gradients and hook it to the model's
 * backward, so buckets are reduce-scattered while lower layers still run
 * their backward.  Called even when this rank's last micro-batch is empty
 * (no backward, no hook call): hy_train_dist_reduce then launches every
 * bucket — in the same plan order, so the ranks' collectives still match. */
void hy_train_dist_overlap_begin(hy_trainer *t) {
    const hy_ops *o = t->ops;
    void *stream = o->stream ? o->stream(o->ctx) : NULL;
    hy_comm_reducer_begin(&t->red, &t->plan, hy_model_grads(t->m), HY_COMM_SUM, stream);
    t->red_open = 1;
    t->red_err = HY_OK;
    t->red_msg[0] = 0;
    if (t->overlap) hy_model_set_backward_hook(t->m, hy_train_dist_layer_done, t);
}

/* After the micro-batches of a step: launch the buckets the backward hook has
 * not (stage −1: embedding, meta tokens — and all of them when the hook never
 * ran), wait for the whole reduce-scatter and return the global sum of
 * squares of the reduced gradient. */
hy_status hy_train_dist_reduce(hy_trainer *t, double *sumsq) {
    const hy_ops *o = t->ops;
    float *g = hy_model_grads(t->m);
    if (!t->red_open) hy_train_dist_overlap_begin(t);
    hy_model_set_backward_hook(t->m, NULL, NULL);
    t->red_open = 0;
    if (t->red_err)
        return hy_errorf(t->red_err, "%s (while reduce-scattering gradient buckets during the backward of step %lld)", t->red_msg,
                         (long long)t->step + 1);
    hy_comm_ticket done;
    HY_TRY(hy_comm_reducer_finish(t->comm, &t->red, &done));
    /* host wait: bounded, and a dead or hung peer is named (a bare stream
     * sync would hang in NCCL); then later backend work is ordered after it */
    HY_TRY(hy_comm_wait(t->comm, done));
    HY_TRY(hy_comm_order_before(t->comm, t->red.stream));
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
