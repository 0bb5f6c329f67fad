/* train_internal.h — the trainer's state, shared by core/train*.c only. */
#ifndef HY_TRAIN_INTERNAL_H
#define HY_TRAIN_INTERNAL_H
#include "core/comm.h"
#include "core/dp.h"
#include "core/fsutil.h"
#include "core/shard.h"
#include "core/metrics.h"
#include "core/optim.h"
#include "core/train.h"
#include "kernels/backend.h"

typedef struct {
    const hy_recipe *r;
    hy_objective *obj;
    const char *model_dir;        /* the stage's initial model */
    hy_ops *ops;
    hy_model *m;
    /* data */
    char **stores;                /* [n_train + n_eval] token store paths */
    int n_train, n_eval;
    hy_loader *train;
    hy_loader **eval;             /* [n_eval] */
    int budget, accum;
    int64_t *epoch_steps;         /* [epochs] micro-batches per rank in each epoch */
    int64_t n_epochs;
    /* optimisation */
    hy_optim_groups groups;
    hy_schedule sched;
    hy_adamw_hparams adam;
    size_t total;
    int64_t step;                 /* updates attempted (steps done) */
    int64_t t_adam;               /* updates applied (AdamW bias correction) */
    int64_t bad_in_row;
    int64_t total_steps;
    /* data parallelism (core/dp.h; glue in train_dist.c) */
    hy_dp dp;                     /* communicator, rank/world (dp.main: rank 0 prints and writes), shard plan,
                                     the fp32 master weights and AdamW moments, the overlapping reducer */
    /* output */
    hy_metrics *metrics;
    hy_progress_line prog;
    char ckpt_root[HY_PATH_MAX];
    double t_start;
    int64_t tokens_since_log, sup_since_log;
    double loss_since_log, units_since_log, t_log;
    int64_t steps_since_log, step_at_start;
    double last_grad_norm, last_lr, last_loss;
    int64_t tokens_total;        /* text tokens trained on in this process */
} hy_trainer;

/* train_data.c */
hy_status hy_train_data_open(hy_trainer *t);
void hy_train_data_close(hy_trainer *t);
hy_status hy_train_eval(hy_trainer *t);
double hy_train_epoch_progress(hy_trainer *t);

/* train_ckpt.c */
hy_status hy_train_ckpt_save(hy_trainer *t, char *out_dir, size_t n);
/* Resume per the recipe; *resumed = 1 when a checkpoint was loaded. */
hy_status hy_train_ckpt_resume(hy_trainer *t, int *resumed);


/* train_dist.c: the trainer's side of core/dp.h */
/* After the model is open: optimizer state through dp (the master from the
 * checkpoint's fp32 weights when dp needs them). */
hy_status hy_train_dist_alloc_optim(hy_trainer *t);

#endif
