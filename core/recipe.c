/* recipe.c — reading recipe and pipeline YAML (the only libyaml include
 * site).  Files are loaded with libyaml's document API (every node keeps its
 * line), then walked against the schema (recipe_schema.c): mappings must be
 * sections, leaves must be schema keys of the right type.  Errors are
 * collected, not thrown, so one run reports every problem of a file, each as
 * "FILE:LINE: key: ..." with a suggestion for misspellings.  `--set` values
 * are parsed as YAML too, so they are typed and checked exactly like file
 * values. */
#include "recipe.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <yaml.h>

#include "alloc.h"
#include "fsutil.h"
#include "recipe_internal.h"

enum { HY_RMAX_DEPTH = 16 };

typedef struct {
    hy_recipe *r;
    yaml_document_t *doc;
    const char *display;          /* file name as given, or "--set" */
    int file;                     /* meta file index or HY_RFILE_SET */
    char base_dir[HY_PATH_MAX];   /* input paths */
    char out_dir[HY_PATH_MAX];    /* output paths (the current directory) */
    char msg[3500];
    int nerr, oom;
} hy_rctx;

/* ---------------------------------------------------------------- errors */

static void hy_rerr(hy_rctx *c, int line, const char *key, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static void hy_rerr(hy_rctx *c, int line, const char *key, const char *fmt, ...) {
    char text[1024], where[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (c->file == HY_RFILE_SET) snprintf(where, sizeof where, "--set %s", key);
    else if (line > 0) snprintf(where, sizeof where, "%s:%d: %s", c->display, line, key);
    else snprintf(where, sizeof where, "%s: %s", c->display, key);
    size_t o = strlen(c->msg);
    if (c->nerr < 12) snprintf(c->msg + o, sizeof c->msg - o, "%s%s: %s", c->nerr ? "\n  " : "", where, text);
    c->nerr++;
}

static hy_status hy_rctx_status(hy_rctx *c) {
    if (c->oom) return HY_ERR_OOM;
    if (c->nerr == 0) return HY_OK;
    if (c->nerr == 1) return hy_errorf(HY_ERR_CONFIG, "%s", c->msg);
    return hy_errorf(HY_ERR_CONFIG, "%d problems in the recipe:\n  %s%s", c->nerr, c->msg,
                     c->nerr > 12 ? "\n  ..." : "");
}

/* ---------------------------------------------------------------- nodes */

static int hy_line(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }
static const char *hy_text(const yaml_node_t *n) { return (const char *)n->data.scalar.value; }
static int hy_quoted(const yaml_node_t *n) { return n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE; }

static int hy_is_null(const yaml_node_t *n) {
    if (n->type != YAML_SCALAR_NODE || hy_quoted(n)) return 0;
    const char *t = hy_text(n);
    return !*t || !strcmp(t, "~") || !strcmp(t, "null") || !strcmp(t, "Null") || !strcmp(t, "NULL");
}

static const char *hy_node_kind(const yaml_node_t *n) {
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    return "a value";
}

static yaml_node_t *hy_node(hy_rctx *c, int id) { return yaml_document_get_node(c->doc, id); }

/* Load one YAML document from a file or a string; on a syntax error the
 * message reads "ORIGIN:LINE:COL: invalid YAML: ...". */
static hy_status hy_yaml_load(yaml_document_t *doc, const char *path, const char *text, const char *origin) {
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return hy_errorf(HY_ERR_OOM, "out of memory starting the YAML parser");
    FILE *f = NULL;
    if (path) {
        f = fopen(path, "rb");
        if (!f) {
            yaml_parser_delete(&p);
            return hy_errorf(HY_ERR_IO, "%s: cannot open the recipe: %s", path, strerror(errno));
        }
        yaml_parser_set_input_file(&p, f);
    } else {
        yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
    }
    hy_status st = HY_OK;
    if (!yaml_parser_load(&p, doc)) {
        const char *hint = p.problem && strstr(p.problem, "cannot start any token")
                               ? " (tabs cannot indent YAML, and characters like @ or ` must be quoted)"
                               : "";
        st = hy_errorf(HY_ERR_CONFIG, "%s:%zu:%zu: invalid YAML: %s%s%s%s", origin, p.problem_mark.line + 1,
                       p.problem_mark.column + 1, p.problem ? p.problem : "syntax error", p.context ? " " : "",
                       p.context ? p.context : "", hint);
    }
    yaml_parser_delete(&p);
    if (f) fclose(f);
    return st;
}

/* ---------------------------------------------------------------- datasets */

static const char *HY_DS_KEYS[] = {"path", "weight", "kind", "name"};

static int hy_ds_entry_key(hy_rctx *c, const char *k, int line, const char *where) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(k, HY_DS_KEYS[i])) return i;
    char sug[32];
    hy_rsuggest_choice("path|weight|kind|name", k, sug, sizeof sug);
    hy_rerr(c, line, where, "unknown dataset key '%s'%s%s%s (dataset entries have path, weight, kind, name)", k,
            sug[0] ? " (did you mean '" : "", sug, sug[0] ? "'?)" : "");
    return -1;
}

