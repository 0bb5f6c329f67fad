/* test_chat.c — the chat template renderer and the SFT loss mask (spec
 * §13.2–13.5) on the spec's worked examples (strings and ids quoted from the
 * spec) and on a hard conversation whose expected rendering and ids were
 * produced by jinja2 with transformers' settings + SentencePiece (the
 * procedure of tests/tokenizer_ref.py): several system messages (one in the
 * middle), two tools with floats, escapes and non-ASCII, a tool message,
 * Unicode whitespace to strip, U+200B (not whitespace for Python), a literal
 * "</s>" in user text.  test_tokenizer_ref repeats the comparison on every
 * conversation of ../shared/datasets. */
#include "core/json.h"
#include "datasets/chat.h"
#include "datasets/tokenizer.h"
#include "harness.h"

#define MODEL_DIR HY_SHARED_DIR "/hymba-1.5b"

/* ---- spec §13.3 worked example 1 */
static const char k_ex1_rendered[] =
    "<extra_id_0>System\nYou are a helpful assistant.\n\n<extra_id_1>User\nWhat is 2+2?\n<extra_id_1>Assistant\n2+2 equals 4.\n";
static const char k_ex1_ids[] =
    "529 17833 29918 333 29918 29900 29958 3924 13 3492 526 263 8444 20255 29889 13 13 "
    "29966 17833 29918 333 29918 29896 29958 2659 13 5618 338 29871 29906 29974 29906 29973 13 "
    "29966 17833 29918 333 29918 29896 29958 7900 22137 13 "
    "29906 29974 29906 15743 29871 29946 29889 13";

/* ---- spec §13.4 worked example 2 */
static const char k_ex2_tools[] =
    "[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the current weather\", "
    "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}]";
static const char k_ex2_rendered[] =
    "<extra_id_0>System\nYou are a helpful assistant.\n\n"
    "<tool> {\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Get the current weather\", "
    "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}} </tool>\n\n"
    "<extra_id_1>User\nWhat's the weather in Paris?\n"
    "<extra_id_1>Assistant\n<toolcall> {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} </toolcall>\n"
    "<extra_id_1>Tool\n{\"temperature_c\": 18, \"condition\": \"cloudy\"}\n"
    "<extra_id_1>Assistant\nIt is 18 \xC2\xB0" "C and cloudy in Paris.\n";
static const char k_ex2_span1[] = "29966 10154 4804 29958 8853 978 1115 376 657 29918 705 1624 613 376 25699 1115 "
                                  "8853 12690 1115 376 2177 275 29908 930 1533 10154 4804 29958 13";
static const char k_ex2_span2[] = "3112 338 29871 29896 29947 6719 29907 322 9570 29891 297 3681 29889 13";

/* ---- the hard conversation (generated, see the file header) */
static const char k_multi_tools[] =
    "[{\"name\": \"get_weather\", \"description\": \"M\xC3\xA9t\xC3\xA9o \xE2\x80\x94 current weather\", \"parameters\": "
    "{\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", \"default\": \"Paris\"}, \"days\": "
    "{\"type\": \"integer\", \"minimum\": 1, \"maximum\": 7}, \"threshold\": {\"type\": \"number\", \"default\": 0.1, "
    "\"examples\": [1.0, 1e-05, 2.5e16, -0.0, 100]}, \"flags\": {\"type\": \"array\", \"items\": {}}, \"strict\": true, "
    "\"note\": null, \"esc\": \"tab\\tquote\\\"back\\\\slash\\u0001\\u007f\"}, \"required\": [\"city\"]}}, "
    "{\"name\": \"noop\", \"description\": \"\", \"parameters\": {}}]";
