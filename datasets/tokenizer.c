/* tokenizer.c — the Hugging Face byte-fallback BPE tokenizer of a checkpoint
 * (spec §13.1), loaded from tokenizer.json, giving exactly the ids of the
 * `tokenizers` library with add_special_tokens=False.
 *
 * Pipeline (the only one accepted; anything else is HY_ERR_UNSUPPORTED):
 *   1. split the raw text on exact occurrences of the added-token strings
 *      (longest match at the leftmost position); they map to their ids;
 *   2. each remaining non-empty piece is normalized on its own: "▁" is
 *      prepended and every ' ' becomes "▁";
 *   3. the piece is split into characters; a character that is not a vocabulary
 *      piece becomes its UTF-8 bytes as <0xXX> tokens;
 *   4. merges are applied lowest rank first, leftmost first, until none applies.
 *
 * Invalid UTF-8 (which a Python str cannot hold, so HF never sees it): every
 * byte that does not start a well-formed UTF-8 sequence becomes its own
 * byte-fallback token <0xXX>; decoding such ids gives U+FFFD, not the input.
 *
 * Speed.  Characters map to ids through a direct table for the BMP (spaces map
 * to "▁" there, which *is* the normalizer).  Merges live in an open-addressing
 * table keyed by the (left id, right id) pair.  Every symbol BPE ever forms is
 * a vocabulary piece made of consecutive characters, so where two adjacent
 * characters occur adjacent in no piece, or next to a byte-fallback token
 * (byte tokens never merge, checked at load), no token can span the boundary:
 * the piece is cut there into words merged independently, which gives the same
 * result because merges on the two sides never interact (for this vocabulary
 * the cuts fall before every "▁" that follows another character, around
 * newlines and most punctuation).  A word that is itself a piece which BPE
 * rebuilds from its own characters (precomputed per piece at load) is one
 * token without merging.  Other short words use an O(m²) scan over cached pair
 * ranks; long words (and every piece with the fast paths off) use a binary
 * heap with lazy invalidation, O(m log m).
 *
 * Thread safety: a loaded tokenizer is immutable; encode/decode may run from
 * many threads at once (all scratch is per call). */
#include "datasets/tokenizer.h"

#include <errno.h>
#include <string.h>

#include "core/alloc.h"
#include "core/json.h"
#include "datasets/tokenizer_internal.h"

/* ---------------------------------------------------------------- UTF-8 */