/* One entry: a path scalar or a {path, weight, kind, name} mapping. */
static int hy_ds_entry(hy_rctx *c, const yaml_node_t *n, const char *list_key, int idx, hy_recipe_dataset *d) {
    char where[128];
    snprintf(where, sizeof where, "%s[%d]", list_key, idx);
    d->weight = 1.0;
    d->line = c->file == HY_RFILE_SET ? 0 : hy_line(n);
    const char *path = NULL, *name = "";
    if (n->type == YAML_SCALAR_NODE && !hy_is_null(n)) {
        path = hy_text(n);
    } else if (n->type == YAML_MAPPING_NODE) {
        int seen[4] = {0};
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = hy_node(c, p->key), *v = hy_node(c, p->value);
            if (k->type != YAML_SCALAR_NODE) { hy_rerr(c, hy_line(k), where, "keys must be names"); return 1; }
            int which = hy_ds_entry_key(c, hy_text(k), hy_line(k), where);
            if (which < 0) return 1;
            if (seen[which]) { hy_rerr(c, hy_line(k), where, "duplicate key '%s' (first at line %d)", hy_text(k), seen[which]); return 1; }
            seen[which] = hy_line(k);
            if (v->type != YAML_SCALAR_NODE || hy_is_null(v)) {
                hy_rerr(c, hy_line(v), where, "%s: expected a value, got %s", hy_text(k), hy_is_null(v) ? "nothing" : hy_node_kind(v));
                return 1;
            }
            const char *t = hy_text(v);
            if (which == 0) path = t;
            else if (which == 3) name = t;
            else if (which == 2) {
                int kind = -1;
                if (!strcmp(t, "auto")) kind = HY_DATA_KIND_AUTO;
                else if (!strcmp(t, "sft")) kind = HY_DATA_KIND_SFT;
                else if (!strcmp(t, "preference")) kind = HY_DATA_KIND_PREFERENCE;
                if (kind < 0) {
                    char sug[32];
                    hy_rsuggest_choice("auto|sft|preference", t, sug, sizeof sug);
                    hy_rerr(c, hy_line(v), where, "kind: expected one of auto, sft, preference; got \"%s\"%s%s%s", t,
                            sug[0] ? " (did you mean '" : "", sug, sug[0] ? "'?)" : "");
                    return 1;
                }
                d->kind = (hy_data_kind)kind;
            } else {
                char *end;
                double w = strtod(t, &end);
                if (hy_quoted(v) || *end || end == t || !(w > 0) || w > 1e6) {
                    hy_rerr(c, hy_line(v), where, "weight: expected a number > 0, got \"%s\"", t);
                    return 1;
                }
                d->weight = w;
            }
        }
    } else {
        hy_rerr(c, hy_line(n), where, "expected a path or {path, weight, kind, name}, got %s", hy_is_null(n) ? "nothing" : hy_node_kind(n));
        return 1;
    }
    if (!path || !*path) {
        hy_rerr(c, hy_line(n), where, "path: required (the .jsonl or .jsonl.zst file)");
        return 1;
    }
    if (hy_rpath_resolve(c->base_dir, path, &d->path) != 0 || !(d->name = hy_rstrdup(name))) {
        c->oom = 1;
        return 1;
    }
    return 0;
}

