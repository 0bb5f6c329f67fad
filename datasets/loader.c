/* loader.c — epoch plans (mix, shuffle, best-fit pack, shard) and micro-batch
 * assembly from token stores.  See loader.h for the contract.
 *
 * An item is one sample (a pair for preference data), encoded as
 * (source << 40) | sample.  Best-fit needs "the open bin with the least room
 * ≥ s": open bins are kept in per-room stacks, and a counting segment tree
 * over room values 0..budget finds the smallest non-empty room ≥ s in
 * O(log budget), so packing an epoch is O(N log budget) after an O(N + budget)
 * counting sort by size.  Randomness comes from the counter-based Philox
 * generator (core/rng.h) keyed by the seed, with streams derived from
 * (purpose, epoch, source): every plan is a pure function of its inputs.
 * The two most recent plans are cached so that asking for another epoch's
 * counts (hy_loader_supervised near an epoch boundary) does not throw away
 * the plan being iterated. */
#include "datasets/loader.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/rng.h"

enum { HY_ITEM_SHIFT = 40, HY_PLANS = 2 };
#define HY_ITEM(d, i) (((int64_t)(d) << HY_ITEM_SHIFT) | (int64_t)(i))
#define HY_ITEM_SRC(x) ((int)((x) >> HY_ITEM_SHIFT))
#define HY_ITEM_IDX(x) ((x) & ((INT64_C(1) << HY_ITEM_SHIFT) - 1))

typedef struct {
    hy_store *store;
    const hy_store_entry *e;
    double weight;
    int64_t n;
} hy_lsrc;

typedef struct {
    int64_t epoch; /* −1: empty slot */
    uint64_t used;
    int64_t *items;     /* [n_items] ordered by bin */
    int64_t *bin_start; /* [n_bins + 1] */
    int64_t *bin_sup;   /* [n_bins] */
    int64_t n_items, n_bins;
    int64_t *per_source, *per_source_unique; /* [n_src] */
    int64_t n_docs, tokens, supervised;
} hy_plan;

struct hy_loader {
    hy_lsrc *src;
    int n_src;
    hy_loader_opts o;
    hy_rec_kind kind;
    hy_plan plans[HY_PLANS];
    uint64_t clock;
    hy_cursor cur;
    int max_docs;
    int32_t *ids, *labels, *doc_len, *doc_start, *doc_sup, *pair_id, *prompt_len, *source;
    uint8_t *is_chosen;
    int64_t *sample;
};

void hy_loader_opts_default(hy_loader_opts *o) {
    memset(o, 0, sizeof *o);
    o->budget = 4096;
    o->meta_tokens = 128;
    o->world = 1;
    o->shuffle = 1;
}

static int64_t hy_item_size(const hy_loader *l, int64_t item) {
    const hy_store_entry *e = &l->src[HY_ITEM_SRC(item)].e[HY_ITEM_IDX(item)];
    int64_t m = l->o.meta_tokens;
    return (int64_t)e->len[0] + m + (l->kind == HY_REC_PREF ? (int64_t)e->len[1] + m : 0);
}

/* Stream id of (purpose, epoch, source): distinct purposes never share draws. */
static uint64_t hy_stream(const char *purpose, int64_t epoch, int64_t source) {
    int64_t v[2] = {epoch, source};
    return hy_rng_stream_id(purpose) ^ hy_hash64(v, sizeof v, 0x73747265616dull);
}

static void hy_shuffle64(uint64_t seed, uint64_t stream, int64_t *a, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)hy_rng_below(seed, stream, (uint64_t)i, (uint64_t)i + 1);
        int64_t t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* ---------------- plan: mix ---------------- */

static int64_t hy_count_of(const hy_lsrc *s) { return (int64_t)llround(s->weight * (double)s->n); }

