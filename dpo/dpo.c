/* dpo.c — the DPO objective (dpo.h).  Per micro-batch: shift the labels into
 * targets inside each document, one policy forward for per-token losses,
 * the reference's per-document sums from the hy_dpo_ref in use (the
 * precomputed cache or a live frozen model), the per-pair loss and its
 * derivative with respect to each side's log-prob sum, then one backward
 * with per-token weights −∂L/∂S_side / norm (norm = pairs in the global
 * batch), so the gradients summed over the micro-batches of a step are those
 * of the mean pair loss of the whole global batch.
 *
 * Invariants: a micro-batch holds whole pairs, chosen at document 2k and
 * rejected at 2k + 1 (the loader's layout, checked here); the reference's
 * target count of every document must equal the policy's (a cache made from
 * other data cannot slip through). */
#include "dpo/dpo.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/log.h"
#include "dpo/ref_cache.h"

/* Metric slots: the first two are also printed on the eval line. */
enum {
    HY_DPO_M_ACC = 0,
    HY_DPO_M_MARGIN,
    HY_DPO_M_REW_C,
    HY_DPO_M_REW_R,
    HY_DPO_M_LOGP_C,
    HY_DPO_M_LOGP_R,
    HY_DPO_M_REF_C,
    HY_DPO_M_REF_R,
    HY_DPO_M_NLL,
    HY_DPO_M_COUNT
};
static const char *const hy_dpo_metric_names[HY_DPO_M_COUNT] = {
    "rewards/accuracies", "rewards/margins",    "rewards/chosen",     "rewards/rejected", "logps/chosen",
    "logps/rejected",     "ref_logps/chosen",   "ref_logps/rejected", "nll_loss"};

/* ---------------------------------------------------------------- the loss */

/* log σ(x) = −softplus(−x), without overflow for large |x|. */
static double hy_log_sigmoid(double x) { return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x)); }
static double hy_sigmoid(double x) {
    if (x >= 0) return 1.0 / (1.0 + exp(-x));
    double e = exp(x);
    return e / (1.0 + e);
}

void hy_dpo_pair_loss(const hy_dpo_params *p, const hy_dpo_pair_in *in, hy_dpo_pair_out *out) {
    /* TRL computes IPO on per-token averages of policy and reference log-probs */
    int norm = p->length_normalize || p->loss == HY_DPO_LOSS_IPO;
    double scale[2];
    for (int s = 0; s < 2; s++) {
        scale[s] = !norm ? 1.0 : in->n[s] > 0 ? 1.0 / (double)in->n[s] : 0.0;
        out->logp[s] = in->pol[s] * scale[s];
        out->ref_logp[s] = in->ref[s] * scale[s];
        out->reward[s] = p->beta * (out->logp[s] - out->ref_logp[s]);
    }
    double delta = (out->logp[0] - out->ref_logp[0]) - (out->logp[1] - out->ref_logp[1]);
    double b = p->beta, x = b * delta, eps = p->label_smoothing;
    double loss, dldelta;
    switch (p->loss) {
    case HY_DPO_LOSS_IPO: {
        double g = delta - 1.0 / (2.0 * b);
        loss = g * g;
        dldelta = 2.0 * g;
        break;
    }
    case HY_DPO_LOSS_HINGE:
        loss = x < 1.0 ? 1.0 - x : 0.0;
        dldelta = x < 1.0 ? -b : 0.0; /* relu'(0) = 0, as torch */
        break;
    case HY_DPO_LOSS_ROBUST:
        loss = (-(1.0 - eps) * hy_log_sigmoid(x) + eps * hy_log_sigmoid(-x)) / (1.0 - 2.0 * eps);
        dldelta = b * (hy_sigmoid(x) - (1.0 - eps) / (1.0 - 2.0 * eps));
        break;
    default: /* sigmoid; label smoothing = conservative DPO */
        loss = -(1.0 - eps) * hy_log_sigmoid(x) - eps * hy_log_sigmoid(-x);
        dldelta = b * (hy_sigmoid(x) - (1.0 - eps));
        break;
    }
    out->dS[0] = dldelta * scale[0];
    out->dS[1] = -dldelta * scale[1];
    out->nll = in->n[0] > 0 ? -in->pol[0] / (double)in->n[0] : 0.0;
    if (p->sft_weight > 0 && in->n[0] > 0) {
        loss += p->sft_weight * out->nll;
        out->dS[0] -= p->sft_weight / (double)in->n[0];
    }
    out->loss = loss;
}

