/* gen_demo_tok.c — the demo tokenizer's BPE trainer and the demo model
 * directory's files (part of the `hymba-gen-demo` tool, see gen_demo.c).
 *
 * The vocabulary follows the Hymba tokenizer's layout (spec §13.1): <unk> 0,
 * <s> 1, </s> 2, the byte tokens <0x00>..<0xFF> at 3..258 (id = byte + 3), the
 * characters ▁ and '!'..'~' at 259..353, the learned pieces, and [PAD] as the
 * last id, an added token outside model.vocab like Hymba's 32000.  "\n" is no
 * character token, so it is always <0x0A> and never merges, as in Hymba.
 *
 * Training: the words of the rendered train conversations are counted (a word
 * is a run that starts at a "▁"; "\n" ends one), then the most frequent
 * adjacent allowed pair is merged (ties: lowest ids) until the vocabulary is
 * full or no pair occurs twice.  Words and punctuation stay apart ("▁cat" and
 * "▁cat." would otherwise be unrelated tokens for a tiny model).  Because no piece ends a word and starts the
 * next, encoding the whole normalized text as one BPE word (the tokenizer has
 * no pre-tokenizer) gives the same pieces as encoding word by word.  Digits
 * never merge (numbers are one token per digit, as in Hymba), except inside
 * the chat markup <extra_id_N>: a merge whose left side starts with "<" or
 * "▁<" may take a digit, so "<extra_id_1>User" becomes one piece. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "datasets/demo/gen_demo.h"

#define DEMO_SPACE "\xe2\x96\x81" /* ▁ U+2581 */
enum { DEMO_BYTE0 = 3, DEMO_CHAR0 = 259, DEMO_MAX_WORDS = 16384, DEMO_PIECE = 64 };
enum { DEMO_HASH = 2 * DEMO_MAX_WORDS, DEMO_MAX_MERGES = 2 * DEMO_VOCAB };
typedef struct { char s[DEMO_PIECE]; int sym[DEMO_PIECE]; int nsym; int64_t count; } demo_word;
struct demo_bpe {
    demo_word words[DEMO_MAX_WORDS];
    int n_words;
    int slot[DEMO_HASH]; /* word index + 1; 0 = empty */
    char piece[DEMO_VOCAB][DEMO_PIECE];
    int n_piece;
    int merge[DEMO_MAX_MERGES][2];
    int n_merges;
    int64_t pair[DEMO_VOCAB * DEMO_VOCAB]; /* counts, all zero between passes */
};

/* snprintf into a piece; the pieces are made here, so an overflow is a bug. */
static void piecef(char *dst, const char *fmt, const char *a, int i) {
    int n = a ? snprintf(dst, DEMO_PIECE, fmt, a) : snprintf(dst, DEMO_PIECE, fmt, i);
    HY_ASSERT(n >= 0 && n < DEMO_PIECE);
}

hy_status demo_bpe_new(demo_bpe **out) {
    HY_TRY(hy_malloc((void **)out, sizeof(demo_bpe), 1, "demo BPE trainer"));
    demo_bpe *b = *out;
    piecef(b->piece[0], "%s", "<unk>", 0);
    piecef(b->piece[1], "%s", "<s>", 0);
    piecef(b->piece[2], "%s", "</s>", 0);
    for (int i = 0; i < 256; i++) piecef(b->piece[DEMO_BYTE0 + i], "<0x%02X>", NULL, i);
    piecef(b->piece[DEMO_CHAR0], "%s", DEMO_SPACE, 0);
    for (int c = '!'; c <= '~'; c++) piecef(b->piece[DEMO_CHAR0 + 1 + c - '!'], "%c", NULL, c);
    b->n_piece = DEMO_CHAR0 + 1 + ('~' - '!' + 1);
    return HY_OK;
}
void demo_bpe_free(demo_bpe *b) { hy_free(b); }
int demo_bpe_vocab_size(const demo_bpe *b) { return b->n_piece + 1; }
int demo_bpe_n_merges(const demo_bpe *b) { return b->n_merges; }

