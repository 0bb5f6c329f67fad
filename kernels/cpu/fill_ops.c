/* fill_ops.c — sets every op pointer of the CPU table (see cpu_ops.h).  The
 * assignments type-check each hy_<op>_<dir>_cpu against its ops.h pointer. */
#include "kernels/attention.h"
#include "kernels/conv1d.h"
#include "kernels/cpu/cpu_ops.h"
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

void hy_cpu_fill_ops(hy_ops *o) {
    o->embedding_fwd = hy_embedding_fwd_cpu;
    o->embedding_bwd = hy_embedding_bwd_cpu;
    o->rmsnorm_fwd = hy_rmsnorm_fwd_cpu;
    o->rmsnorm_bwd = hy_rmsnorm_bwd_cpu;
    o->norm_avg_fwd = hy_norm_avg_fwd_cpu;
    o->norm_avg_bwd = hy_norm_avg_bwd_cpu;
    o->matmul_fwd = hy_matmul_fwd_cpu;
    o->matmul_bwd = hy_matmul_bwd_cpu;
    o->rope_fwd = hy_rope_fwd_cpu;
    o->rope_bwd = hy_rope_bwd_cpu;
    o->attention_fwd = hy_attention_fwd_cpu;
    o->attention_bwd = hy_attention_bwd_cpu;
    o->conv1d_fwd = hy_conv1d_fwd_cpu;
    o->conv1d_bwd = hy_conv1d_bwd_cpu;
    o->scan_fwd = hy_scan_fwd_cpu;
    o->scan_bwd = hy_scan_bwd_cpu;
    o->swiglu_fwd = hy_swiglu_fwd_cpu;
    o->swiglu_bwd = hy_swiglu_bwd_cpu;
    o->ce_fwd = hy_ce_fwd_cpu;
    o->ce_bwd = hy_ce_bwd_cpu;
    o->gather_rows = hy_gather_rows_cpu;
    o->scatter_rows = hy_scatter_rows_cpu;
    o->conv1d_step = hy_conv1d_step_cpu;
    o->scan_step = hy_scan_step_cpu;
    o->attention_decode = hy_attention_decode_cpu;
    o->adamw = hy_adamw_cpu;
    o->sumsq = hy_sumsq_cpu;
    o->all_finite = hy_all_finite_cpu;
    o->scale = hy_scale_cpu;
}
