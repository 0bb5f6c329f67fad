/* model.c — model creation (buffer planning), weights in and out, and the
 * top-level forward/backward over a packed micro-batch: embedding with meta
 * tokens, the layers (block_hybrid.c), the final norm, and the tied LM head +
 * cross-entropy processed in row chunks so that [tokens × vocab] logits never
 * exist for the whole micro-batch (the backward recomputes each chunk). */
#include "model.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "model_internal.h"

enum { HY_HEAD_CHUNK = 1024 };

/* Bump allocator over one region; with base == NULL it only measures. */
typedef struct {
    char *base;
    size_t off, esz;
} hy_carver;

static void *hy_carve(hy_carver *c, size_t elems) {
    c->off = (c->off + 255) & ~(size_t)255;
    void *p = c->base ? c->base + c->off : NULL;
    c->off += elems * c->esz;
    return p;
}

/* The (R) views of model_internal.h: per layer, or once for all layers. */
static void hy_plan_r_views(const hy_model *m, hy_layer_acts *a, hy_carver *act) {
    const hy_config *c = &m->cfg;
    size_t N = (size_t)m->max_rows, C = (size_t)c->hidden_size, DI = (size_t)c->di, F = (size_t)c->intermediate_size;
    a->h1 = hy_carve(act, N * C);
    a->u = hy_carve(act, N * DI);
    a->delta = hy_carve(act, N * DI);
    a->y = hy_carve(act, N * DI);
    a->fu = hy_carve(act, N * DI);
    a->h2 = hy_carve(act, N * C);
    a->mm = hy_carve(act, N * F);
}

/* Carve one layer's views: every view, or (share != NULL) only those not
 * marked (R) in model_internal.h, the (R) ones taken from `share`.  P is the
 * width of the in_proj output. */
static void hy_plan_layer(const hy_model *m, hy_layer_acts *a, size_t P, const hy_layer_acts *share, hy_carver *act, hy_carver *f32) {
    const hy_config *c = &m->cfg;
    size_t N = (size_t)m->max_rows, C = (size_t)c->hidden_size, DI = (size_t)c->di;
    size_t R = (size_t)c->dt_rank, DS = (size_t)c->d_state, F = (size_t)c->intermediate_size, S = R + 2 * DS;
    a->x = hy_carve(act, N * C);
    a->p = hy_carve(act, N * P);
    a->attn = hy_carve(act, N * DI);
    a->s = hy_carve(act, N * S);
    a->dtn = hy_carve(act, N * R);
    a->bn = hy_carve(act, N * DS);
    a->cn = hy_carve(act, N * DS);
    a->xmid = hy_carve(act, N * C);
    a->gu = hy_carve(act, N * 2 * F);
    if (share) {
        a->h1 = share->h1, a->u = share->u, a->delta = share->delta, a->y = share->y, a->fu = share->fu, a->h2 = share->h2;
        a->mm = share->mm;
    } else {
        hy_plan_r_views(m, a, act);
    }
    a->rstd1 = hy_carve(f32, N);
    a->lse = hy_carve(f32, N * (size_t)c->num_heads);
    a->rstd_dt = hy_carve(f32, N);
    a->rstd_b = hy_carve(f32, N);
    a->rstd_c = hy_carve(f32, N);
    a->rstd_pa1 = hy_carve(f32, N);
    a->rstd_pa2 = hy_carve(f32, N);
    a->rstd2 = hy_carve(f32, N);
}

/* The layers' views for the model's mode (model.h: HY_MODEL_INFER/TRAIN/
 * TRAIN_KEEP_ALL); returns the widest in_proj output. */
static size_t hy_plan_layers(hy_model *m, hy_carver *act, hy_carver *f32) {
    const hy_config *c = &m->cfg;
    size_t N = (size_t)m->max_rows;
    size_t pmax = 0;
    for (int l = 0; l < c->num_layers; l++) pmax = hy_zmax(pmax, (size_t)hy_config_in_proj_rows(c, l));
    if (!m->training) {
        /* two alternating sets (layer l writes layer l+1's input into the other);
         * a KV producer's P persists for its consumers */
        hy_layer_acts set[2];
        for (int i = 0; i < 2 && i < c->num_layers; i++) hy_plan_layer(m, &set[i], pmax, NULL, act, f32);
        for (int l = 0; l < c->num_layers; l++) {
            m->layers[l] = set[l & 1];
            if (hy_config_computes_kv(c, l)) m->layers[l].p = hy_carve(act, N * (size_t)hy_config_in_proj_rows(c, l));
        }
        return pmax;
    }
    hy_layer_acts share;
    if (m->recompute) hy_plan_r_views(m, &share, act);
    for (int l = 0; l < c->num_layers; l++)
        hy_plan_layer(m, &m->layers[l], (size_t)hy_config_in_proj_rows(c, l), m->recompute ? &share : NULL, act, f32);
    return pmax;
}

