/* train_ckpt.c — training checkpoints: DIR/step-NNNNNN, published atomically.
 *
 * Contents: the Hugging Face model (config.json, model.safetensors, tokenizer
 * and generation files copied from the stage's model) so any checkpoint can be
 * used as a model directly, plus the exact training state:
 *   trainer_state.safetensors  master [total] F32, adam_m, adam_v (flat layout)
 *   trainer_state.json         format, version, step, updates, bad-step run,
 *                              loader cursor, total steps, parameter layout size
 *   recipe.yaml                the resolved recipe
 * Resume restores all of it, so the continued run is bitwise identical.
 * On a backend with its own memory (CUDA) the master weights and moments are
 * staged through one host block when saving and loading. */
#include <string.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/json.h"
#include "core/log.h"
#include "core/safetensors.h"
#include "train_internal.h"

enum { HY_TRAIN_STATE_VERSION = 1 };
static hy_status hy_write_state_json(hy_trainer *t, const char *dir) {
    hy_cursor c = hy_loader_tell(t->train);
    hy_json *j = hy_json_object(), *cur = hy_json_object();
    hy_status st = (!j || !cur) ? hy_errorf(HY_ERR_OOM, "out of memory") : HY_OK;
    if (!st) st = hy_json_set(j, "format", hy_json_string("hymba-trainer-state"));
    if (!st) st = hy_json_set(j, "version", hy_json_integer(HY_TRAIN_STATE_VERSION));
    if (!st) st = hy_json_set(j, "objective", hy_json_string(t->obj->name));
    if (!st) st = hy_json_set(j, "step", hy_json_integer(t->step));
    if (!st) st = hy_json_set(j, "updates", hy_json_integer(t->t_adam));
    if (!st) st = hy_json_set(j, "bad_steps_in_row", hy_json_integer(t->bad_in_row));
    if (!st) st = hy_json_set(j, "total_steps", hy_json_integer(t->total_steps));
    if (!st) st = hy_json_set(j, "param_elements", hy_json_integer((int64_t)t->total));
    if (!st) st = hy_json_set(cur, "epoch", hy_json_integer(c.epoch));
    if (!st) st = hy_json_set(cur, "index", hy_json_integer(c.index));
    /* world-size independent position: micro-batches of the epoch consumed by all ranks */
    if (!st) st = hy_json_set(cur, "world", hy_json_integer(t->dp.world > 0 ? t->dp.world : 1));
    if (!st) st = hy_json_set(cur, "global_index", hy_json_integer(c.index * (t->dp.world > 0 ? t->dp.world : 1)));
    if (!st) { st = hy_json_set(j, "cursor", cur); cur = NULL; }
    char path[HY_PATH_MAX];
    if (!st) st = hy_fs_join(path, sizeof path, dir, "trainer_state.json");
    if (!st) st = hy_json_save_file(j, path, HY_JSON_INDENT);
    hy_json_free(cur);
    hy_json_free(j);
    return st;
}

/* state: host copies of master, adam_m, adam_v [total] each. */
static hy_status hy_save_state(hy_trainer *t, const char *dir, float *const state[3]) {
    const hy_param_table *pt = hy_model_params(t->m);
    char path[HY_PATH_MAX], src[HY_PATH_MAX];
    hy_dtype dt = t->r->model.dtype == HY_RECIPE_DTYPE_FP32 ? HY_DTYPE_F32
                  : t->r->model.dtype == HY_RECIPE_DTYPE_BF16 ? HY_DTYPE_BF16
                  : t->ops->act_dtype;
    HY_TRY(hy_ckpt_save_weights(dir, pt, state[0], dt, (size_t)5 << 30));
    HY_TRY(hy_fs_join(src, sizeof src, t->model_dir, "config.json"));
    HY_TRY(hy_fs_join(path, sizeof path, dir, "config.json"));
    HY_TRY(hy_config_save(src, hy_model_config(t->m), path, dt == HY_DTYPE_F32 ? "float32" : "bfloat16"));
    HY_TRY(hy_ckpt_copy_companions(t->model_dir, dir, 1, NULL));
    hy_st_entry e[3] = {
        {.name = "master", .dtype = HY_DTYPE_F32, .ndim = 1, .shape = {(int64_t)t->total}, .data = state[0]},
        {.name = "adam_m", .dtype = HY_DTYPE_F32, .ndim = 1, .shape = {(int64_t)t->total}, .data = state[1]},
        {.name = "adam_v", .dtype = HY_DTYPE_F32, .ndim = 1, .shape = {(int64_t)t->total}, .data = state[2]},
    };
    HY_TRY(hy_fs_join(path, sizeof path, dir, "trainer_state.safetensors"));
    const char *meta[] = {"format", "hymba-trainer-state"};
    HY_TRY(hy_st_write(path, e, 3, meta, 1));
    HY_TRY(hy_write_state_json(t, dir));
    HY_TRY(hy_fs_join(path, sizeof path, dir, "recipe.yaml"));
    return hy_recipe_save(t->r, path);
}