static const hy_chat_msg k_multi_msgs[] = {
    {HY_ROLE_SYSTEM, "  First system.\n", 16},
    {HY_ROLE_USER, "\xE3\x80\x80Weather in Paris?\xC2\xA0", 22},
    {HY_ROLE_ASSISTANT, "<toolcall> {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} </toolcall>", 78},
    {HY_ROLE_TOOL, "{\"temp\": 18}\n\n", 14},
    {HY_ROLE_SYSTEM, "Second system, mid-list.", 24},
    {HY_ROLE_ASSISTANT, "\xE2\x80\xA8It is 18 \xC2\xB0" "C.\x1C", 17},
    {HY_ROLE_USER, "Thanks! </s> bye", 16},
    {HY_ROLE_ASSISTANT, "\xE2\x80\x8BYou're welcome.\t", 19},
};
/* token spans of its three assistant messages, from prefix tokenization */
static const size_t k_multi_spans[3][2] = {{255, 284}, {311, 320}, {347, 354}};
static const size_t k_multi_gen_prompt_len = 347; /* all but the last message, with the generation prompt */
static const char k_multi_rendered[] =
    "<extra_id_0>System\n"
    "First system.\n"
    "\n"
    "Second system, mid-list.\n"
    "\n"
    "<tool> {\"name\": \"get_weather\", \"description\": \"M\xC3\xA9t\xC3\xA9o \xE2\x80\x94 current weather\", "
    "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
    "\"default\": \"Paris\"}, \"days\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 7}, "
    "\"threshold\": {\"type\": \"number\", \"default\": 0.1, \"examples\": [1.0, 1e-05, 2.5e+16, -0.0, 100]}, "
    "\"flags\": {\"type\": \"array\", \"items\": {}}, \"strict\": true, \"note\": null, "
    "\"esc\": \"tab\\tquote\\\"back\\\\slash\\u0001\x7F\"}, \"required\": [\"city\"]}} </tool>\n"
    "<tool> {\"name\": \"noop\", \"description\": \"\", \"parameters\": {}} </tool>\n"
    "\n"
    "<extra_id_1>User\n"
    "Weather in Paris?\n"
    "<extra_id_1>Assistant\n"
    "<toolcall> {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} </toolcall>\n"
    "<extra_id_1>Tool\n"
    "{\"temp\": 18}\n"
    "<extra_id_1>Assistant\n"
    "It is 18 \xC2\xB0" "C.\n"
    "<extra_id_1>User\n"
    "Thanks! </s> bye\n"
    "<extra_id_1>Assistant\n"
    "\xE2\x80\x8BYou're welcome.\n";
static const char k_multi_ids[] =
    "529 17833 29918 333 29918 29900 29958 3924 13 6730 1788 29889 13 13 11863 1788 29892 7145 29899 1761 29889 13 "
    "13 29966 10154 29958 8853 978 1115 376 657 29918 705 1624 613 376 8216 1115 376 29924 7342 29877 813 1857 "
    "14826 613 376 16744 1115 8853 1853 1115 376 3318 613 376 11330 1115 8853 12690 1115 8853 1853 1115 376 1807 "
    "613 376 4381 1115 376 2177 275 10758 376 16700 1115 8853 1853 1115 376 16031 613 376 1195 12539 1115 29871 "
    "29896 29892 376 27525 398 1115 29871 29955 1118 376 386 12268 1115 8853 1853 1115 376 4537 613 376 4381 1115 "
    "29871 29900 29889 29896 29892 376 19057 1115 518 29896 29889 29900 29892 29871 29896 29872 29899 29900 29945 "
    "29892 29871 29906 29889 29945 29872 29974 29896 29953 29892 448 29900 29889 29900 29892 29871 29896 29900 "
    "29900 29962 1118 376 15764 1115 8853 1853 1115 376 2378 613 376 7076 1115 426 11656 376 710 919 1115 1565 "
    "29892 376 6812 1115 1870 29892 376 9977 1115 376 3891 29905 29873 1396 5931 1627 1966 17057 29905 29884 29900 "
    "29900 29900 29896 130 10758 376 12403 1115 6796 12690 3108 930 1533 10154 29958 13 29966 10154 29958 8853 978 "
    "1115 376 1217 459 613 376 8216 1115 12633 376 16744 1115 426 930 1533 10154 29958 13 13 29966 17833 29918 333 "
    "29918 29896 29958 2659 13 4806 1624 297 3681 29973 13 29966 17833 29918 333 29918 29896 29958 7900 22137 13 "
    "29966 10154 4804 29958 8853 978 1115 376 657 29918 705 1624 613 376 25699 1115 8853 12690 1115 376 2177 275 "
    "29908 930 1533 10154 4804 29958 13 29966 17833 29918 333 29918 29896 29958 12229 13 6377 7382 1115 29871 "
    "29896 29947 29913 13 29966 17833 29918 333 29918 29896 29958 7900 22137 13 3112 338 29871 29896 29947 6719 "
    "29907 29889 13 29966 17833 29918 333 29918 29896 29958 2659 13 16894 29991 29871 2 29871 491 29872 13 29966 "
    "17833 29918 333 29918 29896 29958 7900 22137 13 30166 3492 29915 276 12853 29889 13";
