/* test_optim.c — AdamW against hand-computed values (bias correction at t=1
 * and t=2, weight decay on and off by parameter class), the global norm and
 * clipping coefficient, finiteness checks, determinism across thread counts,
 * and every schedule's lr at its boundary steps against its formula. */
#include <omp.h>

#include "core/optim.h"
#include "tests/harness.h"

/* ---------------------------------------------------------------- helpers */

/* A hand-made parameter table: tensors of the given classes and sizes laid
 * out with HY_PARAM_ALIGN alignment gaps, as params.c lays them out. */
typedef struct {
    hy_param_table t;
    hy_param_desc d[8];
} fake_table;

static void fake_build(fake_table *f, int n, const hy_param_class *cls, const size_t *numel) {
    memset(f, 0, sizeof *f);
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        hy_param_desc *d = &f->d[i];
        snprintf(d->name, sizeof d->name, "p%d", i);
        d->layer = -1;
        d->ndim = 1;
        d->shape[0] = (int64_t)numel[i];
        d->numel = numel[i];
        d->offset = off;
        d->cls = cls[i];
        off += HY_CEIL_DIV(numel[i], (size_t)HY_PARAM_ALIGN) * HY_PARAM_ALIGN;
        f->t.n_params += numel[i];
    }
    f->t.count = n;
    f->t.desc = f->d;
    f->t.total = off;
}

static const unsigned DEFAULT_NO_DECAY = (1u << HY_PCLASS_NORM) | (1u << HY_PCLASS_BIAS) | (1u << HY_PCLASS_EMBED) |
                                         (1u << HY_PCLASS_META) | (1u << HY_PCLASS_SSM);

