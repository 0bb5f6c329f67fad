/* test_model.c — the whole model on the CPU backend:
 *   - exactness against the reference state of the official implementation
 *     (shared/reference/spec12): logits, loss and every gradient, via `hymba dump`;
 *   - every parameter tensor's gradient against central finite differences
 *     (directional derivatives in double, tiny config with a 3-layer KV group);
 *   - packed == separate: 3 documents in one micro-batch give the same logits
 *     and the same summed gradients as the documents run one by one;
 *   - planning errors. */
#include <math.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "kernels/backend.h"
#include "tests/harness.h"

#define SPEC12 HY_SHARED_DIR "/reference/spec12"

/* Per-tensor relative error ‖got − want‖∞ / ‖want‖∞, printed. */
static int hy_cmp_tensor(const char *name, const float *got, const float *want, size_t n, double tol, double *worst) {
    double e = hy_test_rel_inf(got, want, n);
    if (e > *worst) *worst = e;
    if (e > tol || isnan(e)) {
        fprintf(stderr, "  %-55s rel err %.3g > %.1g\n", name, e, tol);
        hy_test_compare(name, got, want, n, 0, tol);
        return 1;
    }
    return 0;
}

HY_TEST(reference_spec12_via_dump) {
    char dir[256], cmd[1024], out[300];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "dump") == 0);
    snprintf(out, sizeof out, "%s/state.safetensors", dir);
    snprintf(cmd, sizeof cmd, "%s dump --device cpu --model %s --batch %s/batch.safetensors --out %s", hy_test_hymba(), SPEC12, SPEC12, out);
    char *log = NULL;
    int rc = hy_test_run(cmd, &log);
    HY_EXPECT_MSG(rc == 0, "hymba dump failed (%d): %s", rc, log ? log : "");
    free(log);
    hy_st_file *got, *want;
    HY_EXPECT_OK(hy_st_open(&got, out));
    HY_EXPECT_OK(hy_st_open(&want, SPEC12 "/reference.safetensors"));
    int bad = 0, checked = 0;
    double worst_logit = 0, worst_grad = 0;
    for (int i = 0; i < hy_st_count(want); i++) {
        const hy_st_tensor *w = hy_st_at(want, i), *g = hy_st_find(got, w->name);
        HY_EXPECT_MSG(g != NULL, "dump lacks tensor %s", w->name);
        HY_EXPECT_MSG(g->numel == w->numel, "%s: %zu vs %zu elements", w->name, g->numel, w->numel);
        float *a = malloc(4 * g->numel), *b = malloc(4 * w->numel);
        HY_EXPECT_OK(hy_st_to_f32(g, a));
        HY_EXPECT_OK(hy_st_to_f32(w, b));
        int is_grad = !strncmp(w->name, "grad.", 5);
        /* issue 8: logits within 1e-4 relative, every gradient tensor within 1e-3 */
        bad += hy_cmp_tensor(w->name, a, b, g->numel, is_grad ? 1e-3 : 1e-4, is_grad ? &worst_grad : &worst_logit);
        checked++;
        free(a);
        free(b);
    }
    fprintf(stderr, "  %d tensors compared; worst relative error: logits/loss %.3g, gradients %.3g\n", checked, worst_logit, worst_grad);
    HY_EXPECT(hy_st_count(got) == hy_st_count(want));
    hy_st_close(got);
    hy_st_close(want);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
    return bad != 0;
}

/* ---- helpers for the tiny-model tests ---- */

typedef struct {
    hy_ops *ops;
    hy_model *m;
    float *w0; /* spec12 weights */
    size_t total;
} hy_tiny;

static hy_status hy_tiny_open(hy_tiny *t, int max_text, int max_docs) {
    memset(t, 0, sizeof *t);
    HY_TRY(hy_backend_cpu_create(&t->ops, 0));
    HY_TRY(hy_model_open(&t->m, SPEC12, t->ops, max_text, max_docs, 1));
    t->total = hy_model_params(t->m)->total;
    HY_TRY(hy_malloc((void **)&t->w0, t->total * 4, 0, "weights"));
    return hy_model_get_weights(t->m, t->w0);
}

static void hy_tiny_close(hy_tiny *t) {
    hy_model_free(t->m);
    hy_backend_cpu_destroy(t->ops);
    hy_free(t->w0);
}