/* dK/dV accumulators: a producer's pair lives from its last reader's backward
 * to its own; pairs whose lifetimes do not overlap share a slot (Hymba's KV
 * groups are runs of adjacent layers, so one slot serves them all). */
static void hy_plan_kv_grads(hy_model *m, hy_carver *act) {
    const hy_config *c = &m->cfg;
    size_t N = (size_t)m->max_rows;
    hy_act *slot_k[HY_MAX_LAYERS], *slot_v[HY_MAX_LAYERS];
    int busy[HY_MAX_LAYERS] = {0}, slot_of[HY_MAX_LAYERS], n_slots = 0;
    for (int l = c->num_layers - 1; l >= 0; l--) {
        m->gs.dk[l] = m->gs.dv[l] = NULL;
        for (int p = 0; p <= l; p++) { /* producers whose last reader is l open their lifetime here */
            if (!hy_config_computes_kv(c, p) || c->kv_last_user[p] != l) continue;
            int s = 0;
            while (s < n_slots && busy[s]) s++;
            if (s == n_slots) {
                slot_k[s] = hy_carve(act, N * (size_t)c->k_rows);
                slot_v[s] = hy_carve(act, N * (size_t)c->v_rows);
                n_slots++;
            }
            busy[s] = 1, slot_of[p] = s;
        }
        if (hy_config_computes_kv(c, l)) { /* the producer's backward closes it */
            m->gs.dk[l] = slot_k[slot_of[l]], m->gs.dv[l] = slot_v[slot_of[l]];
            busy[slot_of[l]] = 0;
        }
    }
}

/* One pass over every buffer; called twice (measure, then assign). */
static void hy_model_plan(hy_model *m, hy_carver *act, hy_carver *f32, hy_carver *i32) {
    const hy_config *c = &m->cfg;
    size_t N = (size_t)m->max_rows, NT = (size_t)m->max_text, C = (size_t)c->hidden_size, DI = (size_t)c->di;
    size_t R = (size_t)c->dt_rank, DS = (size_t)c->d_state, F = (size_t)c->intermediate_size, S = R + 2 * DS;
    size_t Vp = (size_t)c->vocab_padded, chunk = (size_t)m->head_chunk;
    size_t pmax = hy_plan_layers(m, act, f32);
    m->x_final = hy_carve(act, N * C);
    m->yf = hy_carve(act, N * C);
    m->ytxt = hy_carve(act, NT * C);
    m->logits = hy_carve(act, chunk * Vp);
    m->head_w = Vp != (size_t)c->vocab_size ? hy_carve(act, Vp * C) : NULL; /* pad rows: zero from alloc, never written */
    m->rstd_f = hy_carve(f32, N);
    m->loss_rows = hy_carve(f32, NT);
    m->lse_rows = hy_carve(f32, NT);
    m->row_w = hy_carve(f32, NT);
    m->inv_freq = hy_carve(f32, (size_t)c->dqk / 2);
    m->ids = hy_carve(i32, N);
    m->pos = hy_carve(i32, N);
    m->cu = hy_carve(i32, (size_t)m->max_docs + 1);
    m->text_idx = hy_carve(i32, NT);
    m->targets = hy_carve(i32, NT);
    if (!m->training) return;
    hy_grad_scratch *g = &m->gs;
    g->dr = hy_carve(act, N * C);
    g->dh = hy_carve(act, N * C);
    /* the MLP's gradients are dead once the mixer's backward starts: one region */
    size_t region = act->off, mlp_end;
    g->dmm = hy_carve(act, N * F);
    g->dgu = hy_carve(act, N * 2 * F);
    mlp_end = act->off;
    act->off = region;
    g->dfu = hy_carve(act, N * DI);
    g->dattn = hy_carve(act, N * DI);
    g->dy = hy_carve(act, N * DI);
    g->du = hy_carve(act, N * DI);
    g->ddelta = hy_carve(act, N * DI);
    g->ddtn = hy_carve(act, N * R);
    g->dbn = hy_carve(act, N * DS);
    g->dcn = hy_carve(act, N * DS);
    g->ds = hy_carve(act, N * S);
    g->dp = hy_carve(act, N * pmax);
    act->off = hy_zmax(act->off, mlp_end);
    hy_plan_kv_grads(m, act);
    g->dy_full = hy_carve(act, N * C);
    g->dytxt = hy_carve(act, NT * C);
    g->dlogits = hy_carve(act, chunk * Vp);
}