static void hy_set_datasets_node(hy_rctx *c, int idx, const yaml_node_t *seq, const char *key) {
    int n = (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    hy_recipe_datasets l = {0};
    if (n > 0 && hy_malloc((void **)&l.items, sizeof(hy_recipe_dataset) * (size_t)n, 1, "dataset list") != HY_OK) {
        c->oom = 1;
        return;
    }
    int bad = 0;
    for (int i = 0; i < n && !c->oom; i++) {
        bad |= hy_ds_entry(c, hy_node(c, seq->data.sequence.items.start[i]), key, i, &l.items[i]);
        l.count = i + 1;
    }
    if (bad || c->oom) {
        hy_rdatasets_free(&l);
        return;
    }
    hy_rschema_set_datasets(c->r, idx, &l);
    hy_recipe_mark(c->r, idx, c->file, hy_line(seq));
}

/* ---------------------------------------------------------------- keys */

static void hy_set_key(hy_rctx *c, int idx, const yaml_node_t *v, const char *key) {
    const hy_recipe_key *k = &hy_recipe_schema(NULL)[idx];
    int line = hy_line(v);
    char err[512] = "";
    if (hy_is_null(v)) {
        if (hy_rschema_reset(c->r, idx) < 0) c->oom = 1;
        return;
    }
    if (k->type == HY_RKEY_DATASETS && v->type == YAML_SEQUENCE_NODE) {
        hy_set_datasets_node(c, idx, v, key);
        return;
    }
    if (k->type == HY_RKEY_ENUMLIST && v->type == YAML_SEQUENCE_NODE) {
        unsigned mask = 0;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
            yaml_node_t *e = hy_node(c, *it);
            int ch = e->type == YAML_SCALAR_NODE ? hy_rschema_choice(idx, hy_text(e), err, sizeof err) : -1;
            if (e->type != YAML_SCALAR_NODE) snprintf(err, sizeof err, "list items must be names, got %s", hy_node_kind(e));
            if (ch < 0) { hy_rerr(c, hy_line(e), key, "%s", err); return; }
            mask |= 1u << ch;
        }
        hy_rschema_set_mask(c->r, idx, mask);
        hy_recipe_mark(c->r, idx, c->file, line);
        return;
    }
    if (v->type != YAML_SCALAR_NODE) {
        const char *want = k->type == HY_RKEY_DATASETS ? "a list of datasets" : k->type == HY_RKEY_ENUMLIST ? "a list" : "a single value";
        hy_rerr(c, line, key, "expected %s, got %s", want, hy_node_kind(v));
        return;
    }
    const char *base = k->type == HY_RKEY_OUTPATH ? c->out_dir : c->base_dir;
    int rc = hy_rschema_set_scalar(c->r, idx, hy_text(v), hy_quoted(v), base, err, sizeof err);
    if (rc < 0) c->oom = 1;
    else if (rc > 0) hy_rerr(c, line, key, "%s", err);
    else hy_recipe_mark(c->r, idx, c->file, line);
}

static void hy_unknown_key(hy_rctx *c, int line, const char *full) {
    int alias;
    const char *s = hy_rsuggest_key(full, &alias);
    if (!strcmp(full, "stages") || !strcmp(full, "pipeline")) {
        hy_rerr(c, line, full, "unknown key (this looks like a pipeline file: run it with `hymba run`)");
    } else if (s && alias) {
        hy_rerr(c, line, full, "unknown key; hymba calls this '%s'", s);
    } else if (s) {
        hy_rerr(c, line, full, "unknown key (did you mean '%s'?)", s);
    } else {
        char section[128], keys[1024];
        const char *dot = strrchr(full, '.');
        snprintf(section, sizeof section, "%.*s", dot ? (int)(dot - full) : 0, full);
        hy_rsection_keys(section, keys, sizeof keys);
        hy_rerr(c, line, full, "unknown key; valid keys%s%s: %s", section[0] ? " in " : " at the top level", section, keys);
    }
}

