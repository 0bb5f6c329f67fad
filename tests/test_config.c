/* test_config.c — config.json parsing and validation (core/config.c):
 * the 1.5B and spec-§12 configs with their derived sizes, parameter counts,
 * layer roles and RoPE bases; one case per unsupported setting and per
 * malformed/inconsistent config, each asserting the status and that the
 * message names the field; defaults; hy_config_save round trips. */
#include <math.h>

#include "core/config.h"
#include "core/json.h"
#include "core/params.h"
#include "tests/harness.h"

#define SPEC12_CFG HY_SHARED_DIR "/reference/spec12/config.json"
#define H15_CFG HY_SHARED_DIR "/hymba-1.5b/config.json"

/* The spec12 config with edits applied: kv[2i] = key, kv[2i+1] = JSON text of
 * the new value, or NULL to delete the key.  Parsed with origin "case.json". */
static hy_status hy_cfg_edit(hy_config *c, const char *const *kv, int n) {
    hy_json *src;
    HY_TRY(hy_json_load_file(&src, SPEC12_CFG));
    hy_json *dst = hy_json_object();
    hy_status st = HY_OK;
    for (void *it = hy_json_iter(src); it && st == HY_OK; it = hy_json_iter_next(src, it)) {
        int drop = 0;
        for (int i = 0; i < n; i++) drop |= !strcmp(kv[2 * i], hy_json_iter_key(it)) && !kv[2 * i + 1];
        if (!drop) st = hy_json_set(dst, hy_json_iter_key(it), hy_json_ref(hy_json_iter_value(it)));
    }
    for (int i = 0; i < n && st == HY_OK; i++) {
        if (!kv[2 * i + 1]) continue;
        hy_json *v;
        st = hy_json_parse(&v, kv[2 * i + 1], strlen(kv[2 * i + 1]), "edit");
        if (st == HY_OK) st = hy_json_set(dst, kv[2 * i], v);
    }
    if (st == HY_OK) st = hy_config_from_json(c, dst, "case.json");
    hy_json_free(dst);
    hy_json_free(src);
    return st;
}

static hy_status hy_cfg_edit1(hy_config *c, const char *key, const char *value) {
    const char *kv[] = {key, value};
    return hy_cfg_edit(c, kv, 1);
}

/* Expect `status` with a message containing "case.json", the field and `more`. */
#define EXPECT_CFG_ERR(call, status, field, more)                                                        \
    do {                                                                                                 \
        hy_config c_;                                                                                    \
        hy_error_clear();                                                                                \
        hy_status s_ = call;                                                                             \
        const char *m_ = hy_last_error();                                                                \
        HY_EXPECT_MSG(s_ == (status), "got %s: %s", hy_status_name(s_), m_);                             \
        HY_EXPECT_MSG(strstr(m_, "case.json: ") && strstr(m_, field) && strstr(m_, more), "message: %s", m_); \
        fprintf(stderr, "  message: %s\n", m_);                                                          \
        (void)c_;                                                                                        \
    } while (0)
#define UNSUP(key, value, more) EXPECT_CFG_ERR(hy_cfg_edit1(&c_, key, value), HY_ERR_UNSUPPORTED, key, more)
#define BAD(key, value, field, more) EXPECT_CFG_ERR(hy_cfg_edit1(&c_, key, value), HY_ERR_CONFIG, field, more)

static size_t hy_layer_params(const hy_param_table *t, int l) {
    size_t n = 0;
    for (int i = 0; i < t->count; i++)
        if (t->desc[i].layer == l) n += t->desc[i].numel;
    return n;
}

