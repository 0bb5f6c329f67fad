/* cmd_run.c — `hymba run PIPELINE.yaml [--set key=value]...`: the stages of a
 * pipeline (core/recipe.h) in order, e.g. SFT-1 → SFT-2 → DPO.
 *
 * Chaining: a stage without model.path starts from the previous stage's
 * final checkpoint; a DPO stage without dpo.reference.model uses its starting
 * model as the reference (dpo/dpo.c), i.e. the SFT-2 result.
 * Restarting: after a stage succeeds, DONE.json (format "hymba-stage-done")
 * is written atomically into its checkpoint directory naming the final
 * checkpoint; a rerun skips every stage whose DONE.json names an existing
 * checkpoint.  A stage stopped by SIGINT/SIGTERM (or a crash) has no
 * DONE.json; the rerun resumes it from its newest checkpoint (the trainer's
 * checkpoint.resume: auto), so a stopped-and-rerun pipeline ends with the
 * same weights as an uninterrupted one.  Delete a stage's DONE.json (or its
 * directory) to run it again. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "dpo/dpo.h"
#include "sft/sft.h"

#define HY_DONE_FILE "DONE.json"
enum { HY_RUN_MAX_SETS = 64 };

static int hy_run_usage(FILE *f) {
    fprintf(f, "usage: hymba run PIPELINE.yaml [--set key=value]...\n\n"
               "Runs the pipeline's stages in order (format: recipes/README.md, Pipelines).  Each stage's\n"
               "checkpoints go to <output_dir>/<stage>; a finished stage is skipped on a rerun, and a\n"
               "stopped one resumes where it stopped.  SIGINT/SIGTERM finish the current step, save and exit 0.\n"
               "  --set key=value         override a key in every stage (e.g. --set train.seed=3)\n"
               "  --set STAGE.key=value   override a key in one stage (e.g. --set sft2.train.lr=1e-5)\n");
    return f == stdout ? 0 : 2;
}

/* DONE.json of a finished stage: the final checkpoint, if it still exists. */
static int hy_run_stage_done(const hy_recipe *r, char *final_dir, size_t n) {
    char path[HY_PATH_MAX], cfg[HY_PATH_MAX];
    if (hy_fs_join(path, sizeof path, r->checkpoint.dir, HY_DONE_FILE) || !hy_fs_exists(path)) return 0;
    hy_json *j;
    if (hy_json_load_file(&j, path)) {
        fprintf(stderr, "hymba run: warning: ignoring unreadable %s: %s\n", path, hy_last_error());
        return 0;
    }
    const char *fmt = hy_json_str(hy_json_get(j, "format")), *fin = hy_json_str(hy_json_get(j, "final_checkpoint"));
    int ok = fmt && !strcmp(fmt, "hymba-stage-done") && fin && !hy_fs_join(cfg, sizeof cfg, fin, "config.json") && hy_fs_exists(cfg);
    if (ok) snprintf(final_dir, n, "%s", fin);
    else fprintf(stderr, "hymba run: warning: %s names no existing checkpoint; running the stage again\n", path);
    hy_json_free(j);
    return ok;
}

static hy_status hy_run_mark_done(const hy_pipeline *p, const hy_pipeline_stage *s, const char *final_dir) {
    char path[HY_PATH_MAX];
    HY_TRY(hy_fs_join(path, sizeof path, s->recipe.checkpoint.dir, HY_DONE_FILE));
    hy_json *j = hy_json_object();
    if (!j) return hy_errorf(HY_ERR_OOM, "out of memory");
    hy_status st = hy_json_set(j, "format", hy_json_string("hymba-stage-done"));
    if (!st) st = hy_json_set(j, "version", hy_json_integer(1));
    if (!st) st = hy_json_set(j, "pipeline", hy_json_string(p->name));
    if (!st) st = hy_json_set(j, "stage", hy_json_string(s->name));
    if (!st) st = hy_json_set(j, "kind", hy_json_string(s->kind == HY_STAGE_DPO ? "dpo" : "sft"));
    if (!st) st = hy_json_set(j, "model", hy_json_string(s->recipe.model.path));
    if (!st) st = hy_json_set(j, "final_checkpoint", hy_json_string(final_dir));
    char *text = st ? NULL : hy_json_dump(j, HY_JSON_INDENT);
    if (!st && !text) st = hy_errorf(HY_ERR_OOM, "out of memory");
    if (!st) st = hy_fs_write_atomic(path, text, strlen(text));
    free(text);
    hy_json_free(j);
    return st;
}

/* model.path = the previous stage's result (a YAML single-quoted scalar). */
static hy_status hy_run_chain_model(hy_recipe *r, const char *prev) {
    char set[2 * HY_PATH_MAX + 16];
    size_t o = (size_t)snprintf(set, sizeof set, "model.path='");
    for (const char *c = prev; *c && o + 4 < sizeof set; c++) {
        if (*c == '\'') set[o++] = '\'';
        set[o++] = *c;
    }
    snprintf(set + o, sizeof set - o, "'");
    HY_TRY(hy_recipe_set(r, set));
    return hy_recipe_finalize(r);
}

