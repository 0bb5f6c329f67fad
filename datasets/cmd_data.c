/* cmd_data.c — `hymba data prepare|stats|inspect|render`: option parsing,
 * dispatch, prepare and stats (inspect and render: cmd_data_show.c).
 *
 *   prepare  tokenize JSONL files once into a token store (reused when every
 *            hash matches; --force rebuilds)
 *   stats    counts, length percentiles and histogram, supervised fraction,
 *            drops/truncations, packing efficiency for a budget (and the
 *            per-epoch counts of a weighted mixture with --weights)
 *   inspect  samples rendered with supervised tokens highlighted, and ids
 *   render   one JSON line per record: text, input_ids, labels (−100) */
#include "datasets/cmd_data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/alloc.h"
#include "datasets/loader.h"

static void data_usage(FILE *f) {
    fprintf(f,
            "usage: hymba data <prepare|stats|inspect|render> [options] FILE...\n\n"
            "  prepare --model DIR FILE...     tokenize JSONL (.jsonl / .jsonl.zst) once into a token store\n"
            "  stats STORE... | --model DIR FILE...\n"
            "                                  counts, length percentiles + histogram, supervised fraction,\n"
            "                                  drops/truncations, packing efficiency for --budget\n"
            "  inspect FILE [-n N]             samples with supervised tokens highlighted, and their ids\n"
            "                                  (FILE: a store, or JSONL with --model)\n"
            "  render FILE --model DIR         one JSON line per record: {\"text\", \"input_ids\", \"labels\"}\n"
            "                                  (preference: {\"chosen\": {...}, \"rejected\": {...}})\n\n"
            "options:\n"
            "  --model DIR          checkpoint directory with the tokenizer files and chat template\n"
            "  --out STORE          token store to write (prepare; default: in the cache directory)\n"
            "  --cache DIR          cache directory for stores (default $HYMBA_CACHE, ~/.cache/hymba)\n"
            "  --kind K             auto | sft | preference (default auto: the first record's)\n"
            "  --max-len N          max tokens per sequence, 0 = no limit (default 4096)\n"
            "  --over-length P      drop | truncate (default drop; a pair's prompt is never cut)\n"
            "  --on-error P         fail | skip invalid records (default fail)\n"
            "  --train-on T         all | last | everything (SFT supervision; default all assistant turns)\n"
            "  --bos / --no-eos     prepend BOS / do not append EOS after a final assistant turn\n"
            "  --threads N          worker threads (default: one per CPU, at least 2)\n"
            "  --force              prepare even when the store is up to date\n"
            "  --budget N --meta M  micro-batch token budget and meta tokens per document (default 4096, 128)\n"
            "  --weights W,...      stats: mixing weights of the given stores (per-epoch counts)\n"
            "  --seed S             stats: packing/shuffle seed (default 0)\n"
            "  -n N --start K       inspect: show N samples (default 3) from sample K (default 0)\n");
}

static int data_enum(const char *v, const char *const *names, int n, int *out) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) {
            *out = i;
            return 1;
        }
    return 0;
}

