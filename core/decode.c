/* decode.c — incremental decoding with a state cache (decode.h, spec §10).
 *
 * One pass = n ≤ chunk consecutive rows of the sequence through every layer,
 * the same math as block_hybrid.c / block_attn.c / block_mamba.c /
 * block_mlp.c in the same op order, with three differences: K/V go to the
 * per-layer cache (and attention reads it with attention_decode), the conv
 * and the scan continue the carried state (conv1d_step, scan_step), and the
 * activations are chunk-sized scratch shared by all layers (no backward).
 *
 * Memory (flat buffers by lifetime, carved once): an act-dtype region (K/V
 * caches, conv states with their meta snapshot and mark copies, chunk
 * scratch), an fp32 region (SSM states, snapshot and mark, norm statistics,
 * logits readback), an int32 region (token ids and positions of a chunk).
 * Nothing is allocated per token.  The chunk scratch is shared by all layers
 * because nothing is kept for a backward; consumers read K/V from their
 * producer's cache, never from its in_proj output. */
#include "decode.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "model_internal.h"

enum { HY_DECODE_DEFAULT_CHUNK = 64 };

struct hy_decode {
    hy_model *m;
    const hy_config *c;
    const hy_ops *o;
    hy_decode_opts opt;
    int chunk, len, pmax;
    int mark_len;        /* −1: no mark */
    int rewind_budget;   /* tokens that may follow the mark: min over wrapping rings of R − W */
    int ring[HY_MAX_LAYERS];                      /* R: text slots of layer l's cache (KV-computing layers) */
    hy_act *kc[HY_MAX_LAYERS], *vc[HY_MAX_LAYERS]; /* [M+R, NKV·DQK], [M+R, NKV·DV]; NULL for consumers */
    void *act_mem, *f32_mem, *i32_mem;
    size_t act_bytes, f32_bytes, i32_bytes;
    hy_act *conv, *conv_snap, *conv_mark; /* [NL, DC−1, DI] live, after the meta prefix, at the mark */
    float *ssm, *ssm_snap, *ssm_mark;      /* [NL, DI, DS] likewise */
    /* chunk scratch, n ≤ chunk rows */
    hy_act *x, *h;             /* [chunk, C] residual stream, norm output */
    hy_act *p;                 /* [chunk, Pmax] in_proj output */
    hy_act *attn, *u, *delta, *y, *fu, *tmp; /* [chunk, DI] */
    hy_act *s;                 /* [chunk, R+2DS] */
    hy_act *dtn, *bn, *cn;     /* [chunk, R], [chunk, DS] ×2 */
    hy_act *gu, *mm;           /* [chunk, 2F], [chunk, F] */
    hy_act *logits;            /* [chunk, Vp] */
    float *rstd;               /* [chunk] */
    float *logits_f32;         /* [chunk, Vp] readback staging (non-fp32 backends only) */
    int32_t *ids_dev, *pos_dev; /* [chunk] */
    int32_t *pos_host;         /* [chunk] host */
    int32_t *tokens;           /* [max_ctx] host: text tokens fed */
};

/* Bump allocator over one region; with base == NULL it only measures. */
typedef struct {
    char *base;
    size_t off, esz;
} hy_dcarver;

static void *hy_dcarve(hy_dcarver *c, size_t elems) {
    c->off = (c->off + 255) & ~(size_t)255;
    void *p = c->base ? c->base + c->off : NULL;
    c->off += elems * c->esz;
    return p;
}

