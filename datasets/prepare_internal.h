/* prepare_internal.h — pieces of the preparation pipeline shared between
 * prepare.c (threads, reading, writing) and prepare_util.c (length policy,
 * pair masks, progress display, store keys).  Internal: users include
 * prepare.h. */
#ifndef HY_PREPARE_INTERNAL_H
#define HY_PREPARE_INTERNAL_H
#include "datasets/prepare.h"

/* The store key of a preparation, with its storage. */
typedef struct {
    hy_store_key key;
    uint64_t *hashes, *bytes; /* [n_sources] */
} hy_key_buf;
hy_status hy_key_make(hy_key_buf *kb, const char *const *files, int n_files, const hy_encoder *enc, const hy_data_opts *d);
void hy_key_free(hy_key_buf *kb);


/* Keep only the reply of a preference pair supervised: clear the first
 * `n_prompt_turns` supervised runs (the assistant turns of the prompt) on
 * both sides.  Returns the prompt length: the index of the first reply token
 * still supervised (the smaller of the two sides). */
uint32_t hy_pair_reply_only(hy_sample *chosen, hy_sample *rejected, int n_prompt_turns);

/* Sample lengths in out->len (and the pair's prompt_len) against max_len
 * and over_length; cuts s[] when truncating.  Returns 1 to keep the sample,
 * 0 to drop it (counting why in `counts`). */
int hy_length_policy(const hy_data_opts *d, hy_sample s[2], int pref, uint32_t len[2], uint32_t prompt_len, hy_store_stats *counts);

/* Progress: a bar on a terminal (redrawn ≤ 10×/s), plain lines otherwise
 * (every 10 s), nothing when off. */
typedef struct {
    int mode; /* 0 off, 1 lines, 2 bar */
    FILE *f;
    double t0, last;
    uint64_t total;
} hy_progress;
void hy_progress_init(hy_progress *p, int mode, FILE *f, uint64_t total_bytes);
void hy_progress_update(hy_progress *p, uint64_t bytes, int64_t records, int64_t tokens, int final);

#endif
