/* backend_cuda.cu — the CUDA backend: context creation (device, stream,
 * cuBLASLt state, scratch), the memory entries of the ops table, the dtype
 * casts, copy2d and axpby, and the table fill.  Each op lives in its own
 * kernels/cuda/<op>.cu.
 *
 * Invariants: every pointer handed to the table's entries is device memory
 * unless the ops.h comment says "host"; everything runs on ctx->stream in
 * order, so host-visible results exist only after to_host (which waits) or
 * sync.  to_dev waits for its copy too, so the caller may reuse the host
 * buffer at once.  alloc returns zeroed memory (stream-ordered memset).
 *
 * Scratch: one device block that grows to the largest request and is then
 * reused by every op (ops run one after another on the stream, so they never
 * hold it at the same time).  Growing synchronises; after the first training
 * step it no longer happens, so the step loop does not allocate. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/backend_cuda.h"
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/attention.h"
#include "kernels/conv1d.h"
#include "kernels/cross_entropy.h"
#include "kernels/decode_ops.h"
#include "kernels/embedding.h"
#include "kernels/matmul.h"
#include "kernels/norm_avg.h"
#include "kernels/optim_ops.h"
#include "kernels/rmsnorm.h"
#include "kernels/rope.h"
#include "kernels/selective_scan.h"
#include "kernels/swiglu.h"

hy_status hy_cuda_scratch(hy_cuda_ctx *c, size_t bytes, void **out) {
    if (bytes > c->scratch_bytes) {
        HY_CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
        if (c->scratch) HY_CUDA_CHECK(c, cudaFree(c->scratch));
        c->scratch = NULL;
        c->scratch_bytes = 0;
        size_t want = hy_cuda_align(bytes + bytes / 4); /* headroom: fewer regrowths */
        if (cudaMalloc(&c->scratch, want) != cudaSuccess) {
            (void)cudaGetLastError();
            return hy_errorf(HY_ERR_OOM, "CUDA scratch: cannot allocate %zu bytes on device %d; hint: use a smaller "
                             "micro-batch (tokens per step)", want, c->device);
        }
        c->scratch_bytes = want;
    }
    *out = c->scratch;
    return HY_OK;
}

static __global__ void k_sum_partials(float *dst, const float *partial, int nparts, size_t width) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < width; i += (size_t)gridDim.x * blockDim.x) {
        float acc = 0.f;
        for (int k = 0; k < nparts; k++) acc += partial[(size_t)k * width + i];
        dst[i] += acc;
    }
}

hy_status hy_cuda_sum_partials(hy_cuda_ctx *c, float *dst, const float *partial, int nparts, size_t width) {
    if (!width) return HY_OK;
    k_sum_partials<<<hy_cuda_blocks(width, 128), 128, 0, c->stream>>>(dst, partial, nparts, width);
    HY_CUDA_LAUNCH_CHECK(c, "sum_partials");
    return HY_OK;
}