static void hy_decode_plan(hy_decode *d, hy_dcarver *act, hy_dcarver *f32, hy_dcarver *i32) {
    const hy_config *c = d->c;
    size_t M = (size_t)c->num_meta, NL = (size_t)c->num_layers, C = (size_t)c->hidden_size, DI = (size_t)c->di;
    size_t DS = (size_t)c->d_state, H = (size_t)(c->d_conv - 1), R = (size_t)c->dt_rank, F = (size_t)c->intermediate_size;
    size_t n = (size_t)d->chunk, Vp = (size_t)c->vocab_padded;
    for (int l = 0; l < c->num_layers; l++) {
        if (!hy_config_computes_kv(c, l)) continue;
        size_t slots = M + (size_t)d->ring[l];
        d->kc[l] = hy_dcarve(act, slots * (size_t)c->k_rows);
        d->vc[l] = hy_dcarve(act, slots * (size_t)c->v_rows);
    }
    d->conv = hy_dcarve(act, NL * H * DI);
    d->conv_snap = hy_dcarve(act, NL * H * DI);
    d->conv_mark = hy_dcarve(act, NL * H * DI);
    d->x = hy_dcarve(act, n * C);
    d->h = hy_dcarve(act, n * C);
    d->p = hy_dcarve(act, n * (size_t)d->pmax);
    d->attn = hy_dcarve(act, n * DI);
    d->u = hy_dcarve(act, n * DI);
    d->delta = hy_dcarve(act, n * DI);
    d->y = hy_dcarve(act, n * DI);
    d->fu = hy_dcarve(act, n * DI);
    d->tmp = hy_dcarve(act, n * DI);
    d->s = hy_dcarve(act, n * (R + 2 * DS));
    d->dtn = hy_dcarve(act, n * R);
    d->bn = hy_dcarve(act, n * DS);
    d->cn = hy_dcarve(act, n * DS);
    d->gu = hy_dcarve(act, n * 2 * F);
    d->mm = hy_dcarve(act, n * F);
    d->logits = hy_dcarve(act, n * Vp);
    d->ssm = hy_dcarve(f32, NL * DI * DS);
    d->ssm_snap = hy_dcarve(f32, NL * DI * DS);
    d->ssm_mark = hy_dcarve(f32, NL * DI * DS);
    d->rstd = hy_dcarve(f32, n);
    d->logits_f32 = d->o->act_dtype == HY_DTYPE_F32 ? NULL : hy_dcarve(f32, n * Vp);
    d->ids_dev = hy_dcarve(i32, n);
    d->pos_dev = hy_dcarve(i32, n);
}

static hy_status hy_decode_alloc(hy_decode *d) {
    const hy_ops *o = d->o;
    size_t esz = hy_dtype_size(o->act_dtype);
    hy_dcarver act = {NULL, 0, esz}, f32 = {NULL, 0, 4}, i32 = {NULL, 0, 4};
    hy_decode_plan(d, &act, &f32, &i32);
    d->act_bytes = act.off;
    d->f32_bytes = f32.off;
    d->i32_bytes = i32.off;
    HY_TRY(o->alloc(o->ctx, &d->act_mem, d->act_bytes, "decode caches and scratch"));
    HY_TRY(o->alloc(o->ctx, &d->f32_mem, d->f32_bytes, "decode SSM states"));
    HY_TRY(o->alloc(o->ctx, &d->i32_mem, d->i32_bytes, "decode token ids"));
    act = (hy_dcarver){d->act_mem, 0, esz};
    f32 = (hy_dcarver){d->f32_mem, 0, 4};
    i32 = (hy_dcarver){d->i32_mem, 0, 4};
    hy_decode_plan(d, &act, &f32, &i32);
    HY_TRY(hy_malloc((void **)&d->pos_host, sizeof(int32_t) * (size_t)d->chunk, 0, "decode positions"));
    return hy_malloc((void **)&d->tokens, sizeof(int32_t) * (size_t)d->opt.max_ctx, 0, "decode token history");
}

/* ---- one layer on n rows at sequence indices i0 .. i0+n−1 ---- */

/* Copy the n rows of K (post-RoPE) and V of producer l into its cache slots. */
static hy_status hy_decode_append(hy_decode *d, int l, int n, int i0) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    hy_model *m = d->m;
    hy_pcols pc = hy_model_pcols(c, l);
    int M = c->num_meta, R = d->ring[l];
    for (int r = 0; r < n;) {
        int j = i0 + r, slot, cnt;
        if (j < M) {
            slot = j;
            cnt = hy_imin(n - r, M - j);
        } else {
            slot = M + (j - M) % R;
            cnt = hy_imin(n - r, M + R - slot); /* up to the ring's end, then wrap */
        }
        hy_act *prow = hy_at(m, d->p, (size_t)r * pc.ld);
        HY_TRY(o->copy2d(o->ctx, hy_at(m, d->kc[l], (size_t)slot * c->k_rows), c->k_rows, hy_at(m, prow, (size_t)pc.k), pc.ld, cnt,
                         c->k_rows, 0));
        HY_TRY(o->copy2d(o->ctx, hy_at(m, d->vc[l], (size_t)slot * c->v_rows), c->v_rows, hy_at(m, prow, (size_t)pc.v), pc.ld, cnt,
                         c->v_rows, 0));
        r += cnt;
    }
    return HY_OK;
}

