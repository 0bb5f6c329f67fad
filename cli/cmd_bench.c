/* cmd_bench.c — `hymba bench`: training throughput of a random-init model.
 *
 * Builds the model of a config in memory (spec §2.1 init, no checkpoint on
 * disk), packs synthetic documents of L random token ids into one micro-batch
 * of at most --tokens rows (meta rows included), and runs real training steps
 * through the ops table: forward, backward, the gradient's sum of squares and
 * AdamW over fp32 master weights and moments, exactly the calls core/train.c
 * makes.  With --dpo the documents come in (chosen, rejected) pairs of equal
 * length whose response halves get the per-token weights DPO's sigmoid loss
 * gives (reference log-probs taken as precomputed constants), so the step
 * costs what a DPO step with a reference cache costs.
 *
 * Reports tokens/s (text tokens), step time (median and mean), MFU against a
 * stated peak (spec §11's F(L), core/profile.c), memory, and with --profile
 * the per-op table of the profiling decorator.  Timed steps follow --warmup
 * untimed ones; every step ends with a sync, so the times are wall times of
 * finished work.
 *
 * Data parallel (issue 7): under a launcher (`hymba launch -n N -- hymba
 * bench ...`, torchrun-style or MPI/SLURM environment) every rank builds the
 * same random-init model on its own GPU (NCCL) or CPU process (tcp), packs
 * its own documents (micro-batch g = rank·accum + k draws its ids from seed
 * 1 + g: same shapes, different tokens) and runs the trainer's ZeRO-1 step
 * through core/dp.h — the same code as `hymba sft`: the reduce-scatter of the
 * gradient buckets overlapping the backward of the last micro-batch
 * (HYMBA_DP_OVERLAP=0: after it), the global norm, sharded AdamW and the
 * all-gather of the weights.  Rank 0 reports per-GPU and total tokens/s,
 * MFU per GPU, memory (the largest rank's), and the communication measured
 * honestly: after the timed steps the reduce-scatter of every bucket and
 * the all-gather of the weights are timed ALONE on the same buffers (what a
 * step would pay if nothing were hidden); with --ref-step-ms (the 1-GPU
 * median step) the exposed time step(N) − step(1) and the hidden share.
 * The host time spent waiting for the reduce-scatter after the backward is
 * NOT reported as communication: the backward itself runs asynchronously
 * until then.  Finally the ranks compare a checksum of their weights (the
 * all-gather must leave every rank the same model). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/bench_kernels.h"
#include "cli/commands.h"
#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/dp.h"
#include "core/fsutil.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/profile.h"
#include "core/rng.h"
#include "kernels/backend.h"
#include "core/timer.h"

#define HY_BENCH_DEFAULT_CONFIG "../shared/hymba-1.5b/config.json"

typedef struct {
    const char *config, *device, *precision;
    int doc_len, tokens, steps, warmup, dpo, profile;
    int kernels, check; /* --kernels mode; --no-check */
    int mode; /* HY_MODEL_TRAIN (--recompute selective) or HY_MODEL_TRAIN_KEEP_ALL (none) */
    int accum; /* micro-batches per rank per step */
    double peak_tflops; /* ≤ 0: the default for the device */
    double ref_step_ms; /* > 0: the 1-GPU median step, for the exposed communication */
} hy_bench_args;

/* Everything a run holds; freed by hy_bench_free. */
typedef struct {
    hy_config cfg;
    hy_ops *backend, *ops; /* ops: the backend or its profiling wrapper */
    hy_op_profile *prof;
    hy_model *m;
    hy_dp dp; /* communicator, shard plan, optimizer state (core/dp.h) */
    hy_optim_groups groups;
    hy_adamw_hparams adam;
    int n_docs, nt;                   /* per micro-batch */
    int32_t *doc_len;                 /* host [n_docs] */
    int32_t *ids, *targets;           /* host [accum·nt]: micro-batch k at k·nt */
    float *loss_rows, *weights;       /* host [nt] */
    double units;                     /* the global normaliser: supervised tokens (SFT) or pairs (DPO) over every rank and micro-batch */
    int64_t t_adam;
    double first_loss, first_norm, last_norm; /* global objective and gradient norm of the first and last step */
    size_t free_before; /* backend free memory before the model (hy_backend_mem_info) */
} hy_bench;

