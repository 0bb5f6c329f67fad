/* test_ops_grad.c — the CPU reference ops (kernels/ops.h through the CPU
 * backend's table): forward values against independent double-precision
 * references written here, and every backward against central finite
 * differences.
 *
 * Method: each op's scalar test loss is L = Σ r ⊙ out with a fixed random r
 * (summed in double), so the op's backward called with dout = r must return
 * ∂L/∂input.  Each checked input element is moved by ±h in float; the step
 * actually taken ((float)(x+h) − (float)(x−h)) is the denominator, so float
 * rounding of x ± h does not bias the estimate.  An element passes when
 * |fd − g| ≤ tol·max(|fd|,|g|) + tol·0.1·max|g| (the second term absorbs the
 * fp32 noise of L on near-zero elements), so an analytic gradient 10% off on
 * any element above a tenth of the tensor's scale fails.  Buffers that the
 * header says are overwritten are pre-filled with NaN; accumulated ones with
 * 0.25 (subtracted before the comparison) — a wrong overwrite/accumulate
 * convention fails too.  Packed documents are checked bit for bit against the
 * same documents run alone. */
#include <math.h>
#include <omp.h>
#include <stdint.h>

#include "kernels/backend.h"
#include "tests/harness.h"

#define FD_H 4e-3f     /* step; inputs are O(1), fp32 noise of L is ~1e-7 relative */
#define FD_TOL 1e-2    /* relative tolerance of every finite-difference check */
#define FD_SAMPLES 160 /* elements checked per tensor (all when fewer) */
#define ACC0 0.25f     /* pre-fill of accumulated gradients */

/* ---------------------------------------------------------------- helpers */

typedef struct {
    void *p[64];
    int n;
} arena;

static float *fa(arena *a, size_t n) {
    HY_ASSERT(a->n < 64);
    float *p = calloc(n ? n : 1, sizeof(float));
    HY_ASSERT(p);
    return a->p[a->n++] = p;
}
static float *fa_rand(arena *a, hy_test_rng *r, size_t n, float scale) {
    float *p = fa(a, n);
    hy_test_fill(r, p, n, scale);
    return p;
}
static float *fa_const(arena *a, size_t n, float v) {
    float *p = fa(a, n);
    for (size_t i = 0; i < n; i++) p[i] = v;
    return p;
}
static void arena_free(arena *a) {
    for (int i = 0; i < a->n; i++) free(a->p[i]);
    a->n = 0;
}
static void sub_const(float *g, size_t n, float c) {
    for (size_t i = 0; i < n; i++) g[i] -= c;
}
static double dot_rd(const float *r, const float *x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)r[i] * x[i];
    return s;
}
static double dsilu(double x) { return x / (1 + exp(-x)); }
static double dsoftplus(double x) { return x > 20 ? x : log1p(exp(x)); }

/* A packed micro-batch built from document lengths. */
typedef struct {
    hy_seqs s;
    int32_t cu[17], pos[512];
} tseqs;

static void mk_seqs(tseqs *t, const int *lens, int nd) {
    HY_ASSERT(nd <= 16);
    t->cu[0] = 0;
    t->s.max_len = 0;
    for (int d = 0; d < nd; d++) {
        t->cu[d + 1] = t->cu[d] + lens[d];
        HY_ASSERT(t->cu[d + 1] <= 512);
        for (int i = 0; i < lens[d]; i++) t->pos[t->cu[d] + i] = i;
        if (lens[d] > t->s.max_len) t->s.max_len = lens[d];
    }
    t->s.n = t->cu[nd];
    t->s.n_docs = nd;
    t->s.cu = t->cu;
    t->s.cu_host = t->cu;
    t->s.pos = t->pos;
}

/* Central differences of f over the [rows, cols] (ldx) view x against the
 * analytic gradient g [rows, cols] (ldg).  Returns 0 on pass. */
static int fd_check(const char *label, float *x, int rows, int cols, int ldx, const float *g, int ldg, double (*f)(void *), void *ctx,
                    double tol, hy_test_rng *rng) {
    size_t n = (size_t)rows * cols, m = n <= FD_SAMPLES ? n : FD_SAMPLES;
    double gmax = 0, fdmax = 0, worst = -1, wfd = 0, wg = 0;
    size_t widx = 0, bad = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[(i / cols) * ldg + i % cols]));
    for (size_t s = 0; s < m; s++) {
        size_t i = n <= FD_SAMPLES ? s : (size_t)(hy_test_uniform(rng) * n);
        float *xi = x + (i / cols) * ldx + i % cols, x0 = *xi, xp = x0 + FD_H, xm = x0 - FD_H;
        *xi = xp;
        double lp = f(ctx);
        *xi = xm;
        double lm = f(ctx);
        *xi = x0;
        double fd = (lp - lm) / ((double)xp - (double)xm), ga = g[(i / cols) * ldg + i % cols];
        double err = fabs(fd - ga), allowed = tol * fmax(fabs(fd), fabs(ga)) + tol * 0.1 * gmax;
        fdmax = fmax(fdmax, fabs(fd));
        if (err > allowed) bad++;
        if (err / allowed > worst) worst = err / allowed, widx = i, wfd = fd, wg = ga;
    }
    fprintf(stderr, "  fd %-26s n=%-5zu checked=%-4zu bad=%zu worst[%zu] fd=%.7g grad=%.7g (err/allowed %.3f, tol %.0e)\n", label, n, m,
            bad, widx, wfd, wg, worst, tol);
    if (fdmax == 0 && gmax == 0) fprintf(stderr, "  FAIL %s: no signal (all derivatives are zero)\n", label);
    return bad > 0 || (fdmax == 0 && gmax == 0);
}

static hy_ops *cpu_ops(void) {
    hy_ops *o = NULL;
    if (hy_backend_cpu_create(&o, 0) != HY_OK) HY_PANIC("CPU backend: %s", hy_last_error());
    return o;
}

/* ---------------------------------------------------------------- rmsnorm */

typedef struct {
    hy_ops *o;
    float *out, *rstd, *x, *w, *r;
    int n, D, ldx, ldo;
} rms_prob;

static double rms_loss(void *p_) {
    rms_prob *p = p_;
    HY_ASSERT(p->o->rmsnorm_fwd(p->o->ctx, p->out, p->ldo, p->rstd, p->x, p->ldx, p->w, p->n, p->D, 1e-6f) == HY_OK);
    double L = 0;
    for (int i = 0; i < p->n; i++) L += dot_rd(p->r + (size_t)i * p->D, p->out + (size_t)i * p->ldo, (size_t)p->D);
    return L;
}

