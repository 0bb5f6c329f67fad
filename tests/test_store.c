/* test_store.c — token store round trip, corruption and staleness, and the
 * loader: determinism in (seed, epoch), resume at any cursor, coverage,
 * mixing counts, rank shards, pairs together, the token budget.  All on
 * synthetic "counting" samples whose content is a function of their index,
 * so every document read back can be checked against what was written. */
#include "core/alloc.h"
#include "datasets/loader.h"
#include "datasets/store.h"
#include "tests/data_synth.h"
#include "tests/harness.h"

/* ---------------- store ---------------- */

HY_TEST(store_roundtrip_random_access) {
    char path[600];
    syn_spec sp = {3000, 700, 0};
    HY_EXPECT(make_store(path, sizeof path, "store", &sp) == 0);
    hy_store *s;
    HY_EXPECT_OK(hy_store_open(&s, path));
    const hy_store_info *in = hy_store_get_info(s);
    HY_EXPECT(in->kind == HY_REC_SFT && in->n_samples == 3000 && in->tok_hash == 0xabc && in->tmpl_hash == 0xdef);
    HY_EXPECT(in->n_sources == 1 && !strcmp(in->source_paths[0], "synthetic.jsonl") && in->source_hashes[0] == 0x1234);
    HY_EXPECT(in->n_skip_reasons == 1 && !strcmp(in->skip_reasons[0], "f.jsonl:3: something wrong") && !strcmp(in->model_dir, "/models/x"));
    HY_EXPECT(in->opts.max_len == 4096 && in->opts.kind == HY_KIND_AUTO && in->opts.add_eos && in->stats.records == 3000);
    int32_t ids[700], labels[700];
    int64_t tokens = 0, sup = 0;
    uint64_t st = 5;
    for (int k = 0; k < 6000; k++) { /* random order, then every sample */
        int64_t i = k < 3000 ? (int64_t)((st = st * 6364136223846793005ull + 1442695040888963407ull) >> 33) % 3000 : k - 3000;
        const hy_store_entry *e = &hy_store_entries(s)[i];
        HY_EXPECT_MSG(e->len[0] == syn_len(i, 0, 700) && e->len[1] == 0 && e->line == (uint64_t)i + 1, "entry %lld", (long long)i);
        HY_EXPECT_OK(hy_store_read(s, i, 0, ids, labels));
        HY_EXPECT(check_doc(ids, labels, (int)e->len[0], i, 0, 0) == 0);
        if (k >= 3000) {
            tokens += e->len[0];
            sup += e->sup[0];
        }
    }
    HY_EXPECT(in->stats.tokens == tokens && in->stats.supervised == sup && in->stats.samples == 3000);
    HY_EXPECT_ERR(hy_store_read(s, 3000, 0, ids, labels), "no sample 3000");
    HY_EXPECT_ERR(hy_store_read(s, 0, 1, ids, labels), "side 1");
    hy_store_close(s);
    return 0;
}

HY_TEST(store_roundtrip_pairs) {
    char path[600];
    syn_spec sp = {500, 300, 1};
    HY_EXPECT(make_store(path, sizeof path, "store", &sp) == 0);
    hy_store *s;
    HY_EXPECT_OK(hy_store_open(&s, path));
    HY_EXPECT(hy_store_get_info(s)->kind == HY_REC_PREF);
    int32_t ids[300], labels[300];
    for (int64_t i = 499; i >= 0; i--)
        for (int side = 1; side >= 0; side--) {
            const hy_store_entry *e = &hy_store_entries(s)[i];
            HY_EXPECT(e->len[side] == syn_len(i, side, 300) && e->prompt_len == syn_prompt(&sp, i));
            HY_EXPECT_OK(hy_store_read(s, i, side, ids, labels));
            HY_EXPECT(check_doc(ids, labels, (int)e->len[side], i, side, e->prompt_len) == 0);
        }
    hy_store_close(s);
    return 0;
}

static int flip_byte(const char *path, long off) {
    FILE *f = fopen(path, "r+b");
    if (!f) return 1;
    if (off < 0) fseek(f, off, SEEK_END);
    else fseek(f, off, SEEK_SET);
    int c = fgetc(f);
    fseek(f, -1, SEEK_CUR);
    fputc(c ^ 0x40, f);
    fclose(f);
    return 0;
}