static hy_status hy_model_inv_freq(hy_model *m) {
    /* spec §4.1: inv_freq[i] = 1 / base^(2i/DQK), evaluated in fp32 like PyTorch
     * (the base is a Python float converted to fp32 by the tensor power). */
    int half = m->cfg.dqk / 2;
    float host[512];
    if (half > 512) return hy_errorf(HY_ERR_UNSUPPORTED, "query/key head dim %d is larger than 1024", m->cfg.dqk);
    float base = (float)hy_config_rope_base(&m->cfg);
    for (int i = 0; i < half; i++) host[i] = 1.0f / powf(base, (float)(2 * i) / (float)m->cfg.dqk);
    return m->ops->to_dev(m->ops->ctx, m->inv_freq, host, sizeof(float) * (size_t)half);
}

static hy_status hy_model_alloc(hy_model *m) {
    const hy_ops *o = m->ops;
    hy_carver act = {NULL, 0, m->esz}, f32 = {NULL, 0, 4}, i32 = {NULL, 0, 4};
    hy_model_plan(m, &act, &f32, &i32);
    m->act_bytes = act.off;
    m->f32_bytes = f32.off;
    m->i32_bytes = i32.off;
    if (m->buf_elems < m->pt.total) m->buf_elems = m->pt.total;
    HY_TRY(o->alloc(o->ctx, (void **)&m->w, m->buf_elems * m->esz, "model weights"));
    if (m->training) HY_TRY(o->alloc(o->ctx, (void **)&m->g, m->buf_elems * sizeof(float), "model gradients"));
    HY_TRY(o->alloc(o->ctx, &m->act_mem, m->act_bytes, "activations"));
    HY_TRY(o->alloc(o->ctx, &m->f32_mem, m->f32_bytes, "activation statistics"));
    HY_TRY(o->alloc(o->ctx, &m->i32_mem, m->i32_bytes, "batch metadata"));
    act = (hy_carver){m->act_mem, 0, m->esz};
    f32 = (hy_carver){m->f32_mem, 0, 4};
    i32 = (hy_carver){m->i32_mem, 0, 4};
    hy_model_plan(m, &act, &f32, &i32);
    return hy_model_inv_freq(m);
}

hy_status hy_model_create(hy_model **out, const hy_config *cfg, const hy_ops *ops, int max_text_tokens, int max_docs, int training) {
    return hy_model_create_ex(out, cfg, ops, max_text_tokens, max_docs, training, 0);
}

hy_status hy_model_create_ex(hy_model **out, const hy_config *cfg, const hy_ops *ops, int max_text_tokens, int max_docs, int training,
                             size_t buffer_elems) {
    hy_model_limits lim = {max_text_tokens, max_docs, 0};
    return hy_model_create_lim(out, cfg, ops, &lim, training, buffer_elems);
}

/* Check the limits and the mode; the rows bound defaults to (and is capped
 * at) text + one meta block per document. */
static hy_status hy_model_limits_check(const hy_config *cfg, hy_model_limits *lim, int mode) {
    if (lim->max_text < 1 || lim->max_docs < 1 || lim->max_docs > lim->max_text)
        return hy_errorf(HY_ERR_ARG, "model plan: need 1 <= documents (%d) <= text tokens (%d)", lim->max_docs, lim->max_text);
    if (mode < HY_MODEL_INFER || mode > HY_MODEL_TRAIN_KEEP_ALL)
        return hy_errorf(HY_ERR_ARG, "model plan: mode %d is not HY_MODEL_INFER, HY_MODEL_TRAIN or HY_MODEL_TRAIN_KEEP_ALL", mode);
    int64_t cap = (int64_t)lim->max_text + (int64_t)lim->max_docs * cfg->num_meta;
    if (cap > INT32_MAX) return hy_errorf(HY_ERR_ARG, "model plan: %lld rows per micro-batch is too many", (long long)cap);
    if (lim->max_rows <= 0 || lim->max_rows > cap) lim->max_rows = (int)cap;
    if (lim->max_rows < 1 + cfg->num_meta)
        return hy_errorf(HY_ERR_ARG, "model plan: %d rows cannot hold one document (%d meta rows + 1 token)", lim->max_rows, cfg->num_meta);
    return HY_OK;
}

