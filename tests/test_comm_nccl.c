/* test_comm_nccl.c — the NCCL communicator on GPUs (core/comm_nccl.c).
 *
 *   test_comm_nccl              label gpu: world size 1 on one GPU — every
 *                               collective (all-reduce sum/avg/max,
 *                               reduce-scatter, all-gather, broadcast, host
 *                               all-reduce, the ZeRO-1 reducer and
 *                               all-gather over a shard plan), fp32 and
 *                               bf16, gives exactly the single-process
 *                               result (the input), through device memory
 *                               and the communicator's own stream;
 *   test_comm_nccl --multigpu   label multigpu: `hymba launch -n NGPU` runs
 *                               this program as every rank (--child): the
 *                               same collectives with rank-dependent data
 *                               against sums formed on the host, the bus
 *                               bandwidth of a 256 MiB all-reduce, then a
 *                               job where the last rank dies after joining
 *                               and the others must stop with a message
 *                               naming it, then one where the last rank is
 *                               killed by SIGKILL and `hymba launch` must
 *                               name it and stop the others within 50 s
 *                               (skipped, exit 77, with < 2 GPUs).
 * Only this test includes the CUDA runtime: it allocates device buffers. */
#include <cuda_runtime_api.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/comm.h"
#include "tests/harness.h"
#include "core/timer.h"

