/* log.h — levelled messages to stderr.  Progress lines and results go to
 * stdout through the commands themselves; diagnostics come here.  Rank-aware
 * printing is the caller's business (only rank 0 calls hy_log_info). */
#ifndef HY_LOG_H
#define HY_LOG_H
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HY_LOG_DEBUG = 0, HY_LOG_INFO, HY_LOG_WARN, HY_LOG_ERROR } hy_log_level;

/* Messages below the level in HYMBA_LOG (debug|info|warn|error; default info)
 * are dropped. */
void hy_log(hy_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
#define hy_log_debug(...) hy_log(HY_LOG_DEBUG, __VA_ARGS__)
#define hy_log_info(...) hy_log(HY_LOG_INFO, __VA_ARGS__)
#define hy_log_warn(...) hy_log(HY_LOG_WARN, __VA_ARGS__)
#define hy_log_error(...) hy_log(HY_LOG_ERROR, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
