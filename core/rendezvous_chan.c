/* rendezvous_chan.c — the control channel after the handshake: barriers,
 * the non-blocking health check, abort notices and point-to-point data
 * (protocol in rendezvous.h, wire format in rendezvous.c).
 *
 * Failure is sticky: the first failure a rank sees (a peer's death, an
 * abort notice, a timeout, a protocol violation) is recorded in r->failed
 * and every later call returns it, so a caller that ignores one error still
 * cannot hang on the next call.  Rank 0, the hub, relays every failure it
 * learns of to the other ranks as an abort notice. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rendezvous_internal.h"
#include "core/timer.h"

int hy_chan_send(int fd, uint32_t type, const void *body, uint64_t len, double deadline) {
    unsigned char h[HY_MSG_HEAD];
    hy_put_u32(h, type);
    hy_put_u32(h + 4, 0);
    hy_put_u64(h + 8, len);
    int s = hy_sock_write_all(fd, h, sizeof h, deadline);
    if (s == HY_SOCK_OK && len) s = hy_sock_write_all(fd, body, (size_t)len, deadline);
    return s;
}

static hy_status hy_sticky(hy_rdzv *r) { return hy_errorf(HY_ERR_NCCL, "%s", r->failed); }

/* Rank 0 passes a failure on to every other live peer (best effort). */
static void hy_relay(hy_rdzv *r, int except, const char *text) {
    if (r->rank != 0) return;
    double dl = hy_now_s() + 1.0;
    for (int k = 1; k < r->world; k++)
        if (k != except && r->peers[k].fd >= 0 && !r->peers[k].bye)
            (void)hy_chan_send(r->peers[k].fd, HY_MSG_ABORT, text, strlen(text), dl);
}

/* Record a failure (sticky), relay it when rank 0, return HY_ERR_NCCL. */
static hy_status hy_fail(hy_rdzv *r, int except, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static hy_status hy_fail(hy_rdzv *r, int except, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->failed, sizeof r->failed, fmt, ap);
    va_end(ap);
    hy_relay(r, except, r->failed);
    return hy_sticky(r);
}

static hy_status hy_handle(hy_rdzv *r, int k, uint32_t type, uint64_t len, double deadline);

/* A complete ABORT notice already waiting on peer k's socket (read without
 * blocking) explains better why the peer went away: report it instead. */
static hy_status hy_pending_abort(hy_rdzv *r, int k) {
    unsigned char h[HY_MSG_HEAD];
    int fd = r->peers[k].fd;
    while (fd >= 0 && recv(fd, h, sizeof h, MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof h) {
        uint32_t type = hy_get_u32(h);
        uint64_t len = hy_get_u64(h + 8);
        if (type == HY_MSG_DATA || len > HY_MSG_TEXT_MAX + 8) return HY_OK;
        if (recv(fd, h, sizeof h, MSG_DONTWAIT) != (ssize_t)sizeof h) return HY_OK;
        if (hy_handle(r, k, type, len, hy_now_s() + 0.2) != HY_OK) return HY_ERR_NCCL;
    }
    return HY_OK;
}

static hy_status hy_peer_gone(hy_rdzv *r, int k) {
    if (!r->failed[0] && hy_pending_abort(r, k) != HY_OK) return hy_sticky(r);
    if (k == 0)
        return hy_fail(r, -1, "rank 0 closed its control connection%s: the job cannot continue",
                       r->peers[0].bye ? " (it left the job)" : " without a goodbye (its process died or was killed)");
    if (r->peers[k].bye) return hy_fail(r, k, "rank %d (host %s, pid %d) left the job while rank %d still needs it", k, r->peers[k].host,
                                        r->peers[k].pid, r->rank);
    return hy_fail(r, k, "rank %d (host %s, pid %d) closed its control connection without a goodbye: its process died or was "
                   "killed", k, r->peers[k].host, r->peers[k].pid);
}

/* Read the rest of a message whose header said type/len; DATA is refused
 * (the caller expected control traffic).  Updates the peer's state. */
static hy_status hy_handle(hy_rdzv *r, int k, uint32_t type, uint64_t len, double deadline) {
    hy_rdzv_peer *p = &r->peers[k];
    unsigned char b8[8];
    char text[HY_MSG_TEXT_MAX + 1];
    int s = HY_SOCK_OK;
    switch (type) {
    case HY_MSG_BARRIER:
    case HY_MSG_RELEASE:
        if (len != 8) break;
        if ((s = hy_sock_read_all(p->fd, b8, 8, deadline)) != HY_SOCK_OK) break;
        if (type == HY_MSG_BARRIER && r->rank == 0) p->barrier_seq = hy_get_u64(b8);
        else if (type == HY_MSG_RELEASE && k == 0) r->released = hy_get_u64(b8);
        else break;
        return HY_OK;
    case HY_MSG_BYE:
        if (len != 0) break;
        p->bye = 1;
        return HY_OK;
    case HY_MSG_ABORT:
        if (len > HY_MSG_TEXT_MAX) break;
        if ((s = hy_sock_read_all(p->fd, text, (size_t)len, deadline)) != HY_SOCK_OK) break;
        text[len] = '\0';
        /* rank 0 relays the text unchanged, so every rank reports the origin */
        return hy_fail(r, k, "%s", text);
    case HY_MSG_DATA:
        return hy_fail(r, -1, "rank %d sent data while rank %d expected a barrier or control message: the ranks run different "
                       "sequences of collectives", k, r->rank);
    default: break;
    }
    if (s == HY_SOCK_CLOSED) return hy_peer_gone(r, k);
    return hy_fail(r, -1, "control channel: malformed message (type %u, %llu bytes) from rank %d%s%s", type, (unsigned long long)len, k,
                   s != HY_SOCK_OK ? ": " : "", s != HY_SOCK_OK ? hy_sock_what(s) : "");
}

/* Blocking: read one message header from peer k. */
static hy_status hy_read_head(hy_rdzv *r, int k, uint32_t *type, uint64_t *len, double deadline, const char *waiting_for) {
    unsigned char h[HY_MSG_HEAD];
    int s = hy_sock_read_all(r->peers[k].fd, h, sizeof h, deadline);
    if (s == HY_SOCK_CLOSED) return hy_peer_gone(r, k);
    if (s == HY_SOCK_TIMEOUT) return hy_fail(r, -1, "rank %d: %s from rank %d timed out", r->rank, waiting_for, k);
    if (s != HY_SOCK_OK) return hy_fail(r, -1, "rank %d: control connection to rank %d failed: %s", r->rank, k, hy_sock_what(s));
    *type = hy_get_u32(h);
    *len = hy_get_u64(h + 8);
    return HY_OK;
}

/* Compact list of peers (rank 0's view) still short of barrier `seq`. */
static void hy_barrier_missing(const hy_rdzv *r, uint64_t seq, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 1; k < r->world && len + 16 < n; k++)
        if (r->peers[k].barrier_seq < seq) len += (size_t)snprintf(buf + len, n - len, "%s%d", len ? ", " : "", k);
}

