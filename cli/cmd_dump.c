/* cmd_dump.c — `hymba dump`: one forward + backward on a batch and every
 * result written as a reference state (DESIGN.md §6): logits [B,T,V], loss [1]
 * (shifted, mean over non-ignored targets — Hugging Face semantics; NaN when
 * no target is valid, as there), grad.<hf-name> for every parameter, fp32.
 * Each row of input_ids is one document; rows run packed in one micro-batch
 * (packing is exact, so this equals running them one by one).
 * --device / --precision pick the backend (kernels/backend.h); the default
 * precision is fp32 even on a GPU, because a reference state is fp32. */
#include <math.h>
#include <string.h>

#include "cli/commands.h"
#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "kernels/backend.h"

typedef struct {
    const char *model, *batch, *out, *device, *precision;
} hy_dump_args;

static int hy_dump_usage(FILE *f) {
    fprintf(f,
            "usage: hymba dump --model DIR --batch IN.safetensors --out OUT.safetensors [--device D] [--precision P]\n\n"
            "Runs the model on a batch and writes logits, loss and every parameter gradient (fp32).\n"
            "  --model DIR     checkpoint directory (config.json + model.safetensors)\n"
            "  --batch FILE    safetensors with input_ids [B,T] (I64 or I32) and optional labels [B,T]\n"
            "                  (-100 = ignored; without labels, input_ids are the labels); each row is one document\n"
            "  --out FILE      output reference state\n"
            "  --device D      auto (default: CUDA when a GPU is visible), cpu, cuda or cuda:N\n"
            "  --precision P   fp32 (default: a reference state is fp32 end to end), bf16 (CUDA: the training\n"
            "                  precision, bf16 weights and activations), or auto (bf16 on CUDA, fp32 on the CPU)\n");
    return f == stdout ? 0 : 2;
}

/* Read an integer [B,T] tensor into int32. */
static hy_status hy_dump_ids(const hy_st_file *f, const char *name, int32_t **out, int *B, int *T) {
    const hy_st_tensor *t = hy_st_find(f, name);
    *out = NULL;
    if (!t) return hy_errorf(HY_ERR_FORMAT, "%s: no tensor '%s'", hy_st_path(f), name);
    if (t->ndim != 2 || (t->dtype != HY_DTYPE_I64 && t->dtype != HY_DTYPE_I32))
        return hy_errorf(HY_ERR_FORMAT, "%s: '%s' must be a [B,T] I64 or I32 tensor, got %s with %d dims", hy_st_path(f), name,
                         hy_dtype_name(t->dtype), t->ndim);
    if (*B >= 0 && (t->shape[0] != *B || t->shape[1] != *T))
        return hy_errorf(HY_ERR_FORMAT, "%s: '%s' has shape [%lld,%lld], input_ids has [%d,%d]", hy_st_path(f), name,
                         (long long)t->shape[0], (long long)t->shape[1], *B, *T);
    *B = (int)t->shape[0];
    *T = (int)t->shape[1];
    HY_TRY(hy_malloc((void **)out, sizeof(int32_t) * t->numel, 0, name));
    for (size_t i = 0; i < t->numel; i++) {
        int64_t v;
        if (t->dtype == HY_DTYPE_I64) memcpy(&v, (const char *)t->data + 8 * i, 8);
        else { int32_t w; memcpy(&w, (const char *)t->data + 4 * i, 4); v = w; }
        if (v < INT32_MIN || v > INT32_MAX) return hy_errorf(HY_ERR_FORMAT, "%s: '%s'[%zu] = %lld is out of range", hy_st_path(f), name, i, (long long)v);
        (*out)[i] = (int32_t)v;
    }
    return HY_OK;
}

static hy_status hy_dump_write(const char *path, hy_model *m, const float *logits, float loss, const float *grads, int B, int T) {
    const hy_param_table *pt = hy_model_params(m);
    int n = pt->count + 2;
    hy_st_entry *e;
    char (*names)[128];
    HY_TRY(hy_malloc((void **)&e, sizeof *e * (size_t)n, 1, "dump entries"));
    hy_status st = hy_malloc((void **)&names, 128 * (size_t)n, 1, "dump names");
    if (st) { hy_free(e); return st; }
    e[0] = (hy_st_entry){.name = "logits", .dtype = HY_DTYPE_F32, .ndim = 3, .shape = {B, T, hy_model_config(m)->vocab_size}, .data = logits};
    e[1] = (hy_st_entry){.name = "loss", .dtype = HY_DTYPE_F32, .ndim = 1, .shape = {1}, .data = &loss};
    for (int i = 0; i < pt->count; i++) {
        const hy_param_desc *d = &pt->desc[i];
        snprintf(names[i], 128, "grad.%s", d->name);
        e[i + 2] = (hy_st_entry){.name = names[i], .dtype = HY_DTYPE_F32, .ndim = d->ndim, .data = grads + d->offset};
        for (int k = 0; k < d->ndim; k++) e[i + 2].shape[k] = d->shape[k];
    }
    const char *meta[] = {"format", "pt", "producer", "hymba dump"};
    st = hy_st_write(path, e, n, meta, 2);
    hy_free(names);
    hy_free(e);
    return st;
}

/* On a GPU, check that the model's plan fits before allocating it, so a batch
 * too large gets the sizes and a hint instead of a CUDA error. */
