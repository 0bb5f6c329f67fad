/* cmd_init.c — `hymba init`: a randomly initialised Hymba checkpoint from a
 * config.json (spec §2.1 init rules, counter-based RNG so the bytes depend
 * only on the config and the seed).  Writes a directory Hugging Face and this
 * toolkit both load: config.json (torch_dtype set), model.safetensors (or HF
 * shards), generation_config.json and, with --tokenizer, the tokenizer files.
 * Every file is written atomically; an existing checkpoint is only replaced
 * with --force. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/commands.h"
#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/timer.h"

typedef struct {
    const char *config, *out, *tokenizer;
    uint64_t seed;
    hy_dtype dtype;
    size_t shard_bytes;
    int force;
} hy_init_args;


static int hy_init_usage(FILE *f) {
    fprintf(f,
            "usage: hymba init --config CONFIG.json --out DIR [--seed N] [--dtype bf16|fp32] [--tokenizer DIR]\n"
            "                  [--shard-size BYTES] [--force]\n\n"
            "Writes a randomly initialised checkpoint (spec §2.1: N(0, initializer_range²) matrices, zero pad row,\n"
            "N(0,1) meta tokens, A_log = ln(1..DS), ones/zeros for norms, D and biases).\n"
            "  --config FILE      Hymba config.json to instantiate (or a directory holding one)\n"
            "  --out DIR          output directory (created; refuses to overwrite a checkpoint without --force)\n"
            "  --seed N           RNG seed (default 0); the same seed gives the same bytes on any machine/thread count\n"
            "  --dtype T          bf16 (default, like the released model) or fp32\n"
            "  --tokenizer DIR    copy tokenizer.json, tokenizer.model, tokenizer_config.json,\n"
            "                     special_tokens_map.json, added_tokens.json from DIR (those present)\n"
            "  --shard-size N     shard above N bytes (suffixes K, M, G = powers of 1000; default 5G as in\n"
            "                     transformers; 0 = never shard)\n"
            "  --force            overwrite an existing checkpoint in DIR\n");
    return f == stdout ? 0 : 2;
}

/* "5G", "300M", "123456" → bytes (decimal suffixes, as transformers). */
static int hy_init_parse(int argc, char **argv, hy_init_args *a) {
    memset(a, 0, sizeof *a);
    a->dtype = HY_DTYPE_BF16;
    a->shard_bytes = HY_CKPT_SHARD_BYTES_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--force")) { a->force = 1; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "hymba init: missing value after '%s'\n", o); return 2; }
        const char *v = argv[++i];
        char *end;
        if (!strcmp(o, "--config")) a->config = v;
        else if (!strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--tokenizer")) a->tokenizer = v;
        else if (!strcmp(o, "--seed")) {
            a->seed = strtoull(v, &end, 0);
            if (end == v || *end) { fprintf(stderr, "hymba init: --seed: expected a non-negative integer, got '%s'\n", v); return 2; }
        } else if (!strcmp(o, "--dtype")) {
            if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16")) a->dtype = HY_DTYPE_BF16;
            else if (!strcmp(v, "fp32") || !strcmp(v, "float32")) a->dtype = HY_DTYPE_F32;
            else { fprintf(stderr, "hymba init: --dtype: expected bf16 or fp32, got '%s'\n", v); return 2; }
        } else if (!strcmp(o, "--shard-size")) {
            if (hy_ckpt_parse_size(v, &a->shard_bytes)) { fprintf(stderr, "hymba init: --shard-size: expected bytes like 5G or 500M, got '%s'\n", v); return 2; }
        } else { fprintf(stderr, "hymba init: unknown option '%s'\n", o); return hy_init_usage(stderr); }
    }
    if (!a->config || !a->out) { fprintf(stderr, "hymba init: --config and --out are required\n"); return hy_init_usage(stderr); }
    return 0;
}


static hy_status hy_init_refuse_existing(const hy_init_args *a) {
    const char *names[] = {"config.json", "model.safetensors", "model.safetensors.index.json"};
    for (size_t i = 0; i < HY_ARRAY_LEN(names) && !a->force; i++) {
        char p[HY_PATH_MAX];
        HY_TRY(hy_fs_join(p, sizeof p, a->out, names[i]));
        if (hy_fs_exists(p)) return hy_errorf(HY_ERR_ARG, "%s already exists (pass --force to overwrite the checkpoint in %s)", p, a->out);
    }
    return HY_OK;
}

