/* optim.c — AdamW, schedules, global norm and clipping on host fp32 buffers.
 * The formulas and their conventions are documented in optim.h; this file
 * keeps the order of operations of torch.optim.AdamW (foreach path) so the
 * CPU results are directly comparable to PyTorch's.
 * Determinism: the update is element-wise; the norm is a fixed two-level
 * reduction (HY_OPTIM_NORM_CHUNKS chunk sums in fp64, summed in order), so
 * neither depends on the OpenMP thread count or schedule. */
#include "optim.h"

#include <math.h>
#include <string.h>

#include "alloc.h"

/* ---------------------------------------------------------------- groups */

hy_status hy_optim_groups_build(hy_optim_groups *g, const hy_param_table *t, unsigned no_decay_mask) {
    memset(g, 0, sizeof *g);
    if (t->count <= 0) return HY_OK;
    HY_TRY(hy_malloc((void **)&g->ranges, sizeof(hy_optim_range) * (size_t)t->count, 1, "optimizer parameter ranges"));
    for (int i = 0; i < t->count; i++) {
        const hy_param_desc *d = &t->desc[i];
        int decay = !(no_decay_mask & (1u << (unsigned)d->cls));
        if (decay) g->n_decay += d->numel;
        else g->n_nodecay += d->numel;
        hy_optim_range *last = g->count ? &g->ranges[g->count - 1] : NULL;
        HY_ASSERT(!last || d->offset >= last->offset + last->numel);
        if (last && last->decay == decay) {
            last->numel = d->offset + d->numel - last->offset; /* absorbs the zero gap */
        } else {
            g->ranges[g->count++] = (hy_optim_range){d->offset, d->numel, decay};
        }
    }
    return HY_OK;
}

void hy_optim_groups_free(hy_optim_groups *g) {
    hy_free(g->ranges);
    memset(g, 0, sizeof *g);
}

/* ---------------------------------------------------------------- AdamW */

void hy_adamw_step(const hy_adamw_hparams *h, const hy_optim_groups *g, int64_t t, double lr, float grad_scale,
                   float *param, const float *grad, float *m, float *v) {
    HY_ASSERT(t >= 1);
    /* scalars in fp64, as torch forms them in Python floats */
    const double bc1 = 1.0 - pow(h->beta1, (double)t);
    const double bc2 = 1.0 - pow(h->beta2, (double)t);
    const float step_size = (float)(lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay_mul = (float)(1.0 - lr * h->weight_decay);
    const float b1 = (float)h->beta1, b2 = (float)h->beta2;
    const float one_m_b1 = (float)(1.0 - h->beta1), one_m_b2 = (float)(1.0 - h->beta2);
    const float eps = (float)h->eps;
#pragma omp parallel
    for (int r = 0; r < g->count; r++) {
        const hy_optim_range *rg = &g->ranges[r];
        float *p = param + rg->offset, *mm = m + rg->offset, *vv = v + rg->offset;
        const float *gg = grad + rg->offset;
        const long n = (long)rg->numel;
        /* ×1.0f is exact, so a non-decayed range is bit-identical to skipping
         * the decay, and the loop has no branch */
        const float mul = rg->decay ? decay_mul : 1.0f;
#pragma omp for schedule(static) nowait
        for (long i = 0; i < n; i++) {
            const float gi = gg[i] * grad_scale;
            const float pi = p[i] * mul;
            const float mi = b1 * mm[i] + one_m_b1 * gi;
            const float vi = b2 * vv[i] + one_m_b2 * gi * gi;
            const float denom = sqrtf(vi) / bc2_sqrt + eps;
            p[i] = pi - step_size * (mi / denom);
            mm[i] = mi;
            vv[i] = vi;
        }
    }
}

/* ---------------------------------------------------------------- norm */

/* Sum of squares of one chunk, sequential, fp64, four interleaved
 * accumulators (fixed order, so still deterministic). */
static double hy_sumsq_chunk(const float *x, size_t n) {
    double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        a0 += (double)x[i] * x[i];
        a1 += (double)x[i + 1] * x[i + 1];
        a2 += (double)x[i + 2] * x[i + 2];
        a3 += (double)x[i + 3] * x[i + 3];
    }
    for (; i < n; i++) a0 += (double)x[i] * x[i];
    return (a0 + a1) + (a2 + a3);
}

double hy_optim_sumsq(const float *x, size_t n) {
    double part[HY_OPTIM_NORM_CHUNKS];
    const size_t chunk = (n + HY_OPTIM_NORM_CHUNKS - 1) / HY_OPTIM_NORM_CHUNKS;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < HY_OPTIM_NORM_CHUNKS; c++) {
        size_t lo = (size_t)c * chunk;
        size_t hi = lo + chunk < n ? lo + chunk : n;
        part[c] = lo < hi ? hy_sumsq_chunk(x + lo, hi - lo) : 0.0;
    }
    double s = 0;
    for (int c = 0; c < HY_OPTIM_NORM_CHUNKS; c++) s += part[c];
    return s;
}

