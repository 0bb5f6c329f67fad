/* test_comm_shard.c — ZeRO-1 sharding arithmetic (core/shard.h): every
 * element of the padded flat buffer owned by exactly one rank, chunks equal
 * and aligned, buckets tiling the buffer once, the readiness order, for
 * awkward sizes (1, 7, 127, 128, 129, 10^6+3) and world sizes 1–8, and for
 * the tiny (spec12) and Hymba-1.5B parameter tables; the weight-decay groups
 * of every rank's chunks reassemble the full groups; and a sharded AdamW
 * update over the chunks equals the full update bit for bit. */
#include <string.h>

#include "core/alloc.h"
#include "core/config.h"
#include "core/optim.h"
#include "core/shard.h"
#include "tests/harness.h"

#define SPEC12_CFG HY_SHARED_DIR "/reference/spec12/config.json"
#define H15_CFG HY_SHARED_DIR "/hymba-1.5b/config.json"

/* Layout invariants every plan must satisfy (shard.h). */
static int hy_check_plan(const hy_shard_plan *p, const char *label) {
    size_t q = (size_t)p->world * p->align;
    HY_EXPECT_MSG(p->padded >= p->total && p->padded % q == 0 && p->padded - p->total < q, "%s: padded %zu for total %zu, quantum %zu",
                  label, p->padded, p->total, q);
    HY_EXPECT_MSG(p->shard * (size_t)p->world == p->padded, "%s: shard %zu x world %d != padded %zu", label, p->shard, p->world, p->padded);
    HY_EXPECT_MSG(p->n_buckets >= 1 && p->buckets[0].start == 0, "%s: first bucket", label);
    size_t local = 0;
    for (int b = 0; b < p->n_buckets; b++) {
        const hy_shard_bucket *k = &p->buckets[b];
        size_t end = k->start + (size_t)p->world * k->chunk, next = b + 1 < p->n_buckets ? p->buckets[b + 1].start : p->padded;
        HY_EXPECT_MSG(k->chunk > 0 && k->chunk % p->align == 0, "%s: bucket %d chunk %zu not a positive multiple of %zu", label, b, k->chunk,
                      p->align);
        HY_EXPECT_MSG(end == next, "%s: bucket %d ends at %zu, next starts at %zu", label, b, end, next);
        HY_EXPECT_MSG(k->local == local, "%s: bucket %d local offset %zu, expected %zu", label, b, k->local, local);
        local += k->chunk;
    }
    HY_EXPECT_MSG(local == p->shard, "%s: chunks add up to %zu, shard is %zu", label, local, p->shard);
    char *seen = calloc((size_t)p->n_buckets, 1);
    HY_EXPECT(seen);
    for (int i = 0; i < p->n_buckets; i++) {
        int b = p->order[i];
        HY_EXPECT_MSG(b >= 0 && b < p->n_buckets && !seen[b], "%s: order[%d] = %d repeats or is out of range", label, i, b);
        seen[b] = 1;
        if (i) {
            const hy_shard_bucket *x = &p->buckets[p->order[i - 1]], *y = &p->buckets[b];
            HY_EXPECT_MSG(x->stage > y->stage || (x->stage == y->stage && x->start > y->start), "%s: order[%d..%d] not in readiness order",
                          label, i - 1, i);
        }
    }
    free(seen);
    return 0;
}

/* Element by element (small buffers): owner map, local offsets, and that
 * every rank's chunks tile its shard storage. */