static int hy_bench_usage(FILE *f) {
    fprintf(f,
            "usage: hymba bench [--config FILE|DIR] [--device auto|cpu|cuda|cuda:N] [--precision auto|bf16|fp32]\n"
            "                   [--doc-len L] [--tokens T] [--steps N] [--warmup K] [--dpo] [--profile] [--peak-tflops X]\n"
            "                   [--recompute selective|none] [--accum K] [--ref-step-ms X] [--kernels [--no-check]]\n"
            "       hymba launch -n N -- hymba bench ...   (data parallel over N GPUs or CPU processes)\n\n"
            "Training throughput of a randomly initialised model: documents of L random tokens packed into one\n"
            "micro-batch, real steps (forward, backward, grad norm, AdamW).  Prints tokens/s, step time, MFU\n"
            "(spec §11 FLOPs per token over the stated peak) and memory.\n"
            "  --config F      config.json or a directory holding one (default " HY_BENCH_DEFAULT_CONFIG " when present)\n"
            "  --device D      auto (default), cpu, cuda, cuda:N\n"
            "  --precision P   auto (default: bf16 on CUDA, fp32 on the CPU), bf16, fp32\n"
            "  --doc-len L     text tokens per document (default 4096)\n"
            "  --tokens T      micro-batch budget in rows, meta tokens included (default 16384): floor(T/(L+M)) documents\n"
            "  --steps N       timed steps (default 5)\n"
            "  --warmup K      untimed steps first (default 2)\n"
            "  --dpo           DPO steps: documents in chosen/rejected pairs with DPO's per-token weights\n"
            "  --profile       per-op time table (syncs around every op: slower steps, same results)\n"
            "  --recompute R   selective (default: the recipes' default) or none: activation recomputation\n"
            "  --accum K       micro-batches per rank per optimizer step (default 1; the reduction overlaps the last)\n"
            "  --ref-step-ms X the 1-GPU median step time of the same bench: prints the exposed communication\n"
            "                  step(N) - X and the share of the measured communication hidden behind the backward\n"
            "  --kernels       kernel mode: each op alone at the config's shapes (--steps timed calls after --warmup),\n"
            "                  achieved TFLOP/s or GB/s against a matmul and a copy ceiling measured in the same run,\n"
            "                  each op checked against the CPU op at 2 documents of min(L, 1200) tokens (--no-check: skip)\n"
            "  --peak-tflops X peak for MFU (default: 989 = H100 SXM bf16 dense on CUDA bf16, 67 = H100 SXM fp32\n"
            "                  non-tensor-core on CUDA fp32; none on the CPU, MFU then n/a)\n"
            "Under a launcher every rank runs the trainer's ZeRO-1 step (core/dp.h) on its own documents and GPU\n"
            "(NCCL: cuda:<local rank>; tcp between CPU processes); rank 0 reports per-GPU and total tokens/s, the\n"
            "reduce-scatter and all-gather timed alone, and checks that every rank ends with the same weights.\n"
            "HYMBA_DP_OVERLAP=0 reduce-scatters after the backward instead of during it; HYMBA_COMM forces a\n"
            "communicator (nccl with one GPU: the sharded path at world size 1).\n");
    return f == stdout ? 0 : 2;
}

static int hy_bench_int(const char *opt, const char *v, int lo, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (end == v || *end || x < lo || x > 1000000000L) {
        fprintf(stderr, "hymba bench: %s: expected an integer >= %d, got '%s'\n", opt, lo, v);
        return 2;
    }
    *out = (int)x;
    return 0;
}

static int hy_bench_positive(const char *opt, const char *v, double *out) {
    char *end;
    *out = strtod(v, &end);
    if (end == v || *end || !(*out > 0) || !isfinite(*out)) {
        fprintf(stderr, "hymba bench: %s: expected a positive number, got '%s'\n", opt, v);
        return 2;
    }
    return 0;
}