void hy_dpo_params_from_recipe(hy_dpo_params *p, const hy_recipe *r) {
    p->loss = r->dpo.loss;
    p->beta = r->dpo.beta;
    p->label_smoothing = r->dpo.label_smoothing;
    p->sft_weight = r->dpo.sft_weight;
    p->length_normalize = r->dpo.length_normalize;
}

/* ---------------------------------------------------------------- helpers */

/* Σ log p and count over the supervised targets of each document. */
static void hy_dpo_doc_sums(const hy_microbatch *mb, const int32_t *targets, const float *rows, double *sum, int64_t *count) {
    for (int d = 0; d < mb->n_docs; d++) {
        double s = 0;
        int64_t n = 0;
        for (int i = mb->doc_start[d]; i < mb->doc_start[d] + mb->doc_len[d]; i++)
            if (targets[i] >= 0) {
                s -= rows[i];
                n++;
            }
        sum[d] = s;
        count[d] = n;
    }
}

static hy_status hy_dpo_check_mb(const hy_dpo *d, const hy_microbatch *mb) {
    if (mb->n_tokens > d->cap || mb->n_docs > d->max_docs)
        return hy_errorf(HY_ERR_INTERNAL, "micro-batch of %d tokens in %d documents exceeds the DPO buffers (%d, %d)", mb->n_tokens,
                         mb->n_docs, d->cap, d->max_docs);
    if (mb->n_docs != 2 * mb->n_pairs)
        return hy_errorf(HY_ERR_DATA, "DPO needs preference pairs: micro-batch has %d documents but %d pairs (an SFT token store?)",
                         mb->n_docs, mb->n_pairs);
    for (int k = 0; k < mb->n_pairs; k++)
        if (!mb->is_chosen[2 * k] || mb->is_chosen[2 * k + 1] || mb->pair_id[2 * k] != k || mb->pair_id[2 * k + 1] != k)
            return hy_errorf(HY_ERR_INTERNAL, "micro-batch pair %d is not (chosen, rejected) at documents %d, %d", k, 2 * k, 2 * k + 1);
    return HY_OK;
}

/* ---------------------------------------------------------------- reference sources */

static hy_status hy_dpo_live_logps(void *self, const hy_microbatch *mb, int split, const int32_t *targets, double *sum,
                                   int64_t *count) {
    (void)split;
    hy_dpo *d = self;
    hy_model_batch b = {.n_docs = mb->n_docs, .doc_len = mb->doc_len, .ids = mb->ids, .targets = targets};
    HY_TRY(hy_model_forward(d->ref_model, &b, d->ref_rows, NULL));
    hy_dpo_doc_sums(mb, targets, d->ref_rows, sum, count);
    return HY_OK;
}

static hy_status hy_dpo_cached_logps(void *self, const hy_microbatch *mb, int split, const int32_t *targets, double *sum,
                                     int64_t *count) {
    (void)targets;
    hy_dpo *d = self;
    for (int k = 0; k < mb->n_docs; k++) {
        int store = split == 0 ? mb->source[k] : d->n_train + split - 1;
        if (split == 0 && (store < 0 || store >= d->n_train))
            return hy_errorf(HY_ERR_INTERNAL, "micro-batch source %d outside the %d training stores", store, d->n_train);
        HY_TRY(hy_ref_cache_get(d->cache, store, mb->sample[k], mb->is_chosen[k] ? 0 : 1, &sum[k], &count[k]));
    }
    return HY_OK;
}

