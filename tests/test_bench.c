/* test_bench.c — the benchmark's pieces: spec §11's FLOP count against the
 * spec's table for the 1.5B config, the mask pair counts against brute force,
 * the profiling decorator (bitwise the same loss and gradients as the plain
 * table; attention FLOP estimate from the documents), `hymba bench` on the
 * spec12 model (tokens/s printed, profile shares adding up to 100%), and the
 * data-parallel bench: 2 CPU ranks over tcp through `hymba launch` report
 * world 2 with its figures, end with identical weights on both ranks, train
 * the same bits with and without the overlapping reduce-scatter, and their
 * first step's global objective and gradient norm equal those of one rank
 * accumulating the same two micro-batches (--accum 2). */
#include <math.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/model.h"
#include "core/profile.h"
#include "kernels/backend.h"
#include "tests/harness.h"

#define SPEC12 HY_SHARED_DIR "/reference/spec12"
#define CFG15B HY_SHARED_DIR "/hymba-1.5b/config.json"

/* Brute-force count of the mask predicate of ops.h. */
static int64_t brute_pairs(int T, int M, int W) {
    int64_t n = 0;
    for (int i = 0; i < T; i++)
        for (int j = 0; j <= i; j++) n += W < 0 || i - j <= W || j < M;
    return n;
}

HY_TEST(attn_pairs_match_brute_force) {
    const int Ts[] = {1, 2, 11, 25, 26, 27, 48, 200};
    const int Ms[] = {0, 1, 8, 128}, Ws[] = {-1, 0, 1, 16, 100};
    for (size_t a = 0; a < HY_ARRAY_LEN(Ts); a++)
        for (size_t b = 0; b < HY_ARRAY_LEN(Ms); b++)
            for (size_t c = 0; c < HY_ARRAY_LEN(Ws); c++) {
                int64_t got = hy_attn_pairs(Ts[a], Ms[b], Ws[c]), want = brute_pairs(Ts[a], Ms[b], Ws[c]);
                HY_EXPECT_MSG(got == want, "T=%d M=%d W=%d: got %lld, want %lld", Ts[a], Ms[b], Ws[c], (long long)got, (long long)want);
            }
    /* spec §12 and §11 figures */
    HY_EXPECT(hy_attn_pairs(26, 8, 16) == 350 && hy_attn_pairs(26, 8, -1) == 351);
    HY_EXPECT(hy_attn_pairs(48, 8, 16) == 900 && hy_attn_pairs(48, 8, -1) == 1176);
    HY_EXPECT(hy_attn_pairs(2176, 128, 1024) == 1844800 && hy_attn_pairs(2176, 128, -1) == 2368576);
    HY_EXPECT(hy_attn_pairs(4224, 128, 1024) == 4206144 && hy_attn_pairs(4224, 128, -1) == 8923200);
    HY_EXPECT(hy_attn_pairs(8320, 128, 1024) == 8928832 && hy_attn_pairs(8320, 128, -1) == 34615360);
    return 0;
}

/* Spec §11's table, GFLOP per text token, columns: layer matmuls, LM head,
 * attention (global), attention (SWA), scan, conv, total. */
