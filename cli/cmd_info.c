/* cmd_info.c — `hymba info`: what a checkpoint directory (or a bare
 * config.json) describes: dimensions, the per-layer roles (global or sliding
 * window; KV own, producer or consumer; in_proj rows), parameter counts, the
 * weight files present, and with --params the whole parameter table.  Reads
 * only config.json and safetensors headers, so it is instant even for 1.5B. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/safetensors.h"

static int hy_info_usage(FILE *f) {
    fprintf(f,
            "usage: hymba info DIR|CONFIG.json [--params]\n\n"
            "Prints the model configuration, the layer roles, the parameter count and the weight files.\n"
            "  --params    also list every parameter tensor (name, shape, class, init)\n");
    return f == stdout ? 0 : 2;
}

static void hy_info_config(const hy_config *c) {
    printf("  vocab        %d (padded to %d)\n", c->vocab_size, c->vocab_padded);
    printf("  hidden       %d, %d layers, MLP %d\n", c->hidden_size, c->num_layers, c->intermediate_size);
    printf("  attention    %d query heads / %d kv heads, head dims qk %d v %d, window %d, %d meta tokens\n", c->num_heads, c->num_kv_heads,
           c->dqk, c->dv, c->sliding_window, c->num_meta);
    printf("  mamba        inner %d (expand %d), state %d, dt rank %d, conv %d\n", c->di, c->mamba_expand, c->d_state, c->dt_rank, c->d_conv);
    printf("  rope         %s, base %.10g (theta %g, max %d / orig %d)\n", c->rope_ntk ? "ntk" : "default", hy_config_rope_base(c),
           c->rope_theta, c->max_pos, c->orig_max_pos);
    printf("  norm eps     %g; init std %g; tokens pad %d bos %d eos %d; torch_dtype %s\n", c->rms_eps, c->initializer_range,
           c->pad_token_id, c->bos_token_id, c->eos_token_id, c->torch_dtype[0] ? c->torch_dtype : "(unset)");
}

/* One row per layer: mask, KV role with the partner layers, in_proj rows. */
static void hy_info_layers(const hy_config *c) {
    printf("layers (mask: global / swa = sliding window; kv: own, producer -> consumers, consumer <- producer):\n");
    printf("  %5s  %-6s  %-22s  %s\n", "layer", "mask", "kv", "in_proj rows");
    for (int l = 0; l < c->num_layers; l++) {
        char kv[128];
        const char *role = hy_config_kv_role(c, l);
        if (!strcmp(role, "consumer")) snprintf(kv, sizeof kv, "consumer <- %d", c->kv_producer[l]);
        else if (!strcmp(role, "producer")) {
            int k = snprintf(kv, sizeof kv, "producer ->");
            for (int m = l + 1; m < c->num_layers && k < (int)sizeof kv - 8; m++)
                if (c->kv_producer[m] == l) k += snprintf(kv + k, sizeof kv - (size_t)k, " %d", m);
        } else snprintf(kv, sizeof kv, "own");
        printf("  %5d  %-6s  %-22s  %d\n", l, hy_config_mask_name(c, l), kv, hy_config_in_proj_rows(c, l));
    }
    int computing = 0;
    for (int l = 0; l < c->num_layers; l++) computing += hy_config_computes_kv(c, l);
    printf("  KV-computing layers: %d; consumers: %d\n", computing, c->num_layers - computing);
}

static void hy_info_params(const hy_param_table *t, int list) {
    static const char *init_names[] = {"normal", "normal, pad row 0", "std normal", "ones", "zeros", "ln(1..DS)"};
    char a[32], b[32], sz[32];
    const hy_param_desc *e = hy_params_get(t, -1, HY_P_EMBED);
    hy_fmt_bytes(sz, sizeof sz, (double)t->n_params * 2);
    printf("parameters: %s in %d tensors (non-embedding %s); %s in bf16\n", hy_fmt_thousands(a, sizeof a, t->n_params), t->count,
           hy_fmt_thousands(b, sizeof b, t->n_params - (e ? e->numel : 0)), sz);
    if (!list) return;
    printf("  %-48s  %-18s  %-7s  %-18s  %s\n", "name", "shape", "class", "init", "numel");
    for (int i = 0; i < t->count; i++) {
        const hy_param_desc *d = &t->desc[i];
        char shape[64];
        hy_st_shape_str(d->shape, d->ndim, shape, sizeof shape);
        printf("  %-48s  %-18s  %-7s  %-18s  %s\n", d->name, shape, hy_param_class_name(d->cls), init_names[d->init],
               hy_fmt_thousands(a, sizeof a, d->numel));
    }
}

/* The weight files of a checkpoint directory (headers only). */
static hy_status hy_info_weights(const char *dir) {
    char p[HY_PATH_MAX], sz[32];
    HY_TRY(hy_fs_join(p, sizeof p, dir, "model.safetensors.index.json"));
    if (hy_fs_exists(p)) {
        hy_json *j;
        HY_TRY(hy_json_load_file(&j, p));
        const hy_json *map = hy_json_get(j, "weight_map");
        int64_t total = hy_json_int(hy_json_get(hy_json_get(j, "metadata"), "total_size"));
        hy_fmt_bytes(sz, sizeof sz, (double)total);
        printf("weights: sharded (model.safetensors.index.json): %zu tensors, %s of tensor data\n", hy_json_len(map), sz);
        hy_json_free(j);
        return HY_OK;
    }
    HY_TRY(hy_fs_join(p, sizeof p, dir, "model.safetensors"));
    if (!hy_fs_exists(p)) { printf("weights: none (no model.safetensors or index)\n"); return HY_OK; }
    hy_st_file *f;
    HY_TRY(hy_st_open(&f, p));
    const hy_st_tensor *e = hy_st_find(f, "model.embed_tokens.weight");
    size_t bytes = 0;
    for (int i = 0; i < hy_st_count(f); i++) bytes += hy_st_at(f, i)->nbytes;
    hy_fmt_bytes(sz, sizeof sz, (double)bytes);
    printf("weights: model.safetensors: %d tensors, %s, embedding dtype %s%s\n", hy_st_count(f), sz, e ? hy_dtype_name(e->dtype) : "?",
           hy_st_find(f, "lm_head.weight") ? ", lm_head.weight present" : "");
    hy_st_close(f);
    return HY_OK;
}

static hy_status hy_info_run(const char *path, int list) {
    char cfg_path[HY_PATH_MAX];
    int is_dir = hy_fs_is_dir(path);
    hy_config c;
    HY_TRY(hy_cli_load_config(path, &c, cfg_path, sizeof cfg_path));
    hy_param_table t;
    HY_TRY(hy_params_build(&t, &c));
    printf("%s\n", cfg_path);
    hy_info_config(&c);
    hy_info_layers(&c);
    hy_info_params(&t, list);
    hy_params_free(&t);
    return is_dir ? hy_info_weights(path) : HY_OK;
}

int hy_cmd_info(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_info_usage(stdout);
    const char *path = NULL;
    int list = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--params")) list = 1;
        else if (argv[i][0] == '-' || path) { fprintf(stderr, "hymba info: unexpected argument '%s'\n", argv[i]); return hy_info_usage(stderr); }
        else path = argv[i];
    }
    if (!path) return hy_info_usage(stderr);
    if (hy_info_run(path, list) != HY_OK) return hy_cli_fail("info");
    return 0;
}
