/* records.h — parse and validate one dataset record (one JSONL line) into
 * hy_chat conversations for the chat template.
 *
 * Accepted forms (TRL's dataset formats):
 *   SFT         {"messages": [msg...], "tools": [...]?}
 *               {"prompt": str|[msg...], "completion": str|[msg...], "tools"?}
 *   preference  {"prompt": str|[msg...], "chosen": str|[msg...], "rejected": str|[msg...], "tools"?}
 *               {"chosen": [msg...], "rejected": [msg...]}   (implicit prompt:
 *               the longest shared prefix that leaves each side starting
 *               with an assistant message)
 * A string prompt is one user message; a string completion/chosen/rejected
 * is one assistant message.  msg = {"role": system|user|assistant|tool,
 * "content": string, ...other keys ignored}.  Other top-level keys are
 * ignored (ids, sources, metadata).
 *
 * Validation (each failure is one message of the form
 *   file:line: field: expected ..., got ...
 * e.g.  data/sft.jsonl.zst:1832: "messages"[3].role: expected one of system,
 * user, assistant, tool; got "bot"):
 *   - the line is UTF-8 (checked on the raw bytes, with the byte offset);
 *   - it is one JSON object;
 *   - message lists are non-empty lists of objects with a known role and a
 *     string content;
 *   - system messages only before the first other message (the Hymba template
 *     would silently move a later one into the system block);
 *   - a tool message follows an assistant message or another tool message;
 *   - every conversation has an assistant message to learn from; each side of
 *     a preference pair starts with an assistant message, and the two sides
 *     differ;
 *   - "tools" (optional, null allowed) is a list of objects.
 *
 * Ownership: a parsed record owns its JSON tree; message content pointers
 * point into it and live until hy_record_free. */
#ifndef HY_RECORDS_H
#define HY_RECORDS_H
#include "core/json.h"
#include "datasets/chat.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum { HY_REC_SFT = 0, HY_REC_PREF = 1 } hy_rec_kind;
/* What a dataset is declared to hold; AUTO takes the first record's kind. */
typedef enum { HY_KIND_AUTO = -1, HY_KIND_SFT = HY_REC_SFT, HY_KIND_PREF = HY_REC_PREF } hy_kind;

typedef struct {
    hy_rec_kind kind;
    hy_chat chat;     /* SFT: the conversation; PREF: prompt + chosen */
    hy_chat rejected; /* PREF: prompt + rejected (same tools); unused for SFT */
    int n_prompt;     /* PREF: number of leading messages shared by both sides */
    /* owned */
    hy_json *root;
    hy_chat_msg *msgs; /* backing store of chat.msgs and rejected.msgs */
} hy_record;

/* Parse line[0..len) (one JSONL line) of `file` at `lineno`.  `expect` is
 * HY_KIND_AUTO or the dataset's kind (a record of the other kind is an error).
 * On failure the record is empty (safe to free) and the message has the form
 * above (status HY_ERR_DATA). */
hy_status hy_record_parse(hy_record *rec, const char *line, size_t len, const char *file, int64_t lineno, hy_kind expect);
void hy_record_free(hy_record *rec);
const char *hy_rec_kind_name(hy_rec_kind k); /* "sft" / "preference" */

/* ---- the on_error policy: fail on the first bad record, or skip and count ---- */
typedef enum { HY_BAD_RECORD_FAIL = 0, HY_BAD_RECORD_SKIP } hy_bad_record;

enum { HY_ERRLOG_KEEP = 5, HY_ERRLOG_MSG = 512 };
/* Skipped-record accounting: how many, and the first few reasons in order. */
typedef struct {
    int64_t n;
    int n_kept;
    char first[HY_ERRLOG_KEEP][HY_ERRLOG_MSG];
} hy_errlog;

void hy_errlog_add(hy_errlog *log, const char *msg); /* counts; keeps it if among the first few */
/* Append the counts of `src` to `dst`, keeping dst's first reasons first. */
void hy_errlog_merge(hy_errlog *dst, const hy_errlog *src);
/* Print "N records skipped; first reasons:" and the reasons (nothing when N = 0). */
void hy_errlog_print(const hy_errlog *log, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