HY_TEST(spec12_config_derived) {
    hy_config c;
    HY_EXPECT_OK(hy_config_load(&c, SPEC12_CFG));
    HY_EXPECT(c.dqk == 16 && c.dv == 32 && c.di == 128 && c.k_rows == 32 && c.v_rows == 64 && c.vocab_padded == 384);
    HY_EXPECT(c.dt_rank == 6 && c.d_state == 8 && c.d_conv == 4 && c.num_meta == 8 && c.sliding_window == 16);
    HY_EXPECT(c.pad_token_id == 0 && c.bos_token_id == 1 && c.eos_token_id == 2 && c.initializer_range == 0.02);
    static const int computes[8] = {1, 1, 0, 1, 1, 0, 0, 1}, global[8] = {1, 0, 0, 1, 0, 0, 0, 1};
    static const int producer[8] = {0, 1, 1, 3, 4, 4, 4, 7}, last[8] = {0, 2, 2, 3, 6, 6, 6, 7};
    for (int l = 0; l < 8; l++) {
        HY_EXPECT_MSG(hy_config_computes_kv(&c, l) == computes[l] && c.is_global[l] == global[l], "layer %d", l);
        HY_EXPECT_MSG(c.kv_producer[l] == producer[l] && c.kv_last_user[l] == last[l], "layer %d: producer %d last %d", l,
                      c.kv_producer[l], c.kv_last_user[l]);
        HY_EXPECT(hy_config_in_proj_rows(&c, l) == (computes[l] ? 416 : 320));
    }
    double base = hy_config_rope_base(&c), want = 10000.0 * pow(7.0, 8.0 / 7.0);
    fprintf(stderr, "  spec12 RoPE base %.6f\n", base);
    HY_EXPECT_MSG(fabs(base - want) < 1e-9 * want && fabs(base - 92432.847) < 1e-3, "base %.9f", base);
    hy_param_table t;
    HY_EXPECT_OK(hy_params_build(&t, &c));
    HY_EXPECT_MSG(t.n_params == 474672, "parameters %zu, expected 474,672", t.n_params);
    hy_params_free(&t);
    return 0;
}

HY_TEST(hymba15_config_derived) {
    hy_config c;
    HY_EXPECT_OK(hy_config_load(&c, H15_CFG));
    HY_EXPECT(c.hidden_size == 1600 && c.num_layers == 32 && c.num_heads == 25 && c.num_kv_heads == 5);
    HY_EXPECT(c.dqk == 64 && c.dv == 128 && c.di == 3200 && c.k_rows == 320 && c.v_rows == 640 && c.vocab_padded == 32128);
    HY_EXPECT(c.intermediate_size == 5504 && c.dt_rank == 100 && c.num_meta == 128 && c.sliding_window == 1024);
    HY_EXPECT(!strcmp(c.torch_dtype, "bfloat16"));
    /* spec §1: KV-computing layers 0,1,3,5,...,13,15,16,19,21,...,29,31 */
    static const int kv_layers[] = {0, 1, 3, 5, 7, 9, 11, 13, 15, 16, 19, 21, 23, 25, 27, 29, 31};
    int want[32] = {0};
    for (size_t i = 0; i < HY_ARRAY_LEN(kv_layers); i++) want[kv_layers[i]] = 1;
    for (int l = 0; l < 32; l++) {
        HY_EXPECT_MSG(hy_config_computes_kv(&c, l) == want[l], "layer %d", l);
        HY_EXPECT_MSG(hy_config_in_proj_rows(&c, l) == (want[l] ? 8960 : 8000), "layer %d: %d rows", l, hy_config_in_proj_rows(&c, l));
        HY_EXPECT_MSG(c.is_global[l] == (l == 0 || l == 15 || l == 31), "layer %d", l);
    }
    HY_EXPECT(c.kv_producer[17] == 16 && c.kv_producer[18] == 16 && c.kv_last_user[16] == 18 && c.kv_last_user[17] == 18);
    HY_EXPECT(!strcmp(hy_config_kv_role(&c, 0), "own") && !strcmp(hy_config_kv_role(&c, 16), "producer") &&
              !strcmp(hy_config_kv_role(&c, 18), "consumer"));
    double base = hy_config_rope_base(&c);
    fprintf(stderr, "  1.5B RoPE base %.6f\n", base);
    HY_EXPECT_MSG(fabs(base - 74534.8303) < 1e-3 && (float)base == 74534.828125f, "base %.9f", base);
    hy_param_table t;
    HY_EXPECT_OK(hy_params_build(&t, &c));
    fprintf(stderr, "  1.5B parameters %zu\n", t.n_params);
    HY_EXPECT_MSG(t.n_params == 1522797824u, "parameters %zu, expected 1,522,797,824", t.n_params);
    HY_EXPECT_MSG(hy_layer_params(&t, 1) == 46700932 && hy_layer_params(&t, 2) == 45164932, "per layer %zu / %zu",
                  hy_layer_params(&t, 1), hy_layer_params(&t, 2));
    hy_params_free(&t);
    return 0;
}

HY_TEST(rope_default_uses_theta) {
    hy_config c;
    const char *kv[] = {"rope_type", "\"default\"", "rope_theta", "5000.5"};
    HY_EXPECT_OK(hy_cfg_edit(&c, kv, 2));
    HY_EXPECT(c.rope_ntk == 0 && hy_config_rope_base(&c) == 5000.5);
    return 0;
}