double hy_optim_global_norm(const float *x, size_t n) { return sqrt(hy_optim_sumsq(x, n)); }

double hy_optim_clip_coef(double norm, double max_norm) {
    if (max_norm <= 0) return 1.0;
    double c = max_norm / (norm + 1e-6);
    return c < 1.0 ? c : 1.0;
}

void hy_optim_scale(float *x, size_t n, float scale) {
    if (scale == 1.0f) return;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)n; i++) x[i] *= scale;
}

int hy_optim_all_finite(const float *x, size_t n) {
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad)
    for (long i = 0; i < (long)n; i++) bad |= !isfinite(x[i]);
    return !bad;
}

/* ---------------------------------------------------------------- schedules */

const char *hy_sched_kind_name(hy_sched_kind k) {
    switch (k) {
    case HY_SCHED_CONSTANT: return "constant";
    case HY_SCHED_LINEAR: return "linear";
    case HY_SCHED_COSINE: return "cosine";
    case HY_SCHED_WSD: return "wsd";
    }
    return "?";
}

hy_status hy_schedule_init(hy_schedule *s, hy_sched_kind kind, double peak_lr, double min_lr, int64_t total_steps,
                           int64_t warmup_steps, double warmup_ratio, double decay_ratio, hy_decay_shape shape) {
    memset(s, 0, sizeof *s);
    if (total_steps < 1)
        return hy_errorf(HY_ERR_CONFIG, "schedule: total steps must be at least 1, got %lld (is the training set empty?)",
                         (long long)total_steps);
    if (!(peak_lr >= 0) || !(min_lr >= 0))
        return hy_errorf(HY_ERR_CONFIG, "schedule: lr %g and min_lr %g must be non-negative", peak_lr, min_lr);
    if (kind != HY_SCHED_CONSTANT && min_lr > peak_lr)
        return hy_errorf(HY_ERR_CONFIG, "schedule: min_lr %g is above the peak lr %g; the floor must not exceed the peak",
                         min_lr, peak_lr);
    if (warmup_steps < 0 || !(warmup_ratio >= 0 && warmup_ratio <= 1))
        return hy_errorf(HY_ERR_CONFIG, "schedule: warmup_steps %lld / warmup_ratio %g out of range",
                         (long long)warmup_steps, warmup_ratio);
    if (warmup_steps > 0 && warmup_ratio > 0)
        return hy_errorf(HY_ERR_CONFIG, "schedule: give warmup_steps or warmup_ratio, not both (got %lld and %g)",
                         (long long)warmup_steps, warmup_ratio);
    if (!(decay_ratio >= 0 && decay_ratio <= 1))
        return hy_errorf(HY_ERR_CONFIG, "schedule: decay_ratio %g must be within [0, 1]", decay_ratio);
    int64_t w = warmup_steps > 0 ? warmup_steps : (int64_t)ceil(warmup_ratio * (double)total_steps);
    if (w > total_steps) w = total_steps;
    s->kind = kind;
    s->decay_shape = shape;
    s->peak_lr = peak_lr;
    s->min_lr = min_lr;
    s->total_steps = total_steps;
    s->warmup_steps = w;
    if (kind == HY_SCHED_WSD) {
        int64_t d = (int64_t)floor(decay_ratio * (double)total_steps + 0.5);
        if (d > total_steps - w) d = total_steps - w;
        s->decay_steps = d;
    }
    return HY_OK;
}

int64_t hy_schedule_decay_start(const hy_schedule *s) {
    switch (s->kind) {
    case HY_SCHED_CONSTANT: return s->total_steps;
    case HY_SCHED_WSD: return s->total_steps - s->decay_steps;
    default: return s->warmup_steps;
    }
}

static double hy_clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }

double hy_schedule_lr(const hy_schedule *s, int64_t step) {
    const double pi = 3.14159265358979323846;
    const double peak = s->peak_lr, lo = s->min_lr;
    const int64_t w = s->warmup_steps, n = s->total_steps;
    if (step < 0) step = 0;
    if (step < w) return peak * (double)(step + 1) / (double)w;
    switch (s->kind) {
    case HY_SCHED_CONSTANT: return peak;
    case HY_SCHED_LINEAR: {
        double p = hy_clamp01((double)(step - w) / (double)(n - w > 1 ? n - w : 1));
        return lo + (peak - lo) * (1.0 - p);
    }
    case HY_SCHED_COSINE: {
        double p = hy_clamp01((double)(step - w) / (double)(n - w > 1 ? n - w : 1));
        return lo + (peak - lo) * 0.5 * (1.0 + cos(pi * p));
    }
    case HY_SCHED_WSD: {
        int64_t s0 = n - s->decay_steps;
        if (step < s0) return peak;
        if (s->decay_steps == 0) return peak;
        double q = hy_clamp01((double)(step - s0) / (double)s->decay_steps);
        double f = s->decay_shape == HY_DECAY_COSINE ? 0.5 * (1.0 + cos(pi * q)) : 1.0 - q;
        return lo + (peak - lo) * f;
    }
    }
    return peak;
}
