/* test_dpo.c — the DPO objective and the export, fast cases:
 *   - every loss (sigmoid, conservative sigmoid, robust, hinge, ipo), the
 *     SFT term and length normalisation against hand-computed values, and
 *     ∂loss/∂S against central differences of the pair loss;
 *   - the model-level DPO gradient (objective micro → hy_model_backward)
 *     against finite differences of the objective's loss on the spec12
 *     model: a directional derivative per parameter tensor (sigmoid with
 *     label smoothing, SFT term and length normalisation) and one over all
 *     parameters for robust and ipo;
 *   - export → reload gives bitwise-identical logits (fp32; bf16 equals the
 *     original rounded to bf16), HF names and shapes, no trainer files,
 *     torch_dtype set, auto_map and *.py carried from --base, sharding with
 *     the index. */
#include <dirent.h>
#include <math.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/dtype.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "core/model.h"
#include "core/safetensors.h"
#include "dpo/dpo.h"
#include "kernels/backend.h"
#include "tests/harness.h"
#include "tests/train_util.h"

#define SPEC12 HY_SHARED_DIR "/reference/spec12"

static void hy_rmrf(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
}

/* ---------------------------------------------------------------- pair loss */

static int hy_close(const char *what, double got, double want, double tol) {
    if (fabs(got - want) <= tol * (1 + fabs(want))) return 0;
    fprintf(stderr, "  %s: got %.12g, want %.12g (diff %.3g)\n", what, got, want, got - want);
    return 1;
}

/* ∂loss/∂S_side by central differences of hy_dpo_pair_loss. */
static int hy_check_dS(const char *what, const hy_dpo_params *p, const hy_dpo_pair_in *in, const hy_dpo_pair_out *out) {
    int bad = 0;
    for (int s = 0; s < 2; s++) {
        hy_dpo_pair_in a = *in, b = *in;
        hy_dpo_pair_out oa, ob;
        const double h = 1e-5;
        a.pol[s] += h;
        b.pol[s] -= h;
        hy_dpo_pair_loss(p, &a, &oa);
        hy_dpo_pair_loss(p, &b, &ob);
        char label[96];
        snprintf(label, sizeof label, "%s dS[%d] vs central difference", what, s);
        bad += hy_close(label, out->dS[s], (oa.loss - ob.loss) / (2 * h), 1e-6);
    }
    return bad;
}

