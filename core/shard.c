/* shard.c — ZeRO-1 sharding arithmetic (contract and layout in shard.h).
 *
 * A plan is built from REGIONS: contiguous ranges of the padded flat buffer
 * with a readiness stage each (one region of stage 0 for a bare size; one
 * per run of equal-stage tensors for a parameter table).  The buffer is
 * handled in quanta of Q = world·align elements (every bucket must be a
 * multiple of Q so that its world chunks are equal and aligned); cuts go
 * where the stage of the quanta changes, and each span between cuts is then
 * split into about-equal buckets of ≤ bucket_elems (rounded to Q).
 * Everything is integer arithmetic on size_t. */
#include "shard.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"

typedef struct {
    size_t start; /* the region runs to the next region's start (or padded) */
    int stage;
} hy_region;

static size_t hy_round_up(size_t x, size_t q) { return (x + q - 1) / q * q; }

static hy_status hy_shard_check_args(size_t total, int world, size_t align) {
    if (world < 1 || world > 4096) return hy_errorf(HY_ERR_ARG, "shard plan: world size %d out of range (expected 1..4096)", world);
    if (total == 0) return hy_errorf(HY_ERR_ARG, "shard plan: empty flat buffer (0 elements)");
    if (align == 0 || align > ((size_t)1 << 20))
        return hy_errorf(HY_ERR_ARG, "shard plan: alignment %zu out of range (expected 1..2^20 elements)", align);
    if (total > ((size_t)1 << 52)) return hy_errorf(HY_ERR_ARG, "shard plan: %zu elements is more than this planner supports", total);
    return HY_OK;
}

/* Cut positions (multiples of q strictly inside (0, padded), ascending):
 * every quantum [u·q, (u+1)·q) takes the lowest stage of the regions it
 * overlaps (it is final only when all of them are), and a cut goes wherever
 * that stage changes.  This is the best possible at quantum granularity: a
 * quantum straddling a region boundary waits for the later side, nothing
 * else waits.  Runs of quanta inside one region are skipped in one step, so
 * the cost is O(regions).  Returns the count written to cuts (at most
 * 2·n_rg). */
static int hy_stage_cuts(const hy_region *rg, int n_rg, size_t padded, size_t q, size_t *cuts) {
    int n = 0, i = 0, prev = 0;
    for (size_t u = 0, units = padded / q; u < units;) {
        size_t a = u * q, b = a + q;
        while (i + 1 < n_rg && rg[i + 1].start <= a) i++;
        size_t end_i = i + 1 < n_rg ? rg[i + 1].start : padded;
        int st = rg[i].stage;
        size_t next = u + 1;
        if (end_i >= b) next = end_i / q; /* quanta wholly inside region i */
        else
            for (int j = i + 1; j < n_rg && rg[j].start < b; j++) st = rg[j].stage < st ? rg[j].stage : st;
        if (u > 0 && st != prev) cuts[n++] = a;
        prev = st;
        u = next;
    }
    return n;
}

/* Lowest stage among the regions overlapping [a, b). */
static int hy_span_stage(const hy_region *rg, int n_rg, size_t padded, size_t a, size_t b) {
    int s = 0, found = 0;
    for (int i = 0; i < n_rg; i++) {
        size_t ra = rg[i].start, rb = i + 1 < n_rg ? rg[i + 1].start : padded;
        if (rb <= a || ra >= b) continue;
        if (!found || rg[i].stage < s) s = rg[i].stage;
        found = 1;
    }
    return s;
}

static int hy_bucket_cmp_ctx_stage_desc(const hy_shard_bucket *x, const hy_shard_bucket *y) {
    if (x->stage != y->stage) return x->stage > y->stage ? -1 : 1;
    return x->start > y->start ? -1 : x->start < y->start ? 1 : 0;
}

/* Insertion sort of the order (bucket counts are small: ~100 for 1.5B). */
static void hy_sort_order(hy_shard_plan *p) {
    for (int i = 0; i < p->n_buckets; i++) p->order[i] = i;
    for (int i = 1; i < p->n_buckets; i++) {
        int v = p->order[i], j = i - 1;
        while (j >= 0 && hy_bucket_cmp_ctx_stage_desc(&p->buckets[p->order[j]], &p->buckets[v]) > 0) {
            p->order[j + 1] = p->order[j];
            j--;
        }
        p->order[j + 1] = v;
    }
}

