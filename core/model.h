/* model.h — the Hymba model, written once against the ops table (DESIGN.md §2.1).
 *
 * A micro-batch is a flat stream of documents (hy_model_batch): each document
 * gets its own M meta tokens, positions from 0, block-diagonal attention and
 * fresh conv/scan state, so packing is mathematically identical to running the
 * documents one by one.
 *
 * Memory (DESIGN.md §2.3): one backend allocation each for the weights (act
 * dtype), the gradients (fp32, same layout, ACCUMULATED by every backward), and
 * the activations planned at creation for the largest micro-batch
 * (max_rows = Σ (M + L_d) rows and max_docs documents); nothing is allocated in
 * forward/backward.
 *
 * Usage per micro-batch:
 *   hy_model_forward(m, batch, loss_rows)      per-text-token losses, activations kept
 *   hy_model_backward(m, weights)              d(Σ_r weight_r · loss_r) added into m->grad
 * The loss of row r is the cross-entropy of the next token (HF shift done by
 * the caller through `targets`): −log softmax(logits_r)[targets_r], 0 where
 * targets_r < 0.  SFT uses weight_r = 1/(supervised tokens in the global batch);
 * DPO uses per-sequence coefficients. */
#ifndef HY_MODEL_H
#define HY_MODEL_H
#include "config.h"
#include "kernels/ops.h"
#include "params.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hy_model hy_model;

typedef struct {
    int n_docs;
    const int32_t *doc_len;  /* [n_docs] text tokens per document (≥ 1) */
    const int32_t *ids;      /* [NT] token ids, documents concatenated (host) */
    const int32_t *targets;  /* [NT] next-token targets, −100 = no loss (host) */
} hy_model_batch;

/* What the activation plan keeps (the `training` argument of hy_model_create):
 *   HY_MODEL_INFER      inference only: no gradients; the layers' activations
 *                       alternate between two sets (only KV producers' in_proj
 *                       outputs persist, for their consumers' K/V), so memory
 *                       does not grow with depth;
 *   HY_MODEL_TRAIN      training with selective recomputation (the default):
 *                       cheap intermediates (input/MLP norm outputs, SwiGLU
 *                       product, fused branch output, conv output, dt_proj
 *                       output) are one buffer shared by all layers and the
 *                       backward recomputes them with the same ops, so results
 *                       are bit-identical to HY_MODEL_TRAIN_KEEP_ALL;
 *   HY_MODEL_TRAIN_KEEP_ALL  training keeping every intermediate per layer. */
enum { HY_MODEL_INFER = 0, HY_MODEL_TRAIN = 1, HY_MODEL_TRAIN_KEEP_ALL = 2 };

/* Create for `cfg` on backend `ops`, planning activations for micro-batches of
 * up to `max_text_tokens` text tokens in up to `max_docs` documents;
 * `training` is one of HY_MODEL_INFER / _TRAIN / _TRAIN_KEEP_ALL. */
hy_status hy_model_create(hy_model **out, const hy_config *cfg, const hy_ops *ops, int max_text_tokens, int max_docs, int training);
/* Micro-batch limits of a model plan.  A document of L text tokens takes
 * M + L rows; max_rows bounds their sum (the packer's token budget counts the
 * meta rows), which is far less than max_text + max_docs·M when documents can
 * be short: the activations are planned for max_rows. */
typedef struct {
    int max_text;  /* text tokens per micro-batch (≥ 1) */
    int max_docs;  /* documents per micro-batch (1..max_text) */
    int max_rows;  /* rows per micro-batch; ≤ 0 (or more): max_text + max_docs·M */
} hy_model_limits;
/* The limits of a packer token budget (data.tokens_per_micro_batch, meta rows
 * included): up to budget − M text tokens, budget / (M + 1) documents, budget rows. */
