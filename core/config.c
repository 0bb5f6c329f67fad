/* config.c — config.json → hy_config (see config.h for the field policy).
 *
 * Two passes keep the messages precise and the checks in one place:
 *   parse   (hy_config_from_json): presence and JSON type of every key, the
 *           values this toolkit supports, and the structure of the KV-reuse
 *           groups (which cannot be expressed once folded into kv_producer[]);
 *   finish  (hy_config_finish): numeric ranges, divisibility, the layer roles
 *           and every derived size.  A hand-built hy_config goes through the
 *           same checks.
 * All messages start "<origin>: <field>: ". */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "fsutil.h"
#include "json.h"

typedef struct {
    const hy_json *root;
    const char *origin;
} hy_cfg_src;

/* "string \"abc\"", "integer 3", "nothing" ... for "got ..." */
static const char *hy_cfg_got(const hy_json *j, char *buf, size_t n) {
    switch (hy_json_typeof(j)) {
    case HY_JSON_INVALID: return "nothing (the key is absent)";
    case HY_JSON_STRING: snprintf(buf, n, "string \"%.48s\"", hy_json_str(j)); return buf;
    case HY_JSON_INT: snprintf(buf, n, "integer %lld", (long long)hy_json_int(j)); return buf;
    case HY_JSON_REAL: /* keep "8.0" visibly a float: that is usually the mistake */
        snprintf(buf, n, hy_json_num(j) == floor(hy_json_num(j)) && fabs(hy_json_num(j)) < 1e15 ? "number %.1f" : "number %.17g", hy_json_num(j));
        return buf;
    case HY_JSON_BOOL: return hy_json_bool(j) ? "true" : "false";
    case HY_JSON_NULL: return "null";
    case HY_JSON_ARRAY: return "array";
    case HY_JSON_OBJECT: return "object";
    }
    return "?";
}

static hy_status hy_cfg_type_error(const hy_cfg_src *s, const char *key, const char *want, const hy_json *j) {
    char b[96];
    if (!j) return hy_errorf(HY_ERR_CONFIG, "%s: %s: missing required field (expected %s)", s->origin, key, want);
    return hy_errorf(HY_ERR_CONFIG, "%s: %s: expected %s, got %s", s->origin, key, want, hy_cfg_got(j, b, sizeof b));
}

/* Integer key; absent → `dflt` unless required; null allowed when null_val is given. */
static hy_status hy_cfg_int(const hy_cfg_src *s, const char *key, int required, int dflt, const int *null_val, int *out) {
    const hy_json *j = hy_json_get(s->root, key);
    if (!j && !required) { *out = dflt; return HY_OK; }
    if (null_val && hy_json_typeof(j) == HY_JSON_NULL) { *out = *null_val; return HY_OK; }
    if (hy_json_typeof(j) != HY_JSON_INT) return hy_cfg_type_error(s, key, "integer", j);
    int64_t v = hy_json_int(j);
    if (v < -(1ll << 31) + 1 || v > (1ll << 31) - 1)
        return hy_errorf(HY_ERR_CONFIG, "%s: %s: expected a 32-bit integer, got %lld", s->origin, key, (long long)v);
    *out = (int)v;
    return HY_OK;
}

static hy_status hy_cfg_num(const hy_cfg_src *s, const char *key, int required, double dflt, double *out) {
    const hy_json *j = hy_json_get(s->root, key);
    if (!j && !required) { *out = dflt; return HY_OK; }
    if (!hy_json_is_number(j)) return hy_cfg_type_error(s, key, "number", j);
    *out = hy_json_num(j);
    return HY_OK;
}

static hy_status hy_cfg_bool(const hy_cfg_src *s, const char *key, int required, int dflt, int *out) {
    const hy_json *j = hy_json_get(s->root, key);
    if (!j && !required) { *out = dflt; return HY_OK; }
    if (hy_json_typeof(j) != HY_JSON_BOOL) return hy_cfg_type_error(s, key, "boolean", j);
    *out = hy_json_bool(j);
    return HY_OK;
}

/* String key; *out = NULL when absent (and optional) or null (when allow_null). */
static hy_status hy_cfg_str(const hy_cfg_src *s, const char *key, int required, int allow_null, const char **out) {
    const hy_json *j = hy_json_get(s->root, key);
    *out = NULL;
    if (!j && !required) return HY_OK;
    if (allow_null && hy_json_typeof(j) == HY_JSON_NULL) return HY_OK;
    if (hy_json_typeof(j) != HY_JSON_STRING) return hy_cfg_type_error(s, key, "string", j);
    *out = hy_json_str(j);
    return HY_OK;
}