static int near(double got, double want, double rtol, const char *what) {
    double err = fabs(got - want);
    if (err > rtol * fabs(want) + 1e-12) {
        fprintf(stderr, "  %s: got %.12g want %.12g (abs err %.3g, rel %.3g)\n", what, got, want, err,
                err / (fabs(want) > 0 ? fabs(want) : 1));
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- groups */

HY_TEST(groups_by_class) {
    hy_param_class cls[5] = {HY_PCLASS_EMBED, HY_PCLASS_MATRIX, HY_PCLASS_MATRIX, HY_PCLASS_NORM, HY_PCLASS_SSM};
    size_t numel[5] = {40, 33, 7, 5, 3};
    fake_table f;
    fake_build(&f, 5, cls, numel);
    hy_optim_groups g;
    HY_EXPECT_OK(hy_optim_groups_build(&g, &f.t, DEFAULT_NO_DECAY));
    /* embed | matrix, matrix (merged) | norm, ssm (merged) */
    HY_EXPECT_MSG(g.count == 3, "count %d", g.count);
    HY_EXPECT(g.ranges[0].decay == 0 && g.ranges[0].offset == 0 && g.ranges[0].numel == 40);
    HY_EXPECT(g.ranges[1].decay == 1 && g.ranges[1].offset == 64 && g.ranges[1].numel == 128 + 7 - 64);
    HY_EXPECT(g.ranges[2].decay == 0 && g.ranges[2].offset == 160 && g.ranges[2].numel == 192 + 3 - 160);
    HY_EXPECT(g.n_decay == 40 && g.n_nodecay == 48);
    hy_optim_groups_free(&g);
    /* no exclusions: everything decays, one range */
    HY_EXPECT_OK(hy_optim_groups_build(&g, &f.t, 0));
    HY_EXPECT(g.count == 1 && g.ranges[0].decay == 1 && g.ranges[0].numel == 195 && g.n_decay == 88);
    hy_optim_groups_free(&g);
    return 0;
}

/* ---------------------------------------------------------------- AdamW */

/* Reference written the way the issue states it (not torch's op order). */
static double ref_adamw(double p, double g, double *m, double *v, int t, double lr, double wd, int decay) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    if (decay) p -= lr * wd * p;
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + (1 - b2) * g * g;
    double mhat = *m / (1 - pow(b1, t)), vhat = *v / (1 - pow(b2, t));
    return p - lr * mhat / (sqrt(vhat) + eps);
}

HY_TEST(adamw_two_steps_by_hand) {
    /* tensor 0: matrix (decays), tensor 1: norm (no decay by default) */
    hy_param_class cls[2] = {HY_PCLASS_MATRIX, HY_PCLASS_NORM};
    size_t numel[2] = {2, 2};
    fake_table f;
    fake_build(&f, 2, cls, numel);
    hy_optim_groups g;
    HY_EXPECT_OK(hy_optim_groups_build(&g, &f.t, DEFAULT_NO_DECAY));
    float p[64] = {0}, gr[64] = {0}, m[64] = {0}, v[64] = {0};
    p[0] = 1.0f, p[1] = -2.0f, p[32] = 1.0f, p[33] = -2.0f;
    const hy_adamw_hparams h = {0.9, 0.999, 1e-8, 0.1};
    const double lr = 0.1;
    /* t = 1: m̂ = g, v̂ = g², so the step is lr·g/(|g|+ε) ≈ lr·sign(g).
     * decayed: 1·(1 − 0.01) − 0.1 = 0.89;  not decayed: 1 − 0.1 = 0.9 */
    gr[0] = 0.5f, gr[1] = 0.1f, gr[32] = 0.5f, gr[33] = 0.1f;
    hy_adamw_step(&h, &g, 1, lr, 1.0f, p, gr, m, v);
    HY_EXPECT(near(p[0], 0.89, 1e-6, "t=1 decayed p0"));
    HY_EXPECT(near(p[1], -2.0 * 0.99 - 0.1, 1e-6, "t=1 decayed p1"));
    HY_EXPECT(near(p[32], 0.9, 1e-6, "t=1 no-decay p0"));
    HY_EXPECT(near(p[33], -2.1, 1e-6, "t=1 no-decay p1"));
    HY_EXPECT(near(m[0], 0.05, 1e-6, "m after t=1") && near(v[0], 0.00025, 1e-6, "v after t=1"));
    /* t = 2: bias corrections 1−0.9² = 0.19 and 1−0.999² = 0.001999.
     * decayed p0: m = 0.02, v = 0.00031225, p = 0.89·0.99 − 0.1·(0.02/0.19)/sqrt(0.00031225/0.001999)
     *           = 0.8811 − 0.0266334… = 0.854466… */
    gr[0] = -0.25f, gr[1] = 0.1f, gr[32] = -0.25f, gr[33] = 0.1f;
    hy_adamw_step(&h, &g, 2, lr, 1.0f, p, gr, m, v);
    HY_EXPECT(near(m[0], 0.02, 1e-5, "m after t=2") && near(v[0], 0.00031225, 1e-5, "v after t=2"));
    HY_EXPECT(near(p[0], 0.8811 - 0.1 * (0.02 / 0.19) / sqrt(0.00031225 / 0.001999), 1e-6, "t=2 decayed p0"));
    /* the whole trajectory against the reference, both elements, both classes */
    double rp[4] = {1, -2, 1, -2}, rm[4] = {0}, rv[4] = {0};
    const double g1[4] = {0.5, 0.1, 0.5, 0.1}, g2[4] = {-0.25, 0.1, -0.25, 0.1};
    for (int i = 0; i < 4; i++) {
        rp[i] = ref_adamw(rp[i], g1[i], &rm[i], &rv[i], 1, lr, 0.1, i < 2);
        rp[i] = ref_adamw(rp[i], g2[i], &rm[i], &rv[i], 2, lr, 0.1, i < 2);
    }
    const float got[4] = {p[0], p[1], p[32], p[33]};
    float want[4];
    for (int i = 0; i < 4; i++) want[i] = (float)rp[i];
    HY_EXPECT(hy_test_compare("adamw t=2", got, want, 4, 0, 1e-6) == 0);
    /* the alignment gaps stayed zero */
    for (int i = 2; i < 32; i++) HY_EXPECT_MSG(p[i] == 0 && m[i] == 0 && v[i] == 0, "gap element %d changed", i);
    hy_optim_groups_free(&g);
    return 0;
}

HY_TEST(adamw_grad_scale_and_all_decay) {
    hy_param_class cls[1] = {HY_PCLASS_NORM};
    size_t numel[1] = {3};
    fake_table f;
    fake_build(&f, 1, cls, numel);
    hy_optim_groups g;
    HY_EXPECT_OK(hy_optim_groups_build(&g, &f.t, 0)); /* no_decay = []: norms decay too */
    float p[32] = {2, 2, 2}, gr[32] = {4, -4, 0}, m[32] = {0}, v[32] = {0};
    const hy_adamw_hparams h = {0.9, 0.999, 1e-8, 0.5};
    hy_adamw_step(&h, &g, 1, 0.01, 0.25f, p, gr, m, v);
    /* g = 1, −1, 0: p = 2·(1 − 0.005) ∓ 0.01, and p2 only decays */
    HY_EXPECT(near(p[0], 1.99 - 0.01, 1e-6, "p0") && near(p[1], 1.99 + 0.01, 1e-6, "p1"));
    HY_EXPECT(near(p[2], 1.99, 1e-7, "p2 (zero grad: decay only)"));
    HY_EXPECT(near(m[0], 0.1, 1e-6, "m uses the scaled gradient"));
    hy_optim_groups_free(&g);
    return 0;
}

HY_TEST(adamw_thread_count_invariant) {
    enum { N = 100003 };
    hy_param_class cls[2] = {HY_PCLASS_MATRIX, HY_PCLASS_BIAS};
    size_t numel[2] = {N - 3000, 2999};
    fake_table f;
    fake_build(&f, 2, cls, numel);
    size_t total = f.t.total;
    hy_optim_groups g;
    HY_EXPECT_OK(hy_optim_groups_build(&g, &f.t, DEFAULT_NO_DECAY));
    float *buf = calloc(total * 8, sizeof(float));
    HY_EXPECT(buf);
    float *p[2] = {buf, buf + total}, *m[2] = {buf + 2 * total, buf + 3 * total}, *v[2] = {buf + 4 * total, buf + 5 * total};
    float *gr = buf + 6 * total;
    hy_test_rng r = {7};
    hy_test_fill(&r, p[0], total, 1.0f);
    hy_test_fill(&r, gr, total, 0.01f);
    memcpy(p[1], p[0], total * sizeof(float));
    const hy_adamw_hparams h = {0.9, 0.95, 1e-8, 0.1};
    int threads[2] = {1, 3};
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(threads[k]);
        for (int t = 1; t <= 3; t++) hy_adamw_step(&h, &g, t, 1e-3, 0.7f, p[k], gr, m[k], v[k]);
    }
    omp_set_num_threads(2);
    HY_EXPECT_MSG(!memcmp(p[0], p[1], total * sizeof(float)) && !memcmp(m[0], m[1], total * sizeof(float)) &&
                      !memcmp(v[0], v[1], total * sizeof(float)),
                  "AdamW differs between 1 and 3 threads");
    free(buf);
    hy_optim_groups_free(&g);
    return 0;
}