/* json.dumps(tools[0], ensure_ascii=False) */
static const char k_tool0_json[] =
    "{\"name\": \"get_weather\", \"description\": \"M\xC3\xA9t\xC3\xA9o \xE2\x80\x94 current weather\", "
    "\"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\", "
    "\"default\": \"Paris\"}, \"days\": {\"type\": \"integer\", \"minimum\": 1, \"maximum\": 7}, "
    "\"threshold\": {\"type\": \"number\", \"default\": 0.1, \"examples\": [1.0, 1e-05, 2.5e+16, -0.0, 100]}, "
    "\"flags\": {\"type\": \"array\", \"items\": {}}, \"strict\": true, \"note\": null, "
    "\"esc\": \"tab\\tquote\\\"back\\\\slash\\u0001\x7F\"}, \"required\": [\"city\"]}}";
/* repr(float) */
static const struct { double v; const char *repr; } k_floats[] = {
    {1.0, "1.0"},
    {0.1, "0.1"},
    {1e-05, "1e-05"},
    {2.5e+16, "2.5e+16"},
    {1e+16, "1e+16"},
    {1000000000000000.0, "1000000000000000.0"},
    {1.2345678901234568e+17, "1.2345678901234568e+17"},
    {1.5e-07, "1.5e-07"},
    {-0.0, "-0.0"},
    {100.0, "100.0"},
    {1e+22, "1e+22"},
    {0.0001, "0.0001"},
    {0.001, "0.001"},
    {2.5e-310, "2.5e-310"},
    {5e-324, "5e-324"},
    {1.7976931348623157e+308, "1.7976931348623157e+308"},
    {3.141592653589793, "3.141592653589793"},
    {-2.5, "-2.5"},
    {0.3333333333333333, "0.3333333333333333"},
    {123.456, "123.456"},
    {9007199254740992.0, "9007199254740992.0"},
    {0.30000000000000004, "0.30000000000000004"},
};

static size_t parse_ids(const char *s, int32_t *ids, size_t cap) {
    size_t n = 0;
    char *end;
    for (long v = strtol(s, &end, 10); end != s && n < cap; v = strtol(s, &end, 10)) {
        ids[n++] = (int32_t)v;
        s = end;
    }
    return n;
}

/* 0 when ids[0..n) equal the id list `want`; else print the first difference. */
static int same_ids(const char *label, const int32_t *ids, size_t n, const char *want) {
    int32_t w[1024];
    size_t nw = parse_ids(want, w, 1024), i = 0;
    while (i < n && i < nw && ids[i] == w[i]) i++;
    if (i == n && i == nw) return 0;
    fprintf(stderr, "  %s: first difference at %zu (got %zu ids, want %zu): got %d, want %d\n", label, i, n, nw, i < n ? ids[i] : -1,
            i < nw ? w[i] : -1);
    return 1;
}

/* 0 when text[0..n) equals want; else print where they part. */
static int same_text(const char *label, const char *text, size_t n, const char *want) {
    size_t nw = strlen(want), i = 0;
    while (i < n && i < nw && text[i] == want[i]) i++;
    if (i == n && i == nw) return 0;
    fprintf(stderr, "  %s: differs at byte %zu (got %zu bytes, want %zu)\n    got:  \"%.60s\"\n    want: \"%.60s\"\n", label, i, n, nw,
            text + i, want + i);
    return 1;
}

/* Labels must be ids inside [a_k, b_k) spans and −100 elsewhere. */
static int check_labels(const hy_sample *s, const size_t (*spans)[2], int nspans) {
    for (size_t i = 0; i < s->n; i++) {
        int sup = 0;
        for (int k = 0; k < nspans; k++) sup |= i >= spans[k][0] && i < spans[k][1];
        int32_t want = sup ? s->ids[i] : -100;
        if (s->labels[i] != want) {
            fprintf(stderr, "  label %zu of %zu: got %d, want %d (id %d)\n", i, s->n, s->labels[i], want, s->ids[i]);
            return 1;
        }
    }
    return 0;
}

