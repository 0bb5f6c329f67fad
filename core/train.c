/* train.c — hy_train_run: setup, the step loop and the closing summary
 * (contract in train.h).  One step = `accum` micro-batches: a first pass over
 * their cursors counts the objective's units (the global normaliser), then
 * each micro-batch runs forward + backward with weights 1/units, gradients
 * accumulating in the model's flat fp32 buffer; then grad norm, finiteness,
 * clipping and one AdamW update on the fp32 master weights.
 * Backend (train.device / train.precision, kernels/backend.h): gradients,
 * master weights and AdamW moments live in backend memory and the norm and
 * the update are ops of the table, so on CUDA a step moves only the batch in
 * and a few scalars out; the memory plan is checked before allocating. */
#include <math.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/checkpoint.h"
#include "train_internal.h"
#include "core/timer.h"


void hy_train_shift_targets(const hy_microbatch *mb, int32_t *targets) {
    for (int d = 0; d < mb->n_docs; d++) {
        int s = mb->doc_start[d], L = mb->doc_len[d];
        for (int i = 0; i < L; i++) targets[s + i] = i + 1 < L ? mb->labels[s + i + 1] : -100;
    }
}

/* The model's activation plan for the recipe's train.recompute. */
static int hy_train_model_mode(const hy_trainer *t) {
    return t->r->train.recompute == HY_RECOMPUTE_NONE ? HY_MODEL_TRAIN_KEEP_ALL : HY_MODEL_TRAIN;
}

/* Recipe enums → backend names (kernels/backend.h). */
static const char *hy_train_device_name(hy_device_kind d) {
    return d == HY_DEVICE_CPU ? "cpu" : d == HY_DEVICE_CUDA ? "cuda" : "auto";
}
static const char *hy_train_precision_name(hy_precision p) {
    return p == HY_PRECISION_BF16 ? "bf16" : p == HY_PRECISION_FP32 ? "fp32" : "auto";
}

/* Memory plan of a backend with its own memory (a GPU), checked before
 * anything big is allocated: model weights, gradients, fp32 master weights
 * (unless the storage is fp32: then the weights are the master copy), AdamW
 * moments, activations for one micro-batch and an estimate of op scratch.
 * The host backend allocates as it goes and reports failures itself. */
static hy_status hy_train_plan_memory(hy_trainer *t, const hy_config *cfg, const hy_model_limits *lim) {
    const hy_ops *o = t->ops;
    if (o->host_memory) return HY_OK;
    hy_model_mem mm;
    HY_TRY(hy_model_plan_bytes_lim(cfg, o->act_dtype, lim, hy_train_model_mode(t), &mm));
    size_t f32 = mm.params * sizeof(float), rows = (size_t)t->budget;
    size_t acts = mm.activations + mm.statistics + mm.metadata;
    /* the scan backward's scratch (~two fp32 [rows, DI]) is the largest op scratch */
    size_t scratch = 2 * rows * (size_t)cfg->di * sizeof(float), reserve = (size_t)512 << 20;
    size_t fixed = mm.weights + mm.grads + (o->act_dtype == HY_DTYPE_F32 ? 0 : f32) + 2 * f32;
    char wl[48], al[80], hint[400];
    snprintf(wl, sizeof wl, "weights (%s)", hy_dtype_name(o->act_dtype));
    snprintf(al, sizeof al, "activations (%d tokens per micro-batch)", t->budget);
    hy_mem_item it[] = {{wl, mm.weights}, {"gradients (fp32)", mm.grads},
                        {"master weights (fp32)", o->act_dtype == HY_DTYPE_F32 ? 0 : f32}, {"AdamW moments (fp32)", 2 * f32},
                        {al, acts}, {"op scratch (estimate)", scratch}};
    size_t fr, tot;
    HY_TRY(hy_backend_mem_info(o, &fr, &tot));
    double per_token = (double)(acts + scratch) / (double)t->budget;
    double fit = fr > fixed + reserve ? (double)(fr - fixed - reserve) / per_token : 0;
    if (fit > cfg->num_meta + 1)
        snprintf(hint, sizeof hint, "set data.tokens_per_micro_batch to %lld or less (%s: about %.2f MiB per token of the micro-batch; "
                 "train.global_batch_tokens keeps the global batch by accumulating more micro-batches)%s",
                 (long long)fit, t->r->source, per_token / 1048576.0,
                 o->act_dtype == HY_DTYPE_F32 ? ", or use train.precision bf16" : "");
    else
        snprintf(hint, sizeof hint, "the weights and optimizer state alone do not fit; use a GPU with more memory%s",
                 o->act_dtype == HY_DTYPE_F32 ? " or train.precision bf16" : "");
    HY_TRY(hy_backend_check_fit(o, it, (int)HY_ARRAY_LEN(it), reserve, hint));
    char bn[32], bf[32], ba[32], bo[32];
    hy_fmt_bytes(bn, sizeof bn, (double)(fixed + acts + scratch + reserve));
    hy_fmt_bytes(bf, sizeof bf, (double)fr);
    hy_fmt_bytes(ba, sizeof ba, (double)acts);
    hy_fmt_bytes(bo, sizeof bo, (double)fixed);
    hy_log_info("memory plan on %s: %s of %s free (weights, gradients and optimizer state %s, activations %s)", o->name, bn, bf, bo, ba);
    return HY_OK;
}