static int hy_bench_parse(int argc, char **argv, hy_bench_args *a) {
    *a = (hy_bench_args){.device = "auto", .precision = "auto", .doc_len = 4096, .tokens = 16384, .steps = 5, .warmup = 2,
                         .mode = HY_MODEL_TRAIN, .check = 1, .accum = 1};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--dpo")) { a->dpo = 1; continue; }
        if (!strcmp(o, "--profile")) { a->profile = 1; continue; }
        if (!strcmp(o, "--kernels")) { a->kernels = 1; continue; }
        if (!strcmp(o, "--no-check")) { a->check = 0; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "hymba bench: missing value after '%s'\n", o); return 2; }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(o, "--config")) a->config = v;
        else if (!strcmp(o, "--device")) a->device = v;
        else if (!strcmp(o, "--precision")) a->precision = v;
        else if (!strcmp(o, "--doc-len")) rc = hy_bench_int(o, v, 1, &a->doc_len);
        else if (!strcmp(o, "--tokens")) rc = hy_bench_int(o, v, 2, &a->tokens);
        else if (!strcmp(o, "--steps")) rc = hy_bench_int(o, v, 1, &a->steps);
        else if (!strcmp(o, "--warmup")) rc = hy_bench_int(o, v, 0, &a->warmup);
        else if (!strcmp(o, "--accum")) rc = hy_bench_int(o, v, 1, &a->accum);
        else if (!strcmp(o, "--recompute")) {
            if (!strcmp(v, "selective")) a->mode = HY_MODEL_TRAIN;
            else if (!strcmp(v, "none")) a->mode = HY_MODEL_TRAIN_KEEP_ALL;
            else {
                fprintf(stderr, "hymba bench: --recompute: expected selective or none, got '%s'\n", v);
                return 2;
            }
        }
        else if (!strcmp(o, "--peak-tflops")) rc = hy_bench_positive(o, v, &a->peak_tflops);
        else if (!strcmp(o, "--ref-step-ms")) rc = hy_bench_positive(o, v, &a->ref_step_ms);
        else {
            fprintf(stderr, "hymba bench: unknown option '%s'\n", o);
            return hy_bench_usage(stderr);
        }
        if (rc) return rc;
    }
    if (a->kernels && (a->dpo || a->profile || a->accum != 1 || a->ref_step_ms > 0)) {
        fprintf(stderr, "hymba bench: --kernels times each op alone (always profiled); it takes no %s\n",
                a->dpo ? "--dpo" : a->profile ? "--profile" : a->accum != 1 ? "--accum" : "--ref-step-ms");
        return 2;
    }
    if (!a->kernels && !a->check) {
        fprintf(stderr, "hymba bench: --no-check only applies to --kernels\n");
        return 2;
    }
    if (!a->config) {
        if (!hy_fs_exists(HY_BENCH_DEFAULT_CONFIG)) {
            fprintf(stderr, "hymba bench: --config is required (the default %s does not exist here)\n", HY_BENCH_DEFAULT_CONFIG);
            return hy_bench_usage(stderr);
        }
        a->config = HY_BENCH_DEFAULT_CONFIG;
    }
    return 0;
}

/* Synthetic documents: random ids in [1, V) (0 is the padding id), next-token
 * targets, no target for a document's last token.  DPO: pairs of documents,
 * only the second half of each (the response) supervised.  Micro-batch k of
 * this rank is the job's micro-batch g = rank·accum + k, its ids drawn with
 * seed 1 + g: every rank and micro-batch has the same shapes and targets
 * layout but its own tokens, and one rank accumulating N·K micro-batches
 * sees the same documents as N ranks accumulating K each. */
static hy_status hy_bench_data(hy_bench *b, const hy_bench_args *a) {
    int M = b->cfg.num_meta, L = a->doc_len, V = b->cfg.vocab_size, K = a->accum;
    b->n_docs = a->tokens / (L + M);
    if (a->dpo) b->n_docs -= b->n_docs % 2;
    if (b->n_docs < 1)
        return hy_errorf(HY_ERR_ARG, "--tokens %d holds no %s of --doc-len %d (each document takes L + %d meta rows); hint: --tokens %d or more",
                         a->tokens, a->dpo ? "pair of documents" : "document", L, M, (a->dpo ? 2 : 1) * (L + M));
    b->nt = b->n_docs * L;
    size_t all = (size_t)K * (size_t)b->nt;
    HY_TRY(hy_malloc((void **)&b->doc_len, sizeof(int32_t) * (size_t)b->n_docs, 1, "bench document lengths"));
    HY_TRY(hy_malloc((void **)&b->ids, sizeof(int32_t) * all, 1, "bench token ids"));
    HY_TRY(hy_malloc((void **)&b->targets, sizeof(int32_t) * all, 1, "bench targets"));
    HY_TRY(hy_malloc((void **)&b->loss_rows, sizeof(float) * (size_t)b->nt, 1, "bench row losses"));
    HY_TRY(hy_malloc((void **)&b->weights, sizeof(float) * (size_t)b->nt, 1, "bench row weights"));
    uint64_t stream = hy_rng_stream_id("bench.ids");
    int supervised = 0;
    for (int k = 0; k < K; k++) {
        uint64_t seed = 1 + (uint64_t)b->dp.rank * (uint64_t)K + (uint64_t)k;
        int32_t *ids = b->ids + (size_t)k * b->nt, *tg = b->targets + (size_t)k * b->nt;
        supervised = 0;
        for (int d = 0; d < b->n_docs; d++) {
            b->doc_len[d] = L;
            for (int i = 0; i < L; i++) ids[d * L + i] = 1 + (int32_t)(hy_rng_u64(seed, stream, (uint64_t)d * L + i) % (uint64_t)(V - 1));
            for (int i = 0; i < L; i++) {
                int ok = i + 1 < L && (!a->dpo || i >= L / 2 - 1);
                tg[d * L + i] = ok ? ids[d * L + i + 1] : -100;
                supervised += ok;
            }
        }
    }
    if (supervised == 0) return hy_errorf(HY_ERR_ARG, "--doc-len %d leaves no supervised token; hint: --doc-len 2 or more (4 with --dpo)", L);
    /* the global batch's mean: every rank and micro-batch has `supervised` targets (pairs for DPO) */
    b->units = (double)b->dp.world * K * (a->dpo ? b->n_docs / 2 : supervised);
    for (int r = 0; r < b->nt; r++) b->weights[r] = b->targets[r] >= 0 ? 1.0f / (float)b->units : 0.0f;
    return HY_OK;
}

