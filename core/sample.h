/* sample.h — choosing the next token from logits, and deciding when the
 * generated text stops (spec §13.5), for `hymba generate` / `hymba chat`.
 *
 * Sampling: greedy (temperature ≤ 0, or top_k = 1) is the argmax with the
 * lowest index winning ties.  Otherwise: logits / temperature, keep the top_k
 * highest (0 = all), softmax (double), keep the smallest prefix of the
 * probability-sorted candidates whose mass reaches top_p (at least one), and
 * draw with u = hy_rng_uniform(seed, stream, draw index): draw i of a sampler
 * depends only on (seed, i) and the logits — reproducible on any machine, and
 * independent of what was sampled before.  Candidates are ordered by (logit
 * descending, id ascending), so ties never depend on the sort.
 *
 * Stopping and streaming (hy_stop_stream): the caller decodes the whole
 * generated text after every token and asks how many new bytes are safe to
 * print.  Held back are (a) a trailing U+FFFD, which may be an incomplete
 * UTF-8 sequence split across byte tokens, and (b) a suffix that could still
 * grow into a stop string.  When a stop string appears, the text ends right
 * before it (the stop string itself is never printed). */
#ifndef HY_SAMPLE_H
#define HY_SAMPLE_H
#include "hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float temperature; /* ≤ 0: greedy */
    int top_k;         /* 0: no limit */
    float top_p;       /* (0, 1]; 1: no limit */
    uint64_t seed;
} hy_sample_opts;

typedef struct {
    hy_sample_opts o;
    uint64_t stream;   /* RNG stream ("generate.sample") */
    uint64_t draws;    /* draws made so far: the next draw's counter */
    int V;
    void *cand;        /* [V] scratch: (logit, id) candidates */
    double *prob;      /* [V] scratch */
} hy_sampler;

/* {temperature 1, top_k 0, top_p 1, seed 0}. */
hy_sample_opts hy_sample_opts_default(void);
/* HY_ERR_ARG names a bad option (top_p outside (0,1], negative top_k, NaN). */
hy_status hy_sampler_init(hy_sampler *s, const hy_sample_opts *o, int V);
void hy_sampler_free(hy_sampler *s);
/* The next token from host logits [V]; counts one draw unless greedy.
 * HY_ERR_NUMERIC when the logits hold NaN or no finite value. */
hy_status hy_sampler_next(hy_sampler *s, const float *logits /* [V] */, int32_t *out);
/* Argmax, lowest index on ties (NaN never wins); -1 when nothing is finite. */
int32_t hy_sample_argmax(const float *logits /* [V] */, int V);

typedef struct {
    const char *const *stops; /* borrowed; empty strings are ignored */
    int n_stops;
    size_t emitted;           /* bytes of the text already handed out */
    int stopped;              /* a stop string was found */
    size_t end;               /* when stopped: length of the final text */
} hy_stop_stream;

void hy_stop_stream_init(hy_stop_stream *s, const char *const *stops, int n_stops);
/* `text` [len] is the whole generated text so far (it only ever grows at its
 * end, except for a trailing U+FFFD becoming a real character).  Returns the
 * number of bytes at text + s->emitted that may be printed now and advances
 * `emitted`.  `final` = 1 at the end of generation releases everything held
 * back.  After a stop string s->stopped = 1 and the text is text[0, s->end). */
size_t hy_stop_stream_update(hy_stop_stream *s, const char *text, size_t len, int final);

#ifdef __cplusplus
}
#endif
#endif
