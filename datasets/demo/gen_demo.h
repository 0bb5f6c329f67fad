/* gen_demo.h — the interface between the demo data generator (gen_demo.c) and
 * its BPE trainer and model-file writer (gen_demo_tok.c).  Used only by the
 * `hymba-gen-demo` tool; nothing in the libraries includes it. */
#ifndef HY_GEN_DEMO_H
#define HY_GEN_DEMO_H
#include "core/hy_base.h"

enum { DEMO_VOCAB = 1024 }; /* the demo tokenizer's size, [PAD] included */

typedef struct demo_bpe demo_bpe;

hy_status demo_bpe_new(demo_bpe **out);
void demo_bpe_free(demo_bpe *b);
/* Count the words of one rendered conversation (printable ASCII, ' ', '\n'). */
hy_status demo_bpe_add_text(demo_bpe *b, const char *text);
/* Learn merges until the vocabulary, [PAD] included, has `vocab` ids or no
 * allowed pair occurs twice. */
void demo_bpe_train(demo_bpe *b, int vocab);
int demo_bpe_vocab_size(const demo_bpe *b); /* [PAD] included */
int demo_bpe_n_merges(const demo_bpe *b);
/* Write config.json, tokenizer.json, tokenizer_config.json,
 * special_tokens_map.json and generation_config.json into `dir`. */
hy_status demo_write_model(const demo_bpe *b, const char *dir);

#endif
