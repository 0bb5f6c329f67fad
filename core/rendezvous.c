/* rendezvous.c — the TCP handshake that starts a data-parallel job and the
 * control channel that stays open afterwards (protocol in rendezvous.h).
 *
 * Wire format (integers big-endian):
 *   hello  (peer → 0): "HYMBARDZ" u32 version | u32 rank u32 world
 *                      u32 local_rank u32 pid char key[96] char host[64]
 *          The part after the version is read only when the versions match,
 *          so a later protocol can change it and still be told apart.
 *   reply  (0 → peer): "HYMBAREP" u32 version u32 status u32 msg_len
 *                      u32 payload_len | msg | payload
 *   message (channel): u32 type u32 zero u64 len | body[len]
 * Every socket is non-blocking; every wait is a poll() against a deadline
 * on the monotonic clock, so no call can hang past its timeout. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "rendezvous_internal.h"
#include "core/timer.h"


static void hy_sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- sockets */

static void hy_sock_setup(int fd) {
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl >= 0) (void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* poll one fd for `events` until `deadline`: 1 ready, 0 timeout, -1 error */
static int hy_sock_wait(int fd, short events, double deadline) {
    for (;;) {
        double left = deadline - hy_now_s();
        if (left <= 0) return 0;
        struct pollfd p = {fd, events, 0};
        int ms = left > 1e6 ? 1000000000 : (int)(left * 1000.0) + 1;
        int k = poll(&p, 1, ms);
        if (k > 0) return 1;
        if (k < 0 && errno != EINTR) return -1;
    }
}

int hy_sock_write_all(int fd, const void *buf, size_t n, double deadline) {
    const char *p = buf;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) { p += k; n -= (size_t)k; continue; }
        if (k < 0 && errno == EINTR) continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int w = hy_sock_wait(fd, POLLOUT, deadline);
            if (w == 0) return HY_SOCK_TIMEOUT;
            if (w < 0) return HY_SOCK_ERROR;
            continue;
        }
        return (errno == EPIPE || errno == ECONNRESET) ? HY_SOCK_CLOSED : HY_SOCK_ERROR;
    }
    return HY_SOCK_OK;
}

int hy_sock_read_all(int fd, void *buf, size_t n, double deadline) {
    char *p = buf;
    while (n > 0) {
        ssize_t k = recv(fd, p, n, 0);
        if (k > 0) { p += k; n -= (size_t)k; continue; }
        if (k == 0) return HY_SOCK_CLOSED;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            int w = hy_sock_wait(fd, POLLIN, deadline);
            if (w == 0) return HY_SOCK_TIMEOUT;
            if (w < 0) return HY_SOCK_ERROR;
            continue;
        }
        return errno == ECONNRESET ? HY_SOCK_CLOSED : HY_SOCK_ERROR;
    }
    return HY_SOCK_OK;
}

void hy_put_u32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (24 - 8 * i));
}
uint32_t hy_get_u32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
void hy_put_u64(unsigned char *p, uint64_t v) {
    hy_put_u32(p, (uint32_t)(v >> 32));
    hy_put_u32(p + 4, (uint32_t)v);
}
uint64_t hy_get_u64(const unsigned char *p) { return (uint64_t)hy_get_u32(p) << 32 | hy_get_u32(p + 4); }

/* ---------------------------------------------------------------- wire */

#define HY_HELLO_MAGIC "HYMBARDZ"
#define HY_REPLY_MAGIC "HYMBAREP"
enum { HY_HELLO_HEAD = 12, HY_HELLO_BODY = 20 + 96 + 64, HY_REPLY_HEAD = 24 };
enum { HY_REPLY_OK = 0, HY_REPLY_REJECTED = 1, HY_REPLY_WRONG_JOB = 2 };

typedef struct {
    uint32_t version, rank, world, local_rank, pid;
    char key[96], host[64];
} hy_hello;