/* ---- memory entries ---- */
static hy_status cu_alloc(void *ctx, void **out, size_t bytes, const char *what) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    *out = NULL;
    if (!bytes) bytes = 1;
    if (cudaMalloc(out, bytes) != cudaSuccess) {
        (void)cudaGetLastError();
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        *out = NULL;
        return hy_errorf(HY_ERR_OOM, "device %d: out of memory allocating %s (%zu bytes; %zu of %zu bytes free); "
                         "hint: reduce the micro-batch tokens or enable recomputation", c->device, what ? what : "?",
                         bytes, fr, tot);
    }
    HY_CUDA_CHECK(c, cudaMemsetAsync(*out, 0, bytes, c->stream));
    return HY_OK;
}
static void cu_free(void *ctx, void *p) {
    if (!p) return;
    /* cudaFree synchronises the device; a failure here (a sticky earlier
     * fault) was already reported by the op that caused it. */
    if (cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
}
static hy_status cu_to_dev(void *ctx, void *dst, const void *src, size_t bytes) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (!bytes) return HY_OK;
    HY_CUDA_CHECK(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, c->stream));
    HY_CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    return HY_OK;
}
/* After a stream synchronisation: report (and clear) a deferred argument error. */
static hy_status cu_check_flags(hy_cuda_ctx *c) {
    int e[4];
    HY_CUDA_CHECK(c, cudaMemcpy(e, c->dev_err, sizeof e, cudaMemcpyDeviceToHost));
    if (e[0] == HY_CUDA_ERR_NONE) return HY_OK;
    HY_CUDA_CHECK(c, cudaMemset(c->dev_err, 0, sizeof e));
    if (e[0] == HY_CUDA_ERR_TOKEN_ID)
        return hy_errorf(HY_ERR_ARG, "embedding backward: row %d has token id %d; expected 0 <= id < V = %d (found on "
                         "device %d, reported at the next sync)", e[1], e[2], e[3], c->device);
    return hy_errorf(HY_ERR_ARG, "cross-entropy: row %d has target %d; expected < V = %d (negative = ignored; found on "
                     "device %d, reported at the next sync)", e[1], e[2], e[3], c->device);
}
static hy_status cu_to_host(void *ctx, void *dst, const void *src, size_t bytes) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (!bytes) return HY_OK;
    HY_CUDA_CHECK(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    HY_CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    return cu_check_flags(c);
}
static hy_status cu_copy(void *ctx, void *dst, const void *src, size_t bytes) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (!bytes) return HY_OK;
    HY_CUDA_CHECK(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
    return HY_OK;
}
static hy_status cu_zero(void *ctx, void *dst, size_t bytes) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (!bytes) return HY_OK;
    HY_CUDA_CHECK(c, cudaMemsetAsync(dst, 0, bytes, c->stream));
    return HY_OK;
}
static hy_status cu_sync(void *ctx) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    HY_CUDA_CHECK(c, cudaStreamSynchronize(c->stream));
    return cu_check_flags(c);
}
static void *cu_stream(void *ctx) { return (void *)hy_cuda_ctx_of(ctx)->stream; }

/* ---- casts, copy2d, axpby ---- */
template <typename D, typename S> static __global__ void k_cast(D *dst, const S *src, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        hy_st<D>(dst + i, hy_ld<S>(src + i));
}

static hy_status cu_cast_to_act(void *ctx, hy_act *dst, const float *src, size_t n) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (!n) return HY_OK;
    if (!hy_cuda_bf16(c)) {
        HY_CUDA_CHECK(c, cudaMemcpyAsync(dst, src, n * 4, cudaMemcpyDeviceToDevice, c->stream));
        return HY_OK;
    }
    k_cast<__nv_bfloat16, float><<<hy_cuda_blocks(n, 256), 256, 0, c->stream>>>((__nv_bfloat16 *)dst, src, n);
    HY_CUDA_LAUNCH_CHECK(c, "cast_to_act");
    return HY_OK;
}
static hy_status cu_cast_to_f32(void *ctx, float *dst, const hy_act *src, size_t n) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (!n) return HY_OK;
    if (!hy_cuda_bf16(c)) {
        HY_CUDA_CHECK(c, cudaMemcpyAsync(dst, src, n * 4, cudaMemcpyDeviceToDevice, c->stream));
        return HY_OK;
    }
    k_cast<float, __nv_bfloat16><<<hy_cuda_blocks(n, 256), 256, 0, c->stream>>>(dst, (const __nv_bfloat16 *)src, n);
    HY_CUDA_LAUNCH_CHECK(c, "cast_to_f32");
    return HY_OK;
}