/* The reference must read the same token ids as the policy. */
static hy_status hy_dpo_check_reference(const char *ref, const hy_model *m) {
    hy_config rc;
    HY_TRY(hy_ckpt_load_config(ref, &rc));
    const hy_config *pc = hy_model_config(m);
    if (rc.vocab_size != pc->vocab_size)
        return hy_errorf(HY_ERR_CONFIG, "dpo.reference.model %s: vocabulary of %d tokens, the policy has %d; the reference must use the "
                                        "policy's tokenizer (usually: the checkpoint the stage starts from)",
                         ref, rc.vocab_size, pc->vocab_size);
    return HY_OK;
}

static hy_status hy_dpo_prepare(void *self, const hy_recipe *r, hy_model *m, const char *const *stores, int n_train, int n_eval) {
    hy_dpo *d = self;
    const char *ref = *r->dpo.reference.model ? r->dpo.reference.model : r->model.path;
    snprintf(d->ref_dir, sizeof d->ref_dir, "%s", ref);
    d->n_train = n_train;
    HY_TRY(hy_dpo_check_reference(ref, m));
    int M = hy_model_config(m)->num_meta, budget = (int)r->data.tokens_per_micro_batch;
    if (r->dpo.reference.mode == HY_DPO_REF_LIVE) {
        hy_model_limits lim = hy_model_limits_for_budget(budget, M);
        HY_TRY(hy_model_open_lim(&d->ref_model, ref, hy_model_ops(m), &lim, HY_MODEL_INFER, 0));
        HY_TRY(hy_malloc((void **)&d->ref_rows, sizeof(float) * (size_t)d->cap, 0, "reference losses"));
        d->ref = (hy_dpo_ref){d, hy_dpo_live_logps};
        hy_log_info("dpo: live reference %s (a frozen copy in memory)", ref);
        return HY_OK;
    }
    /* the policy model is the forward engine of the pass (no second model on the device) */
    hy_ref_cache_opts o = {.budget = budget, .model = m};
    HY_TRY(hy_ref_cache_open(&d->cache, ref, stores, n_train + n_eval, &o));
    d->ref = (hy_dpo_ref){d, hy_dpo_cached_logps};
    return HY_OK;
}

/* ---------------------------------------------------------------- the objective */

static double hy_dpo_units(void *self, const hy_microbatch *mb) {
    (void)self;
    return (double)mb->n_pairs;
}

/* Loss, metrics and backward weights of every pair of the micro-batch. */
static void hy_dpo_pairs(hy_dpo *d, const hy_microbatch *mb, double norm, hy_obj_acc *acc) {
    memset(d->w, 0, sizeof(float) * (size_t)mb->n_tokens);
    for (int k = 0; k < mb->n_pairs; k++) {
        hy_dpo_pair_in in;
        hy_dpo_pair_out out;
        for (int s = 0; s < 2; s++) {
            in.pol[s] = d->pol_sum[2 * k + s];
            in.ref[s] = d->ref_sum[2 * k + s];
            in.n[s] = d->pol_n[2 * k + s];
        }
        hy_dpo_pair_loss(&d->p, &in, &out);
        acc->loss_sum += out.loss;
        acc->supervised += in.n[0] + in.n[1];
        double *x = acc->extra;
        x[HY_DPO_M_ACC] += out.reward[0] > out.reward[1];
        x[HY_DPO_M_MARGIN] += out.reward[0] - out.reward[1];
        x[HY_DPO_M_REW_C] += out.reward[0];
        x[HY_DPO_M_REW_R] += out.reward[1];
        x[HY_DPO_M_LOGP_C] += out.logp[0];
        x[HY_DPO_M_LOGP_R] += out.logp[1];
        x[HY_DPO_M_REF_C] += out.ref_logp[0];
        x[HY_DPO_M_REF_R] += out.ref_logp[1];
        x[HY_DPO_M_NLL] += out.nll;
        if (norm <= 0) continue;
        /* S = −Σ loss_t, so ∂L/∂loss_t = −∂L/∂S */
        for (int s = 0; s < 2; s++) {
            const int doc = 2 * k + s;
            const float wt = (float)(-out.dS[s] / norm);
            for (int i = mb->doc_start[doc]; i < mb->doc_start[doc] + mb->doc_len[doc]; i++)
                if (d->targets[i] >= 0) d->w[i] = wt;
        }
    }
}

