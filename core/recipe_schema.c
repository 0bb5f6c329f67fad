/* recipe_schema.c — the recipe schema table and the parts of recipe handling
 * that need no YAML parser: typed setters with range and enum checks,
 * defaults, path resolution, key suggestions (Levenshtein plus the names
 * other tools use), and freeing.  Validation across keys, saving, diffs and
 * the Markdown reference live in recipe_save.c.
 *
 * The table is the single source of truth: add a key here (with its
 * documentation) and parsing, --set, defaults, saving, diffs and
 * recipes/README.md follow; test_recipe fails until the README is
 * regenerated. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "alloc.h"
#include "fsutil.h"
#include "params.h"
#include "recipe_internal.h"

#define K(key, type, field, def, lo, hi, fl, ch, doc) \
    {key, HY_RKEY_##type, offsetof(hy_recipe, field), def, lo, hi, fl, ch, doc}

static const hy_recipe_key HY_SCHEMA[] = {
    K("model.path", INPATH, model.path, "\"\"", -INFINITY, INFINITY, 0, NULL,
      "Hugging Face checkpoint directory to start from (config.json, *.safetensors, tokenizer files). "
      "Required, except in pipeline stages after the first, which start from the previous stage's result."),
    K("model.dtype", ENUM, model.dtype, "auto", -INFINITY, INFINITY, 0, "auto|bf16|fp32",
      "Dtype of the weights written into checkpoints; `auto` keeps the dtype of the loaded checkpoint."),
    K("data.train", DATASETS, data.train, "[]", -INFINITY, INFINITY, 0, NULL,
      "Training datasets (`.jsonl` or `.jsonl.zst`): a list of paths or of dataset entries (below). Required."),
    K("data.eval", DATASETS, data.eval, "[]", -INFINITY, INFINITY, 0, NULL,
      "Held-out datasets, evaluated every `train.eval_every` steps and at the end (loss, perplexity, "
      "supervised tokens). `weight` is ignored."),
    K("data.add_bos", BOOL, data.add_bos, "false", -INFINITY, INFINITY, 0, NULL,
      "Prepend BOS (id 1) to every sample. Hymba's chat template does not."),
    K("data.add_eos", BOOL, data.add_eos, "true", -INFINITY, INFINITY, 0, NULL,
      "Append and supervise EOS after a final assistant message."),
    K("data.train_on", ENUM, data.train_on, "all", -INFINITY, INFINITY, 0, "all|last|everything",
      "Supervised tokens: `all` assistant turns, only the `last` assistant turn, or `everything`."),
    K("data.max_length", INT, data.max_length, "4096", 1, 1048576, 0, NULL,
      "Longest sample in tokens (meta tokens not counted)."),
    K("data.overlength", ENUM, data.overlength, "drop", -INFINITY, INFINITY, 0, "drop|truncate",
      "Samples longer than `max_length`: `drop` them or `truncate` them (both counted and reported)."),
    K("data.on_error", ENUM, data.on_error, "fail", -INFINITY, INFINITY, 0, "fail|skip",
      "Malformed records: `fail` with file:line, or `skip` them (counted, first reasons reported)."),
    K("data.tokens_per_micro_batch", INT, data.tokens_per_micro_batch, "8192", 1, 1073741824, 0, NULL,
      "Token budget of one packed micro-batch per rank. At least `max_length`."),
    K("data.seed", INT, data.seed, "-1", -1, 9007199254740991.0, 0, NULL,
      "Seed of the data order (shuffle, mixing); -1 uses `train.seed`."),
    K("data.cache_dir", OUTPATH, data.cache_dir, "\"\"", -INFINITY, INFINITY, 0, NULL,
      "Where token stores are kept; empty: beside each dataset file."),
    K("train.epochs", INT, train.epochs, "1", 0, 1000000, 0, NULL,
      "Passes over the training data; used when `max_steps` is 0."),
    K("train.max_steps", INT, train.max_steps, "0", 0, 9007199254740991.0, 0, NULL,
      "Optimizer steps to run; > 0 overrides `epochs`."),
    K("train.global_batch_tokens", INT, train.global_batch_tokens, "0", 0, 9007199254740991.0, 0, NULL,
      "Tokens per optimizer step, summed over micro-batches and ranks. Give this or "
      "`global_batch_sequences`; with neither, one micro-batch per rank makes a step."),
    K("train.global_batch_sequences", INT, train.global_batch_sequences, "0", 0, 9007199254740991.0, 0, NULL,
      "Samples (documents or pairs) per optimizer step, the alternative to `global_batch_tokens`."),
    K("train.lr", FLOAT, train.lr, "2e-05", 0, 1, 0, NULL, "Peak learning rate."),
    K("train.schedule", ENUM, train.schedule, "cosine", -INFINITY, INFINITY, 0, "constant|linear|cosine|wsd",
      "Learning-rate schedule after warmup (see Learning-rate schedules above; exact formulas in core/optim.h)."),
    K("train.warmup_steps", INT, train.warmup_steps, "0", 0, 9007199254740991.0, 0, NULL,
      "Linear warmup length in steps. Give this or `warmup_ratio`."),
    K("train.warmup_ratio", FLOAT, train.warmup_ratio, "0", 0, 1, 0, NULL,
      "Warmup as a fraction of all steps (ceil(ratio x steps))."),
    K("train.decay_ratio", FLOAT, train.decay_ratio, "0.1", 0, 1, 0, NULL,
      "`wsd` only: fraction of all steps spent decaying at the end."),
    K("train.decay_shape", ENUM, train.decay_shape, "linear", -INFINITY, INFINITY, 0, "linear|cosine",
      "`wsd` only: shape of the final decay to `min_lr`."),
    K("train.min_lr", FLOAT, train.min_lr, "0", 0, 1, 0, NULL,
      "Floor reached at the end of `linear`, `cosine` and `wsd` (e.g. 1e-5)."),
    K("train.weight_decay", FLOAT, train.weight_decay, "0", 0, INFINITY, 0, NULL,
      "Decoupled (AdamW) weight decay, multiplied by the current lr."),
    K("train.no_decay", ENUMLIST, train.no_decay, "[norm, bias, embed, meta, ssm]", -INFINITY, INFINITY, 0,
      "matrix|norm|bias|embed|meta|ssm",
      "Parameter classes exempt from weight decay: `norm` weights, `bias`es, token `embed`dings, `meta` tokens, "
      "`ssm` (A_log, D), `matrix` (all other weights)."),
    K("train.grad_clip", FLOAT, train.grad_clip, "1", 0, INFINITY, 0, NULL,
      "Clip the global gradient norm to this value; 0 turns clipping off."),
    K("train.max_bad_steps", INT, train.max_bad_steps, "5", 1, 1000000, 0, NULL,
      "Stop after this many consecutive steps with a non-finite loss or gradient (each is skipped)."),
    K("train.seed", INT, train.seed, "42", 0, 9007199254740991.0, 0, NULL,
      "Seed of the run: the data order (unless `data.seed` is set) and anything else drawn at random."),
    K("train.eval_every", INT, train.eval_every, "0", 0, 9007199254740991.0, 0, NULL,
      "Evaluate on `data.eval` every this many steps; 0: only at the end."),
    K("train.device", ENUM, train.device, "auto", -INFINITY, INFINITY, 0, "auto|cpu|cuda",
      "Backend; `auto` picks CUDA when a GPU is available."),
    K("train.precision", ENUM, train.precision, "auto", -INFINITY, INFINITY, 0, "auto|bf16|fp32",
      "Compute precision; `auto` is bf16 on CUDA (fp32 master weights) and fp32 on the CPU."),
    K("train.recompute", ENUM, train.recompute, "selective", -INFINITY, INFINITY, 0, "selective|none",
      "Activation recomputation: `selective` keeps one shared copy of the cheap intermediates (norm outputs, "
      "SwiGLU product, conv output, dt_proj output) and recomputes them in the backward — about 40% less "
      "activation memory for a few percent more time, same results bit for bit; `none` keeps them all."),
    K("optim.beta1", FLOAT, optim.beta1, "0.9", 0, 1, HY_RKEY_MAX_EXCL, NULL, "AdamW beta1."),
    K("optim.beta2", FLOAT, optim.beta2, "0.999", 0, 1, HY_RKEY_MAX_EXCL, NULL, "AdamW beta2."),
    K("optim.eps", FLOAT, optim.eps, "1e-08", 0, 1, HY_RKEY_MIN_EXCL, NULL, "AdamW epsilon."),
    K("checkpoint.dir", OUTPATH, checkpoint.dir, "\"\"", -INFINITY, INFINITY, 0, NULL,
      "Run directory for checkpoints; empty: `runs/<recipe file name>` (pipelines: `<output_dir>/<stage>`)."),
    K("checkpoint.every", INT, checkpoint.every, "500", 0, 9007199254740991.0, 0, NULL,
      "Save every this many steps; 0: only at the end (and on SIGINT/SIGTERM)."),
    K("checkpoint.keep_last", INT, checkpoint.keep_last, "2", 0, 1000000, 0, NULL,
      "Keep the newest this many step checkpoints; 0 keeps all."),
    K("checkpoint.resume", RESUME, checkpoint.resume, "auto", -INFINITY, INFINITY, 0, NULL,
      "`auto`: continue from the newest complete checkpoint in `dir` if any; `never`: start fresh; "
      "or the path of a checkpoint to continue from."),
    K("log.every", INT, log.every, "10", 1, 9007199254740991.0, 0, NULL,
      "Print progress and write a metrics record every this many steps."),
    K("log.metrics", OUTPATH, log.metrics, "\"\"", -INFINITY, INFINITY, 0, NULL,
      "metrics.jsonl path; empty: `<checkpoint.dir>/metrics.jsonl`."),
    K("dpo.beta", FLOAT, dpo.beta, "0.1", 0, INFINITY, HY_RKEY_MIN_EXCL, NULL,
      "DPO temperature: scale of the implicit reward."),
    K("dpo.loss", ENUM, dpo.loss, "sigmoid", -INFINITY, INFINITY, 0, "sigmoid|ipo|hinge|robust",
      "`sigmoid` (DPO), `ipo`, `hinge` (SLiC), `robust` (label-smoothed, conservative DPO)."),
    K("dpo.label_smoothing", FLOAT, dpo.label_smoothing, "0", 0, 0.5, HY_RKEY_MAX_EXCL, NULL,
      "Assumed preference-label noise for `robust` (and conservative `sigmoid`)."),
    K("dpo.sft_weight", FLOAT, dpo.sft_weight, "0", 0, INFINITY, 0, NULL,
      "Weight of an added SFT loss on the chosen completion (RPO); 0: none."),
    K("dpo.length_normalize", BOOL, dpo.length_normalize, "false", -INFINITY, INFINITY, 0, NULL,
      "Average log-probs over completion tokens instead of summing them."),
    K("dpo.reference.mode", ENUM, dpo.reference.mode, "precompute", -INFINITY, INFINITY, 0, "precompute|live",
      "`precompute` reference log-probs once before training (cached beside the token store), or keep a "
      "frozen reference model `live` in memory."),
    K("dpo.reference.model", INPATH, dpo.reference.model, "\"\"", -INFINITY, INFINITY, 0, NULL,
      "Reference checkpoint; empty: the stage's initial model (in a pipeline, the previous stage's result)."),
};
#undef K

enum { HY_NKEYS = (int)HY_ARRAY_LEN(HY_SCHEMA) };

/* Spellings of other tools (TRL / transformers, torchtune, Axolotl) → ours. */
static const struct {
    const char *from, *to;
} HY_ALIASES[] = {
    {"learning_rate", "train.lr"},          {"num_train_epochs", "train.epochs"},
    {"num_epochs", "train.epochs"},         {"lr_scheduler_type", "train.schedule"},
    {"lr_scheduler", "train.schedule"},     {"scheduler", "train.schedule"},
    {"max_grad_norm", "train.grad_clip"},   {"clip_grad_norm", "train.grad_clip"},
    {"gradient_clipping", "train.grad_clip"}, {"warmup", "train.warmup_steps"},
    {"num_warmup_steps", "train.warmup_steps"}, {"adam_beta1", "optim.beta1"},
    {"adam_beta2", "optim.beta2"},          {"adam_epsilon", "optim.eps"},
    {"epsilon", "optim.eps"},               {"output_dir", "checkpoint.dir"},
    {"save_steps", "checkpoint.every"},     {"save_total_limit", "checkpoint.keep_last"},
    {"resume_from_checkpoint", "checkpoint.resume"}, {"logging_steps", "log.every"},
    {"eval_steps", "train.eval_every"},     {"max_seq_length", "data.max_length"},
    {"max_seq_len", "data.max_length"},     {"sequence_len", "data.max_length"},
    {"model_name_or_path", "model.path"},   {"base_model", "model.path"},
    {"datasets", "data.train"},             {"dataset", "data.train"},
    {"train_files", "data.train"},          {"eval_dataset", "data.eval"},
    {"bf16", "train.precision"},            {"weight_decay_exclude", "train.no_decay"},
    {"ref_model", "dpo.reference.model"},   {"loss_type", "dpo.loss"},
    {"rpo_alpha", "dpo.sft_weight"},        {"gradient_accumulation_steps", "train.global_batch_sequences"},
    {"per_device_train_batch_size", "data.tokens_per_micro_batch"},
    {"seed", "train.seed"},                 {"min_learning_rate", "train.min_lr"},
};

