/* recipe_save.c — what happens to a recipe after parsing: derived defaults
 * and the rules between keys (finalize), stage and file checks, the resolved
 * YAML text (every key, in schema order, floats in their shortest exact
 * form so a reload is bit-identical), diffs, and the Markdown key reference
 * that recipes/README.md embeds. */
#include <math.h>
#include <stdarg.h>
#include <string.h>

#include "alloc.h"
#include "fsutil.h"
#include "recipe_internal.h"

/* ---------------------------------------------------------------- text buffer */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;
} hy_sbuf;

static void hy_sb_put(hy_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void hy_sb_put(hy_sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if (b->s && b->len + (size_t)n < b->cap) { b->len += (size_t)n; return; }
        size_t cap = b->cap ? b->cap * 2 : 1024;
        while (cap < b->len + (size_t)n + 1) cap *= 2;
        char *s = realloc(b->s, cap);
        if (!s) { b->oom = 1; return; }
        b->s = s;
        b->cap = cap;
    }
}

/* ---------------------------------------------------------------- values as YAML */

/* Shortest %g form that reads back to the same double. */
static void hy_fmt_double(char *out, size_t n, double v) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v) return;
    }
}

static void hy_yaml_quote(hy_sbuf *b, const char *s) {
    hy_sb_put(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') hy_sb_put(b, "\\%c", *p);
        else if (*p == '\n') hy_sb_put(b, "\\n");
        else if (*p == '\t') hy_sb_put(b, "\\t");
        else if (*p < 0x20 || *p == 0x7f) hy_sb_put(b, "\\x%02x", *p);
        else hy_sb_put(b, "%c", *p);
    }
    hy_sb_put(b, "\"");
}

/* The n-th '|'-separated choice. */
static void hy_choice_name(const char *choices, unsigned idx, char *out, size_t n) {
    const char *c = choices;
    for (unsigned i = 0; i < idx && c; i++) {
        c = strchr(c, '|');
        if (c) c++;
    }
    if (!c) { snprintf(out, n, "?"); return; }
    const char *e = strchr(c, '|');
    snprintf(out, n, "%.*s", (int)(e ? (size_t)(e - c) : strlen(c)), c);
}

static void hy_put_datasets(hy_sbuf *b, const hy_recipe_datasets *d, const char *indent) {
    if (d->count == 0) { hy_sb_put(b, " []\n"); return; }
    static const char *kinds = "auto|sft|preference";
    hy_sb_put(b, "\n");
    for (int i = 0; i < d->count; i++) {
        char w[40], kind[32];
        hy_fmt_double(w, sizeof w, d->items[i].weight);
        hy_choice_name(kinds, (unsigned)d->items[i].kind, kind, sizeof kind);
        hy_sb_put(b, "%s  - {path: ", indent);
        hy_yaml_quote(b, d->items[i].path);
        hy_sb_put(b, ", weight: %s, kind: %s, name: ", w, kind);
        hy_yaml_quote(b, d->items[i].name);
        hy_sb_put(b, "}\n");
    }
}

/* Append the value of key `idx` (after "key:"), newline included. */
static void hy_put_value(hy_sbuf *b, const hy_recipe *r, int idx, const char *indent) {
    const hy_recipe_key *k = &hy_recipe_schema(NULL)[idx];
    const void *f = (const char *)r + k->offset;
    char tmp[64];
    switch (k->type) {
    case HY_RKEY_STRING:
    case HY_RKEY_INPATH:
    case HY_RKEY_OUTPATH: hy_sb_put(b, " "); hy_yaml_quote(b, *(char *const *)f); hy_sb_put(b, "\n"); return;
    case HY_RKEY_INT: hy_sb_put(b, " %lld\n", (long long)*(const int64_t *)f); return;
    case HY_RKEY_FLOAT: hy_fmt_double(tmp, sizeof tmp, *(const double *)f); hy_sb_put(b, " %s\n", tmp); return;
    case HY_RKEY_BOOL: hy_sb_put(b, " %s\n", *(const int *)f ? "true" : "false"); return;
    case HY_RKEY_ENUM: {
        int v;
        memcpy(&v, f, sizeof v);
        hy_choice_name(k->choices, (unsigned)v, tmp, sizeof tmp);
        hy_sb_put(b, " %s\n", tmp);
        return;
    }
    case HY_RKEY_ENUMLIST: {
        unsigned m = *(const unsigned *)f;
        hy_sb_put(b, " [");
        for (unsigned i = 0, first = 1; i < 32; i++)
            if (m & (1u << i)) {
                hy_choice_name(k->choices, i, tmp, sizeof tmp);
                hy_sb_put(b, "%s%s", first ? "" : ", ", tmp);
                first = 0;
            }
        hy_sb_put(b, "]\n");
        return;
    }
    case HY_RKEY_DATASETS: hy_put_datasets(b, f, indent); return;
    case HY_RKEY_RESUME:
        if (r->checkpoint.resume == HY_RESUME_PATH) {
            hy_sb_put(b, " ");
            hy_yaml_quote(b, r->checkpoint.resume_path);
            hy_sb_put(b, "\n");
        } else {
            hy_sb_put(b, " %s\n", r->checkpoint.resume == HY_RESUME_NEVER ? "never" : "auto");
        }
        return;
    }
}

