/* bench_kernels.h — `hymba bench --kernels` (cli/bench_kernels.c): each op of
 * a training step alone at a config's shapes, timed against ceilings measured
 * in the same run and checked against the CPU reference op. */
#ifndef HY_CLI_BENCH_KERNELS_H
#define HY_CLI_BENCH_KERNELS_H
#include "core/config.h"
#include "kernels/ops.h"

typedef struct {
    const char *device, *precision;
    int doc_len, tokens; /* documents of doc_len text tokens, floor(tokens / (doc_len + M)) of them */
    int reps, warmup;    /* timed and untimed calls per op */
    int check;           /* compare with the CPU op at a reduced shape */
} hy_kbench_args;

/* The ceilings the reports compare against, measured through `o`: a square
 * matmul_fwd of side *mm_n (8192 on a GPU, 1024 on the host) in TFLOP/s and
 * a device copy (2 GiB; 256 MiB on the host) in GB/s, bytes read + written;
 * best of 5 timed repetitions after one untimed. */
hy_status hy_bench_ceilings(const hy_ops *o, double *tflops, double *gbs, int *mm_n);

/* Prints the table; HY_ERR_NUMERIC when a check fails. */
hy_status hy_bench_kernels(const hy_config *c, const hy_kbench_args *a);

#endif