/* Attention branch: RoPE, cache append (producers), attention over the cache. */
static hy_status hy_decode_attn(hy_decode *d, int l, int n, int i0, int step) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    hy_model *m = d->m;
    hy_pcols pc = hy_model_pcols(c, l);
    int prod = c->kv_producer[l];
    HY_TRY(o->rope_fwd(o->ctx, hy_at(m, d->p, (size_t)pc.q), pc.ld, d->pos_dev, m->inv_freq, n, c->num_heads, c->dqk));
    if (prod == l) {
        HY_TRY(o->rope_fwd(o->ctx, hy_at(m, d->p, (size_t)pc.k), pc.ld, d->pos_dev, m->inv_freq, n, c->num_kv_heads, c->dqk));
        HY_TRY(hy_decode_append(d, l, n, i0));
    }
    int W = c->is_global[l] ? -1 : c->sliding_window - (step && d->opt.official_window ? 1 : 0);
    return o->attention_decode(o->ctx, d->attn, hy_at(m, d->p, (size_t)pc.q), pc.ld, d->kc[prod], d->vc[prod], i0, n, c->num_meta,
                               d->ring[prod], W, c->num_heads, c->num_kv_heads, c->dqk, c->dv, 1.0f / sqrtf((float)c->dqk));
}

/* SSM branch: conv (carried history) → x_proj → inner norms → dt_proj → scan (carried state). */
static hy_status hy_decode_mamba(hy_decode *d, int l, int n) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    void *x = o->ctx;
    hy_model *m = d->m;
    hy_pcols pc = hy_model_pcols(c, l);
    int R = c->dt_rank, DS = c->d_state, DI = c->di, S = R + 2 * DS;
    float eps = (float)c->rms_eps;
    hy_act *conv = hy_at(m, d->conv, (size_t)l * (c->d_conv - 1) * DI);
    float *h = d->ssm + (size_t)l * DI * DS;
    HY_TRY(o->conv1d_step(x, d->u, hy_at(m, d->p, (size_t)pc.x), pc.ld, conv, hy_mw(m, l, HY_P_CONV_W), hy_mw(m, l, HY_P_CONV_B), n, DI,
                          c->d_conv));
    HY_TRY(o->matmul_fwd(x, d->s, S, d->u, DI, hy_mw(m, l, HY_P_X_PROJ), n, S, DI, 0));
    HY_TRY(o->rmsnorm_fwd(x, d->dtn, R, d->rstd, d->s, S, hy_mw(m, l, HY_P_DT_NORM), n, R, eps));
    HY_TRY(o->rmsnorm_fwd(x, d->bn, DS, d->rstd, hy_at(m, d->s, (size_t)R), S, hy_mw(m, l, HY_P_B_NORM), n, DS, eps));
    HY_TRY(o->rmsnorm_fwd(x, d->cn, DS, d->rstd, hy_at(m, d->s, (size_t)(R + DS)), S, hy_mw(m, l, HY_P_C_NORM), n, DS, eps));
    HY_TRY(o->matmul_fwd(x, d->delta, DI, d->dtn, R, hy_mw(m, l, HY_P_DT_PROJ_W), n, DI, R, 0));
    return o->scan_step(x, d->y, h, d->u, d->delta, hy_mw(m, l, HY_P_DT_PROJ_B), hy_mw(m, l, HY_P_A_LOG), d->bn, d->cn, DS,
                        hy_mw(m, l, HY_P_D_SKIP), hy_at(m, d->p, (size_t)pc.z), pc.ld, n, DI, DS);
}

