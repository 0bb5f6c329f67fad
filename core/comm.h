/* comm.h — the communicator: data-parallel collectives between the ranks of
 * a job (DESIGN.md §1, issue 6).  Opaque; three implementations behind one
 * table, chosen at run time by hy_comm_create:
 *   "single"  one process (the CPU build, one GPU): every collective is an
 *             identity and touches no memory, so it works on host and
 *             device buffers alike (core/comm_single.c);
 *   "nccl"    one process per GPU over NCCL, on the communicator's own CUDA
 *             stream; buffers are DEVICE memory (core/comm_nccl.c, built into
 *             the hy_comm_nccl library only when CUDA and NCCL are found;
 *             otherwise asking for it is a clear error);
 *   "tcp"     CPU processes over the rendezvous sockets: rank 0 gathers,
 *             reduces in rank order and sends back; buffers are HOST memory.
 *             Slow, for CI-sized models: it lets the data-parallel trainer be
 *             tested on machines without GPUs (core/comm_tcp.c);
 *   "auto"    world size 1 → single; otherwise tcp when opts.host_buffers,
 *             else nccl.
 * Rank, world size and master address come from the launcher's environment
 * (rendezvous.h); ranks > 1 meet in a TCP handshake that also carries the
 * NCCL unique id, and keep that connection as a control channel.
 *
 * In-place collectives.  Every collective works in place on one buffer:
 *   all_reduce      buf[n]            ← op over ranks of buf[n]
 *   reduce_scatter  buf[world·chunk]: rank r's chunk buf[r·chunk, (r+1)·chunk)
 *                   ← op over ranks of that chunk; the other chunks of buf
 *                   are left UNSPECIFIED (NCCL leaves its inputs there);
 *   all_gather      buf[world·chunk]: every chunk r ← rank r's chunk r;
 *   broadcast       buf[n] ← root's buf[n].
 * Types: HY_DTYPE_F32 and HY_DTYPE_BF16 (sums of bf16 are formed by NCCL in
 * its own order; reduce fp32 gradients when it matters).  Every rank must
 * issue the same collectives in the same order with the same sizes.
 *
 * Asynchrony.  Collectives return at once with a ticket; the data is
 * complete after hy_comm_wait(ticket) (host blocks) — or, for stream
 * ordering without blocking the host, hy_comm_order_before(stream) makes
 * later work on a backend stream wait for everything queued so far, and
 * hy_comm_order_after(stream) makes later collectives wait for the work
 * queued so far on that stream (e.g. the backward of the layers a bucket
 * covers).  "single" and "tcp" complete every call before returning.
 *
 * Failure.  Every wait is bounded by the timeout (opts.timeout_s, else the
 * environment variable HYMBA_COMM_TIMEOUT, else 600 s).  While waiting, the
 * NCCL communicator polls ncclCommGetAsyncError and the control channel: a
 * peer that dies is named at once ("rank 3 (host h, pid p) closed its
 * control connection ..."), a hung one after the timeout; the communicator
 * is then aborted (ncclCommAbort), the other ranks are told, and the call
 * returns HY_ERR_NCCL.  Failure is sticky: every later call returns it.
 * On any error of its own, a rank should call hy_comm_abort(c, reason) so
 * the others stop at once instead of at their timeout.
 *
 * Not thread-safe: one thread drives a communicator. */
#ifndef HY_COMM_H
#define HY_COMM_H
#include "dtype.h"
#include "hy_base.h"
#include "rendezvous.h"
#include "shard.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hy_comm hy_comm;
typedef uint64_t hy_comm_ticket; /* 0: nothing to wait for */
typedef enum { HY_COMM_SUM = 0, HY_COMM_AVG, HY_COMM_MAX } hy_comm_op;

typedef struct {
    const char *kind;     /* "auto" (default), "single", "nccl", "tcp" */
    int host_buffers;     /* 1: the caller's buffers are host memory (CPU training) */
    int device;           /* nccl: CUDA device; −1 (default): hy_comm_pick_device */
    double timeout_s;     /* ≤ 0 (default): HYMBA_COMM_TIMEOUT, else 600 */
    char *const *envp;    /* environment to read (NULL: the process's) */
} hy_comm_opts;

void hy_comm_opts_default(hy_comm_opts *o);
/* Create with default options and the given kind (NULL: "auto").  For world
 * size > 1 this runs the rendezvous and blocks until every rank has joined
 * (or the timeout).  Errors: HY_ERR_CONFIG (environment), HY_ERR_NCCL
 * (rendezvous, NCCL), HY_ERR_UNSUPPORTED (nccl asked for but not built),
 * HY_ERR_ARG (unknown kind). */
hy_status hy_comm_create(hy_comm **out, const char *kind);
hy_status hy_comm_create_opts(hy_comm **out, const hy_comm_opts *o);
/* Wait for this rank's pending collectives (bounded), then release
 * everything; the control connection says goodbye.  It does NOT wait for
 * the other ranks: call hy_comm_barrier first at the end of a job.  After a
 * failure it releases without waiting.  NULL is a no-op. */
void hy_comm_free(hy_comm *c);
/* Give up: abort the NCCL communicator, tell every other rank `reason`
 * (they fail with "rank r (host h) aborted: reason").  Sticky. */
