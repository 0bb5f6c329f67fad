/* matmul.cu — out = in · Wᵀ and its backward with cuBLASLt, the only cuBLAS
 * user of the project (DESIGN.md §4).
 *
 * Layout.  Everything is row-major with PyTorch weights W [O, I].  cuBLASLt
 * is column-major, so a row-major [r, c] matrix with row stride ld is read as
 * a column-major [c, r] matrix with leading dimension ld:
 *   fwd:  outᵀ [O, n] = op_T(W as [I, O]) · (in as [I, n])          k = I
 *   din:  dinᵀ [I, n] = (W as [I, O]) · (dout as [O, n])             k = O
 *   dw:   dwᵀ  [I, O] = (in as [I, n]) · op_T(dout as [O, n])        k = n
 *
 * Precision.  Compute type CUBLAS_COMPUTE_32F with fp32 scale in both modes:
 * in fp32 mode that is true fp32 (TF32 is a separate compute type we never
 * request); in bf16 mode the inputs are bf16 and the tensor cores accumulate
 * in fp32.  dw always accumulates into an fp32 buffer (beta = 1, C = D =
 * fp32, A/B bf16: a combination cuBLASLt lists).  Should the library offer
 * no algorithm for some bf16 product (odd leading dimensions), the fallback
 * runs it in fp32 on widened copies in scratch (slower, same math);
 * `fallbacks` counts those products.
 *
 * Alignment.  cuBLASLt's heuristic assumes 256-byte aligned pointers unless
 * told otherwise; our operands are often column-block views (q/k/v inside the
 * in_proj output), so the actual alignment of each pointer is passed in. */
#include <cublasLt.h>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/cuda_ops.h"
#include "kernels/matmul.h"

enum { HY_MM_WORKSPACE = 32 << 20 }; /* 32 MiB: what cuBLASLt's Hopper kernels ask for at most */

struct hy_cuda_matmul {
    cublasLtHandle_t lt;
    void *workspace;
    size_t workspace_bytes;
    long fallbacks; /* products that took the fp32-cast fallback */
};

#define HY_LT_CHECK(ctx, call)                                                                               \
    do {                                                                                                     \
        cublasStatus_t hy_lt_s_ = (call);                                                                    \
        if (hy_lt_s_ != CUBLAS_STATUS_SUCCESS)                                                               \
            return hy_errorf(HY_ERR_CUDA, "%s: %s (%s) at %s:%d on device %d", #call,                       \
                             cublasLtGetStatusName(hy_lt_s_), cublasLtGetStatusString(hy_lt_s_), __FILE__,   \
                             __LINE__, (ctx)->device);                                                       \
    } while (0)

extern "C" hy_status hy_cuda_matmul_create(hy_cuda_ctx *c) {
    hy_cuda_matmul *m = (hy_cuda_matmul *)calloc(1, sizeof *m);
    if (!m) return hy_errorf(HY_ERR_OOM, "out of memory allocating the cuBLASLt state");
    c->mm = m;
    HY_LT_CHECK(c, cublasLtCreate(&m->lt));
    HY_CUDA_CHECK(c, cudaMalloc(&m->workspace, HY_MM_WORKSPACE));
    m->workspace_bytes = HY_MM_WORKSPACE;
    return HY_OK;
}

extern "C" void hy_cuda_matmul_destroy(hy_cuda_ctx *c) {
    hy_cuda_matmul *m = c->mm;
    if (!m) return;
    if (m->workspace) (void)cudaFree(m->workspace);
    if (m->lt) (void)cublasLtDestroy(m->lt);
    free(m);
    c->mm = NULL;
}

/* Largest power of two (≤ 256) dividing the address. */
static uint32_t mm_align(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && (a % al)) al >>= 1;
    return al;
}

/* One column-major product D = alpha·op(A)·op(B) + beta·C with C = D.
 * A is [m,k] after op, B [k,n] after op, D [m,n] with leading dim ldd. */
typedef struct {
    int m, n, k;
    const void *A; int lda; int transA; cudaDataType_t tA;
    const void *B; int ldb; int transB; cudaDataType_t tB;
    void *D; int ldd; cudaDataType_t tD;
    float beta;
} mm_gemm;

