/* main.c — the `hymba` entry point: dispatches to subcommands (cli/commands.h).
 * The only place in the toolkit that exits the process. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/fsutil.h"
#include "core/hy_base.h"

static int hy_cmd_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("hymba 0.1.0\n");
    return 0;
}

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} hy_command;

static const hy_command hy_commands[] = {
    /* training */
    {"sft", hy_cmd_sft, "supervised fine-tuning from a YAML recipe"},
    {"dpo", hy_cmd_dpo, "preference optimisation (DPO, IPO, hinge, robust) from a YAML recipe"},
    {"run", hy_cmd_run, "run a pipeline of stages (SFT-1 -> SFT-2 -> DPO), resuming where it stopped"},
    {"launch", hy_cmd_launch, "start N local ranks of a multi-GPU job (hymba launch -n N -- hymba sft ...)"},
    {"bench", hy_cmd_bench, "training throughput of a random-init model: tokens/s, MFU, memory, per-op profile"},
    /* data */
    {"data", hy_cmd_data, "prepare, inspect, render datasets; token store stats"},
    {"tokenize", hy_cmd_tokenize, "print the token ids of JSON-string lines (stdin)"},
    /* models */
    {"init", hy_cmd_init, "write a randomly initialised checkpoint from a config.json"},
    {"info", hy_cmd_info, "show a checkpoint's config, layer roles and parameters"},
    {"export", hy_cmd_export, "write a checkpoint as a Hugging Face model directory for inference"},
    {"generate", hy_cmd_generate, "generate a reply to a prompt (streamed, with tokens/s)"},
    {"chat", hy_cmd_chat, "interactive chat with a checkpoint"},
    {"dump", hy_cmd_dump, "forward + backward on a batch: logits, loss and every gradient"},
    {"version", hy_cmd_version, "print the version"},
};

static void hy_usage(FILE *f) {
    fprintf(f,
            "hymba %s — instruction fine-tuning and preference alignment of Hymba models\n\n"
            "usage: hymba <command> [options]      (hymba <command> --help for details)\n\ncommands:\n",
            "0.1.0");
    for (size_t i = 0; i < HY_ARRAY_LEN(hy_commands); i++) fprintf(f, "  %-10s %s\n", hy_commands[i].name, hy_commands[i].help);
}

int hy_cli_fail(const char *what) {
    fprintf(stderr, "hymba: error: %s%s%s\n", what ? what : "", what && *what ? ": " : "", hy_last_error());
    return 1;
}

int hy_cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

hy_status hy_cli_load_config(const char *path, hy_config *c, char *used, size_t n) {
    char p[HY_PATH_MAX];
    if (hy_fs_is_dir(path)) HY_TRY(hy_fs_join(p, sizeof p, path, "config.json"));
    else snprintf(p, sizeof p, "%s", path);
    if (used) snprintf(used, n, "%s", p);
    return hy_config_load(c, p);
}

int main(int argc, char **argv) {
    if (argc < 2) { hy_usage(stderr); return 2; }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) { hy_usage(stdout); return 0; }
    if (!strcmp(argv[1], "--version")) { printf("hymba 0.1.0\n"); return 0; }
    for (size_t i = 0; i < HY_ARRAY_LEN(hy_commands); i++)
        if (!strcmp(argv[1], hy_commands[i].name)) return hy_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hymba: unknown command '%s'\n", argv[1]);
    hy_usage(stderr);
    return 2;
}
