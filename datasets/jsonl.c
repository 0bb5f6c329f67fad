/* jsonl.c — streamed JSON Lines reader (plain or zstd), see jsonl.h.
 *
 * Data flows file → input buffer → (zstd) → data buffer → lines.  A line that
 * lies wholly inside the data buffer is returned in place (its '\n' becomes
 * the NUL); a line that straddles refills is assembled in a growable line
 * buffer.  Truncation is detected from ZSTD_decompressStream's return value:
 * non-zero means the current frame is not finished, so reaching the end of
 * the file in that state means the file was cut short. */
#include "datasets/jsonl.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <zstd.h>

#include "core/alloc.h"

enum { HY_JSONL_DATA_CAP = 1 << 17 };

struct hy_jsonl {
    FILE *f;
    char *path;
    int zstd, file_eof, data_eof;
    ZSTD_DStream *ds;
    size_t last_ret; /* last ZSTD_decompressStream result: 0 = between frames */
    char *in;
    size_t in_cap;
    ZSTD_inBuffer inb;
    char *data; /* decompressed (or raw) bytes [dpos, dend) not yet consumed */
    size_t dpos, dend;
    char *line; /* assembled line when it straddles refills */
    size_t line_len, line_cap;
    int64_t lineno;
    uint64_t bytes_in, bytes_out, file_size;
};

