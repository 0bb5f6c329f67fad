/* test_recipe.c — YAML recipes and pipelines: defaults, every error case
 * with its message (unknown key with suggestion, bad type, out of range, bad
 * enum value, duplicate key, malformed YAML with its line, missing model
 * path, rules between keys, dataset entries, --set), path resolution, the
 * save → load round trip, stage and file checks, pipelines, and that
 * recipes/README.md embeds the current schema reference. */
#include <limits.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/params.h"
#include "core/recipe.h"
#include "core/recipe_internal.h" /* hy_levenshtein */
#include "tests/harness.h"

/* ---------------------------------------------------------------- fixture */

typedef struct {
    char dir[PATH_MAX]; /* realpath of a fresh temporary directory */
    char path[PATH_MAX + 64];
} fx;

static int fx_init(fx *f) {
    char tmp[512];
    if (hy_test_tmpdir(tmp, sizeof tmp, "recipe") != 0 || !realpath(tmp, f->dir)) return -1;
    return 0;
}

/* Write DIR/name with `text`; f->path gets its path. */
static const char *fx_file(fx *f, const char *name, const char *text) {
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    if (hy_test_write_file(f->path, text, strlen(text)) != 0) return NULL;
    return f->path;
}

#define MINIMAL "model:\n  path: base\ndata:\n  train: [chat.jsonl.zst]\n"

/* Load `text` as DIR/r.yaml and expect an error containing every needle. */
static int expect_load_error(fx *f, const char *text, const char *const *needles, int n) {
    hy_recipe r;
    const char *p = fx_file(f, "r.yaml", text);
    hy_error_clear();
    hy_status st = hy_recipe_load(&r, p, 0, NULL);
    if (st == HY_OK) {
        fprintf(stderr, "  expected an error for:\n%s", text);
        hy_recipe_free(&r);
        return 1;
    }
    for (int i = 0; i < n; i++)
        if (!strstr(hy_last_error(), needles[i])) {
            fprintf(stderr, "  message lacks \"%s\":\n    %s\n", needles[i], hy_last_error());
            return 1;
        }
    return 0;
}
#define EXPECT_LOAD_ERR(f, text, ...)                                                 \
    do {                                                                              \
        const char *const nd_[] = {__VA_ARGS__};                                      \
        HY_EXPECT(expect_load_error((f), (text), nd_, (int)HY_ARRAY_LEN(nd_)) == 0);  \
    } while (0)

/* ---------------------------------------------------------------- defaults */