/* The whole layer; d->x [n, C] is updated in place (both residual adds). */
static hy_status hy_decode_layer(hy_decode *d, int l, int n, int i0, int step) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    void *x = o->ctx;
    hy_model *m = d->m;
    int C = c->hidden_size, DI = c->di, F = c->intermediate_size;
    float eps = (float)c->rms_eps;
    hy_pcols pc = hy_model_pcols(c, l);
    HY_TRY(o->rmsnorm_fwd(x, d->h, C, d->rstd, d->x, C, hy_mw(m, l, HY_P_IN_NORM), n, C, eps));
    HY_TRY(o->matmul_fwd(x, d->p, pc.ld, d->h, C, hy_mw(m, l, HY_P_IN_PROJ), n, pc.ld, C, 0));
    HY_TRY(hy_decode_attn(d, l, n, i0, step));
    HY_TRY(hy_decode_mamba(d, l, n));
    HY_TRY(o->rmsnorm_fwd(x, d->fu, DI, d->rstd, d->attn, DI, hy_mw(m, l, HY_P_PA1_NORM), n, DI, eps));
    HY_TRY(o->rmsnorm_fwd(x, d->tmp, DI, d->rstd, d->y, DI, hy_mw(m, l, HY_P_PA2_NORM), n, DI, eps));
    HY_TRY(o->axpby(x, d->fu, 0.5f, d->fu, 0.5f, d->tmp, (size_t)n * DI));
    HY_TRY(o->matmul_fwd(x, d->x, C, d->fu, DI, hy_mw(m, l, HY_P_OUT_PROJ), n, C, DI, 1));
    /* MLP (block_mlp.c): gate | up into one buffer, silu(gate)·up, down added to the stream */
    HY_TRY(o->rmsnorm_fwd(x, d->h, C, d->rstd, d->x, C, hy_mw(m, l, HY_P_MLP_NORM), n, C, eps));
    HY_TRY(o->matmul_fwd(x, d->gu, 2 * F, d->h, C, hy_mw(m, l, HY_P_GATE), n, F, C, 0));
    HY_TRY(o->matmul_fwd(x, hy_at(m, d->gu, (size_t)F), 2 * F, d->h, C, hy_mw(m, l, HY_P_UP), n, F, C, 0));
    HY_TRY(o->swiglu_fwd(x, d->mm, d->gu, hy_at(m, d->gu, (size_t)F), 2 * F, n, F));
    return o->matmul_fwd(x, d->x, C, d->mm, F, hy_mw(m, l, HY_P_DOWN), n, C, F, 1);
}

/* Final norm and tied head on the last `rows` of the n rows → host logits [rows, V]. */
static hy_status hy_decode_head(hy_decode *d, int n, int rows, float *logits_host) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    hy_model *m = d->m;
    int C = c->hidden_size, V = c->vocab_size, Vp = c->vocab_padded;
    HY_TRY(o->rmsnorm_fwd(o->ctx, d->h, C, d->rstd, hy_at(m, d->x, (size_t)(n - rows) * C), C, hy_mw(m, -1, HY_P_FINAL_NORM), rows, C,
                          (float)c->rms_eps));
    HY_TRY(o->matmul_fwd(o->ctx, d->logits, Vp, d->h, C, hy_mw(m, -1, HY_P_EMBED), rows, V, C, 0));
    const float *src = d->logits;
    if (d->logits_f32) {
        HY_TRY(o->cast_to_f32(o->ctx, d->logits_f32, d->logits, (size_t)rows * Vp));
        src = d->logits_f32;
    }
    for (int r = 0; r < rows; r++)
        HY_TRY(o->to_host(o->ctx, logits_host + (size_t)r * V, src + (size_t)r * Vp, sizeof(float) * (size_t)V));
    return HY_OK;
}

/* n ≤ chunk rows at sequence indices i0.. : meta rows (ids NULL) or text tokens. */
static hy_status hy_decode_pass(hy_decode *d, const int32_t *ids, int n, int i0, int step, float *logits, int rows) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    hy_model *m = d->m;
    int C = c->hidden_size;
    for (int r = 0; r < n; r++) d->pos_host[r] = i0 + r;
    HY_TRY(o->to_dev(o->ctx, d->pos_dev, d->pos_host, sizeof(int32_t) * (size_t)n));
    if (ids) {
        HY_TRY(o->to_dev(o->ctx, d->ids_dev, ids, sizeof(int32_t) * (size_t)n));
        HY_TRY(o->gather_rows(o->ctx, d->x, hy_mw(m, -1, HY_P_EMBED), d->ids_dev, n, C));
    } else {
        HY_TRY(o->copy(o->ctx, d->x, hy_at(m, hy_mw(m, -1, HY_P_META), (size_t)i0 * C), (size_t)n * C * m->esz));
    }
    for (int l = 0; l < c->num_layers; l++) HY_TRY(hy_decode_layer(d, l, n, i0, step));
    if (logits && rows > 0) HY_TRY(hy_decode_head(d, n, rows, logits));
    return o->sync(o->ctx);
}

/* ---- public API ---- */