/* DPO's sigmoid loss per pair with the reference log-probs held at 0 (a
 * precomputed cache contributes constants): row weights ±β·σ(−margin)/pairs
 * on the response rows of micro-batch `targets` [nt] (pairs: the global
 * batch's, b->units). */
static void hy_bench_dpo_weights(hy_bench *b, int L, const int32_t *targets) {
    const double beta = 0.1;
    int pairs = b->n_docs / 2;
    for (int p = 0; p < pairs; p++) {
        const float *lc = b->loss_rows + (size_t)(2 * p) * L, *lr = lc + L;
        double logp_c = 0, logp_r = 0;
        for (int i = 0; i < L; i++) {
            if (targets[2 * p * L + i] >= 0) logp_c -= lc[i];
            if (targets[(2 * p + 1) * L + i] >= 0) logp_r -= lr[i];
        }
        double margin = beta * (logp_c - logp_r), w = beta / (1.0 + exp(margin)) / b->units;
        for (int i = 0; i < L; i++) {
            b->weights[2 * p * L + i] = targets[2 * p * L + i] >= 0 ? (float)w : 0.0f;
            b->weights[(2 * p + 1) * L + i] = targets[(2 * p + 1) * L + i] >= 0 ? (float)-w : 0.0f;
        }
    }
}

/* Refuse a run that cannot fit before allocating anything (a 1.5B model on a
 * small host would otherwise be killed by the OOM killer mid-setup).  With
 * ZeRO-1 the master weights and moments are this rank's shard. */
static hy_status hy_bench_check_fit(const hy_bench *b, int mode) {
    const hy_ops *o = b->backend;
    hy_model_mem mm;
    HY_TRY(hy_model_plan_bytes(&b->cfg, o->act_dtype, b->nt, b->n_docs, mode, &mm));
    size_t f32 = mm.params * sizeof(float), opt = b->dp.sharded ? b->dp.plan.shard * sizeof(float) : f32;
    hy_mem_item it[] = {{"weights", mm.weights},
                        {"gradients (fp32)", mm.grads},
                        {"activations and statistics", mm.activations + mm.statistics + mm.metadata},
                        {"master weights (fp32)", o->act_dtype == HY_DTYPE_F32 && !b->dp.sharded ? 0 : opt},
                        {"AdamW moments (fp32)", 2 * opt},
                        {"host fp32 staging of the initial weights", o->host_memory ? f32 : 0}};
    return hy_backend_check_fit(o, it, (int)HY_ARRAY_LEN(it), (size_t)256 << 20,
                                "lower --tokens (or --doc-len), use a smaller --config, or a GPU with --precision bf16");
}

/* Communicator (the launcher's environment), backend on the rank's device,
 * optional profiler, model with random weights (the same on every rank:
 * seed 0), optimizer state through core/dp.h. */
static hy_status hy_bench_setup(hy_bench *b, const hy_bench_args *a) {
    HY_TRY(hy_cli_load_config(a->config, &b->cfg, NULL, 0));
    HY_TRY(hy_dp_init(&b->dp, !strcmp(a->device, "cpu") || !hy_backend_has_cuda()));
    HY_TRY(hy_bench_data(b, a));
    char device[32];
    hy_dp_device(&b->dp, device, sizeof device, a->device);
    HY_TRY(hy_backend_create(&b->backend, device, a->precision));
    size_t buffer_elems;
    HY_TRY(hy_dp_plan(&b->dp, &b->cfg, &buffer_elems));
    HY_TRY(hy_bench_check_fit(b, a->mode));
    size_t total_mem;
    HY_TRY(hy_backend_mem_info(b->backend, &b->free_before, &total_mem));
    b->ops = b->backend;
    if (a->profile) HY_TRY(hy_ops_profile_wrap(b->backend, &b->ops, &b->prof));
    const hy_ops *o = b->ops;
    HY_TRY(hy_model_create_ex(&b->m, &b->cfg, o, b->nt, b->n_docs, a->mode, buffer_elems));
    const hy_param_table *pt = hy_model_params(b->m);
    unsigned no_decay = (1u << HY_PCLASS_NORM) | (1u << HY_PCLASS_BIAS) | (1u << HY_PCLASS_EMBED) | (1u << HY_PCLASS_META) |
                        (1u << HY_PCLASS_SSM);
    HY_TRY(hy_optim_groups_build(&b->groups, pt, no_decay));
    float *host;
    HY_TRY(hy_malloc((void **)&host, pt->total * sizeof(float), 1, "host weights"));
    hy_ckpt_init_weights(pt, &b->cfg, 0, host);
    hy_status st = hy_model_set_weights(b->m, host);
    if (!st) st = hy_dp_alloc_optim(&b->dp, o, b->m, &b->groups, host);
    hy_free(host);
    HY_TRY(st);
    b->adam = (hy_adamw_hparams){0.9, 0.999, 1e-8, 0.01};
    return HY_OK;
}