HY_TEST(defaults_and_paths) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    hy_recipe r;
    HY_EXPECT_OK(hy_recipe_load(&r, fx_file(&f, "sft1.yaml", MINIMAL), 0, NULL));
    char want[PATH_MAX + 64], cwd[PATH_MAX];
    HY_EXPECT(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/base", f.dir);
    HY_EXPECT_MSG(!strcmp(r.model.path, want), "model.path %s (want %s)", r.model.path, want);
    snprintf(want, sizeof want, "%s/chat.jsonl.zst", f.dir);
    HY_EXPECT(r.data.train.count == 1 && !strcmp(r.data.train.items[0].path, want));
    HY_EXPECT(!strcmp(r.data.train.items[0].name, "chat") && r.data.train.items[0].weight == 1.0);
    HY_EXPECT(r.data.train.items[0].kind == HY_DATA_KIND_AUTO && r.data.train.items[0].line == 4);
    HY_EXPECT(r.model.dtype == HY_RECIPE_DTYPE_AUTO && r.data.eval.count == 0);
    HY_EXPECT(r.data.add_bos == 0 && r.data.add_eos == 1 && r.data.train_on == HY_RECIPE_TRAIN_ON_ALL);
    HY_EXPECT(r.data.max_length == 4096 && r.data.tokens_per_micro_batch == 8192 && r.data.seed == -1);
    HY_EXPECT(r.data.overlength == HY_OVERLENGTH_DROP && r.data.on_error == HY_ON_ERROR_FAIL && !*r.data.cache_dir);
    HY_EXPECT(r.train.epochs == 1 && r.train.max_steps == 0 && r.train.lr == 2e-5 && r.train.schedule == HY_SCHED_COSINE);
    HY_EXPECT(r.train.warmup_steps == 0 && r.train.warmup_ratio == 0 && r.train.decay_ratio == 0.1);
    HY_EXPECT(r.train.decay_shape == HY_DECAY_LINEAR && r.train.min_lr == 0 && r.train.weight_decay == 0);
    unsigned nd = (1u << HY_PCLASS_NORM) | (1u << HY_PCLASS_BIAS) | (1u << HY_PCLASS_EMBED) | (1u << HY_PCLASS_META) |
                  (1u << HY_PCLASS_SSM);
    HY_EXPECT_MSG(r.train.no_decay == nd, "no_decay %#x", r.train.no_decay);
    HY_EXPECT(r.train.grad_clip == 1.0 && r.train.max_bad_steps == 5 && r.train.seed == 42 && r.train.eval_every == 0);
    HY_EXPECT(r.train.device == HY_DEVICE_AUTO && r.train.precision == HY_PRECISION_AUTO);
    HY_EXPECT(r.optim.beta1 == 0.9 && r.optim.beta2 == 0.999 && r.optim.eps == 1e-8);
    snprintf(want, sizeof want, "%s/runs/sft1", cwd); /* output paths: relative to the current directory */
    HY_EXPECT_MSG(!strcmp(r.checkpoint.dir, want), "checkpoint.dir %s", r.checkpoint.dir);
    snprintf(want, sizeof want, "%s/runs/sft1/metrics.jsonl", cwd);
    HY_EXPECT(!strcmp(r.log.metrics, want));
    HY_EXPECT(r.checkpoint.every == 500 && r.checkpoint.keep_last == 2 && r.checkpoint.resume == HY_RESUME_AUTO);
    HY_EXPECT(r.log.every == 10);
    HY_EXPECT(r.dpo.beta == 0.1 && r.dpo.loss == HY_DPO_LOSS_SIGMOID && r.dpo.label_smoothing == 0);
    HY_EXPECT(r.dpo.sft_weight == 0 && !r.dpo.length_normalize && r.dpo.reference.mode == HY_DPO_REF_PRECOMPUTE);
    HY_EXPECT(!*r.dpo.reference.model);
    snprintf(want, sizeof want, "%s/sft1.yaml", f.dir);
    HY_EXPECT(!strcmp(r.source, want));
    hy_recipe_free(&r);
    /* normalisation, ~ and explicit output paths */
    const char *t = "model: {path: ./a/../b/./c/}\ndata:\n  train: ['~/x.jsonl', /abs//y.jsonl]\n"
                    "checkpoint: {dir: out/run1, resume: ../ck/step-10}\nlog: {metrics: /m.jsonl}\n";
    HY_EXPECT_OK(hy_recipe_load(&r, fx_file(&f, "p.yaml", t), 0, NULL));
    snprintf(want, sizeof want, "%s/b/c", f.dir);
    HY_EXPECT_MSG(!strcmp(r.model.path, want), "%s", r.model.path);
    snprintf(want, sizeof want, "%s/x.jsonl", getenv("HOME") ? getenv("HOME") : "");
    HY_EXPECT_MSG(!getenv("HOME") || !strcmp(r.data.train.items[0].path, want), "%s", r.data.train.items[0].path);
    HY_EXPECT(!strcmp(r.data.train.items[1].path, "/abs/y.jsonl"));
    snprintf(want, sizeof want, "%s/out/run1", cwd);
    HY_EXPECT(!strcmp(r.checkpoint.dir, want) && !strcmp(r.log.metrics, "/m.jsonl"));
    char up[PATH_MAX];
    snprintf(up, sizeof up, "%s", f.dir);
    *strrchr(up, '/') = 0;
    snprintf(want, sizeof want, "%s/ck/step-10", up);
    HY_EXPECT(r.checkpoint.resume == HY_RESUME_PATH && !strcmp(r.checkpoint.resume_path, want));
    hy_recipe_free(&r);
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

/* ---------------------------------------------------------------- error cases */

HY_TEST(error_unknown_key_suggests) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  lerning_rate: 1e-5\n", "r.yaml:6: train.lerning_rate: unknown key",
                    "did you mean 'train.lr'?");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  warmup_step: 10\n", "r.yaml:6: train.warmup_step", "did you mean 'train.warmup_steps'?");
    EXPECT_LOAD_ERR(&f, MINIMAL "optim:\n  lr: 1e-5\n", "r.yaml:6: optim.lr: unknown key (did you mean 'train.lr'?)");
    EXPECT_LOAD_ERR(&f, MINIMAL "trian:\n  lr: 1e-5\n", "r.yaml:5: trian: unknown key (did you mean 'train'?)");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  learning_rate: 1e-5\n", "r.yaml:6: train.learning_rate: unknown key; hymba calls this 'train.lr'");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  zzzzzzzzzz: 1\n", "train.zzzzzzzzzz: unknown key; valid keys in train: epochs, max_steps");
    EXPECT_LOAD_ERR(&f, MINIMAL "stages: []\n", "looks like a pipeline");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(error_bad_type) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  lr: fast\n", "r.yaml:6: train.lr: expected a number, got \"fast\"");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  epochs: 1.5\n", "r.yaml:6: train.epochs: expected an integer, got 1.5");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  epochs: \"3\"\n", "expected an integer, got the string \"3\" (remove the quotes)");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  lr: .nan\n", "train.lr: expected a number");
    EXPECT_LOAD_ERR(&f, "model: {path: b}\ndata:\n  train: [a.jsonl]\n  add_bos: yes\n",
                    "r.yaml:4: data.add_bos: expected true or false, got \"yes\"");
    EXPECT_LOAD_ERR(&f, MINIMAL "train: 5\n", "r.yaml:5: train: expected a section (a mapping of keys), got a value");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  seed: [1, 2]\n", "r.yaml:6: train.seed: expected a single value, got a list");
    EXPECT_LOAD_ERR(&f, "model:\n  path: base\ndata:\n  train: {path: a.jsonl}\n", "data.train: expected a list of datasets, got a mapping");
    EXPECT_LOAD_ERR(&f, "- a\n- b\n", "r.yaml:1: recipe: expected a mapping of sections");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(error_out_of_range) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  warmup_ratio: 1.5\n",
                    "r.yaml:6: train.warmup_ratio: 1.5 is out of range: expected 0 <= value <= 1");
    EXPECT_LOAD_ERR(&f, MINIMAL "optim:\n  beta1: 1\n", "optim.beta1: 1 is out of range: expected 0 <= value < 1");
    EXPECT_LOAD_ERR(&f, MINIMAL "optim:\n  eps: 0\n", "optim.eps: 0 is out of range: expected 0 < value <= 1");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  epochs: -1\n", "train.epochs: -1 is out of range: expected 0 <= value <= 1000000");
    EXPECT_LOAD_ERR(&f, MINIMAL "dpo:\n  beta: 0\n", "dpo.beta: 0 is out of range: expected 0 < value");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(error_bad_enum) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  schedule: cosin\n",
                    "r.yaml:6: train.schedule: expected one of constant, linear, cosine, wsd; got \"cosin\" (did you mean 'cosine'?)");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  schedule: exponential\n", "got \"exponential\"");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  no_decay: [norm, biass]\n", "r.yaml:6: train.no_decay: expected one of matrix, norm, bias",
                    "(did you mean 'bias'?)");
    EXPECT_LOAD_ERR(&f, MINIMAL "dpo:\n  loss: sigmod\n", "dpo.loss", "(did you mean 'sigmoid'?)");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(error_duplicate_key) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  lr: 1e-5\n  epochs: 2\n  lr: 2e-5\n",
                    "r.yaml:8: train.lr: duplicate key (first given at line 6)");
    EXPECT_LOAD_ERR(&f, MINIMAL "train: {lr: 1e-5}\ntrain: {epochs: 2}\n", "r.yaml:6: train: duplicate key (first given at line 5)");
    EXPECT_LOAD_ERR(&f, "model:\n  path: base\ndata:\n  train:\n    - {path: a.jsonl, weight: 1, weight: 2}\n",
                    "r.yaml:5: data.train[0]: duplicate key 'weight'");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(error_malformed_yaml_has_line) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  lr: 1e-5\n   epochs: 2\n", "r.yaml:7:", "invalid YAML");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n\tlr: 1e-5\n", "r.yaml:6:", "invalid YAML", "tabs cannot indent YAML");
    EXPECT_LOAD_ERR(&f, "model: {path: base\ndata: x\n", "r.yaml:", "invalid YAML");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  lr: [1e-5\n", "invalid YAML");
    hy_recipe r;
    snprintf(f.path, sizeof f.path, "%s/missing.yaml", f.dir);
    HY_EXPECT_ERR(hy_recipe_load(&r, f.path, 0, NULL), "missing.yaml");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(error_missing_required) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, "data:\n  train: [a.jsonl]\n", "r.yaml: model.path: required", "path: /path/to/Hymba-1.5B-Base");
    EXPECT_LOAD_ERR(&f, "", "model.path: required", "data.train: required", "2 problems");
    EXPECT_LOAD_ERR(&f, "model:\n  path:\ndata:\n  train: [a.jsonl]\n", "model.path: required");
    EXPECT_LOAD_ERR(&f, "model: {path: b}\ndata:\n  train:\n    - {weight: 2}\n", "r.yaml:4: data.train[0]: path: required");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(error_dataset_entries) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, "model: {path: b}\ndata:\n  train:\n    - a.jsonl\n    - {path: c.jsonl, wieght: 2}\n",
                    "r.yaml:5: data.train[1]: unknown dataset key 'wieght' (did you mean 'weight'?)");
    EXPECT_LOAD_ERR(&f, "model: {path: b}\ndata:\n  train:\n    - {path: c.jsonl, weight: -1}\n",
                    "data.train[0]: weight: expected a number > 0, got \"-1\"");
    EXPECT_LOAD_ERR(&f, "model: {path: b}\ndata:\n  eval:\n    - {path: c.jsonl, kind: pref}\n  train: [a.jsonl]\n",
                    "data.eval[0]: kind: expected one of auto, sft, preference; got \"pref\" (did you mean 'preference'?)");
    EXPECT_LOAD_ERR(&f, "model: {path: b}\ndata:\n  train: [a.jsonl, b.jsonl, ./a.jsonl]\n", "is listed twice");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(error_rules_between_keys) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  warmup_steps: 10\n  warmup_ratio: 0.1\n",
                    "r.yaml:7: train.warmup_ratio: give train.warmup_steps (10) or train.warmup_ratio (0.1), not both");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  lr: 1e-5\n  min_lr: 1e-4\n", "r.yaml:7: train.min_lr: 0.0001 is above train.lr");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  global_batch_tokens: 65536\n  global_batch_sequences: 64\n", "not both");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  epochs: 0\n", "nothing to train");
    EXPECT_LOAD_ERR(&f, "model: {path: b}\ndata: {train: [a.jsonl], max_length: 9000}\n",
                    "r.yaml: data.tokens_per_micro_batch: 8192 is below data.max_length (9000)");
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  global_batch_tokens: 100\n", "below one micro-batch");
    /* a constant schedule has no floor, so min_lr above lr is allowed there */
    hy_recipe r;
    HY_EXPECT_OK(hy_recipe_load(&r, fx_file(&f, "c.yaml", MINIMAL "train: {schedule: constant, lr: 1e-5, min_lr: 1e-4}\n"), 0, NULL));
    hy_recipe_free(&r);
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(errors_are_all_reported) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    EXPECT_LOAD_ERR(&f, MINIMAL "train:\n  lr: x\n  epoch: 2\noptim: {beta1: 2}\n", "3 problems", "r.yaml:6: train.lr",
                    "r.yaml:7: train.epoch: unknown key (did you mean 'train.epochs'?)", "r.yaml:8: optim.beta1");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

