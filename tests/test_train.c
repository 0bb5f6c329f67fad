/* test_train.c — the SFT training loop end to end on the tiny demo model:
 *   - the loss of a small fixed set falls by a wide margin (overfitting);
 *   - the same global batch split into 1, 2 or 4 micro-batches gives the same
 *     gradients and the same update;
 *   - resume is exact: a run stopped by SIGTERM (final checkpoint, exit 0) and
 *     resumed ends bitwise equal to a straight run (weights, optimizer state,
 *     loss log);
 *   - SIGKILL at random moments (often inside a checkpoint save) leaves every
 *     published checkpoint loadable, and `resume: auto` continues to the same
 *     bitwise result;
 *   - recipe and data errors give their messages. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/checkpoint.h"
#include "core/optim.h"
#include "kernels/backend.h"
#include "sft/sft.h"
#include "tests/harness.h"
#include "tests/train_util.h"

static void hy_rmrf(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
}

HY_TEST(overfit_small_set) {
    char dir[256], data[300], recipe[300], ckpt[300], metrics[400];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "overfit") == 0);
    snprintf(data, sizeof data, "%s/tiny.jsonl", dir);
    snprintf(recipe, sizeof recipe, "%s/r.yaml", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run", dir);
    HY_EXPECT(hy_tt_write_sft(data, 12, 1) == 0);
    HY_EXPECT(hy_tt_recipe(recipe, dir, data, ckpt, NULL) == 0);
    char *out = NULL;
    int rc = hy_tt_sft(recipe, "--set train.epochs=60 --set checkpoint.every=0 --set train.schedule=constant --set train.warmup_steps=0", &out);
    HY_EXPECT_MSG(rc == 0, "%s", out ? out : "");
    free(out);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", ckpt);
    double loss[1000];
    int64_t step[1000];
    int n = hy_tt_losses(metrics, loss, step, 1000);
    HY_EXPECT(n >= 20);
    double first = loss[0], last = (loss[n - 1] + loss[n - 2] + loss[n - 3]) / 3;
    fprintf(stderr, "  %d steps: loss %.3f -> %.3f\n", n, first, last);
    HY_EXPECT_MSG(last < 0.3 * first, "loss fell only from %.3f to %.3f", first, last);
    hy_rmrf(dir);
    return 0;
}

/* ---- accumulation invariance (objective level, exact control of the split) ---- */

static void hy_mb_build(hy_microbatch *mb, int n_docs, const int32_t *len, int32_t *start, int32_t *ids, int32_t *labels) {
    memset(mb, 0, sizeof *mb);
    mb->n_docs = n_docs;
    mb->doc_len = (int32_t *)len;
    mb->doc_start = start;
    start[0] = 0;
    for (int d = 0; d < n_docs; d++) start[d + 1] = start[d] + len[d];
    mb->n_tokens = start[n_docs];
    mb->ids = ids;
    mb->labels = labels;
}

