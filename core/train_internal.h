/* train_internal.h — the trainer's state, shared by core/train*.c only. */
#ifndef HY_TRAIN_INTERNAL_H
#define HY_TRAIN_INTERNAL_H
#include "core/comm.h"
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
    float *master, *adam_m, *adam_v; /* fp32 [total] in backend memory; master aliases the model weights with fp32 storage */
    int master_is_weights;
    size_t total;
    int64_t step;                 /* updates attempted (steps done) */
    int64_t t_adam;               /* updates applied (AdamW bias correction) */
    int64_t bad_in_row;
    int64_t total_steps;
    /* data parallelism (train_dist.c) */
    hy_comm *comm;
    int rank, world, main;        /* main: rank 0 prints and writes */
    int sharded;                  /* world > 1: ZeRO-1, master/m/v hold the owned chunks */
    hy_shard_plan plan;
    hy_shard_view view;
    hy_comm_reducer red;          /* the last micro-batch's gradient reduce-scatter, overlapping its backward */
    int overlap;                  /* 1 (default): launch buckets from the backward hook; 0 (HYMBA_DP_OVERLAP=0): all after it */
    int red_open;                 /* 1: from hy_train_dist_overlap_begin to hy_train_dist_reduce */
    hy_status red_err;            /* first error of a launch from the backward hook (reported after the backward) */
    char red_msg[512];            /* its message */
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


/* train_dist.c */
hy_status hy_train_dist_init(hy_trainer *t);
void hy_train_dist_device(hy_trainer *t, char *buf, size_t n, const char *recipe_device);
hy_status hy_train_dist_plan(hy_trainer *t, const hy_config *cfg, size_t *buffer_elems);
hy_status hy_train_dist_alloc_optim(hy_trainer *t, const float *host);
hy_status hy_train_dist_scatter(hy_trainer *t, float *local, const float *host);
hy_status hy_train_dist_gather(hy_trainer *t, const float *local, float *host);
hy_status hy_train_dist_sum(hy_trainer *t, double *vals, int n);
int hy_train_dist_any(hy_trainer *t, int flag);
void hy_train_dist_overlap_begin(hy_trainer *t);
hy_status hy_train_dist_reduce(hy_trainer *t, double *sumsq);
hy_status hy_train_dist_update(hy_trainer *t, double lr, float coef);
void hy_train_dist_free(hy_trainer *t);

#endif
