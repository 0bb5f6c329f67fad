/* train_data.c — the trainer's data: token stores prepared (or reused when
 * every hash matches) for each dataset of the recipe, the training loader
 * (weighted mixing, packing, shuffling, cursor) and one loader per eval set;
 * evaluation = forward-only passes in store order. */
#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/log.h"
#include "datasets/chat.h"
#include "datasets/prepare.h"
#include "train_internal.h"

static void hy_data_opts_from_recipe(const hy_recipe *r, hy_rec_kind kind, hy_data_opts *o) {
    hy_data_opts_default(o);
    o->kind = kind == HY_REC_PREF ? HY_KIND_PREF : HY_KIND_SFT;
    o->max_len = (int32_t)r->data.max_length;
    o->over_length = r->data.overlength == HY_OVERLENGTH_TRUNCATE ? HY_OVER_TRUNCATE : HY_OVER_DROP;
    o->on_error = r->data.on_error == HY_ON_ERROR_SKIP ? HY_BAD_RECORD_SKIP : HY_BAD_RECORD_FAIL;
    o->add_bos = r->data.add_bos;
    o->add_eos = r->data.add_eos;
    o->train_on = r->data.train_on == HY_RECIPE_TRAIN_ON_LAST         ? HY_TRAIN_LAST_ASSISTANT
                  : r->data.train_on == HY_RECIPE_TRAIN_ON_EVERYTHING ? HY_TRAIN_EVERYTHING
                                                                      : HY_TRAIN_ALL_ASSISTANT;
}

/* Prepare (or reuse) the store of every dataset: stores[0..n_train) train, then eval. */
static hy_status hy_train_prepare_stores(hy_trainer *t) {
    const hy_recipe *r = t->r;
    hy_tokenizer *tok = NULL;
    hy_chat_template *tpl = NULL;
    hy_status st;
    HY_CHECK_GOTO(st, hy_tok_load(&tok, t->model_dir), done);
    HY_CHECK_GOTO(st, hy_chat_template_load(&tpl, t->model_dir), done);
    hy_encoder enc;
    hy_encoder_chat(&enc, tpl, tok);
    hy_prepare_opts po;
    hy_prepare_opts_default(&po);
    hy_data_opts_from_recipe(r, t->obj->data_kind, &po.data);
    po.model_dir = t->model_dir;
    int n = t->n_train + t->n_eval;
    HY_CHECK_GOTO(st, hy_malloc((void **)&t->stores, sizeof(char *) * (size_t)n, 1, "store paths"), done);
    for (int i = 0; i < n; i++) {
        const hy_recipe_dataset *d = i < t->n_train ? &r->data.train.items[i] : &r->data.eval.items[i - t->n_train];
        const char *files[1] = {d->path};
        HY_CHECK_GOTO(st, hy_malloc((void **)&t->stores[i], HY_PATH_MAX, 1, "store path"), done);
        const char *cache = r->data.cache_dir && *r->data.cache_dir ? r->data.cache_dir : NULL;
        HY_CHECK_GOTO(st, hy_prepare_default_path(t->stores[i], HY_PATH_MAX, cache, files, 1), done);
        hy_prepare_report rep;
        st = hy_prepare_ensure(files, 1, t->stores[i], &enc, &po, &rep);
        if (st) {
            hy_error_context("preparing dataset %s", d->path);
            goto done;
        }
        if (rep.rebuilt) {
            hy_log_info("prepared %s: %lld samples, %lld tokens (%s)", d->name, (long long)rep.stats.samples, (long long)rep.stats.tokens,
                        rep.why);
            if (rep.stats.skipped || rep.stats.dropped_long || rep.stats.dropped_prompt || rep.stats.truncated)
                hy_log_warn("%s: %lld records skipped, %lld dropped as too long, %lld preference prompts too long, %lld truncated",
                            d->name, (long long)rep.stats.skipped, (long long)rep.stats.dropped_long, (long long)rep.stats.dropped_prompt,
                            (long long)rep.stats.truncated);
        }
    }
done:
    hy_chat_template_free(tpl);
    hy_tok_free(tok);
    return st;
}