static hy_status hy_plan_mix(hy_loader *l, hy_plan *p, int64_t epoch) {
    int64_t n = 0, at = 0, maxn = 0;
    for (int d = 0; d < l->n_src; d++) {
        n += hy_count_of(&l->src[d]);
        if (l->src[d].n > maxn) maxn = l->src[d].n;
    }
    HY_TRY(hy_malloc((void **)&p->items, sizeof(int64_t) * (size_t)(n ? n : 1), 0, "epoch plan items"));
    int64_t *perm;
    HY_TRY(hy_malloc((void **)&perm, sizeof(int64_t) * (size_t)(maxn ? maxn : 1), 0, "epoch plan permutation"));
    for (int d = 0; d < l->n_src; d++) {
        const hy_lsrc *s = &l->src[d];
        int64_t c = hy_count_of(s), full = s->n ? c / s->n : 0, rem = s->n ? c % s->n : 0;
        for (int64_t k = 0; k < full; k++)
            for (int64_t i = 0; i < s->n; i++) p->items[at++] = HY_ITEM(d, i);
        if (rem) { /* the first `rem` of a fresh permutation: partial forward Fisher–Yates */
            uint64_t stream = hy_stream("data.subsample", epoch, d);
            for (int64_t i = 0; i < s->n; i++) perm[i] = i;
            for (int64_t k = 0; k < rem; k++) {
                int64_t j = k + (int64_t)hy_rng_below(l->o.seed, stream, (uint64_t)k, (uint64_t)(s->n - k));
                int64_t t = perm[k];
                perm[k] = perm[j];
                perm[j] = t;
                p->items[at++] = HY_ITEM(d, perm[k]);
            }
        }
        p->per_source[d] = c;
        p->per_source_unique[d] = c < s->n ? c : s->n;
    }
    hy_free(perm);
    p->n_items = n;
    if (l->o.shuffle) hy_shuffle64(l->o.seed, hy_stream("data.items", epoch, -1), p->items, n);
    return HY_OK;
}

/* ---------------- plan: best-fit decreasing ---------------- */

typedef struct {
    int64_t *tree; /* [2·P] counts of open bins per room value (leaves P..P+budget) */
    int64_t P;
    int64_t *head; /* [budget + 1] top open bin with that room, −1 none */
    int64_t *next; /* [n_items] next bin in the same room's stack */
} hy_rooms;

static void hy_rooms_add(hy_rooms *r, int64_t room, int64_t delta) {
    for (int64_t i = room + r->P; i >= 1; i >>= 1) r->tree[i] += delta;
}

/* Smallest room ≥ s with an open bin, or −1. */
static int64_t hy_rooms_find(const hy_rooms *r, int64_t s) {
    int64_t i = s + r->P;
    if (s >= r->P) return -1;
    if (r->tree[i] > 0) return s;
    for (;;) {
        if (!(i & 1) && r->tree[i + 1] > 0) {
            i++;
            break;
        }
        i >>= 1;
        if (i <= 1) return -1;
    }
    while (i < r->P) i = r->tree[2 * i] > 0 ? 2 * i : 2 * i + 1;
    return i - r->P;
}

/* Order of packing: size descending, then position (counting sort, stable). */
static hy_status hy_sort_by_size(const hy_loader *l, const hy_plan *p, int64_t *order) {
    int64_t budget = l->o.budget, *count;
    HY_TRY(hy_malloc((void **)&count, sizeof(int64_t) * (size_t)(budget + 2), 1, "packing size histogram"));
    for (int64_t k = 0; k < p->n_items; k++) count[budget - hy_item_size(l, p->items[k])]++;
    int64_t acc = 0;
    for (int64_t v = 0; v <= budget; v++) {
        int64_t c = count[v];
        count[v] = acc;
        acc += c;
    }
    for (int64_t k = 0; k < p->n_items; k++) order[count[budget - hy_item_size(l, p->items[k])]++] = k;
    hy_free(count);
    return HY_OK;
}

