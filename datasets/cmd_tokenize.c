/* cmd_tokenize.c — `hymba tokenize --model DIR [--bos]`: each stdin line is a
 * JSON string; prints its token ids space-separated, one output line per input
 * line (an empty line for an empty string).  For comparing the tokenizer with
 * other stacks (e.g. `tokenizer(text, add_special_tokens=False).input_ids`).
 * A line that is not a JSON string stops with "stdin:LINE: ..." and exit 1. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/json.h"
#include "datasets/tokenizer.h"

static void tokenize_usage(FILE *f) {
    fprintf(f, "usage: hymba tokenize --model DIR [--bos]\n\n"
               "Reads one JSON string per line on stdin (e.g. \"Hello\\nworld\") and prints its token ids,\n"
               "space-separated, one line per input line, as the checkpoint's Hugging Face tokenizer gives\n"
               "them with add_special_tokens=False.\n\n"
               "  --model DIR   checkpoint directory holding tokenizer.json (+ tokenizer_config.json)\n"
               "  --bos         prepend the BOS id (what tokenizer(text) adds by default)\n");
}

/* Encode one line (a JSON string) and print its ids. */
static hy_status tokenize_line(const hy_tokenizer *tok, const char *line, size_t len, long lineno, int bos, hy_tokens *ids) {
    hy_json *j = NULL;
    char origin[64];
    snprintf(origin, sizeof origin, "stdin:%ld", lineno);
    HY_TRY(hy_json_parse(&j, line, len, origin));
    if (hy_json_typeof(j) != HY_JSON_STRING) {
        hy_status st = hy_errorf(HY_ERR_DATA, "stdin:%ld: expected a JSON string (e.g. \"Hello world\"), got %s", lineno, hy_json_describe(j));
        hy_json_free(j);
        return st;
    }
    hy_tokens_clear(ids);
    hy_status st = hy_tok_encode(tok, hy_json_str(j), hy_json_len(j), ids);
    hy_json_free(j);
    if (st != HY_OK) {
        hy_error_context("stdin:%ld", lineno);
        return st;
    }
    if (bos) printf("%d%s", hy_tok_bos(tok), ids->n ? " " : "");
    for (size_t i = 0; i < ids->n; i++) printf(i ? " %d" : "%d", ids->ids[i]);
    putchar('\n');
    return HY_OK;
}

int hy_cmd_tokenize(int argc, char **argv) {
    const char *model = NULL;
    int bos = 0;
    if (hy_cli_wants_help(argc, argv)) { tokenize_usage(stdout); return 0; }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--bos")) bos = 1;
        else {
            fprintf(stderr, "hymba tokenize: unknown or incomplete option '%s'\n", argv[i]);
            tokenize_usage(stderr);
            return 2;
        }
    }
    if (!model) { fprintf(stderr, "hymba tokenize: --model DIR is required\n"); tokenize_usage(stderr); return 2; }
    hy_tokenizer *tok;
    if (hy_tok_load(&tok, model) != HY_OK) return hy_cli_fail("loading the tokenizer");
    hy_tokens ids = {0};
    char *line = NULL;
    size_t cap = 0;
    long lineno = 0;
    ssize_t n;
    hy_status st = HY_OK;
    while (st == HY_OK && (n = getline(&line, &cap, stdin)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
        st = tokenize_line(tok, line, (size_t)n, lineno, bos, &ids);
    }
    if (st == HY_OK && ferror(stdin)) st = hy_errorf(HY_ERR_IO, "stdin: read error after line %ld", lineno);
    free(line);
    hy_tokens_free(&ids);
    hy_tok_free(tok);
    if (fflush(stdout) != 0 && st == HY_OK) st = hy_errorf(HY_ERR_IO, "stdout: write failed");
    return st == HY_OK ? 0 : hy_cli_fail("tokenize");
}
