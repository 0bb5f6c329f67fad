/* backend_cuda.h — creating the CUDA backend (an ops table whose pointers are
 * device memory and whose ops run on one stream of one GPU).
 *
 * Storage: act_dtype HY_DTYPE_BF16 (training default: bf16 weights and
 * activations, fp32 statistics, softmax, scan state, parameter gradients and
 * every reduction) or HY_DTYPE_F32 (everything fp32, TF32 off; for checking
 * against the CPU backend).  Deterministic: no op uses float atomics.
 *
 * Environment: HYMBA_CUDA_SYNC=1 synchronises after every kernel launch so
 * that an asynchronous fault is reported at the launch that caused it.
 * Only this header is C; the implementation lives in kernels/cuda/. */
#ifndef HY_BACKEND_CUDA_H
#define HY_BACKEND_CUDA_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Create a backend on GPU `device` with storage dtype `act_dtype`.  On
 * success *out owns a stream, a cuBLASLt handle and its workspace; free it
 * with hy_backend_cuda_destroy.  Fails with HY_ERR_CUDA (no device, driver
 * mismatch) or HY_ERR_ARG (dtype other than BF16 or F32). */
hy_status hy_backend_cuda_create(hy_ops **out, int device, hy_dtype act_dtype);
/* Synchronise, release everything the backend owns.  NULL is a no-op.
 * Buffers from ops->alloc must be freed before. */
void hy_backend_cuda_destroy(hy_ops *ops);
/* Number of visible CUDA devices; 0 when there is no driver or no device
 * (never an error: "auto" device selection asks this first). */
int hy_backend_cuda_device_count(void);
/* Free and total bytes of the backend's device (cudaMemGetInfo). */
hy_status hy_backend_cuda_mem_info(const hy_ops *ops, size_t *free_bytes, size_t *total_bytes);

#ifdef __cplusplus
}
#endif
#endif