/* ---------------------------------------------------------------- --set */

HY_TEST(set_overrides_typed) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    const char *sets[] = {"train.lr=3e-5",
                          "train.schedule=wsd",
                          "data.train=[x.jsonl, {path: y.jsonl, weight: 2.5, kind: sft, name: why}]",
                          "train.no_decay=[norm]",
                          "checkpoint.resume=never",
                          "data.add_bos=true",
                          "optim={beta2: 0.95}",
                          "model.path=/models/hymba"};
    hy_recipe r;
    HY_EXPECT_OK(hy_recipe_load(&r, fx_file(&f, "r.yaml", MINIMAL), (int)HY_ARRAY_LEN(sets), sets));
    char cwd[PATH_MAX], want[PATH_MAX + 32];
    HY_EXPECT(getcwd(cwd, sizeof cwd));
    HY_EXPECT(r.train.lr == 3e-5 && r.train.schedule == HY_SCHED_WSD && r.data.add_bos == 1 && r.optim.beta2 == 0.95);
    HY_EXPECT(r.train.no_decay == (1u << HY_PCLASS_NORM) && r.checkpoint.resume == HY_RESUME_NEVER);
    HY_EXPECT(!strcmp(r.model.path, "/models/hymba"));
    HY_EXPECT(r.data.train.count == 2);
    snprintf(want, sizeof want, "%s/x.jsonl", cwd); /* --set paths: relative to the current directory */
    HY_EXPECT_MSG(!strcmp(r.data.train.items[0].path, want), "%s", r.data.train.items[0].path);
    HY_EXPECT(r.data.train.items[1].weight == 2.5 && r.data.train.items[1].kind == HY_DATA_KIND_SFT);
    HY_EXPECT(!strcmp(r.data.train.items[1].name, "why"));
    /* a scalar list and a single dataset path */
    HY_EXPECT_OK(hy_recipe_set(&r, "train.no_decay=bias, meta"));
    HY_EXPECT(r.train.no_decay == ((1u << HY_PCLASS_BIAS) | (1u << HY_PCLASS_META)));
    HY_EXPECT_OK(hy_recipe_set(&r, "train.no_decay=[]"));
    HY_EXPECT(r.train.no_decay == 0);
    HY_EXPECT_OK(hy_recipe_set(&r, "data.eval=held.jsonl"));
    HY_EXPECT(r.data.eval.count == 1);
    HY_EXPECT_OK(hy_recipe_set(&r, "train.lr="));       /* empty: back to the default */
    HY_EXPECT(r.train.lr == 2e-5);
    hy_recipe_free(&r);
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(set_errors) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    hy_recipe r;
    const char *p = fx_file(&f, "r.yaml", MINIMAL);
    const char *bad1[] = {"train.lr=abc"};
    HY_EXPECT_ERR(hy_recipe_load(&r, p, 1, bad1), "--set train.lr: expected a number, got \"abc\"");
    const char *bad2[] = {"train.lerning_rate=1e-5"};
    HY_EXPECT_ERR(hy_recipe_load(&r, p, 1, bad2), "--set train.lerning_rate: unknown key (did you mean 'train.lr'?)");
    const char *bad3[] = {"train.lr"};
    HY_EXPECT_ERR(hy_recipe_load(&r, p, 1, bad3), "expected key=value");
    const char *bad4[] = {"train=5"};
    HY_EXPECT_ERR(hy_recipe_load(&r, p, 1, bad4), "--set train: is a section");
    const char *bad5[] = {"train.warmup_ratio=2"};
    HY_EXPECT_ERR(hy_recipe_load(&r, p, 1, bad5), "--set train.warmup_ratio: 2 is out of range");
    const char *bad6[] = {"train.schedule=[cosine"};
    HY_EXPECT_ERR(hy_recipe_load(&r, p, 1, bad6), "--set train.schedule: cannot read the value as YAML");
    const char *bad7[] = {"train.schedule=cosinus", "optim.beta1=x"};
    HY_EXPECT_ERR(hy_recipe_load(&r, p, 2, bad7), "2 problems");
    /* file errors and --set errors are reported together */
    p = fx_file(&f, "r2.yaml", MINIMAL "train: {lr: x}\n");
    HY_EXPECT_ERR(hy_recipe_load(&r, p, 1, bad1), "r2.yaml:5: train.lr: expected a number, got \"x\"\n  --set train.lr:");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

