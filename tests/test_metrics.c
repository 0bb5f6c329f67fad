/* test_metrics.c — metrics.jsonl records (one object per line, non-finite as
 * null), truncation on resume, the progress line's format, and the terminal
 * versus plain display modes. */
#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/metrics.h"
#include "tests/harness.h"

static hy_train_progress sample_progress(void) {
    hy_train_progress p = {0};
    p.step = 120;
    p.total_steps = 1000;
    p.epoch = 0.3612;
    p.loss = 1.23456;
    p.lr = 2e-5;
    p.grad_norm = 0.8123;
    p.tokens_per_s = 12345;
    p.tokens = 999;
    p.supervised_tokens = 45678;
    p.elapsed_s = 62;
    p.eta_s = 520;
    return p;
}

/* Parse line `k` (0-based) of a JSONL file. */
static hy_json *jsonl_line(const char *path, int k, int *n_lines) {
    char *data;
    size_t len;
    if (hy_fs_read_file(path, &data, &len) != HY_OK) return NULL;
    hy_json *out = NULL;
    int line = 0;
    for (char *s = data; *s;) {
        char *nl = strchr(s, '\n');
        size_t l = nl ? (size_t)(nl - s) : strlen(s);
        if (line == k && hy_json_parse(&out, s, l, path) != HY_OK) out = NULL;
        line++;
        s += l + (nl ? 1 : 0);
    }
    if (n_lines) *n_lines = line;
    hy_free(data);
    return out;
}

HY_TEST(jsonl_records) {
    char tmp[512], path[HY_PATH_MAX];
    HY_EXPECT(hy_test_tmpdir(tmp, sizeof tmp, "metrics") == 0);
    snprintf(path, sizeof path, "%s/run/metrics.jsonl", tmp); /* parent is created */
    hy_metrics *m;
    HY_EXPECT_OK(hy_metrics_open(&m, path, -1));
    hy_train_progress p = sample_progress();
    hy_json *extra = hy_json_object();
    HY_EXPECT_OK(hy_json_set(extra, "rewards/margins", hy_json_real(0.5)));
    HY_EXPECT_OK(hy_metrics_log_train(m, &p, extra));
    hy_json_free(extra);
    p.step = 121;
    p.loss = NAN;
    p.grad_norm = INFINITY;
    HY_EXPECT_OK(hy_metrics_log_train(m, &p, NULL));
    HY_EXPECT_OK(hy_metrics_log_eval(m, 121, "eval/chat", log(4.0), 321, NULL));
    /* flushed: readable before close */
    int n;
    hy_json *r0 = jsonl_line(path, 0, &n);
    HY_EXPECT_MSG(n == 3 && r0, "lines %d", n);
    HY_EXPECT(!strcmp(hy_json_str(hy_json_get(r0, "type")), "train"));
    HY_EXPECT(hy_json_int(hy_json_get(r0, "step")) == 120);
    HY_EXPECT(hy_json_num(hy_json_get(r0, "loss")) == 1.23456);
    HY_EXPECT(hy_json_num(hy_json_get(r0, "lr")) == 2e-5);
    HY_EXPECT(hy_json_int(hy_json_get(r0, "supervised_tokens")) == 45678);
    HY_EXPECT(hy_json_num(hy_json_get(r0, "rewards/margins")) == 0.5);
    hy_json_free(r0);
    hy_json *r1 = jsonl_line(path, 1, NULL);
    HY_EXPECT(r1 && hy_json_typeof(hy_json_get(r1, "loss")) == HY_JSON_NULL);
    HY_EXPECT(hy_json_typeof(hy_json_get(r1, "grad_norm")) == HY_JSON_NULL);
    hy_json_free(r1);
    hy_json *r2 = jsonl_line(path, 2, NULL);
    HY_EXPECT(r2 && !strcmp(hy_json_str(hy_json_get(r2, "dataset")), "eval/chat"));
    HY_EXPECT(fabs(hy_json_num(hy_json_get(r2, "ppl")) - 4.0) < 1e-12);
    hy_json_free(r2);
    hy_metrics_close(m);
    HY_EXPECT_OK(hy_fs_rm_rf(tmp));
    return 0;
}

