/* sft.c — the SFT objective (sft.h).  Per micro-batch: shift labels into
 * targets inside each document, forward for per-token losses, and backward
 * with weight 1/norm on every supervised target, so that the gradients summed
 * over the micro-batches of a step are those of the mean loss over the whole
 * global batch. */
#include "sft/sft.h"

#include <string.h>

#include "core/alloc.h"

int64_t hy_sft_count_targets(const hy_microbatch *mb) {
    int64_t n = 0;
    for (int d = 0; d < mb->n_docs; d++)
        for (int i = 1; i < mb->doc_len[d]; i++) n += mb->labels[mb->doc_start[d] + i] != -100;
    return n;
}

static double hy_sft_units(void *self, const hy_microbatch *mb) {
    (void)self;
    return (double)hy_sft_count_targets(mb);
}

static hy_status hy_sft_micro(void *self, hy_model *m, const hy_microbatch *mb, double norm, int backward, hy_obj_acc *acc) {
    hy_sft *s = self;
    if (mb->n_tokens > s->cap) return hy_errorf(HY_ERR_INTERNAL, "micro-batch of %d tokens exceeds the SFT buffers (%d)", mb->n_tokens, s->cap);
    hy_train_shift_targets(mb, s->targets);
    hy_model_batch b = {.n_docs = mb->n_docs, .doc_len = mb->doc_len, .ids = mb->ids, .targets = s->targets};
    HY_TRY(hy_model_forward(m, &b, s->rows, NULL));
    double sum = 0;
    int64_t n = 0;
    for (int i = 0; i < mb->n_tokens; i++) {
        int valid = s->targets[i] >= 0;
        if (valid) { sum += s->rows[i]; n++; }
        s->w[i] = valid && norm > 0 ? (float)(1.0 / norm) : 0.0f;
    }
    acc->loss_sum += sum;
    acc->supervised += n;
    acc->tokens += mb->n_tokens;
    if (!backward) return HY_OK;
    return hy_model_backward(m, s->w);
}

hy_status hy_sft_init(hy_sft *s, hy_objective *obj, int cap) {
    memset(s, 0, sizeof *s);
    s->cap = cap;
    HY_TRY(hy_malloc((void **)&s->targets, sizeof(int32_t) * (size_t)cap, 0, "SFT targets"));
    HY_TRY(hy_malloc((void **)&s->rows, sizeof(float) * (size_t)cap, 0, "SFT losses"));
    HY_TRY(hy_malloc((void **)&s->w, sizeof(float) * (size_t)cap, 0, "SFT weights"));
    memset(obj, 0, sizeof *obj);
    obj->name = "sft";
    obj->self = s;
    obj->data_kind = HY_REC_SFT;
    obj->units = hy_sft_units;
    obj->micro = hy_sft_micro;
    return HY_OK;
}

void hy_sft_free(hy_sft *s) {
    hy_free(s->targets);
    hy_free(s->rows);
    hy_free(s->w);
    memset(s, 0, sizeof *s);
}