typedef struct {
    hy_tokenizer *tok;
    hy_chat_template *tpl;
} fixture;

static int setup(fixture *f) {
    if (hy_tok_load(&f->tok, MODEL_DIR) != HY_OK || hy_chat_template_load(&f->tpl, MODEL_DIR) != HY_OK) {
        fprintf(stderr, "  cannot load %s: %s\n", MODEL_DIR, hy_last_error());
        return 1;
    }
    return 0;
}
static void teardown(fixture *f) {
    hy_chat_template_free(f->tpl);
    hy_tok_free(f->tok);
}

#define MSG(role, text) {role, text, sizeof text - 1}

HY_TEST(chat_example1) {
    fixture f;
    HY_EXPECT(setup(&f) == 0);
    hy_chat_msg m[] = {MSG(HY_ROLE_SYSTEM, "You are a helpful assistant."), MSG(HY_ROLE_USER, "What is 2+2?"),
                       MSG(HY_ROLE_ASSISTANT, "2+2 equals 4.")};
    hy_chat c = {m, 3, NULL};
    char *text;
    size_t len, *spans;
    int nsp;
    HY_EXPECT_OK(hy_chat_render(f.tpl, &c, 0, &text, &len, &spans, &nsp));
    HY_EXPECT(same_text("rendered", text, len, k_ex1_rendered) == 0);
    HY_EXPECT(nsp == 1 && spans[1] == len && !memcmp(text + spans[0], "2+2 equals 4.\n", spans[1] - spans[0]));
    free(text);
    free(spans);
    /* 52 ids + EOS; supervised 44..52 */
    hy_sample s = {0};
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, NULL, &s));
    HY_EXPECT(s.n == 53 && same_ids("example 1", s.ids, 52, k_ex1_ids) == 0 && s.ids[52] == 2);
    static const size_t sup[][2] = {{44, 53}};
    HY_EXPECT(check_labels(&s, sup, 1) == 0);
    /* generation prompt of the first two messages = the first 44 tokens */
    hy_tokens p = {0};
    c.n = 2;
    HY_EXPECT_OK(hy_chat_encode_prompt(f.tpl, f.tok, &c, 0, &p));
    HY_EXPECT(p.n == 44 && memcmp(p.ids, s.ids, 44 * sizeof *p.ids) == 0);
    HY_EXPECT_OK(hy_chat_encode_prompt(f.tpl, f.tok, &c, 1, &p));
    HY_EXPECT(p.n == 45 && p.ids[0] == 1 && memcmp(p.ids + 1, s.ids, 44 * sizeof *p.ids) == 0);
    HY_EXPECT_OK(hy_chat_render(f.tpl, &c, 1, &text, &len, NULL, NULL));
    HY_EXPECT(len == strlen(k_ex1_rendered) - 14 && !memcmp(text, k_ex1_rendered, len) && !strcmp(text + len - 10, "Assistant\n"));
    free(text);
    hy_tokens_free(&p);
    hy_sample_free(&s);
    teardown(&f);
    return 0;
}

HY_TEST(chat_example2) {
    fixture f;
    HY_EXPECT(setup(&f) == 0);
    hy_json *tools;
    HY_EXPECT_OK(hy_json_parse(&tools, k_ex2_tools, strlen(k_ex2_tools), "tools"));
    hy_chat_msg m[] = {
        MSG(HY_ROLE_SYSTEM, "You are a helpful assistant."),
        MSG(HY_ROLE_USER, "What's the weather in Paris?"),
        MSG(HY_ROLE_ASSISTANT, "<toolcall> {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} </toolcall>"),
        MSG(HY_ROLE_TOOL, "{\"temperature_c\": 18, \"condition\": \"cloudy\"}"),
        MSG(HY_ROLE_ASSISTANT, "It is 18 \xC2\xB0" "C and cloudy in Paris."),
    };
    hy_chat c = {m, 5, tools};
    char *text;
    size_t len;
    HY_EXPECT_OK(hy_chat_render(f.tpl, &c, 0, &text, &len, NULL, NULL));
    HY_EXPECT(same_text("rendered", text, len, k_ex2_rendered) == 0);
    free(text);
    hy_chat_opts o = hy_chat_opts_default();
    o.add_eos = 0;
    hy_sample s = {0};
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, &o, &s));
    HY_EXPECT_MSG(s.n == 189, "got %zu tokens", s.n);
    HY_EXPECT(same_ids("span [109,138)", s.ids + 109, 29, k_ex2_span1) == 0);
    HY_EXPECT(same_ids("span [175,189)", s.ids + 175, 14, k_ex2_span2) == 0);
    static const size_t sup[][2] = {{109, 138}, {175, 189}}, sup_eos[][2] = {{109, 138}, {175, 190}};
    HY_EXPECT(check_labels(&s, sup, 2) == 0);
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, NULL, &s)); /* default: + EOS */
    HY_EXPECT(s.n == 190 && s.ids[189] == 2 && check_labels(&s, sup_eos, 2) == 0);
    hy_sample_free(&s);
    hy_json_free(tools);
    teardown(&f);
    return 0;
}