hy_model_limits hy_model_limits_for_budget(int budget, int num_meta);
hy_status hy_model_create_lim(hy_model **out, const hy_config *cfg, const hy_ops *ops, const hy_model_limits *lim, int training,
                              size_t buffer_elems);

/* As hy_model_create, with weight and gradient buffers of `buffer_elems`
 * elements when that exceeds the parameter table's total (data-parallel
 * sharding pads the flat buffers to world·chunk; the tail stays zero). */
hy_status hy_model_create_ex(hy_model **out, const hy_config *cfg, const hy_ops *ops, int max_text_tokens, int max_docs, int training,
                             size_t buffer_elems);
void hy_model_free(hy_model *m);
/* Elements of the weight and gradient buffers (≥ params->total). */
size_t hy_model_buffer_elems(const hy_model *m);
/* Call fn(user, l) right after layer l's backward has been issued (layers in
 * decreasing order); the embedding, meta tokens and final norm are final only
 * when hy_model_backward returns.  NULL removes the hook. */
void hy_model_set_backward_hook(hy_model *m, void (*fn)(void *user, int layer), void *user);

const hy_param_table *hy_model_params(const hy_model *m);
const hy_config *hy_model_config(const hy_model *m);
const hy_ops *hy_model_ops(const hy_model *m);
/* Backend pointers to the flat buffers (weights in act dtype; grads fp32). */
hy_act *hy_model_weights(hy_model *m);
float *hy_model_grads(hy_model *m);
/* Bytes of backend memory the model holds (weights, grads, activations). */
size_t hy_model_bytes(const hy_model *m);

/* Host fp32 [params->total] ↔ the backend weights. */
hy_status hy_model_set_weights(hy_model *m, const float *host);
hy_status hy_model_get_weights(hy_model *m, float *host);
hy_status hy_model_get_grads(hy_model *m, float *host);
hy_status hy_model_zero_grads(hy_model *m);

/* Forward; loss_rows (host, [NT]) may be NULL.  When `logits_host` is non-NULL
 * it receives the fp32 logits [NT, V] of every text position. */
hy_status hy_model_forward(hy_model *m, const hy_model_batch *b, float *loss_rows, float *logits_host);
/* Backward of the last forward: grads += d(Σ_r w_r·loss_r)/dθ, w host [NT]. */
hy_status hy_model_backward(hy_model *m, const float *row_weights);

/* Backend bytes hy_model_create would allocate, by buffer (memory planning
 * before anything is allocated; the logits readback of a forward that asks
 * for logits is extra: [min(max_text, 1024), Vp] fp32). */
typedef struct {
    size_t weights;      /* [total] act dtype */
    size_t grads;        /* [total] fp32 (training only) */
    size_t activations;  /* per-layer activations and gradient scratch, act dtype */
    size_t statistics;   /* fp32 norm/softmax statistics, row losses */
    size_t metadata;     /* int32 ids, positions, offsets */
    size_t params;       /* elements of the flat parameter buffer (total) */
} hy_model_mem;
hy_status hy_model_plan_bytes(const hy_config *cfg, hy_dtype act_dtype, int max_text_tokens, int max_docs, int training, hy_model_mem *out);
hy_status hy_model_plan_bytes_lim(const hy_config *cfg, hy_dtype act_dtype, const hy_model_limits *lim, int training, hy_model_mem *out);

/* Open a checkpoint directory (config.json + safetensors) on `ops`: config,
 * model plan and weights in one call (core/model_load.c). */
hy_status hy_model_open(hy_model **out, const char *dir, const hy_ops *ops, int max_text_tokens, int max_docs, int training);
hy_status hy_model_open_ex(hy_model **out, const char *dir, const hy_ops *ops, int max_text_tokens, int max_docs, int training,
                           size_t buffer_elems);
hy_status hy_model_open_lim(hy_model **out, const char *dir, const hy_ops *ops, const hy_model_limits *lim, int training,
                            size_t buffer_elems);

#ifdef __cplusplus
}
#endif
#endif