/* ---------------------------------------------------------------- round trip */

static char *strip_comments(const char *s) {
    char *out = malloc(strlen(s) + 1), *o = out;
    while (*s) {
        const char *nl = strchr(s, '\n');
        size_t len = nl ? (size_t)(nl - s + 1) : strlen(s);
        if (*s != '#') memcpy(o, s, len), o += len;
        s += len;
    }
    *o = 0;
    return out;
}

HY_TEST(save_load_round_trip) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    const char *text =
        "model: {path: base, dtype: bf16}\n"
        "data:\n  train:\n    - {path: a.jsonl.zst, weight: 0.3, kind: sft}\n    - b.jsonl\n"
        "  eval: [{path: \"held \\\"out\\\".jsonl\", name: \"held: out\"}]\n"
        "  train_on: last\n  overlength: truncate\n  seed: 7\n  cache_dir: cache\n"
        "train:\n  max_steps: 1000\n  lr: 3.3e-5\n  schedule: wsd\n  warmup_ratio: 0.01\n  decay_ratio: 0.2\n"
        "  decay_shape: cosine\n  min_lr: 1e-6\n  weight_decay: 0.1\n  no_decay: [norm, meta]\n  grad_clip: 0.7\n"
        "  device: cpu\n  precision: fp32\n  global_batch_tokens: 65536\n"
        "optim: {beta2: 0.95, eps: 1e-10}\n"
        "checkpoint: {every: 50, keep_last: 0, resume: ck/step-5}\n"
        "dpo: {beta: 0.05, loss: robust, label_smoothing: 0.1, reference: {mode: live, model: ref}}\n";
    hy_recipe a, b;
    HY_EXPECT_OK(hy_recipe_load(&a, fx_file(&f, "full.yaml", text), 0, NULL));
    char saved[PATH_MAX + 32];
    snprintf(saved, sizeof saved, "%s/sub/resolved.yaml", f.dir);
    HY_EXPECT_OK(hy_fs_mkdir_p(f.dir)); /* the saved copy lives elsewhere: absolute paths keep it valid */
    snprintf(saved, sizeof saved, "%s/resolved.yaml", f.dir);
    HY_EXPECT_OK(hy_recipe_save(&a, saved));
    HY_EXPECT_OK(hy_recipe_load(&b, saved, 0, NULL));
    char diff[4096];
    int nd = hy_recipe_diff(&a, &b, diff, sizeof diff);
    HY_EXPECT_MSG(nd == 0, "%d keys differ after reload:\n%s", nd, diff);
    char *ya = hy_recipe_to_yaml(&a), *yb = hy_recipe_to_yaml(&b);
    char *sa = strip_comments(ya), *sb = strip_comments(yb);
    HY_EXPECT_MSG(!strcmp(sa, sb), "YAML differs:\n%s\n---\n%s", sa, sb);
    /* values survive bit for bit */
    HY_EXPECT(b.train.lr == 3.3e-5 && b.optim.eps == 1e-10 && b.data.train.items[0].weight == 0.3);
    HY_EXPECT(!strcmp(b.data.eval.items[0].name, "held: out") && b.train.no_decay == a.train.no_decay);
    HY_EXPECT(b.checkpoint.resume == HY_RESUME_PATH && !strcmp(b.checkpoint.resume_path, a.checkpoint.resume_path));
    /* every key appears in the saved text */
    int n;
    const hy_recipe_key *keys = hy_recipe_schema(&n);
    for (int i = 0; i < n; i++) {
        const char *leaf = strrchr(keys[i].key, '.') + 1;
        char pat[80];
        snprintf(pat, sizeof pat, " %s:", leaf);
        HY_EXPECT_MSG(strstr(ya, pat), "saved recipe lacks %s", keys[i].key);
    }
    /* a diff names what changed */
    HY_EXPECT_OK(hy_recipe_set(&b, "train.lr=1e-4"));
    nd = hy_recipe_diff(&a, &b, diff, sizeof diff);
    HY_EXPECT_MSG(nd == 1 && strstr(diff, "train.lr: 3.3e-05 -> 0.0001"), "%s", diff);
    char v[64];
    HY_EXPECT(hy_recipe_get(&a, "train.no_decay", v, sizeof v) == 0 && !strcmp(v, "[norm, meta]"));
    HY_EXPECT(hy_recipe_get(&a, "no.such", v, sizeof v) == -1);
    free(ya), free(yb), free(sa), free(sb);
    hy_recipe_free(&a);
    hy_recipe_free(&b);
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