/* bin_of[k] for every item k (positions in p->items); returns the bin count. */
static hy_status hy_best_fit(const hy_loader *l, const hy_plan *p, const int64_t *order, int64_t *bin_of, int64_t *n_bins) {
    hy_rooms r = {0};
    int64_t budget = l->o.budget, min_size = l->o.meta_tokens + 1;
    for (r.P = 1; r.P < budget + 1; r.P *= 2) {}
    hy_status st = hy_malloc((void **)&r.tree, sizeof(int64_t) * (size_t)(2 * r.P), 1, "packing tree");
    if (st == HY_OK) st = hy_malloc((void **)&r.head, sizeof(int64_t) * (size_t)(budget + 1), 0, "packing rooms");
    if (st == HY_OK) st = hy_malloc((void **)&r.next, sizeof(int64_t) * (size_t)(p->n_items ? p->n_items : 1), 0, "packing stacks");
    if (st == HY_OK) {
        for (int64_t v = 0; v <= budget; v++) r.head[v] = -1;
        int64_t nb = 0;
        for (int64_t k = 0; k < p->n_items; k++) {
            int64_t it = order[k], s = hy_item_size(l, p->items[it]);
            int64_t room = hy_rooms_find(&r, s), b;
            if (room < 0) {
                b = nb++;
                room = budget;
            } else {
                b = r.head[room];
                r.head[room] = r.next[b];
                hy_rooms_add(&r, room, -1);
            }
            bin_of[it] = b;
            room -= s;
            if (room >= min_size) { /* a smaller room can never take a document */
                r.next[b] = r.head[room];
                r.head[room] = b;
                hy_rooms_add(&r, room, 1);
            }
        }
        *n_bins = nb;
    }
    hy_free(r.tree);
    hy_free(r.head);
    hy_free(r.next);
    return st;
}

/* Reorder items by (shuffled) bin, keeping packing order inside a bin. */
static hy_status hy_plan_layout(hy_loader *l, hy_plan *p, int64_t epoch, const int64_t *order, const int64_t *bin_of, int64_t nb) {
    int64_t *perm = NULL, *rank_of = NULL, *items = NULL;
    hy_status st = hy_malloc((void **)&perm, sizeof(int64_t) * (size_t)(nb + 1), 0, "bin order");
    if (st == HY_OK) st = hy_malloc((void **)&rank_of, sizeof(int64_t) * (size_t)(nb + 1), 0, "bin order");
    if (st == HY_OK) st = hy_malloc((void **)&items, sizeof(int64_t) * (size_t)(p->n_items ? p->n_items : 1), 0, "epoch plan items");
    if (st == HY_OK) st = hy_malloc((void **)&p->bin_start, sizeof(int64_t) * (size_t)(nb + 1), 1, "epoch plan bins");
    if (st == HY_OK) st = hy_malloc((void **)&p->bin_sup, sizeof(int64_t) * (size_t)(nb ? nb : 1), 1, "epoch plan bin counts");
    if (st != HY_OK) goto done;
    for (int64_t b = 0; b < nb; b++) perm[b] = b;
    if (l->o.shuffle) hy_shuffle64(l->o.seed, hy_stream("data.bins", epoch, -1), perm, nb);
    for (int64_t b = 0; b < nb; b++) rank_of[perm[b]] = b; /* final position of packing bin perm[b] is b */
    for (int64_t k = 0; k < p->n_items; k++) p->bin_start[rank_of[bin_of[k]] + 1]++;
    for (int64_t b = 0; b < nb; b++) p->bin_start[b + 1] += p->bin_start[b];
    int64_t *fill = perm; /* reuse as write cursors */
    for (int64_t b = 0; b < nb; b++) fill[b] = p->bin_start[b];
    for (int64_t k = 0; k < p->n_items; k++) {
        int64_t it = order[k], b = rank_of[bin_of[it]];
        items[fill[b]++] = p->items[it];
    }
    hy_free(p->items);
    p->items = items;
    items = NULL;
    p->n_bins = nb;
done:
    hy_free(perm);
    hy_free(rank_of);
    hy_free(items);
    return st;
}

