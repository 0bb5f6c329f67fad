/* sample.c — token sampling and stop-string streaming (sample.h).
 * Sampling sorts the candidates once per draw (O(V log V) on the host; for a
 * 32K vocabulary this is well below one decode step of the 1.5B model) and
 * works in double, so the result does not depend on summation tricks. */
#include "sample.h"

#include <math.h>
#include <string.h>

#include "alloc.h"
#include "rng.h"

/* qsort context: C11 qsort has none, so candidates carry their logit. */
typedef struct {
    float v;
    int32_t id;
} hy_cand;

hy_sample_opts hy_sample_opts_default(void) {
    hy_sample_opts o = {.temperature = 1.0f, .top_k = 0, .top_p = 1.0f, .seed = 0};
    return o;
}

hy_status hy_sampler_init(hy_sampler *s, const hy_sample_opts *o, int V) {
    memset(s, 0, sizeof *s);
    if (V < 1) return hy_errorf(HY_ERR_ARG, "sampler: vocabulary size %d", V);
    if (isnan(o->temperature)) return hy_errorf(HY_ERR_ARG, "sampler: temperature is NaN");
    if (o->top_k < 0) return hy_errorf(HY_ERR_ARG, "sampler: top-k must be >= 0 (0 = off), got %d", o->top_k);
    if (!(o->top_p > 0.0f && o->top_p <= 1.0f)) return hy_errorf(HY_ERR_ARG, "sampler: top-p must be in (0, 1], got %g", (double)o->top_p);
    s->o = *o;
    s->V = V;
    s->stream = hy_rng_stream_id("generate.sample");
    HY_TRY(hy_malloc(&s->cand, sizeof(hy_cand) * (size_t)V, 0, "sampler candidates"));
    hy_status st = hy_malloc((void **)&s->prob, sizeof(double) * (size_t)V, 0, "sampler probabilities");
    if (st) hy_sampler_free(s);
    return st;
}

void hy_sampler_free(hy_sampler *s) {
    hy_free(s->cand);
    hy_free(s->prob);
    s->cand = NULL;
    s->prob = NULL;
}

int32_t hy_sample_argmax(const float *logits, int V) {
    int32_t best = -1;
    for (int i = 0; i < V; i++)
        if (!isnan(logits[i]) && logits[i] > -INFINITY && (best < 0 || logits[i] > logits[best])) best = i;
    return best;
}

static int hy_cand_cmp(const void *a_, const void *b_) {
    const hy_cand *a = a_, *b = b_;
    if (a->v != b->v) return a->v > b->v ? -1 : 1;
    return (a->id > b->id) - (a->id < b->id);
}

hy_status hy_sampler_next(hy_sampler *s, const float *logits, int32_t *out) {
    int V = s->V;
    int32_t best = hy_sample_argmax(logits, V);
    if (best < 0) return hy_errorf(HY_ERR_NUMERIC, "sampler: the logits hold no finite value");
    for (int i = 0; i < V; i++)
        if (isnan(logits[i])) return hy_errorf(HY_ERR_NUMERIC, "sampler: logit %d is NaN", i);
    /* greedy; also when a logit is +inf (all the mass is there) */
    if (s->o.temperature <= 0.0f || s->o.top_k == 1 || logits[best] == INFINITY) {
        *out = best;
        return HY_OK;
    }
    hy_cand *c = s->cand;
    int n = 0;
    for (int i = 0; i < V; i++)
        if (logits[i] > -INFINITY) c[n++] = (hy_cand){logits[i], i};
    qsort(c, (size_t)n, sizeof *c, hy_cand_cmp);
    if (s->o.top_k > 0 && s->o.top_k < n) n = s->o.top_k;
    double inv_t = 1.0 / (double)s->o.temperature, mx = (double)c[0].v * inv_t, total = 0;
    for (int i = 0; i < n; i++) {
        s->prob[i] = exp((double)c[i].v * inv_t - mx);
        total += s->prob[i];
    }
    if (s->o.top_p < 1.0f) { /* smallest prefix reaching top_p of the mass */
        double acc = 0, want = (double)s->o.top_p * total;
        int keep = 0;
        while (keep < n && (keep == 0 || acc < want)) acc += s->prob[keep++];
        n = keep;
        total = acc;
    }
    double u = hy_rng_uniform(s->o.seed, s->stream, s->draws++) * total, acc = 0;
    int pick = n - 1; /* rounding at the top end lands on the last candidate */
    for (int i = 0; i < n; i++) {
        acc += s->prob[i];
        if (u < acc) {
            pick = i;
            break;
        }
    }
    *out = c[pick].id;
    return HY_OK;
}

/* ---- stop strings and streaming ---- */

void hy_stop_stream_init(hy_stop_stream *s, const char *const *stops, int n_stops) {
    memset(s, 0, sizeof *s);
    s->stops = stops;
    s->n_stops = n_stops;
}

/* Length of the longest suffix of text[0,len) that is a proper prefix of a stop string. */
static size_t hy_stop_partial(const hy_stop_stream *s, const char *text, size_t len) {
    size_t best = 0;
    for (int k = 0; k < s->n_stops; k++) {
        size_t sl = strlen(s->stops[k]);
        for (size_t m = sl > 0 ? sl - 1 : 0; m > best; m--)
            if (m <= len && !memcmp(text + len - m, s->stops[k], m)) {
                best = m;
                break;
            }
    }
    return best;
}

size_t hy_stop_stream_update(hy_stop_stream *s, const char *text, size_t len, int final) {
    if (s->stopped) return 0;
    /* a stop string may start up to (its length − 1) bytes before the emitted mark */
    size_t from = s->emitted, first = len;
    for (int k = 0; k < s->n_stops; k++) {
        size_t sl = strlen(s->stops[k]);
        if (!sl || sl > len) continue;
        size_t start = from >= sl ? from - sl + 1 : 0;
        for (size_t i = start; i + sl <= len && i < first; i++)
            if (!memcmp(text + i, s->stops[k], sl)) {
                first = i;
                break;
            }
    }
    size_t safe = len;
    if (first < len) {
        s->stopped = 1;
        s->end = first;
        safe = first;
    } else if (!final) {
        safe = len - hy_stop_partial(s, text, len);
        /* U+FFFD (EF BF BD) at the end may be an incomplete multi-byte character */
        while (safe >= 3 && !memcmp(text + safe - 3, "\xEF\xBF\xBD", 3)) safe -= 3;
    }
    if (safe <= s->emitted) return 0;
    size_t n = safe - s->emitted;
    s->emitted = safe;
    return n;
}
