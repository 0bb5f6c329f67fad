/* comm.c — the communicator's dispatch layer (contract in comm.h): the
 * factory that reads the environment and picks an implementation, argument
 * checks, tickets, sticky failure with abort, and the ZeRO-1 helpers that
 * walk a shard plan.  Implementations (comm_single.c, comm_tcp.c,
 * comm_nccl.c) only move data.
 *
 * NCCL is optional at link time: hy_comm_nccl_init is defined weakly here
 * (it reports that NCCL was not built) and strongly in core/comm_nccl.c,
 * which CMake builds into the hy_comm_nccl object library only when CUDA and
 * NCCL are found.  Objects of an object library are linked directly into
 * the executable, so the strong definition always wins when present; the
 * C-only hy_core never references NCCL or CUDA. */
#include <limits.h>
#include <string.h>

#include "alloc.h"
#include "comm_internal.h"

__attribute__((weak)) hy_status hy_comm_nccl_init(hy_comm *c, int device) {
    (void)device;
    return hy_errorf(HY_ERR_UNSUPPORTED, "comm: NCCL was requested (rank %d of %d from %s) but this hymba was built without NCCL; "
                     "build it where the CUDA toolkit and NCCL (nccl.h, libnccl.so) are installed, or run a single process",
                     c->env.rank, c->env.world, c->env.origin);
}

void hy_comm_opts_default(hy_comm_opts *o) {
    memset(o, 0, sizeof *o);
    o->kind = "auto";
    o->device = -1;
}

hy_status hy_comm_pick_device(const hy_dist_env *e, int n_visible, int *device) {
    *device = -1;
    if (n_visible <= 0) return hy_errorf(HY_ERR_CONFIG, "comm: no CUDA device is visible to rank %d (check CUDA_VISIBLE_DEVICES)", e->rank);
    if (e->local_rank < n_visible) { *device = e->local_rank; return HY_OK; }
    if (n_visible == 1) { *device = 0; return HY_OK; } /* one GPU per rank, chosen by the launcher */
    return hy_errorf(HY_ERR_CONFIG, "comm: rank %d has local rank %d but only %d CUDA devices are visible: start at most %d ranks per "
                     "node (hymba launch -n %d), or give each rank one device", e->rank, e->local_rank, n_visible, n_visible, n_visible);
}

hy_status hy_comm_rendezvous(hy_comm *c, const void *payload, size_t n, void *out, size_t cap) {
    hy_rdzv_opts o = {c->timeout_s, payload, n, 0};
    size_t got = 0;
    HY_TRY(hy_rdzv_open(&c->rdzv, &c->env, &o, out, cap, &got));
    if (got != n) {
        hy_rdzv_close(c->rdzv);
        c->rdzv = NULL;
        return hy_errorf(HY_ERR_NCCL, "comm: rank %d received %zu bytes of start data, expected %zu (different hymba builds?)", c->env.rank,
                         got, n);
    }
    return HY_OK;
}

static hy_status hy_comm_pick(hy_comm *c, const hy_comm_opts *o) {
    const char *kind = o->kind && o->kind[0] ? o->kind : "auto";
    if (!strcmp(kind, "auto")) kind = c->env.world == 1 ? "single" : o->host_buffers ? "tcp" : "nccl";
    if (!strcmp(kind, "single")) {
        if (c->env.world > 1)
            return hy_errorf(HY_ERR_CONFIG, "comm: kind \"single\" runs one process, but the environment (%s) makes this rank %d of %d; "
                             "use nccl (GPUs) or tcp (CPU processes)", c->env.origin, c->env.rank, c->env.world);
        return hy_comm_single_init(c);
    }
    if (!strcmp(kind, "tcp")) return hy_comm_tcp_init(c);
    if (!strcmp(kind, "nccl")) return hy_comm_nccl_init(c, o->device);
    return hy_errorf(HY_ERR_ARG, "comm: unknown kind \"%s\": expected auto, single, nccl or tcp", kind);
}