const hy_recipe_key *hy_recipe_schema(int *count) {
    if (count) *count = HY_NKEYS;
    return HY_SCHEMA;
}
int hy_rschema_count(void) { return HY_NKEYS; }

/* Enum storage relies on int-sized enums whose order is the choice order. */
_Static_assert(sizeof(hy_sched_kind) == sizeof(int) && sizeof(hy_recipe_dtype) == sizeof(int), "enum size");
_Static_assert(HY_SCHED_WSD == 3 && HY_DECAY_COSINE == 1, "schedule choice order");
_Static_assert(HY_PCLASS_MATRIX == 0 && HY_PCLASS_NORM == 1 && HY_PCLASS_BIAS == 2 && HY_PCLASS_EMBED == 3 &&
                   HY_PCLASS_META == 4 && HY_PCLASS_SSM == 5,
               "train.no_decay choices follow hy_param_class");

int hy_rschema_find(const char *key) {
    for (int i = 0; i < HY_NKEYS; i++)
        if (!strcmp(HY_SCHEMA[i].key, key)) return i;
    return -1;
}

int hy_rschema_is_section(const char *name) {
    size_t n = strlen(name);
    for (int i = 0; i < HY_NKEYS; i++)
        if (!strncmp(HY_SCHEMA[i].key, name, n) && HY_SCHEMA[i].key[n] == '.') return 1;
    return 0;
}