char *hy_recipe_to_yaml(const hy_recipe *r) {
    hy_sbuf b = {0};
    int n;
    const hy_recipe_key *keys = hy_recipe_schema(&n);
    hy_sb_put(&b, "# hymba recipe, resolved: every key with its value, defaults included.\n");
    if (r->source && *r->source) hy_sb_put(&b, "# made from %s\n", r->source);
    char prev[128] = "";
    for (int i = 0; i < n; i++) {
        /* open the sections that differ from the previous key's */
        const char *key = keys[i].key;
        int depth = 0;
        const char *seg = key, *dot;
        while ((dot = strchr(seg, '.')) != NULL) {
            size_t plen = (size_t)(dot - key);
            if (strncmp(prev, key, plen + 1) != 0 || strlen(prev) <= plen)
                hy_sb_put(&b, "%*s%.*s:\n", 2 * depth, "", (int)(dot - seg), seg);
            depth++;
            seg = dot + 1;
        }
        char indent[32];
        snprintf(indent, sizeof indent, "%*s", 2 * depth, "");
        hy_sb_put(&b, "%s%s:", indent, seg);
        hy_put_value(&b, r, i, indent);
        snprintf(prev, sizeof prev, "%s", key);
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

hy_status hy_recipe_save(const hy_recipe *r, const char *path) {
    char *text = hy_recipe_to_yaml(r);
    if (!text) return hy_errorf(HY_ERR_OOM, "out of memory writing the recipe %s", path);
    hy_status st = hy_fs_write_atomic(path, text, strlen(text));
    free(text);
    return st;
}

int hy_recipe_get(const hy_recipe *r, const char *key, char *out, size_t n) {
    int idx = hy_rschema_find(key);
    if (idx < 0) return -1;
    hy_sbuf b = {0};
    hy_put_value(&b, r, idx, "");
    if (b.oom || !b.s) {
        free(b.s);
        return -1;
    }
    char *s = b.s;
    while (*s == ' ' || *s == '\n') s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == '\n' || s[len - 1] == ' ')) len--;
    snprintf(out, n, "%.*s", (int)len, s);
    free(b.s);
    return 0;
}

int hy_recipe_diff(const hy_recipe *a, const hy_recipe *b, char *out, size_t n) {
    int count = 0, nk;
    size_t o = 0;
    const hy_recipe_key *keys = hy_recipe_schema(&nk);
    if (out && n) out[0] = 0;
    for (int i = 0; i < nk; i++) {
        char va[2048], vb[2048];
        hy_recipe_get(a, keys[i].key, va, sizeof va);
        hy_recipe_get(b, keys[i].key, vb, sizeof vb);
        if (!strcmp(va, vb)) continue;
        count++;
        if (out && o < n) {
            int w = snprintf(out + o, n - o, "%s: %s -> %s\n", keys[i].key, va, vb);
            if (w > 0) o += (size_t)w;
        }
    }
    return count;
}

/* ---------------------------------------------------------------- finalize */

typedef struct {
    const hy_recipe *r;
    char msg[3072];
    int n;
} hy_verr;

