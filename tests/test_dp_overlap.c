/* test_dp_overlap.c — the gradient reduce-scatter overlapping the backward
 * pass (issue 6, docs/multigpu.md §3 and §7) is safe:
 *   - launch order: the CPU model (spec12: KV reuse groups, tied embedding,
 *     meta tokens) runs two accumulated micro-batches, the second with the
 *     backward hook driving the real reducer (hy_comm_reducer_ready) over
 *     shard plans for 1, 2, 3 and 8 ranks with small buckets.  Every bucket
 *     launched at ready(l) is snapshotted; after the whole backward no
 *     element of it may have changed (a write after launch would be summed
 *     without it on a GPU: a silent bug).  Negative controls prove the check
 *     bites: every stage set to L−1, and each KV producer's buckets given its
 *     last consumer's stage, must both be caught;
 *   - end to end: 2 CPU ranks over tcp with 4096-element buckets train the
 *     same bits with the overlap as with HYMBA_DP_OVERLAP=0 (every bucket
 *     after the backward): identical losses and checkpoint files. */
#include <math.h>

#include "core/alloc.h"
#include "core/comm.h"
#include "core/model.h"
#include "kernels/backend.h"
#include "tests/harness.h"
#include "tests/train_util.h"

#define SPEC12 HY_SHARED_DIR "/reference/spec12"

/* One bucket launched by the hook: its range and a copy of its gradients. */
typedef struct {
    int bucket, at_layer;
    size_t start, len;
    float *copy; /* [len] */
} hy_launch;

typedef struct {
    hy_comm *comm;
    hy_comm_reducer red;
    const hy_shard_plan *plan;
    const float *grads; /* host (CPU backend), [total] */
    size_t total;
    hy_launch *launched; /* [plan.n_buckets] */
    int n_launched, n_calls, last_layer;
    hy_status err;
} hy_watch;

/* The backward hook: launch through the real reducer, snapshot what went out. */
static void hy_watch_hook(void *user, int layer) {
    hy_watch *w = user;
    int before = w->red.next;
    w->n_calls++;
    if (w->n_calls > 1 && layer != w->last_layer - 1) w->err = HY_ERR_INTERNAL; /* layers must come L−1, …, 0 */
    w->last_layer = layer;
    if (w->err || hy_comm_reducer_ready(w->comm, &w->red, layer)) { w->err = HY_ERR_INTERNAL; return; }
    for (int i = before; i < w->red.next; i++) {
        int b = w->plan->order[i];
        const hy_shard_bucket *bk = &w->plan->buckets[b];
        size_t end = hy_zmin(w->total, bk->start + (size_t)w->plan->world * bk->chunk);
        hy_launch *l = &w->launched[w->n_launched++];
        *l = (hy_launch){b, layer, bk->start, end > bk->start ? end - bk->start : 0, NULL};
        if (l->len && !(l->copy = malloc(sizeof(float) * l->len))) { w->err = HY_ERR_OOM; return; }
        if (l->len) memcpy(l->copy, w->grads + l->start, sizeof(float) * l->len);
    }
}

typedef struct {
    hy_ops *ops;
    hy_model *m;
    hy_comm *comm;
    int lens[3], nt;
    int32_t ids[120], tg[120];
    float wr[120];
} hy_fixture;

static void hy_fixture_batch(hy_fixture *f, uint64_t seed) {
    hy_test_rng r = {seed};
    int V = hy_model_config(f->m)->vocab_size;
    f->lens[0] = 37; f->lens[1] = 21; f->lens[2] = 30; /* 37 + 8 meta rows > window 16: the window bites */
    f->nt = 88;
    for (int t = 0; t < f->nt; t++) {
        f->ids[t] = 1 + (int32_t)(hy_test_uniform(&r) * (V - 1));
        f->tg[t] = hy_test_uniform(&r) < 0.15 ? -100 : (int32_t)(hy_test_uniform(&r) * V);
        f->wr[t] = f->tg[t] >= 0 ? (float)(0.5 + hy_test_uniform(&r)) / f->nt : 0.0f;
    }
}

static hy_status hy_fixture_open(hy_fixture *f) {
    memset(f, 0, sizeof *f);
    char *const no_env[] = {NULL}; /* world size 1 whatever launched the test */
    hy_comm_opts co;
    hy_comm_opts_default(&co);
    co.kind = "single";
    co.envp = no_env;
    HY_TRY(hy_comm_create_opts(&f->comm, &co));
    HY_TRY(hy_backend_cpu_create(&f->ops, 0));
    return hy_model_open(&f->m, SPEC12, f->ops, 120, 3, 1);
}

static void hy_fixture_close(hy_fixture *f) {
    hy_model_free(f->m);
    hy_backend_cpu_destroy(f->ops);
    hy_comm_free(f->comm);
}

/* Two accumulated micro-batches, the second watched; returns the number of
 * launched elements that changed afterwards (−1 on error) and prints the
 * worst one.  The reducer sees the plan with world 1 (the single
 * communicator moves nothing; only the launch decisions matter). */
