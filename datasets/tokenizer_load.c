/* tokenizer_load.c — reading tokenizer.json / tokenizer_config.json into the
 * lookup tables of tokenizer_internal.h.
 *
 * Only the pipeline of Llama-style SentencePiece-converted tokenizers is
 * accepted (spec §13.1): BPE model with byte fallback and no dropout or
 * subword affixes; normalizer Sequence[Prepend "▁", Replace " " → "▁"]; no
 * pre-tokenizer; decoder Sequence[Replace "▁" → " ", ByteFallback, Fuse,
 * Strip one leading space]; added tokens matched on the raw text (not
 * normalized, no lstrip/rstrip/single_word).  Anything else is
 * HY_ERR_UNSUPPORTED naming the field, because silently tokenizing
 * differently from the checkpoint's tokenizer would corrupt training.
 *
 * Merge semantics follow `tokenizers`: rank = index in "merges", each entry is
 * "left right" or ["left", "right"], both sides and their concatenation must
 * be vocabulary pieces, and a repeated pair keeps its last rank. */
#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "datasets/tokenizer_internal.h"

enum { HY_TOK_MAX_ID = 1 << 24 };

static hy_status tok_read_file(const char *path, char **buf, size_t *len, int optional) {
    *buf = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (optional && errno == ENOENT) return HY_OK;
        return hy_errorf(HY_ERR_IO, "%s: cannot open: %s (hint: --model must be a checkpoint directory with the tokenizer files)",
                         path, strerror(errno));
    }
    hy_status st = HY_OK;
    long n = -1;
    if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        st = hy_errorf(HY_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    if (st == HY_OK) st = hy_malloc((void **)buf, (size_t)n + 1, 0, path);
    if (st == HY_OK && fread(*buf, 1, (size_t)n, f) != (size_t)n)
        st = hy_errorf(HY_ERR_IO, "%s: short read: %s", path, strerror(errno));
    fclose(f);
    if (st != HY_OK) { hy_free(*buf); *buf = NULL; return st; }
    (*buf)[n] = 0;
    *len = (size_t)n;
    return HY_OK;
}

/* Parse tokenizer_config.json.  Its integer literals may exceed 64 bits
 * (transformers writes model_max_length = int(1e30)), which jansson rejects;
 * such literals (more than 18 digits) are given a ".0" so they parse as reals —
 * nothing here reads them. */
hy_status hy_tok_parse_config(hy_json **out, const char *text, size_t n, const char *path) {
    char *fixed = NULL;
    size_t extra = 0, k = 0;
    for (int pass = 0; pass < 2; pass++) {
        int in_str = 0;
        for (size_t i = 0; i < n; i++) {
            char c = text[i];
            if (fixed) fixed[k++] = c;
            if (in_str) {
                if (c == '\\' && i + 1 < n) { i++; if (fixed) fixed[k++] = text[i]; }
                else if (c == '"') in_str = 0;
                continue;
            }
            if (c == '"') { in_str = 1; continue; }
            if (c < '0' || c > '9' || (i && text[i - 1] >= '0' && text[i - 1] <= '9')) continue;
            size_t j = i;
            while (j < n && text[j] >= '0' && text[j] <= '9') j++;
            if (j - i <= 18 || (j < n && (text[j] == '.' || text[j] == 'e' || text[j] == 'E'))) continue;
            if (!fixed) { extra += 2; continue; }
            memcpy(fixed + k, text + i + 1, j - i - 1);
            k += j - i - 1;
            memcpy(fixed + k, ".0", 2);
            k += 2;
            i = j - 1;
        }
        if (!extra) return hy_json_parse(out, text, n, path);
        if (!fixed) HY_TRY(hy_malloc((void **)&fixed, n + extra + 1, 0, path));
    }
    hy_status st = hy_json_parse(out, fixed, k, path);
    hy_free(fixed);
    return st;
}

/* ---------------------------------------------------------------- pipeline checks */