/* Host staging of the optimizer state: the backend buffers themselves on the
 * CPU; one host block of 3 × total fp32 otherwise (freed with *stage). */
static hy_status hy_state_host(hy_trainer *t, float *host[3], float **stage) {
    float *dev[3] = {t->dp.master, t->dp.adam_m, t->dp.adam_v};
    const hy_ops *o = t->ops;
    *stage = NULL;
    if (o->host_memory && !t->dp.sharded) {
        for (int i = 0; i < 3; i++) host[i] = dev[i];
        return HY_OK;
    }
    HY_TRY(hy_malloc((void **)stage, 3 * t->total * sizeof(float), 0, "optimizer state staging"));
    for (int i = 0; i < 3; i++) host[i] = *stage + (size_t)i * t->total;
    return HY_OK;
}

/* Host copies of the full optimizer state; with ZeRO-1 every rank takes part
 * in gathering the shards (so every rank must call this). */
static hy_status hy_state_to_host(hy_trainer *t, float *host[3], float **stage) {
    float *dev[3] = {t->dp.master, t->dp.adam_m, t->dp.adam_v};
    HY_TRY(hy_state_host(t, host, stage));
    hy_status st = HY_OK;
    for (int i = 0; i < 3 && *stage && !st; i++)
        st = t->dp.sharded ? hy_dp_gather(&t->dp, dev[i], host[i]) : t->ops->to_host(t->ops->ctx, host[i], dev[i], t->total * sizeof(float));
    if (st) {
        hy_free(*stage);
        *stage = NULL;
    }
    return st;
}

/* Every rank calls this: the shards are gathered, rank 0 writes and
 * publishes, then all ranks meet (so no rank runs ahead of a checkpoint). */
hy_status hy_train_ckpt_save(hy_trainer *t, char *out_dir, size_t n) {
    char name[64], final_dir[HY_PATH_MAX];
    snprintf(name, sizeof name, "step-%06lld", (long long)t->step);
    HY_TRY(hy_fs_join(final_dir, sizeof final_dir, t->ckpt_root, name));
    float *host[3], *stage;
    HY_TRY(hy_state_to_host(t, host, &stage));
    hy_status st = HY_OK;
    if (t->dp.main) {
        hy_fs_publish p;
        st = hy_fs_publish_begin(&p, final_dir);
        if (!st) {
            st = hy_save_state(t, p.tmp_path, host);
            if (st) {
                hy_fs_publish_abort(&p);
                hy_error_context("saving checkpoint %s", final_dir);
            } else st = hy_fs_publish_commit(&p);
        }
        if (!st && t->r->checkpoint.keep_last > 0) st = hy_fs_prune_checkpoints(t->ckpt_root, "step-", (int)t->r->checkpoint.keep_last, NULL);
    }
    hy_free(stage);
    if (st && t->dp.world > 1) hy_comm_abort(t->dp.comm, hy_last_error());
    HY_TRY(st);
    if (t->dp.world > 1) HY_TRY(hy_comm_barrier(t->dp.comm));
    if (out_dir) snprintf(out_dir, n, "%s", final_dir);
    return HY_OK;
}

