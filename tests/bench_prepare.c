/* bench_prepare.c — throughput of the dataset pipeline on the shared data (a
 * benchmark, not a test: it prints figures and checks nothing but success).
 *
 *   bench_prepare [--threads N] [--model DIR] [--data DIR] [FILE...]
 *
 * For each file (default: every *.jsonl.zst in the shared datasets folder)
 * it prepares a token store with the real tokenizer and template and prints
 * records/s, tokens/s and MB/s (JSONL text and compressed file bytes), then
 * the totals; then it times the loader assembling micro-batches (budget
 * 4096, M = 128) from the largest SFT store, and random single-sample reads.
 * Throughput here is for N worker threads; the pipeline's reader/writer
 * thread works alongside them. */
#include <dirent.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "datasets/loader.h"
#include "datasets/prepare.h"
#include "datasets/tokenizer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int list_files(const char *dir, char ***out) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    char **v = calloc(256, sizeof(char *));
    for (struct dirent *e; (e = readdir(d)) && n < 256;) {
        size_t l = strlen(e->d_name);
        if (l > 10 && !strcmp(e->d_name + l - 10, ".jsonl.zst")) {
            v[n] = malloc(strlen(dir) + l + 2);
            sprintf(v[n++], "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

static int bench_loader(const char *store) {
    hy_loader_opts o;
    hy_loader_opts_default(&o);
    hy_loader_source src = {store, 1.0};
    hy_loader *l;
    double t0 = now_s();
    if (hy_loader_create(&l, &src, 1, &o) != HY_OK) return fprintf(stderr, "loader: %s\n", hy_last_error()), 1;
    hy_loader_epoch_stats es;
    if (hy_loader_epoch_stats_get(l, 0, &es) != HY_OK) return fprintf(stderr, "loader: %s\n", hy_last_error()), 1;
    double t1 = now_s();
    int64_t tokens = 0;
    for (int64_t k = 0; k < es.steps; k++) {
        hy_microbatch mb;
        if (hy_loader_next(l, &mb) != HY_OK) return fprintf(stderr, "loader: %s\n", hy_last_error()), 1;
        tokens += mb.n_tokens;
    }
    double t2 = now_s();
    printf("loader %s: plan of epoch 0 (%lld samples, %lld micro-batches, efficiency %.1f%%) in %.1f ms; "
           "assembling them: %.0f micro-batches/s, %.2fM tokens/s\n",
           strrchr(store, '/') + 1, (long long)es.n_items, (long long)es.n_bins, 100 * es.efficiency, 1e3 * (t1 - t0),
           (double)es.steps / (t2 - t1), (double)tokens / (t2 - t1) / 1e6);
    hy_loader_free(l);
    hy_store *s;
    if (hy_store_open(&s, store) != HY_OK) return 1;
    int64_t n = hy_store_get_info(s)->n_samples, reads = 20000;
    int32_t *buf;
    if (hy_malloc((void **)&buf, 4u * (size_t)(hy_store_get_info(s)->max_len + 1), 0, "bench") != HY_OK) return 1;
    uint64_t x = 88172645463325252ull;
    double t3 = now_s();
    for (int64_t k = 0; k < reads; k++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        if (hy_store_read(s, (int64_t)(x % (uint64_t)n), 0, buf, buf) != HY_OK) return 1;
    }
    double t4 = now_s();
    printf("store random reads: %.1f µs per sample (a block decompressed each time)\n", 1e6 * (t4 - t3) / (double)reads);
    hy_free(buf);
    hy_store_close(s);
    return 0;
}

int main(int argc, char **argv) {
    const char *model = HY_SHARED_DIR "/hymba-1.5b", *data = HY_SHARED_DIR "/datasets";
    int threads = 2, n_files = 0;
    char **files = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--model") && i + 1 < argc) model = argv[++i];
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) data = argv[++i];
        else files[n_files++] = argv[i];
    }
    if (!n_files) n_files = list_files(data, &files);
    hy_tokenizer *tok;
    hy_chat_template *t;
    if (hy_tok_load(&tok, model) != HY_OK || hy_chat_template_load(&t, model) != HY_OK) return fprintf(stderr, "%s\n", hy_last_error()), 1;
    hy_encoder enc;
    hy_encoder_chat(&enc, t, tok);
    hy_prepare_opts o;
    hy_prepare_opts_default(&o);
    o.threads = threads;
    o.progress = 0;
    o.data.max_len = 0;
    char dir[] = "/tmp/hymba-bench-XXXXXX", store[4096], big[4096] = "";
    if (!mkdtemp(dir)) return 1;
    double sec = 0, bytes_text = 0, bytes_in = 0, records = 0, tokens = 0;
    int64_t big_n = 0;
    printf("%-48s %8s %10s %9s %10s %8s %8s\n", "file", "records", "tokens", "rec/s", "tok/s", "MB/s", "file MB/s");
    for (int i = 0; i < n_files; i++) {
        const char *one[1] = {files[i]};
        snprintf(store, sizeof store, "%s/%d.hystore", dir, i);
        hy_prepare_report r;
        if (hy_prepare(one, 1, store, &enc, &o, &r) != HY_OK) return fprintf(stderr, "%s\n", hy_last_error()), 1;
        printf("%-48s %8lld %10lld %9.0f %10.0f %8.2f %8.2f\n", strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i],
               (long long)r.stats.records, (long long)r.stats.tokens, (double)r.stats.records / r.seconds, (double)r.stats.tokens / r.seconds,
               (double)r.bytes_text / r.seconds / 1e6, (double)r.bytes_in / r.seconds / 1e6);
        sec += r.seconds, bytes_text += (double)r.bytes_text, bytes_in += (double)r.bytes_in, records += (double)r.stats.records,
            tokens += (double)r.stats.tokens;
        if (r.kind == HY_REC_SFT && r.stats.samples > big_n) big_n = r.stats.samples, snprintf(big, sizeof big, "%s", store);
    }
    printf("total: %.0f records, %.0f tokens in %.2f s with %d worker threads: %.0f records/s, %.0f tokens/s, %.2f MB/s of JSONL text, "
           "%.2f MB/s of compressed files\n",
           records, tokens, sec, threads, records / sec, tokens / sec, bytes_text / sec / 1e6, bytes_in / sec / 1e6);
    int rc = big[0] ? bench_loader(big) : 0;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) rc = 1;
    hy_chat_template_free(t);
    hy_tok_free(tok);
    return rc;
}