static int tok_str_is(const hy_json *j, const char *key, const char *want) {
    const char *s = hy_json_str(hy_json_get(j, key));
    return s && !strcmp(s, want);
}
static int tok_null_or(const hy_json *v, hy_json_type alt_type, const char *alt_str) {
    hy_json_type ty = hy_json_typeof(v);
    if (ty == HY_JSON_INVALID || ty == HY_JSON_NULL) return 1;
    if (ty != alt_type) return 0;
    return alt_type == HY_JSON_STRING ? !strcmp(hy_json_str(v), alt_str) : !hy_json_bool(v);
}
/* A Replace normalizer/decoder step mapping the plain string `from` to `to`. */
static int tok_is_replace(const hy_json *j, const char *from, const char *to) {
    return tok_str_is(j, "type", "Replace") && tok_str_is(hy_json_get(j, "pattern"), "String", from) && tok_str_is(j, "content", to);
}

static hy_status tok_unsupported(const char *path, const char *field, const char *want) {
    return hy_errorf(HY_ERR_UNSUPPORTED,
                     "%s: %s: expected %s (only Llama-style byte-fallback BPE tokenizers with the SentencePiece "
                     "\"prepend ▁, spaces → ▁\" normalizer and no pre-tokenizer are supported)",
                     path, field, want);
}

static hy_status tok_check_pipeline(const hy_json *root, const char *path) {
    const hy_json *m = hy_json_get(root, "model");
    if (!tok_str_is(m, "type", "BPE")) return tok_unsupported(path, "model.type", "\"BPE\"");
    if (hy_json_typeof(hy_json_get(m, "byte_fallback")) != HY_JSON_BOOL || !hy_json_bool(hy_json_get(m, "byte_fallback")))
        return tok_unsupported(path, "model.byte_fallback", "true");
    if (!tok_null_or(hy_json_get(m, "dropout"), HY_JSON_NULL, NULL)) return tok_unsupported(path, "model.dropout", "null");
    if (!tok_null_or(hy_json_get(m, "continuing_subword_prefix"), HY_JSON_STRING, ""))
        return tok_unsupported(path, "model.continuing_subword_prefix", "null");
    if (!tok_null_or(hy_json_get(m, "end_of_word_suffix"), HY_JSON_STRING, ""))
        return tok_unsupported(path, "model.end_of_word_suffix", "null");
    if (!tok_null_or(hy_json_get(m, "ignore_merges"), HY_JSON_BOOL, NULL)) return tok_unsupported(path, "model.ignore_merges", "false");
    const hy_json *norm = hy_json_get(root, "normalizer"), *ns = hy_json_get(norm, "normalizers");
    if (!tok_str_is(norm, "type", "Sequence") || hy_json_len(ns) != 2 || !tok_str_is(hy_json_at(ns, 0), "type", "Prepend") ||
        !tok_str_is(hy_json_at(ns, 0), "prepend", "\xE2\x96\x81") || !tok_is_replace(hy_json_at(ns, 1), " ", "\xE2\x96\x81"))
        return tok_unsupported(path, "normalizer", "Sequence[Prepend \"▁\", Replace \" \" → \"▁\"]");
    hy_json_type pt = hy_json_typeof(hy_json_get(root, "pre_tokenizer"));
    if (pt != HY_JSON_NULL && pt != HY_JSON_INVALID) return tok_unsupported(path, "pre_tokenizer", "null");
    const hy_json *dec = hy_json_get(root, "decoder"), *ds = hy_json_get(dec, "decoders");
    const hy_json *strip = hy_json_at(ds, 3);
    if (!tok_str_is(dec, "type", "Sequence") || hy_json_len(ds) != 4 || !tok_is_replace(hy_json_at(ds, 0), "\xE2\x96\x81", " ") ||
        !tok_str_is(hy_json_at(ds, 1), "type", "ByteFallback") || !tok_str_is(hy_json_at(ds, 2), "type", "Fuse") ||
        !tok_str_is(strip, "type", "Strip") || !tok_str_is(strip, "content", " ") || hy_json_int(hy_json_get(strip, "start")) != 1 ||
        hy_json_int(hy_json_get(strip, "stop")) != 0)
        return tok_unsupported(path, "decoder", "Sequence[Replace \"▁\" → \" \", ByteFallback, Fuse, Strip(\" \", 1, 0)]");
    return HY_OK;
}