/* Σ_r wr·loss_r in double for the weights currently set. */
static double hy_tiny_loss(hy_tiny *t, const hy_model_batch *b, const float *wr, int nt) {
    float *rows = malloc(sizeof(float) * (size_t)nt);
    if (hy_model_forward(t->m, b, rows, NULL) != HY_OK) { free(rows); return NAN; }
    double s = 0;
    for (int i = 0; i < nt; i++) s += (double)wr[i] * rows[i];
    free(rows);
    return s;
}

static void hy_make_batch(hy_test_rng *r, int n_docs, const int *lens, int32_t *ids, int32_t *targets, int V, int with_pad0) {
    int t = 0;
    for (int d = 0; d < n_docs; d++)
        for (int i = 0; i < lens[d]; i++, t++) {
            ids[t] = 1 + (int32_t)(hy_test_uniform(r) * (V - 1));
            targets[t] = hy_test_uniform(r) < 0.2 ? -100 : (int32_t)(hy_test_uniform(r) * V);
            if (i == lens[d] - 1) targets[t] = -100;
        }
    if (with_pad0) ids[3] = 0; /* padding_idx in the input */
}

HY_TEST(gradients_vs_finite_differences) {
    hy_tiny t;
    HY_EXPECT_OK(hy_tiny_open(&t, 64, 2));
    const hy_param_table *pt = hy_model_params(t.m);
    hy_test_rng r = {42};
    int lens[2] = {30, 21}, nt = 51; /* 30 + 8 meta = 38 rows > M + W + 1: the window bites */
    int32_t ids[51], tg[51];
    float wr[51];
    hy_make_batch(&r, 2, lens, ids, tg, 301, 1);
    for (int i = 0; i < nt; i++) wr[i] = tg[i] >= 0 ? (float)(0.5 + hy_test_uniform(&r)) / nt : 0.0f;
    hy_model_batch b = {2, lens, ids, tg};
    float *g = malloc(4 * t.total), *w = malloc(4 * t.total), *dir = malloc(4 * t.total);
    HY_EXPECT_OK(hy_model_set_weights(t.m, t.w0));
    HY_EXPECT_OK(hy_model_forward(t.m, &b, NULL, NULL));
    HY_EXPECT_OK(hy_model_backward(t.m, wr));
    HY_EXPECT_OK(hy_model_get_grads(t.m, g));
    int bad = 0;
    for (int i = 0; i < pt->count; i++) {
        const hy_param_desc *d = &pt->desc[i];
        /* random direction over the whole tensor, scaled to the tensor's size */
        double rms = 0;
        for (size_t k = 0; k < d->numel; k++) rms += (double)t.w0[d->offset + k] * t.w0[d->offset + k];
        rms = sqrt(rms / (double)d->numel);
        double h = 1e-3 * (rms > 0.05 ? rms : 0.05);
        double analytic = 0, norm = 0;
        for (size_t k = 0; k < d->numel; k++) {
            float v = (float)(hy_test_normal(&r));
            /* embedding row 0 (padding_idx, in the input) gets only the head part by design (spec §9.12) */
            if (d->id == HY_P_EMBED && k < (size_t)d->shape[1]) v = 0;
            dir[k] = v;
            analytic += (double)v * g[d->offset + k];
            norm += (double)v * v;
        }
        double lp, lm;
        memcpy(w, t.w0, 4 * t.total);
        for (size_t k = 0; k < d->numel; k++) w[d->offset + k] = (float)(t.w0[d->offset + k] + h * dir[k]);
        HY_EXPECT_OK(hy_model_set_weights(t.m, w));
        lp = hy_tiny_loss(&t, &b, wr, nt);
        for (size_t k = 0; k < d->numel; k++) w[d->offset + k] = (float)(t.w0[d->offset + k] - h * dir[k]);
        HY_EXPECT_OK(hy_model_set_weights(t.m, w));
        lm = hy_tiny_loss(&t, &b, wr, nt);
        /* the perturbation is applied in fp32: use the actually applied step */
        double fd = (lp - lm) / (2 * h);
        double scale = sqrt(norm) * 1e-4; /* absolute floor: fp32 forward noise over a direction of this size */
        double err = fabs(fd - analytic), tol = 2e-2 * fabs(analytic) + scale;
        if (err > tol || isnan(err)) {
            fprintf(stderr, "  %-50s fd %.6g analytic %.6g err %.3g tol %.3g\n", d->name, fd, analytic, err, tol);
            bad++;
        }
    }
    fprintf(stderr, "  %d of %d tensors disagree with finite differences\n", bad, pt->count);
    free(g);
    free(w);
    free(dir);
    hy_tiny_close(&t);
    return bad != 0;
}

