/* model_internal.h — state shared by the model's files (model.c and the
 * block_*.c files).  Not part of the public API.
 *
 * Buffers: `w` (weights, act dtype) and `g` (grads, fp32) follow the parameter
 * table; activations are carved once from three backend allocations (act dtype,
 * fp32 statistics, int32 batch metadata) sized for max_rows.  Per-layer
 * activations are kept for the backward — except, with `recompute`, the
 * views marked (R) below, which all layers share and the backward recomputes
 * (hy_block_recompute_*); gradient scratch is shared by all layers except the
 * K/V gradient accumulators, one per KV-producing layer, which live from the
 * last consumer's backward to the producer's.  For inference the layer views
 * alternate between two sets (p of KV producers excepted). */
#ifndef HY_MODEL_INTERNAL_H
#define HY_MODEL_INTERNAL_H
#include "model.h"

typedef struct {
    hy_act *x;        /* [N,C] layer input (residual stream) */
    hy_act *h1;       /* [N,C] input_layernorm output (R) */
    float *rstd1;     /* [N] */
    hy_act *p;        /* [N,P] in_proj output: q | k | v | x | z (q, k after RoPE) */
    hy_act *attn;     /* [N,NH·DV] attention output */
    float *lse;       /* [NH,N] */
    hy_act *u;        /* [N,DI] conv + SiLU output (R) */
    hy_act *s;        /* [N,R+2DS] x_proj output: dt_low | B | C */
    hy_act *dtn;      /* [N,R] normalised dt_low */
    hy_act *bn, *cn;  /* [N,DS] normalised B, C */
    float *rstd_dt, *rstd_b, *rstd_c; /* [N] */
    hy_act *delta;    /* [N,DI] dt_proj output (bias not added) (R) */
    hy_act *y;        /* [N,DI] scan output (gated) (R) */
    float *rstd_pa1, *rstd_pa2; /* [N] */
    hy_act *fu;       /* [N,DI] (norm_pa1(attn) + norm_pa2(y)) / 2 (R) */
    hy_act *xmid;     /* [N,C] X' = X + out_proj(fu) */
    hy_act *h2;       /* [N,C] pre_moe_layernorm output (R) */
    float *rstd2;     /* [N] */
    hy_act *gu;       /* [N,2F] gate | up */
    hy_act *mm;       /* [N,F] silu(gate) ⊙ up (R) */
} hy_layer_acts;

typedef struct {
    hy_act *dr;       /* [N,C] residual-stream gradient */
    hy_act *dh;       /* [N,C] */
    hy_act *dmm;      /* [N,F] */
    hy_act *dgu;      /* [N,2F] */
    hy_act *dfu;      /* [N,DI] */
    hy_act *dattn;    /* [N,NH·DV] */
    hy_act *dy;       /* [N,DI] */
    hy_act *du;       /* [N,DI] */
    hy_act *ddelta;   /* [N,DI] */
    hy_act *ddtn;     /* [N,R] */
    hy_act *dbn, *dcn;/* [N,DS] */
    hy_act *ds;       /* [N,R+2DS] */
    hy_act *dp;       /* [N,Pmax] */
    hy_act **dk, **dv;/* per layer: [N,NKV·DQK], [N,NKV·DV] for KV producers, NULL otherwise */
    hy_act *dy_full;  /* [N,C] gradient of the final norm output */
    hy_act *dytxt;    /* [NT,C] */
    hy_act *dlogits;  /* [chunk,Vp] */
} hy_grad_scratch;