HY_TEST(pair_losses_by_hand) {
    /* S (summed log-probs): policy −10 / −14, reference −11 / −12, 5 and 8
     * targets; β = 0.1: Δ = (−10+11) − (−14+12) = 3, x = βΔ = 0.3. */
    hy_dpo_pair_in in = {{-10, -14}, {-11, -12}, {5, 8}};
    const double b = 0.1, x = 0.3;
    const double sig = 1 / (1 + exp(-x)); /* σ(0.3) */
    const double nls = log1p(exp(-x));    /* −log σ(0.3) = 0.554355244... */
    const double nlsn = log1p(exp(x));    /* −log σ(−0.3) */
    struct {
        const char *name;
        hy_dpo_params p;
        double loss, dSc, dSr;
    } cases[] = {
        {"sigmoid", {HY_DPO_LOSS_SIGMOID, b, 0, 0, 0}, nls, b * (sig - 1), -b * (sig - 1)},
        {"sigmoid eps=0.1 (cDPO)", {HY_DPO_LOSS_SIGMOID, b, 0.1, 0, 0}, 0.9 * nls + 0.1 * nlsn, b * (sig - 0.9), -b * (sig - 0.9)},
        {"robust eps=0.2", {HY_DPO_LOSS_ROBUST, b, 0.2, 0, 0}, (0.8 * nls - 0.2 * nlsn) / 0.6, b * (sig - 0.8 / 0.6),
         -b * (sig - 0.8 / 0.6)},
        {"hinge (x < 1)", {HY_DPO_LOSS_HINGE, b, 0, 0, 0}, 1 - x, -b, b},
        {"hinge (x > 1)", {HY_DPO_LOSS_HINGE, 1.0, 0, 0, 0}, 0, 0, 0},
        /* ipo on per-token averages: Δ = (−2 + 2.2) − (−1.75 + 1.5) = 0.45; (0.45 − 5)² */
        {"ipo", {HY_DPO_LOSS_IPO, b, 0, 0, 0}, (0.45 - 5) * (0.45 - 5), 2 * (0.45 - 5) / 5, -2 * (0.45 - 5) / 8},
    };
    int bad = 0;
    for (size_t i = 0; i < HY_ARRAY_LEN(cases); i++) {
        hy_dpo_pair_out o;
        hy_dpo_pair_loss(&cases[i].p, &in, &o);
        bad += hy_close(cases[i].name, o.loss, cases[i].loss, 1e-12);
        bad += hy_close(cases[i].name, o.dS[0], cases[i].dSc, 1e-12);
        bad += hy_close(cases[i].name, o.dS[1], cases[i].dSr, 1e-12);
        if (cases[i].p.loss != HY_DPO_LOSS_HINGE) bad += hy_check_dS(cases[i].name, &cases[i].p, &in, &o);
    }
    HY_EXPECT(hy_close("literal sigmoid loss", nls, 0.5543552444685271, 1e-15) == 0);
    /* rewards and logps (summed): β(π − ρ) */
    hy_dpo_pair_out o;
    hy_dpo_pair_loss(&cases[0].p, &in, &o);
    bad += hy_close("reward chosen", o.reward[0], 0.1 * (-10 + 11), 1e-15);
    bad += hy_close("reward rejected", o.reward[1], 0.1 * (-14 + 12), 1e-15);
    bad += hy_close("logp chosen", o.logp[0], -10, 0) + hy_close("ref logp rejected", o.ref_logp[1], -12, 0);
    bad += hy_close("nll", o.nll, 2.0, 1e-15);
    return bad != 0;
}

HY_TEST(sft_term_and_length_normalisation) {
    hy_dpo_pair_in in = {{-10, -14}, {-11, -12}, {5, 8}};
    /* normalised: π = (−2, −1.75), ρ = (−2.2, −1.5): Δ = 0.45, x = 0.045 */
    hy_dpo_params p = {HY_DPO_LOSS_SIGMOID, 0.1, 0, 0.5, 1};
    hy_dpo_pair_out o;
    hy_dpo_pair_loss(&p, &in, &o);
    const double x = 0.045, sig = 1 / (1 + exp(-x)), g = 0.1 * (sig - 1);
    int bad = 0;
    bad += hy_close("loss", o.loss, log1p(exp(-x)) + 0.5 * (10.0 / 5), 1e-12);
    bad += hy_close("dSc", o.dS[0], g / 5 - 0.5 / 5, 1e-12);
    bad += hy_close("dSr", o.dS[1], -g / 8, 1e-12);
    bad += hy_close("logp chosen (mean)", o.logp[0], -2.0, 1e-15) + hy_close("ref logp rejected (mean)", o.ref_logp[1], -1.5, 1e-15);
    bad += hy_close("reward chosen", o.reward[0], 0.1 * 0.2, 1e-12);
    bad += hy_check_dS("normalised + sft", &p, &in, &o);
    /* SFT term alone on the summed loss: +α·Sc/nc, gradient −α/nc on the chosen side only */
    hy_dpo_params q = {HY_DPO_LOSS_SIGMOID, 0.1, 0, 0.25, 0}, q0 = q;
    q0.sft_weight = 0;
    hy_dpo_pair_out a, z;
    hy_dpo_pair_loss(&q, &in, &a);
    hy_dpo_pair_loss(&q0, &in, &z);
    bad += hy_close("sft term", a.loss - z.loss, 0.25 * 2.0, 1e-12);
    bad += hy_close("sft dSc", a.dS[0] - z.dS[0], -0.25 / 5, 1e-12) + hy_close("sft dSr", a.dS[1] - z.dS[1], 0, 0);
    /* extreme logits stay finite: x = ±400 */
    hy_dpo_pair_in big = {{0, -4000}, {0, 0}, {3, 3}};
    hy_dpo_params s = {HY_DPO_LOSS_SIGMOID, 0.1, 0.1, 0, 0};
    hy_dpo_pair_loss(&s, &big, &o);
    bad += !(isfinite(o.loss) && isfinite(o.dS[0]));
    bad += hy_close("eps·400 at x = 400", o.loss, 0.1 * 400, 1e-9);
    return bad != 0;
}