static hy_status hy_train_setup_model(hy_trainer *t) {
    const hy_recipe *r = t->r;
    char device[32];
    hy_dp_device(&t->dp, device, sizeof device, hy_train_device_name(r->train.device));
    hy_status st = hy_backend_create(&t->ops, device, hy_train_precision_name(r->train.precision));
    if (st) {
        hy_error_context("%s: train.device %s, train.precision %s", r->source, hy_train_device_name(r->train.device),
                         hy_train_precision_name(r->train.precision));
        return st;
    }
    hy_config cfg;
    HY_TRY(hy_ckpt_load_config(t->model_dir, &cfg));
    t->budget = (int)r->data.tokens_per_micro_batch;
    int M = cfg.num_meta;
    if (t->budget < M + 1) return hy_errorf(HY_ERR_CONFIG, "%s: data.tokens_per_micro_batch (%d) must exceed the %d meta tokens", r->source, t->budget, M);
    hy_model_limits lim = hy_model_limits_for_budget(t->budget, M);
    HY_TRY(hy_train_plan_memory(t, &cfg, &lim));
    size_t buffer_elems;
    HY_TRY(hy_dp_plan(&t->dp, &cfg, &buffer_elems));
    HY_TRY(hy_model_open_lim(&t->m, t->model_dir, t->ops, &lim, hy_train_model_mode(t), buffer_elems));
    t->total = hy_model_params(t->m)->total;
    HY_TRY(hy_optim_groups_build(&t->groups, hy_model_params(t->m), r->train.no_decay));
    HY_TRY(hy_train_dist_alloc_optim(t));
    t->adam = (hy_adamw_hparams){r->optim.beta1, r->optim.beta2, r->optim.eps, r->train.weight_decay};
    return HY_OK;
}

/* Count the step's units over its micro-batches, then rewind the cursor. */
static hy_status hy_train_step_units(hy_trainer *t, double *units) {
    hy_cursor c0 = hy_loader_tell(t->train);
    hy_microbatch mb;
    *units = 0;
    for (int k = 0; k < t->accum; k++) {
        HY_TRY(hy_loader_next(t->train, &mb));
        if (mb.n_docs) *units += t->obj->units(t->obj->self, &mb);
    }
    HY_TRY(hy_dp_sum(&t->dp, units, 1)); /* the whole global batch, every rank */
    return hy_loader_seek(t->train, c0);
}