/* ---------------------------------------------------------------- norm, clip */

HY_TEST(global_norm_and_clip) {
    float x[5] = {3, 0, 4, 0, 0};
    HY_EXPECT(hy_optim_global_norm(x, 5) == 5.0);
    HY_EXPECT(hy_optim_global_norm(x, 0) == 0.0);
    HY_EXPECT(near(hy_optim_clip_coef(5.0, 1.0), 1.0 / (5.0 + 1e-6), 1e-15, "clip coef"));
    HY_EXPECT(hy_optim_clip_coef(5.0, 10.0) == 1.0);
    HY_EXPECT(hy_optim_clip_coef(5.0, 0.0) == 1.0);
    /* clipping then re-measuring gives max_norm (up to the 1e-6 guard) */
    float y[4] = {30, -40, 0, 0};
    double n = hy_optim_global_norm(y, 4), c = hy_optim_clip_coef(n, 2.0);
    hy_optim_scale(y, 4, (float)c);
    HY_EXPECT(near(hy_optim_global_norm(y, 4), 2.0, 1e-6, "clipped norm"));
    HY_EXPECT(near(y[1], -40.0 * 2.0 / 50.0, 1e-6, "clipped element"));
    return 0;
}

HY_TEST(global_norm_deterministic_and_accurate) {
    enum { N = 1000037 };
    float *x = malloc(N * sizeof(float));
    HY_EXPECT(x);
    hy_test_rng r = {11};
    hy_test_fill(&r, x, N, 3.0f);
    long double ref = 0;
    for (size_t i = 0; i < N; i++) ref += (long double)x[i] * x[i];
    double want = (double)sqrtl(ref), got[3];
    int threads[3] = {1, 2, 5};
    for (int k = 0; k < 3; k++) {
        omp_set_num_threads(threads[k]);
        got[k] = hy_optim_global_norm(x, N);
    }
    omp_set_num_threads(2);
    HY_EXPECT_MSG(got[0] == got[1] && got[1] == got[2], "norm varies with threads: %.17g %.17g %.17g", got[0], got[1],
                  got[2]);
    HY_EXPECT(near(got[0], want, 1e-13, "norm vs long double"));
    free(x);
    return 0;
}