/* ---------------------------------------------------------------- helpers */

char *hy_rstrdup(const char *s) {
    size_t n = strlen(s);
    char *d;
    if (hy_malloc((void **)&d, n + 1, 0, "recipe string") != HY_OK) return NULL;
    memcpy(d, s, n + 1);
    return d;
}

static void *hy_field(hy_recipe *r, int idx) { return (char *)r + HY_SCHEMA[idx].offset; }

/* Replace an owned string field; −1 on OOM. */
static int hy_set_str(char **dst, const char *s) {
    char *d = hy_rstrdup(s);
    if (!d) return -1;
    hy_free(*dst);
    *dst = d;
    return 0;
}

/* Lexically normalise an absolute path in place: "//", "/./" and "x/.." go. */
static void hy_path_normalize(char *p) {
    char *out = p, *in = p;
    while (*in) {
        while (*in == '/') in++;
        if (!*in) break;
        char *seg = in;
        while (*in && *in != '/') in++;
        size_t len = (size_t)(in - seg);
        if (len == 1 && seg[0] == '.') continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > p && *--out != '/') {}
            continue;
        }
        *out++ = '/';
        memmove(out, seg, len);
        out += len;
    }
    if (out == p) *out++ = '/';
    *out = 0;
}

int hy_rpath_resolve(const char *base_dir, const char *path, char **out) {
    char buf[HY_PATH_MAX];
    const char *home = getenv("HOME");
    int n;
    if (!*path) n = snprintf(buf, sizeof buf, "%s", "");
    else if (path[0] == '/') n = snprintf(buf, sizeof buf, "%s", path);
    else if (path[0] == '~' && (path[1] == '/' || !path[1]) && home && *home) n = snprintf(buf, sizeof buf, "%s/%s", home, path + 1);
    else n = snprintf(buf, sizeof buf, "%s/%s", base_dir, path);
    if (n < 0 || (size_t)n >= sizeof buf) {
        hy_errorf(HY_ERR_ARG, "path too long: %s", path);
        return -1;
    }
    if (buf[0]) hy_path_normalize(buf);
    *out = hy_rstrdup(buf);
    return *out ? 0 : -1;
}

