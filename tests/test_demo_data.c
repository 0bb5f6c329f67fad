/* test_demo_data.c — the bundled demo (datasets/demo/): the tiny Hymba config
 * has every structural feature of spec §12, the demo tokenizer has Hymba's
 * layout and newline/digit facts, every demo record parses, renders with the
 * checkpoint's chat template, encodes, decodes back to the same text and fits
 * in 256 tokens, and the committed files are exactly what the generator
 * (`hymba-gen-demo`) writes today. */
#include <sys/stat.h>

#include "core/config.h"
#include "datasets/chat.h"
#include "datasets/jsonl.h"
#include "datasets/records.h"
#include "datasets/tokenizer.h"
#include "tests/harness.h"

#define DEMO_DIR HY_SOURCE_DIR "/datasets/demo"
#define DEMO_MODEL DEMO_DIR "/model"
enum { DEMO_MAX_TOKENS = 256 };

static const struct {
    const char *name;
    hy_kind kind;
    int64_t n;
} k_files[] = {
    {"sft1.train", HY_KIND_SFT, 4000}, {"sft1.eval", HY_KIND_SFT, 200}, {"sft2.train", HY_KIND_SFT, 3000},
    {"sft2.eval", HY_KIND_SFT, 200},   {"dpo.train", HY_KIND_PREF, 2000}, {"dpo.eval", HY_KIND_PREF, 200},
};

HY_TEST(demo_config_has_every_feature) {
    hy_config c;
    HY_EXPECT_OK(hy_config_load(&c, DEMO_MODEL "/config.json"));
    HY_EXPECT(c.num_meta > 0);
    HY_EXPECT(c.num_kv_heads < c.num_heads);      /* GQA */
    HY_EXPECT_MSG(c.dv == 2 * c.dqk, "dv %d dqk %d", c.dv, c.dqk);
    HY_EXPECT(c.rope_ntk && c.d_conv == 4 && c.tie_embeddings);
    HY_EXPECT(c.hidden_size >= 64 && c.hidden_size <= 96 && c.num_layers >= 6 && c.num_layers <= 8);
    int n_global = 0, n_swa = 0, group[HY_MAX_LAYERS] = {0};
    for (int l = 0; l < c.num_layers; l++) {
        n_global += c.is_global[l];
        n_swa += !c.is_global[l];
        group[c.kv_producer[l]]++;
    }
    int has2 = 0, has3 = 0;
    for (int l = 0; l < c.num_layers; l++) has2 |= group[l] == 2, has3 |= group[l] == 3;
    HY_EXPECT_MSG(n_global >= 2 && n_swa >= 2, "global %d, sliding-window %d layers", n_global, n_swa);
    HY_EXPECT_MSG(has2 && has3, "KV-reuse groups: want one of 2 layers and one of 3");
    /* the window must be shorter than typical demo documents (≥ 14 tokens, median ~30) */
    HY_EXPECT_MSG(c.sliding_window < 24, "sliding_window %d", c.sliding_window);
    return 0;
}

HY_TEST(demo_tokenizer_layout) {
    hy_tokenizer *tok = NULL;
    hy_config c;
    HY_EXPECT_OK(hy_config_load(&c, DEMO_MODEL "/config.json"));
    HY_EXPECT_OK(hy_tok_load(&tok, DEMO_MODEL));
    int v = hy_tok_vocab_size(tok), fail = 0;
    fail |= v != c.vocab_size;
    fail |= strcmp(hy_tok_piece(tok, 0), "<unk>") || strcmp(hy_tok_piece(tok, 1), "<s>") || strcmp(hy_tok_piece(tok, 2), "</s>");
    fail |= strcmp(hy_tok_piece(tok, 3), "<0x00>") || strcmp(hy_tok_piece(tok, 258), "<0xFF>");
    fail |= strcmp(hy_tok_piece(tok, v - 1), "[PAD]") || !hy_tok_is_special(tok, v - 1);
    fail |= hy_tok_bos(tok) != 1 || hy_tok_eos(tok) != 2;
    /* "\n" is the byte token <0x0A> = 13, as in Hymba; digits are single tokens;
     * the chat markup after a newline is one piece. */
    const char *text = "What is 17 + 205?\n<extra_id_1>Assistant\n222";
    hy_tokens ids = {0};
    hy_status st = hy_tok_encode(tok, text, strlen(text), &ids);
    int n_nl = 0, markup = 0, n_digits = 0;
    for (size_t i = 0; st == HY_OK && i < ids.n; i++) {
        const char *p = hy_tok_piece(tok, ids.ids[i]);
        int byte_token = ids.ids[i] >= 3 && ids.ids[i] <= 258;
        n_nl += ids.ids[i] == 13;
        markup |= !strcmp(p, "<extra_id_1>Assistant");
        n_digits += strlen(p) == 1 && p[0] >= '0' && p[0] <= '9';
        if (!byte_token && strncmp(p, "<extra_id_", 10) && strpbrk(p, "0123456789") && strlen(p) != 1) {
            fprintf(stderr, "  token %zu \"%s\" joins a digit with something else\n", i, p);
            fail = 1;
        }
    }
    hy_tokens_free(&ids);
    hy_tok_free(tok);
    HY_EXPECT_OK(st);
    HY_EXPECT_MSG(!fail, "vocab %d (config %d), pieces or special ids not in Hymba's layout", v, c.vocab_size);
    HY_EXPECT_MSG(n_nl == 2 && markup && n_digits == 8, "newline tokens %d (want 2), markup piece %d (want 1), digit tokens %d (want 8)",
                  n_nl, markup, n_digits);
    return 0;
}

