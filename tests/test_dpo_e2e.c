/* test_dpo_e2e.c — hymba dpo and hymba run end to end on the tiny demo model
 * (random init, CPU):
 *   - precomputed and live reference log-probs give the same losses, train
 *     and eval (the precompute pass packs pairs differently, so equal up to
 *     fp32 rounding);
 *   - the reference cache is reused when nothing changed and rebuilt, with
 *     the reason printed, when the reference weights, the dataset or the
 *     file itself (truncated) changed;
 *   - a short DPO run on 64 demo pairs raises the preference accuracy on
 *     those pairs well above 0.5;
 *   - a SFT → SFT → DPO pipeline stopped by SIGTERM inside each stage in
 *     turn, and rerun each time, skips the finished stages, resumes the
 *     stopped one and ends with weights bitwise equal to a straight run. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "tests/harness.h"
#include "tests/train_util.h"

static void hy_rmrf(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    (void)!system(cmd);
}

/* `n` preference pairs: "Repeat: <words>" → chosen repeats them, rejected
 * drops one (variant 0) or reverses them (variant 1). */
static int hy_write_pref(const char *path, int n, int seed, int variant) {
    static const char *words[] = {"cat", "dog", "sun", "boat", "tree", "fish", "bird", "moon", "star", "rock", "sand", "duck"};
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    uint64_t s = (uint64_t)seed * 2654435761u + 7;
    for (int i = 0; i < n; i++) {
        int k = 2 + (int)((i * 5 + seed) % 6);
        const char *w[8];
        for (int j = 0; j < k; j++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            w[j] = words[(s >> 33) % 12];
        }
        char good[256] = "", bad[256] = "";
        for (int j = 0; j < k; j++) {
            strcat(good, w[j]);
            if (j + 1 < k) strcat(good, " ");
            const char *b = variant ? w[k - 1 - j] : (j == k / 2 ? NULL : w[j]);
            if (b) {
                if (*bad) strcat(bad, " ");
                strcat(bad, b);
            }
        }
        fprintf(f, "{\"prompt\":\"Repeat: %s\",\"chosen\":\"%s\",\"rejected\":\"%s\"}\n", good, good, bad);
    }
    return fclose(f);
}

static int hy_write_dpo_recipe(const char *path, const char *dir, const char *train, const char *eval, const char *ckpt, const char *extra) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "model: {path: %s/base}\n"
            "data:\n  train: [%s]\n  eval: [%s]\n  max_length: 128\n  tokens_per_micro_batch: 512\n  cache_dir: %s/cache\n"
            "train: {max_steps: 3, lr: 1e-3, schedule: constant, seed: 3, device: cpu, global_batch_sequences: 8, eval_every: 2}\n"
            "checkpoint: {dir: %s, every: 0, resume: never}\n"
            "log: {every: 1}\n%s",
            dir, train, eval, dir, ckpt, extra ? extra : "");
    return fclose(f);
}

static int hy_dpo_run(const char *recipe, const char *args, char **out) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s dpo %s %s", hy_test_hymba(), recipe, args ? args : "");
    int rc = hy_test_run(cmd, out);
    if (rc) fprintf(stderr, "  %s -> exit %d\n%s\n", cmd, rc, *out ? *out : "");
    return rc;
}

/* Values of `key` in the metrics records of `type` ("train"/"eval"), in order. */
static int hy_metric(const char *metrics, const char *type, const char *key, double *v, int cap) {
    FILE *f = fopen(metrics, "r");
    if (!f) return 0;
    char line[8192], tk[64], kk[96];
    snprintf(tk, sizeof tk, "\"type\":\"%s\"", type);
    snprintf(kk, sizeof kk, "\"%s\":", key);
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        char *p = strstr(line, kk);
        if (strstr(line, tk) && p) v[n++] = strtod(p + strlen(kk), NULL);
    }
    fclose(f);
    return n;
}

/* ---------------------------------------------------------------- reference modes */