static hy_status hy_dpo_micro(void *self, hy_model *m, const hy_microbatch *mb, double norm, int backward, hy_obj_acc *acc) {
    hy_dpo *d = self;
    HY_TRY(hy_dpo_check_mb(d, mb));
    if (!d->ref.logps) return hy_errorf(HY_ERR_INTERNAL, "DPO: no reference log-probs set up (the objective's prepare did not run)");
    hy_train_shift_targets(mb, d->targets);
    hy_model_batch b = {.n_docs = mb->n_docs, .doc_len = mb->doc_len, .ids = mb->ids, .targets = d->targets};
    HY_TRY(hy_model_forward(m, &b, d->rows, NULL));
    hy_dpo_doc_sums(mb, d->targets, d->rows, d->pol_sum, d->pol_n);
    HY_TRY(d->ref.logps(d->ref.self, mb, d->obj ? d->obj->split : 0, d->targets, d->ref_sum, d->ref_n));
    for (int k = 0; k < mb->n_docs; k++)
        if (d->ref_n[k] != d->pol_n[k])
            return hy_errorf(HY_ERR_MISMATCH, "reference log-probs of sample %lld (source %d, %s) cover %lld targets, the micro-batch has "
                                              "%lld: the reference cache does not belong to this data; delete it to rebuild",
                             (long long)mb->sample[k], mb->source[k], mb->is_chosen[k] ? "chosen" : "rejected",
                             (long long)d->ref_n[k], (long long)d->pol_n[k]);
    hy_dpo_pairs(d, mb, backward ? norm : 0, acc);
    acc->tokens += mb->n_tokens;
    if (!backward) return HY_OK;
    return hy_model_backward(m, d->w);
}

hy_status hy_dpo_init(hy_dpo *d, hy_objective *obj, const hy_recipe *r) {
    memset(d, 0, sizeof *d);
    hy_dpo_params_from_recipe(&d->p, r);
    d->obj = obj;
    d->cap = (int)r->data.tokens_per_micro_batch;
    d->max_docs = d->cap; /* every document has ≥ 1 token */
    size_t n = (size_t)d->cap, nd = (size_t)d->max_docs;
    HY_TRY(hy_malloc((void **)&d->targets, sizeof(int32_t) * n, 0, "DPO targets"));
    HY_TRY(hy_malloc((void **)&d->rows, sizeof(float) * n, 0, "DPO losses"));
    HY_TRY(hy_malloc((void **)&d->w, sizeof(float) * n, 0, "DPO weights"));
    HY_TRY(hy_malloc((void **)&d->pol_sum, sizeof(double) * nd, 0, "DPO sums"));
    HY_TRY(hy_malloc((void **)&d->ref_sum, sizeof(double) * nd, 0, "DPO sums"));
    HY_TRY(hy_malloc((void **)&d->pol_n, sizeof(int64_t) * nd, 0, "DPO counts"));
    HY_TRY(hy_malloc((void **)&d->ref_n, sizeof(int64_t) * nd, 0, "DPO counts"));
    memset(obj, 0, sizeof *obj);
    obj->name = "dpo";
    obj->self = d;
    obj->data_kind = HY_REC_PREF;
    obj->n_extra = d->p.sft_weight > 0 ? HY_DPO_M_COUNT : HY_DPO_M_COUNT - 1;
    for (int k = 0; k < obj->n_extra; k++) {
        obj->extra_names[k] = hy_dpo_metric_names[k];
        obj->extra_is_mean[k] = 1;
    }
    obj->n_shown = 2;
    obj->units = hy_dpo_units;
    obj->micro = hy_dpo_micro;
    obj->prepare = hy_dpo_prepare;
    return HY_OK;
}

void hy_dpo_free(hy_dpo *d) {
    hy_free(d->targets);
    hy_free(d->rows);
    hy_free(d->w);
    hy_free(d->pol_sum);
    hy_free(d->ref_sum);
    hy_free(d->pol_n);
    hy_free(d->ref_n);
    hy_free(d->ref_rows);
    hy_model_free(d->ref_model);
    hy_ref_cache_free(d->cache);
    memset(d, 0, sizeof *d);
}
