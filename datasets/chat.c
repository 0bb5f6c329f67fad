/* chat.c — the Hymba chat template rendered in C, and the SFT loss mask
 * (spec §13.2–13.5).
 *
 * Rather than embed a Jinja interpreter, the loader recognises the
 * checkpoint's chat_template by its exact text (the only template the toolkit
 * implements, see k_hymba_template) and renders it with the equivalent C code,
 * which reproduces transformers' apply_chat_template byte for byte:
 *   - content.strip() is Python's str.strip(): it removes every code point for
 *     which str.isspace() is true (ASCII \t\n\v\f\r, \x1c–\x1f and space, plus
 *     U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F,
 *     U+3000), not only ASCII whitespace;
 *   - tool|tojson is transformers' override of the filter: json.dumps with
 *     ensure_ascii=False, separators ", " and ": ", keys in the given order,
 *     floats as Python's repr (shortest round trip: 1.0, 0.1, 1e-05, 1e+16);
 *   - "contexts" (a non-standard template variable) is never passed, so its
 *     branch renders nothing.
 * The loss mask takes token spans from the byte offsets of the tokenization of
 * the whole rendered string, never from tokenizing pieces separately, so the
 * ids are exactly apply_chat_template(tokenize=True)'s. */
#include "datasets/chat.h"

#include <math.h>
#include <string.h>

#include "core/alloc.h"
#include "datasets/tokenizer_internal.h"

/* tokenizer_config.json "chat_template" of nvidia/Hymba-1.5B-Base/-Instruct. */
static const char k_hymba_template[] =
    "{{'<extra_id_0>System'}}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'\n' + message['content'].strip()}}"
    "{% if tools or contexts %}{{'\n'}}"
    "{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if tools %}"
    "{% for tool in tools %}{{ '\n<tool> ' + tool|tojson + ' </tool>' }}"
    "{% endfor %}"
    "{% endif %}"
    "{% if contexts %}"
    "{% if tools %}{{'\n'}}"
    "{% endif %}"
    "{% for context in contexts %}{{ '\n<context> ' + context.strip() + ' </context>' }}"
    "{% endfor %}"
    "{% endif %}{{'\n\n'}}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<extra_id_1>User\n' + message['content'].strip() + '\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<extra_id_1>Assistant\n' + message['content'].strip() + '\n' }}"
    "{% elif message['role'] == 'tool' %}{{ '<extra_id_1>Tool\n' + message['content'].strip() + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{%- if add_generation_prompt %}{{'<extra_id_1>Assistant\n'}}"
    "{%- endif %}";

struct hy_chat_template {
    uint64_t hash;
};

/* ---------------------------------------------------------------- roles */

static const char *const k_role_names[] = {"system", "user", "assistant", "tool"};

hy_status hy_role_parse(const char *s, hy_role *out) {
    for (int r = 0; r < (int)HY_ARRAY_LEN(k_role_names); r++)
        if (s && !strcmp(s, k_role_names[r])) { *out = (hy_role)r; return HY_OK; }
    return hy_errorf(HY_ERR_DATA, "role: expected one of system, user, assistant, tool; got \"%s\"", s ? s : "(not a string)");
}
const char *hy_role_name(hy_role r) { return (unsigned)r < HY_ARRAY_LEN(k_role_names) ? k_role_names[r] : "?"; }

hy_chat_opts hy_chat_opts_default(void) { return (hy_chat_opts){.add_bos = 0, .add_eos = 1, .train_on = HY_TRAIN_ALL_ASSISTANT}; }

/* ---------------------------------------------------------------- loading */

static uint64_t chat_fnv64(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return h;
}

/* The template text: a string, or transformers' list of {"name", "template"}
 * from which "default" is used. */
static const hy_json *chat_pick_template(const hy_json *cfg) {
    const hy_json *ct = hy_json_get(cfg, "chat_template");
    if (hy_json_typeof(ct) != HY_JSON_ARRAY) return ct;
    for (size_t i = 0; i < hy_json_len(ct); i++) {
        const hy_json *e = hy_json_at(ct, i);
        const char *name = hy_json_str(hy_json_get(e, "name"));
        if (name && !strcmp(name, "default")) return hy_json_get(e, "template");
    }
    return NULL;
}