/* ---------------------------------------------------------------- vocabulary */

static hy_status tok_alloc_tables(hy_tokenizer *t, const hy_json *vocab, const hy_json *added, const char *path) {
    size_t arena = 0;
    int64_t max_id = -1;
    for (void *it = hy_json_iter(vocab); it; it = hy_json_iter_next(vocab, it)) {
        const hy_json *v = hy_json_iter_value(it);
        int64_t id = hy_json_int(v);
        if (hy_json_typeof(v) != HY_JSON_INT || id < 0 || id >= HY_TOK_MAX_ID)
            return hy_errorf(HY_ERR_FORMAT, "%s: model.vocab[\"%s\"]: expected an id in 0..%d, got %s", path,
                             hy_json_iter_key(it), HY_TOK_MAX_ID - 1, hy_json_describe(v));
        arena += strlen(hy_json_iter_key(it)) + 1;
        if (id > max_id) max_id = id;
    }
    for (size_t i = 0; i < hy_json_len(added); i++) {
        const hy_json *a = hy_json_at(added, i), *id = hy_json_get(a, "id");
        const char *c = hy_json_str(hy_json_get(a, "content"));
        if (hy_json_typeof(id) != HY_JSON_INT || hy_json_int(id) < 0 || hy_json_int(id) >= HY_TOK_MAX_ID || !c || !*c)
            return hy_errorf(HY_ERR_FORMAT, "%s: added_tokens[%zu]: expected {\"id\": 0..%d, \"content\": non-empty string}", path, i,
                             HY_TOK_MAX_ID - 1);
        arena += hy_json_len(hy_json_get(a, "content")) + 1;
        if (hy_json_int(id) > max_id) max_id = hy_json_int(id);
    }
    if (max_id < 0) return hy_errorf(HY_ERR_FORMAT, "%s: model.vocab is empty", path);
    t->n_ids = (int32_t)max_id + 1;
    size_t n = (size_t)t->n_ids, slots = 1;
    while (slots < 2 * hy_json_len(vocab) + 2) slots *= 2;
    t->vocab_mask = (uint32_t)slots - 1;
    HY_TRY(hy_malloc((void **)&t->arena, arena + 1, 0, "tokenizer pieces"));
    HY_TRY(hy_malloc((void **)&t->piece, n * sizeof *t->piece, 1, "tokenizer piece table"));
    HY_TRY(hy_malloc((void **)&t->piece_len, n * sizeof *t->piece_len, 1, "tokenizer piece table"));
    HY_TRY(hy_malloc((void **)&t->byte_of, n * sizeof *t->byte_of, 0, "tokenizer byte table"));
    HY_TRY(hy_malloc((void **)&t->special, n, 1, "tokenizer special table"));
    HY_TRY(hy_malloc((void **)&t->whole, n, 1, "tokenizer whole-piece table"));
    HY_TRY(hy_malloc((void **)&t->vocab_slot, slots * sizeof *t->vocab_slot, 0, "tokenizer vocabulary"));
    HY_TRY(hy_malloc((void **)&t->bmp_id, 65536 * sizeof *t->bmp_id, 0, "tokenizer character table"));
    HY_TRY(hy_malloc((void **)&t->added, (hy_json_len(added) + 1) * sizeof *t->added, 1, "added tokens"));
    memset(t->vocab_slot, 0xFF, slots * sizeof *t->vocab_slot);
    return HY_OK;
}

