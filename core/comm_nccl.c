/* comm_nccl.c — the NCCL communicator: one process per GPU (contract in
 * comm.h).  The only file that includes nccl.h; built into the hy_comm_nccl
 * object library only when CUDA and NCCL are found, never into hy_core.
 *
 * Setup: rank 0 makes the NCCL unique id, the rendezvous hands it to every
 * rank (core/rendezvous.c), each rank selects its GPU (local rank) and joins
 * with ncclCommInitRankConfig on a NON-BLOCKING communicator, so that the
 * join itself can be bounded by the timeout.  Collectives run on the
 * communicator's own stream; each records an event from a ring, and
 * waiting means polling that event together with ncclCommGetAsyncError and
 * the control channel (a dead peer is noticed at once, a hung one at the
 * timeout), then ncclCommAbort.  No call of this file blocks without a
 * deadline: the pinned staging buffer of hy_comm_all_reduce_host keeps even
 * the device-to-host copy asynchronous.
 *
 * Every NCCL and CUDA call goes through a check that reports the call text,
 * the library's error string (and NCCL's last-error detail), file:line, the
 * rank and the device. */
#include <sched.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime_api.h>
#include <nccl.h>

#include "alloc.h"
#include "comm_internal.h"
#include "core/timer.h"

enum { HY_NCCL_EVENTS = 256, HY_NCCL_HOST_MAX = 64 };

typedef struct {
    ncclComm_t nc;
    cudaStream_t stream;
    cudaEvent_t ev[HY_NCCL_EVENTS]; /* ticket t ends at ev[t % N] (a later ticket in the slot implies t) */
    cudaEvent_t ev_host, ev_order;  /* host all-reduce; stream ordering */
    double *dev_scratch;            /* device [HY_NCCL_HOST_MAX] */
    double *host_pinned;            /* pinned host [HY_NCCL_HOST_MAX] */
    int aborted;
} hy_nccl;

static hy_status hy_nccl_err(hy_comm *c, const char *call, ncclResult_t r, const char *file, int line) {
    hy_nccl *n = c->impl;
    const char *detail = n && n->nc ? ncclGetLastError(n->nc) : ncclGetLastError(NULL);
    return hy_errorf(HY_ERR_NCCL, "%s:%d: %s failed: %s%s%s (rank %d of %d, device %d; NCCL_DEBUG=WARN tells more)", file, line, call,
                     ncclGetErrorString(r), detail && detail[0] ? ": " : "", detail ? detail : "", c->env.rank, c->env.world, c->device);
}

static hy_status hy_cuda_err(hy_comm *c, const char *call, cudaError_t e, const char *file, int line) {
    return hy_errorf(HY_ERR_CUDA, "%s:%d: %s failed: %s (rank %d of %d, device %d)", file, line, call, cudaGetErrorString(e),
                     c->env.rank, c->env.world, c->device);
}

static hy_status hy_nccl_poll(hy_comm *c, cudaEvent_t ev, const char *what);

/* NCCL call; on a non-blocking communicator "in progress" is settled
 * (bounded) before the next call, as NCCL requires. */