static hy_status bpe_add_word(demo_bpe *b, const char *s, size_t len) {
    if (!len) return HY_OK;
    if (len >= DEMO_PIECE) return hy_errorf(HY_ERR_INTERNAL, "demo corpus word too long: %.*s", (int)len, s);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    size_t at = (size_t)(h % DEMO_HASH);
    while (b->slot[at]) {
        demo_word *w = &b->words[b->slot[at] - 1];
        if (strlen(w->s) == len && !memcmp(w->s, s, len)) { w->count++; return HY_OK; }
        at = (at + 1) % DEMO_HASH;
    }
    if (b->n_words == DEMO_MAX_WORDS) return hy_errorf(HY_ERR_INTERNAL, "demo corpus: more than %d distinct words", DEMO_MAX_WORDS);
    demo_word *w = &b->words[b->n_words];
    memcpy(w->s, s, len);
    w->s[len] = 0;
    w->count = 1;
    for (size_t i = 0; i < len;) {
        if (!strncmp(s + i, DEMO_SPACE, 3)) { w->sym[w->nsym++] = DEMO_CHAR0; i += 3; continue; }
        if (s[i] < '!' || s[i] > '~') return hy_errorf(HY_ERR_INTERNAL, "demo corpus: byte 0x%02x is not printable ASCII", (uint8_t)s[i]);
        w->sym[w->nsym++] = DEMO_CHAR0 + 1 + s[i++] - '!';
    }
    b->slot[at] = ++b->n_words;
    return HY_OK;
}

/* Count the words of one rendered text, normalized as the tokenizer does
 * (a "▁" in front, every space → "▁"): a word starts at each "▁"; "\n" (a
 * byte token, never merged) ends a word and is not part of any. */
hy_status demo_bpe_add_text(demo_bpe *b, const char *text) {
    char word[DEMO_PIECE + 3];
    size_t n = 3;
    memcpy(word, DEMO_SPACE, 3);
    for (const char *p = text;; p++) {
        if (*p == ' ' || *p == '\n' || !*p) {
            HY_TRY(bpe_add_word(b, word, n));
            n = 0;
            if (*p == ' ') { memcpy(word, DEMO_SPACE, 3); n = 3; }
            if (!*p) return HY_OK;
            continue;
        }
        if (n >= DEMO_PIECE) return hy_errorf(HY_ERR_INTERNAL, "demo corpus word too long in: %s", text);
        word[n++] = *p;
    }
}

/* Which characters a piece holds: 1 digits, 2 letters, 4 punctuation (▁ is none). */
static int piece_kinds(const char *s) {
    int k = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9') k |= 1;
        else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) k |= 2;
        else if (*s >= '!' && *s <= '~') k |= 4;
    }
    return k;
}
/* Digits never merge, and words never take punctuation ("▁word." would be a
 * different token from "▁word"), except inside the chat markup <extra_id_N>. */
static int bpe_allowed(const demo_bpe *b, int l, int r) {
    const char *ls = b->piece[l];
    if (ls[0] == '<' || !strncmp(ls, DEMO_SPACE "<", 4)) return 1;
    int k = piece_kinds(ls) | piece_kinds(b->piece[r]);
    return !(k & 1) && k != 6;
}

/* One merge: the most frequent allowed pair (ties: lowest ids).  Returns 0
 * when no pair occurs twice. */
static int bpe_step(demo_bpe *b) {
    int64_t best = 1;
    int bl = -1, br = -1;
    for (int w = 0; w < b->n_words; w++)
        for (int i = 0; i + 1 < b->words[w].nsym; i++) b->pair[b->words[w].sym[i] * DEMO_VOCAB + b->words[w].sym[i + 1]] += b->words[w].count;
    for (int w = 0; w < b->n_words; w++)
        for (int i = 0; i + 1 < b->words[w].nsym; i++) {
            int l = b->words[w].sym[i], r = b->words[w].sym[i + 1];
            int64_t c = b->pair[l * DEMO_VOCAB + r];
            if ((c > best || (c == best && bl >= 0 && (l < bl || (l == bl && r < br)))) && bpe_allowed(b, l, r))
                best = c, bl = l, br = r;
        }
    for (int w = 0; w < b->n_words; w++)
        for (int i = 0; i + 1 < b->words[w].nsym; i++) b->pair[b->words[w].sym[i] * DEMO_VOCAB + b->words[w].sym[i + 1]] = 0;
    if (bl < 0 || b->n_merges == DEMO_MAX_MERGES) return 0;
    char joined[2 * DEMO_PIECE];
    snprintf(joined, sizeof joined, "%s%s", b->piece[bl], b->piece[br]);
    HY_ASSERT(strlen(joined) < DEMO_PIECE);
    int id = 0;
    while (id < b->n_piece && strcmp(b->piece[id], joined)) id++;
    if (id == b->n_piece) piecef(b->piece[b->n_piece++], "%s", joined, 0);
    b->merge[b->n_merges][0] = bl;
    b->merge[b->n_merges++][1] = br;
    for (int w = 0; w < b->n_words; w++) {
        demo_word *wd = &b->words[w];
        int k = 0;
        for (int i = 0; i < wd->nsym; i++) {
            if (i + 1 < wd->nsym && wd->sym[i] == bl && wd->sym[i + 1] == br) { wd->sym[k++] = id; i++; }
            else wd->sym[k++] = wd->sym[i];
        }
        wd->nsym = k;
    }
    return 1;
}