static void hy_verr_add(hy_verr *v, int idx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void hy_verr_add(hy_verr *v, int idx, const char *fmt, ...) {
    char where[512], text[1024];
    hy_recipe_origin_str(v->r, idx, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    size_t o = strlen(v->msg);
    const char *key = hy_recipe_schema(NULL)[idx].key;
    int set = strncmp(where, "--set", 5) == 0; /* "--set key" already names the key */
    snprintf(v->msg + o, sizeof v->msg - o, "%s%s%s%s: %s", v->n ? "\n  " : "", where, set ? "" : ": ",
             set ? "" : key, text);
    v->n++;
}

static hy_status hy_verr_finish(hy_verr *v) {
    if (v->n == 0) return HY_OK;
    if (v->n == 1) return hy_errorf(HY_ERR_CONFIG, "%s", v->msg);
    return hy_errorf(HY_ERR_CONFIG, "%d problems in the recipe:\n  %s", v->n, v->msg);
}

/* File name without directories and without .jsonl / .jsonl.zst / .zst / .yaml. */
static void hy_stem(const char *path, char *out, size_t n) {
    const char *base = strrchr(path, '/');
    snprintf(out, n, "%s", base ? base + 1 : path);
    static const char *ext[] = {".jsonl.zst", ".json.zst", ".zst", ".jsonl", ".json", ".yaml", ".yml"};
    for (size_t i = 0; i < HY_ARRAY_LEN(ext); i++) {
        size_t l = strlen(out), e = strlen(ext[i]);
        if (l > e && !strcmp(out + l - e, ext[i])) out[l - e] = 0;
    }
}

static hy_status hy_derive(hy_recipe *r, const char *default_ckpt_dir) {
    char cwd[HY_PATH_MAX], buf[HY_PATH_MAX + 64], stem[256];
    if (!*r->checkpoint.dir) {
        HY_TRY(hy_rpath_cwd(cwd, sizeof cwd));
        hy_stem(*r->source ? r->source : "recipe", stem, sizeof stem);
        if (default_ckpt_dir) snprintf(buf, sizeof buf, "%s", default_ckpt_dir);
        else snprintf(buf, sizeof buf, "runs/%s", stem);
        char *p;
        if (hy_rpath_resolve(cwd, buf, &p) != 0) return HY_ERR_OOM;
        hy_free(r->checkpoint.dir);
        r->checkpoint.dir = p;
    }
    if (!*r->log.metrics) {
        snprintf(buf, sizeof buf, "%s/metrics.jsonl", r->checkpoint.dir);
        char *p;
        if (hy_rpath_resolve("/", buf, &p) != 0) return HY_ERR_OOM;
        hy_free(r->log.metrics);
        r->log.metrics = p;
    }
    hy_recipe_datasets *lists[2] = {&r->data.train, &r->data.eval};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < lists[l]->count; i++) {
            hy_recipe_dataset *d = &lists[l]->items[i];
            if (*d->name) continue;
            hy_stem(d->path, stem, sizeof stem);
            char *s = hy_rstrdup(stem);
            if (!s) return HY_ERR_OOM;
            hy_free(d->name);
            d->name = s;
        }
    return HY_OK;
}

static void hy_check_rules(hy_verr *v, const hy_recipe *r, int require_model) {
    const hy_recipe_train *t = &r->train;
    if (require_model && !*r->model.path)
        hy_verr_add(v, hy_rschema_find("model.path"),
                    "required: the Hugging Face checkpoint directory to start from; add\n      model:\n        path: "
                    "/path/to/Hymba-1.5B-Base");
    if (r->data.train.count == 0)
        hy_verr_add(v, hy_rschema_find("data.train"),
                    "required: at least one training dataset; add\n      data:\n        train: [path/to/chat.jsonl.zst]");
    if (t->epochs == 0 && t->max_steps == 0)
        hy_verr_add(v, hy_rschema_find("train.epochs"), "0 epochs and max_steps 0: nothing to train; set one of them");
    if (t->global_batch_tokens > 0 && t->global_batch_sequences > 0)
        hy_verr_add(v, hy_rschema_find("train.global_batch_sequences"),
                    "give train.global_batch_tokens (%lld) or train.global_batch_sequences (%lld), not both",
                    (long long)t->global_batch_tokens, (long long)t->global_batch_sequences);
    if (t->warmup_steps > 0 && t->warmup_ratio > 0)
        hy_verr_add(v, hy_rschema_find("train.warmup_ratio"),
                    "give train.warmup_steps (%lld) or train.warmup_ratio (%g), not both", (long long)t->warmup_steps,
                    t->warmup_ratio);
    if (t->schedule != HY_SCHED_CONSTANT && t->min_lr > t->lr)
        hy_verr_add(v, hy_rschema_find("train.min_lr"), "%g is above train.lr (%g): the floor must not exceed the peak",
                    t->min_lr, t->lr);
    if (r->data.tokens_per_micro_batch < r->data.max_length)
        hy_verr_add(v, hy_rschema_find("data.tokens_per_micro_batch"),
                    "%lld is below data.max_length (%lld): every sample must fit in one micro-batch",
                    (long long)r->data.tokens_per_micro_batch, (long long)r->data.max_length);
    if (t->global_batch_tokens > 0 && t->global_batch_tokens < r->data.tokens_per_micro_batch)
        hy_verr_add(v, hy_rschema_find("train.global_batch_tokens"),
                    "%lld is below one micro-batch (data.tokens_per_micro_batch = %lld)",
                    (long long)t->global_batch_tokens, (long long)r->data.tokens_per_micro_batch);
    for (int i = 0; i < r->data.train.count; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(r->data.train.items[i].path, r->data.train.items[j].path))
                hy_verr_add(v, hy_rschema_find("data.train"), "%s is listed twice; use one entry with a weight",
                            r->data.train.items[i].path);
}

hy_status hy_recipe_finalize_opts(hy_recipe *r, int require_model, const char *default_ckpt_dir) {
    HY_TRY(hy_derive(r, default_ckpt_dir));
    hy_verr v = {.r = r};
    hy_check_rules(&v, r, require_model);
    return hy_verr_finish(&v);
}

hy_status hy_recipe_finalize(hy_recipe *r) { return hy_recipe_finalize_opts(r, 1, NULL); }

/* ---------------------------------------------------------------- checks */

static void hy_dataset_where(const hy_recipe *r, const char *list_key, const hy_recipe_dataset *d, char *out, size_t n) {
    int idx = hy_rschema_find(list_key);
    hy_recipe_origin_str(r, idx, out, n);
    char *colon = strrchr(out, ':');
    if (d->line > 0 && colon && strncmp(out, "--set", 5) != 0) snprintf(colon + 1, n - (size_t)(colon + 1 - out), "%d", d->line);
}

hy_status hy_recipe_check_stage(const hy_recipe *r, hy_stage_kind stage) {
    hy_data_kind want = stage == HY_STAGE_DPO ? HY_DATA_KIND_PREFERENCE : HY_DATA_KIND_SFT;
    const char *lists[2] = {"data.train", "data.eval"};
    const hy_recipe_datasets *ds[2] = {&r->data.train, &r->data.eval};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < ds[l]->count; i++) {
            const hy_recipe_dataset *d = &ds[l]->items[i];
            if (d->kind == HY_DATA_KIND_AUTO || d->kind == want) continue;
            char where[512];
            hy_dataset_where(r, lists[l], d, where, sizeof where);
            return hy_errorf(HY_ERR_CONFIG,
                             "%s: %s[%d] (%s): kind is %s, but this is a%s stage, which needs %s data; "
                             "use a %s dataset or run it in a%s stage",
                             where, lists[l], i, d->path, d->kind == HY_DATA_KIND_SFT ? "sft" : "preference",
                             stage == HY_STAGE_DPO ? " dpo" : "n sft", stage == HY_STAGE_DPO ? "preference" : "sft",
                             stage == HY_STAGE_DPO ? "preference" : "sft", stage == HY_STAGE_DPO ? "n sft" : " dpo");
        }
    return HY_OK;
}