HY_TEST(flops_per_token_reproduces_spec_table) {
    hy_config c;
    HY_EXPECT_OK(hy_config_load(&c, CFG15B));
    const int Ls[3] = {2048, 4096, 8192};
    const double want[3][7] = {{9.3631, 0.3072, 0.0999, 0.7523, 0.0470, 0.0026, 10.572},
                               {9.0877, 0.3072, 0.1882, 0.8577, 0.0456, 0.0025, 10.489},
                               {8.9500, 0.3072, 0.3651, 0.9103, 0.0449, 0.0025, 10.580}};
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        hy_flops_breakdown b;
        double F = hy_flops_per_token(&c, Ls[i], &b);
        const double got[7] = {b.layer_matmul, b.head, b.attn_global, b.attn_swa, b.scan, b.conv, F};
        const char *names[7] = {"layer matmuls", "LM head", "attn global", "attn swa", "scan", "conv", "total"};
        for (int k = 0; k < 7; k++) {
            double g = got[k] * 1e-9, tol = k == 6 ? 5e-4 : 5e-5; /* the table's rounding */
            if (fabs(g - want[i][k]) > tol) {
                fprintf(stderr, "  L=%d %s: got %.6f GFLOP, spec table %.4f\n", Ls[i], names[k], g, want[i][k]);
                bad++;
            }
        }
        /* the matmul parameter count of spec §2.2: 1,468,723,200 in the layers */
        double params = b.layer_matmul / (6.0 * (Ls[i] + 128.0) / Ls[i]);
        HY_EXPECT_MSG(fabs(params - 1468723200.0) < 1.0, "layer matmul parameters %.1f, spec 1,468,723,200", params);
    }
    return bad != 0;
}

/* One forward + backward on spec12 with `ops`; loss rows and grads out. */
static int fwd_bwd(const hy_ops *ops, const float *w, float *loss, float *grad, size_t total) {
    hy_config c;
    HY_EXPECT_OK(hy_config_load(&c, SPEC12 "/config.json"));
    enum { D = 3 };
    const int32_t len[D] = {40, 5, 17};
    int32_t ids[62], tg[62];
    for (int i = 0; i < 62; i++) ids[i] = (int32_t)((i * 37 + 11) % c.vocab_size);
    for (int i = 0; i < 62; i++) tg[i] = i % 7 == 3 ? -100 : ids[(i + 1) % 62];
    float wt[62];
    for (int i = 0; i < 62; i++) wt[i] = tg[i] < 0 ? 0.0f : 1.0f / 62;
    hy_model *m;
    HY_EXPECT_OK(hy_model_create(&m, &c, ops, 62, D, 1));
    HY_EXPECT(hy_model_params(m)->total == total);
    hy_model_batch b = {D, len, ids, tg};
    hy_status st = hy_model_set_weights(m, w);
    if (!st) st = hy_model_forward(m, &b, loss, NULL);
    if (!st) st = hy_model_backward(m, wt);
    if (!st) st = hy_model_get_grads(m, grad);
    hy_model_free(m);
    HY_EXPECT_OK(st);
    return 0;
}

HY_TEST(profiled_model_is_bitwise_identical) {
    hy_config c;
    HY_EXPECT_OK(hy_config_load(&c, SPEC12 "/config.json"));
    hy_ops *cpu;
    HY_EXPECT_OK(hy_backend_cpu_create(&cpu, 1));
    hy_param_table pt;
    HY_EXPECT_OK(hy_params_build(&pt, &c));
    size_t total = pt.total;
    float *w = malloc(total * 4), *g0 = malloc(total * 4), *g1 = malloc(total * 4), l0[62], l1[62];
    HY_EXPECT(w && g0 && g1);
    hy_ckpt_init_weights(&pt, &c, 7, w);
    hy_params_free(&pt);
    hy_ops *wrapped;
    hy_op_profile *prof;
    HY_EXPECT_OK(hy_ops_profile_wrap(cpu, &wrapped, &prof));
    int rc = fwd_bwd(cpu, w, l0, g0, total) || fwd_bwd(wrapped, w, l1, g1, total);
    if (!rc && memcmp(l0, l1, sizeof l0)) { fprintf(stderr, "  FAIL: profiled loss rows differ\n"); rc = 1; }
    for (size_t i = 0; !rc && i < total; i++)
        if (memcmp(&g0[i], &g1[i], 4)) {
            fprintf(stderr, "  FAIL: gradient element %zu: profiled %.9g, plain %.9g\n", i, g1[i], g0[i]);
            rc = 1;
        }
    /* attention forward FLOPs: 2·NH·(DQK+DV)·pairs over the 3 documents and every layer */
    hy_op_profile_row rows[64];
    int n = hy_op_profile_rows(prof, rows, 64);
    double want = 0;
    const int lens[3] = {40, 5, 17};
    for (int l = 0; l < c.num_layers; l++)
        for (int d = 0; d < 3; d++) want += 2.0 * c.num_heads * (c.dqk + c.dv) * (double)hy_attn_pairs(lens[d] + c.num_meta, c.num_meta, c.is_global[l] ? -1 : c.sliding_window);
    int found = 0;
    for (int i = 0; i < n; i++)
        if (!strcmp(rows[i].op, "attention_fwd")) {
            found = 1;
            if (rows[i].calls != c.num_layers || rows[i].flops != want) {
                fprintf(stderr, "  FAIL: attention_fwd calls %lld (want %d), FLOPs %.0f (want %.0f)\n", rows[i].calls, c.num_layers,
                        rows[i].flops, want);
                rc = 1;
            }
        }
    if (!found) { fprintf(stderr, "  FAIL: no attention_fwd row in the profile\n"); rc = 1; }
    for (int i = 1; i < n; i++)
        if (rows[i].seconds > rows[i - 1].seconds) { fprintf(stderr, "  FAIL: rows not sorted by time at %d\n", i); rc = 1; }
    hy_ops_profile_free(wrapped, prof);
    hy_backend_cpu_destroy(cpu);
    free(w), free(g0), free(g1);
    return rc;
}