/* Walk a mapping of keys under `prefix` ("" at the top). */
static void hy_walk(hy_rctx *c, const yaml_node_t *map, const char *prefix, int depth) {
    if (depth > HY_RMAX_DEPTH) { hy_rerr(c, hy_line(map), prefix, "nested too deeply"); return; }
    const yaml_node_pair_t *start = map->data.mapping.pairs.start, *top = map->data.mapping.pairs.top;
    for (const yaml_node_pair_t *p = start; p < top && !c->oom; p++) {
        yaml_node_t *k = hy_node(c, p->key), *v = hy_node(c, p->value);
        if (k->type != YAML_SCALAR_NODE) { hy_rerr(c, hy_line(k), prefix, "keys must be names, got %s", hy_node_kind(k)); continue; }
        char full[256];
        snprintf(full, sizeof full, "%s%s%s", prefix, *prefix ? "." : "", hy_text(k));
        int dup = 0;
        for (const yaml_node_pair_t *q = start; q < p && !dup; q++) {
            yaml_node_t *kq = hy_node(c, q->key);
            if (kq->type == YAML_SCALAR_NODE && !strcmp(hy_text(kq), hy_text(k))) {
                hy_rerr(c, hy_line(k), full, "duplicate key (first given at line %d)", hy_line(kq));
                dup = 1;
            }
        }
        if (dup) continue;
        int idx = hy_rschema_find(full);
        if (idx >= 0) hy_set_key(c, idx, v, full);
        else if (hy_rschema_is_section(full)) {
            if (v->type == YAML_MAPPING_NODE) hy_walk(c, v, full, depth + 1);
            else if (!hy_is_null(v)) hy_rerr(c, hy_line(v), full, "expected a section (a mapping of keys), got %s", hy_node_kind(v));
        } else hy_unknown_key(c, hy_line(k), full);
    }
}

/* Apply a whole recipe document (root may be NULL: an empty file). */
static void hy_walk_root(hy_rctx *c, const yaml_node_t *root) {
    if (!root || hy_is_null(root)) return;
    if (root->type != YAML_MAPPING_NODE) {
        hy_rerr(c, hy_line(root), "recipe", "expected a mapping of sections (model, data, train, ...), got %s", hy_node_kind(root));
        return;
    }
    hy_walk(c, root, "", 0);
}

static hy_status hy_rctx_init(hy_rctx *c, hy_recipe *r, const char *display, int is_set, const char *base_file) {
    memset(c, 0, sizeof *c);
    c->r = r;
    c->display = display;
    HY_TRY(hy_rpath_cwd(c->out_dir, sizeof c->out_dir));
    if (base_file) HY_TRY(hy_rpath_dir_of(base_file, c->base_dir, sizeof c->base_dir));
    else snprintf(c->base_dir, sizeof c->base_dir, "%s", c->out_dir);
    c->file = is_set ? HY_RFILE_SET : r ? hy_recipe_add_file(r, display) : 0;
    if (c->file == -1 && !is_set) return HY_ERR_OOM;
    return HY_OK;
}

/* "key=value" parsed into the context (errors collected). */
static void hy_apply_set(hy_rctx *c, const char *assignment, int line) {
    const char *eq = strchr(assignment, '=');
    char key[256];
    if (!eq || eq == assignment || (size_t)(eq - assignment) >= sizeof key) {
        hy_rerr(c, line, assignment, "expected key=value (e.g. train.lr=1e-5)");
        return;
    }
    snprintf(key, sizeof key, "%.*s", (int)(eq - assignment), assignment);
    for (char *e = key + strlen(key); e > key && e[-1] == ' ';) *--e = 0;
    yaml_document_t doc;
    char origin[300];
    snprintf(origin, sizeof origin, "--set %s", key);
    if (hy_yaml_load(&doc, NULL, eq + 1, origin) != HY_OK) {
        hy_rerr(c, line, key, "cannot read the value as YAML: %s", hy_last_error());
        return;
    }
    yaml_document_t *saved = c->doc;
    c->doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    yaml_node_t empty = {.type = YAML_SCALAR_NODE};
    empty.data.scalar.value = (yaml_char_t *)"";
    empty.data.scalar.style = YAML_PLAIN_SCALAR_STYLE;
    empty.start_mark.line = line > 0 ? (size_t)(line - 1) : 0;
    if (!root) root = &empty;
    else root->start_mark.line = line > 0 ? (size_t)(line - 1) : 0;
    int idx = hy_rschema_find(key);
    if (idx >= 0) hy_set_key(c, idx, root, key);
    else if (hy_rschema_is_section(key) && root->type == YAML_MAPPING_NODE) hy_walk(c, root, key, 1);
    else if (hy_rschema_is_section(key)) {
        char keys[1024];
        hy_rsection_keys(key, keys, sizeof keys);
        hy_rerr(c, line, key, "is a section; set one of its keys (%s) or give a mapping", keys);
    } else hy_unknown_key(c, line, key);
    c->doc = saved;
    yaml_document_delete(&doc);
}

/* ---------------------------------------------------------------- public: recipes */