void demo_bpe_train(demo_bpe *b, int vocab) {
    HY_ASSERT(vocab <= DEMO_VOCAB);
    while (b->n_piece + 1 < vocab && bpe_step(b)) {}
}

/* ---------------------------------------------------------------- model files */

/* Hymba's chat template (tokenizer_config.json of Hymba-1.5B), verbatim: the
 * project's renderer recognises the model family by this text. */
static const char HYMBA_CHAT_TEMPLATE[] =
    "{{'<extra_id_0>System'}}{% for message in messages %}{% if message['role'] == 'system' %}"
    "{{'\n' + message['content'].strip()}}{% if tools or contexts %}{{'\n'}}{% endif %}"
    "{% endif %}{% endfor %}{% if tools %}{% for tool in tools %}"
    "{{ '\n<tool> ' + tool|tojson + ' </tool>' }}{% endfor %}{% endif %}{% if contexts %}"
    "{% if tools %}{{'\n'}}{% endif %}{% for context in contexts %}"
    "{{ '\n<context> ' + context.strip() + ' </context>' }}{% endfor %}{% endif %}{{'\n\n'}}"
    "{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ '<extra_id_1>User\n' + message['content'].strip() + '\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '<extra_id_1>Assistant\n' + message['content'].strip() + '\n' }}"
    "{% elif message['role'] == 'tool' %}"
    "{{ '<extra_id_1>Tool\n' + message['content'].strip() + '\n' }}{% endif %}{% endfor %}"
    "{%- if add_generation_prompt %}{{'<extra_id_1>Assistant\n'}}{%- endif %}";

/* The demo model: spec §12's tiny layout (global layers 0, 3, 7; KV-reuse
 * groups [1,2] and [4,5,6]; GQA 4:2; DQK 16, DV 32; NTK RoPE with the same
 * factor 2·512/128 − 1 = 7 as Hymba's 2·8192/2048 − 1), 12 meta tokens and a
 * 20-token window: the demo conversations are 14–75 tokens (median ~30), so
 * the window bites in most of them.  The sizes differ from one another where
 * possible (C 64, DI 128, F 160, M 12, W 20, DS 8, R 6, V 1024) so that a
 * mixed-up dimension fails loudly. */
enum { DEMO_HIDDEN = 64, DEMO_LAYERS = 8, DEMO_WINDOW = 20, DEMO_META = 12 };

static const char CONFIG_FMT[] =
    "{\n  \"architectures\": [\"HymbaForCausalLM\"],\n  \"attention_dropout\": 0.0,\n  \"attn_hidden_size\": -1,\n"
    "  \"attn_implementation\": \"flex\",\n  \"attn_implementation_new\": \"flex\",\n"
    "  \"auto_map\": {\n    \"AutoConfig\": \"configuration_hymba.HymbaConfig\",\n"
    "    \"AutoModelForCausalLM\": \"modeling_hymba.HymbaForCausalLM\"\n  },\n"
    "  \"bos_token_id\": 1,\n  \"calc_logits_for_entire_prompt\": false,\n  \"conv_dim\": {%s},\n"
    "  \"eos_token_id\": 2,\n  \"global_attn_idx\": [0, 3, 7],\n  \"hidden_act\": \"silu\",\n"
    "  \"hidden_size\": %d,\n  \"initializer_range\": 0.02,\n  \"intermediate_size\": 160,\n  \"kq_head_dim\": -1,\n"
    "  \"kq_norm\": \"none\",\n  \"kv_reuse_every_i_layer\": -1,\n  \"kv_reuse_group\": [[1, 2], [4, 5, 6]],\n"
    "  \"kv_weight_reuse\": false,\n  \"layer_type\": [%s],\n  \"mamba_conv_bias\": true,\n  \"mamba_d_conv\": 4,\n"
    "  \"mamba_d_state\": 8,\n  \"mamba_dt_rank\": 6,\n  \"mamba_expand\": 2,\n  \"mamba_inner_layernorms\": true,\n"
    "  \"mamba_proj_bias\": false,\n  \"max_position_embeddings\": 512,\n  \"memory_tokens_interspersed_every\": 0,\n"
    "  \"mlp_hidden_act\": \"silu\",\n  \"model_type\": \"hymba\",\n  \"num_attention_heads\": 4,\n  \"num_experts\": 1,\n"
    "  \"num_experts_per_tok\": 1,\n  \"num_hidden_layers\": %d,\n  \"num_key_value_heads\": 2,\n  \"num_mamba\": 1,\n"
    "  \"num_memory_tokens\": %d,\n  \"orig_max_position_embeddings\": 128,\n  \"output_router_logits\": false,\n"
    "  \"pad_token_id\": 0,\n  \"rms_norm_eps\": 1e-06,\n  \"rope\": true,\n  \"rope_theta\": 10000.0,\n"
    "  \"rope_type\": \"ntk\",\n  \"router_aux_loss_coef\": 0.001,\n  \"seq_length\": 512,\n  \"sliding_window\": %d,\n"
    "  \"tie_word_embeddings\": true,\n  \"torch_dtype\": \"float32\",\n  \"transformers_version\": \"4.44.0\",\n"
    "  \"use_cache\": false,\n  \"use_mamba_kernels\": true,\n  \"v_head_dim\": %d,\n  \"vocab_size\": %d\n}\n";