static hy_status chat_recognise(const hy_json *tpl, const char *path) {
    const char *s = hy_json_str(tpl);
    if (!s)
        return hy_errorf(HY_ERR_UNSUPPORTED, "%s: chat_template: expected a string, got %s (hint: a base checkpoint without a chat "
                         "template cannot be used for chat data; use a checkpoint whose tokenizer_config.json has the Hymba template)",
                         path, hy_json_describe(tpl));
    size_t n = hy_json_len(tpl);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) n--; /* a trailing newline added by an editor is harmless */
    if (n == sizeof k_hymba_template - 1 && !memcmp(s, k_hymba_template, n)) return HY_OK;
    size_t same = 0;
    while (same < n && same < sizeof k_hymba_template - 1 && s[same] == k_hymba_template[same]) same++;
    return hy_errorf(HY_ERR_UNSUPPORTED,
                     "%s: chat_template: not a template this toolkit implements (supported: the Hymba / Nemotron template of "
                     "nvidia/Hymba-1.5B, \"<extra_id_0>System ... <extra_id_1>User ... <extra_id_1>Assistant\"); the given template "
                     "differs from it at character %zu: \"%.40s\"",
                     path, same, s + same);
}

hy_status hy_chat_template_load(hy_chat_template **out, const char *model_dir) {
    char path[4096];
    char *text = NULL;
    hy_json *cfg = NULL;
    *out = NULL;
    snprintf(path, sizeof path, "%s/tokenizer_config.json", model_dir);
    FILE *f = fopen(path, "rb");
    if (!f) return hy_errorf(HY_ERR_IO, "%s: cannot open (hint: --model must be a checkpoint directory with the tokenizer files)", path);
    long n = -1;
    hy_status st = HY_OK;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) st = hy_errorf(HY_ERR_IO, "%s: cannot seek", path);
    if (st == HY_OK) st = hy_malloc((void **)&text, (size_t)n + 1, 0, path);
    if (st == HY_OK && fread(text, 1, (size_t)n, f) != (size_t)n) st = hy_errorf(HY_ERR_IO, "%s: short read", path);
    fclose(f);
    if (st == HY_OK) st = hy_tok_parse_config(&cfg, text, (size_t)n, path);
    const hy_json *tpl = st == HY_OK ? chat_pick_template(cfg) : NULL;
    if (st == HY_OK) st = chat_recognise(tpl, path);
    hy_chat_template *t = NULL;
    if (st == HY_OK) st = hy_malloc((void **)&t, sizeof *t, 1, "chat template");
    if (st == HY_OK) {
        t->hash = chat_fnv64(hy_json_str(tpl), hy_json_len(tpl));
        *out = t;
    }
    hy_json_free(cfg);
    hy_free(text);
    return st;
}

void hy_chat_template_free(hy_chat_template *t) { hy_free(t); }
uint64_t hy_chat_template_hash(const hy_chat_template *t) { return t->hash; }

/* ---------------------------------------------------------------- output buffer */

typedef struct {
    char *p;
    size_t n, cap;
    hy_status st; /* sticky: the first failure */
} chat_buf;

static void cb_put(chat_buf *b, const char *s, size_t n) {
    if (b->st != HY_OK) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->st = hy_errorf(HY_ERR_OOM, "chat template: out of memory rendering (%zu bytes)", cap); return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}
static void cb_puts(chat_buf *b, const char *s) { cb_put(b, s, strlen(s)); }

/* ---------------------------------------------------------------- Python semantics */

/* Python's str.isspace() for one code point. */
static int chat_py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* str.strip(): the sub-range [*a, *b) of s[0..n) without leading and trailing
 * Python whitespace (invalid UTF-8 bytes count as non-space). */
void hy_chat_py_strip(const char *s, size_t n, size_t *a, size_t *b) {
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0, j = n;
    uint32_t cp;
    for (size_t k; i < n && (k = hy_tok_utf8_next(u + i, n - i, &cp)) && chat_py_space(cp);) i += k;
    while (j > i) {
        size_t st = j - 1; /* back up to the start of the last character */
        while (st > i && j - st < 4 && (u[st] & 0xC0) == 0x80) st--;
        size_t k = hy_tok_utf8_next(u + st, j - st, &cp);
        if (k != j - st || !chat_py_space(cp)) break;
        j = st;
    }
    *a = i;
    *b = j;
}

