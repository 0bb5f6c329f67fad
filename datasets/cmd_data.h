/* cmd_data.h — shared pieces of the `hymba data` subcommands (cmd_data.c:
 * dispatch, prepare, stats; cmd_data_show.c: inspect, render).  Internal to
 * the CLI. */
#ifndef HY_CMD_DATA_H
#define HY_CMD_DATA_H
#include "datasets/chat.h"
#include "datasets/prepare.h"
#include "datasets/tokenizer.h"

/* Options common to the data subcommands. */
typedef struct {
    const char *model; /* --model DIR */
    const char *out;   /* --out STORE */
    const char *cache; /* --cache DIR */
    hy_prepare_opts prep;
    int force;          /* --force: prepare even when the store is up to date */
    int budget, meta;   /* --budget, --meta (packing) */
    uint64_t seed;      /* --seed */
    const char *weights; /* --weights w1,w2,... */
    int n;              /* -n N */
    int64_t start;      /* --start K */
    const char **files; /* positional arguments */
    int n_files;
} hy_data_args;

/* Parse argv[1..argc) of `hymba data <sub>`; 0 on success, 2 on a usage
 * error (message printed). */
int hy_data_parse_args(hy_data_args *a, int argc, char **argv, const char *sub);
void hy_data_args_free(hy_data_args *a);

/* The tokenizer + template of --model (or `fallback_dir` when --model is
 * absent and fallback_dir is non-empty). */
hy_status hy_data_load_model(const hy_data_args *a, const char *fallback_dir, hy_tokenizer **tok, hy_chat_template **t);

/* Is `path` a token store (by its magic)? */
int hy_data_is_store(const char *path);

int hy_cmd_data_inspect(hy_data_args *a);
int hy_cmd_data_render(hy_data_args *a);

#endif