HY_TEST(defaults_and_ignored_keys) {
    hy_config c;
    const char *kv[] = {"pad_token_id", NULL, "bos_token_id", NULL, "eos_token_id", "null", "initializer_range", NULL,
                        "v_head_dim", "999", "mamba_dt_rank", "\"auto\"", "num_key_value_heads", NULL, "kv_reuse_every_i_layer", "3"};
    HY_EXPECT_OK(hy_cfg_edit(&c, kv, 8));
    HY_EXPECT(c.pad_token_id == 0 && c.bos_token_id == 1 && c.eos_token_id == -1 && c.initializer_range == 0.02);
    HY_EXPECT_MSG(c.dv == 32, "v_head_dim must be ignored: dv %d", c.dv);
    HY_EXPECT_MSG(c.dt_rank == 4, "auto dt rank %d", c.dt_rank);
    HY_EXPECT(c.num_kv_heads == 4 && c.k_rows == 64 && c.v_rows == 128);
    HY_EXPECT(c.kv_producer[2] == 1); /* explicit groups win over kv_reuse_every_i_layer */
    return 0;
}

/* ---- unsupported settings: HY_ERR_UNSUPPORTED naming the field ---- */
HY_TEST(unsup_num_experts) { UNSUP("num_experts", "4", "got 4"); return 0; }
HY_TEST(unsup_memory_tokens_interspersed) { UNSUP("memory_tokens_interspersed_every", "8", "got 8"); return 0; }
HY_TEST(unsup_kq_norm) { UNSUP("kq_norm", "\"rms\"", "\"rms\""); return 0; }
HY_TEST(unsup_rope_type) { UNSUP("rope_type", "\"yarn\"", "\"yarn\""); return 0; }
HY_TEST(unsup_rope_false) { UNSUP("rope", "false", "got false"); return 0; }
HY_TEST(unsup_inner_layernorms_false) { UNSUP("mamba_inner_layernorms", "false", "got false"); return 0; }
HY_TEST(unsup_proj_bias_true) { UNSUP("mamba_proj_bias", "true", "got true"); return 0; }
HY_TEST(unsup_conv_bias_false) { UNSUP("mamba_conv_bias", "false", "got false"); return 0; }
HY_TEST(unsup_untied_embeddings) { UNSUP("tie_word_embeddings", "false", "untied"); return 0; }
HY_TEST(unsup_kv_weight_reuse) { UNSUP("kv_weight_reuse", "true", "got true"); return 0; }
HY_TEST(unsup_kq_head_dim) { UNSUP("kq_head_dim", "32", "got 32"); return 0; }
HY_TEST(unsup_attn_hidden_size) { UNSUP("attn_hidden_size", "128", "got 128"); return 0; }
HY_TEST(unsup_layer_type) { UNSUP("layer_type", "[\"h\",\"h\",\"h\",\"m\",\"h\",\"h\",\"h\",\"h\"]", "layer_type[3]"); return 0; }
HY_TEST(unsup_hidden_act) { UNSUP("hidden_act", "\"gelu\"", "\"gelu\""); return 0; }
HY_TEST(unsup_mlp_hidden_act) { UNSUP("mlp_hidden_act", "\"relu\"", "\"relu\""); return 0; }
HY_TEST(unsup_kv_every_without_groups) {
    const char *kv[] = {"kv_reuse_group", NULL, "kv_reuse_every_i_layer", "2"};
    EXPECT_CFG_ERR(hy_cfg_edit(&c_, kv, 2), HY_ERR_UNSUPPORTED, "kv_reuse_every_i_layer", "got 2");
    return 0;
}
HY_TEST(unsup_inexact_kv_ratio) {
    /* int((1/49)·196) = 3 in floating point, not 4 = NKV·DQK */
    const char *kv[] = {"hidden_size", "196", "num_attention_heads", "49", "num_key_value_heads", "1"};
    EXPECT_CFG_ERR(hy_cfg_edit(&c_, kv, 3), HY_ERR_UNSUPPORTED, "num_key_value_heads", "= 3 k rows");
    return 0;
}

