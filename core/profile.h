/* profile.h — counting and timing the work of a training step.
 *
 * Two pieces, both used by `hymba bench` (cli/cmd_bench.c):
 *
 *   hy_flops_per_token   the model FLOPs per text token of spec §11 for any
 *                        config (the MFU numerator), with its breakdown.
 *   hy_ops_profile_wrap  an ops-table decorator: a table whose every compute
 *                        entry runs the inner op between two inner `sync`
 *                        calls and adds the wall time, a call count and an
 *                        estimate of the op's FLOPs and mandatory bytes to a
 *                        per-op record.  The memory entries (alloc, free,
 *                        to_dev, to_host, sync) forward unchanged; copy and
 *                        zero are device work and are profiled.  The wrapped
 *                        table computes exactly what the inner one does (the
 *                        same calls with the same arguments, in the same
 *                        order): results are bitwise identical, only slower
 *                        by the synchronisations.
 *
 * Estimates (per call; es = bytes of the act dtype):
 *   matmul     2·n·O·I FLOPs forward, the same per requested product backward
 *   attention  2·NH·(DQK+DV)·pairs forward and 2.5× that backward, pairs = the
 *              (query, key) pairs the mask allows, summed over the documents of
 *              hy_seqs.cu_host (hy_attn_pairs)
 *   others     bytes read + written once (activations es, statistics and
 *              gradients fp32): the floor an ideal kernel must move.
 *
 * Not thread safe (one table per thread of calls).  The wrapped table's ctx
 * is the profiler, so backend helpers that inspect ops->ctx
 * (hy_backend_mem_info, hy_backend_destroy) must be given the inner table;
 * the wrapped table is named "<inner>+profile" so that it never passes for
 * a specific backend. */
#ifndef HY_PROFILE_H
#define HY_PROFILE_H
#include <stdio.h>

#include "config.h"
#include "kernels/ops.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- spec §11: model FLOPs per text token ---- */

typedef struct {
    double layer_matmul;  /* 6 · Σ_l (matmul parameters of layer l) · T/L */
    double head;          /* 6 · V · C (LM head on text rows only) */
    double attn_global;   /* 6 · NH · (DQK+DV) · Σ_{global l} pairs_global(T) / L */
    double attn_swa;      /* 6 · NH · (DQK+DV) · Σ_{window l} pairs_swa(T) / L */
    double scan;          /* NL · 27 · DI · DS · T/L */
    double conv;          /* NL · 6 · DC · DI · T/L */
    double total;         /* the sum: F(L) */
} hy_flops_breakdown;

/* Allowed (query, key) pairs of one document of T rows (meta rows included):
 * key j visible from query i iff j ≤ i ∧ (W < 0 ∨ i−j ≤ W ∨ j < M). */
int64_t hy_attn_pairs(int64_t T, int M, int W);
/* F(L) of spec §11 (FLOPs per text token for training on documents of L
 * text tokens, T = L + M rows per layer); `out` (optional) gets the parts.
 * L ≥ 1. */
double hy_flops_per_token(const hy_config *cfg, int L, hy_flops_breakdown *out);

/* ---- the profiling decorator ---- */

typedef struct hy_op_profile hy_op_profile;

/* Wrap `inner` (borrowed: it must outlive the wrapper).  *out is the table to
 * hand to the model and the step code; *prof its records.  Free both with
 * hy_ops_profile_free. */
hy_status hy_ops_profile_wrap(const hy_ops *inner, hy_ops **out, hy_op_profile **prof);
void hy_ops_profile_free(hy_ops *wrapped, hy_op_profile *prof);
/* Forget every record (after warm-up steps). */
void hy_op_profile_reset(hy_op_profile *p);
/* Seconds spent inside profiled ops since the last reset. */
double hy_op_profile_seconds(const hy_op_profile *p);

/* One row of the table, for callers that print their own. */
typedef struct {
    const char *op;   /* "matmul_fwd", ... */
    long long calls;
    double seconds;   /* wall time between the syncs */
    double flops;     /* estimated, 0 when the op is counted by bytes */
    double bytes;     /* estimated mandatory bytes (read + written) */
} hy_op_profile_row;
/* Rows with calls > 0, sorted by time (descending); returns their number
 * (≤ cap). */
int hy_op_profile_rows(const hy_op_profile *p, hy_op_profile_row *rows /* [cap] */, int cap);

/* Print the table sorted by time: op, calls, total ms, share of `wall_s`
 * (the wall time of the profiled steps; a final "(outside ops)" row holds
 * the rest so the shares add up to 100%), and the achieved TFLOP/s (matmul,
 * attention) or GB/s (everything else).  `steps` ≥ 1 divides the times into
 * per-step figures. */
void hy_op_profile_report(const hy_op_profile *p, FILE *f, double wall_s, int steps);
/* The same with an "of ceiling" column: achieved TFLOP/s over `tflops_ceil`
 * and GB/s over `gbs_ceil` (both > 0; measured, e.g. hy_bench_ceilings). */
void hy_op_profile_report_ceil(const hy_op_profile *p, FILE *f, double wall_s, int steps, double tflops_ceil, double gbs_ceil);

#ifdef __cplusplus
}
#endif
#endif