static void hy_plan_count(const hy_loader *l, hy_plan *p) {
    p->n_docs = p->tokens = p->supervised = 0;
    for (int64_t b = 0; b < p->n_bins; b++) {
        int64_t sup = 0;
        for (int64_t k = p->bin_start[b]; k < p->bin_start[b + 1]; k++) {
            const hy_store_entry *e = &l->src[HY_ITEM_SRC(p->items[k])].e[HY_ITEM_IDX(p->items[k])];
            sup += (int64_t)e->sup[0] + e->sup[1];
            p->tokens += (int64_t)e->len[0] + e->len[1];
            p->n_docs += l->kind == HY_REC_PREF ? 2 : 1;
        }
        p->bin_sup[b] = sup;
        p->supervised += sup;
    }
}

static void hy_plan_release(hy_plan *p) {
    hy_free(p->items);
    hy_free(p->bin_start);
    hy_free(p->bin_sup);
    hy_free(p->per_source);
    hy_free(p->per_source_unique);
    memset(p, 0, sizeof *p);
    p->epoch = -1;
}

static hy_status hy_plan_build(hy_loader *l, hy_plan *p, int64_t epoch) {
    int64_t *order = NULL, *bin_of = NULL, nb = 0;
    hy_status st = hy_malloc((void **)&p->per_source, sizeof(int64_t) * (size_t)l->n_src, 1, "epoch plan counts");
    if (st == HY_OK) st = hy_malloc((void **)&p->per_source_unique, sizeof(int64_t) * (size_t)l->n_src, 1, "epoch plan counts");
    if (st == HY_OK) st = hy_plan_mix(l, p, epoch);
    size_t n = (size_t)(p->n_items ? p->n_items : 1);
    if (st == HY_OK) st = hy_malloc((void **)&order, sizeof(int64_t) * n, 0, "packing order");
    if (st == HY_OK) st = hy_malloc((void **)&bin_of, sizeof(int64_t) * n, 0, "packing bins");
    if (st == HY_OK) st = hy_sort_by_size(l, p, order);
    if (st == HY_OK) st = hy_best_fit(l, p, order, bin_of, &nb);
    if (st == HY_OK) st = hy_plan_layout(l, p, epoch, order, bin_of, nb);
    hy_free(order);
    hy_free(bin_of);
    if (st != HY_OK) {
        hy_plan_release(p);
        return st;
    }
    hy_plan_count(l, p);
    p->epoch = epoch;
    return HY_OK;
}

static hy_status hy_plan_get(hy_loader *l, int64_t epoch, hy_plan **out) {
    if (epoch < 0) return hy_errorf(HY_ERR_ARG, "data loader: epoch %lld is negative", (long long)epoch);
    hy_plan *victim = &l->plans[0];
    for (int k = 0; k < HY_PLANS; k++) {
        if (l->plans[k].epoch == epoch) {
            l->plans[k].used = ++l->clock;
            *out = &l->plans[k];
            return HY_OK;
        }
        if (l->plans[k].used < victim->used) victim = &l->plans[k];
    }
    hy_plan_release(victim);
    HY_TRY(hy_plan_build(l, victim, epoch));
    victim->used = ++l->clock;
    *out = victim;
    return HY_OK;
}

static int64_t hy_plan_steps(const hy_loader *l, const hy_plan *p) { return (p->n_bins + l->o.world - 1) / l->o.world; }

/* ---------------- creation ---------------- */

static hy_status hy_check_fit(const hy_loader *l, int d, const char *path) {
    int64_t bad = 0, worst = 0, worst_i = 0;
    for (int64_t i = 0; i < l->src[d].n; i++) {
        int64_t s = hy_item_size(l, HY_ITEM(d, i));
        if (s > l->o.budget) {
            bad++;
            if (s > worst) worst = s, worst_i = i;
        }
    }
    if (!bad) return HY_OK;
    int docs = l->kind == HY_REC_PREF ? 2 : 1;
    return hy_errorf(HY_ERR_CONFIG,
                     "%s: %lld sample%s do not fit in a micro-batch of %d tokens (longest: sample %lld, %lld tokens + %d meta "
                     "token%s per document); hint: prepare with max_len ≤ %d%s, or raise the micro-batch token budget",
                     path, (long long)bad, bad == 1 ? "" : "s", l->o.budget, (long long)worst_i, (long long)(worst - docs * l->o.meta_tokens),
                     l->o.meta_tokens, l->o.meta_tokens == 1 ? "" : "s", (l->o.budget - docs * l->o.meta_tokens) / docs,
                     docs == 2 ? " (a preference pair holds two sequences)" : "");
}

