/* optim.h — AdamW over the flat fp32 buffers, learning-rate schedules,
 * the global gradient norm and clipping (host reference; the CUDA backend
 * implements the same formulas).
 *
 * Invariants
 *   - Every function here is deterministic and independent of the number of
 *     OpenMP threads: AdamW is element-wise, and the gradient norm sums fixed
 *     chunks in fp64 and combines the chunk sums in a fixed order.
 *   - The alignment gaps of the flat buffer (params.h) stay zero: a zero
 *     gradient with zero moments gives a zero update, and decay of 0 is 0.
 *   - Nothing allocates except hy_optim_groups_build (called once at start).
 *
 * ---- AdamW (torch.optim.AdamW semantics, amsgrad=False, maximize=False) ----
 * For update number t = 1, 2, ... (t counts applied updates; a skipped
 * non-finite step does not advance it) and every element i of a range:
 *     g  = grad_scale · grad[i]                       (clip coefficient, loss scale)
 *     p ← p · (1 − lr·wd)                             only when the range decays
 *     m ← β1·m + (1−β1)·g
 *     v ← β2·v + (1−β2)·g²
 *     p ← p − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + ε)
 * which is torch's p −= lr·m̂/(sqrt(v̂)+ε) with m̂ = m/(1−β1^t), v̂ = v/(1−β2^t),
 * written in torch's operation order.  Scalars are formed in fp64, the
 * element math is fp32.
 *
 * ---- Schedules (s = 0-based index of the update being made, N updates) ----
 *   W = warmup steps (from warmup_steps, or ceil(warmup_ratio·N) as in
 *       transformers), peak = the recipe's lr, floor = min_lr.
 *   Warmup, s < W:        lr(s) = peak · (s+1) / W
 *       (linear from 0; transformers uses s/W, which spends the first update
 *        at lr 0 — we shift by one so the first update already learns and the
 *        peak is reached on the last warmup step.)
 *   After warmup, with p = (s − W) / max(1, N − W) clamped to [0, 1] — exactly
 *   transformers' get_*_schedule_with_warmup, plus the floor the way
 *   get_cosine_with_min_lr_schedule_with_warmup applies it:
 *     constant: lr = peak                                        (no floor)
 *     linear:   lr = floor + (peak − floor) · (1 − p)
 *     cosine:   lr = floor + (peak − floor) · ½ (1 + cos(π p))
 *     wsd:      D = round(decay_ratio · N) clamped to [0, N − W] decay steps,
 *               S = N − W − D stable steps, decay starts at s0 = W + S;
 *               s < s0:  lr = peak
 *               s ≥ s0:  q = (s − s0) / D (clamped to 1),
 *                        lr = floor + (peak − floor) · f(q),
 *                        f(q) = 1 − q (linear, the default: MiniCPM-style
 *                        decay to the floor) or ½ (1 + cos(π q)) (cosine).
 *               This is transformers' get_wsd_schedule with
 *               min_lr_ratio = floor / peak.
 *   Steps past the end keep the final value (p, q clamped to 1).
 *
 * ---- Gradient norm and clipping (torch.nn.utils.clip_grad_norm_) ----
 *   norm = sqrt(Σ g²) accumulated in fp64;
 *   coefficient = min(1, max_norm / (norm + 1e-6)); max_norm ≤ 0 disables.
 *   A non-finite gradient makes the norm non-finite (finite fp32 squares
 *   cannot overflow a fp64 sum), so the norm doubles as the finiteness test. */
#ifndef HY_OPTIM_H
#define HY_OPTIM_H
#include "hy_base.h"
#include "params.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- parameter groups ---- */

/* A contiguous element range of the flat buffer and whether it decays. */
typedef struct {
    size_t offset; /* elements */
    size_t numel;
    int decay;     /* 1: weight decay applies */
} hy_optim_range;

typedef struct {
    hy_optim_range *ranges; /* [count], ascending offsets, disjoint */
    int count;
    size_t n_decay;   /* parameters (not gap elements) with weight decay */
    size_t n_nodecay; /* parameters without */
} hy_optim_groups;

/* Build the ranges from the parameter table: a tensor decays unless bit
 * (1u << desc.cls) is set in `no_decay_mask` (hy_param_class bits).  Adjacent
 * tensors with the same flag merge into one range, alignment gaps included
 * (they are zero and stay zero).  Owns g->ranges; free with
 * hy_optim_groups_free. */
