/* test_data.c — dataset reading and validation: the streamed JSONL reader
 * (plain, zstd, multi-frame, truncated, long lines) and record parsing, with
 * one test per malformed-record case checking the exact "file:line: field:
 * expected ..., got ..." message. */
#include "core/alloc.h"
#include "datasets/jsonl.h"
#include "datasets/records.h"
#include "tests/harness.h"

/* ---------------- helpers ---------------- */

static int write_text(const char *dir, const char *name, const char *text, char *path, size_t n) {
    snprintf(path, n, "%s/%s", dir, name);
    return hy_test_write_file(path, text, strlen(text));
}

/* zstd-compress `path` into `path`.zst with the zstd tool (test side only). */
static int zstd_file(const char *path, char *out, size_t n, const char *extra) {
    char cmd[2048];
    snprintf(out, n, "%s.zst", path);
    snprintf(cmd, sizeof cmd, "zstd -q -f %s '%s' -o '%s'", extra ? extra : "", path, out);
    return hy_test_run(cmd, NULL);
}

/* Parse one record line; returns the status, message in hy_last_error(). */
static hy_status parse1(const char *line, hy_kind kind) {
    hy_record r;
    hy_error_clear();
    hy_status st = hy_record_parse(&r, line, strlen(line), "data/sft.jsonl.zst", 1832, kind);
    hy_record_free(&r);
    return st;
}

#define EXPECT_RECORD_ERROR(line, kind, want)                                                               \
    do {                                                                                                    \
        hy_status s_ = parse1((line), (kind));                                                              \
        HY_EXPECT_MSG(s_ == HY_ERR_DATA && !strcmp(hy_last_error(), (want)), "\n    got:  %s\n    want: %s", \
                      hy_last_error(), (want));                                                             \
    } while (0)

/* ---------------- JSONL reader ---------------- */

HY_TEST(jsonl_plain_lines_and_numbers) {
    char dir[512], path[600];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "jsonl") == 0);
    HY_EXPECT(write_text(dir, "a.jsonl", "{\"a\":1}\r\n\n   \n{\"b\":2}\n{\"c\":3}", path, sizeof path) == 0);
    hy_jsonl *r;
    HY_EXPECT_OK(hy_jsonl_open(&r, path));
    const char *line;
    size_t len;
    int64_t no;
    const char *want[] = {"{\"a\":1}", "{\"b\":2}", "{\"c\":3}"};
    const int64_t want_no[] = {1, 4, 5};
    for (int i = 0; i < 3; i++) {
        HY_EXPECT_OK(hy_jsonl_next(r, &line, &len, &no));
        HY_EXPECT_MSG(line && len == strlen(want[i]) && !strcmp(line, want[i]) && no == want_no[i], "line %d: got '%s' at %lld", i,
                      line ? line : "(eof)", (long long)no);
    }
    HY_EXPECT_OK(hy_jsonl_next(r, &line, &len, &no));
    HY_EXPECT(line == NULL);
    HY_EXPECT(!hy_jsonl_is_zstd(r));
    hy_jsonl_close(r);
    return 0;
}

/* Many lines, some longer than the reader's 128 KiB buffer, through zstd and
 * plain: identical content and numbering. */
HY_TEST(jsonl_zstd_long_lines_match_plain) {
    char dir[512], path[600], zpath[700];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "jsonl") == 0);
    size_t cap = 8u << 20, n = 0;
    char *text = malloc(cap);
    HY_EXPECT(text);
    for (int i = 0; i < 3000; i++) {
        int reps = (i % 500 == 7) ? 40000 : (i % 13); /* a few lines of ~400 KB */
        n += (size_t)snprintf(text + n, cap - n, "{\"i\": %d, \"s\": \"", i);
        for (int k = 0; k < reps; k++) n += (size_t)snprintf(text + n, cap - n, "0123456789");
        n += (size_t)snprintf(text + n, cap - n, "\"}\n");
    }
    snprintf(path, sizeof path, "%s/long.jsonl", dir);
    HY_EXPECT(hy_test_write_file(path, text, n) == 0);
    HY_EXPECT(zstd_file(path, zpath, sizeof zpath, NULL) == 0);
    hy_jsonl *a, *b;
    HY_EXPECT_OK(hy_jsonl_open(&a, path));
    HY_EXPECT_OK(hy_jsonl_open(&b, zpath));
    HY_EXPECT(hy_jsonl_is_zstd(b));
    size_t off = 0;
    for (int i = 0;; i++) {
        const char *la, *lb;
        size_t na, nb;
        int64_t ia, ib;
        HY_EXPECT_OK(hy_jsonl_next(a, &la, &na, &ia));
        HY_EXPECT_OK(hy_jsonl_next(b, &lb, &nb, &ib));
        if (!la) {
            HY_EXPECT(!lb && i == 3000);
            break;
        }
        const char *nl = memchr(text + off, '\n', n - off);
        size_t want = (size_t)(nl - (text + off));
        HY_EXPECT_MSG(lb && na == want && nb == want && !memcmp(la, text + off, want) && !memcmp(lb, text + off, want) && ia == i + 1 && ib == i + 1,
                      "line %d differs (lengths %zu %zu, want %zu)", i + 1, na, lb ? nb : 0, want);
        off += want + 1;
    }
    HY_EXPECT(hy_jsonl_bytes_out(b) == n);
    hy_jsonl_close(a);
    hy_jsonl_close(b);
    free(text);
    return 0;
}

