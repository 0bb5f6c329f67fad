/* alloc.h — host allocation with byte accounting and fault injection.
 * Every host allocation of meaningful size goes through hy_malloc so that
 * (a) failures become HY_ERR_OOM with what was being allocated, and
 * (b) tests can inject the failure of the N-th allocation
 *     (environment HYMBA_FAIL_ALLOC=N) to prove error paths leak nothing.
 * The counters are process-wide atomics: statistics, not configuration. */
#ifndef HY_ALLOC_H
#define HY_ALLOC_H
#include "hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Allocate `bytes` (zeroed when `zero`); on failure record "out of memory
 * allocating <what> (<bytes>)" and return HY_ERR_OOM with *out = NULL. */
hy_status hy_malloc(void **out, size_t bytes, int zero, const char *what);
/* Resize; *p keeps its old block on failure. */
hy_status hy_realloc(void **p, size_t new_bytes, const char *what);
/* Blocks are 64-byte aligned; the size lives in a hidden header. */
void hy_free(void *p);

size_t hy_alloc_bytes_live(void);  /* bytes currently allocated via hy_malloc */
size_t hy_alloc_bytes_peak(void);  /* high-water mark */
void hy_fmt_bytes(char *buf, size_t n, double bytes); /* "1.52 GiB" */
/* 1522797824 → "1,522,797,824"; returns buf. */
const char *hy_fmt_thousands(char *buf, size_t n, size_t v);

#ifdef __cplusplus
}
#endif
#endif