typedef struct {
    int64_t records, convs, tokens, max_tokens, byte_tokens, supervised;
} demo_stats;

/* Render one conversation, encode it, decode it, compare; encode it with the
 * loss mask and check that something is supervised and the final EOS too. */
static int check_conv(const hy_chat_template *tpl, const hy_tokenizer *tok, const hy_chat *c, const char *where, demo_stats *s) {
    char *text = NULL, *back = NULL;
    size_t len = 0, back_len = 0;
    hy_tokens ids = {0};
    hy_sample sample = {0};
    hy_chat_opts o = {.add_bos = 0, .add_eos = 1, .train_on = HY_TRAIN_ALL_ASSISTANT};
    hy_status st = hy_chat_render(tpl, c, 0, &text, &len, NULL, NULL);
    if (st == HY_OK) st = hy_tok_encode(tok, text, len, &ids);
    if (st == HY_OK) st = hy_tok_decode(tok, ids.ids, ids.n, 0, &back, &back_len);
    if (st == HY_OK) st = hy_chat_encode(tpl, tok, c, &o, &sample);
    int bad = st != HY_OK;
    if (bad) fprintf(stderr, "  %s: %s\n", where, hy_last_error());
    if (!bad && (back_len != len || memcmp(back, text, len))) {
        fprintf(stderr, "  %s: decode(encode(text)) differs:\n    text: %s\n    back: %s\n", where, text, back);
        bad = 1;
    }
    if (!bad && (ids.n > DEMO_MAX_TOKENS || sample.n != ids.n + 1 || sample.labels[sample.n - 1] != 2)) {
        fprintf(stderr, "  %s: %zu tokens (max %d), sample %zu tokens, last label %d (want EOS 2)\n", where, ids.n,
                DEMO_MAX_TOKENS, sample.n, sample.n ? sample.labels[sample.n - 1] : -1);
        bad = 1;
    }
    for (size_t i = 0; !bad && i < ids.n; i++) s->byte_tokens += ids.ids[i] >= 3 && ids.ids[i] <= 258 && ids.ids[i] != 13;
    for (size_t i = 0; !bad && i < sample.n; i++) s->supervised += sample.labels[i] != -100;
    s->convs++;
    s->tokens += (int64_t)ids.n;
    if ((int64_t)ids.n > s->max_tokens) s->max_tokens = (int64_t)ids.n;
    free(text);
    free(back);
    hy_tokens_free(&ids);
    hy_sample_free(&sample);
    return bad;
}

static int check_file(const hy_chat_template *tpl, const hy_tokenizer *tok, const char *name, hy_kind kind, demo_stats *s) {
    char path[1024], where[1100];
    snprintf(path, sizeof path, DEMO_DIR "/%s.jsonl.zst", name);
    hy_jsonl *r = NULL;
    if (hy_jsonl_open(&r, path) != HY_OK) { fprintf(stderr, "  %s\n", hy_last_error()); return 1; }
    int bad = !hy_jsonl_is_zstd(r);
    for (;;) {
        const char *line;
        size_t len;
        int64_t lineno;
        hy_record rec;
        if (hy_jsonl_next(r, &line, &len, &lineno) != HY_OK) { fprintf(stderr, "  %s\n", hy_last_error()); bad = 1; break; }
        if (!line) break;
        if (hy_record_parse(&rec, line, len, path, lineno, kind) != HY_OK) {
            fprintf(stderr, "  %s\n", hy_last_error());
            hy_record_free(&rec);
            bad = 1;
            break;
        }
        snprintf(where, sizeof where, "%s:%lld", path, (long long)lineno);
        s->records++;
        bad |= check_conv(tpl, tok, &rec.chat, where, s);
        if (kind == HY_KIND_PREF) bad |= check_conv(tpl, tok, &rec.rejected, where, s);
        hy_record_free(&rec);
        if (bad) break;
    }
    hy_jsonl_close(r);
    return bad;
}