/* Run precompute and live with reference `ref` ("" = the policy's start) and
 * compare their metrics; returns the number of mismatches. */
static int hy_compare_modes(const char *dir, const char *train, const char *eval, const char *ref, double *worst) {
    char recipe[300], ck[2][300], m[2][640];
    snprintf(recipe, sizeof recipe, "%s/dpo.yaml", dir);
    const char *mode[2] = {"precompute", "live"};
    for (int i = 0; i < 2; i++) {
        snprintf(ck[i], sizeof ck[i], "%s/run-%s%s", dir, mode[i], *ref ? "-other" : "");
        snprintf(m[i], sizeof m[i], "%s/metrics.jsonl", ck[i]);
        char extra[640];
        snprintf(extra, sizeof extra, "dpo: {beta: 0.1, reference: {mode: %s, model: '%s'}}\n", mode[i], ref);
        if (hy_write_dpo_recipe(recipe, dir, train, eval, ck[i], extra)) return 1;
        char *out = NULL;
        int rc = hy_dpo_run(recipe, "", &out);
        free(out);
        if (rc) return 1;
    }
    /* logps/chosen at step 1 equal in both modes: the precompute pass (which
     * borrows the policy model) restored the policy's own weights exactly */
    const char *keys[][2] = {{"train", "loss"}, {"train", "ref_logps/chosen"}, {"train", "ref_logps/rejected"}, {"train", "logps/chosen"},
                             {"eval", "loss"}, {"eval", "ref_logps/rejected"}, {"eval", "rewards/accuracies"}};
    int bad = 0;
    for (size_t k = 0; k < HY_ARRAY_LEN(keys); k++) {
        double a[16], b[16];
        int na = hy_metric(m[0], keys[k][0], keys[k][1], a, 16), nb = hy_metric(m[1], keys[k][0], keys[k][1], b, 16);
        if (na != nb || na == 0) { fprintf(stderr, "  %s %s: %d vs %d records\n", keys[k][0], keys[k][1], na, nb); bad++; continue; }
        for (int i = 0; i < na; i++) {
            /* fp32 rounding of differently packed forwards, relative to the log-prob scale */
            double err = fabs(a[i] - b[i]), tol = 1e-5 * (1 + fabs(b[i]));
            if (err / (1 + fabs(b[i])) > *worst) *worst = err / (1 + fabs(b[i]));
            if (err > tol) { fprintf(stderr, "  %s %s[%d]: precompute %.9g, live %.9g\n", keys[k][0], keys[k][1], i, a[i], b[i]); bad++; }
        }
    }
    return bad;
}

HY_TEST(precompute_and_live_reference_agree) {
    char dir[256], train[300], eval[300], other[300], cmd[1024];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "dporef") == 0);
    snprintf(train, sizeof train, "%s/pairs.jsonl", dir);
    snprintf(eval, sizeof eval, "%s/pairs_eval.jsonl", dir);
    snprintf(other, sizeof other, "%s/other", dir);
    HY_EXPECT(hy_write_pref(train, 40, 1, 0) == 0 && hy_write_pref(eval, 12, 2, 1) == 0);
    snprintf(cmd, sizeof cmd, "%s init --config %s/base --tokenizer %s/base --out %s --dtype fp32 --seed 77 >/dev/null 2>&1", hy_test_hymba(), dir,
             dir, other);
    HY_EXPECT(system(cmd) == 0);
    double worst = 0;
    int bad = hy_compare_modes(dir, train, eval, "", &worst);
    fprintf(stderr, "  reference = the starting model: precompute and live %s\n", bad ? "DIFFER" : "agree");
    int bad2 = hy_compare_modes(dir, train, eval, other, &worst);
    fprintf(stderr, "  reference = another checkpoint: precompute and live %s\n", bad2 ? "DIFFER" : "agree");
    fprintf(stderr, "  (train loss, reference and policy log-probs, eval loss and accuracy; worst rel %.2g)\n", worst);
    hy_rmrf(dir);
    return bad + bad2 != 0;
}