static int data_int(const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

/* One option with a value; returns 0 on a bad value (message printed). */
static int data_opt_value(hy_data_args *a, const char *opt, const char *v, const char *sub) {
    static const char *kinds[] = {"auto", "sft", "preference"}, *over[] = {"drop", "truncate"}, *onerr[] = {"fail", "skip"};
    static const char *train[] = {"all", "last", "everything"};
    hy_data_opts *d = &a->prep.data;
    int e;
    long x;
    if (!strcmp(opt, "--model")) a->model = v;
    else if (!strcmp(opt, "--out")) a->out = v;
    else if (!strcmp(opt, "--cache")) a->cache = v;
    else if (!strcmp(opt, "--weights")) a->weights = v;
    else if (!strcmp(opt, "--kind") && data_enum(v, kinds, 3, &e)) d->kind = (hy_kind)(e - 1);
    else if (!strcmp(opt, "--over-length") && data_enum(v, over, 2, &e)) d->over_length = (hy_over_length)e;
    else if (!strcmp(opt, "--on-error") && data_enum(v, onerr, 2, &e)) d->on_error = (hy_bad_record)e;
    else if (!strcmp(opt, "--train-on") && data_enum(v, train, 3, &e))
        d->train_on = e == 0 ? HY_TRAIN_ALL_ASSISTANT : e == 1 ? HY_TRAIN_LAST_ASSISTANT : HY_TRAIN_EVERYTHING;
    else if (!strcmp(opt, "--max-len") && data_int(v, 0, 1 << 24, &x)) d->max_len = (int32_t)x;
    else if (!strcmp(opt, "--threads") && data_int(v, 1, 1024, &x)) a->prep.threads = (int)x;
    else if (!strcmp(opt, "--budget") && data_int(v, 2, 1 << 26, &x)) a->budget = (int)x;
    else if (!strcmp(opt, "--meta") && data_int(v, 0, 1 << 20, &x)) a->meta = (int)x;
    else if (!strcmp(opt, "--seed") && data_int(v, 0, 0x7fffffffL, &x)) a->seed = (uint64_t)x;
    else if (!strcmp(opt, "-n") && data_int(v, 1, 1 << 30, &x)) a->n = (int)x;
    else if (!strcmp(opt, "--start") && data_int(v, 0, 0x7fffffffL, &x)) a->start = x;
    else {
        fprintf(stderr, "hymba data %s: %s: invalid value '%s' (hymba data --help lists the choices)\n", sub, opt, v);
        return 0;
    }
    return 1;
}

int hy_data_parse_args(hy_data_args *a, int argc, char **argv, const char *sub) {
    static const char *with_value[] = {"--model", "--out", "--cache", "--kind", "--max-len", "--over-length", "--on-error", "--train-on",
                                       "--threads", "--budget", "--meta", "--weights", "--seed", "-n", "--start"};
    memset(a, 0, sizeof *a);
    hy_prepare_opts_default(&a->prep);
    a->budget = 4096;
    a->meta = 128;
    a->n = 3;
    if (hy_malloc((void **)&a->files, sizeof(char *) * (size_t)(argc + 1), 1, "argument list") != HY_OK) return hy_cli_fail("hymba data");
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int takes = 0;
        for (size_t k = 0; k < HY_ARRAY_LEN(with_value); k++) takes |= !strcmp(o, with_value[k]);
        if (takes) {
            if (i + 1 >= argc) {
                fprintf(stderr, "hymba data %s: %s needs a value\n", sub, o);
                return 2;
            }
            if (!data_opt_value(a, o, argv[++i], sub)) return 2;
        } else if (!strcmp(o, "--bos")) a->prep.data.add_bos = 1;
        else if (!strcmp(o, "--no-eos")) a->prep.data.add_eos = 0;
        else if (!strcmp(o, "--force")) a->force = 1;
        else if (o[0] == '-' && o[1]) {
            fprintf(stderr, "hymba data %s: unknown option '%s'\n", sub, o);
            data_usage(stderr);
            return 2;
        } else a->files[a->n_files++] = o;
    }
    if (a->meta >= a->budget) {
        fprintf(stderr, "hymba data %s: --meta %d must be smaller than --budget %d\n", sub, a->meta, a->budget);
        return 2;
    }
    a->prep.model_dir = a->model;
    return 0;
}

void hy_data_args_free(hy_data_args *a) { hy_free((void *)a->files); }

hy_status hy_data_load_model(const hy_data_args *a, const char *fallback_dir, hy_tokenizer **tok, hy_chat_template **t) {
    const char *dir = a->model ? a->model : fallback_dir;
    *tok = NULL;
    *t = NULL;
    if (!dir || !*dir) return hy_errorf(HY_ERR_ARG, "--model DIR is required (the checkpoint directory with tokenizer.json and the chat template)");
    HY_TRY(hy_tok_load(tok, dir));
    hy_status st = hy_chat_template_load(t, dir);
    if (st != HY_OK) {
        hy_tok_free(*tok);
        *tok = NULL;
    }
    return st;
}

int hy_data_is_store(const char *path) {
    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(magic, 1, 8, f);
    fclose(f);
    return n == 8 && !memcmp(magic, "HYSTORE", 8);
}

/* Prepare (or reuse) the store of a[files] at `out` (default path if NULL). */
static hy_status data_ensure(hy_data_args *a, const hy_encoder *enc, char *out, size_t n, hy_prepare_report *rep) {
    if (a->out) snprintf(out, n, "%s", a->out);
    else HY_TRY(hy_prepare_default_path(out, n, a->cache, a->files, a->n_files));
    if (a->force) return hy_prepare(a->files, a->n_files, out, enc, &a->prep, rep);
    return hy_prepare_ensure(a->files, a->n_files, out, enc, &a->prep, rep);
}

static int data_prepare(hy_data_args *a) {
    if (!a->n_files) {
        fprintf(stderr, "hymba data prepare: no input files\n");
        return 2;
    }
    hy_tokenizer *tok;
    hy_chat_template *t;
    if (hy_data_load_model(a, NULL, &tok, &t) != HY_OK) return hy_cli_fail("hymba data prepare");
    hy_encoder enc;
    hy_encoder_chat(&enc, t, tok);
    char out[4096];
    hy_prepare_report rep;
    hy_status st = data_ensure(a, &enc, out, sizeof out, &rep);
    if (st == HY_OK) {
        printf("%s\n", out);
        hy_prepare_report_print(&rep, stdout);
    }
    hy_chat_template_free(t);
    hy_tok_free(tok);
    return st == HY_OK ? 0 : hy_cli_fail("hymba data prepare");
}