HY_TEST(chat_multi) {
    fixture f;
    HY_EXPECT(setup(&f) == 0);
    hy_json *tools;
    HY_EXPECT_OK(hy_json_parse(&tools, k_multi_tools, strlen(k_multi_tools), "tools"));
    hy_chat c = {k_multi_msgs, (int)HY_ARRAY_LEN(k_multi_msgs), tools};
    char *text;
    size_t len, *spans;
    int nsp;
    HY_EXPECT_OK(hy_chat_render(f.tpl, &c, 0, &text, &len, &spans, &nsp));
    HY_EXPECT(same_text("rendered", text, len, k_multi_rendered) == 0);
    HY_EXPECT(nsp == 3 && !memcmp(text + spans[4], "\xE2\x80\x8BYou're welcome.\n", spans[5] - spans[4]));
    free(text);
    free(spans);
    hy_sample s = {0};
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, NULL, &s));
    HY_EXPECT(s.n == 355 && same_ids("ids", s.ids, 354, k_multi_ids) == 0 && s.ids[354] == 2);
    static const size_t sup[][2] = {{255, 284}, {311, 320}, {347, 355}};
    HY_EXPECT(k_multi_spans[2][1] == 354 && check_labels(&s, sup, 3) == 0);
    hy_tokens p = {0};
    c.n--;
    HY_EXPECT_OK(hy_chat_encode_prompt(f.tpl, f.tok, &c, 0, &p));
    HY_EXPECT(p.n == k_multi_gen_prompt_len && !memcmp(p.ids, s.ids, p.n * sizeof *p.ids));
    hy_tokens_free(&p);
    hy_sample_free(&s);
    hy_json_free(tools);
    teardown(&f);
    return 0;
}

/* train_on last / everything, add_bos, add_eos off, no EOS after a user turn. */
HY_TEST(chat_options) {
    fixture f;
    HY_EXPECT(setup(&f) == 0);
    hy_json *tools;
    HY_EXPECT_OK(hy_json_parse(&tools, k_multi_tools, strlen(k_multi_tools), "tools"));
    hy_chat c = {k_multi_msgs, (int)HY_ARRAY_LEN(k_multi_msgs), tools};
    hy_sample s = {0};
    hy_chat_opts o = hy_chat_opts_default();
    o.train_on = HY_TRAIN_LAST_ASSISTANT;
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, &o, &s));
    static const size_t last[][2] = {{347, 355}};
    HY_EXPECT(s.n == 355 && check_labels(&s, last, 1) == 0);
    o.train_on = HY_TRAIN_EVERYTHING;
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, &o, &s));
    static const size_t all[][2] = {{0, 355}};
    HY_EXPECT(s.n == 355 && check_labels(&s, all, 1) == 0);
    o = hy_chat_opts_default();
    o.add_bos = 1;
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, &o, &s));
    static const size_t bos[][2] = {{256, 285}, {312, 321}, {348, 356}};
    HY_EXPECT(s.n == 356 && s.ids[0] == 1 && same_ids("ids after BOS", s.ids + 1, 354, k_multi_ids) == 0);
    HY_EXPECT(check_labels(&s, bos, 3) == 0);
    o = hy_chat_opts_default();
    o.add_eos = 0;
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, &o, &s));
    HY_EXPECT(s.n == 354 && check_labels(&s, k_multi_spans, 3) == 0);
    c.n = 7; /* ends with the user turn: no EOS, the two earlier assistant turns supervised */
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, NULL, &s));
    HY_EXPECT(s.n == 337 && s.ids[336] == 13 && check_labels(&s, k_multi_spans, 2) == 0);
    c.n = 0; /* nothing but the system header */
    c.tools = NULL;
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &c, NULL, &s));
    HY_EXPECT(s.n == 10 && check_labels(&s, k_multi_spans, 0) == 0);
    /* an assistant message that strips to nothing supervises its newline */
    hy_chat_msg m[] = {MSG(HY_ROLE_USER, "hi"), MSG(HY_ROLE_ASSISTANT, " \n\t ")};
    hy_chat e = {m, 2, NULL};
    HY_EXPECT_OK(hy_chat_encode(f.tpl, f.tok, &e, NULL, &s));
    HY_EXPECT(s.n >= 3 && s.ids[s.n - 2] == 13 && s.ids[s.n - 3] == 13);
    HY_EXPECT(s.labels[s.n - 1] == 2 && s.labels[s.n - 2] == 13 && s.labels[s.n - 3] == -100);
    hy_sample_free(&s);
    hy_json_free(tools);
    teardown(&f);
    return 0;
}