/* An added token's flags, in tokenizer_config.json's and tokenizer.json's key orders. */
static const char ADDED_TOK_FMT[] = "\"content\": \"%s\", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
                                    "\"normalized\": false, \"special\": true";
static const char ADDED_FMT[] = "\"content\": \"%s\", \"lstrip\": false, \"normalized\": false, \"rstrip\": false, "
                                "\"single_word\": false, \"special\": true";

static const char TOKENIZER_CONFIG_FMT[] =
    "{\n  \"add_bos_token\": true,\n  \"add_eos_token\": false,\n  \"add_prefix_space\": true,\n"
    "  \"added_tokens_decoder\": {\n    \"0\": {%s},\n    \"1\": {%s},\n    \"2\": {%s},\n    \"%d\": {%s}\n  },\n"
    "  \"bos_token\": \"<s>\",\n  \"chat_template\": %s,\n  \"clean_up_tokenization_spaces\": false,\n"
    "  \"eos_token\": \"</s>\",\n  \"legacy\": true,\n  \"model_max_length\": 512,\n  \"pad_token\": \"[PAD]\",\n"
    "  \"padding_side\": \"left\",\n  \"sp_model_kwargs\": {},\n  \"spaces_between_special_tokens\": false,\n"
    "  \"tokenizer_class\": \"LlamaTokenizer\",\n  \"unk_token\": \"<unk>\",\n  \"use_default_system_prompt\": false\n}\n";

#define DEMO_SPECIAL(name) "  \"" name "\": {\n    \"content\": \"%s\",\n    \"lstrip\": false,\n    \"normalized\": false,\n" \
                           "    \"rstrip\": false,\n    \"single_word\": false\n  }"
static const char SPECIAL_MAP_FMT[] =
    "{\n" DEMO_SPECIAL("bos_token") ",\n" DEMO_SPECIAL("eos_token") ",\n" DEMO_SPECIAL("pad_token") ",\n" DEMO_SPECIAL("unk_token") "\n}\n";

static const char GENERATION_CONFIG[] = "{\n  \"_from_model_config\": true,\n  \"bos_token_id\": 1,\n  \"eos_token_id\": 2,\n"
                                        "  \"pad_token_id\": 0,\n  \"transformers_version\": \"4.44.0\",\n  \"use_cache\": false\n}\n";