static int hy_ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static hy_status hy_jsonl_detect(hy_jsonl *r) {
    unsigned char magic[4];
    size_t n = fread(magic, 1, 4, r->f);
    if (ferror(r->f)) return hy_errorf(HY_ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
    r->zstd = n == 4 && magic[0] == 0x28 && magic[1] == 0xB5 && magic[2] == 0x2F && magic[3] == 0xFD;
    if (!r->zstd && hy_ends_with(r->path, ".zst"))
        return hy_errorf(HY_ERR_FORMAT, "%s: expected a zstd stream (magic 28 b5 2f fd), got %s; hint: is it really compressed?",
                         r->path, n ? "other bytes" : "an empty file");
    /* the sniffed bytes are data: hand them to the decoder (zstd) or the line splitter (plain) */
    if (r->zstd) {
        memcpy(r->in, magic, 4);
        r->inb.src = r->in;
        r->inb.size = 4;
        r->inb.pos = 0;
    } else {
        memcpy(r->data, magic, n);
        r->dend = n;
        r->bytes_out += n;
    }
    r->bytes_in = n;
    return HY_OK;
}

hy_status hy_jsonl_open(hy_jsonl **out, const char *path) {
    *out = NULL;
    hy_jsonl *r;
    HY_TRY(hy_malloc((void **)&r, sizeof *r, 1, "JSONL reader"));
    hy_status st = HY_OK;
    size_t plen = strlen(path) + 1;
    HY_CHECK_GOTO(st, hy_malloc((void **)&r->path, plen, 0, "JSONL path"), fail);
    memcpy(r->path, path, plen);
    r->f = fopen(path, "rb");
    if (!r->f) {
        st = hy_errorf(HY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(fileno(r->f), &sb) == 0) r->file_size = (uint64_t)sb.st_size;
    r->in_cap = ZSTD_DStreamInSize();
    HY_CHECK_GOTO(st, hy_malloc((void **)&r->in, r->in_cap, 0, "zstd input buffer"), fail);
    HY_CHECK_GOTO(st, hy_malloc((void **)&r->data, HY_JSONL_DATA_CAP + 1, 0, "JSONL data buffer"), fail);
    HY_CHECK_GOTO(st, hy_jsonl_detect(r), fail);
    if (r->zstd) {
        r->ds = ZSTD_createDStream();
        if (!r->ds) {
            st = hy_errorf(HY_ERR_OOM, "%s: ZSTD_createDStream failed", path);
            goto fail;
        }
        size_t z = ZSTD_initDStream(r->ds);
        if (ZSTD_isError(z)) {
            st = hy_errorf(HY_ERR_INTERNAL, "%s: ZSTD_initDStream: %s", path, ZSTD_getErrorName(z));
            goto fail;
        }
    }
    *out = r;
    return HY_OK;
fail:
    hy_jsonl_close(r);
    return st;
}

void hy_jsonl_close(hy_jsonl *r) {
    if (!r) return;
    if (r->f) fclose(r->f);
    if (r->ds) ZSTD_freeDStream(r->ds);
    hy_free(r->in);
    hy_free(r->data);
    hy_free(r->line);
    hy_free(r->path);
    hy_free(r);
}

static hy_status hy_jsonl_truncated(const hy_jsonl *r) {
    return hy_errorf(HY_ERR_FORMAT,
                     "%s:%lld: truncated zstd stream: the file ends inside a compressed frame after %llu bytes; "
                     "hint: the file was cut short (interrupted download or copy?), `zstd -t %s` confirms; re-create it",
                     r->path, (long long)(r->lineno + 1), (unsigned long long)r->bytes_in, r->path);
}

/* Read more compressed input; sets file_eof at the end of the file. */
static hy_status hy_jsonl_read_input(hy_jsonl *r) {
    size_t n = fread(r->in, 1, r->in_cap, r->f);
    if (n == 0) {
        if (ferror(r->f)) return hy_errorf(HY_ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
        r->file_eof = 1;
    }
    r->inb.src = r->in;
    r->inb.size = n;
    r->inb.pos = 0;
    r->bytes_in += n;
    return HY_OK;
}

/* Refill the (empty) data buffer from the zstd stream; sets data_eof at the
 * clean end of the stream. */
static hy_status hy_jsonl_refill_zstd(hy_jsonl *r) {
    ZSTD_outBuffer ob = {r->data, HY_JSONL_DATA_CAP, 0};
    for (;;) {
        if (r->inb.pos == r->inb.size && !r->file_eof) HY_TRY(hy_jsonl_read_input(r));
        int no_input = r->inb.pos == r->inb.size && r->file_eof;
        if (no_input && r->last_ret == 0) { /* every frame finished and flushed */
            r->data_eof = 1;
            break;
        }
        size_t ret = ZSTD_decompressStream(r->ds, &ob, &r->inb);
        if (ZSTD_isError(ret))
            return hy_errorf(HY_ERR_FORMAT, "%s:%lld: corrupt zstd stream: %s; hint: `zstd -t %s` checks the file", r->path,
                             (long long)(r->lineno + 1), ZSTD_getErrorName(ret), r->path);
        r->last_ret = ret;
        if (ob.pos > 0) break;
        if (no_input && ret != 0) return hy_jsonl_truncated(r); /* a frame is open and nothing is left to finish it */
    }
    r->dpos = 0;
    r->dend = ob.pos;
    r->bytes_out += ob.pos;
    return HY_OK;
}

static hy_status hy_jsonl_refill(hy_jsonl *r) {
    r->dpos = r->dend = 0;
    if (r->zstd) return hy_jsonl_refill_zstd(r);
    size_t n = fread(r->data, 1, HY_JSONL_DATA_CAP, r->f);
    if (n == 0) {
        if (ferror(r->f)) return hy_errorf(HY_ERR_IO, "%s: read failed: %s", r->path, strerror(errno));
        r->data_eof = 1;
    }
    r->dend = n;
    r->bytes_in += n;
    r->bytes_out += n;
    return HY_OK;
}

static hy_status hy_jsonl_append(hy_jsonl *r, const char *p, size_t n) {
    if (r->line_len + n + 1 > r->line_cap) {
        size_t cap = r->line_cap ? r->line_cap : 4096;
        while (cap < r->line_len + n + 1) cap *= 2;
        HY_TRY(hy_realloc((void **)&r->line, cap, "JSONL line buffer"));
        r->line_cap = cap;
    }
    memcpy(r->line + r->line_len, p, n);
    r->line_len += n;
    r->line[r->line_len] = 0;
    return HY_OK;
}

/* One physical line (possibly blank); *line NULL at the end of the file. */
static hy_status hy_jsonl_physical(hy_jsonl *r, char **line, size_t *len) {
    r->line_len = 0;
    int straddles = 0;
    for (;;) {
        if (r->dpos == r->dend) {
            if (r->data_eof) break;
            HY_TRY(hy_jsonl_refill(r));
            continue;
        }
        char *s = r->data + r->dpos;
        char *nl = memchr(s, '\n', r->dend - r->dpos);
        if (nl) {
            size_t n = (size_t)(nl - s);
            r->dpos += n + 1;
            r->lineno++;
            if (!straddles) {
                *nl = 0;
                *line = s;
                *len = n;
                return HY_OK;
            }
            HY_TRY(hy_jsonl_append(r, s, n));
            *line = r->line;
            *len = r->line_len;
            return HY_OK;
        }
        HY_TRY(hy_jsonl_append(r, s, r->dend - r->dpos));
        straddles = 1;
        r->dpos = r->dend;
    }
    if (straddles) { /* last line without a trailing newline */
        r->lineno++;
        *line = r->line;
        *len = r->line_len;
        return HY_OK;
    }
    *line = NULL;
    *len = 0;
    return HY_OK;
}

static int hy_is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

hy_status hy_jsonl_next(hy_jsonl *r, const char **line, size_t *len, int64_t *lineno) {
    for (;;) {
        char *s;
        size_t n;
        HY_TRY(hy_jsonl_physical(r, &s, &n));
        if (!s) {
            *line = NULL;
            *len = 0;
            *lineno = r->lineno;
            return HY_OK;
        }
        if (n && s[n - 1] == '\r') s[--n] = 0;
        if (hy_is_blank(s, n)) continue;
        *line = s;
        *len = n;
        *lineno = r->lineno;
        return HY_OK;
    }
}

uint64_t hy_jsonl_bytes_in(const hy_jsonl *r) { return r->bytes_in; }
uint64_t hy_jsonl_file_size(const hy_jsonl *r) { return r->file_size; }
uint64_t hy_jsonl_bytes_out(const hy_jsonl *r) { return r->bytes_out; }
int hy_jsonl_is_zstd(const hy_jsonl *r) { return r->zstd; }
const char *hy_jsonl_path(const hy_jsonl *r) { return r->path; }

int hy_utf8_valid(const char *text, size_t len, size_t *bad_at) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int extra;
        uint32_t cp, min;
        if ((c & 0xE0) == 0xC0) extra = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) extra = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) extra = 3, cp = c & 0x07, min = 0x10000;
        else goto bad;
        if (i + (size_t)extra >= len) goto bad; /* sequence cut by the end of the text */
        for (int k = 1; k <= extra; k++) {
            if ((s[i + k] & 0xC0) != 0x80) goto bad;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) goto bad;
        i += (size_t)extra + 1;
    }
    return 1;
bad:
    if (bad_at) *bad_at = i;
    return 0;
}
