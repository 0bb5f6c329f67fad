/* cmd_generate.c — `hymba generate` (one reply to one prompt) and `hymba chat`
 * (an interactive conversation), both on core/decode (prefill, then one token
 * per step with the state cache) and core/sample (greedy / temperature /
 * top-k / top-p with a seed, stop strings, streaming).
 *
 * Prompts: by default the text is one user turn (after an optional system
 * message) rendered with the checkpoint's chat template and the generation
 * prompt "<extra_id_1>Assistant\n", tokenized without BOS (spec §13.2, §13.5);
 * --raw feeds the text as is, BOS first.  Generation stops on EOS, on a --stop
 * string, when the text ends with "<extra_id_1>" (the next turn's header), at
 * --max-new-tokens, or when the context is full.  The text is streamed to
 * stdout as it is produced (bytes are held back while they may be an
 * incomplete UTF-8 character or the start of a stop string); the statistics
 * go to stderr.
 *
 * Chat keeps the history and re-renders the whole conversation every turn.
 * The cache is reused when the tokens already in it are a prefix of the new
 * prompt (the usual case: the previous prompt and reply are re-rendered
 * identically, because every turn ends at a newline, which is always a token
 * boundary); otherwise it is reset to the meta prefix and the prompt is
 * prefilled again.  The final EOS or the last token of a stop string is never
 * fed, so the cache stays a prefix of the next rendering. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/decode.h"
#include "core/model.h"
#include "core/sample.h"
#include "datasets/chat.h"
#include "datasets/tokenizer.h"
#include "kernels/backend.h"
#include "core/timer.h"

enum { HY_GEN_MAX_STOPS = 16 };

typedef struct {
    const char *model, *prompt, *system, *device, *precision;
    const char *stops[HY_GEN_MAX_STOPS + 1];
    int n_stops;
    int max_new, max_ctx, chunk, raw, bos, official_window;
    hy_sample_opts so;
} hy_gen_args;

/* Everything a generation session holds. */
typedef struct {
    hy_ops *ops;
    hy_model *m;
    hy_decode *d;
    hy_tokenizer *tok;
    hy_chat_template *tpl;
    hy_sampler smp;
    float *logits;    /* [V] logits of the next position */
    int have_logits;  /* logits belong to the cache's current end */
    int32_t *gen;     /* [max_new] tokens of the current reply */
    int eos;
    int chat;         /* interactive session (hints mention /reset) */
} hy_gen;

typedef struct {
    int prompt, fed, generated;
    double t_prefill, t_decode;
    const char *why;
} hy_gen_stats;


static int hy_gen_usage(FILE *f, int chat) {
    if (chat)
        fprintf(f, "usage: hymba chat --model DIR [--system TEXT] [options]\n\n"
                   "Interactive conversation: type a message and press enter; /reset clears the history, /quit (or EOF) exits.\n");
    else
        fprintf(f, "usage: hymba generate --model DIR --prompt TEXT [options]\n\n"
                   "Generates a reply to one prompt, streaming it to stdout; token counts and tokens/s go to stderr.\n");
    fprintf(f, "  --model DIR            checkpoint directory (config.json, safetensors, tokenizer files)\n"
               "%s"
               "  --system TEXT          system message (chat template)\n"
               "%s"
               "  --bos / --no-bos       prepend BOS or not (default: no for chat turns, yes for --raw)\n"
               "  --max-new-tokens N     reply length limit (default 256)\n"
               "  --temperature T        0 = greedy (default 1 with a seed or top-k/top-p, else greedy)\n"
               "  --top-k K              sample among the K most likely tokens (0 = all)\n"
               "  --top-p P              nucleus sampling: smallest set with probability mass >= P (default 1)\n"
               "  --seed S               sampling seed (default 0); the same seed gives the same text\n"
               "  --stop STR             stop when the text contains STR (repeatable, up to %d); \"<extra_id_1>\" always stops\n"
               "  --max-context N        tokens the cache holds (default: max_position_embeddings - meta tokens)\n"
               "  --chunk N              prefill rows per pass (default 64)\n"
               "  --official-window      generated tokens see W-1 previous positions (the official cached decode)\n"
               "  --device D             auto (default: CUDA when a GPU is visible), cpu, cuda or cuda:N\n"
               "  --precision P          auto (default: bf16 on CUDA, fp32 on the CPU), bf16 or fp32\n",
            chat ? "" : "  --prompt TEXT          the user message (or the raw text with --raw)\n",
            chat ? "" : "  --raw                  feed the prompt as plain text (BOS first) instead of a chat turn\n"
                        "  --chat                 render the prompt as a chat turn (the default)\n",
            HY_GEN_MAX_STOPS);
    return f == stdout ? 0 : 2;
}