HY_TEST(jsonl_zstd_multiple_frames) {
    char dir[512], p1[600], p2[600], z1[700], z2[700], cat[800], cmd[3000];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "jsonl") == 0);
    HY_EXPECT(write_text(dir, "1.jsonl", "{\"a\":1}\n{\"a\":2}\n", p1, sizeof p1) == 0);
    HY_EXPECT(write_text(dir, "2.jsonl", "{\"a\":3}\n", p2, sizeof p2) == 0);
    HY_EXPECT(zstd_file(p1, z1, sizeof z1, NULL) == 0 && zstd_file(p2, z2, sizeof z2, NULL) == 0);
    snprintf(cat, sizeof cat, "%s/cat.jsonl.zst", dir);
    snprintf(cmd, sizeof cmd, "cat '%s' '%s' > '%s'", z1, z2, cat);
    HY_EXPECT(hy_test_run(cmd, NULL) == 0);
    hy_jsonl *r;
    HY_EXPECT_OK(hy_jsonl_open(&r, cat));
    const char *line;
    size_t len;
    int64_t no;
    int count = 0;
    for (;;) {
        HY_EXPECT_OK(hy_jsonl_next(r, &line, &len, &no));
        if (!line) break;
        count++;
        HY_EXPECT(no == count && line[5] == '0' + count);
    }
    HY_EXPECT(count == 3);
    hy_jsonl_close(r);
    return 0;
}

HY_TEST(jsonl_truncated_zstd_stream) {
    char dir[512], path[600], zpath[700], cut[800], cmd[3000];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "jsonl") == 0);
    snprintf(path, sizeof path, "%s/t.jsonl", dir);
    FILE *f = fopen(path, "w");
    HY_EXPECT(f);
    for (int i = 0; i < 20000; i++) fprintf(f, "{\"messages\": [{\"role\": \"user\", \"content\": \"question %d %d\"}]}\n", i, i * 7919 % 10007);
    fclose(f);
    HY_EXPECT(zstd_file(path, zpath, sizeof zpath, NULL) == 0);
    snprintf(cut, sizeof cut, "%s/cut.jsonl.zst", dir);
    snprintf(cmd, sizeof cmd, "head -c 30000 '%s' > '%s'", zpath, cut);
    HY_EXPECT(hy_test_run(cmd, NULL) == 0);
    hy_jsonl *r;
    HY_EXPECT_OK(hy_jsonl_open(&r, cut));
    const char *line;
    size_t len;
    int64_t no = 0, last = 0;
    hy_status st;
    hy_error_clear();
    while ((st = hy_jsonl_next(r, &line, &len, &no)) == HY_OK && line) last = no;
    hy_jsonl_close(r);
    char want[1024];
    snprintf(want, sizeof want, "%s:%lld: truncated zstd stream", cut, (long long)last + 1);
    HY_EXPECT_MSG(st == HY_ERR_FORMAT && strstr(hy_last_error(), want), "got %s: %s (want ... %s)", hy_status_name(st), hy_last_error(), want);
    HY_EXPECT(last > 100 && last < 20000);
    return 0;
}

HY_TEST(jsonl_zst_name_without_magic) {
    char dir[512], path[600];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "jsonl") == 0);
    HY_EXPECT(write_text(dir, "plain.jsonl.zst", "{\"a\":1}\n", path, sizeof path) == 0);
    hy_jsonl *r;
    HY_EXPECT_ERR(hy_jsonl_open(&r, path), "expected a zstd stream (magic 28 b5 2f fd)");
    HY_EXPECT_ERR(hy_jsonl_open(&r, "/nonexistent/x.jsonl"), "/nonexistent/x.jsonl: cannot open");
    return 0;
}