hy_status hy_recipe_check_files(const hy_recipe *r) {
    char where[512], cfg[HY_PATH_MAX + 16];
    if (*r->model.path) {
        snprintf(cfg, sizeof cfg, "%s/config.json", r->model.path);
        if (!hy_fs_exists(cfg)) {
            hy_recipe_origin_str(r, hy_rschema_find("model.path"), where, sizeof where);
            return hy_errorf(HY_ERR_CONFIG, "%s: model.path: %s %s", where, r->model.path,
                             hy_fs_is_dir(r->model.path) ? "has no config.json (not a Hugging Face checkpoint directory)"
                                                          : "does not exist");
        }
    }
    const char *lists[2] = {"data.train", "data.eval"};
    const hy_recipe_datasets *ds[2] = {&r->data.train, &r->data.eval};
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < ds[l]->count; i++) {
            const hy_recipe_dataset *d = &ds[l]->items[i];
            if (hy_fs_exists(d->path) && !hy_fs_is_dir(d->path)) continue;
            hy_dataset_where(r, lists[l], d, where, sizeof where);
            return hy_errorf(HY_ERR_CONFIG, "%s: %s[%d]: dataset file %s %s (relative paths are relative to the recipe)",
                             where, lists[l], i, d->path, hy_fs_is_dir(d->path) ? "is a directory" : "does not exist");
        }
    if (r->checkpoint.resume == HY_RESUME_PATH && !hy_fs_is_dir(r->checkpoint.resume_path)) {
        hy_recipe_origin_str(r, hy_rschema_find("checkpoint.resume"), where, sizeof where);
        return hy_errorf(HY_ERR_CONFIG, "%s: checkpoint.resume: %s is not a checkpoint directory", where,
                         r->checkpoint.resume_path);
    }
    return HY_OK;
}