static hy_status tok_fill_vocab(hy_tokenizer *t, const hy_json *vocab, size_t *arena_used, const char *path) {
    size_t used = 0;
    for (void *it = hy_json_iter(vocab); it; it = hy_json_iter_next(vocab, it)) {
        const char *k = hy_json_iter_key(it);
        int32_t id = (int32_t)hy_json_int(hy_json_iter_value(it));
        size_t n = strlen(k);
        if (t->piece[id])
            return hy_errorf(HY_ERR_FORMAT, "%s: model.vocab: id %d is used by both \"%s\" and \"%s\"", path, id, t->piece[id], k);
        memcpy(t->arena + used, k, n + 1);
        t->piece[id] = t->arena + used;
        t->piece_len[id] = (uint32_t)n;
        used += n + 1;
        uint32_t h = hy_tok_str_hash(k, n) & t->vocab_mask;
        while (t->vocab_slot[h] >= 0) h = (h + 1) & t->vocab_mask;
        t->vocab_slot[h] = id;
    }
    *arena_used = used;
    return HY_OK;
}

static hy_status tok_fill_added(hy_tokenizer *t, const hy_json *added, size_t used, const char *path) {
    for (size_t i = 0; i < hy_json_len(added); i++) {
        const hy_json *a = hy_json_at(added, i), *c = hy_json_get(a, "content");
        int32_t id = (int32_t)hy_json_int(hy_json_get(a, "id"));
        static const char *const flags[] = {"single_word", "lstrip", "rstrip", "normalized"};
        for (size_t f = 0; f < HY_ARRAY_LEN(flags); f++)
            if (hy_json_bool(hy_json_get(a, flags[f])))
                return hy_errorf(HY_ERR_UNSUPPORTED, "%s: added_tokens[%zu] (\"%s\"): \"%s\": expected false, got true (only added "
                                 "tokens matched verbatim on the raw text are supported)", path, i, hy_json_str(c), flags[f]);
        size_t n = hy_json_len(c);
        char *dst = t->arena + used;
        memcpy(dst, hy_json_str(c), n);
        dst[n] = 0;
        used += n + 1;
        if (t->piece[id] && (t->piece_len[id] != n || memcmp(t->piece[id], dst, n)))
            return hy_errorf(HY_ERR_UNSUPPORTED, "%s: added_tokens[%zu]: id %d is \"%s\" but model.vocab gives it to \"%s\"", path, i,
                             id, dst, t->piece[id]);
        if (!t->piece[id]) {
            t->piece[id] = dst;
            t->piece_len[id] = (uint32_t)n;
        }
        t->special[id] = (uint8_t)hy_json_bool(hy_json_get(a, "special"));
        t->added[t->n_added++] = (hy_added){dst, (uint32_t)n, id};
        t->added_first[(uint8_t)dst[0]] = 1;
    }
    return HY_OK;
}

/* ---------------------------------------------------------------- merges */

static hy_status tok_merge_sides(const hy_json *e, const char **l, size_t *nl, const char **r, size_t *nr) {
    if (hy_json_typeof(e) == HY_JSON_ARRAY) {
        if (hy_json_len(e) != 2 || !hy_json_str(hy_json_at(e, 0)) || !hy_json_str(hy_json_at(e, 1))) return HY_ERR_FORMAT;
        *l = hy_json_str(hy_json_at(e, 0));
        *nl = hy_json_len(hy_json_at(e, 0));
        *r = hy_json_str(hy_json_at(e, 1));
        *nr = hy_json_len(hy_json_at(e, 1));
        return HY_OK;
    }
    const char *s = hy_json_str(e), *sp = s ? strchr(s, ' ') : NULL;
    if (!sp || strchr(sp + 1, ' ')) return HY_ERR_FORMAT; /* exactly two parts, as `tokenizers` requires */
    *l = s;
    *nl = (size_t)(sp - s);
    *r = sp + 1;
    *nr = strlen(sp + 1);
    return HY_OK;
}