HY_TEST(non_finite_detection) {
    float x[300] = {0};
    HY_EXPECT(hy_optim_all_finite(x, 300));
    HY_EXPECT(hy_optim_norm_ok(hy_optim_global_norm(x, 300)));
    x[257] = NAN;
    HY_EXPECT(!hy_optim_all_finite(x, 300));
    HY_EXPECT(!hy_optim_norm_ok(hy_optim_global_norm(x, 300)));
    x[257] = -INFINITY;
    HY_EXPECT(!hy_optim_all_finite(x, 300));
    HY_EXPECT(!hy_optim_norm_ok(hy_optim_global_norm(x, 300)));
    x[257] = 3.0e38f; /* finite: its square must not overflow the fp64 sum */
    HY_EXPECT(hy_optim_all_finite(x, 300) && hy_optim_norm_ok(hy_optim_global_norm(x, 300)));
    return 0;
}

/* ---------------------------------------------------------------- schedules */

/* Each check: the lr at `step` equals `want` (numbers worked out by hand
 * from the formulas in optim.h, written as literals or closed forms). */
static int lr_is(const hy_schedule *s, int64_t step, double want) {
    double got = hy_schedule_lr(s, step);
    if (fabs(got - want) > 1e-12 * fabs(want) + 1e-18) {
        fprintf(stderr, "  %s lr(%lld) = %.15g, want %.15g\n", hy_sched_kind_name(s->kind), (long long)step, got, want);
        return 0;
    }
    return 1;
}

HY_TEST(schedule_constant) {
    hy_schedule s;
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_CONSTANT, 1e-3, 0, 100, 10, 0, 0, HY_DECAY_LINEAR));
    HY_EXPECT(lr_is(&s, 0, 1e-4) && lr_is(&s, 4, 5e-4) && lr_is(&s, 9, 1e-3) && lr_is(&s, 10, 1e-3) && lr_is(&s, 99, 1e-3));
    HY_EXPECT(hy_schedule_decay_start(&s) == 100);
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_CONSTANT, 2e-5, 0, 50, 0, 0, 0, HY_DECAY_LINEAR));
    HY_EXPECT(lr_is(&s, 0, 2e-5) && lr_is(&s, 49, 2e-5));
    return 0;
}

HY_TEST(schedule_linear) {
    hy_schedule s; /* peak 1e-3, floor 1e-5, W = 10, N = 100: decay over 90 steps */
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_LINEAR, 1e-3, 1e-5, 100, 10, 0, 0, HY_DECAY_LINEAR));
    HY_EXPECT(hy_schedule_decay_start(&s) == 10);
    HY_EXPECT(lr_is(&s, 0, 1e-4) && lr_is(&s, 9, 1e-3) && lr_is(&s, 10, 1e-3));
    HY_EXPECT(lr_is(&s, 55, 1e-5 + 0.99e-3 * 0.5));   /* half way */
    HY_EXPECT(lr_is(&s, 99, 1e-5 + 0.99e-3 / 90));    /* last update: 2.1e-5 */
    HY_EXPECT(lr_is(&s, 100, 1e-5) && lr_is(&s, 1000, 1e-5)); /* past the end: the floor */
    /* warmup_ratio: W = ceil(0.05·30) = 2 */
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_LINEAR, 1.0, 0, 30, 0, 0.05, 0, HY_DECAY_LINEAR));
    HY_EXPECT(s.warmup_steps == 2 && lr_is(&s, 0, 0.5) && lr_is(&s, 1, 1.0) && lr_is(&s, 2, 1.0) && lr_is(&s, 29, 1.0 / 28));
    return 0;
}

