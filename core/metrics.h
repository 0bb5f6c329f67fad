/* metrics.h — the metrics.jsonl writer and the training progress line.
 *
 * metrics.jsonl: one compact JSON object per line, flushed after every line
 * so a crash loses at most the line being written.  Records carry "type"
 * ("train", "eval", or the caller's own) and "step".  Non-finite numbers are
 * written as null (JSON has no NaN/inf).  On resume, hy_metrics_open drops the
 * records whose step is beyond the checkpoint being resumed, so the log of a
 * resumed run equals the log of a straight run.
 *
 * Progress: on a terminal one line rewritten in place ("\r" + clear to end of
 * line); otherwise (pipe, file, CI) one plain line per update.  HYMBA_PROGRESS
 * = plain | tty forces either. */
#ifndef HY_METRICS_H
#define HY_METRICS_H
#include "hy_base.h"
#include "json.h"
#ifdef __cplusplus
extern "C" {
#endif

/* What one training log step reports (also the fields of a "train" record). */
typedef struct {
    int64_t step;              /* updates done, 1-based after the first */
    int64_t total_steps;
    double epoch;              /* fractional epoch */
    double loss;               /* mean over supervised tokens of the global batch */
    double lr;
    double grad_norm;          /* before clipping */
    double tokens_per_s;       /* all tokens (padding excluded) per second */
    int64_t tokens;            /* tokens in this logging interval */
    int64_t supervised_tokens; /* supervised tokens in this logging interval */
    double elapsed_s;          /* since the run (or the resume) started */
    double eta_s;              /* < 0: unknown */
} hy_train_progress;

/* ---- metrics.jsonl ---- */

typedef struct hy_metrics hy_metrics;

/* Open `path` for appending (creating parents).  When `resume_step` ≥ 0,
 * lines whose "step" is greater than resume_step are removed first (the file
 * is rewritten atomically); lines that are not JSON objects are dropped with
 * a warning.  resume_step < 0 starts a new file (truncating). */
hy_status hy_metrics_open(hy_metrics **out, const char *path, int64_t resume_step);
void hy_metrics_close(hy_metrics *m);
/* Append `record` (a JSON object) as one line and flush. */
hy_status hy_metrics_write(hy_metrics *m, const hy_json *record);
/* {"type":"train","step":..,"epoch":..,"loss":..,"lr":..,"grad_norm":..,
 *  "tokens":..,"supervised_tokens":..,"tokens_per_s":..,"elapsed_s":..}
 * plus every member of `extra` (an object, may be NULL) appended in order. */
hy_status hy_metrics_log_train(hy_metrics *m, const hy_train_progress *p, const hy_json *extra);
/* {"type":"eval","step":..,"dataset":..,"loss":..,"ppl":..,"supervised_tokens":..}
 * plus `extra` as above; ppl = exp(loss). */
hy_status hy_metrics_log_eval(hy_metrics *m, int64_t step, const char *dataset, double loss, int64_t supervised_tokens,
                              const hy_json *extra);
/* A JSON number, or null for non-finite values (new reference). */
hy_json *hy_metrics_number(double v);

/* ---- progress line ---- */

typedef struct {
    FILE *out;
    int tty;      /* rewrite one line in place */
    int pending;  /* a line is shown without its newline */
    char last[512];
} hy_progress_line;

/* Detects a terminal with isatty(fileno(out)) unless HYMBA_PROGRESS says. */
void hy_progress_line_init(hy_progress_line *d, FILE *out);
/* Show `p` (tty: replace the current line; otherwise print a line). */
void hy_progress_line_update(hy_progress_line *d, const hy_train_progress *p);
/* Print a message on its own line without garbling the progress line
 * (tty: clear it, print, redraw). */
void hy_progress_line_message(hy_progress_line *d, const char *text);
/* End the in-place line with a newline (tty), so later output starts clean. */
void hy_progress_line_finish(hy_progress_line *d);

/* Format the progress line, e.g.
 * "step 120/1000 (12.0%) | epoch 0.36 | loss 1.2345 | lr 2.00e-05 | gnorm 0.812 |
 *  12.3k tok/s | sup 45.6k | 01:02 < 08:40" (one line).  Returns buf. */
char *hy_train_progress_format(char *buf, size_t n, const hy_train_progress *p);
/* "59s", "01:02", "1:02:03", "2d03h" style durations; "?" when negative. */
char *hy_format_duration(char *buf, size_t n, double seconds);
/* 950, 12.3k, 4.56M, 7.89G. */
char *hy_format_count(char *buf, size_t n, double v);
/* Remaining time from the pace so far: elapsed / done · left (−1 when done = 0). */
double hy_train_eta(double elapsed_s, int64_t steps_done, int64_t steps_left);

#ifdef __cplusplus
}
#endif
#endif
