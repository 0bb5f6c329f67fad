/* cmd_export.c — `hymba export CKPT --out DIR`: a Hugging Face model
 * directory for inference stacks (transformers with Hymba's remote code).
 *
 * Written: model.safetensors, or model-0000i-of-0000n.safetensors plus
 * model.safetensors.index.json above --shard-size (core/checkpoint: HF names
 * and shapes from params.def, lm_head tied and absent); config.json copied
 * key for key from the checkpoint's with torch_dtype set to the export dtype
 * and `auto_map` added from the base directory when the checkpoint's lacks
 * it; generation_config.json and the tokenizer files (from the checkpoint,
 * else the base; a generation config is synthesised from the token ids when
 * neither has one); every *.py remote-code file of the base (and of the
 * checkpoint).  Never written: trainer state, recipes, metrics, caches.
 * The directory is filled under a temporary name and renamed (core/fsutil),
 * so a failed export leaves nothing half-written under DIR.
 *
 * CKPT may also be a run directory: a stage directory with DONE.json (its
 * final checkpoint) or a directory of step-N checkpoints (the newest). */
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/fsutil.h"
#include "core/json.h"

typedef struct {
    const char *ckpt, *out, *base;
    int dtype; /* 0: as the checkpoint, else HY_DTYPE_* + 1 */
    size_t shard_bytes;
    int force;
} hy_export_args;


static int hy_export_usage(FILE *f) {
    fprintf(f, "usage: hymba export CKPT --out DIR [--dtype bf16|fp32] [--base DIR] [--shard-size BYTES] [--force]\n\n"
               "Writes CKPT as a Hugging Face model directory (safetensors, config.json, generation_config.json,\n"
               "tokenizer files, remote-code *.py) without any training state.\n"
               "  CKPT             a checkpoint directory, or a run/stage directory (its DONE.json or newest step-N)\n"
               "  --out DIR        output directory (refuses to replace an existing one without --force)\n"
               "  --dtype T        bf16 or fp32 (default: the dtype of the checkpoint's weights)\n"
               "  --base DIR       where auto_map, *.py and missing tokenizer files come from (default: CKPT)\n"
               "  --shard-size N   shard the weights above N bytes (K/M/G = powers of 1000; default 5G)\n"
               "  --force          replace an existing DIR\n");
    return f == stdout ? 0 : 2;
}

static int hy_export_args_parse(int argc, char **argv, hy_export_args *a) {
    memset(a, 0, sizeof *a);
    a->shard_bytes = HY_CKPT_SHARD_BYTES_DEFAULT;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--force")) { a->force = 1; continue; }
        if (o[0] != '-') {
            if (a->ckpt) { fprintf(stderr, "hymba export: unexpected argument '%s'\n", o); return 2; }
            a->ckpt = o;
            continue;
        }
        if (!v) { fprintf(stderr, "hymba export: %s needs a value\n", o); return 2; }
        i++;
        if (!strcmp(o, "--out")) a->out = v;
        else if (!strcmp(o, "--base")) a->base = v;
        else if (!strcmp(o, "--dtype")) {
            if (!strcmp(v, "bf16") || !strcmp(v, "bfloat16")) a->dtype = HY_DTYPE_BF16 + 1;
            else if (!strcmp(v, "fp32") || !strcmp(v, "float32")) a->dtype = HY_DTYPE_F32 + 1;
            else { fprintf(stderr, "hymba export: --dtype: expected bf16 or fp32, got '%s'\n", v); return 2; }
        } else if (!strcmp(o, "--shard-size")) {
            if (hy_ckpt_parse_size(v, &a->shard_bytes)) { fprintf(stderr, "hymba export: --shard-size: expected bytes like 5G or 300M, got '%s'\n", v); return 2; }
        } else { fprintf(stderr, "hymba export: unknown option '%s'\n", o); return 2; }
    }
    if (!a->ckpt || !a->out) { fprintf(stderr, "hymba export: CKPT and --out are required\n"); return 2; }
    return 0;
}

