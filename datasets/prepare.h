/* prepare.h — tokenize a dataset once into a token store (store.h):
 * read → validate (records.h) → render + tokenize + mask (the encoder) →
 * length policy → store, with worker threads and deterministic output.
 *
 * Invariants:
 *   - the store's samples are in input order (files in the given order, lines
 *     in file order) whatever the thread count: chunks of lines are processed
 *     by workers and written strictly in sequence;
 *   - with on_error fail, the error reported is the first bad record in input
 *     order; with skip, every bad record is counted and the first few reasons
 *     are kept (also in the store);
 *   - over-length samples (max_len > 0, tokens without meta tokens) are
 *     dropped or truncated as asked and counted; a preference pair whose
 *     prompt alone reaches max_len is dropped (counted as dropped_prompt),
 *     never cut inside the prompt; a sample left without any supervised token
 *     is dropped (dropped_empty);
 *   - preference pairs supervise only the reply tokens (the assistant turns
 *     after the shared prompt, plus EOS), whatever train_on says; prompt_len
 *     is the number of tokens before the reply's first supervised token.
 * The encoder is an interface so that tests can run the pipeline on synthetic
 * tokens; hy_encoder_chat gives the real one (template + tokenizer). */
#ifndef HY_PREPARE_H
#define HY_PREPARE_H
#include "datasets/store.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Turns one conversation into ids + labels (−100 unsupervised), as
 * hy_chat_encode does.  Called concurrently from worker threads: encode must
 * be thread-safe.  Plain data: copying an encoder is fine. */
typedef struct hy_encoder hy_encoder;
struct hy_encoder {
    hy_status (*encode)(const hy_encoder *e, const hy_chat *c, const hy_chat_opts *o, hy_sample *out);
    const void *ctx[2]; /* the implementation's state (hy_encoder_chat: template, tokenizer) */
    uint64_t tok_hash;  /* identity of the tokenizer (store key) */
    uint64_t tmpl_hash; /* identity of the template (store key) */
};

/* The real encoder: hy_chat_encode with this template and tokenizer (both
 * borrowed; they must outlive the encoder). */
void hy_encoder_chat(hy_encoder *e, const hy_chat_template *t, const hy_tokenizer *tok);

typedef struct {
    hy_data_opts data;     /* content options (part of the store key) */
    int threads;           /* worker threads; 0 = one per online CPU (at least 2) */
    int progress;          /* −1: a bar on a terminal, plain lines otherwise; 0: silent; 1: plain lines */
    FILE *progress_to;     /* NULL = stderr */
    const char *model_dir; /* recorded in the store (informational) */
} hy_prepare_opts;
void hy_prepare_opts_default(hy_prepare_opts *o);

typedef struct {
    hy_rec_kind kind;
    hy_store_stats stats;
    hy_errlog skipped;      /* invalid records (on_error skip) */
    double seconds;         /* wall time of the preparation (0 when reused) */
    int threads;            /* worker threads used */
    uint64_t bytes_in;      /* bytes of the source files */
    uint64_t bytes_text;    /* decompressed JSONL bytes */
    int rebuilt;            /* hy_prepare_ensure: 1 = prepared now, 0 = reused */
    char why[512];          /* hy_prepare_ensure: why it was (re)built ("" when reused) */
} hy_prepare_report;

/* Prepare `out_path` from files[0..n_files) (directory must exist).  `rep`
 * may be NULL. */
hy_status hy_prepare(const char *const *files, int n_files, const char *out_path, const hy_encoder *enc, const hy_prepare_opts *o,
                     hy_prepare_report *rep);

/* Use the store at out_path if it was made from exactly these files (content
 * hashes), encoder and options; otherwise (missing, stale, corrupt, other
 * version) prepare it again.  rep->rebuilt and rep->why say what happened. */
hy_status hy_prepare_ensure(const char *const *files, int n_files, const char *out_path, const hy_encoder *enc, const hy_prepare_opts *o,
                            hy_prepare_report *rep);

/* The default store path for a dataset: <cache_dir>/<stem of the first
 * file>[+<n−1>]-<hash of the file paths>.hystore.  cache_dir NULL: the
 * directory in $HYMBA_CACHE, else $XDG_CACHE_HOME/hymba, else
 * $HOME/.cache/hymba.  The directory is created. */
hy_status hy_prepare_default_path(char *buf, size_t n, const char *cache_dir, const char *const *files, int n_files);

/* Print the counts of a preparation (records, skipped with reasons, drops,
 * truncations, samples, tokens, supervised fraction, throughput). */
void hy_prepare_report_print(const hy_prepare_report *rep, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
