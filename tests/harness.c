/* harness.c — see harness.h. */
#include "harness.h"

#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { HY_MAX_TESTS = 512 };
typedef struct { const char *name; hy_test_fn fn; } hy_test_case;
static hy_test_case hy_cases[HY_MAX_TESTS]; /* filled by constructors before main */
static int hy_ncases;

void hy_test_register(const char *name, hy_test_fn fn) {
    if (hy_ncases < HY_MAX_TESTS) hy_cases[hy_ncases++] = (hy_test_case){name, fn};
}

int hy_test_main(int argc, char **argv) {
    int fails = 0, ran = 0;
    for (int i = 0; i < hy_ncases; i++) {
        if (argc > 1) {
            int hit = 0;
            for (int a = 1; a < argc; a++) hit |= !strcmp(argv[a], hy_cases[i].name);
            if (!hit) continue;
        }
        fprintf(stderr, "[ RUN  ] %s\n", hy_cases[i].name);
        int r = hy_cases[i].fn();
        ran++;
        fprintf(stderr, "[ %s ] %s\n", r ? "FAIL" : " OK ", hy_cases[i].name);
        fails += r != 0;
    }
    if (!ran) { fprintf(stderr, "no test case matched\n"); return 2; }
    fprintf(stderr, "%d/%d passed\n", ran - fails, ran);
    return fails ? 1 : 0;
}

size_t hy_test_compare(const char *label, const float *got, const float *want, size_t n, double atol, double rtol) {
    size_t bad = 0, worst = 0;
    double worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], err = fabs(g - w), tol = atol + rtol * fabs(w);
        double excess = (isnan(g) != isnan(w)) ? INFINITY : err - tol;
        /* NaN on both sides: an element both leave alone (poisoned, outside
         * the op's output), never bad and never reported as the worst */
        if (isnan(g) && isnan(w)) excess = -INFINITY;
        if (excess > 0) bad++;
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
    }
    if (n) {
        double g = got[worst], w = want[worst];
        fprintf(stderr, "  %-40s n=%zu bad=%zu worst[%zu] got=%.9g want=%.9g abs=%.3g rel=%.3g (atol %.1g rtol %.1g)\n",
                label, n, bad, worst, g, w, fabs(g - w), fabs(g - w) / (fabs(w) > 0 ? fabs(w) : 1), atol, rtol);
    }
    return bad;
}

size_t hy_test_compare_d(const char *label, const double *got, const double *want, size_t n, double atol, double rtol) {
    size_t bad = 0, worst = 0;
    double worst_excess = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]), excess = err - (atol + rtol * fabs(want[i]));
        if (isnan(got[i]) || isnan(want[i])) excess = INFINITY;
        if (excess > 0) bad++;
        if (excess > worst_excess) { worst_excess = excess; worst = i; }
    }
    if (n)
        fprintf(stderr, "  %-40s n=%zu bad=%zu worst[%zu] got=%.12g want=%.12g abs=%.3g\n", label, n, bad, worst, got[worst],
                want[worst], fabs(got[worst] - want[worst]));
    return bad;
}

double hy_test_rel_inf(const float *got, const float *want, size_t n) {
    double md = 0, mw = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        if (isnan(d)) return INFINITY;
        if (d > md) md = d;
        if (fabs(want[i]) > mw) mw = fabs(want[i]);
    }
    return md / (mw > 1e-30 ? mw : 1e-30);
}

static uint64_t hy_splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
double hy_test_uniform(hy_test_rng *r) { return (hy_splitmix(&r->s) >> 11) * (1.0 / 9007199254740992.0); }
double hy_test_normal(hy_test_rng *r) {
    double u = hy_test_uniform(r), v = hy_test_uniform(r);
    if (u < 1e-300) u = 1e-300;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}
void hy_test_fill(hy_test_rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(hy_test_normal(r) * scale);
}

int hy_test_tmpdir(char *buf, size_t n, const char *tag) {
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/hymba-%s-XXXXXX", t && *t ? t : "/tmp", tag);
    return mkdtemp(buf) ? 0 : -1;
}

int hy_test_run(const char *cmd, char **output) {
    char full[8192];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += r;
        if (cap - len < 2) { cap *= 2; buf = realloc(buf, cap); }
    }
    if (buf) buf[len] = 0;
    int st = pclose(p);
    if (output) *output = buf; else free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

const char *hy_test_hymba(void) {
    const char *b = getenv("HYMBA_BIN");
    return b && *b ? b : HY_BINARY_DIR "/hymba";
}

int hy_test_write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}