HY_TEST(cli_bench_spec12_profile) {
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s bench --config %s --device cpu --doc-len 40 --tokens 512 --steps 2 --warmup 1 --profile",
             hy_test_hymba(), SPEC12);
    int rc = hy_test_run(cmd, &out);
    if (rc != 0 || !out) { fprintf(stderr, "  FAIL: '%s' exited %d:\n%s\n", cmd, rc, out ? out : ""); free(out); return 1; }
    double tps = 0, share_sum = 0;
    int rows = 0, in_table = 0, step_row = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "tokens/s", 8)) sscanf(line + 8, "%lf", &tps);
        if (!strncmp(line, "op ", 3)) { in_table = 1; continue; }
        if (!in_table) continue;
        char name[64], calls[32];
        double ms, share;
        if (sscanf(line, "%63s %31s %lf %lf%%", name, calls, &ms, &share) != 4) continue;
        if (!strcmp(name, "step")) { step_row = share == 100.0; in_table = 0; continue; }
        share_sum += share;
        rows++;
    }
    free(out);
    HY_EXPECT_MSG(tps > 0, "no positive tokens/s line (got %g)", tps);
    HY_EXPECT_MSG(rows >= 10 && step_row, "profile table: %d rows, step row %d", rows, step_row);
    /* each share is printed to 0.1%: the sum may be off by 0.05% per row */
    HY_EXPECT_MSG(fabs(share_sum - 100.0) <= 0.05 * rows + 1e-9, "profile shares add up to %.2f%% over %d rows", share_sum, rows);
    return 0;
}

HY_TEST(cli_bench_errors) {
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s bench --config %s --device cpu --doc-len 600 --tokens 512", hy_test_hymba(), SPEC12);
    int rc = hy_test_run(cmd, &out);
    int ok = rc == 1 && out && strstr(out, "--tokens 512 holds no document of --doc-len 600") && strstr(out, "hint: --tokens 608");
    if (!ok) fprintf(stderr, "  FAIL: exit %d, output:\n%s\n", rc, out ? out : "");
    free(out);
    if (!ok) return 1;
    /* kernel mode refuses the options that do not apply */
    snprintf(cmd, sizeof cmd, "%s bench --kernels --dpo --config %s --device cpu", hy_test_hymba(), SPEC12);
    rc = hy_test_run(cmd, &out);
    ok = rc == 2 && out && strstr(out, "--kernels times each op alone") && strstr(out, "--dpo");
    if (!ok) fprintf(stderr, "  FAIL: exit %d, output:\n%s\n", rc, out ? out : "");
    free(out);
    return !ok;
}