/* repr(float): the shortest digits that round-trip, positional for decimal
 * exponents −4 < decpt ≤ 16, scientific ("1e-05", "1e+16") otherwise. */
void hy_chat_py_float(double v, char out[32]) {
    if (isnan(v)) { strcpy(out, "NaN"); return; }
    if (isinf(v)) { strcpy(out, v < 0 ? "-Infinity" : "Infinity"); return; }
    if (v == 0) { strcpy(out, signbit(v) ? "-0.0" : "0.0"); return; }
    char buf[40], dig[20];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v) break;
    }
    const char *s = buf + (buf[0] == '-');
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s != '.') dig[nd++] = *s;
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    int decpt = atoi(s + 1) + 1, k = 0;
    if (v < 0) out[k++] = '-';
    if (decpt <= -4 || decpt > 16) {
        out[k++] = dig[0];
        if (nd > 1) { out[k++] = '.'; memcpy(out + k, dig + 1, (size_t)nd - 1); k += nd - 1; }
        snprintf(out + k, 32 - (size_t)k, "e%c%02d", decpt - 1 < 0 ? '-' : '+', abs(decpt - 1));
        return;
    }
    if (decpt <= 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int i = 0; i < -decpt; i++) out[k++] = '0';
        memcpy(out + k, dig, (size_t)nd);
        k += nd;
    } else {
        for (int i = 0; i < decpt; i++) out[k++] = i < nd ? dig[i] : '0';
        out[k++] = '.';
        if (nd > decpt) { memcpy(out + k, dig + decpt, (size_t)(nd - decpt)); k += nd - decpt; }
        else out[k++] = '0';
    }
    out[k] = 0;
}

/* A JSON string as json.dumps(ensure_ascii=False) writes it. */
static void chat_json_string(chat_buf *b, const char *s, size_t n) {
    cb_put(b, "\"", 1);
    size_t done = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        cb_put(b, s + done, i - done);
        done = i + 1;
        char esc[8];
        switch (c) {
        case '"': cb_puts(b, "\\\""); break;
        case '\\': cb_puts(b, "\\\\"); break;
        case '\n': cb_puts(b, "\\n"); break;
        case '\r': cb_puts(b, "\\r"); break;
        case '\t': cb_puts(b, "\\t"); break;
        case '\b': cb_puts(b, "\\b"); break;
        case '\f': cb_puts(b, "\\f"); break;
        default: snprintf(esc, sizeof esc, "\\u%04x", c); cb_puts(b, esc);
        }
    }
    cb_put(b, s + done, n - done);
    cb_put(b, "\"", 1);
}

/* tool|tojson: json.dumps(x, ensure_ascii=False) with default separators. */
static void chat_tojson(chat_buf *b, const hy_json *j) {
    char num[32];
    switch (hy_json_typeof(j)) {
    case HY_JSON_NULL: cb_puts(b, "null"); break;
    case HY_JSON_BOOL: cb_puts(b, hy_json_bool(j) ? "true" : "false"); break;
    case HY_JSON_INT: snprintf(num, sizeof num, "%lld", (long long)hy_json_int(j)); cb_puts(b, num); break;
    case HY_JSON_REAL: hy_chat_py_float(hy_json_num(j), num); cb_puts(b, num); break;
    case HY_JSON_STRING: chat_json_string(b, hy_json_str(j), hy_json_len(j)); break;
    case HY_JSON_ARRAY:
        cb_put(b, "[", 1);
        for (size_t i = 0; i < hy_json_len(j); i++) {
            if (i) cb_put(b, ", ", 2);
            chat_tojson(b, hy_json_at(j, i));
        }
        cb_put(b, "]", 1);
        break;
    case HY_JSON_OBJECT: {
        cb_put(b, "{", 1);
        int first = 1;
        for (void *it = hy_json_iter(j); it; it = hy_json_iter_next(j, it), first = 0) {
            if (!first) cb_put(b, ", ", 2);
            const char *k = hy_json_iter_key(it);
            chat_json_string(b, k, strlen(k));
            cb_put(b, ": ", 2);
            chat_tojson(b, hy_json_iter_value(it));
        }
        cb_put(b, "}", 1);
        break;
    }
    case HY_JSON_INVALID: cb_puts(b, "null"); break;
    }
}