static hy_status tok_load_merges(hy_tokenizer *t, const hy_json *merges, const char *path) {
    size_t n = hy_json_len(merges);
    if (hy_json_typeof(merges) != HY_JSON_ARRAY) return hy_errorf(HY_ERR_FORMAT, "%s: model.merges: expected an array, got %s", path, hy_json_describe(merges));
    t->merge_bits = 4;
    while ((1ull << t->merge_bits) < 2 * n + 2) t->merge_bits++;
    uint32_t mask = (1u << t->merge_bits) - 1;
    HY_TRY(hy_malloc((void **)&t->merge, ((size_t)mask + 1) * sizeof *t->merge, 1, "tokenizer merges"));
    char tmp[1024];
    for (size_t i = 0; i < n; i++) {
        const char *l, *r;
        size_t nl, nr;
        if (tok_merge_sides(hy_json_at(merges, i), &l, &nl, &r, &nr) != HY_OK)
            return hy_errorf(HY_ERR_FORMAT, "%s: model.merges[%zu]: expected \"left right\" or [\"left\", \"right\"], got %s", path, i,
                             hy_json_describe(hy_json_at(merges, i)));
        if (nl + nr >= sizeof tmp) return hy_errorf(HY_ERR_UNSUPPORTED, "%s: model.merges[%zu]: piece longer than %zu bytes", path, i, sizeof tmp);
        memcpy(tmp, l, nl);
        memcpy(tmp + nl, r, nr);
        int32_t a = hy_tok_vocab_find(t, l, nl), b = hy_tok_vocab_find(t, r, nr), c = hy_tok_vocab_find(t, tmp, nl + nr);
        if (a < 0 || b < 0 || c < 0)
            return hy_errorf(HY_ERR_FORMAT, "%s: model.merges[%zu]: \"%.*s\" + \"%.*s\": %s is not in model.vocab", path, i, (int)nl, l,
                             (int)nr, r, a < 0 ? "the left piece" : b < 0 ? "the right piece" : "the merged piece");
        uint64_t key = hy_tok_pair_key(a, b);
        uint32_t h = hy_tok_pair_slot(t, key);
        while (t->merge[h].key && t->merge[h].key != key) h = (h + 1) & mask;
        t->merge[h] = (hy_merge_slot){key, (uint32_t)i, c}; /* a repeated pair keeps its last rank */
    }
    if (t->n_ids >= 65535 || n > 65536) return HY_OK;
    /* the compact copy, same slot positions (same hash, same probing) */
    HY_TRY(hy_malloc((void **)&t->merge16, ((size_t)mask + 1) * sizeof *t->merge16, 1, "tokenizer merges (compact)"));
    for (uint32_t h = 0; h <= mask; h++) {
        const hy_merge_slot *m = &t->merge[h];
        if (m->key) t->merge16[h] = (m->key >> 16 << 32) | (m->key & 0xFFFF) << 32 | (uint64_t)m->rank << 16 | (uint64_t)m->id;
    }
    return HY_OK;
}

/* ---------------------------------------------------------------- derived tables */

static int tok_hex(uint8_t c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static hy_status tok_build_tables(hy_tokenizer *t, const char *path) {
    for (int i = 0; i < 65536; i++) t->bmp_id[i] = -1;
    for (int32_t id = 0; id < t->n_ids; id++) {
        const uint8_t *p = (const uint8_t *)t->piece[id];
        size_t n = t->piece_len[id];
        t->byte_of[id] = -1;
        if (!p) continue;
        int hi = n == 6 ? tok_hex(p[3]) : -1, lo = n == 6 ? tok_hex(p[4]) : -1;
        if (!memcmp(p, "<0x", hy_zmin(n, 3)) && n == 6 && p[5] == '>' && hi >= 0 && lo >= 0) t->byte_of[id] = (int16_t)(hi * 16 + lo);
        if (hy_tok_vocab_find(t, (const char *)p, n) != id) continue; /* an added-only token */
        uint32_t cp;
        if (n && hy_tok_utf8_next(p, n, &cp) == n && cp < 0x10000) t->bmp_id[cp] = id;
    }
    t->space_id = hy_tok_vocab_find(t, "\xE2\x96\x81", 3);
    if (t->space_id < 0) return tok_unsupported(path, "model.vocab", "a piece \"▁\"");
    t->bmp_id[' '] = t->space_id; /* the Replace " " → "▁" normalizer */
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = hy_tok_vocab_find(t, name, 6);
        if (t->byte_id[b] < 0) return tok_unsupported(path, "model.vocab", "all 256 byte-fallback pieces <0x00>…<0xFF>");
    }
    return HY_OK;
}

