/* dpo.h — the preference-optimisation objective for core/train (DPO and its
 * IPO, hinge and robust variants, optional RPO-style SFT term).
 *
 * Per pair (chosen c, rejected r, both completions of one prompt), with
 * S = Σ log p(target) over the side's supervised shifted targets and n their
 * count, the sequence log-prob of a side is
 *     π = S            (default: TRL's `get_batch_logps`, summed)
 *     π = S / n        (dpo.length_normalize, and ALWAYS for ipo: TRL's IPO
 *                       uses per-token averages of both policy and reference)
 * and the same for the reference (ρ).  With Δ = (πc − ρc) − (πr − ρr) and
 * x = β·Δ, the per-pair losses follow TRL's DPOTrainer.dpo_loss exactly:
 *     sigmoid  −(1−ε)·log σ(x) − ε·log σ(−x)           (ε = label_smoothing:
 *                                                       conservative DPO)
 *     robust   (−(1−ε)·log σ(x) + ε·log σ(−x)) / (1−2ε)  (Chowdhury et al.)
 *     hinge    relu(1 − x)                               (SLiC)
 *     ipo      (Δ − 1/(2β))²                             (IPO eq. 17, τ = β)
 * plus, when dpo.sft_weight = α > 0, α·(−Sc / nc): the chosen completion's
 * NLL averaged over its own tokens (the RPO paper's per-example length
 * normalisation; TRL's rpo_alpha averages over all chosen tokens of the batch
 * instead — identical when every chosen side has the same length).
 * The step loss is Σ over the pairs of the global batch / number of pairs
 * (units = pairs).  Gradients flow through the per-token backward weights:
 * row t of a side gets −∂L/∂S_side / norm.
 *
 * Metrics (TRL's names, means over pairs): rewards/chosen = β(πc − ρc),
 * rewards/rejected, rewards/margins, rewards/accuracies (chosen reward
 * strictly above rejected), logps/chosen, logps/rejected, ref_logps/chosen,
 * ref_logps/rejected (the π and ρ the loss used), and nll_loss when α > 0. */
#ifndef HY_DPO_H
#define HY_DPO_H
#include "core/train.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- the loss of one pair (pure function; the tests check it by hand) ---- */

typedef struct {
    hy_dpo_loss loss;
    double beta;            /* > 0 */
    double label_smoothing; /* ε in [0, 0.5) */
    double sft_weight;      /* α ≥ 0 */
    int length_normalize;
} hy_dpo_params;

typedef struct {
    double pol[2];  /* S: Σ log p over supervised targets, policy [chosen, rejected] */
    double ref[2];  /* the same for the reference */
    int64_t n[2];   /* supervised targets per side (≥ 0) */
} hy_dpo_pair_in;

typedef struct {
    double loss;        /* preference loss + SFT term */
    double nll;         /* −Sc / nc (0 when nc = 0) */
    double dS[2];       /* ∂loss/∂S_side (policy; includes 1/n when normalised and the SFT term) */
    double logp[2];     /* π as used by the loss (S or S/n) */
    double ref_logp[2]; /* ρ as used by the loss */
    double reward[2];   /* β(π − ρ) per side */
} hy_dpo_pair_out;

/* Loss, gradient w.r.t. the policy sums and rewards of one pair.  A side
 * with n = 0 has π = ρ = 0 when normalised (nothing to average). */
void hy_dpo_pair_loss(const hy_dpo_params *p, const hy_dpo_pair_in *in, hy_dpo_pair_out *out);
/* Copy the dpo section of a recipe. */
void hy_dpo_params_from_recipe(hy_dpo_params *p, const hy_recipe *r);

/* ---- where reference log-probs come from ---- */

/* Fill, for every document d of `mb` (chosen and rejected alike), the sum of
 * the reference's log-probs over its supervised targets `targets` (the
 * shifted labels, [mb->n_tokens]) and their count.  `split` is the
 * objective's hy_objective.split (0: training loader, 1 + i: eval set i). */
typedef struct {
    void *self;
    hy_status (*logps)(void *self, const hy_microbatch *mb, int split, const int32_t *targets, double *sum /* [n_docs] */,
                       int64_t *count /* [n_docs] */);
} hy_dpo_ref;

/* ---- the objective ---- */

typedef struct hy_ref_cache hy_ref_cache; /* dpo/ref_cache.h */

typedef struct {
    hy_dpo_params p;
    hy_objective *obj;          /* the objective this fills (for obj->split) */
    int cap, max_docs;          /* tokens / documents per micro-batch */
    int32_t *targets;           /* [cap] */
    float *rows;                /* [cap] per-token policy losses */
    float *w;                   /* [cap] backward weights */
    double *pol_sum, *ref_sum;  /* [max_docs] */
    int64_t *pol_n, *ref_n;     /* [max_docs] */
    hy_dpo_ref ref;             /* set by prepare (or by a test) */
    /* owned reference sources (prepare) */
    hy_ref_cache *cache;        /* precompute */
    hy_model *ref_model;        /* live */
    float *ref_rows;            /* [cap] live */
    int n_train;                /* training stores (the cache's first stores; eval sets follow) */
    char ref_dir[4096];         /* the reference checkpoint in use */
} hy_dpo;

/* Fill `obj` with the DPO objective configured by r->dpo; buffers for
 * micro-batches of r->data.tokens_per_micro_batch tokens.  The reference is
 * set up by obj->prepare (called by hy_train_run with the token stores):
 * precompute → dpo/ref_cache, live → a frozen model of the reference
 * checkpoint (r->dpo.reference.model, or r->model.path when empty). */
hy_status hy_dpo_init(hy_dpo *d, hy_objective *obj, const hy_recipe *r);
void hy_dpo_free(hy_dpo *d);

#ifdef __cplusplus
}
#endif
#endif
