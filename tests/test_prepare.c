/* test_prepare.c — dataset preparation: with a synthetic encoder (exact
 * expected tokens), the output is independent of the thread count, on_error
 * fail reports the first bad line and skip counts every bad line, the length
 * policy drops/truncates and never cuts a pair's prompt, pairs supervise only
 * their reply, and a stale store (source data, options, tokenizer, template)
 * is rebuilt while a fresh one is reused.  With the real tokenizer and
 * template: a shared dataset file end to end, checked against
 * hy_chat_encode sample by sample. */
#include <unistd.h>

#include "core/alloc.h"
#include "datasets/jsonl.h"
#include "datasets/prepare.h"
#include "datasets/tokenizer.h"
#include "tests/harness.h"

/* ---------------- synthetic encoder ----------------
 * per message: token 100+role, the content bytes as 1000+byte, token 13;
 * assistant content + its 13 supervised (all / last turn / everything as
 * asked); EOS 2 appended and supervised after a final assistant message. */
static hy_status syn_encode(const hy_encoder *e, const hy_chat *c, const hy_chat_opts *o, hy_sample *out) {
    size_t need = 2;
    for (int i = 0; i < c->n; i++) need += c->msgs[i].len + 2;
    if (need > out->cap) {
        HY_TRY(hy_realloc((void **)&out->ids, need * 4, "syn ids"));
        HY_TRY(hy_realloc((void **)&out->labels, need * 4, "syn labels"));
        out->cap = need;
    }
    int last_asst = -1;
    for (int i = 0; i < c->n; i++)
        if (c->msgs[i].role == HY_ROLE_ASSISTANT) last_asst = i;
    size_t n = 0;
    if (o->add_bos) {
        out->ids[n] = 1;
        out->labels[n++] = o->train_on == HY_TRAIN_EVERYTHING ? 1 : -100;
    }
    for (int i = 0; i < c->n; i++) {
        const hy_chat_msg *m = &c->msgs[i];
        int sup = o->train_on == HY_TRAIN_EVERYTHING ||
                  (m->role == HY_ROLE_ASSISTANT && (o->train_on == HY_TRAIN_ALL_ASSISTANT || i == last_asst));
        out->ids[n] = 100 + (int)m->role;
        out->labels[n] = o->train_on == HY_TRAIN_EVERYTHING ? out->ids[n] : -100;
        n++;
        for (size_t k = 0; k <= m->len; k++, n++) {
            out->ids[n] = k < m->len ? 1000 + (unsigned char)m->content[k] : 13;
            out->labels[n] = sup ? out->ids[n] : -100;
        }
    }
    if (o->add_eos && c->n && c->msgs[c->n - 1].role == HY_ROLE_ASSISTANT) {
        out->ids[n] = 2;
        out->labels[n++] = 2;
    }
    out->n = n;
    (void)e;
    return HY_OK;
}

static hy_encoder syn_encoder(void) {
    hy_encoder e = {syn_encode, {NULL, NULL}, 0x70c, 0x7e3};
    return e;
}

static hy_prepare_opts quiet_opts(int threads) {
    hy_prepare_opts o;
    hy_prepare_opts_default(&o);
    o.threads = threads;
    o.progress = 0;
    return o;
}

/* Write lines (joined with \n) to dir/name, zstd-compressed when name ends in .zst. */
static int write_jsonl(char *path, size_t n, const char *dir, const char *name, const char *text) {
    char plain[700], cmd[2000];
    snprintf(path, n, "%s/%s", dir, name);
    size_t l = strlen(name);
    if (l < 4 || strcmp(name + l - 4, ".zst")) return hy_test_write_file(path, text, strlen(text));
    snprintf(plain, sizeof plain, "%s/%.*s", dir, (int)(l - 4), name);
    if (hy_test_write_file(plain, text, strlen(text))) return 1;
    snprintf(cmd, sizeof cmd, "zstd -q -f '%s' -o '%s'", plain, path);
    return hy_test_run(cmd, NULL);
}

