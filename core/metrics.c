/* metrics.c — metrics.jsonl records and the progress line (see metrics.h).
 * Records are built with the JSON wrapper and dumped compactly, one per line,
 * each followed by fflush: the file is a log, readable while training runs.
 * Resuming rewrites the file (atomically) without the records that the
 * resumed run will produce again, so straight and resumed logs are equal. */
#include "metrics.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "fsutil.h"
#include "log.h"

struct hy_metrics {
    FILE *f;
    char path[HY_PATH_MAX];
};

/* ---------------------------------------------------------------- file */

/* Keep the lines of `text` that are objects whose "step" (if any) is ≤ limit. */
static hy_status hy_metrics_filter(const char *path, const char *text, size_t len, int64_t limit, char *out,
                                   size_t *out_len) {
    size_t o = 0, line_no = 0;
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - text) : len;
        line_no++;
        if (e > i) {
            hy_json *j = NULL;
            int keep = 0;
            if (hy_json_parse(&j, text + i, e - i, path) == HY_OK && hy_json_typeof(j) == HY_JSON_OBJECT) {
                hy_json *s = hy_json_get(j, "step");
                keep = !s || hy_json_int(s) <= limit;
            } else {
                hy_log_warn("%s:%zu: dropping a line that is not a JSON object (interrupted write?)", path, line_no);
            }
            hy_json_free(j);
            if (keep) {
                memcpy(out + o, text + i, e - i);
                o += e - i;
                out[o++] = '\n';
            }
        }
        i = e + 1;
    }
    hy_error_clear();
    *out_len = o;
    return HY_OK;
}

static hy_status hy_metrics_truncate_after(const char *path, int64_t resume_step) {
    if (!hy_fs_exists(path)) return HY_OK;
    char *text = NULL, *kept = NULL;
    size_t len = 0, kept_len = 0;
    HY_TRY(hy_fs_read_file(path, &text, &len));
    hy_status st = hy_malloc((void **)&kept, len + 2, 0, "metrics log");
    if (st == HY_OK) st = hy_metrics_filter(path, text, len, resume_step, kept, &kept_len);
    if (st == HY_OK) st = hy_fs_write_atomic(path, kept, kept_len);
    hy_free(kept);
    hy_free(text);
    return st;
}

hy_status hy_metrics_open(hy_metrics **out, const char *path, int64_t resume_step) {
    *out = NULL;
    char parent[HY_PATH_MAX];
    snprintf(parent, sizeof parent, "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        HY_TRY(hy_fs_mkdir_p(parent));
    }
    if (resume_step >= 0) HY_TRY(hy_metrics_truncate_after(path, resume_step));
    hy_metrics *m;
    HY_TRY(hy_malloc((void **)&m, sizeof *m, 1, "metrics writer"));
    snprintf(m->path, sizeof m->path, "%s", path);
    m->f = fopen(path, resume_step >= 0 ? "a" : "w");
    if (!m->f) {
        hy_free(m);
        return hy_errorf(HY_ERR_IO, "%s: cannot open the metrics file for writing", path);
    }
    *out = m;
    return HY_OK;
}

void hy_metrics_close(hy_metrics *m) {
    if (!m) return;
    if (m->f && fclose(m->f) != 0) hy_log_warn("%s: error closing the metrics file", m->path);
    hy_free(m);
}

hy_status hy_metrics_write(hy_metrics *m, const hy_json *record) {
    char *s = hy_json_dump(record, HY_JSON_COMPACT);
    if (!s) return hy_errorf(HY_ERR_INTERNAL, "%s: cannot serialise a metrics record", m->path);
    int bad = fputs(s, m->f) < 0 || fputc('\n', m->f) == EOF || fflush(m->f) != 0;
    free(s);
    if (bad) return hy_errorf(HY_ERR_IO, "%s: cannot write a metrics record (disk full?)", m->path);
    return HY_OK;
}

hy_json *hy_metrics_number(double v) { return isfinite(v) ? hy_json_real(v) : hy_json_null(); }

/* Append members of `extra` to `rec` (new references). */
static hy_status hy_metrics_merge(hy_json *rec, const hy_json *extra) {
    if (!extra) return HY_OK;
    for (void *it = hy_json_iter(extra); it; it = hy_json_iter_next(extra, it))
        HY_TRY(hy_json_set(rec, hy_json_iter_key(it), hy_json_ref(hy_json_iter_value(it))));
    return HY_OK;
}

static hy_status hy_metrics_finish(hy_metrics *m, hy_json *rec, hy_status st, const hy_json *extra) {
    if (st == HY_OK) st = hy_metrics_merge(rec, extra);
    if (st == HY_OK) st = hy_metrics_write(m, rec);
    hy_json_free(rec);
    return st;
}