static int hy_gen_int(const char *cmd, const char *opt, const char *v, long lo, long hi, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "hymba %s: %s: expected an integer in [%ld, %ld], got '%s'\n", cmd, opt, lo, hi, v);
        return 2;
    }
    *out = (int)x;
    return 0;
}

static int hy_gen_float(const char *cmd, const char *opt, const char *v, float *out) {
    char *end;
    double x = strtod(v, &end);
    if (end == v || *end || !isfinite(x)) {
        fprintf(stderr, "hymba %s: %s: expected a number, got '%s'\n", cmd, opt, v);
        return 2;
    }
    *out = (float)x;
    return 0;
}

/* Options taking a value; 0 on success, 2 on a usage error. */
static int hy_gen_value(hy_gen_args *a, const char *cmd, const char *o, const char *v, int *sampling) {
    if (!strcmp(o, "--model")) a->model = v;
    else if (!strcmp(o, "--prompt") && strcmp(cmd, "chat")) a->prompt = v;
    else if (!strcmp(o, "--system")) a->system = v;
    else if (!strcmp(o, "--device")) a->device = v;
    else if (!strcmp(o, "--precision")) a->precision = v;
    else if (!strcmp(o, "--max-new-tokens")) return hy_gen_int(cmd, o, v, 1, 1 << 24, &a->max_new);
    else if (!strcmp(o, "--max-context")) return hy_gen_int(cmd, o, v, 1, 1 << 28, &a->max_ctx);
    else if (!strcmp(o, "--chunk")) return hy_gen_int(cmd, o, v, 1, 4096, &a->chunk);
    else if (!strcmp(o, "--top-k")) {
        *sampling = 1;
        return hy_gen_int(cmd, o, v, 0, 1 << 30, &a->so.top_k);
    } else if (!strcmp(o, "--top-p")) {
        *sampling = 1;
        return hy_gen_float(cmd, o, v, &a->so.top_p);
    } else if (!strcmp(o, "--temperature")) {
        *sampling = 1;
        return hy_gen_float(cmd, o, v, &a->so.temperature);
    } else if (!strcmp(o, "--seed")) {
        char *end;
        a->so.seed = strtoull(v, &end, 0);
        *sampling = 1;
        if (end == v || *end) {
            fprintf(stderr, "hymba %s: --seed: expected a non-negative integer, got '%s'\n", cmd, v);
            return 2;
        }
    } else if (!strcmp(o, "--stop")) {
        if (a->n_stops >= HY_GEN_MAX_STOPS || !*v) {
            fprintf(stderr, "hymba %s: --stop: %s\n", cmd, *v ? "too many stop strings" : "empty stop string");
            return 2;
        }
        a->stops[a->n_stops++] = v;
    } else {
        fprintf(stderr, "hymba %s: unknown option '%s'\n", cmd, o);
        return 2;
    }
    return 0;
}

static int hy_gen_parse(int argc, char **argv, const char *cmd, hy_gen_args *a) {
    memset(a, 0, sizeof *a);
    a->max_new = 256;
    a->bos = -1;
    a->so = hy_sample_opts_default();
    int sampling = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--raw") && strcmp(cmd, "chat")) a->raw = 1;
        else if (!strcmp(o, "--chat") && strcmp(cmd, "chat")) a->raw = 0;
        else if (!strcmp(o, "--bos")) a->bos = 1;
        else if (!strcmp(o, "--no-bos")) a->bos = 0;
        else if (!strcmp(o, "--official-window")) a->official_window = 1;
        else if (i + 1 >= argc) {
            fprintf(stderr, "hymba %s: %s '%s'\n", cmd, strncmp(o, "--", 2) ? "unexpected argument" : "missing value after", o);
            return 2;
        } else if (hy_gen_value(a, cmd, o, argv[++i], &sampling)) {
            return 2;
        }
    }
    if (!a->model || (strcmp(cmd, "chat") && !a->prompt)) {
        fprintf(stderr, "hymba %s: --model%s required\n", cmd, strcmp(cmd, "chat") ? " and --prompt are" : " is");
        return 2;
    }
    if (!sampling) a->so.temperature = 0.0f; /* no sampling option at all: greedy */
    if (a->bos < 0) a->bos = a->raw;
    a->stops[a->n_stops++] = "<extra_id_1>";
    return 0;
}

