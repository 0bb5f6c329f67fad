/* cuda_ops.h — private to kernels/cuda: lifetime of the cuBLASLt state that
 * matmul.cu (the only cuBLAS user) keeps in the backend context.  The op
 * entry points themselves are declared by the public per-op headers
 * kernels/<op>.h (hy_<op>_<fwd|bwd>_cuda), which every .cu includes. */
#ifndef HY_CUDA_OPS_H
#define HY_CUDA_OPS_H
#include "kernels/cuda/common.cuh"

extern "C" {
hy_status hy_cuda_matmul_create(hy_cuda_ctx *c);
void hy_cuda_matmul_destroy(hy_cuda_ctx *c);
}
#endif
