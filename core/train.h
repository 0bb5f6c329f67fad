/* train.h — the objective-agnostic training loop (SFT now, DPO with the same
 * loop): data preparation and loaders, gradient accumulation up to the global
 * batch, AdamW with fp32 master weights, schedules, clipping, non-finite
 * steps skipped, evaluation, checkpoints with exact resume, signals, metrics
 * and the progress line.
 *
 * Invariants:
 *   - the loss of a step is normalised by the objective's units (supervised
 *     target tokens for SFT, pairs for DPO) counted over the WHOLE global
 *     batch before the first backward, never a mean of per-micro-batch means;
 *   - everything the next step depends on (master weights, AdamW moments,
 *     update count, schedule position, loader cursor, bad-step counter) is in
 *     the checkpoint, so N straight steps equal N/2 + resume + N/2 bitwise;
 *   - checkpoints are published atomically (core/fsutil): a crash while
 *     saving leaves the previous one complete;
 *   - SIGINT/SIGTERM finish the current step, save, and return
 *     HY_ERR_INTERRUPTED with a message saying how to resume.
 * Built as the hy_train library (core/train*.c), which links the data and
 * backend libraries. */
#ifndef HY_TRAIN_H
#define HY_TRAIN_H
#include "core/model.h"
#include "core/recipe.h"
#include "datasets/loader.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Metrics an objective adds up over the micro-batches of a step. */
enum { HY_OBJ_MAX_METRICS = 12 };
typedef struct {
    double loss_sum;      /* Σ of unit losses (divided by units for the step loss) */
    double units;         /* normaliser of the step (tokens or pairs) */
    int64_t tokens;       /* text tokens processed */
    int64_t supervised;   /* supervised target tokens */
    double extra[HY_OBJ_MAX_METRICS]; /* objective-specific sums (names from the objective) */
} hy_obj_acc;

typedef struct hy_objective hy_objective;
struct hy_objective {
    const char *name;        /* "sft", "dpo" */
    void *self;
    hy_rec_kind data_kind;   /* sft or preference stores */
    int n_extra;             /* metrics in extra[] */
    const char *extra_names[HY_OBJ_MAX_METRICS];
    int extra_is_mean[HY_OBJ_MAX_METRICS]; /* 1: report extra/units, 0: report the sum */
    /* The step's normaliser contribution of one micro-batch. */
    double (*units)(void *self, const hy_microbatch *mb);
    /* Forward (and backward when `backward`, with every unit loss weighted by
     * 1/norm) of one micro-batch; adds into `acc`.  `train` = 0: evaluation. */
    hy_status (*micro)(void *self, hy_model *m, const hy_microbatch *mb, double norm, int backward, hy_obj_acc *acc);
    /* Optional: called once before training with the loaders' stores (DPO
     * precomputes reference log-probs here).  May be NULL. */
    hy_status (*prepare)(void *self, const hy_recipe *r, hy_model *m, const char *const *stores, int n_train, int n_eval);
    /* Written by the trainer before it calls micro: 0 for micro-batches of the
     * training loader, 1 + i for those of data.eval[i].  A micro-batch's
     * `source` indexes the sources of the loader it came from, so an objective
     * that keys data by (source, sample) (DPO's reference cache) needs this. */
    int split;
    /* The first n_shown extras are also printed on the eval line (0: none). */
    int n_shown;
};

/* Run a whole stage.  `model_dir` overrides r->model.path when non-NULL.
 * On success *final_dir (optional, malloc'd) receives the final checkpoint. */
hy_status hy_train_run(const hy_recipe *r, hy_objective *obj, char **final_dir);

/* SIGINT/SIGTERM → stop after the current step (installed by hy_train_run). */
void hy_train_signals_install(void);
int hy_train_stop_requested(void);

/* Shift unshifted labels into next-token targets within each document:
 * targets[t] = labels[t+1] (−100 at the last token of a document). */
void hy_train_shift_targets(const hy_microbatch *mb, int32_t *targets /* [n_tokens] */);

#ifdef __cplusplus
}
#endif
#endif
