/* log.c — see log.h.  The threshold is read from the environment on each call
 * (logging is rare next to the work it reports), so there is no global state. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static hy_log_level hy_log_threshold(void) {
    const char *e = getenv("HYMBA_LOG");
    if (!e) return HY_LOG_INFO;
    if (!strcmp(e, "debug")) return HY_LOG_DEBUG;
    if (!strcmp(e, "warn")) return HY_LOG_WARN;
    if (!strcmp(e, "error")) return HY_LOG_ERROR;
    return HY_LOG_INFO;
}

void hy_log(hy_log_level level, const char *fmt, ...) {
    if (level < hy_log_threshold()) return;
    static const char *tag[] = {"debug: ", "", "warning: ", "error: "};
    char buf[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "hymba: %s%s\n", tag[level], buf);
}