/* One optimizer step as core/train.c makes it: zero grads; per micro-batch
 * forward and backward (the last one's backward overlapping the gradient
 * reduce-scatter); the global norm; clip; AdamW (sharded: per owned chunk,
 * then the all-gather).  *loss: the global batch's objective Σ w·loss. */
static hy_status hy_bench_step(hy_bench *b, const hy_bench_args *a, double *loss) {
    const hy_ops *o = b->ops;
    HY_TRY(hy_model_zero_grads(b->m));
    double l = 0, sumsq;
    for (int k = 0; k < a->accum; k++) {
        const int32_t *tg = b->targets + (size_t)k * b->nt;
        hy_model_batch batch = {b->n_docs, b->doc_len, b->ids + (size_t)k * b->nt, tg};
        if (b->dp.sharded && k == a->accum - 1) hy_dp_overlap_begin(&b->dp);
        HY_TRY(hy_model_forward(b->m, &batch, b->loss_rows, NULL));
        if (a->dpo) hy_bench_dpo_weights(b, a->doc_len, tg);
        HY_TRY(hy_model_backward(b->m, b->weights));
        for (int r = 0; r < b->nt; r++) l += (double)b->weights[r] * b->loss_rows[r];
    }
    HY_TRY(hy_dp_reduce(&b->dp, &sumsq));
    HY_TRY(hy_dp_sum(&b->dp, &l, 1));
    double norm = sqrt(sumsq);
    float coef = (float)hy_optim_clip_coef(norm, 1.0);
    b->t_adam++;
    HY_TRY(hy_dp_update(&b->dp, &b->adam, b->t_adam, 1e-5, coef));
    HY_TRY(o->sync(o->ctx));
    *loss = l;
    if (b->t_adam == 1) b->first_loss = l, b->first_norm = norm;
    b->last_norm = norm;
    if (!isfinite(l) || !isfinite(sumsq)) return hy_errorf(HY_ERR_NUMERIC, "bench step %lld: non-finite loss %g or gradient sum of squares %g",
                                                           (long long)b->t_adam, l, sumsq);
    return HY_OK;
}

static void hy_bench_free(hy_bench *b) {
    hy_dp_free(&b->dp); /* optimizer state through b->ops: before the profiler and the backend go */
    hy_optim_groups_free(&b->groups);
    hy_model_free(b->m);
    if (b->prof) hy_ops_profile_free(b->ops, b->prof);
    hy_backend_destroy(b->backend);
    hy_free(b->doc_len);
    hy_free(b->ids);
    hy_free(b->targets);
    hy_free(b->loss_rows);
    hy_free(b->weights);
}

/* The peak for MFU: the flag, else the H100 SXM figure for the mode, else 0
 * (unknown: MFU n/a).  *what names it. */
static double hy_bench_peak(const hy_bench *b, const hy_bench_args *a, const char **what) {
    int cuda = !strncmp(b->backend->name, "cuda", 4);
    if (a->peak_tflops > 0) { *what = "--peak-tflops"; return a->peak_tflops; }
    if (cuda && b->backend->act_dtype == HY_DTYPE_BF16) { *what = "H100 SXM bf16 dense tensor core"; return 989.0; }
    if (cuda) { *what = "H100 SXM fp32 without tensor cores (fp32 mode: TF32 off)"; return 67.0; }
    *what = "unknown for the CPU; pass --peak-tflops";
    return 0;
}

/* What every rank measures after the timed steps, combined over the ranks. */
typedef struct {
    double rs_s, ag_s;       /* reduce-scatter of every gradient bucket / all-gather of the weights, alone (sharded only) */
    double dev_taken;        /* device bytes taken since start, the largest rank's (CUDA only) */
    uint64_t checksum;       /* FNV-1a of rank 0's weights */
    int same_weights;        /* every rank holds the same weights */
} hy_bench_after;

