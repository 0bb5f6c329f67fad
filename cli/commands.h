/* commands.h — every `hymba` subcommand.  Each returns the process exit code
 * (0 success, 1 failure with the message printed, 2 usage error) and handles
 * its own --help.  Commands live next to their module (sft/, dpo/, datasets/,
 * cli/) and are listed once in the table in cli/main.c. */
#ifndef HY_COMMANDS_H
#define HY_COMMANDS_H
#include "core/recipe.h"


int hy_cmd_dump(int argc, char **argv);     /* cli/cmd_dump.c */
int hy_cmd_init(int argc, char **argv);     /* cli/cmd_init.c */
int hy_cmd_info(int argc, char **argv);     /* cli/cmd_info.c */
int hy_cmd_tokenize(int argc, char **argv); /* datasets/cmd_tokenize.c */
int hy_cmd_data(int argc, char **argv);     /* datasets/cmd_data.c */

int hy_cmd_sft(int argc, char **argv);      /* sft/cmd_sft.c */
int hy_cmd_dpo(int argc, char **argv);      /* dpo/cmd_dpo.c */
int hy_cmd_run(int argc, char **argv);      /* cli/cmd_run.c */
int hy_cmd_export(int argc, char **argv);   /* cli/cmd_export.c */
int hy_cmd_generate(int argc, char **argv); /* cli/cmd_generate.c */
int hy_cmd_chat(int argc, char **argv);     /* cli/cmd_generate.c */
int hy_cmd_launch(int argc, char **argv);   /* cli/cmd_launch.c */
int hy_cmd_bench(int argc, char **argv);    /* cli/cmd_bench.c */

/* Print "hymba: error: <message>" for a failed status; returns 1. */
int hy_cli_fail(const char *what);
/* True when argv contains -h or --help. */
int hy_cli_wants_help(int argc, char **argv);
/* Load a model config from a config.json file or a directory holding one;
 * `used` (may be NULL) receives the file's path. */
hy_status hy_cli_load_config(const char *path, hy_config *c, char *used, size_t n);
/* Parse "RECIPE [--set k=v]..." into a loaded recipe checked for `stage`
 * (sft/cmd_sft.c); returns 0, 1 (error printed) or 2 (usage error). */
int hy_cli_load_recipe(int argc, char **argv, const char *cmd, hy_recipe *r, hy_stage_kind stage);

#endif