HY_TEST(schedule_cosine) {
    hy_schedule s;
    const double pi = 3.14159265358979323846;
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_COSINE, 1e-3, 1e-5, 100, 10, 0, 0, HY_DECAY_LINEAR));
    HY_EXPECT(lr_is(&s, 0, 1e-4) && lr_is(&s, 9, 1e-3) && lr_is(&s, 10, 1e-3));
    HY_EXPECT(lr_is(&s, 55, 1e-5 + 0.99e-3 * 0.5));   /* cos(π/2) = 0 */
    HY_EXPECT(lr_is(&s, 99, 1e-5 + 0.99e-3 * 0.5 * (1 + cos(pi * 89 / 90))));
    HY_EXPECT(lr_is(&s, 100, 1e-5));
    /* no warmup: the first update is at the peak, as in transformers */
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_COSINE, 3e-4, 0, 10, 0, 0, 0, HY_DECAY_LINEAR));
    HY_EXPECT(lr_is(&s, 0, 3e-4) && lr_is(&s, 5, 1.5e-4));
    return 0;
}

HY_TEST(schedule_wsd) {
    hy_schedule s; /* W = 10, N = 100, decay_ratio 0.2 → D = 20, stable 70, decay starts at 80 */
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_WSD, 1e-3, 1e-5, 100, 10, 0, 0.2, HY_DECAY_LINEAR));
    HY_EXPECT(s.decay_steps == 20 && hy_schedule_decay_start(&s) == 80);
    HY_EXPECT(lr_is(&s, 0, 1e-4) && lr_is(&s, 9, 1e-3) && lr_is(&s, 10, 1e-3));
    HY_EXPECT(lr_is(&s, 79, 1e-3) && lr_is(&s, 80, 1e-3));   /* q = 0 at the decay start */
    HY_EXPECT(lr_is(&s, 90, 1e-5 + 0.99e-3 * 0.5));
    HY_EXPECT(lr_is(&s, 99, 1e-5 + 0.99e-3 / 20));          /* last update */
    HY_EXPECT(lr_is(&s, 100, 1e-5));
    /* cosine decay shape */
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_WSD, 1e-3, 1e-5, 100, 10, 0, 0.2, HY_DECAY_COSINE));
    HY_EXPECT(lr_is(&s, 80, 1e-3) && lr_is(&s, 90, 1e-5 + 0.99e-3 * 0.5));
    HY_EXPECT(lr_is(&s, 99, 1e-5 + 0.99e-3 * 0.5 * (1 + cos(3.14159265358979323846 * 19 / 20))));
    /* D is clamped so that warmup + decay fit: N = 10, W = 8, ratio 0.5 → D = 2 */
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_WSD, 1.0, 0, 10, 8, 0, 0.5, HY_DECAY_LINEAR));
    HY_EXPECT(s.decay_steps == 2 && lr_is(&s, 7, 1.0) && lr_is(&s, 8, 1.0) && lr_is(&s, 9, 0.5));
    return 0;
}

HY_TEST(schedule_errors) {
    hy_schedule s;
    HY_EXPECT_ERR(hy_schedule_init(&s, HY_SCHED_LINEAR, 1e-3, 0, 0, 0, 0, 0, HY_DECAY_LINEAR), "at least 1");
    HY_EXPECT_ERR(hy_schedule_init(&s, HY_SCHED_LINEAR, 1e-5, 1e-3, 10, 0, 0, 0, HY_DECAY_LINEAR), "min_lr");
    HY_EXPECT_ERR(hy_schedule_init(&s, HY_SCHED_LINEAR, 1e-3, 0, 10, 2, 0.1, 0, HY_DECAY_LINEAR), "not both");
    HY_EXPECT_ERR(hy_schedule_init(&s, HY_SCHED_WSD, 1e-3, 0, 10, 0, 0, 1.5, HY_DECAY_LINEAR), "decay_ratio");
    /* warmup longer than the run is clamped to it */
    HY_EXPECT_OK(hy_schedule_init(&s, HY_SCHED_COSINE, 1.0, 0, 4, 10, 0, 0, HY_DECAY_LINEAR));
    HY_EXPECT(s.warmup_steps == 4 && lr_is(&s, 0, 0.25) && lr_is(&s, 3, 1.0));
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