/* A 64-bit checksum of the act-dtype weights [total] (FNV-1a's step over
 * 8-byte words, then the tail bytes), copied to the host in pieces. */
static hy_status hy_bench_checksum(hy_bench *b, uint64_t *out) {
    const hy_ops *o = b->ops;
    size_t bytes = hy_model_params(b->m)->total * hy_dtype_size(o->act_dtype), piece = (size_t)16 << 20;
    const unsigned char *w = (const unsigned char *)hy_model_weights(b->m);
    unsigned char *buf;
    HY_TRY(hy_malloc((void **)&buf, hy_zmin(bytes, piece), 1, "bench weight checksum staging"));
    uint64_t h = 1469598103934665603ull;
    hy_status st = HY_OK;
    for (size_t at = 0; at < bytes && !st; at += piece) {
        size_t n = hy_zmin(piece, bytes - at);
        st = o->to_host(o->ctx, buf, w + at, n);
        size_t i = 0;
        for (; i + 8 <= n && !st; i += 8) {
            uint64_t x;
            memcpy(&x, buf + i, 8);
            h = (h ^ x) * 1099511628211ull;
        }
        for (; i < n && !st; i++) h = (h ^ buf[i]) * 1099511628211ull;
    }
    hy_free(buf);
    *out = h;
    return st;
}

/* Every rank: weight checksums compared (max and min of both 32-bit halves),
 * the largest device memory, and the collectives timed alone. */
static hy_status hy_bench_measure_after(hy_bench *b, hy_bench_after *f) {
    memset(f, 0, sizeof *f);
    HY_TRY(hy_bench_checksum(b, &f->checksum));
    double hi = (double)(f->checksum >> 32), lo = (double)(f->checksum & 0xffffffffu);
    double v[5] = {hi, lo, -hi, -lo, 0};
    if (!strncmp(b->backend->name, "cuda", 4)) {
        size_t fr, tot;
        HY_TRY(hy_backend_mem_info(b->backend, &fr, &tot));
        v[4] = b->free_before > fr ? (double)(b->free_before - fr) : 0.0;
    }
    if (b->dp.world > 1) HY_TRY(hy_comm_all_reduce_host(b->dp.comm, v, 5, HY_COMM_MAX));
    f->same_weights = v[0] == -v[2] && v[1] == -v[3];
    f->dev_taken = v[4];
    if (b->dp.sharded) HY_TRY(hy_dp_time_collectives(&b->dp, 5, &f->rs_s, &f->ag_s));
    return HY_OK;
}

/* Memory: what the toolkit allocated on this rank, and on a GPU what the
 * device lost (the largest rank's). */
static void hy_bench_report_memory(const hy_bench *b, const hy_bench_after *f) {
    size_t optim = hy_dp_optim_bytes(&b->dp), model = hy_model_bytes(b->m);
    char bm[32], bo[32], bt[32];
    hy_fmt_bytes(bm, sizeof bm, (double)model);
    hy_fmt_bytes(bo, sizeof bo, (double)optim);
    hy_fmt_bytes(bt, sizeof bt, (double)(model + optim));
    printf("memory          %s allocated per rank (model: weights, gradients, activations %s; optimizer: %sAdamW moments %s%s)\n", bt, bm,
           b->dp.master_is_weights ? "" : "fp32 master weights, ", bo, b->dp.sharded ? ", this rank's ZeRO-1 shard" : "");
    if (strncmp(b->backend->name, "cuda", 4)) return;
    char bd[32];
    hy_fmt_bytes(bd, sizeof bd, f->dev_taken);
    printf("device memory   %s taken since start%s (cudaMemGetInfo: buffers, library and NCCL workspaces, allocator slack)\n", bd,
           b->dp.world > 1 ? " on the fullest GPU" : "");
}