HY_TEST(cli_bench_kernels_mode) {
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "%s bench --kernels --config %s --device cpu --doc-len 40 --tokens 400 --steps 2 --warmup 1",
             hy_test_hymba(), SPEC12);
    int rc = hy_test_run(cmd, &out);
    if (rc != 0 || !out) { fprintf(stderr, "  FAIL: '%s' exited %d:\n%s\n", cmd, rc, out ? out : ""); free(out); return 1; }
    /* every case prints one checked row; every op of the step appears with a positive time */
    const char *ops[] = {"attention_fwd", "attention_bwd", "scan_fwd", "scan_bwd", "conv1d_fwd", "conv1d_bwd", "rmsnorm_fwd",
                         "rmsnorm_bwd", "swiglu_fwd", "swiglu_bwd", "rope_fwd", "rope_bwd", "matmul_fwd", "matmul_bwd", "ce_fwd", "ce_bwd"};
    int bad = 0, oks = 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        if (!strstr(out, ops[i])) fprintf(stderr, "  kernel mode output lacks %s\n", ops[i]), bad++;
    for (const char *p = out; (p = strstr(p, " ok ")); p++) oks++;
    if (bad || oks != 10 || strstr(out, "FAIL")) fprintf(stderr, "  %d ok rows (want 10), output:\n%s\n", oks, out);
    free(out);
    HY_EXPECT(bad == 0 && oks == 10);
    return 0;
}

/* The figures of one bench run's report (rank 0's lines). */
typedef struct {
    int world, overlap, accum, same_weights;
    char comm[16];
    double step_ms, tok_gpu, tok_total, rs_ms, ag_ms, first_obj, first_norm;
    unsigned long long checksum;
    int have_summary, have_steps, have_exposed;
} hy_bench_figs;

static int hy_bench_parse_report(const char *out, hy_bench_figs *f) {
    memset(f, 0, sizeof *f);
    const char *p = strstr(out, "summary         world=");
    if (p && sscanf(p, "summary world=%d comm=%15s overlap=%d accum=%d step_ms=%lf tok_s_gpu=%lf tok_s_total=%lf mfu_pct=%*f "
                       "rs_ms=%lf ag_ms=%lf", &f->world, f->comm, &f->overlap, &f->accum, &f->step_ms, &f->tok_gpu, &f->tok_total,
                    &f->rs_ms, &f->ag_ms) == 9)
        f->have_summary = 1;
    p = strstr(out, "objective Σ w·loss first ");
    if (p && sscanf(p + strlen("objective Σ w·loss first "), "%lf", &f->first_obj) == 1 && (p = strstr(p, "gradient norm first ")) &&
        sscanf(p + strlen("gradient norm first "), "%lf", &f->first_norm) == 1)
        f->have_steps = 1;
    p = strstr(out, "(checksum 0x");
    if (p) sscanf(p + strlen("(checksum 0x"), "%llx", &f->checksum);
    f->same_weights = strstr(out, "weights         identical on every rank") != NULL;
    f->have_exposed = strstr(out, "exposed         ") && strstr(out, "(--ref-step-ms); hidden ");
    return f->have_summary && f->have_steps && f->checksum;
}

/* `hymba bench` on spec12, 2 documents of 40 tokens per micro-batch, 3 steps. */
static int hy_bench_dp_run(const char *env, int ranks, const char *extra, hy_bench_figs *f) {
    char cmd[2048], *out = NULL, launch[600] = "";
    if (ranks > 1) snprintf(launch, sizeof launch, "%s launch -n %d -- ", hy_test_hymba(), ranks);
    snprintf(cmd, sizeof cmd, "%s OMP_NUM_THREADS=1 %s%s bench --config %s --device cpu --doc-len 40 --tokens 100 --steps 2 --warmup 1 %s",
             env, launch, hy_test_hymba(), SPEC12, extra);
    int rc = hy_test_run(cmd, &out);
    int ok = rc == 0 && out && hy_bench_parse_report(out, f);
    if (!ok) fprintf(stderr, "  FAIL: '%s' exited %d (or its report lacks figures):\n%s\n", cmd, rc, out ? out : "");
    free(out);
    return ok ? 0 : 1;
}

