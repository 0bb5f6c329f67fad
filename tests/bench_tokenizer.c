/* bench_tokenizer.c — tokenizer and chat-encode throughput on the shared data.
 *
 *   bench_tokenizer [--model DIR] [--data DIR] [--seconds S] [--threads N] [--no-plain]
 *
 * Reads every record of the .jsonl.zst files in --data with the dataset reader, then times
 *   1. hy_tok_encode over every message text, one thread: MB/s of input
 *      text per wall second and per CPU-second of the thread (the "per core"
 *      figure, robust to other load on a shared machine), tokens/s;
 *   2. the same with the fast paths off (whole piece merged by the heap);
 *   3. N threads on disjoint shares of the texts (aggregate and per core);
 *   4. hy_chat_encode (render + tokenize + loss mask) of every conversation.
 * A benchmark, not a test: it prints figures and checks nothing beyond
 * statuses.  On a shared machine run it when the cores are idle. */
#include <dirent.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "datasets/chat.h"
#include "datasets/jsonl.h"
#include "datasets/records.h"
#include "datasets/tokenizer.h"

typedef struct {
    hy_record *recs;
    size_t n_recs, cap_recs;
    const char **text; /* borrowed from recs */
    size_t *len, n_text, cap_text, bytes;
} corpus;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
/* CPU time of the calling thread: on a loaded machine this is the fairer
 * "per core" figure (wall time includes time the thread waited for a core). */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int add_text(corpus *c, const hy_chat_msg *m) {
    if (c->n_text == c->cap_text) {
        c->cap_text = c->cap_text ? 2 * c->cap_text : 4096;
        c->text = realloc(c->text, c->cap_text * sizeof *c->text);
        c->len = realloc(c->len, c->cap_text * sizeof *c->len);
        if (!c->text || !c->len) return 1;
    }
    c->text[c->n_text] = m->content;
    c->len[c->n_text++] = m->len;
    c->bytes += m->len;
    return 0;
}

static hy_status load_file(corpus *c, const char *path) {
    hy_jsonl *r;
    HY_TRY(hy_jsonl_open(&r, path));
    const char *line;
    size_t len;
    int64_t lineno;
    hy_status st;
    while ((st = hy_jsonl_next(r, &line, &len, &lineno)) == HY_OK && line) {
        if (c->n_recs == c->cap_recs) {
            c->cap_recs = c->cap_recs ? 2 * c->cap_recs : 1024;
            c->recs = realloc(c->recs, c->cap_recs * sizeof *c->recs);
            if (!c->recs) { st = hy_errorf(HY_ERR_OOM, "bench: out of memory"); break; }
        }
        hy_record *rec = &c->recs[c->n_recs];
        if ((st = hy_record_parse(rec, line, len, path, lineno, HY_KIND_AUTO)) != HY_OK) break;
        c->n_recs++;
        for (int i = 0; i < rec->chat.n; i++) add_text(c, &rec->chat.msgs[i]);
        if (rec->kind == HY_REC_PREF)
            for (int i = rec->n_prompt; i < rec->rejected.n; i++) add_text(c, &rec->rejected.msgs[i]);
    }
    hy_jsonl_close(r);
    return st;
}

static hy_status load_corpus(corpus *c, const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return hy_errorf(HY_ERR_IO, "%s: cannot open the data directory", dir);
    struct dirent *e;
    hy_status st = HY_OK;
    while (st == HY_OK && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 10 || strcmp(e->d_name + n - 10, ".jsonl.zst")) continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        st = load_file(c, path);
    }
    closedir(d);
    return st;
}

typedef struct {
    const hy_tokenizer *tok;
    const corpus *c;
    size_t first, step; /* texts first, first+step, ... */
    double seconds;
    double bytes, tokens, elapsed, cpu;
    hy_status st;
} enc_job;

/* Encode this job's share of the texts repeatedly for at least `seconds`. */
static void *enc_run(void *p) {
    enc_job *j = p;
    hy_tokens v = {0};
    double t0 = now_s(), c0 = cpu_s();
    do {
        for (size_t i = j->first; i < j->c->n_text && j->st == HY_OK; i += j->step) {
            hy_tokens_clear(&v);
            j->st = hy_tok_encode(j->tok, j->c->text[i], j->c->len[i], &v);
            j->bytes += (double)j->c->len[i];
            j->tokens += (double)v.n;
        }
        j->elapsed = now_s() - t0;
        j->cpu = cpu_s() - c0;
    } while (j->elapsed < j->seconds && j->st == HY_OK);
    hy_tokens_free(&v);
    return NULL;
}