static hy_status hy_loader_open_sources(hy_loader *l, const hy_loader_source *src) {
    int64_t total = 0;
    for (int d = 0; d < l->n_src; d++) {
        hy_lsrc *s = &l->src[d];
        if (!(src[d].weight >= 0) || !isfinite(src[d].weight))
            return hy_errorf(HY_ERR_CONFIG, "%s: mixing weight %g: expected a finite number ≥ 0", src[d].path, src[d].weight);
        HY_TRY(hy_store_open(&s->store, src[d].path));
        const hy_store_info *in = hy_store_get_info(s->store);
        if (d == 0) l->kind = in->kind;
        if (in->kind != l->kind)
            return hy_errorf(HY_ERR_CONFIG, "%s: a %s store cannot be mixed with the %s store %s", src[d].path, hy_rec_kind_name(in->kind),
                             hy_rec_kind_name(l->kind), src[0].path);
        if (in->n_samples >= (INT64_C(1) << HY_ITEM_SHIFT))
            return hy_errorf(HY_ERR_UNSUPPORTED, "%s: %lld samples; a loader source holds at most 2^40", src[d].path, (long long)in->n_samples);
        s->e = hy_store_entries(s->store);
        s->n = in->n_samples;
        s->weight = src[d].weight;
        HY_TRY(hy_check_fit(l, d, src[d].path));
        total += hy_count_of(s);
    }
    if (total <= 0) return hy_errorf(HY_ERR_CONFIG, "data loader: the epoch is empty (no samples, or every weight rounds to 0 samples)");
    return HY_OK;
}

static hy_status hy_loader_buffers(hy_loader *l) {
    size_t t = (size_t)l->o.budget, d = (size_t)l->max_docs;
    HY_TRY(hy_malloc((void **)&l->ids, sizeof(int32_t) * t, 0, "micro-batch ids"));
    HY_TRY(hy_malloc((void **)&l->labels, sizeof(int32_t) * t, 0, "micro-batch labels"));
    HY_TRY(hy_malloc((void **)&l->doc_len, sizeof(int32_t) * d, 0, "micro-batch documents"));
    HY_TRY(hy_malloc((void **)&l->doc_start, sizeof(int32_t) * (d + 1), 0, "micro-batch documents"));
    HY_TRY(hy_malloc((void **)&l->doc_sup, sizeof(int32_t) * d, 0, "micro-batch documents"));
    HY_TRY(hy_malloc((void **)&l->pair_id, sizeof(int32_t) * d, 0, "micro-batch documents"));
    HY_TRY(hy_malloc((void **)&l->prompt_len, sizeof(int32_t) * d, 0, "micro-batch documents"));
    HY_TRY(hy_malloc((void **)&l->source, sizeof(int32_t) * d, 0, "micro-batch documents"));
    HY_TRY(hy_malloc((void **)&l->is_chosen, d, 0, "micro-batch documents"));
    return hy_malloc((void **)&l->sample, sizeof(int64_t) * d, 0, "micro-batch documents");
}