#define HY_NCCL(c, what, call)                                                   \
    do {                                                                         \
        ncclResult_t hy_nr_ = (call);                                            \
        if (hy_nr_ == ncclInProgress) HY_TRY(hy_nccl_poll((c), NULL, (what)));   \
        else if (hy_nr_ != ncclSuccess) return hy_nccl_err((c), #call, hy_nr_, __FILE__, __LINE__); \
    } while (0)
#define HY_CUDA(c, call)                                                         \
    do {                                                                         \
        cudaError_t hy_ce_ = (call);                                             \
        if (hy_ce_ != cudaSuccess) return hy_cuda_err((c), #call, hy_ce_, __FILE__, __LINE__); \
    } while (0)


/* Wait for `ev` (NULL: for the communicator to leave "in progress"), bounded
 * by the timeout, watching NCCL's asynchronous error and the peers. */
static hy_status hy_nccl_poll(hy_comm *c, cudaEvent_t ev, const char *what) {
    hy_nccl *n = c->impl;
    double t0 = hy_now_s(), next_check = t0;
    for (unsigned spin = 0;; spin++) {
        if (ev) {
            cudaError_t q = cudaEventQuery(ev);
            if (q == cudaSuccess) return HY_OK;
            if (q != cudaErrorNotReady) return hy_cuda_err(c, "cudaEventQuery", q, __FILE__, __LINE__);
        }
        ncclResult_t state = ncclSuccess;
        ncclResult_t r = n->nc ? ncclCommGetAsyncError(n->nc, &state) : ncclSuccess;
        if (r != ncclSuccess) return hy_nccl_err(c, "ncclCommGetAsyncError", r, __FILE__, __LINE__);
        if (!ev && state == ncclSuccess) return HY_OK;
        if (state != ncclSuccess && state != ncclInProgress) {
            char call[160];
            snprintf(call, sizeof call, "NCCL %s (asynchronous error)", what);
            return hy_nccl_err(c, call, state, __FILE__, __LINE__);
        }
        double now = hy_now_s();
        if (c->rdzv && now >= next_check) {
            next_check = now + 0.05;
            if (hy_rdzv_check(c->rdzv) != HY_OK) {
                hy_error_context("rank %d: NCCL %s stopped", c->env.rank, what);
                return HY_ERR_NCCL;
            }
        }
        if (now - t0 > c->timeout_s)
            return hy_errorf(HY_ERR_NCCL, "rank %d of %d: NCCL %s did not complete within %g s: another rank hangs, is much slower, or "
                             "died without closing its connection; aborting the communicator (HYMBA_COMM_TIMEOUT raises the limit, "
                             "NCCL_DEBUG=WARN tells more)", c->env.rank, c->env.world, what, c->timeout_s);
        if (spin < 64) sched_yield();
        else {
            struct timespec ts = {0, spin < 2048 ? 50000 : 500000};
            nanosleep(&ts, NULL);
        }
    }
}

static ncclDataType_t hy_nccl_type(hy_dtype dt) { return dt == HY_DTYPE_BF16 ? ncclBfloat16 : ncclFloat32; }
static ncclRedOp_t hy_nccl_op(hy_comm_op op) { return op == HY_COMM_AVG ? ncclAvg : op == HY_COMM_MAX ? ncclMax : ncclSum; }

static hy_status hy_nccl_all_reduce(hy_comm *c, void *buf, size_t count, hy_dtype dt, hy_comm_op op) {
    hy_nccl *n = c->impl;
    HY_NCCL(c, "all-reduce", ncclAllReduce(buf, buf, count, hy_nccl_type(dt), hy_nccl_op(op), n->nc, n->stream));
    return HY_OK;
}

static hy_status hy_nccl_reduce_scatter(hy_comm *c, void *buf, size_t chunk, hy_dtype dt, hy_comm_op op) {
    hy_nccl *n = c->impl;
    char *mine = (char *)buf + (size_t)c->env.rank * chunk * hy_dtype_size(dt); /* in place: recv = send + rank·chunk */
    HY_NCCL(c, "reduce-scatter", ncclReduceScatter(buf, mine, chunk, hy_nccl_type(dt), hy_nccl_op(op), n->nc, n->stream));
    return HY_OK;
}

static hy_status hy_nccl_all_gather(hy_comm *c, void *buf, size_t chunk, hy_dtype dt) {
    hy_nccl *n = c->impl;
    char *mine = (char *)buf + (size_t)c->env.rank * chunk * hy_dtype_size(dt); /* in place: send = recv + rank·chunk */
    HY_NCCL(c, "all-gather", ncclAllGather(mine, buf, chunk, hy_nccl_type(dt), n->nc, n->stream));
    return HY_OK;
}

static hy_status hy_nccl_broadcast(hy_comm *c, void *buf, size_t count, hy_dtype dt, int root) {
    hy_nccl *n = c->impl;
    HY_NCCL(c, "broadcast", ncclBroadcast(buf, buf, count, hy_nccl_type(dt), root, n->nc, n->stream));
    return HY_OK;
}

static hy_status hy_nccl_all_reduce_host(hy_comm *c, double *vals, int count, hy_comm_op op) {
    hy_nccl *n = c->impl;
    size_t bytes = (size_t)count * sizeof(double);
    memcpy(n->host_pinned, vals, bytes);
    HY_CUDA(c, cudaMemcpyAsync(n->dev_scratch, n->host_pinned, bytes, cudaMemcpyHostToDevice, n->stream));
    HY_NCCL(c, "host all-reduce", ncclAllReduce(n->dev_scratch, n->dev_scratch, (size_t)count, ncclFloat64, hy_nccl_op(op), n->nc, n->stream));
    HY_CUDA(c, cudaMemcpyAsync(n->host_pinned, n->dev_scratch, bytes, cudaMemcpyDeviceToHost, n->stream));
    HY_CUDA(c, cudaEventRecord(n->ev_host, n->stream));
    HY_TRY(hy_nccl_poll(c, n->ev_host, "host all-reduce"));
    memcpy(vals, n->host_pinned, bytes);
    return HY_OK;
}

static hy_status hy_nccl_record(hy_comm *c, hy_comm_ticket t) {
    hy_nccl *n = c->impl;
    HY_CUDA(c, cudaEventRecord(n->ev[t % HY_NCCL_EVENTS], n->stream));
    return HY_OK;
}

static hy_status hy_nccl_wait(hy_comm *c, hy_comm_ticket t) {
    hy_nccl *n = c->impl;
    return hy_nccl_poll(c, n->ev[t % HY_NCCL_EVENTS], "collective");
}

static hy_status hy_nccl_order_after(hy_comm *c, void *stream) {
    hy_nccl *n = c->impl;
    HY_CUDA(c, cudaEventRecord(n->ev_order, (cudaStream_t)stream));
    HY_CUDA(c, cudaStreamWaitEvent(n->stream, n->ev_order, 0));
    return HY_OK;
}

static hy_status hy_nccl_order_before(hy_comm *c, void *stream) {
    hy_nccl *n = c->impl;
    HY_CUDA(c, cudaEventRecord(n->ev_order, n->stream));
    HY_CUDA(c, cudaStreamWaitEvent((cudaStream_t)stream, n->ev_order, 0));
    return HY_OK;
}

static void hy_nccl_abort(hy_comm *c, const char *reason) {
    hy_nccl *n = c->impl;
    (void)reason;
    if (!n || !n->nc || n->aborted) return;
    (void)ncclCommAbort(n->nc); /* also ends kernels stuck waiting for a dead peer */
    n->aborted = 1;
}

/* Clean shutdown when nothing failed: finalize (bounded), destroy. */
static hy_status hy_nccl_finalize(hy_comm *c) {
    hy_nccl *n = c->impl;
    HY_NCCL(c, "finalize", ncclCommFinalize(n->nc));
    HY_TRY(hy_nccl_poll(c, NULL, "finalize"));
    HY_NCCL(c, "destroy", ncclCommDestroy(n->nc));
    n->nc = NULL;
    return HY_OK;
}

static void hy_nccl_destroy(hy_comm *c) {
    hy_nccl *n = c->impl;
    if (!n) return;
    if (n->nc && !n->aborted && !c->failed && hy_nccl_finalize(c) != HY_OK) hy_nccl_abort(c, "finalize failed");
    if (n->nc && !n->aborted) hy_nccl_abort(c, "shutdown after a failure");
    if (n->stream) (void)cudaStreamSynchronize(n->stream);
    for (int i = 0; i < HY_NCCL_EVENTS; i++)
        if (n->ev[i]) (void)cudaEventDestroy(n->ev[i]);
    if (n->ev_host) (void)cudaEventDestroy(n->ev_host);
    if (n->ev_order) (void)cudaEventDestroy(n->ev_order);
    if (n->dev_scratch) (void)cudaFree(n->dev_scratch);
    if (n->host_pinned) (void)cudaFreeHost(n->host_pinned);
    if (n->stream) (void)cudaStreamDestroy(n->stream);
    hy_free(n);
    c->impl = NULL;
}

static const hy_comm_vt hy_nccl_vt = {
    .name = "nccl",
    .all_reduce = hy_nccl_all_reduce,
    .reduce_scatter = hy_nccl_reduce_scatter,
    .all_gather = hy_nccl_all_gather,
    .broadcast = hy_nccl_broadcast,
    .all_reduce_host = hy_nccl_all_reduce_host,
    .record = hy_nccl_record,
    .wait = hy_nccl_wait,
    .order_after = hy_nccl_order_after,
    .order_before = hy_nccl_order_before,
    .abort = hy_nccl_abort,
    .destroy = hy_nccl_destroy,
};

static hy_status hy_nccl_resources(hy_comm *c) {
    hy_nccl *n = c->impl;
    /* the highest stream priority: collectives launched during the backward
     * (overlap) get SMs as soon as blocks of the compute kernels retire,
     * instead of queueing behind whole grids of the backend stream */
    int lo = 0, hi = 0;
    HY_CUDA(c, cudaDeviceGetStreamPriorityRange(&lo, &hi));
    HY_CUDA(c, cudaStreamCreateWithPriority(&n->stream, cudaStreamNonBlocking, hi));
    for (int i = 0; i < HY_NCCL_EVENTS; i++) HY_CUDA(c, cudaEventCreateWithFlags(&n->ev[i], cudaEventDisableTiming));
    HY_CUDA(c, cudaEventCreateWithFlags(&n->ev_host, cudaEventDisableTiming));
    HY_CUDA(c, cudaEventCreateWithFlags(&n->ev_order, cudaEventDisableTiming));
    HY_CUDA(c, cudaMalloc((void **)&n->dev_scratch, HY_NCCL_HOST_MAX * sizeof(double)));
    HY_CUDA(c, cudaMallocHost((void **)&n->host_pinned, HY_NCCL_HOST_MAX * sizeof(double)));
    return HY_OK;
}

static hy_status hy_nccl_join(hy_comm *c, int device) {
    hy_nccl *n = c->impl;
    if (device < 0) {
        int count = 0;
        HY_CUDA(c, cudaGetDeviceCount(&count));
        HY_TRY(hy_comm_pick_device(&c->env, count, &device));
    }
    c->device = device;
    HY_CUDA(c, cudaSetDevice(device));
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    if (c->env.rank == 0) HY_NCCL(c, "get unique id", ncclGetUniqueId(&id));
    if (c->env.world > 1) HY_TRY(hy_comm_rendezvous(c, &id, sizeof id, &id, sizeof id));
    HY_TRY(hy_nccl_resources(c));
    ncclConfig_t cfg = NCCL_CONFIG_INITIALIZER;
    cfg.blocking = 0; /* so that joining is bounded by our timeout */
    ncclResult_t r = ncclCommInitRankConfig(&n->nc, c->env.world, id, c->env.rank, &cfg);
    if (r != ncclSuccess && r != ncclInProgress) return hy_nccl_err(c, "ncclCommInitRankConfig", r, __FILE__, __LINE__);
    return hy_nccl_poll(c, NULL, "initialisation (ncclCommInitRankConfig)");
}

hy_status hy_comm_nccl_init(hy_comm *c, int device) {
    c->vt = &hy_nccl_vt;
    HY_TRY(hy_malloc(&c->impl, sizeof(hy_nccl), 1, "NCCL communicator"));
    hy_status st = hy_nccl_join(c, device);
    if (st) {
        /* the others must not wait for this rank until their timeout */
        hy_nccl_abort(c, hy_last_error());
        if (c->rdzv) hy_rdzv_abort(c->rdzv, hy_last_error());
    }
    return st;
}