hy_status hy_comm_create_opts(hy_comm **out, const hy_comm_opts *o) {
    *out = NULL;
    hy_comm *c = NULL;
    HY_TRY(hy_malloc((void **)&c, sizeof *c, 1, "communicator"));
    c->device = -1;
    hy_status st = hy_dist_env_detect(&c->env, o->envp);
    if (!st) st = o->timeout_s > 0 ? HY_OK : hy_dist_timeout(o->envp, 600.0, &c->timeout_s);
    if (!st && o->timeout_s > 0) c->timeout_s = o->timeout_s;
    if (!st) st = hy_comm_pick(c, o);
    if (st) {
        if (c->vt && c->vt->destroy) c->vt->destroy(c);
        hy_rdzv_close(c->rdzv);
        hy_free(c);
        return st;
    }
    *out = c;
    return HY_OK;
}

hy_status hy_comm_create(hy_comm **out, const char *kind) {
    hy_comm_opts o;
    hy_comm_opts_default(&o);
    if (kind) o.kind = kind;
    return hy_comm_create_opts(out, &o);
}

static void hy_comm_abort_impl(hy_comm *c, const char *reason) {
    if (c->vt && c->vt->abort) c->vt->abort(c, reason);
    if (c->rdzv) hy_rdzv_abort(c->rdzv, reason);
}

void hy_comm_abort(hy_comm *c, const char *reason) {
    if (!c) return;
    if (!c->failed) {
        c->failed = 1;
        snprintf(c->failed_msg, sizeof c->failed_msg, "comm: rank %d aborted: %s", c->env.rank, reason ? reason : "");
        hy_comm_abort_impl(c, reason ? reason : "");
    }
}

/* A failed implementation call: make it sticky and stop every rank. */
static hy_status hy_comm_failed(hy_comm *c, hy_status st) {
    if (!c->failed) {
        c->failed = 1;
        snprintf(c->failed_msg, sizeof c->failed_msg, "%s", hy_last_error());
        hy_comm_abort_impl(c, c->failed_msg);
    }
    return st;
}

static hy_status hy_comm_sticky(const hy_comm *c) { return hy_errorf(HY_ERR_NCCL, "%s", c->failed_msg); }

void hy_comm_free(hy_comm *c) {
    if (!c) return;
    if (!c->failed && c->issued > c->completed) (void)hy_comm_wait_all(c);
    if (c->vt && c->vt->destroy) c->vt->destroy(c);
    hy_rdzv_close(c->rdzv);
    hy_free(c);
}

int hy_comm_rank(const hy_comm *c) { return c->env.rank; }
int hy_comm_world(const hy_comm *c) { return c->env.world; }
int hy_comm_local_rank(const hy_comm *c) { return c->env.local_rank; }
const char *hy_comm_kind(const hy_comm *c) { return c->vt->name; }
const hy_dist_env *hy_comm_env(const hy_comm *c) { return &c->env; }
int hy_comm_device(const hy_comm *c) { return c->device; }

/* ---------------------------------------------------------------- collectives */

static hy_status hy_comm_check(const hy_comm *c, const void *buf, size_t n, hy_dtype dt, const char *what) {
    if (c->failed) return hy_comm_sticky(c);
    if (dt != HY_DTYPE_F32 && dt != HY_DTYPE_BF16)
        return hy_errorf(HY_ERR_ARG, "comm %s: dtype %s is not supported (expected F32 or BF16)", what, hy_dtype_name(dt));
    if (n && !buf) return hy_errorf(HY_ERR_ARG, "comm %s: NULL buffer for %zu elements", what, n);
    if (n > (SIZE_MAX / 8) / (size_t)c->env.world) return hy_errorf(HY_ERR_ARG, "comm %s: %zu elements is too many", what, n);
    return HY_OK;
}