HY_TEST(utf8_validator) {
    size_t at;
    HY_EXPECT(hy_utf8_valid("a\xc3\xa9\xe2\x96\x81\xf0\x9f\x98\x80", 10, &at));
    HY_EXPECT(!hy_utf8_valid("ab\xff", 3, &at) && at == 2);
    HY_EXPECT(!hy_utf8_valid("a\xc0\xaf", 3, &at) && at == 1);         /* overlong */
    HY_EXPECT(!hy_utf8_valid("a\xed\xa0\x80", 4, &at) && at == 1);     /* surrogate */
    HY_EXPECT(!hy_utf8_valid("abc\xe2\x96", 5, &at) && at == 3);       /* cut */
    HY_EXPECT(!hy_utf8_valid("\xf4\x90\x80\x80", 4, &at) && at == 0);  /* > U+10FFFF */
    return 0;
}

/* ---------------- records: valid forms ---------------- */

static int msg_is(const hy_chat_msg *m, hy_role role, const char *text) {
    return m->role == role && m->len == strlen(text) && !memcmp(m->content, text, m->len);
}

HY_TEST(record_forms_sft) {
    hy_record r;
    const char *a = "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"U\"}, "
                    "{\"role\": \"assistant\", \"content\": \"A\", \"extra\": 1}], \"tools\": [{\"name\": \"f\"}], \"id\": 7}";
    HY_EXPECT_OK(hy_record_parse(&r, a, strlen(a), "f", 1, HY_KIND_AUTO));
    HY_EXPECT(r.kind == HY_REC_SFT && r.chat.n == 3 && r.chat.tools && hy_json_len(r.chat.tools) == 1);
    HY_EXPECT(msg_is(&r.chat.msgs[0], HY_ROLE_SYSTEM, "S") && msg_is(&r.chat.msgs[2], HY_ROLE_ASSISTANT, "A"));
    hy_record_free(&r);
    const char *b = "{\"prompt\": \"Q\", \"completion\": \"A\\u0000B\"}";
    HY_EXPECT_OK(hy_record_parse(&r, b, strlen(b), "f", 1, HY_KIND_SFT));
    HY_EXPECT(r.chat.n == 2 && msg_is(&r.chat.msgs[0], HY_ROLE_USER, "Q") && r.chat.msgs[1].len == 3 && !r.chat.tools);
    hy_record_free(&r);
    const char *c = "{\"prompt\": [{\"role\": \"user\", \"content\": \"Q\"}], \"completion\": [{\"role\": \"assistant\", \"content\": \"call\"}, "
                    "{\"role\": \"tool\", \"content\": \"42\"}, {\"role\": \"assistant\", \"content\": \"done\"}], \"tools\": null}";
    HY_EXPECT_OK(hy_record_parse(&r, c, strlen(c), "f", 1, HY_KIND_AUTO));
    HY_EXPECT(r.chat.n == 4 && msg_is(&r.chat.msgs[2], HY_ROLE_TOOL, "42") && msg_is(&r.chat.msgs[3], HY_ROLE_ASSISTANT, "done"));
    hy_record_free(&r);
    return 0;
}