static hy_status hy_train_step(hy_trainer *t, hy_obj_acc *acc) {
    double units;
    HY_TRY(hy_train_step_units(t, &units));
    HY_TRY(hy_model_zero_grads(t->m));
    memset(acc, 0, sizeof *acc);
    acc->units = units;
    hy_microbatch mb;
    for (int k = 0; k < t->accum; k++) {
        HY_TRY(hy_loader_next(t->train, &mb));
        if (t->dp.sharded && k == t->accum - 1) hy_dp_overlap_begin(&t->dp); /* its backward overlaps the reduce-scatter */
        if (mb.n_docs == 0 || units <= 0) continue;
        HY_TRY(t->obj->micro(t->obj->self, t->m, &mb, units, 1, acc));
    }
    double lr = hy_schedule_lr(&t->sched, t->step);
    t->last_lr = lr;
    double norm = NAN, sumsq;
    if (t->dp.sharded || units > 0) { /* sharded: every rank reduce-scatters (a collective), even with no units */
        hy_status st = hy_dp_reduce(&t->dp, &sumsq);
        if (st) {
            hy_error_context("step %lld", (long long)t->step + 1);
            return st;
        }
        if (units > 0) norm = sqrt(sumsq);
    }
    if (t->dp.world > 1) { /* metric sums over the ranks (the units already are) */
        double v[3 + HY_OBJ_MAX_METRICS] = {acc->loss_sum, (double)acc->tokens, (double)acc->supervised};
        for (int k = 0; k < t->obj->n_extra; k++) v[3 + k] = acc->extra[k];
        HY_TRY(hy_dp_sum(&t->dp, v, 3 + t->obj->n_extra));
        acc->loss_sum = v[0];
        acc->tokens = (int64_t)v[1];
        acc->supervised = (int64_t)v[2];
        for (int k = 0; k < t->obj->n_extra; k++) acc->extra[k] = v[3 + k];
    }
    double loss = units > 0 ? acc->loss_sum / units : NAN;
    t->last_grad_norm = norm;
    t->step++;
    if (!hy_optim_norm_ok(norm) || !isfinite(loss)) {
        t->bad_in_row++;
        char msg[256];
        snprintf(msg, sizeof msg, "step %lld: %s (loss %g, grad norm %g): update skipped (%lld in a row, limit %lld)", (long long)t->step,
                 units > 0 ? "non-finite loss or gradients" : "no supervised target in the global batch", loss, norm,
                 (long long)t->bad_in_row, (long long)t->r->train.max_bad_steps);
        if (t->dp.main) hy_progress_line_message(&t->prog, msg);
        if (t->bad_in_row >= t->r->train.max_bad_steps)
            return hy_errorf(HY_ERR_NUMERIC, "stopping: %lld steps in a row had non-finite loss or gradients (train.max_bad_steps); "
                                             "lower train.lr or check the data", (long long)t->bad_in_row);
        return HY_OK;
    }
    t->bad_in_row = 0;
    float coef = (float)hy_optim_clip_coef(norm, t->r->train.grad_clip);
    t->t_adam++;
    return hy_dp_update(&t->dp, &t->adam, t->t_adam, lr, coef);
}