/* ---- malformed or inconsistent configs: HY_ERR_CONFIG naming the field ---- */
HY_TEST(bad_missing_hidden_size) { BAD("hidden_size", NULL, "hidden_size", "missing required field"); return 0; }
HY_TEST(bad_missing_num_experts) { BAD("num_experts", NULL, "num_experts", "missing required field"); return 0; }
HY_TEST(bad_missing_global_attn_idx) { BAD("global_attn_idx", NULL, "global_attn_idx", "missing required field"); return 0; }
HY_TEST(bad_type_hidden_size) { BAD("hidden_size", "\"64\"", "hidden_size: expected integer, got string", "\"64\""); return 0; }
HY_TEST(bad_type_float_for_int) { BAD("num_hidden_layers", "8.0", "num_hidden_layers: expected integer, got number 8.0", "8.0"); return 0; }
HY_TEST(bad_type_rope_theta) { BAD("rope_theta", "\"big\"", "rope_theta: expected number, got string", "big"); return 0; }
HY_TEST(bad_type_bool) { BAD("tie_word_embeddings", "\"yes\"", "tie_word_embeddings: expected boolean, got string", "yes"); return 0; }
HY_TEST(bad_type_groups) { BAD("kv_reuse_group", "{\"a\": 1}", "kv_reuse_group: expected array", "got object"); return 0; }
HY_TEST(bad_heads_not_dividing_width) { BAD("num_attention_heads", "5", "num_attention_heads: expected a divisor of hidden_size (64)", "got 5"); return 0; }
HY_TEST(bad_kv_heads_not_dividing_heads) { BAD("num_key_value_heads", "3", "num_key_value_heads: expected a divisor of num_attention_heads (4)", "got 3"); return 0; }
HY_TEST(bad_odd_head_dim) {
    const char *kv[] = {"hidden_size", "96", "num_attention_heads", "32", "num_key_value_heads", "2"};
    EXPECT_CFG_ERR(hy_cfg_edit(&c_, kv, 3), HY_ERR_CONFIG, "num_attention_heads", "= 3");
    return 0;
}
HY_TEST(bad_consumer_is_global) { BAD("global_attn_idx", "[0, 2, 7]", "kv_reuse_group: layer 2", "global_attn_idx"); return 0; }
HY_TEST(bad_group_layer_out_of_range) { BAD("kv_reuse_group", "[[1, 2], [4, 5, 8]]", "kv_reuse_group[1][2]", "got 8"); return 0; }
HY_TEST(bad_layer_in_two_groups) { BAD("kv_reuse_group", "[[1, 2], [2, 4]]", "kv_reuse_group[1][0]", "layer 2 again"); return 0; }
HY_TEST(bad_group_too_small) { BAD("kv_reuse_group", "[[1, 2], [4]]", "kv_reuse_group[1]", "at least 2 layers"); return 0; }
HY_TEST(bad_group_consumer_before_producer) { BAD("kv_reuse_group", "[[2, 1]]", "kv_reuse_group: layer 1", "earlier layer"); return 0; }
HY_TEST(bad_global_index_out_of_range) { BAD("global_attn_idx", "[0, 3, 8]", "global_attn_idx[2]", "got 8"); return 0; }
HY_TEST(bad_global_index_negative) { BAD("global_attn_idx", "[0, -1]", "global_attn_idx[1]", "got -1"); return 0; }
HY_TEST(bad_nonpositive_hidden_size) { BAD("hidden_size", "0", "hidden_size: expected an integer in [1,", "got 0"); return 0; }
HY_TEST(bad_nonpositive_meta_tokens) { BAD("num_memory_tokens", "0", "num_memory_tokens", "got 0"); return 0; }
HY_TEST(bad_negative_d_state) { BAD("mamba_d_state", "-16", "mamba_d_state", "got -16"); return 0; }
HY_TEST(bad_nonpositive_eps) { BAD("rms_norm_eps", "0", "rms_norm_eps", "got 0"); return 0; }
HY_TEST(bad_too_many_layers) { BAD("num_hidden_layers", "300", "num_hidden_layers", "HY_MAX_LAYERS"); return 0; }
HY_TEST(bad_layer_type_length) { BAD("num_hidden_layers", "9", "layer_type", "expected 9 entries"); return 0; }
HY_TEST(bad_pad_token_out_of_vocab) { BAD("pad_token_id", "301", "pad_token_id", "got 301"); return 0; }
HY_TEST(bad_ntk_positions) {
    const char *kv[] = {"max_position_embeddings", "16", "orig_max_position_embeddings", "64"};
    EXPECT_CFG_ERR(hy_cfg_edit(&c_, kv, 2), HY_ERR_CONFIG, "max_position_embeddings", "got 16");
    return 0;
}

