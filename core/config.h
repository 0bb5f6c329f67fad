/* config.h — the Hymba model configuration, read from a Hugging Face
 * config.json of the Hymba family.  Every dimension comes from the file; the
 * derived sizes follow spec §0 and §12 (k/v row counts use the official
 * truncation int((NKV/NH)·C) and int((NKV/NH)·C·expand)).
 *
 * Field policy (config.c implements it; the tests prove each rule):
 *   required  vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
 *             intermediate_size, mamba_expand, mamba_d_state, mamba_d_conv,
 *             num_memory_tokens, sliding_window, max_position_embeddings,
 *             orig_max_position_embeddings, rope, rope_theta, rope_type,
 *             rms_norm_eps, tie_word_embeddings, global_attn_idx, num_experts.
 *             (HymbaConfig's Python defaults for several of these — 16 experts,
 *             untied embeddings, no window — are not this model, so a file that
 *             omits them is rejected rather than silently reinterpreted.)
 *   defaulted num_key_value_heads (absent/null → num_attention_heads),
 *             mamba_dt_rank (absent/"auto" → ceil(C/16)), pad/bos/eos_token_id
 *             (0/1/2; null → -1 = none), initializer_range (0.02),
 *             kv_reuse_group (absent/null → no sharing).
 *   checked   optional keys that must hold the one supported value when present:
 *             mamba_conv_bias true, mamba_proj_bias false,
 *             mamba_inner_layernorms true, kv_weight_reuse false,
 *             kv_reuse_every_i_layer ≤ 0 unless groups are given (groups win),
 *             memory_tokens_interspersed_every 0, kq_norm "none",
 *             kq_head_dim -1, attn_hidden_size -1, layer_type all "h",
 *             hidden_act / mlp_hidden_act "silu".
 *   ignored   v_head_dim (the official code overwrites it with DI/NH), conv_dim,
 *             seq_length, attn_implementation*, use_cache and the other
 *             generation/runtime keys.
 * Errors read "<origin>: <field>: expected ..., got ..." (HY_ERR_CONFIG for
 * malformed or inconsistent files, HY_ERR_UNSUPPORTED for valid Hymba
 * settings this toolkit does not implement). */
#ifndef HY_CONFIG_H
#define HY_CONFIG_H
#include "hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { HY_MAX_LAYERS = 256 };

typedef struct {
    /* as in config.json */
    int vocab_size;          /* V */
    int hidden_size;         /* C */
    int num_layers;          /* NL */
    int num_heads;           /* NH */
    int num_kv_heads;        /* NKV */
    int intermediate_size;   /* F */
    int mamba_expand;
    int d_state;             /* DS */
    int dt_rank;             /* R */
    int d_conv;              /* DC */
    int num_meta;            /* M */
    int sliding_window;      /* W */
    int max_pos;             /* max_position_embeddings */
    int orig_max_pos;        /* orig_max_position_embeddings */
    double rope_theta;
    int rope_ntk;            /* 1: rope_type "ntk", 0: "default" */
    double rms_eps;
    int tie_embeddings;      /* always 1 (untied is rejected) */
    int pad_token_id;        /* embedding padding_idx; -1 = none */
    int bos_token_id, eos_token_id; /* -1 = none */
    double initializer_range; /* std of the N(0, σ²) init (spec §2.1) */
    char torch_dtype[16];    /* as in the file ("bfloat16", ...); "" when absent */
    /* per layer */
    int is_global[HY_MAX_LAYERS];     /* 1: global attention, 0: sliding window */
    int kv_producer[HY_MAX_LAYERS];   /* layer whose K/V this layer uses (itself if it computes K/V) */
    int kv_last_user[HY_MAX_LAYERS];  /* last layer reading the K/V that layer l uses (the
                                         same value for a producer and its consumers; l itself
                                         for a layer nobody reuses): after that layer's forward
                                         the K/V may be released */
    /* derived */
    int dqk;                 /* DQK = C / NH */
    int di;                  /* DI = expand · C */
    int dv;                  /* DV = DI / NH */
    int k_rows;              /* NKV·DQK */
    int v_rows;              /* NKV·DV */
    int vocab_padded;        /* Vp */
} hy_config;

/* Parse and validate config.json.  Unsupported values and inconsistent
 * configurations give HY_ERR_CONFIG / HY_ERR_UNSUPPORTED naming the field.
 * `origin` names the text in messages (usually its path). */
hy_status hy_config_load(hy_config *cfg, const char *path);
hy_status hy_config_parse(hy_config *cfg, const char *json_text, size_t len, const char *origin);
struct hy_json;
/* Same from an already parsed JSON object (borrowed). */
hy_status hy_config_from_json(hy_config *cfg, const struct hy_json *root, const char *origin);
/* Fill derived fields and check consistency (used by the loader and tests).
 * Inputs: the "as in config.json" fields plus is_global[] and kv_producer[]
 * (kv_producer[l] == l for layers that compute K/V); outputs: dqk, di, dv,
 * k_rows, v_rows, vocab_padded, kv_last_user[]. */
hy_status hy_config_finish(hy_config *cfg, const char *origin);

/* Write a config.json to `dst_path` atomically (dst.tmp, fsync, rename).
 * With `src_path` (the config.json the model was loaded from) the source
 * object is copied key for key, in order, so keys this toolkit ignores
 * survive an init/export; only "torch_dtype" is set (to `torch_dtype`, e.g.
 * "bfloat16" or "float32"; NULL keeps the source value).  With src_path NULL
 * a complete Hymba config.json is synthesised from `c` (it loads back to the
 * same hy_config). */
hy_status hy_config_save(const char *src_path, const hy_config *c, const char *dst_path, const char *torch_dtype);

/* "global" or "swa"; "own", "producer" or "consumer" (for tables and logs). */
const char *hy_config_mask_name(const hy_config *c, int l);
const char *hy_config_kv_role(const hy_config *c, int l);

static inline int hy_config_computes_kv(const hy_config *c, int l) { return c->kv_producer[l] == l; }
static inline int hy_config_in_proj_rows(const hy_config *c, int l) {
    return c->hidden_size + (hy_config_computes_kv(c, l) ? c->k_rows + c->v_rows : 0) + 2 * c->di;
}
/* Effective RoPE base (spec §4.1): θ·(2·max/orig − 1)^(DQK/(DQK−2)) for "ntk". */
double hy_config_rope_base(const hy_config *c);

#ifdef __cplusplus
}
#endif
#endif