static hy_status hy_train_open_loaders(hy_trainer *t) {
    const hy_recipe *r = t->r;
    hy_loader_opts lo;
    hy_loader_opts_default(&lo);
    lo.budget = t->budget;
    lo.meta_tokens = hy_model_config(t->m)->num_meta;
    lo.seed = (uint64_t)(r->data.seed >= 0 ? r->data.seed : r->train.seed);
    lo.rank = t->dp.rank;  /* data-parallel shard; eval loaders below run whole on every rank */
    lo.world = t->dp.world > 0 ? t->dp.world : 1;
    hy_loader_source *src;
    HY_TRY(hy_malloc((void **)&src, sizeof *src * (size_t)(t->n_train + 1), 1, "loader sources"));
    for (int i = 0; i < t->n_train; i++) src[i] = (hy_loader_source){t->stores[i], r->data.train.items[i].weight};
    hy_status st = hy_loader_create(&t->train, src, t->n_train, &lo);
    hy_free(src);
    HY_TRY(st);
    if (t->n_eval) HY_TRY(hy_malloc((void **)&t->eval, sizeof(hy_loader *) * (size_t)t->n_eval, 1, "eval loaders"));
    lo.shuffle = 0;
    lo.rank = 0;
    lo.world = 1;
    for (int i = 0; i < t->n_eval; i++) {
        hy_loader_source one = {t->stores[t->n_train + i], 1.0};
        HY_TRY(hy_loader_create(&t->eval[i], &one, 1, &lo));
    }
    return HY_OK;
}

/* Steps per epoch, accumulation and the total number of optimizer steps. */
static hy_status hy_train_count_steps(hy_trainer *t) {
    const hy_recipe *r = t->r;
    hy_loader_epoch_stats es;
    HY_TRY(hy_loader_epoch_stats_get(t->train, 0, &es));
    int64_t world = t->dp.world > 0 ? t->dp.world : 1; /* a step takes `accum` micro-batches on every rank */
    if (r->train.global_batch_tokens > 0) t->accum = (int)HY_CEIL_DIV(r->train.global_batch_tokens, (int64_t)t->budget * world);
    else if (r->train.global_batch_sequences > 0) {
        double docs_per_mb = es.n_bins ? (double)es.n_items / (double)es.n_bins : 1.0;
        t->accum = (int)ceil((double)r->train.global_batch_sequences / (docs_per_mb > 0 ? docs_per_mb : 1.0) / (double)world);
    } else t->accum = 1;
    if (t->accum < 1) t->accum = 1;
    t->n_epochs = r->train.max_steps > 0 ? 0 : r->train.epochs;
    int64_t mbs = 0;
    if (t->n_epochs > 0) {
        HY_TRY(hy_malloc((void **)&t->epoch_steps, sizeof(int64_t) * (size_t)t->n_epochs, 1, "epoch sizes"));
        for (int64_t e = 0; e < t->n_epochs; e++) {
            HY_TRY(hy_loader_steps_per_epoch(t->train, e, &t->epoch_steps[e]));
            mbs += t->epoch_steps[e];
        }
        t->total_steps = HY_CEIL_DIV(mbs, (int64_t)t->accum);
    } else t->total_steps = r->train.max_steps;
    if (t->total_steps < 1) return hy_errorf(HY_ERR_CONFIG, "the training data gives no step (epochs %lld, max_steps %lld)",
                                             (long long)r->train.epochs, (long long)r->train.max_steps);
    hy_log_info("data: %lld micro-batches per epoch (packing efficiency %.1f%%), %d per step, %lld steps", (long long)es.steps,
                100.0 * es.efficiency, t->accum, (long long)t->total_steps);
    return HY_OK;
}