/* str.strip() removes exactly the code points for which str.isspace() is
 * true (Python 3.11: 29 of them). */
HY_TEST(chat_strip) {
    static const uint32_t space[] = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680, 0x2000, 0x2001,
                                     0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200A, 0x2028, 0x2029, 0x202F,
                                     0x205F, 0x3000};
    static const uint32_t not_space[] = {0x00, 0x08, 0x7F, 0x180E, 0x200B, 0x200C, 0x2060, 0xFEFF, 0x3164, 0x1F600};
    for (int kind = 0; kind < 2; kind++) {
        const uint32_t *cps = kind ? not_space : space;
        size_t n = kind ? HY_ARRAY_LEN(not_space) : HY_ARRAY_LEN(space);
        for (size_t i = 0; i < n; i++) {
            char u[8], s[32];
            uint32_t c = cps[i];
            int k = c < 0x80 ? (u[0] = (char)c, 1)
                  : c < 0x800 ? (u[0] = (char)(0xC0 | c >> 6), u[1] = (char)(0x80 | (c & 0x3F)), 2)
                  : c < 0x10000 ? (u[0] = (char)(0xE0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 0x3F)), u[2] = (char)(0x80 | (c & 0x3F)), 3)
                  : (u[0] = (char)(0xF0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 0x3F)), u[2] = (char)(0x80 | ((c >> 6) & 0x3F)),
                     u[3] = (char)(0x80 | (c & 0x3F)), 4);
            memcpy(s, u, (size_t)k);
            s[k] = 'x';
            memcpy(s + k + 1, u, (size_t)k);
            size_t a, b;
            hy_chat_py_strip(s, 2 * (size_t)k + 1, &a, &b);
            int stripped = a == (size_t)k && b == (size_t)k + 1;
            int kept = a == 0 && b == 2 * (size_t)k + 1;
            HY_EXPECT_MSG(kind ? kept : stripped, "U+%04X: strip gave [%zu,%zu) of %d bytes", c, a, b, 2 * k + 1);
        }
    }
    size_t a, b;
    hy_chat_py_strip(" \t\xE3\x80\x80\n", 6, &a, &b);
    HY_EXPECT(a == b);
    hy_chat_py_strip("\xFF x \x80", 5, &a, &b); /* invalid bytes are not whitespace */
    HY_EXPECT(a == 0 && b == 5);
    hy_chat_py_strip("", 0, &a, &b);
    HY_EXPECT(a == 0 && b == 0);
    return 0;
}

HY_TEST(chat_tojson) {
    for (size_t i = 0; i < HY_ARRAY_LEN(k_floats); i++) {
        char buf[32];
        hy_chat_py_float(k_floats[i].v, buf);
        HY_EXPECT_MSG(!strcmp(buf, k_floats[i].repr), "repr(%.17g): got %s, want %s", k_floats[i].v, buf, k_floats[i].repr);
    }
    hy_json *tools;
    HY_EXPECT_OK(hy_json_parse(&tools, k_multi_tools, strlen(k_multi_tools), "tools"));
    char *s = hy_chat_tojson(hy_json_at(tools, 0));
    HY_EXPECT(s && same_text("tojson", s, strlen(s), k_tool0_json) == 0);
    free(s);
    hy_json_free(tools);
    return 0;
}