HY_TEST(rmsnorm_fwd_bwd) {
    hy_test_rng rng = {11};
    arena A = {0};
    hy_ops *o = cpu_ops();
    rms_prob p = {.o = o, .n = 5, .D = 24, .ldx = 30, .ldo = 27};
    p.x = fa_rand(&A, &rng, (size_t)p.n * p.ldx, 1.0f);
    p.w = fa(&A, (size_t)p.D);
    for (int c = 0; c < p.D; c++) p.w[c] = 1.0f + 0.3f * (float)hy_test_normal(&rng);
    p.out = fa(&A, (size_t)p.n * p.ldo), p.rstd = fa(&A, (size_t)p.n), p.r = fa_rand(&A, &rng, (size_t)p.n * p.D, 1.0f);
    rms_loss(&p);
    /* forward against double */
    int fails = 0;
    for (int i = 0; i < p.n; i++) {
        double ss = 0;
        for (int c = 0; c < p.D; c++) ss += (double)p.x[i * p.ldx + c] * p.x[i * p.ldx + c];
        double rs = 1 / sqrt(ss / p.D + 1e-6);
        float want[64], rsf = (float)rs;
        for (int c = 0; c < p.D; c++) want[c] = (float)(p.w[c] * p.x[i * p.ldx + c] * rs);
        fails += hy_test_compare("rmsnorm out row", p.out + (size_t)i * p.ldo, want, (size_t)p.D, 1e-6, 1e-6) > 0;
        fails += hy_test_compare("rmsnorm rstd", &p.rstd[i], &rsf, 1, 0, 1e-6) > 0;
    }
    HY_EXPECT(fails == 0);
    /* backward: dx overwrite (NaN pre-fill, strided), then accumulate; dw += */
    int lddx = 26;
    float *dx = fa_const(&A, (size_t)p.n * lddx, NAN), *dw = fa_const(&A, (size_t)p.D, ACC0);
    HY_EXPECT_OK(o->rmsnorm_bwd(o->ctx, dx, lddx, dw, p.r, p.D, p.x, p.ldx, p.w, p.rstd, p.n, p.D, 0));
    sub_const(dw, (size_t)p.D, ACC0);
    HY_EXPECT(!fd_check("rmsnorm dx", p.x, p.n, p.D, p.ldx, dx, lddx, rms_loss, &p, FD_TOL, &rng));
    HY_EXPECT(!fd_check("rmsnorm dw", p.w, 1, p.D, p.D, dw, p.D, rms_loss, &p, FD_TOL, &rng));
    float *dx2 = fa_const(&A, (size_t)p.n * lddx, 0.5f);
    HY_EXPECT_OK(o->rmsnorm_bwd(o->ctx, dx2, lddx, NULL, p.r, p.D, p.x, p.ldx, p.w, p.rstd, p.n, p.D, 1));
    for (int i = 0; i < p.n; i++)
        for (int c = 0; c < p.D; c++) {
            float want = 0.5f + dx[i * lddx + c];
            HY_EXPECT_MSG(fabsf(dx2[i * lddx + c] - want) <= 1e-6f * (1 + fabsf(want)), "accumulate [%d,%d] %g vs %g", i, c,
                          dx2[i * lddx + c], want);
        }
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- norm_avg */

typedef struct {
    hy_ops *o;
    float *fu, *ra, *rb, *a, *b, *wa, *wb, *r;
    int n, D;
} navg_prob;

static double navg_loss(void *p_) {
    navg_prob *p = p_;
    HY_ASSERT(p->o->norm_avg_fwd(p->o->ctx, p->fu, p->ra, p->rb, p->a, p->b, p->wa, p->wb, p->n, p->D, 1e-6f) == HY_OK);
    return dot_rd(p->r, p->fu, (size_t)p->n * p->D);
}

/* The hybrid block's fusion (kernels/norm_avg.h): forward against double,
 * backward against finite differences, and both bit for bit the unfused
 * composition it replaces in the model (rmsnorm_fwd twice + axpby(0.5, 0.5);
 * dfu·0.5 then rmsnorm_bwd twice).  The two inputs differ in scale so a mix-up
 * of the two statistics or gains shows. */
HY_TEST(norm_avg_fwd_bwd) {
    hy_test_rng rng = {13};
    arena A = {0};
    hy_ops *o = cpu_ops();
    navg_prob p = {.o = o, .n = 6, .D = 40};
    int n = p.n, D = p.D;
    size_t nD = (size_t)n * D;
    p.a = fa_rand(&A, &rng, nD, 1.0f), p.b = fa_rand(&A, &rng, nD, 3.0f);
    p.wa = fa(&A, (size_t)D), p.wb = fa(&A, (size_t)D);
    for (int c = 0; c < D; c++) {
        p.wa[c] = 1.0f + 0.3f * (float)hy_test_normal(&rng);
        p.wb[c] = 0.5f + 0.3f * (float)hy_test_normal(&rng);
    }
    p.fu = fa_const(&A, nD, NAN), p.ra = fa_const(&A, (size_t)n, NAN), p.rb = fa_const(&A, (size_t)n, NAN);
    p.r = fa_rand(&A, &rng, nD, 1.0f);
    navg_loss(&p);
    int fails = 0;
    for (int i = 0; i < n; i++) { /* forward against double */
        double ssa = 0, ssb = 0;
        for (int c = 0; c < D; c++) ssa += (double)p.a[i * D + c] * p.a[i * D + c], ssb += (double)p.b[i * D + c] * p.b[i * D + c];
        double ra = 1 / sqrt(ssa / D + 1e-6), rb = 1 / sqrt(ssb / D + 1e-6);
        float want[64], rs[2] = {(float)ra, (float)rb}, got[2] = {p.ra[i], p.rb[i]};
        for (int c = 0; c < D; c++) want[c] = (float)(0.5 * (p.wa[c] * p.a[i * D + c] * ra + p.wb[c] * p.b[i * D + c] * rb));
        fails += hy_test_compare("norm_avg fu row", p.fu + (size_t)i * D, want, (size_t)D, 1e-6, 1e-6) > 0;
        fails += hy_test_compare("norm_avg rstd a|b", got, rs, 2, 0, 1e-6) > 0;
    }
    HY_EXPECT(fails == 0);
    float *o1 = fa(&A, nD), *o2 = fa(&A, nD), *r1 = fa(&A, (size_t)n), *r2 = fa(&A, (size_t)n);
    HY_EXPECT_OK(o->rmsnorm_fwd(o->ctx, o1, D, r1, p.a, D, p.wa, n, D, 1e-6f));
    HY_EXPECT_OK(o->rmsnorm_fwd(o->ctx, o2, D, r2, p.b, D, p.wb, n, D, 1e-6f));
    HY_EXPECT_OK(o->axpby(o->ctx, o1, 0.5f, o1, 0.5f, o2, nD));
    HY_EXPECT_MSG(!memcmp(o1, p.fu, nD * 4) && !memcmp(r1, p.ra, (size_t)n * 4) && !memcmp(r2, p.rb, (size_t)n * 4),
                  "forward differs from rmsnorm_fwd ×2 + axpby");
    /* backward: da, db overwrite (NaN pre-fill); dwa, dwb += */
    float *da = fa_const(&A, nD, NAN), *db = fa_const(&A, nD, NAN), *dwa = fa_const(&A, (size_t)D, ACC0), *dwb = fa_const(&A, (size_t)D, ACC0);
    HY_EXPECT_OK(o->norm_avg_bwd(o->ctx, da, db, dwa, dwb, p.r, p.a, p.b, p.wa, p.wb, p.ra, p.rb, n, D));
    float *half = fa(&A, nD), *ua = fa(&A, nD), *ub = fa(&A, nD), *uwa = fa_const(&A, (size_t)D, ACC0), *uwb = fa_const(&A, (size_t)D, ACC0);
    HY_EXPECT_OK(o->axpby(o->ctx, half, 0.5f, p.r, 0.0f, p.r, nD));
    HY_EXPECT_OK(o->rmsnorm_bwd(o->ctx, ua, D, uwa, half, D, p.a, D, p.wa, p.ra, n, D, 0));
    HY_EXPECT_OK(o->rmsnorm_bwd(o->ctx, ub, D, uwb, half, D, p.b, D, p.wb, p.rb, n, D, 0));
    HY_EXPECT_MSG(!memcmp(da, ua, nD * 4) && !memcmp(db, ub, nD * 4) && !memcmp(dwa, uwa, (size_t)D * 4) && !memcmp(dwb, uwb, (size_t)D * 4),
                  "backward differs from axpby(0.5) + rmsnorm_bwd ×2");
    sub_const(dwa, (size_t)D, ACC0), sub_const(dwb, (size_t)D, ACC0);
    HY_EXPECT(!fd_check("norm_avg da", p.a, n, D, D, da, D, navg_loss, &p, FD_TOL, &rng));
    HY_EXPECT(!fd_check("norm_avg db", p.b, n, D, D, db, D, navg_loss, &p, FD_TOL, &rng));
    HY_EXPECT(!fd_check("norm_avg dwa", p.wa, 1, D, D, dwa, D, navg_loss, &p, FD_TOL, &rng));
    HY_EXPECT(!fd_check("norm_avg dwb", p.wb, 1, D, D, dwb, D, navg_loss, &p, FD_TOL, &rng));
    /* frozen gains: NULL dw is skipped, dx unchanged */
    float *da2 = fa_const(&A, nD, NAN), *db2 = fa_const(&A, nD, NAN);
    HY_EXPECT_OK(o->norm_avg_bwd(o->ctx, da2, db2, NULL, NULL, p.r, p.a, p.b, p.wa, p.wb, p.ra, p.rb, n, D));
    HY_EXPECT(!memcmp(da2, da, nD * 4) && !memcmp(db2, db, nD * 4));
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- matmul */

typedef struct {
    hy_ops *o;
    float *out, *in, *w, *r;
    int n, O, I, ldi, ldo;
} mm_prob;

static double mm_loss(void *p_) {
    mm_prob *p = p_;
    HY_ASSERT(p->o->matmul_fwd(p->o->ctx, p->out, p->ldo, p->in, p->ldi, p->w, p->n, p->O, p->I, 0) == HY_OK);
    double L = 0;
    for (int i = 0; i < p->n; i++) L += dot_rd(p->r + (size_t)i * p->O, p->out + (size_t)i * p->ldo, (size_t)p->O);
    return L;
}

HY_TEST(matmul_fwd_bwd) {
    hy_test_rng rng = {12};
    arena A = {0};
    hy_ops *o = cpu_ops();
    mm_prob p = {.o = o, .n = 7, .O = 5, .I = 9, .ldi = 11, .ldo = 8};
    p.in = fa_rand(&A, &rng, (size_t)p.n * p.ldi, 1.0f), p.w = fa_rand(&A, &rng, (size_t)p.O * p.I, 0.5f);
    p.out = fa_const(&A, (size_t)p.n * p.ldo, NAN), p.r = fa_rand(&A, &rng, (size_t)p.n * p.O, 1.0f);
    mm_loss(&p);
    float want[7 * 5];
    for (int i = 0; i < p.n; i++)
        for (int j = 0; j < p.O; j++) {
            double s = 0;
            for (int c = 0; c < p.I; c++) s += (double)p.in[i * p.ldi + c] * p.w[j * p.I + c];
            want[i * p.O + j] = (float)s;
            HY_EXPECT_MSG(fabs(p.out[i * p.ldo + j] - s) <= 1e-5 * (1 + fabs(s)), "out[%d,%d] %g vs %g", i, j, p.out[i * p.ldo + j], s);
        }
    /* accumulate: out += in·Wᵀ */
    HY_EXPECT_OK(o->matmul_fwd(o->ctx, p.out, p.ldo, p.in, p.ldi, p.w, p.n, p.O, p.I, 1));
    for (int i = 0; i < p.n; i++)
        for (int j = 0; j < p.O; j++) HY_EXPECT(fabsf(p.out[i * p.ldo + j] - 2 * want[i * p.O + j]) <= 1e-5f * (1 + fabsf(want[i * p.O + j])));
    int lddi = 12;
    float *din = fa_const(&A, (size_t)p.n * lddi, NAN), *dw = fa_const(&A, (size_t)p.O * p.I, ACC0);
    HY_EXPECT_OK(o->matmul_bwd(o->ctx, din, lddi, dw, p.r, p.O, p.in, p.ldi, p.w, p.n, p.O, p.I, 0));
    sub_const(dw, (size_t)p.O * p.I, ACC0);
    HY_EXPECT(!fd_check("matmul din", p.in, p.n, p.I, p.ldi, din, lddi, mm_loss, &p, FD_TOL, &rng));
    HY_EXPECT(!fd_check("matmul dw", p.w, p.O, p.I, p.I, dw, p.I, mm_loss, &p, FD_TOL, &rng));
    /* accumulate_din, and NULL dw skipped */
    float *din2 = fa_const(&A, (size_t)p.n * lddi, 1.0f);
    HY_EXPECT_OK(o->matmul_bwd(o->ctx, din2, lddi, NULL, p.r, p.O, p.in, p.ldi, p.w, p.n, p.O, p.I, 1));
    for (int i = 0; i < p.n; i++)
        for (int c = 0; c < p.I; c++) HY_EXPECT(fabsf(din2[i * lddi + c] - 1.0f - din[i * lddi + c]) <= 1e-5f);
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- rope */

/* inv_freq of spec §4.1 for head dim D and the "ntk" base, computed in double
 * and rounded once (the official fp32 evaluation may differ in the last ulp). */
static void ntk_inv_freq(float *inv, int D, double theta, double max_pos, double orig_max_pos) {
    double base = theta * pow(2.0 * max_pos / orig_max_pos - 1.0, (double)D / (D - 2));
    float basef = (float)base;
    for (int m = 0; m < D / 2; m++) inv[m] = (float)(1.0 / pow((double)basef, 2.0 * m / D));
}

typedef struct {
    hy_ops *o;
    float *x, *y, *r, *inv;
    int32_t *pos;
    int n, H, D, ld;
} rope_prob;

static double rope_loss(void *p_) {
    rope_prob *p = p_;
    memcpy(p->y, p->x, sizeof(float) * (size_t)p->n * p->ld);
    HY_ASSERT(p->o->rope_fwd(p->o->ctx, p->y, p->ld, p->pos, p->inv, p->n, p->H, p->D) == HY_OK);
    return dot_rd(p->r, p->y, (size_t)p->n * p->ld);
}

HY_TEST(rope_fwd_bwd) {
    hy_test_rng rng = {13};
    arena A = {0};
    hy_ops *o = cpu_ops();
    float inv[32];
    ntk_inv_freq(inv, 64, 10000, 8192, 2048);
    /* spec §4.1 reference values (fp32) */
    const int mi[] = {0, 1, 2, 3, 8, 15, 16, 31};
    const float mv[] = {1.0f, 0.70426935f, 0.49599531f, 0.34931427f, 0.060521569f, 0.0052009369f, 0.0036628603f, 1.9050307e-05f};
    for (size_t k = 0; k < HY_ARRAY_LEN(mi); k++)
        HY_EXPECT_MSG(fabsf(inv[mi[k]] - mv[k]) <= 2e-7f * mv[k] + 1e-12f, "inv_freq[%d] = %.9g, spec %.9g", mi[k], inv[mi[k]], mv[k]);
    int32_t pos[] = {0, 1, 5, 127, 128, 1000, 8191, 8319};
    rope_prob p = {.o = o, .n = 8, .H = 3, .D = 64, .ld = 200, .inv = inv, .pos = pos};
    p.x = fa_rand(&A, &rng, (size_t)p.n * p.ld, 1.0f), p.y = fa(&A, (size_t)p.n * p.ld), p.r = fa_rand(&A, &rng, (size_t)p.n * p.ld, 1.0f);
    rope_loss(&p);
    double worst = 0;
    for (int i = 0; i < p.n; i++)
        for (int h = 0; h < p.H; h++)
            for (int m = 0; m < 32; m++) {
                const float *xh = p.x + (size_t)i * p.ld + h * 64;
                double phi = (double)((float)pos[i] * inv[m]), c = cos(phi), s = sin(phi);
                double w0 = xh[m] * c - xh[m + 32] * s, w1 = xh[m + 32] * c + xh[m] * s;
                worst = fmax(worst, fabs(p.y[(size_t)i * p.ld + h * 64 + m] - w0));
                worst = fmax(worst, fabs(p.y[(size_t)i * p.ld + h * 64 + m + 32] - w1));
            }
    fprintf(stderr, "  rope fwd vs double: max abs err %.3g (tol 2e-6)\n", worst);
    HY_EXPECT(worst <= 2e-6);
    for (int i = 0; i < p.n; i++) /* columns past H·D are untouched */
        for (int c = p.H * p.D; c < p.ld; c++) HY_EXPECT(p.y[(size_t)i * p.ld + c] == p.x[(size_t)i * p.ld + c]);
    /* the backward is the gradient of the linear map: apply it to r */
    float *g = fa(&A, (size_t)p.n * p.ld);
    memcpy(g, p.r, sizeof(float) * (size_t)p.n * p.ld);
    HY_EXPECT_OK(o->rope_bwd(o->ctx, g, p.ld, pos, inv, p.n, p.H, p.D));
    HY_EXPECT(!fd_check("rope dx", p.x, p.n, p.H * p.D, p.ld, g, p.ld, rope_loss, &p, FD_TOL, &rng));
    /* bwd ∘ fwd = identity (fd_check left y at a perturbed x: recompute it) */
    rope_loss(&p);
    HY_EXPECT_OK(o->rope_bwd(o->ctx, p.y, p.ld, pos, inv, p.n, p.H, p.D));
    HY_EXPECT(hy_test_compare("rope bwd(fwd(x)) == x", p.y, p.x, (size_t)p.n * p.ld, 2e-6, 0) == 0);
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- attention */

/* The mask predicate of spec §4.4, written directly. */
static int att_allowed(int i, int j, int M, int W) { return j <= i && (W < 0 || i - j <= W || j < M); }

typedef struct {
    hy_ops *o;
    const hy_seqs *s;
    int NH, NKV, DQK, DV, M, W, ld; /* q | k | v are column blocks of qkv [N, ld] */
    float scale;
    float *qkv, *out, *lse, *r;
} att_prob;

static float *att_q(const att_prob *p) { return p->qkv; }
static float *att_k(const att_prob *p) { return p->qkv + p->NH * p->DQK; }
static float *att_v(const att_prob *p) { return p->qkv + (p->NH + p->NKV) * p->DQK; }

static double att_loss(void *p_) {
    att_prob *p = p_;
    HY_ASSERT(p->o->attention_fwd(p->o->ctx, p->out, p->lse, att_q(p), p->ld, att_k(p), p->ld, att_v(p), p->ld, p->s, p->NH, p->NKV,
                                  p->DQK, p->DV, p->M, p->W, p->scale) == HY_OK);
    return dot_rd(p->r, p->out, (size_t)p->s->n * p->NH * p->DV);
}

static att_prob att_make(arena *A, hy_test_rng *rng, hy_ops *o, const hy_seqs *s, int NH, int NKV, int DQK, int DV, int M, int W) {
    att_prob p = {.o = o, .s = s, .NH = NH, .NKV = NKV, .DQK = DQK, .DV = DV, .M = M, .W = W, .scale = 1.0f / sqrtf((float)DQK)};
    p.ld = (NH + NKV) * DQK + NKV * DV + 3;
    int N = s->n;
    p.qkv = fa_rand(A, rng, (size_t)N * p.ld, 1.0f);
    p.out = fa_const(A, (size_t)N * NH * DV, NAN), p.lse = fa_const(A, (size_t)NH * N, NAN);
    p.r = fa_rand(A, rng, (size_t)N * NH * DV, 1.0f);
    return p;
}

/* Forward against a double reference that enumerates every (i, j) of every
 * document through att_allowed. */
static int att_check_fwd(const att_prob *p) {
    int N = p->s->n, G = p->NH / p->NKV, bad = 0;
    double worst = 0;
    for (int d = 0; d < p->s->n_docs; d++) {
        int st = p->s->cu[d], len = p->s->cu[d + 1] - st;
        for (int h = 0; h < p->NH; h++)
            for (int i = 0; i < len; i++) {
                const float *qi = att_q(p) + (size_t)(st + i) * p->ld + h * p->DQK;
                double sc[512], mx = -INFINITY, sum = 0, o[256] = {0};
                for (int j = 0; j < len; j++) {
                    if (!att_allowed(i, j, p->M, p->W)) continue;
                    const float *kj = att_k(p) + (size_t)(st + j) * p->ld + (h / G) * p->DQK;
                    double dt = 0;
                    for (int c = 0; c < p->DQK; c++) dt += (double)qi[c] * kj[c];
                    sc[j] = dt * p->scale;
                    mx = fmax(mx, sc[j]);
                }
                for (int j = 0; j < len; j++) {
                    if (!att_allowed(i, j, p->M, p->W)) continue;
                    double e = exp(sc[j] - mx);
                    sum += e;
                    const float *vj = att_v(p) + (size_t)(st + j) * p->ld + (h / G) * p->DV;
                    for (int c = 0; c < p->DV; c++) o[c] += e * vj[c];
                }
                const float *got = p->out + (size_t)(st + i) * p->NH * p->DV + h * p->DV;
                for (int c = 0; c < p->DV; c++) {
                    double err = fabs(got[c] - o[c] / sum);
                    worst = fmax(worst, err);
                    bad += err > 2e-6 * (1 + fabs(o[c] / sum));
                }
                double lerr = fabs(p->lse[(size_t)h * N + st + i] - (mx + log(sum)));
                worst = fmax(worst, lerr);
                bad += lerr > 2e-6 * (1 + fabs(mx + log(sum)));
            }
    }
    fprintf(stderr, "  attention fwd vs double (M=%d W=%d): max abs err %.3g, bad %d (tol 2e-6·(1+|want|))\n", p->M, p->W, worst, bad);
    return bad;
}

/* Analytic gradients of att_loss laid out like qkv (dq at stride ld, dk and dv
 * copied in from their dense buffers, accumulation pre-fill removed). */
static float *att_grad(arena *A, const att_prob *p) {
    int N = p->s->n, nk = p->NKV * p->DQK, nv = p->NKV * p->DV;
    float *g = fa_const(A, (size_t)N * p->ld, NAN), *dk = fa_const(A, (size_t)N * nk, ACC0), *dv = fa_const(A, (size_t)N * nv, ACC0);
    att_loss((void *)p);
    HY_ASSERT(p->o->attention_bwd(p->o->ctx, g, p->ld, dk, dv, p->r, p->out, p->lse, att_q(p), p->ld, att_k(p), p->ld, att_v(p), p->ld,
                                  p->s, p->NH, p->NKV, p->DQK, p->DV, p->M, p->W, p->scale) == HY_OK);
    for (int i = 0; i < N; i++) {
        for (int c = 0; c < nk; c++) g[(size_t)i * p->ld + p->NH * p->DQK + c] = dk[(size_t)i * nk + c] - ACC0;
        for (int c = 0; c < nv; c++) g[(size_t)i * p->ld + (p->NH + p->NKV) * p->DQK + c] = dv[(size_t)i * nv + c] - ACC0;
    }
    return g;
}

static int att_check_grad(arena *A, att_prob *p, hy_test_rng *rng) {
    float *g = att_grad(A, p);
    int N = p->s->n, f = 0;
    f += fd_check("attention dq", att_q(p), N, p->NH * p->DQK, p->ld, g, p->ld, att_loss, p, FD_TOL, rng);
    f += fd_check("attention dk", att_k(p), N, p->NKV * p->DQK, p->ld, g + p->NH * p->DQK, p->ld, att_loss, p, FD_TOL, rng);
    f += fd_check("attention dv", att_v(p), N, p->NKV * p->DV, p->ld, g + (p->NH + p->NKV) * p->DQK, p->ld, att_loss, p, FD_TOL, rng);
    return f;
}

/* Window boundary (a 14-row document has i−j = W and W+1 with j ≥ M), meta
 * tokens, GQA 4:2, DV = 2·DQK, a T=1 document, three documents packed. */
HY_TEST(attention_window_meta_gqa) {
    hy_test_rng rng = {21};
    arena A = {0};
    hy_ops *o = cpu_ops();
    tseqs t;
    mk_seqs(&t, (const int[]){14, 1, 9}, 3);
    att_prob p = att_make(&A, &rng, o, &t.s, 4, 2, 8, 16, 3, 4);
    att_loss(&p);
    HY_EXPECT(att_check_fwd(&p) == 0);
    HY_EXPECT(att_check_grad(&A, &p, &rng) == 0);
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

HY_TEST(attention_global_and_no_meta) {
    hy_test_rng rng = {22};
    arena A = {0};
    hy_ops *o = cpu_ops();
    tseqs t;
    mk_seqs(&t, (const int[]){7, 1, 5}, 3);
    att_prob g = att_make(&A, &rng, o, &t.s, 4, 2, 8, 16, 2, -1); /* global, meta tokens */
    att_loss(&g);
    HY_EXPECT(att_check_fwd(&g) == 0);
    HY_EXPECT(att_check_grad(&A, &g, &rng) == 0);
    att_prob w = att_make(&A, &rng, o, &t.s, 2, 1, 6, 12, 0, 2); /* window, no meta tokens, MQA */
    att_loss(&w);
    HY_EXPECT(att_check_fwd(&w) == 0);
    HY_EXPECT(att_check_grad(&A, &w, &rng) == 0);
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* The mask itself: with q = 0 every visible key gets the same weight, and with
 * one-hot values out[i, j] > 0 exactly where key j is visible.  Tiny config of
 * spec §12 (M = 8, W = 16): query 25 is the first to lose key 8, and the pair
 * counts of the first T rows are pairs_swa(26) = 350, pairs_swa(30). */
HY_TEST(attention_mask_pattern) {
    arena A = {0};
    hy_ops *o = cpu_ops();
    tseqs t;
    mk_seqs(&t, (const int[]){30}, 1);
    hy_test_rng rng = {23};
    att_prob p = att_make(&A, &rng, o, &t.s, 2, 1, 16, 32, 8, 16);
    for (int i = 0; i < 30; i++) {
        for (int c = 0; c < 16 * 3; c++) p.qkv[(size_t)i * p.ld + c] = c < 32 ? 0.0f : (float)hy_test_normal(&rng);
        for (int c = 0; c < 32; c++) att_v(&p)[(size_t)i * p.ld + c] = (float)(c == i);
    }
    att_loss(&p);
    int pairs26 = 0, pairs30 = 0;
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 30; i++) {
            int cnt = 0;
            for (int j = 0; j < 30; j++) cnt += att_allowed(i, j, 8, 16);
            for (int j = 0; j < 32; j++) {
                float got = p.out[(size_t)i * 64 + h * 32 + j], want = (j < 30 && att_allowed(i, j, 8, 16)) ? 1.0f / cnt : 0.0f;
                HY_EXPECT_MSG(fabsf(got - want) <= 1e-6f, "head %d query %d key %d: weight %g, expected %g", h, i, j, got, want);
                if (h == 0 && got > 0) pairs30++, pairs26 += i < 26;
            }
        }
    HY_EXPECT(p.out[24 * 64 + 8] > 0 && p.out[25 * 64 + 8] == 0 && p.out[25 * 64 + 7] > 0 && p.out[25 * 64 + 9] > 0);
    HY_EXPECT_MSG(pairs26 == 350 && pairs30 == 350 + 4 * 25, "pairs %d %d", pairs26, pairs30);
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* No leakage: documents packed together give bit-identical results to the same
 * documents run alone (forward, dq, dk, dv), and perturbing document 0 leaves
 * document 2's outputs bit-identical. */
HY_TEST(attention_packed_equals_separate) {
    hy_test_rng rng = {24};
    arena A = {0};
    hy_ops *o = cpu_ops();
    const int lens[] = {9, 1, 12};
    tseqs t, t1;
    mk_seqs(&t, lens, 3);
    att_prob p = att_make(&A, &rng, o, &t.s, 4, 2, 8, 16, 2, 3);
    float *g = att_grad(&A, &p);
    for (int d = 0; d < 3; d++) {
        mk_seqs(&t1, &lens[d], 1);
        att_prob q = att_make(&A, &rng, o, &t1.s, 4, 2, 8, 16, 2, 3);
        int st = t.cu[d];
        memcpy(q.qkv, p.qkv + (size_t)st * p.ld, sizeof(float) * (size_t)lens[d] * p.ld);
        memcpy(q.r, p.r + (size_t)st * 64, sizeof(float) * (size_t)lens[d] * 64);
        float *gq = att_grad(&A, &q);
        HY_EXPECT_MSG(!memcmp(q.out, p.out + (size_t)st * 64, sizeof(float) * (size_t)lens[d] * 64), "doc %d out differs", d);
        for (int i = 0; i < lens[d]; i++) {
            for (int h = 0; h < 4; h++)
                HY_EXPECT_MSG(q.lse[(size_t)h * lens[d] + i] == p.lse[(size_t)h * t.s.n + st + i], "doc %d lse differs", d);
            HY_EXPECT_MSG(!memcmp(gq + (size_t)i * p.ld, g + (size_t)(st + i) * p.ld, sizeof(float) * (size_t)(p.ld - 3)),
                          "doc %d row %d gradients differ", d, i);
        }
    }
    float *out0 = fa(&A, (size_t)t.s.n * 64);
    memcpy(out0, p.out, sizeof(float) * (size_t)t.s.n * 64);
    for (int i = 0; i < 9 * p.ld; i++) p.qkv[i] += 0.5f;
    att_loss(&p);
    HY_EXPECT(memcmp(out0, p.out, sizeof(float) * 9 * 64) != 0);
    HY_EXPECT(!memcmp(out0 + 10 * 64, p.out + 10 * 64, sizeof(float) * 12 * 64));
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- conv1d */

typedef struct {
    hy_ops *o;
    const hy_seqs *s;
    float *x, *w, *b, *u, *r;
    int DI, DC, ldx;
} conv_prob;

static double conv_loss(void *p_) {
    conv_prob *p = p_;
    HY_ASSERT(p->o->conv1d_fwd(p->o->ctx, p->u, p->x, p->ldx, p->w, p->b, p->s, p->DI, p->DC) == HY_OK);
    return dot_rd(p->r, p->u, (size_t)p->s->n * p->DI);
}

/* Documents shorter than DC (lengths 2 and 1) next to longer ones. */
HY_TEST(conv1d_fwd_bwd) {
    hy_test_rng rng = {31};
    arena A = {0};
    hy_ops *o = cpu_ops();
    tseqs t;
    mk_seqs(&t, (const int[]){2, 1, 6, 3}, 4);
    conv_prob p = {.o = o, .s = &t.s, .DI = 5, .DC = 4, .ldx = 8};
    int N = t.s.n;
    p.x = fa_rand(&A, &rng, (size_t)N * p.ldx, 1.0f), p.w = fa_rand(&A, &rng, (size_t)p.DI * p.DC, 0.5f);
    p.b = fa_rand(&A, &rng, (size_t)p.DI, 0.5f), p.u = fa_const(&A, (size_t)N * p.DI, NAN), p.r = fa_rand(&A, &rng, (size_t)N * p.DI, 1.0f);
    conv_loss(&p);
    float *want = fa(&A, (size_t)N * p.DI);
    for (int d = 0; d < t.s.n_docs; d++)
        for (int tt = t.cu[d]; tt < t.cu[d + 1]; tt++)
            for (int e = 0; e < p.DI; e++) {
                double pre = p.b[e];
                for (int k = 0; k < p.DC; k++) {
                    int src = tt - p.DC + 1 + k;
                    if (src >= t.cu[d]) pre += (double)p.w[e * p.DC + k] * p.x[src * p.ldx + e];
                }
                want[tt * p.DI + e] = (float)dsilu(pre);
            }
    HY_EXPECT(hy_test_compare("conv1d fwd vs double", p.u, want, (size_t)N * p.DI, 1e-6, 1e-6) == 0);
    int lddx = 7;
    float *dx = fa_const(&A, (size_t)N * lddx, NAN), *dw = fa_const(&A, (size_t)p.DI * p.DC, ACC0), *db = fa_const(&A, (size_t)p.DI, ACC0);
    HY_EXPECT_OK(o->conv1d_bwd(o->ctx, dx, lddx, dw, db, p.r, p.x, p.ldx, p.w, p.b, &t.s, p.DI, p.DC));
    sub_const(dw, (size_t)p.DI * p.DC, ACC0);
    sub_const(db, (size_t)p.DI, ACC0);
    HY_EXPECT(!fd_check("conv1d dx", p.x, N, p.DI, p.ldx, dx, lddx, conv_loss, &p, FD_TOL, &rng));
    HY_EXPECT(!fd_check("conv1d dw", p.w, 1, p.DI * p.DC, 0, dw, 0, conv_loss, &p, FD_TOL, &rng));
    HY_EXPECT(!fd_check("conv1d db", p.b, 1, p.DI, 0, db, 0, conv_loss, &p, FD_TOL, &rng));
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- selective scan */

typedef struct {
    hy_ops *o;
    const hy_seqs *s;
    int DI, DS, ldbc, ldz;
    float *u, *delta, *dt_bias, *A_log, *bc, *D, *z, *y, *r; /* Bm, Cm: columns R.., R+DS.. of bc [N, ldbc] */
} scan_prob;

enum { SCAN_R = 3 }; /* dt-rank columns in front of Bm and Cm in the x_proj-like buffer */

static float *scan_B(const scan_prob *p) { return p->bc + SCAN_R; }
static float *scan_C(const scan_prob *p) { return p->bc + SCAN_R + p->DS; }

static double scan_loss(void *p_) {
    scan_prob *p = p_;
    HY_ASSERT(p->o->scan_fwd(p->o->ctx, p->y, p->u, p->delta, p->dt_bias, p->A_log, scan_B(p), scan_C(p), p->ldbc, p->D, p->z, p->ldz, p->s,
                             p->DI, p->DS) == HY_OK);
    return dot_rd(p->r, p->y, (size_t)p->s->n * p->DI);
}

/* Channel 0 runs with s_Δ ≈ 22 (> 20: softplus is the identity), channel 1
 * with s_Δ ≈ −3 (small steps); the rest are ordinary. */
static scan_prob scan_make(arena *A, hy_test_rng *rng, hy_ops *o, const hy_seqs *s, int DI, int DS) {
    scan_prob p = {.o = o, .s = s, .DI = DI, .DS = DS, .ldbc = SCAN_R + 2 * DS, .ldz = 2 * DI + 1};
    int N = s->n;
    p.u = fa_rand(A, rng, (size_t)N * DI, 1.0f), p.delta = fa_rand(A, rng, (size_t)N * DI, 0.5f);
    p.dt_bias = fa(A, (size_t)DI);
    for (int e = 0; e < DI; e++) p.dt_bias[e] = e == 0 ? 22.0f : e == 1 ? -3.0f : (float)(-1.5 + hy_test_uniform(rng) * 2);
    p.A_log = fa(A, (size_t)DI * DS);
    for (int i = 0; i < DI * DS; i++) p.A_log[i] = (float)log(0.2 + 1.8 * hy_test_uniform(rng));
    p.bc = fa_rand(A, rng, (size_t)N * p.ldbc, 1.0f), p.D = fa_rand(A, rng, (size_t)DI, 1.0f);
    p.z = fa_rand(A, rng, (size_t)N * p.ldz, 1.0f), p.y = fa_const(A, (size_t)N * DI, NAN), p.r = fa_rand(A, rng, (size_t)N * DI, 1.0f);
    return p;
}

static int scan_check_fwd(const scan_prob *p) {
    int DI = p->DI, DS = p->DS, N = p->s->n;
    float *want = calloc((size_t)N * DI, sizeof(float));
    for (int d = 0; d < p->s->n_docs; d++)
        for (int e = 0; e < DI; e++) {
            double h[64] = {0};
            for (int t = p->s->cu[d]; t < p->s->cu[d + 1]; t++) {
                double dl = dsoftplus((double)p->delta[t * DI + e] + p->dt_bias[e]), u = p->u[t * DI + e], y = p->D[e] * u;
                for (int n = 0; n < DS; n++) {
                    double Aen = -exp((double)p->A_log[e * DS + n]);
                    h[n] = exp(dl * Aen) * h[n] + dl * scan_B(p)[t * p->ldbc + n] * u;
                    y += scan_C(p)[t * p->ldbc + n] * h[n];
                }
                want[t * DI + e] = (float)(y * dsilu(p->z[t * p->ldz + e]));
            }
        }
    size_t bad = hy_test_compare("scan fwd vs double", p->y, want, (size_t)N * DI, 1e-5, 1e-5);
    free(want);
    return bad > 0;
}

typedef struct {
    float *du, *ddelta, *dbc, *dz, *ddt_bias, *dA_log, *dD;
} scan_grads;

static scan_grads scan_grad(arena *A, const scan_prob *p) {
    int N = p->s->n, DI = p->DI, DS = p->DS;
    scan_grads g = {.du = fa_const(A, (size_t)N * DI, NAN), .ddelta = fa_const(A, (size_t)N * DI, NAN),
                    .dbc = fa_const(A, (size_t)N * p->ldbc, NAN), .dz = fa_const(A, (size_t)N * p->ldz, NAN),
                    .ddt_bias = fa_const(A, (size_t)DI, ACC0), .dA_log = fa_const(A, (size_t)DI * DS, ACC0), .dD = fa_const(A, (size_t)DI, ACC0)};
    scan_loss((void *)p);
    HY_ASSERT(p->o->scan_bwd(p->o->ctx, g.du, g.ddelta, g.dbc + SCAN_R, g.dbc + SCAN_R + DS, p->ldbc, g.dz, p->ldz, g.ddt_bias, g.dA_log, g.dD,
                             p->r, p->u, p->delta, p->dt_bias, p->A_log, scan_B(p), scan_C(p), p->ldbc, p->D, p->z, p->ldz, p->s, DI,
                             DS) == HY_OK);
    sub_const(g.ddt_bias, (size_t)DI, ACC0);
    sub_const(g.dA_log, (size_t)DI * DS, ACC0);
    sub_const(g.dD, (size_t)DI, ACC0);
    return g;
}

HY_TEST(scan_fwd_bwd) {
    hy_test_rng rng = {41};
    arena A = {0};
    hy_ops *o = cpu_ops();
    tseqs t;
    mk_seqs(&t, (const int[]){5, 1, 7}, 3);
    scan_prob p = scan_make(&A, &rng, o, &t.s, 6, 4);
    int N = t.s.n, DI = p.DI, DS = p.DS;
    scan_loss(&p);
    HY_EXPECT(scan_check_fwd(&p) == 0);
    scan_grads g = scan_grad(&A, &p);
    int f = 0;
    f += fd_check("scan du", p.u, N, DI, DI, g.du, DI, scan_loss, &p, FD_TOL, &rng);
    f += fd_check("scan ddelta", p.delta, N, DI, DI, g.ddelta, DI, scan_loss, &p, FD_TOL, &rng);
    f += fd_check("scan ddelta (s>20 channel)", p.delta, N, 1, DI, g.ddelta, DI, scan_loss, &p, FD_TOL, &rng);
    f += fd_check("scan dBm", scan_B(&p), N, DS, p.ldbc, g.dbc + SCAN_R, p.ldbc, scan_loss, &p, FD_TOL, &rng);
    f += fd_check("scan dCm", scan_C(&p), N, DS, p.ldbc, g.dbc + SCAN_R + DS, p.ldbc, scan_loss, &p, FD_TOL, &rng);
    f += fd_check("scan dz", p.z, N, DI, p.ldz, g.dz, p.ldz, scan_loss, &p, FD_TOL, &rng);
    f += fd_check("scan ddt_bias", p.dt_bias, 1, DI, 0, g.ddt_bias, 0, scan_loss, &p, FD_TOL, &rng);
    f += fd_check("scan dA_log", p.A_log, 1, DI * DS, 0, g.dA_log, 0, scan_loss, &p, FD_TOL, &rng);
    f += fd_check("scan dD", p.D, 1, DI, 0, g.dD, 0, scan_loss, &p, FD_TOL, &rng);
    HY_EXPECT(f == 0);
    for (int i = 0; i < N; i++) /* columns outside dBm/dCm and past DI in dz are untouched */
        HY_EXPECT(isnan(g.dbc[(size_t)i * p.ldbc]) && isnan(g.dz[(size_t)i * p.ldz + DI]));
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* Packed == separate for conv and scan (states reset at each document start),
 * bit for bit, forward and activation gradients. */
HY_TEST(conv_scan_packed_equals_separate) {
    hy_test_rng rng = {42};
    arena A = {0};
    hy_ops *o = cpu_ops();
    const int lens[] = {6, 1, 3, 9};
    tseqs t, t1;
    mk_seqs(&t, lens, 4);
    scan_prob p = scan_make(&A, &rng, o, &t.s, 20, 5); /* DI = 20 spans two channel blocks */
    scan_grads g = scan_grad(&A, &p);
    int DI = p.DI, N = t.s.n;
    float *u = fa(&A, (size_t)N * DI), *dx = fa(&A, (size_t)N * DI), *dw = fa(&A, (size_t)DI * 4), *db = fa(&A, (size_t)DI);
    HY_EXPECT_OK(o->conv1d_fwd(o->ctx, u, p.u, DI, p.A_log, p.D, &t.s, DI, 4)); /* any [DI,4] weights will do */
    HY_EXPECT_OK(o->conv1d_bwd(o->ctx, dx, DI, dw, db, p.r, p.u, DI, p.A_log, p.D, &t.s, DI, 4));
    for (int d = 0; d < 4; d++) {
        mk_seqs(&t1, &lens[d], 1);
        int st = t.cu[d], L = lens[d];
        scan_prob q = p;
        q.s = &t1.s;
        q.u = p.u + (size_t)st * DI, q.delta = p.delta + (size_t)st * DI, q.bc = p.bc + (size_t)st * p.ldbc, q.z = p.z + (size_t)st * p.ldz;
        q.r = p.r + (size_t)st * DI, q.y = fa(&A, (size_t)L * DI);
        scan_grads gq = scan_grad(&A, &q);
        HY_EXPECT_MSG(!memcmp(q.y, p.y + (size_t)st * DI, sizeof(float) * (size_t)L * DI), "scan doc %d: y differs", d);
        HY_EXPECT_MSG(!memcmp(gq.du, g.du + (size_t)st * DI, sizeof(float) * (size_t)L * DI), "scan doc %d: du differs", d);
        HY_EXPECT_MSG(!memcmp(gq.ddelta, g.ddelta + (size_t)st * DI, sizeof(float) * (size_t)L * DI), "scan doc %d: ddelta differs", d);
        HY_EXPECT_MSG(!memcmp(gq.dbc, g.dbc + (size_t)st * p.ldbc, sizeof(float) * (size_t)L * p.ldbc), "scan doc %d: dBm/dCm differ", d);
        HY_EXPECT_MSG(!memcmp(gq.dz, g.dz + (size_t)st * p.ldz, sizeof(float) * (size_t)L * p.ldz), "scan doc %d: dz differs", d);
        float *u1 = fa(&A, (size_t)L * DI), *dx1 = fa(&A, (size_t)L * DI);
        HY_EXPECT_OK(o->conv1d_fwd(o->ctx, u1, q.u, DI, p.A_log, p.D, &t1.s, DI, 4));
        HY_EXPECT_OK(o->conv1d_bwd(o->ctx, dx1, DI, dw, db, q.r, q.u, DI, p.A_log, p.D, &t1.s, DI, 4));
        HY_EXPECT_MSG(!memcmp(u1, u + (size_t)st * DI, sizeof(float) * (size_t)L * DI), "conv doc %d: u differs", d);
        HY_EXPECT_MSG(!memcmp(dx1, dx + (size_t)st * DI, sizeof(float) * (size_t)L * DI), "conv doc %d: dx differs", d);
    }
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- swiglu */

typedef struct {
    hy_ops *o;
    float *ab, *out, *r;
    int n, F, ld;
} swiglu_prob;

static double swiglu_loss(void *p_) {
    swiglu_prob *p = p_;
    HY_ASSERT(p->o->swiglu_fwd(p->o->ctx, p->out, p->ab, p->ab + p->F, p->ld, p->n, p->F) == HY_OK);
    return dot_rd(p->r, p->out, (size_t)p->n * p->F);
}

HY_TEST(swiglu_fwd_bwd) {
    hy_test_rng rng = {51};
    arena A = {0};
    hy_ops *o = cpu_ops();
    swiglu_prob p = {.o = o, .n = 4, .F = 6, .ld = 13};
    p.ab = fa_rand(&A, &rng, (size_t)p.n * p.ld, 1.5f), p.out = fa_const(&A, (size_t)p.n * p.F, NAN), p.r = fa_rand(&A, &rng, (size_t)p.n * p.F, 1.0f);
    swiglu_loss(&p);
    float want[4 * 6];
    for (int i = 0; i < p.n; i++)
        for (int c = 0; c < p.F; c++) want[i * p.F + c] = (float)(dsilu(p.ab[i * p.ld + c]) * p.ab[i * p.ld + p.F + c]);
    HY_EXPECT(hy_test_compare("swiglu fwd vs double", p.out, want, (size_t)p.n * p.F, 1e-6, 1e-6) == 0);
    float *g = fa_const(&A, (size_t)p.n * p.ld, NAN);
    HY_EXPECT_OK(o->swiglu_bwd(o->ctx, g, g + p.F, p.ld, p.r, p.ab, p.ab + p.F, p.n, p.F));
    HY_EXPECT(!fd_check("swiglu da|db", p.ab, p.n, 2 * p.F, p.ld, g, p.ld, swiglu_loss, &p, FD_TOL, &rng));
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- cross-entropy */

typedef struct {
    hy_ops *o;
    float *logits, *loss, *lse, *scale;
    const int32_t *tg;
    int n, V, ld;
} ce_prob;

static double ce_loss(void *p_) {
    ce_prob *p = p_;
    HY_ASSERT(p->o->ce_fwd(p->o->ctx, p->loss, p->lse, p->logits, p->ld, p->tg, p->n, p->V) == HY_OK);
    return dot_rd(p->scale, p->loss, (size_t)p->n);
}

/* Ignored targets (−100 and −1), target 0 and V−1, padded rows (ld > V) whose
 * padding holds NaN (never read), in-place gradient. */
HY_TEST(cross_entropy_fwd_bwd) {
    hy_test_rng rng = {61};
    arena A = {0};
    hy_ops *o = cpu_ops();
    const int32_t tg[] = {3, -100, 0, 6, -1};
    ce_prob p = {.o = o, .n = 5, .V = 7, .ld = 9, .tg = tg};
    p.logits = fa_rand(&A, &rng, (size_t)p.n * p.ld, 2.0f), p.loss = fa(&A, (size_t)p.n), p.lse = fa(&A, (size_t)p.n);
    p.scale = fa(&A, (size_t)p.n);
    for (int i = 0; i < p.n; i++) {
        p.scale[i] = (float)(0.2 + hy_test_uniform(&rng));
        for (int v = p.V; v < p.ld; v++) p.logits[i * p.ld + v] = NAN;
    }
    ce_loss(&p);
    for (int i = 0; i < p.n; i++) {
        double mx = -INFINITY, s = 0;
        for (int v = 0; v < p.V; v++) mx = fmax(mx, p.logits[i * p.ld + v]);
        for (int v = 0; v < p.V; v++) s += exp(p.logits[i * p.ld + v] - mx);
        double lse = mx + log(s), loss = tg[i] >= 0 ? lse - p.logits[i * p.ld + tg[i]] : 0;
        HY_EXPECT_MSG(fabs(p.lse[i] - lse) <= 1e-6 * (1 + fabs(lse)) && fabs(p.loss[i] - loss) <= 1e-6 * (1 + fabs(loss)),
                      "row %d: lse %g loss %g, want %g %g", i, p.lse[i], p.loss[i], lse, loss);
    }
    float *g = fa_const(&A, (size_t)p.n * p.ld, NAN);
    HY_EXPECT_OK(o->ce_bwd(o->ctx, g, p.ld, p.logits, p.lse, tg, p.scale, p.n, p.V));
    for (int i = 0; i < p.n; i++)
        for (int v = 0; v < p.ld; v++)
            HY_EXPECT_MSG((v < p.V && tg[i] >= 0) || g[i * p.ld + v] == 0.0f, "dlogits[%d,%d] = %g, expected 0", i, v, g[i * p.ld + v]);
    HY_EXPECT(!fd_check("ce dlogits", p.logits, p.n, p.V, p.ld, g, p.ld, ce_loss, &p, FD_TOL, &rng));
    float *inplace = fa(&A, (size_t)p.n * p.ld);
    memcpy(inplace, p.logits, sizeof(float) * (size_t)p.n * p.ld);
    HY_EXPECT_OK(o->ce_bwd(o->ctx, inplace, p.ld, inplace, p.lse, tg, p.scale, p.n, p.V));
    HY_EXPECT(!memcmp(inplace, g, sizeof(float) * (size_t)p.n * p.ld));
    const int32_t bad_tg[] = {3, 7, 0, 1, 2};
    HY_EXPECT_ERR(o->ce_fwd(o->ctx, p.loss, p.lse, p.logits, p.ld, bad_tg, p.n, p.V), "row 1 has target 7");
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

/* ---------------------------------------------------------------- embedding, gather/scatter */

typedef struct {
    hy_ops *o;
    const hy_seqs *s;
    const int32_t *ids;
    float *emb, *meta, *out, *r;
    int M, C;
} emb_prob;

static double emb_loss(void *p_) {
    emb_prob *p = p_;
    HY_ASSERT(p->o->embedding_fwd(p->o->ctx, p->out, p->ids, p->s, p->emb, p->meta, p->M, p->C) == HY_OK);
    return dot_rd(p->r, p->out, (size_t)p->s->n * p->C);
}

/* Two documents with M = 2 meta rows each; token 0 (padding_idx) and repeats. */
HY_TEST(embedding_fwd_bwd) {
    hy_test_rng rng = {71};
    arena A = {0};
    hy_ops *o = cpu_ops();
    tseqs t;
    mk_seqs(&t, (const int[]){5, 4}, 2);
    const int32_t ids[] = {-7, 99, 3, 0, 3, -7, 99, 5, 0}; /* meta rows hold junk ids (ignored) */
    int V = 6, C = 70, N = t.s.n; /* C > 64 spans two column chunks of the backward */
    emb_prob p = {.o = o, .s = &t.s, .ids = ids, .M = 2, .C = C};
    p.emb = fa_rand(&A, &rng, (size_t)V * C, 1.0f), p.meta = fa_rand(&A, &rng, (size_t)2 * C, 1.0f);
    p.out = fa_const(&A, (size_t)N * C, NAN), p.r = fa_rand(&A, &rng, (size_t)N * C, 1.0f);
    emb_loss(&p);
    for (int i = 0; i < N; i++) {
        const float *want = t.pos[i] < 2 ? p.meta + (size_t)t.pos[i] * C : p.emb + (size_t)ids[i] * C;
        HY_EXPECT_MSG(!memcmp(p.out + (size_t)i * C, want, sizeof(float) * (size_t)C), "row %d", i);
    }
    float *demb = fa_const(&A, (size_t)V * C, ACC0), *dmeta = fa_const(&A, (size_t)2 * C, ACC0);
    HY_EXPECT_OK(o->embedding_bwd(o->ctx, demb, dmeta, p.r, ids, &t.s, 2, C, V, 0));
    for (int c = 0; c < C; c++) HY_EXPECT_MSG(demb[c] == ACC0, "padding row 0 got a lookup gradient at column %d", c);
    sub_const(demb, (size_t)V * C, ACC0);
    sub_const(dmeta, (size_t)2 * C, ACC0);
    /* rows 1..V−1 against finite differences (row 0 is excluded by design, spec §9.12) */
    HY_EXPECT(!fd_check("embedding demb rows 1..", p.emb + C, V - 1, C, C, demb + C, C, emb_loss, &p, FD_TOL, &rng));
    HY_EXPECT(!fd_check("embedding dmeta", p.meta, 2, C, C, dmeta, C, emb_loss, &p, FD_TOL, &rng));
    const int32_t bad[] = {0, 0, 3, 6, 1, 0, 0, 1, 1};
    HY_EXPECT_ERR(o->embedding_bwd(o->ctx, demb, dmeta, p.r, bad, &t.s, 2, C, V, 0), "row 3 has token id 6");
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

HY_TEST(gather_scatter_rows) {
    hy_ops *o = cpu_ops();
    float in[6 * 3], out[4 * 3], back[6 * 3];
    for (int i = 0; i < 18; i++) in[i] = (float)i, back[i] = -1.0f;
    const int32_t idx[] = {5, 0, 2, 5};
    HY_EXPECT_OK(o->gather_rows(o->ctx, out, in, idx, 4, 3));
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 3; c++) HY_EXPECT(out[r * 3 + c] == in[idx[r] * 3 + c]);
    HY_EXPECT_OK(o->scatter_rows(o->ctx, back, out, idx, 4, 3, 1)); /* row 5 collects twice */
    for (int c = 0; c < 3; c++) {
        HY_EXPECT(back[0 * 3 + c] == -1.0f + in[c] && back[2 * 3 + c] == -1.0f + in[6 + c]);
        HY_EXPECT(back[5 * 3 + c] == -1.0f + 2 * in[15 + c] && back[1 * 3 + c] == -1.0f && back[4 * 3 + c] == -1.0f);
    }
    HY_EXPECT_OK(o->scatter_rows(o->ctx, back, out, idx, 3, 3, 0));
    for (int c = 0; c < 3; c++) HY_EXPECT(back[5 * 3 + c] == in[15 + c] && back[0 * 3 + c] == in[c] && back[3 * 3 + c] == -1.0f);
    hy_backend_cpu_destroy(o);
    return 0;
}

/* ---------------------------------------------------------------- determinism */

/* Backward results do not depend on the number of OpenMP threads (bit for bit). */
HY_TEST(backward_independent_of_threads) {
    hy_test_rng rng = {81};
    arena A = {0};
    hy_ops *o = cpu_ops();
    tseqs t;
    mk_seqs(&t, (const int[]){17, 3, 11}, 3);
    int saved = omp_get_max_threads();
    float *res[2][4];
    att_prob pa = att_make(&A, &rng, o, &t.s, 4, 2, 8, 16, 2, 5);
    scan_prob ps = scan_make(&A, &rng, o, &t.s, 40, 6);
    for (int k = 0; k < 2; k++) {
        omp_set_num_threads(k ? 3 : 1);
        res[k][0] = att_grad(&A, &pa);
        scan_grads g = scan_grad(&A, &ps);
        res[k][1] = g.dbc, res[k][2] = g.dA_log, res[k][3] = g.ddelta;
    }
    omp_set_num_threads(saved);
    int N = t.s.n;
    HY_EXPECT(!memcmp(res[0][0], res[1][0], sizeof(float) * (size_t)N * pa.ld));
    HY_EXPECT(!memcmp(res[0][1], res[1][1], sizeof(float) * (size_t)N * ps.ldbc));
    HY_EXPECT(!memcmp(res[0][2], res[1][2], sizeof(float) * (size_t)ps.DI * ps.DS));
    HY_EXPECT(!memcmp(res[0][3], res[1][3], sizeof(float) * (size_t)N * ps.DI));
    hy_backend_cpu_destroy(o);
    arena_free(&A);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