#define CU(call)                                                                                       \
    do {                                                                                               \
        cudaError_t e_ = (call);                                                                       \
        if (e_ != cudaSuccess) {                                                                       \
            fprintf(stderr, "  FAIL %s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            return 1;                                                                                  \
        }                                                                                              \
    } while (0)

static float hy_val(size_t i, int r) { return (float)((int)((i * 7919u + (size_t)r * 104729u) % 2001u) - 1000) / 64.0f; }


/* Upload host → run one collective → download; compare with `want`. */
typedef enum { OP_ALL_REDUCE, OP_REDUCE_SCATTER, OP_ALL_GATHER, OP_BROADCAST } hy_op_kind;

static int hy_run_op(hy_comm *c, hy_op_kind k, hy_dtype dt, hy_comm_op op, void *dev, void *host, size_t n) {
    size_t es = hy_dtype_size(dt), W = (size_t)hy_comm_world(c);
    CU(cudaMemcpy(dev, host, n * es, cudaMemcpyHostToDevice));
    hy_comm_ticket t = 0;
    hy_status st = k == OP_ALL_REDUCE       ? hy_comm_all_reduce(c, dev, n, dt, op, &t)
                   : k == OP_REDUCE_SCATTER ? hy_comm_reduce_scatter(c, dev, n / W, dt, op, &t)
                   : k == OP_ALL_GATHER     ? hy_comm_all_gather(c, dev, n / W, dt, &t)
                                            : hy_comm_broadcast(c, dev, n, dt, (int)W - 1, &t);
    HY_EXPECT_OK(st);
    HY_EXPECT_OK(hy_comm_wait(c, t));
    CU(cudaMemcpy(host, dev, n * es, cudaMemcpyDeviceToHost));
    return 0;
}

/* Fill rank r's input for collective k (all-gather: only r's chunk is meaningful). */
static void hy_fill(hy_dtype dt, void *host, size_t n, int r, int W, hy_op_kind k) {
    for (size_t i = 0; i < n; i++) {
        float v = k == OP_ALL_GATHER ? (i / (n / (size_t)W) == (size_t)r ? hy_val(i, 77) : -9.0f)
                  : k == OP_BROADCAST ? (r == W - 1 ? hy_val(i, 55) : -9.0f) : hy_val(i, r);
        if (dt == HY_DTYPE_BF16) ((uint16_t *)host)[i] = hy_f32_to_bf16(v);
        else ((float *)host)[i] = v;
    }
}

static float hy_rd(hy_dtype dt, const void *h, size_t i) {
    return dt == HY_DTYPE_BF16 ? hy_bf16_to_f32(((const uint16_t *)h)[i]) : ((const float *)h)[i];
}

/* Expected value at i over W ranks (host sums in fp64), and which elements count. */
static double hy_want(hy_op_kind k, hy_dtype dt, hy_comm_op op, size_t i, size_t n, int W, int r, int *check) {
    *check = k != OP_REDUCE_SCATTER || i / (n / (size_t)W) == (size_t)r;
    if (k == OP_ALL_GATHER) return dt == HY_DTYPE_BF16 ? hy_bf16_to_f32(hy_f32_to_bf16(hy_val(i, 77))) : hy_val(i, 77);
    if (k == OP_BROADCAST) return dt == HY_DTYPE_BF16 ? hy_bf16_to_f32(hy_f32_to_bf16(hy_val(i, 55))) : hy_val(i, 55);
    double s = 0, mx = -1e30;
    for (int q = 0; q < W; q++) {
        double x = dt == HY_DTYPE_BF16 ? hy_bf16_to_f32(hy_f32_to_bf16(hy_val(i, q))) : hy_val(i, q);
        s += x;
        mx = x > mx ? x : mx;
    }
    return op == HY_COMM_MAX ? mx : op == HY_COMM_AVG ? s / W : s;
}

/* Every collective, fp32 and bf16, against host results.  World 1: exact
 * (the single-process result is the input); more ranks: NCCL's summation
 * order differs from ours, so fp32 within 1e-6 relative, bf16 within its
 * rounding of the result. */
static int hy_check_collectives(hy_comm *c) {
    const int W = hy_comm_world(c), r = hy_comm_rank(c);
    const size_t n = (size_t)W * 4099 * 3; /* awkward: not a multiple of 128 per rank */
    void *dev = NULL, *host = malloc(n * 4);
    HY_EXPECT(host);
    CU(cudaMalloc(&dev, n * 4));
    static const hy_dtype dts[] = {HY_DTYPE_F32, HY_DTYPE_BF16};
    static const hy_comm_op ops[] = {HY_COMM_SUM, HY_COMM_AVG, HY_COMM_MAX};
    for (int d = 0; d < 2; d++)
        for (int k = OP_ALL_REDUCE; k <= OP_BROADCAST; k++)
            for (int o = 0; o < (k <= OP_REDUCE_SCATTER ? 3 : 1); o++) {
                hy_fill(dts[d], host, n, r, W, (hy_op_kind)k);
                if (hy_run_op(c, (hy_op_kind)k, dts[d], ops[o], dev, host, n)) return 1;
                double worst = 0;
                size_t wi = 0;
                for (size_t i = 0; i < n; i++) {
                    int check;
                    double want = hy_want((hy_op_kind)k, dts[d], ops[o], i, n, W, r, &check), got = hy_rd(dts[d], host, i);
                    double tol = W == 1 ? 0 : (dts[d] == HY_DTYPE_BF16 ? 8e-3 : 1e-6) * (fabs(want) + 1e-3);
                    double err = check ? fabs(got - want) - tol : 0;
                    if (err > worst) { worst = err; wi = i; }
                }
                HY_EXPECT_MSG(worst <= 0, "rank %d: collective %d op %d dtype %s: worst element %zu off by %g beyond tolerance", r, k, o,
                              hy_dtype_name(dts[d]), wi, worst);
            }
    double v[3] = {1.0 + r, 2.0 * r, -(double)r};
    HY_EXPECT_OK(hy_comm_all_reduce_host(c, v, 3, HY_COMM_SUM));
    HY_EXPECT(v[0] == W + W * (W - 1) / 2.0 && v[1] == W * (W - 1.0) && v[2] == -W * (W - 1) / 2.0);
    CU(cudaFree(dev));
    free(host);
    return 0;
}

/* ZeRO-1 over a plan: reducer (ordered after the default stream), owned
 * chunks reduced, all-gather of bf16 weights. */
static int hy_check_zero1(hy_comm *c) {
    const int W = hy_comm_world(c), r = hy_comm_rank(c);
    hy_shard_plan p;
    HY_EXPECT_OK(hy_shard_plan_build(&p, 1000003, W, 65536, 0));
    float *g = calloc(p.padded, 4), *gd = NULL;
    uint16_t *w = calloc(p.padded, 2), *wd = NULL;
    HY_EXPECT(g && w);
    for (size_t i = 0; i < p.total; i++) g[i] = hy_val(i, r);
    CU(cudaMalloc((void **)&gd, p.padded * 4));
    CU(cudaMalloc((void **)&wd, p.padded * 2));
    CU(cudaMemcpy(gd, g, p.padded * 4, cudaMemcpyHostToDevice));
    hy_comm_reducer red;
    hy_comm_reducer_begin(&red, &p, gd, HY_COMM_SUM, NULL);
    HY_EXPECT_OK(hy_comm_reducer_ready(c, &red, 0));
    HY_EXPECT_OK(hy_comm_reducer_finish(c, &red, NULL));
    CU(cudaMemcpy(g, gd, p.padded * 4, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < p.padded; i++) {
        if (hy_shard_owner(&p, i, NULL) != r) continue;
        double want = 0;
        for (int q = 0; q < W && i < p.total; q++) want += hy_val(i, q);
        HY_EXPECT_MSG(fabs(g[i] - want) <= (W == 1 ? 0 : 1e-6 * (fabs(want) + 1e-3)), "rank %d: reduced gradient %zu = %.9g, want %.9g", r, i,
                      g[i], want);
        w[i] = hy_f32_to_bf16(0.5f * g[i]);
    }
    CU(cudaMemcpy(wd, w, p.padded * 2, cudaMemcpyHostToDevice));
    HY_EXPECT_OK(hy_comm_all_gather_params(c, wd, HY_DTYPE_BF16, &p, NULL));
    CU(cudaMemcpy(w, wd, p.padded * 2, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < p.padded; i++) {
        double want = 0;
        for (int q = 0; q < W && i < p.total; q++) want += hy_val(i, q);
        float got = hy_bf16_to_f32(w[i]);
        HY_EXPECT_MSG(fabs(got - 0.5 * want) <= 8e-3 * (fabs(0.5 * want) + 1e-3), "rank %d: gathered weight %zu = %g, want %g", r, i, got,
                      0.5 * want);
    }
    CU(cudaFree(gd));
    CU(cudaFree(wd));
    free(g);
    free(w);
    hy_shard_plan_free(&p);
    return 0;
}

/* Bus bandwidth of an fp32 all-reduce (nccl-tests' definition:
 * 2·(W−1)/W · bytes / time). */
static int hy_bench_all_reduce(hy_comm *c) {
    const size_t n = (size_t)64 << 20; /* 256 MiB */
    float *d = NULL;
    CU(cudaMalloc((void **)&d, n * 4));
    CU(cudaMemset(d, 0, n * 4));
    HY_EXPECT_OK(hy_comm_all_reduce(c, d, n, HY_DTYPE_F32, HY_COMM_SUM, NULL));
    HY_EXPECT_OK(hy_comm_wait_all(c));
    const int iters = 10;
    double t0 = hy_now_s();
    for (int i = 0; i < iters; i++) HY_EXPECT_OK(hy_comm_all_reduce(c, d, n, HY_DTYPE_F32, HY_COMM_SUM, NULL));
    HY_EXPECT_OK(hy_comm_wait_all(c));
    double dt = (hy_now_s() - t0) / iters, W = hy_comm_world(c);
    if (hy_comm_rank(c) == 0)
        printf("all-reduce 256 MiB fp32 over %d GPU(s): %.2f ms, bus bandwidth %.1f GB/s\n", (int)W, dt * 1e3,
               W > 1 ? 2 * (W - 1) / W * (double)n * 4 / dt / 1e9 : 0.0);
    CU(cudaFree(d));
    return 0;
}

static int hy_open(hy_comm **c) {
    hy_comm_opts o;
    hy_comm_opts_default(&o);
    o.kind = "nccl";
    HY_EXPECT_OK(hy_comm_create_opts(c, &o));
    HY_EXPECT(!strcmp(hy_comm_kind(*c), "nccl") && hy_comm_device(*c) >= 0);
    return 0;
}

HY_TEST(nccl_world1_equals_single) {
    int count = 0;
    CU(cudaGetDeviceCount(&count));
    HY_EXPECT_MSG(count >= 1, "no CUDA device");
    hy_comm *c = NULL;
    if (hy_open(&c)) return 1;
    HY_EXPECT(hy_comm_world(c) == 1 && hy_comm_rank(c) == 0);
    if (hy_check_collectives(c) || hy_check_zero1(c) || hy_bench_all_reduce(c)) return 1;
    HY_EXPECT_OK(hy_comm_order_after(c, NULL));
    HY_EXPECT_OK(hy_comm_order_before(c, NULL));
    HY_EXPECT_OK(hy_comm_barrier(c));
    HY_EXPECT_ERR(hy_comm_all_reduce(c, NULL, 5, HY_DTYPE_F32, HY_COMM_SUM, NULL), "NULL buffer");
    hy_comm_free(c);
    return 0;
}

/* --child: one rank of the multi-GPU job. */
static int hy_child(int die) {
    hy_comm *c = NULL;
    if (hy_open(&c)) return 1;
    int r = hy_comm_rank(c), W = hy_comm_world(c);
    if (die) {
        /* die == 1: gone without a word and with exit status 0, so the
         * launcher sees nothing wrong: the others must notice through the
         * communicator.  die == 2: killed by SIGKILL. */
        if (r == W - 1) {
            if (die == 2) raise(SIGKILL);
            _exit(0);
        }
        float *d = NULL;
        CU(cudaMalloc((void **)&d, 4096));
        hy_status st = hy_comm_all_reduce(c, d, 1024, HY_DTYPE_F32, HY_COMM_SUM, NULL);
        if (!st) st = hy_comm_wait_all(c);
        printf("rank %d: %s\n", r, st ? hy_last_error() : "all-reduce completed without the dead rank");
        hy_comm_free(c);
        return 1; /* the job failed either way; the message tells which (hy_multigpu checks it) */
    }
    int rc = hy_check_collectives(c) || hy_check_zero1(c) || hy_bench_all_reduce(c);
    if (!rc && hy_comm_barrier(c)) { fprintf(stderr, "barrier: %s\n", hy_last_error()); rc = 1; }
    if (rc) hy_comm_abort(c, "a check failed");
    else printf("rank %d of %d (device %d): ok\n", r, W, hy_comm_device(c));
    hy_comm_free(c);
    return rc;
}

static int hy_multigpu(void) {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count < 2) {
        fprintf(stderr, "skipped: needs at least 2 GPUs (%d visible)\n", count);
        return 77;
    }
    char self[4096], cmd[8400];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    self[k > 0 ? k : 0] = '\0';
    char *out = NULL;
    snprintf(cmd, sizeof cmd, "%s launch -n %d --all-output -- %s --child", hy_test_hymba(), count, self);
    int rc = hy_test_run(cmd, &out);
    fprintf(stderr, "$ %s\n-> exit %d\n%s", cmd, rc, out ? out : "");
    int ok = rc == 0 && out && strstr(out, "ok");
    free(out);
    snprintf(cmd, sizeof cmd, "HYMBA_COMM_TIMEOUT=60 %s launch -n %d --all-output -- %s --child-die", hy_test_hymba(), count, self);
    rc = hy_test_run(cmd, &out);
    fprintf(stderr, "$ %s\n-> exit %d\n%s", cmd, rc, out ? out : "");
    char want[64];
    snprintf(want, sizeof want, "rank %d (host", count - 1);
    int named = rc != 0 && out && strstr(out, want) && strstr(out, "died or was killed");
    free(out);
    /* a rank killed by SIGKILL: the launcher names it and stops the others */
    snprintf(cmd, sizeof cmd, "HYMBA_COMM_TIMEOUT=60 %s launch -n %d --all-output -- %s --child-kill", hy_test_hymba(), count, self);
    double t0 = hy_now_s();
    rc = hy_test_run(cmd, &out);
    double secs = hy_now_s() - t0;
    fprintf(stderr, "$ %s\n-> exit %d after %.1f s\n%s", cmd, rc, secs, out ? out : "");
    /* the launcher's closing line lists every rank's end ("rank 1: killed by signal 9 (Killed)") */
    snprintf(want, sizeof want, "rank %d: killed by signal %d", count - 1, SIGKILL);
    int killed = rc != 0 && out && strstr(out, want) && strstr(out, "the other ranks were stopped") && secs < 50;
    free(out);
    if (!ok) fprintf(stderr, "FAIL: the %d-rank collective checks failed\n", count);
    if (!named) fprintf(stderr, "FAIL: the ranks did not stop naming the dead rank %d\n", count - 1);
    if (!killed) fprintf(stderr, "FAIL: the launcher did not name rank %d killed by SIGKILL and stop the job in time\n", count - 1);
    return ok && named && killed ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--child")) return hy_child(0);
    if (argc > 1 && !strcmp(argv[1], "--child-die")) return hy_child(1);
    if (argc > 1 && !strcmp(argv[1], "--child-kill")) return hy_child(2);
    if (argc > 1 && !strcmp(argv[1], "--multigpu")) return hy_multigpu();
    return hy_test_main(argc, argv);
}