static hy_status hy_train_log(hy_trainer *t, const hy_obj_acc *acc, int force) {
    t->tokens_since_log += acc->tokens;
    t->tokens_total += acc->tokens;
    if (acc->units > 0) t->last_loss = acc->loss_sum / acc->units;
    t->sup_since_log += acc->supervised;
    if (acc->units > 0) { t->loss_since_log += acc->loss_sum; t->units_since_log += acc->units; }
    t->steps_since_log++;
    if (!t->dp.main || (!force && t->step % t->r->log.every != 0)) return HY_OK;
    double now = hy_now_s();
    hy_train_progress p = {
        .step = t->step, .total_steps = t->total_steps, .epoch = hy_train_epoch_progress(t),
        .loss = t->units_since_log > 0 ? t->loss_since_log / t->units_since_log : NAN, .lr = t->last_lr,
        .grad_norm = t->last_grad_norm, .tokens_per_s = t->tokens_since_log / fmax(now - t->t_log, 1e-9),
        .tokens = t->tokens_since_log, .supervised_tokens = t->sup_since_log, .elapsed_s = now - t->t_start};
    p.eta_s = hy_train_eta(p.elapsed_s, t->step - t->step_at_start, t->total_steps - t->step);
    hy_json *extra = hy_json_object();
    for (int k = 0; extra && k < t->obj->n_extra; k++)
        hy_json_set(extra, t->obj->extra_names[k],
                    hy_metrics_number(t->obj->extra_is_mean[k] && acc->units > 0 ? acc->extra[k] / acc->units : acc->extra[k]));
    hy_status st = hy_metrics_log_train(t->metrics, &p, extra);
    hy_json_free(extra);
    hy_progress_line_update(&t->prog, &p);
    t->tokens_since_log = t->sup_since_log = t->steps_since_log = 0;
    t->loss_since_log = t->units_since_log = 0;
    t->t_log = now;
    return st;
}

static void hy_train_free(hy_trainer *t) {
    hy_metrics_close(t->metrics);
    hy_train_data_close(t);
    hy_optim_groups_free(&t->groups);
    hy_dp_free(&t->dp); /* optimizer state (before the backend goes), plan, communicator */
    hy_model_free(t->m);
    hy_backend_destroy(t->ops);
}

static hy_status hy_train_setup(hy_trainer *t) {
    const hy_recipe *r = t->r;
    snprintf(t->ckpt_root, sizeof t->ckpt_root, "%s", r->checkpoint.dir);
    HY_TRY(hy_dp_init(&t->dp, r->train.device == HY_DEVICE_CPU || !hy_backend_has_cuda()));
    HY_TRY(hy_fs_mkdir_p(t->ckpt_root));
    HY_TRY(hy_train_setup_model(t));
    HY_TRY(hy_train_data_open(t));
    HY_TRY(hy_schedule_init(&t->sched, r->train.schedule, r->train.lr, r->train.min_lr, t->total_steps, r->train.warmup_steps,
                            r->train.warmup_ratio, r->train.decay_ratio, r->train.decay_shape));
    if (t->obj->prepare) { /* rank 0 first (it may write a cache), then the others reuse it */
        if (t->dp.main) HY_TRY(t->obj->prepare(t->obj->self, r, t->m, (const char *const *)t->stores, t->n_train, t->n_eval));
        if (t->dp.world > 1) HY_TRY(hy_comm_barrier(t->dp.comm));
        if (!t->dp.main) HY_TRY(t->obj->prepare(t->obj->self, r, t->m, (const char *const *)t->stores, t->n_train, t->n_eval));
    }
    int resumed;
    HY_TRY(hy_train_ckpt_resume(t, &resumed));
    if (!t->dp.main) return HY_OK;
    HY_TRY(hy_metrics_open(&t->metrics, r->log.metrics, resumed ? t->step : -1));
    char path[HY_PATH_MAX];
    HY_TRY(hy_fs_join(path, sizeof path, t->ckpt_root, "recipe.yaml"));
    return hy_recipe_save(r, path);
}

static void hy_train_banner(hy_trainer *t) {
    const hy_config *c = hy_model_config(t->m);
    char params[32], mem[32];
    hy_format_count(params, sizeof params, (double)hy_model_params(t->m)->n_params);
    hy_fmt_bytes(mem, sizeof mem, (double)hy_model_bytes(t->m));
    fprintf(stderr, "hymba %s: %s parameters (%d layers, hidden %d) on %s (%s storage), %s of model memory\n", t->obj->name, params,
            c->num_layers, c->hidden_size, t->ops->name, hy_dtype_name(t->ops->act_dtype), mem);
    fprintf(stderr, "hymba %s: %lld steps of %d micro-batch(es) x %d tokens, lr %.3g (%s), checkpoints in %s\n", t->obj->name,
            (long long)t->total_steps, t->accum, t->budget, t->r->train.lr, hy_sched_kind_name(t->r->train.schedule), t->ckpt_root);
}

