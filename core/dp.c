/* dp.c — the data-parallel step state (contract in dp.h; design in
 * docs/multigpu.md §3.1 and §7).
 *
 * Invariants:
 *   - the plain path makes exactly the calls of a single-device step (one
 *     sumsq over [total], one adamw over the full groups), so world size 1
 *     without HYMBA_COMM is bit for bit the unsharded trainer;
 *   - every rank issues the same collectives in the same order: the reducer
 *     walks plan.order whether the hook ran or not, the norm and the update
 *     are reached by every rank every step;
 *   - a bucket goes out only once its readiness stage's backward has been
 *     queued (shard.h; proved by tests/test_dp_overlap.c), after the work
 *     queued so far on the backend stream (hy_comm_reducer_ready orders it);
 *   - later backend work reads reduced gradients: after the host wait the
 *     backend stream is ordered after the communicator. */
#include <stdlib.h>
#include <string.h>

#include "core/dp.h"
#include "core/log.h"
#include "core/timer.h"

hy_status hy_dp_init(hy_dp *dp, int host_buffers) {
    memset(dp, 0, sizeof *dp);
    hy_comm_opts co;
    hy_comm_opts_default(&co);
    co.host_buffers = host_buffers;
    /* HYMBA_COMM=single|tcp|nccl forces a communicator (e.g. nccl with one GPU,
     * to run the sharded path with world size 1); default: auto */
    const char *kind = getenv("HYMBA_COMM");
    if (kind && *kind) co.kind = kind;
    HY_TRY(hy_comm_create_opts(&dp->comm, &co));
    dp->rank = hy_comm_rank(dp->comm);
    dp->world = hy_comm_world(dp->comm);
    dp->main = dp->rank == 0;
    dp->sharded = dp->world > 1 || strcmp(hy_comm_kind(dp->comm), "single") != 0;
    /* HYMBA_DP_OVERLAP=0 reduce-scatters every bucket after the backward
     * (same values bit for bit: a debugging and measuring aid) */
    const char *ov = getenv("HYMBA_DP_OVERLAP");
    dp->overlap = !(ov && !strcmp(ov, "0"));
    if (dp->sharded && dp->main)
        hy_log_info("data parallel: %d rank%s over %s (ZeRO-1)", dp->world, dp->world > 1 ? "s" : "", hy_comm_kind(dp->comm));
    return HY_OK;
}

void hy_dp_device(const hy_dp *dp, char *buf, size_t n, const char *fallback) {
    if (dp->comm && !strcmp(hy_comm_kind(dp->comm), "nccl")) snprintf(buf, n, "cuda:%d", hy_comm_device(dp->comm));
    else snprintf(buf, n, "%s", fallback);
}

/* HYMBA_DP_BUCKET_ELEMS: bucket size of the shard plan in elements (default
 * HY_SHARD_BUCKET_DEFAULT; small values let tests overlap tiny models). */