/* Data parallelism: the setup, the collectives alone, the exposed time. */
static void hy_bench_report_dp(const hy_bench *b, const hy_bench_args *a, const hy_bench_after *f, double med) {
    if (!b->dp.sharded) {
        printf("data parallel   none (1 rank; run under `hymba launch -n N` for N ranks)\n");
        return;
    }
    char d[160];
    hy_shard_plan_describe(&b->dp.plan, d, sizeof d);
    printf("data parallel   ZeRO-1 over %s: %s; gradient reduce-scatter %s\n", hy_comm_kind(b->dp.comm), d, b->dp.overlap ? "overlapping the last backward (HYMBA_DP_OVERLAP=0: after it)"
                                                     : "after the backward (HYMBA_DP_OVERLAP=0)");
    int n = b->dp.world;
    size_t esz = hy_dtype_size(b->ops->act_dtype);
    double rs_bytes = (double)b->dp.plan.padded * sizeof(float), ag_bytes = (double)b->dp.plan.padded * esz, comm = f->rs_s + f->ag_s;
    /* nccl-tests' bus bandwidth: algorithm bandwidth (buffer bytes / time) · (n − 1) / n */
    printf("communication   alone, median of 5 after the steps: reduce-scatter %.3f ms (fp32 gradients, %.0f MiB, bus %.1f GB/s), "
           "all-gather %.3f ms (%s weights, %.0f MiB, bus %.1f GB/s); %.3f ms per step if nothing were hidden\n",
           1e3 * f->rs_s, rs_bytes / 1048576.0, f->rs_s > 0 ? rs_bytes / f->rs_s * (n - 1) / n * 1e-9 : 0.0, 1e3 * f->ag_s,
           hy_dtype_name(b->ops->act_dtype), ag_bytes / 1048576.0, f->ag_s > 0 ? ag_bytes / f->ag_s * (n - 1) / n * 1e-9 : 0.0, 1e3 * comm);
    if (a->ref_step_ms > 0) {
        double exposed = 1e3 * med - a->ref_step_ms;
        printf("exposed         %.3f ms per step = median step %.3f ms - 1-GPU step %.3f ms (--ref-step-ms); hidden %.1f%% of the "
               "%.3f ms measured alone (the all-gather is never hidden; AdamW here updates 1/%d of the parameters)%s\n",
               exposed, 1e3 * med, a->ref_step_ms, comm > 0 ? 100.0 * (1.0 - exposed / (1e3 * comm)) : 0.0, 1e3 * comm, n,
               exposed > 1e3 * comm ? "; negative: the step lost more than the collectives cost alone (stragglers, contention, "
                                      "host waits)" : "");
    } else
        printf("exposed         not computed: pass --ref-step-ms <the 1-GPU median step> (or compare runs with HYMBA_DP_OVERLAP=0/1)\n");
}

static hy_status hy_bench_report(const hy_bench *b, const hy_bench_args *a, double *times, double wall, double loss,
                                 const hy_bench_after *f) {
    int n = a->steps, world = b->dp.world;
    double med = hy_median(times, n), mean = wall / n; /* sorts times: [0] min, [n-1] max */
    double step_tokens = (double)a->accum * b->nt, tps = step_tokens / med, tps_mean = step_tokens / mean;
    hy_flops_breakdown fb;
    double F = hy_flops_per_token(&b->cfg, a->doc_len, &fb);
    const char *peak_what;
    double peak = hy_bench_peak(b, a, &peak_what);
    double achieved = F * tps * 1e-12;
    printf("model           %d layers, hidden %d, %zu parameter elements (flat buffer), random init\n", b->cfg.num_layers,
           b->cfg.hidden_size, hy_model_params(b->m)->total);
    printf("backend         %s, %s storage, recompute %s%s\n", b->backend->name, hy_dtype_name(b->backend->act_dtype),
           a->mode == HY_MODEL_TRAIN ? "selective" : "none", a->profile ? " (profiled: syncs around every op)" : "");
    printf("micro-batch     %s: %d documents of %d text tokens + %d meta = %d rows (budget %d), %d text tokens\n",
           a->dpo ? "DPO" : "SFT", b->n_docs, a->doc_len, b->cfg.num_meta, b->n_docs * (a->doc_len + b->cfg.num_meta), a->tokens, b->nt);
    printf("global batch    %d micro-batch(es) per rank x %d rank(s) = %.0f text tokens per optimizer step\n", a->accum, world,
           step_tokens * world);
    hy_bench_report_dp(b, a, f, med);
    printf("steps           %d timed after %d warm-up; objective Σ w·loss first %.9g, last %.4f; gradient norm first %.9g, last %.6g\n",
           n, a->warmup, b->first_loss, loss, b->first_norm, b->last_norm);
    printf("step time       median %.3f ms, mean %.3f ms, min %.3f ms, max %.3f ms%s\n", 1e3 * med, 1e3 * mean, 1e3 * times[0],
           1e3 * times[n - 1], world > 1 ? " (rank 0)" : "");
    if (world > 1) printf("tokens/s        %.1f per GPU (median step; mean %.1f), %.1f total over %d ranks\n", tps, tps_mean, tps * world, world);
    else printf("tokens/s        %.1f (median step; mean %.1f)\n", tps, tps_mean);
    printf("FLOPs/token     %.4f GFLOP (spec §11 at L=%d: layer matmuls %.4f, LM head %.4f, attention %.4f + %.4f, scan %.4f, conv %.4f)\n",
           F * 1e-9, a->doc_len, fb.layer_matmul * 1e-9, fb.head * 1e-9, fb.attn_global * 1e-9, fb.attn_swa * 1e-9, fb.scan * 1e-9,
           fb.conv * 1e-9);
    if (peak > 0)
        printf("MFU             %.2f%%%s (%.3f TFLOP/s of %.1f TFLOP/s peak: %s)\n", 100.0 * achieved / peak, world > 1 ? " per GPU" : "",
               achieved, peak, peak_what);
    else printf("MFU             n/a (%.4f TFLOP/s achieved; peak %s)\n", achieved, peak_what);
    hy_bench_report_memory(b, f);
    printf("weights         %s after the steps (checksum 0x%016llx)\n",
           world == 1 ? "1 rank" : f->same_weights ? "identical on every rank" : "DIFFER between ranks", (unsigned long long)f->checksum);
    /* one line for scripts (tests/gpu/bench_dp.sh) */
    printf("summary         world=%d comm=%s overlap=%d accum=%d step_ms=%.3f tok_s_gpu=%.1f tok_s_total=%.1f mfu_pct=%.3f rs_ms=%.3f "
           "ag_ms=%.3f dev_gib=%.2f\n", world, hy_comm_kind(b->dp.comm), b->dp.sharded ? b->dp.overlap : 0, a->accum, 1e3 * med, tps,
           tps * world, peak > 0 ? 100.0 * achieved / peak : 0.0, 1e3 * f->rs_s, 1e3 * f->ag_s, f->dev_taken / 1073741824.0);
    if (b->prof) {
        /* the ceilings take ~4 GiB on a GPU; with no room left the table comes without that column */
        double tf = 0, gb = 0;
        int mm_n = 0;
        if (hy_bench_ceilings(b->backend, &tf, &gb, &mm_n) != HY_OK) tf = gb = 0;
        printf("\nper-op profile (per timed step; share of the step's wall time)\n");
        if (tf > 0 && gb > 0)
            printf("ceilings        %.4g TFLOP/s (matmul_fwd %d^3 here), %.1f GB/s (device copy, read + write), measured after the steps\n",
                   tf, mm_n, gb);
        else printf("ceilings        not measured (no memory left for them)\n");
        hy_op_profile_report_ceil(b->prof, stdout, wall, n, tf, gb);
    }
    return HY_OK;
}

