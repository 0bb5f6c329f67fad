/* test_loader.c — the micro-batch loader on synthetic stores: same seed →
 * same order, other epochs → other orders, resume at every cursor gives the
 * identical remaining sequence, each sample exactly once per epoch (content
 * verified token by token), exact mixing counts, disjoint and covering rank
 * shards, preference pairs adjacent in one micro-batch, the token budget. */
#include "core/alloc.h"
#include "core/fsutil.h"
#include "datasets/loader.h"
#include "tests/data_synth.h"
#include "tests/harness.h"

/* Digest of a micro-batch: its documents (source, sample, side) and tokens. */
static uint64_t mb_digest(const hy_microbatch *mb) {
    hy_hash64_state h;
    hy_hash64_init(&h, 1);
    hy_hash64_update(&h, &mb->n_docs, sizeof mb->n_docs);
    hy_hash64_update(&h, mb->source, sizeof(int32_t) * (size_t)mb->n_docs);
    hy_hash64_update(&h, mb->sample, sizeof(int64_t) * (size_t)mb->n_docs);
    hy_hash64_update(&h, mb->is_chosen, (size_t)mb->n_docs);
    hy_hash64_update(&h, mb->ids, sizeof(int32_t) * (size_t)mb->n_tokens);
    hy_hash64_update(&h, mb->labels, sizeof(int32_t) * (size_t)mb->n_tokens);
    return hy_hash64_final(&h);
}

/* Structural checks of one micro-batch against the synthetic content. */
static int mb_check(const hy_microbatch *mb, const hy_loader_opts *o, const syn_spec *specs) {
    int64_t sup = 0;
    if (mb->n_tokens + (int64_t)o->meta_tokens * mb->n_docs > o->budget) {
        fprintf(stderr, "  over budget: %d tokens + %d docs × %d > %d\n", mb->n_tokens, mb->n_docs, o->meta_tokens, o->budget);
        return 1;
    }
    if (mb->doc_start[0] != 0) return 1;
    for (int d = 0; d < mb->n_docs; d++) {
        const syn_spec *sp = &specs[mb->source[d]];
        int side = sp->pref ? !mb->is_chosen[d] : 0;
        if (mb->doc_start[d + 1] != mb->doc_start[d] + mb->doc_len[d]) return 1;
        if (mb->doc_len[d] != (int)syn_len(mb->sample[d], side, sp->maxlen)) {
            fprintf(stderr, "  doc %d: length %d\n", d, mb->doc_len[d]);
            return 1;
        }
        if (check_doc(mb->ids + mb->doc_start[d], mb->labels + mb->doc_start[d], mb->doc_len[d], mb->sample[d], side, syn_prompt(sp, mb->sample[d])))
            return 1;
        int s = 0;
        for (int t = 0; t < mb->doc_len[d]; t++) s += mb->labels[mb->doc_start[d] + t] != HY_LABEL_IGNORE;
        if (s != mb->doc_sup[d]) return 1;
        sup += s;
    }
    if (mb->doc_start[mb->n_docs] != mb->n_tokens || sup != mb->n_supervised) {
        fprintf(stderr, "  totals: %d tokens, %lld supervised (counted %lld)\n", mb->n_tokens, (long long)mb->n_supervised, (long long)sup);
        return 1;
    }
    return 0;
}

typedef struct {
    char path[4][600];
    syn_spec spec[4];
    hy_loader_source src[4];
    int n;
} fixture;

static int fixture_make(fixture *f, int n, const syn_spec *specs, const double *weights) {
    f->n = n;
    for (int d = 0; d < n; d++) {
        f->spec[d] = specs[d];
        if (make_store(f->path[d], sizeof f->path[d], "loader", &specs[d])) return 1;
        f->src[d].path = f->path[d];
        f->src[d].weight = weights ? weights[d] : 1.0;
    }
    return 0;
}

static hy_loader_opts opts_of(int budget, int meta, uint64_t seed, int rank, int world) {
    hy_loader_opts o;
    hy_loader_opts_default(&o);
    o.budget = budget;
    o.meta_tokens = meta;
    o.seed = seed;
    o.rank = rank;
    o.world = world;
    return o;
}

/* Digests of the next n micro-batches. */
static hy_status run_digests(hy_loader *l, int64_t n, uint64_t *out) {
    hy_microbatch mb;
    for (int64_t k = 0; k < n; k++) {
        HY_TRY(hy_loader_next(l, &mb));
        out[k] = mb_digest(&mb);
    }
    return HY_OK;
}

