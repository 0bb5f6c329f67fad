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

/* Read DIR/config.json. */
hy_status hy_ckpt_load_config(const char *dir, hy_config *cfg);
/* Load every parameter into `weights` (host fp32, [t->total], gaps zeroed).
 * `src_dtype` (optional) receives the dtype of the embedding tensor in the file. */
hy_status hy_ckpt_load_weights(const char *dir, const hy_param_table *t, float *weights, hy_dtype *src_dtype);
/* Write DIR/model.safetensors (or shards of at most `shard_bytes` with the
 * index when the total exceeds it; 0 = never shard) in `dtype`. */
hy_status hy_ckpt_save_weights(const char *dir, const hy_param_table *t, const float *weights, hy_dtype dtype, size_t shard_bytes);
/* Initialise per spec §2.1/§14.26 with a counter-based RNG seeded by `seed`
 * (deterministic and independent of thread count). */
void hy_ckpt_init_weights(const hy_param_table *t, const hy_config *c, uint64_t seed, float *weights);

#ifdef __cplusplus
}
#endif
#endif