static void hy_hello_encode(const hy_hello *h, unsigned char *b) {
    memcpy(b, HY_HELLO_MAGIC, 8);
    hy_put_u32(b + 8, h->version);
    unsigned char *q = b + HY_HELLO_HEAD;
    hy_put_u32(q, h->rank);
    hy_put_u32(q + 4, h->world);
    hy_put_u32(q + 8, h->local_rank);
    hy_put_u32(q + 12, h->pid);
    memcpy(q + 20, h->key, 96);
    memcpy(q + 116, h->host, 64);
}

static void hy_hello_decode_body(hy_hello *h, const unsigned char *q) {
    h->rank = hy_get_u32(q);
    h->world = hy_get_u32(q + 4);
    h->local_rank = hy_get_u32(q + 8);
    h->pid = hy_get_u32(q + 12);
    memcpy(h->key, q + 20, 96);
    memcpy(h->host, q + 116, 64);
    h->key[95] = h->host[63] = '\0';
}

/* Best effort: a reply with a status and a message (and the payload when OK). */
static int hy_reply_send(int fd, uint32_t status, const char *msg, const void *payload, size_t n, double deadline) {
    unsigned char head[HY_REPLY_HEAD];
    size_t ml = msg ? strlen(msg) : 0;
    memcpy(head, HY_REPLY_MAGIC, 8);
    hy_put_u32(head + 8, HY_RDZV_VERSION);
    hy_put_u32(head + 12, status);
    hy_put_u32(head + 16, (uint32_t)ml);
    hy_put_u32(head + 20, (uint32_t)n);
    int s = hy_sock_write_all(fd, head, sizeof head, deadline);
    if (s == HY_SOCK_OK && ml) s = hy_sock_write_all(fd, msg, ml, deadline);
    if (s == HY_SOCK_OK && n) s = hy_sock_write_all(fd, payload, n, deadline);
    return s;
}

const char *hy_sock_what(int s) {
    switch (s) {
    case HY_SOCK_TIMEOUT: return "timed out";
    case HY_SOCK_CLOSED: return "connection closed by the other side";
    default: return strerror(errno);
    }
}

static void hy_local_host(char *buf, size_t n) {
    if (gethostname(buf, n) != 0) snprintf(buf, n, "?");
    buf[n - 1] = '\0';
}

/* ---------------------------------------------------------------- rank 0 */

typedef struct {
    hy_rdzv *r;
    const hy_dist_env *e;
    int lfd;
    int arrived;           /* peers in */
    int wrong_job;         /* connections from other jobs turned away */
    int stray;             /* connections that were not hymba ranks */
    char wrong_key[96];
} hy_server;

/* Fail the whole job from rank 0: tell every connected peer why, close. */
static hy_status hy_server_fail(hy_server *s, const char *msg) {
    double dl = hy_now_s() + 2.0;
    for (int k = 1; k < s->r->world; k++)
        if (s->r->peers[k].fd >= 0) (void)hy_reply_send(s->r->peers[k].fd, HY_REPLY_REJECTED, msg, NULL, 0, dl);
    return hy_errorf(HY_ERR_NCCL, "rendezvous: %s", msg);
}

/* Compact list of the ranks that have not arrived: "2, 3, 5-7". */
static void hy_missing_ranks(const hy_rdzv *r, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 1; k < r->world && len + 24 < n; k++) {
        if (r->peers[k].fd >= 0) continue;
        int j = k;
        while (j + 1 < r->world && r->peers[j + 1].fd < 0) j++;
        len += (size_t)snprintf(buf + len, n - len, "%s%d", len ? ", " : "", k);
        if (j > k) len += (size_t)snprintf(buf + len, n - len, "%s%d", j == k + 1 ? ", " : "-", j);
        k = j;
    }
}

/* Read and judge one hello.  Returns HY_OK (peer stored, or connection
 * turned away and closed) or a fatal status (the job ends). */
