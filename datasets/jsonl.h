/* jsonl.h — streamed, line-by-line reading of JSON Lines files, plain
 * (.jsonl) or zstd-compressed (.jsonl.zst), of any size.
 *
 * Invariants:
 *   - memory is bounded by the longest line plus two I/O buffers, never by
 *     the file size;
 *   - line numbers are 1-based physical line numbers of the decompressed text
 *     (blank lines are skipped but still counted), so an error message
 *     "file:line" points at the line `zstd -dc file | sed -n LINEp` shows;
 *   - the compression is recognised by the zstd frame magic, not the file
 *     name (a .zst name without the magic is an error); a stream that ends
 *     inside a zstd frame is reported as truncated with the file and the line
 *     being read, never silently accepted as a shorter file.
 * This file and the token store (store.c) are the only include sites of zstd. */
#ifndef HY_JSONL_H
#define HY_JSONL_H
#include "core/hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hy_jsonl hy_jsonl;

/* Open `path` for reading.  On failure *out is NULL and the message names the
 * path and the OS error. */
hy_status hy_jsonl_open(hy_jsonl **out, const char *path);
void hy_jsonl_close(hy_jsonl *r); /* NULL is fine */

/* Read the next non-blank line.  On HY_OK with *line == NULL the file is at
 * its end.  Otherwise *line points into the reader's buffer (valid until the
 * next call; NUL-terminated at line[*len]), without the trailing "\n" or
 * "\r\n"; *lineno is its 1-based line number. */
hy_status hy_jsonl_next(hy_jsonl *r, const char **line, size_t *len, int64_t *lineno);

/* Bytes of the file consumed so far and the file size (for progress). */
uint64_t hy_jsonl_bytes_in(const hy_jsonl *r);
uint64_t hy_jsonl_file_size(const hy_jsonl *r);
/* Decompressed bytes returned so far (including the newlines). */
uint64_t hy_jsonl_bytes_out(const hy_jsonl *r);
int hy_jsonl_is_zstd(const hy_jsonl *r);
const char *hy_jsonl_path(const hy_jsonl *r);

/* Check that text[0..len) is valid UTF-8 (no overlongs, no surrogates, no
 * code points above U+10FFFF).  Returns 1 when valid; otherwise 0 with the
 * byte offset of the first bad sequence in *bad_at. */
int hy_utf8_valid(const char *text, size_t len, size_t *bad_at);

#ifdef __cplusplus
}
#endif
#endif
