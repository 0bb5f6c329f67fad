/* cross_entropy.c — CPU cross-entropy over a padded vocabulary, and row
 * gather/scatter (kernels/cross_entropy.h).
 * Rows are independent: parallel over rows, max-shifted sums in double.  The
 * scatter may see repeated indices, so threads own column chunks and walk the
 * rows in order (deterministic, no races). */
#include <math.h>
#include <string.h>

#include "kernels/cross_entropy.h"

enum { CE_COL_CHUNK = 64 }; /* columns per work item of scatter_rows */

static hy_status ce_check_targets(const int32_t *targets, int n, int V) {
    for (int r = 0; r < n; r++)
        if (targets[r] >= V)
            return hy_errorf(HY_ERR_ARG, "cross-entropy: row %d has target %d; expected < V = %d (negative = ignored)", r, targets[r],
                             V);
    return HY_OK;
}

hy_status hy_ce_fwd_cpu(void *ctx, float *loss, float *lse, const hy_act *logits_, int ld, const int32_t *targets, int n, int V) {
    const float *logits = logits_;
    HY_ASSERT(ld >= V);
    HY_TRY(ce_check_targets(targets, n, V));
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *l = logits + (size_t)r * ld;
        float mx = -INFINITY;
        for (int v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
        double sum = 0;
        for (int v = 0; v < V; v++) sum += exp((double)l[v] - mx);
        double z = mx + log(sum);
        lse[r] = (float)z;
        loss[r] = targets[r] >= 0 ? (float)(z - l[targets[r]]) : 0.0f;
    }
    return HY_OK;
}

hy_status hy_ce_bwd_cpu(void *ctx, hy_act *dlogits_, int ld, const hy_act *logits_, const float *lse, const int32_t *targets,
                        const float *scale, int n, int V) {
    float *dl = dlogits_;
    const float *logits = logits_;
    HY_ASSERT(ld >= V);
    HY_TRY(ce_check_targets(targets, n, V));
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) {
        const float *l = logits + (size_t)r * ld;
        float *d = dl + (size_t)r * ld;
        int t = targets[r];
        if (t < 0) {
            memset(d, 0, sizeof(float) * (size_t)ld);
            continue;
        }
        float sc = scale[r], z = lse[r];
        for (int v = 0; v < V; v++) d[v] = sc * expf(l[v] - z);
        d[t] -= sc;
        for (int v = V; v < ld; v++) d[v] = 0.0f;
    }
    return HY_OK;
}

hy_status hy_gather_rows_cpu(void *ctx, hy_act *out_, const hy_act *in_, const int32_t *idx, int n, int C) {
    float *out = out_;
    const float *in = in_;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < n; r++) memcpy(out + (size_t)r * C, in + (size_t)idx[r] * C, sizeof(float) * (size_t)C);
    return HY_OK;
}

hy_status hy_scatter_rows_cpu(void *ctx, hy_act *out_, const hy_act *in_, const int32_t *idx, int n, int C, int accumulate) {
    float *out = out_;
    const float *in = in_;
    int nchunks = HY_CEIL_DIV(C, CE_COL_CHUNK);
#pragma omp parallel for schedule(static)
    for (int ch = 0; ch < nchunks; ch++) {
        int c0 = ch * CE_COL_CHUNK, c1 = hy_imin(C, c0 + CE_COL_CHUNK);
        for (int r = 0; r < n; r++) {
            float *o = out + (size_t)idx[r] * C;
            const float *g = in + (size_t)r * C;
            if (accumulate) for (int c = c0; c < c1; c++) o[c] += g[c];
            else for (int c = c0; c < c1; c++) o[c] = g[c];
        }
    }
    return HY_OK;
}