static hy_status hy_server_admit(hy_server *s, int fd, const char *from) {
    hy_rdzv *r = s->r;
    unsigned char b[HY_HELLO_HEAD + HY_HELLO_BODY];
    double dl = hy_now_s() + 10.0; /* a real rank sends its hello at once */
    if (hy_sock_read_all(fd, b, HY_HELLO_HEAD, dl) != HY_SOCK_OK || memcmp(b, HY_HELLO_MAGIC, 8) != 0) {
        s->stray++;
        close(fd);
        return HY_OK;
    }
    hy_hello h;
    memset(&h, 0, sizeof h);
    h.version = hy_get_u32(b + 8);
    char msg[512];
    if (h.version != r->version) {
        snprintf(msg, sizeof msg, "a rank connecting from %.100s speaks rendezvous protocol version %u but rank 0 speaks version %u: "
                 "run the same hymba build on every rank", from, h.version, r->version);
        (void)hy_reply_send(fd, HY_REPLY_REJECTED, msg, NULL, 0, dl);
        close(fd);
        return hy_server_fail(s, msg);
    }
    if (hy_sock_read_all(fd, b + HY_HELLO_HEAD, HY_HELLO_BODY, dl) != HY_SOCK_OK) { s->stray++; close(fd); return HY_OK; }
    hy_hello_decode_body(&h, b + HY_HELLO_HEAD);
    if (strcmp(h.key, s->e->job_key) != 0) {
        snprintf(msg, sizeof msg, "rank 0 on port %d belongs to job \"%s\", this rank to job \"%s\": another job uses the same "
                 "MASTER_PORT; pick another port", s->e->master_port, s->e->job_key, h.key);
        (void)hy_reply_send(fd, HY_REPLY_WRONG_JOB, msg, NULL, 0, dl);
        close(fd);
        s->wrong_job++;
        snprintf(s->wrong_key, sizeof s->wrong_key, "%s", h.key);
        return HY_OK;
    }
    if ((int)h.world != r->world)
        snprintf(msg, sizeof msg, "rank %u (host %s, pid %u) says the world size is %u but rank 0 says %d: every rank must be "
                 "started with the same WORLD_SIZE", h.rank, h.host, h.pid, h.world, r->world);
    else if (h.rank == 0 || (int)h.rank >= r->world)
        snprintf(msg, sizeof msg, "a process (host %s, pid %u) connected as rank %u, outside 1..%d: two processes think they are "
                 "rank 0, or RANK is wrong", h.host, h.pid, h.rank, r->world - 1);
    else if (r->peers[h.rank].fd >= 0)
        snprintf(msg, sizeof msg, "rank %u connected twice (host %s pid %d, then host %s pid %u): two processes have the same RANK",
                 h.rank, r->peers[h.rank].host, r->peers[h.rank].pid, h.host, h.pid);
    else {
        hy_rdzv_peer *p = &r->peers[h.rank];
        p->fd = fd;
        p->pid = (int)h.pid;
        snprintf(p->host, sizeof p->host, "%s", h.host);
        s->arrived++;
        return HY_OK;
    }
    (void)hy_reply_send(fd, HY_REPLY_REJECTED, msg, NULL, 0, dl);
    close(fd);
    return hy_server_fail(s, msg);
}

static hy_status hy_server_listen(hy_server *s) {
    int port = s->e->master_port;
    /* dual-stack IPv6 socket when the host has IPv6, IPv4 otherwise */
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, zero = 0, rc;
    if (fd >= 0) {
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in6 a6;
        memset(&a6, 0, sizeof a6);
        a6.sin6_family = AF_INET6;
        a6.sin6_addr = in6addr_any;
        a6.sin6_port = htons((uint16_t)port);
        rc = bind(fd, (struct sockaddr *)&a6, sizeof a6);
        if (rc != 0 && errno != EADDRINUSE) { close(fd); fd = -1; }
        else if (rc != 0) goto in_use;
    }
    if (fd < 0) {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return hy_errorf(HY_ERR_NCCL, "rendezvous: rank 0 cannot create a socket: %s", strerror(errno));
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a4;
        memset(&a4, 0, sizeof a4);
        a4.sin_family = AF_INET;
        a4.sin_addr.s_addr = htonl(INADDR_ANY);
        a4.sin_port = htons((uint16_t)port);
        if (bind(fd, (struct sockaddr *)&a4, sizeof a4) != 0) goto in_use;
    }
    if (listen(fd, s->r->world < 1024 ? s->r->world : 1024) != 0) {
        close(fd);
        return hy_errorf(HY_ERR_NCCL, "rendezvous: rank 0 cannot listen on port %d: %s", port, strerror(errno));
    }
    hy_sock_setup(fd);
    s->lfd = fd;
    return HY_OK;
in_use:;
    int err = errno;
    close(fd);
    return hy_errorf(HY_ERR_NCCL, "rendezvous: rank 0 cannot listen on port %d: %s%s", port, strerror(err),
                     err == EADDRINUSE ? " (another job or a previous run holds it? set MASTER_PORT / hymba launch --master-port "
                                         "to a free port)" : "");
}

