/* sft.h — the supervised fine-tuning objective for core/train: next-token
 * cross-entropy on supervised tokens, normalised by the number of supervised
 * targets in the whole global batch (the trainer counts them first). */
#ifndef HY_SFT_H
#define HY_SFT_H
#include "core/train.h"

typedef struct {
    int cap;          /* tokens per micro-batch */
    int32_t *targets; /* [cap] */
    float *rows;      /* [cap] per-token losses */
    float *w;         /* [cap] backward weights */
} hy_sft;

/* Fill `obj` with the SFT objective over `s` (buffers for `cap` tokens). */
hy_status hy_sft_init(hy_sft *s, hy_objective *obj, int cap);
void hy_sft_free(hy_sft *s);
/* Supervised next-token targets of a micro-batch (labels at positions ≥ 1 of each document). */
int64_t hy_sft_count_targets(const hy_microbatch *mb);

#endif