/* A checkpoint of `from` ranks resumed on `to` ranks: rank r's k-th
 * micro-batch is number k·world + r of the epoch plan, so after a step every
 * rank has consumed index·world of them.  The position must fall on a step
 * boundary of the new world size. */
static hy_status hy_train_ckpt_rescale_cursor(hy_trainer *t, const char *path, hy_cursor *c, int64_t from, int64_t to) {
    int64_t global = c->index * from, steps;
    if (global % to)
        return hy_errorf(HY_ERR_MISMATCH, "%s: written by %lld ranks after %lld micro-batches of epoch %lld, which %lld ranks cannot "
                                          "continue (not a multiple of %lld); resume on %lld ranks or a divisor of the position",
                         path, (long long)from, (long long)global, (long long)c->epoch, (long long)to, (long long)to, (long long)from);
    c->index = global / to;
    HY_TRY(hy_loader_steps_per_epoch(t->train, c->epoch, &steps));
    if (c->index >= steps) { /* the balancing tail of the epoch: continue with the next one */
        c->epoch++;
        c->index = 0;
    }
    hy_log_info("resuming a %lld-rank checkpoint on %lld ranks: epoch %lld, micro-batch %lld per rank", (long long)from, (long long)to,
                (long long)c->epoch, (long long)c->index);
    return HY_OK;
}

static hy_status hy_read_state_json(hy_trainer *t, const char *dir, hy_cursor *c) {
    char path[HY_PATH_MAX];
    HY_TRY(hy_fs_join(path, sizeof path, dir, "trainer_state.json"));
    hy_json *j;
    HY_TRY(hy_json_load_file(&j, path));
    hy_status st = HY_OK;
    const char *fmt = hy_json_str(hy_json_get(j, "format"));
    if (!fmt || strcmp(fmt, "hymba-trainer-state"))
        st = hy_errorf(HY_ERR_FORMAT, "%s: not a hymba trainer state (format \"%s\")", path, fmt ? fmt : "");
    else if (hy_json_int(hy_json_get(j, "version")) != HY_TRAIN_STATE_VERSION)
        st = hy_errorf(HY_ERR_MISMATCH, "%s: trainer state version %lld, this hymba reads version %d", path,
                       (long long)hy_json_int(hy_json_get(j, "version")), HY_TRAIN_STATE_VERSION);
    else if ((size_t)hy_json_int(hy_json_get(j, "param_elements")) != t->total)
        st = hy_errorf(HY_ERR_MISMATCH, "%s: made for a model with %lld parameter elements, this one has %zu (different config?)", path,
                       (long long)hy_json_int(hy_json_get(j, "param_elements")), t->total);
    else {
        const char *obj = hy_json_str(hy_json_get(j, "objective"));
        if (!obj || strcmp(obj, t->obj->name))
            st = hy_errorf(HY_ERR_MISMATCH, "%s: a %s checkpoint cannot resume a %s stage", path, obj ? obj : "?", t->obj->name);
    }
    if (!st) {
        t->step = hy_json_int(hy_json_get(j, "step"));
        t->t_adam = hy_json_int(hy_json_get(j, "updates"));
        t->bad_in_row = hy_json_int(hy_json_get(j, "bad_steps_in_row"));
        hy_json *cur = hy_json_get(j, "cursor");
        c->epoch = hy_json_int(hy_json_get(cur, "epoch"));
        c->index = hy_json_int(hy_json_get(cur, "index"));
        int64_t saved_world = hy_json_get(cur, "world") ? hy_json_int(hy_json_get(cur, "world")) : 1;
        int64_t world = t->dp.world > 0 ? t->dp.world : 1;
        if (saved_world != world) st = hy_train_ckpt_rescale_cursor(t, path, c, saved_world, world);
    }
    hy_json_free(j);
    return st;
}

