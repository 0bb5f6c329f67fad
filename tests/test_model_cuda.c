/* test_model_cuda.c — the whole model on the CUDA backend against the CPU
 * backend (label gpu; run by tests/gpu/run.sh on a GPU machine):
 *   - spec12 (the reference folder's tiny config and weights) and a mid-size
 *     config with the 1.5B head layout (25 query / 5 KV heads, DQK 64, DV 128,
 *     128 meta tokens, DS 16, a KV-sharing pair) but 4 layers, a 1000-token
 *     vocabulary and a 64-token window, so the window is far shorter than the
 *     documents: logits, per-row losses, the loss and every parameter
 *     gradient of a packed micro-batch of several documents, fp32 and bf16;
 *   - bitwise determinism: the same forward/backward twice on the GPU;
 *   - incremental decoding on the GPU (the CUDA decode ops) equals the GPU's
 *     full forward on the mid-size config (1.5B attention layout, ring cache
 *     smaller than the sequence), and greedy generation in fp32 gives the
 *     CPU's tokens (spec12).
 * In bf16 mode the CPU reference runs on the bf16-rounded weights, so both
 * sides start from identical values and only the GPU's bf16 activations
 * differ.  Tolerances are declared with their reasons below. */
#include <math.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/decode.h"
#include "core/model.h"
#include "kernels/backend.h"
#include "tests/harness.h"

#define SPEC12 HY_SHARED_DIR "/reference/spec12"

/* The 1.5B attention/Mamba layout (hidden 1600 → DQK 64 with 25 heads, DI 3200
 * → DV 128, NKV 5, M 128, DS 16, R 100) with 4 layers (global 0 and 3, layers
 * 1-2 share K/V), F 2048, V 1000 and W 64. */
static const char HY_MID_CFG[] =
    "{\"vocab_size\": 1000, \"hidden_size\": 1600, \"num_hidden_layers\": 4, \"num_attention_heads\": 25,"
    " \"num_key_value_heads\": 5, \"intermediate_size\": 2048, \"mamba_expand\": 2, \"mamba_d_state\": 16,"
    " \"mamba_dt_rank\": 100, \"mamba_d_conv\": 4, \"num_memory_tokens\": 128, \"sliding_window\": 64,"
    " \"global_attn_idx\": [0, 3], \"kv_reuse_group\": [[1, 2]], \"rope\": true, \"rope_type\": \"ntk\","
    " \"rope_theta\": 10000.0, \"max_position_embeddings\": 8192, \"orig_max_position_embeddings\": 2048,"
    " \"rms_norm_eps\": 1e-06, \"tie_word_embeddings\": true, \"num_experts\": 1, \"initializer_range\": 0.02}";

/* ---- tolerances ----
 * Errors are relative to the whole tensor: ‖gpu−cpu‖∞/‖cpu‖∞ ("inf") or
 * ‖gpu−cpu‖₂/‖cpu‖₂ ("l2"); gradients are judged per tensor in l2, and the
 * whole gradient vector ("global") too.
 * Ill-conditioned gradients: the Mamba x_proj weight and the B/C RMSNorm gains
 * receive dB/dC, sums over all DI channels (and then over rows) with heavy
 * cancellation: the fp32 summation order alone moves them by up to ~7e-5
 * (measured on the H100: spec12 layer 5 C_layernorm 6.3e-5; the CPU's own
 * packed-vs-separate test sees 4.1e-5), about 1000x the fp32 rounding; in
 * bf16, where dB/dC are stored in bf16 (as the official kernel does), the
 * same amplification makes them noise-dominated (measured up to ~100%).  So
 * they get their own bound: 2e-4 in fp32 (this is where their wiring is
 * checked), and in bf16 only "finite and of the right size" (1.5).
 * The conv1d weight and bias gradients are sums over every row of the
 * pre-SiLU gradient, which cancels as strongly: with the chunked conv/scan
 * kernels (different but fixed summation order) the mid model's last layer
 * measured 2.0e-5 (bias) / 1.0e-5 (weight) in fp32 and 0.34 in bf16 on the
 * H100 — the bf16/fp32 ratio (1.7e4) is that of the two roundings (2^15),
 * i.e. amplified rounding, not a wiring error — so they join this class;
 * the conv op itself is held to 1e-5 in fp32 by test_ops_cuda.
 * fp32 otherwise: the issue's ~1e-5 (measured: logits 6.3e-7 spec12, 8.8e-6
 * mid; well-conditioned gradients below 1e-5).
 * bf16 otherwise: every activation is stored in bf16 (relative rounding
 * 2^-9) while the CPU keeps fp32; through the layers that reaches a few
 * percent of the logits' scale on the perturbed random mid-size model (the
 * GPU's own bf16 decode and forward differ by 3% there): logits 0.1 inf /
 * 5e-2 l2, loss 1e-3, gradients 0.1 per tensor (measured up to 4.7e-2 with
 * the fused attention and chunked scan kernels), 5e-2 for the vector of the
 * well-conditioned tensors (all tensors together measured 5.45e-2 on the
 * H100, dominated by x_proj's 0.45).  A wiring error (wrong view, missing
 * term) gives errors of order 1. */