/* ---------------------------------------------------------------- model-level gradient */

enum { HY_NT = 52, HY_ND = 4 };

typedef struct {
    hy_microbatch mb;
    int32_t len[HY_ND], start[HY_ND + 1], sup[HY_ND], pair[HY_ND], plen[HY_ND], src[HY_ND];
    int64_t sample[HY_ND];
    uint8_t chosen[HY_ND];
    int32_t ids[HY_NT], labels[HY_NT];
} hy_pairs_mb;

/* Two pairs (chosen 14 / rejected 11 tokens with a 6-token prompt; 18 / 9
 * with an 8-token prompt): 18 + 8 meta rows exceed M + W + 1 = 25. */
static void hy_pairs_build(hy_pairs_mb *p, hy_test_rng *r, int V) {
    memset(p, 0, sizeof *p);
    const int lens[HY_ND] = {14, 11, 18, 9}, prompts[HY_ND] = {6, 6, 8, 8};
    int t = 0;
    for (int d = 0; d < HY_ND; d++) {
        p->len[d] = lens[d];
        p->start[d] = t;
        p->pair[d] = d / 2;
        p->chosen[d] = d % 2 == 0;
        p->plen[d] = prompts[d];
        p->sample[d] = d / 2;
        for (int i = 0; i < lens[d]; i++, t++) {
            /* the two sides of a pair share the prompt */
            p->ids[t] = d % 2 && i < prompts[d] ? p->ids[p->start[d - 1] + i] : 1 + (int32_t)(hy_test_uniform(r) * (V - 1));
            p->labels[t] = i >= prompts[d] ? p->ids[t] : -100;
            p->sup[d] += i >= prompts[d];
        }
    }
    p->start[HY_ND] = t;
    hy_microbatch *mb = &p->mb;
    mb->n_docs = HY_ND;
    mb->n_tokens = t;
    mb->n_pairs = HY_ND / 2;
    mb->doc_len = p->len;
    mb->doc_start = p->start;
    mb->doc_sup = p->sup;
    mb->ids = p->ids;
    mb->labels = p->labels;
    mb->pair_id = p->pair;
    mb->is_chosen = p->chosen;
    mb->prompt_len = p->plen;
    mb->source = p->src;
    mb->sample = p->sample;
}

/* A fixed reference: Σ log p = −3·(targets) − 0.7·doc, counts from the targets. */
static hy_status hy_fixed_ref(void *self, const hy_microbatch *mb, int split, const int32_t *targets, double *sum, int64_t *count) {
    (void)self;
    (void)split;
    for (int d = 0; d < mb->n_docs; d++) {
        int64_t n = 0;
        for (int i = mb->doc_start[d]; i < mb->doc_start[d] + mb->doc_len[d]; i++) n += targets[i] >= 0;
        count[d] = n;
        sum[d] = -3.0 * (double)n - 0.7 * d;
    }
    return HY_OK;
}

typedef struct {
    hy_ops *ops;
    hy_model *m;
    hy_recipe r;
    hy_dpo d;
    hy_objective obj;
    float *w0;
    size_t total;
} hy_fd_env;