/* Run g; *no_algo is set (and HY_OK returned) when the heuristic has none. */
static hy_status mm_run(hy_cuda_ctx *c, const mm_gemm *g, int *no_algo) {
    hy_cuda_matmul *m = c->mm;
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    float alpha = 1.f, beta = g->beta;
    cublasOperation_t ta = g->transA ? CUBLAS_OP_T : CUBLAS_OP_N, tb = g->transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    uint32_t aa = mm_align(g->A), ab = mm_align(g->B), ad = mm_align(g->D);
    size_t ws = m->workspace_bytes;
    cublasStatus_t s = cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatrixLayoutCreate(&la, g->tA, g->transA ? g->k : g->m, g->transA ? g->m : g->k, g->lda);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatrixLayoutCreate(&lb, g->tB, g->transB ? g->n : g->k, g->transB ? g->k : g->n, g->ldb);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatrixLayoutCreate(&ld, g->tD, g->m, g->n, g->ldd);
    if (s == CUBLAS_STATUS_SUCCESS) s = cublasLtMatmulPreferenceCreate(&pref);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa, sizeof aa);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab, sizeof ab);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ad, sizeof ad);
    if (s == CUBLAS_STATUS_SUCCESS)
        s = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ad, sizeof ad);
    if (s == CUBLAS_STATUS_SUCCESS) {
        cublasStatus_t h = cublasLtMatmulAlgoGetHeuristic(m->lt, op, la, lb, ld, ld, pref, 1, &heur, &found);
        if (h != CUBLAS_STATUS_SUCCESS && h != CUBLAS_STATUS_NOT_SUPPORTED) s = h;
        if (h != CUBLAS_STATUS_SUCCESS) found = 0;
    }
    *no_algo = (s == CUBLAS_STATUS_SUCCESS && found == 0);
    if (s == CUBLAS_STATUS_SUCCESS && found)
        s = cublasLtMatmul(m->lt, op, &alpha, g->A, la, g->B, lb, &beta, g->D, ld, g->D, ld, &heur.algo, m->workspace,
                           ws, c->stream);
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    if (s != CUBLAS_STATUS_SUCCESS)
        return hy_errorf(HY_ERR_CUDA, "cublasLtMatmul (m=%d n=%d k=%d lda=%d ldb=%d ldd=%d): %s (%s) on device %d",
                         g->m, g->n, g->k, g->lda, g->ldb, g->ldd, cublasLtGetStatusName(s), cublasLtGetStatusString(s),
                         c->device);
    return HY_OK;
}

/* dst [cols, rows] fp32 (ld = rows_ld) = src [cols, rows] bf16 (ld); column-major view. */
static __global__ void k_mm_widen(float *dst, int ldd, const __nv_bfloat16 *src, int lds, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t col = i / (size_t)rows, r = i % (size_t)rows;
        dst[col * ldd + r] = __bfloat162float(src[col * (size_t)lds + r]);
    }
}

/* dst [rows, cols] bf16 (column-major, ld) = src fp32 (ld = rows) */
static __global__ void k_mm_narrow(__nv_bfloat16 *dst, int ldd, const float *src, int rows, int cols) {
    size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t col = i / (size_t)rows, r = i % (size_t)rows;
        dst[col * ldd + r] = __float2bfloat16_rn(src[i]);
    }
}

/* Run g.  When cuBLASLt has no algorithm for bf16 operands (an unusual
 * leading dimension or alignment), widen A and B (and a bf16 D) into fp32
 * scratch, run the fp32 product there and narrow D back: slower, same math. */
