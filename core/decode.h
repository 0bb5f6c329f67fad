/* decode.h — incremental decoding of ONE sequence with a state cache (spec §10),
 * written once against the ops table (the model's weights, no copy).
 *
 * State, allocated once at creation for `max_ctx` text tokens (backend memory):
 *   - K/V caches (post-RoPE K, V) of the KV-computing layers only; consumers
 *     read their producer's cache, which the producer has already extended in
 *     the same pass.  Slots [0, M) hold the meta tokens forever; text index j
 *     lives in slot M + (j−M) mod R.  Global layers: R = max_ctx (no wrap).
 *     Sliding-window layers: R = min(max_ctx, W + chunk), a ring large enough
 *     for every key a chunk of `chunk` rows can see (W previous positions).
 *   - per layer the conv history [DC−1, DI] (act dtype, the last DC−1 x rows)
 *     and the SSM state [DI, DS] in fp32;
 *   - the position counter: the next text token has sequence index M + len;
 *   - an optional mark (hy_decode_mark): a copy of the conv/SSM states at some
 *     length, to come back to (chat: the end of the previous prompt).  K/V
 *     need no copy: tokens fed after the mark only overwrite slots of later
 *     positions, and ring slots of positions farther back than the window,
 *     as long as at most R − W tokens follow the mark (the `rewind` slack).
 * The meta prefix (M rows) is run through the same path once at creation; its
 * conv/SSM states are snapshotted, and its K/V stay in slots [0, M), so
 * hy_decode_reset() is two copies.
 *
 * Feeding tokens (prefill or a generation step) runs the layers on a chunk of
 * n ≤ chunk rows: batched products (in_proj, x_proj, dt_proj, out_proj, MLP
 * are matmuls with n rows), RoPE at the rows' sequence indices, K/V appended
 * before attention, attention_decode / conv1d_step / scan_step
 * (kernels/decode_ops.h) continuing the state.  Prefill is therefore chunked
 * and needs no activation plan of the model, and every token — prompt or
 * generated — goes through the same code.  (No final scan state has to be read
 * out of the training scan: the state is carried from the first meta row on.)
 *
 * Mask: the training mask (spec §4.4): a sliding-window query sees the meta
 * tokens plus itself and the W previous positions.  With `official_window`,
 * tokens fed by hy_decode_step see only W−1 previous positions, like the
 * official cached decode (spec §10.2: its prefill uses the training mask, its
 * one-token steps a window of 1023 for W = 1024); prefill is unchanged.
 *
 * Not thread-safe; one sequence (batch 1).  The model must outlive the decoder
 * and its weights must not change while the decoder is used (the meta snapshot
 * depends on them; hy_decode_refresh_meta() recomputes it). */
#ifndef HY_DECODE_H
#define HY_DECODE_H
#include "model.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hy_decode hy_decode;

typedef struct {
    int max_ctx;         /* text tokens the cache can hold (prompt + generated), ≥ 1 */
    int chunk;           /* rows per pass when several tokens are fed (prefill); ≤ 0 → 64 */
    int official_window; /* 1: steps use the official cached window W−1 (see above); 0: training mask */
    int rewind;          /* tokens that may follow a mark and still be rewound (extra ring slots); ≥ 0 */
} hy_decode_opts;

/* Allocate the state for model `m` and run the meta prefix.  HY_ERR_UNSUPPORTED
 * when the backend lacks the decode ops. */
hy_status hy_decode_create(hy_decode **out, hy_model *m, const hy_decode_opts *o);
void hy_decode_free(hy_decode *d);

/* Back to the state right after the meta prefix (no text tokens); drops the mark. */
hy_status hy_decode_reset(hy_decode *d);

/* Remember the current end (one mark at a time; copies the conv/SSM states). */
hy_status hy_decode_mark(hy_decode *d);
/* Return to the mark (len = the marked length, the tokens before it kept).
 * HY_ERR_ARG when there is no mark or when more tokens than
 * hy_decode_rewind_budget() were fed after it; the state is then unchanged. */
hy_status hy_decode_rewind(hy_decode *d);
int hy_decode_mark_len(const hy_decode *d);       /* −1: no mark */
int hy_decode_rewind_budget(const hy_decode *d);  /* ≥ opts.rewind + chunk; INT32_MAX when no ring wraps */
/* Recompute the meta prefix (after the model's weights changed), then reset. */
hy_status hy_decode_refresh_meta(hy_decode *d);

/* Feed n ≥ 1 tokens (a prompt or its continuation) in chunks, with the
 * training mask.  `logits` (host, may be NULL) receives fp32 logits: [V] of the
 * last token, or [n, V] of every token when all_rows is 1.  Argument errors
 * (context full, id outside the vocabulary: HY_ERR_ARG) feed nothing; after a
 * backend failure the state is undefined until hy_decode_reset(). */
hy_status hy_decode_prefill(hy_decode *d, const int32_t *ids /* [n] host */, int n, float *logits, int all_rows);
/* Feed one token (normally the one just sampled); logits (host [V], may be NULL)
 * are those of the next position. */
hy_status hy_decode_step(hy_decode *d, int32_t id, float *logits);

int hy_decode_len(const hy_decode *d);              /* text tokens in the cache */
int hy_decode_max_ctx(const hy_decode *d);
const int32_t *hy_decode_tokens(const hy_decode *d); /* [len] host: the text tokens fed so far */
int hy_decode_vocab(const hy_decode *d);             /* V (the logits width) */
size_t hy_decode_bytes(const hy_decode *d);          /* backend memory held */

#ifdef __cplusplus
}
#endif
#endif