hy_status hy_optim_groups_build(hy_optim_groups *g, const hy_param_table *t, unsigned no_decay_mask);
void hy_optim_groups_free(hy_optim_groups *g);

/* ---- AdamW ---- */

typedef struct {
    double beta1;        /* default 0.9 */
    double beta2;        /* default 0.999 */
    double eps;          /* default 1e-8 */
    double weight_decay; /* decoupled, multiplied by lr (torch semantics) */
} hy_adamw_hparams;

/* One AdamW update over every range of `g` (formulas above).  `t` ≥ 1 is the
 * number of this update (bias correction); `lr` the scheduled rate;
 * `grad_scale` multiplies each gradient (clip coefficient × any loss
 * normalisation; 1 for none).  All buffers are host fp32 in the flat layout,
 * updated in place; `grad` is read only.  OpenMP over elements. */
void hy_adamw_step(const hy_adamw_hparams *h, const hy_optim_groups *g, int64_t t, double lr, float grad_scale,
                   float *param, /* [total] master weights, updated */
                   const float *grad, /* [total] */
                   float *m,     /* [total] first moment, updated */
                   float *v);    /* [total] second moment, updated */

/* ---- gradient norm, clipping, finiteness ---- */

/* sqrt(Σ x²) over x[0..n) in fp64, bit-identical for any thread count:
 * HY_OPTIM_NORM_CHUNKS fixed chunks, each summed sequentially, then the chunk
 * sums added in chunk order. */
enum { HY_OPTIM_NORM_CHUNKS = 256 };
double hy_optim_global_norm(const float *x, /* [n] */ size_t n);
/* The Σ x² behind it (same chunks and order; the CPU sumsq op). */
double hy_optim_sumsq(const float *x, /* [n] */ size_t n);
/* min(1, max_norm / (norm + 1e-6)); 1 when max_norm ≤ 0 (clipping off).
 * Undefined for non-finite norms: check hy_optim_norm_ok first. */
double hy_optim_clip_coef(double norm, double max_norm);
/* x[i] *= scale over [0, n). */
void hy_optim_scale(float *x, /* [n] */ size_t n, float scale);
/* 1 when every element is finite (neither NaN nor ±inf). */
int hy_optim_all_finite(const float *x, /* [n] */ size_t n);
static inline int hy_optim_norm_ok(double norm) { return norm == norm && norm <= 1.7976931348623157e308; }

/* ---- schedules ---- */

typedef enum { HY_SCHED_CONSTANT = 0, HY_SCHED_LINEAR, HY_SCHED_COSINE, HY_SCHED_WSD } hy_sched_kind;
typedef enum { HY_DECAY_LINEAR = 0, HY_DECAY_COSINE } hy_decay_shape;

typedef struct {
    hy_sched_kind kind;
    hy_decay_shape decay_shape; /* wsd only */
    double peak_lr;
    double min_lr;              /* floor reached at the end of linear/cosine/wsd */
    int64_t total_steps;        /* N ≥ 1 */
    int64_t warmup_steps;       /* W, 0 ≤ W ≤ N */
    int64_t decay_steps;        /* wsd: D; derived, 0 for other kinds */
} hy_schedule;

/* Resolve a schedule.  Exactly one of warmup_steps > 0 or warmup_ratio > 0
 * may be given (both 0: no warmup); W = warmup_steps or ceil(ratio·N), then
 * clamped to N.  `decay_ratio` is used by wsd only.  Errors (HY_ERR_CONFIG):
 * N < 1, negative values, min_lr > peak_lr, both warmups set. */
hy_status hy_schedule_init(hy_schedule *s, hy_sched_kind kind, double peak_lr, double min_lr, int64_t total_steps,
                           int64_t warmup_steps, double warmup_ratio, double decay_ratio, hy_decay_shape shape);
/* Learning rate of update `step` (0-based; formulas above). */
double hy_schedule_lr(const hy_schedule *s, int64_t step);
/* First step of the decay phase: W for linear/cosine, W + S for wsd, N for
 * constant. */
int64_t hy_schedule_decay_start(const hy_schedule *s);
const char *hy_sched_kind_name(hy_sched_kind k); /* "constant", "linear", "cosine", "wsd" */

#ifdef __cplusplus
}
#endif
#endif
