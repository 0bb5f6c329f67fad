/* test_data_cli.c — `hymba data prepare|stats|inspect|render` end to end on
 * the shared data with the real tokenizer: exit codes, messages with file and
 * line, inspect's markers (not a terminal → [[ ]]), and render's JSON lines
 * equal to the token store sample by sample (two independent paths: render
 * encodes on the fly, the store went through the threaded pipeline). */
#include <stdarg.h>

#include "core/json.h"
#include "datasets/store.h"
#include "tests/harness.h"

#define MODEL HY_SHARED_DIR "/hymba-1.5b"
#define DATA HY_SHARED_DIR "/datasets/"

static int run(char **out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(char **out, const char *fmt, ...) {
    char cmd[4096];
    int n = snprintf(cmd, sizeof cmd, "HYMBA_CACHE=/nonexistent-cache '%s' ", hy_test_hymba());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd + n, sizeof cmd - (size_t)n, fmt, ap);
    va_end(ap);
    return hy_test_run(cmd, out);
}

/* Compare a rendered {"input_ids", "labels"} object with store sample i side s. */
static int same_as_store(const hy_json *o, hy_store *s, int64_t i, int side) {
    const hy_json *ids = hy_json_get(o, "input_ids"), *labels = hy_json_get(o, "labels");
    const hy_store_entry *e = &hy_store_entries(s)[i];
    if (!hy_json_str(hy_json_get(o, "text")) || hy_json_len(ids) != e->len[side] || hy_json_len(labels) != e->len[side]) return 1;
    int32_t a[8192], b[8192];
    if (e->len[side] > 8192 || hy_store_read(s, i, side, a, b) != HY_OK) return 1;
    for (uint32_t t = 0; t < e->len[side]; t++)
        if (hy_json_int(hy_json_at(ids, t)) != a[t] || hy_json_int(hy_json_at(labels, t)) != b[t]) {
            fprintf(stderr, "  sample %lld side %d token %u: rendered %lld/%lld, store %d/%d\n", (long long)i, side, t,
                    (long long)hy_json_int(hy_json_at(ids, t)), (long long)hy_json_int(hy_json_at(labels, t)), a[t], b[t]);
            return 1;
        }
    return 0;
}

/* render FILE gives one JSON line per record, equal to the store of FILE. */
static int render_matches_store(const char *file, const char *store, int64_t n_records, int pref) {
    char *out = NULL;
    int rc = run(&out, "data render '%s' --model '%s' --max-len 0 2>/dev/null", file, MODEL);
    hy_store *s;
    if (rc != 0 || !out || hy_store_open(&s, store) != HY_OK) {
        fprintf(stderr, "  render exited %d\n", rc);
        free(out);
        return 1;
    }
    int bad = 0;
    int64_t i = 0;
    for (char *line = strtok(out, "\n"); line && !bad; line = strtok(NULL, "\n"), i++) {
        hy_json *j;
        if (hy_json_parse(&j, line, strlen(line), "render") != HY_OK || i >= hy_store_get_info(s)->n_samples) {
            bad = 1;
            break;
        }
        bad = pref ? same_as_store(hy_json_get(j, "chosen"), s, i, 0) || same_as_store(hy_json_get(j, "rejected"), s, i, 1)
                   : same_as_store(j, s, i, 0);
        hy_json_free(j);
    }
    if (i != n_records) fprintf(stderr, "  render gave %lld lines, want %lld\n", (long long)i, (long long)n_records);
    hy_store_close(s);
    free(out);
    return bad || i != n_records;
}

