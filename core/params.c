/* params.c — expands params.def for a given config (see params.h). */
#include "params.h"

#include <string.h>

#include "alloc.h"

typedef struct {
    hy_param_id id;
    const char *hf;
    int per_layer;
    hy_param_init init;
    hy_param_class cls;
} hy_param_row;

static const hy_param_row hy_rows[] = {
#define G 0
#define L 1
#define HY_PARAM(id, hf, scope, d0, d1, d2, init, cls) {HY_P_##id, hf, scope, HY_INIT_##init, HY_PCLASS_##cls},
#include "params.def"
#undef HY_PARAM
#undef G
#undef L
};

static void hy_row_shape(const hy_config *c, int l, hy_param_id id, int64_t d[3]) {
    (void)l;
    switch (id) {
#define HY_PARAM(pid, hf, scope, d0, d1, d2, init, cls) \
    case HY_P_##pid: d[0] = (d0); d[1] = (d1); d[2] = (d2); return;
#include "params.def"
#undef HY_PARAM
    default: HY_PANIC("unknown parameter id %d", (int)id);
    }
}

const char *hy_param_class_name(hy_param_class c) {
    static const char *n[] = {"matrix", "norm", "bias", "embed", "meta", "ssm"};
    return (unsigned)c < HY_PCLASS_COUNT ? n[c] : "?";
}

static void hy_add(hy_param_table *t, const hy_config *c, const hy_param_row *r, int layer, size_t *off) {
    hy_param_desc *d = &t->desc[t->count];
    memset(d, 0, sizeof *d);
    if (layer >= 0) snprintf(d->name, sizeof d->name, "model.layers.%d.%s", layer, r->hf);
    else snprintf(d->name, sizeof d->name, "%s", r->hf);
    d->id = r->id;
    d->layer = layer;
    int64_t s[3];
    hy_row_shape(c, layer, r->id, s);
    d->numel = 1;
    for (int k = 0; k < 3 && s[k] > 0; k++) { d->shape[d->ndim++] = s[k]; d->numel *= (size_t)s[k]; }
    d->offset = *off;
    d->init = r->init;
    d->cls = r->cls;
    *off += HY_CEIL_DIV(d->numel, HY_PARAM_ALIGN) * HY_PARAM_ALIGN;
    t->n_params += d->numel;
    if (layer >= 0) t->layer_index[layer * HY_P_COUNT + r->id] = t->count;
    else t->global_index[r->id] = t->count;
    t->count++;
}

hy_status hy_params_build(hy_param_table *t, const hy_config *c) {
    memset(t, 0, sizeof *t);
    const int nrows = (int)HY_ARRAY_LEN(hy_rows);
    int nl = c->num_layers, cap = 0;
    for (int i = 0; i < nrows; i++) cap += hy_rows[i].per_layer ? nl : 1;
    HY_TRY(hy_malloc((void **)&t->desc, sizeof(hy_param_desc) * (size_t)cap, 1, "parameter table"));
    hy_status st = hy_malloc((void **)&t->layer_index, sizeof(int) * (size_t)(nl * HY_P_COUNT), 0, "parameter index");
    if (st) { hy_free(t->desc); t->desc = NULL; return st; }
    for (int i = 0; i < nl * HY_P_COUNT; i++) t->layer_index[i] = -1;
    for (int i = 0; i < HY_P_COUNT; i++) t->global_index[i] = -1;
    t->num_layers = nl;
    size_t off = 0;
    /* model-level rows before the first per-layer row, then the layers, then the rest */
    int first_layer_row = 0;
    while (first_layer_row < nrows && !hy_rows[first_layer_row].per_layer) first_layer_row++;
    for (int i = 0; i < first_layer_row; i++) hy_add(t, c, &hy_rows[i], -1, &off);
    for (int l = 0; l < nl; l++)
        for (int i = 0; i < nrows; i++)
            if (hy_rows[i].per_layer) hy_add(t, c, &hy_rows[i], l, &off);
    for (int i = first_layer_row; i < nrows; i++)
        if (!hy_rows[i].per_layer) hy_add(t, c, &hy_rows[i], -1, &off);
    t->total = off;
    return HY_OK;
}

void hy_params_free(hy_param_table *t) {
    hy_free(t->desc);
    hy_free(t->layer_index);
    memset(t, 0, sizeof *t);
}

const hy_param_desc *hy_params_get(const hy_param_table *t, int layer, hy_param_id id) {
    int i = layer < 0 ? t->global_index[id] : t->layer_index[layer * HY_P_COUNT + id];
    return i < 0 ? NULL : &t->desc[i];
}

size_t hy_params_off(const hy_param_table *t, int layer, hy_param_id id) {
    const hy_param_desc *d = hy_params_get(t, layer, id);
    if (!d) HY_PANIC("parameter %d of layer %d does not exist", (int)id, layer);
    return d->offset;
}

const hy_param_desc *hy_params_find(const hy_param_table *t, const char *hf_name) {
    for (int i = 0; i < t->count; i++)
        if (!strcmp(t->desc[i].name, hf_name)) return &t->desc[i];
    return NULL;
}