static int hy_check_owners(const hy_shard_plan *p, const char *label) {
    unsigned char *count = calloc(p->padded, 1), *lseen = calloc(p->shard, 1);
    HY_EXPECT(count && lseen);
    for (int r = 0; r < p->world; r++) {
        hy_shard_view v;
        HY_EXPECT_OK(hy_shard_view_build(&v, p, r, NULL));
        HY_EXPECT(v.numel == p->shard && v.count == p->n_buckets);
        memset(lseen, 0, p->shard);
        for (int s = 0; s < v.count; s++) {
            const hy_shard_seg *g = &v.segs[s];
            HY_EXPECT_MSG(g->n_used == (p->total > g->flat ? hy_zmin(g->len, p->total - g->flat) : 0), "%s: n_used", label);
            for (size_t j = 0; j < g->len; j++) {
                size_t i = g->flat + j, loc = 0;
                int o = hy_shard_owner(p, i, &loc);
                HY_EXPECT_MSG(o == r && loc == g->local + j, "%s: element %zu: owner %d local %zu, the view says rank %d local %zu", label, i, o,
                              loc, r, g->local + j);
                count[i]++;
                lseen[loc]++;
            }
        }
        for (size_t l = 0; l < p->shard; l++) HY_EXPECT_MSG(lseen[l] == 1, "%s: rank %d shard slot %zu used %d times", label, r, l, lseen[l]);
        hy_shard_view_free(&v);
    }
    for (size_t i = 0; i < p->padded; i++) HY_EXPECT_MSG(count[i] == 1, "%s: element %zu owned by %d ranks", label, i, count[i]);
    free(count);
    free(lseen);
    return 0;
}

HY_TEST(shard_awkward_sizes) {
    static const size_t sizes[] = {1, 7, 127, 128, 129, 1000003};
    static const size_t buckets[] = {0, 1, 300, 4096, 65536};
    int plans = 0;
    for (size_t si = 0; si < HY_ARRAY_LEN(sizes); si++)
        for (int w = 1; w <= 8; w++)
            for (size_t bi = 0; bi < HY_ARRAY_LEN(buckets); bi++) {
                if (sizes[si] > 100000 && buckets[bi] && buckets[bi] < 4096) continue; /* thousands of buckets: slow, adds nothing */
                char label[96];
                snprintf(label, sizeof label, "total %zu, world %d, buckets of %zu", sizes[si], w, buckets[bi]);
                hy_shard_plan p;
                HY_EXPECT_OK(hy_shard_plan_build(&p, sizes[si], w, buckets[bi], 0));
                if (buckets[bi] == 0) HY_EXPECT_MSG(p.n_buckets == 1, "%s: one bucket expected, got %d", label, p.n_buckets);
                else {
                    size_t q = (size_t)w * HY_SHARD_ALIGN, cap = buckets[bi] > q ? buckets[bi] / q * q : q;
                    for (int b = 0; b < p.n_buckets; b++)
                        HY_EXPECT_MSG((size_t)w * p.buckets[b].chunk <= cap, "%s: bucket %d has %zu elements, limit %zu", label, b,
                                      (size_t)w * p.buckets[b].chunk, cap);
                }
                if (hy_check_plan(&p, label) || hy_check_owners(&p, label)) return 1;
                hy_shard_plan_free(&p);
                plans++;
            }
    fprintf(stderr, "    %d plans checked element by element\n", plans);
    hy_shard_plan p;
    HY_EXPECT_ERR(hy_shard_plan_build(&p, 0, 2, 0, 0), "empty flat buffer");
    HY_EXPECT_ERR(hy_shard_plan_build(&p, 10, 0, 0, 0), "world size 0 out of range");
    HY_EXPECT_ERR(hy_shard_plan_build(&p, 10, 2, 0, (size_t)1 << 30), "alignment");
    return 0;
}

static int hy_param_stage(const hy_param_desc *d, int L) {
    if (d->layer >= 0) return d->layer;
    return d->cls == HY_PCLASS_EMBED || d->cls == HY_PCLASS_META ? HY_SHARD_STAGE_END : L;
}

/* Large tables: chunks of all ranks tile [0, padded) (checked on segments),
 * no bucket is launched before a tensor in it is final, and the decay groups
 * of the chunks add up to the full groups. */