/* dst [rows, cols] (ldd) (+)= src [rows, cols] (lds); grid-stride over rows·cols */
template <typename T>
static __global__ void k_copy2d(T *dst, int ldd, const T *src, int lds, int rows, int cols, int accumulate) {
    size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / (size_t)cols, col = i % (size_t)cols;
        T *d = dst + r * (size_t)ldd + col;
        float v = hy_ld<T>(src + r * (size_t)lds + col);
        hy_st<T>(d, accumulate ? hy_ld<T>(d) + v : v);
    }
}
static hy_status cu_copy2d(void *ctx, hy_act *dst, int ldd, const hy_act *src, int lds, int rows, int cols, int accumulate) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    size_t n = (size_t)rows * (size_t)cols;
    if (!n) return HY_OK;
    unsigned g = hy_cuda_blocks(n, 256);
    if (hy_cuda_bf16(c))
        k_copy2d<__nv_bfloat16><<<g, 256, 0, c->stream>>>((__nv_bfloat16 *)dst, ldd, (const __nv_bfloat16 *)src, lds, rows,
                                                          cols, accumulate);
    else
        k_copy2d<float><<<g, 256, 0, c->stream>>>((float *)dst, ldd, (const float *)src, lds, rows, cols, accumulate);
    HY_CUDA_LAUNCH_CHECK(c, "copy2d");
    return HY_OK;
}

template <typename T> static __global__ void k_axpby(T *out, float a, const T *x, float b, const T *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        hy_st<T>(out + i, a * hy_ld<T>(x + i) + b * hy_ld<T>(y + i));
}
static hy_status cu_axpby(void *ctx, hy_act *out, float a, const hy_act *x, float b, const hy_act *y, size_t n) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    if (!n) return HY_OK;
    unsigned g = hy_cuda_blocks(n, 256);
    if (hy_cuda_bf16(c))
        k_axpby<__nv_bfloat16><<<g, 256, 0, c->stream>>>((__nv_bfloat16 *)out, a, (const __nv_bfloat16 *)x, b,
                                                         (const __nv_bfloat16 *)y, n);
    else
        k_axpby<float><<<g, 256, 0, c->stream>>>((float *)out, a, (const float *)x, b, (const float *)y, n);
    HY_CUDA_LAUNCH_CHECK(c, "axpby");
    return HY_OK;
}

/* ---- table ---- */
static void cu_fill_ops(hy_ops *o) {
    o->alloc = cu_alloc;
    o->free = cu_free;
    o->to_dev = cu_to_dev;
    o->to_host = cu_to_host;
    o->copy = cu_copy;
    o->zero = cu_zero;
    o->sync = cu_sync;
    o->stream = cu_stream;
    o->cast_to_act = cu_cast_to_act;
    o->cast_to_f32 = cu_cast_to_f32;
    o->copy2d = cu_copy2d;
    o->axpby = cu_axpby;
    o->embedding_fwd = hy_embedding_fwd_cuda;
    o->embedding_bwd = hy_embedding_bwd_cuda;
    o->rmsnorm_fwd = hy_rmsnorm_fwd_cuda;
    o->rmsnorm_bwd = hy_rmsnorm_bwd_cuda;
    o->norm_avg_fwd = hy_norm_avg_fwd_cuda;
    o->norm_avg_bwd = hy_norm_avg_bwd_cuda;
    o->matmul_fwd = hy_matmul_fwd_cuda;
    o->matmul_bwd = hy_matmul_bwd_cuda;
    o->rope_fwd = hy_rope_fwd_cuda;
    o->rope_bwd = hy_rope_bwd_cuda;
    o->attention_fwd = hy_attention_fwd_cuda;
    o->attention_bwd = hy_attention_bwd_cuda;
    o->conv1d_fwd = hy_conv1d_fwd_cuda;
    o->conv1d_bwd = hy_conv1d_bwd_cuda;
    o->scan_fwd = hy_scan_fwd_cuda;
    o->scan_bwd = hy_scan_bwd_cuda;
    o->swiglu_fwd = hy_swiglu_fwd_cuda;
    o->swiglu_bwd = hy_swiglu_bwd_cuda;
    o->ce_fwd = hy_ce_fwd_cuda;
    o->ce_bwd = hy_ce_bwd_cuda;
    o->gather_rows = hy_gather_rows_cuda;
    o->scatter_rows = hy_scatter_rows_cuda;
    o->conv1d_step = hy_conv1d_step_cuda;
    o->scan_step = hy_scan_step_cuda;
    o->attention_decode = hy_attention_decode_cuda;
    o->adamw = hy_adamw_cuda;
    o->sumsq = hy_sumsq_cuda;
    o->all_finite = hy_all_finite_cuda;
    o->scale = hy_scale_cuda;
}

