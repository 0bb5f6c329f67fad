/* chat.h — conversations, the checkpoint's chat template and the SFT loss mask
 * (spec §13.2–13.5).  The renderer reproduces transformers' apply_chat_template
 * byte for byte for the Hymba template; other templates give a clear error. */
#ifndef HY_CHAT_H
#define HY_CHAT_H
#include "core/json.h"
#include "datasets/tokenizer.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HY_ROLE_SYSTEM, HY_ROLE_USER, HY_ROLE_ASSISTANT, HY_ROLE_TOOL } hy_role;

typedef struct {
    hy_role role;
    const char *content; /* UTF-8, not necessarily NUL-terminated */
    size_t len;
} hy_chat_msg;

typedef struct {
    const hy_chat_msg *msgs;
    int n;
    const hy_json *tools; /* JSON array of tool definitions, or NULL */
} hy_chat;

typedef enum {
    HY_TRAIN_ALL_ASSISTANT = 0, /* every assistant turn (default) */
    HY_TRAIN_LAST_ASSISTANT,    /* only the final assistant turn */
    HY_TRAIN_EVERYTHING         /* every token */
} hy_train_on;

typedef struct {
    int add_bos;           /* prepend BOS (id 1); default 0 */
    int add_eos;           /* append and supervise EOS after a final assistant message; default 1 */
    hy_train_on train_on;
} hy_chat_opts;

typedef struct hy_chat_template hy_chat_template;

/* Load and recognise tokenizer_config.json's chat_template from a model dir. */
hy_status hy_chat_template_load(hy_chat_template **out, const char *model_dir);
void hy_chat_template_free(hy_chat_template *t);
/* A 64-bit hash of the template text (for store invalidation). */
uint64_t hy_chat_template_hash(const hy_chat_template *t);

/* Render to a malloc'd string.  When `spans` is non-NULL it receives a malloc'd
 * array of 2·(*n_spans) byte offsets: the supervised span of every assistant
 * message (stripped content plus its closing newline), in message order. */
hy_status hy_chat_render(const hy_chat_template *t, const hy_chat *c, int add_generation_prompt, char **text, size_t *len,
                         size_t **spans, int *n_spans);

/* Render + tokenize + mask: ids and labels (−100 for unsupervised positions),
 * spans taken from byte offsets of the full rendered string. */
typedef struct {
    int32_t *ids;
    int32_t *labels;
    size_t n, cap;
} hy_sample;
hy_status hy_chat_encode(const hy_chat_template *t, const hy_tokenizer *tok, const hy_chat *c, const hy_chat_opts *o, hy_sample *out);
void hy_sample_free(hy_sample *s);

hy_status hy_role_parse(const char *s, hy_role *out); /* "system", "user", "assistant", "tool" */
const char *hy_role_name(hy_role r);

#ifdef __cplusplus
}
#endif
#endif