/* A boolean flag whose only supported value is `want`. */
static hy_status hy_cfg_flag(const hy_cfg_src *s, const char *key, int required, int want, const char *why) {
    int v = want;
    HY_TRY(hy_cfg_bool(s, key, required, want, &v));
    if (v != want)
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: %s: expected %s, got %s (%s)", s->origin, key, want ? "true" : "false",
                         v ? "true" : "false", why);
    return HY_OK;
}

/* An optional integer whose only supported value is `want`. */
static hy_status hy_cfg_int_only(const hy_cfg_src *s, const char *key, int required, int want, const char *why) {
    int v = want;
    HY_TRY(hy_cfg_int(s, key, required, want, NULL, &v));
    if (v != want)
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: %s: expected %d, got %d (%s)", s->origin, key, want, v, why);
    return HY_OK;
}

/* An optional string whose only supported value is `want` (null allowed when null_ok). */
static hy_status hy_cfg_str_only(const hy_cfg_src *s, const char *key, const char *want, int null_ok, const char *why) {
    const char *v;
    HY_TRY(hy_cfg_str(s, key, 0, null_ok, &v));
    if (v && strcmp(v, want))
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: %s: expected \"%s\", got \"%.48s\" (%s)", s->origin, key, want, v, why);
    return HY_OK;
}

static hy_status hy_cfg_dims(const hy_cfg_src *s, hy_config *c) {
    static const int neg1 = -1;
    HY_TRY(hy_cfg_int(s, "vocab_size", 1, 0, NULL, &c->vocab_size));
    HY_TRY(hy_cfg_int(s, "hidden_size", 1, 0, NULL, &c->hidden_size));
    HY_TRY(hy_cfg_int(s, "num_hidden_layers", 1, 0, NULL, &c->num_layers));
    HY_TRY(hy_cfg_int(s, "num_attention_heads", 1, 0, NULL, &c->num_heads));
    HY_TRY(hy_cfg_int(s, "num_key_value_heads", 0, c->num_heads, &c->num_heads, &c->num_kv_heads));
    HY_TRY(hy_cfg_int(s, "intermediate_size", 1, 0, NULL, &c->intermediate_size));
    HY_TRY(hy_cfg_int(s, "mamba_expand", 1, 0, NULL, &c->mamba_expand));
    HY_TRY(hy_cfg_int(s, "mamba_d_state", 1, 0, NULL, &c->d_state));
    HY_TRY(hy_cfg_int(s, "mamba_d_conv", 1, 0, NULL, &c->d_conv));
    /* mamba_dt_rank: an integer, or "auto" = ceil(C/16) as in Mamba */
    const hy_json *r = hy_json_get(s->root, "mamba_dt_rank");
    if (!r || (hy_json_str(r) && !strcmp(hy_json_str(r), "auto"))) c->dt_rank = (c->hidden_size + 15) / 16;
    else HY_TRY(hy_cfg_int(s, "mamba_dt_rank", 1, 0, NULL, &c->dt_rank));
    HY_TRY(hy_cfg_int(s, "num_memory_tokens", 1, 0, NULL, &c->num_meta));
    HY_TRY(hy_cfg_int(s, "sliding_window", 1, 0, NULL, &c->sliding_window));
    HY_TRY(hy_cfg_int(s, "max_position_embeddings", 1, 0, NULL, &c->max_pos));
    HY_TRY(hy_cfg_int(s, "orig_max_position_embeddings", 1, 0, NULL, &c->orig_max_pos));
    HY_TRY(hy_cfg_int(s, "pad_token_id", 0, 0, &neg1, &c->pad_token_id));
    HY_TRY(hy_cfg_int(s, "bos_token_id", 0, 1, &neg1, &c->bos_token_id));
    HY_TRY(hy_cfg_int(s, "eos_token_id", 0, 2, &neg1, &c->eos_token_id));
    HY_TRY(hy_cfg_num(s, "rms_norm_eps", 1, 0, &c->rms_eps));
    HY_TRY(hy_cfg_num(s, "initializer_range", 0, 0.02, &c->initializer_range));
    const char *td;
    HY_TRY(hy_cfg_str(s, "torch_dtype", 0, 1, &td));
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", td ? td : "");
    return HY_OK;
}