/* Split [a, b) (multiples of q) into buckets of ≤ bucket_elems (0: one). */
static int hy_split_span(size_t a, size_t b, size_t q, size_t bucket_elems, size_t *starts) {
    size_t units = (b - a) / q, per = bucket_elems ? hy_zmax(1, bucket_elems / q) : units;
    size_t n = (units + per - 1) / per;
    /* the first units % n buckets get one quantum more */
    for (size_t k = 0; k < n; k++) starts[k] = a + (k * (units / n) + hy_zmin(k, units % n)) * q;
    return (int)n;
}

static hy_status hy_plan_from_regions(hy_shard_plan *p, const hy_region *rg, int n_rg, size_t total, int world,
                                      size_t bucket_elems, size_t align) {
    memset(p, 0, sizeof *p);
    HY_TRY(hy_shard_check_args(total, world, align));
    const size_t q = (size_t)world * align;
    p->world = world;
    p->align = align;
    p->total = total;
    p->padded = hy_round_up(total, q);
    p->shard = p->padded / (size_t)world;
    const size_t units = p->padded / q;
    size_t *cuts = NULL, *starts = NULL;
    HY_TRY(hy_malloc((void **)&cuts, sizeof(size_t) * (2 * (size_t)n_rg + 2), 0, "shard plan cuts"));
    int n_cuts = bucket_elems ? hy_stage_cuts(rg, n_rg, p->padded, q, cuts + 1) : 0;
    cuts[0] = 0;
    cuts[n_cuts + 1] = p->padded;
    /* upper bound of the bucket count: one per span plus units/per overall */
    size_t per = bucket_elems ? hy_zmax(1, bucket_elems / q) : units;
    size_t max_b = (size_t)n_cuts + 1 + units / per + 1;
    hy_status st = hy_malloc((void **)&starts, sizeof(size_t) * max_b, 0, "shard plan bucket starts");
    int nb = 0;
    for (int i = 0; !st && i <= n_cuts; i++) nb += hy_split_span(cuts[i], cuts[i + 1], q, bucket_elems, starts + nb);
    HY_ASSERT(st || (size_t)nb <= max_b);
    if (!st) st = hy_malloc((void **)&p->buckets, sizeof(hy_shard_bucket) * (size_t)nb, 1, "shard plan buckets");
    if (!st) st = hy_malloc((void **)&p->order, sizeof(int) * (size_t)nb, 0, "shard plan order");
    if (!st) {
        p->n_buckets = nb;
        size_t local = 0;
        for (int b = 0; b < nb; b++) {
            size_t a = starts[b], e = b + 1 < nb ? starts[b + 1] : p->padded;
            p->buckets[b] = (hy_shard_bucket){a, (e - a) / (size_t)world, local, hy_span_stage(rg, n_rg, p->padded, a, e)};
            local += p->buckets[b].chunk;
        }
        HY_ASSERT(local == p->shard);
        hy_sort_order(p);
    }
    hy_free(cuts);
    hy_free(starts);
    if (st) hy_shard_plan_free(p);
    return st;
}

hy_status hy_shard_plan_build(hy_shard_plan *p, size_t total, int world, size_t bucket_elems, size_t align) {
    hy_region one = {0, 0};
    return hy_plan_from_regions(p, &one, 1, total, world, bucket_elems, align ? align : HY_SHARD_ALIGN);
}

/* Readiness stage of a tensor (shard.h). */
static int hy_param_stage(const hy_param_desc *d, int num_layers) {
    if (d->layer >= 0) return d->layer;
    if (d->cls == HY_PCLASS_EMBED || d->cls == HY_PCLASS_META) return HY_SHARD_STAGE_END;
    return num_layers;
}

hy_status hy_shard_plan_build_params(hy_shard_plan *p, const hy_param_table *t, int world, size_t bucket_elems) {
    memset(p, 0, sizeof *p);
    if (t->count <= 0) return hy_errorf(HY_ERR_ARG, "shard plan: empty parameter table");
    hy_region *rg = NULL;
    HY_TRY(hy_malloc((void **)&rg, sizeof(hy_region) * (size_t)t->count, 0, "shard plan regions"));
    int n = 0;
    for (int i = 0; i < t->count; i++) {
        const hy_param_desc *d = &t->desc[i];
        int s = hy_param_stage(d, t->num_layers);
        HY_ASSERT(i == 0 || d->offset > t->desc[i - 1].offset);
        if (n && rg[n - 1].stage == s) continue;
        /* the first region starts at 0 even if the first tensor does not */
        rg[n] = (hy_region){n ? d->offset : 0, s};
        n++;
    }
    hy_status st = hy_plan_from_regions(p, rg, n, t->total, world, bucket_elems, HY_SHARD_ALIGN);
    hy_free(rg);
    return st;
}

