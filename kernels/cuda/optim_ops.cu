/* optim_ops.cu — the optimizer ops on the GPU (kernels/optim_ops.h): AdamW
 * over the flat fp32 buffers, the gradient's fp64 sum of squares, a
 * finiteness test and scaling.
 *
 * AdamW.  The host forms the scalars in fp64 exactly as core/optim.c's
 * hy_adamw_step does; the kernel does the element math in fp32 with explicit
 * round-to-nearest intrinsics (__fmul_rn, __fadd_rn, __fdiv_rn, __fsqrt_rn)
 * in torch's operation order, so the compiler cannot contract products into
 * FMAs: given the same inputs the update is bit-identical to the CPU's.  The
 * ranges of hy_optim_groups are passed by value in batches of ADAM_BATCH
 * (blockIdx.y = range of the batch), so a 1.5B model needs a handful of
 * launches, not one per range.  With param_act the updated weights are also
 * stored in the act dtype (the bf16 copy the model computes with) in the same
 * pass: no separate cast over the whole buffer.
 *
 * Sum of squares.  Deterministic two-stage reduction without atomics: a
 * fixed grid of SUMSQ_BLOCKS blocks, each thread accumulating its grid-stride
 * elements in fp64 and each block reducing its threads in a fixed tree; then
 * one block adds the SUMSQ_BLOCKS partials in a fixed order.  The grid does
 * not depend on the device, so the double is the same on every run.
 *
 * Finiteness: every thread that sees a NaN/inf stores 1 into a zeroed flag
 * (the same value from every writer: the result does not depend on timing). */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/optim_ops.h"

enum { ADAM_BATCH = 64, ADAM_THREADS = 256, ADAM_MAX_GRID_X = 1024, SUMSQ_BLOCKS = 1024, SUMSQ_THREADS = 256 };

struct adam_coefs {
    float step_size, bc2_sqrt, decay_mul, b1, b2, one_m_b1, one_m_b2, eps, grad_scale;
};

struct adam_batch {
    size_t off[ADAM_BATCH], n[ADAM_BATCH];
    float mul[ADAM_BATCH];
};

template <typename T>
static __global__ void k_adamw(adam_batch b, adam_coefs c, float *p, const float *g, float *m, float *v, T *pa) {
    const size_t off = b.off[blockIdx.y], n = b.n[blockIdx.y];
    const float mul = b.mul[blockIdx.y];
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        const size_t k = off + i;
        const float gi = __fmul_rn(g[k], c.grad_scale);
        const float pi = __fmul_rn(p[k], mul);
        const float mi = __fadd_rn(__fmul_rn(c.b1, m[k]), __fmul_rn(c.one_m_b1, gi));
        const float vi = __fadd_rn(__fmul_rn(c.b2, v[k]), __fmul_rn(__fmul_rn(c.one_m_b2, gi), gi));
        const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), c.bc2_sqrt), c.eps);
        const float np = __fsub_rn(pi, __fmul_rn(c.step_size, __fdiv_rn(mi, denom)));
        p[k] = np;
        m[k] = mi;
        v[k] = vi;
        if (pa) hy_st<T>(pa + k, np);
    }
}

/* The scalars of update t, formed as core/optim.c forms them. */
static adam_coefs adam_make_coefs(const hy_adamw_hparams *h, int64_t t, double lr, float grad_scale) {
    const double bc1 = 1.0 - pow(h->beta1, (double)t);
    const double bc2 = 1.0 - pow(h->beta2, (double)t);
    adam_coefs c;
    c.step_size = (float)(lr / bc1);
    c.bc2_sqrt = (float)sqrt(bc2);
    c.decay_mul = (float)(1.0 - lr * h->weight_decay);
    c.b1 = (float)h->beta1;
    c.b2 = (float)h->beta2;
    c.one_m_b1 = (float)(1.0 - h->beta1);
    c.one_m_b2 = (float)(1.0 - h->beta2);
    c.eps = (float)h->eps;
    c.grad_scale = grad_scale;
    return c;
}

static hy_status adam_launch(hy_cuda_ctx *c, const adam_batch &b, int count, size_t max_n, const adam_coefs &k, float *param,
                             const float *grad, float *m, float *v, hy_act *param_act) {
    unsigned gx = hy_cuda_blocks(max_n, ADAM_THREADS);
    if (gx > ADAM_MAX_GRID_X) gx = ADAM_MAX_GRID_X;
    dim3 grid(gx, (unsigned)count);
    if (param_act && hy_cuda_bf16(c))
        k_adamw<__nv_bfloat16><<<grid, ADAM_THREADS, 0, c->stream>>>(b, k, param, grad, m, v, (__nv_bfloat16 *)param_act);
    else
        k_adamw<float><<<grid, ADAM_THREADS, 0, c->stream>>>(b, k, param, grad, m, v, (float *)param_act);
    HY_CUDA_LAUNCH_CHECK(c, "adamw");
    return HY_OK;
}