hy_status hy_decode_refresh_meta(hy_decode *d) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    size_t conv_bytes = (size_t)c->num_layers * (c->d_conv - 1) * c->di * d->m->esz;
    size_t ssm_bytes = sizeof(float) * (size_t)c->num_layers * c->di * c->d_state;
    HY_TRY(o->zero(o->ctx, d->conv, conv_bytes));
    HY_TRY(o->zero(o->ctx, d->ssm, ssm_bytes));
    for (int i0 = 0; i0 < c->num_meta; i0 += d->chunk) HY_TRY(hy_decode_pass(d, NULL, hy_imin(d->chunk, c->num_meta - i0), i0, 0, NULL, 0));
    HY_TRY(o->copy(o->ctx, d->conv_snap, d->conv, conv_bytes));
    HY_TRY(o->copy(o->ctx, d->ssm_snap, d->ssm, ssm_bytes));
    d->len = 0;
    d->mark_len = -1;
    return o->sync(o->ctx);
}

hy_status hy_decode_reset(hy_decode *d) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    HY_TRY(o->copy(o->ctx, d->conv, d->conv_snap, (size_t)c->num_layers * (c->d_conv - 1) * c->di * d->m->esz));
    HY_TRY(o->copy(o->ctx, d->ssm, d->ssm_snap, sizeof(float) * (size_t)c->num_layers * c->di * c->d_state));
    d->len = 0;
    d->mark_len = -1;
    return o->sync(o->ctx);
}

hy_status hy_decode_mark(hy_decode *d) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    HY_TRY(o->copy(o->ctx, d->conv_mark, d->conv, (size_t)c->num_layers * (c->d_conv - 1) * c->di * d->m->esz));
    HY_TRY(o->copy(o->ctx, d->ssm_mark, d->ssm, sizeof(float) * (size_t)c->num_layers * c->di * c->d_state));
    d->mark_len = d->len;
    return o->sync(o->ctx);
}

hy_status hy_decode_rewind(hy_decode *d) {
    const hy_config *c = d->c;
    const hy_ops *o = d->o;
    if (d->mark_len < 0) return hy_errorf(HY_ERR_ARG, "decode: rewind without a mark");
    if (d->len < d->mark_len || d->len - d->mark_len > d->rewind_budget)
        return hy_errorf(HY_ERR_ARG, "decode: cannot rewind: %d tokens followed the mark, the ring keeps %d; hint: raise the rewind slack",
                         d->len - d->mark_len, d->rewind_budget);
    HY_TRY(o->copy(o->ctx, d->conv, d->conv_mark, (size_t)c->num_layers * (c->d_conv - 1) * c->di * d->m->esz));
    HY_TRY(o->copy(o->ctx, d->ssm, d->ssm_mark, sizeof(float) * (size_t)c->num_layers * c->di * c->d_state));
    d->len = d->mark_len;
    return o->sync(o->ctx);
}

static hy_status hy_decode_check(const hy_model *m, const hy_decode_opts *o) {
    const hy_ops *ops = hy_model_ops(m);
    const hy_config *c = hy_model_config(m);
    if (!ops->conv1d_step || !ops->scan_step || !ops->attention_decode)
        return hy_errorf(HY_ERR_UNSUPPORTED, "the %s backend does not implement the decode ops (conv1d_step, scan_step, attention_decode) "
                         "yet; hint: generate on the CPU backend", ops->name);
    if (o->rewind < 0 || o->rewind > (1 << 30)) return hy_errorf(HY_ERR_ARG, "decode: rewind slack %d; expected 0 .. 2^30", o->rewind);
    if (o->max_ctx < 1 || o->max_ctx > (1 << 30) - c->num_meta)
        return hy_errorf(HY_ERR_ARG, "decode: max context %d text tokens; expected 1 .. %d", o->max_ctx, (1 << 30) - c->num_meta);
    int any_swa = 0;
    for (int l = 0; l < c->num_layers; l++) any_swa |= !c->is_global[l];
    if (o->official_window && any_swa && c->sliding_window < 1)
        return hy_errorf(HY_ERR_ARG, "decode: the official window (W−1) needs sliding_window >= 1, got %d", c->sliding_window);
    return HY_OK;
}