hy_status hy_train_data_open(hy_trainer *t) {
    t->n_train = t->r->data.train.count;
    t->n_eval = t->r->data.eval.count;
    if (t->n_train < 1) return hy_errorf(HY_ERR_CONFIG, "%s: data.train: at least one training dataset is required", t->r->source);
    /* rank 0 prepares the stores; the other ranks then find them up to date */
    if (t->dp.main || t->dp.world <= 1) HY_TRY(hy_train_prepare_stores(t));
    if (t->dp.world > 1) {
        HY_TRY(hy_comm_barrier(t->dp.comm));
        if (!t->dp.main) HY_TRY(hy_train_prepare_stores(t));
    }
    HY_TRY(hy_train_open_loaders(t));
    return hy_train_count_steps(t);
}

void hy_train_data_close(hy_trainer *t) {
    for (int i = 0; t->stores && i < t->n_train + t->n_eval; i++) hy_free(t->stores[i]);
    hy_free(t->stores);
    hy_loader_free(t->train);
    for (int i = 0; t->eval && i < t->n_eval; i++) hy_loader_free(t->eval[i]);
    hy_free(t->eval);
    hy_free(t->epoch_steps);
}

double hy_train_epoch_progress(hy_trainer *t) {
    hy_cursor c = hy_loader_tell(t->train);
    int64_t steps = 0;
    if (hy_loader_steps_per_epoch(t->train, c.epoch, &steps) != HY_OK || steps <= 0) return (double)c.epoch;
    return (double)c.epoch + (double)c.index / (double)steps;
}

/* One pass over each eval set: loss and perplexity per set. */
hy_status hy_train_eval(hy_trainer *t) {
    for (int i = 0; i < t->n_eval; i++) {
        hy_loader *l = t->eval[i];
        HY_TRY(hy_loader_seek(l, (hy_cursor){0, 0}));
        int64_t steps;
        HY_TRY(hy_loader_steps_per_epoch(l, 0, &steps));
        hy_obj_acc acc;
        memset(&acc, 0, sizeof acc);
        hy_microbatch mb;
        t->obj->split = 1 + i;
        for (int64_t s = 0; s < steps; s++) {
            HY_TRY(hy_loader_next(l, &mb));
            if (mb.n_docs == 0) continue;
            acc.units += t->obj->units(t->obj->self, &mb);
            HY_TRY(t->obj->micro(t->obj->self, t->m, &mb, 1.0, 0, &acc));
        }
        t->obj->split = 0;
        double loss = acc.units > 0 ? acc.loss_sum / acc.units : NAN;
        const char *name = t->r->data.eval.items[i].name;
        hy_json *extra = hy_json_object();
        for (int k = 0; extra && k < t->obj->n_extra; k++)
            hy_json_set(extra, t->obj->extra_names[k], hy_metrics_number(t->obj->extra_is_mean[k] && acc.units > 0 ? acc.extra[k] / acc.units : acc.extra[k]));
        hy_status st = t->dp.main ? hy_metrics_log_eval(t->metrics, t->step, name, loss, acc.supervised, extra) : HY_OK;
        hy_json_free(extra);
        HY_TRY(st);
        char line[512];
        if (t->obj->data_kind == HY_REC_SFT)
            snprintf(line, sizeof line, "eval %s @ step %lld: loss %.4f, ppl %.3f, %lld supervised tokens", name, (long long)t->step, loss,
                     exp(loss), (long long)acc.supervised);
        else
            snprintf(line, sizeof line, "eval %s @ step %lld: loss %.4f, %lld supervised tokens", name, (long long)t->step, loss,
                     (long long)acc.supervised);
        for (int k = 0; k < t->obj->n_shown && k < t->obj->n_extra; k++) {
            size_t o = strlen(line);
            snprintf(line + o, sizeof line - o, ", %s %.4g", t->obj->extra_names[k],
                     t->obj->extra_is_mean[k] && acc.units > 0 ? acc.extra[k] / acc.units : acc.extra[k]);
        }
        if (t->dp.main) hy_progress_line_message(&t->prog, line);
    }
    return HY_OK;
}