static int hy_rel_close(const char *what, double got, double want, double tol) {
    double r = fabs(got - want) / fmax(fabs(want), 1e-30);
    fprintf(stderr, "  %s: %.9g vs %.9g (relative %.3g, tolerance %.0g)\n", what, got, want, r, tol);
    return r <= tol;
}

HY_TEST(cli_bench_data_parallel_two_ranks) {
    hy_bench_figs ov, nov, one;
    /* 4096-element buckets: the spec12 model's layers go out during the backward */
    HY_EXPECT(hy_bench_dp_run("HYMBA_DP_BUCKET_ELEMS=4096", 2, "", &ov) == 0);
    HY_EXPECT(hy_bench_dp_run("HYMBA_DP_BUCKET_ELEMS=4096 HYMBA_DP_OVERLAP=0", 2, "--ref-step-ms 1", &nov) == 0);
    HY_EXPECT(hy_bench_dp_run("", 1, "--accum 2", &one) == 0);
    /* the report: world 2 over tcp, both overlap settings, positive figures */
    HY_EXPECT_MSG(ov.world == 2 && !strcmp(ov.comm, "tcp") && ov.overlap == 1 && nov.overlap == 0 && ov.accum == 1,
                  "world %d comm %s overlap %d/%d accum %d", ov.world, ov.comm, ov.overlap, nov.overlap, ov.accum);
    HY_EXPECT_MSG(ov.step_ms > 0 && ov.tok_gpu > 0 && ov.rs_ms > 0 && ov.ag_ms > 0, "step %g ms, %g tokens/s per rank, rs %g ms, ag %g ms",
                  ov.step_ms, ov.tok_gpu, ov.rs_ms, ov.ag_ms);
    HY_EXPECT_MSG(fabs(ov.tok_total - 2 * ov.tok_gpu) <= 0.1 + 1e-6 * ov.tok_total, "total %g tokens/s is not 2 x %g", ov.tok_total, ov.tok_gpu);
    HY_EXPECT_MSG(nov.have_exposed && !ov.have_exposed, "exposed line: with --ref-step-ms %d, without %d", nov.have_exposed, ov.have_exposed);
    HY_EXPECT_MSG(one.world == 1 && !strcmp(one.comm, "single") && one.rs_ms == 0, "1-rank run: world %d comm %s", one.world, one.comm);
    /* both ranks hold the same weights after the steps (the bench fails otherwise; the line must say so) */
    HY_EXPECT_MSG(ov.same_weights && nov.same_weights, "weights identical on both ranks: overlap %d, no overlap %d", ov.same_weights,
                  nov.same_weights);
    /* tcp completes each launch at once: overlapping changes no bit */
    HY_EXPECT_MSG(ov.checksum == nov.checksum && ov.first_norm == nov.first_norm,
                  "overlap on/off: weights 0x%016llx vs 0x%016llx, first norm %.17g vs %.17g", ov.checksum, nov.checksum, ov.first_norm,
                  nov.first_norm);
    /* 2 ranks x 1 micro-batch == 1 rank accumulating the same 2: the objective
     * sums the same loss rows; the gradient differs only in fp32 summation
     * order (rank-order reduce vs accumulation in the backward) */
    HY_EXPECT(hy_rel_close("first-step objective, 2 ranks vs 1 rank --accum 2", ov.first_obj, one.first_obj, 1e-7));
    HY_EXPECT(hy_rel_close("first-step gradient norm, 2 ranks vs 1 rank --accum 2", ov.first_norm, one.first_norm, 1e-6));
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
