/* optim_ops.c — the CPU optimizer ops (kernels/optim_ops.h) over host fp32
 * buffers.  AdamW, finiteness and scaling are core/optim.c's functions, so
 * the CPU trainer through the ops table computes exactly what it computed
 * before the table had these entries.  The sum of squares repeats
 * hy_optim_global_norm's fixed chunking (HY_OPTIM_NORM_CHUNKS fp64 chunk sums
 * added in chunk order) without the final sqrt, so sqrt(sumsq) is the same
 * double bit for bit and the result does not depend on the thread count. */
#include <string.h>

#include "kernels/optim_ops.h"

hy_status hy_adamw_cpu(void *ctx, const hy_adamw_hparams *h, const hy_optim_groups *g, int64_t t, double lr, float grad_scale, float *param,
                       const float *grad, float *m, float *v, hy_act *param_act) {
    if (t < 1) return hy_errorf(HY_ERR_ARG, "adamw: update number %lld; expected >= 1", (long long)t);
    hy_adamw_step(h, g, t, lr, grad_scale, param, grad, m, v);
    if (!param_act || param_act == (hy_act *)param) return HY_OK;
    /* the CPU stores activations in fp32: the act copy is a plain copy of each range */
    for (int r = 0; r < g->count; r++)
        memcpy((float *)param_act + g->ranges[r].offset, param + g->ranges[r].offset, sizeof(float) * g->ranges[r].numel);
    return HY_OK;
}

hy_status hy_sumsq_cpu(void *ctx, double *out, const float *x, size_t n) {
    *out = hy_optim_sumsq(x, n); /* fixed chunks and order: bitwise hy_optim_global_norm² before the sqrt */
    return HY_OK;
}

hy_status hy_all_finite_cpu(void *ctx, int *out, const float *x, size_t n) {
    *out = hy_optim_all_finite(x, n);
    return HY_OK;
}

hy_status hy_scale_cpu(void *ctx, float *x, size_t n, float s) {
    hy_optim_scale(x, n, s);
    return HY_OK;
}