static char *sft_lines(int n, int bad_every) {
    size_t cap = (size_t)n * 200 + 100, at = 0;
    char *t = malloc(cap);
    for (int i = 0; i < n; i++) {
        if (bad_every && i % bad_every == bad_every - 1)
            at += (size_t)snprintf(t + at, cap - at, "{\"messages\": [{\"role\": \"robot\", \"content\": \"x\"}]}\n");
        else
            at += (size_t)snprintf(t + at, cap - at,
                                   "{\"messages\": [{\"role\": \"user\", \"content\": \"q%d\"}, {\"role\": \"assistant\", \"content\": \"answer %d%s\"}]}\n", i,
                                   i * 37 % 1000, i % 5 ? "" : " and a much longer tail to vary the lengths of samples");
    }
    return t;
}

/* Every sample of two stores is identical (ids, labels, lengths, lines). */
static int stores_equal(const char *a, const char *b) {
    hy_store *x, *y;
    if (hy_store_open(&x, a) || hy_store_open(&y, b)) return 1;
    int bad = hy_store_get_info(x)->n_samples != hy_store_get_info(y)->n_samples;
    int32_t i1[4096], l1[4096], i2[4096], l2[4096];
    for (int64_t i = 0; !bad && i < hy_store_get_info(x)->n_samples; i++) {
        const hy_store_entry *ea = &hy_store_entries(x)[i], *eb = &hy_store_entries(y)[i];
        bad = memcmp(ea, eb, sizeof *ea) != 0 || ea->len[0] > 4096;
        for (int s = 0; !bad && s <= (int)hy_store_get_info(x)->kind; s++) {
            bad = hy_store_read(x, i, s, i1, l1) || hy_store_read(y, i, s, i2, l2) || memcmp(i1, i2, 4 * ea->len[s]) || memcmp(l1, l2, 4 * ea->len[s]);
        }
        if (bad) fprintf(stderr, "  stores differ at sample %lld\n", (long long)i);
    }
    hy_store_close(x);
    hy_store_close(y);
    return bad;
}

HY_TEST(prepare_deterministic_for_any_thread_count) {
    char dir[512], in[700], out1[700], out4[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    char *text = sft_lines(3000, 0);
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "d.jsonl.zst", text) == 0);
    free(text);
    snprintf(out1, sizeof out1, "%s/one.hystore", dir);
    snprintf(out4, sizeof out4, "%s/four.hystore", dir);
    hy_encoder enc = syn_encoder();
    const char *files[1] = {in};
    hy_prepare_opts o = quiet_opts(1);
    hy_prepare_report r1, r4;
    HY_EXPECT_OK(hy_prepare(files, 1, out1, &enc, &o, &r1));
    o.threads = 4;
    HY_EXPECT_OK(hy_prepare(files, 1, out4, &enc, &o, &r4));
    HY_EXPECT(r1.stats.records == 3000 && r1.stats.samples == 3000 && r4.stats.samples == 3000 && r1.kind == HY_REC_SFT);
    HY_EXPECT(r1.stats.tokens == r4.stats.tokens && r1.stats.supervised == r4.stats.supervised && r4.threads == 4);
    HY_EXPECT(stores_equal(out1, out4) == 0);
    /* sample 7 holds exactly the synthetic encoding of line 8 */
    hy_store *s;
    HY_EXPECT_OK(hy_store_open(&s, out4));
    const hy_store_entry *e = &hy_store_entries(s)[7];
    const char *q = "q7", *a = "answer 259";
    size_t want_len = 1 + strlen(q) + 1 + 1 + strlen(a) + 1 + 1;
    HY_EXPECT_MSG(e->len[0] == want_len && e->line == 8 && e->sup[0] == strlen(a) + 2, "len %u line %llu sup %u", e->len[0],
                  (unsigned long long)e->line, e->sup[0]);
    int32_t ids[64], labels[64];
    HY_EXPECT_OK(hy_store_read(s, 7, 0, ids, labels));
    HY_EXPECT(ids[0] == 100 + HY_ROLE_USER && ids[1] == 1000 + 'q' && ids[3] == 13 && labels[3] == -100 && ids[4] == 100 + HY_ROLE_ASSISTANT);
    HY_EXPECT(ids[5] == 1000 + 'a' && labels[5] == ids[5] && ids[want_len - 1] == 2 && labels[want_len - 1] == 2);
    HY_EXPECT(hy_store_get_info(s)->stats.supervised == r1.stats.supervised);
    hy_store_close(s);
    return 0;
}

