/* prepare_util.c — the parts of preparation that are not threading: the
 * store key of a dataset, the preference reply mask, the length policy, the
 * progress display, the default store path, the report, and the chat
 * encoder adapter. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "datasets/prepare_internal.h"
#include "core/timer.h"


/* ---------------- key ---------------- */

hy_status hy_key_make(hy_key_buf *kb, const char *const *files, int n_files, const hy_encoder *enc, const hy_data_opts *d) {
    memset(kb, 0, sizeof *kb);
    HY_TRY(hy_malloc((void **)&kb->hashes, sizeof(uint64_t) * (size_t)n_files, 1, "source hashes"));
    hy_status st = hy_malloc((void **)&kb->bytes, sizeof(uint64_t) * (size_t)n_files, 1, "source sizes");
    for (int i = 0; i < n_files && st == HY_OK; i++) st = hy_hash_file(files[i], &kb->hashes[i], &kb->bytes[i]);
    if (st != HY_OK) {
        hy_key_free(kb);
        return st;
    }
    kb->key.n_sources = n_files;
    kb->key.source_paths = files;
    kb->key.source_hashes = kb->hashes;
    kb->key.source_bytes = kb->bytes;
    kb->key.tok_hash = enc->tok_hash;
    kb->key.tmpl_hash = enc->tmpl_hash;
    kb->key.opts = *d;
    return HY_OK;
}

void hy_key_free(hy_key_buf *kb) {
    hy_free(kb->hashes);
    hy_free(kb->bytes);
    memset(kb, 0, sizeof *kb);
}

/* ---------------- masks and lengths ---------------- */

static uint32_t hy_reply_only(hy_sample *s, int n_prompt_turns) {
    int runs = 0;
    size_t t = 0;
    while (t < s->n && runs < n_prompt_turns) {
        if (s->labels[t] == HY_LABEL_IGNORE) {
            t++;
            continue;
        }
        while (t < s->n && s->labels[t] != HY_LABEL_IGNORE) s->labels[t++] = HY_LABEL_IGNORE;
        runs++;
    }
    while (t < s->n && s->labels[t] == HY_LABEL_IGNORE) t++;
    return (uint32_t)t;
}

uint32_t hy_pair_reply_only(hy_sample *chosen, hy_sample *rejected, int n_prompt_turns) {
    uint32_t a = hy_reply_only(chosen, n_prompt_turns), b = hy_reply_only(rejected, n_prompt_turns);
    return a < b ? a : b;
}

static int hy_has_sup(const hy_sample *s, size_t n) {
    for (size_t t = 0; t < n; t++)
        if (s->labels[t] != HY_LABEL_IGNORE) return 1;
    return 0;
}

int hy_length_policy(const hy_data_opts *d, hy_sample s[2], int pref, uint32_t len[2], uint32_t prompt_len, hy_store_stats *counts) {
    if (!hy_has_sup(&s[0], len[0]) || (pref && !hy_has_sup(&s[1], len[1]))) {
        counts->dropped_empty++;
        return 0;
    }
    uint32_t longest = len[0] > len[1] ? len[0] : len[1];
    if (d->max_len <= 0 || longest <= (uint32_t)d->max_len) return 1;
    if (d->over_length == HY_OVER_DROP) {
        counts->dropped_long++;
        return 0;
    }
    if (pref && prompt_len >= (uint32_t)d->max_len) { /* never cut inside the prompt of a pair */
        counts->dropped_prompt++;
        return 0;
    }
    for (int k = 0; k < 2; k++)
        if (len[k] > (uint32_t)d->max_len) len[k] = (uint32_t)d->max_len;
    if (!hy_has_sup(&s[0], len[0]) || (pref && !hy_has_sup(&s[1], len[1]))) {
        counts->dropped_empty++;
        return 0;
    }
    counts->truncated++;
    return 1;
}

/* ---------------- progress ---------------- */

void hy_progress_init(hy_progress *p, int mode, FILE *f, uint64_t total_bytes) {
    memset(p, 0, sizeof *p);
    p->f = f;
    p->mode = mode < 0 ? (isatty(fileno(f)) ? 2 : 1) : mode ? 1 : 0;
    p->t0 = p->last = hy_now_s();
    p->total = total_bytes;
}

static void hy_fmt_count(char *b, size_t n, double v) {
    if (v >= 1e9) snprintf(b, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(b, n, "%.2fM", v / 1e6);
    else if (v >= 1e4) snprintf(b, n, "%.1fk", v / 1e3);
    else snprintf(b, n, "%.0f", v);
}

void hy_progress_update(hy_progress *p, uint64_t bytes, int64_t records, int64_t tokens, int final) {
    if (!p->mode) return;
    double now = hy_now_s(), dt = now - p->t0;
    if (!final && now - p->last < (p->mode == 2 ? 0.1 : 10.0)) return;
    p->last = now;
    double frac = p->total ? (double)bytes / (double)p->total : 1.0;
    if (frac > 1) frac = 1;
    char rec[32], tok[32];
    hy_fmt_count(rec, sizeof rec, (double)records);
    hy_fmt_count(tok, sizeof tok, (double)tokens);
    char rate[32];
    hy_fmt_count(rate, sizeof rate, dt > 0 ? (double)tokens / dt : 0);
    if (p->mode == 2) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        double eta = frac > 0.01 && !final ? dt * (1 - frac) / frac : 0;
        fprintf(p->f, "\rprepare [%s] %3.0f%%  %s records  %s tokens  %s tokens/s  %s%.0fs ", bar, 100 * frac, rec, tok, rate, final ? "" : "ETA ",
                final ? dt : eta);
        if (final) fputc('\n', p->f);
    } else {
        fprintf(p->f, "prepare: %3.0f%%  %s records  %s tokens  %s tokens/s  %.1fs\n", 100 * frac, rec, tok, rate, dt);
    }
    fflush(p->f);
}