static void hy_gen_close(hy_gen *g) {
    hy_sampler_free(&g->smp);
    free(g->logits);
    free(g->gen);
    hy_decode_free(g->d);
    hy_model_free(g->m);
    hy_chat_template_free(g->tpl);
    hy_tok_free(g->tok);
    hy_backend_destroy(g->ops);
    memset(g, 0, sizeof *g);
}

static hy_status hy_gen_open(hy_gen *g, const hy_gen_args *a, int need_template) {
    memset(g, 0, sizeof *g);
    HY_TRY(hy_tok_load(&g->tok, a->model));
    if (need_template) HY_TRY(hy_chat_template_load(&g->tpl, a->model));
    HY_TRY(hy_backend_create(&g->ops, a->device, a->precision));
    /* inference only: the model's own activation plan is never used by decoding */
    HY_TRY(hy_model_open(&g->m, a->model, g->ops, 1, 1, 0));
    const hy_config *c = hy_model_config(g->m);
    /* rewind slack = one reply: the next turn can return to the end of this prompt */
    hy_decode_opts o = {.max_ctx = a->max_ctx > 0 ? a->max_ctx : hy_imax(1, c->max_pos - c->num_meta), .chunk = a->chunk,
                        .official_window = a->official_window, .rewind = a->max_new};
    HY_TRY(hy_decode_create(&g->d, g->m, &o));
    HY_TRY(hy_sampler_init(&g->smp, &a->so, c->vocab_size));
    g->logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    g->gen = malloc(sizeof(int32_t) * (size_t)a->max_new);
    if (!g->logits || !g->gen) return hy_errorf(HY_ERR_OOM, "out of memory for the logits");
    g->eos = hy_tok_eos(g->tok) >= 0 ? hy_tok_eos(g->tok) : c->eos_token_id;
    return HY_OK;
}

/* 1 when the first k cached tokens are the first k of prompt [n] and k < n. */
static int hy_gen_is_prefix(const hy_gen *g, int k, const int32_t *prompt, int n) {
    return k >= 0 && k < n && k <= hy_decode_len(g->d) && !memcmp(hy_decode_tokens(g->d), prompt, sizeof(int32_t) * (size_t)k);
}

/* Bring the cache to `prompt` [n], feeding as little as possible: only the new
 * tail when the whole cache is a prefix of the prompt; else from the mark (the
 * end of the previous prompt) when that is a prefix (a reply whose tokens are
 * not re-tokenized identically); else everything after a reset.  Then mark. */
static hy_status hy_gen_prefill(hy_gen *g, const int32_t *prompt, int n, hy_gen_stats *st) {
    if (n > hy_decode_max_ctx(g->d))
        return hy_errorf(HY_ERR_ARG, "the prompt has %d tokens but the context holds %d; hint: --max-context%s", n, hy_decode_max_ctx(g->d),
                         g->chat ? " or /reset" : "");
    int have = hy_decode_len(g->d), mark = hy_decode_mark_len(g->d);
    if (!(g->have_logits && hy_gen_is_prefix(g, have, prompt, n))) {
        if (hy_gen_is_prefix(g, mark, prompt, n) && hy_decode_rewind(g->d) == HY_OK) {
            have = mark;
        } else {
            HY_TRY(hy_decode_reset(g->d));
            have = 0;
        }
    }
    double t0 = hy_now_s();
    g->have_logits = 0;
    HY_TRY(hy_decode_prefill(g->d, prompt + have, n - have, g->logits, 0));
    HY_TRY(hy_decode_mark(g->d));
    g->have_logits = 1;
    st->prompt = n;
    st->fed = n - have;
    st->t_prefill = hy_now_s() - t0;
    return HY_OK;
}

/* Write text[0, n) to stdout. */
static hy_status hy_gen_emit(const char *text, size_t n) {
    if (n && (fwrite(text, 1, n, stdout) != n || fflush(stdout) != 0)) return hy_errorf(HY_ERR_IO, "stdout: write failed");
    return HY_OK;
}

