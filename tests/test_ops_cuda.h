/* test_ops_cuda.h — shared helpers of the CUDA-vs-CPU op tests
 * (test_ops_cuda.c: pointwise/row ops, test_ops_cuda_seq.c: the sequence ops).
 *
 * Method.  Every case draws fp32 host inputs, then for each precision mode
 * (fp32, bf16) runs the same op through the CPU backend and through a CUDA
 * backend of that storage dtype, and compares the outputs element by element.
 * In bf16 mode the CPU is fed the bf16-rounded inputs, so both sides compute
 * from identical values and only the GPU's internal and output roundings
 * differ.  Outputs that an op overwrites are pre-filled with NaN on both
 * sides (an element the GPU fails to write compares NaN against a number and
 * fails; padding it must not touch stays NaN on both sides and passes); outputs
 * that accumulate are pre-filled with the same random values on both sides.
 *
 * Tolerance: an element passes when |gpu − cpu| ≤ tol.abs·max|cpu| + tol.rel·|cpu|
 * (scale-aware: the absolute part is relative to the tensor's largest value).
 * Each case states its tolerances beside the call. */
#ifndef HY_TEST_OPS_CUDA_H
#define HY_TEST_OPS_CUDA_H
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "kernels/backend.h"
#include "kernels/backend_cuda.h"
#include "tests/harness.h"

enum { TC_FP32 = 0, TC_BF16 = 1 };
extern const char *const tc_mode_name[2];

/* One backend plus everything a case allocated on it. */
typedef struct {
    hy_ops *o;
    int round; /* inputs are rounded to bf16 (bf16 mode, on either backend) */
    void *mem[64];
    int nmem;
} tc_side;

/* The backends of one test: the CPU reference and CUDA in fp32 and bf16. */
typedef struct {
    hy_ops *cpu, *gpu[2];
} tc_env;

typedef struct {
    double abs, rel;
} tc_tol;

/* Packed documents built on the host from lengths. */
typedef struct {
    int n, n_docs, max_len;
    int32_t cu[33];
    int32_t *pos; /* [n] */
} tc_docs;

int tc_env_open(tc_env *e);
void tc_env_close(tc_env *e);
/* sides[0] = CPU, sides[1] = GPU of `mode` */
void tc_sides(tc_env *e, int mode, tc_side s[2]);
void tc_side_free(tc_side *s);

float *tc_host(size_t n);                               /* malloc'd, zeroed; caller frees */
float *tc_rand(hy_test_rng *r, size_t n, float scale);  /* N(0, scale²) */
float *tc_nan(size_t n);
float tc_bf16r(float x);

void *tc_act(tc_side *s, const float *h, size_t n); /* act-dtype copy of h (rounded when s->round) */
float *tc_f32(tc_side *s, const float *h, size_t n);
int32_t *tc_i32(tc_side *s, const int32_t *h, size_t n);
void tc_get_act(tc_side *s, const void *d, size_t n, float *out);
void tc_get_f32(tc_side *s, const float *d, size_t n, float *out);
hy_seqs tc_seqs(tc_side *s, const tc_docs *d);

void tc_docs_make(tc_docs *d, const int *lens, int nd);
void tc_docs_free(tc_docs *d);

/* Compare with the scale-aware tolerance; prints one line; returns 1 on failure. */
int tc_cmp(const char *op, const char *what, int mode, const float *gpu, const float *cpu, size_t n, tc_tol tol);
/* Bitwise equality of two GPU runs (determinism); returns 1 on failure. */
int tc_same(const char *op, const char *what, int mode, const float *a, const float *b, size_t n);

#define TC_OK(expr)                                                                                 \
    do {                                                                                            \
        hy_status tc_s_ = (expr);                                                                   \
        if (tc_s_ != HY_OK) {                                                                       \
            fprintf(stderr, "  FAIL %s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr,             \
                    hy_status_name(tc_s_), hy_last_error());                                        \
            return 1;                                                                               \
        }                                                                                           \
    } while (0)
#endif
