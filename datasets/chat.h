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

/* Render to a malloc'd NUL-terminated string (release with free()).  When
 * `spans` is non-NULL it receives a malloc'd array (free()) of 2·(*n_spans)
 * byte offsets: the supervised span [start, end) of every assistant message
 * (stripped content plus its closing newline), in message order.  Content is
 * stripped like Python's str.strip() (Unicode whitespace); `tools` entries
 * are serialised like json.dumps(ensure_ascii=False).  HY_ERR_DATA when
 * tools is not an array. */
hy_status hy_chat_render(const hy_chat_template *t, const hy_chat *c, int add_generation_prompt, char **text, size_t *len,
                         size_t **spans, int *n_spans);

/* Render + tokenize + mask: ids and labels (−100 for unsupervised positions),
 * spans taken from byte offsets of the full rendered string (spec §13.5).
 * `out` is overwritten (its memory reused); `o` NULL means
 * hy_chat_opts_default().  With add_eos, EOS is appended and supervised only
 * when the last message is an assistant message.  train_on LAST supervises
 * only the last assistant message (and the EOS); EVERYTHING labels every
 * position (BOS included). */
typedef struct {
    int32_t *ids;
    int32_t *labels;
    size_t n, cap;
} hy_sample;
hy_status hy_chat_encode(const hy_chat_template *t, const hy_tokenizer *tok, const hy_chat *c, const hy_chat_opts *o, hy_sample *out);
void hy_sample_free(hy_sample *s);

/* {add_bos 0, add_eos 1, train_on all assistant turns}. */
hy_chat_opts hy_chat_opts_default(void);
/* The generation prompt: render with add_generation_prompt (ending
 * "<extra_id_1>Assistant\n"), tokenize into `out` (cleared first), BOS first
 * when add_bos (with an empty span at 0). */
hy_status hy_chat_encode_prompt(const hy_chat_template *t, const hy_tokenizer *tok, const hy_chat *c, int add_bos, hy_tokens *out);

/* Python semantics used by the renderer, exposed for tests.
 * hy_chat_py_strip: str.strip() of s[0..n) as the byte range [*a, *b).
 * hy_chat_py_float: repr(float) ("1.0", "0.1", "1e-05", "1e+16").
 * hy_chat_tojson: json.dumps(j, ensure_ascii=False), malloc'd (free()), NULL on OOM. */
void hy_chat_py_strip(const char *s, size_t n, size_t *a, size_t *b);
void hy_chat_py_float(double v, char out[32]);
char *hy_chat_tojson(const hy_json *j);

hy_status hy_role_parse(const char *s, hy_role *out); /* "system", "user", "assistant", "tool" */
const char *hy_role_name(hy_role r);

#ifdef __cplusplus
}
#endif
#endif