HY_TEST(demo_records_roundtrip) {
    hy_tokenizer *tok = NULL;
    hy_chat_template *tpl = NULL;
    HY_EXPECT_OK(hy_tok_load(&tok, DEMO_MODEL));
    HY_EXPECT_OK(hy_chat_template_load(&tpl, DEMO_MODEL));
    int bad = 0;
    for (size_t f = 0; !bad && f < HY_ARRAY_LEN(k_files); f++) {
        demo_stats s = {0};
        bad |= check_file(tpl, tok, k_files[f].name, k_files[f].kind, &s);
        printf("  %-10s %5lld records, %5lld conversations, tokens mean %.1f max %lld, supervised %lld, byte-fallback %lld\n",
               k_files[f].name, (long long)s.records, (long long)s.convs, s.convs ? (double)s.tokens / (double)s.convs : 0.0,
               (long long)s.max_tokens, (long long)s.supervised, (long long)s.byte_tokens);
        if (!bad && (s.records != k_files[f].n || s.byte_tokens != 0)) {
            fprintf(stderr, "  %s: %lld records (want %lld), %lld byte-fallback tokens (want 0: every demo character is a piece)\n",
                    k_files[f].name, (long long)s.records, (long long)k_files[f].n, (long long)s.byte_tokens);
            bad = 1;
        }
    }
    hy_chat_template_free(tpl);
    hy_tok_free(tok);
    HY_EXPECT(!bad);
    return 0;
}

/* The demo's template is Hymba's, byte for byte (when ../shared has the model). */
HY_TEST(demo_template_is_hymba) {
    struct stat sb;
    if (stat(HY_SHARED_DIR "/hymba-1.5b/tokenizer_config.json", &sb) != 0) {
        printf("  skipped: no %s/hymba-1.5b\n", HY_SHARED_DIR);
        return 0;
    }
    hy_chat_template *a = NULL, *b = NULL;
    HY_EXPECT_OK(hy_chat_template_load(&a, DEMO_MODEL));
    HY_EXPECT_OK(hy_chat_template_load(&b, HY_SHARED_DIR "/hymba-1.5b"));
    uint64_t ha = hy_chat_template_hash(a), hb = hy_chat_template_hash(b);
    hy_chat_template_free(a);
    hy_chat_template_free(b);
    HY_EXPECT_MSG(ha == hb, "template hash %016llx, Hymba's %016llx", (unsigned long long)ha, (unsigned long long)hb);
    return 0;
}

/* Compare a generated file with the committed one, line by line through the
 * JSONL reader (which decompresses the committed .zst files; blank lines do
 * not count). */
static int same_file(const char *gen, const char *committed) {
    hy_jsonl *a = NULL, *b = NULL;
    if (hy_jsonl_open(&a, gen) != HY_OK || hy_jsonl_open(&b, committed) != HY_OK) {
        fprintf(stderr, "  %s\n", hy_last_error());
        hy_jsonl_close(a);
        return 0;
    }
    int same = 1;
    for (;;) {
        const char *la, *lb;
        size_t na, nb;
        int64_t ia, ib;
        if (hy_jsonl_next(a, &la, &na, &ia) != HY_OK) { same = 0; break; }
        char *copy = la ? strndup(la, na) : NULL; /* la lives only until the next call on a */
        if (hy_jsonl_next(b, &lb, &nb, &ib) != HY_OK) { free(copy); same = 0; break; }
        if (!la || !lb || na != nb || memcmp(copy, lb, na)) {
            if (la || lb) fprintf(stderr, "  %s:%lld differs from %s\n", committed, (long long)(lb ? ib : ia), gen);
            same = !la && !lb;
            free(copy);
            break;
        }
        free(copy);
    }
    hy_jsonl_close(a);
    hy_jsonl_close(b);
    return same;
}

HY_TEST(demo_files_are_generated) {
    char dir[512], cmd[2048], gen[1024], committed[1024];
    HY_EXPECT(hy_test_tmpdir(dir, sizeof dir, "demo") == 0);
    snprintf(cmd, sizeof cmd, "'%s' '%s'", HY_GEN_DEMO_BIN, dir);
    char *out = NULL;
    int rc = hy_test_run(cmd, &out);
    HY_EXPECT_MSG(rc == 0, "%s: exit %d: %s", cmd, rc, out ? out : "");
    free(out);
    int bad = 0;
    for (size_t f = 0; f < HY_ARRAY_LEN(k_files); f++) {
        snprintf(gen, sizeof gen, "%s/%s.jsonl", dir, k_files[f].name);
        snprintf(committed, sizeof committed, DEMO_DIR "/%s.jsonl.zst", k_files[f].name);
        bad |= !same_file(gen, committed);
    }
    static const char *const model_files[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                              "special_tokens_map.json", "generation_config.json"};
    for (size_t f = 0; f < HY_ARRAY_LEN(model_files); f++) {
        snprintf(gen, sizeof gen, "%s/model/%s", dir, model_files[f]);
        snprintf(committed, sizeof committed, DEMO_MODEL "/%s", model_files[f]);
        bad |= !same_file(gen, committed);
    }
    HY_EXPECT_MSG(!bad, "the committed demo files are stale: run datasets/demo/regen.sh");
    return 0;
}

int main(int argc, char **argv) { return hy_test_main(argc, argv); }