HY_TEST(record_forms_preference) {
    hy_record r;
    const char *a = "{\"prompt\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \"Q\"}], "
                    "\"chosen\": [{\"role\": \"assistant\", \"content\": \"good\"}], \"rejected\": \"bad\"}";
    HY_EXPECT_OK(hy_record_parse(&r, a, strlen(a), "f", 1, HY_KIND_PREF));
    HY_EXPECT(r.kind == HY_REC_PREF && r.n_prompt == 2 && r.chat.n == 3 && r.rejected.n == 3);
    HY_EXPECT(msg_is(&r.chat.msgs[1], HY_ROLE_USER, "Q") && msg_is(&r.rejected.msgs[1], HY_ROLE_USER, "Q"));
    HY_EXPECT(msg_is(&r.chat.msgs[2], HY_ROLE_ASSISTANT, "good") && msg_is(&r.rejected.msgs[2], HY_ROLE_ASSISTANT, "bad"));
    hy_record_free(&r);
    const char *b = "{\"prompt\": \"Q\", \"chosen\": \"x\", \"rejected\": \"y\"}";
    HY_EXPECT_OK(hy_record_parse(&r, b, strlen(b), "f", 1, HY_KIND_AUTO));
    HY_EXPECT(r.n_prompt == 1 && r.chat.n == 2 && msg_is(&r.chat.msgs[0], HY_ROLE_USER, "Q"));
    hy_record_free(&r);
    /* implicit prompt: shared multi-turn prefix, the replies differ */
    const char *c = "{\"chosen\": [{\"role\": \"user\", \"content\": \"Q1\"}, {\"role\": \"assistant\", \"content\": \"A1\"}, "
                    "{\"role\": \"user\", \"content\": \"Q2\"}, {\"role\": \"assistant\", \"content\": \"good\"}], "
                    "\"rejected\": [{\"role\": \"user\", \"content\": \"Q1\"}, {\"role\": \"assistant\", \"content\": \"A1\"}, "
                    "{\"role\": \"user\", \"content\": \"Q2\"}, {\"role\": \"assistant\", \"content\": \"bad\"}, {\"role\": \"user\", \"content\": \"?\"}, "
                    "{\"role\": \"assistant\", \"content\": \"more\"}]}";
    HY_EXPECT_OK(hy_record_parse(&r, c, strlen(c), "f", 1, HY_KIND_AUTO));
    HY_EXPECT_MSG(r.n_prompt == 3 && r.chat.n == 4 && r.rejected.n == 6, "n_prompt %d", r.n_prompt);
    hy_record_free(&r);
    /* implicit: the first reply is shared, the sides differ only later → the prompt ends before the last shared assistant turn? no: before the first differing one */
    const char *d = "{\"chosen\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"same start\"}, "
                    "{\"role\": \"user\", \"content\": \"more?\"}], "
                    "\"rejected\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"same start\"}, "
                    "{\"role\": \"user\", \"content\": \"less?\"}, {\"role\": \"assistant\", \"content\": \"x\"}]}";
    HY_EXPECT_OK(hy_record_parse(&r, d, strlen(d), "f", 1, HY_KIND_AUTO));
    HY_EXPECT_MSG(r.n_prompt == 1, "n_prompt %d", r.n_prompt);
    hy_record_free(&r);
    return 0;
}

/* ---------------- records: one test per malformed case ---------------- */

HY_TEST(record_error_bad_json) {
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: expected a JSON object, got invalid JSON at column 47: ']' expected near end of file");
    return 0;
}

HY_TEST(record_error_not_an_object) {
    EXPECT_RECORD_ERROR("[1, 2]", HY_KIND_AUTO, "data/sft.jsonl.zst:1832: expected a JSON object (one record per line), got array");
    return 0;
}

HY_TEST(record_error_unknown_role) {
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"u\"}, "
                        "{\"role\": \"assistant\", \"content\": \"a\"}, {\"role\": \"bot\", \"content\": \"b\"}]}",
                        HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[3].role: expected one of system, user, assistant, tool; got \"bot\"");
    return 0;
}

HY_TEST(record_error_wrong_type_content) {
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": 5}, {\"role\": \"assistant\", \"content\": \"a\"}]}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[0].content: expected a string, got integer");
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"text\"}]}]}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[0].content: expected a string, got array; hint: lists of content parts are not "
                        "supported");
    return 0;
}

HY_TEST(record_error_wrong_type_messages) {
    EXPECT_RECORD_ERROR("{\"messages\": \"hello\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\": expected a non-empty list of messages, got \"hello\"");
    EXPECT_RECORD_ERROR("{\"messages\": [\"hello\"]}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[0]: expected a message object {\"role\": ..., \"content\": ...}, got \"hello\"");
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[0].role: expected one of system, user, assistant, tool; got integer");
    return 0;
}

HY_TEST(record_error_wrong_type_tools) {
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": \"u\"}, {\"role\": \"assistant\", \"content\": \"a\"}], \"tools\": {}}",
                        HY_KIND_AUTO, "data/sft.jsonl.zst:1832: \"tools\": expected a list of tool definitions (objects), got object");
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": \"u\"}, {\"role\": \"assistant\", \"content\": \"a\"}], \"tools\": [{}, 3]}",
                        HY_KIND_AUTO, "data/sft.jsonl.zst:1832: \"tools\"[1]: expected a tool definition (object), got integer");
    return 0;
}

HY_TEST(record_error_empty_messages) {
    EXPECT_RECORD_ERROR("{\"messages\": []}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\": expected a non-empty list of messages, got an empty list");
    return 0;
}