static hy_status hy_apply_file(hy_recipe *r, const char *path, hy_rctx *c) {
    yaml_document_t doc;
    HY_TRY(hy_rctx_init(c, r, path, 0, path));
    HY_TRY(hy_yaml_load(&doc, path, NULL, path));
    c->doc = &doc;
    hy_walk_root(c, yaml_document_get_root_node(&doc));
    c->doc = NULL;
    yaml_document_delete(&doc);
    return HY_OK;
}

hy_status hy_recipe_set(hy_recipe *r, const char *assignment) {
    hy_rctx c;
    HY_TRY(hy_rctx_init(&c, r, "--set", 1, NULL));
    hy_apply_set(&c, assignment, 0);
    return hy_rctx_status(&c);
}

static hy_status hy_set_source(hy_recipe *r, const char *path) {
    char dir[HY_PATH_MAX];
    HY_TRY(hy_rpath_dir_of(path, dir, sizeof dir));
    const char *base = strrchr(path, '/');
    char *abs;
    if (hy_rpath_resolve(dir, base ? base + 1 : path, &abs) != 0) return HY_ERR_OOM;
    hy_free(r->source);
    r->source = abs;
    return HY_OK;
}

hy_status hy_recipe_load(hy_recipe *r, const char *path, int n_sets, const char *const *sets) {
    HY_TRY(hy_recipe_defaults(r));
    hy_rctx c;
    hy_status st = hy_set_source(r, path);
    if (st == HY_OK) st = hy_apply_file(r, path, &c);
    if (st == HY_OK) {
        hy_rctx s;
        st = hy_rctx_init(&s, r, "--set", 1, NULL);
        for (int i = 0; st == HY_OK && i < n_sets; i++) hy_apply_set(&s, sets[i], 0);
        /* one list of problems: the file's, then the overrides' */
        if (st == HY_OK && s.nerr) {
            size_t o = strlen(c.msg);
            snprintf(c.msg + o, sizeof c.msg - o, "%s%s", c.nerr ? "\n  " : "", s.msg);
            c.nerr += s.nerr;
        }
        c.oom |= s.oom;
        if (st == HY_OK) st = hy_rctx_status(&c);
    }
    if (st == HY_OK) st = hy_recipe_finalize(r);
    if (st != HY_OK) hy_recipe_free(r);
    return st;
}

/* ---------------------------------------------------------------- pipelines */

/* Append src's problems to dst's list. */
static void hy_rctx_merge(hy_rctx *dst, const hy_rctx *src) {
    if (src->nerr) {
        size_t o = strlen(dst->msg);
        snprintf(dst->msg + o, sizeof dst->msg - o, "%s%s", dst->nerr ? "\n  " : "", src->msg);
        dst->nerr += src->nerr;
    }
    dst->oom |= src->oom;
}

typedef struct {
    const yaml_node_t *name, *kind, *recipe, *set;
    int line;
} hy_stage_nodes;

static const yaml_node_t *hy_map_get(hy_rctx *c, const yaml_node_t *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = hy_node(c, p->key);
        if (k->type == YAML_SCALAR_NODE && !strcmp(hy_text(k), key)) return hy_node(c, p->value);
    }
    return NULL;
}

/* Every key of `map` must be one of `allowed` ('|'-separated) and appear once. */
static void hy_check_keys(hy_rctx *c, const yaml_node_t *map, const char *allowed, const char *where) {
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        yaml_node_t *k = hy_node(c, p->key);
        const char *t = k->type == YAML_SCALAR_NODE ? hy_text(k) : "?";
        char pat[64], sug[64];
        snprintf(pat, sizeof pat, "|%s|", t);
        char all[160];
        snprintf(all, sizeof all, "|%s|", allowed);
        if (!strstr(all, pat)) {
            hy_rsuggest_choice(allowed, t, sug, sizeof sug);
            hy_rerr(c, hy_line(k), where, "unknown key '%s'%s%s%s (allowed: %s)", t, sug[0] ? " (did you mean '" : "",
                    sug, sug[0] ? "'?)" : "", allowed);
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *kq = hy_node(c, q->key);
            if (kq->type == YAML_SCALAR_NODE && !strcmp(hy_text(kq), t))
                hy_rerr(c, hy_line(k), where, "duplicate key '%s' (first given at line %d)", t, hy_line(kq));
        }
    }
}