/* ---------------------------------------------------------------- checks */

HY_TEST(stage_and_file_checks) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    const char *text = "model: {path: base}\ndata:\n  train:\n    - a.jsonl\n    - {path: p.jsonl, kind: preference}\n";
    hy_recipe r;
    HY_EXPECT_OK(hy_recipe_load(&r, fx_file(&f, "r.yaml", text), 0, NULL));
    HY_EXPECT_ERR(hy_recipe_check_stage(&r, HY_STAGE_SFT),
                  "r.yaml:5: data.train[1] (");
    HY_EXPECT(strstr(hy_last_error(), "kind is preference, but this is an sft stage"));
    HY_EXPECT_ERR(hy_recipe_check_files(&r), "model.path:");
    HY_EXPECT(strstr(hy_last_error(), "does not exist"));
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s/base", f.dir);
    HY_EXPECT_OK(hy_fs_mkdir_p(p));
    HY_EXPECT_ERR(hy_recipe_check_files(&r), "has no config.json");
    HY_EXPECT(fx_file(&f, "base/config.json", "{}"));
    HY_EXPECT_ERR(hy_recipe_check_files(&r), "r.yaml:4: data.train[0]: dataset file");
    HY_EXPECT(fx_file(&f, "a.jsonl", "{}\n") && fx_file(&f, "p.jsonl", "{}\n"));
    HY_EXPECT_OK(hy_recipe_check_files(&r));
    hy_recipe_free(&r);
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