HY_TEST(accumulation_invariance) {
    char dir[256], base[300];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "accum") == 0);
    snprintf(base, sizeof base, "%s/base", dir);
    enum { ND = 8 };
    const int32_t len[ND] = {3, 61, 7, 40, 1, 25, 90, 12}; /* very different lengths, one of a single token */
    int total = 0;
    for (int d = 0; d < ND; d++) total += len[d];
    int32_t *ids = malloc(4 * (size_t)total), *labels = malloc(4 * (size_t)total);
    hy_test_rng r = {11};
    for (int i = 0; i < total; i++) {
        ids[i] = 3 + (int32_t)(hy_test_uniform(&r) * 1000);
        labels[i] = hy_test_uniform(&r) < 0.3 ? -100 : ids[i];
    }
    hy_ops *ops;
    HY_EXPECT_OK(hy_backend_cpu_create(&ops, 0));
    hy_model *m;
    HY_EXPECT_OK(hy_model_open(&m, base, ops, 400, ND, 1));
    const hy_param_table *pt = hy_model_params(m);
    size_t P = pt->total;
    float *w0 = malloc(4 * P), *g[3], *w[3], *mo = malloc(4 * P), *vo = malloc(4 * P);
    HY_EXPECT_OK(hy_model_get_weights(m, w0));
    hy_sft s;
    hy_objective obj;
    HY_EXPECT_OK(hy_sft_init(&s, &obj, total));
    hy_optim_groups groups;
    HY_EXPECT_OK(hy_optim_groups_build(&groups, pt, 0));
    hy_adamw_hparams h = {0.9, 0.999, 1e-8, 0.01};
    const int splits[3][5] = {{8}, {4, 4}, {2, 2, 2, 2}}; /* documents per micro-batch */
    const int nsplit[3] = {1, 2, 4};
    double units = 0;
    for (int v = 0; v < 3; v++) {
        HY_EXPECT_OK(hy_model_set_weights(m, w0));
        HY_EXPECT_OK(hy_model_zero_grads(m));
        hy_obj_acc acc = {0};
        int d0 = 0, off = 0;
        hy_microbatch mbs[4];
        double u = 0;
        /* units of the whole step first (the trainer's first pass), then the micro-batches */
        for (int k = 0; k < nsplit[v]; k++) {
            int32_t st[ND + 1];
            hy_mb_build(&mbs[k], splits[v][k], len + d0, st, ids + off, labels + off);
            u += obj.units(obj.self, &mbs[k]);
            for (int d = 0; d < splits[v][k]; d++) off += len[d0 + d];
            d0 += splits[v][k];
        }
        off = 0;
        d0 = 0;
        for (int k = 0; k < nsplit[v]; k++) {
            int32_t st[ND + 1];
            hy_mb_build(&mbs[k], splits[v][k], len + d0, st, ids + off, labels + off);
            HY_EXPECT_OK(obj.micro(obj.self, m, &mbs[k], u, 1, &acc));
            for (int d = 0; d < splits[v][k]; d++) off += len[d0 + d];
            d0 += splits[v][k];
        }
        if (v == 0) units = u;
        HY_EXPECT(u == units);
        g[v] = malloc(4 * P);
        w[v] = malloc(4 * P);
        HY_EXPECT_OK(hy_model_get_grads(m, g[v]));
        memcpy(w[v], w0, 4 * P);
        memset(mo, 0, 4 * P);
        memset(vo, 0, 4 * P);
        double norm = hy_optim_global_norm(g[v], P);
        /* two updates so that the second moment no longer cancels the gradient scale */
        hy_adamw_step(&h, &groups, 1, 1e-3, (float)hy_optim_clip_coef(norm, 1.0), w[v], g[v], mo, vo);
        hy_adamw_step(&h, &groups, 2, 1e-3, (float)hy_optim_clip_coef(norm, 1.0), w[v], g[v], mo, vo);
        fprintf(stderr, "  %d micro-batch(es): loss %.7f over %.0f targets, grad norm %.7g\n", nsplit[v], acc.loss_sum / u, u, norm);
    }
    /* Gradients: every tensor within 2e-6 of its largest element (fp32 summation
     * order is the only difference).  Weights after two AdamW steps: within 1e-6
     * of the tensor's largest weight (or of lr·1 for zero tensors) on every element
     * whose gradient is at least 1e-2 of the tensor's largest.  Adam divides by
     * sqrt(v) + eps, so for gradients near eps the last-bit rounding noise of the
     * summation becomes a visible difference in the step (measured 1e-5 of the
     * weights at |g| = 1e-4·max): those elements are counted and excluded. */
    int bad = 0;
    double worst_g = 0, worst_w = 0;
    size_t excluded = 0, compared = 0;
    for (int v = 1; v < 3; v++)
        for (int i = 0; i < pt->count; i++) {
            const hy_param_desc *d = &pt->desc[i];
            const float *g0 = g[0] + d->offset, *w0t = w0 + d->offset;
            double eg = hy_test_rel_inf(g[v] + d->offset, g0, d->numel);
            double gmax = 0, wmax = 0, ew = 0;
            for (size_t k = 0; k < d->numel; k++) {
                gmax = fmax(gmax, fabs(g0[k]));
                wmax = fmax(wmax, fabs(w0t[k]));
            }
            for (size_t k = 0; k < d->numel; k++) {
                if (fabs(g0[k]) < 1e-2 * gmax) { excluded++; continue; }
                compared++;
                ew = fmax(ew, fabs((double)w[v][d->offset + k] - w[0][d->offset + k]) / fmax(wmax, 1e-3));
            }
            worst_g = fmax(worst_g, eg);
            worst_w = fmax(worst_w, ew);
            if (eg > 2e-6 || ew > 1e-6) {
                fprintf(stderr, "  split %d: %s grad rel %.3g weight rel %.3g\n", nsplit[v], d->name, eg, ew);
                bad++;
            }
        }
    fprintf(stderr, "  worst over tensors: gradient %.3g, weights %.3g (of the tensor max); %zu elements compared, %zu with |g| < 1e-2 max excluded\n",
            worst_g, worst_w, compared, excluded);
    for (int v = 0; v < 3; v++) { free(g[v]); free(w[v]); }
    free(w0); free(mo); free(vo); free(ids); free(labels);
    hy_optim_groups_free(&groups);
    hy_sft_free(&s);
    hy_model_free(m);
    hy_backend_cpu_destroy(ops);
    hy_rmrf(dir);
    return bad != 0;
}