typedef struct {
    double logits_inf, logits_l2, loss, grad_l2, ill_l2, global_l2;
} mc_tol;
static const mc_tol MC_TOL_FP32 = {2e-5, 1e-5, 1e-5, 1e-5, 2e-4, 2e-5};
static const mc_tol MC_TOL_BF16 = {0.1, 5e-2, 1e-3, 0.1, 1.5, 5e-2};

static int mc_ill_conditioned(const char *name) {
    return strstr(name, "mamba.x_proj") || strstr(name, "B_layernorm") || strstr(name, "C_layernorm") || strstr(name, "mamba.conv1d");
}

typedef struct {
    hy_config cfg;
    float *w; /* host fp32 [total] */
    size_t total;
} mc_weights;

typedef struct {
    float *logits, *rows, *grads; /* [nt,V], [nt], [total] */
    double loss;
} mc_out;

static void mc_out_free(mc_out *o) {
    free(o->logits);
    free(o->rows);
    free(o->grads);
    memset(o, 0, sizeof *o);
}

static hy_status mc_spec12(mc_weights *mw) {
    hy_param_table pt;
    HY_TRY(hy_ckpt_load_config(SPEC12, &mw->cfg));
    HY_TRY(hy_params_build(&pt, &mw->cfg));
    mw->total = pt.total;
    hy_status st = hy_malloc((void **)&mw->w, pt.total * 4, 1, "weights");
    if (!st) st = hy_ckpt_load_weights(SPEC12, &pt, mw->w, NULL);
    hy_params_free(&pt);
    return st;
}

/* Random init, then every norm gain, bias, D and A_log perturbed (so a wrong
 * tensor cannot hide behind ones and zeros). */
static hy_status mc_mid(mc_weights *mw, uint64_t seed) {
    hy_param_table pt;
    HY_TRY(hy_config_parse(&mw->cfg, HY_MID_CFG, strlen(HY_MID_CFG), "mid-size config"));
    HY_TRY(hy_params_build(&pt, &mw->cfg));
    mw->total = pt.total;
    hy_status st = hy_malloc((void **)&mw->w, pt.total * 4, 1, "weights");
    if (!st) {
        hy_ckpt_init_weights(&pt, &mw->cfg, seed, mw->w);
        hy_test_rng r = {seed + 1};
        for (int i = 0; i < pt.count; i++) {
            const hy_param_desc *d = &pt.desc[i];
            if (d->init != HY_INIT_ONES && d->init != HY_INIT_ZEROS && d->init != HY_INIT_A_LOG) continue;
            for (size_t k = 0; k < d->numel; k++) mw->w[d->offset + k] += (float)(0.3 * hy_test_normal(&r));
        }
    }
    hy_params_free(&pt);
    return st;
}