static hy_status hy_barrier_root(hy_rdzv *r, uint64_t seq, double deadline, double timeout_s) {
    struct pollfd *pf = r->pfd;
    int *idx = r->pidx;
    for (;;) {
        int n = 0;
        for (int k = 1; k < r->world; k++) {
            if (r->peers[k].barrier_seq >= seq) continue;
            if (r->peers[k].fd < 0) return hy_peer_gone(r, k);
            pf[n] = (struct pollfd){r->peers[k].fd, POLLIN, 0};
            idx[n++] = k;
        }
        if (!n) break;
        double left = deadline - hy_now_s();
        if (left <= 0) {
            char missing[256];
            hy_barrier_missing(r, seq, missing, sizeof missing);
            return hy_fail(r, -1, "barrier: rank(s) %s of %d did not arrive within %g s (hung, or much slower than rank 0)", missing,
                           r->world, timeout_s);
        }
        int c = poll(pf, (nfds_t)n, (int)(left > 1 ? 1000 : left * 1000 + 1));
        if (c < 0 && errno != EINTR) return hy_fail(r, -1, "barrier: poll failed: %s", strerror(errno));
        for (int i = 0; c > 0 && i < n; i++) {
            if (!(pf[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            uint32_t type;
            uint64_t len;
            HY_TRY(hy_read_head(r, idx[i], &type, &len, deadline, "barrier message"));
            HY_TRY(hy_handle(r, idx[i], type, len, deadline));
            if (r->peers[idx[i]].bye) return hy_fail(r, idx[i], "rank %d left the job while the others wait in a barrier", idx[i]);
        }
    }
    unsigned char b8[8];
    hy_put_u64(b8, seq);
    for (int k = 1; k < r->world; k++) {
        int s = hy_chan_send(r->peers[k].fd, HY_MSG_RELEASE, b8, 8, deadline + 1.0);
        if (s == HY_SOCK_CLOSED) return hy_peer_gone(r, k);
        if (s != HY_SOCK_OK) return hy_fail(r, k, "barrier: cannot release rank %d: %s", k, hy_sock_what(s));
    }
    return HY_OK;
}

hy_status hy_rdzv_barrier(hy_rdzv *r, double timeout_s) {
    if (r->failed[0]) return hy_sticky(r);
    if (r->world == 1) return HY_OK;
    HY_TRY(hy_rdzv_check(r)); /* an abort that already arrived wins */
    uint64_t seq = ++r->barrier_seq;
    double deadline = hy_now_s() + timeout_s;
    if (r->rank == 0) return hy_barrier_root(r, seq, deadline, timeout_s);
    unsigned char b8[8];
    hy_put_u64(b8, seq);
    int s = hy_chan_send(r->peers[0].fd, HY_MSG_BARRIER, b8, 8, deadline);
    if (s == HY_SOCK_CLOSED) return hy_peer_gone(r, 0);
    if (s != HY_SOCK_OK) return hy_fail(r, -1, "barrier: rank %d cannot reach rank 0: %s", r->rank, hy_sock_what(s));
    while (r->released < seq) {
        uint32_t type;
        uint64_t len;
        hy_status st = hy_read_head(r, 0, &type, &len, deadline, "the barrier release");
        if (st) return st;
        HY_TRY(hy_handle(r, 0, type, len, deadline));
        if (r->peers[0].bye) return hy_peer_gone(r, 0);
    }
    return HY_OK;
}

hy_status hy_rdzv_check(hy_rdzv *r) {
    if (r->failed[0]) return hy_sticky(r);
    for (int k = 0; k < r->world; k++) {
        hy_rdzv_peer *p = &r->peers[k];
        if (p->fd < 0) continue;
        for (;;) { /* every complete control message waiting on this socket */
            unsigned char h[HY_MSG_HEAD];
            ssize_t got = recv(p->fd, h, sizeof h, MSG_PEEK | MSG_DONTWAIT);
            if (got == 0) {
                if (!p->bye) return hy_peer_gone(r, k);
                close(p->fd); /* said goodbye, then closed: a clean exit */
                p->fd = -1;
                break;
            }
            if (got < 0 && errno == EINTR) continue;
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (got < 0) return hy_peer_gone(r, k);
            if (got < HY_MSG_HEAD || hy_get_u32(h) == HY_MSG_DATA) break; /* incomplete, or data for a collective */
            (void)recv(p->fd, h, sizeof h, 0);
            HY_TRY(hy_handle(r, k, hy_get_u32(h), hy_get_u64(h + 8), hy_now_s() + 5.0));
        }
    }
    return HY_OK;
}

void hy_rdzv_abort(hy_rdzv *r, const char *reason) {
    if (!r || r->failed[0]) return;
    if (r->world == 1) { snprintf(r->failed, sizeof r->failed, "%s", reason); return; }
    char host[64] = "?";
    if (gethostname(host, sizeof host) != 0) host[0] = '\0';
    host[sizeof host - 1] = '\0';
    snprintf(r->failed, sizeof r->failed, "rank %d (host %s) aborted: %s", r->rank, host, reason);
    if (r->rank == 0) hy_relay(r, -1, r->failed);
    else if (r->peers[0].fd >= 0) (void)hy_chan_send(r->peers[0].fd, HY_MSG_ABORT, r->failed, strlen(r->failed), hy_now_s() + 1.0);
}

static hy_status hy_check_peer(hy_rdzv *r, int peer) {
    if (r->failed[0]) return hy_sticky(r);
    int ok = r->rank == 0 ? (peer >= 1 && peer < r->world) : peer == 0;
    if (!ok) return hy_errorf(HY_ERR_ARG, "control channel: rank %d cannot exchange data with rank %d (star around rank 0)", r->rank, peer);
    if (r->peers[peer].fd < 0) return hy_peer_gone(r, peer);
    return hy_rdzv_check(r); /* an abort that already arrived wins */
}

hy_status hy_rdzv_send(hy_rdzv *r, int peer, const void *data, size_t n, double timeout_s) {
    HY_TRY(hy_check_peer(r, peer));
    int s = hy_chan_send(r->peers[peer].fd, HY_MSG_DATA, data, n, hy_now_s() + timeout_s);
    if (s == HY_SOCK_CLOSED) return hy_peer_gone(r, peer);
    if (s == HY_SOCK_TIMEOUT)
        return hy_fail(r, -1, "rank %d: sending %zu bytes to rank %d did not finish within %g s (rank %d hung?)", r->rank, n, peer,
                       timeout_s, peer);
    if (s != HY_SOCK_OK) return hy_fail(r, -1, "rank %d: sending to rank %d failed: %s", r->rank, peer, hy_sock_what(s));
    return HY_OK;
}

hy_status hy_rdzv_recv(hy_rdzv *r, int peer, void *data, size_t n, double timeout_s) {
    HY_TRY(hy_check_peer(r, peer));
    double deadline = hy_now_s() + timeout_s;
    for (;;) {
        uint32_t type;
        uint64_t len;
        hy_status st = hy_read_head(r, peer, &type, &len, deadline, "data");
        if (st) return st;
        if (type != HY_MSG_DATA) {
            if (type == HY_MSG_BARRIER)
                return hy_fail(r, -1, "rank %d is in a barrier while rank %d expects data from it: the ranks run different sequences "
                               "of collectives", peer, r->rank);
            HY_TRY(hy_handle(r, peer, type, len, deadline));
            continue; /* a goodbye: the end of file follows and is reported */
        }
        if (len != n)
            return hy_fail(r, -1, "rank %d sent %llu bytes where rank %d expected %zu: the ranks disagree on a buffer size", peer,
                           (unsigned long long)len, r->rank, n);
        int s = hy_sock_read_all(r->peers[peer].fd, data, n, deadline);
        if (s == HY_SOCK_CLOSED) return hy_peer_gone(r, peer);
        if (s != HY_SOCK_OK) return hy_fail(r, -1, "rank %d: receiving from rank %d failed: %s", r->rank, peer, hy_sock_what(s));
        return HY_OK;
    }
}