HY_TEST(prepare_on_error_fail_reports_first_bad_line) {
    char dir[512], in[700], out[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    char *text = sft_lines(2000, 700); /* bad lines 700, 1400 */
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "bad.jsonl.zst", text) == 0);
    free(text);
    snprintf(out, sizeof out, "%s/s.hystore", dir);
    hy_encoder enc = syn_encoder();
    const char *files[1] = {in};
    hy_prepare_opts o = quiet_opts(3);
    char want[900];
    snprintf(want, sizeof want, "%s:700: \"messages\"[0].role: expected one of system, user, assistant, tool; got \"robot\"", in);
    HY_EXPECT_ERR(hy_prepare(files, 1, out, &enc, &o, NULL), want);
    HY_EXPECT(access(out, F_OK) != 0); /* nothing published */
    return 0;
}

HY_TEST(prepare_on_error_skip_counts) {
    char dir[512], in[700], out[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    char *text = sft_lines(2000, 300); /* 6 bad lines: 300, 600, ..., 1800 */
    size_t l = strlen(text);
    text = realloc(text, l + 400);
    strcpy(text + l, "{\"messages\": [\n{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n\xff\n");
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "bad.jsonl", text) == 0);
    free(text);
    snprintf(out, sizeof out, "%s/s.hystore", dir);
    hy_encoder enc = syn_encoder();
    const char *files[1] = {in};
    hy_prepare_opts o = quiet_opts(2);
    o.data.on_error = HY_BAD_RECORD_SKIP;
    hy_prepare_report r;
    HY_EXPECT_OK(hy_prepare(files, 1, out, &enc, &o, &r));
    HY_EXPECT_MSG(r.stats.records == 2003 && r.stats.skipped == 9 && r.stats.samples == 1994 && r.skipped.n == 9, "records %lld skipped %lld samples %lld",
                  (long long)r.stats.records, (long long)r.stats.skipped, (long long)r.stats.samples);
    HY_EXPECT(r.skipped.n_kept == HY_ERRLOG_KEEP && strstr(r.skipped.first[0], ":300: \"messages\"[0].role"));
    HY_EXPECT(strstr(r.skipped.first[4], ":1500: "));
    hy_store *s;
    HY_EXPECT_OK(hy_store_open(&s, out));
    HY_EXPECT(hy_store_get_info(s)->stats.skipped == 9 && hy_store_get_info(s)->n_skip_reasons == HY_ERRLOG_KEEP);
    hy_store_close(s);
    /* the three trailing lines: bad JSON, a preference record in an SFT dataset, non-UTF-8 */
    o.data.on_error = HY_BAD_RECORD_FAIL;
    o.data.kind = HY_KIND_SFT;
    char want[900];
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "bad2.jsonl", "{\"messages\": [\n") == 0);
    snprintf(want, sizeof want, "%s:1: expected a JSON object, got invalid JSON", in);
    HY_EXPECT_ERR(hy_prepare(files, 1, out, &enc, &o, NULL), want);
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "bad3.jsonl", "\n{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n") == 0);
    snprintf(want, sizeof want, "%s:2: expected an SFT record (this dataset holds SFT records), got a preference record", in);
    HY_EXPECT_ERR(hy_prepare(files, 1, out, &enc, &o, NULL), want);
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "bad4.jsonl", "{\"prompt\": \"\xc3\x28\", \"completion\": \"b\"}\n") == 0);
    snprintf(want, sizeof want, "%s:1: byte 13: expected UTF-8 text, got the invalid byte 0xc3", in);
    HY_EXPECT_ERR(hy_prepare(files, 1, out, &enc, &o, NULL), want);
    return 0;
}