/* ---- resume and crash safety ---- */

/* Start `hymba sft RECIPE` in the background with output to LOG; returns the pid. */
static pid_t hy_spawn_sft(const char *recipe, const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "a", stdout);
        (void)f;
        dup2(fileno(stdout), 2);
        setenv("OMP_NUM_THREADS", "1", 1);
        execl(hy_test_hymba(), "hymba", "sft", recipe, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int hy_count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

static int hy_same_ckpt(const char *a, const char *b) {
    const char *files[] = {"model.safetensors", "trainer_state.safetensors"};
    for (int i = 0; i < 2; i++) {
        char pa[600], pb[600];
        snprintf(pa, sizeof pa, "%s/%s", a, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        if (!hy_tt_same_file(pa, pb)) {
            fprintf(stderr, "  %s differs from %s\n", pa, pb);
            return 0;
        }
    }
    return 1;
}

static int hy_same_losses(const char *ma, const char *mb) {
    double la[256], lb[256];
    int64_t sa[256], sb[256];
    int na = hy_tt_losses(ma, la, sa, 256), nb = hy_tt_losses(mb, lb, sb, 256);
    if (na != nb || na == 0) { fprintf(stderr, "  loss logs have %d and %d records\n", na, nb); return 0; }
    for (int i = 0; i < na; i++)
        if (la[i] != lb[i] || sa[i] != sb[i]) { fprintf(stderr, "  loss log differs at record %d: %.9g vs %.9g\n", i, la[i], lb[i]); return 0; }
    return 1;
}

typedef struct {
    char dir[256], data[300], recipe_a[300], ckpt_a[300], ckpt_b[300];
} hy_resume_env;

static int hy_resume_env_init(hy_resume_env *e, const char *tag, int every) {
    if (hy_tt_setup(e->dir, sizeof e->dir, tag)) return -1;
    snprintf(e->data, sizeof e->data, "%s/d.jsonl", e->dir);
    snprintf(e->recipe_a, sizeof e->recipe_a, "%s/a.yaml", e->dir);
    snprintf(e->ckpt_a, sizeof e->ckpt_a, "%s/run-a", e->dir);
    snprintf(e->ckpt_b, sizeof e->ckpt_b, "%s/run-b", e->dir);
    if (hy_tt_write_sft(e->data, 120, 4)) return -1;
    if (hy_tt_recipe(e->recipe_a, e->dir, e->data, e->ckpt_a, NULL)) return -1;
    char *out = NULL;
    char args[256];
    snprintf(args, sizeof args, "--set train.max_steps=14 --set checkpoint.every=%d", every);
    int rc = hy_tt_sft(e->recipe_a, args, &out);
    if (rc) fprintf(stderr, "%s\n", out ? out : "");
    free(out);
    return rc;
}

HY_TEST(resume_exact_after_sigterm) {
    hy_resume_env e;
    HY_EXPECT(hy_resume_env_init(&e, "resume", 4) == 0);
    char recipe[400], log[400], metrics_b[400], metrics_a[400];
    /* run b: the straight run's settings written into the file (the background run takes no --set) */
    snprintf(recipe, sizeof recipe, "%s/b2.yaml", e.dir);
    FILE *f = fopen(recipe, "w");
    HY_EXPECT(f != NULL);
    fprintf(f, "model: {path: %s/base}\ndata:\n  train: [%s]\n  max_length: 128\n  tokens_per_micro_batch: 512\n  cache_dir: %s/cache\n"
               "train: {lr: 3e-3, schedule: cosine, warmup_steps: 2, min_lr: 1e-4, weight_decay: 0.01, grad_clip: 1.0, seed: 3, device: cpu, max_steps: 14}\n"
               "checkpoint: {dir: %s, every: 4, keep_last: 0}\nlog: {every: 1}\n", e.dir, e.data, e.dir, e.ckpt_b);
    fclose(f);
    snprintf(log, sizeof log, "%s/b.log", e.dir);
    snprintf(metrics_b, sizeof metrics_b, "%s/metrics.jsonl", e.ckpt_b);
    snprintf(metrics_a, sizeof metrics_a, "%s/metrics.jsonl", e.ckpt_a);
    pid_t pid = hy_spawn_sft(recipe, log);
    for (int i = 0; i < 6000 && hy_count_lines(metrics_b) < 5; i++) usleep(10000);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    char *out = NULL;
    long stopped = hy_tt_latest(e.ckpt_b);
    HY_EXPECT_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "SIGTERM: exit status %d", status);
    HY_EXPECT_MSG(stopped >= 5 && stopped < 14, "stopped at step %ld", stopped);
    fprintf(stderr, "  SIGTERM: final checkpoint at step %ld, exit 0\n", stopped);
    int rc = hy_tt_sft(recipe, "", &out);
    HY_EXPECT_MSG(rc == 0, "%s", out ? out : "");
    HY_EXPECT_MSG(strstr(out, "resumed from") != NULL, "%s", out);
    free(out);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/step-000014", e.ckpt_a);
    snprintf(b, sizeof b, "%s/step-000014", e.ckpt_b);
    HY_EXPECT(hy_same_ckpt(a, b));
    HY_EXPECT(hy_same_losses(metrics_a, metrics_b));
    hy_rmrf(e.dir);
    return 0;
}

HY_TEST(sigkill_during_saves_keeps_checkpoints_loadable) {
    hy_resume_env e;
    HY_EXPECT(hy_resume_env_init(&e, "crash", 1) == 0);
    char recipe[400], log[400];
    snprintf(recipe, sizeof recipe, "%s/k.yaml", e.dir);
    FILE *f = fopen(recipe, "w");
    fprintf(f, "model: {path: %s/base}\ndata:\n  train: [%s]\n  max_length: 128\n  tokens_per_micro_batch: 512\n  cache_dir: %s/cache\n"
               "train: {lr: 3e-3, schedule: cosine, warmup_steps: 2, min_lr: 1e-4, weight_decay: 0.01, grad_clip: 1.0, seed: 3, device: cpu, max_steps: 14}\n"
               "checkpoint: {dir: %s, every: 1, keep_last: 2}\nlog: {every: 1}\n", e.dir, e.data, e.dir, e.ckpt_b);
    fclose(f);
    snprintf(log, sizeof log, "%s/k.log", e.dir);
    hy_config cfg;
    char base[400];
    snprintf(base, sizeof base, "%s/base", e.dir);
    HY_EXPECT_OK(hy_ckpt_load_config(base, &cfg));
    hy_param_table pt;
    HY_EXPECT_OK(hy_params_build(&pt, &cfg));
    float *w = malloc(4 * pt.total);
    unsigned seed = 12345;
    int kills = 0;
    for (int round = 0; round < 6 && hy_tt_latest(e.ckpt_b) < 14; round++) {
        pid_t pid = hy_spawn_sft(recipe, log);
        seed = seed * 1103515245u + 12345u;
        usleep(400000 + (seed >> 8) % 900000); /* 0.4–1.3 s: model load, then saves every step */
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        kills += WIFSIGNALED(status);
        long s = hy_tt_latest(e.ckpt_b);
        if (s < 0) continue;
        char ck[600];
        snprintf(ck, sizeof ck, "%s/step-%06ld", e.ckpt_b, s);
        HY_EXPECT_OK(hy_ckpt_load_weights(ck, &pt, w, NULL));
        fprintf(stderr, "  round %d: killed; newest checkpoint step %ld loads\n", round, s);
    }
    char *out = NULL;
    int rc = hy_tt_sft(recipe, "", &out);
    HY_EXPECT_MSG(rc == 0, "%s", out ? out : "");
    free(out);
    HY_EXPECT(kills >= 1);
    char a[600], b[600];
    snprintf(a, sizeof a, "%s/step-000014", e.ckpt_a);
    snprintf(b, sizeof b, "%s/step-000014", e.ckpt_b);
    HY_EXPECT(hy_same_ckpt(a, b));
    free(w);
    hy_params_free(&pt);
    hy_rmrf(e.dir);
    return 0;
}

HY_TEST(recipe_and_data_errors) {
    char dir[256], data[300], recipe[300], ckpt[300];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "rerr") == 0);
    snprintf(data, sizeof data, "%s/d.jsonl", dir);
    snprintf(recipe, sizeof recipe, "%s/r.yaml", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run", dir);
    HY_EXPECT(hy_tt_write_sft(data, 8, 1) == 0);
    char *out = NULL;
    /* unknown key with a suggestion */
    HY_EXPECT(hy_tt_recipe(recipe, dir, data, ckpt, "optim: {beta_2: 0.95}\n") == 0);
    HY_EXPECT(hy_tt_sft(recipe, "", &out) != 0);
    HY_EXPECT_MSG(strstr(out, "r.yaml:") && strstr(out, "did you mean 'optim.beta2'"), "%s", out);
    free(out);
    /* bad type */
    HY_EXPECT(hy_tt_recipe(recipe, dir, data, ckpt, NULL) == 0);
    HY_EXPECT(hy_tt_sft(recipe, "--set train.lr=fast", &out) != 0);
    HY_EXPECT_MSG(strstr(out, "train.lr") && strstr(out, "fast"), "%s", out);
    free(out);
    /* missing dataset file */
    HY_EXPECT(hy_tt_recipe(recipe, dir, "missing.jsonl.zst", ckpt, NULL) == 0);
    HY_EXPECT(hy_tt_sft(recipe, "", &out) != 0);
    HY_EXPECT_MSG(strstr(out, "missing.jsonl.zst"), "%s", out);
    free(out);
    /* a preference dataset given to an SFT stage */
    char pref[300];
    snprintf(pref, sizeof pref, "%s/pref.jsonl", dir);
    FILE *f = fopen(pref, "w");
    fprintf(f, "{\"prompt\": \"2+2?\", \"chosen\": \"4\", \"rejected\": \"5\"}\n");
    fclose(f);
    HY_EXPECT(hy_tt_recipe(recipe, dir, pref, ckpt, NULL) == 0);
    HY_EXPECT(hy_tt_sft(recipe, "", &out) != 0);
    fprintf(stderr, "  preference data in sft: %s", out);
    HY_EXPECT_MSG(strstr(out, "pref.jsonl:1") && strstr(out, "preference"), "%s", out);
    free(out);
    /* declared kind contradicts the stage */
    char entry[400];
    snprintf(entry, sizeof entry, "{path: %s, kind: preference}", data);
    HY_EXPECT(hy_tt_recipe(recipe, dir, entry, ckpt, NULL) == 0);
    HY_EXPECT(hy_tt_sft(recipe, "", &out) != 0);
    HY_EXPECT_MSG(strstr(out, "kind"), "%s", out);
    free(out);
    hy_rmrf(dir);
    return 0;
}