/* ---------------------------------------------------------------- pipelines */

HY_TEST(pipeline_three_stages) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    HY_EXPECT(fx_file(&f, "sft1.yaml", "model: {path: base}\ndata: {train: [code.jsonl, math.jsonl]}\ntrain: {lr: 2e-5}\n"));
    const char *pipe =
        "pipeline: {name: instruct, output_dir: out/instruct}\n"
        "defaults:\n  train: {precision: fp32, seed: 7}\n"
        "stages:\n"
        "  - name: sft1\n    kind: sft\n    recipe: sft1.yaml\n"
        "  - name: sft2\n    kind: sft\n    recipe:\n      data: {train: [chat.jsonl]}\n    set: [\"train.epochs=2\"]\n"
        "  - name: dpo\n    kind: dpo\n    recipe:\n      data: {train: [{path: pairs.jsonl, kind: preference}]}\n"
        "      train: {lr: 5e-7}\n";
    const char *sets[] = {"sft2.train.lr=1e-6", "log.every=5"};
    hy_pipeline p;
    HY_EXPECT_OK(hy_pipeline_load(&p, fx_file(&f, "instruct.yaml", pipe), 2, sets));
    HY_EXPECT(p.count == 3 && !strcmp(p.name, "instruct"));
    char cwd[PATH_MAX], want[PATH_MAX + 64];
    HY_EXPECT(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "%s/out/instruct", cwd);
    HY_EXPECT_MSG(!strcmp(p.output_dir, want), "%s", p.output_dir);
    hy_recipe *s1 = &p.stages[0].recipe, *s2 = &p.stages[1].recipe, *s3 = &p.stages[2].recipe;
    snprintf(want, sizeof want, "%s/base", f.dir);
    HY_EXPECT(!strcmp(s1->model.path, want) && !p.stages[0].model_from_previous);
    HY_EXPECT(!*s2->model.path && p.stages[1].model_from_previous && p.stages[2].model_from_previous);
    HY_EXPECT(p.stages[2].kind == HY_STAGE_DPO && p.stages[1].kind == HY_STAGE_SFT);
    HY_EXPECT(s1->train.lr == 2e-5 && s2->train.lr == 1e-6 && s3->train.lr == 5e-7);
    HY_EXPECT(s2->train.epochs == 2 && s1->train.epochs == 1);
    for (int i = 0; i < 3; i++) {
        hy_recipe *r = &p.stages[i].recipe;
        HY_EXPECT(r->train.precision == HY_PRECISION_FP32 && r->train.seed == 7 && r->log.every == 5);
        snprintf(want, sizeof want, "%s/out/instruct/%s", cwd, p.stages[i].name);
        HY_EXPECT_MSG(!strcmp(r->checkpoint.dir, want), "stage %d checkpoint.dir %s", i, r->checkpoint.dir);
    }
    HY_EXPECT(s1->data.train.count == 2 && s3->data.train.items[0].kind == HY_DATA_KIND_PREFERENCE);
    hy_pipeline_free(&p);
    HY_EXPECT(hy_recipe_file_is_pipeline(f.path) && !hy_recipe_file_is_pipeline(fx_file(&f, "x.yaml", MINIMAL)));
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