HY_TEST(store_corruption_detected) {
    char path[600], cmd[1400];
    syn_spec sp = {400, 500, 0};
    HY_EXPECT(make_store(path, sizeof path, "store", &sp) == 0);
    hy_store *s;
    /* a byte inside the first block: open succeeds (index intact), the read fails cleanly */
    HY_EXPECT(flip_byte(path, 200) == 0);
    HY_EXPECT_OK(hy_store_open(&s, path));
    int32_t ids[500];
    HY_EXPECT_ERR(hy_store_read(s, 0, 0, ids, NULL), "corrupt token store block 0");
    hy_store_close(s);
    HY_EXPECT(flip_byte(path, 200) == 0);
    /* the index (end of file) */
    HY_EXPECT(flip_byte(path, -40) == 0);
    HY_EXPECT_ERR(hy_store_open(&s, path), "index checksum mismatch");
    HY_EXPECT(flip_byte(path, -40) == 0);
    HY_EXPECT(flip_byte(path, 20) == 0);
    HY_EXPECT_ERR(hy_store_open(&s, path), "corrupt token store header");
    HY_EXPECT(flip_byte(path, 20) == 0);
    HY_EXPECT_OK(hy_store_open(&s, path));
    hy_store_close(s);
    snprintf(cmd, sizeof cmd, "truncate -s -100 '%s'", path);
    HY_EXPECT(hy_test_run(cmd, NULL) == 0);
    HY_EXPECT_ERR(hy_store_open(&s, path), "section sizes do not add up");
    snprintf(cmd, sizeof cmd, "printf 'not a store at all, really not, definitely not one at all........................' > '%s'", path);
    HY_EXPECT(hy_test_run(cmd, NULL) == 0);
    HY_EXPECT_ERR(hy_store_open(&s, path), "not a hymba token store (bad magic)");
    HY_EXPECT_ERR(hy_store_open(&s, "/nonexistent/x.hystore"), "cannot open token store");
    return 0;
}

HY_TEST(store_stale_detection) {
    char path[600];
    syn_spec sp = {50, 100, 0};
    HY_EXPECT(make_store(path, sizeof path, "store", &sp) == 0);
    const char *paths[1];
    uint64_t hashes[1], bytes[1];
    hy_store_key k;
    syn_key(&k, paths, hashes, bytes);
    HY_EXPECT_OK(hy_store_check(path, &k));
    hashes[0] = 0x1235;
    HY_EXPECT_ERR(hy_store_check(path, &k), "stale token store: source data changed: synthetic.jsonl");
    hashes[0] = 0x1234;
    k.tok_hash = 1;
    HY_EXPECT_ERR(hy_store_check(path, &k), "stale token store: tokenizer changed");
    k.tok_hash = 0xabc;
    k.tmpl_hash = 2;
    HY_EXPECT_ERR(hy_store_check(path, &k), "stale token store: chat template changed");
    k.tmpl_hash = 0xdef;
    k.opts.max_len = 2048;
    HY_EXPECT_ERR(hy_store_check(path, &k), "stale token store: made with max_len 4096, want 2048");
    k.opts.max_len = 4096;
    k.opts.train_on = HY_TRAIN_LAST_ASSISTANT;
    HY_EXPECT_ERR(hy_store_check(path, &k), "made with train_on all_assistant, want last_assistant");
    k.opts.train_on = HY_TRAIN_ALL_ASSISTANT;
    k.opts.add_bos = 1;
    HY_EXPECT_ERR(hy_store_check(path, &k), "made with add_bos 0, want 1");
    k.opts.add_bos = 0;
    k.n_sources = 0;
    HY_EXPECT_ERR(hy_store_check(path, &k), "made from 1 source file, want 0");
    k.n_sources = 1;
    HY_EXPECT_OK(hy_store_check(path, &k));
    hy_error_clear();
    hy_status st = hy_store_check("/nonexistent/s.hystore", &k);
    HY_EXPECT(st == HY_ERR_IO);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