static hy_status hy_train_loop(hy_trainer *t, char *last_ckpt, size_t n) {
    const hy_recipe *r = t->r;
    hy_obj_acc acc;
    t->t_start = t->t_log = hy_now_s();
    t->step_at_start = t->step;
    int saved_at_end = 0;
    while (t->step < t->total_steps) {
        HY_TRY(hy_train_step(t, &acc));
        int last = t->step == t->total_steps;
        HY_TRY(hy_train_log(t, &acc, last));
        if (r->train.eval_every > 0 && t->step % r->train.eval_every == 0 && !last) HY_TRY(hy_train_eval(t));
        int stop = hy_dp_any(&t->dp, hy_train_stop_requested()); /* every rank stops at the same step */
        if (last || stop || (r->checkpoint.every > 0 && t->step % r->checkpoint.every == 0)) {
            HY_TRY(hy_train_ckpt_save(t, last_ckpt, n));
            saved_at_end = last;
        }
        if (stop && !last) {
            if (t->dp.main) hy_progress_line_finish(&t->prog);
            return hy_errorf(HY_ERR_INTERRUPTED, "stopped by a signal after step %lld of %lld; checkpoint saved in %s; run the same "
                                                 "command again to resume (checkpoint.resume: auto)", (long long)t->step,
                             (long long)t->total_steps, last_ckpt);
        }
    }
    if (!saved_at_end && t->step_at_start == t->step) {
        /* resumed from the final checkpoint: nothing left to do */
        hy_fs_ckpt_list l;
        HY_TRY(hy_fs_list_checkpoints(t->ckpt_root, "step-", &l));
        if (l.count) hy_fs_join(last_ckpt, n, t->ckpt_root, l.items[l.count - 1].name);
        hy_fs_ckpt_list_free(&l);
    }
    HY_TRY(hy_train_eval(t));
    if (t->dp.main) hy_progress_line_finish(&t->prog);
    if (t->dp.world > 1) HY_TRY(hy_comm_barrier(t->dp.comm));
    return HY_OK;
}

hy_status hy_train_run(const hy_recipe *r, hy_objective *obj, char **final_dir) {
    hy_trainer t;
    memset(&t, 0, sizeof t);
    t.r = r;
    t.obj = obj;
    t.model_dir = r->model.path;
    hy_progress_line_init(&t.prog, stderr);
    hy_train_signals_install();
    char last[HY_PATH_MAX] = "";
    hy_status st = hy_train_setup(&t);
    if (!st) {
        if (t.dp.main) hy_train_banner(&t);
        st = hy_train_loop(&t, last, sizeof last);
    }
    if (st && st != HY_ERR_INTERRUPTED && t.dp.comm && t.dp.world > 1) hy_comm_abort(t.dp.comm, hy_last_error()); /* the others stop at once */
    if ((!st || st == HY_ERR_INTERRUPTED) && t.dp.main) {
        double secs = hy_now_s() - t.t_start;
        char d[32];
        char tps[32];
        hy_format_count(tps, sizeof tps, secs > 0 ? (double)t.tokens_total / secs : 0);
        if (!st) fprintf(stderr, "hymba %s: done: %lld steps in %s (%s tokens/s), last step loss %.4f; final checkpoint %s\n", obj->name,
                         (long long)t.step, hy_format_duration(d, sizeof d, secs), tps, t.last_loss, last);
    }
    if (!st && final_dir) {
        *final_dir = strdup(last);
        if (!*final_dir) st = hy_errorf(HY_ERR_OOM, "out of memory");
    }
    hy_train_free(&t);
    return st;
}