/* Documents of the given lengths: random ids, ~20% ignored targets, the last
 * token of each document ignored. */
static void mc_batch(hy_test_rng *r, int n_docs, const int *lens, int32_t *ids, int32_t *tg, int V) {
    for (int d = 0, t = 0; d < n_docs; d++)
        for (int i = 0; i < lens[d]; i++, t++) {
            ids[t] = 1 + (int32_t)(hy_test_uniform(r) * (V - 1));
            tg[t] = hy_test_uniform(r) < 0.2 || i == lens[d] - 1 ? -100 : (int32_t)(hy_test_uniform(r) * V);
        }
}

/* Forward + backward (mean loss over valid targets) of one packed batch on
 * `ops` with weights w (host fp32). */
static hy_status mc_run(hy_ops *ops, const hy_config *cfg, const float *w, const hy_model_batch *b, int nt, mc_out *o) {
    memset(o, 0, sizeof *o);
    size_t V = (size_t)cfg->vocab_size;
    hy_model *m;
    HY_TRY(hy_model_create(&m, cfg, ops, nt, b->n_docs, 1));
    size_t total = hy_model_params(m)->total;
    o->logits = malloc(sizeof(float) * (size_t)nt * V);
    o->rows = malloc(sizeof(float) * (size_t)nt);
    o->grads = malloc(sizeof(float) * total);
    float *rw = malloc(sizeof(float) * (size_t)nt);
    hy_status st = (!o->logits || !o->rows || !o->grads || !rw) ? hy_errorf(HY_ERR_OOM, "test buffers") : HY_OK;
    if (!st) st = hy_model_set_weights(m, w);
    if (!st) st = hy_model_zero_grads(m);
    if (!st) st = hy_model_forward(m, b, o->rows, o->logits);
    int valid = 0;
    double sum = 0;
    for (int i = 0; !st && i < nt; i++)
        if (b->targets[i] >= 0) { valid++; sum += o->rows[i]; }
    for (int i = 0; !st && i < nt; i++) rw[i] = b->targets[i] >= 0 ? 1.0f / (float)valid : 0.0f;
    o->loss = valid ? sum / valid : NAN;
    if (!st) st = hy_model_backward(m, rw);
    if (!st) st = hy_model_get_grads(m, o->grads);
    free(rw);
    hy_model_free(m);
    return st;
}

/* ‖a−b‖₂ / ‖b‖₂ */
static double mc_rel_l2(const float *a, const float *b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)b[i] * b[i];
    }
    return sqrt(num) / (sqrt(den) > 1e-30 ? sqrt(den) : 1e-30);
}

/* GPU vs CPU: logits, loss, every gradient tensor and the whole gradient;
 * prints the worst of each class. */