hy_status hy_loader_create(hy_loader **out, const hy_loader_source *src, int n_src, const hy_loader_opts *o) {
    *out = NULL;
    if (n_src < 1 || n_src >= (1 << 22)) return hy_errorf(HY_ERR_CONFIG, "data loader: %d sources; expected 1 to 2^22", n_src);
    if (o->meta_tokens < 0 || o->budget <= o->meta_tokens || o->budget > (1 << 26))
        return hy_errorf(HY_ERR_CONFIG, "data loader: micro-batch budget %d with %d meta tokens per document: expected meta_tokens < budget ≤ 2^26",
                         o->budget, o->meta_tokens);
    if (o->world < 1 || o->rank < 0 || o->rank >= o->world)
        return hy_errorf(HY_ERR_CONFIG, "data loader: rank %d of world %d: expected 0 ≤ rank < world", o->rank, o->world);
    hy_loader *l;
    HY_TRY(hy_malloc((void **)&l, sizeof *l, 1, "data loader"));
    l->o = *o;
    l->n_src = n_src;
    for (int k = 0; k < HY_PLANS; k++) l->plans[k].epoch = -1;
    l->max_docs = o->budget / (o->meta_tokens + 1);
    hy_status st = hy_malloc((void **)&l->src, sizeof *l->src * (size_t)n_src, 1, "data loader sources");
    if (st == HY_OK) st = hy_loader_open_sources(l, src);
    if (st == HY_OK) st = hy_loader_buffers(l);
    if (st != HY_OK) {
        hy_loader_free(l);
        return st;
    }
    *out = l;
    return HY_OK;
}

void hy_loader_free(hy_loader *l) {
    if (!l) return;
    for (int d = 0; l->src && d < l->n_src; d++) hy_store_close(l->src[d].store);
    for (int k = 0; k < HY_PLANS; k++) hy_plan_release(&l->plans[k]);
    hy_free(l->src);
    hy_free(l->ids);
    hy_free(l->labels);
    hy_free(l->doc_len);
    hy_free(l->doc_start);
    hy_free(l->doc_sup);
    hy_free(l->pair_id);
    hy_free(l->prompt_len);
    hy_free(l->source);
    hy_free(l->is_chosen);
    hy_free(l->sample);
    hy_free(l);
}

hy_rec_kind hy_loader_kind(const hy_loader *l) { return l->kind; }
int hy_loader_n_sources(const hy_loader *l) { return l->n_src; }
const hy_store_info *hy_loader_source_info(const hy_loader *l, int i) { return hy_store_get_info(l->src[i].store); }

/* ---------------- iteration ---------------- */

static void hy_mb_empty(hy_loader *l, hy_microbatch *mb) {
    memset(mb, 0, sizeof *mb);
    mb->ids = l->ids;
    mb->labels = l->labels;
    mb->doc_len = l->doc_len;
    mb->doc_start = l->doc_start;
    mb->doc_sup = l->doc_sup;
    mb->pair_id = l->pair_id;
    mb->is_chosen = l->is_chosen;
    mb->prompt_len = l->prompt_len;
    mb->source = l->source;
    mb->sample = l->sample;
    l->doc_start[0] = 0;
    mb->bin = -1;
}

static hy_status hy_mb_fill(hy_loader *l, const hy_plan *p, int64_t bin, hy_microbatch *mb) {
    int pref = l->kind == HY_REC_PREF;
    mb->bin = bin;
    for (int64_t k = p->bin_start[bin]; k < p->bin_start[bin + 1]; k++) {
        int d = HY_ITEM_SRC(p->items[k]);
        int64_t i = HY_ITEM_IDX(p->items[k]);
        const hy_store_entry *e = &l->src[d].e[i];
        for (int side = 0; side <= pref; side++) {
            int n = mb->n_docs, at = mb->n_tokens;
            HY_ASSERT(n < l->max_docs && at + (int64_t)e->len[side] <= l->o.budget); /* guaranteed by the plan */
            HY_TRY(hy_store_read(l->src[d].store, i, side, l->ids + at, l->labels + at));
            l->doc_len[n] = (int32_t)e->len[side];
            l->doc_sup[n] = (int32_t)e->sup[side];
            l->pair_id[n] = pref ? mb->n_pairs : -1;
            l->is_chosen[n] = (uint8_t)(pref && side == 0);
            l->prompt_len[n] = (int32_t)e->prompt_len;
            l->source[n] = d;
            l->sample[n] = i;
            mb->n_tokens += (int)e->len[side];
            mb->n_supervised += e->sup[side];
            l->doc_start[n + 1] = mb->n_tokens;
            mb->n_docs++;
        }
        if (pref) mb->n_pairs++;
    }
    return HY_OK;
}