/* ---------------- stats ---------------- */

static int cmp_u32(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/* Percentiles and a histogram of `n` lengths (sorted in place). */
static void stats_lengths(const char *what, uint32_t *len, int64_t n) {
    if (!n) return;
    qsort(len, (size_t)n, sizeof *len, cmp_u32);
    static const double q[] = {0, 10, 25, 50, 75, 90, 95, 99, 100};
    static const char *names[] = {"min", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "max"};
    double mean = 0;
    for (int64_t i = 0; i < n; i++) mean += len[i];
    printf("  %s length: mean %.1f;", what, mean / (double)n);
    for (size_t k = 0; k < HY_ARRAY_LEN(q); k++) {
        int64_t i = (int64_t)ceil(q[k] / 100.0 * (double)n) - 1;
        if (i < 0) i = 0;
        printf(" %s %u", names[k], len[i]);
    }
    printf("\n");
    uint32_t maxv = len[n - 1], width = 1;
    while (maxv / width >= 16) width *= 2; /* ≤ 16 bins of a power-of-two width */
    int64_t bins[17] = {0}, most = 1;
    for (int64_t i = 0; i < n; i++) bins[len[i] / width]++;
    for (int b = 0; b <= 16; b++) most = bins[b] > most ? bins[b] : most;
    for (uint32_t b = 0; b * width <= maxv && b <= 16; b++) {
        int bar = (int)(40 * bins[b] / most);
        printf("    [%6u, %6u) %8lld %.*s\n", b * width, (b + 1) * width, (long long)bins[b], bar, "########################################");
    }
}

static void stats_store_counts(const hy_store_info *in) {
    const hy_store_stats *s = &in->stats;
    printf("  kind %s, made with max_len %d, over_length %s, on_error %s, train_on %s, add_bos %d, add_eos %d\n", hy_rec_kind_name(in->kind),
           in->opts.max_len, hy_over_length_name(in->opts.over_length), hy_bad_record_name(in->opts.on_error), hy_train_on_name(in->opts.train_on),
           in->opts.add_bos, in->opts.add_eos);
    printf("  records %lld -> samples %lld; skipped %lld (invalid); dropped %lld (too long), %lld (pair prompt reaches max_len), %lld (no supervised "
           "token); truncated %lld\n",
           (long long)s->records, (long long)s->samples, (long long)s->skipped, (long long)s->dropped_long, (long long)s->dropped_prompt,
           (long long)s->dropped_empty, (long long)s->truncated);
    printf("  tokens %lld, supervised %lld (%.1f%%)\n", (long long)s->tokens, (long long)s->supervised,
           s->tokens ? 100.0 * (double)s->supervised / (double)s->tokens : 0.0);
    for (int i = 0; i < in->n_skip_reasons; i++) printf("  skipped: %s\n", in->skip_reasons[i]);
}

static void stats_packing(hy_loader *l, const hy_data_args *a) {
    hy_loader_epoch_stats st;
    if (hy_loader_epoch_stats_get(l, 0, &st) != HY_OK) {
        printf("  packing: %s\n", hy_last_error());
        return;
    }
    printf("  packing (budget %d tokens, %d meta tokens per document, best fit): %lld micro-batches for %lld documents; efficiency %.1f%% "
           "(text %.1f%%, meta %.1f%%, padding %.1f%%)\n",
           a->budget, a->meta, (long long)st.n_bins, (long long)st.n_docs, 100 * st.efficiency, 100 * st.text_efficiency,
           100 * (st.efficiency - st.text_efficiency), 100 * (1 - st.efficiency));
}

static hy_status stats_one(const char *path, const hy_data_args *a) {
    hy_store *s;
    HY_TRY(hy_store_open(&s, path));
    const hy_store_info *in = hy_store_get_info(s);
    printf("%s\n", path);
    stats_store_counts(in);
    int64_t n = in->n_samples;
    uint32_t *len[3];
    hy_status st = HY_OK;
    for (int k = 0; k < 3 && st == HY_OK; k++) st = hy_malloc((void **)&len[k], sizeof(uint32_t) * (size_t)(n ? n : 1), 0, "length list");
    if (st == HY_OK) {
        const hy_store_entry *e = hy_store_entries(s);
        for (int64_t i = 0; i < n; i++) len[0][i] = e[i].len[0], len[1][i] = e[i].len[1], len[2][i] = e[i].len[0] + e[i].len[1];
        stats_lengths(in->kind == HY_REC_PREF ? "chosen" : "sequence", len[0], n);
        if (in->kind == HY_REC_PREF) {
            stats_lengths("rejected", len[1], n);
            stats_lengths("pair", len[2], n);
        }
    }
    for (int k = 0; k < 3; k++) hy_free(len[k]);
    hy_store_close(s);
    HY_TRY(st);
    hy_loader_opts lo;
    hy_loader_opts_default(&lo);
    lo.budget = a->budget;
    lo.meta_tokens = a->meta;
    lo.seed = a->seed;
    hy_loader_source src = {path, 1.0};
    hy_loader *l;
    if (hy_loader_create(&l, &src, 1, &lo) != HY_OK) {
        printf("  packing: not possible: %s\n", hy_last_error());
        return HY_OK;
    }
    stats_packing(l, a);
    hy_loader_free(l);
    return HY_OK;
}

/* --weights: the per-epoch draws of the weighted mixture of all stores. */
static hy_status stats_mixture(const char *const *stores, int n, const hy_data_args *a) {
    hy_loader_source *src;
    HY_TRY(hy_malloc((void **)&src, sizeof *src * (size_t)n, 1, "mixture"));
    const char *p = a->weights;
    hy_status st = HY_OK;
    for (int i = 0; i < n && st == HY_OK; i++) {
        char *end;
        src[i].path = stores[i];
        src[i].weight = strtod(p, &end);
        if (end == p || (i + 1 < n && *end != ',') || (i + 1 == n && *end))
            st = hy_errorf(HY_ERR_ARG, "--weights %s: expected %d comma-separated numbers (one per store)", a->weights, n);
        p = end + (*end == ',');
    }
    hy_loader_opts lo;
    hy_loader_opts_default(&lo);
    lo.budget = a->budget;
    lo.meta_tokens = a->meta;
    lo.seed = a->seed;
    hy_loader *l = NULL;
    if (st == HY_OK) st = hy_loader_create(&l, src, n, &lo);
    for (int e = 0; st == HY_OK && e < 2; e++) {
        hy_loader_epoch_stats es;
        st = hy_loader_epoch_stats_get(l, e, &es);
        if (st != HY_OK) break;
        printf("mixture epoch %d: %lld samples in %lld micro-batches (efficiency %.1f%%)\n", e, (long long)es.n_items, (long long)es.n_bins,
               100 * es.efficiency);
        for (int i = 0; i < n; i++)
            printf("  %-60s weight %-6g %lld of %lld samples drawn (%lld distinct)\n", stores[i], src[i].weight, (long long)es.per_source[i],
                   (long long)hy_loader_source_info(l, i)->n_samples, (long long)es.per_source_unique[i]);
    }
    hy_loader_free(l);
    hy_free(src);
    return st;
}

static int data_stats(hy_data_args *a) {
    if (!a->n_files) {
        fprintf(stderr, "hymba data stats: give token stores, or --model DIR and JSONL files\n");
        return 2;
    }
    char out[4096];
    const char *one = out;
    const char *const *stores = a->files;
    int n = a->n_files;
    if (!hy_data_is_store(a->files[0])) { /* JSONL: prepare (or reuse) the store first */
        hy_tokenizer *tok;
        hy_chat_template *t;
        if (hy_data_load_model(a, NULL, &tok, &t) != HY_OK) return hy_cli_fail("hymba data stats");
        hy_encoder enc;
        hy_encoder_chat(&enc, t, tok);
        hy_prepare_report rep;
        hy_status st = data_ensure(a, &enc, out, sizeof out, &rep);
        hy_chat_template_free(t);
        hy_tok_free(tok);
        if (st != HY_OK) return hy_cli_fail("hymba data stats");
        stores = &one;
        n = 1;
    }
    for (int i = 0; i < n; i++)
        if (stats_one(stores[i], a) != HY_OK) return hy_cli_fail("hymba data stats");
    if (a->weights && stats_mixture(stores, n, a) != HY_OK) return hy_cli_fail("hymba data stats");
    return 0;
}

int hy_cmd_data(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        data_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (hy_cli_wants_help(argc, argv)) {
        data_usage(stdout);
        return 0;
    }
    hy_data_args a;
    int rc = hy_data_parse_args(&a, argc - 1, argv + 1, sub);
    if (rc == 0) {
        if (!strcmp(sub, "prepare")) rc = data_prepare(&a);
        else if (!strcmp(sub, "stats")) rc = data_stats(&a);
        else if (!strcmp(sub, "inspect")) rc = hy_cmd_data_inspect(&a);
        else if (!strcmp(sub, "render")) rc = hy_cmd_data_render(&a);
        else {
            fprintf(stderr, "hymba data: unknown subcommand '%s'\n", sub);
            data_usage(stderr);
            rc = 2;
        }
    }
    hy_data_args_free(&a);
    return rc;
}