HY_TEST(cli_prepare_reuse_stats_inspect_render_sft) {
    char dir[512], store[700], *out = NULL;
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "cli") == 0);
    snprintf(store, sizeof store, "%s/mt.hystore", dir);
    const char *file = DATA "sft2-mt-bench-reference.train.jsonl.zst";
    HY_EXPECT(run(&out, "data prepare --model '%s' --out '%s' --max-len 0 '%s' 2>&1", MODEL, store, file) == 0);
    HY_EXPECT_MSG(out && strstr(out, "25 SFT samples from 25 records in") && strstr(out, "no token store yet"), "%s", out);
    free(out);
    HY_EXPECT(run(&out, "data prepare --model '%s' --out '%s' --max-len 0 '%s' 2>&1", MODEL, store, file) == 0);
    HY_EXPECT_MSG(out && strstr(out, "token store up to date, reused"), "%s", out);
    free(out);
    HY_EXPECT(run(&out, "data stats '%s' --budget 2048 --meta 128", store) == 0);
    HY_EXPECT_MSG(out && strstr(out, "records 25 -> samples 25") && strstr(out, " p50 ") && strstr(out, "packing (budget 2048 tokens, 128 meta"),
                  "%s", out);
    free(out);
    HY_EXPECT(run(&out, "data inspect '%s' -n 1 --model '%s'", store, MODEL) == 0);
    /* the first assistant reply of MT-Bench question 1 starts "If you have"; spec §13.3: "<extra_id_0>" = 529 17833 ... */
    HY_EXPECT_MSG(out && strstr(out, "── sample 0 (") && strstr(out, "<extra_id_1>Assistant\n[[If you have") && strstr(out, "ids: 529 17833 29918") &&
                      strstr(out, " 13 [[") && strstr(out, " 2]]\n"),
                  "%s", out);
    free(out);
    HY_EXPECT(render_matches_store(file, store, 25, 0) == 0);
    return 0;
}

HY_TEST(cli_render_preference_matches_store) {
    char dir[512], store[700], *out = NULL;
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "cli") == 0);
    snprintf(store, sizeof store, "%s/oasst.hystore", dir);
    const char *file = DATA "dpo-oasst.train.jsonl.zst";
    HY_EXPECT(run(&out, "data prepare --model '%s' --out '%s' --max-len 0 --threads 3 '%s' 2>&1", MODEL, store, file) == 0);
    HY_EXPECT_MSG(out && strstr(out, "176 preference samples"), "%s", out);
    free(out);
    HY_EXPECT(render_matches_store(file, store, 176, 1) == 0);
    return 0;
}

HY_TEST(cli_errors_name_file_and_line) {
    char dir[512], path[700], cmd[2000], *out = NULL;
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "cli") == 0);
    snprintf(path, sizeof path, "%s/bad.jsonl", dir);
    const char *text = "{\"messages\": [{\"role\": \"user\", \"content\": \"u\"}, {\"role\": \"assistant\", \"content\": \"a\"}]}\n"
                       "{\"messages\": [{\"role\": \"user\", \"content\": \"u\"}, {\"role\": \"bot\", \"content\": \"a\"}]}\n";
    HY_EXPECT(hy_test_write_file(path, text, strlen(text)) == 0);
    HY_EXPECT(run(&out, "data prepare --model '%s' --out '%s/s.hystore' '%s' 2>&1", MODEL, dir, path) == 1);
    char want[2000];
    snprintf(want, sizeof want, "hymba: error: hymba data prepare: preparing %s/s.hystore: %s:2: \"messages\"[1].role: expected one of system, user, "
             "assistant, tool; got \"bot\"", dir, path);
    HY_EXPECT_MSG(out && strstr(out, want), "got: %s\nwant: %s", out, want);
    free(out);
    HY_EXPECT(run(&out, "data prepare --model '%s' --out '%s/s.hystore' --on-error skip '%s' 2>&1", MODEL, dir, path) == 0);
    HY_EXPECT_MSG(out && strstr(out, "1 SFT sample from 2 records") && strstr(out, "1 record skipped; first reason:"), "%s", out);
    free(out);
    HY_EXPECT(run(&out, "data render '%s' --model '%s' 2>&1", path, MODEL) == 1);
    HY_EXPECT_MSG(out && strstr(out, ":2: \"messages\"[1].role"), "%s", out);
    free(out);
    /* a truncated .zst */
    snprintf(cmd, sizeof cmd, "head -c 20000 '%s' > '%s/cut.jsonl.zst'", DATA "sft1-gsm8k.train.jsonl.zst", dir);
    HY_EXPECT(hy_test_run(cmd, NULL) == 0);
    HY_EXPECT(run(&out, "data prepare --model '%s' --out '%s/t.hystore' '%s/cut.jsonl.zst' 2>&1", MODEL, dir, dir) == 1);
    HY_EXPECT_MSG(out && strstr(out, "cut.jsonl.zst:") && strstr(out, ": truncated zstd stream"), "%s", out);
    free(out);
    HY_EXPECT(run(&out, "data prepare --model '%s' --kind robots x.jsonl 2>&1", MODEL) == 2);
    HY_EXPECT(out && strstr(out, "--kind: invalid value 'robots'"));
    free(out);
    HY_EXPECT(run(&out, "data frobnicate 2>&1") == 2);
    free(out);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
