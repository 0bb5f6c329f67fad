/* tokenizer_internal.h — the layout of a loaded tokenizer, shared by
 * tokenizer_load.c (builds it) and tokenizer.c (encodes/decodes with it).
 * Not for use outside datasets/tokenizer*.c. */
#ifndef HY_TOKENIZER_INTERNAL_H
#define HY_TOKENIZER_INTERNAL_H
#include "core/json.h"
#include "datasets/tokenizer.h"

/* Words of at most this many symbols are merged by the O(m²) scan (faster
 * than a heap at this size); longer ones by the heap. */
#define HY_TOK_SMALL_WORD 48

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
    int32_t *vocab_slot;   /* [vocab_mask+1] model-vocabulary ids by piece hash, −1 empty */
    uint32_t vocab_mask;
    hy_merge_slot *merge;  /* [1 << merge_bits] */
    uint32_t merge_bits;
    int32_t *bmp_id;       /* [65536] id of the one-character piece per BMP code point, −1 absent;
                              ' ' maps to "▁" (the normalizer) */
    int32_t byte_id[256];  /* id of <0xXX> */
    int32_t space_id;      /* id of "▁" */
    hy_added *added;       /* added tokens, matched in the raw text */
    int n_added;
    uint8_t added_first[256]; /* 1 where some added token starts with this byte */
    int32_t bos, eos;
    int split_words;       /* no piece has "▁" after a non-"▁" character (see tokenizer.c) */
    int fast;              /* word splitting and the small-word scan enabled (default 1) */
    uint64_t hash;
};

/* Parse tokenizer_config.json text (integers beyond 64 bits read as reals). */
hy_status hy_tok_parse_config(hy_json **out, const char *text, size_t n, const char *path);

/* Model-vocabulary id of the piece s[0..n), or −1 (tokenizer.c). */
int32_t hy_tok_vocab_find(const hy_tokenizer *t, const char *s, size_t n);

static inline uint32_t hy_tok_str_hash(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
    return (uint32_t)(h ^ (h >> 32));
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