void hy_comm_abort(hy_comm *c, const char *reason);

int hy_comm_rank(const hy_comm *c);
int hy_comm_world(const hy_comm *c);
int hy_comm_local_rank(const hy_comm *c);
const char *hy_comm_kind(const hy_comm *c); /* "single", "nccl", "tcp" */
const hy_dist_env *hy_comm_env(const hy_comm *c);
/* CUDA device the communicator uses (−1 for single/tcp).  Create the
 * backend on this device. */
int hy_comm_device(const hy_comm *c);
/* The GPU a rank should use: its local rank when that many GPUs are
 * visible; 0 when exactly one is (the launcher gave each rank its own,
 * CUDA_VISIBLE_DEVICES per rank); otherwise HY_ERR_CONFIG naming both. */
hy_status hy_comm_pick_device(const hy_dist_env *e, int n_visible, int *device);

/* ---- collectives (buffers: device memory for nccl, host for tcp) ---- */

/* Each returns at once; *ticket (may be NULL) identifies the operation. */
hy_status hy_comm_all_reduce(hy_comm *c, void *buf /* [n] */, size_t n, hy_dtype dt, hy_comm_op op, hy_comm_ticket *ticket);
hy_status hy_comm_reduce_scatter(hy_comm *c, void *buf /* [world·chunk] */, size_t chunk, hy_dtype dt, hy_comm_op op,
                                 hy_comm_ticket *ticket);
hy_status hy_comm_all_gather(hy_comm *c, void *buf /* [world·chunk] */, size_t chunk, hy_dtype dt, hy_comm_ticket *ticket);
hy_status hy_comm_broadcast(hy_comm *c, void *buf /* [n] */, size_t n, hy_dtype dt, int root, hy_comm_ticket *ticket);
/* Block the host until `ticket` (and everything issued before it) is
 * complete; ticket 0 returns at once. */
hy_status hy_comm_wait(hy_comm *c, hy_comm_ticket ticket);
hy_status hy_comm_wait_all(hy_comm *c);
/* Host-side meeting of all ranks (after this rank's collectives complete). */
hy_status hy_comm_barrier(hy_comm *c);
/* Blocking all-reduce of a few HOST doubles (n ≤ 64): global counts of
 * supervised tokens, loss sums, squared gradient norms of the shards, stop
 * and non-finite flags (HY_COMM_MAX). */
hy_status hy_comm_all_reduce_host(hy_comm *c, double *vals /* host [n] */, int n, hy_comm_op op);
/* Stream ordering with a backend's CUDA stream (a cudaStream_t passed as
 * void *; no-ops for single and tcp). */
hy_status hy_comm_order_after(hy_comm *c, void *stream);
hy_status hy_comm_order_before(hy_comm *c, void *stream);

/* ---- ZeRO-1 over a shard plan (shard.h) ---- */

/* Reduce-scatter bucket b of the flat gradients in place: afterwards this
 * rank's chunk of the bucket holds the op over ranks. */
hy_status hy_comm_reduce_scatter_bucket(hy_comm *c, float *grads /* [plan.padded] */, const hy_shard_plan *p, int b, hy_comm_op op,
                                        hy_comm_ticket *ticket);
/* All-gather bucket b of a flat buffer of dtype dt in place. */
hy_status hy_comm_all_gather_bucket(hy_comm *c, void *buf /* [plan.padded] */, hy_dtype dt, const hy_shard_plan *p, int b,
                                    hy_comm_ticket *ticket);
/* Every bucket, in plan order.  ticket NULL: wait for completion. */
hy_status hy_comm_reduce_scatter_grads(hy_comm *c, float *grads /* [plan.padded] */, const hy_shard_plan *p, hy_comm_op op,
                                       hy_comm_ticket *ticket);
hy_status hy_comm_all_gather_params(hy_comm *c, void *weights /* [plan.padded] of dt */, hy_dtype dt, const hy_shard_plan *p,
                                    hy_comm_ticket *ticket);

/* Overlapping the gradient reduction with the backward pass: begin before
 * the last micro-batch's backward, call ready(l) once the backward of layer
 * l has been queued (it launches every bucket whose stage ≥ l, after the
 * work queued so far on `stream`), finish after the whole backward (the
 * rest, stage −1).  Buckets go out in plan.order. */
typedef struct {
    const hy_shard_plan *plan;
    float *grads;          /* [plan.padded] */
    hy_comm_op op;
    void *stream;          /* backend stream the gradients are written on (NULL: none) */
    int next;              /* index into plan.order of the next bucket to launch */
    hy_comm_ticket last;   /* ticket of the last launched bucket */
} hy_comm_reducer;

void hy_comm_reducer_begin(hy_comm_reducer *r, const hy_shard_plan *p, float *grads, hy_comm_op op, void *stream);
hy_status hy_comm_reducer_ready(hy_comm *c, hy_comm_reducer *r, int stage);
/* Launch what is left; *ticket (NULL: wait here) covers every bucket. */
hy_status hy_comm_reducer_finish(hy_comm *c, hy_comm_reducer *r, hy_comm_ticket *ticket);

#ifdef __cplusplus
}
#endif
#endif