static hy_status hy_dump_plan(const hy_ops *ops, const char *model, int B, int T) {
    if (ops->host_memory) return HY_OK;
    hy_config cfg;
    hy_model_mem mm;
    HY_TRY(hy_ckpt_load_config(model, &cfg));
    HY_TRY(hy_model_plan_bytes(&cfg, ops->act_dtype, B * T, B, 1, &mm));
    char al[64];
    snprintf(al, sizeof al, "activations (%d x %d tokens)", B, T);
    hy_mem_item it[] = {{"weights", mm.weights}, {"gradients (fp32)", mm.grads}, {al, mm.activations + mm.statistics + mm.metadata},
                        {"logits readback (fp32)", sizeof(float) * (size_t)hy_imin(B * T, 1024) * (size_t)cfg.vocab_padded}};
    return hy_backend_check_fit(ops, it, (int)HY_ARRAY_LEN(it), (size_t)512 << 20,
                                "use a batch with fewer or shorter rows, or --precision bf16");
}

static hy_status hy_dump_run(const hy_dump_args *a) {
    hy_status st;
    hy_st_file *bf = NULL;
    hy_ops *ops = NULL;
    hy_model *m = NULL;
    int32_t *ids = NULL, *labels = NULL, *targets = NULL, *lens = NULL;
    float *logits = NULL, *rows = NULL, *w = NULL, *grads = NULL;
    int B = -1, T = -1;
    HY_CHECK_GOTO(st, hy_st_open(&bf, a->batch), done);
    HY_CHECK_GOTO(st, hy_dump_ids(bf, "input_ids", &ids, &B, &T), done);
    if (hy_st_find(bf, "labels")) HY_CHECK_GOTO(st, hy_dump_ids(bf, "labels", &labels, &B, &T), done);
    HY_CHECK_GOTO(st, hy_backend_create(&ops, a->device, a->precision), done);
    HY_CHECK_GOTO(st, hy_dump_plan(ops, a->model, B, T), done);
    HY_CHECK_GOTO(st, hy_model_open(&m, a->model, ops, B * T, B, 1), done);
    size_t nt = (size_t)B * T, V = (size_t)hy_model_config(m)->vocab_size;
    HY_CHECK_GOTO(st, hy_malloc((void **)&targets, nt * 4, 0, "targets"), done);
    HY_CHECK_GOTO(st, hy_malloc((void **)&lens, (size_t)B * 4, 0, "lengths"), done);
    HY_CHECK_GOTO(st, hy_malloc((void **)&logits, nt * V * 4, 0, "logits"), done);
    HY_CHECK_GOTO(st, hy_malloc((void **)&rows, nt * 4, 0, "row losses"), done);
    HY_CHECK_GOTO(st, hy_malloc((void **)&w, nt * 4, 0, "row weights"), done);
    const int32_t *lab = labels ? labels : ids;
    for (int b = 0; b < B; b++) {
        lens[b] = T;
        for (int t = 0; t < T; t++) targets[b * T + t] = t + 1 < T ? lab[b * T + t + 1] : -100;
    }
    hy_model_batch mb = {.n_docs = B, .doc_len = lens, .ids = ids, .targets = targets};
    HY_CHECK_GOTO(st, hy_model_forward(m, &mb, rows, logits), done);
    double sum = 0;
    size_t valid = 0;
    for (size_t i = 0; i < nt; i++)
        if (targets[i] >= 0) { sum += rows[i]; valid++; }
    float loss = valid ? (float)(sum / (double)valid) : NAN;
    for (size_t i = 0; i < nt; i++) w[i] = valid && targets[i] >= 0 ? 1.0f / (float)valid : 0.0f;
    HY_CHECK_GOTO(st, hy_model_zero_grads(m), done);
    HY_CHECK_GOTO(st, hy_model_backward(m, w), done);
    if (ops->host_memory) {
        HY_CHECK_GOTO(st, hy_dump_write(a->out, m, logits, loss, hy_model_grads(m), B, T), done);
    } else {
        HY_CHECK_GOTO(st, hy_malloc((void **)&grads, hy_model_params(m)->total * 4, 0, "gradients"), done);
        HY_CHECK_GOTO(st, hy_model_get_grads(m, grads), done);
        HY_CHECK_GOTO(st, hy_dump_write(a->out, m, logits, loss, grads, B, T), done);
    }
    printf("hymba dump: %d x %d tokens on %s (%s), loss %.6f over %zu targets, %d gradient tensors -> %s\n", B, T, ops->name,
           ops->act_dtype == HY_DTYPE_F32 ? "fp32" : "bf16", loss, valid, hy_model_params(m)->count, a->out);
done:
    hy_free(grads);
    hy_free(w);
    hy_free(rows);
    hy_free(logits);
    hy_free(lens);
    hy_free(targets);
    hy_free(labels);
    hy_free(ids);
    hy_model_free(m);
    hy_backend_destroy(ops);
    hy_st_close(bf);
    return st;
}

int hy_cmd_dump(int argc, char **argv) {
    if (hy_cli_wants_help(argc, argv)) return hy_dump_usage(stdout);
    hy_dump_args a = {.device = "auto", .precision = "fp32"};
    for (int i = 1; i < argc; i++) {
        const char **dst = !strcmp(argv[i], "--model") ? &a.model : !strcmp(argv[i], "--batch") ? &a.batch : !strcmp(argv[i], "--out") ? &a.out
                           : !strcmp(argv[i], "--device") ? &a.device : !strcmp(argv[i], "--precision") ? &a.precision : NULL;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "hymba dump: %s '%s'\n", dst ? "missing value after" : "unknown option", argv[i]);
            return hy_dump_usage(stderr);
        }
        *dst = argv[++i];
    }
    if (!a.model || !a.batch || !a.out) {
        fprintf(stderr, "hymba dump: --model, --batch and --out are required\n");
        return hy_dump_usage(stderr);
    }
    if (hy_dump_run(&a) != HY_OK) return hy_cli_fail("dump");
    return 0;
}
