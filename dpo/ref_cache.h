/* ref_cache.h — precomputed reference log-probs for DPO (dpo.reference.mode:
 * precompute): one forward pass of the frozen reference over every pair of a
 * token store, kept in a versioned file beside the store, so no second model
 * stays resident during training.
 *
 * File: "<store>.ref-<16 hex: hash of the reference directory's path>.hyref"
 * (one file per store and reference location; a rerun with the same
 * reference path reuses or rebuilds it).  Little-endian, 64-byte header:
 *   magic "HYREFLP\0", u32 version (1), u32 header bytes (64),
 *   u64 hash of the token store file, u64 hash of the reference weights
 *   (config.json, model.safetensors[.index.json], model-*.safetensors),
 *   u64 hash of the backend (name, storage dtype: fp32 CPU and bf16 GPU
 *   numbers differ), i64 samples, u64 hash of the payload, u64 0;
 * then per sample: f64 sum[2] (Σ log p over the supervised shifted targets
 * of chosen, rejected), i64 count[2].
 * Sums and counts are stored separately, so length normalisation and the
 * loss type are applied at use time and are not part of the key.
 *
 * Invariants: the cache is used only when magic, version, size, payload hash
 * and all three input hashes match; otherwise it is rebuilt and the reason is
 * logged ("the reference weights changed", "the token store changed", ...).
 * Files are written atomically (core/fsutil).  The precompute pass packs the
 * pairs like training does (the store alone, store order, whole pairs per
 * micro-batch); packing does not change the numbers beyond fp32 rounding.
 *
 * Memory: the pass borrows the caller's model (the policy, before training)
 * as its forward engine: the reference weights are loaded into it from the
 * checkpoint, and its own weights are put back afterwards, bit for bit.  No
 * second model is ever allocated on the device (a second Hymba-1.5B with its
 * activations does not fit next to the policy on an 80 GB GPU), and no
 * device staging either (the policy's stored weights are copied to the host
 * as raw bytes; the reference's fp32 weights are staged through the
 * policy's gradient buffer, which is zeroed after). */
#ifndef HY_REF_CACHE_H
#define HY_REF_CACHE_H
#include "core/model.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { HY_REF_CACHE_VERSION = 1 };

typedef struct hy_ref_cache hy_ref_cache;

typedef struct {
    int budget;          /* tokens per micro-batch of the pass (meta tokens included; ≤ the model's plan) */
    hy_model *model;     /* forward engine, borrowed: same parameter layout as the reference; its
                            weights are replaced during the pass and restored exactly */
} hy_ref_cache_opts;

/* What hy_ref_cache_open did for one store. */
typedef struct {
    int rebuilt;         /* 1: computed now; 0: reused */
    char why[256];       /* why it was computed ("" when reused) */
    char path[4096];     /* the cache file */
} hy_ref_cache_report;

/* Load or build the reference log-probs of stores[0..n_stores) for the
 * checkpoint `ref_dir`.  The reference weights are read (into o->model) only
 * when some store needs computing.  Each rebuild is logged with its reason.
 * Free with hy_ref_cache_free. */
hy_status hy_ref_cache_open(hy_ref_cache **out, const char *ref_dir, const char *const *stores, int n_stores, const hy_ref_cache_opts *o);
void hy_ref_cache_free(hy_ref_cache *c); /* NULL is fine */
/* What happened to store `i` (valid until hy_ref_cache_free). */
const hy_ref_cache_report *hy_ref_cache_report_get(const hy_ref_cache *c, int i);

/* Reference Σ log p and target count of side `side` (0 chosen, 1 rejected)
 * of sample `sample` of store `store`.  Out of range is HY_ERR_INTERNAL. */
hy_status hy_ref_cache_get(const hy_ref_cache *c, int store, int64_t sample, int side, double *sum, int64_t *count);

/* The cache file name of a store for a reference directory. */
hy_status hy_ref_cache_path(char *buf, size_t n, const char *store_path, const char *ref_dir);
/* Hash of a checkpoint's weights and config (the files listed above). */
hy_status hy_ref_weights_hash(const char *ref_dir, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
