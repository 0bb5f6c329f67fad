/* cmd_dpo.c — `hymba dpo RECIPE.yaml [--set key=value]...`: preference
 * optimisation (dpo/dpo.h) through the shared training loop. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "dpo/dpo.h"

static int hy_dpo_usage(FILE *f) {
    fprintf(f, "usage: hymba dpo RECIPE.yaml [--set key=value]...\n\n"
               "Direct preference optimisation as the recipe says (keys: recipes/README.md, section dpo):\n"
               "loss sigmoid|ipo|hinge|robust with dpo.beta, label smoothing, an optional SFT term on the\n"
               "chosen reply (dpo.sft_weight) and length-normalised log-probs.  The reference model is\n"
               "dpo.reference.model (default: model.path); its log-probs are precomputed once and cached\n"
               "beside the token store (dpo.reference.mode: precompute), or computed live by a frozen copy.\n"
               "Checkpoints go to checkpoint.dir; the same command resumes an interrupted run.\n"
               "SIGINT/SIGTERM finish the current step, save and exit 0.\n"
               "  --set key=value   override a recipe key, e.g. --set dpo.beta=0.05 --set train.max_steps=100\n");
    return f == stdout ? 0 : 2;
}

int hy_cmd_dpo(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_dpo_usage(stdout);
    hy_recipe r;
    int rc = hy_cli_load_recipe(argc, argv, "dpo", &r, HY_STAGE_DPO);
    if (rc) return rc == 2 ? hy_dpo_usage(stderr) : rc;
    hy_dpo d;
    hy_objective obj;
    hy_status st = hy_dpo_init(&d, &obj, &r);
    if (!st) st = hy_train_run(&r, &obj, NULL);
    hy_dpo_free(&d);
    hy_recipe_free(&r);
    if (st == HY_ERR_INTERRUPTED) {
        fprintf(stderr, "hymba dpo: %s\n", hy_last_error());
        return 0;
    }
    return st ? hy_cli_fail("dpo") : 0;
}
