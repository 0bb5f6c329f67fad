/* harness.h — test helpers.  A test executable registers cases with
 * HY_TEST(name) { ... } and calls hy_test_main() from main(); each case
 * returns 0 (pass) or 1 (fail) and prints the worst element on failure.
 * `./test_x NAME` runs one case by name. */
#ifndef HY_TEST_HARNESS_H
#define HY_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hy_base.h"

typedef int (*hy_test_fn)(void);
void hy_test_register(const char *name, hy_test_fn fn);
int hy_test_main(int argc, char **argv);

#define HY_TEST(name)                                                          \
    static int name(void);                                                     \
    __attribute__((constructor)) static void hy_reg_##name(void) { hy_test_register(#name, name); } \
    static int name(void)

#define HY_EXPECT(cond)                                                                   \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);             \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)
#define HY_EXPECT_MSG(cond, ...)                                                          \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "  FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fprintf(stderr, "\n");                                                        \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)
/* Expect HY_OK; on failure print the status message. */
#define HY_EXPECT_OK(expr)                                                                \
    do {                                                                                  \
        hy_status s_ = (expr);                                                            \
        if (s_ != HY_OK) {                                                                \
            fprintf(stderr, "  FAIL %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,   \
                    hy_status_name(s_), hy_last_error());                                 \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)
/* Expect a failure whose message contains `needle`. */
#define HY_EXPECT_ERR(expr, needle)                                                       \
    do {                                                                                  \
        hy_error_clear();                                                                 \
        hy_status s_ = (expr);                                                            \
        if (s_ == HY_OK || !strstr(hy_last_error(), (needle))) {                          \
            fprintf(stderr, "  FAIL %s:%d: %s: expected an error containing \"%s\", got %s: \"%s\"\n", \
                    __FILE__, __LINE__, #expr, (needle), hy_status_name(s_), hy_last_error()); \
            return 1;                                                                     \
        }                                                                                 \
    } while (0)

/* Compare arrays: passes when |got−want| ≤ atol + rtol·|want| everywhere.
 * Prints (label, worst index, got, want, abs and rel error) and returns the
 * number of failing elements. */
size_t hy_test_compare(const char *label, const float *got, const float *want, size_t n, double atol, double rtol);
/* Relative error of a whole tensor: ‖got−want‖∞ / max(‖want‖∞, tiny). */
double hy_test_rel_inf(const float *got, const float *want, size_t n);
size_t hy_test_compare_d(const char *label, const double *got, const double *want, size_t n, double atol, double rtol);

/* Deterministic test RNG (splitmix64). */
typedef struct { uint64_t s; } hy_test_rng;
double hy_test_uniform(hy_test_rng *r);       /* [0,1) */
double hy_test_normal(hy_test_rng *r);
void hy_test_fill(hy_test_rng *r, float *x, size_t n, float scale); /* N(0, scale²) */

/* A fresh empty directory under $TMPDIR (path written to buf). */
int hy_test_tmpdir(char *buf, size_t n, const char *tag);
/* Run a shell command; capture combined stdout+stderr (malloc'd, may be NULL)
 * and return its exit status (-1 if it did not exit normally). */
int hy_test_run(const char *cmd, char **output);
/* Path of the hymba binary ($HYMBA_BIN). */
const char *hy_test_hymba(void);
/* Write bytes to a file; 0 on success. */
int hy_test_write_file(const char *path, const void *data, size_t n);
#endif