HY_TEST(reference_cache_invalidation) {
    char dir[256], train[300], eval[300], recipe[300], ck[300], cmd[2048];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "dpocache") == 0);
    snprintf(train, sizeof train, "%s/pairs.jsonl", dir);
    snprintf(eval, sizeof eval, "%s/pairs_eval.jsonl", dir);
    snprintf(recipe, sizeof recipe, "%s/dpo.yaml", dir);
    snprintf(ck, sizeof ck, "%s/run", dir);
    HY_EXPECT(hy_write_pref(train, 24, 1, 0) == 0 && hy_write_pref(eval, 8, 2, 1) == 0);
    HY_EXPECT(hy_write_dpo_recipe(recipe, dir, train, eval, ck, NULL) == 0);
    const char *args = "--set train.max_steps=1";
    char *out = NULL;
    /* 1: nothing cached yet (train and eval stores) */
    HY_EXPECT(hy_dpo_run(recipe, args, &out) == 0);
    HY_EXPECT_MSG(strstr(out, "rebuilding: no cache yet") != NULL, "%s", out);
    free(out);
    /* 2: same inputs: reused, no reference pass */
    HY_EXPECT(hy_dpo_run(recipe, args, &out) == 0);
    HY_EXPECT_MSG(strstr(out, "rebuilding") == NULL && strstr(out, "loading the reference") == NULL, "%s", out);
    free(out);
    /* 3: other reference weights in the same directory */
    snprintf(cmd, sizeof cmd, "%s init --config %s/base --out %s/base --dtype fp32 --seed 99 --force >/dev/null 2>&1", hy_test_hymba(), dir, dir);
    HY_EXPECT(system(cmd) == 0);
    HY_EXPECT(hy_dpo_run(recipe, args, &out) == 0);
    HY_EXPECT_MSG(strstr(out, "rebuilding: the reference weights changed") != NULL, "%s", out);
    fprintf(stderr, "  new reference weights: rebuilt\n");
    free(out);
    /* 4: other data in the same file */
    HY_EXPECT(hy_write_pref(train, 24, 1, 1) == 0);
    HY_EXPECT(hy_dpo_run(recipe, args, &out) == 0);
    HY_EXPECT_MSG(strstr(out, "rebuilding: the token store changed") != NULL, "%s", out);
    fprintf(stderr, "  new dataset: rebuilt\n");
    free(out);
    /* 5: a damaged cache file */
    snprintf(cmd, sizeof cmd, "for f in %s/cache/*.hyref; do truncate -s 100 \"$f\"; done", dir);
    HY_EXPECT(system(cmd) == 0);
    HY_EXPECT(hy_dpo_run(recipe, args, &out) == 0);
    HY_EXPECT_MSG(strstr(out, "rebuilding: truncated or corrupt") != NULL, "%s", out);
    fprintf(stderr, "  truncated cache file: rebuilt\n");
    free(out);
    hy_rmrf(dir);
    return 0;
}

/* ---------------------------------------------------------------- learning */