static int hy_stage_name_ok(const char *s) {
    if (!*s || strlen(s) > 64) return 0;
    for (; *s; s++)
        if (!(('a' <= *s && *s <= 'z') || ('A' <= *s && *s <= 'Z') || ('0' <= *s && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Validate one `stages` item; fills the nodes. */
static void hy_stage_parse(hy_rctx *c, const yaml_node_t *n, int i, hy_stage_nodes *s) {
    char where[64];
    snprintf(where, sizeof where, "stages[%d]", i);
    memset(s, 0, sizeof *s);
    s->line = hy_line(n);
    if (n->type != YAML_MAPPING_NODE) {
        hy_rerr(c, hy_line(n), where, "expected a stage {name, kind, recipe, set}, got %s", hy_node_kind(n));
        return;
    }
    hy_check_keys(c, n, "name|kind|recipe|set", where);
    s->name = hy_map_get(c, n, "name");
    s->kind = hy_map_get(c, n, "kind");
    s->recipe = hy_map_get(c, n, "recipe");
    s->set = hy_map_get(c, n, "set");
    if (!s->name || s->name->type != YAML_SCALAR_NODE || !hy_stage_name_ok(hy_text(s->name)))
        hy_rerr(c, s->name ? hy_line(s->name) : s->line, where,
                "name: required: letters, digits, '_' or '-'");
    if (!s->kind || s->kind->type != YAML_SCALAR_NODE || (strcmp(hy_text(s->kind), "sft") && strcmp(hy_text(s->kind), "dpo")))
        hy_rerr(c, s->kind ? hy_line(s->kind) : s->line, where, "kind: expected sft or dpo, got %s",
                s->kind && s->kind->type == YAML_SCALAR_NODE ? hy_text(s->kind) : "nothing");
    if (s->recipe && s->recipe->type == YAML_SEQUENCE_NODE)
        hy_rerr(c, hy_line(s->recipe), where, "recipe: expected a file path or an inline recipe mapping, got a list");
    if (s->set && s->set->type != YAML_SEQUENCE_NODE)
        hy_rerr(c, hy_line(s->set), where, "set: expected a list of \"key=value\" strings");
}

/* Overrides from the command line: "stage.section.key=v" for one stage,
 * "section.key=v" for all.  A stage may share a section's name ("dpo"):
 * "dpo.train.lr" names the stage (a section follows), "dpo.beta" the key. */
static void hy_stage_cli_sets(hy_rctx *c, const hy_pipeline *p, const char *stage, int n_sets, const char *const *sets) {
    for (int k = 0; k < n_sets; k++) {
        const char *a = sets[k], *dot = strchr(a, '.'), *eq = strchr(a, '=');
        if (dot && (!eq || dot < eq)) {
            char first[80];
            snprintf(first, sizeof first, "%.*s", (int)(dot - a), a);
            int is_stage = 0;
            for (int i = 0; i < p->count; i++) is_stage |= !strcmp(p->stages[i].name, first);
            char second[80];
            const char *dot2 = strchr(dot + 1, '.');
            snprintf(second, sizeof second, "%.*s", (int)(dot2 && (!eq || dot2 < eq) ? dot2 - dot - 1 : 0), dot + 1);
            if (is_stage && (hy_rschema_is_section(second) || !hy_rschema_is_section(first))) {
                if (!strcmp(first, stage)) hy_apply_set(c, dot + 1, 0);
                continue;
            }
            if (!hy_rschema_is_section(first)) {
                hy_rerr(c, 0, first, "neither a stage of this pipeline nor a recipe section");
                continue;
            }
        }
        hy_apply_set(c, a, 0);
    }
}

typedef struct {
    const char *path;             /* the pipeline file */
    yaml_document_t *doc;
    const yaml_node_t *defaults;
    int n_sets;
    const char *const *sets;
} hy_pipe_src;

/* Build stage i's recipe: defaults → its recipe (file or inline) → its
 * `set` list → command-line overrides → finalize. */
static hy_status hy_stage_build(hy_pipeline *p, int i, const hy_stage_nodes *sn, const hy_pipe_src *src) {
    hy_pipeline_stage *st = &p->stages[i];
    hy_recipe *r = &st->recipe;
    HY_TRY(hy_recipe_defaults(r));
    hy_rctx a, b, s;
    char rpath[HY_PATH_MAX] = "";
    HY_TRY(hy_rctx_init(&a, r, src->path, 0, src->path));
    a.doc = src->doc;
    if (sn->recipe && sn->recipe->type == YAML_SCALAR_NODE && !hy_is_null(sn->recipe)) {
        char *abs;
        if (hy_rpath_resolve(a.base_dir, hy_text(sn->recipe), &abs) != 0) return HY_ERR_OOM;
        snprintf(rpath, sizeof rpath, "%s", abs);
        hy_free(abs);
    }
    HY_TRY(hy_set_source(r, rpath[0] ? rpath : src->path));
    if (src->defaults) hy_walk_root(&a, src->defaults);
    if (rpath[0]) {
        hy_status e = hy_apply_file(r, rpath, &b);
        if (e != HY_OK) {
            hy_error_context("%s:%d: stage '%s': recipe", src->path, hy_line(sn->recipe), st->name);
            return e;
        }
        hy_rctx_merge(&a, &b);
    } else if (sn->recipe && sn->recipe->type == YAML_MAPPING_NODE) {
        hy_walk_root(&a, sn->recipe);
    }
    if (sn->set)
        for (yaml_node_item_t *it = sn->set->data.sequence.items.start; it < sn->set->data.sequence.items.top; it++) {
            yaml_node_t *e = yaml_document_get_node(src->doc, *it);
            if (e->type == YAML_SCALAR_NODE) hy_apply_set(&a, hy_text(e), hy_line(e));
            else hy_rerr(&a, hy_line(e), "set", "expected a \"key=value\" string, got %s", hy_node_kind(e));
            a.doc = src->doc; /* hy_apply_set restores it; kept explicit */
        }
    HY_TRY(hy_rctx_init(&s, r, "--set", 1, NULL));
    hy_stage_cli_sets(&s, p, st->name, src->n_sets, src->sets);
    hy_rctx_merge(&a, &s);
    hy_status e = hy_rctx_status(&a);
    if (e == HY_OK) {
        char ck[HY_PATH_MAX + 80];
        snprintf(ck, sizeof ck, "%s/%s", p->output_dir, st->name);
        st->model_from_previous = i > 0 && !*r->model.path;
        e = hy_recipe_finalize_opts(r, i == 0, ck);
    }
    if (e == HY_OK) e = hy_recipe_check_stage(r, st->kind);
    if (e != HY_OK) hy_error_context("stage '%s' (%s:%d)", st->name, src->path, sn->line);
    return e;
}

/* The pipeline-level keys: `pipeline: {name, output_dir}`, `stages`. */
static void hy_pipe_header(hy_rctx *c, hy_pipeline *p, const yaml_node_t *root, const char *path) {
    hy_check_keys(c, root, "pipeline|defaults|stages", "pipeline file");
    const yaml_node_t *meta = hy_map_get(c, root, "pipeline");
    char stem[256], *s;
    const char *base = strrchr(path, '/');
    snprintf(stem, sizeof stem, "%s", base ? base + 1 : path);
    if ((s = strstr(stem, ".yaml")) || (s = strstr(stem, ".yml"))) *s = 0;
    const char *name = stem, *out = NULL;
    if (meta && meta->type == YAML_MAPPING_NODE) {
        hy_check_keys(c, meta, "name|output_dir", "pipeline");
        const yaml_node_t *n = hy_map_get(c, meta, "name"), *o = hy_map_get(c, meta, "output_dir");
        if (n && n->type == YAML_SCALAR_NODE && !hy_is_null(n)) name = hy_text(n);
        if (o && o->type == YAML_SCALAR_NODE && !hy_is_null(o)) out = hy_text(o);
    } else if (meta && !hy_is_null(meta)) {
        hy_rerr(c, hy_line(meta), "pipeline", "expected a mapping {name, output_dir}, got %s", hy_node_kind(meta));
    }
    char def[300];
    snprintf(def, sizeof def, "runs/%s", name);
    if (!(p->name = hy_rstrdup(name)) || hy_rpath_resolve(c->out_dir, out ? out : def, &p->output_dir) != 0) c->oom = 1;
}

static hy_status hy_pipe_stages(hy_rctx *c, hy_pipeline *p, const yaml_node_t *root, hy_stage_nodes **nodes) {
    const yaml_node_t *stages = hy_map_get(c, root, "stages");
    if (!stages || stages->type != YAML_SEQUENCE_NODE || stages->data.sequence.items.top == stages->data.sequence.items.start) {
        hy_rerr(c, stages ? hy_line(stages) : hy_line(root), "stages", "required: a non-empty list of stages");
        return HY_OK;
    }
    int n = (int)(stages->data.sequence.items.top - stages->data.sequence.items.start);
    HY_TRY(hy_malloc((void **)nodes, sizeof(hy_stage_nodes) * (size_t)n, 1, "pipeline stages"));
    HY_TRY(hy_malloc((void **)&p->stages, sizeof(hy_pipeline_stage) * (size_t)n, 1, "pipeline stages"));
    for (int i = 0; i < n; i++) {
        hy_stage_nodes *sn = &(*nodes)[i];
        hy_stage_parse(c, hy_node(c, stages->data.sequence.items.start[i]), i, sn);
        hy_pipeline_stage *st = &p->stages[i];
        st->line = sn->line;
        const char *nm = sn->name && sn->name->type == YAML_SCALAR_NODE ? hy_text(sn->name) : "";
        if (!(st->name = hy_rstrdup(nm))) return HY_ERR_OOM;
        st->kind = sn->kind && sn->kind->type == YAML_SCALAR_NODE && !strcmp(hy_text(sn->kind), "dpo") ? HY_STAGE_DPO : HY_STAGE_SFT;
        for (int j = 0; j < i; j++)
            if (*nm && !strcmp(p->stages[j].name, nm))
                hy_rerr(c, sn->line, "stages", "stage name '%s' is used twice (lines %d and %d)", nm, p->stages[j].line, sn->line);
        p->count = i + 1;
    }
    return HY_OK;
}

hy_status hy_pipeline_load(hy_pipeline *p, const char *path, int n_sets, const char *const *sets) {
    memset(p, 0, sizeof *p);
    yaml_document_t doc;
    HY_TRY(hy_yaml_load(&doc, path, NULL, path));
    hy_rctx c;
    hy_stage_nodes *nodes = NULL;
    hy_status st = hy_rctx_init(&c, NULL, path, 0, path);
    c.doc = &doc;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (st == HY_OK && (!root || root->type != YAML_MAPPING_NODE)) {
        hy_rerr(&c, root ? hy_line(root) : 1, "pipeline file", "expected a mapping with `stages`");
    } else if (st == HY_OK) {
        char dir[HY_PATH_MAX];
        hy_pipe_header(&c, p, root, path);
        st = hy_pipe_stages(&c, p, root, &nodes);
        if (st == HY_OK && hy_rpath_dir_of(path, dir, sizeof dir) == HY_OK) {
            const char *b = strrchr(path, '/');
            if (hy_rpath_resolve(dir, b ? b + 1 : path, &p->source) != 0) c.oom = 1;
        }
    }
    if (st == HY_OK) st = hy_rctx_status(&c);
    hy_pipe_src src = {path, &doc, root ? hy_map_get(&c, root, "defaults") : NULL, n_sets, sets};
    if (st == HY_OK && src.defaults && src.defaults->type != YAML_MAPPING_NODE && !hy_is_null(src.defaults))
        st = hy_errorf(HY_ERR_CONFIG, "%s:%d: defaults: expected a recipe mapping, got %s", path, hy_line(src.defaults),
                       hy_node_kind(src.defaults));
    for (int i = 0; st == HY_OK && i < p->count; i++) st = hy_stage_build(p, i, &nodes[i], &src);
    hy_free(nodes);
    yaml_document_delete(&doc);
    if (st != HY_OK) hy_pipeline_free(p);
    return st;
}

void hy_pipeline_free(hy_pipeline *p) {
    for (int i = 0; i < p->count; i++) {
        hy_recipe_free(&p->stages[i].recipe);
        hy_free(p->stages[i].name);
    }
    hy_free(p->stages);
    hy_free(p->name);
    hy_free(p->output_dir);
    hy_free(p->source);
    memset(p, 0, sizeof *p);
}

int hy_recipe_file_is_pipeline(const char *path) {
    yaml_document_t doc;
    if (hy_yaml_load(&doc, path, NULL, path) != HY_OK) {
        hy_error_clear();
        return 0;
    }
    hy_rctx c = {.doc = &doc};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int yes = root && hy_map_get(&c, root, "stages") != NULL;
    yaml_document_delete(&doc);
    return yes;
}