hy_model_limits hy_model_limits_for_budget(int budget, int num_meta) {
    return (hy_model_limits){budget - num_meta, budget / (num_meta + 1), budget};
}

/* The fields hy_model_plan reads (limits already checked). */
static void hy_model_set_shape(hy_model *m, const hy_config *cfg, const hy_model_limits *lim, int mode, size_t esz) {
    m->cfg = *cfg;
    m->training = mode != HY_MODEL_INFER;
    m->recompute = mode == HY_MODEL_TRAIN;
    m->esz = esz;
    m->max_text = lim->max_text;
    m->max_docs = lim->max_docs;
    m->max_rows = lim->max_rows;
    m->head_chunk = hy_imin(lim->max_text, HY_HEAD_CHUNK);
}

hy_status hy_model_create_lim(hy_model **out, const hy_config *cfg, const hy_ops *ops, const hy_model_limits *limits, int training,
                              size_t buffer_elems) {
    *out = NULL;
    hy_model_limits lim = *limits;
    HY_TRY(hy_model_limits_check(cfg, &lim, training));
    hy_model *m;
    HY_TRY(hy_malloc((void **)&m, sizeof *m, 1, "model"));
    hy_model_set_shape(m, cfg, &lim, training, hy_dtype_size(ops->act_dtype));
    m->ops = ops;
    m->buf_elems = buffer_elems;
    hy_status st = hy_params_build(&m->pt, cfg);
    int nl = cfg->num_layers;
    if (!st) st = hy_malloc((void **)&m->layers, sizeof(hy_layer_acts) * (size_t)nl, 1, "layer views");
    if (!st) st = hy_malloc((void **)&m->gs.dk, sizeof(hy_act *) * (size_t)nl, 1, "dK views");
    if (!st) st = hy_malloc((void **)&m->gs.dv, sizeof(hy_act *) * (size_t)nl, 1, "dV views");
    if (!st) st = hy_malloc((void **)&m->cu_host, sizeof(int32_t) * (size_t)(lim.max_docs + 1), 1, "document offsets");
    if (!st) st = hy_malloc((void **)&m->host_i32, sizeof(int32_t) * (size_t)(2 * m->max_rows + m->max_text), 0, "batch staging");
    if (!st) st = hy_model_alloc(m);
    if (st) {
        hy_error_context("creating the model (%d text tokens, %d documents, %d rows per micro-batch)", lim.max_text, lim.max_docs,
                         lim.max_rows);
        hy_model_free(m);
        return st;
    }
    *out = m;
    return HY_OK;
}

hy_status hy_model_plan_bytes(const hy_config *cfg, hy_dtype act_dtype, int max_text_tokens, int max_docs, int training, hy_model_mem *out) {
    hy_model_limits lim = {max_text_tokens, max_docs, 0};
    return hy_model_plan_bytes_lim(cfg, act_dtype, &lim, training, out);
}

hy_status hy_model_plan_bytes_lim(const hy_config *cfg, hy_dtype act_dtype, const hy_model_limits *limits, int training, hy_model_mem *out) {
    memset(out, 0, sizeof *out);
    hy_model_limits lim = *limits;
    HY_TRY(hy_model_limits_check(cfg, &lim, training));
    /* a shell with the fields hy_model_plan reads; the carvers only measure */
    hy_model s;
    memset(&s, 0, sizeof s);
    hy_model_set_shape(&s, cfg, &lim, training, hy_dtype_size(act_dtype));
    size_t nl = (size_t)cfg->num_layers;
    hy_status st = hy_params_build(&s.pt, cfg);
    if (!st) st = hy_malloc((void **)&s.layers, sizeof(hy_layer_acts) * nl, 1, "layer views");
    if (!st) st = hy_malloc((void **)&s.gs.dk, sizeof(hy_act *) * nl, 1, "dK views");
    if (!st) st = hy_malloc((void **)&s.gs.dv, sizeof(hy_act *) * nl, 1, "dV views");
    if (!st) {
        hy_carver act = {NULL, 0, s.esz}, f32 = {NULL, 0, 4}, i32 = {NULL, 0, 4};
        hy_model_plan(&s, &act, &f32, &i32);
        *out = (hy_model_mem){.weights = s.pt.total * s.esz, .grads = training ? s.pt.total * sizeof(float) : 0, .activations = act.off,
                              .statistics = f32.off, .metadata = i32.off, .params = s.pt.total};
    }
    hy_free(s.layers);
    hy_free(s.gs.dk);
    hy_free(s.gs.dv);
    hy_params_free(&s.pt);
    return st;
}