static int hy_check_table_plan(const hy_param_table *t, const hy_shard_plan *p, const hy_optim_groups *full, const char *label) {
    if (hy_check_plan(p, label)) return 1;
    for (int b = 0; b < p->n_buckets; b++) {
        size_t a = p->buckets[b].start, e = a + (size_t)p->world * p->buckets[b].chunk;
        for (int i = 0; i < t->count; i++) {
            const hy_param_desc *d = &t->desc[i];
            if (d->offset + d->numel <= a || d->offset >= e) continue;
            int s = hy_param_stage(d, t->num_layers);
            HY_EXPECT_MSG(s >= p->buckets[b].stage, "%s: bucket %d (stage %d) holds %s (stage %d): it would be reduced before that gradient "
                          "is final", label, b, p->buckets[b].stage, d->name, s);
        }
    }
    size_t dec = 0, nodec = 0, got_dec = 0, got_nodec = 0, covered = 0;
    for (int i = 0; i < full->count; i++) *(full->ranges[i].decay ? &dec : &nodec) += full->ranges[i].numel;
    for (int r = 0; r < p->world; r++) {
        hy_shard_view v;
        HY_EXPECT_OK(hy_shard_view_build(&v, p, r, full));
        for (int s = 0; s < v.count; s++) {
            const hy_shard_seg *g = &v.segs[s];
            HY_EXPECT(g->flat == hy_shard_chunk_flat(p, s, r));
            covered += g->len;
            for (int k = 0; k < g->groups.count; k++) {
                const hy_optim_range *x = &g->groups.ranges[k];
                HY_EXPECT_MSG(x->offset + x->numel <= g->len && (k == 0 || x->offset >= g->groups.ranges[k - 1].offset +
                              g->groups.ranges[k - 1].numel), "%s: rank %d chunk %d range %d escapes the chunk or overlaps", label, r, s, k);
            }
        }
        got_dec += v.n_decay;
        got_nodec += v.n_nodecay;
        hy_shard_view_free(&v);
    }
    HY_EXPECT_MSG(covered == p->padded, "%s: chunks of all ranks cover %zu of %zu elements", label, covered, p->padded);
    HY_EXPECT_MSG(got_dec == dec && got_nodec == nodec, "%s: decay elements %zu/%zu, no-decay %zu/%zu over the ranks", label, got_dec, dec,
                  got_nodec, nodec);
    return 0;
}

static int hy_table_case(const char *cfg_path, const char *name, size_t bucket, int print) {
    hy_config cfg;
    hy_param_table t;
    HY_EXPECT_OK(hy_config_load(&cfg, cfg_path));
    HY_EXPECT_OK(hy_params_build(&t, &cfg));
    hy_optim_groups g;
    HY_EXPECT_OK(hy_optim_groups_build(&g, &t, (1u << HY_PCLASS_NORM) | (1u << HY_PCLASS_BIAS)));
    for (int w = 1; w <= 8; w++) {
        hy_shard_plan p;
        char label[128];
        snprintf(label, sizeof label, "%s, world %d, buckets of %zu", name, w, bucket);
        HY_EXPECT_OK(hy_shard_plan_build_params(&p, &t, w, bucket));
        if (hy_check_table_plan(&t, &p, &g, label)) return 1;
        if (p.padded < 4000000 && hy_check_owners(&p, label)) return 1;
        size_t end_elems = 0;
        for (int b = 0; b < p.n_buckets; b++)
            if (p.buckets[b].stage == HY_SHARD_STAGE_END) end_elems += (size_t)w * p.buckets[b].chunk;
        const hy_param_desc *emb = hy_params_get(&t, -1, HY_P_EMBED), *meta = hy_params_get(&t, -1, HY_P_META);
        size_t q = (size_t)w * HY_SHARD_ALIGN, must = emb->numel + meta->numel;
        HY_EXPECT_MSG(end_elems <= must + 4 * q + 64, "%s: %zu elements wait for the end of the backward, only %zu (embedding, meta) must",
                      label, end_elems, must);
        if (print && (w == 1 || w == 8)) {
            char d[160];
            hy_shard_plan_describe(&p, d, sizeof d);
            fprintf(stderr, "    %s: %s; %zu elements reduced after the whole backward\n", name, d, end_elems);
        }
        hy_shard_plan_free(&p);
    }
    hy_optim_groups_free(&g);
    hy_params_free(&t);
    return 0;
}