hy_status hy_metrics_log_train(hy_metrics *m, const hy_train_progress *p, const hy_json *extra) {
    hy_json *r = hy_json_object();
    if (!r) return hy_errorf(HY_ERR_OOM, "out of memory building a metrics record");
    hy_status st = HY_OK;
    if (st == HY_OK) st = hy_json_set(r, "type", hy_json_string("train"));
    if (st == HY_OK) st = hy_json_set(r, "step", hy_json_integer(p->step));
    if (st == HY_OK) st = hy_json_set(r, "epoch", hy_metrics_number(p->epoch));
    if (st == HY_OK) st = hy_json_set(r, "loss", hy_metrics_number(p->loss));
    if (st == HY_OK) st = hy_json_set(r, "lr", hy_metrics_number(p->lr));
    if (st == HY_OK) st = hy_json_set(r, "grad_norm", hy_metrics_number(p->grad_norm));
    if (st == HY_OK) st = hy_json_set(r, "tokens", hy_json_integer(p->tokens));
    if (st == HY_OK) st = hy_json_set(r, "supervised_tokens", hy_json_integer(p->supervised_tokens));
    if (st == HY_OK) st = hy_json_set(r, "tokens_per_s", hy_metrics_number(p->tokens_per_s));
    if (st == HY_OK) st = hy_json_set(r, "elapsed_s", hy_metrics_number(p->elapsed_s));
    return hy_metrics_finish(m, r, st, extra);
}

hy_status hy_metrics_log_eval(hy_metrics *m, int64_t step, const char *dataset, double loss, int64_t supervised_tokens,
                              const hy_json *extra) {
    hy_json *r = hy_json_object();
    if (!r) return hy_errorf(HY_ERR_OOM, "out of memory building a metrics record");
    hy_status st = HY_OK;
    if (st == HY_OK) st = hy_json_set(r, "type", hy_json_string("eval"));
    if (st == HY_OK) st = hy_json_set(r, "step", hy_json_integer(step));
    if (st == HY_OK) st = hy_json_set(r, "dataset", hy_json_string(dataset ? dataset : ""));
    if (st == HY_OK) st = hy_json_set(r, "loss", hy_metrics_number(loss));
    if (st == HY_OK) st = hy_json_set(r, "ppl", hy_metrics_number(exp(loss)));
    if (st == HY_OK) st = hy_json_set(r, "supervised_tokens", hy_json_integer(supervised_tokens));
    return hy_metrics_finish(m, r, st, extra);
}

/* ---------------------------------------------------------------- formatting */

char *hy_format_duration(char *buf, size_t n, double seconds) {
    if (!(seconds >= 0) || seconds > 1e9) {
        snprintf(buf, n, "?");
        return buf;
    }
    long s = (long)(seconds + 0.5);
    if (s < 60) snprintf(buf, n, "%lds", s);
    else if (s < 3600) snprintf(buf, n, "%02ld:%02ld", s / 60, s % 60);
    else if (s < 86400) snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else snprintf(buf, n, "%ldd%02ldh", s / 86400, (s / 3600) % 24);
    return buf;
}

char *hy_format_count(char *buf, size_t n, double v) {
    const char *unit = "";
    double a = fabs(v);
    if (a >= 1e9) { v /= 1e9; unit = "G"; }
    else if (a >= 1e6) { v /= 1e6; unit = "M"; }
    else if (a >= 1e3) { v /= 1e3; unit = "k"; }
    if (*unit) snprintf(buf, n, "%.*f%s", fabs(v) >= 100 ? 0 : (fabs(v) >= 10 ? 1 : 2), v, unit);
    else snprintf(buf, n, "%.0f", v);
    return buf;
}

double hy_train_eta(double elapsed_s, int64_t steps_done, int64_t steps_left) {
    if (steps_done <= 0) return -1;
    return elapsed_s / (double)steps_done * (double)(steps_left > 0 ? steps_left : 0);
}

char *hy_train_progress_format(char *buf, size_t n, const hy_train_progress *p) {
    char tps[32], sup[32], el[32], eta[32];
    double pct = p->total_steps > 0 ? 100.0 * (double)p->step / (double)p->total_steps : 0.0;
    hy_format_count(tps, sizeof tps, p->tokens_per_s);
    hy_format_count(sup, sizeof sup, (double)p->supervised_tokens);
    hy_format_duration(el, sizeof el, p->elapsed_s);
    hy_format_duration(eta, sizeof eta, p->eta_s);
    snprintf(buf, n, "step %lld/%lld (%.1f%%) | epoch %.2f | loss %.4f | lr %.2e | gnorm %.3f | %s tok/s | sup %s | %s < %s",
             (long long)p->step, (long long)p->total_steps, pct, p->epoch, p->loss, p->lr, p->grad_norm, tps, sup, el,
             eta);
    return buf;
}

/* ---------------------------------------------------------------- display */

void hy_progress_line_init(hy_progress_line *d, FILE *out) {
    memset(d, 0, sizeof *d);
    d->out = out;
    const char *mode = getenv("HYMBA_PROGRESS");
    if (mode && !strcmp(mode, "plain")) d->tty = 0;
    else if (mode && !strcmp(mode, "tty")) d->tty = 1;
    else d->tty = isatty(fileno(out));
}

void hy_progress_line_update(hy_progress_line *d, const hy_train_progress *p) {
    hy_train_progress_format(d->last, sizeof d->last, p);
    if (d->tty) {
        fprintf(d->out, "\r%s\x1b[K", d->last); /* ESC[K clears what a longer previous line left */
        d->pending = 1;
    } else {
        fprintf(d->out, "%s\n", d->last);
    }
    fflush(d->out);
}

void hy_progress_line_message(hy_progress_line *d, const char *text) {
    if (d->tty && d->pending) {
        fprintf(d->out, "\r\x1b[K%s\n%s", text, d->last);
    } else {
        fprintf(d->out, "%s\n", text);
    }
    fflush(d->out);
}

void hy_progress_line_finish(hy_progress_line *d) {
    if (d->tty && d->pending) fputc('\n', d->out);
    d->pending = 0;
    fflush(d->out);
}