struct hy_model {
    hy_config cfg;
    hy_param_table pt;
    const hy_ops *ops;
    int training;        /* nonzero: gradients and backward (HY_MODEL_TRAIN*) */
    int recompute;       /* HY_MODEL_TRAIN: shared intermediates recomputed in the backward */
    int max_rows, max_docs, max_text, head_chunk;
    size_t esz;          /* bytes per act element */
    size_t buf_elems;    /* length of the weight and gradient buffers: ≥ pt.total (padded for sharding; tail zero) */
    void (*bwd_hook)(void *user, int layer); /* called after each layer's backward (gradient bucketing) */
    void *bwd_hook_user;
    hy_act *w;           /* [pt.total] weights */
    float *g;            /* [pt.total] gradients (training) */
    float *inv_freq;     /* [DQK/2] */
    void *act_mem, *f32_mem, *i32_mem;
    size_t act_bytes, f32_bytes, i32_bytes;
    hy_layer_acts *layers; /* [NL] (host array of views) */
    hy_act *x_final;     /* [N,C] output of the last layer */
    hy_act *yf;          /* [N,C] final norm output */
    float *rstd_f;       /* [N] */
    hy_act *ytxt;        /* [NT,C] final norm output at text rows */
    hy_act *logits;      /* [chunk,Vp] */
    hy_act *head_w;      /* [Vp,C] the tied embedding padded with zero rows to Vp (NULL when V == Vp):
                            the head's products then have an aligned N = Vp; refreshed every forward */
    float *loss_rows;    /* [NT] */
    float *lse_rows;     /* [NT] */
    float *row_w;        /* [NT] backward weights */
    int32_t *ids;        /* [N] token id per row (0 at meta rows) */
    int32_t *pos;        /* [N] */
    int32_t *cu;         /* [max_docs+1] */
    int32_t *text_idx;   /* [NT] row of each text token */
    int32_t *targets;    /* [NT] */
    int32_t *cu_host;    /* host copy of cu */
    int32_t *host_i32;   /* host staging: ids [N], pos [N], text_idx [NT] */
    float *logits_f32;   /* [chunk,Vp] only when logits are requested */
    hy_grad_scratch gs;
    /* the micro-batch of the last forward */
    hy_seqs seqs;
    int nt;              /* text tokens */
    int have_forward;
};

/* Weight / gradient views of layer l (layer < 0: model-level). */
static inline hy_act *hy_mw(hy_model *m, int l, hy_param_id id) {
    return (char *)m->w + hy_params_off(&m->pt, l, id) * m->esz;
}
static inline float *hy_mg(hy_model *m, int l, hy_param_id id) { return m->g + hy_params_off(&m->pt, l, id); }
/* Element offset helper for act buffers. */
static inline hy_act *hy_at(const hy_model *m, hy_act *base, size_t elems) { return (char *)base + elems * m->esz; }

/* Blocks (block_*.c): forward computes into the layer's saved activations;
 * backward reads them and the gradient scratch. */
hy_status hy_block_attn_fwd(hy_model *m, int l);
hy_status hy_block_attn_bwd(hy_model *m, int l);
hy_status hy_block_mamba_fwd(hy_model *m, int l);
hy_status hy_block_mamba_bwd(hy_model *m, int l);
hy_status hy_block_mlp_fwd(hy_model *m, int l, hy_act *out /* [N,C] += */);
hy_status hy_block_mlp_bwd(hy_model *m, int l);
hy_status hy_block_layer_fwd(hy_model *m, int l, hy_act *out /* [N,C] */);
hy_status hy_block_layer_bwd(hy_model *m, int l);
/* Single forward steps that write one (R) view each; the forward and the
 * recomputation both go through them, so they compute the same bits. */
hy_status hy_block_in_norm(hy_model *m, int l);     /* h1 (and rstd1) */
hy_status hy_block_fuse(hy_model *m, int l);        /* fu (and rstd_pa1/2) */
hy_status hy_block_mamba_conv(hy_model *m, int l);  /* u */
hy_status hy_block_mamba_delta(hy_model *m, int l); /* delta */
hy_status hy_block_mamba_scan(hy_model *m, int l);  /* y */
hy_status hy_block_mlp_norm(hy_model *m, int l);    /* h2 (and rstd2) */
hy_status hy_block_mlp_act(hy_model *m, int l);     /* mm */
/* Recompute the (R) views of layer l that a backward step needs (no-ops
 * without m->recompute): the MLP's h2 and mm; the mixer's u, delta, y and
 * fu; the input norm's h1. */
hy_status hy_block_recompute_mlp(hy_model *m, int l);
hy_status hy_block_recompute_mixer(hy_model *m, int l);
hy_status hy_block_recompute_h1(hy_model *m, int l);

/* Column offsets of the in_proj output blocks of layer l (spec §3). */
typedef struct { int ld, q, k, v, x, z; } hy_pcols;
static inline hy_pcols hy_model_pcols(const hy_config *c, int l) {
    hy_pcols p;
    p.ld = hy_config_in_proj_rows(c, l);
    p.q = 0;
    int kv = hy_config_computes_kv(c, l);
    p.k = kv ? c->hidden_size : -1;
    p.v = kv ? c->hidden_size + c->k_rows : -1;
    p.x = c->hidden_size + (kv ? c->k_rows + c->v_rows : 0);
    p.z = p.x + c->di;
    return p;
}

#endif