HY_TEST(loader_same_seed_same_order_other_seed_other_order) {
    fixture f;
    syn_spec sp = {600, 200, 0};
    HY_EXPECT(fixture_make(&f, 1, &sp, NULL) == 0);
    hy_loader_opts o = opts_of(1024, 16, 42, 0, 1);
    hy_loader *a, *b, *c;
    HY_EXPECT_OK(hy_loader_create(&a, f.src, 1, &o));
    HY_EXPECT_OK(hy_loader_create(&b, f.src, 1, &o));
    o.seed = 43;
    HY_EXPECT_OK(hy_loader_create(&c, f.src, 1, &o));
    uint64_t da[400], db[400], dc[400];
    HY_EXPECT_OK(run_digests(a, 400, da));
    HY_EXPECT_OK(run_digests(b, 400, db));
    HY_EXPECT_OK(run_digests(c, 400, dc));
    int same_c = 0;
    for (int k = 0; k < 400; k++) {
        HY_EXPECT_MSG(da[k] == db[k], "micro-batch %d differs between two loaders with the same seed", k);
        same_c += da[k] == dc[k];
    }
    HY_EXPECT_MSG(same_c < 10, "%d of 400 micro-batches equal under another seed", same_c);
    hy_loader_free(a);
    hy_loader_free(b);
    hy_loader_free(c);
    return 0;
}

/* Each sample exactly once per epoch (weight 1), content verified; the next
 * epoch holds the same samples in another order. */
HY_TEST(loader_epoch_covers_each_sample_once) {
    fixture f;
    syn_spec sp = {1500, 300, 0};
    HY_EXPECT(fixture_make(&f, 1, &sp, NULL) == 0);
    hy_loader_opts o = opts_of(2048, 32, 7, 0, 1);
    hy_loader *l;
    HY_EXPECT_OK(hy_loader_create(&l, f.src, 1, &o));
    int64_t steps[2];
    HY_EXPECT_OK(hy_loader_steps_per_epoch(l, 0, &steps[0]));
    HY_EXPECT_OK(hy_loader_steps_per_epoch(l, 1, &steps[1]));
    int64_t *first_pos = calloc(1500, sizeof(int64_t));
    int32_t *seen = calloc(1500, sizeof(int32_t));
    int64_t moved = 0;
    for (int e = 0; e < 2; e++) {
        memset(seen, 0, 1500 * sizeof(int32_t));
        int64_t pos = 0;
        for (int64_t k = 0; k < steps[e]; k++) {
            hy_microbatch mb;
            HY_EXPECT_OK(hy_loader_next(l, &mb));
            HY_EXPECT(mb.cursor.epoch == e && mb.cursor.index == k && mb.n_docs > 0 && mb.n_pairs == 0);
            HY_EXPECT(mb_check(&mb, &o, f.spec) == 0);
            for (int d = 0; d < mb.n_docs; d++, pos++) {
                seen[mb.sample[d]]++;
                if (e == 0) first_pos[mb.sample[d]] = pos;
                else moved += first_pos[mb.sample[d]] != pos;
                HY_EXPECT(mb.pair_id[d] == -1 && !mb.is_chosen[d] && mb.source[d] == 0);
            }
        }
        for (int i = 0; i < 1500; i++) HY_EXPECT_MSG(seen[i] == 1, "epoch %d: sample %d seen %d times", e, i, seen[i]);
    }
    HY_EXPECT_MSG(moved > 1400, "only %lld of 1500 samples changed position between epochs", (long long)moved);
    hy_cursor c = hy_loader_tell(l);
    HY_EXPECT(c.epoch == 1 && c.index == steps[1]);
    hy_microbatch mb;
    HY_EXPECT_OK(hy_loader_next(l, &mb)); /* rolls over */
    HY_EXPECT(mb.cursor.epoch == 2 && mb.cursor.index == 0);
    free(first_pos);
    free(seen);
    hy_loader_free(l);
    return 0;
}

/* Resume at every cursor of two epochs (and the epoch boundary) gives exactly
 * the remaining sequence of the uninterrupted run. */
