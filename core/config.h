/* config.h — the Hymba model configuration, read from a Hugging Face
 * config.json of the Hymba family.  Every dimension comes from the file; the
 * derived sizes follow spec §0 and §12 (k/v row counts use the official
 * truncation int((NKV/NH)·C) and int((NKV/NH)·C·expand)). */
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
    int pad_token_id;        /* embedding padding_idx */
    int bos_token_id, eos_token_id;
    /* per layer */
    int is_global[HY_MAX_LAYERS];     /* 1: global attention, 0: sliding window */
    int kv_producer[HY_MAX_LAYERS];   /* layer whose K/V this layer uses (itself if it computes K/V) */
    int kv_last_user[HY_MAX_LAYERS];  /* for producers: the last layer reading its K/V */
    /* derived */
    int dqk;                 /* DQK = C / NH */
    int di;                  /* DI = expand · C */
    int dv;                  /* DV = DI / NH */
    int k_rows;              /* NKV·DQK */
    int v_rows;              /* NKV·DV */
    int vocab_padded;        /* Vp */
} hy_config;

/* Parse and validate config.json.  Unsupported values and inconsistent
 * configurations give HY_ERR_CONFIG / HY_ERR_UNSUPPORTED naming the field. */
hy_status hy_config_load(hy_config *cfg, const char *path);
hy_status hy_config_parse(hy_config *cfg, const char *json_text, size_t len, const char *origin);
/* Fill derived fields and check consistency (used by the loader and tests). */
hy_status hy_config_finish(hy_config *cfg, const char *origin);

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