/* CKPT → a checkpoint directory (see the file comment). */
static hy_status hy_export_resolve(const char *in, char *dir, size_t n) {
    char p[HY_PATH_MAX];
    HY_TRY(hy_fs_join(p, sizeof p, in, "config.json"));
    if (hy_fs_exists(p)) { snprintf(dir, n, "%s", in); return HY_OK; }
    HY_TRY(hy_fs_join(p, sizeof p, in, "DONE.json"));
    if (hy_fs_exists(p)) {
        hy_json *j;
        HY_TRY(hy_json_load_file(&j, p));
        const char *fin = hy_json_str(hy_json_get(j, "final_checkpoint"));
        if (fin) snprintf(dir, n, "%s", fin);
        hy_json_free(j);
        if (!fin) return hy_errorf(HY_ERR_FORMAT, "%s: no \"final_checkpoint\" string", p);
        return HY_OK;
    }
    hy_fs_ckpt_list l;
    HY_TRY(hy_fs_list_checkpoints(in, "step-", &l));
    hy_status st = l.count ? hy_fs_join(dir, n, in, l.items[l.count - 1].name)
                           : hy_errorf(HY_ERR_IO, "%s: not a checkpoint (no config.json), nor a run directory (no DONE.json or step-N)", in);
    hy_fs_ckpt_list_free(&l);
    return st;
}

/* Copy `name` into dst from the first of the directories that has it. */
static hy_status hy_export_copy_first(const char *name, const char *a, const char *b, const char *dst, int *found) {
    char src[HY_PATH_MAX], out[HY_PATH_MAX];
    const char *dirs[2] = {a, b};
    *found = 0;
    for (int i = 0; i < 2 && !*found; i++) {
        HY_TRY(hy_fs_join(src, sizeof src, dirs[i], name));
        if (!hy_fs_exists(src)) continue;
        HY_TRY(hy_fs_join(out, sizeof out, dst, name));
        HY_TRY(hy_fs_copy_file(src, out));
        *found = 1;
    }
    return HY_OK;
}

/* Every *.py of `dir` into dst (existing names are kept: the base wins). */
static hy_status hy_export_copy_py(const char *dir, const char *dst, int *copied) {
    DIR *d = opendir(dir);
    if (!d) return HY_OK;
    hy_status st = HY_OK;
    struct dirent *e;
    char src[HY_PATH_MAX], out[HY_PATH_MAX];
    while (!st && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 3, ".py")) continue;
        st = hy_fs_join(src, sizeof src, dir, e->d_name);
        if (!st) st = hy_fs_join(out, sizeof out, dst, e->d_name);
        if (!st && !hy_fs_exists(out)) {
            st = hy_fs_copy_file(src, out);
            (*copied)++;
        }
    }
    closedir(d);
    return st;
}

/* config.json: the checkpoint's, torch_dtype set, auto_map from the base if missing. */
static hy_status hy_export_config(const char *ckpt, const char *base, const hy_config *cfg, const char *tdtype, const char *dst, int *auto_map) {
    char src[HY_PATH_MAX], out[HY_PATH_MAX], bcfg[HY_PATH_MAX];
    HY_TRY(hy_fs_join(src, sizeof src, ckpt, "config.json"));
    HY_TRY(hy_fs_join(out, sizeof out, dst, "config.json"));
    HY_TRY(hy_config_save(src, cfg, out, tdtype));
    hy_json *j, *b = NULL;
    HY_TRY(hy_json_load_file(&j, out));
    hy_status st = HY_OK;
    *auto_map = hy_json_get(j, "auto_map") != NULL;
    if (!*auto_map && !(st = hy_fs_join(bcfg, sizeof bcfg, base, "config.json")) && hy_fs_exists(bcfg)) {
        st = hy_json_load_file(&b, bcfg);
        hy_json *am = st ? NULL : hy_json_get(b, "auto_map");
        if (am) {
            st = hy_json_set(j, "auto_map", hy_json_ref(am));
            char *text = st ? NULL : hy_json_dump(j, HY_JSON_INDENT);
            if (!st && !text) st = hy_errorf(HY_ERR_OOM, "out of memory");
            if (!st) st = hy_fs_write_atomic(out, text, strlen(text));
            free(text);
            *auto_map = !st;
        }
    }
    hy_json_free(b);
    hy_json_free(j);
    return st;
}