static hy_status hy_fd_open(hy_fd_env *e, hy_dpo_loss loss, double beta, double eps, double alpha, int norm) {
    memset(e, 0, sizeof *e);
    HY_TRY(hy_backend_cpu_create(&e->ops, 1)); /* tiny model: one thread is fastest on a busy machine */
    HY_TRY(hy_model_open(&e->m, SPEC12, e->ops, HY_NT, HY_ND, 1));
    e->total = hy_model_params(e->m)->total;
    HY_TRY(hy_malloc((void **)&e->w0, e->total * 4, 0, "weights"));
    HY_TRY(hy_model_get_weights(e->m, e->w0));
    HY_TRY(hy_recipe_defaults(&e->r));
    e->r.data.tokens_per_micro_batch = 128;
    e->r.dpo.loss = loss;
    e->r.dpo.beta = beta;
    e->r.dpo.label_smoothing = eps;
    e->r.dpo.sft_weight = alpha;
    e->r.dpo.length_normalize = norm;
    HY_TRY(hy_dpo_init(&e->d, &e->obj, &e->r));
    e->d.ref = (hy_dpo_ref){NULL, hy_fixed_ref};
    return HY_OK;
}

static void hy_fd_close(hy_fd_env *e) {
    hy_dpo_free(&e->d);
    hy_recipe_free(&e->r);
    hy_model_free(e->m);
    hy_backend_cpu_destroy(e->ops);
    hy_free(e->w0);
}

/* The objective's mean pair loss at weights w. */
static double hy_fd_loss(hy_fd_env *e, const hy_microbatch *mb, const float *w) {
    hy_obj_acc acc;
    memset(&acc, 0, sizeof acc);
    if (hy_model_set_weights(e->m, w) || e->obj.micro(e->obj.self, e->m, mb, (double)mb->n_pairs, 0, &acc)) return NAN;
    return acc.loss_sum / (double)mb->n_pairs;
}

/* Directional derivative along `dir` over [off, off+n): FD vs analytic g. */
static int hy_fd_direction(hy_fd_env *e, const hy_microbatch *mb, const float *g, const float *dir, size_t off, size_t n, const char *name) {
    double rms = 0, analytic = 0, norm = 0;
    for (size_t k = 0; k < n; k++) rms += (double)e->w0[off + k] * e->w0[off + k];
    rms = sqrt(rms / (double)n);
    double h = 1e-3 * (rms > 0.05 ? rms : 0.05);
    float *w = malloc(4 * e->total);
    for (size_t k = 0; k < n; k++) {
        analytic += (double)dir[k] * g[off + k];
        norm += (double)dir[k] * dir[k];
    }
    memcpy(w, e->w0, 4 * e->total);
    for (size_t k = 0; k < n; k++) w[off + k] = (float)(e->w0[off + k] + h * dir[k]);
    double lp = hy_fd_loss(e, mb, w);
    for (size_t k = 0; k < n; k++) w[off + k] = (float)(e->w0[off + k] - h * dir[k]);
    double lm = hy_fd_loss(e, mb, w);
    free(w);
    double fd = (lp - lm) / (2 * h);
    /* fp32 forward noise of an O(1) loss over a direction of this size */
    double err = fabs(fd - analytic), tol = 2e-2 * fabs(analytic) + sqrt(norm) * 2e-4;
    if (err > tol || isnan(err)) {
        fprintf(stderr, "  %-50s fd %.6g analytic %.6g err %.3g tol %.3g\n", name, fd, analytic, err, tol);
        return 1;
    }
    return 0;
}

static hy_status hy_fd_grads(hy_fd_env *e, const hy_microbatch *mb, float *g, double *loss) {
    hy_obj_acc acc;
    memset(&acc, 0, sizeof acc);
    HY_TRY(hy_model_set_weights(e->m, e->w0));
    HY_TRY(hy_model_zero_grads(e->m));
    HY_TRY(e->obj.micro(e->obj.self, e->m, mb, (double)mb->n_pairs, 1, &acc));
    *loss = acc.loss_sum / (double)mb->n_pairs;
    return hy_model_get_grads(e->m, g);
}