void hy_model_free(hy_model *m) {
    if (!m) return;
    const hy_ops *o = m->ops;
    o->free(o->ctx, m->w);
    o->free(o->ctx, m->g);
    o->free(o->ctx, m->act_mem);
    o->free(o->ctx, m->f32_mem);
    o->free(o->ctx, m->i32_mem);
    o->free(o->ctx, m->logits_f32);
    hy_free(m->layers);
    hy_free(m->gs.dk);
    hy_free(m->gs.dv);
    hy_free(m->cu_host);
    hy_free(m->host_i32);
    hy_params_free(&m->pt);
    hy_free(m);
}

const hy_param_table *hy_model_params(const hy_model *m) { return &m->pt; }
size_t hy_model_buffer_elems(const hy_model *m) { return m->buf_elems; }
void hy_model_set_backward_hook(hy_model *m, void (*fn)(void *user, int layer), void *user) {
    m->bwd_hook = fn;
    m->bwd_hook_user = user;
}
const hy_config *hy_model_config(const hy_model *m) { return &m->cfg; }
const hy_ops *hy_model_ops(const hy_model *m) { return m->ops; }
hy_act *hy_model_weights(hy_model *m) { return m->w; }
float *hy_model_grads(hy_model *m) { return m->g; }
size_t hy_model_bytes(const hy_model *m) {
    return m->buf_elems * (m->esz + (m->training ? 4 : 0)) + m->act_bytes + m->f32_bytes + m->i32_bytes;
}

hy_status hy_model_set_weights(hy_model *m, const float *host) {
    const hy_ops *o = m->ops;
    size_t n = m->pt.total;
    if (o->act_dtype == HY_DTYPE_F32) return o->to_dev(o->ctx, m->w, host, n * sizeof(float));
    /* stage through the gradient buffer (fp32, same size) or a temporary */
    float *stage = m->g;
    if (!stage) HY_TRY(o->alloc(o->ctx, (void **)&stage, n * sizeof(float), "weight staging"));
    hy_status st = o->to_dev(o->ctx, stage, host, n * sizeof(float));
    if (!st) st = o->cast_to_act(o->ctx, m->w, stage, n);
    if (!st && m->g) st = o->zero(o->ctx, m->g, n * sizeof(float));
    if (stage != m->g) o->free(o->ctx, stage);
    return st;
}

hy_status hy_model_get_weights(hy_model *m, float *host) {
    const hy_ops *o = m->ops;
    size_t n = m->pt.total;
    if (o->act_dtype == HY_DTYPE_F32) return o->to_host(o->ctx, host, m->w, n * sizeof(float));
    float *stage;
    HY_TRY(o->alloc(o->ctx, (void **)&stage, n * sizeof(float), "weight staging"));
    hy_status st = o->cast_to_f32(o->ctx, stage, m->w, n);
    if (!st) st = o->to_host(o->ctx, host, stage, n * sizeof(float));
    o->free(o->ctx, stage);
    return st;
}

hy_status hy_model_get_grads(hy_model *m, float *host) {
    if (!m->g) return hy_errorf(HY_ERR_ARG, "the model was created without gradients");
    return m->ops->to_host(m->ops->ctx, host, m->g, m->pt.total * sizeof(float));
}

hy_status hy_model_zero_grads(hy_model *m) {
    if (!m->g) return hy_errorf(HY_ERR_ARG, "the model was created without gradients");
    return m->ops->zero(m->ops->ctx, m->g, m->buf_elems * sizeof(float));
}