/* Train one stage; *final_dir (malloc'd) receives its last checkpoint. */
static hy_status hy_run_train(hy_pipeline_stage *s, char **final_dir) {
    hy_objective obj;
    hy_status st;
    if (s->kind == HY_STAGE_DPO) {
        hy_dpo d;
        st = hy_dpo_init(&d, &obj, &s->recipe);
        if (!st) st = hy_train_run(&s->recipe, &obj, final_dir);
        hy_dpo_free(&d);
    } else {
        hy_sft f;
        st = hy_sft_init(&f, &obj, (int)s->recipe.data.tokens_per_micro_batch);
        if (!st) st = hy_train_run(&s->recipe, &obj, final_dir);
        hy_sft_free(&f);
    }
    return st;
}

/* Run (or skip) stage i; `prev` holds the previous final checkpoint and
 * receives this stage's. */
static hy_status hy_run_stage(hy_pipeline *p, int i, char *prev, size_t n) {
    hy_pipeline_stage *s = &p->stages[i];
    hy_recipe *r = &s->recipe;
    const char *kind = s->kind == HY_STAGE_DPO ? "dpo" : "sft";
    fprintf(stderr, "\n==> hymba run %s: stage %d/%d '%s' (%s)\n", p->name, i + 1, p->count, s->name, kind);
    char done[HY_PATH_MAX];
    if (hy_run_stage_done(r, done, sizeof done)) {
        fprintf(stderr, "    finished earlier: skipped (final checkpoint %s)\n", done);
        snprintf(prev, n, "%s", done);
        return HY_OK;
    }
    if (s->model_from_previous) HY_TRY(hy_run_chain_model(r, prev));
    HY_TRY(hy_recipe_check_files(r));
    fprintf(stderr, "    model %s\n    checkpoints %s\n", r->model.path, r->checkpoint.dir);
    if (s->kind == HY_STAGE_DPO)
        fprintf(stderr, "    reference %s (%s)\n", *r->dpo.reference.model ? r->dpo.reference.model : r->model.path,
                r->dpo.reference.mode == HY_DPO_REF_LIVE ? "live" : "precomputed");
    char *final_dir = NULL;
    HY_TRY(hy_run_train(s, &final_dir));
    hy_status st = hy_run_mark_done(p, s, final_dir);
    snprintf(prev, n, "%s", final_dir);
    free(final_dir);
    return st;
}

static int hy_run_args(int argc, char **argv, const char **path, const char **sets, int *n_sets) {
    *path = NULL;
    *n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--set")) {
            if (i + 1 >= argc) { fprintf(stderr, "hymba run: --set needs key=value\n"); return 2; }
            v = argv[++i];
        } else if (!strncmp(argv[i], "--set=", 6)) v = argv[i] + 6;
        else if (argv[i][0] == '-' || *path) {
            fprintf(stderr, "hymba run: unexpected argument '%s'\n", argv[i]);
            return 2;
        } else *path = argv[i];
        if (v) {
            if (*n_sets == HY_RUN_MAX_SETS) { fprintf(stderr, "hymba run: more than %d --set\n", HY_RUN_MAX_SETS); return 2; }
            sets[(*n_sets)++] = v;
        }
    }
    if (!*path) { fprintf(stderr, "hymba run: a pipeline file is required\n"); return 2; }
    return 0;
}

int hy_cmd_run(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_run_usage(stdout);
    const char *path, *sets[HY_RUN_MAX_SETS];
    int n_sets;
    if (hy_run_args(argc, argv, &path, sets, &n_sets)) return hy_run_usage(stderr);
    if (!hy_recipe_file_is_pipeline(path) && hy_fs_exists(path)) {
        fprintf(stderr, "hymba run: %s is a single recipe (no `stages`); run it with `hymba sft` or `hymba dpo`\n", path);
        return 2;
    }
    hy_pipeline p;
    if (hy_pipeline_load(&p, path, n_sets, sets)) return hy_cli_fail("run");
    hy_status st = hy_fs_mkdir_p(p.output_dir);
    char prev[HY_PATH_MAX] = "";
    int i = 0;
    for (; i < p.count && !st; i++) {
        st = hy_run_stage(&p, i, prev, sizeof prev);
        if (st && st != HY_ERR_INTERRUPTED) hy_error_context("stage '%s'", p.stages[i].name);
    }
    int rc = 0;
    if (st == HY_ERR_INTERRUPTED) {
        fprintf(stderr, "hymba run: %s\nhymba run: pipeline %s stopped in stage '%s'; run the same command again to continue\n",
                hy_last_error(), p.name, p.stages[i - 1].name);
    } else if (st) rc = hy_cli_fail("run");
    else fprintf(stderr, "\nhymba run: pipeline %s done; final model %s\n", p.name, prev);
    hy_pipeline_free(&p);
    return rc;
}