HY_TEST(shard_param_tables) {
    if (hy_table_case(SPEC12_CFG, "spec12", HY_SHARD_BUCKET_DEFAULT, 1)) return 1;
    if (hy_table_case(SPEC12_CFG, "spec12", 4096, 1)) return 1;
    if (hy_table_case(H15_CFG, "hymba-1.5b", HY_SHARD_BUCKET_DEFAULT, 1)) return 1;
    if (hy_table_case(H15_CFG, "hymba-1.5b", (size_t)1 << 20, 0)) return 1;
    return 0;
}

/* The integration recipe of docs/multigpu.md: each rank runs AdamW over its
 * chunks (param/m/v in shard storage, grads at their flat positions); the
 * union equals one full AdamW update bit for bit. */
HY_TEST(shard_adamw_equivalence) {
    hy_config cfg;
    hy_param_table t;
    HY_EXPECT_OK(hy_config_load(&cfg, SPEC12_CFG));
    HY_EXPECT_OK(hy_params_build(&t, &cfg));
    hy_optim_groups g;
    HY_EXPECT_OK(hy_optim_groups_build(&g, &t, (1u << HY_PCLASS_NORM) | (1u << HY_PCLASS_BIAS)));
    const int W = 3;
    hy_shard_plan p;
    HY_EXPECT_OK(hy_shard_plan_build_params(&p, &t, W, 5000));
    size_t n = p.padded;
    float *w = calloc(n, 4), *gr = calloc(n, 4), *m = calloc(n, 4), *v = calloc(n, 4), *w0 = calloc(n, 4), *out = calloc(n, 4);
    float *sw = calloc(p.shard, 4), *sm = calloc(p.shard, 4), *sv = calloc(p.shard, 4);
    HY_EXPECT(w && gr && m && v && w0 && out && sw && sm && sv);
    hy_test_rng rng = {7};
    for (int i = 0; i < t.count; i++) {
        const hy_param_desc *d = &t.desc[i];
        hy_test_fill(&rng, w + d->offset, d->numel, 1.0f);
        hy_test_fill(&rng, gr + d->offset, d->numel, 0.1f);
        for (size_t j = 0; j < d->numel; j++) v[d->offset + j] = 1e-3f * (float)(j % 7);
    }
    memcpy(w0, w, n * 4);
    memcpy(out, w, n * 4);
    hy_adamw_hparams h = {0.9, 0.95, 1e-8, 0.1};
    float *m_full = calloc(n, 4), *v_full = calloc(n, 4);
    HY_EXPECT(m_full && v_full);
    memcpy(v_full, v, n * 4);
    hy_adamw_step(&h, &g, 3, 1e-3, 0.5f, w, gr, m_full, v_full);
    for (int r = 0; r < W; r++) {
        hy_shard_view sv_;
        HY_EXPECT_OK(hy_shard_view_build(&sv_, &p, r, &g));
        for (int s = 0; s < sv_.count; s++) { /* load the rank's shard of master weights and moments */
            const hy_shard_seg *x = &sv_.segs[s];
            memcpy(sw + x->local, w0 + x->flat, x->len * 4);
            memset(sm + x->local, 0, x->len * 4);
            memcpy(sv + x->local, v + x->flat, x->len * 4);
        }
        for (int s = 0; s < sv_.count; s++) {
            const hy_shard_seg *x = &sv_.segs[s];
            hy_adamw_step(&h, &x->groups, 3, 1e-3, 0.5f, sw + x->local, gr + x->flat, sm + x->local, sv + x->local);
            memcpy(out + x->flat, sw + x->local, x->len * 4); /* "all-gather" */
        }
        hy_shard_view_free(&sv_);
    }
    HY_EXPECT(hy_test_compare("sharded AdamW (3 ranks) vs full AdamW", out, w, n, 0, 0) == 0);
    free(w), free(gr), free(m), free(v), free(w0), free(out), free(sw), free(sm), free(sv), free(m_full), free(v_full);
    hy_shard_plan_free(&p);
    hy_optim_groups_free(&g);
    hy_params_free(&t);
    return 0;
}