HY_TEST(model_gradient_vs_finite_differences) {
    hy_fd_env e;
    HY_EXPECT_OK(hy_fd_open(&e, HY_DPO_LOSS_SIGMOID, 0.5, 0.1, 0.3, 1));
    hy_test_rng r = {11};
    hy_pairs_mb p;
    hy_pairs_build(&p, &r, hy_model_config(e.m)->vocab_size);
    float *g = malloc(4 * e.total), *dir = malloc(4 * e.total);
    double loss;
    HY_EXPECT_OK(hy_fd_grads(&e, &p.mb, g, &loss));
    const hy_param_table *pt = hy_model_params(e.m);
    int bad = 0;
    for (int i = 0; i < pt->count; i++) {
        const hy_param_desc *d = &pt->desc[i];
        for (size_t k = 0; k < d->numel; k++) dir[k] = (float)hy_test_normal(&r);
        bad += hy_fd_direction(&e, &p.mb, g, dir, d->offset, d->numel, d->name);
    }
    fprintf(stderr, "  sigmoid (eps 0.1, sft 0.3, normalised): loss %.6f; %d of %d tensors disagree with finite differences\n", loss,
            bad, pt->count);
    free(g);
    free(dir);
    hy_fd_close(&e);
    return bad != 0;
}

HY_TEST(model_gradient_robust_and_ipo) {
    const struct {
        const char *name;
        hy_dpo_loss loss;
        double beta, eps, alpha;
        int norm;
    } cfg[] = {{"robust eps 0.2, summed", HY_DPO_LOSS_ROBUST, 0.2, 0.2, 0, 0}, {"ipo beta 0.5", HY_DPO_LOSS_IPO, 0.5, 0, 0, 0},
               {"sigmoid, summed, sft 1", HY_DPO_LOSS_SIGMOID, 0.1, 0, 1.0, 0}};
    int bad = 0;
    for (size_t c = 0; c < HY_ARRAY_LEN(cfg); c++) {
        hy_fd_env e;
        HY_EXPECT_OK(hy_fd_open(&e, cfg[c].loss, cfg[c].beta, cfg[c].eps, cfg[c].alpha, cfg[c].norm));
        hy_test_rng r = {21 + c};
        hy_pairs_mb p;
        hy_pairs_build(&p, &r, hy_model_config(e.m)->vocab_size);
        float *g = malloc(4 * e.total), *dir = malloc(4 * e.total);
        double loss;
        HY_EXPECT_OK(hy_fd_grads(&e, &p.mb, g, &loss));
        /* one random direction over every parameter, and one over the embedding */
        for (size_t k = 0; k < e.total; k++) dir[k] = (float)hy_test_normal(&r);
        int b = hy_fd_direction(&e, &p.mb, g, dir, 0, e.total, cfg[c].name);
        const hy_param_desc *emb = hy_params_get(hy_model_params(e.m), -1, HY_P_EMBED);
        b += hy_fd_direction(&e, &p.mb, g, dir, emb->offset, emb->numel, cfg[c].name);
        fprintf(stderr, "  %-24s loss %.6f: %s\n", cfg[c].name, loss, b ? "DISAGREES" : "gradient matches finite differences");
        bad += b;
        free(g);
        free(dir);
        hy_fd_close(&e);
    }
    return bad != 0;
}