void hy_shard_plan_free(hy_shard_plan *p) {
    hy_free(p->buckets);
    hy_free(p->order);
    memset(p, 0, sizeof *p);
}

int hy_shard_owner(const hy_shard_plan *p, size_t i, size_t *local) {
    HY_ASSERT(i < p->padded);
    int lo = 0, hi = p->n_buckets - 1;
    while (lo < hi) { /* last bucket with start ≤ i */
        int mid = (lo + hi + 1) / 2;
        if (p->buckets[mid].start <= i) lo = mid;
        else hi = mid - 1;
    }
    const hy_shard_bucket *b = &p->buckets[lo];
    size_t off = i - b->start;
    if (local) *local = b->local + off % b->chunk;
    return (int)(off / b->chunk);
}

/* Clip the full ranges to [a, a+len); write them relative to a (when out is
 * non-NULL) and return how many there are.  `*first` is the index of the
 * first full range that may overlap (ranges ascend), advanced for the next
 * chunk. */
static int hy_clip_ranges(const hy_optim_groups *g, int *first, size_t a, size_t len, hy_optim_range *out) {
    int n = 0;
    size_t b = a + len;
    while (*first < g->count && g->ranges[*first].offset + g->ranges[*first].numel <= a) (*first)++;
    for (int i = *first; i < g->count && g->ranges[i].offset < b; i++) {
        size_t lo = hy_zmax(a, g->ranges[i].offset), hi = hy_zmin(b, g->ranges[i].offset + g->ranges[i].numel);
        if (lo >= hi) continue;
        if (out) out[n] = (hy_optim_range){lo - a, hi - lo, g->ranges[i].decay};
        n++;
    }
    return n;
}

hy_status hy_shard_view_build(hy_shard_view *v, const hy_shard_plan *p, int rank, const hy_optim_groups *full) {
    memset(v, 0, sizeof *v);
    if (rank < 0 || rank >= p->world) return hy_errorf(HY_ERR_ARG, "shard view: rank %d out of range (world %d)", rank, p->world);
    v->rank = rank;
    HY_TRY(hy_malloc((void **)&v->segs, sizeof(hy_shard_seg) * (size_t)p->n_buckets, 1, "shard view"));
    v->count = p->n_buckets;
    int first = 0, n_ranges = 0;
    for (int b = 0; b < p->n_buckets; b++) {
        hy_shard_seg *s = &v->segs[b];
        s->flat = hy_shard_chunk_flat(p, b, rank);
        s->local = p->buckets[b].local;
        s->len = p->buckets[b].chunk;
        s->n_used = p->total > s->flat ? hy_zmin(s->len, p->total - s->flat) : 0;
        v->numel += s->len;
        if (full) n_ranges += hy_clip_ranges(full, &first, s->flat, s->len, NULL);
    }
    if (!full || n_ranges == 0) return HY_OK;
    hy_status st = hy_malloc((void **)&v->ranges_, sizeof(hy_optim_range) * (size_t)n_ranges, 0, "shard view ranges");
    if (st) { hy_shard_view_free(v); return st; }
    first = 0;
    hy_optim_range *next = v->ranges_;
    for (int b = 0; b < v->count; b++) {
        hy_shard_seg *s = &v->segs[b];
        int n = hy_clip_ranges(full, &first, s->flat, s->len, next);
        s->groups.ranges = n ? next : NULL;
        s->groups.count = n;
        for (int k = 0; k < n; k++) {
            if (next[k].decay) s->groups.n_decay += next[k].numel;
            else s->groups.n_nodecay += next[k].numel;
        }
        v->n_decay += s->groups.n_decay;
        v->n_nodecay += s->groups.n_nodecay;
        next += n;
    }
    return HY_OK;
}

void hy_shard_view_free(hy_shard_view *v) {
    hy_free(v->segs);
    hy_free(v->ranges_);
    memset(v, 0, sizeof *v);
}

void hy_shard_plan_describe(const hy_shard_plan *p, char *buf, size_t n) {
    snprintf(buf, n, "%d rank%s, %d bucket%s of ~%zu elements, shard %zu elements per rank (padding %zu)", p->world,
             p->world == 1 ? "" : "s", p->n_buckets, p->n_buckets == 1 ? "" : "s",
             p->n_buckets ? p->padded / (size_t)p->n_buckets : 0, p->shard, p->padded - p->total);
}