static hy_status hy_cfg_rope(const hy_cfg_src *s, hy_config *c) {
    HY_TRY(hy_cfg_flag(s, "rope", 1, 1, "models without rotary position embeddings are not supported"));
    HY_TRY(hy_cfg_num(s, "rope_theta", 1, 0, &c->rope_theta));
    const char *t;
    HY_TRY(hy_cfg_str(s, "rope_type", 1, 0, &t));
    if (!strcmp(t, "ntk")) c->rope_ntk = 1;
    else if (!strcmp(t, "default")) c->rope_ntk = 0;
    else
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: rope_type: expected \"ntk\" or \"default\", got \"%.48s\" (other RoPE scalings are not implemented)",
                         s->origin, t);
    return HY_OK;
}

/* Everything whose only supported value is fixed (spec §0, §2.1 remarks). */
static hy_status hy_cfg_supported(const hy_cfg_src *s, hy_config *c) {
    HY_TRY(hy_cfg_int_only(s, "num_experts", 1, 1, "mixture-of-experts MLPs are not implemented; Hymba-1.5B has one expert"));
    int every;
    HY_TRY(hy_cfg_int(s, "memory_tokens_interspersed_every", 0, 0, NULL, &every));
    if (every > 0)
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: memory_tokens_interspersed_every: expected 0, got %d (meta tokens are only supported as a prefix)",
                         s->origin, every);
    HY_TRY(hy_cfg_str_only(s, "kq_norm", "none", 1, "query/key normalisation is not implemented"));
    HY_TRY(hy_cfg_flag(s, "mamba_inner_layernorms", 0, 1, "the dt/B/C RMSNorms are part of the implemented architecture"));
    HY_TRY(hy_cfg_flag(s, "mamba_proj_bias", 0, 0, "in_proj/out_proj biases are not implemented"));
    HY_TRY(hy_cfg_flag(s, "mamba_conv_bias", 0, 1, "the conv1d bias is part of the implemented architecture"));
    HY_TRY(hy_cfg_flag(s, "tie_word_embeddings", 1, 1, "untied LM heads are not supported; HymbaConfig's default is false, so set it explicitly"));
    c->tie_embeddings = 1;
    HY_TRY(hy_cfg_flag(s, "kv_weight_reuse", 0, 0, "sharing K/V projection weights across layers is not implemented"));
    HY_TRY(hy_cfg_int_only(s, "kq_head_dim", 0, -1, "the query/key head dim is always hidden_size/num_attention_heads"));
    HY_TRY(hy_cfg_int_only(s, "attn_hidden_size", 0, -1, "the attention width is always hidden_size"));
    HY_TRY(hy_cfg_str_only(s, "hidden_act", "silu", 0, "only SiLU is implemented"));
    HY_TRY(hy_cfg_str_only(s, "mlp_hidden_act", "silu", 0, "only SwiGLU with SiLU is implemented"));
    return HY_OK;
}

/* layer_type: optional; NL strings, all "h" (hybrid). */
static hy_status hy_cfg_layer_types(const hy_cfg_src *s, const hy_config *c) {
    const hy_json *a = hy_json_get(s->root, "layer_type");
    if (!a) return HY_OK;
    if (hy_json_typeof(a) != HY_JSON_ARRAY) return hy_cfg_type_error(s, "layer_type", "array of strings", a);
    if ((int)hy_json_len(a) != c->num_layers)
        return hy_errorf(HY_ERR_CONFIG, "%s: layer_type: expected %d entries (num_hidden_layers), got %zu", s->origin,
                         c->num_layers, hy_json_len(a));
    for (size_t i = 0; i < hy_json_len(a); i++) {
        const char *t = hy_json_str(hy_json_at(a, i));
        if (!t) {
            char b[96];
            return hy_errorf(HY_ERR_CONFIG, "%s: layer_type[%zu]: expected string, got %s", s->origin, i,
                             hy_cfg_got(hy_json_at(a, i), b, sizeof b));
        }
        if (strcmp(t, "h"))
            return hy_errorf(HY_ERR_UNSUPPORTED, "%s: layer_type[%zu]: expected \"h\", got \"%.48s\" (only hybrid attention+Mamba layers are implemented)",
                             s->origin, i, t);
    }
    return HY_OK;
}