static hy_status hy_dp_bucket_env(size_t *bucket) {
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

hy_status hy_dp_plan(hy_dp *dp, const hy_config *cfg, size_t *buffer_elems) {
    hy_param_table pt;
    *buffer_elems = 0;
    if (!dp->sharded) return HY_OK;
    size_t bucket = HY_SHARD_BUCKET_DEFAULT;
    HY_TRY(hy_dp_bucket_env(&bucket));
    HY_TRY(hy_params_build(&pt, cfg));
    hy_status st = hy_shard_plan_build_params(&dp->plan, &pt, dp->world, bucket);
    hy_params_free(&pt);
    HY_TRY(st);
    *buffer_elems = dp->plan.padded;
    if (dp->main) {
        char d[160];
        hy_shard_plan_describe(&dp->plan, d, sizeof d);
        hy_log_info("ZeRO-1 shard plan: %s", d);
    }
    return HY_OK;
}

int hy_dp_master_needs_host(const hy_dp *dp, const hy_ops *ops) {
    return dp->sharded || ops->act_dtype != HY_DTYPE_F32;
}

/* Sharded: master, m, v hold the owned chunks only (plan.shard elements), the
 * master initialised from `host`.  Plain: full buffers; with fp32 storage the
 * model's weights are the master copy. */
hy_status hy_dp_alloc_optim(hy_dp *dp, const hy_ops *ops, hy_model *m, const hy_optim_groups *groups, const float *host) {
    const hy_ops *o = ops;
    dp->ops = ops;
    dp->m = m;
    dp->groups = groups;
    dp->total = hy_model_params(m)->total;
    if (dp->sharded) {
        HY_TRY(hy_shard_view_build(&dp->view, &dp->plan, dp->rank, groups));
        size_t bytes = dp->plan.shard * sizeof(float);
        HY_TRY(o->alloc(o->ctx, (void **)&dp->master, bytes, "master weights shard (fp32)"));
        HY_TRY(o->alloc(o->ctx, (void **)&dp->adam_m, bytes, "AdamW first moments shard"));
        HY_TRY(o->alloc(o->ctx, (void **)&dp->adam_v, bytes, "AdamW second moments shard"));
        return hy_dp_scatter(dp, dp->master, host);
    }
    size_t bytes = dp->total * sizeof(float);
    dp->master_is_weights = o->act_dtype == HY_DTYPE_F32;
    if (dp->master_is_weights) dp->master = (float *)hy_model_weights(m);
    else {
        HY_TRY(o->alloc(o->ctx, (void **)&dp->master, bytes, "master weights (fp32)"));
        HY_TRY(o->to_dev(o->ctx, dp->master, host, bytes));
    }
    HY_TRY(o->alloc(o->ctx, (void **)&dp->adam_m, bytes, "AdamW first moments"));
    return o->alloc(o->ctx, (void **)&dp->adam_v, bytes, "AdamW second moments");
}

size_t hy_dp_optim_bytes(const hy_dp *dp) {
    size_t n = dp->sharded ? dp->plan.shard : dp->total;
    return (dp->master_is_weights ? 2 : 3) * n * sizeof(float);
}

hy_status hy_dp_scatter(hy_dp *dp, float *local, const float *host) {
    const hy_ops *o = dp->ops;
    for (int i = 0; i < dp->view.count; i++) {
        const hy_shard_seg *s = &dp->view.segs[i];
        if (s->n_used) HY_TRY(o->to_dev(o->ctx, local + s->local, host + s->flat, s->n_used * sizeof(float)));
    }
    return HY_OK;
}

hy_status hy_dp_gather(hy_dp *dp, const float *local, float *host) {
    const hy_ops *o = dp->ops;
    float *g = hy_model_grads(dp->m);
    HY_TRY(o->zero(o->ctx, g, dp->plan.padded * sizeof(float)));
    for (int i = 0; i < dp->view.count; i++) {
        const hy_shard_seg *s = &dp->view.segs[i];
        HY_TRY(o->copy(o->ctx, g + s->flat, local + s->local, s->len * sizeof(float)));
    }
    HY_TRY(o->sync(o->ctx));
    HY_TRY(hy_comm_all_gather_params(dp->comm, g, HY_DTYPE_F32, &dp->plan, NULL));
    return o->to_host(o->ctx, host, g, dp->total * sizeof(float));
}

hy_status hy_dp_sum(hy_dp *dp, double *vals, int n) {
    if (dp->world <= 1) return HY_OK;
    return hy_comm_all_reduce_host(dp->comm, vals, n, HY_COMM_SUM);
}

int hy_dp_any(hy_dp *dp, int flag) {
    if (dp->world <= 1) return flag;
    double v = flag;
    if (hy_comm_all_reduce_host(dp->comm, &v, 1, HY_COMM_MAX) != HY_OK) return 1;
    return v != 0;
}

/* The model's backward hook: layer `layer`'s backward has been queued, so
 * every bucket of stage ≥ layer is final (shard.h) and goes out now, after
 * the work queued so far on the backend stream.  The hook cannot return a
 * status: the first error is kept (later launches are skipped; the
 * communicator's failure is sticky anyway) and hy_dp_reduce reports it once
 * the backward has returned. */
static void hy_dp_layer_done(void *user, int layer) {
    hy_dp *dp = user;
    if (!dp->red_open || dp->red_err) return;
    hy_status st = hy_comm_reducer_ready(dp->comm, &dp->red, layer);
    if (st) {
        dp->red_err = st;
        snprintf(dp->red_msg, sizeof dp->red_msg, "%s", hy_last_error());
    }
}

void hy_dp_overlap_begin(hy_dp *dp) {
    const hy_ops *o = dp->ops;
    void *stream = o->stream ? o->stream(o->ctx) : NULL;
    hy_comm_reducer_begin(&dp->red, &dp->plan, hy_model_grads(dp->m), HY_COMM_SUM, stream);
    dp->red_open = 1;
    dp->red_err = HY_OK;
    dp->red_msg[0] = 0;
    if (dp->overlap) hy_model_set_backward_hook(dp->m, hy_dp_layer_done, dp);
}

/* Sharded: launch the buckets the hook has not (stage −1: embedding, meta
 * tokens — and all of them when the hook never ran), wait for the whole
 * reduce-scatter, Σ of squares of the owned chunks, all-reduced. */
static hy_status hy_dp_reduce_sharded(hy_dp *dp, double *sumsq) {
    const hy_ops *o = dp->ops;
    float *g = hy_model_grads(dp->m);
    if (!dp->red_open) hy_dp_overlap_begin(dp);
    hy_model_set_backward_hook(dp->m, NULL, NULL);
    dp->red_open = 0;
    if (dp->red_err)
        return hy_errorf(dp->red_err, "%s (while reduce-scattering gradient buckets during the backward)", dp->red_msg);
    hy_comm_ticket done;
    HY_TRY(hy_comm_reducer_finish(dp->comm, &dp->red, &done));
    /* host wait: bounded, and a dead or hung peer is named (a bare stream
     * sync would hang in NCCL); then later backend work is ordered after it */
    HY_TRY(hy_comm_wait(dp->comm, done));
    HY_TRY(hy_comm_order_before(dp->comm, dp->red.stream));
    double s = 0;
    for (int i = 0; i < dp->view.count; i++) {
        const hy_shard_seg *seg = &dp->view.segs[i];
        double part = 0;
        if (seg->n_used) HY_TRY(o->sumsq(o->ctx, &part, g + seg->flat, seg->n_used));
        s += part;
    }
    HY_TRY(hy_comm_all_reduce_host(dp->comm, &s, 1, HY_COMM_SUM));
    *sumsq = s;
    return HY_OK;
}

hy_status hy_dp_reduce(hy_dp *dp, double *sumsq) {
    if (dp->sharded) return hy_dp_reduce_sharded(dp, sumsq);
    const hy_ops *o = dp->ops;
    /* fixed order: sqrt gives hy_optim_global_norm's value */
    return o->sumsq(o->ctx, sumsq, hy_model_grads(dp->m), dp->total);
}

hy_status hy_dp_update(hy_dp *dp, const hy_adamw_hparams *h, int64_t t, double lr, float coef) {
    const hy_ops *o = dp->ops;
    float *g = hy_model_grads(dp->m);
    if (!dp->sharded) /* in backend memory; with bf16 storage the same pass refreshes the model's bf16 weights */
        return o->adamw(o->ctx, h, dp->groups, t, lr, coef, dp->master, g, dp->adam_m, dp->adam_v,
                        dp->master_is_weights ? NULL : hy_model_weights(dp->m));
    /* AdamW on the owned chunk of each bucket (its act-dtype copy lands in
     * the weights), and that bucket's all-gather right after it, ordered
     * after the update on the backend stream: the gathers of earlier buckets
     * run while later buckets are updated.  Without a stream (CPU backend)
     * every call is synchronous and the order is the program order.  The
     * view has one segment per bucket, in bucket order. */
    char *w = (char *)hy_model_weights(dp->m);
    size_t esz = hy_dtype_size(o->act_dtype);
    void *stream = o->stream ? o->stream(o->ctx) : NULL;
    if (!stream) HY_TRY(o->sync(o->ctx));
    hy_comm_ticket last = 0;
    for (int b = 0; b < dp->view.count; b++) {
        const hy_shard_seg *s = &dp->view.segs[b];
        HY_TRY(o->adamw(o->ctx, h, &s->groups, t, lr, coef, dp->master + s->local, g + s->flat, dp->adam_m + s->local,
                        dp->adam_v + s->local, (hy_act *)(w + s->flat * esz)));
        if (stream) HY_TRY(hy_comm_order_after(dp->comm, stream));
        else HY_TRY(o->sync(o->ctx));
        HY_TRY(hy_comm_all_gather_bucket(dp->comm, w, o->act_dtype, &dp->plan, b, &last));
    }
    /* host wait: bounded, and a dead or hung peer is named */
    return hy_comm_wait(dp->comm, last);
}

hy_status hy_dp_time_collectives(hy_dp *dp, int reps, double *rs_s, double *ag_s) {
    enum { MAX_REPS = 32 };
    double rs[MAX_REPS], ag[MAX_REPS];
    if (!dp->sharded || reps < 1 || reps > MAX_REPS)
        return hy_errorf(HY_ERR_ARG, "hy_dp_time_collectives: needs the sharded path and 1..%d rounds (got %d%s)", MAX_REPS, reps,
                         dp->sharded ? "" : ", plain path");
    const hy_ops *o = dp->ops;
    float *g = hy_model_grads(dp->m);
    void *w = hy_model_weights(dp->m);
    HY_TRY(o->sync(o->ctx));
    for (int i = -1; i < reps; i++) { /* round −1: untimed */
        HY_TRY(hy_comm_barrier(dp->comm));
        double t0 = hy_now_s();
        HY_TRY(hy_comm_reduce_scatter_grads(dp->comm, g, &dp->plan, HY_COMM_SUM, NULL));
        double t1 = hy_now_s();
        HY_TRY(hy_comm_barrier(dp->comm));
        double t2 = hy_now_s();
        HY_TRY(hy_comm_all_gather_params(dp->comm, w, o->act_dtype, &dp->plan, NULL));
        double t3 = hy_now_s();
        if (i >= 0) rs[i] = t1 - t0, ag[i] = t3 - t2;
    }
    *rs_s = hy_median(rs, reps);
    *ag_s = hy_median(ag, reps);
    return HY_OK;
}

void hy_dp_free(hy_dp *dp) {
    const hy_ops *o = dp->ops;
    if (o) {
        if (!dp->master_is_weights && dp->master) o->free(o->ctx, dp->master);
        if (dp->adam_m) o->free(o->ctx, dp->adam_m);
        if (dp->adam_v) o->free(o->ctx, dp->adam_v);
    }
    dp->master = dp->adam_m = dp->adam_v = NULL;
    if (dp->sharded) {
        hy_shard_view_free(&dp->view);
        hy_shard_plan_free(&dp->plan);
    }
    hy_comm_free(dp->comm);
    dp->comm = NULL;
    dp->ops = NULL;
}
