/* loader.h — micro-batches for training from one or more token stores:
 * weighted mixing, deterministic shuffling, best-fit packing of whole
 * documents, data-parallel sharding, and a resumable cursor.
 *
 * The epoch plan (a pure function of the stores' indexes, the weights, the
 * budget, M, the seed and the epoch — never of the world size, the rank or
 * the history) is built when an epoch is first touched:
 *   1. mixing: source d contributes c_d = round(weight_d · N_d) samples:
 *      ⌊c_d / N_d⌋ full passes plus the first (c_d mod N_d) samples of a
 *      permutation drawn for (seed, epoch, d) — so under-sampling sees a
 *      different subset each epoch and every sample appears k or k+1 times;
 *   2. the items are shuffled for (seed, epoch);
 *   3. best-fit decreasing packing: items by size (ties: shuffled order) go
 *      into the open micro-batch with the least room that fits, else a new
 *      one.  The size of an item is Σ over its documents of (tokens + M):
 *      the budget counts the M meta tokens the model prepends per document.
 *      Documents are never cut; a preference pair is one item (chosen then
 *      rejected, adjacent, always in the same micro-batch);
 *   4. the micro-batches are shuffled for (seed, epoch) (unless shuffle = 0);
 *   5. sharding: rank r's k-th micro-batch is number k·world + r of the plan.
 *      Every rank gets ceil(n_bins / world) micro-batches per epoch; when
 *      n_bins is not a multiple of world, the last step of some ranks is an
 *      EMPTY micro-batch (n_docs = 0) so that every rank runs the same number
 *      of steps; shards are disjoint and together cover the plan exactly.
 * The cursor (epoch, index) names rank-local micro-batch `index` of `epoch`;
 * seeking is O(1) once the epoch's plan exists (building a plan is
 * O(N log N), done once per epoch), and the sequence from a cursor is the
 * same whether reached by seeking or by iterating.
 *
 * Labels are unshifted (label[t] = ids[t] where supervised, −100 elsewhere);
 * the model applies the one-step shift within each document. */
#ifndef HY_LOADER_H
#define HY_LOADER_H
#include "datasets/store.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *path; /* token store */
    double weight;    /* samples per epoch = round(weight × samples in the store); 1 = each once */
} hy_loader_source;

typedef struct {
    int budget;      /* tokens per micro-batch: Σ over documents of (length + meta_tokens) ≤ budget */
    int meta_tokens; /* M, counted once per document (Hymba: 128) */
    uint64_t seed;
    int rank, world; /* data-parallel shard; world ≥ 1, 0 ≤ rank < world */
    int shuffle;     /* 1: shuffle items and micro-batches (training); 0: store order (evaluation) */
} hy_loader_opts;
void hy_loader_opts_default(hy_loader_opts *o); /* budget 4096, M 128, seed 0, rank 0 of 1, shuffle */

typedef struct {
    int64_t epoch; /* 0-based */
    int64_t index; /* rank-local micro-batch index within the epoch */
} hy_cursor;

/* One micro-batch: documents back to back (a flat stream, cu_seqlens in
 * doc_start).  All arrays are owned by the loader, sized once at creation
 * for the budget, and valid until the next hy_loader_next / hy_loader_free.
 * Meta tokens are NOT in ids: the model prepends M per document; the budget
 * guarantees n_tokens + M·n_docs ≤ budget. */
typedef struct {
    int n_docs;
    int n_tokens;         /* Σ doc_len */
    int n_pairs;          /* preference: n_docs / 2; 0 for SFT */
    int64_t n_supervised; /* labels ≠ −100 in this micro-batch (the trainer sums it over ranks and accumulation steps to normalise the loss) */
    int32_t *doc_len;     /* [n_docs] tokens of each document */
    int32_t *doc_start;   /* [n_docs + 1] prefix sums of doc_len (cu_seqlens), doc_start[0] = 0 */
    int32_t *doc_sup;     /* [n_docs] supervised tokens of each document */
    int32_t *ids;         /* [n_tokens] token ids */
    int32_t *labels;      /* [n_tokens] id where supervised, −100 elsewhere (unshifted) */
    int32_t *pair_id;     /* [n_docs] preference: pair index within the micro-batch (docs 2p, 2p+1); −1 for SFT */
    uint8_t *is_chosen;   /* [n_docs] preference: 1 = chosen (first of its pair), 0 = rejected; 0 for SFT */
    int32_t *prompt_len;  /* [n_docs] preference: tokens of the shared prompt; 0 for SFT */
    int32_t *source;      /* [n_docs] index into the loader's sources */
    int64_t *sample;      /* [n_docs] sample index in that source's store */
    hy_cursor cursor;     /* where this micro-batch is (resume from hy_loader_tell, the one after it) */
    int64_t bin;          /* its number in the epoch plan (−1 for an empty balancing micro-batch) */
} hy_microbatch;

typedef struct hy_loader hy_loader;

/* Open the stores (all of one kind; each sample must fit the budget alone —
 * otherwise an error names the store, the count and the longest, with the
 * max_len that would fit).  The cursor starts at (0, 0). */
hy_status hy_loader_create(hy_loader **out, const hy_loader_source *src, int n_src, const hy_loader_opts *o);
void hy_loader_free(hy_loader *l);

hy_rec_kind hy_loader_kind(const hy_loader *l);
int hy_loader_n_sources(const hy_loader *l);
const hy_store_info *hy_loader_source_info(const hy_loader *l, int i);

/* Fill `mb` with the micro-batch at the cursor and advance it (rolling over
 * to the next epoch after the last step of an epoch). */
hy_status hy_loader_next(hy_loader *l, hy_microbatch *mb);
/* The cursor of the next micro-batch (save this in a checkpoint). */
hy_cursor hy_loader_tell(const hy_loader *l);
/* Continue from `c` (index may equal the epoch's step count = start of the next epoch). */
hy_status hy_loader_seek(hy_loader *l, hy_cursor c);

/* Micro-batches per rank in `epoch` (the same for every rank). */
hy_status hy_loader_steps_per_epoch(hy_loader *l, int64_t epoch, int64_t *steps);
/* Σ supervised tokens over rank-local steps [first, first + count) of
 * `epoch`, over ALL ranks: the global normaliser of a step with gradient
 * accumulation, known without communication. */
hy_status hy_loader_supervised(hy_loader *l, int64_t epoch, int64_t first, int64_t count, int64_t *n);
/* The same for samples (preference: pairs — DPO's normaliser). */
hy_status hy_loader_items(hy_loader *l, int64_t epoch, int64_t first, int64_t count, int64_t *n);

/* What one epoch holds. */
typedef struct {
    int64_t n_bins;             /* micro-batches in the plan (all ranks) */
    int64_t steps;              /* per rank */
    int64_t n_items;            /* samples (pairs count once) */
    int64_t n_docs;             /* documents (pairs count twice) */
    int64_t tokens;             /* text tokens */
    int64_t supervised;         /* supervised tokens */
    double efficiency;          /* (tokens + M·n_docs) / (n_bins · budget) */
    double text_efficiency;     /* tokens / (n_bins · budget) */
    int64_t *per_source;        /* [n_sources] samples drawn from each source (owned by the loader; valid until the next call) */
    int64_t *per_source_unique; /* [n_sources] distinct samples among them */
} hy_loader_epoch_stats;
hy_status hy_loader_epoch_stats_get(hy_loader *l, int64_t epoch, hy_loader_epoch_stats *st);

#ifdef __cplusplus
}
#endif
#endif