hy_status hy_rpath_cwd(char *out, size_t n) {
    if (!getcwd(out, n)) return hy_errorf(HY_ERR_IO, "cannot determine the current directory: %s", strerror(errno));
    return HY_OK;
}

hy_status hy_rpath_dir_of(const char *file, char *out, size_t n) {
    char dir[HY_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    char real[PATH_MAX];
    if (!realpath(dir, real)) return hy_errorf(HY_ERR_IO, "%s: cannot resolve the directory: %s", dir, strerror(errno));
    snprintf(out, n, "%s", real);
    return HY_OK;
}

/* ---------------------------------------------------------------- suggestions */

int hy_levenshtein(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 127 || lb > 127) return (int)(la > lb ? la : lb);
    int row[128];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            int best = diag + cost;
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

static const char *hy_leaf(const char *key) {
    const char *dot = strrchr(key, '.');
    return dot ? dot + 1 : key;
}

/* Distance between an unknown key and a candidate: the better of the whole
 * path and the leaf alone (+2 when the section differs, so "optim.lr" finds
 * "train.lr" but a same-section match wins). */
static int hy_key_distance(const char *full, const char *cand) {
    int d = hy_levenshtein(full, cand);
    const char *lf = hy_leaf(full), *lc = hy_leaf(cand);
    size_t sf = (size_t)(lf - full), sc = (size_t)(lc - cand);
    int same_section = sf == sc && !strncmp(full, cand, sf);
    int dl = hy_levenshtein(lf, lc) + (same_section ? 0 : 2);
    return dl < d ? dl : d;
}

const char *hy_rsuggest_key(const char *full, int *alias) {
    const char *leaf = hy_leaf(full);
    *alias = 0;
    for (size_t i = 0; i < HY_ARRAY_LEN(HY_ALIASES); i++)
        if (!strcmp(leaf, HY_ALIASES[i].from)) {
            *alias = 1;
            return HY_ALIASES[i].to;
        }
    const char *best = NULL;
    int bd = INT_MAX;
    for (int i = 0; i < HY_NKEYS; i++) {
        int d = hy_key_distance(full, HY_SCHEMA[i].key);
        if (d < bd) bd = d, best = HY_SCHEMA[i].key;
    }
    for (size_t i = 0; i < HY_ARRAY_LEN(HY_ALIASES); i++) {
        int d = hy_levenshtein(leaf, HY_ALIASES[i].from);
        if (d < bd) bd = d, best = HY_ALIASES[i].to;
    }
    static const char *sections[] = {"model", "data", "train", "optim", "checkpoint", "log", "dpo", "dpo.reference"};
    for (size_t i = 0; i < HY_ARRAY_LEN(sections); i++) {
        int d = hy_levenshtein(full, sections[i]);
        if (d < bd) bd = d, best = sections[i];
    }
    int limit = (int)strlen(leaf) / 3;
    if (limit < 2) limit = 2;
    return bd <= limit ? best : NULL;
}

void hy_rsuggest_choice(const char *choices, const char *text, char *out, size_t n) {
    out[0] = 0;
    int bd = INT_MAX;
    for (const char *c = choices; *c;) {
        const char *e = strchr(c, '|');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        char one[64];
        snprintf(one, sizeof one, "%.*s", (int)len, c);
        int d = hy_levenshtein(text, one);
        if (strlen(text) >= 2 && !strncasecmp(one, text, strlen(text)) && d > 1) d = 1; /* "pref" → "preference" */
        int limit = (int)strlen(one) / 3 > 2 ? (int)strlen(one) / 3 : 2;
        if (d < bd && d <= limit) {
            bd = d;
            snprintf(out, n, "%s", one);
        }
        c += len + (e ? 1 : 0);
    }
}

void hy_rsection_keys(const char *section, char *out, size_t n) {
    size_t sl = strlen(section), o = 0;
    out[0] = 0;
    char last_sub[64] = "";
    for (int i = 0; i < HY_NKEYS && o < n; i++) {
        const char *k = HY_SCHEMA[i].key;
        if (sl && (strncmp(k, section, sl) != 0 || k[sl] != '.')) continue;
        const char *rest = sl ? k + sl + 1 : k;
        const char *dot = strchr(rest, '.');
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(dot ? (size_t)(dot - rest) : strlen(rest)), rest);
        if (!strcmp(name, last_sub)) continue; /* a subsection or section listed once */
        snprintf(last_sub, sizeof last_sub, "%s", name);
        int w = snprintf(out + o, n - o, "%s%s", o ? ", " : "", name);
        if (w < 0) break;
        o += (size_t)w;
    }
}