HY_TEST(pipeline_errors) {
    fx f;
    HY_EXPECT(fx_init(&f) == 0);
    hy_pipeline p;
    const char *dup = "stages:\n  - {name: a, kind: sft, recipe: {model: {path: b}, data: {train: [x.jsonl]}}}\n"
                      "  - {name: a, kind: sft}\n";
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", dup), 0, NULL), "stage name 'a' is used twice");
    const char *keys = "stages:\n  - {name: a, knd: sft}\n";
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", keys), 0, NULL), "p.yaml:2: stages[0]: unknown key 'knd' (did you mean 'kind'?)");
    const char *nomodel = "stages:\n  - {name: a, kind: sft, recipe: {data: {train: [x.jsonl]}}}\n";
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", nomodel), 0, NULL), "stage 'a'");
    HY_EXPECT(strstr(hy_last_error(), "model.path: required"));
    const char *wrongkind = "stages:\n  - {name: a, kind: dpo, recipe: {model: {path: m}, data: {train: [{path: x.jsonl, kind: sft}]}}}\n";
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", wrongkind), 0, NULL), "kind is sft, but this is a dpo stage");
    const char *ok = "stages:\n  - {name: a, kind: sft, recipe: {model: {path: m}, data: {train: [x.jsonl]}}}\n";
    const char *bad_set[] = {"zz.train.lr=1"};
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", ok), 1, bad_set), "zz: neither a stage of this pipeline");
    const char *inner = "stages:\n  - {name: a, kind: sft, recipe: {model: {path: m}, data: {train: [x.jsonl]}, train: {lr: q}}}\n";
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", inner), 0, NULL), "p.yaml:2: train.lr: expected a number");
    const char *missing = "stages:\n  - {name: a, kind: sft, recipe: nope.yaml}\n";
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", missing), 0, NULL), "nope.yaml: cannot open the recipe");
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", "stages: []\n"), 0, NULL), "stages: required");
    HY_EXPECT_ERR(hy_pipeline_load(&p, fx_file(&f, "p.yaml", "stage: []\n"), 0, NULL), "did you mean 'stages'?");
    HY_EXPECT_OK(hy_fs_rm_rf(f.dir));
    return 0;
}