static long hy_run_watched(hy_fixture *f, const hy_shard_plan *plan, int *overlapped, int *hook_calls) {
    hy_shard_plan p1 = *plan;
    p1.world = 1;
    hy_watch w = {f->comm, {0}, plan, hy_model_grads(f->m), hy_model_params(f->m)->total, NULL, 0, 0, 0, HY_OK};
    w.launched = calloc((size_t)plan->n_buckets, sizeof *w.launched);
    hy_model_batch b = {3, f->lens, f->ids, f->tg};
    long bad = -1;
    if (!w.launched || hy_model_zero_grads(f->m)) goto done;
    for (int k = 0; k < 2; k++) {
        hy_fixture_batch(f, 11 + (uint64_t)k);
        if (hy_model_forward(f->m, &b, NULL, NULL)) goto done;
        if (k == 1) {
            hy_comm_reducer_begin(&w.red, &p1, hy_model_grads(f->m), HY_COMM_SUM, NULL);
            hy_model_set_backward_hook(f->m, hy_watch_hook, &w);
        }
        hy_status st = hy_model_backward(f->m, f->wr);
        hy_model_set_backward_hook(f->m, NULL, NULL);
        if (st || w.err) { fprintf(stderr, "  backward: %s\n", st ? hy_last_error() : "hook failed"); goto done; }
    }
    *overlapped = w.n_launched;
    *hook_calls = w.n_calls;
    if (hy_comm_reducer_finish(f->comm, &w.red, NULL) || w.red.next != plan->n_buckets) goto done;
    bad = 0;
    double worst = 0;
    const hy_launch *wl = NULL;
    size_t wi = 0;
    for (int i = 0; i < w.n_launched; i++) {
        const hy_launch *l = &w.launched[i];
        for (size_t k = 0; k < l->len; k++) {
            float now = w.grads[l->start + k];
            if (now == l->copy[k]) continue;
            bad++;
            double d = fabs((double)now - l->copy[k]);
            if (d > worst || !wl) { worst = d; wl = l; wi = k; }
        }
    }
    if (wl)
        fprintf(stderr, "    %ld element(s) changed after their bucket was launched; worst: flat %zu (bucket %d, stage %d, launched "
                        "after layer %d): %.9g at launch, %.9g at the end\n", bad, wl->start + wi, wl->bucket,
                plan->buckets[wl->bucket].stage, wl->at_layer, wl->copy[wi], w.grads[wl->start + wi]);
done:
    for (int i = 0; w.launched && i < w.n_launched; i++) free(w.launched[i].copy);
    free(w.launched);
    return bad;
}

/* Readiness order again after stages were changed (stage desc, start desc). */
static void hy_resort(hy_shard_plan *p) {
    for (int i = 1; i < p->n_buckets; i++) {
        int v = p->order[i], j = i - 1;
        while (j >= 0) {
            const hy_shard_bucket *a = &p->buckets[p->order[j]], *b = &p->buckets[v];
            if (a->stage > b->stage || (a->stage == b->stage && a->start > b->start)) break;
            p->order[j + 1] = p->order[j];
            j--;
        }
        p->order[j + 1] = v;
    }
}

HY_TEST(buckets_launched_only_when_final) {
    hy_fixture f;
    HY_EXPECT_OK(hy_fixture_open(&f));
    const hy_param_table *pt = hy_model_params(f.m);
    const hy_config *c = hy_model_config(f.m);
    int L = c->num_layers, n_reuse = 0;
    for (int l = 0; l < L; l++) n_reuse += c->kv_producer[l] != l;
    HY_EXPECT_MSG(n_reuse > 0 && c->num_meta > 0, "spec12 should have KV reuse and meta tokens");
    static const int worlds[] = {1, 2, 3, 8};
    for (int wi = 0; wi < 4; wi++) {
        hy_shard_plan plan;
        HY_EXPECT_OK(hy_shard_plan_build_params(&plan, pt, worlds[wi], 2048));
        int overlapped = 0, calls = 0, end_buckets = 0;
        for (int b = 0; b < plan.n_buckets; b++) end_buckets += plan.buckets[b].stage == HY_SHARD_STAGE_END;
        long bad = hy_run_watched(&f, &plan, &overlapped, &calls);
        fprintf(stderr, "  world %d: %d buckets, %d launched during the backward (%d after it), %ld late writes\n", worlds[wi],
                plan.n_buckets, overlapped, plan.n_buckets - overlapped, bad);
        HY_EXPECT(bad == 0);
        HY_EXPECT(calls == L);
        /* everything but the embedding / meta-token buckets overlaps */
        HY_EXPECT_MSG(overlapped == plan.n_buckets - end_buckets && overlapped > L, "%d of %d", overlapped, plan.n_buckets);
        hy_shard_plan_free(&plan);
    }
    hy_fixture_close(&f);
    return 0;
}