static hy_status hy_server_timeout(hy_server *s, double timeout_s) {
    char missing[256], msg[768];
    hy_missing_ranks(s->r, missing, sizeof missing);
    int n = snprintf(msg, sizeof msg, "rank%s %s of %d never connected to port %d within %g s (%d of %d arrived)",
                     strchr(missing, ',') || strchr(missing, '-') ? "s" : "", missing, s->r->world, s->e->master_port, timeout_s,
                     s->arrived, s->r->world - 1);
    if (s->wrong_job && n > 0 && (size_t)n < sizeof msg)
        n += snprintf(msg + n, sizeof msg - (size_t)n, "; %d connection(s) from another job (key \"%s\") were turned away",
                      s->wrong_job, s->wrong_key);
    if (n > 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n, "; check that every rank started and reaches %s:%d (HYMBA_COMM_TIMEOUT raises the "
                 "limit)", s->e->master_addr, s->e->master_port);
    return hy_server_fail(s, msg);
}

static hy_status hy_server_run(hy_rdzv *r, const hy_dist_env *e, const hy_rdzv_opts *o) {
    hy_server s = {r, e, -1, 0, 0, 0, ""};
    HY_TRY(hy_server_listen(&s));
    double deadline = hy_now_s() + o->timeout_s;
    hy_status st = HY_OK;
    while (!st && s.arrived < r->world - 1) {
        int w = hy_sock_wait(s.lfd, POLLIN, deadline);
        if (w == 0) { st = hy_server_timeout(&s, o->timeout_s); break; }
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        int fd = accept(s.lfd, (struct sockaddr *)&from, &fl);
        if (fd < 0) continue; /* EAGAIN after a reset, EINTR, ... */
        hy_sock_setup(fd);
        char host[NI_MAXHOST] = "?";
        (void)getnameinfo((struct sockaddr *)&from, fl, host, sizeof host, NULL, 0, NI_NUMERICHOST);
        const char *shown = strncmp(host, "::ffff:", 7) ? host : host + 7; /* IPv4 on the dual-stack socket */
        st = hy_server_admit(&s, fd, shown);
    }
    close(s.lfd);
    if (st) return st;
    double dl = hy_now_s() + o->timeout_s;
    for (int k = 1; k < r->world; k++) {
        int w = hy_reply_send(r->peers[k].fd, HY_REPLY_OK, NULL, o->payload, o->payload_len, dl);
        if (w != HY_SOCK_OK) {
            char msg[256];
            snprintf(msg, sizeof msg, "rank 0 could not send the start message to rank %d (host %s): %s", k, r->peers[k].host, hy_sock_what(w));
            return hy_server_fail(&s, msg);
        }
    }
    return HY_OK;
}

/* ---------------------------------------------------------------- peers */

