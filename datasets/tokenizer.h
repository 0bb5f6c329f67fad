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
/* Append the ids of text[0..len) (no BOS/EOS) to `out`. */
hy_status hy_tok_encode(const hy_tokenizer *t, const char *text, size_t len, hy_tokens *out);
/* Decode ids into a malloc'd NUL-terminated string (▁ → space, byte fallback
 * fused, one leading space stripped, special tokens kept as their text unless
 * skip_special). */
hy_status hy_tok_decode(const hy_tokenizer *t, const int32_t *ids, size_t n, int skip_special, char **out, size_t *len);
/* The text of one token id (NULL if out of range). */
const char *hy_tok_piece(const hy_tokenizer *t, int32_t id);
int hy_tok_vocab_size(const hy_tokenizer *t);  /* including added tokens */
int hy_tok_bos(const hy_tokenizer *t);
int hy_tok_eos(const hy_tokenizer *t);
/* 64-bit content hash of the tokenizer files (for store invalidation). */
uint64_t hy_tok_hash(const hy_tokenizer *t);

void hy_tokens_clear(hy_tokens *v);
void hy_tokens_free(hy_tokens *v);

#ifdef __cplusplus
}
#endif
#endif