/* Small index of a character for the pair bit matrix, −1 if none. */
static int tok_cidx(const hy_tokenizer *t, uint32_t cp, int32_t id) {
    return cp < 128 && cp != ' ' ? (int)cp : id == t->space_id ? 128 : -1;
}

static void tok_pair_add(hy_tokenizer *t, int32_t a, int ca, int32_t b, int cb) {
    if (ca >= 0 && cb >= 0) t->ascii_pair[ca][cb >> 6] |= 1ull << (cb & 63);
    uint64_t key = hy_tok_pair_key(a, b);
    uint32_t mask = (1u << t->pair_bits) - 1;
    uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - t->pair_bits));
    while (t->pair_set[h] && t->pair_set[h] != key) h = (h + 1) & mask;
    t->pair_set[h] = key;
}

/* Joinable character pairs (see tokenizer_internal.h).  Word splitting needs
 * byte tokens never to merge; then a piece with a character that is not
 * itself a piece can never be produced and contributes no pairs. */
static hy_status tok_build_pairs(hy_tokenizer *t) {
    size_t total = 0;
    t->split_words = 1;
    for (uint32_t i = 0; i < (1u << t->merge_bits); i++) {
        uint64_t k = t->merge[i].key;
        int32_t l = (int32_t)(k >> 32) - 1, r = (int32_t)(k & 0xFFFFFFFFu) - 1;
        if (k && (t->byte_of[l] >= 0 || t->byte_of[r] >= 0)) t->split_words = 0;
    }
    for (int32_t id = 0; id < t->n_ids; id++) total += t->piece[id] ? t->piece_len[id] : 0;
    t->pair_bits = 4;
    while ((1ull << t->pair_bits) < 2 * total + 2) t->pair_bits++;
    HY_TRY(hy_malloc((void **)&t->pair_set, ((size_t)1 << t->pair_bits) * sizeof *t->pair_set, 1, "tokenizer pair set"));
    for (int32_t id = 0; id < t->n_ids; id++) {
        const uint8_t *p = (const uint8_t *)t->piece[id];
        size_t n = t->piece_len[id], k;
        if (!p || hy_tok_vocab_find(t, (const char *)p, n) != id) continue;
        int32_t prev = -1;
        int cprev = -1;
        for (size_t i = 0; i < n; i += k) {
            uint32_t cp;
            k = hy_tok_utf8_next(p + i, n - i, &cp);
            int32_t c = k ? hy_tok_vocab_find(t, (const char *)p + i, k) : -1;
            if (c < 0) break; /* not producible */
            int cc = tok_cidx(t, cp, c);
            if (prev >= 0) tok_pair_add(t, prev, cprev, c, cc);
            prev = c;
            cprev = cc;
        }
    }
    return HY_OK;
}

/* Id of a special token named in tokenizer_config.json (a string or
 * {"content": ...}), falling back to `dflt`; −1 when absent. */