static int write_config(char *dir, size_t n, const char *json) {
    char path[1024];
    if (hy_test_tmpdir(dir, n, "chat")) return 1;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    return hy_test_write_file(path, json, strlen(json));
}

HY_TEST(chat_template_load) {
    hy_chat_template *t = NULL, *ref;
    char dir[512];
    HY_EXPECT_OK(hy_chat_template_load(&ref, MODEL_DIR));
    HY_EXPECT(hy_chat_template_hash(ref) != 0);
    HY_EXPECT_ERR(hy_chat_template_load(&t, "/nonexistent"), "/nonexistent/tokenizer_config.json: cannot open");
    HY_EXPECT(write_config(dir, sizeof dir, "{\"chat_template\": \"{% for m in messages %}{{ m.content }}{% endfor %}\"}") == 0);
    HY_EXPECT_ERR(hy_chat_template_load(&t, dir), "not a template this toolkit implements (supported: the Hymba");
    HY_EXPECT(write_config(dir, sizeof dir, "{\"model_max_length\": 1000000000000000019884624838656}") == 0);
    HY_EXPECT_ERR(hy_chat_template_load(&t, dir), "chat_template: expected a string, got missing");
    HY_EXPECT(t == NULL);
    /* transformers' list form: the "default" entry is used */
    hy_json *cfg = hy_json_object(), *list = hy_json_array(), *e = hy_json_object(), *other = hy_json_object();
    hy_json_set(other, "name", hy_json_string("tool_use"));
    hy_json_set(other, "template", hy_json_string("{{ x }}"));
    hy_json_set(e, "name", hy_json_string("default"));
    hy_json_set(e, "template", hy_json_string(
        "{{'<extra_id_0>System'}}{% for message in messages %}{% if message['role'] == 'system' %}{{'\n' + message['content'].strip()}}"
        "{% if tools or contexts %}{{'\n'}}{% endif %}{% endif %}{% endfor %}{% if tools %}{% for tool in tools %}"
        "{{ '\n<tool> ' + tool|tojson + ' </tool>' }}{% endfor %}{% endif %}{% if contexts %}{% if tools %}{{'\n'}}{% endif %}"
        "{% for context in contexts %}{{ '\n<context> ' + context.strip() + ' </context>' }}{% endfor %}{% endif %}{{'\n\n'}}"
        "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<extra_id_1>User\n' + message['content'].strip() + '\n' }}"
        "{% elif message['role'] == 'assistant' %}{{ '<extra_id_1>Assistant\n' + message['content'].strip() + '\n' }}"
        "{% elif message['role'] == 'tool' %}{{ '<extra_id_1>Tool\n' + message['content'].strip() + '\n' }}{% endif %}{% endfor %}"
        "{%- if add_generation_prompt %}{{'<extra_id_1>Assistant\n'}}{%- endif %}"));
    hy_json_append(list, other);
    hy_json_append(list, e);
    hy_json_set(cfg, "chat_template", list);
    char *txt = hy_json_dump(cfg, 0);
    HY_EXPECT(txt && write_config(dir, sizeof dir, txt) == 0);
    free(txt);
    hy_json_free(cfg);
    HY_EXPECT_OK(hy_chat_template_load(&t, dir));
    HY_EXPECT(hy_chat_template_hash(t) == hy_chat_template_hash(ref));
    /* bad tools and roles */
    hy_json *obj = hy_json_object();
    hy_chat c = {NULL, 0, obj};
    char *text;
    HY_EXPECT_ERR(hy_chat_render(t, &c, 0, &text, NULL, NULL, NULL), "tools: expected an array of tool definitions, got object");
    hy_json_free(obj);
    hy_role r;
    HY_EXPECT_OK(hy_role_parse("tool", &r));
    HY_EXPECT(r == HY_ROLE_TOOL && !strcmp(hy_role_name(HY_ROLE_ASSISTANT), "assistant"));
    HY_EXPECT_ERR(hy_role_parse("bot", &r), "role: expected one of system, user, assistant, tool; got \"bot\"");
    hy_chat_template_free(t);
    hy_chat_template_free(ref);
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