extern "C" hy_status hy_adamw_cuda(void *ctx, const hy_adamw_hparams *h, const hy_optim_groups *g, int64_t t, double lr,
                                   float grad_scale, float *param, const float *grad, float *m, float *v, hy_act *param_act) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (t < 1) return hy_errorf(HY_ERR_ARG, "adamw: update number %lld; expected >= 1", (long long)t);
    if (param_act == (hy_act *)param) param_act = NULL; /* fp32 storage: the master weights are the model's */
    const adam_coefs k = adam_make_coefs(h, t, lr, grad_scale);
    adam_batch b;
    int count = 0;
    size_t max_n = 0;
    for (int r = 0; r < g->count; r++) {
        const hy_optim_range *rg = &g->ranges[r];
        if (!rg->numel) continue;
        b.off[count] = rg->offset;
        b.n[count] = rg->numel;
        /* ×1.0f is exact: a non-decayed range equals skipping the decay (as on the CPU) */
        b.mul[count] = rg->decay ? k.decay_mul : 1.0f;
        max_n = max_n > rg->numel ? max_n : rg->numel;
        if (++count == ADAM_BATCH) {
            HY_TRY(adam_launch(c, b, count, max_n, k, param, grad, m, v, param_act));
            count = 0;
            max_n = 0;
        }
    }
    if (count) HY_TRY(adam_launch(c, b, count, max_n, k, param, grad, m, v, param_act));
    return HY_OK;
}

/* ---- sum of squares: fixed grid, fp64, fixed-order trees ---- */

/* Block tree over SUMSQ_THREADS doubles in shared memory; thread 0 gets the sum. */
static __device__ double sumsq_block_tree(double *sh, double v) {
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int s = SUMSQ_THREADS / 2; s > 0; s >>= 1) {
        if ((int)threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
        __syncthreads();
    }
    return sh[0];
}

static __global__ void k_sumsq_parts(double *part, const float *x, size_t n) {
    __shared__ double sh[SUMSQ_THREADS];
    double acc = 0.0;
    for (size_t i = blockIdx.x * (size_t)SUMSQ_THREADS + threadIdx.x; i < n; i += (size_t)SUMSQ_BLOCKS * SUMSQ_THREADS) {
        const double xi = (double)x[i];
        acc += xi * xi;
    }
    const double s = sumsq_block_tree(sh, acc);
    if (threadIdx.x == 0) part[blockIdx.x] = s;
}

static __global__ void k_sumsq_final(double *out, const double *part) {
    __shared__ double sh[SUMSQ_THREADS];
    double acc = 0.0;
    for (int i = threadIdx.x; i < SUMSQ_BLOCKS; i += SUMSQ_THREADS) acc += part[i];
    const double s = sumsq_block_tree(sh, acc);
    if (threadIdx.x == 0) *out = s;
}

extern "C" hy_status hy_sumsq_cuda(void *ctx, double *out, const float *x, size_t n) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    void *scr;
    HY_TRY(hy_cuda_scratch(c, sizeof(double) * (SUMSQ_BLOCKS + 1), &scr));
    double *part = (double *)scr, *res = part + SUMSQ_BLOCKS;
    k_sumsq_parts<<<SUMSQ_BLOCKS, SUMSQ_THREADS, 0, c->stream>>>(part, x, n);
    HY_CUDA_LAUNCH_CHECK(c, "sumsq_parts");
    k_sumsq_final<<<1, SUMSQ_THREADS, 0, c->stream>>>(res, part);
    HY_CUDA_LAUNCH_CHECK(c, "sumsq_final");
    HY_CUDA_CHECK(c, cudaMemcpyAsync(out, res, sizeof(double), cudaMemcpyDeviceToHost, c->stream));
    HY_CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    return HY_OK;
}

/* ---- finiteness, scaling ---- */

static __global__ void k_all_finite(int *bad, const float *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        if (!isfinite(x[i])) *bad = 1;
}

extern "C" hy_status hy_all_finite_cuda(void *ctx, int *out, const float *x, size_t n) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    void *scr;
    int bad = 0;
    HY_TRY(hy_cuda_scratch(c, sizeof(int), &scr));
    HY_CUDA_CHECK(c, cudaMemsetAsync(scr, 0, sizeof(int), c->stream));
    if (n) {
        k_all_finite<<<hy_cuda_blocks(n, 256), 256, 0, c->stream>>>((int *)scr, x, n);
        HY_CUDA_LAUNCH_CHECK(c, "all_finite");
    }
    HY_CUDA_CHECK(c, cudaMemcpyAsync(&bad, scr, sizeof(int), cudaMemcpyDeviceToHost, c->stream));
    HY_CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    *out = !bad;
    return HY_OK;
}

static __global__ void k_scale(float *x, size_t n, float s) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        x[i] = __fmul_rn(x[i], s);
}

extern "C" hy_status hy_scale_cuda(void *ctx, float *x, size_t n, float s) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (!n || s == 1.0f) return HY_OK;
    k_scale<<<hy_cuda_blocks(n, 256), 256, 0, c->stream>>>(x, n, s);
    HY_CUDA_LAUNCH_CHECK(c, "scale");
    return HY_OK;
}