/* Sample, stream and feed tokens until a stop condition; *reply (malloc'd) gets the text. */
static hy_status hy_gen_loop(hy_gen *g, const hy_gen_args *a, hy_gen_stats *st, char **reply) {
    hy_stop_stream ss;
    hy_stop_stream_init(&ss, a->stops, a->n_stops);
    char *text = NULL;
    size_t len = 0;
    hy_status s = HY_OK;
    double t0 = hy_now_s();
    st->why = "max-new-tokens";
    int n = 0;
    while (n < a->max_new) {
        int32_t tok;
        HY_CHECK_GOTO(s, hy_sampler_next(&g->smp, g->logits, &tok), done);
        if (tok == g->eos) { st->why = "eos"; break; }
        g->gen[n++] = tok;
        free(text);
        text = NULL;
        HY_CHECK_GOTO(s, hy_tok_decode(g->tok, g->gen, (size_t)n, 1, &text, &len), done);
        size_t k = hy_stop_stream_update(&ss, text, len, 0);
        HY_CHECK_GOTO(s, hy_gen_emit(text + ss.emitted - k, k), done);
        if (ss.stopped) { st->why = "stop string"; break; }
        if (n == a->max_new) break;
        if (hy_decode_len(g->d) >= hy_decode_max_ctx(g->d)) { st->why = "context full"; break; }
        g->have_logits = 0;
        HY_CHECK_GOTO(s, hy_decode_step(g->d, tok, g->logits), done);
        g->have_logits = 1;
    }
    if (text) {
        size_t k = hy_stop_stream_update(&ss, text, len, 1);
        HY_CHECK_GOTO(s, hy_gen_emit(text + ss.emitted - k, k), done);
        if (ss.stopped) text[ss.end] = 0;
    }
    /* The last sampled token is not fed: the logits still belong to the cache's
     * end, which is one token before the reply's end (a prefix of the next turn). */
done:
    st->generated = n;
    st->t_decode = hy_now_s() - t0;
    if (s == HY_OK) *reply = text ? text : strdup("");
    else free(text);
    if (s == HY_OK && !*reply) s = hy_errorf(HY_ERR_OOM, "out of memory");
    return s;
}

static void hy_gen_report(const char *cmd, const hy_gen_stats *st) {
    double pf = st->t_prefill > 0 ? st->fed / st->t_prefill : 0, dc = st->t_decode > 0 ? st->generated / st->t_decode : 0;
    fprintf(stderr, "hymba %s: prompt %d tokens (%d prefilled in %.3f s, %.1f tok/s); generated %d tokens in %.3f s (%.1f tok/s); stop: %s\n",
            cmd, st->prompt, st->fed, st->t_prefill, pf, st->generated, st->t_decode, dc, st->why);
}

/* Prompt tokens of a conversation (chat template + generation prompt) or of raw text. */
static hy_status hy_gen_encode(hy_gen *g, const hy_gen_args *a, const hy_chat_msg *msgs, int n_msgs, const char *raw, hy_tokens *out) {
    hy_tokens_clear(out);
    if (raw) {
        if (a->bos) HY_TRY(hy_tokens_push(out, hy_tok_bos(g->tok), 0, 0));
        return hy_tok_encode(g->tok, raw, strlen(raw), out);
    }
    hy_chat chat = {.msgs = msgs, .n = n_msgs, .tools = NULL};
    return hy_chat_encode_prompt(g->tpl, g->tok, &chat, a->bos, out);
}

static hy_status hy_gen_generate(const hy_gen_args *a) {
    hy_gen g;
    hy_tokens ids = {0};
    char *reply = NULL;
    hy_gen_stats st = {0};
    hy_chat_msg msgs[2];
    int n = 0;
    if (a->system) msgs[n++] = (hy_chat_msg){HY_ROLE_SYSTEM, a->system, strlen(a->system)};
    msgs[n++] = (hy_chat_msg){HY_ROLE_USER, a->prompt, strlen(a->prompt)};
    hy_status s = hy_gen_open(&g, a, !a->raw);
    if (!s) s = hy_gen_encode(&g, a, msgs, n, a->raw ? a->prompt : NULL, &ids);
    if (!s && ids.n == 0) s = hy_errorf(HY_ERR_ARG, "the prompt is empty");
    if (!s) s = hy_gen_prefill(&g, ids.ids, (int)ids.n, &st);
    if (!s) s = hy_gen_loop(&g, a, &st, &reply);
    if (!s) s = hy_gen_emit("\n", 1);
    if (!s) hy_gen_report("generate", &st);
    free(reply);
    hy_tokens_free(&ids);
    hy_gen_close(&g);
    return s;
}