static int mc_compare(const char *label, const hy_param_table *pt, const mc_out *g, const mc_out *c, size_t nlogits, size_t total,
                      mc_tol tol) {
    int bad = 0;
    double el = hy_test_rel_inf(g->logits, c->logits, nlogits), el2 = mc_rel_l2(g->logits, c->logits, nlogits);
    double eloss = fabs(g->loss - c->loss) / fabs(c->loss), eall = mc_rel_l2(g->grads, c->grads, total);
    /* the whole-vector bound is over the well-conditioned tensors: the
     * ill-conditioned ones have their own (noise-sized in bf16) bound and
     * would otherwise dominate it */
    double d2 = 0, r2 = 0;
    for (int i = 0; i < pt->count; i++) {
        const hy_param_desc *d = &pt->desc[i];
        if (mc_ill_conditioned(d->name)) continue;
        for (size_t j = d->offset; j < d->offset + d->numel; j++) {
            double e = (double)g->grads[j] - c->grads[j];
            d2 += e * e, r2 += (double)c->grads[j] * c->grads[j];
        }
    }
    double eglob = r2 > 0 ? sqrt(d2 / r2) : sqrt(d2);
    if (!(el <= tol.logits_inf) || !(el2 <= tol.logits_l2)) {
        char what[96];
        snprintf(what, sizeof what, "%s logits (l2 %.3g)", label, el2);
        hy_test_compare(what, g->logits, c->logits, nlogits, 0, tol.logits_inf);
        bad++;
    }
    bad += !(eloss <= tol.loss) + !(eglob <= tol.global_l2);
    double worst[2] = {0, 0}, worst_inf[2] = {0, 0};
    const char *wname[2] = {"", ""};
    for (int i = 0; i < pt->count; i++) {
        const hy_param_desc *d = &pt->desc[i];
        const float *a = g->grads + d->offset, *b = c->grads + d->offset;
        int ill = mc_ill_conditioned(d->name);
        double ei = hy_test_rel_inf(a, b, d->numel), e2 = mc_rel_l2(a, b, d->numel), lim = ill ? tol.ill_l2 : tol.grad_l2;
        if (e2 > worst[ill] || isnan(e2)) { worst[ill] = e2; wname[ill] = d->name; }
        if (ei > worst_inf[ill] || isnan(ei)) worst_inf[ill] = ei;
        if (!(e2 <= lim)) {
            fprintf(stderr, "  %s grad %s: rel l2 %.3g > %.1g (rel inf %.3g)\n", label, d->name, e2, lim, ei);
            hy_test_compare(d->name, a, b, d->numel, 0, 1);
            bad++;
        }
    }
    fprintf(stderr, "  %-22s logits inf %.3g l2 %.3g, loss %.3g (gpu %.7f cpu %.7f), gradient vector l2 %.3g (all tensors %.3g)%s\n",
            label, el, el2, eloss, g->loss, c->loss, eglob, eall, bad ? "  FAIL" : "");
    fprintf(stderr, "  %-22s gradients: worst l2 %.3g (inf %.3g) %s; ill-conditioned worst l2 %.3g (inf %.3g) %s\n", label, worst[0],
            worst_inf[0], wname[0], worst[1], worst_inf[1], wname[1]);
    return bad;
}

static int mc_same(const char *label, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float))) {
            fprintf(stderr, "  %s: run 2 differs from run 1 at %zu: %.9g vs %.9g\n", label, i, a[i], b[i]);
            return 1;
        }
    return 0;
}

/* The full check of one model: CPU vs GPU in both modes, and a repeated GPU
 * run bitwise equal to the first. */
static int mc_model_case(const char *name, mc_weights *mw, int n_docs, const int *lens, uint64_t seed) {
    int nt = 0;
    for (int d = 0; d < n_docs; d++) nt += lens[d];
    int32_t *ids = malloc(4 * (size_t)nt), *tg = malloc(4 * (size_t)nt);
    hy_test_rng r = {seed};
    mc_batch(&r, n_docs, lens, ids, tg, mw->cfg.vocab_size);
    hy_model_batch b = {.n_docs = n_docs, .doc_len = lens, .ids = ids, .targets = tg};
    hy_param_table pt;
    HY_EXPECT_OK(hy_params_build(&pt, &mw->cfg));
    size_t nl = (size_t)nt * mw->cfg.vocab_size;
    float *w16 = malloc(4 * mw->total);
    for (size_t i = 0; i < mw->total; i++) w16[i] = hy_bf16_to_f32(hy_f32_to_bf16(mw->w[i]));
    int bad = 0;
    for (int mode = 0; mode < 2; mode++) {
        const char *prec = mode ? "bf16" : "fp32";
        const float *w = mode ? w16 : mw->w;
        hy_ops *cpu, *gpu;
        HY_EXPECT_OK(hy_backend_create(&cpu, "cpu", "fp32"));
        HY_EXPECT_OK(hy_backend_create(&gpu, "cuda", prec));
        mc_out c, g1, g2;
        HY_EXPECT_OK(mc_run(cpu, &mw->cfg, w, &b, nt, &c));
        HY_EXPECT_OK(mc_run(gpu, &mw->cfg, w, &b, nt, &g1));
        HY_EXPECT_OK(mc_run(gpu, &mw->cfg, w, &b, nt, &g2));
        char label[64];
        snprintf(label, sizeof label, "%s %s", name, prec);
        bad += mc_compare(label, &pt, &g1, &c, nl, mw->total, mode ? MC_TOL_BF16 : MC_TOL_FP32);
        int nd = mc_same("logits", g1.logits, g2.logits, nl) + mc_same("row losses", g1.rows, g2.rows, (size_t)nt) +
                 mc_same("gradients", g1.grads, g2.grads, mw->total);
        fprintf(stderr, "  %-22s GPU run twice: %s\n", label, nd ? "DIFFERENT" : "bitwise identical");
        bad += nd;
        mc_out_free(&c);
        mc_out_free(&g1);
        mc_out_free(&g2);
        hy_backend_destroy(gpu);
        hy_backend_destroy(cpu);
    }
    hy_params_free(&pt);
    free(w16);
    free(ids);
    free(tg);
    return bad != 0;
}