/* A layer index inside an array: integer in [0, NL). */
static hy_status hy_cfg_layer_index(const hy_cfg_src *s, const hy_config *c, const char *what, const hy_json *j, int *out) {
    char b[96];
    if (hy_json_typeof(j) != HY_JSON_INT)
        return hy_errorf(HY_ERR_CONFIG, "%s: %s: expected a layer index (integer), got %s", s->origin, what, hy_cfg_got(j, b, sizeof b));
    int64_t v = hy_json_int(j);
    if (v < 0 || v >= c->num_layers)
        return hy_errorf(HY_ERR_CONFIG, "%s: %s: expected a layer index in [0, %d) (num_hidden_layers = %d), got %lld", s->origin,
                         what, c->num_layers, c->num_layers, (long long)v);
    *out = (int)v;
    return HY_OK;
}

static hy_status hy_cfg_global(const hy_cfg_src *s, hy_config *c) {
    const hy_json *a = hy_json_get(s->root, "global_attn_idx");
    if (hy_json_typeof(a) != HY_JSON_ARRAY) return hy_cfg_type_error(s, "global_attn_idx", "array of layer indices", a);
    for (size_t i = 0; i < hy_json_len(a); i++) {
        char what[48];
        int l;
        snprintf(what, sizeof what, "global_attn_idx[%zu]", i);
        HY_TRY(hy_cfg_layer_index(s, c, what, hy_json_at(a, i), &l));
        c->is_global[l] = 1;
    }
    return HY_OK;
}

/* kv_reuse_group: [[producer, consumer, ...], ...]; fills kv_producer[]. */
static hy_status hy_cfg_groups(const hy_cfg_src *s, hy_config *c) {
    int in_group[HY_MAX_LAYERS];
    for (int l = 0; l < c->num_layers; l++) { c->kv_producer[l] = l; in_group[l] = -1; }
    const hy_json *g = hy_json_get(s->root, "kv_reuse_group");
    int every;
    HY_TRY(hy_cfg_int(s, "kv_reuse_every_i_layer", 0, -1, NULL, &every));
    if (!g || hy_json_typeof(g) == HY_JSON_NULL) {
        if (every > 0)
            return hy_errorf(HY_ERR_UNSUPPORTED, "%s: kv_reuse_every_i_layer: expected -1 when kv_reuse_group is absent, got %d "
                             "(periodic KV reuse is not implemented; list the groups in kv_reuse_group instead)", s->origin, every);
        return HY_OK;
    }
    if (hy_json_typeof(g) != HY_JSON_ARRAY) return hy_cfg_type_error(s, "kv_reuse_group", "array of layer-index arrays", g);
    for (size_t gi = 0; gi < hy_json_len(g); gi++) {
        const hy_json *grp = hy_json_at(g, gi);
        char what[64], b[96];
        if (hy_json_typeof(grp) != HY_JSON_ARRAY)
            return hy_errorf(HY_ERR_CONFIG, "%s: kv_reuse_group[%zu]: expected array of layer indices, got %s", s->origin, gi,
                             hy_cfg_got(grp, b, sizeof b));
        if (hy_json_len(grp) < 2)
            return hy_errorf(HY_ERR_CONFIG, "%s: kv_reuse_group[%zu]: expected at least 2 layers (a producer and a consumer), got %zu",
                             s->origin, gi, hy_json_len(grp));
        int producer = -1;
        for (size_t k = 0; k < hy_json_len(grp); k++) {
            int l;
            snprintf(what, sizeof what, "kv_reuse_group[%zu][%zu]", gi, k);
            HY_TRY(hy_cfg_layer_index(s, c, what, hy_json_at(grp, k), &l));
            if (in_group[l] >= 0)
                return hy_errorf(HY_ERR_CONFIG, "%s: %s: expected each layer in at most one group, got layer %d again (already in kv_reuse_group[%d])",
                                 s->origin, what, l, in_group[l]);
            in_group[l] = (int)gi;
            if (k == 0) producer = l;
            else c->kv_producer[l] = producer;
        }
    }
    return HY_OK;
}

