/* data_synth.c — synthetic "counting" token stores for the store and loader
 * tests: the content of every sample is a function of its index, so any
 * document read back can be checked exactly (see data_synth.h). */
#include "tests/data_synth.h"

#include "core/alloc.h"
#include "core/fsutil.h"
#include "tests/harness.h"

/* ---------------- synthetic stores ---------------- */

/* Length of side `side` of sample i (deterministic, 1..maxlen). */
uint32_t syn_len(int64_t i, int side, uint32_t maxlen) {
    uint64_t h = hy_hash64(&i, sizeof i, 11 + (uint64_t)side);
    return 1 + (uint32_t)(h % maxlen);
}
/* Token t of side `side` of sample i, and whether it is supervised. */
int32_t syn_id(int64_t i, int side, uint32_t t) { return (int32_t)((i * 7 + side * 1000 + t) % 32000); }
int syn_sup(int64_t i, int side, uint32_t t, uint32_t prompt) { return t >= prompt && ((t + (uint32_t)i + (uint32_t)side) % 3 != 0); }

uint32_t syn_prompt(const syn_spec *sp, int64_t i) {
    if (!sp->pref) return 0;
    uint32_t a = syn_len(i, 0, sp->maxlen), b = syn_len(i, 1, sp->maxlen), m = a < b ? a : b;
    return m / 2;
}

hy_status syn_key(hy_store_key *k, const char **paths, uint64_t *hashes, uint64_t *bytes) {
    memset(k, 0, sizeof *k);
    paths[0] = "synthetic.jsonl";
    hashes[0] = 0x1234;
    bytes[0] = 99;
    k->n_sources = 1;
    k->source_paths = paths;
    k->source_hashes = hashes;
    k->source_bytes = bytes;
    k->tok_hash = 0xabc;
    k->tmpl_hash = 0xdef;
    hy_data_opts_default(&k->opts);
    return HY_OK;
}

hy_status syn_write(const char *path, const syn_spec *sp, const hy_store_key *key) {
    hy_store_writer *w;
    HY_TRY(hy_store_writer_open(&w, path));
    int32_t *ids[2], *labels[2];
    size_t cap = sp->maxlen;
    hy_status st = HY_OK;
    for (int s = 0; s < 2 && st == HY_OK; s++) {
        st = hy_malloc((void **)&ids[s], cap * 4, 0, "test");
        if (st == HY_OK) st = hy_malloc((void **)&labels[s], cap * 4, 0, "test");
    }
    for (int64_t i = 0; i < sp->n && st == HY_OK; i++) {
        hy_store_sample smp = {{ids[0], ids[1]}, {labels[0], labels[1]}, {0, 0}, syn_prompt(sp, i), 0, (uint64_t)i + 1};
        for (int s = 0; s <= sp->pref; s++) {
            smp.len[s] = syn_len(i, s, sp->maxlen);
            for (uint32_t t = 0; t < smp.len[s]; t++) {
                ids[s][t] = syn_id(i, s, t);
                labels[s][t] = syn_sup(i, s, t, smp.prompt_len) ? ids[s][t] : HY_LABEL_IGNORE;
            }
        }
        st = hy_store_writer_add(w, &smp);
    }
    for (int s = 0; s < 2; s++) {
        hy_free(ids[s]);
        hy_free(labels[s]);
    }
    if (st != HY_OK) {
        hy_store_writer_abort(w);
        return st;
    }
    hy_store_stats stats = {0};
    stats.records = sp->n;
    hy_errlog log = {0};
    hy_errlog_add(&log, "f.jsonl:3: something wrong");
    return hy_store_writer_finish(w, sp->pref ? HY_REC_PREF : HY_REC_SFT, key, &stats, &log, "/models/x");
}

int make_store(char *path, size_t n, const char *tag, const syn_spec *sp) {
    char dir[512];
    if (hy_test_tmpdir(dir, sizeof dir, tag)) return 1;
    snprintf(path, n, "%s/s.hystore", dir);
    const char *paths[1];
    uint64_t hashes[1], bytes[1];
    hy_store_key key;
    syn_key(&key, paths, hashes, bytes);
    hy_status st = syn_write(path, sp, &key);
    if (st != HY_OK) fprintf(stderr, "  make_store: %s\n", hy_last_error());
    return st != HY_OK;
}

/* Check one document of a micro-batch against the synthetic content. */
int check_doc(const int32_t *ids, const int32_t *labels, int len, int64_t i, int side, uint32_t prompt) {
    for (int t = 0; t < len; t++) {
        int32_t want = syn_id(i, side, (uint32_t)t);
        int32_t wl = syn_sup(i, side, (uint32_t)t, prompt) ? want : HY_LABEL_IGNORE;
        if (ids[t] != want || labels[t] != wl) {
            fprintf(stderr, "  sample %lld side %d token %d: id %d label %d, want %d %d\n", (long long)i, side, t, ids[t], labels[t], want, wl);
            return 1;
        }
    }
    return 0;
}