HY_TEST(dpo_raises_preference_accuracy) {
    char dir[256], data[300], recipe[300], ck[300], metrics[400], cmd[1024];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "dpoacc") == 0);
    snprintf(data, sizeof data, "%s/demo64.jsonl", dir);
    snprintf(cmd, sizeof cmd, "zstd -dc %s/datasets/demo/dpo.train.jsonl.zst | head -64 > %s", HY_SOURCE_DIR, data);
    HY_EXPECT(system(cmd) == 0);
    snprintf(recipe, sizeof recipe, "%s/dpo.yaml", dir);
    snprintf(ck, sizeof ck, "%s/run", dir);
    HY_EXPECT(hy_write_dpo_recipe(recipe, dir, data, data, ck, "dpo: {beta: 0.1}\n") == 0);
    char *out = NULL;
    HY_EXPECT(hy_dpo_run(recipe, "--set train.max_steps=0 --set train.epochs=4 --set train.lr=3e-3 --set train.eval_every=4 "
                                 "--set data.max_length=256 --set data.tokens_per_micro_batch=1024",
                         &out) == 0);
    free(out);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", ck);
    double acc[64], loss[64], tr[256];
    int n = hy_metric(metrics, "eval", "rewards/accuracies", acc, 64), nl = hy_metric(metrics, "eval", "loss", loss, 64);
    int nt = hy_metric(metrics, "train", "rewards/accuracies", tr, 256);
    HY_EXPECT(n >= 2 && nl == n && nt >= 4);
    fprintf(stderr, "  preference accuracy on the 64 training pairs: train step 1 %.2f; eval", tr[0]);
    for (int i = 0; i < n; i++) fprintf(stderr, " %.3f (loss %.3f)", acc[i], loss[i]);
    fprintf(stderr, "\n");
    HY_EXPECT_MSG(acc[n - 1] >= 0.8, "final accuracy %.3f", acc[n - 1]);
    HY_EXPECT_MSG(loss[n - 1] < 0.6, "final DPO loss %.3f (ln 2 = 0.693 at the start)", loss[n - 1]);
    hy_rmrf(dir);
    return 0;
}

/* ---------------------------------------------------------------- pipelines */

static int hy_write_pipeline(const char *path, const char *dir, const char *out_dir) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "pipeline: {name: tiny, output_dir: %s}\n"
            "defaults:\n"
            "  data: {max_length: 128, tokens_per_micro_batch: 512, cache_dir: %s/cache}\n"
            "  train: {max_steps: 5, lr: 2e-3, schedule: wsd, warmup_steps: 1, decay_ratio: 0.4, min_lr: 1e-4, seed: 3, device: cpu,\n"
            "          global_batch_sequences: 8}\n"
            "  checkpoint: {every: 1, keep_last: 0}\n"
            "  log: {every: 1}\n"
            "stages:\n"
            "  - {name: s1, kind: sft, recipe: {model: {path: %s/base}, data: {train: [%s/a.jsonl]}}}\n"
            "  - {name: s2, kind: sft, recipe: {data: {train: [%s/b.jsonl]}}}\n"
            "  - {name: d, kind: dpo, recipe: {data: {train: [%s/p.jsonl]}, dpo: {beta: 0.1}}}\n",
            out_dir, dir, dir, dir, dir, dir);
    return fclose(f);
}