HY_TEST(wrong_stages_are_caught) {
    hy_fixture f;
    HY_EXPECT_OK(hy_fixture_open(&f));
    const hy_param_table *pt = hy_model_params(f.m);
    const hy_config *c = hy_model_config(f.m);
    int L = c->num_layers, overlapped, calls;
    hy_shard_plan plan;
    /* 1. every bucket "final after layer L−1": launched at the first hook */
    HY_EXPECT_OK(hy_shard_plan_build_params(&plan, pt, 2, 2048));
    for (int b = 0; b < plan.n_buckets; b++) plan.buckets[b].stage = L - 1;
    hy_resort(&plan);
    fprintf(stderr, "  all stages L-1:\n");
    long bad = hy_run_watched(&f, &plan, &overlapped, &calls);
    HY_EXPECT_MSG(bad > 0, "late writes %ld: the check cannot fail", bad);
    hy_shard_plan_free(&plan);
    /* 2. KV producers' buckets given their last consumer's stage (as if the
     * producer's k/v weight gradients were final once its consumers ran) */
    HY_EXPECT_OK(hy_shard_plan_build_params(&plan, pt, 2, 2048));
    int moved = 0;
    for (int b = 0; b < plan.n_buckets; b++) {
        int s = plan.buckets[b].stage;
        if (s >= 0 && s < L && c->kv_last_user[s] != s) { plan.buckets[b].stage = c->kv_last_user[s]; moved++; }
    }
    hy_resort(&plan);
    fprintf(stderr, "  KV producers at their last consumer's stage (%d buckets moved):\n", moved);
    bad = hy_run_watched(&f, &plan, &overlapped, &calls);
    HY_EXPECT(moved > 0);
    HY_EXPECT_MSG(bad > 0, "late writes %ld: a KV-sharing mistake would go unnoticed", bad);
    hy_shard_plan_free(&plan);
    hy_fixture_close(&f);
    return 0;
}

/* ---- end to end: overlap on/off over tcp, 2 ranks ---- */

static int hy_ov_run(const char *recipe, const char *ckpt, const char *env, char **out) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s HYMBA_DP_BUCKET_ELEMS=4096 OMP_NUM_THREADS=1 %s launch -n 2 -- %s sft %s --set checkpoint.dir=%s", env,
             hy_test_hymba(), hy_test_hymba(), recipe, ckpt);
    return hy_test_run(cmd, out);
}

HY_TEST(overlap_is_bitwise_neutral_over_tcp) {
    char dir[256], data[300], recipe[300], c1[300], c2[300], a[600], b[600];
    HY_EXPECT(hy_tt_setup(dir, sizeof dir, "dpov") == 0);
    snprintf(data, sizeof data, "%s/d.jsonl", dir);
    snprintf(recipe, sizeof recipe, "%s/r.yaml", dir);
    snprintf(c1, sizeof c1, "%s/after", dir);
    snprintf(c2, sizeof c2, "%s/overlap", dir);
    HY_EXPECT(hy_tt_write_sft(data, 120, 4) == 0);
    FILE *fp = fopen(recipe, "w");
    HY_EXPECT(fp != NULL);
    /* 2 micro-batches per rank and step: the first accumulates, the second overlaps */
    fprintf(fp, "model: {path: %s/base}\ndata:\n  train: [%s]\n  max_length: 128\n  tokens_per_micro_batch: 256\n  cache_dir: %s/cache\n"
                "train: {lr: 3e-3, warmup_steps: 1, weight_decay: 0.01, grad_clip: 1.0, seed: 3, device: cpu, max_steps: 3,"
                " global_batch_tokens: 1024}\ncheckpoint: {every: 3, keep_last: 0}\nlog: {every: 1}\n", dir, data, dir);
    HY_EXPECT(fclose(fp) == 0);
    char *out = NULL;
    HY_EXPECT_MSG(hy_ov_run(recipe, c1, "HYMBA_DP_OVERLAP=0", &out) == 0, "%s", out);
    free(out);
    HY_EXPECT_MSG(hy_ov_run(recipe, c2, "", &out) == 0, "%s", out);
    HY_EXPECT_MSG(strstr(out, "2 ranks over tcp (ZeRO-1)"), "%s", out);
    const char *plan_line = strstr(out, "ZeRO-1 shard plan: ");
    HY_EXPECT_MSG(plan_line && !strstr(plan_line, " 1 bucket "), "%s", out);
    free(out);
    double la[8], lb[8];
    int64_t sa[8], sb[8];
    snprintf(a, sizeof a, "%s/metrics.jsonl", c1);
    snprintf(b, sizeof b, "%s/metrics.jsonl", c2);
    int na = hy_tt_losses(a, la, sa, 8), nb = hy_tt_losses(b, lb, sb, 8);
    HY_EXPECT_MSG(na == 3 && nb == 3, "%d and %d loss records", na, nb);
    for (int i = 0; i < na; i++) HY_EXPECT_MSG(la[i] == lb[i] && sa[i] == sb[i], "step %lld: loss %.17g vs %.17g", (long long)sa[i], la[i], lb[i]);
    static const char *files[] = {"model.safetensors", "trainer_state.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/step-000003/%s", c1, files[i]);
        snprintf(b, sizeof b, "%s/step-000003/%s", c2, files[i]);
        HY_EXPECT_MSG(hy_tt_same_file(a, b), "%s and %s differ", a, b);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