HY_TEST(spec12_cpu_vs_cuda) {
    mc_weights mw;
    HY_EXPECT_OK(mc_spec12(&mw));
    /* M = 8, W = 16: documents shorter and longer than M + W, one of 1 token */
    int lens[4] = {37, 5, 61, 1};
    int bad = mc_model_case("spec12", &mw, 4, lens, 11);
    hy_free(mw.w);
    return bad;
}

HY_TEST(mid_15b_layout_cpu_vs_cuda) {
    mc_weights mw;
    HY_EXPECT_OK(mc_mid(&mw, 5));
    /* M = 128, W = 64: the first document's 300 tokens span 6 windows */
    int lens[3] = {300, 77, 9};
    int bad = mc_model_case("mid (1.5B heads)", &mw, 3, lens, 12);
    hy_free(mw.w);
    return bad;
}

/* ---- decoding ---- */

static hy_status mc_decode_model(hy_ops *ops, const mc_weights *mw, int max_text, hy_model **m) {
    HY_TRY(hy_model_create(m, &mw->cfg, ops, max_text, 1, 0));
    return hy_model_set_weights(*m, mw->w);
}

/* Prefill `pre` tokens (chunk 32), then step: every row of logits against the
 * same backend's full forward.  Returns the worst relative row error. */
static hy_status mc_decode_vs_forward(hy_ops *ops, const mc_weights *mw, int n, int pre, double *worst) {
    int V = mw->cfg.vocab_size;
    hy_model *m = NULL;
    hy_decode *d = NULL;
    int32_t *ids = malloc(4 * (size_t)n), *tg = malloc(4 * (size_t)n);
    float *full = malloc(4 * (size_t)n * V), *got = malloc(4 * (size_t)n * V);
    hy_test_rng r = {99};
    for (int i = 0; i < n; i++) { ids[i] = (int32_t)(hy_test_uniform(&r) * V); tg[i] = -100; }
    hy_model_batch b = {.n_docs = 1, .doc_len = &n, .ids = ids, .targets = tg};
    hy_decode_opts o = {.max_ctx = n, .chunk = 32};
    hy_status st = mc_decode_model(ops, mw, n, &m);
    if (!st) st = hy_model_forward(m, &b, NULL, full);
    if (!st) st = hy_decode_create(&d, m, &o);
    if (!st) st = hy_decode_prefill(d, ids, pre, got, 1);
    for (int i = pre; !st && i < n; i++) st = hy_decode_step(d, ids[i], got + (size_t)i * V);
    *worst = 0;
    for (int i = 0; !st && i < n; i++) {
        double e = hy_test_rel_inf(got + (size_t)i * V, full + (size_t)i * V, (size_t)V);
        if (e > *worst || isnan(e)) *worst = e;
    }
    hy_decode_free(d);
    hy_model_free(m);
    free(ids);
    free(tg);
    free(full);
    free(got);
    return st;
}