char *hy_chat_tojson(const hy_json *j) {
    chat_buf b = {0};
    cb_put(&b, "", 0);
    chat_tojson(&b, j);
    if (b.st != HY_OK) { free(b.p); return NULL; }
    return b.p;
}

/* ---------------------------------------------------------------- rendering */

/* Write msg's stripped content; its byte range in the output goes to *a, *b. */
static void chat_put_stripped(chat_buf *cb, const hy_chat_msg *m, size_t *a, size_t *b) {
    size_t s = 0, e = 0;
    if (m->content) hy_chat_py_strip(m->content, m->len, &s, &e);
    *a = cb->n;
    if (e > s) cb_put(cb, m->content + s, e - s);
    *b = cb->n;
}

static hy_status chat_check(const hy_chat *c) {
    if (c->n < 0 || (c->n > 0 && !c->msgs)) return hy_errorf(HY_ERR_ARG, "chat: %d messages with no message array", c->n);
    if (c->tools && hy_json_typeof(c->tools) != HY_JSON_ARRAY)
        return hy_errorf(HY_ERR_DATA, "tools: expected an array of tool definitions, got %s", hy_json_describe(c->tools));
    for (int i = 0; i < c->n; i++)
        if ((unsigned)c->msgs[i].role >= HY_ARRAY_LEN(k_role_names))
            return hy_errorf(HY_ERR_ARG, "messages[%d]: invalid role %d", i, (int)c->msgs[i].role);
    return HY_OK;
}

hy_status hy_chat_render(const hy_chat_template *t, const hy_chat *c, int add_generation_prompt, char **text, size_t *len,
                         size_t **spans, int *n_spans) {
    (void)t; /* the only implemented template; recognised at load */
    HY_TRY(chat_check(c));
    int has_tools = c->tools && hy_json_len(c->tools) > 0, nsp = 0;
    size_t *sp = NULL, a, b;
    if (spans) {
        int na = 0;
        for (int i = 0; i < c->n; i++) na += c->msgs[i].role == HY_ROLE_ASSISTANT;
        sp = malloc(2 * (size_t)(na ? na : 1) * sizeof *sp);
        if (!sp) return hy_errorf(HY_ERR_OOM, "chat template: out of memory (%d spans)", na);
    }
    chat_buf cb = {0};
    cb_puts(&cb, "<extra_id_0>System");
    for (int i = 0; i < c->n; i++) {
        if (c->msgs[i].role != HY_ROLE_SYSTEM) continue;
        cb_put(&cb, "\n", 1);
        chat_put_stripped(&cb, &c->msgs[i], &a, &b);
        if (has_tools) cb_put(&cb, "\n", 1);
    }
    for (size_t k = 0; has_tools && k < hy_json_len(c->tools); k++) {
        cb_puts(&cb, "\n<tool> ");
        chat_tojson(&cb, hy_json_at(c->tools, k));
        cb_puts(&cb, " </tool>");
    }
    cb_puts(&cb, "\n\n");
    static const char *const header[] = {NULL, "<extra_id_1>User\n", "<extra_id_1>Assistant\n", "<extra_id_1>Tool\n"};
    for (int i = 0; i < c->n; i++) {
        const hy_chat_msg *m = &c->msgs[i];
        if (m->role == HY_ROLE_SYSTEM) continue;
        cb_puts(&cb, header[m->role]);
        chat_put_stripped(&cb, m, &a, &b);
        cb_put(&cb, "\n", 1);
        if (m->role == HY_ROLE_ASSISTANT && sp) { sp[2 * nsp] = a; sp[2 * nsp + 1] = b + 1; nsp++; }
    }
    if (add_generation_prompt) cb_puts(&cb, header[HY_ROLE_ASSISTANT]);
    if (cb.st != HY_OK) { free(cb.p); free(sp); return cb.st; }
    *text = cb.p;
    if (len) *len = cb.n;
    if (spans) { *spans = sp; *n_spans = nsp; }
    return HY_OK;
}

/* ---------------------------------------------------------------- ids and loss mask */