static hy_status hy_init_generation_config(const hy_config *c, const char *dir) {
    char p[HY_PATH_MAX];
    HY_TRY(hy_fs_join(p, sizeof p, dir, "generation_config.json"));
    hy_json *o = hy_json_object();
    hy_status st = o ? hy_json_set(o, "_from_model_config", hy_json_boolean(1)) : hy_errorf(HY_ERR_OOM, "out of memory");
    const char *k[] = {"bos_token_id", "eos_token_id", "pad_token_id"};
    const int v[] = {c->bos_token_id, c->eos_token_id, c->pad_token_id};
    for (int i = 0; i < 3 && st == HY_OK; i++) st = hy_json_set(o, k[i], v[i] < 0 ? hy_json_null() : hy_json_integer(v[i]));
    if (st == HY_OK) st = hy_json_set(o, "use_cache", hy_json_boolean(0));
    char *text = st == HY_OK ? hy_json_dump(o, HY_JSON_INDENT) : NULL;
    if (st == HY_OK && !text) st = hy_errorf(HY_ERR_OOM, "out of memory");
    if (st == HY_OK) {
        size_t n = strlen(text);
        text[n] = '\n'; /* the terminating NUL becomes the final newline */
        st = hy_fs_write_atomic(p, text, n + 1);
    }
    free(text);
    hy_json_free(o);
    return st;
}

static hy_status hy_init_tokenizer(const char *src, const char *dir, int *copied) {
    *copied = 0;
    if (!hy_fs_is_dir(src)) return hy_errorf(HY_ERR_IO, "--tokenizer %s: not a directory", src);
    HY_TRY(hy_ckpt_copy_companions(src, dir, 0, copied));
    if (!*copied)
        return hy_errorf(HY_ERR_IO, "--tokenizer %s: none of tokenizer.json, tokenizer.model, ... found there", src);
    return HY_OK;
}

/* Bytes and count of the weight files now in `dir` (single file or shards). */
static size_t hy_weight_bytes(const char *dir, int *files) {
    char p[HY_PATH_MAX], name[64];
    struct stat sb;
    *files = 0;
    if (!hy_fs_join(p, sizeof p, dir, "model.safetensors") && !stat(p, &sb)) {
        *files = 1;
        return (size_t)sb.st_size;
    }
    for (int of = 2; of <= 99999; of++) {
        snprintf(name, sizeof name, "model-00001-of-%05d.safetensors", of);
        if (hy_fs_join(p, sizeof p, dir, name) || stat(p, &sb)) continue;
        size_t total = 0;
        for (int i = 1; i <= of; i++) {
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", i, of);
            if (hy_fs_join(p, sizeof p, dir, name) || stat(p, &sb)) continue;
            total += (size_t)sb.st_size;
            (*files)++;
        }
        return total;
    }
    return 0;
}

static hy_status hy_init_run(const hy_init_args *a) {
    char cfg_path[HY_PATH_MAX];
    hy_config c;
    HY_TRY(hy_cli_load_config(a->config, &c, cfg_path, sizeof cfg_path));
    HY_TRY(hy_init_refuse_existing(a));
    hy_param_table t;
    HY_TRY(hy_params_build(&t, &c));
    float *w = NULL;
    char n1[32], sz[32];
    hy_status st = hy_malloc((void **)&w, t.total * sizeof(float), 0, "fp32 weights for init");
    double t0 = hy_now_s(), t1 = t0, t2 = t0;
    if (st == HY_OK) {
        hy_ckpt_init_weights(&t, &c, a->seed, w);
        t1 = hy_now_s();
        st = hy_ckpt_save_weights(a->out, &t, w, a->dtype, a->shard_bytes);
        t2 = hy_now_s();
    }
    char p[HY_PATH_MAX];
    const char *td = a->dtype == HY_DTYPE_BF16 ? "bfloat16" : "float32";
    if (st == HY_OK) st = hy_fs_join(p, sizeof p, a->out, "config.json");
    if (st == HY_OK) st = hy_config_save(cfg_path, &c, p, td);
    if (st == HY_OK) st = hy_init_generation_config(&c, a->out);
    int copied = 0;
    if (st == HY_OK && a->tokenizer) st = hy_init_tokenizer(a->tokenizer, a->out, &copied);
    if (st == HY_OK) {
        int files;
        size_t bytes = hy_weight_bytes(a->out, &files);
        hy_fmt_bytes(sz, sizeof sz, (double)bytes);
        printf("hymba init: wrote %s (seed %llu)\n", a->out, (unsigned long long)a->seed);
        printf("  config      config.json (torch_dtype %s), generation_config.json (bos %d, eos %d, pad %d)\n", td, c.bos_token_id,
               c.eos_token_id, c.pad_token_id);
        printf("  weights     %s parameters in %d tensors, %s %s in %d file%s\n", hy_fmt_thousands(n1, sizeof n1, t.n_params), t.count,
               sz, hy_dtype_name(a->dtype), files, files == 1 ? " (model.safetensors)" : "s (HF shards + index)");
        if (copied) printf("  tokenizer   %d file%s copied from %s\n", copied, copied == 1 ? "" : "s", a->tokenizer);
        printf("  time        init %.2f s, write %.2f s\n", t1 - t0, t2 - t1);
    }
    hy_free(w);
    hy_params_free(&t);
    return st;
}

int hy_cmd_init(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_init_usage(stdout);
    hy_init_args a;
    int rc = hy_init_parse(argc, argv, &a);
    if (rc) return rc;
    if (hy_init_run(&a) != HY_OK) return hy_cli_fail("init");
    return 0;
}