int hy_cmd_generate(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_gen_usage(stdout, 0);
    hy_gen_args a;
    if (hy_gen_parse(argc, argv, "generate", &a)) return hy_gen_usage(stderr, 0);
    return hy_gen_generate(&a) == HY_OK ? 0 : hy_cli_fail("generate");
}

/* ---- chat ---- */

typedef struct {
    hy_chat_msg *msgs;
    char **owned; /* [n] copies of the contents */
    int n, cap;
} hy_history;

static hy_status hy_history_push(hy_history *h, hy_role role, const char *text, size_t len) {
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 16;
        hy_chat_msg *m = realloc(h->msgs, sizeof *m * (size_t)cap);
        if (m) h->msgs = m;
        char **o = m ? realloc(h->owned, sizeof *o * (size_t)cap) : NULL;
        if (!m || !o) return hy_errorf(HY_ERR_OOM, "out of memory for the chat history");
        h->owned = o;
        h->cap = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return hy_errorf(HY_ERR_OOM, "out of memory for the chat history");
    memcpy(copy, text, len);
    copy[len] = 0;
    h->owned[h->n] = copy;
    h->msgs[h->n++] = (hy_chat_msg){role, copy, len};
    return HY_OK;
}

static void hy_history_truncate(hy_history *h, int n) {
    while (h->n > n) free(h->owned[--h->n]);
}

/* One user turn: render, prefill (reusing the cache), generate, record the reply. */
static hy_status hy_chat_turn(hy_gen *g, const hy_gen_args *a, hy_history *h, const char *line, size_t len, hy_tokens *ids) {
    int keep = h->n;
    hy_gen_stats st = {0};
    char *reply = NULL;
    hy_status s = hy_history_push(h, HY_ROLE_USER, line, len);
    if (!s) s = hy_gen_encode(g, a, h->msgs, h->n, NULL, ids);
    if (!s) s = hy_gen_prefill(g, ids->ids, (int)ids->n, &st);
    if (!s) s = hy_gen_loop(g, a, &st, &reply);
    if (!s) s = hy_gen_emit("\n", 1);
    if (!s) {
        size_t b, e;
        hy_chat_py_strip(reply, strlen(reply), &b, &e);
        s = hy_history_push(h, HY_ROLE_ASSISTANT, reply + b, e - b);
    }
    if (!s) hy_gen_report("chat", &st);
    else hy_history_truncate(h, keep); /* a failed turn leaves no trace in the history */
    free(reply);
    return s;
}

static hy_status hy_chat_repl(const hy_gen_args *a) {
    hy_gen g;
    hy_history h = {0};
    hy_tokens ids = {0};
    char *line = NULL;
    size_t cap = 0;
    int tty = isatty(STDIN_FILENO);
    hy_status s = hy_gen_open(&g, a, 1);
    g.chat = 1;
    if (!s && a->system) s = hy_history_push(&h, HY_ROLE_SYSTEM, a->system, strlen(a->system));
    int base = h.n;
    if (!s && tty) fprintf(stderr, "hymba chat: /reset clears the conversation, /quit exits\n");
    while (s == HY_OK) {
        if (tty) fprintf(stderr, "> ");
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0) break; /* EOF */
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (n == 0) continue;
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit")) break;
        if (!strcmp(line, "/reset")) {
            hy_history_truncate(&h, base);
            fprintf(stderr, "hymba chat: conversation cleared\n");
            continue;
        }
        hy_status t = hy_chat_turn(&g, a, &h, line, (size_t)n, &ids);
        if (t == HY_ERR_ARG) { /* e.g. the context is full: report, keep the session */
            fprintf(stderr, "hymba chat: %s\n", hy_last_error());
            continue;
        }
        s = t;
    }
    if (s == HY_OK && ferror(stdin)) s = hy_errorf(HY_ERR_IO, "stdin: read error");
    free(line);
    hy_tokens_free(&ids);
    hy_history_truncate(&h, 0);
    free(h.msgs);
    free(h.owned);
    hy_gen_close(&g);
    return s;
}

int hy_cmd_chat(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_gen_usage(stdout, 1);
    hy_gen_args a;
    if (hy_gen_parse(argc, argv, "chat", &a)) return hy_gen_usage(stderr, 1);
    return hy_chat_repl(&a) == HY_OK ? 0 : hy_cli_fail("chat");
}