static hy_status hy_load_from(hy_trainer *t, const char *dir) {
    hy_cursor c;
    HY_TRY(hy_read_state_json(t, dir, &c));
    char path[HY_PATH_MAX];
    HY_TRY(hy_fs_join(path, sizeof path, dir, "trainer_state.safetensors"));
    hy_st_file *f;
    HY_TRY(hy_st_open(&f, path));
    hy_status st = HY_OK;
    const char *names[3] = {"master", "adam_m", "adam_v"};
    float *dev[3] = {t->dp.master, t->dp.adam_m, t->dp.adam_v}, *dst[3], *stage = NULL;
    const hy_ops *o = t->ops;
    st = hy_state_host(t, dst, &stage);
    for (int i = 0; i < 3 && !st; i++) {
        const hy_st_tensor *x = hy_st_find(f, names[i]);
        if (!x || x->dtype != HY_DTYPE_F32 || x->numel != t->total)
            st = hy_errorf(HY_ERR_FORMAT, "%s: tensor '%s' missing or not F32 [%zu]", path, names[i], t->total);
        else st = hy_st_to_f32(x, dst[i]);
        if (!st && stage && t->dp.sharded) st = hy_dp_scatter(&t->dp, dev[i], dst[i]); /* keep this rank's chunks */
        else if (!st && stage) st = o->to_dev(o->ctx, dev[i], dst[i], t->total * sizeof(float));
    }
    hy_st_close(f);
    /* the model computes with the act-dtype rounding of the restored master weights */
    if (!st && t->dp.sharded) st = hy_model_set_weights(t->m, dst[0]);
    else if (!st && !t->dp.master_is_weights) st = o->cast_to_act(o->ctx, hy_model_weights(t->m), t->dp.master, t->total);
    hy_free(stage);
    HY_TRY(st);
    return hy_loader_seek(t->train, c);
}

/* Name what changed between the checkpoint's recipe and the current one. */
static void hy_train_ckpt_warn_recipe_changes(hy_trainer *t, const char *dir) {
    char path[HY_PATH_MAX], diff[2048];
    hy_recipe old;
    if (hy_fs_join(path, sizeof path, dir, "recipe.yaml") || !hy_fs_exists(path)) return;
    if (hy_recipe_load(&old, path, 0, NULL) != HY_OK) {
        hy_log_warn("%s: cannot read the saved recipe to compare: %s", path, hy_last_error());
        return;
    }
    int n = hy_recipe_diff(&old, t->r, diff, sizeof diff);
    if (n > 0) hy_log_warn("resuming with %d recipe setting(s) changed since the checkpoint:\n%s", n, diff);
    hy_recipe_free(&old);
}

hy_status hy_train_ckpt_resume(hy_trainer *t, int *resumed) {
    const hy_recipe_checkpoint *ck = &t->r->checkpoint;
    *resumed = 0;
    char dir[HY_PATH_MAX];
    if (ck->resume == HY_RESUME_NEVER) return HY_OK;
    if (ck->resume == HY_RESUME_PATH) snprintf(dir, sizeof dir, "%s", ck->resume_path);
    else {
        if (t->dp.main) HY_TRY(hy_fs_remove_stale(t->ckpt_root, NULL)); /* one rank cleans up */
        hy_fs_ckpt_list l;
        HY_TRY(hy_fs_list_checkpoints(t->ckpt_root, "step-", &l));
        if (l.count == 0) {
            hy_fs_ckpt_list_free(&l);
            return HY_OK;
        }
        hy_status st = hy_fs_join(dir, sizeof dir, t->ckpt_root, l.items[l.count - 1].name);
        hy_fs_ckpt_list_free(&l);
        HY_TRY(st);
    }
    hy_status st = hy_load_from(t, dir);
    if (st) {
        hy_error_context("resuming from %s", dir);
        return st;
    }
    hy_train_ckpt_warn_recipe_changes(t, dir);
    *resumed = 1;
    hy_log_info("resumed from %s (step %lld of %lld)", dir, (long long)t->step, (long long)t->total_steps);
    return HY_OK;
}