HY_TEST(loader_resume_at_any_cursor) {
    fixture f;
    syn_spec sp[2] = {{300, 150, 0}, {200, 400, 0}};
    double w[2] = {1.0, 0.7};
    HY_EXPECT(fixture_make(&f, 2, sp, w) == 0);
    for (int world = 1; world <= 2; world++) {
        hy_loader_opts o = opts_of(1000, 8, 99, world - 1, world);
        hy_loader *l;
        HY_EXPECT_OK(hy_loader_create(&l, f.src, 2, &o));
        int64_t s0, s1;
        HY_EXPECT_OK(hy_loader_steps_per_epoch(l, 0, &s0));
        HY_EXPECT_OK(hy_loader_steps_per_epoch(l, 1, &s1));
        int64_t total = s0 + s1 + 3;
        uint64_t *ref = malloc(sizeof(uint64_t) * (size_t)total), *got = malloc(sizeof(uint64_t) * (size_t)total);
        hy_cursor *cur = malloc(sizeof(hy_cursor) * (size_t)(total + 1));
        for (int64_t k = 0; k < total; k++) {
            cur[k] = hy_loader_tell(l);
            hy_microbatch mb;
            HY_EXPECT_OK(hy_loader_next(l, &mb));
            ref[k] = mb_digest(&mb);
        }
        hy_loader_free(l);
        for (int64_t k = 0; k < total; k++) {
            hy_loader *r;
            HY_EXPECT_OK(hy_loader_create(&r, f.src, 2, &o));
            HY_EXPECT_OK(hy_loader_seek(r, cur[k]));
            HY_EXPECT_OK(run_digests(r, total - k, got));
            for (int64_t j = k; j < total; j++)
                HY_EXPECT_MSG(got[j - k] == ref[j], "world %d: resumed at (%lld, %lld): micro-batch %lld differs", world, (long long)cur[k].epoch,
                              (long long)cur[k].index, (long long)j);
            hy_loader_free(r);
        }
        /* (epoch, steps) is the same place as (epoch + 1, 0) */
        hy_loader *r;
        HY_EXPECT_OK(hy_loader_create(&r, f.src, 2, &o));
        HY_EXPECT_OK(hy_loader_seek(r, (hy_cursor){0, s0}));
        HY_EXPECT_OK(run_digests(r, 1, got));
        HY_EXPECT(got[0] == ref[s0]);
        HY_EXPECT_ERR(hy_loader_seek(r, (hy_cursor){0, s0 + 1}), "outside the epoch");
        hy_loader_free(r);
        free(ref);
        free(got);
        free(cur);
    }
    return 0;
}

/* Weights 2.0, 0.5, 1.3: exactly round(w·N) draws per source per epoch, every
 * sample ⌊w⌋ or ⌊w⌋+1 times, and a different subsample each epoch. */
HY_TEST(loader_mixing_counts_match_weights) {
    fixture f;
    syn_spec sp[3] = {{101, 60, 0}, {300, 60, 0}, {77, 60, 0}};
    double w[3] = {2.0, 0.5, 1.3};
    HY_EXPECT(fixture_make(&f, 3, sp, w) == 0);
    hy_loader_opts o = opts_of(512, 4, 5, 0, 1);
    hy_loader *l;
    HY_EXPECT_OK(hy_loader_create(&l, f.src, 3, &o));
    int64_t want[3] = {202, 150, 100}; /* round(1.3 × 77) = 100 */
    int32_t *count[3];
    uint8_t *in_epoch0 = calloc(300, 1);
    int64_t overlap = 0;
    for (int e = 0; e < 2; e++) {
        for (int d = 0; d < 3; d++) count[d] = calloc((size_t)sp[d].n, sizeof(int32_t));
        hy_loader_epoch_stats st;
        HY_EXPECT_OK(hy_loader_epoch_stats_get(l, e, &st));
        for (int d = 0; d < 3; d++)
            HY_EXPECT_MSG(st.per_source[d] == want[d], "epoch %d source %d: %lld draws, want %lld", e, d, (long long)st.per_source[d],
                          (long long)want[d]);
        HY_EXPECT(st.per_source_unique[0] == 101 && st.per_source_unique[1] == 150 && st.per_source_unique[2] == 77);
        for (int64_t k = 0; k < st.steps; k++) {
            hy_microbatch mb;
            HY_EXPECT_OK(hy_loader_next(l, &mb));
            HY_EXPECT(mb_check(&mb, &o, f.spec) == 0);
            for (int d = 0; d < mb.n_docs; d++) count[mb.source[d]][mb.sample[d]]++;
        }
        for (int d = 0; d < 3; d++) {
            int64_t total = 0;
            int lo = (int)w[d];
            for (int64_t i = 0; i < sp[d].n; i++) {
                HY_EXPECT_MSG(count[d][i] == lo || count[d][i] == lo + 1, "epoch %d source %d sample %lld drawn %d times", e, d, (long long)i, count[d][i]);
                total += count[d][i];
            }
            HY_EXPECT_MSG(total == want[d], "epoch %d source %d: drew %lld, want %lld", e, d, (long long)total, (long long)want[d]);
        }
        for (int64_t i = 0; i < 300; i++) {
            if (e == 0) in_epoch0[i] = (uint8_t)count[1][i];
            else overlap += in_epoch0[i] && count[1][i];
        }
        for (int d = 0; d < 3; d++) free(count[d]);
    }
    /* two independent halves of 300 share ~75 samples; the same half would share 150 */
    HY_EXPECT_MSG(overlap > 40 && overlap < 120, "under-sampled subsets of epochs 0 and 1 share %lld of 150", (long long)overlap);
    free(in_epoch0);
    hy_loader_free(l);
    return 0;
}

