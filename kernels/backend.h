/* backend.h — creating a backend (an ops table with its context).
 * Executables pick one at run time by name; the model only sees hy_ops.
 *
 * hy_backend_create is the one factory every command uses (recipes'
 * train.device / train.precision, the CLI's --device / --precision).  It and
 * the memory helpers live in kernels/backend_select.c, the only file that
 * knows at compile time whether the CUDA backend is part of the build
 * (HY_HAVE_CUDA); a CPU-only build links and reports "not built with CUDA"
 * for device cuda.  Shared code never tests HY_HAVE_CUDA. */
#ifndef HY_BACKEND_H
#define HY_BACKEND_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

/* CPU reference backend: fp32, OpenMP, CBLAS.  `threads` ≤ 0: OpenMP default. */
hy_status hy_backend_cpu_create(hy_ops **out, int threads);
void hy_backend_cpu_destroy(hy_ops *ops);

/* Create a backend by name.
 *   device:    "auto" (CUDA when this build has the CUDA backend and a GPU is
 *              visible, else the CPU), "cpu", "cuda" (GPU 0) or "cuda:N";
 *              NULL means "auto".
 *   precision: "auto" (bf16 on CUDA, fp32 on the CPU), "bf16" or "fp32";
 *              NULL means "auto".  CUDA "bf16": bf16 weights and activations,
 *              fp32 statistics, gradients and reductions; "fp32": everything
 *              fp32, TF32 off.  The CPU computes in fp32 only: "bf16" with
 *              device "cpu" is an error; with "auto" falling back to the CPU
 *              it is ignored with a warning.
 * Errors: HY_ERR_ARG (unknown names), HY_ERR_UNSUPPORTED (cuda requested in a
 * build without the CUDA backend), HY_ERR_CUDA (no usable GPU).  Free with
 * hy_backend_destroy. */
hy_status hy_backend_create(hy_ops **out, const char *device, const char *precision);
/* Destroy a backend made by any creator above.  NULL is a no-op. */
void hy_backend_destroy(hy_ops *ops);
/* 1 when this build includes the CUDA backend. */
int hy_backend_has_cuda(void);

/* Free and total bytes of the memory the backend allocates from: the GPU's
 * (cudaMemGetInfo) for CUDA, available and total physical RAM for the CPU. */
hy_status hy_backend_mem_info(const hy_ops *ops, size_t *free_bytes, size_t *total_bytes);

/* One line of a memory plan. */
typedef struct {
    const char *what;  /* "weights (bf16)", "activations (4224 rows)", ... */
    size_t bytes;
} hy_mem_item;

/* Check a memory plan before allocating it: HY_OK when Σ bytes + reserve fit
 * in the backend's free memory, else HY_ERR_OOM with a message listing every
 * item, the total, the free and total memory of the device, and `hint` (what
 * to change; may be NULL).  `reserve` covers what the plan cannot count
 * (library workspaces, scratch, fragmentation). */
hy_status hy_backend_check_fit(const hy_ops *ops, const hy_mem_item *items /* [n] */, int n, size_t reserve, const char *hint);

#ifdef __cplusplus
}
#endif
#endif
