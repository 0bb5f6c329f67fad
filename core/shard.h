/* shard.h — ZeRO-1 sharding arithmetic over the flat parameter buffer:
 * which rank owns (updates the fp32 master weights and AdamW moments of)
 * which element, and the bucket plan that overlaps the gradient reduction
 * with the backward pass.  Pure arithmetic: no communication, no device.
 *
 * Layout.  The flat buffer (params.h: `total` elements, tensors at
 * 32-aligned offsets, zero gaps) is padded to `padded` elements and cut into
 * BUCKETS, contiguous ranges [start, start + world·chunk).  Inside a bucket
 * rank r owns the r-th chunk [start + r·chunk, start + (r+1)·chunk), so one
 * NCCL reduce-scatter of the bucket, in place, leaves every rank exactly the
 * elements it owns, and one in-place all-gather of the bucket gives every
 * rank the updated weights back.  Chunks are multiples of `align` (128
 * elements by default: 512 B of fp32, 256 B of bf16), so every chunk starts
 * aligned and all chunks of a bucket have the same length, which NCCL's
 * reduce-scatter and all-gather require.
 *
 * Why per-bucket ownership rather than one contiguous range per rank: the
 * gradients of a bucket are final as soon as the layers it covers have run
 * their backward, and a contiguous bucket can only be reduce-scattered with
 * equal chunks if every rank owns a piece of it.  A rank's owned elements
 * are therefore one chunk per bucket (with a single bucket — bucket_elems
 * ≥ total — they are one contiguous range [r·shard, (r+1)·shard)).  On the
 * rank itself the chunks are stored back to back, in bucket order, in ONE
 * allocation of `shard` elements (master weights, m, v): hy_shard_view maps
 * them.  A contiguous-per-rank layout would have to reduce each bucket to
 * its owner (ncclReduce), which moves w/(w−1) times the bytes (twice at
 * w = 2) while overlapping.
 *
 * Invariants (tests/test_comm.c proves them for awkward sizes and 1–8
 * ranks):
 *   - padded ≥ total and padded is a multiple of world·align;
 *   - buckets tile [0, padded) in ascending order without gaps or overlap;
 *     every bucket length is world·chunk with chunk a positive multiple of
 *     align; Σ chunk = shard = padded / world;
 *   - every element of [0, padded) is owned by exactly one rank;
 *   - plan.order lists every bucket exactly once, in the order its
 *     gradients become final during the backward pass (readiness stage
 *     descending, then flat offset descending).
 *
 * Readiness stages (hy_shard_plan_build_params).  Backward runs the final
 * norm, then layers L−1 … 0, and only at the very end the embedding lookup
 * and the meta tokens (the tied LM head also writes the embedding gradient
 * first, but the lookup writes it last).  A tensor's stage is its layer;
 * the final norm's is L; the embedding's and meta tokens' are −1 (after the
 * whole backward).  A bucket's stage is the minimum over the tensors it
 * touches: its gradient is final once the backward of layer `stage` has
 * finished (stage −1: once the whole backward has).  Bucket cuts are placed
 * where the stage changes — at the granularity of world·align elements, a
 * piece straddling two tensors taking the lower stage — and between them
 * at about bucket_elems. */
#ifndef HY_SHARD_H
#define HY_SHARD_H
#include "hy_base.h"
#include "optim.h"
#include "params.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { HY_SHARD_ALIGN = 128 };
/* Default bucket size in elements (64 MiB of fp32 gradients): large enough
 * for NCCL to reach full bandwidth, small enough to overlap. */
#define HY_SHARD_BUCKET_DEFAULT ((size_t)1 << 24)
/* Readiness stage of buckets that are final only after the whole backward. */
enum { HY_SHARD_STAGE_END = -1 };

typedef struct {
    size_t start; /* first flat element of the bucket */
    size_t chunk; /* elements each rank owns in it; the bucket is world·chunk long */
    size_t local; /* offset of this bucket's chunk in every rank's shard storage */
    int stage;    /* readiness: final after the backward of layer `stage` (−1: at the end) */
} hy_shard_bucket;

typedef struct {
    int world;                /* ranks (≥ 1) */
    size_t align;             /* chunk granularity in elements */
    size_t total;             /* elements the model uses (params total) */
    size_t padded;            /* allocation length of every flat buffer that is reduced or gathered */
    size_t shard;             /* elements each rank owns: padded / world */
    int n_buckets;
    hy_shard_bucket *buckets; /* [n_buckets], ascending start, tiling [0, padded) */
    int *order;               /* [n_buckets] bucket indices in readiness order */
} hy_shard_plan;

/* Plan for a flat buffer of `total` ≥ 1 elements over `world` (1..4096)
 * ranks with buckets of about `bucket_elems` elements (0: one bucket) and
 * chunks aligned to `align` elements (0: HY_SHARD_ALIGN).  Every bucket has
 * stage 0 (no readiness information): the order is flat offset descending.
 * Owns p->buckets and p->order; free with hy_shard_plan_free.  Errors:
 * HY_ERR_ARG for out-of-range arguments, HY_ERR_OOM. */
hy_status hy_shard_plan_build(hy_shard_plan *p, size_t total, int world, size_t bucket_elems, size_t align);
/* Plan for the model's parameter table: total = t->total, stages and cuts
 * as described above. */
hy_status hy_shard_plan_build_params(hy_shard_plan *p, const hy_param_table *t, int world, size_t bucket_elems);
void hy_shard_plan_free(hy_shard_plan *p);

/* The rank that owns flat element i (< padded); *local (optional) receives
 * its index in that rank's shard storage. */
int hy_shard_owner(const hy_shard_plan *p, size_t i, size_t *local);
/* Flat offset of rank r's chunk of bucket b. */
static inline size_t hy_shard_chunk_flat(const hy_shard_plan *p, int b, int r) {
    return p->buckets[b].start + (size_t)r * p->buckets[b].chunk;
}

/* One owned chunk of a rank with its weight-decay ranges. */
typedef struct {
    size_t flat;           /* first flat element of the chunk */
    size_t local;          /* its offset in the rank's shard storage */
    size_t len;            /* elements (= the bucket's chunk) */
    size_t n_used;         /* elements below plan.total (the rest is padding) */
    hy_optim_groups groups; /* the decay ranges of the full table clipped to this
                              chunk, offsets RELATIVE to `flat`: pass them to
                              hy_adamw_step with param = master + local,
                              grad = grads + flat, m = m + local, v = v + local */
} hy_shard_seg;

typedef struct {
    int rank;
    int count;          /* = plan.n_buckets, in bucket (flat) order */
    hy_shard_seg *segs; /* [count] */
    size_t numel;       /* Σ len = plan.shard */
    size_t n_decay, n_nodecay; /* elements of decay / no-decay ranges this rank
                                  updates (zero alignment gaps included) */
    hy_optim_range *ranges_;   /* storage of every segment's ranges (owned) */
} hy_shard_view;

/* Rank `rank`'s chunks and, when `full` is non-NULL, the decay groups of the
 * full table (hy_optim_groups_build) clipped to each chunk; elements in no
 * range (alignment gaps, padding) are in no group and stay zero.  Owns its
 * arrays; free with hy_shard_view_free. */
hy_status hy_shard_view_build(hy_shard_view *v, const hy_shard_plan *p, int rank, const hy_optim_groups *full);
void hy_shard_view_free(hy_shard_view *v);

/* One-line summary for logs: "4 ranks, 12 buckets of ~16.8M elements,
 * shard 402.7M elements (padding 384)". */
void hy_shard_plan_describe(const hy_shard_plan *p, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
