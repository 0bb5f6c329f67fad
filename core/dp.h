/* dp.h — one data-parallel training step's distributed state and calls
 * (ZeRO-1, docs/multigpu.md §3 and §7), shared by the trainer (core/train.c)
 * and `hymba bench` (cli/cmd_bench.c) so both run the same code.
 *
 * A hy_dp owns the communicator, the shard plan and this rank's view of it,
 * the fp32 optimizer state (master weights and AdamW moments) and the
 * reducer that overlaps the gradient reduce-scatter with the backward pass.
 * Two paths, chosen once by hy_dp_init:
 *   - plain (world size 1 over the "single" communicator, the default
 *     without a launcher): full master and moments; the reduction is the
 *     gradient's sum of squares and the update one AdamW call over the whole
 *     flat buffer — exactly the single-device step;
 *   - sharded (world > 1, or HYMBA_COMM forcing a communicator at world 1):
 *     master/m/v hold this rank's chunks of every bucket (plan.shard
 *     elements), gradients are reduce-scattered per bucket (SUM: every rank
 *     weights its rows by 1/global units), the norm is the all-reduced sum of
 *     squares of the owned chunks, AdamW runs per chunk and the weights are
 *     all-gathered.
 * One step (the caller's loop):
 *     zero grads; for each micro-batch k: [k == last: hy_dp_overlap_begin]
 *     forward, backward;  hy_dp_reduce → global Σg²;  clip;  hy_dp_update.
 * Buffers are backend memory: host memory with the "tcp" communicator (CPU
 * processes), device memory with NCCL.  Environment: HYMBA_COMM
 * (single|tcp|nccl: force a communicator), HYMBA_DP_OVERLAP=0 (every bucket
 * after the backward; same bits), HYMBA_DP_BUCKET_ELEMS (bucket size).
 * Not thread-safe; every rank must make the same calls in the same order. */
#ifndef HY_DP_H
#define HY_DP_H
#include "core/comm.h"
#include "core/config.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/shard.h"
#include "kernels/ops.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    hy_comm *comm;
    int rank, world, main;        /* main: rank 0 (prints and writes) */
    int sharded;                  /* ZeRO-1 path (see above) */
    int overlap;                  /* 1 (default): buckets launched from the backward hook; 0: all after it */
    /* set by hy_dp_alloc_optim */
    const hy_ops *ops;
    hy_model *m;                  /* weights and gradients ([plan.padded] when sharded) */
    const hy_optim_groups *groups; /* decay groups of the full table (caller's; plain path) */
    size_t total;                 /* parameter elements */
    hy_shard_plan plan;           /* sharded only */
    hy_shard_view view;           /* sharded only */
    float *master, *adam_m, *adam_v; /* fp32 backend memory: [total], or [plan.shard] when sharded; owned */
    int master_is_weights;        /* plain fp32 storage: the master is the model's weights (not owned) */
    /* the reducer of the current step */
    hy_comm_reducer red;
    int red_open;                 /* 1: from hy_dp_overlap_begin to hy_dp_reduce */
    hy_status red_err;            /* first error of a launch from the backward hook */
    char red_msg[512];            /* its message */
} hy_dp;

/* Communicator from the launcher's environment (HYMBA_COMM forces a kind;
 * host_buffers: 1 when the backend is the CPU) and the overlap setting.
 * Blocks until every rank has joined.  Free with hy_dp_free even on error. */
hy_status hy_dp_init(hy_dp *dp, int host_buffers);
/* The backend device to create: "cuda:<the communicator's GPU>" for NCCL,
 * else `fallback` (the user's choice). */
void hy_dp_device(const hy_dp *dp, char *buf, size_t n, const char *fallback);
/* Build the shard plan for cfg's parameter table (sharded path; rank 0 logs
 * it); *buffer_elems: the length to give hy_model_create_ex / _open_lim
 * (0 on the plain path). */
hy_status hy_dp_plan(hy_dp *dp, const hy_config *cfg, size_t *buffer_elems);
/* Whether hy_dp_alloc_optim reads `host` (else it may be NULL): a separate
 * master copy is initialised from the full fp32 weights. */
int hy_dp_master_needs_host(const hy_dp *dp, const hy_ops *ops);
/* Master weights and AdamW moments on `ops` for model m (whose weights are
 * already set); `host` [total] fp32: the master's initial values (the
 * checkpoint's own, not their act-dtype rounding).  `groups` must outlive dp. */
hy_status hy_dp_alloc_optim(hy_dp *dp, const hy_ops *ops, hy_model *m, const hy_optim_groups *groups, const float *host);
/* Fp32 bytes of master weights and moments this rank holds (0 for a master
 * that is the weights). */
size_t hy_dp_optim_bytes(const hy_dp *dp);

/* Sharded path: local shard [plan.shard] ← the owned chunks of a full host
 * buffer [total]. */
hy_status hy_dp_scatter(hy_dp *dp, float *local, const float *host);
/* Sharded path: full host buffer [total] ← every rank's shard `local`.  All
 * ranks call it; the gradient buffer is the scratch (between steps only). */
hy_status hy_dp_gather(hy_dp *dp, const float *local, float *host);
/* Sum a few host doubles over the ranks (no-op for one rank). */
hy_status hy_dp_sum(hy_dp *dp, double *vals /* host [n], n ≤ 64 */, int n);
/* Whether `flag` is set on any rank (a failed exchange counts as set). */
int hy_dp_any(hy_dp *dp, int flag);

/* Sharded path, before the backward of a step's LAST micro-batch (earlier
 * ones only accumulate): opens the reducer over the gradients and, with
 * overlap on, hooks it to the model's backward.  Call it even when this
 * rank's last micro-batch is empty. */
void hy_dp_overlap_begin(hy_dp *dp);
/* After a step's backward passes: the global sum of squares of the gradient.
 * Sharded: launches what the hook has not, waits for the reduce-scatter
 * (bounded; a dead peer is named), Σ over the owned chunks, all-reduced.
 * Plain: the sum of squares of the whole buffer. */
hy_status hy_dp_reduce(hy_dp *dp, double *sumsq);
/* AdamW step t with learning rate lr and gradient scale coef (clipping);
 * the act-dtype weights are refreshed (sharded: per owned chunk, then
 * all-gathered; the call returns once the weights are complete). */
hy_status hy_dp_update(hy_dp *dp, const hy_adamw_hparams *h, int64_t t, double lr, float coef);

/* Sharded path, for measurements between steps: `reps` timed rounds (after
 * one untimed) of the reduce-scatter of every gradient bucket and of the
 * all-gather of the weights, each alone on the same buffers the step uses,
 * all ranks meeting before each.  Median seconds out.  Overwrites the
 * gradients; the weights are unchanged (every rank holds the same). */
hy_status hy_dp_time_collectives(hy_dp *dp, int reps, double *rs_s, double *ag_s);

/* Release the optimizer state (before the backend is destroyed), the plan
 * and the communicator.  Safe on a zeroed or partly set up hy_dp. */
void hy_dp_free(hy_dp *dp);

#ifdef __cplusplus
}
#endif
#endif
