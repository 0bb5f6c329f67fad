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
 * finished work. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/bench_kernels.h"
#include "cli/commands.h"
#include "core/alloc.h"
#include "core/checkpoint.h"
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
    double peak_tflops; /* ≤ 0: the default for the device */
} hy_bench_args;

/* Everything a run holds; freed by hy_bench_free. */
typedef struct {
    hy_config cfg;
    hy_ops *backend, *ops; /* ops: the backend or its profiling wrapper */
    hy_op_profile *prof;
    hy_model *m;
    hy_optim_groups groups;
    hy_adamw_hparams adam;
    float *master, *adam_m, *adam_v; /* backend memory; master == weights with fp32 storage */
    int master_is_weights;
    int n_docs, nt;
    int32_t *doc_len, *ids, *targets; /* host */
    float *loss_rows, *weights;       /* host [nt] */
    int64_t t_adam;
    size_t free_before; /* backend free memory before the model (hy_backend_mem_info) */
} hy_bench;

static int hy_bench_usage(FILE *f) {
    fprintf(f,
            "usage: hymba bench [--config FILE|DIR] [--device auto|cpu|cuda|cuda:N] [--precision auto|bf16|fp32]\n"
            "                   [--doc-len L] [--tokens T] [--steps N] [--warmup K] [--dpo] [--profile] [--peak-tflops X]\n"
            "                   [--recompute selective|none] [--kernels [--no-check]]\n\n"
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
            "  --kernels       kernel mode: each op alone at the config's shapes (--steps timed calls after --warmup),\n"
            "                  achieved TFLOP/s or GB/s against a matmul and a copy ceiling measured in the same run,\n"
            "                  each op checked against the CPU op at 2 documents of min(L, 1200) tokens (--no-check: skip)\n"
            "  --peak-tflops X peak for MFU (default: 989 = H100 SXM bf16 dense on CUDA bf16, 67 = H100 SXM fp32\n"
            "                  non-tensor-core on CUDA fp32; none on the CPU, MFU then n/a)\n");
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

static int hy_bench_parse(int argc, char **argv, hy_bench_args *a) {
    *a = (hy_bench_args){.device = "auto", .precision = "auto", .doc_len = 4096, .tokens = 16384, .steps = 5, .warmup = 2,
                         .mode = HY_MODEL_TRAIN, .check = 1};
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
        else if (!strcmp(o, "--recompute")) {
            if (!strcmp(v, "selective")) a->mode = HY_MODEL_TRAIN;
            else if (!strcmp(v, "none")) a->mode = HY_MODEL_TRAIN_KEEP_ALL;
            else {
                fprintf(stderr, "hymba bench: --recompute: expected selective or none, got '%s'\n", v);
                return 2;
            }
        }
        else if (!strcmp(o, "--peak-tflops")) {
            char *end;
            a->peak_tflops = strtod(v, &end);
            if (end == v || *end || !(a->peak_tflops > 0)) {
                fprintf(stderr, "hymba bench: --peak-tflops: expected a positive number, got '%s'\n", v);
                return 2;
            }
        } else {
            fprintf(stderr, "hymba bench: unknown option '%s'\n", o);
            return hy_bench_usage(stderr);
        }
        if (rc) return rc;
    }
    if (a->kernels && (a->dpo || a->profile)) {
        fprintf(stderr, "hymba bench: --kernels times each op alone (always profiled); it takes no %s\n", a->dpo ? "--dpo" : "--profile");
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
 * only the second half of each (the response) supervised. */
static hy_status hy_bench_data(hy_bench *b, const hy_bench_args *a) {
    int M = b->cfg.num_meta, L = a->doc_len, V = b->cfg.vocab_size;
    b->n_docs = a->tokens / (L + M);
    if (a->dpo) b->n_docs -= b->n_docs % 2;
    if (b->n_docs < 1)
        return hy_errorf(HY_ERR_ARG, "--tokens %d holds no %s of --doc-len %d (each document takes L + %d meta rows); hint: --tokens %d or more",
                         a->tokens, a->dpo ? "pair of documents" : "document", L, M, (a->dpo ? 2 : 1) * (L + M));
    b->nt = b->n_docs * L;
    HY_TRY(hy_malloc((void **)&b->doc_len, sizeof(int32_t) * (size_t)b->n_docs, 1, "bench document lengths"));
    HY_TRY(hy_malloc((void **)&b->ids, sizeof(int32_t) * (size_t)b->nt, 1, "bench token ids"));
    HY_TRY(hy_malloc((void **)&b->targets, sizeof(int32_t) * (size_t)b->nt, 1, "bench targets"));
    HY_TRY(hy_malloc((void **)&b->loss_rows, sizeof(float) * (size_t)b->nt, 1, "bench row losses"));
    HY_TRY(hy_malloc((void **)&b->weights, sizeof(float) * (size_t)b->nt, 1, "bench row weights"));
    uint64_t stream = hy_rng_stream_id("bench.ids");
    int supervised = 0;
    for (int d = 0; d < b->n_docs; d++) {
        b->doc_len[d] = L;
        for (int i = 0; i < L; i++) b->ids[d * L + i] = 1 + (int32_t)(hy_rng_u64(1, stream, (uint64_t)d * L + i) % (uint64_t)(V - 1));
        for (int i = 0; i < L; i++) {
            int ok = i + 1 < L && (!a->dpo || i >= L / 2 - 1);
            b->targets[d * L + i] = ok ? b->ids[d * L + i + 1] : -100;
            supervised += ok;
        }
    }
    if (supervised == 0) return hy_errorf(HY_ERR_ARG, "--doc-len %d leaves no supervised token; hint: --doc-len 2 or more (4 with --dpo)", L);
    for (int r = 0; r < b->nt; r++) b->weights[r] = b->targets[r] >= 0 ? 1.0f / (float)supervised : 0.0f;
    return HY_OK;
}

/* DPO's sigmoid loss per pair with the reference log-probs held at 0 (a
 * precomputed cache contributes constants): row weights ±β·σ(−margin)/pairs
 * on the response rows. */
static void hy_bench_dpo_weights(hy_bench *b, int L) {
    const double beta = 0.1;
    int pairs = b->n_docs / 2;
    for (int p = 0; p < pairs; p++) {
        const float *lc = b->loss_rows + (size_t)(2 * p) * L, *lr = lc + L;
        double logp_c = 0, logp_r = 0;
        for (int i = 0; i < L; i++) {
            if (b->targets[2 * p * L + i] >= 0) logp_c -= lc[i];
            if (b->targets[(2 * p + 1) * L + i] >= 0) logp_r -= lr[i];
        }
        double margin = beta * (logp_c - logp_r), w = beta / (1.0 + exp(margin)) / pairs;
        for (int i = 0; i < L; i++) {
            b->weights[2 * p * L + i] = b->targets[2 * p * L + i] >= 0 ? (float)w : 0.0f;
            b->weights[(2 * p + 1) * L + i] = b->targets[(2 * p + 1) * L + i] >= 0 ? (float)-w : 0.0f;
        }
    }
}

/* Refuse a run that cannot fit before allocating anything (a 1.5B model on a
 * small host would otherwise be killed by the OOM killer mid-setup). */
static hy_status hy_bench_check_fit(const hy_bench *b, int mode) {
    const hy_ops *o = b->backend;
    hy_model_mem mm;
    HY_TRY(hy_model_plan_bytes(&b->cfg, o->act_dtype, b->nt, b->n_docs, mode, &mm));
    size_t f32 = mm.params * sizeof(float);
    hy_mem_item it[] = {{"weights", mm.weights},
                        {"gradients (fp32)", mm.grads},
                        {"activations and statistics", mm.activations + mm.statistics + mm.metadata},
                        {"master weights (fp32)", o->act_dtype == HY_DTYPE_F32 ? 0 : f32},
                        {"AdamW moments (fp32)", 2 * f32},
                        {"host fp32 staging of the initial weights", o->host_memory ? f32 : 0}};
    return hy_backend_check_fit(o, it, (int)HY_ARRAY_LEN(it), (size_t)256 << 20,
                                "lower --tokens (or --doc-len), use a smaller --config, or a GPU with --precision bf16");
}

/* Backend, optional profiler, model with random weights, optimizer state. */
static hy_status hy_bench_setup(hy_bench *b, const hy_bench_args *a) {
    HY_TRY(hy_cli_load_config(a->config, &b->cfg, NULL, 0));
    HY_TRY(hy_bench_data(b, a));
    HY_TRY(hy_backend_create(&b->backend, a->device, a->precision));
    HY_TRY(hy_bench_check_fit(b, a->mode));
    size_t total_mem;
    HY_TRY(hy_backend_mem_info(b->backend, &b->free_before, &total_mem));
    b->ops = b->backend;
    if (a->profile) HY_TRY(hy_ops_profile_wrap(b->backend, &b->ops, &b->prof));
    const hy_ops *o = b->ops;
    HY_TRY(hy_model_create(&b->m, &b->cfg, o, b->nt, b->n_docs, a->mode));
    const hy_param_table *pt = hy_model_params(b->m);
    size_t bytes = pt->total * sizeof(float);
    float *host;
    HY_TRY(hy_malloc((void **)&host, bytes, 1, "host weights"));
    hy_ckpt_init_weights(pt, &b->cfg, 0, host);
    hy_status st = hy_model_set_weights(b->m, host);
    b->master_is_weights = o->act_dtype == HY_DTYPE_F32;
    if (!st && b->master_is_weights) b->master = (float *)hy_model_weights(b->m);
    else if (!st) {
        st = o->alloc(o->ctx, (void **)&b->master, bytes, "master weights (fp32)");
        if (!st) st = o->to_dev(o->ctx, b->master, host, bytes);
    }
    hy_free(host);
    HY_TRY(st);
    HY_TRY(o->alloc(o->ctx, (void **)&b->adam_m, bytes, "AdamW first moments"));
    HY_TRY(o->alloc(o->ctx, (void **)&b->adam_v, bytes, "AdamW second moments"));
    unsigned no_decay = (1u << HY_PCLASS_NORM) | (1u << HY_PCLASS_BIAS) | (1u << HY_PCLASS_EMBED) | (1u << HY_PCLASS_META) |
                        (1u << HY_PCLASS_SSM);
    HY_TRY(hy_optim_groups_build(&b->groups, pt, no_decay));
    b->adam = (hy_adamw_hparams){0.9, 0.999, 1e-8, 0.01};
    return HY_OK;
}

/* One optimizer step as core/train.c makes it (one micro-batch, no
 * accumulation): zero grads, forward, backward, grad norm, clip, AdamW. */
static hy_status hy_bench_step(hy_bench *b, const hy_bench_args *a, double *loss) {
    const hy_ops *o = b->ops;
    hy_model_batch batch = {b->n_docs, b->doc_len, b->ids, b->targets};
    HY_TRY(hy_model_zero_grads(b->m));
    HY_TRY(hy_model_forward(b->m, &batch, b->loss_rows, NULL));
    if (a->dpo) hy_bench_dpo_weights(b, a->doc_len);
    HY_TRY(hy_model_backward(b->m, b->weights));
    double sumsq, l = 0;
    size_t total = hy_model_params(b->m)->total;
    HY_TRY(o->sumsq(o->ctx, &sumsq, hy_model_grads(b->m), total));
    float coef = (float)hy_optim_clip_coef(sqrt(sumsq), 1.0);
    b->t_adam++;
    HY_TRY(o->adamw(o->ctx, &b->adam, &b->groups, b->t_adam, 1e-5, coef, b->master, hy_model_grads(b->m), b->adam_m, b->adam_v,
                    b->master_is_weights ? NULL : hy_model_weights(b->m)));
    HY_TRY(o->sync(o->ctx));
    for (int r = 0; r < b->nt; r++) l += (double)b->weights[r] * b->loss_rows[r];
    *loss = l;
    if (!isfinite(l) || !isfinite(sumsq)) return hy_errorf(HY_ERR_NUMERIC, "bench step %lld: non-finite loss %g or gradient sum of squares %g",
                                                           (long long)b->t_adam, l, sumsq);
    return HY_OK;
}

static void hy_bench_free(hy_bench *b) {
    hy_optim_groups_free(&b->groups);
    if (b->ops) {
        if (!b->master_is_weights && b->master) b->ops->free(b->ops->ctx, b->master);
        if (b->adam_m) b->ops->free(b->ops->ctx, b->adam_m);
        if (b->adam_v) b->ops->free(b->ops->ctx, b->adam_v);
    }
    hy_model_free(b->m);
    if (b->prof) hy_ops_profile_free(b->ops, b->prof);
    hy_backend_destroy(b->backend);
    hy_free(b->doc_len);
    hy_free(b->ids);
    hy_free(b->targets);
    hy_free(b->loss_rows);
    hy_free(b->weights);
}


static int hy_bench_dcmp(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
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

/* Memory: what the toolkit allocated, and on a GPU what the device lost. */
static hy_status hy_bench_report_memory(const hy_bench *b) {
    size_t total = hy_model_params(b->m)->total, f32 = total * sizeof(float);
    size_t optim = 2 * f32 + (b->master_is_weights ? 0 : f32), model = hy_model_bytes(b->m);
    char bm[32], bo[32], bt[32];
    hy_fmt_bytes(bm, sizeof bm, (double)model);
    hy_fmt_bytes(bo, sizeof bo, (double)optim);
    hy_fmt_bytes(bt, sizeof bt, (double)(model + optim));
    printf("memory          %s allocated (model: weights, gradients, activations %s; optimizer: %sAdamW moments %s)\n", bt, bm,
           b->master_is_weights ? "" : "fp32 master weights, ", bo);
    if (strncmp(b->backend->name, "cuda", 4)) return HY_OK;
    size_t fr, tot;
    HY_TRY(hy_backend_mem_info(b->backend, &fr, &tot));
    char bd[32], btot[32];
    hy_fmt_bytes(bd, sizeof bd, b->free_before > fr ? (double)(b->free_before - fr) : 0.0);
    hy_fmt_bytes(btot, sizeof btot, (double)tot);
    printf("device memory   %s taken since start (cudaMemGetInfo: buffers, library workspaces, allocator slack) of %s\n", bd, btot);
    return HY_OK;
}

static hy_status hy_bench_report(const hy_bench *b, const hy_bench_args *a, double *times, double wall, double loss) {
    int n = a->steps;
    qsort(times, (size_t)n, sizeof times[0], hy_bench_dcmp);
    double med = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]), mean = wall / n;
    double tps = b->nt / med, tps_mean = b->nt / mean;
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
    printf("steps           %d timed after %d warm-up; last objective Σ w·loss %.4f\n", n, a->warmup, loss);
    printf("step time       median %.3f ms, mean %.3f ms, min %.3f ms, max %.3f ms\n", 1e3 * med, 1e3 * mean, 1e3 * times[0],
           1e3 * times[n - 1]);
    printf("tokens/s        %.1f (median step; mean %.1f)\n", tps, tps_mean);
    printf("FLOPs/token     %.4f GFLOP (spec §11 at L=%d: layer matmuls %.4f, LM head %.4f, attention %.4f + %.4f, scan %.4f, conv %.4f)\n",
           F * 1e-9, a->doc_len, fb.layer_matmul * 1e-9, fb.head * 1e-9, fb.attn_global * 1e-9, fb.attn_swa * 1e-9, fb.scan * 1e-9,
           fb.conv * 1e-9);
    if (peak > 0)
        printf("MFU             %.2f%% (%.3f TFLOP/s of %.1f TFLOP/s peak: %s)\n", 100.0 * achieved / peak, achieved, peak, peak_what);
    else printf("MFU             n/a (%.4f TFLOP/s achieved; peak %s)\n", achieved, peak_what);
    HY_TRY(hy_bench_report_memory(b));
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

static hy_status hy_bench_run(hy_bench *b, const hy_bench_args *a) {
    if (a->kernels) {
        HY_TRY(hy_cli_load_config(a->config, &b->cfg, NULL, 0));
        hy_kbench_args k = {.device = a->device, .precision = a->precision, .doc_len = a->doc_len, .tokens = a->tokens,
                            .reps = a->steps, .warmup = a->warmup, .check = a->check};
        return hy_bench_kernels(&b->cfg, &k);
    }
    HY_TRY(hy_bench_setup(b, a));
    double loss = 0, *times;
    HY_TRY(hy_malloc((void **)&times, sizeof(double) * (size_t)a->steps, 1, "bench step times"));
    hy_status st = HY_OK;
    for (int i = 0; i < a->warmup && !st; i++) st = hy_bench_step(b, a, &loss);
    if (b->prof) hy_op_profile_reset(b->prof);
    double wall = 0;
    for (int i = 0; i < a->steps && !st; i++) {
        double t0 = hy_now_s();
        st = hy_bench_step(b, a, &loss);
        times[i] = hy_now_s() - t0;
        wall += times[i];
    }
    if (!st) st = hy_bench_report(b, a, times, wall, loss);
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
    hy_bench_free(&b);
    return st ? hy_cli_fail("bench") : 0;
}
