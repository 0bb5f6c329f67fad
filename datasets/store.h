/* store.h — the versioned token store: tokenized, masked samples of one
 * dataset (one or more JSONL files) in zstd-compressed blocks with an index
 * for random access.  Written once by `hymba data prepare` (prepare.h), read
 * by the loader (loader.h) and `hymba data stats|inspect`.  Byte layout:
 * datasets/FORMAT.md.
 *
 * Invariants:
 *   - a store records what it was made from (hy_store_key: the content hash
 *     of every source file, the tokenizer and template hashes, the options);
 *     hy_store_check compares every one and a mismatch is HY_ERR_MISMATCH
 *     naming what changed — a stale store is never used silently;
 *   - a store is written to "<path>.tmp.<pid>", fsynced and renamed: a crash
 *     leaves either the previous store or none, never a torn one;
 *   - sample i of a preference store is a pair: side 0 = chosen, side 1 =
 *     rejected, both complete conversations (prompt + reply) sharing their
 *     first `prompt_len` tokens; an SFT sample has side 0 only;
 *   - labels are stored as a supervision mask: label = id where supervised,
 *     −100 elsewhere (unshifted: the model shifts, as Hugging Face does).
 * A reader (hy_store) is not thread-safe (it caches decoded blocks): open one
 * per thread. */
#ifndef HY_STORE_H
#define HY_STORE_H
#include "datasets/records.h"
#ifdef __cplusplus
extern "C" {
#endif

enum { HY_STORE_VERSION = 1 };
enum { HY_LABEL_IGNORE = -100 };

/* Content hash of a file's bytes (as stored: a .zst file is hashed
 * compressed) with core/fsutil's hy_hash64, and its size. */
hy_status hy_hash_file(const char *path, uint64_t *hash, uint64_t *bytes);

/* ---- options that shape the content (all part of the staleness key) ---- */
typedef enum { HY_OVER_DROP = 0, HY_OVER_TRUNCATE } hy_over_length;

typedef struct {
    hy_kind kind;               /* declared kind; AUTO = the first record's */
    int32_t max_len;            /* max tokens per sequence (without meta tokens); 0 = no limit */
    hy_over_length over_length; /* what to do with a longer sample */
    hy_bad_record on_error;       /* invalid records: fail or skip */
    int add_bos, add_eos;       /* as hy_chat_opts */
    hy_train_on train_on;       /* SFT supervision; preference pairs supervise the replies */
} hy_data_opts;
void hy_data_opts_default(hy_data_opts *o); /* auto, 4096, drop, fail, no BOS, EOS, all assistant turns */
uint64_t hy_data_opts_hash(const hy_data_opts *o);
const char *hy_over_length_name(hy_over_length p);
const char *hy_bad_record_name(hy_bad_record p);
const char *hy_train_on_name(hy_train_on t);
const char *hy_kind_name(hy_kind k); /* "auto", "sft", "preference" */

/* What a store is made from.  Paths are informational (a moved file with the
 * same bytes is the same source); hashes decide. */
typedef struct {
    int n_sources;
    const char *const *source_paths; /* [n_sources] */
    const uint64_t *source_hashes;   /* [n_sources] hy_hash_file */
    const uint64_t *source_bytes;    /* [n_sources] */
    uint64_t tok_hash;               /* hy_tok_hash */
    uint64_t tmpl_hash;              /* hy_chat_template_hash */
    hy_data_opts opts;
} hy_store_key;

/* Counts of one preparation (kept in the store, shown by `hymba data stats`). */
typedef struct {
    int64_t records;        /* non-blank lines read */
    int64_t skipped;        /* invalid records skipped (on_error skip) */
    int64_t dropped_long;   /* longer than max_len, dropped (over_length drop) */
    int64_t dropped_prompt; /* preference prompt alone reaches max_len: dropped, never cut */
    int64_t dropped_empty;  /* no supervised token left after truncation */
    int64_t truncated;      /* cut to max_len (over_length truncate) */
    int64_t samples;        /* samples in the store (pairs count once) */
    int64_t tokens;         /* tokens of all sequences (both sides of pairs) */
    int64_t supervised;     /* supervised tokens of all sequences */
} hy_store_stats;

/* Index entry of one sample (the whole index is in memory once opened). */
typedef struct {
    uint32_t len[2];     /* tokens of side 0 (SFT / chosen) and side 1 (rejected; 0 for SFT) */
    uint32_t sup[2];     /* supervised tokens per side */
    uint32_t prompt_len; /* preference: tokens shared by both sides; 0 for SFT */
    uint32_t source;     /* index of the source file */
    uint64_t line;       /* line in that file */
} hy_store_entry;

/* ---- writer ---- */
typedef struct hy_store_writer hy_store_writer;

typedef struct {
    const int32_t *ids[2];    /* [len[side]] token ids */
    const int32_t *labels[2]; /* [len[side]] id or −100 (anything else is an error) */
    uint32_t len[2];          /* len[1] = 0 for SFT */
    uint32_t prompt_len;
    uint32_t source;
    uint64_t line;
} hy_store_sample;

/* Create "<path>.tmp.<pid>" for writing (the directory must exist). */
hy_status hy_store_writer_open(hy_store_writer **out, const char *path);
/* Append one sample (copied; samples are numbered in call order). */
hy_status hy_store_writer_add(hy_store_writer *w, const hy_store_sample *s);
/* Write the index and metadata, fsync and rename onto `path`; frees `w`
 * (also on failure, removing the temporary file).  stats->samples, tokens and
 * supervised are filled in by the writer; `skipped` may be NULL. */
hy_status hy_store_writer_finish(hy_store_writer *w, hy_rec_kind kind, const hy_store_key *key, const hy_store_stats *stats,
                                 const hy_errlog *skipped, const char *model_dir);
/* Give up: remove the temporary file and free `w` (NULL is fine). */
void hy_store_writer_abort(hy_store_writer *w);

/* ---- reader ---- */
typedef struct hy_store hy_store;

typedef struct {
    hy_rec_kind kind;
    int64_t n_samples;
    int max_len; /* longest sequence in the store */
    hy_store_stats stats;
    hy_data_opts opts;
    uint64_t tok_hash, tmpl_hash;
    int n_sources;
    const char *const *source_paths; /* [n_sources], owned by the store */
    const uint64_t *source_hashes;   /* [n_sources] */
    const char *model_dir;           /* informational; "" when unknown */
    int n_skip_reasons;
    const char *const *skip_reasons; /* first reasons of skipped records */
} hy_store_info;

/* Open and validate (magic, version, checksums, index consistency). */
hy_status hy_store_open(hy_store **out, const char *path);
void hy_store_close(hy_store *s);
const hy_store_info *hy_store_get_info(const hy_store *s);
const hy_store_entry *hy_store_entries(const hy_store *s); /* [n_samples] */
const char *hy_store_path(const hy_store *s);
/* Copy side `side` of sample `i`: ids [len] and labels [len] (id or −100),
 * len = hy_store_entries(s)[i].len[side].  Either pointer may be NULL. */
hy_status hy_store_read(hy_store *s, int64_t i, int side, int32_t *ids, int32_t *labels);

/* Is the store at `path` made from exactly `want`?  HY_OK if so; otherwise
 * HY_ERR_MISMATCH (stale: the message names the first difference),
 * HY_ERR_IO (no such file) or HY_ERR_FORMAT (corrupt / other version). */
hy_status hy_store_check(const char *path, const hy_store_key *want);

#ifdef __cplusplus
}
#endif
#endif