/* Hand out a ticket after an implementation call; record where it ends. */
static hy_status hy_comm_issued(hy_comm *c, hy_status st, hy_comm_ticket *ticket) {
    if (st) return hy_comm_failed(c, st);
    hy_comm_ticket t = ++c->issued;
    if (c->vt->record) {
        st = c->vt->record(c, t);
        if (st) return hy_comm_failed(c, st);
    } else {
        c->completed = t;
    }
    if (ticket) *ticket = t;
    return HY_OK;
}

static void hy_ticket_none(const hy_comm *c, hy_comm_ticket *ticket) {
    if (ticket) *ticket = c->issued; /* nothing new to wait for */
}

hy_status hy_comm_all_reduce(hy_comm *c, void *buf, size_t n, hy_dtype dt, hy_comm_op op, hy_comm_ticket *ticket) {
    HY_TRY(hy_comm_check(c, buf, n, dt, "all-reduce"));
    if (n == 0) { hy_ticket_none(c, ticket); return HY_OK; }
    return hy_comm_issued(c, c->vt->all_reduce(c, buf, n, dt, op), ticket);
}

hy_status hy_comm_reduce_scatter(hy_comm *c, void *buf, size_t chunk, hy_dtype dt, hy_comm_op op, hy_comm_ticket *ticket) {
    HY_TRY(hy_comm_check(c, buf, chunk, dt, "reduce-scatter"));
    if (chunk == 0) { hy_ticket_none(c, ticket); return HY_OK; }
    return hy_comm_issued(c, c->vt->reduce_scatter(c, buf, chunk, dt, op), ticket);
}

hy_status hy_comm_all_gather(hy_comm *c, void *buf, size_t chunk, hy_dtype dt, hy_comm_ticket *ticket) {
    HY_TRY(hy_comm_check(c, buf, chunk, dt, "all-gather"));
    if (chunk == 0) { hy_ticket_none(c, ticket); return HY_OK; }
    return hy_comm_issued(c, c->vt->all_gather(c, buf, chunk, dt), ticket);
}

hy_status hy_comm_broadcast(hy_comm *c, void *buf, size_t n, hy_dtype dt, int root, hy_comm_ticket *ticket) {
    HY_TRY(hy_comm_check(c, buf, n, dt, "broadcast"));
    if (root < 0 || root >= c->env.world)
        return hy_errorf(HY_ERR_ARG, "comm broadcast: root %d outside 0..%d", root, c->env.world - 1);
    if (n == 0) { hy_ticket_none(c, ticket); return HY_OK; }
    return hy_comm_issued(c, c->vt->broadcast(c, buf, n, dt, root), ticket);
}

hy_status hy_comm_wait(hy_comm *c, hy_comm_ticket ticket) {
    if (c->failed) return hy_comm_sticky(c);
    if (ticket > c->issued) return hy_errorf(HY_ERR_ARG, "comm wait: ticket %llu was never issued", (unsigned long long)ticket);
    if (ticket <= c->completed) return HY_OK;
    hy_status st = c->vt->wait ? c->vt->wait(c, ticket) : HY_OK;
    if (st) return hy_comm_failed(c, st);
    c->completed = ticket;
    return HY_OK;
}

hy_status hy_comm_wait_all(hy_comm *c) { return hy_comm_wait(c, c->issued); }

hy_status hy_comm_barrier(hy_comm *c) {
    HY_TRY(hy_comm_wait_all(c));
    if (!c->rdzv) return HY_OK;
    hy_status st = hy_rdzv_barrier(c->rdzv, c->timeout_s);
    return st ? hy_comm_failed(c, st) : HY_OK;
}

hy_status hy_comm_all_reduce_host(hy_comm *c, double *vals, int n, hy_comm_op op) {
    if (c->failed) return hy_comm_sticky(c);
    if (n < 1 || n > 64 || !vals) return hy_errorf(HY_ERR_ARG, "comm host all-reduce: %d values (expected 1..64)", n);
    hy_status st = c->vt->all_reduce_host(c, vals, n, op);
    return st ? hy_comm_failed(c, st) : HY_OK;
}