/* ---------------------------------------------------------------- typed setters */

/* Index of `text` in '|'-separated `choices`, or −1. */
static int hy_choice_index(const char *choices, const char *text) {
    int idx = 0;
    size_t tl = strlen(text);
    for (const char *c = choices; *c; idx++) {
        const char *e = strchr(c, '|');
        size_t len = e ? (size_t)(e - c) : strlen(c);
        if (len == tl && !strncmp(c, text, len)) return idx;
        c += len + (e ? 1 : 0);
    }
    return -1;
}

/* "expected one of a, b, c; got "x" (did you mean 'y'?)" */
static void hy_choice_error(const char *choices, const char *text, char *err, size_t n) {
    char list[256], sug[64];
    size_t o = 0;
    for (const char *c = choices; *c && o + 3 < sizeof list; c++) {
        if (*c == '|') o += (size_t)snprintf(list + o, sizeof list - o, ", ");
        else list[o++] = *c;
    }
    list[o] = 0;
    hy_rsuggest_choice(choices, text, sug, sizeof sug);
    snprintf(err, n, "expected one of %s; got \"%s\"%s%s%s", list, text, sug[0] ? " (did you mean '" : "", sug,
             sug[0] ? "'?)" : "");
}

int hy_rschema_choice(int idx, const char *text, char *err, size_t n) {
    int c = hy_choice_index(HY_SCHEMA[idx].choices, text);
    if (c < 0) hy_choice_error(HY_SCHEMA[idx].choices, text, err, n);
    return c;
}