/* Connect to rank 0, retrying until the deadline. */
static hy_status hy_client_connect(hy_rdzv *r, const hy_dist_env *e, double timeout_s, int *out) {
    char port[16], last[512] = "no attempt";
    snprintf(port, sizeof port, "%d", e->master_port);
    double deadline = hy_now_s() + timeout_s, backoff = 0.02;
    for (;;) {
        struct addrinfo hints, *ai = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        int g = getaddrinfo(e->master_addr, port, &hints, &ai);
        if (g != 0) snprintf(last, sizeof last, "cannot resolve \"%s\": %s", e->master_addr, gai_strerror(g));
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
            if (fd < 0) { snprintf(last, sizeof last, "%s", strerror(errno)); continue; }
            hy_sock_setup(fd);
            int rc = connect(fd, a->ai_addr, a->ai_addrlen), err = errno;
            if (rc != 0 && err == EINPROGRESS) {
                double dl = hy_now_s() + 2.0;
                if (hy_sock_wait(fd, POLLOUT, dl < deadline ? dl : deadline) == 1) {
                    socklen_t sl = sizeof err;
                    rc = getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &sl) == 0 && err == 0 ? 0 : -1;
                } else err = ETIMEDOUT;
            }
            if (rc == 0) { freeaddrinfo(ai); *out = fd; return HY_OK; }
            snprintf(last, sizeof last, "%s", strerror(err));
            close(fd);
        }
        if (ai) freeaddrinfo(ai);
        if (hy_now_s() + backoff >= deadline) break;
        hy_sleep_s(backoff);
        backoff = backoff * 2 < 0.5 ? backoff * 2 : 0.5;
    }
    return hy_errorf(HY_ERR_NCCL, "rendezvous: rank %d of %d did not connect to %s:%d within %g s: %s (is rank 0 running, and do "
                     "MASTER_ADDR/MASTER_PORT point at it? HYMBA_COMM_TIMEOUT raises the limit)", r->rank, r->world, e->master_addr,
                     e->master_port, timeout_s, last);
}

static hy_status hy_client_run(hy_rdzv *r, const hy_dist_env *e, const hy_rdzv_opts *o, void *out, size_t cap, size_t *n_out) {
    int fd = -1;
    HY_TRY(hy_client_connect(r, e, o->timeout_s, &fd));
    r->peers[0].fd = fd;
    hy_hello h;
    memset(&h, 0, sizeof h);
    h.version = r->version;
    h.rank = (uint32_t)r->rank;
    h.world = (uint32_t)r->world;
    h.local_rank = (uint32_t)e->local_rank;
    h.pid = (uint32_t)getpid();
    snprintf(h.key, sizeof h.key, "%s", e->job_key);
    hy_local_host(h.host, sizeof h.host);
    unsigned char b[HY_HELLO_HEAD + HY_HELLO_BODY];
    hy_hello_encode(&h, b);
    /* rank 0 answers once everyone is in: wait as long as it may wait */
    double dl = hy_now_s() + o->timeout_s + 10.0;
    const char *where = e->master_addr;
    int s = hy_sock_write_all(fd, b, sizeof b, dl);
    unsigned char head[HY_REPLY_HEAD];
    if (s == HY_SOCK_OK) s = hy_sock_read_all(fd, head, sizeof head, dl);
    if (s != HY_SOCK_OK)
        return hy_errorf(HY_ERR_NCCL, "rendezvous: rank %d of %d connected to %s:%d but got no start message from rank 0 (%s)", r->rank,
                         r->world, where, e->master_port, hy_sock_what(s));
    if (memcmp(head, HY_REPLY_MAGIC, 8) != 0)
        return hy_errorf(HY_ERR_NCCL, "rendezvous: the server at %s:%d is not a hymba rank 0 (unexpected reply); check MASTER_PORT",
                         where, e->master_port);
    uint32_t status = hy_get_u32(head + 12), ml = hy_get_u32(head + 16), pl = hy_get_u32(head + 20);
    char msg[1024] = "";
    if (ml >= sizeof msg || pl > HY_RDZV_PAYLOAD_MAX) return hy_errorf(HY_ERR_NCCL, "rendezvous: malformed reply from %s:%d", where, e->master_port);
    if (ml && hy_sock_read_all(fd, msg, ml, dl) != HY_SOCK_OK) snprintf(msg, sizeof msg, "(reason lost)");
    msg[ml < sizeof msg ? ml : sizeof msg - 1] = '\0';
    if (status == HY_REPLY_WRONG_JOB) return hy_errorf(HY_ERR_NCCL, "rendezvous: rank %d turned away by %s:%d: %s", r->rank, where, e->master_port, msg);
    if (status != HY_REPLY_OK) return hy_errorf(HY_ERR_NCCL, "rendezvous: rank 0 ended the job: %s", msg);
    if (pl > cap) return hy_errorf(HY_ERR_NCCL, "rendezvous: rank 0 sent %u bytes of start data, rank %d expected at most %zu", pl, r->rank, cap);
    s = pl ? hy_sock_read_all(fd, out, pl, dl) : HY_SOCK_OK;
    if (s != HY_SOCK_OK) return hy_errorf(HY_ERR_NCCL, "rendezvous: rank %d lost the start data from rank 0: %s", r->rank, hy_sock_what(s));
    *n_out = pl;
    return HY_OK;
}