hy_status hy_comm_order_after(hy_comm *c, void *stream) {
    if (c->failed) return hy_comm_sticky(c);
    hy_status st = c->vt->order_after ? c->vt->order_after(c, stream) : HY_OK;
    return st ? hy_comm_failed(c, st) : HY_OK;
}

hy_status hy_comm_order_before(hy_comm *c, void *stream) {
    if (c->failed) return hy_comm_sticky(c);
    hy_status st = c->vt->order_before ? c->vt->order_before(c, stream) : HY_OK;
    return st ? hy_comm_failed(c, st) : HY_OK;
}

/* ---------------------------------------------------------------- ZeRO-1 */

static hy_status hy_comm_plan_ok(const hy_comm *c, const hy_shard_plan *p, int b) {
    if (p->world != c->env.world)
        return hy_errorf(HY_ERR_ARG, "comm: shard plan for %d rank(s) used with a communicator of %d", p->world, c->env.world);
    if (b < 0 || b >= p->n_buckets) return hy_errorf(HY_ERR_ARG, "comm: bucket %d outside 0..%d", b, p->n_buckets - 1);
    return HY_OK;
}

hy_status hy_comm_reduce_scatter_bucket(hy_comm *c, float *grads, const hy_shard_plan *p, int b, hy_comm_op op, hy_comm_ticket *ticket) {
    HY_TRY(hy_comm_plan_ok(c, p, b));
    return hy_comm_reduce_scatter(c, grads + p->buckets[b].start, p->buckets[b].chunk, HY_DTYPE_F32, op, ticket);
}

hy_status hy_comm_all_gather_bucket(hy_comm *c, void *buf, hy_dtype dt, const hy_shard_plan *p, int b, hy_comm_ticket *ticket) {
    HY_TRY(hy_comm_plan_ok(c, p, b));
    char *base = buf;
    return hy_comm_all_gather(c, base + p->buckets[b].start * hy_dtype_size(dt), p->buckets[b].chunk, dt, ticket);
}

hy_status hy_comm_reduce_scatter_grads(hy_comm *c, float *grads, const hy_shard_plan *p, hy_comm_op op, hy_comm_ticket *ticket) {
    hy_comm_reducer r;
    hy_comm_reducer_begin(&r, p, grads, op, NULL);
    return hy_comm_reducer_finish(c, &r, ticket);
}

hy_status hy_comm_all_gather_params(hy_comm *c, void *weights, hy_dtype dt, const hy_shard_plan *p, hy_comm_ticket *ticket) {
    hy_comm_ticket t = c->issued;
    for (int b = 0; b < p->n_buckets; b++) HY_TRY(hy_comm_all_gather_bucket(c, weights, dt, p, b, &t));
    if (ticket) { *ticket = t; return HY_OK; }
    return hy_comm_wait(c, t);
}

void hy_comm_reducer_begin(hy_comm_reducer *r, const hy_shard_plan *p, float *grads, hy_comm_op op, void *stream) {
    memset(r, 0, sizeof *r);
    r->plan = p;
    r->grads = grads;
    r->op = op;
    r->stream = stream;
}

hy_status hy_comm_reducer_ready(hy_comm *c, hy_comm_reducer *r, int stage) {
    const hy_shard_plan *p = r->plan;
    int ordered = 0;
    while (r->next < p->n_buckets && p->buckets[p->order[r->next]].stage >= stage) {
        if (!ordered && r->stream) HY_TRY(hy_comm_order_after(c, r->stream));
        ordered = 1;
        HY_TRY(hy_comm_reduce_scatter_bucket(c, r->grads, p, p->order[r->next], r->op, &r->last));
        r->next++;
    }
    return HY_OK;
}

hy_status hy_comm_reducer_finish(hy_comm *c, hy_comm_reducer *r, hy_comm_ticket *ticket) {
    HY_TRY(hy_comm_reducer_ready(c, r, INT_MIN));
    if (ticket) { *ticket = r->last; return HY_OK; }
    return hy_comm_wait(c, r->last);
}