static hy_status chat_sample_reserve(hy_sample *s, size_t n) {
    if (n <= s->cap) return HY_OK;
    size_t cap = s->cap ? s->cap : 256;
    while (cap < n) cap *= 2;
    HY_TRY(hy_realloc((void **)&s->ids, cap * sizeof *s->ids, "sample ids"));
    HY_TRY(hy_realloc((void **)&s->labels, cap * sizeof *s->labels, "sample labels"));
    s->cap = cap;
    return HY_OK;
}

/* Is a token with byte span [ts, te) inside the supervised span [a, b)?  The
 * ▁ prepended after a special token has an empty span; it belongs to the span
 * it sits in. */
static int chat_in_span(uint32_t ts, uint32_t te, size_t a, size_t b) {
    return ts == te ? (ts >= a && ts < b) : (ts < b && te > a);
}

static hy_status chat_fill(const hy_tokenizer *tok, const hy_chat *c, const hy_chat_opts *o, const hy_tokens *v, const size_t *sp,
                           int nsp, hy_sample *out) {
    int last_is_asst = c->n > 0 && c->msgs[c->n - 1].role == HY_ROLE_ASSISTANT;
    int eos = o->add_eos && last_is_asst, bos = o->add_bos != 0;
    if ((eos && hy_tok_eos(tok) < 0) || (bos && hy_tok_bos(tok) < 0))
        return hy_errorf(HY_ERR_CONFIG, "chat: the tokenizer defines no %s token", eos ? "EOS" : "BOS");
    out->n = 0;
    HY_TRY(chat_sample_reserve(out, v->n + (size_t)bos + (size_t)eos));
    if (bos) { out->ids[0] = hy_tok_bos(tok); out->labels[0] = o->train_on == HY_TRAIN_EVERYTHING ? out->ids[0] : -100; out->n = 1; }
    int first = o->train_on == HY_TRAIN_LAST_ASSISTANT ? nsp - 1 : 0;
    for (size_t i = 0, k = (size_t)(first > 0 ? first : 0); i < v->n; i++) {
        int sup = o->train_on == HY_TRAIN_EVERYTHING;
        while ((int)k < nsp && v->start[i] >= sp[2 * k + 1]) k++; /* tokens and spans both ascend */
        if (!sup && (int)k < nsp) sup = chat_in_span(v->start[i], v->end[i], sp[2 * k], sp[2 * k + 1]);
        out->ids[out->n] = v->ids[i];
        out->labels[out->n] = sup ? v->ids[i] : -100;
        out->n++;
    }
    if (eos) {
        out->ids[out->n] = hy_tok_eos(tok);
        out->labels[out->n] = out->ids[out->n];
        out->n++;
    }
    return HY_OK;
}

hy_status hy_chat_encode(const hy_chat_template *t, const hy_tokenizer *tok, const hy_chat *c, const hy_chat_opts *o, hy_sample *out) {
    hy_chat_opts def = hy_chat_opts_default();
    if (!o) o = &def;
    char *text = NULL;
    size_t len = 0, *sp = NULL;
    int nsp = 0;
    hy_tokens v = {0};
    HY_TRY(hy_chat_render(t, c, 0, &text, &len, &sp, &nsp));
    hy_status st = hy_tok_encode(tok, text, len, &v);
    if (st == HY_OK) st = chat_fill(tok, c, o, &v, sp, nsp, out);
    hy_tokens_free(&v);
    free(text);
    free(sp);
    return st;
}

hy_status hy_chat_encode_prompt(const hy_chat_template *t, const hy_tokenizer *tok, const hy_chat *c, int add_bos, hy_tokens *out) {
    char *text = NULL;
    size_t len = 0;
    HY_TRY(hy_chat_render(t, c, 1, &text, &len, NULL, NULL));
    hy_tokens_clear(out);
    hy_status st = HY_OK;
    if (add_bos && hy_tok_bos(tok) < 0) st = hy_errorf(HY_ERR_CONFIG, "chat: the tokenizer defines no BOS token");
    else if (add_bos) st = hy_tokens_push(out, hy_tok_bos(tok), 0, 0);
    if (st == HY_OK) st = hy_tok_encode(tok, text, len, out);
    free(text);
    return st;
}

void hy_sample_free(hy_sample *s) {
    hy_free(s->ids);
    hy_free(s->labels);
    memset(s, 0, sizeof *s);
}