HY_TEST(record_error_missing_fields) {
    EXPECT_RECORD_ERROR("{\"messages\": [{\"content\": \"x\"}]}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[0].role: expected one of system, user, assistant, tool; got missing field");
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\"}]}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[0].content: expected a string, got missing field");
    EXPECT_RECORD_ERROR("{\"prompt\": \"q\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"completion\": expected a string or a list of messages, got missing field (a \"prompt\" needs a "
                        "\"completion\", or \"chosen\" and \"rejected\")");
    EXPECT_RECORD_ERROR("{\"prompt\": \"q\", \"chosen\": \"a\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"rejected\": expected a string or a non-empty list of messages, got missing field");
    EXPECT_RECORD_ERROR("{\"text\": \"q\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: expected a record with \"messages\", \"prompt\"+\"completion\" or \"chosen\"+\"rejected\", got an "
                        "object with none of these keys");
    return 0;
}

HY_TEST(record_error_non_utf8) {
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": \"caf\xe9\"}]}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: byte 47: expected UTF-8 text, got the invalid byte 0xe9; hint: re-encode the file as UTF-8");
    return 0;
}

HY_TEST(record_error_role_order) {
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": \"u\"}, {\"role\": \"system\", \"content\": \"s\"}, "
                        "{\"role\": \"assistant\", \"content\": \"a\"}]}",
                        HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[1].role: expected system messages only before the first other message, got "
                        "\"system\" after a user message; hint: the template moves every system message to the top");
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": \"u\"}, {\"role\": \"tool\", \"content\": \"t\"}, "
                        "{\"role\": \"assistant\", \"content\": \"a\"}]}",
                        HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\"[1].role: expected a tool message only after an assistant (tool call) or tool "
                        "message, got \"tool\" after a user");
    return 0;
}

HY_TEST(record_error_nothing_to_learn) {
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"system\", \"content\": \"s\"}, {\"role\": \"user\", \"content\": \"u\"}]}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"messages\": expected at least one assistant message (nothing to learn from), got none");
    return 0;
}

HY_TEST(record_error_preference_shape) {
    EXPECT_RECORD_ERROR("{\"prompt\": \"q\", \"chosen\": \"same\", \"rejected\": \"same\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"rejected\": expected a reply different from \"chosen\", got an identical one");
    EXPECT_RECORD_ERROR("{\"prompt\": \"q\", \"chosen\": [{\"role\": \"user\", \"content\": \"x\"}], \"rejected\": \"y\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"chosen\"[0].role: expected \"assistant\" (a preference side starts with the assistant's "
                        "reply), got \"user\"");
    EXPECT_RECORD_ERROR("{\"chosen\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"x\"}], "
                        "\"rejected\": [{\"role\": \"user\", \"content\": \"b\"}, {\"role\": \"assistant\", \"content\": \"y\"}]}",
                        HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"chosen\"/\"rejected\": expected conversations sharing a prompt and then each going on with an "
                        "assistant message (implicit prompt form), got no such shared prefix; hint: give the prompt as \"prompt\"");
    EXPECT_RECORD_ERROR("{\"chosen\": \"a\", \"rejected\": \"b\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: \"chosen\": expected a non-empty list of messages, got \"a\"");
    return 0;
}

HY_TEST(record_error_kind_mismatch) {
    EXPECT_RECORD_ERROR("{\"prompt\": \"q\", \"chosen\": \"a\", \"rejected\": \"b\"}", HY_KIND_SFT,
                        "data/sft.jsonl.zst:1832: expected an SFT record (this dataset holds SFT records), got a preference record");
    EXPECT_RECORD_ERROR("{\"messages\": [{\"role\": \"user\", \"content\": \"u\"}], \"chosen\": \"a\"}", HY_KIND_AUTO,
                        "data/sft.jsonl.zst:1832: expected either an SFT record (\"messages\" or \"completion\") or a preference record "
                        "(\"chosen\", \"rejected\"), got keys of both");
    return 0;
}

HY_TEST(errlog_keeps_first_reasons) {
    hy_errlog a = {0}, b = {0};
    for (int i = 0; i < 3; i++) hy_errlog_add(&a, "a");
    for (int i = 0; i < 4; i++) hy_errlog_add(&b, "b");
    hy_errlog_merge(&a, &b);
    HY_EXPECT(a.n == 7 && a.n_kept == HY_ERRLOG_KEEP && !strcmp(a.first[2], "a") && !strcmp(a.first[3], "b"));
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