static hy_status mm_gemm_run(hy_cuda_ctx *c, const mm_gemm *g) {
    int no_algo = 0;
    if (g->m == 0 || g->n == 0) return HY_OK;
    HY_TRY(mm_run(c, g, &no_algo));
    if (!no_algo) return HY_OK;
    if (g->tA != CUDA_R_16BF)
        return hy_errorf(HY_ERR_CUDA, "cuBLASLt offers no algorithm for m=%d n=%d k=%d (lda %d ldb %d ldd %d) on device "
                         "%d", g->m, g->n, g->k, g->lda, g->ldb, g->ldd, c->device);
    int ar = g->transA ? g->k : g->m, ac = g->transA ? g->m : g->k; /* stored A: ar rows (leading), ac columns */
    int br = g->transB ? g->n : g->k, bc = g->transB ? g->k : g->n;
    int narrow = g->tD == CUDA_R_16BF;
    size_t abytes = hy_cuda_align((size_t)ar * ac * 4), bbytes = hy_cuda_align((size_t)br * bc * 4);
    size_t dbytes = narrow ? hy_cuda_align((size_t)g->m * g->n * 4) : 0;
    void *scr;
    HY_TRY(hy_cuda_scratch(c, abytes + bbytes + dbytes, &scr));
    float *A32 = (float *)scr, *B32 = (float *)((char *)scr + abytes), *D32 = (float *)((char *)scr + abytes + bbytes);
    k_mm_widen<<<hy_cuda_blocks((size_t)ar * ac, 256), 256, 0, c->stream>>>(A32, ar, (const __nv_bfloat16 *)g->A, g->lda,
                                                                            ar, ac);
    HY_CUDA_LAUNCH_CHECK(c, "matmul widen A");
    k_mm_widen<<<hy_cuda_blocks((size_t)br * bc, 256), 256, 0, c->stream>>>(B32, br, (const __nv_bfloat16 *)g->B, g->ldb,
                                                                            br, bc);
    HY_CUDA_LAUNCH_CHECK(c, "matmul widen B");
    mm_gemm w = *g;
    w.A = A32; w.lda = ar; w.tA = CUDA_R_32F;
    w.B = B32; w.ldb = br; w.tB = CUDA_R_32F;
    if (narrow) {
        if (g->beta != 0.f) {
            k_mm_widen<<<hy_cuda_blocks((size_t)g->m * g->n, 256), 256, 0, c->stream>>>(
                D32, g->m, (const __nv_bfloat16 *)g->D, g->ldd, g->m, g->n);
            HY_CUDA_LAUNCH_CHECK(c, "matmul widen D");
        }
        w.D = D32; w.ldd = g->m; w.tD = CUDA_R_32F;
    }
    c->mm->fallbacks++;
    HY_TRY(mm_run(c, &w, &no_algo));
    if (no_algo) return hy_errorf(HY_ERR_CUDA, "cuBLASLt offers no fp32 algorithm for m=%d n=%d k=%d", g->m, g->n, g->k);
    if (narrow) {
        k_mm_narrow<<<hy_cuda_blocks((size_t)g->m * g->n, 256), 256, 0, c->stream>>>((__nv_bfloat16 *)g->D, g->ldd, D32,
                                                                                     g->m, g->n);
        HY_CUDA_LAUNCH_CHECK(c, "matmul narrow D");
    }
    return HY_OK;
}

extern "C" hy_status hy_matmul_fwd_cuda(void *ctx, hy_act *out /* [n,O] ldo */, int ldo, const hy_act *in /* [n,I] ldi */,
                                        int ldi, const hy_act *w /* [O,I] */, int n, int O, int I, int accumulate) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    cudaDataType_t t = hy_cuda_bf16(c) ? CUDA_R_16BF : CUDA_R_32F;
    if (n == 0 || O == 0) return HY_OK;
    if (I == 0) {
        if (accumulate) return HY_OK;
        HY_CUDA_CHECK(c, cudaMemset2DAsync(out, (size_t)ldo * hy_dtype_size(c->act), 0, (size_t)O * hy_dtype_size(c->act),
                                           (size_t)n, c->stream));
        return HY_OK;
    }
    mm_gemm g = {O, n, I, w, I, 1, t, in, ldi, 0, t, out, ldo, t, accumulate ? 1.f : 0.f};
    return mm_gemm_run(c, &g);
}

extern "C" hy_status hy_matmul_bwd_cuda(void *ctx, hy_act *din /* [n,I] lddi */, int lddi, float *dw /* [O,I] += */,
                                        const hy_act *dout /* [n,O] ldo */, int ldo, const hy_act *in /* [n,I] ldi */,
                                        int ldi, const hy_act *w /* [O,I] */, int n, int O, int I, int accumulate_din) {
    hy_cuda_ctx *c = hy_cuda_ctx_of(ctx);
    cudaDataType_t t = hy_cuda_bf16(c) ? CUDA_R_16BF : CUDA_R_32F;
    if (din && n > 0 && I > 0) {
        if (O == 0) {
            if (!accumulate_din)
                HY_CUDA_CHECK(c, cudaMemset2DAsync(din, (size_t)lddi * hy_dtype_size(c->act), 0,
                                                   (size_t)I * hy_dtype_size(c->act), (size_t)n, c->stream));
        } else {
            mm_gemm g = {I, n, O, w, I, 0, t, dout, ldo, 0, t, din, lddi, t, accumulate_din ? 1.f : 0.f};
            HY_TRY(mm_gemm_run(c, &g));
        }
    }
    if (dw && n > 0 && O > 0 && I > 0) {
        mm_gemm g = {I, O, n, in, ldi, 0, t, dout, ldo, 1, t, dw, I, CUDA_R_32F, 1.f};
        HY_TRY(mm_gemm_run(c, &g));
    }
    return HY_OK;
}