/* world = 4 (or 5): the ranks' micro-batches are disjoint, cover the plan exactly,
 * every rank runs the same number of steps, and bin b is the same on any
 * world size. */
HY_TEST(loader_rank_shards_disjoint_and_covering) {
    fixture f;
    syn_spec sp = {700, 250, 0};
    HY_EXPECT(fixture_make(&f, 1, &sp, NULL) == 0);
    hy_loader_opts o1 = opts_of(1500, 16, 3, 0, 1);
    hy_loader *one;
    HY_EXPECT_OK(hy_loader_create(&one, f.src, 1, &o1));
    hy_loader_epoch_stats st;
    HY_EXPECT_OK(hy_loader_epoch_stats_get(one, 0, &st));
    int64_t nb = st.n_bins;
    uint64_t *bins = calloc((size_t)nb, sizeof(uint64_t));
    for (int64_t b = 0; b < nb; b++) {
        hy_microbatch mb;
        HY_EXPECT_OK(hy_loader_next(one, &mb));
        bins[b] = mb_digest(&mb);
    }
    hy_loader_free(one);
    int world = nb % 4 ? 4 : 5;
    int64_t steps = (nb + world - 1) / world, empty = 0;
    HY_EXPECT_MSG(nb % world != 0, "pick sizes so that %lld bins do not divide evenly", (long long)nb);
    int *hits = calloc((size_t)nb, sizeof(int));
    int32_t *seen = calloc(700, sizeof(int32_t));
    for (int r = 0; r < world; r++) {
        hy_loader_opts o = opts_of(1500, 16, 3, r, world);
        hy_loader *l;
        HY_EXPECT_OK(hy_loader_create(&l, f.src, 1, &o));
        int64_t s;
        HY_EXPECT_OK(hy_loader_steps_per_epoch(l, 0, &s));
        HY_EXPECT(s == steps);
        for (int64_t k = 0; k < steps; k++) {
            hy_microbatch mb;
            HY_EXPECT_OK(hy_loader_next(l, &mb));
            if (mb.bin < 0) {
                HY_EXPECT(mb.n_docs == 0 && mb.n_tokens == 0 && mb.n_supervised == 0 && k == steps - 1);
                empty++;
                continue;
            }
            HY_EXPECT(mb.bin == k * world + r && mb_digest(&mb) == bins[mb.bin]);
            hits[mb.bin]++;
            for (int d = 0; d < mb.n_docs; d++) seen[mb.sample[d]]++;
        }
        hy_loader_free(l);
    }
    for (int64_t b = 0; b < nb; b++) HY_EXPECT_MSG(hits[b] == 1, "bin %lld served %d times", (long long)b, hits[b]);
    for (int i = 0; i < 700; i++) HY_EXPECT_MSG(seen[i] == 1, "sample %d seen %d times over all ranks", i, seen[i]);
    HY_EXPECT(empty == steps * world - nb);
    free(bins);
    free(hits);
    free(seen);
    return 0;
}

/* The global supervised (and sample) count of a step equals the sum over
 * ranks and accumulation micro-batches. */
HY_TEST(loader_global_supervised_count) {
    fixture f;
    syn_spec sp = {400, 200, 0};
    HY_EXPECT(fixture_make(&f, 1, &sp, NULL) == 0);
    int world = 2, accum = 3;
    hy_loader *l[2];
    for (int r = 0; r < world; r++) {
        hy_loader_opts o = opts_of(800, 8, 11, r, world);
        HY_EXPECT_OK(hy_loader_create(&l[r], f.src, 1, &o));
    }
    int64_t steps;
    HY_EXPECT_OK(hy_loader_steps_per_epoch(l[0], 0, &steps));
    for (int64_t first = 0; first + accum <= steps; first += accum) {
        int64_t want = 0, got, got1, items = 0, got_items;
        for (int r = 0; r < world; r++)
            for (int a = 0; a < accum; a++) {
                hy_microbatch mb;
                HY_EXPECT_OK(hy_loader_next(l[r], &mb));
                want += mb.n_supervised;
                items += mb.n_docs;
            }
        HY_EXPECT_OK(hy_loader_supervised(l[0], 0, first, accum, &got));
        HY_EXPECT_OK(hy_loader_supervised(l[1], 0, first, accum, &got1));
        HY_EXPECT_OK(hy_loader_items(l[1], 0, first, accum, &got_items));
        HY_EXPECT_MSG(got == want && got1 == want && got_items == items, "steps [%lld, +%d): %lld / %lld, want %lld; items %lld, want %lld",
                      (long long)first, accum, (long long)got, (long long)got1, (long long)want, (long long)got_items, (long long)items);
    }
    hy_loader_free(l[0]);
    hy_loader_free(l[1]);
    return 0;
}