static int bench_threads(const hy_tokenizer *tok, const corpus *c, int nt, double seconds, const char *label) {
    enc_job jobs[64];
    pthread_t th[64];
    for (int k = 0; k < nt; k++) {
        jobs[k] = (enc_job){tok, c, (size_t)k, (size_t)nt, seconds, 0, 0, 0, 0, HY_OK};
        if (pthread_create(&th[k], NULL, enc_run, &jobs[k])) return 1;
    }
    double bytes = 0, tokens = 0, wall = 0, cpu = 0;
    for (int k = 0; k < nt; k++) {
        pthread_join(th[k], NULL);
        if (jobs[k].st != HY_OK) { fprintf(stderr, "encode failed: %s\n", hy_last_error()); return 1; }
        bytes += jobs[k].bytes;
        tokens += jobs[k].tokens;
        wall = jobs[k].elapsed > wall ? jobs[k].elapsed : wall;
        cpu += jobs[k].cpu;
    }
    printf("%-30s %2d thread%s %7.2f MB/s wall, %6.2f MB/s per core (per CPU-second), %5.2f Mtok/s (%.2f bytes/token, %.1f s)\n",
           label, nt, nt > 1 ? "s" : " ", bytes / 1e6 / wall, bytes / 1e6 / cpu, tokens / 1e6 / wall, bytes / tokens, wall);
    return 0;
}

static int bench_chat(const hy_tokenizer *tok, const corpus *c, const char *model) {
    hy_chat_template *tpl;
    if (hy_chat_template_load(&tpl, model) != HY_OK) { fprintf(stderr, "%s\n", hy_last_error()); return 1; }
    hy_sample s = {0};
    double bytes = 0, tokens = 0, t0 = now_s(), c0 = cpu_s();
    size_t convs = 0;
    for (size_t i = 0; i < c->n_recs; i++) {
        const hy_record *r = &c->recs[i];
        for (int side = 0; side < (r->kind == HY_REC_PREF ? 2 : 1); side++) {
            const hy_chat *chat = side ? &r->rejected : &r->chat;
            if (hy_chat_encode(tpl, tok, chat, NULL, &s) != HY_OK) { fprintf(stderr, "%s\n", hy_last_error()); return 1; }
            for (int m = 0; m < chat->n; m++) bytes += (double)chat->msgs[m].len;
            tokens += (double)s.n;
            convs++;
        }
    }
    double dt = now_s() - t0, dc = cpu_s() - c0;
    printf("%-30s  1 thread  %7.2f MB/s wall, %6.2f MB/s per CPU-second of message text, %.0f conversations/s, %.2f Mtok/s "
           "(%zu conversations, %.1f s)\n",
           "chat encode+mask", bytes / 1e6 / dt, bytes / 1e6 / dc, (double)convs / dt, tokens / 1e6 / dt, convs, dt);
    hy_sample_free(&s);
    hy_chat_template_free(tpl);
    return 0;
}

int main(int argc, char **argv) {
    const char *model = HY_SHARED_DIR "/hymba-1.5b", *data = HY_SHARED_DIR "/datasets";
    double seconds = 3;
    int threads = 2, plain = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--no-plain")) plain = 0;
        else {
            fprintf(stderr, "usage: bench_tokenizer [--model DIR] [--data DIR] [--seconds S] [--threads N] [--no-plain]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 64) threads = 2;
    hy_tokenizer *tok;
    corpus c = {0};
    double t0 = now_s();
    if (hy_tok_load(&tok, model) != HY_OK) { fprintf(stderr, "%s\n", hy_last_error()); return 1; }
    printf("tokenizer load: %.3f s\n", now_s() - t0);
    if (load_corpus(&c, data) != HY_OK) { fprintf(stderr, "%s\n", hy_last_error()); return 1; }
    printf("corpus: %zu records, %zu message texts, %.2f MB (%s)\n", c.n_recs, c.n_text, (double)c.bytes / 1e6, data);
    int rc = bench_threads(tok, &c, 1, seconds, "encode (fast paths)");
    if (plain) {
        hy_tok_set_fast_paths(tok, 0);
        rc |= bench_threads(tok, &c, 1, 0, "encode (plain heap merge)");
        hy_tok_set_fast_paths(tok, 1);
    }
    if (threads > 1) rc |= bench_threads(tok, &c, threads, seconds, "encode (fast paths)");
    rc |= bench_chat(tok, &c, model);
    for (size_t i = 0; i < c.n_recs; i++) hy_record_free(&c.recs[i]);
    free(c.recs);
    free(c.text);
    free(c.len);
    hy_tok_free(tok);
    return rc;
}
