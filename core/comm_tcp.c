/* comm_tcp.c — a communicator for CPU processes over the rendezvous
 * control channel (a star around rank 0).  Every collective is synchronous:
 * the peers send their contribution to rank 0, rank 0 combines them in rank
 * order (0, 1, 2, … — deterministic for a given world size) and sends each
 * peer what it needs.  Buffers are host memory.  Bandwidth is O(world) on
 * rank 0, which is fine for the CI-sized models this exists for: it lets the
 * data-parallel trainer (reduce-scatter, sharded AdamW, all-gather) run and
 * be checked on machines without GPUs, with exactly the semantics of the
 * NCCL implementation (comm.h).
 *
 * bf16 sums are formed in fp32 and rounded once at the end; AVG divides the
 * sum by the world size. */
#include <string.h>

#include "alloc.h"
#include "comm_internal.h"

typedef enum { HY_TCP_F32, HY_TCP_BF16, HY_TCP_F64 } hy_tcp_type;

typedef struct {
    void *recv;      /* rank 0: one peer's contribution */
    size_t recv_cap; /* bytes */
    float *acc;      /* rank 0: fp32 accumulator of bf16 reductions */
    size_t acc_cap;  /* elements */
} hy_tcp;

static size_t hy_tcp_esize(hy_tcp_type t) { return t == HY_TCP_F64 ? 8 : t == HY_TCP_F32 ? 4 : 2; }
static hy_tcp_type hy_tcp_of(hy_dtype dt) { return dt == HY_DTYPE_BF16 ? HY_TCP_BF16 : HY_TCP_F32; }

static hy_status hy_tcp_reserve(hy_tcp *t, size_t bytes, size_t acc_elems) {
    if (bytes > t->recv_cap) {
        HY_TRY(hy_realloc(&t->recv, bytes, "tcp communicator receive buffer"));
        t->recv_cap = bytes;
    }
    if (acc_elems > t->acc_cap) {
        HY_TRY(hy_realloc((void **)&t->acc, acc_elems * sizeof(float), "tcp communicator accumulator"));
        t->acc_cap = acc_elems;
    }
    return HY_OK;
}