static int hy_range_ok(const hy_recipe_key *k, double v, char *err, size_t n) {
    int lo_bad = (k->flags & HY_RKEY_MIN_EXCL) ? !(v > k->min) : !(v >= k->min);
    int hi_bad = (k->flags & HY_RKEY_MAX_EXCL) ? !(v < k->max) : !(v <= k->max);
    if (!lo_bad && !hi_bad) return 1;
    char lo[64] = "", hi[64] = "";
    if (isfinite(k->min)) snprintf(lo, sizeof lo, "%.15g %s ", k->min, (k->flags & HY_RKEY_MIN_EXCL) ? "<" : "<=");
    if (isfinite(k->max)) snprintf(hi, sizeof hi, " %s %.15g", (k->flags & HY_RKEY_MAX_EXCL) ? "<" : "<=", k->max);
    snprintf(err, n, "%.15g is out of range: expected %svalue%s", v, lo, hi);
    return 0;
}

/* Parse a number of the given type from a plain scalar. */
static int hy_parse_number(const hy_recipe_key *k, const char *text, int quoted, void *dst, char *err, size_t n) {
    const char *what = k->type == HY_RKEY_INT ? "an integer" : "a number";
    if (quoted) {
        snprintf(err, n, "expected %s, got the string \"%s\" (remove the quotes)", what, text);
        return 1;
    }
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    int is_word = !*text || isalpha((unsigned char)text[0]) || ((text[0] == '-' || text[0] == '+') && isalpha((unsigned char)text[1]));
    if (*end || end == text || errno == ERANGE || is_word || !isfinite(v)) {
        snprintf(err, n, "expected %s, got \"%s\"", what, text);
        return 1;
    }
    if (k->type == HY_RKEY_INT) {
        if (v != floor(v) || fabs(v) > 9007199254740992.0) {
            snprintf(err, n, "expected an integer, got %s", text);
            return 1;
        }
        if (!hy_range_ok(k, v, err, n)) return 1;
        *(int64_t *)dst = (int64_t)v;
        if (!strpbrk(text, ".eE")) *(int64_t *)dst = strtoll(text, NULL, 10); /* exact beyond 2^53 */
        return 0;
    }
    if (!hy_range_ok(k, v, err, n)) return 1;
    *(double *)dst = v;
    return 0;
}