HY_TEST(resume_truncates_later_steps) {
    char tmp[512], path[HY_PATH_MAX];
    HY_EXPECT(hy_test_tmpdir(tmp, sizeof tmp, "metrics") == 0);
    snprintf(path, sizeof path, "%s/metrics.jsonl", tmp);
    const char *text = "{\"type\":\"train\",\"step\":1}\n{\"type\":\"train\",\"step\":2}\n{\"type\":\"eval\",\"step\":2}\n"
                       "{\"type\":\"note\"}\n{\"type\":\"train\",\"step\":3}\n{\"type\":\"train\",\"step\":4}\n"
                       "{\"type\":\"train\",\"st";
    HY_EXPECT(hy_test_write_file(path, text, strlen(text)) == 0);
    hy_metrics *m;
    HY_EXPECT_OK(hy_metrics_open(&m, path, 2));
    hy_train_progress p = sample_progress();
    p.step = 3;
    HY_EXPECT_OK(hy_metrics_log_train(m, &p, NULL));
    hy_metrics_close(m);
    int n;
    hy_json *last = jsonl_line(path, 4, &n);
    HY_EXPECT_MSG(n == 5, "lines %d (want steps 1, 2, eval 2, the note, new 3)", n);
    HY_EXPECT(last && hy_json_int(hy_json_get(last, "step")) == 3 && hy_json_get(last, "loss"));
    hy_json_free(last);
    hy_json *note = jsonl_line(path, 3, NULL);
    HY_EXPECT(note && !strcmp(hy_json_str(hy_json_get(note, "type")), "note"));
    hy_json_free(note);
    /* resume_step < 0 starts over */
    HY_EXPECT_OK(hy_metrics_open(&m, path, -1));
    hy_metrics_close(m);
    char *data;
    size_t len;
    HY_EXPECT_OK(hy_fs_read_file(path, &data, &len));
    HY_EXPECT(len == 0);
    hy_free(data);
    HY_EXPECT_OK(hy_fs_rm_rf(tmp));
    return 0;
}

HY_TEST(progress_format) {
    char buf[512];
    hy_train_progress p = sample_progress();
    hy_train_progress_format(buf, sizeof buf, &p);
    const char *want = "step 120/1000 (12.0%) | epoch 0.36 | loss 1.2346 | lr 2.00e-05 | gnorm 0.812 | 12.3k tok/s | "
                       "sup 45.7k | 01:02 < 08:40";
    HY_EXPECT_MSG(!strcmp(buf, want), "\n    got  %s\n    want %s", buf, want);
    char d[32];
    HY_EXPECT(!strcmp(hy_format_duration(d, sizeof d, 59.4), "59s"));
    HY_EXPECT(!strcmp(hy_format_duration(d, sizeof d, 3723), "1:02:03"));
    HY_EXPECT(!strcmp(hy_format_duration(d, sizeof d, 2 * 86400 + 3 * 3600 + 5), "2d03h"));
    HY_EXPECT(!strcmp(hy_format_duration(d, sizeof d, -1), "?"));
    HY_EXPECT(!strcmp(hy_format_count(d, sizeof d, 950), "950"));
    HY_EXPECT(!strcmp(hy_format_count(d, sizeof d, 4.56e6), "4.56M"));
    HY_EXPECT(!strcmp(hy_format_count(d, sizeof d, 123.4e9), "123G"));
    HY_EXPECT(hy_train_eta(10.0, 5, 20) == 40.0 && hy_train_eta(10.0, 0, 20) < 0);
    return 0;
}

/* Run the display against a temporary file in the given mode; return its text. */
static char *display_run(const char *mode) {
    FILE *f = tmpfile();
    if (!f) return NULL;
    setenv("HYMBA_PROGRESS", mode, 1);
    hy_progress_line d;
    hy_progress_line_init(&d, f);
    unsetenv("HYMBA_PROGRESS");
    hy_train_progress p = sample_progress();
    hy_progress_line_update(&d, &p);
    hy_progress_line_message(&d, "warning: skipped a step");
    p.step = 121;
    hy_progress_line_update(&d, &p);
    hy_progress_line_finish(&d);
    long n = ftell(f);
    char *s = calloc((size_t)n + 1, 1);
    rewind(f);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = 0;
    fclose(f);
    return s;
}

HY_TEST(progress_display_modes) {
    char *plain = display_run("plain");
    HY_EXPECT(plain && !strchr(plain, '\r') && !strchr(plain, '\x1b'));
    HY_EXPECT(!strncmp(plain, "step 120/1000", 13));
    HY_EXPECT(strstr(plain, "\nwarning: skipped a step\nstep 121/1000"));
    int lines = 0;
    for (char *c = plain; *c; c++) lines += *c == '\n';
    HY_EXPECT_MSG(lines == 3, "plain mode printed %d lines", lines);
    free(plain);
    char *tty = display_run("tty");
    HY_EXPECT(tty && !strncmp(tty, "\rstep 120/1000", 14));
    /* the message clears the line, prints, and redraws the progress line */
    HY_EXPECT(strstr(tty, "\r\x1b[Kwarning: skipped a step\nstep 120/1000"));
    HY_EXPECT(strstr(tty, "\rstep 121/1000"));
    size_t n = strlen(tty);
    HY_EXPECT(n > 0 && tty[n - 1] == '\n'); /* finish ends the line */
    free(tty);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