static hy_status write_text(const char *dir, const char *name, const char *text) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return hy_errorf(HY_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    int bad = fputs(text, f) < 0;
    bad |= fclose(f) != 0;
    if (bad) return hy_errorf(HY_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return HY_OK;
}

/* A formatted file; its text is at most 16 KiB. */
static hy_status write_fmt(const char *dir, const char *name, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static hy_status write_fmt(const char *dir, const char *name, const char *fmt, ...) {
    char text[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    HY_ASSERT(n >= 0 && (size_t)n < sizeof text);
    return write_text(dir, name, text);
}

static hy_status write_config(const demo_bpe *b, const char *dir) {
    char conv[512] = "", types[256] = "";
    for (int l = 0; l < DEMO_LAYERS; l++) {
        size_t c = strlen(conv), t = strlen(types);
        snprintf(conv + c, sizeof conv - c, "%s\"%d\": %d", l ? ", " : "", l, 2 * DEMO_HIDDEN);
        snprintf(types + t, sizeof types - t, "%s\"h\"", l ? ", " : "");
    }
    return write_fmt(dir, "config.json", CONFIG_FMT, conv, DEMO_HIDDEN, types, DEMO_LAYERS, DEMO_META, DEMO_WINDOW,
                     2 * DEMO_HIDDEN / 4, demo_bpe_vocab_size(b));
}

static hy_status write_tokenizer_config(const demo_bpe *b, const char *dir) {
    hy_json *tpl = hy_json_string(HYMBA_CHAT_TEMPLATE);
    char *quoted = tpl ? hy_json_dump(tpl, HY_JSON_COMPACT) : NULL;
    hy_json_free(tpl);
    if (!quoted) return hy_errorf(HY_ERR_OOM, "out of memory serialising the chat template");
    char a[4][256];
    const char *names[4] = {"<unk>", "<s>", "</s>", "[PAD]"};
    for (int i = 0; i < 4; i++) snprintf(a[i], sizeof a[i], ADDED_FMT, names[i]);
    hy_status st = write_fmt(dir, "tokenizer_config.json", TOKENIZER_CONFIG_FMT, a[0], a[1], a[2], b->n_piece, a[3], quoted);
    free(quoted);
    HY_TRY(st);
    HY_TRY(write_fmt(dir, "special_tokens_map.json", SPECIAL_MAP_FMT, "<s>", "</s>", "[PAD]", "<unk>"));
    return write_text(dir, "generation_config.json", GENERATION_CONFIG);
}

/* tokenizer.json: the Hymba tokenizer's pipeline (spec §13.1) around the
 * learned vocabulary and merges; the fixed parts are parsed from text so the
 * key order matches Hugging Face's file. */
static const char TOKENIZER_FMT[] =
    "{\"version\": \"1.0\", \"truncation\": null, \"padding\": null, \"added_tokens\": ["
    "{\"id\": 0, %s}, {\"id\": 1, %s}, {\"id\": 2, %s}, {\"id\": %d, %s}],"
    "\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"\\u2581\"},"
    " {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"\\u2581\"}]},"
    "\"pre_tokenizer\": null,"
    "\"post_processor\": {\"type\": \"TemplateProcessing\","
    " \"single\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}],"
    " \"pair\": [{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}},"
    " {\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}],"
    " \"special_tokens\": {\"<s>\": {\"id\": \"<s>\", \"ids\": [1], \"tokens\": [\"<s>\"]}}},"
    "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"\\u2581\"},"
    " \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"},"
    " {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]},"
    "\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": \"<unk>\", \"continuing_subword_prefix\": null,"
    " \"end_of_word_suffix\": null, \"fuse_unk\": true, \"byte_fallback\": true, \"ignore_merges\": false}}";

static hy_status tokenizer_json_fill(const demo_bpe *b, hy_json *model) {
    hy_json *vocab = hy_json_object(), *merges = hy_json_array();
    hy_status st = vocab && merges ? HY_OK : HY_ERR_OOM;
    for (int id = 0; !st && id < b->n_piece; id++) st = hy_json_set(vocab, b->piece[id], hy_json_integer(id));
    for (int m = 0; !st && m < b->n_merges; m++) {
        char pair[2 * DEMO_PIECE + 2];
        snprintf(pair, sizeof pair, "%s %s", b->piece[b->merge[m][0]], b->piece[b->merge[m][1]]);
        st = hy_json_append(merges, hy_json_string(pair));
    }
    if (!st) { st = hy_json_set(model, "vocab", vocab); vocab = NULL; }
    if (!st) { st = hy_json_set(model, "merges", merges); merges = NULL; }
    hy_json_free(vocab);
    hy_json_free(merges);
    return st ? hy_errorf(HY_ERR_OOM, "out of memory building tokenizer.json") : HY_OK;
}

static hy_status write_tokenizer_json(const demo_bpe *b, const char *dir) {
    char a[4][256], text[4096], path[4096];
    const char *names[4] = {"<unk>", "<s>", "</s>", "[PAD]"};
    for (int i = 0; i < 4; i++) snprintf(a[i], sizeof a[i], ADDED_TOK_FMT, names[i]);
    int n = snprintf(text, sizeof text, TOKENIZER_FMT, a[0], a[1], a[2], b->n_piece, a[3]);
    HY_ASSERT(n > 0 && (size_t)n < sizeof text);
    hy_json *root = NULL;
    HY_TRY(hy_json_parse(&root, text, (size_t)n, "tokenizer.json skeleton"));
    hy_status st = tokenizer_json_fill(b, hy_json_get(root, "model"));
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    if (!st) st = hy_json_save_file(root, path, HY_JSON_INDENT);
    hy_json_free(root);
    return st;
}

hy_status demo_write_model(const demo_bpe *b, const char *dir) {
    HY_TRY(write_config(b, dir));
    HY_TRY(write_tokenizer_json(b, dir));
    return write_tokenizer_config(b, dir);
}