/* ENUMLIST from text: "a, b", "[a, b]" or "[]". */
static int hy_parse_mask(int idx, const char *text, unsigned *mask, char *err, size_t n) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", text);
    char *s = buf;
    size_t len = strlen(s);
    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') s[len - 1] = 0, s++;
    *mask = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        char *e = tok + strlen(tok);
        while (e > tok && isspace((unsigned char)e[-1])) *--e = 0;
        if (!*tok) continue;
        int c = hy_rschema_choice(idx, tok, err, n);
        if (c < 0) return 1;
        *mask |= 1u << c;
    }
    return 0;
}

static int hy_set_resume(hy_recipe *r, const char *text, const char *base_dir) {
    hy_recipe_checkpoint *c = &r->checkpoint;
    if (!strcmp(text, "auto") || !strcmp(text, "never") || !*text) {
        c->resume = !strcmp(text, "never") ? HY_RESUME_NEVER : HY_RESUME_AUTO;
        return hy_set_str(&c->resume_path, "");
    }
    char *p;
    if (hy_rpath_resolve(base_dir, text, &p) != 0) return -1;
    hy_free(c->resume_path);
    c->resume_path = p;
    c->resume = HY_RESUME_PATH;
    return 0;
}

int hy_rschema_set_scalar(hy_recipe *r, int idx, const char *text, int quoted, const char *base_dir, char *err,
                          size_t n) {
    const hy_recipe_key *k = &HY_SCHEMA[idx];
    void *dst = hy_field(r, idx);
    switch (k->type) {
    case HY_RKEY_STRING: return hy_set_str(dst, text);
    case HY_RKEY_INPATH:
    case HY_RKEY_OUTPATH: {
        char *p;
        if (hy_rpath_resolve(base_dir, text, &p) != 0) return -1;
        hy_free(*(char **)dst);
        *(char **)dst = p;
        return 0;
    }
    case HY_RKEY_INT:
    case HY_RKEY_FLOAT: return hy_parse_number(k, text, quoted, dst, err, n);
    case HY_RKEY_BOOL:
        if (!quoted && (!strcmp(text, "true") || !strcmp(text, "True") || !strcmp(text, "TRUE"))) *(int *)dst = 1;
        else if (!quoted && (!strcmp(text, "false") || !strcmp(text, "False") || !strcmp(text, "FALSE"))) *(int *)dst = 0;
        else {
            snprintf(err, n, "expected true or false, got \"%s\"", text);
            return 1;
        }
        return 0;
    case HY_RKEY_ENUM: {
        int c = hy_rschema_choice(idx, text, err, n);
        if (c < 0) return 1;
        memcpy(dst, &c, sizeof c);
        return 0;
    }
    case HY_RKEY_ENUMLIST: {
        unsigned mask;
        if (hy_parse_mask(idx, text, &mask, err, n)) return 1;
        *(unsigned *)dst = mask;
        return 0;
    }
    case HY_RKEY_DATASETS: { /* a single path */
        hy_recipe_datasets l = {0};
        if (hy_malloc((void **)&l.items, sizeof(hy_recipe_dataset), 1, "dataset list") != HY_OK) return -1;
        l.count = 1;
        hy_recipe_dataset *d = &l.items[0];
        d->weight = 1.0;
        if (hy_rpath_resolve(base_dir, text, &d->path) != 0 || !(d->name = hy_rstrdup(""))) {
            hy_rdatasets_free(&l);
            return -1;
        }
        hy_rschema_set_datasets(r, idx, &l);
        return 0;
    }
    case HY_RKEY_RESUME: return hy_set_resume(r, text, base_dir);
    }
    return 1;
}

int hy_rschema_set_mask(hy_recipe *r, int idx, unsigned mask) {
    HY_ASSERT(HY_SCHEMA[idx].type == HY_RKEY_ENUMLIST);
    *(unsigned *)hy_field(r, idx) = mask;
    return 0;
}

void hy_rdatasets_free(hy_recipe_datasets *d) {
    for (int i = 0; i < d->count; i++) {
        hy_free(d->items[i].path);
        hy_free(d->items[i].name);
    }
    hy_free(d->items);
    d->items = NULL;
    d->count = 0;
}

