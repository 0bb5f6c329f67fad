/* params.h — the parameter table expanded from params.def.
 * All parameters live in one flat buffer (weights; grads, master weights and
 * AdamW moments use the same layout).  Offsets are in elements and aligned to
 * HY_PARAM_ALIGN elements so every tensor starts on a 128-byte boundary in
 * fp32 (vectorised loads, cuBLASLt alignment); the gaps stay zero. */
#ifndef HY_PARAMS_H
#define HY_PARAMS_H
#include "config.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { HY_PARAM_ALIGN = 32 };

typedef enum {
#define HY_PARAM(id, hf, scope, d0, d1, d2, init, cls) HY_P_##id,
#include "params.def"
#undef HY_PARAM
    HY_P_COUNT
} hy_param_id;

typedef enum { HY_INIT_NORMAL, HY_INIT_NORMAL_PAD0, HY_INIT_STDNORMAL, HY_INIT_ONES, HY_INIT_ZEROS, HY_INIT_A_LOG } hy_param_init;
typedef enum { HY_PCLASS_MATRIX, HY_PCLASS_NORM, HY_PCLASS_BIAS, HY_PCLASS_EMBED, HY_PCLASS_META, HY_PCLASS_SSM, HY_PCLASS_COUNT } hy_param_class;

typedef struct {
    char name[96];        /* full Hugging Face name */
    hy_param_id id;
    int layer;            /* -1 for model-level tensors */
    int ndim;
    int64_t shape[3];
    size_t numel;
    size_t offset;        /* element offset in the flat buffer */
    hy_param_init init;
    hy_param_class cls;
} hy_param_desc;

typedef struct {
    int count;
    hy_param_desc *desc;                 /* [count], flat-buffer order */
    size_t total;                        /* elements including alignment gaps */
    size_t n_params;                     /* sum of numel (the model's parameter count) */
    int global_index[HY_P_COUNT];        /* desc index of model-level ids, -1 otherwise */
    int *layer_index;                    /* [num_layers * HY_P_COUNT], -1 where absent */
    int num_layers;
} hy_param_table;

hy_status hy_params_build(hy_param_table *t, const hy_config *c);
void hy_params_free(hy_param_table *t);
/* Descriptor of a tensor (layer = -1 for model-level ids); NULL if absent. */
const hy_param_desc *hy_params_get(const hy_param_table *t, int layer, hy_param_id id);
/* Offset in elements; panics if absent (programmer error). */
size_t hy_params_off(const hy_param_table *t, int layer, hy_param_id id);
/* Look up by Hugging Face name; NULL if unknown. */
const hy_param_desc *hy_params_find(const hy_param_table *t, const char *hf_name);
const char *hy_param_class_name(hy_param_class c);

#ifdef __cplusplus
}
#endif
#endif