/* ---------------------------------------------------------------- schema */

HY_TEST(schema_well_formed) {
    int n;
    const hy_recipe_key *k = hy_recipe_schema(&n);
    HY_EXPECT(n > 40);
    for (int i = 0; i < n; i++) {
        HY_EXPECT_MSG(strchr(k[i].key, '.') && k[i].doc && strlen(k[i].doc) > 8, "%s", k[i].key);
        /* sections are contiguous: saving opens each section once */
        const char *dot = strchr(k[i].key, '.');
        for (int j = 0; j + 1 < i; j++)
            if (!strncmp(k[j].key, k[i].key, (size_t)(dot - k[i].key) + 1) && strncmp(k[i - 1].key, k[i].key, (size_t)(dot - k[i].key) + 1))
                HY_EXPECT_MSG(0, "section of %s is split", k[i].key);
    }
    HY_EXPECT(hy_levenshtein("kitten", "sitting") == 3 && hy_levenshtein("", "abc") == 3 && hy_levenshtein("lr", "LR") == 0);
    return 0;
}

/* Every recipe the project ships parses and validates (model.path given, as a
 * pipeline stage after the first gets it from the stage before). */
HY_TEST(shipped_recipes_load) {
    const char *files[] = {"recipes/hymba-1.5b/sft1.yaml", "recipes/hymba-1.5b/sft2.yaml", "recipes/hymba-1.5b/dpo.yaml",
                           "recipes/demo/sft1.yaml",       "recipes/demo/sft2.yaml",       "recipes/demo/dpo.yaml"};
    const char *sets[] = {"model.path=/tmp"};
    int bad = 0;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", HY_SOURCE_DIR, files[i]);
        hy_recipe r;
        hy_status st = hy_recipe_load(&r, path, 1, sets);
        if (st) {
            fprintf(stderr, "  %s: %s\n", files[i], hy_last_error());
            bad++;
            continue;
        }
        if (r.data.tokens_per_micro_batch < r.data.max_length) fprintf(stderr, "  %s: micro-batch below max_length\n", files[i]), bad++;
        hy_recipe_free(&r);
    }
    HY_EXPECT(bad == 0);
    return 0;
}

HY_TEST(readme_embeds_current_schema) {
    char path[PATH_MAX], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/recipes/README.md", HY_SOURCE_DIR);
    HY_EXPECT_OK(hy_fs_read_file(path, &text, &len));
    const char *begin = "<!-- schema:begin (generated by hy_recipe_schema_markdown; do not edit) -->\n";
    const char *end = "<!-- schema:end -->";
    char *b = strstr(text, begin), *e = b ? strstr(b, end) : NULL;
    HY_EXPECT_MSG(b && e, "README lacks the schema markers");
    b += strlen(begin);
    char *md = hy_recipe_schema_markdown();
    size_t ml = strlen(md);
    int same = (size_t)(e - b) == ml && !memcmp(b, md, ml);
    if (!same) {
        char out[PATH_MAX];
        snprintf(out, sizeof out, "%s/recipe_schema.md", HY_BINARY_DIR);
        hy_test_write_file(out, md, ml);
        fprintf(stderr, "  recipes/README.md is out of date with the schema; the current table is in %s\n", out);
    }
    free(md);
    hy_free(text);
    HY_EXPECT(same);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