HY_TEST(bad_top_level_and_syntax) {
    hy_config c;
    HY_EXPECT_ERR(hy_config_parse(&c, "[1, 2]", 6, "case.json"), "case.json: expected a JSON object");
    const char *broken = "{\n  \"hidden_size\": 64,\n  oops\n}";
    hy_error_clear();
    hy_status s = hy_config_parse(&c, broken, strlen(broken), "case.json");
    HY_EXPECT_MSG(s == HY_ERR_FORMAT && strstr(hy_last_error(), "case.json:3:"), "%s: %s", hy_status_name(s), hy_last_error());
    HY_EXPECT_ERR(hy_config_load(&c, "/nonexistent/config.json"), "/nonexistent/config.json: cannot open");
    return 0;
}

HY_TEST(finish_checks_hand_built_roles) {
    hy_config c;
    HY_EXPECT_OK(hy_config_load(&c, SPEC12_CFG));
    hy_config d = c;
    d.kv_producer[5] = 6; /* reuses a later layer */
    HY_EXPECT_ERR(hy_config_finish(&d, "built"), "built: kv_reuse_group: layer 5");
    d = c;
    d.kv_producer[6] = 2; /* chain: 6 → 2 → 1 */
    HY_EXPECT_ERR(hy_config_finish(&d, "built"), "which itself reuses layer 1");
    d = c;
    d.d_conv = 0;
    HY_EXPECT_ERR(hy_config_finish(&d, "built"), "built: mamba_d_conv");
    return 0;
}

/* Saving from the source file keeps every key and its order; only torch_dtype changes. */
HY_TEST(save_from_source_preserves_object) {
    char dir[256], dst[300];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "cfg") == 0);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    hy_config c, back;
    HY_EXPECT_OK(hy_config_load(&c, SPEC12_CFG));
    HY_EXPECT_OK(hy_config_save(SPEC12_CFG, &c, dst, "float32"));
    hy_json *a, *b;
    HY_EXPECT_OK(hy_json_load_file(&a, SPEC12_CFG));
    HY_EXPECT_OK(hy_json_load_file(&b, dst));
    HY_EXPECT(!strcmp(hy_json_str(hy_json_get(b, "torch_dtype")), "float32"));
    HY_EXPECT(hy_json_len(b) == hy_json_len(a) + 1); /* spec12 has no torch_dtype */
    void *ia = hy_json_iter(a), *ib = hy_json_iter(b);
    for (; ia; ia = hy_json_iter_next(a, ia), ib = hy_json_iter_next(b, ib)) {
        char *x = hy_json_dump(hy_json_iter_value(ia), HY_JSON_COMPACT), *y = hy_json_dump(hy_json_iter_value(ib), HY_JSON_COMPACT);
        int same = !strcmp(hy_json_iter_key(ia), hy_json_iter_key(ib)) && !strcmp(x, y);
        if (!same) fprintf(stderr, "  key %s: %s vs %s: %s\n", hy_json_iter_key(ia), hy_json_iter_key(ib), x, y);
        free(x);
        free(y);
        HY_EXPECT(same);
    }
    hy_json_free(a);
    hy_json_free(b);
    HY_EXPECT_OK(hy_config_load(&back, dst));
    HY_EXPECT(!strcmp(back.torch_dtype, "float32"));
    memcpy(back.torch_dtype, c.torch_dtype, sizeof c.torch_dtype);
    HY_EXPECT(!memcmp(&back, &c, sizeof c));
    char cmd[400];
    snprintf(cmd, sizeof cmd, "ls -A %s", dir);
    char *out = NULL;
    HY_EXPECT(hy_test_run(cmd, &out) == 0 && out && !strcmp(out, "config.json\n")); /* no temporaries left */
    free(out);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return hy_test_run(cmd, NULL);
}

/* A config synthesised from the struct loads back to the same struct. */
static int hy_check_synth(const char *src) {
    char dir[256], dst[300];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "cfg") == 0);
    snprintf(dst, sizeof dst, "%s/config.json", dir);
    hy_config c, back;
    HY_EXPECT_OK(hy_config_load(&c, src));
    HY_EXPECT_OK(hy_config_save(NULL, &c, dst, "bfloat16"));
    HY_EXPECT_OK(hy_config_load(&back, dst));
    HY_EXPECT(!strcmp(back.torch_dtype, "bfloat16"));
    memcpy(back.torch_dtype, c.torch_dtype, sizeof c.torch_dtype);
    HY_EXPECT_MSG(!memcmp(&back, &c, sizeof c), "%s: the synthesised config differs after reload", src);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return hy_test_run(cmd, NULL);
}
HY_TEST(save_synthesised_spec12) { return hy_check_synth(SPEC12_CFG); }
HY_TEST(save_synthesised_hymba15) { return hy_check_synth(H15_CFG); }

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