HY_TEST(prepare_kind_fixed_by_first_record) {
    char dir[512], in[700], out[700], want[900];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "mixed.jsonl",
                          "{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}\n{\"prompt\": \"q\", \"completion\": \"a\"}\n") == 0);
    snprintf(out, sizeof out, "%s/s.hystore", dir);
    hy_encoder enc = syn_encoder();
    const char *files[1] = {in};
    hy_prepare_opts o = quiet_opts(2);
    snprintf(want, sizeof want, "%s:2: expected a preference record (this dataset's first record is one), got an SFT record", in);
    HY_EXPECT_ERR(hy_prepare(files, 1, out, &enc, &o, NULL), want);
    return 0;
}

/* Lengths: q + reply of n bytes = 1 + 1 + 1 + 1 + n + 1 + 1 tokens. */
HY_TEST(prepare_length_policy) {
    char dir[512], in[700], out[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "len.jsonl",
                          "{\"prompt\": \"q\", \"completion\": \"0123456789\"}\n"        /* 16 tokens */
                          "{\"prompt\": \"q\", \"completion\": \"01234567890123\"}\n"    /* 20 tokens */
                          "{\"prompt\": \"a long question\", \"completion\": \"x\"}\n") == 0); /* 21 tokens, supervised from 18 */
    snprintf(out, sizeof out, "%s/s.hystore", dir);
    hy_encoder enc = syn_encoder();
    const char *files[1] = {in};
    hy_prepare_opts o = quiet_opts(2);
    o.data.max_len = 18;
    hy_prepare_report r;
    HY_EXPECT_OK(hy_prepare(files, 1, out, &enc, &o, &r));
    HY_EXPECT(r.stats.samples == 1 && r.stats.dropped_long == 2 && r.stats.truncated == 0);
    o.data.over_length = HY_OVER_TRUNCATE;
    HY_EXPECT_OK(hy_prepare(files, 1, out, &enc, &o, &r));
    HY_EXPECT_MSG(r.stats.samples == 2 && r.stats.truncated == 1 && r.stats.dropped_empty == 1, "samples %lld truncated %lld empty %lld",
                  (long long)r.stats.samples, (long long)r.stats.truncated, (long long)r.stats.dropped_empty);
    hy_store *s;
    HY_EXPECT_OK(hy_store_open(&s, out));
    HY_EXPECT(hy_store_entries(s)[1].len[0] == 18 && hy_store_get_info(s)->max_len == 18);
    hy_store_close(s);
    return 0;
}

/* A pair: supervised only on the reply; prompt_len = tokens before it; a
 * prompt reaching max_len drops the pair (never cut). */
