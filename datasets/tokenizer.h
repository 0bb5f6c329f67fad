/* tokenizer.h — the Hugging Face BPE tokenizer of a checkpoint (tokenizer.json,
 * tokenizer_config.json, special_tokens_map.json), spec §13.1.  Encoding gives
 * exactly the ids of the Hugging Face tokenizer with add_special_tokens=False
 * (callers add BOS themselves), with the byte span of every token in the input. */
#ifndef HY_TOKENIZER_H
#define HY_TOKENIZER_H
#include "core/hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hy_tokenizer hy_tokenizer;

/* A growable token list.  start/end: byte span of token i in the encoded text
 * (tokens produced from one character share its span; the ▁ prepended by the
 * normalizer has an empty span at the piece start). */
typedef struct {
    int32_t *ids;
    uint32_t *start, *end;
    size_t n, cap;
} hy_tokens;

hy_status hy_tok_load(hy_tokenizer **out, const char *model_dir);
void hy_tok_free(hy_tokenizer *t);
/* Append the ids of text[0..len) (no BOS/EOS) to `out`, with byte offsets
 * into text.  Invalid UTF-8: each byte that does not start a well-formed
 * sequence becomes its own byte-fallback token <0xXX> (Hugging Face cannot
 * receive such text at all; decoding those ids yields U+FFFD).  On failure
 * `out` keeps its previous contents.  Thread-safe. */
hy_status hy_tok_encode(const hy_tokenizer *t, const char *text, size_t len, hy_tokens *out);
/* Decode ids into a malloc'd NUL-terminated string, released with free()
 * (▁ → space, byte fallback fused, one leading space stripped, special tokens
 * kept as their text unless skip_special).  An id outside the vocabulary is
 * HY_ERR_ARG.  Byte runs that are not valid UTF-8 give U+FFFD per byte. */
hy_status hy_tok_decode(const hy_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out, size_t *len);
/* The text of one token id (NULL if out of range). */
const char *hy_tok_piece(const hy_tokenizer *t, int32_t id);
int hy_tok_vocab_size(const hy_tokenizer *t);  /* including added tokens */
int hy_tok_bos(const hy_tokenizer *t);
int hy_tok_eos(const hy_tokenizer *t);
/* 64-bit content hash of the bytes of tokenizer.json and tokenizer_config.json
 * (for store invalidation). */
uint64_t hy_tok_hash(const hy_tokenizer *t);

/* 1 when id is an added token marked special (<unk>, <s>, </s>, [PAD]). */
int hy_tok_is_special(const hy_tokenizer *t, int32_t id);
/* Tests only: 0 disables the word-splitting and short-word fast paths, so the
 * whole normalized piece is merged as one word by the heap (the plain
 * algorithm).  Results must not change.  Not thread-safe against encoders. */
void hy_tok_set_fast_paths(hy_tokenizer *t, int enable);

/* Length (1–4) of the well-formed UTF-8 sequence at s[0..n) and its code
 * point; 0 if s[0] does not start one (strict: no overlongs, surrogates or
 * code points above U+10FFFF). */
size_t hy_tok_utf8_next(const uint8_t *s, size_t n, uint32_t *cp);

void hy_tokens_clear(hy_tokens *v); /* n = 0, memory kept */
hy_status hy_tokens_push(hy_tokens *v, int32_t id, uint32_t start, uint32_t end);
void hy_tokens_free(hy_tokens *v);

#ifdef __cplusplus
}
#endif
#endif