hy_status hy_config_from_json(hy_config *c, const hy_json *root, const char *origin) {
    hy_cfg_src s = {root, origin ? origin : "config.json"};
    memset(c, 0, sizeof *c);
    if (hy_json_typeof(root) != HY_JSON_OBJECT)
        return hy_errorf(HY_ERR_CONFIG, "%s: expected a JSON object at the top level, got %s", s.origin, hy_json_describe(root));
    HY_TRY(hy_cfg_dims(&s, c));
    HY_TRY(hy_cfg_rope(&s, c));
    HY_TRY(hy_cfg_supported(&s, c));
    /* the per-layer arrays need num_layers inside [1, HY_MAX_LAYERS] first */
    if (c->num_layers < 1 || c->num_layers > HY_MAX_LAYERS)
        return hy_errorf(HY_ERR_CONFIG, "%s: num_hidden_layers: expected an integer in [1, %d] (HY_MAX_LAYERS), got %d", s.origin,
                         HY_MAX_LAYERS, c->num_layers);
    HY_TRY(hy_cfg_layer_types(&s, c));
    HY_TRY(hy_cfg_global(&s, c));
    HY_TRY(hy_cfg_groups(&s, c));
    return hy_config_finish(c, s.origin);
}

hy_status hy_config_parse(hy_config *c, const char *text, size_t len, const char *origin) {
    hy_json *root;
    HY_TRY(hy_json_parse(&root, text, len, origin));
    hy_status st = hy_config_from_json(c, root, origin);
    hy_json_free(root);
    return st;
}

hy_status hy_config_load(hy_config *c, const char *path) {
    hy_json *root;
    HY_TRY(hy_json_load_file(&root, path));
    hy_status st = hy_config_from_json(c, root, path);
    hy_json_free(root);
    return st;
}

/* ---- finish: ranges, divisibility, layer roles, derived sizes ---- */

typedef struct {
    const char *key;
    size_t off;
    int lo, hi;
} hy_cfg_range;

/* Upper bounds keep every int product in params.def far from overflow. */
static const hy_cfg_range hy_cfg_ranges[] = {
    {"vocab_size", offsetof(hy_config, vocab_size), 1, 1 << 24},
    {"hidden_size", offsetof(hy_config, hidden_size), 1, 1 << 20},
    {"num_hidden_layers", offsetof(hy_config, num_layers), 1, HY_MAX_LAYERS},
    {"num_attention_heads", offsetof(hy_config, num_heads), 1, 1 << 16},
    {"num_key_value_heads", offsetof(hy_config, num_kv_heads), 1, 1 << 16},
    {"intermediate_size", offsetof(hy_config, intermediate_size), 1, 1 << 20},
    {"mamba_expand", offsetof(hy_config, mamba_expand), 1, 64},
    {"mamba_d_state", offsetof(hy_config, d_state), 1, 1 << 12},
    {"mamba_dt_rank", offsetof(hy_config, dt_rank), 1, 1 << 20},
    {"mamba_d_conv", offsetof(hy_config, d_conv), 1, 64},
    {"num_memory_tokens", offsetof(hy_config, num_meta), 1, 1 << 16},
    {"sliding_window", offsetof(hy_config, sliding_window), 1, 1 << 30},
    {"max_position_embeddings", offsetof(hy_config, max_pos), 1, 1 << 30},
    {"orig_max_position_embeddings", offsetof(hy_config, orig_max_pos), 1, 1 << 30},
};

static hy_status hy_cfg_check_ranges(const hy_config *c, const char *o) {
    for (size_t i = 0; i < HY_ARRAY_LEN(hy_cfg_ranges); i++) {
        const hy_cfg_range *r = &hy_cfg_ranges[i];
        int v;
        memcpy(&v, (const char *)c + r->off, sizeof v);
        if (v < r->lo || v > r->hi)
            return hy_errorf(HY_ERR_CONFIG, "%s: %s: expected an integer in [%d, %d]%s, got %d", o, r->key, r->lo, r->hi,
                             r->hi == HY_MAX_LAYERS ? " (HY_MAX_LAYERS)" : v < 1 ? " (dimensions must be positive)" : "", v);
    }
    if (!(c->rms_eps > 0 && c->rms_eps < 1))
        return hy_errorf(HY_ERR_CONFIG, "%s: rms_norm_eps: expected a number in (0, 1), got %g", o, c->rms_eps);
    if (!(c->rope_theta > 0 && isfinite(c->rope_theta)))
        return hy_errorf(HY_ERR_CONFIG, "%s: rope_theta: expected a positive number, got %g", o, c->rope_theta);
    if (!(c->initializer_range >= 0 && c->initializer_range < 1e3))
        return hy_errorf(HY_ERR_CONFIG, "%s: initializer_range: expected a number in [0, 1000), got %g", o, c->initializer_range);
    const char *tk[] = {"pad_token_id", "bos_token_id", "eos_token_id"};
    const int tv[] = {c->pad_token_id, c->bos_token_id, c->eos_token_id};
    for (int i = 0; i < 3; i++)
        if (tv[i] < -1 || tv[i] >= c->vocab_size)
            return hy_errorf(HY_ERR_CONFIG, "%s: %s: expected null or a token id in [0, %d) (vocab_size), got %d", o, tk[i],
                             c->vocab_size, tv[i]);
    return HY_OK;
}