/* ---------------- default path ---------------- */

hy_status hy_prepare_default_path(char *buf, size_t n, const char *cache_dir, const char *const *files, int n_files) {
    char dir[4096];
    const char *env;
    if (cache_dir) snprintf(dir, sizeof dir, "%s", cache_dir);
    else if ((env = getenv("HYMBA_CACHE")) && *env) snprintf(dir, sizeof dir, "%s", env);
    else if ((env = getenv("XDG_CACHE_HOME")) && *env) snprintf(dir, sizeof dir, "%s/hymba", env);
    else if ((env = getenv("HOME")) && *env) snprintf(dir, sizeof dir, "%s/.cache/hymba", env);
    else return hy_errorf(HY_ERR_CONFIG, "no cache directory for token stores: set HYMBA_CACHE or give an output path");
    HY_TRY(hy_fs_mkdir_p(dir));
    hy_hash64_state h;
    hy_hash64_init(&h, 0x70617468ull);
    for (int i = 0; i < n_files; i++) {
        char abs[PATH_MAX];
        const char *p = realpath(files[i], abs) ? abs : files[i];
        hy_hash64_update(&h, p, strlen(p) + 1);
    }
    const char *base = strrchr(files[0], '/') ? strrchr(files[0], '/') + 1 : files[0];
    char stem[256];
    snprintf(stem, sizeof stem, "%s", base);
    const char *exts[] = {".zst", ".jsonl", ".json"};
    for (size_t k = 0; k < HY_ARRAY_LEN(exts); k++) {
        size_t ls = strlen(stem), le = strlen(exts[k]);
        if (ls > le && !strcmp(stem + ls - le, exts[k])) stem[ls - le] = 0;
    }
    char more[32] = "";
    if (n_files > 1) snprintf(more, sizeof more, "+%d", n_files - 1);
    int w = snprintf(buf, n, "%s/%s%s-%016llx.hystore", dir, stem, more, (unsigned long long)hy_hash64_final(&h));
    if (w < 0 || (size_t)w >= n) return hy_errorf(HY_ERR_ARG, "token store path too long");
    return HY_OK;
}

/* ---------------- report ---------------- */

void hy_prepare_report_print(const hy_prepare_report *r, FILE *f) {
    const hy_store_stats *s = &r->stats;
    fprintf(f, "%lld %s sample%s from %lld record%s", (long long)s->samples, r->kind == HY_REC_PREF ? "preference" : "SFT", s->samples == 1 ? "" : "s",
            (long long)s->records, s->records == 1 ? "" : "s");
    if (r->rebuilt) fprintf(f, " in %.2f s (%d threads)%s%s\n", r->seconds, r->threads, r->why[0] ? "; " : "", r->why);
    else fprintf(f, " (token store up to date, reused)\n");
    fprintf(f, "  skipped (invalid records): %lld\n", (long long)s->skipped);
    fprintf(f, "  dropped: %lld longer than max_len, %lld preference prompts reaching max_len, %lld without supervised tokens\n",
            (long long)s->dropped_long, (long long)s->dropped_prompt, (long long)s->dropped_empty);
    fprintf(f, "  truncated: %lld\n", (long long)s->truncated);
    fprintf(f, "  tokens: %lld, supervised %lld (%.1f%%)\n", (long long)s->tokens, (long long)s->supervised,
            s->tokens ? 100.0 * (double)s->supervised / (double)s->tokens : 0.0);
    if (r->rebuilt && r->seconds > 0)
        fprintf(f, "  throughput: %.0f records/s, %.0f tokens/s, %.2f MB/s of JSONL text (%.2f MB/s of files)\n", (double)s->records / r->seconds,
                (double)s->tokens / r->seconds, (double)r->bytes_text / r->seconds / 1e6, (double)r->bytes_in / r->seconds / 1e6);
    hy_errlog_print(&r->skipped, f);
}

/* ---------------- the chat encoder ---------------- */

static hy_status hy_chat_encode_cb(const hy_encoder *e, const hy_chat *c, const hy_chat_opts *o, hy_sample *out) {
    return hy_chat_encode((const hy_chat_template *)e->ctx[0], (const hy_tokenizer *)e->ctx[1], c, o, out);
}

void hy_encoder_chat(hy_encoder *e, const hy_chat_template *t, const hy_tokenizer *tok) {
    memset(e, 0, sizeof *e);
    e->encode = hy_chat_encode_cb;
    e->ctx[0] = t;
    e->ctx[1] = tok;
    e->tok_hash = hy_tok_hash(tok);
    e->tmpl_hash = hy_chat_template_hash(t);
}