static hy_status cu_ctx_init(hy_cuda_ctx *c, int device, hy_dtype act) {
    int count = 0;
    c->device = device;
    c->act = act;
    HY_CUDA_CHECK(c, cudaGetDeviceCount(&count));
    if (device < 0 || device >= count)
        return hy_errorf(HY_ERR_CUDA, "CUDA device %d requested, but %d device(s) are visible; hint: check "
                         "CUDA_VISIBLE_DEVICES and --device", device, count);
    HY_CUDA_CHECK(c, cudaSetDevice(device));
    cudaDeviceProp prop;
    HY_CUDA_CHECK(c, cudaGetDeviceProperties(&prop, device));
    c->sm_count = prop.multiProcessorCount;
    c->smem_optin = prop.sharedMemPerBlockOptin;
    HY_CUDA_CHECK(c, cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    const char *e = getenv("HYMBA_CUDA_SYNC");
    c->sync_after_launch = e && e[0] && strcmp(e, "0") != 0;
    HY_CUDA_CHECK(c, cudaMalloc((void **)&c->dev_err, 4 * sizeof(int)));
    HY_CUDA_CHECK(c, cudaMemset(c->dev_err, 0, 4 * sizeof(int)));
    return hy_cuda_matmul_create(c);
}

static void cu_ctx_release(hy_cuda_ctx *c) {
    if (c->stream) (void)cudaStreamSynchronize(c->stream);
    hy_cuda_matmul_destroy(c);
    if (c->scratch) (void)cudaFree(c->scratch);
    if (c->dev_err) (void)cudaFree(c->dev_err);
    if (c->stream) (void)cudaStreamDestroy(c->stream);
    (void)cudaGetLastError();
}

extern "C" hy_status hy_backend_cuda_create(hy_ops **out, int device, hy_dtype act_dtype) {
    *out = NULL;
    if (act_dtype != HY_DTYPE_BF16 && act_dtype != HY_DTYPE_F32)
        return hy_errorf(HY_ERR_ARG, "CUDA backend: storage dtype %s is not supported; expected BF16 or F32",
                         hy_dtype_name(act_dtype));
    hy_ops *o = NULL;
    hy_cuda_ctx *c = NULL;
    HY_TRY(hy_malloc((void **)&o, sizeof *o, 1, "CUDA ops table"));
    hy_status st = hy_malloc((void **)&c, sizeof *c, 1, "CUDA backend context");
    if (st == HY_OK) st = cu_ctx_init(c, device, act_dtype);
    if (st != HY_OK) {
        if (c) cu_ctx_release(c);
        hy_free(c);
        hy_free(o);
        return st;
    }
    o->name = "cuda";
    o->ctx = c;
    o->act_dtype = act_dtype;
    cu_fill_ops(o);
    *out = o;
    return HY_OK;
}

extern "C" void hy_backend_cuda_destroy(hy_ops *ops) {
    if (!ops) return;
    hy_cuda_ctx *c = hy_cuda_ctx_of(ops->ctx);
    if (c) {
        cu_ctx_release(c);
        hy_free(c);
    }
    hy_free(ops);
}

extern "C" int hy_backend_cuda_device_count(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: not an error for "auto" */
        return 0;
    }
    return n;
}

extern "C" hy_status hy_backend_cuda_mem_info(const hy_ops *ops, size_t *free_bytes, size_t *total_bytes) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ops->ctx);
    HY_CUDA_CHECK(c, cudaSetDevice(c->device));
    HY_CUDA_CHECK(c, cudaMemGetInfo(free_bytes, total_bytes));
    return HY_OK;
}
