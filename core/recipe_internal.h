/* recipe_internal.h — shared between recipe.c (libyaml: files, --set,
 * pipelines) and recipe_schema.c (the schema table and everything that needs
 * no YAML parser: typed setters, defaults, validation, saving, diffs,
 * suggestions).  Not part of the public API. */
#ifndef HY_RECIPE_INTERNAL_H
#define HY_RECIPE_INTERNAL_H
#include "recipe.h"

enum { HY_RFILE_DEFAULT = -2, HY_RFILE_SET = -1, HY_RECIPE_MAX_FILES = 8 };

/* Where a key's value came from. */
typedef struct {
    int file; /* index into meta->files, HY_RFILE_SET or HY_RFILE_DEFAULT */
    int line; /* 1-based; 0 when unknown */
} hy_rorigin;

struct hy_recipe_meta {
    int nkeys;
    hy_rorigin *origin;                /* [nkeys] */
    char *files[HY_RECIPE_MAX_FILES];  /* names as the user gave them */
    int nfiles;
};

/* Schema lookups. */
int hy_rschema_count(void);
int hy_rschema_find(const char *key);         /* index or −1 */
int hy_rschema_is_section(const char *name);  /* "train", "dpo.reference" */

/* Result of a typed setter: 0 ok, 1 user error (message in err), −1 out of
 * memory (recorded with hy_errorf). */
int hy_rschema_set_scalar(hy_recipe *r, int idx, const char *text, int quoted, const char *base_dir, char *err, size_t n);
int hy_rschema_set_mask(hy_recipe *r, int idx, unsigned mask);
/* Parse one ENUMLIST element; returns its index or −1 with err filled. */
int hy_rschema_choice(int idx, const char *text, char *err, size_t n);
/* Replace a DATASETS key's list (takes ownership of `list`). */
void hy_rschema_set_datasets(hy_recipe *r, int idx, hy_recipe_datasets *list);
int hy_rschema_reset(hy_recipe *r, int idx); /* back to the default */
void hy_rdatasets_free(hy_recipe_datasets *d);

/* Bookkeeping. */
void hy_recipe_mark(hy_recipe *r, int idx, int file, int line);
int hy_recipe_add_file(hy_recipe *r, const char *name); /* index, or −1 on OOM */
/* "file:line" / "file" / "--set" / "default" for key `idx`. */
void hy_recipe_origin_str(const hy_recipe *r, int idx, char *out, size_t n);
/* Finalize; `require_model` = 0 lets pipeline stages inherit the model;
 * `default_ckpt_dir` (may be NULL) replaces the runs/<stem> default. */
hy_status hy_recipe_finalize_opts(hy_recipe *r, int require_model, const char *default_ckpt_dir);

/* Helpers. */
char *hy_rstrdup(const char *s);  /* hy_malloc'd copy (free with hy_free); NULL on OOM */
/* Absolute, normalised form of `path` relative to the absolute `base_dir`
 * ("~/" expands $HOME; "" stays ""). */
int hy_rpath_resolve(const char *base_dir, const char *path, char **out);
/* Absolute directory of `file` (realpath of its parent) into out. */
hy_status hy_rpath_dir_of(const char *file, char *out, size_t n);
hy_status hy_rpath_cwd(char *out, size_t n);
int hy_levenshtein(const char *a, const char *b);
/* Closest valid key for an unknown `full` key ("train.lerning_rate"), or
 * NULL; *alias set when the match is another tool's name for the key. */
const char *hy_rsuggest_key(const char *full, int *alias);
/* Closest of the '|'-separated `choices` to `text` into out ("" if none close). */
void hy_rsuggest_choice(const char *choices, const char *text, char *out, size_t n);
/* Comma-separated list of the keys directly inside `section`. */
void hy_rsection_keys(const char *section, char *out, size_t n);

#endif