void hy_rschema_set_datasets(hy_recipe *r, int idx, hy_recipe_datasets *list) {
    HY_ASSERT(HY_SCHEMA[idx].type == HY_RKEY_DATASETS);
    hy_recipe_datasets *dst = hy_field(r, idx);
    hy_rdatasets_free(dst);
    *dst = *list;
    memset(list, 0, sizeof *list);
}

/* Defaults are YAML text typed like any value; paths in them are empty. */
int hy_rschema_reset(hy_recipe *r, int idx) {
    const hy_recipe_key *k = &HY_SCHEMA[idx];
    char err[256];
    if (k->type == HY_RKEY_DATASETS) {
        hy_recipe_datasets empty = {0};
        hy_rschema_set_datasets(r, idx, &empty);
        return 0;
    }
    const char *def = k->def;
    if (!strcmp(def, "\"\"")) def = "";
    int rc = hy_rschema_set_scalar(r, idx, def, 0, "/", err, sizeof err);
    if (rc > 0) HY_PANIC("schema default of %s does not parse: %s", k->key, err);
    if (r->meta && rc == 0) r->meta->origin[idx] = (hy_rorigin){HY_RFILE_DEFAULT, 0};
    return rc;
}

/* ---------------------------------------------------------------- lifecycle */

hy_status hy_recipe_defaults(hy_recipe *r) {
    memset(r, 0, sizeof *r);
    hy_status st = hy_malloc((void **)&r->meta, sizeof *r->meta, 1, "recipe bookkeeping");
    if (st == HY_OK) st = hy_malloc((void **)&r->meta->origin, sizeof(hy_rorigin) * HY_NKEYS, 1, "recipe bookkeeping");
    if (st == HY_OK && !(r->source = hy_rstrdup(""))) st = HY_ERR_OOM;
    if (st == HY_OK) r->meta->nkeys = HY_NKEYS;
    for (int i = 0; st == HY_OK && i < HY_NKEYS; i++)
        if (hy_rschema_reset(r, i) < 0) st = HY_ERR_OOM;
    if (st != HY_OK) hy_recipe_free(r);
    return st;
}

void hy_recipe_free(hy_recipe *r) {
    for (int i = 0; i < HY_NKEYS; i++) {
        const hy_recipe_key *k = &HY_SCHEMA[i];
        void *f = hy_field(r, i);
        if (k->type == HY_RKEY_STRING || k->type == HY_RKEY_INPATH || k->type == HY_RKEY_OUTPATH) hy_free(*(char **)f);
        else if (k->type == HY_RKEY_DATASETS) hy_rdatasets_free(f);
    }
    hy_free(r->checkpoint.resume_path);
    hy_free(r->source);
    if (r->meta) {
        for (int i = 0; i < r->meta->nfiles; i++) hy_free(r->meta->files[i]);
        hy_free(r->meta->origin);
        hy_free(r->meta);
    }
    memset(r, 0, sizeof *r);
}

void hy_recipe_mark(hy_recipe *r, int idx, int file, int line) { r->meta->origin[idx] = (hy_rorigin){file, line}; }

int hy_recipe_add_file(hy_recipe *r, const char *name) {
    hy_recipe_meta *m = r->meta;
    for (int i = 0; i < m->nfiles; i++)
        if (!strcmp(m->files[i], name)) return i;
    if (m->nfiles == HY_RECIPE_MAX_FILES) return m->nfiles - 1; /* deep include chains share the last slot */
    if (!(m->files[m->nfiles] = hy_rstrdup(name))) return -1;
    return m->nfiles++;
}

void hy_recipe_origin_str(const hy_recipe *r, int idx, char *out, size_t n) {
    hy_rorigin o = r->meta ? r->meta->origin[idx] : (hy_rorigin){HY_RFILE_DEFAULT, 0};
    if (o.file == HY_RFILE_SET) snprintf(out, n, "--set %s", HY_SCHEMA[idx].key);
    else if (o.file == HY_RFILE_DEFAULT) snprintf(out, n, "%s", r->source && *r->source ? r->source : "recipe");
    else if (o.line > 0) snprintf(out, n, "%s:%d", r->meta->files[o.file], o.line);
    else snprintf(out, n, "%s", r->meta->files[o.file]);
}