/* ---------------------------------------------------------------- markdown */

static const char *hy_type_doc(const hy_recipe_key *k, char *buf, size_t n) {
    switch (k->type) {
    case HY_RKEY_STRING: return "string";
    case HY_RKEY_INPATH: return "path (input)";
    case HY_RKEY_OUTPATH: return "path (output)";
    case HY_RKEY_INT:
    case HY_RKEY_FLOAT: {
        const char *t = k->type == HY_RKEY_INT ? "integer" : "number";
        char lo[32] = "", hi[32] = "";
        if (isfinite(k->min)) snprintf(lo, sizeof lo, "%.15g %s ", k->min, (k->flags & HY_RKEY_MIN_EXCL) ? "<" : "≤");
        if (isfinite(k->max) && k->max < 9e15) snprintf(hi, sizeof hi, " %s %.15g", (k->flags & HY_RKEY_MAX_EXCL) ? "<" : "≤", k->max);
        if (lo[0] || hi[0]) snprintf(buf, n, "%s, %sx%s", t, lo, hi);
        else snprintf(buf, n, "%s", t);
        return buf;
    }
    case HY_RKEY_BOOL: return "bool";
    case HY_RKEY_ENUM:
    case HY_RKEY_ENUMLIST: { /* "one of `a`, `b`" — a bare '|' would split the table cell */
        size_t o = (size_t)snprintf(buf, n, "%s `", k->type == HY_RKEY_ENUM ? "one of" : "list of");
        for (const char *c = k->choices; *c && o + 6 < n; c++) {
            if (*c == '|') o += (size_t)snprintf(buf + o, n - o, "`, `");
            else buf[o++] = *c;
        }
        snprintf(buf + o, n - o, "`");
        return buf;
    }
    case HY_RKEY_DATASETS: return "list of datasets";
    case HY_RKEY_RESUME: return "`auto`, `never` or path (input)";
    }
    return "?";
}

char *hy_recipe_schema_markdown(void) {
    hy_sbuf b = {0};
    int n;
    const hy_recipe_key *keys = hy_recipe_schema(&n);
    char section[64] = "", type[160];
    for (int i = 0; i < n; i++) {
        const char *dot = strchr(keys[i].key, '.');
        char sec[64];
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - keys[i].key), keys[i].key);
        if (strcmp(sec, section) != 0) {
            snprintf(section, sizeof section, "%s", sec);
            hy_sb_put(&b, "%s### `%s`\n\n| key | type | default | meaning |\n|---|---|---|---|\n", i ? "\n" : "", sec);
        }
        const char *def = keys[i].def;
        hy_sb_put(&b, "| `%s` | %s | `%s` | ", keys[i].key, hy_type_doc(&keys[i], type, sizeof type),
                  !strcmp(def, "\"\"") ? "\"\"" : def);
        for (const char *p = keys[i].doc; *p; p++) {
            if (*p == '|') hy_sb_put(&b, "\\|");
            else hy_sb_put(&b, "%c", *p);
        }
        hy_sb_put(&b, " |\n");
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}