HY_TEST(micro_batch_layout_errors) {
    hy_fd_env e;
    HY_EXPECT_OK(hy_fd_open(&e, HY_DPO_LOSS_SIGMOID, 0.1, 0, 0, 0));
    hy_test_rng r = {5};
    hy_pairs_mb p;
    hy_pairs_build(&p, &r, hy_model_config(e.m)->vocab_size);
    hy_obj_acc acc;
    memset(&acc, 0, sizeof acc);
    p.chosen[0] = 0; /* rejected first */
    HY_EXPECT_ERR(e.obj.micro(e.obj.self, e.m, &p.mb, 2, 0, &acc), "not (chosen, rejected)");
    p.chosen[0] = 1;
    p.mb.n_pairs = 0; /* an SFT micro-batch */
    HY_EXPECT_ERR(e.obj.micro(e.obj.self, e.m, &p.mb, 2, 0, &acc), "needs preference pairs");
    HY_EXPECT(e.obj.units(e.obj.self, &p.mb) == 0);
    hy_fd_close(&e);
    return 0;
}

/* ---------------------------------------------------------------- export */

static int hy_run_ok(const char *cmd) {
    char *out = NULL;
    int rc = hy_test_run(cmd, &out);
    if (rc) fprintf(stderr, "  %s\n  -> exit %d:\n%s\n", cmd, rc, out ? out : "");
    free(out);
    return rc;
}

/* Logits of a fixed two-document batch for the model in `dir`; when `round`
 * the weights are rounded to bf16 first. */
static hy_status hy_logits_of(const char *dir, int round, float **logits, size_t *n) {
    hy_ops *ops;
    HY_TRY(hy_backend_cpu_create(&ops, 1));
    hy_model *m;
    hy_status st = hy_model_open(&m, dir, ops, 64, 2, 0);
    if (st) { hy_backend_cpu_destroy(ops); return st; }
    size_t total = hy_model_params(m)->total;
    int V = hy_model_config(m)->vocab_size;
    float *w = NULL;
    if (round) {
        st = hy_malloc((void **)&w, total * 4, 0, "weights");
        if (!st) st = hy_model_get_weights(m, w);
        for (size_t i = 0; !st && i < total; i++) w[i] = hy_bf16_to_f32(hy_f32_to_bf16(w[i]));
        if (!st) st = hy_model_set_weights(m, w);
        hy_free(w);
    }
    int32_t lens[2] = {30, 21}, ids[51], tg[51];
    for (int i = 0; i < 51; i++) {
        ids[i] = 3 + (i * 37) % (V - 3);
        tg[i] = -100;
    }
    hy_model_batch b = {2, lens, ids, tg};
    *n = (size_t)51 * (size_t)V;
    *logits = malloc(*n * 4);
    if (!st) st = hy_model_forward(m, &b, NULL, *logits);
    hy_model_free(m);
    hy_backend_cpu_destroy(ops);
    return st;
}

/* Every file of `dir` is one of `allowed` ('|'-separated); "*.py" and
 * "model-*-of-*.safetensors" are allowed when `extra`. */
static int hy_only_files(const char *dir, const char *allowed, int extra) {
    DIR *d = opendir(dir);
    if (!d) return 1;
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char pat[300];
        snprintf(pat, sizeof pat, "|%s|", e->d_name);
        size_t n = strlen(e->d_name);
        int shard = !strncmp(e->d_name, "model-", 6) && strstr(e->d_name, "-of-") && n > 12 && !strcmp(e->d_name + n - 12, ".safetensors");
        if (strstr(allowed, pat) || (extra && ((n > 3 && !strcmp(e->d_name + n - 3, ".py")) || shard))) continue;
        fprintf(stderr, "  unexpected file in the export: %s\n", e->d_name);
        bad++;
    }
    closedir(d);
    return bad;
}

