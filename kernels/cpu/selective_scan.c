/* selective_scan.c — CPU Mamba-1 selective scan (kernels/selective_scan.h),
 * spec §6.3–6.4 forward and §9.7 backward, fp32.
 *
 * Channels are independent in the recurrence; the state resets where pos == 0.
 * Forward: parallel over fixed blocks of channels, each block walks all rows in
 * order with its states on the stack.
 * Backward: per channel, a forward pass stores h[t] for every row into a
 * per-thread scratch [N, DS]; the reverse pass runs the adjoint λ exactly as
 * §9.7.  dBm/dCm sum over channels, so each channel block writes its own partial
 * [N, DS] and a final pass adds the partials in block order: the result does
 * not depend on the number of threads.  Scratch is hy_malloc'd per call (the
 * CPU backend is the reference; the CUDA backend plans its scratch). */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/alloc.h"
#include "kernels/selective_scan.h"

enum { SCAN_CHANNEL_BLOCK = 16 }; /* channels per work item */

static inline float scan_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
static inline float scan_sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Read-only operands of one scan, as plain fp32 pointers. */
typedef struct {
    const float *u, *delta, *dt_bias, *A_log, *Bm, *Cm, *D, *z, *dy;
    const int32_t *pos;
    int ldbc, ldz, N, DI, DS;
} scan_in;

static hy_status scan_check(const hy_seqs *s, int DS) {
    if (DS > HY_SCAN_MAX_DS)
        return hy_errorf(HY_ERR_UNSUPPORTED, "selective scan: state size DS = %d; the CPU backend supports DS <= %d", DS, HY_SCAN_MAX_DS);
    if (s->n > 0 && s->pos[0] != 0)
        return hy_errorf(HY_ERR_ARG, "selective scan: pos[0] = %d; a micro-batch must start at a document start (pos 0)", s->pos[0]);
    return HY_OK;
}

static void scan_fwd_block(float *y, const scan_in *a, int e0, int e1) {
    int DS = a->DS, DI = a->DI;
    float h[SCAN_CHANNEL_BLOCK][HY_SCAN_MAX_DS], A[SCAN_CHANNEL_BLOCK][HY_SCAN_MAX_DS];
    for (int e = e0; e < e1; e++)
        for (int n = 0; n < DS; n++) A[e - e0][n] = -expf(a->A_log[(size_t)e * DS + n]);
    for (int t = 0; t < a->N; t++) {
        const float *B = a->Bm + (size_t)t * a->ldbc, *C = a->Cm + (size_t)t * a->ldbc;
        for (int e = e0; e < e1; e++) {
            float *he = h[e - e0], *Ae = A[e - e0];
            size_t te = (size_t)t * DI + e;
            if (a->pos[t] == 0) memset(he, 0, sizeof(float) * (size_t)DS);
            float dl = scan_softplus(a->delta[te] + a->dt_bias[e]), uu = a->u[te], acc = 0.0f;
            for (int n = 0; n < DS; n++) {
                he[n] = expf(dl * Ae[n]) * he[n] + dl * B[n] * uu;
                acc += C[n] * he[n];
            }
            float yy = acc + a->D[e] * uu, zz = a->z[(size_t)t * a->ldz + e];
            y[te] = yy * zz * scan_sigmoid(zz);
        }
    }
}

hy_status hy_scan_fwd_cpu(void *ctx, hy_act *y, const hy_act *u, const hy_act *delta, const hy_act *dt_bias, const hy_act *A_log,
                          const hy_act *Bm, const hy_act *Cm, int ldbc, const hy_act *D, const hy_act *z, int ldz, const hy_seqs *s,
                          int DI, int DS) {
    HY_TRY(scan_check(s, DS));
    scan_in a = {.u = u, .delta = delta, .dt_bias = dt_bias, .A_log = A_log, .Bm = Bm, .Cm = Cm, .D = D, .z = z, .pos = s->pos,
                 .ldbc = ldbc, .ldz = ldz, .N = s->n, .DI = DI, .DS = DS};
    int nblocks = HY_CEIL_DIV(DI, SCAN_CHANNEL_BLOCK);
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) scan_fwd_block(y, &a, blk * SCAN_CHANNEL_BLOCK, hy_imin(DI, (blk + 1) * SCAN_CHANNEL_BLOCK));
    return HY_OK;
}

/* Outputs of the backward (see the header for overwrite/accumulate). */
typedef struct {
    float *du, *ddelta, *dz, *ddt_bias, *dA_log, *dD;
    float *dB_part, *dC_part; /* [N, DS] partials of this channel's block */
    int lddz;
} scan_out;

/* States h[t] [N, DS] of channel e for every row (reset where pos == 0). */
static void scan_states(float *H, const scan_in *a, int e, const float *A) {
    int DS = a->DS;
    for (int t = 0; t < a->N; t++) {
        size_t te = (size_t)t * a->DI + e;
        const float *B = a->Bm + (size_t)t * a->ldbc, *hp = (a->pos[t] == 0) ? NULL : H + (size_t)(t - 1) * DS;
        float dl = scan_softplus(a->delta[te] + a->dt_bias[e]), uu = a->u[te];
        float *h = H + (size_t)t * DS;
        for (int n = 0; n < DS; n++) h[n] = (hp ? expf(dl * A[n]) * hp[n] : 0.0f) + dl * B[n] * uu;
    }
}