HY_TEST(decode_equals_forward_on_gpu_mid) {
    mc_weights mw;
    HY_EXPECT_OK(mc_mid(&mw, 8));
    /* 200 tokens after 128 meta tokens with W = 64: the ring (W + chunk slots)
     * wraps several times; prefill 100 in chunks of 32, then 100 steps.
     * fp32: the same ops as the forward with products of fewer rows (cuBLAS may
     * pick other kernels: fp32 rounding only): 2e-5 of the row's largest
     * logit.  bf16: different row counts round activations at different
     * points of the same math: 5e-2. */
    const double tol[2] = {2e-5, 5e-2};
    int bad = 0;
    for (int mode = 0; mode < 2; mode++) {
        hy_ops *gpu;
        HY_EXPECT_OK(hy_backend_create(&gpu, "cuda", mode ? "bf16" : "fp32"));
        double worst;
        HY_EXPECT_OK(mc_decode_vs_forward(gpu, &mw, 200, 100, &worst));
        fprintf(stderr, "  mid %s: decode vs full forward on the GPU, 200 tokens: worst row rel err %.3g (tol %.1g)\n", mode ? "bf16" : "fp32",
                worst, tol[mode]);
        bad += !(worst <= tol[mode]);
        hy_backend_destroy(gpu);
    }
    hy_free(mw.w);
    return bad != 0;
}

/* Greedy continuation of a prompt: `steps` argmax tokens. */
static hy_status mc_greedy(hy_ops *ops, const mc_weights *mw, const int32_t *prompt, int np, int steps, int32_t *out) {
    int V = mw->cfg.vocab_size;
    hy_model *m = NULL;
    hy_decode *d = NULL;
    float *lg = malloc(4 * (size_t)V);
    hy_decode_opts o = {.max_ctx = np + steps, .chunk = 16};
    hy_status st = mc_decode_model(ops, mw, 1, &m);
    if (!st) st = hy_decode_create(&d, m, &o);
    if (!st) st = hy_decode_prefill(d, prompt, np, lg, 0);
    for (int s = 0; !st && s < steps; s++) {
        int best = 0;
        for (int v = 1; v < V; v++)
            if (lg[v] > lg[best]) best = v;
        out[s] = best;
        if (s + 1 < steps) st = hy_decode_step(d, best, lg);
    }
    hy_decode_free(d);
    hy_model_free(m);
    free(lg);
    return st;
}

HY_TEST(greedy_fp32_gpu_equals_cpu) {
    mc_weights mw;
    HY_EXPECT_OK(mc_spec12(&mw));
    enum { NP = 12, STEPS = 48 };
    int32_t prompt[NP], a[STEPS], b[STEPS];
    hy_test_rng r = {4};
    for (int i = 0; i < NP; i++) prompt[i] = 3 + (int32_t)(hy_test_uniform(&r) * (mw.cfg.vocab_size - 3));
    hy_ops *cpu, *gpu;
    HY_EXPECT_OK(hy_backend_create(&cpu, "cpu", "fp32"));
    HY_EXPECT_OK(hy_backend_create(&gpu, "cuda", "fp32"));
    HY_EXPECT_OK(mc_greedy(cpu, &mw, prompt, NP, STEPS, a));
    HY_EXPECT_OK(mc_greedy(gpu, &mw, prompt, NP, STEPS, b));
    int first = -1;
    for (int i = 0; i < STEPS && first < 0; i++)
        if (a[i] != b[i]) first = i;
    fprintf(stderr, "  spec12 greedy, %d tokens after a %d-token prompt: %s", STEPS, NP, first < 0 ? "GPU fp32 == CPU\n" : "");
    if (first >= 0) fprintf(stderr, "first difference at token %d: gpu %d cpu %d\n", first, b[first], a[first]);
    hy_backend_destroy(gpu);
    hy_backend_destroy(cpu);
    hy_free(mw.w);
    return first >= 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