/* Tensor names and shapes of the export = the parameter table (HF layout). */
static int hy_check_layout(const char *dir, hy_dtype want) {
    hy_config cfg;
    hy_param_table pt;
    if (hy_ckpt_load_config(dir, &cfg) || hy_params_build(&pt, &cfg)) return 1;
    char idx[600];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", dir);
    hy_json *index = NULL;
    if (hy_fs_exists(idx) && hy_json_load_file(&index, idx)) return 1;
    int bad = 0, seen = 0;
    for (int i = 0; i < pt.count; i++) {
        const hy_param_desc *d = &pt.desc[i];
        char file[600];
        const char *shard = index ? hy_json_str(hy_json_get(hy_json_get(index, "weight_map"), d->name)) : "model.safetensors";
        if (!shard) { fprintf(stderr, "  %s missing from the index\n", d->name); bad++; continue; }
        snprintf(file, sizeof file, "%s/%s", dir, shard);
        hy_st_file *f;
        if (hy_st_open(&f, file)) { fprintf(stderr, "  %s: %s\n", file, hy_last_error()); bad++; continue; }
        const hy_st_tensor *t = hy_st_find(f, d->name);
        int ok = t && t->dtype == want && t->ndim == d->ndim;
        for (int k = 0; ok && k < d->ndim; k++) ok = t->shape[k] == d->shape[k];
        if (!ok) { fprintf(stderr, "  %s: missing, wrong dtype or shape in %s\n", d->name, shard); bad++; }
        seen += ok;
        hy_st_close(f);
    }
    if (index) {
        size_t n = hy_json_len(hy_json_get(index, "weight_map"));
        if (n != (size_t)pt.count) { fprintf(stderr, "  index names %zu tensors, the table has %d\n", n, pt.count); bad++; }
        hy_json_free(index);
    }
    fprintf(stderr, "  %d of %d tensors with their Hugging Face names and shapes%s\n", seen, pt.count, index ? " (sharded)" : "");
    hy_params_free(&pt);
    return bad;
}

static int hy_config_has(const char *dir, const char *key, const char *str_value) {
    char p[600];
    snprintf(p, sizeof p, "%s/config.json", dir);
    hy_json *j;
    if (hy_json_load_file(&j, p)) return 0;
    hy_json *v = hy_json_get(j, key);
    int ok = v && (!str_value || (hy_json_str(v) && !strcmp(hy_json_str(v), str_value)));
    hy_json_free(j);
    return ok;
}

