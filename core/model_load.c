/* model_load.c — hy_model_open: checkpoint directory → ready model. */
#include "alloc.h"
#include "checkpoint.h"
#include "model.h"

hy_status hy_model_open(hy_model **out, const char *dir, const hy_ops *ops, int max_text_tokens, int max_docs, int training) {
    return hy_model_open_ex(out, dir, ops, max_text_tokens, max_docs, training, 0);
}

hy_status hy_model_open_ex(hy_model **out, const char *dir, const hy_ops *ops, int max_text_tokens, int max_docs, int training,
                           size_t buffer_elems) {
    hy_model_limits lim = {max_text_tokens, max_docs, 0};
    return hy_model_open_lim(out, dir, ops, &lim, training, buffer_elems);
}

hy_status hy_model_open_lim(hy_model **out, const char *dir, const hy_ops *ops, const hy_model_limits *lim, int training,
                            size_t buffer_elems) {
    *out = NULL;
    hy_config cfg;
    HY_TRY(hy_ckpt_load_config(dir, &cfg));
    hy_model *m;
    HY_TRY(hy_model_create_lim(&m, &cfg, ops, lim, training, buffer_elems));
    const hy_param_table *pt = hy_model_params(m);
    hy_status st;
    if (ops->host_memory && ops->act_dtype == HY_DTYPE_F32) {
        /* CPU: load straight into the model's weight buffer (no second copy of a 6 GB model) */
        st = hy_ckpt_load_weights(dir, pt, (float *)hy_model_weights(m), NULL);
    } else {
        float *host;
        st = hy_malloc((void **)&host, pt->total * sizeof(float), 1, "host weights");
        if (!st) st = hy_ckpt_load_weights(dir, pt, host, NULL);
        if (!st) st = hy_model_set_weights(m, host);
        hy_free(host);
    }
    if (st) {
        hy_model_free(m);
        return st;
    }
    *out = m;
    return HY_OK;
}
