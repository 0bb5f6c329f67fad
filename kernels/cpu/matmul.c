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

hy_status hy_matmul_fwd_cpu(void *ctx, hy_act *out, int ldo, const hy_act *in, int ldi, const hy_act *w, int n, int O, int I,
                            int accumulate) {
    if (n <= 0 || O <= 0) return HY_OK;
    if (I <= 0) { /* empty inner dimension: the product is zero */
        if (!accumulate)
            for (int r = 0; r < n; r++)
                for (int c = 0; c < O; c++) ((float *)out)[(size_t)r * ldo + c] = 0.0f;
        return HY_OK;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, O, I, 1.0f, (const float *)in, ldi, (const float *)w, I,
                accumulate ? 1.0f : 0.0f, (float *)out, ldo);
    return HY_OK;
}

hy_status hy_matmul_bwd_cpu(void *ctx, hy_act *din, int lddi, float *dw, const hy_act *dout, int ldo, const hy_act *in, int ldi,
                            const hy_act *w, int n, int O, int I, int accumulate_din) {
    if (n <= 0 || I <= 0) return HY_OK;
    if (din) {
        if (O > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, I, O, 1.0f, (const float *)dout, ldo, (const float *)w, I,
                        accumulate_din ? 1.0f : 0.0f, (float *)din, lddi);
        else if (!accumulate_din)
            for (int r = 0; r < n; r++)
                for (int c = 0; c < I; c++) ((float *)din)[(size_t)r * lddi + c] = 0.0f;
    }
    if (dw && O > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, I, n, 1.0f, (const float *)dout, ldo, (const float *)in, ldi, 1.0f, dw,
                    I);
    return HY_OK;
}