HY_TEST(export_fp32_roundtrip_and_layout) {
    char dir[256], cmd[2048];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "export") == 0);
    /* a training checkpoint: the model plus trainer files that must not be exported */
    snprintf(cmd, sizeof cmd, "cp -r %s/base %s/ckpt && echo '{}' > %s/ckpt/trainer_state.json && cp %s/base/model.safetensors %s/ckpt/trainer_state.safetensors "
             "&& echo 'x: 1' > %s/ckpt/recipe.yaml && echo '{}' > %s/ckpt/metrics.jsonl", dir, dir, dir, dir, dir, dir, dir);
    HY_EXPECT(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s export %s/ckpt --out %s/exp --dtype fp32", hy_test_hymba(), dir, dir);
    HY_EXPECT(hy_run_ok(cmd) == 0);
    char exp[400], base[400];
    snprintf(exp, sizeof exp, "%s/exp", dir);
    snprintf(base, sizeof base, "%s/base", dir);
    HY_EXPECT(hy_only_files(exp, "|model.safetensors|config.json|generation_config.json|tokenizer.json|tokenizer_config.json|"
                                 "special_tokens_map.json|", 1) == 0);
    HY_EXPECT(hy_check_layout(exp, HY_DTYPE_F32) == 0);
    HY_EXPECT(hy_config_has(exp, "torch_dtype", "float32"));
    HY_EXPECT(hy_config_has(exp, "auto_map", NULL));
    float *a, *b;
    size_t na, nb;
    HY_EXPECT_OK(hy_logits_of(base, 0, &a, &na));
    HY_EXPECT_OK(hy_logits_of(exp, 0, &b, &nb));
    HY_EXPECT(na == nb);
    HY_EXPECT_MSG(memcmp(a, b, na * 4) == 0, "exported fp32 logits differ (max rel %.3g)", hy_test_rel_inf(b, a, na));
    fprintf(stderr, "  fp32 export: %zu logits bitwise identical after reload\n", na);
    free(a);
    free(b);
    /* an existing output is not replaced without --force */
    char *out = NULL;
    HY_EXPECT(hy_test_run(cmd, &out) != 0 && out && strstr(out, "--force"));
    free(out);
    /* a run directory resolves to its newest step-N checkpoint */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/run && cp -r %s/ckpt %s/run/step-000007 && %s export %s/run --out %s/exp2", dir, dir, dir,
             hy_test_hymba(), dir, dir);
    HY_EXPECT(hy_run_ok(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/exp2", dir);
    HY_EXPECT(hy_config_has(cmd, "torch_dtype", "float32"));
    hy_rmrf(dir);
    return 0;
}

HY_TEST(export_bf16_sharded_with_base) {
    char dir[256], cmd[4096];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "export16") == 0);
    /* checkpoint without auto_map; a base directory with auto_map and remote code */
    char ck[300], basedir[300], exp[300], base[300];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    snprintf(basedir, sizeof basedir, "%s/hfbase", dir);
    snprintf(exp, sizeof exp, "%s/exp", dir);
    snprintf(base, sizeof base, "%s/base", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s && cp %s/model.safetensors %s/ && cp %s/config.json %s/ && cp %s/tokenizer.json %s/tokenizer_config.json %s/ "
             "&& echo 'class HymbaConfig: pass' > %s/configuration_hymba.py && echo 'class HymbaForCausalLM: pass' > %s/modeling_hymba.py",
             ck, basedir, base, ck, base, basedir, base, base, basedir, basedir, basedir);
    HY_EXPECT(system(cmd) == 0);
    hy_config cfg;
    char p[500];
    HY_EXPECT_OK(hy_ckpt_load_config(base, &cfg));
    snprintf(p, sizeof p, "%s/config.json", ck);
    HY_EXPECT_OK(hy_config_save(NULL, &cfg, p, "float32")); /* synthesised: no auto_map */
    HY_EXPECT(!hy_config_has(ck, "auto_map", NULL));
    snprintf(cmd, sizeof cmd, "%s export %s --out %s --dtype bf16 --base %s --shard-size 300K", hy_test_hymba(), ck, exp, basedir);
    HY_EXPECT(hy_run_ok(cmd) == 0);
    HY_EXPECT(hy_check_layout(exp, HY_DTYPE_BF16) == 0);
    snprintf(p, sizeof p, "%s/model.safetensors.index.json", exp);
    HY_EXPECT(hy_fs_exists(p));
    snprintf(p, sizeof p, "%s/model.safetensors", exp);
    HY_EXPECT(!hy_fs_exists(p));
    HY_EXPECT(hy_config_has(exp, "torch_dtype", "bfloat16"));
    HY_EXPECT(hy_config_has(exp, "auto_map", NULL));
    snprintf(p, sizeof p, "%s/modeling_hymba.py", exp);
    HY_EXPECT(hy_fs_exists(p));
    snprintf(p, sizeof p, "%s/configuration_hymba.py", exp);
    HY_EXPECT(hy_fs_exists(p));
    snprintf(p, sizeof p, "%s/generation_config.json", exp); /* synthesised from the token ids */
    HY_EXPECT(hy_fs_exists(p));
    HY_EXPECT(hy_only_files(exp, "|model.safetensors.index.json|config.json|generation_config.json|tokenizer.json|tokenizer_config.json|", 1) == 0);
    float *a, *b;
    size_t na, nb;
    HY_EXPECT_OK(hy_logits_of(base, 1, &a, &na));
    HY_EXPECT_OK(hy_logits_of(exp, 0, &b, &nb));
    HY_EXPECT(na == nb);
    HY_EXPECT_MSG(memcmp(a, b, na * 4) == 0, "bf16 export logits differ from the bf16-rounded model (max rel %.3g)", hy_test_rel_inf(b, a, na));
    fprintf(stderr, "  bf16 sharded export: logits bitwise equal to the original rounded to bf16\n");
    free(a);
    free(b);
    hy_rmrf(dir);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