static hy_status hy_cfg_check_heads(hy_config *c, const char *o) {
    if (c->hidden_size % c->num_heads)
        return hy_errorf(HY_ERR_CONFIG, "%s: num_attention_heads: expected a divisor of hidden_size (%d), got %d "
                         "(the query/key head dim is hidden_size/num_attention_heads)", o, c->hidden_size, c->num_heads);
    if (c->num_heads % c->num_kv_heads)
        return hy_errorf(HY_ERR_CONFIG, "%s: num_key_value_heads: expected a divisor of num_attention_heads (%d), got %d", o,
                         c->num_heads, c->num_kv_heads);
    c->dqk = c->hidden_size / c->num_heads;
    c->di = c->mamba_expand * c->hidden_size;
    c->dv = c->di / c->num_heads;
    if (c->dqk < 4 || c->dqk % 2)
        return hy_errorf(HY_ERR_CONFIG, "%s: num_attention_heads: expected hidden_size/num_attention_heads to be even and at least 4 "
                         "(rotary embeddings rotate pairs of features), got %d/%d = %d", o, c->hidden_size, c->num_heads, c->dqk);
    /* the official code sizes k/v with float arithmetic and truncation (spec §12) */
    double ratio = (double)c->num_kv_heads / (double)c->num_heads;
    c->k_rows = (int)(ratio * c->hidden_size);
    c->v_rows = (int)(ratio * c->hidden_size * c->mamba_expand);
    if (c->k_rows != c->num_kv_heads * c->dqk || c->v_rows != c->num_kv_heads * c->dv)
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: num_key_value_heads: %d/%d heads give int((NKV/NH)*C) = %d k rows, expected NKV*DQK = %d "
                         "(the ratio is not exact in floating point; choose num_key_value_heads/num_attention_heads exactly representable)",
                         o, c->num_kv_heads, c->num_heads, c->k_rows, c->num_kv_heads * c->dqk);
    if (c->rope_ntk && 2.0 * c->max_pos / c->orig_max_pos - 1.0 <= 0)
        return hy_errorf(HY_ERR_CONFIG, "%s: max_position_embeddings: expected more than orig_max_position_embeddings/2 (%d/2) for rope_type \"ntk\", got %d",
                         o, c->orig_max_pos, c->max_pos);
    c->vocab_padded = HY_CEIL_DIV(c->vocab_size, 128) * 128;
    return HY_OK;
}

static hy_status hy_cfg_check_roles(hy_config *c, const char *o) {
    int last[HY_MAX_LAYERS];
    for (int l = 0; l < c->num_layers; l++) {
        c->is_global[l] = c->is_global[l] != 0;
        last[l] = l;
    }
    for (int l = 0; l < c->num_layers; l++) {
        int p = c->kv_producer[l];
        if (p == l) continue;
        if (p < 0 || p > l)
            return hy_errorf(HY_ERR_CONFIG, "%s: kv_reuse_group: layer %d reuses the K/V of layer %d, expected an earlier layer "
                             "(the first element of a group is its producer and must come first)", o, l, p);
        if (c->kv_producer[p] != p)
            return hy_errorf(HY_ERR_CONFIG, "%s: kv_reuse_group: layer %d reuses layer %d, which itself reuses layer %d; expected one producer per group",
                             o, l, p, c->kv_producer[p]);
        if (c->is_global[l])
            return hy_errorf(HY_ERR_CONFIG, "%s: kv_reuse_group: layer %d is listed in global_attn_idx, expected a sliding-window layer "
                             "(a KV consumer reuses layer %d's K/V and must not be a global-attention layer)", o, l, p);
        last[p] = l;
    }
    for (int l = 0; l < c->num_layers; l++) c->kv_last_user[l] = last[c->kv_producer[l]];
    return HY_OK;
}

hy_status hy_config_finish(hy_config *c, const char *origin) {
    const char *o = origin ? origin : "config";
    c->tie_embeddings = 1;
    HY_TRY(hy_cfg_check_ranges(c, o));
    HY_TRY(hy_cfg_check_heads(c, o));
    return hy_cfg_check_roles(c, o);
}