HY_TEST(non_finite_steps_are_skipped_then_stop) {
    char dir[256], data[300], recipe[300], ckpt[300];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "nan") == 0);
    snprintf(data, sizeof data, "%s/d.jsonl", dir);
    snprintf(recipe, sizeof recipe, "%s/r.yaml", dir);
    snprintf(ckpt, sizeof ckpt, "%s/run", dir);
    HY_EXPECT(hy_tt_write_sft(data, 40, 2) == 0);
    HY_EXPECT(hy_tt_recipe(recipe, dir, data, ckpt, NULL) == 0);
    /* a NaN planted in one weight of the starting model: every step's loss is non-finite */
    char base[400];
    snprintf(base, sizeof base, "%s/base", dir);
    hy_config cfg;
    hy_param_table pt;
    HY_EXPECT_OK(hy_ckpt_load_config(base, &cfg));
    HY_EXPECT_OK(hy_params_build(&pt, &cfg));
    float *w = malloc(4 * pt.total);
    HY_EXPECT_OK(hy_ckpt_load_weights(base, &pt, w, NULL));
    w[hy_params_off(&pt, 5, HY_P_OUT_PROJ) + 17] = NAN;
    HY_EXPECT_OK(hy_ckpt_save_weights(base, &pt, w, HY_DTYPE_F32, 0));
    free(w);
    hy_params_free(&pt);
    char *out = NULL;
    int rc = hy_tt_sft(recipe, "--set train.max_steps=10 --set train.max_bad_steps=3 --set checkpoint.every=0", &out);
    fprintf(stderr, "%s", out ? out : "");
    HY_EXPECT(rc == 1);
    HY_EXPECT(strstr(out, "update skipped (1 in a row") && strstr(out, "update skipped (2 in a row"));
    HY_EXPECT(strstr(out, "3 steps in a row had non-finite loss or gradients"));
    free(out);
    hy_rmrf(dir);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