/* ---------------------------------------------------------------- open / close */

static void hy_rdzv_free(hy_rdzv *r) {
    hy_free(r->peers);
    hy_free(r->pfd);
    hy_free(r->pidx);
    hy_free(r);
}

hy_status hy_rdzv_open(hy_rdzv **out, const hy_dist_env *e, const hy_rdzv_opts *o, void *payload_out, size_t cap, size_t *n_out) {
    *out = NULL;
    *n_out = 0;
    if (o->payload_len > HY_RDZV_PAYLOAD_MAX)
        return hy_errorf(HY_ERR_ARG, "rendezvous: payload of %zu bytes exceeds %d", o->payload_len, HY_RDZV_PAYLOAD_MAX);
    if (!(o->timeout_s > 0)) return hy_errorf(HY_ERR_ARG, "rendezvous: timeout must be positive");
    if (e->world < 1 || e->rank < 0 || e->rank >= e->world) return hy_errorf(HY_ERR_ARG, "rendezvous: rank %d of %d", e->rank, e->world);
    hy_rdzv *r = NULL;
    HY_TRY(hy_malloc((void **)&r, sizeof *r, 1, "rendezvous"));
    size_t w = (size_t)e->world;
    hy_status st = hy_malloc((void **)&r->peers, sizeof(hy_rdzv_peer) * w, 1, "rendezvous peers");
    if (!st) st = hy_malloc((void **)&r->pfd, sizeof(struct pollfd) * w, 1, "rendezvous poll set");
    if (!st) st = hy_malloc((void **)&r->pidx, sizeof(int) * w, 1, "rendezvous poll index");
    if (st) { hy_rdzv_free(r); return st; }
    r->rank = e->rank;
    r->world = e->world;
    r->version = o->protocol_version ? o->protocol_version : HY_RDZV_VERSION;
    for (int k = 0; k < e->world; k++) r->peers[k].fd = -1;
    if (e->world == 1) st = HY_OK;
    else if (e->rank == 0) st = hy_server_run(r, e, o);
    else st = hy_client_run(r, e, o, payload_out, cap, n_out);
    if (!st && e->rank == 0) {
        if (o->payload_len > cap) st = hy_errorf(HY_ERR_ARG, "rendezvous: payload of %zu bytes exceeds the %zu-byte buffer", o->payload_len, cap);
        else if (o->payload_len) { memcpy(payload_out, o->payload, o->payload_len); *n_out = o->payload_len; }
    }
    if (st) {
        for (int k = 0; k < e->world; k++)
            if (r->peers[k].fd >= 0) close(r->peers[k].fd);
        hy_rdzv_free(r);
        return st;
    }
    *out = r;
    return HY_OK;
}

void hy_rdzv_close(hy_rdzv *r) {
    if (!r) return;
    double dl = hy_now_s() + 1.0;
    for (int k = 0; k < r->world; k++) {
        if (r->peers[k].fd < 0) continue;
        if (!r->failed[0]) (void)hy_chan_send(r->peers[k].fd, HY_MSG_BYE, NULL, 0, dl);
        close(r->peers[k].fd);
    }
    hy_rdzv_free(r);
}

int hy_rdzv_rank(const hy_rdzv *r) { return r->rank; }
int hy_rdzv_world(const hy_rdzv *r) { return r->world; }