double hy_config_rope_base(const hy_config *c) {
    if (!c->rope_ntk) return c->rope_theta;
    const double factor = 2.0; /* hard-coded in the official "ntk" code (spec §4.1) */
    double d = c->dqk;
    return c->rope_theta * pow(factor * c->max_pos / c->orig_max_pos - (factor - 1.0), d / (d - 2.0));
}

const char *hy_config_mask_name(const hy_config *c, int l) { return c->is_global[l] ? "global" : "swa"; }

const char *hy_config_kv_role(const hy_config *c, int l) {
    if (c->kv_producer[l] != l) return "consumer";
    return c->kv_last_user[l] != l ? "producer" : "own";
}

/* ---- save ---- */

static hy_status hy_cfg_put_int(hy_json *o, const char *k, int64_t v) { return hy_json_set(o, k, hy_json_integer(v)); }
static hy_status hy_cfg_put_tok(hy_json *o, const char *k, int v) { return hy_json_set(o, k, v < 0 ? hy_json_null() : hy_json_integer(v)); }

static hy_status hy_cfg_put_layers(hy_json *o, const hy_config *c) {
    hy_json *g = hy_json_array(), *groups = hy_json_array(), *types = hy_json_array(), *conv = hy_json_object();
    hy_status st = (g && groups && types && conv) ? HY_OK : hy_errorf(HY_ERR_OOM, "out of memory building config JSON");
    for (int l = 0; st == HY_OK && l < c->num_layers; l++) {
        char key[16];
        snprintf(key, sizeof key, "%d", l);
        if (c->is_global[l]) st = hy_json_append(g, hy_json_integer(l));
        if (st == HY_OK) st = hy_json_append(types, hy_json_string("h"));
        if (st == HY_OK) st = hy_json_set(conv, key, hy_json_integer(c->di));
        if (st != HY_OK || c->kv_producer[l] != l || c->kv_last_user[l] == l) continue;
        hy_json *grp = hy_json_array();
        st = grp ? HY_OK : hy_errorf(HY_ERR_OOM, "out of memory building config JSON");
        for (int k = l; st == HY_OK && k < c->num_layers; k++)
            if (c->kv_producer[k] == l) st = hy_json_append(grp, hy_json_integer(k));
        if (st == HY_OK) st = hy_json_append(groups, grp);
        else hy_json_free(grp);
    }
    if (st == HY_OK) { st = hy_json_set(o, "global_attn_idx", g); g = NULL; }
    if (st == HY_OK) { st = hy_json_set(o, "kv_reuse_group", groups); groups = NULL; }
    if (st == HY_OK) { st = hy_json_set(o, "layer_type", types); types = NULL; }
    if (st == HY_OK) { st = hy_json_set(o, "conv_dim", conv); conv = NULL; }
    hy_json_free(g);
    hy_json_free(groups);
    hy_json_free(types);
    hy_json_free(conv);
    return st;
}

