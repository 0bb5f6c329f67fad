/* backend.h — creating a backend (an ops table with its context).
 * Executables pick one at run time by name; the model only sees hy_ops. */
#ifndef HY_BACKEND_H
#define HY_BACKEND_H
#include "ops.h"
#ifdef __cplusplus
extern "C" {
#endif

/* CPU reference backend: fp32, OpenMP, CBLAS.  `threads` ≤ 0: OpenMP default. */
hy_status hy_backend_cpu_create(hy_ops **out, int threads);
void hy_backend_cpu_destroy(hy_ops *ops);

#ifdef __cplusplus
}
#endif
#endif