static hy_status hy_bench_steps(hy_bench *b, const hy_bench_args *a, double *times, double *wall, double *loss) {
    for (int i = 0; i < a->warmup; i++) HY_TRY(hy_bench_step(b, a, loss));
    if (b->prof) hy_op_profile_reset(b->prof);
    *wall = 0;
    for (int i = 0; i < a->steps; i++) {
        double t0 = hy_now_s();
        HY_TRY(hy_bench_step(b, a, loss));
        times[i] = hy_now_s() - t0;
        *wall += times[i];
    }
    return HY_OK;
}

static hy_status hy_bench_run(hy_bench *b, const hy_bench_args *a) {
    if (a->kernels) {
        HY_TRY(hy_cli_load_config(a->config, &b->cfg, NULL, 0));
        hy_kbench_args k = {.device = a->device, .precision = a->precision, .doc_len = a->doc_len, .tokens = a->tokens,
                            .reps = a->steps, .warmup = a->warmup, .check = a->check};
        return hy_bench_kernels(&b->cfg, &k);
    }
    HY_TRY(hy_bench_setup(b, a));
    double loss = 0, wall = 0, *times;
    HY_TRY(hy_malloc((void **)&times, sizeof(double) * (size_t)a->steps, 1, "bench step times"));
    hy_bench_after f;
    hy_status st = hy_bench_steps(b, a, times, &wall, &loss);
    if (!st) st = hy_bench_measure_after(b, &f);
    if (!st && b->dp.main) st = hy_bench_report(b, a, times, wall, loss, &f);
    if (!st && !f.same_weights)
        st = hy_errorf(HY_ERR_INTERNAL, "the ranks' weights differ after %lld steps (rank 0's checksum 0x%016llx): the all-gather or "
                       "the sharded update is broken", (long long)b->t_adam, (unsigned long long)f.checksum);
    if (!st && b->dp.world > 1) st = hy_comm_barrier(b->dp.comm);
    hy_free(times);
    return st;
}

int hy_cmd_bench(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_bench_usage(stdout);
    hy_bench_args a;
    int rc = hy_bench_parse(argc, argv, &a);
    if (rc) return rc;
    hy_bench b;
    memset(&b, 0, sizeof b);
    hy_status st = hy_bench_run(&b, &a);
    if (st && b.dp.comm && b.dp.world > 1) hy_comm_abort(b.dp.comm, hy_last_error()); /* the other ranks stop at once */
    hy_bench_free(&b);
    return st ? hy_cli_fail("bench") : 0;
}