/* generation_config.json from the model's special token ids. */
static hy_status hy_export_gen_config(const hy_config *c, const char *dst) {
    char out[HY_PATH_MAX], text[256];
    HY_TRY(hy_fs_join(out, sizeof out, dst, "generation_config.json"));
    snprintf(text, sizeof text, "{\n  \"_from_model_config\": true,\n  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n  \"pad_token_id\": %d\n}\n",
             c->bos_token_id, c->eos_token_id, c->pad_token_id);
    return hy_fs_write_atomic(out, text, strlen(text));
}

/* Everything into the temporary directory `dst`. */
static hy_status hy_export_fill(const hy_export_args *a, const char *ckpt, const char *base, const char *dst) {
    hy_config cfg;
    HY_TRY(hy_ckpt_load_config(ckpt, &cfg));
    hy_param_table pt;
    HY_TRY(hy_params_build(&pt, &cfg));
    float *w = NULL;
    hy_dtype src_dt = HY_DTYPE_F32;
    hy_status st = hy_malloc((void **)&w, pt.total * sizeof(float), 1, "exported weights");
    if (!st) st = hy_ckpt_load_weights(ckpt, &pt, w, &src_dt);
    hy_dtype dt = a->dtype ? (hy_dtype)(a->dtype - 1) : src_dt == HY_DTYPE_BF16 ? HY_DTYPE_BF16 : HY_DTYPE_F32;
    if (!st) st = hy_ckpt_save_weights(dst, &pt, w, dt, a->shard_bytes);
    hy_free(w);
    int auto_map = 0, found, py = 0, tok = 0;
    if (!st) st = hy_export_config(ckpt, base, &cfg, dt == HY_DTYPE_BF16 ? "bfloat16" : "float32", dst, &auto_map);
    for (int i = 0; hy_ckpt_companion_file(i) && !st; i++) {
        const char *f = hy_ckpt_companion_file(i);
        st = hy_export_copy_first(f, ckpt, base, dst, &found);
        if (!st && !found && !strcmp(f, "generation_config.json")) st = hy_export_gen_config(&cfg, dst);
        tok += found && strncmp(f, "generation", 10) != 0;
    }
    if (!st) st = hy_export_copy_py(base, dst, &py);
    if (!st && strcmp(base, ckpt)) st = hy_export_copy_py(ckpt, dst, &py);
    char nparams[32];
    hy_fmt_bytes(nparams, sizeof nparams, (double)pt.n_params * (dt == HY_DTYPE_BF16 ? 2 : 4));
    if (!st)
        fprintf(stderr, "hymba export: %s weights (%s, %s), %d tokenizer file(s), %d remote-code file(s), auto_map %s\n",
                dt == HY_DTYPE_BF16 ? "bf16" : "fp32", nparams, pt.n_params * (dt == HY_DTYPE_BF16 ? 2u : 4u) > a->shard_bytes && a->shard_bytes ? "sharded" : "one file",
                tok, py, auto_map ? "carried" : "absent (no remote-code mapping in the checkpoint or base)");
    if (!st && !tok) fprintf(stderr, "hymba export: warning: no tokenizer files in %s or %s\n", ckpt, base);
    hy_params_free(&pt);
    return st;
}

int hy_cmd_export(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_export_usage(stdout);
    hy_export_args a;
    if (hy_export_args_parse(argc, argv, &a)) return hy_export_usage(stderr);
    char ckpt[HY_PATH_MAX];
    if (hy_export_resolve(a.ckpt, ckpt, sizeof ckpt)) return hy_cli_fail("export");
    const char *base = a.base ? a.base : ckpt;
    if (hy_fs_exists(a.out) && !a.force) {
        fprintf(stderr, "hymba export: %s exists; pass --force to replace it\n", a.out);
        return 1;
    }
    hy_fs_publish pub;
    if (hy_fs_publish_begin(&pub, a.out)) return hy_cli_fail("export");
    hy_status st = hy_export_fill(&a, ckpt, base, pub.tmp_path);
    if (st) {
        hy_fs_publish_abort(&pub);
        return hy_cli_fail("export");
    }
    if (hy_fs_publish_commit(&pub)) return hy_cli_fail("export");
    fprintf(stderr, "hymba export: %s -> %s\n", ckpt, a.out);
    return 0;
}