hy_status hy_loader_next(hy_loader *l, hy_microbatch *mb) {
    hy_plan *p;
    HY_TRY(hy_plan_get(l, l->cur.epoch, &p));
    if (l->cur.index >= hy_plan_steps(l, p)) { /* epochs are never empty (checked at creation) */
        l->cur.epoch++;
        l->cur.index = 0;
        HY_TRY(hy_plan_get(l, l->cur.epoch, &p));
    }
    hy_mb_empty(l, mb);
    mb->cursor = l->cur;
    int64_t bin = l->cur.index * l->o.world + l->o.rank;
    if (bin < p->n_bins) HY_TRY(hy_mb_fill(l, p, bin, mb));
    l->cur.index++;
    return HY_OK;
}

hy_cursor hy_loader_tell(const hy_loader *l) { return l->cur; }

hy_status hy_loader_seek(hy_loader *l, hy_cursor c) {
    hy_plan *p;
    HY_TRY(hy_plan_get(l, c.epoch, &p));
    int64_t steps = hy_plan_steps(l, p);
    if (c.index < 0 || c.index > steps)
        return hy_errorf(HY_ERR_ARG, "data loader: cursor (epoch %lld, index %lld) is outside the epoch (%lld micro-batches per rank); hint: was the "
                         "checkpoint made with other data, weights, budget, seed or world size?",
                         (long long)c.epoch, (long long)c.index, (long long)steps);
    l->cur = c;
    return HY_OK;
}

hy_status hy_loader_steps_per_epoch(hy_loader *l, int64_t epoch, int64_t *steps) {
    hy_plan *p;
    HY_TRY(hy_plan_get(l, epoch, &p));
    *steps = hy_plan_steps(l, p);
    return HY_OK;
}

/* Σ over the bins of rank-local steps [first, first + count), all ranks:
 * supervised tokens (what = 0) or samples (what = 1). */
static hy_status hy_loader_sum(hy_loader *l, int64_t epoch, int64_t first, int64_t count, int what, int64_t *n) {
    hy_plan *p;
    HY_TRY(hy_plan_get(l, epoch, &p));
    *n = 0;
    int64_t lo = first * l->o.world, hi = (first + count) * l->o.world;
    if (lo < 0) lo = 0;
    if (hi > p->n_bins) hi = p->n_bins;
    for (int64_t b = lo; b < hi; b++) *n += what ? p->bin_start[b + 1] - p->bin_start[b] : p->bin_sup[b];
    return HY_OK;
}

hy_status hy_loader_supervised(hy_loader *l, int64_t epoch, int64_t first, int64_t count, int64_t *n) {
    return hy_loader_sum(l, epoch, first, count, 0, n);
}

hy_status hy_loader_items(hy_loader *l, int64_t epoch, int64_t first, int64_t count, int64_t *n) {
    return hy_loader_sum(l, epoch, first, count, 1, n);
}

hy_status hy_loader_epoch_stats_get(hy_loader *l, int64_t epoch, hy_loader_epoch_stats *st) {
    hy_plan *p;
    HY_TRY(hy_plan_get(l, epoch, &p));
    memset(st, 0, sizeof *st);
    st->n_bins = p->n_bins;
    st->steps = hy_plan_steps(l, p);
    st->n_items = p->n_items;
    st->n_docs = p->n_docs;
    st->tokens = p->tokens;
    st->supervised = p->supervised;
    double cap = (double)p->n_bins * l->o.budget;
    st->efficiency = cap > 0 ? ((double)p->tokens + (double)l->o.meta_tokens * (double)p->n_docs) / cap : 0;
    st->text_efficiency = cap > 0 ? (double)p->tokens / cap : 0;
    st->per_source = p->per_source;
    st->per_source_unique = p->per_source_unique;
    return HY_OK;
}