HY_TEST(loader_preference_pairs_stay_together) {
    fixture f;
    syn_spec sp = {500, 220, 1};
    HY_EXPECT(fixture_make(&f, 1, &sp, NULL) == 0);
    hy_loader_opts o = opts_of(1200, 32, 1, 0, 1);
    hy_loader *l;
    HY_EXPECT_OK(hy_loader_create(&l, f.src, 1, &o));
    HY_EXPECT(hy_loader_kind(l) == HY_REC_PREF);
    int64_t steps;
    HY_EXPECT_OK(hy_loader_steps_per_epoch(l, 0, &steps));
    int32_t *seen = calloc(500, sizeof(int32_t));
    for (int64_t k = 0; k < steps; k++) {
        hy_microbatch mb;
        HY_EXPECT_OK(hy_loader_next(l, &mb));
        HY_EXPECT(mb_check(&mb, &o, f.spec) == 0);
        HY_EXPECT(mb.n_docs == 2 * mb.n_pairs && mb.n_pairs > 0);
        for (int p = 0; p < mb.n_pairs; p++) {
            int c = 2 * p, r = 2 * p + 1;
            HY_EXPECT(mb.is_chosen[c] == 1 && mb.is_chosen[r] == 0 && mb.pair_id[c] == p && mb.pair_id[r] == p);
            HY_EXPECT(mb.sample[c] == mb.sample[r] && mb.source[c] == mb.source[r]);
            HY_EXPECT(mb.prompt_len[c] == (int)syn_prompt(&sp, mb.sample[c]) && mb.prompt_len[r] == mb.prompt_len[c]);
            seen[mb.sample[c]]++;
        }
    }
    for (int i = 0; i < 500; i++) HY_EXPECT_MSG(seen[i] == 1, "pair %d seen %d times", i, seen[i]);
    free(seen);
    hy_loader_free(l);
    return 0;
}

HY_TEST(loader_packing_efficiency_and_budget_errors) {
    fixture f;
    syn_spec sp = {3000, 120, 0};
    HY_EXPECT(fixture_make(&f, 1, &sp, NULL) == 0);
    hy_loader_opts o = opts_of(4096, 0, 1, 0, 1);
    hy_loader *l;
    HY_EXPECT_OK(hy_loader_create(&l, f.src, 1, &o));
    hy_loader_epoch_stats st;
    HY_EXPECT_OK(hy_loader_epoch_stats_get(l, 0, &st));
    int64_t lower = (st.tokens + 4095) / 4096;
    HY_EXPECT_MSG(st.n_bins <= lower + 1 && st.efficiency > 0.98, "%lld bins for %lld tokens (lower bound %lld), efficiency %.4f", (long long)st.n_bins,
                  (long long)st.tokens, (long long)lower, st.efficiency);
    hy_loader_free(l);
    o = opts_of(100, 10, 1, 0, 1); /* samples up to 120 tokens + 10 do not fit in 100 */
    HY_EXPECT_ERR(hy_loader_create(&l, f.src, 1, &o), "do not fit in a micro-batch of 100 tokens");
    HY_EXPECT_ERR(hy_loader_create(&l, f.src, 1, &o), "hint: prepare with max_len ≤ 90");
    o = opts_of(4096, 0, 1, 2, 2);
    HY_EXPECT_ERR(hy_loader_create(&l, f.src, 1, &o), "rank 2 of world 2");
    o = opts_of(4096, 0, 1, 0, 1);
    f.src[0].weight = 0.0001;
    HY_EXPECT_ERR(hy_loader_create(&l, f.src, 1, &o), "the epoch is empty");
    f.src[0].weight = -1;
    HY_EXPECT_ERR(hy_loader_create(&l, f.src, 1, &o), "mixing weight -1");
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
