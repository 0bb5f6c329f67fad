/* hy_base.h — status codes, error messages, assertions, small helpers.
 *
 * Two tiers of failure (DESIGN.md §3):
 *   - broken invariants (programmer errors): HY_ASSERT / HY_PANIC print the
 *     expression, function and file:line and abort;
 *   - anything the user or the environment can cause: a function returns an
 *     hy_status and records a human-readable message with hy_errorf().  Callers
 *     relay it with HY_TRY, optionally prefixing context with hy_error_context().
 *     Only main() decides to exit.
 *
 * The message buffer is thread-local (like errno): each thread reports its
 * own failure, and no state is shared between threads or contexts. */
#ifndef HY_BASE_H
#define HY_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    HY_OK = 0,
    HY_ERR_IO,          /* file missing, unreadable, short write, fsync failure */
    HY_ERR_FORMAT,      /* malformed file contents (JSON, safetensors, store) */
    HY_ERR_CONFIG,      /* model config or recipe invalid or unsupported */
    HY_ERR_ARG,         /* bad command-line argument or API argument */
    HY_ERR_OOM,         /* allocation failed (host or device) */
    HY_ERR_UNSUPPORTED, /* valid input the toolkit does not implement */
    HY_ERR_DATA,        /* bad dataset record */
    HY_ERR_CUDA,        /* CUDA / cuBLAS failure */
    HY_ERR_NCCL,        /* NCCL / rendezvous failure */
    HY_ERR_NUMERIC,     /* non-finite loss or gradients */
    HY_ERR_INTERRUPTED, /* stopped by a signal */
    HY_ERR_MISMATCH,    /* versioned file made from something else */
    HY_ERR_INTERNAL
} hy_status;

const char *hy_status_name(hy_status s);

/* Record a formatted message for the current thread and return `code`. */
hy_status hy_errorf(hy_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prefix the current message with "context: " (for relaying up the stack). */
void hy_error_context(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The last message recorded on this thread ("" when none). */
const char *hy_last_error(void);
void hy_error_clear(void);

#define HY_TRY(expr)                      \
    do {                                  \
        hy_status hy_try_s_ = (expr);     \
        if (hy_try_s_ != HY_OK) return hy_try_s_; \
    } while (0)

/* Jump to a cleanup label on failure, keeping the status in `st`. */
#define HY_CHECK_GOTO(st, expr, label)    \
    do {                                  \
        (st) = (expr);                    \
        if ((st) != HY_OK) goto label;    \
    } while (0)

void hy_panic_at(const char *file, int line, const char *func, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((noreturn, format(printf, 4, 5)))
#endif
    ;

#define HY_PANIC(...) hy_panic_at(__FILE__, __LINE__, __func__, __VA_ARGS__)
#define HY_ASSERT(cond)                                                  \
    do {                                                                 \
        if (!(cond)) hy_panic_at(__FILE__, __LINE__, __func__,           \
                                 "assertion failed: %s", #cond);         \
    } while (0)

#define HY_CEIL_DIV(a, b) (((a) + (b) - 1) / (b))
#define HY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static inline int hy_imin(int a, int b) { return a < b ? a : b; }
static inline int hy_imax(int a, int b) { return a > b ? a : b; }
static inline size_t hy_zmin(size_t a, size_t b) { return a < b ? a : b; }
static inline size_t hy_zmax(size_t a, size_t b) { return a > b ? a : b; }

#ifdef __cplusplus
}
#endif
#endif