/* dst[i] = dst[i] op src[i] */
static void hy_tcp_combine_f32(float *dst, const float *src, size_t n, hy_comm_op op) {
    if (op == HY_COMM_MAX)
        for (size_t i = 0; i < n; i++) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
    else
        for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

static void hy_tcp_combine_f64(double *dst, const double *src, size_t n, hy_comm_op op) {
    if (op == HY_COMM_MAX)
        for (size_t i = 0; i < n; i++) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
    else
        for (size_t i = 0; i < n; i++) dst[i] += src[i];
}

/* Rank 0: buf[n] ← op over every rank's buf[n], combined in rank order. */
static hy_status hy_tcp_reduce_root(hy_comm *c, void *buf, size_t n, hy_tcp_type type, hy_comm_op op) {
    hy_tcp *t = c->impl;
    size_t es = hy_tcp_esize(type), w = (size_t)c->env.world;
    HY_TRY(hy_tcp_reserve(t, n * es, type == HY_TCP_BF16 ? n : 0));
    uint16_t *b16 = buf;
    if (type == HY_TCP_BF16)
        for (size_t i = 0; i < n; i++) t->acc[i] = hy_bf16_to_f32(b16[i]);
    for (int k = 1; k < c->env.world; k++) {
        HY_TRY(hy_rdzv_recv(c->rdzv, k, t->recv, n * es, c->timeout_s));
        if (type == HY_TCP_F32) hy_tcp_combine_f32(buf, t->recv, n, op);
        else if (type == HY_TCP_F64) hy_tcp_combine_f64(buf, t->recv, n, op);
        else {
            const uint16_t *x = t->recv;
            for (size_t i = 0; i < n; i++) {
                float v = hy_bf16_to_f32(x[i]);
                t->acc[i] = op == HY_COMM_MAX ? (v > t->acc[i] ? v : t->acc[i]) : t->acc[i] + v;
            }
        }
    }
    if (type == HY_TCP_F32 && op == HY_COMM_AVG)
        for (size_t i = 0; i < n; i++) ((float *)buf)[i] /= (float)w;
    if (type == HY_TCP_F64 && op == HY_COMM_AVG)
        for (size_t i = 0; i < n; i++) ((double *)buf)[i] /= (double)w;
    if (type == HY_TCP_BF16)
        for (size_t i = 0; i < n; i++) b16[i] = hy_f32_to_bf16(op == HY_COMM_AVG ? t->acc[i] / (float)w : t->acc[i]);
    return HY_OK;
}

static hy_status hy_tcp_reduce(hy_comm *c, void *buf, size_t n, hy_tcp_type type, hy_comm_op op) {
    size_t bytes = n * hy_tcp_esize(type);
    if (c->env.rank != 0) {
        HY_TRY(hy_rdzv_send(c->rdzv, 0, buf, bytes, c->timeout_s));
        return hy_rdzv_recv(c->rdzv, 0, buf, bytes, c->timeout_s);
    }
    HY_TRY(hy_tcp_reduce_root(c, buf, n, type, op));
    for (int k = 1; k < c->env.world; k++) HY_TRY(hy_rdzv_send(c->rdzv, k, buf, bytes, c->timeout_s));
    return HY_OK;
}

static hy_status hy_tcp_all_reduce(hy_comm *c, void *buf, size_t n, hy_dtype dt, hy_comm_op op) {
    return hy_tcp_reduce(c, buf, n, hy_tcp_of(dt), op);
}

static hy_status hy_tcp_all_reduce_host(hy_comm *c, double *vals, int n, hy_comm_op op) {
    return hy_tcp_reduce(c, vals, (size_t)n, HY_TCP_F64, op);
}

static hy_status hy_tcp_reduce_scatter(hy_comm *c, void *buf, size_t chunk, hy_dtype dt, hy_comm_op op) {
    size_t es = hy_dtype_size(dt), n = chunk * (size_t)c->env.world;
    char *b = buf;
    if (c->env.rank != 0) {
        HY_TRY(hy_rdzv_send(c->rdzv, 0, buf, n * es, c->timeout_s));
        return hy_rdzv_recv(c->rdzv, 0, b + (size_t)c->env.rank * chunk * es, chunk * es, c->timeout_s);
    }
    HY_TRY(hy_tcp_reduce_root(c, buf, n, hy_tcp_of(dt), op));
    for (int k = 1; k < c->env.world; k++) HY_TRY(hy_rdzv_send(c->rdzv, k, b + (size_t)k * chunk * es, chunk * es, c->timeout_s));
    return HY_OK;
}

static hy_status hy_tcp_all_gather(hy_comm *c, void *buf, size_t chunk, hy_dtype dt) {
    size_t es = hy_dtype_size(dt), bytes = chunk * (size_t)c->env.world * es;
    char *b = buf;
    if (c->env.rank != 0) {
        HY_TRY(hy_rdzv_send(c->rdzv, 0, b + (size_t)c->env.rank * chunk * es, chunk * es, c->timeout_s));
        return hy_rdzv_recv(c->rdzv, 0, buf, bytes, c->timeout_s);
    }
    for (int k = 1; k < c->env.world; k++) HY_TRY(hy_rdzv_recv(c->rdzv, k, b + (size_t)k * chunk * es, chunk * es, c->timeout_s));
    for (int k = 1; k < c->env.world; k++) HY_TRY(hy_rdzv_send(c->rdzv, k, buf, bytes, c->timeout_s));
    return HY_OK;
}

static hy_status hy_tcp_broadcast(hy_comm *c, void *buf, size_t n, hy_dtype dt, int root) {
    size_t bytes = n * hy_dtype_size(dt);
    int me = c->env.rank;
    if (me != 0) {
        if (me == root) return hy_rdzv_send(c->rdzv, 0, buf, bytes, c->timeout_s);
        return hy_rdzv_recv(c->rdzv, 0, buf, bytes, c->timeout_s);
    }
    if (root != 0) HY_TRY(hy_rdzv_recv(c->rdzv, root, buf, bytes, c->timeout_s));
    for (int k = 1; k < c->env.world; k++)
        if (k != root) HY_TRY(hy_rdzv_send(c->rdzv, k, buf, bytes, c->timeout_s));
    return HY_OK;
}

static void hy_tcp_destroy(hy_comm *c) {
    hy_tcp *t = c->impl;
    if (!t) return;
    hy_free(t->recv);
    hy_free(t->acc);
    hy_free(t);
    c->impl = NULL;
}

static const hy_comm_vt hy_tcp_vt = {
    .name = "tcp",
    .all_reduce = hy_tcp_all_reduce,
    .reduce_scatter = hy_tcp_reduce_scatter,
    .all_gather = hy_tcp_all_gather,
    .broadcast = hy_tcp_broadcast,
    .all_reduce_host = hy_tcp_all_reduce_host,
    .destroy = hy_tcp_destroy,
};

hy_status hy_comm_tcp_init(hy_comm *c) {
    c->vt = &hy_tcp_vt;
    HY_TRY(hy_malloc(&c->impl, sizeof(hy_tcp), 1, "tcp communicator"));
    if (c->env.world == 1) return HY_OK; /* every collective is then an identity on rank 0 */
    return hy_comm_rendezvous(c, NULL, 0, NULL, 0);
}