HY_TEST(packed_equals_separate) {
    hy_tiny t;
    HY_EXPECT_OK(hy_tiny_open(&t, 80, 3));
    hy_test_rng r = {7};
    int lens[3] = {5, 33, 17}, nt = 55;
    int32_t ids[55], tg[55];
    float wr[55];
    hy_make_batch(&r, 3, lens, ids, tg, 301, 0);
    for (int i = 0; i < nt; i++) wr[i] = tg[i] >= 0 ? 1.0f / nt : 0.0f;
    size_t V = 301, total = t.total;
    float *lp = malloc(4 * nt * V), *ls = malloc(4 * nt * V), *gp = malloc(4 * total), *gs = malloc(4 * total);
    hy_model_batch b = {3, lens, ids, tg};
    HY_EXPECT_OK(hy_model_zero_grads(t.m));
    HY_EXPECT_OK(hy_model_forward(t.m, &b, NULL, lp));
    HY_EXPECT_OK(hy_model_backward(t.m, wr));
    HY_EXPECT_OK(hy_model_get_grads(t.m, gp));
    HY_EXPECT_OK(hy_model_zero_grads(t.m));
    for (int d = 0, off = 0; d < 3; off += lens[d], d++) {
        hy_model_batch one = {1, &lens[d], ids + off, tg + off};
        HY_EXPECT_OK(hy_model_forward(t.m, &one, NULL, ls + (size_t)off * V));
        HY_EXPECT_OK(hy_model_backward(t.m, wr + off));
    }
    HY_EXPECT_OK(hy_model_get_grads(t.m, gs));
    double e_logits = hy_test_rel_inf(lp, ls, (size_t)nt * V);
    const hy_param_table *pt = hy_model_params(t.m);
    double e_grad = 0;
    for (int i = 0; i < pt->count; i++) {
        const hy_param_desc *d = &pt->desc[i];
        double e = hy_test_rel_inf(gp + d->offset, gs + d->offset, d->numel);
        if (e > e_grad) e_grad = e;
        if (e > 1e-5) fprintf(stderr, "  %s: packed vs separate rel err %.3g\n", d->name, e);
    }
    fprintf(stderr, "  packed vs separate: logits rel err %.3g, worst gradient rel err %.3g\n", e_logits, e_grad);
    free(lp);
    free(ls);
    free(gp);
    free(gs);
    hy_tiny_close(&t);
    /* Logits: 1e-5.  Gradients: the packed run sums each weight gradient over
     * all rows in one product, the separate runs over each document and then
     * across documents; the results differ only by fp32 summation order.  Most
     * tensors agree to ~1e-6; the gains of the B/C RMSNorms and x_proj of a few
     * layers are sums with heavy cancellation (measured up to 4.1e-5 relative to
     * the tensor's largest element), hence 1e-4 for the whole-tensor check. */
    HY_EXPECT(e_logits <= 1e-5);
    HY_EXPECT(e_grad <= 1e-4);
    return 0;
}

HY_TEST(plan_limits_are_errors) {
    hy_tiny t;
    HY_EXPECT_OK(hy_tiny_open(&t, 16, 2));
    int lens[3] = {4, 4, 4};
    int32_t ids[20] = {0}, tg[20] = {0};
    hy_model_batch b = {3, lens, ids, tg};
    HY_EXPECT_ERR(hy_model_forward(t.m, &b, NULL, NULL), "planned for 1..2");
    int big[1] = {20};
    hy_model_batch b2 = {1, big, ids, tg};
    HY_EXPECT_ERR(hy_model_forward(t.m, &b2, NULL, NULL), "at most 16");
    int ok[1] = {4};
    int32_t bad_ids[4] = {1, 2, 301, 3};
    hy_model_batch b3 = {1, ok, bad_ids, tg};
    HY_EXPECT_ERR(hy_model_forward(t.m, &b3, NULL, NULL), "outside the vocabulary");
    HY_EXPECT_ERR(hy_model_backward(t.m, NULL), "without a preceding forward");
    /* a rows bound (the packer's budget counts meta rows) plans less and is enforced */
    const hy_config *c = hy_model_config(t.m);
    int M = c->num_meta;
    hy_model_limits lim = {64, 8, 40 + 2 * M}, wide = {64, 8, 0};
    hy_model_mem small, wide_mem;
    HY_EXPECT_OK(hy_model_plan_bytes_lim(c, HY_DTYPE_F32, &lim, HY_MODEL_TRAIN, &small));
    HY_EXPECT_OK(hy_model_plan_bytes_lim(c, HY_DTYPE_F32, &wide, HY_MODEL_TRAIN, &wide_mem));
    HY_EXPECT_MSG(small.activations < wide_mem.activations, "rows bound: %zu vs %zu activation bytes", small.activations, wide_mem.activations);
    hy_model *mr = NULL;
    HY_EXPECT_OK(hy_model_create_lim(&mr, c, t.ops, &lim, HY_MODEL_TRAIN, 0));
    int two[2] = {20, 20}, three[3] = {14, 14, 14};
    int32_t ids40[42], tg40[42];
    for (int i = 0; i < 42; i++) ids40[i] = 1 + i % 50, tg40[i] = i % 3 ? 2 : -100;
    hy_model_batch fits = {2, two, ids40, tg40}, over = {3, three, ids40, tg40};
    HY_EXPECT_OK(hy_model_forward(mr, &fits, NULL, NULL));
    HY_EXPECT_ERR(hy_model_forward(mr, &over, NULL, NULL), "rows");
    hy_model_free(mr);
    hy_model_limits bad = {64, 8, M};
    HY_EXPECT_ERR(hy_model_create_lim(&mr, c, t.ops, &bad, HY_MODEL_TRAIN, 0), "cannot hold one document");
    hy_tiny_close(&t);
    return 0;
}