HY_TEST(prepare_pairs_reply_only_and_prompt_never_cut) {
    char dir[512], in[700], out[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "pairs.jsonl",
                          "{\"prompt\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"bb\"}, "
                          "{\"role\": \"user\", \"content\": \"c\"}], \"chosen\": \"good\", \"rejected\": \"no\"}\n"
                          "{\"prompt\": \"a question that is long\", \"chosen\": \"x\", \"rejected\": \"yy\"}\n") == 0);
    snprintf(out, sizeof out, "%s/p.hystore", dir);
    hy_encoder enc = syn_encoder();
    const char *files[1] = {in};
    hy_prepare_opts o = quiet_opts(2);
    o.data.train_on = HY_TRAIN_EVERYTHING; /* ignored for pairs */
    hy_prepare_report r;
    HY_EXPECT_OK(hy_prepare(files, 1, out, &enc, &o, &r));
    HY_EXPECT(r.kind == HY_REC_PREF && r.stats.samples == 2);
    hy_store *s;
    HY_EXPECT_OK(hy_store_open(&s, out));
    const hy_store_entry *e = &hy_store_entries(s)[0];
    /* U a 13 | A b b 13 | U c 13 | A g o o d 13 EOS → prompt 11 tokens (with the reply's header), chosen 17, rejected 15 */
    HY_EXPECT_MSG(e->prompt_len == 11 && e->len[0] == 17 && e->len[1] == 15 && e->sup[0] == 6 && e->sup[1] == 4, "prompt %u len %u/%u sup %u/%u",
                  e->prompt_len, e->len[0], e->len[1], e->sup[0], e->sup[1]);
    int32_t ids[32], labels[32];
    HY_EXPECT_OK(hy_store_read(s, 0, 1, ids, labels));
    for (int t = 0; t < 15; t++) HY_EXPECT_MSG((labels[t] != -100) == (t >= 11), "rejected token %d label %d", t, labels[t]);
    hy_store_close(s);
    o.data.max_len = 27; /* pair 2: prompt 26 tokens (with the reply header): room for one reply token: truncated */
    o.data.over_length = HY_OVER_TRUNCATE;
    HY_EXPECT_OK(hy_prepare(files, 1, out, &enc, &o, &r));
    HY_EXPECT(r.stats.samples == 2 && r.stats.truncated == 1 && r.stats.dropped_prompt == 0);
    o.data.max_len = 26; /* the prompt alone reaches max_len: dropped, not cut */
    HY_EXPECT_OK(hy_prepare(files, 1, out, &enc, &o, &r));
    HY_EXPECT_MSG(r.stats.samples == 1 && r.stats.dropped_prompt == 1 && r.stats.truncated == 0, "samples %lld prompt-dropped %lld",
                  (long long)r.stats.samples, (long long)r.stats.dropped_prompt);
    return 0;
}

HY_TEST(prepare_ensure_reuses_fresh_and_rebuilds_stale) {
    char dir[512], in[700], out[700], cmd[2000];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    char *text = sft_lines(100, 0);
    HY_EXPECT(write_jsonl(in, sizeof in, dir, "d.jsonl", text) == 0);
    free(text);
    snprintf(out, sizeof out, "%s/s.hystore", dir);
    hy_encoder enc = syn_encoder();
    const char *files[1] = {in};
    hy_prepare_opts o = quiet_opts(2);
    hy_prepare_report r;
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT(r.rebuilt && strstr(r.why, "no token store yet") && r.stats.samples == 100);
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT(!r.rebuilt && r.stats.samples == 100);
    snprintf(cmd, sizeof cmd, "echo '{\"prompt\": \"new\", \"completion\": \"line\"}' >> '%s'", in);
    HY_EXPECT(hy_test_run(cmd, NULL) == 0);
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT_MSG(r.rebuilt && strstr(r.why, "source data changed") && r.stats.samples == 101, "why: %s", r.why);
    o.data.max_len = 64;
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT_MSG(r.rebuilt && strstr(r.why, "made with max_len 4096, want 64"), "why: %s", r.why);
    enc.tok_hash++;
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT_MSG(r.rebuilt && strstr(r.why, "tokenizer changed"), "why: %s", r.why);
    enc.tmpl_hash++;
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT_MSG(r.rebuilt && strstr(r.why, "chat template changed"), "why: %s", r.why);
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT(!r.rebuilt);
    snprintf(cmd, sizeof cmd, "truncate -s 100 '%s'", out); /* a corrupt store is rebuilt too */
    HY_EXPECT(hy_test_run(cmd, NULL) == 0);
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT_MSG(r.rebuilt && strstr(r.why, "corrupt"), "why: %s", r.why);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }

/* Several files: samples in file order, each knowing its source and line;
 * chunks never span two files. */
