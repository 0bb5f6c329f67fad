/* tokenizer_internal.h — the layout of a loaded tokenizer, shared by
 * tokenizer_load.c (builds it) and tokenizer.c (encodes/decodes with it).
 * Not for use outside datasets/tokenizer*.c. */
#ifndef HY_TOKENIZER_INTERNAL_H
#define HY_TOKENIZER_INTERNAL_H
#include <string.h>

#include "core/json.h"
#include "datasets/tokenizer.h"

/* Words of at most this many symbols are merged by the O(m²) scan (faster
 * than a heap at this size); longer ones by the heap. */
#define HY_TOK_SMALL_WORD 48
/* Words whose normalized text is at most this long try the whole-piece
 * shortcut (one vocabulary lookup instead of BPE). */
#define HY_TOK_KEY_MAX 64

/* One merge rule: (left id, right id) → merged id, with its priority.  key 0
 * marks an empty slot of the open-addressing table. */
typedef struct {
    uint64_t key;
    uint32_t rank;
    int32_t id;
} hy_merge_slot;

typedef struct {
    const char *text; /* in the arena */
    uint32_t len;
    int32_t id;
} hy_added;

struct hy_tokenizer {
    int32_t n_ids;         /* max id + 1 (model vocabulary and added tokens) */
    char *arena;           /* NUL-terminated texts of all pieces */
    const char **piece;    /* [n_ids] text of every id (NULL for an unused id) */
    uint32_t *piece_len;   /* [n_ids] */
    int16_t *byte_of;      /* [n_ids] byte value of a "<0xXX>" token, −1 otherwise */
    uint8_t *special;      /* [n_ids] 1 for added tokens marked special */
    uint8_t *whole;        /* [n_ids] 1 when BPE of the piece's own characters gives the piece:
                              a word equal to it encodes to it without merging */
    int32_t *vocab_slot;   /* [vocab_mask+1] model-vocabulary ids by piece hash, −1 empty */
    uint32_t vocab_mask;
    hy_merge_slot *merge;  /* [1 << merge_bits] */
    uint32_t merge_bits;
    uint64_t *merge16;     /* [1 << merge_bits] the same table in 8-byte slots when every id < 65535 and
                              every rank < 65536 (Llama-size vocabularies): (l+1)<<48 | (r+1)<<32 |
                              rank<<16 | merged id; NULL otherwise */
    int32_t *bmp_id;       /* [65536] id of the one-character piece per BMP code point, −1 absent;
                              ' ' maps to "▁" (the normalizer) */
    int32_t byte_id[256];  /* id of <0xXX> */
    int32_t space_id;      /* id of "▁" */
    hy_added *added;       /* added tokens, matched in the raw text */
    int n_added;
    uint8_t added_first[256]; /* 1 where some added token starts with this byte */
    int32_t bos, eos;
    int split_words;       /* no merge involves a byte token, so words may be cut (see tokenizer.c) */
    /* Character pairs that occur adjacent inside some producible piece; a
     * pair that does not can never be joined by any merge.  Characters are
     * their single-character piece ids; ASCII (except ' ') and "▁" also have a
     * small index (0–127, 128 for "▁") with a bit matrix for speed. */
    uint64_t ascii_pair[129][3];
    uint64_t *pair_set;    /* [1 << pair_bits] hy_tok_pair_key of joinable pairs, 0 empty */
    uint32_t pair_bits;
    int fast;              /* word splitting and the small-word scan enabled (default 1) */
    uint64_t hash;
};

/* Parse tokenizer_config.json text (integers beyond 64 bits read as reals). */
hy_status hy_tok_parse_config(hy_json **out, const char *text, size_t n, const char *path);

/* May two adjacent characters (piece ids, small indexes or −1) end up in one
 * token? */
static inline int hy_tok_joinable(const hy_tokenizer *t, int32_t a, int ca, int32_t b, int cb) {
    if (ca >= 0 && cb >= 0) return (int)((t->ascii_pair[ca][cb >> 6] >> (cb & 63)) & 1);
    uint64_t key = ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
    uint32_t mask = (1u << t->pair_bits) - 1;
    for (uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - t->pair_bits));; h = (h + 1) & mask) {
        if (t->pair_set[h] == key) return 1;
        if (!t->pair_set[h]) return 0;
    }
}

/* Fill t->whole (tokenizer.c; needs the merge and character tables). */
hy_status hy_tok_build_whole(hy_tokenizer *t);

/* Model-vocabulary id of the piece s[0..n), or −1 (tokenizer.c). */
int32_t hy_tok_vocab_find(const hy_tokenizer *t, const char *s, size_t n);

/* Hash of a piece's bytes, eight at a time (pieces and words are short). */
static inline uint32_t hy_tok_str_hash(const char *s, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, s, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = 0;
        memcpy(&v, s, n);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 29;
    }
    h *= 0xC4CEB9FE1A85EC53ull;
    return (uint32_t)(h >> 32);
}
/* Merge-table key of the pair (l, r); never 0, which marks an empty slot. */
static inline uint64_t hy_tok_pair_key(int32_t l, int32_t r) {
    return ((uint64_t)(uint32_t)(l + 1) << 32) | (uint32_t)(r + 1);
}
/* Home slot of a key (Fibonacci hashing into 2^merge_bits slots). */
static inline uint32_t hy_tok_pair_slot(const hy_tokenizer *t, uint64_t key) {
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - t->merge_bits));
}

#endif