/* Reverse pass of §9.7 for channel e, given its states H. */
static void scan_reverse(const scan_out *o, const scan_in *a, int e, const float *A, const float *H) {
    int DS = a->DS;
    float lam[HY_SCAN_MAX_DS], carry[HY_SCAN_MAX_DS], dA[HY_SCAN_MAX_DS];
    memset(carry, 0, sizeof(float) * (size_t)DS);
    memset(dA, 0, sizeof(float) * (size_t)DS);
    float dD = 0.0f, dbias = 0.0f, De = a->D[e];
    for (int t = a->N - 1; t >= 0; t--) {
        size_t te = (size_t)t * a->DI + e;
        const float *B = a->Bm + (size_t)t * a->ldbc, *C = a->Cm + (size_t)t * a->ldbc, *h = H + (size_t)t * DS;
        const float *hp = (a->pos[t] == 0) ? NULL : H + (size_t)(t - 1) * DS;
        float sd = a->delta[te] + a->dt_bias[e], dl = scan_softplus(sd), uu = a->u[te];
        float zz = a->z[(size_t)t * a->ldz + e], sz = scan_sigmoid(zz), g = a->dy[te];
        float yy = De * uu;
        for (int n = 0; n < DS; n++) yy += C[n] * h[n];
        o->dz[(size_t)t * o->lddz + e] = g * yy * sz * (1.0f + zz * (1.0f - sz));
        float gy = g * zz * sz, du = gy * De, ddl = 0.0f;
        dD += gy * uu;
        float *dBp = o->dB_part + (size_t)t * DS, *dCp = o->dC_part + (size_t)t * DS;
        for (int n = 0; n < DS; n++) {
            float abar = expf(dl * A[n]), hprev = hp ? hp[n] : 0.0f;
            lam[n] = gy * C[n] + carry[n];
            dCp[n] += gy * h[n];
            dBp[n] += lam[n] * dl * uu;
            du += dl * lam[n] * B[n];
            ddl += lam[n] * (B[n] * uu + A[n] * abar * hprev);
            dA[n] += lam[n] * dl * abar * hprev;
            carry[n] = a->pos[t] == 0 ? 0.0f : abar * lam[n]; /* no adjoint flows into the previous document */
        }
        float ds = sd > 20.0f ? ddl : ddl * scan_sigmoid(sd);
        o->du[te] = du;
        o->ddelta[te] = ds;
        dbias += ds;
    }
    o->dD[e] += dD;
    o->ddt_bias[e] += dbias;
    for (int n = 0; n < DS; n++) o->dA_log[(size_t)e * DS + n] += dA[n] * A[n];
}

hy_status hy_scan_bwd_cpu(void *ctx, hy_act *du, hy_act *ddelta, hy_act *dBm_, hy_act *dCm_, int lddbc, hy_act *dz, int lddz,
                          float *ddt_bias, float *dA_log, float *dD, const hy_act *dy, const hy_act *u, const hy_act *delta,
                          const hy_act *dt_bias, const hy_act *A_log, const hy_act *Bm, const hy_act *Cm, int ldbc, const hy_act *D,
                          const hy_act *z, int ldz, const hy_seqs *s, int DI, int DS) {
    HY_TRY(scan_check(s, DS));
    int N = s->n, nblocks = HY_CEIL_DIV(DI, SCAN_CHANNEL_BLOCK), nthreads = omp_get_max_threads();
    size_t plane = (size_t)N * DS;
    float *part = NULL, *states = NULL;
    HY_TRY(hy_malloc((void **)&part, sizeof(float) * plane * 2 * (size_t)nblocks, 1, "scan backward dB/dC partials"));
    hy_status st = hy_malloc((void **)&states, sizeof(float) * plane * (size_t)nthreads, 0, "scan backward states");
    if (st != HY_OK) {
        hy_free(part);
        return st;
    }
    scan_in a = {.u = u, .delta = delta, .dt_bias = dt_bias, .A_log = A_log, .Bm = Bm, .Cm = Cm, .D = D, .z = z, .dy = dy,
                 .pos = s->pos, .ldbc = ldbc, .ldz = ldz, .N = N, .DI = DI, .DS = DS};
#pragma omp parallel for schedule(static) num_threads(nthreads)
    for (int blk = 0; blk < nblocks; blk++) {
        scan_out o = {.du = du, .ddelta = ddelta, .dz = dz, .ddt_bias = ddt_bias, .dA_log = dA_log, .dD = dD,
                      .dB_part = part + plane * 2 * (size_t)blk, .dC_part = part + plane * (2 * (size_t)blk + 1), .lddz = lddz};
        float *H = states + plane * (size_t)omp_get_thread_num(), A[HY_SCAN_MAX_DS];
        for (int e = blk * SCAN_CHANNEL_BLOCK; e < hy_imin(DI, (blk + 1) * SCAN_CHANNEL_BLOCK); e++) {
            for (int n = 0; n < DS; n++) A[n] = -expf(((const float *)A_log)[(size_t)e * DS + n]);
            scan_states(H, &a, e, A);
            scan_reverse(&o, &a, e, A, H);
        }
    }
    float *dBm = dBm_, *dCm = dCm_;
#pragma omp parallel for schedule(static)
    for (int t = 0; t < N; t++) {
        for (int n = 0; n < DS; n++) {
            float sb = 0.0f, sc = 0.0f;
            for (int blk = 0; blk < nblocks; blk++) {
                sb += part[plane * 2 * (size_t)blk + (size_t)t * DS + n];
                sc += part[plane * (2 * (size_t)blk + 1) + (size_t)t * DS + n];
            }
            dBm[(size_t)t * lddbc + n] = sb;
            dCm[(size_t)t * lddbc + n] = sc;
        }
    }
    hy_free(states);
    hy_free(part);
    return HY_OK;
}
