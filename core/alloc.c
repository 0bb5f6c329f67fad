/* alloc.c — see alloc.h.  Each block carries a 64-byte header holding its size
 * (so hy_free needs no size and blocks stay 64-byte aligned for SIMD loads).
 * Fault injection reads HYMBA_FAIL_ALLOC on each call (cheap next to the
 * allocation it guards) so no mutable configuration lives in a global. */
#include "alloc.h"

#include <stdatomic.h>
#include <string.h>

enum { HY_HDR = 64 };

static _Atomic size_t hy_live;
static _Atomic size_t hy_peak;
static _Atomic long hy_count;

static int hy_should_fail(void) {
    const char *e = getenv("HYMBA_FAIL_ALLOC");
    long n = atomic_fetch_add(&hy_count, 1) + 1;
    return e && *e && atol(e) == n;
}

static void hy_account(size_t add, size_t sub) {
    size_t now = atomic_fetch_add(&hy_live, add) + add;
    atomic_fetch_sub(&hy_live, sub);
    now -= sub;
    size_t pk = atomic_load(&hy_peak);
    while (now > pk && !atomic_compare_exchange_weak(&hy_peak, &pk, now)) {
    }
}

void hy_fmt_bytes(char *buf, size_t n, double b) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024.0 && i < 4) { b /= 1024.0; i++; }
    snprintf(buf, n, i ? "%.2f %s" : "%.0f %s", b, u[i]);
}

const char *hy_fmt_thousands(char *buf, size_t n, size_t v) {
    char raw[32];
    int len = snprintf(raw, sizeof raw, "%zu", v), k = 0;
    for (int i = 0; i < len && (size_t)k + 2 < n; i++) {
        if (i && (len - i) % 3 == 0) buf[k++] = ',';
        buf[k++] = raw[i];
    }
    buf[k] = 0;
    return buf;
}

static hy_status hy_oom(size_t bytes, const char *verb, const char *what) {
    char b[32];
    hy_fmt_bytes(b, sizeof b, (double)bytes);
    return hy_errorf(HY_ERR_OOM, "out of memory %s %s (%s)", verb, what ? what : "memory", b);
}

hy_status hy_malloc(void **out, size_t bytes, int zero, const char *what) {
    *out = NULL;
    char *p = NULL;
    size_t total = ((bytes + HY_HDR + 63) / 64) * 64;
    if (!hy_should_fail()) p = aligned_alloc(64, total);
    if (!p) return hy_oom(bytes, "allocating", what);
    memcpy(p, &bytes, sizeof bytes);
    if (zero) memset(p + HY_HDR, 0, bytes);
    hy_account(bytes, 0);
    *out = p + HY_HDR;
    return HY_OK;
}

hy_status hy_realloc(void **pp, size_t new_bytes, const char *what) {
    if (!*pp) return hy_malloc(pp, new_bytes, 0, what);
    size_t old;
    memcpy(&old, (char *)*pp - HY_HDR, sizeof old);
    void *q;
    if (hy_malloc(&q, new_bytes, 0, what) != HY_OK) return hy_oom(new_bytes, "growing", what);
    memcpy(q, *pp, old < new_bytes ? old : new_bytes);
    hy_free(*pp);
    *pp = q;
    return HY_OK;
}

void hy_free(void *p) {
    if (!p) return;
    char *base = (char *)p - HY_HDR;
    size_t bytes;
    memcpy(&bytes, base, sizeof bytes);
    hy_account(0, bytes);
    free(base);
}

size_t hy_alloc_bytes_live(void) { return atomic_load(&hy_live); }
size_t hy_alloc_bytes_peak(void) { return atomic_load(&hy_peak); }
