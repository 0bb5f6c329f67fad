/* backend_cpu.c — the CPU reference backend: fp32 storage (act_dtype F32),
 * host memory, OpenMP loops, CBLAS products.  This file fills the ops table
 * and implements the memory and elementwise helpers; each op lives in its own
 * file kernels/cpu/<op>.c. */
#include <string.h>

#include "core/alloc.h"
#include "kernels/backend.h"
#include "kernels/cpu/cpu_ops.h"

static hy_status cpu_alloc(void *ctx, void **out, size_t bytes, const char *what) { return hy_malloc(out, bytes, 1, what); }
static void cpu_free(void *ctx, void *p) { hy_free(p); }
static hy_status cpu_copy(void *ctx, void *dst, const void *src, size_t bytes) {
    if (bytes) memmove(dst, src, bytes);
    return HY_OK;
}
static hy_status cpu_zero(void *ctx, void *dst, size_t bytes) {
    memset(dst, 0, bytes);
    return HY_OK;
}
static hy_status cpu_sync(void *ctx) { return HY_OK; }
static void *cpu_stream(void *ctx) { return NULL; } /* ops complete before they return */
static hy_status cpu_cast(void *ctx, void *dst, const void *src, size_t n) { return cpu_copy(ctx, dst, src, n * sizeof(float)); }

static hy_status cpu_copy2d(void *ctx, hy_act *dst_, int ldd, const hy_act *src_, int lds, int rows, int cols, int accumulate) {
    float *dst = dst_;
    const float *src = src_;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r++) {
        float *d = dst + (size_t)r * ldd;
        const float *s = src + (size_t)r * lds;
        if (accumulate) for (int c = 0; c < cols; c++) d[c] += s[c];
        else memcpy(d, s, sizeof(float) * (size_t)cols);
    }
    return HY_OK;
}

static hy_status cpu_axpby(void *ctx, hy_act *out_, float a, const hy_act *x_, float b, const hy_act *y_, size_t n) {
    float *out = out_;
    const float *x = x_, *y = y_;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = a * x[i] + b * y[i];
    return HY_OK;
}

hy_status hy_backend_cpu_create(hy_ops **out, int threads) {
    hy_ops *o;
    HY_TRY(hy_malloc((void **)&o, sizeof *o, 1, "CPU backend"));
    o->name = "cpu";
    o->ctx = NULL;
    o->act_dtype = HY_DTYPE_F32;
    o->host_memory = 1;
    o->alloc = cpu_alloc;
    o->free = cpu_free;
    o->to_dev = cpu_copy;
    o->to_host = cpu_copy;
    o->copy = cpu_copy;
    o->zero = cpu_zero;
    o->sync = cpu_sync;
    o->stream = cpu_stream;
    o->cast_to_act = (hy_status(*)(void *, hy_act *, const float *, size_t))cpu_cast;
    o->cast_to_f32 = (hy_status(*)(void *, float *, const hy_act *, size_t))cpu_cast;
    o->copy2d = cpu_copy2d;
    o->axpby = cpu_axpby;
    hy_cpu_fill_ops(o);
    *out = o;
    (void)threads;
    return HY_OK;
}

void hy_backend_cpu_destroy(hy_ops *ops) { hy_free(ops); }