static int32_t tok_special_id(const hy_tokenizer *t, const hy_json *cfg, const char *key, const char *dflt) {
    const hy_json *v = hy_json_get(cfg, key);
    const char *s = hy_json_str(v) ? hy_json_str(v) : hy_json_str(hy_json_get(v, "content"));
    if (!s) s = dflt;
    for (int k = 0; k < t->n_added; k++)
        if (!strcmp(t->added[k].text, s)) return t->added[k].id;
    return hy_tok_vocab_find(t, s, strlen(s));
}

static uint64_t tok_fnv64(uint64_t h, const void *p, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ ((const uint8_t *)p)[i]) * 0x100000001b3ull;
    return h;
}

static hy_status tok_build(hy_tokenizer *t, const hy_json *root, const hy_json *cfg, const char *path) {
    HY_TRY(tok_check_pipeline(root, path));
    const hy_json *model = hy_json_get(root, "model"), *vocab = hy_json_get(model, "vocab");
    const hy_json *added = hy_json_get(root, "added_tokens");
    if (hy_json_typeof(vocab) != HY_JSON_OBJECT)
        return hy_errorf(HY_ERR_FORMAT, "%s: model.vocab: expected an object, got %s", path, hy_json_describe(vocab));
    if (added && hy_json_typeof(added) != HY_JSON_ARRAY)
        return hy_errorf(HY_ERR_FORMAT, "%s: added_tokens: expected an array, got %s", path, hy_json_describe(added));
    size_t used = 0;
    HY_TRY(tok_alloc_tables(t, vocab, added, path));
    HY_TRY(tok_fill_vocab(t, vocab, &used, path));
    HY_TRY(tok_fill_added(t, added, used, path));
    HY_TRY(tok_load_merges(t, hy_json_get(model, "merges"), path));
    HY_TRY(tok_build_tables(t, path));
    HY_TRY(tok_build_pairs(t));
    HY_TRY(hy_tok_build_whole(t));
    t->bos = tok_special_id(t, cfg, "bos_token", "<s>");
    t->eos = tok_special_id(t, cfg, "eos_token", "</s>");
    return HY_OK;
}

hy_status hy_tok_load(hy_tokenizer **out, const char *model_dir) {
    char path[4096], cpath[4096];
    char *text = NULL, *ctext = NULL;
    size_t n = 0, cn = 0;
    hy_json *root = NULL, *cfg = NULL;
    hy_tokenizer *t = NULL;
    *out = NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", model_dir);
    snprintf(cpath, sizeof cpath, "%s/tokenizer_config.json", model_dir);
    hy_status st = tok_read_file(path, &text, &n, 0);
    if (st == HY_OK) st = tok_read_file(cpath, &ctext, &cn, 1);
    if (st == HY_OK) st = hy_json_parse(&root, text, n, path);
    if (st == HY_OK && ctext) st = hy_tok_parse_config(&cfg, ctext, cn, cpath);
    if (st == HY_OK) st = hy_malloc((void **)&t, sizeof *t, 1, "tokenizer");
    if (st == HY_OK) {
        t->fast = 1;
        uint64_t h = tok_fnv64(0xcbf29ce484222325ull, text, n);
        h = tok_fnv64(h, &n, sizeof n); /* the boundary between the two files */
        t->hash = tok_fnv64(h, ctext ? ctext : "", cn);
        st = tok_build(t, root, cfg, path);
    }
    hy_json_free(root);
    hy_json_free(cfg);
    hy_free(text);
    hy_free(ctext);
    if (st != HY_OK) { hy_tok_free(t); return st; }
    *out = t;
    return HY_OK;
}

void hy_tok_free(hy_tokenizer *t) {
    if (!t) return;
    hy_free(t->arena);
    hy_free(t->piece);
    hy_free(t->piece_len);
    hy_free(t->byte_of);
    hy_free(t->special);
    hy_free(t->whole);
    hy_free(t->pair_set);
    hy_free(t->vocab_slot);
    hy_free(t->merge);
    hy_free(t->merge16);
    hy_free(t->bmp_id);
    hy_free(t->added);
    hy_free(t);
}