static pid_t hy_spawn_run(const char *pipeline, const char *log) {
    pid_t pid = fork();
    if (pid == 0) {
        FILE *f = freopen(log, "w", stdout);
        (void)f;
        dup2(fileno(stdout), 2);
        setenv("OMP_NUM_THREADS", "1", 1);
        execl(hy_test_hymba(), "hymba", "run", pipeline, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static char *hy_slurp(const char *path) {
    char *data = NULL;
    size_t len;
    if (hy_fs_read_file(path, &data, &len)) return NULL;
    char *s = strdup(data);
    hy_free(data);
    return s;
}

/* Start the pipeline, SIGTERM it once `stage` has published step-000002, and
 * check it stopped inside that stage having skipped/resumed as expected. */
static int hy_stop_in_stage(const char *pipeline, const char *out_dir, const char *stage, int k) {
    char log[600], ck[600], marker[700], done[700];
    snprintf(log, sizeof log, "%s/stop-%s.log", out_dir, stage);
    snprintf(ck, sizeof ck, "%s/%s", out_dir, stage);
    snprintf(marker, sizeof marker, "%s/step-000002", ck);
    snprintf(done, sizeof done, "%s/DONE.json", ck);
    pid_t pid = hy_spawn_run(pipeline, log);
    for (int i = 0; i < 30000 && !hy_fs_exists(marker); i++) usleep(10000);
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    char *text = hy_slurp(log);
    long at = hy_tt_latest(ck);
    int bad = !(WIFEXITED(status) && WEXITSTATUS(status) == 0) || hy_fs_exists(done) || at < 2 || at >= 5 || !text;
    char want[128];
    snprintf(want, sizeof want, "stopped in stage '%s'", stage);
    bad |= !text || !strstr(text, want);
    /* the stages before the one stopped last time are skipped, that one is resumed */
    int skipped = 0;
    for (const char *s = text; s && (s = strstr(s, "finished earlier: skipped")); s++) skipped++;
    bad |= skipped != (k > 0 ? k - 1 : 0) || (k > 0 && text && !strstr(text, "resumed from"));
    if (bad) fprintf(stderr, "  stop in %s: exit %d, newest checkpoint %ld, DONE.json %s\n%s\n", stage, status, at,
                     hy_fs_exists(done) ? "present" : "absent", text ? text : "");
    else fprintf(stderr, "  SIGTERM in stage %s: stopped after step %ld, exit 0\n", stage, at);
    free(text);
    return bad;
}

HY_TEST(pipeline_resumes_in_every_stage) {
    char dir[256], pa[300], pb[300], oa[300], ob[300], p[400];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "pipe") == 0);
    snprintf(p, sizeof p, "%s/a.jsonl", dir);
    HY_EXPECT(hy_tt_write_sft(p, 48, 1) == 0);
    snprintf(p, sizeof p, "%s/b.jsonl", dir);
    HY_EXPECT(hy_tt_write_sft(p, 48, 2) == 0);
    snprintf(p, sizeof p, "%s/p.jsonl", dir);
    HY_EXPECT(hy_write_pref(p, 40, 3, 0) == 0);
    snprintf(pa, sizeof pa, "%s/straight.yaml", dir);
    snprintf(pb, sizeof pb, "%s/stopped.yaml", dir);
    snprintf(oa, sizeof oa, "%s/out-straight", dir);
    snprintf(ob, sizeof ob, "%s/out-stopped", dir);
    HY_EXPECT(hy_write_pipeline(pa, dir, oa) == 0 && hy_write_pipeline(pb, dir, ob) == 0);
    char cmd[1200], *out = NULL;
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s run %s", hy_test_hymba(), pa);
    int rc = hy_test_run(cmd, &out);
    HY_EXPECT_MSG(rc == 0, "%s", out ? out : "");
    free(out);
    HY_EXPECT(hy_fs_mkdir_p(ob) == HY_OK);
    const char *stages[3] = {"s1", "s2", "d"};
    for (int k = 0; k < 3; k++) HY_EXPECT(hy_stop_in_stage(pb, ob, stages[k], k) == 0);
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s run %s", hy_test_hymba(), pb);
    rc = hy_test_run(cmd, &out);
    HY_EXPECT_MSG(rc == 0 && strstr(out, "resumed from") && strstr(out, "pipeline tiny done"), "%s", out ? out : "");
    free(out);
    int bad = 0;
    for (int k = 0; k < 3; k++) {
        char a[600], b[600];
        snprintf(a, sizeof a, "%s/%s/step-000005/model.safetensors", oa, stages[k]);
        snprintf(b, sizeof b, "%s/%s/step-000005/model.safetensors", ob, stages[k]);
        int same = hy_tt_same_file(a, b);
        fprintf(stderr, "  stage %s: final weights %s\n", stages[k], same ? "bitwise equal to the straight run" : "DIFFER");
        bad += !same;
    }
    /* a finished pipeline: every stage skipped */
    rc = hy_test_run(cmd, &out);
    int skipped = 0;
    for (const char *s = out; s && (s = strstr(s, "finished earlier: skipped")); s++) skipped++;
    HY_EXPECT_MSG(rc == 0 && skipped == 3, "rerun of a finished pipeline: %d stages skipped\n%s", skipped, out ? out : "");
    free(out);
    hy_rmrf(dir);
    return bad != 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
