/* matmul.c — CPU dense products through CBLAS (kernels/matmul.h).
 * The only CBLAS include site of the project.  Weights keep PyTorch's layout
 * W [O,I], so the forward is in·Wᵀ (sgemm NoTrans × Trans) and the backward
 * products are dout·W and doutᵀ·in.  Row strides are passed straight through
 * as the leading dimensions, so column blocks of wider buffers need no copy.
 * OpenBLAS gives the same result run to run for a fixed thread count. */
#include "kernels/matmul.h"

#include <cblas.h>
/* OpenBLAS's cblas.h pulls in <complex.h>, whose macro I would clash with the
 * inner dimension I of the shape vocabulary; nothing here uses complex numbers. */
#undef I
#include <omp.h>

/* OpenBLAS threads and the OpenMP threads of the other ops spin-wait against
 * each other on a small machine: with both active, the demo model trained 3x
 * slower.  Products below ~2^27 multiply-adds (all of a tiny model's) run on one
 * BLAS thread; larger ones use the OpenMP thread count.  The choice depends only
 * on the shape, so results stay reproducible for a given OMP_NUM_THREADS. */
static void hy_sgemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                     float beta, float *c, int ldc) {
    double macs = (double)m * n * k;
    openblas_set_num_threads(macs < 134217728.0 ? 1 : omp_get_max_threads());
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

hy_status hy_matmul_fwd_cpu(void *ctx, hy_act *out, int ldo, const hy_act *in, int ldi, const hy_act *w, int n, int O, int I,
                            int accumulate) {
    if (n <= 0 || O <= 0) return HY_OK;
    if (I <= 0) { /* empty inner dimension: the product is zero */
        if (!accumulate)
            for (int r = 0; r < n; r++)
                for (int c = 0; c < O; c++) ((float *)out)[(size_t)r * ldo + c] = 0.0f;
        return HY_OK;
    }
    hy_sgemm(CblasNoTrans, CblasTrans, n, O, I, (const float *)in, ldi, (const float *)w, I, accumulate ? 1.0f : 0.0f, (float *)out, ldo);
    return HY_OK;
}

hy_status hy_matmul_bwd_cpu(void *ctx, hy_act *din, int lddi, float *dw, const hy_act *dout, int ldo, const hy_act *in, int ldi,
                            const hy_act *w, int n, int O, int I, int accumulate_din) {
    if (n <= 0 || I <= 0) return HY_OK;
    if (din) {
        if (O > 0)
            hy_sgemm(CblasNoTrans, CblasNoTrans, n, I, O, (const float *)dout, ldo, (const float *)w, I, accumulate_din ? 1.0f : 0.0f,
                     (float *)din, lddi);
        else if (!accumulate_din)
            for (int r = 0; r < n; r++)
                for (int c = 0; c < I; c++) ((float *)din)[(size_t)r * lddi + c] = 0.0f;
    }
    if (dw && O > 0)
        hy_sgemm(CblasTrans, CblasNoTrans, O, I, n, (const float *)dout, ldo, (const float *)in, ldi, 1.0f, dw, I);
    return HY_OK;
}