/* Selective recomputation (HY_MODEL_TRAIN) and the keep-everything plan give
 * the same losses and gradients bit for bit; the inference plan (alternating
 * layer sets) gives the same losses; each plan is smaller than the last. */
HY_TEST(recompute_and_inference_plans_are_exact) {
    hy_ops *ops = NULL;
    HY_EXPECT_OK(hy_backend_cpu_create(&ops, 0));
    hy_model *mk = NULL, *mr = NULL, *mi = NULL;
    HY_EXPECT_OK(hy_model_open(&mk, SPEC12, ops, 80, 3, HY_MODEL_TRAIN_KEEP_ALL));
    HY_EXPECT_OK(hy_model_open(&mr, SPEC12, ops, 80, 3, HY_MODEL_TRAIN));
    HY_EXPECT_OK(hy_model_open(&mi, SPEC12, ops, 80, 3, HY_MODEL_INFER));
    hy_test_rng r = {11};
    int lens[3] = {9, 40, 21}, nt = 70;
    int32_t ids[70], tg[70];
    float wr[70], lk[70], lr[70], li[70];
    hy_make_batch(&r, 3, lens, ids, tg, 301, 0);
    for (int i = 0; i < nt; i++) wr[i] = tg[i] >= 0 ? 1.0f / nt : 0.0f;
    hy_model_batch b = {3, lens, ids, tg};
    size_t total = hy_model_params(mk)->total;
    float *gk = malloc(4 * total), *gr = malloc(4 * total);
    HY_EXPECT_OK(hy_model_zero_grads(mk));
    HY_EXPECT_OK(hy_model_zero_grads(mr));
    for (int rep = 0; rep < 2; rep++) { /* twice: accumulation over micro-batches too */
        HY_EXPECT_OK(hy_model_forward(mk, &b, lk, NULL));
        HY_EXPECT_OK(hy_model_backward(mk, wr));
        HY_EXPECT_OK(hy_model_forward(mr, &b, lr, NULL));
        HY_EXPECT_OK(hy_model_backward(mr, wr));
    }
    HY_EXPECT_OK(hy_model_forward(mi, &b, li, NULL));
    HY_EXPECT_OK(hy_model_get_grads(mk, gk));
    HY_EXPECT_OK(hy_model_get_grads(mr, gr));
    size_t gdiff = 0, ldiff = 0;
    for (size_t i = 0; i < total; i++) gdiff += memcmp(&gk[i], &gr[i], 4) != 0;
    for (int i = 0; i < nt; i++) ldiff += (memcmp(&lk[i], &lr[i], 4) != 0) + (memcmp(&lk[i], &li[i], 4) != 0);
    size_t bk = hy_model_bytes(mk), br = hy_model_bytes(mr), bi = hy_model_bytes(mi);
    fprintf(stderr, "  recompute vs keep-all: %zu of %zu gradient elements differ, %zu losses differ (incl. inference); "
            "model bytes keep-all %zu, recompute %zu, inference %zu\n", gdiff, total, ldiff, bk, br, bi);
    HY_EXPECT(gdiff == 0);
    HY_EXPECT(ldiff == 0);
    HY_EXPECT(br < bk && bi < br);
    free(gk);
    free(gr);
    hy_model_free(mk);
    hy_model_free(mr);
    hy_model_free(mi);
    hy_backend_cpu_destroy(ops);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
