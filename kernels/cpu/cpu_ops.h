/* cpu_ops.h — private to the CPU backend: fills the op entries of the table
 * from the per-op files kernels/cpu/<op>.c (each declared in kernels/<op>.h). */
#ifndef HY_CPU_OPS_H
#define HY_CPU_OPS_H
#include "kernels/ops.h"
void hy_cpu_fill_ops(hy_ops *o);
#endif