/* Unicode Table 3-7 (well-formed byte sequences). */
size_t hy_tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp) {
    uint8_t c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    if (c < 0xC2 || c > 0xF4) return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    uint8_t lo = 0x80, hi = 0xBF;
    if (c == 0xE0) lo = 0xA0;
    else if (c == 0xED) hi = 0x9F;
    else if (c == 0xF0) lo = 0x90;
    else if (c == 0xF4) hi = 0x8F;
    if (n < 2 || s[1] < lo || s[1] > hi) return 0;
    if (c < 0xF0) {
        if (n < 3 || (s[2] & 0xC0) != 0x80) return 0;
        *cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
    *cp = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

static int tok_utf8_valid(const char *s, size_t n) {
    uint32_t cp;
    for (size_t i = 0; i < n;) {
        size_t k = hy_tok_utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

/* ---------------------------------------------------------------- lookups */

int32_t hy_tok_vocab_find(const hy_tokenizer *t, const char *s, size_t n) {
    for (uint32_t h = hy_tok_str_hash(s, n) & t->vocab_mask;; h = (h + 1) & t->vocab_mask) {
        int32_t id = t->vocab_slot[h];
        if (id < 0) return -1;
        if (t->piece_len[id] == n && !memcmp(t->piece[id], s, n)) return id;
    }
}

/* The merge of (l, r): 1 with its rank and merged id, or 0.  The compact
 * table (8-byte slots, half the cache footprint) when the load built one. */
static inline int tok_merge(const hy_tokenizer *t, int32_t l, int32_t r, uint32_t *rank, int32_t *id) {
    uint64_t key = hy_tok_pair_key(l, r);
    uint32_t mask = (1u << t->merge_bits) - 1;
    if (t->merge16) {
        uint32_t k32 = (uint32_t)(key >> 16) | (uint32_t)(key & 0xFFFF);
        for (uint32_t h = hy_tok_pair_slot(t, key);; h = (h + 1) & mask) {
            uint64_t m = t->merge16[h];
            if ((uint32_t)(m >> 32) == k32) {
                *rank = (uint32_t)(m >> 16) & 0xFFFF;
                *id = (int32_t)(m & 0xFFFF);
                return 1;
            }
            if (!m) return 0;
        }
    }
    for (uint32_t h = hy_tok_pair_slot(t, key);; h = (h + 1) & mask) {
        const hy_merge_slot *m = &t->merge[h];
        if (m->key == key) {
            *rank = m->rank;
            *id = m->id;
            return 1;
        }
        if (!m->key) return 0;
    }
}

/* ---------------------------------------------------------------- token lists */

static hy_status tok_reserve(hy_tokens *v, size_t extra) {
    if (v->n + extra <= v->cap) return HY_OK;
    size_t cap = v->cap ? v->cap : 64;
    while (cap < v->n + extra) cap *= 2;
    HY_TRY(hy_realloc((void **)&v->ids, cap * sizeof *v->ids, "token ids"));
    HY_TRY(hy_realloc((void **)&v->start, cap * sizeof *v->start, "token offsets"));
    HY_TRY(hy_realloc((void **)&v->end, cap * sizeof *v->end, "token offsets"));
    v->cap = cap;
    return HY_OK;
}

void hy_tokens_clear(hy_tokens *v) { v->n = 0; }
hy_status hy_tokens_push(hy_tokens *v, int32_t id, uint32_t start, uint32_t end) {
    HY_TRY(tok_reserve(v, 1));
    v->ids[v->n] = id;
    v->start[v->n] = start;
    v->end[v->n] = end;
    v->n++;
    return HY_OK;
}
void hy_tokens_free(hy_tokens *v) {
    hy_free(v->ids);
    hy_free(v->start);
    hy_free(v->end);
    memset(v, 0, sizeof *v);
}

/* ---------------------------------------------------------------- BPE on one word */

typedef struct { int32_t id; uint32_t start, end; } hy_sym;

/* O(m²) merge loop for short words: rank[i] caches the merge of (i, i+1). */
static size_t tok_bpe_small(const hy_tokenizer *t, hy_sym *s, size_t n) {
    uint32_t rank[HY_TOK_SMALL_WORD];
    int32_t nid[HY_TOK_SMALL_WORD];
    for (size_t i = 0; i + 1 < n; i++)
        if (!tok_merge(t, s[i].id, s[i + 1].id, &rank[i], &nid[i])) rank[i] = UINT32_MAX;
    while (n > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < n; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == UINT32_MAX) break;
        s[best].id = nid[best];
        s[best].end = s[best + 1].end;
        for (size_t i = best + 1; i + 1 < n; i++) s[i] = s[i + 1]; /* short: a loop beats a memmove call */
        for (size_t i = best; i + 2 < n; i++) {
            rank[i] = rank[i + 1];
            nid[i] = nid[i + 1];
        }
        n--;
        for (size_t i = best ? best - 1 : 0; i <= best && i + 1 < n; i++)
            if (!tok_merge(t, s[i].id, s[i + 1].id, &rank[i], &nid[i])) rank[i] = UINT32_MAX;
    }
    return n;
}

/* Heap entry: the merge of the symbol at `pos` with its right neighbour.
 * Ordered by (rank, pos): lowest rank first, leftmost first. */
typedef struct { uint32_t rank, pos; int32_t id; } hy_cand;

static inline int tok_cand_less(hy_cand a, hy_cand b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void tok_heap_push(hy_cand *h, size_t *n, hy_cand c) {
    size_t i = (*n)++;
    while (i > 0 && tok_cand_less(c, h[(i - 1) / 2])) { h[i] = h[(i - 1) / 2]; i = (i - 1) / 2; }
    h[i] = c;
}
static hy_cand tok_heap_pop(hy_cand *h, size_t *n) {
    hy_cand top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && tok_cand_less(h[c + 1], h[c])) c++;
        if (!tok_cand_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void tok_heap_offer(const hy_tokenizer *t, const hy_sym *s, hy_cand *h, size_t *nh, int32_t l, int32_t r) {
    uint32_t rank;
    int32_t id;
    if (l >= 0 && r >= 0 && tok_merge(t, s[l].id, s[r].id, &rank, &id)) tok_heap_push(h, nh, (hy_cand){rank, (uint32_t)l, id});
}

/* O(m log m) merge loop: symbols stay in place in a doubly linked list; stale
 * heap entries (a side already merged away or grown) are skipped on pop. */
static hy_status tok_bpe_heap(const hy_tokenizer *t, hy_sym *s, size_t *np) {
    size_t n = *np, nh = 0;
    int32_t *link = NULL;
    hy_cand *heap = NULL;
    /* every merge pushes at most two entries: 3n bounds the heap */
    HY_TRY(hy_malloc((void **)&link, 2 * n * sizeof *link, 0, "BPE word links"));
    hy_status st = hy_malloc((void **)&heap, 3 * n * sizeof *heap, 0, "BPE merge heap");
    if (st != HY_OK) { hy_free(link); return st; }
    int32_t *prev = link, *next = link + n;
    for (size_t i = 0; i < n; i++) { prev[i] = (int32_t)i - 1; next[i] = i + 1 < n ? (int32_t)i + 1 : -1; }
    for (size_t i = 0; i + 1 < n; i++) tok_heap_offer(t, s, heap, &nh, (int32_t)i, (int32_t)i + 1);
    while (nh) {
        hy_cand c = tok_heap_pop(heap, &nh);
        int32_t l = (int32_t)c.pos, r = next[l];
        if (s[l].id < 0 || r < 0) continue;
        uint32_t rank;
        int32_t id;
        if (!tok_merge(t, s[l].id, s[r].id, &rank, &id) || id != c.id || rank != c.rank) continue; /* stale */
        s[l].id = id;
        s[l].end = s[r].end;
        s[r].id = -1;
        next[l] = next[r];
        if (next[r] >= 0) prev[next[r]] = l;
        tok_heap_offer(t, s, heap, &nh, prev[l], l);
        tok_heap_offer(t, s, heap, &nh, l, next[l]);
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) s[k++] = s[i];
    *np = k;
    hy_free(link);
    hy_free(heap);
    return HY_OK;
}

/* ---------------------------------------------------------------- encode */

static const uint8_t k_space_bytes[3] = {0xE2, 0x96, 0x81}; /* "▁" */

/* A word being collected: its symbols, and its normalized text (spaces as
 * "▁") for the whole-piece shortcut while it is short enough. */
typedef struct {
    hy_sym *s;
    size_t n, cap;
    size_t nkey; /* > HY_TOK_KEY_MAX: too long for the shortcut */
    char key[HY_TOK_KEY_MAX];
    hy_sym local[256];
} hy_word;

static hy_status tok_word_grow(hy_word *w) {
    size_t cap = w->cap * 2;
    hy_sym *s;
    HY_TRY(hy_malloc((void **)&s, cap * sizeof *s, 0, "BPE word"));
    memcpy(s, w->s, w->n * sizeof *s);
    if (w->s != w->local) hy_free(w->s);
    w->s = s;
    w->cap = cap;
    return HY_OK;
}

static inline hy_status tok_word_push(hy_word *w, int32_t id, uint32_t a, uint32_t b) {
    if (w->n == w->cap) HY_TRY(tok_word_grow(w));
    w->s[w->n++] = (hy_sym){id, a, b};
    return HY_OK;
}

static inline void tok_word_key(hy_word *w, const uint8_t *bytes, size_t n) {
    if (w->nkey + n <= HY_TOK_KEY_MAX)
        for (size_t i = 0; i < n; i++) w->key[w->nkey + i] = (char)bytes[i];
    w->nkey += n;
}

/* Merge the collected word's symbols in place; the count goes to *n. */
static hy_status tok_word_merge(const hy_tokenizer *t, hy_word *w, size_t *n) {
    *n = w->n;
    if (*n < 2) return HY_OK;
    if (t->fast && *n > 2 && w->nkey <= HY_TOK_KEY_MAX) {
        /* the whole word is a piece that BPE on its characters reproduces
         * (for two symbols the one merge lookup is cheaper) */
        int32_t id = hy_tok_vocab_find(t, w->key, w->nkey);
        if (id >= 0 && t->whole[id]) {
            w->s[0] = (hy_sym){id, w->s[0].start, w->s[*n - 1].end};
            *n = 1;
            return HY_OK;
        }
    }
    if (t->fast && *n <= HY_TOK_SMALL_WORD) *n = tok_bpe_small(t, w->s, *n);
    else HY_TRY(tok_bpe_heap(t, w->s, n));
    return HY_OK;
}

/* Merge the collected word and append it to `out`. */
static hy_status tok_word_flush(const hy_tokenizer *t, hy_word *w, hy_tokens *out) {
    size_t n;
    HY_TRY(tok_word_merge(t, w, &n));
    HY_TRY(tok_reserve(out, n));
    for (size_t i = 0; i < n; i++) {
        out->ids[out->n] = w->s[i].id;
        out->start[out->n] = w->s[i].start;
        out->end[out->n] = w->s[i].end;
        out->n++;
    }
    w->n = 0;
    w->nkey = 0;
    return HY_OK;
}

/* Id of the single-character piece at s[0..n) (length in *clen), or −1 when it
 * needs byte fallback (*clen = 1 for an invalid byte). */
static inline int32_t tok_char_id(const hy_tokenizer *t, const uint8_t *s, size_t n, size_t *clen) {
    uint32_t cp;
    if (s[0] < 0x80) { *clen = 1; return t->bmp_id[s[0]]; }
    size_t k = hy_tok_utf8_next(s, n, &cp);
    if (!k) { *clen = 1; return -1; }
    *clen = k;
    return cp < 0x10000 ? t->bmp_id[cp] : hy_tok_vocab_find(t, (const char *)s, k);
}

/* Push the characters of s[a..b) onto w (spans relative to s; no prepended
 * ▁).  With `split`, the word collected so far is flushed to `out` wherever
 * no token can span the boundary: next to a byte-fallback symbol, or between
 * two characters that are adjacent in no piece.  *prev / *cprev: the previous
 * character's piece id (−1 for bytes) and small index, updated. */
static hy_status tok_push_chars(const hy_tokenizer *t, const char *text, size_t a, size_t b, hy_word *w, int split, int32_t *prev,
                                int *cprev, hy_tokens *out) {
    const uint8_t *s = (const uint8_t *)text;
    hy_status st = HY_OK;
    for (size_t i = a; i < b && st == HY_OK;) {
        size_t clen;
        int32_t id;
        int cidx;
        if (s[i] < 0x80) {
            clen = 1;
            id = t->bmp_id[s[i]];
            cidx = s[i] == ' ' ? 128 : s[i];
        } else {
            id = tok_char_id(t, s + i, b - i, &clen);
            cidx = id == t->space_id ? 128 : -1;
        }
        uint32_t cs = (uint32_t)i, ce = (uint32_t)(i + clen);
        if (split && w->n && (id < 0 || *prev < 0 || !hy_tok_joinable(t, *prev, *cprev, id, cidx))) st = tok_word_flush(t, w, out);
        if (st != HY_OK) break;
        *prev = id;
        *cprev = cidx;
        if (id == t->space_id) tok_word_key(w, k_space_bytes, 3);
        else tok_word_key(w, s + i, clen);
        if (id >= 0) st = tok_word_push(w, id, cs, ce);
        else
            for (size_t k = 0; k < clen && st == HY_OK; k++) st = tok_word_push(w, t->byte_id[s[i + k]], cs, ce);
        i += clen;
    }
    return st;
}

/* Normalize and encode one piece text[a..b) that holds no added token. */
static hy_status tok_encode_piece(const hy_tokenizer *t, const char *text, size_t a, size_t b, hy_tokens *out) {
    hy_word w = {.n = 0, .cap = HY_ARRAY_LEN(w.local), .nkey = 0};
    w.s = w.local;
    hy_status st = tok_word_push(&w, t->space_id, (uint32_t)a, (uint32_t)a); /* the prepended ▁ */
    tok_word_key(&w, k_space_bytes, 3);
    int32_t prev = t->space_id;
    int cprev = 128;
    if (st == HY_OK) st = tok_push_chars(t, text, a, b, &w, t->split_words && t->fast, &prev, &cprev, out);
    if (st == HY_OK) st = tok_word_flush(t, &w, out);
    if (w.s != w.local) hy_free(w.s);
    return st;
}

hy_status hy_tok_build_whole(hy_tokenizer *t) {
    hy_status st = HY_OK;
    for (int32_t id = 0; id < t->n_ids && st == HY_OK; id++) {
        t->whole[id] = 0;
        if (!t->piece[id] || hy_tok_vocab_find(t, t->piece[id], t->piece_len[id]) != id) continue;
        hy_word w = {.n = 0, .cap = HY_ARRAY_LEN(w.local), .nkey = 0};
        w.s = w.local;
        size_t n = 0;
        int32_t prev = -1;
        int cprev = -1;
        st = tok_push_chars(t, t->piece[id], 0, t->piece_len[id], &w, 0, &prev, &cprev, NULL);
        if (st == HY_OK && w.n > 1 && w.n <= HY_TOK_SMALL_WORD) n = tok_bpe_small(t, w.s, w.n);
        else if (st == HY_OK && w.n > 1) st = tok_bpe_heap(t, w.s, &n);
        t->whole[id] = (uint8_t)(st == HY_OK && n == 1 && w.s[0].id == id);
        if (w.s != w.local) hy_free(w.s);
    }
    return st;
}

/* The longest added token starting at s[0..n), or NULL. */
static const hy_added *tok_match_added(const hy_tokenizer *t, const char *s, size_t n) {
    const hy_added *best = NULL;
    for (int k = 0; k < t->n_added; k++) {
        const hy_added *a = &t->added[k];
        if (a->len <= n && (!best || a->len > best->len) && !memcmp(s, a->text, a->len)) best = a;
    }
    return best;
}

hy_status hy_tok_encode(const hy_tokenizer *t, const char *text, size_t len, hy_tokens *out) {
    if (len >= UINT32_MAX) return hy_errorf(HY_ERR_ARG, "tokenizer: text of %zu bytes is too long (limit 4 GiB)", len);
    size_t n0 = out->n, seg = 0;
    hy_status st = HY_OK;
    for (size_t i = 0; i < len && st == HY_OK;) {
        const hy_added *a = t->added_first[(uint8_t)text[i]] ? tok_match_added(t, text + i, len - i) : NULL;
        if (!a) { i++; continue; }
        if (i > seg) st = tok_encode_piece(t, text, seg, i, out);
        if (st == HY_OK) st = tok_reserve(out, 1);
        if (st != HY_OK) break;
        out->ids[out->n] = a->id;
        out->start[out->n] = (uint32_t)i;
        out->end[out->n] = (uint32_t)(i + a->len);
        out->n++;
        i += a->len;
        seg = i;
    }
    if (st == HY_OK && len > seg) st = tok_encode_piece(t, text, seg, len, out);
    if (st != HY_OK) out->n = n0;
    return st;
}

/* ---------------------------------------------------------------- decode */

typedef struct { char *p; size_t n, cap; } hy_buf;

static hy_status tok_buf_put(hy_buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) return hy_errorf(HY_ERR_OOM, "tokenizer: out of memory decoding (%zu bytes)", cap);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return HY_OK;
}

/* Flush a run of byte-fallback bytes: as UTF-8 when the whole run is valid,
 * otherwise one U+FFFD per byte (the `tokenizers` ByteFallback decoder). */
static hy_status tok_flush_bytes(hy_buf *b, const char *run, size_t n) {
    if (tok_utf8_valid(run, n)) return tok_buf_put(b, run, n);
    for (size_t i = 0; i < n; i++) HY_TRY(tok_buf_put(b, "\xEF\xBF\xBD", 3));
    return HY_OK;
}

/* Append a piece with every "▁" (E2 96 81) replaced by a space. */
static hy_status tok_put_piece(hy_buf *b, const char *p, size_t n) {
    size_t done = 0;
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(p + i, "\xE2\x96\x81", 3)) continue;
        HY_TRY(tok_buf_put(b, p + done, i - done));
        HY_TRY(tok_buf_put(b, " ", 1));
        done = i + 3;
        i += 2;
    }
    return tok_buf_put(b, p + done, n - done);
}

hy_status hy_tok_decode(const hy_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out, size_t *len) {
    hy_buf b = {0};
    char run[256];
    size_t nrun = 0;
    hy_status st = tok_buf_put(&b, "", 0);
    for (size_t i = 0; i < n && st == HY_OK; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids || !t->piece[id]) {
            st = hy_errorf(HY_ERR_ARG, "tokenizer: cannot decode id %d at position %zu (valid ids: 0..%d)", id, i, t->n_ids - 1);
            break;
        }
        if (skip_special && t->special[id]) continue;
        if (t->byte_of[id] >= 0) {
            if (nrun == sizeof run) { st = tok_flush_bytes(&b, run, nrun); nrun = 0; }
            run[nrun++] = (char)t->byte_of[id];
            continue;
        }
        if (nrun) { st = tok_flush_bytes(&b, run, nrun); nrun = 0; }
        if (st == HY_OK) st = tok_put_piece(&b, t->piece[id], t->piece_len[id]);
    }
    if (st == HY_OK && nrun) st = tok_flush_bytes(&b, run, nrun);
    if (st != HY_OK) { free(b.p); return st; }
    if (b.n && b.p[0] == ' ') memmove(b.p, b.p + 1, b.n--); /* the Strip decoder: one leading space */
    *out = b.p;
    if (len) *len = b.n;
    return HY_OK;
}

/* ---------------------------------------------------------------- accessors */

const char *hy_tok_piece(const hy_tokenizer *t, int32_t id) { return id >= 0 && id < t->n_ids ? t->piece[id] : NULL; }
int hy_tok_vocab_size(const hy_tokenizer *t) { return t->n_ids; }
int hy_tok_bos(const hy_tokenizer *t) { return t->bos; }
int hy_tok_eos(const hy_tokenizer *t) { return t->eos; }
uint64_t hy_tok_hash(const hy_tokenizer *t) { return t->hash; }
void hy_tok_set_fast_paths(hy_tokenizer *t, int enable) { t->fast = enable != 0; }
int hy_tok_is_special(const hy_tokenizer *t, int32_t id) { return id >= 0 && id < t->n_ids && t->special[id]; }
