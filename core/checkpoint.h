/* checkpoint.h — Hugging Face checkpoint directories: config.json plus
 * model.safetensors or sharded model-0000i-of-0000n.safetensors with
 * model.safetensors.index.json.  Weights are mapped onto the parameter table
 * (params.def) by name; lm_head.weight is tied (absent, or equal to the
 * embedding).  Missing, extra, misshapen or truncated tensors are errors. */
#ifndef HY_CHECKPOINT_H
#define HY_CHECKPOINT_H
#include "config.h"
#include "dtype.h"
#include "params.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Hugging Face's default max_shard_size ("5GB", decimal). */
#define HY_CKPT_SHARD_BYTES_DEFAULT ((size_t)5000000000ull)

/* Read DIR/config.json. */
hy_status hy_ckpt_load_config(const char *dir, hy_config *cfg);
/* Load every parameter into `weights` (host fp32, [t->total], gaps zeroed).
 * Reads DIR/model.safetensors.index.json when present (its "weight_map"
 * names the shard of every tensor; each shard must exist and hold exactly the
 * tensors the map assigns to it), else DIR/model.safetensors.  Every table
 * tensor must appear exactly once with the table's shape in a floating dtype
 * (F32, BF16 or F16; converted exactly to fp32); unknown tensors are an error
 * that lists them.  lm_head.weight may be absent, or present and bitwise
 * equal (after conversion) to model.embed_tokens.weight; anything else is
 * "untied lm_head not supported".  `src_dtype` (optional) receives the dtype
 * of the embedding tensor in the file.  Errors: HY_ERR_IO (missing files),
 * HY_ERR_FORMAT (everything else), each naming the file and tensor. */
hy_status hy_ckpt_load_weights(const char *dir, const hy_param_table *t, float *weights /* [t->total] */, hy_dtype *src_dtype);
/* Write the weights (host fp32 [t->total]) into DIR (created if missing) as
 * `dtype` (F32, BF16 — round to nearest even — or F16), in table order:
 * DIR/model.safetensors when everything fits in `shard_bytes` (0 = never
 * shard), else Hugging Face shards model-00001-of-0000N.safetensors of at
 * most `shard_bytes` each (a tensor larger than the limit gets a shard of
 * its own) plus model.safetensors.index.json {"metadata": {"total_size": N},
 * "weight_map": {name: shard}}.  lm_head.weight is not written (tied).
 * Every file is written durably (tmp, fsync, rename); afterwards the other
 * layout's index/single file is removed so the directory is unambiguous. */
hy_status hy_ckpt_save_weights(const char *dir, const hy_param_table *t, const float *weights /* [t->total] */, hy_dtype dtype,
                               size_t shard_bytes);
/* Initialise per spec §2.1/§14.26 (t->total elements, gaps zeroed):
 *   NORMAL       N(0, initializer_range²)
 *   NORMAL_PAD0  the same, with row pad_token_id zeroed (if ≥ 0)
 *   STDNORMAL    N(0, 1) (meta tokens)
 *   ONES, ZEROS
 *   A_LOG        A_log[e, n] = ln(n + 1)
 * Random values come from the counter-based RNG keyed by (seed, stream =
 * hash of the tensor's HF name, element index): deterministic, independent
 * of the thread count and of the tensor's place in the buffer.  OpenMP. */
void hy_ckpt_init_weights(const hy_param_table *t, const hy_config *c, uint64_t seed, float *weights /* [t->total] */);
/* The same for one tensor: dst[0..d->numel) (identical to its slice of
 * hy_ckpt_init_weights' output). */
void hy_ckpt_init_tensor(const hy_param_desc *d, const hy_config *c, uint64_t seed, float *dst /* [d->numel] */);

/* The companion files of a model directory, copied along by init, training
 * checkpoints and export: i-th name (tokenizer files first, then
 * generation_config.json), NULL past the end. */
const char *hy_ckpt_companion_file(int i);
/* Copy every companion file present in `src_dir` into `dst_dir` (atomically
 * each); `with_generation` 0 skips generation_config.json; *copied (optional)
 * receives the count. */
hy_status hy_ckpt_copy_companions(const char *src_dir, const char *dst_dir, int with_generation, int *copied);
/* "5G", "300M", "64k", "1000" (decimal units, optional B) → bytes; 0 on success. */
int hy_ckpt_parse_size(const char *s, size_t *out);

#ifdef __cplusplus
}
#endif
#endif
