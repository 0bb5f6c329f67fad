/* cmd_sft.c — `hymba sft RECIPE.yaml [--set key=value]...`. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "sft/sft.h"

static int hy_sft_usage(FILE *f) {
    fprintf(f, "usage: hymba sft RECIPE.yaml [--set key=value]...\n\n"
               "Supervised fine-tuning as the recipe says (keys: recipes/README.md).  Checkpoints go to\n"
               "checkpoint.dir; with checkpoint.resume: auto (the default) the same command continues an\n"
               "interrupted run.  SIGINT/SIGTERM finish the current step, save and exit 0.\n"
               "  --set key=value   override a recipe key, e.g. --set train.lr=1e-5 --set train.max_steps=100\n");
    return f == stdout ? 0 : 2;
}

/* Shared by sft and dpo: parse "RECIPE [--set k=v]..." into a loaded recipe. */
int hy_cli_load_recipe(int argc, char **argv, const char *cmd, hy_recipe *r, hy_stage_kind stage) {
    const char *path = NULL;
    const char *sets[64];
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--set")) {
            if (i + 1 >= argc || n_sets == 64) { fprintf(stderr, "hymba %s: --set needs key=value\n", cmd); return 2; }
            sets[n_sets++] = argv[++i];
        } else if (!strncmp(argv[i], "--set=", 6)) {
            if (n_sets < 64) sets[n_sets++] = argv[i] + 6;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "hymba %s: unexpected argument '%s'\n", cmd, argv[i]);
            return 2;
        } else path = argv[i];
    }
    if (!path) { fprintf(stderr, "hymba %s: a recipe file is required\n", cmd); return 2; }
    if (hy_recipe_load(r, path, n_sets, sets) != HY_OK) return hy_cli_fail("");
    if (hy_recipe_check_stage(r, stage) != HY_OK || hy_recipe_check_files(r) != HY_OK) {
        hy_recipe_free(r);
        return hy_cli_fail("");
    }
    return 0;
}

int hy_cmd_sft(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_sft_usage(stdout);
    hy_recipe r;
    int rc = hy_cli_load_recipe(argc, argv, "sft", &r, HY_STAGE_SFT);
    if (rc) return rc == 2 ? hy_sft_usage(stderr) : rc;
    hy_sft s;
    hy_objective obj;
    hy_status st = hy_sft_init(&s, &obj, (int)r.data.tokens_per_micro_batch);
    if (!st) st = hy_train_run(&r, &obj, NULL);
    hy_sft_free(&s);
    hy_recipe_free(&r);
    if (st == HY_ERR_INTERRUPTED) {
        fprintf(stderr, "hymba sft: %s\n", hy_last_error());
        return 0;
    }
    return st ? hy_cli_fail("sft") : 0;
}