hy_status hy_decode_create(hy_decode **out, hy_model *m, const hy_decode_opts *opts) {
    *out = NULL;
    HY_TRY(hy_decode_check(m, opts));
    hy_decode *d;
    HY_TRY(hy_malloc((void **)&d, sizeof *d, 1, "decode state"));
    d->m = m;
    d->c = hy_model_config(m);
    d->o = hy_model_ops(m);
    d->opt = *opts;
    d->chunk = opts->chunk > 0 ? opts->chunk : HY_DECODE_DEFAULT_CHUNK;
    d->opt.chunk = d->chunk;
    const hy_config *c = d->c;
    d->mark_len = -1;
    d->rewind_budget = INT32_MAX;
    for (int l = 0; l < c->num_layers; l++) {
        d->pmax = hy_imax(d->pmax, hy_config_in_proj_rows(c, l));
        if (!hy_config_computes_kv(c, l)) continue;
        /* W + chunk slots hold every key a chunk of queries can see; `rewind` more
         * keep a mark's keys alive while that many tokens follow it */
        long need = (long)c->sliding_window + d->chunk + opts->rewind;
        d->ring[l] = c->is_global[l] || need >= opts->max_ctx ? opts->max_ctx : (int)need;
        if (d->ring[l] < opts->max_ctx) d->rewind_budget = hy_imin(d->rewind_budget, d->ring[l] - c->sliding_window);
    }
    hy_status st = hy_decode_alloc(d);
    if (!st) st = hy_decode_refresh_meta(d);
    if (st) {
        hy_error_context("creating the decode state (%d text tokens of context)", opts->max_ctx);
        hy_decode_free(d);
        return st;
    }
    *out = d;
    return HY_OK;
}

void hy_decode_free(hy_decode *d) {
    if (!d) return;
    const hy_ops *o = d->o;
    o->free(o->ctx, d->act_mem);
    o->free(o->ctx, d->f32_mem);
    o->free(o->ctx, d->i32_mem);
    hy_free(d->pos_host);
    hy_free(d->tokens);
    hy_free(d);
}

static hy_status hy_decode_room(const hy_decode *d, const int32_t *ids, int n) {
    int V = d->c->vocab_size;
    if (n < 1) return hy_errorf(HY_ERR_ARG, "decode: %d tokens to feed; expected at least 1", n);
    if (n > d->opt.max_ctx - d->len)
        return hy_errorf(HY_ERR_ARG, "decode: context full: %d tokens in the cache + %d new > %d; hint: raise --max-context or reset",
                         d->len, n, d->opt.max_ctx);
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) return hy_errorf(HY_ERR_ARG, "decode: token %d is %d, outside the vocabulary [0, %d)", i, ids[i], V);
    return HY_OK;
}

hy_status hy_decode_prefill(hy_decode *d, const int32_t *ids, int n, float *logits, int all_rows) {
    HY_TRY(hy_decode_room(d, ids, n));
    int M = d->c->num_meta, V = d->c->vocab_size;
    for (int r0 = 0; r0 < n; r0 += d->chunk) {
        int k = hy_imin(d->chunk, n - r0), last = r0 + k == n;
        float *dst = !logits ? NULL : all_rows ? logits + (size_t)r0 * V : last ? logits : NULL;
        HY_TRY(hy_decode_pass(d, ids + r0, k, M + d->len, 0, dst, all_rows ? k : 1));
        memcpy(d->tokens + d->len, ids + r0, sizeof(int32_t) * (size_t)k);
        d->len += k;
    }
    return HY_OK;
}

hy_status hy_decode_step(hy_decode *d, int32_t id, float *logits) {
    HY_TRY(hy_decode_room(d, &id, 1));
    HY_TRY(hy_decode_pass(d, &id, 1, d->c->num_meta + d->len, 1, logits, 1));
    d->tokens[d->len++] = id;
    return HY_OK;
}

int hy_decode_len(const hy_decode *d) { return d->len; }
int hy_decode_mark_len(const hy_decode *d) { return d->mark_len; }
int hy_decode_rewind_budget(const hy_decode *d) { return d->rewind_budget; }
int hy_decode_max_ctx(const hy_decode *d) { return d->opt.max_ctx; }
const int32_t *hy_decode_tokens(const hy_decode *d) { return d->tokens; }
int hy_decode_vocab(const hy_decode *d) { return d->c->vocab_size; }
size_t hy_decode_bytes(const hy_decode *d) { return d->act_bytes + d->f32_bytes + d->i32_bytes; }