HY_TEST(prepare_several_files_keep_order_and_sources) {
    char dir[512], a[700], b[700], c[700], out[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    char *ta = sft_lines(300, 0), *tb = sft_lines(1, 0), *tc = sft_lines(700, 0);
    HY_EXPECT(write_jsonl(a, sizeof a, dir, "a.jsonl.zst", ta) == 0);
    HY_EXPECT(write_jsonl(b, sizeof b, dir, "b.jsonl", tb) == 0);
    HY_EXPECT(write_jsonl(c, sizeof c, dir, "c.jsonl.zst", tc) == 0);
    free(ta);
    free(tb);
    free(tc);
    snprintf(out, sizeof out, "%s/abc.hystore", dir);
    hy_encoder enc = syn_encoder();
    const char *files[3] = {a, b, c};
    hy_prepare_opts o = quiet_opts(3);
    hy_prepare_report r;
    HY_EXPECT_OK(hy_prepare(files, 3, out, &enc, &o, &r));
    HY_EXPECT(r.stats.samples == 1001 && r.stats.records == 1001);
    hy_store *s;
    HY_EXPECT_OK(hy_store_open(&s, out));
    const hy_store_info *in = hy_store_get_info(s);
    HY_EXPECT(in->n_sources == 3 && !strcmp(in->source_paths[1], b));
    for (int64_t i = 0; i < 1001; i++) {
        const hy_store_entry *e = &hy_store_entries(s)[i];
        uint32_t want_src = i < 300 ? 0 : i < 301 ? 1 : 2;
        uint64_t want_line = (uint64_t)(i < 300 ? i + 1 : i < 301 ? 1 : i - 300);
        HY_EXPECT_MSG(e->source == want_src && e->line == want_line, "sample %lld: source %u line %llu", (long long)i, e->source,
                      (unsigned long long)e->line);
    }
    hy_store_close(s);
    return 0;
}

/* ---------------- real tokenizer and template ---------------- */

static int real_encoder(hy_tokenizer **tok, hy_chat_template **t, hy_encoder *enc) {
    if (hy_tok_load(tok, HY_SHARED_DIR "/hymba-1.5b") || hy_chat_template_load(t, HY_SHARED_DIR "/hymba-1.5b")) {
        fprintf(stderr, "  loading the tokenizer/template: %s\n", hy_last_error());
        return 1;
    }
    hy_encoder_chat(enc, *t, *tok);
    return 0;
}

/* Every sample of the store equals hy_chat_encode of its record (SFT) or
 * the reply-only masking of the two sides (preference). */
static int check_against_direct(const char *file, const char *store, hy_chat_template *t, hy_tokenizer *tok) {
    hy_store *s;
    hy_jsonl *r;
    if (hy_store_open(&s, store) || hy_jsonl_open(&r, file)) return 1;
    hy_sample a = {0}, b = {0};
    int32_t *ids = malloc(4 * 65536), *labels = malloc(4 * 65536);
    int bad = 0;
    hy_chat_opts co = {0, 1, HY_TRAIN_ALL_ASSISTANT};
    for (int64_t i = 0; !bad && i < hy_store_get_info(s)->n_samples; i++) {
        const char *line;
        size_t len;
        int64_t no;
        hy_record rec;
        if (hy_jsonl_next(r, &line, &len, &no) || !line || hy_record_parse(&rec, line, len, file, no, HY_KIND_AUTO)) return 1;
        const hy_store_entry *e = &hy_store_entries(s)[i];
        bad |= hy_chat_encode(t, tok, &rec.chat, &co, &a) != HY_OK || e->line != (uint64_t)no;
        if (rec.kind == HY_REC_PREF) {
            bad |= hy_chat_encode(t, tok, &rec.rejected, &co, &b) != HY_OK;
            int turns = 0;
            for (int k = 0; k < rec.n_prompt; k++) turns += rec.chat.msgs[k].role == HY_ROLE_ASSISTANT;
            for (int side = 0; side < 2 && !bad; side++) { /* clear the prompt's supervised runs */
                hy_sample *x = side ? &b : &a;
                int runs = 0;
                for (size_t k = 0; k < x->n && runs < turns; k++)
                    if (x->labels[k] != -100 && (k + 1 == x->n || x->labels[k + 1] == -100)) runs++, x->labels[k] = -100;
                    else if (x->labels[k] != -100) x->labels[k] = -100;
            }
        }
        for (int side = 0; side <= (int)rec.kind && !bad; side++) {
            hy_sample *x = side ? &b : &a;
            bad |= e->len[side] != x->n || hy_store_read(s, i, side, ids, labels) != HY_OK || memcmp(ids, x->ids, 4 * x->n) ||
                   memcmp(labels, x->labels, 4 * x->n);
        }
        if (bad) fprintf(stderr, "  %s line %lld: the store differs from hy_chat_encode\n", file, (long long)no);
        hy_record_free(&rec);
    }
    free(ids);
    free(labels);
    hy_sample_free(&a);
    hy_sample_free(&b);
    hy_jsonl_close(r);
    hy_store_close(s);
    return bad;
}

HY_TEST(prepare_shared_sft_file_end_to_end) {
    char dir[512], out[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    snprintf(out, sizeof out, "%s/mt.hystore", dir);
    hy_tokenizer *tok;
    hy_chat_template *t;
    hy_encoder enc;
    HY_EXPECT(real_encoder(&tok, &t, &enc) == 0);
    const char *files[1] = {HY_SHARED_DIR "/datasets/sft2-mt-bench-reference.train.jsonl.zst"};
    hy_prepare_opts o = quiet_opts(2);
    hy_prepare_report r;
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT(r.rebuilt && r.kind == HY_REC_SFT && r.stats.records == 25 && r.stats.samples == 25 && r.stats.skipped == 0);
    HY_EXPECT(r.stats.supervised > 0 && r.stats.supervised < r.stats.tokens);
    HY_EXPECT(check_against_direct(files[0], out, t, tok) == 0);
    HY_EXPECT_OK(hy_prepare_ensure(files, 1, out, &enc, &o, &r));
    HY_EXPECT(!r.rebuilt);
    hy_chat_template_free(t);
    hy_tok_free(tok);
    return 0;
}

HY_TEST(prepare_shared_preference_file_end_to_end) {
    char dir[512], out[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "prep") == 0);
    snprintf(out, sizeof out, "%s/oasst.hystore", dir);
    hy_tokenizer *tok;
    hy_chat_template *t;
    hy_encoder enc;
    HY_EXPECT(real_encoder(&tok, &t, &enc) == 0);
    const char *files[1] = {HY_SHARED_DIR "/datasets/dpo-oasst.train.jsonl.zst"};
    hy_prepare_opts o = quiet_opts(2);
    o.data.max_len = 0;
    hy_prepare_report r;
    HY_EXPECT_OK(hy_prepare(files, 1, out, &enc, &o, &r));
    HY_EXPECT(r.kind == HY_REC_PREF && r.stats.records == 176 && r.stats.samples == 176);
    HY_EXPECT(check_against_direct(files[0], out, t, tok) == 0);
    hy_store *s;
    HY_EXPECT_OK(hy_store_open(&s, out));
    for (int64_t i = 0; i < 176; i++) { /* both sides share exactly prompt_len tokens before the reply */
        const hy_store_entry *e = &hy_store_entries(s)[i];
        int32_t a[8192], b[8192];
        HY_EXPECT(e->len[0] <= 8192 && e->len[1] <= 8192);
        HY_EXPECT_OK(hy_store_read(s, i, 0, a, NULL));
        HY_EXPECT_OK(hy_store_read(s, i, 1, b, NULL));
        HY_EXPECT_MSG(e->prompt_len > 0 && !memcmp(a, b, 4 * e->prompt_len), "pair %lld", (long long)i);
    }
    hy_store_close(s);
    hy_chat_template_free(t);
    hy_tok_free(tok);
    return 0;
}
