/* status.c — status names and the per-thread error message buffer.
 * Messages are composed innermost-first: the failing call writes the cause,
 * each caller may prepend its context ("loading model/: reading config.json: ...").
 * The buffer is thread-local so worker threads (data preparation) can fail
 * independently without locking. */
#include "hy_base.h"

#include <stdarg.h>
#include <string.h>

enum { HY_ERRBUF = 4096 };
static _Thread_local char hy_errbuf[HY_ERRBUF];

const char *hy_status_name(hy_status s) {
    switch (s) {
    case HY_OK: return "ok";
    case HY_ERR_IO: return "I/O error";
    case HY_ERR_FORMAT: return "format error";
    case HY_ERR_CONFIG: return "configuration error";
    case HY_ERR_ARG: return "invalid argument";
    case HY_ERR_OOM: return "out of memory";
    case HY_ERR_UNSUPPORTED: return "unsupported";
    case HY_ERR_DATA: return "data error";
    case HY_ERR_CUDA: return "CUDA error";
    case HY_ERR_NCCL: return "NCCL error";
    case HY_ERR_NUMERIC: return "numerical error";
    case HY_ERR_INTERRUPTED: return "interrupted";
    case HY_ERR_MISMATCH: return "mismatch";
    case HY_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

hy_status hy_errorf(hy_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hy_errbuf, sizeof hy_errbuf, fmt, ap);
    va_end(ap);
    return code;
}

void hy_error_context(const char *fmt, ...) {
    char prefix[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    /* shift the current message right and put "prefix: " in front (truncating the tail) */
    size_t plen = strlen(prefix), mlen = strlen(hy_errbuf);
    if (plen + 2 >= HY_ERRBUF) return;
    if (plen + 2 + mlen >= HY_ERRBUF) mlen = HY_ERRBUF - plen - 3;
    memmove(hy_errbuf + plen + 2, hy_errbuf, mlen);
    hy_errbuf[plen + 2 + mlen] = 0;
    memcpy(hy_errbuf, prefix, plen);
    hy_errbuf[plen] = ':';
    hy_errbuf[plen + 1] = ' ';
}

const char *hy_last_error(void) { return hy_errbuf; }
void hy_error_clear(void) { hy_errbuf[0] = 0; }

void hy_panic_at(const char *file, int line, const char *func, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "hymba: internal error in %s (%s:%d): ", func, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nThis is a bug in hymba; please report it with the command that triggered it.\n");
    fflush(stderr);
    abort();
}