static hy_status hy_cfg_to_json(hy_json *o, const hy_config *c) {
    hy_json *arch = hy_json_array();
    hy_status st = hy_json_append(arch, hy_json_string("HymbaForCausalLM"));
    if (st != HY_OK) { hy_json_free(arch); return st; }
    HY_TRY(hy_json_set(o, "architectures", arch));
    HY_TRY(hy_json_set(o, "model_type", hy_json_string("hymba")));
    HY_TRY(hy_cfg_put_int(o, "vocab_size", c->vocab_size));
    HY_TRY(hy_cfg_put_int(o, "hidden_size", c->hidden_size));
    HY_TRY(hy_cfg_put_int(o, "num_hidden_layers", c->num_layers));
    HY_TRY(hy_cfg_put_int(o, "num_attention_heads", c->num_heads));
    HY_TRY(hy_cfg_put_int(o, "num_key_value_heads", c->num_kv_heads));
    HY_TRY(hy_cfg_put_int(o, "intermediate_size", c->intermediate_size));
    HY_TRY(hy_json_set(o, "hidden_act", hy_json_string("silu")));
    HY_TRY(hy_json_set(o, "mlp_hidden_act", hy_json_string("silu")));
    HY_TRY(hy_cfg_put_int(o, "mamba_expand", c->mamba_expand));
    HY_TRY(hy_cfg_put_int(o, "mamba_d_state", c->d_state));
    HY_TRY(hy_cfg_put_int(o, "mamba_dt_rank", c->dt_rank));
    HY_TRY(hy_cfg_put_int(o, "mamba_d_conv", c->d_conv));
    HY_TRY(hy_json_set(o, "mamba_conv_bias", hy_json_boolean(1)));
    HY_TRY(hy_json_set(o, "mamba_proj_bias", hy_json_boolean(0)));
    HY_TRY(hy_json_set(o, "mamba_inner_layernorms", hy_json_boolean(1)));
    HY_TRY(hy_cfg_put_int(o, "num_mamba", 1));
    HY_TRY(hy_cfg_put_int(o, "num_memory_tokens", c->num_meta));
    HY_TRY(hy_cfg_put_int(o, "memory_tokens_interspersed_every", 0));
    HY_TRY(hy_cfg_put_int(o, "sliding_window", c->sliding_window));
    HY_TRY(hy_cfg_put_layers(o, c));
    HY_TRY(hy_cfg_put_int(o, "kv_reuse_every_i_layer", -1));
    HY_TRY(hy_json_set(o, "kv_weight_reuse", hy_json_boolean(0)));
    HY_TRY(hy_json_set(o, "rope", hy_json_boolean(1)));
    HY_TRY(hy_json_set(o, "rope_type", hy_json_string(c->rope_ntk ? "ntk" : "default")));
    HY_TRY(hy_json_set(o, "rope_theta", hy_json_real(c->rope_theta)));
    HY_TRY(hy_cfg_put_int(o, "max_position_embeddings", c->max_pos));
    HY_TRY(hy_cfg_put_int(o, "orig_max_position_embeddings", c->orig_max_pos));
    HY_TRY(hy_json_set(o, "rms_norm_eps", hy_json_real(c->rms_eps)));
    HY_TRY(hy_json_set(o, "tie_word_embeddings", hy_json_boolean(1)));
    HY_TRY(hy_cfg_put_tok(o, "pad_token_id", c->pad_token_id));
    HY_TRY(hy_cfg_put_tok(o, "bos_token_id", c->bos_token_id));
    HY_TRY(hy_cfg_put_tok(o, "eos_token_id", c->eos_token_id));
    HY_TRY(hy_json_set(o, "initializer_range", hy_json_real(c->initializer_range)));
    HY_TRY(hy_json_set(o, "kq_norm", hy_json_string("none")));
    HY_TRY(hy_cfg_put_int(o, "kq_head_dim", -1));
    HY_TRY(hy_cfg_put_int(o, "v_head_dim", c->dv));
    HY_TRY(hy_cfg_put_int(o, "attn_hidden_size", -1));
    HY_TRY(hy_json_set(o, "attn_implementation_new", hy_json_string("flex")));
    HY_TRY(hy_cfg_put_int(o, "num_experts", 1));
    HY_TRY(hy_cfg_put_int(o, "num_experts_per_tok", 1));
    HY_TRY(hy_json_set(o, "use_cache", hy_json_boolean(0)));
    if (c->torch_dtype[0]) HY_TRY(hy_json_set(o, "torch_dtype", hy_json_string(c->torch_dtype)));
    return HY_OK;
}

hy_status hy_config_save(const char *src_path, const hy_config *c, const char *dst_path, const char *torch_dtype) {
    hy_json *root = NULL;
    hy_status st;
    if (src_path) {
        HY_TRY(hy_json_load_file(&root, src_path));
        if (hy_json_typeof(root) != HY_JSON_OBJECT) {
            hy_json_free(root);
            return hy_errorf(HY_ERR_CONFIG, "%s: expected a JSON object at the top level, got %s", src_path, hy_json_describe(root));
        }
        st = HY_OK;
    } else {
        root = hy_json_object();
        st = root ? hy_cfg_to_json(root, c) : hy_errorf(HY_ERR_OOM, "out of memory building config JSON");
    }
    if (st == HY_OK && torch_dtype) st = hy_json_set(root, "torch_dtype", hy_json_string(torch_dtype));
    char *text = st == HY_OK ? hy_json_dump(root, HY_JSON_INDENT) : NULL;
    if (st == HY_OK && !text) st = hy_errorf(HY_ERR_OOM, "out of memory serialising %s", dst_path);
    if (st == HY_OK) {
        size_t n = strlen(text);
        text[n] = '\n'; /* the terminating NUL becomes the file's final newline */
        st = hy_fs_write_atomic(dst_path, text, n + 1);
    }
    free(text);
    hy_json_free(root);
    if (st != HY_OK) hy_error_context("writing %s", dst_path);
    return st;
}
