/* store_read.c — token store reader and staleness check (see store.h).
 *
 * Opening validates everything that later reads rely on (magic, version,
 * header hash, trailer hash over metadata + index, block sizes equal to the
 * sizes of their samples, offsets inside the file), so hy_store_read never
 * reads out of bounds even on a hostile file; block payloads are verified by
 * zstd's frame checksum when decoded.  A small LRU cache of decoded blocks
 * serves sequential and nearby reads without decompressing again. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/fsutil.h"
#include "core/json.h"
#include "datasets/store.h"
#include "datasets/store_format.h"

enum { HY_STORE_CACHE = 4 };

typedef struct {
    int64_t block; /* −1: empty */
    uint8_t *raw;
    size_t raw_cap;
    uint32_t *offsets; /* byte offset of each sample of the block */
    int64_t off_cap;
    uint64_t used; /* LRU stamp */
} hy_block_cache;

struct hy_store {
    char *path;
    int fd;
    hy_store_header h;
    hy_store_block *blocks;
    hy_store_entry *entries;
    hy_json *meta;
    hy_store_info info;
    const char **paths, **reasons;
    uint64_t *hashes;
    ZSTD_DCtx *dctx;
    void *comp;
    size_t comp_cap;
    hy_block_cache cache[HY_STORE_CACHE];
    uint64_t clock;
};

static hy_status hy_pread_all(const hy_store *s, void *buf, size_t n, uint64_t off, const char *what) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = pread(s->fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return hy_errorf(HY_ERR_FORMAT, "%s: reading the %s at offset %llu failed: %s", s->path, what, (unsigned long long)off,
                                     r < 0 ? strerror(errno) : "unexpected end of file (truncated store?)");
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return HY_OK;
}

static hy_status hy_read_header(hy_store *s, uint64_t file_size) {
    hy_store_header *h = &s->h;
    if (file_size < HY_STORE_HEADER_BYTES + sizeof(hy_store_trailer))
        return hy_errorf(HY_ERR_FORMAT, "%s: not a hymba token store (only %llu bytes)", s->path, (unsigned long long)file_size);
    HY_TRY(hy_pread_all(s, h, sizeof *h, 0, "header"));
    if (memcmp(h->magic, HY_STORE_MAGIC, 8))
        return hy_errorf(HY_ERR_FORMAT, "%s: not a hymba token store (bad magic); hint: make one with `hymba data prepare`", s->path);
    if (h->version != HY_STORE_VERSION)
        return hy_errorf(HY_ERR_MISMATCH, "%s: token store version %u, this hymba reads version %d; hint: rebuild it with `hymba data prepare`",
                         s->path, h->version, HY_STORE_VERSION);
    if (h->header_hash != hy_hash64(h, offsetof(hy_store_header, header_hash), HY_STORE_TRAILER_SEED))
        return hy_errorf(HY_ERR_FORMAT, "%s: corrupt token store header (checksum mismatch); hint: rebuild it", s->path);
    uint64_t index_bytes = h->n_blocks * sizeof(hy_store_block) + h->n_samples * sizeof(hy_store_entry);
    if (h->kind > HY_REC_PREF || h->n_blocks > file_size || h->n_samples > file_size || h->meta_offset < HY_STORE_HEADER_BYTES ||
        h->meta_offset + h->meta_bytes != h->index_offset || h->index_offset + index_bytes + sizeof(hy_store_trailer) != file_size)
        return hy_errorf(HY_ERR_FORMAT, "%s: corrupt token store (section sizes do not add up to the file size %llu)", s->path,
                         (unsigned long long)file_size);
    return HY_OK;
}

/* Metadata, index and trailer; the trailer hash covers all three. */
static hy_status hy_read_sections(hy_store *s, char **meta) {
    const hy_store_header *h = &s->h;
    size_t nb = (size_t)h->n_blocks, ns = (size_t)h->n_samples;
    HY_TRY(hy_malloc((void **)meta, h->meta_bytes + 1, 0, "store metadata"));
    HY_TRY(hy_pread_all(s, *meta, h->meta_bytes, h->meta_offset, "metadata"));
    (*meta)[h->meta_bytes] = 0;
    HY_TRY(hy_malloc((void **)&s->blocks, sizeof *s->blocks * (nb ? nb : 1), 0, "store block index"));
    HY_TRY(hy_malloc((void **)&s->entries, sizeof *s->entries * (ns ? ns : 1), 0, "store sample index"));
    HY_TRY(hy_pread_all(s, s->blocks, sizeof *s->blocks * nb, h->index_offset, "block index"));
    HY_TRY(hy_pread_all(s, s->entries, sizeof *s->entries * ns, h->index_offset + sizeof *s->blocks * nb, "sample index"));
    hy_store_trailer tr;
    HY_TRY(hy_pread_all(s, &tr, sizeof tr, h->index_offset + sizeof *s->blocks * nb + sizeof *s->entries * ns, "trailer"));
    hy_hash64_state hs;
    hy_hash64_init(&hs, HY_STORE_TRAILER_SEED);
    hy_hash64_update(&hs, *meta, h->meta_bytes);
    hy_hash64_update(&hs, s->blocks, sizeof *s->blocks * nb);
    hy_hash64_update(&hs, s->entries, sizeof *s->entries * ns);
    if (memcmp(tr.magic, HY_STORE_END_MAGIC, 8) || tr.hash != hy_hash64_final(&hs))
        return hy_errorf(HY_ERR_FORMAT, "%s: corrupt token store (index checksum mismatch); hint: rebuild it", s->path);
    return HY_OK;
}

/* Every block holds exactly its samples' bytes and lies between the header
 * and the metadata; every entry is consistent with the store's kind. */
static hy_status hy_check_index(const hy_store *s) {
    const hy_store_header *h = &s->h;
    for (uint64_t b = 0; b < h->n_blocks; b++) {
        const hy_store_block *bl = &s->blocks[b];
        uint64_t end = b + 1 < h->n_blocks ? s->blocks[b + 1].first_sample : h->n_samples;
        if (b == 0 && bl->first_sample != 0) goto bad;
        if (end <= bl->first_sample || end > h->n_samples || bl->offset < HY_STORE_HEADER_BYTES || bl->offset + bl->comp_bytes > h->meta_offset)
            goto bad;
        uint64_t bytes = 0;
        for (uint64_t i = bl->first_sample; i < end; i++) bytes += 5ull * ((uint64_t)s->entries[i].len[0] + s->entries[i].len[1]);
        if (bytes != bl->raw_bytes) goto bad;
    }
    if (h->n_samples && !h->n_blocks) goto bad;
    for (uint64_t i = 0; i < h->n_samples; i++) {
        const hy_store_entry *e = &s->entries[i];
        int pref = h->kind == HY_REC_PREF;
        if (!e->len[0] || (pref != (e->len[1] > 0)) || e->sup[0] > e->len[0] || e->sup[1] > e->len[1] || e->len[0] > HY_STORE_MAX_SEQ ||
            e->len[1] > HY_STORE_MAX_SEQ || (int)e->source >= s->info.n_sources)
            return hy_errorf(HY_ERR_FORMAT, "%s: corrupt token store (sample %llu has an inconsistent index entry)", s->path, (unsigned long long)i);
    }
    return HY_OK;
bad:
    return hy_errorf(HY_ERR_FORMAT, "%s: corrupt token store (block index inconsistent with the sample index)", s->path);
}

static uint64_t hy_hex(const hy_json *j) { return hy_json_str(j) ? strtoull(hy_json_str(j), NULL, 16) : 0; }
static int hy_name_index(const char *s, const char *const *names, int n, int dflt) {
    for (int i = 0; s && i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return dflt;
}

static void hy_parse_opts(const hy_json *o, hy_data_opts *d) {
    static const char *kinds[] = {"auto", "sft", "preference"}, *over[] = {"drop", "truncate"}, *onerr[] = {"fail", "skip"};
    static const char *train[] = {"all_assistant", "last_assistant", "everything"};
    d->kind = (hy_kind)(hy_name_index(hy_json_str(hy_json_get(o, "kind")), kinds, 3, 0) - 1);
    d->max_len = (int32_t)hy_json_int(hy_json_get(o, "max_len"));
    d->over_length = (hy_over_length)hy_name_index(hy_json_str(hy_json_get(o, "over_length")), over, 2, 0);
    d->on_error = (hy_bad_record)hy_name_index(hy_json_str(hy_json_get(o, "on_error")), onerr, 2, 0);
    d->add_bos = hy_json_bool(hy_json_get(o, "add_bos"));
    d->add_eos = hy_json_bool(hy_json_get(o, "add_eos"));
    int t = hy_name_index(hy_json_str(hy_json_get(o, "train_on")), train, 3, 0);
    d->train_on = t == 1 ? HY_TRAIN_LAST_ASSISTANT : t == 2 ? HY_TRAIN_EVERYTHING : HY_TRAIN_ALL_ASSISTANT;
}

static hy_status hy_parse_meta(hy_store *s, const char *text) {
    HY_TRY(hy_json_parse(&s->meta, text, strlen(text), s->path));
    hy_store_info *in = &s->info;
    const hy_json *m = s->meta, *src = hy_json_get(m, "sources"), *st = hy_json_get(m, "stats"), *why = hy_json_get(m, "skip_reasons");
    in->kind = (hy_rec_kind)s->h.kind;
    in->n_samples = (int64_t)s->h.n_samples;
    in->n_sources = (int)hy_json_len(src);
    HY_TRY(hy_malloc((void **)&s->paths, sizeof(char *) * (size_t)(in->n_sources + 1), 1, "store source list"));
    HY_TRY(hy_malloc((void **)&s->hashes, sizeof(uint64_t) * (size_t)(in->n_sources + 1), 1, "store source hashes"));
    for (int i = 0; i < in->n_sources; i++) {
        const hy_json *o = hy_json_at(src, (size_t)i);
        s->paths[i] = hy_json_str(hy_json_get(o, "path")) ? hy_json_str(hy_json_get(o, "path")) : "";
        s->hashes[i] = hy_hex(hy_json_get(o, "hash"));
    }
    in->source_paths = s->paths;
    in->source_hashes = s->hashes;
    in->tok_hash = hy_hex(hy_json_get(m, "tokenizer_hash"));
    in->tmpl_hash = hy_hex(hy_json_get(m, "template_hash"));
    hy_parse_opts(hy_json_get(m, "options"), &in->opts);
    in->model_dir = hy_json_str(hy_json_get(m, "model_dir")) ? hy_json_str(hy_json_get(m, "model_dir")) : "";
    hy_store_stats *t = &in->stats;
    t->records = hy_json_int(hy_json_get(st, "records"));
    t->skipped = hy_json_int(hy_json_get(st, "skipped"));
    t->dropped_long = hy_json_int(hy_json_get(st, "dropped_long"));
    t->dropped_prompt = hy_json_int(hy_json_get(st, "dropped_prompt"));
    t->dropped_empty = hy_json_int(hy_json_get(st, "dropped_empty"));
    t->truncated = hy_json_int(hy_json_get(st, "truncated"));
    t->samples = hy_json_int(hy_json_get(st, "samples"));
    t->tokens = hy_json_int(hy_json_get(st, "tokens"));
    t->supervised = hy_json_int(hy_json_get(st, "supervised"));
    in->max_len = (int)hy_json_int(hy_json_get(st, "max_len"));
    in->n_skip_reasons = (int)hy_json_len(why);
    HY_TRY(hy_malloc((void **)&s->reasons, sizeof(char *) * (size_t)(in->n_skip_reasons + 1), 1, "store skip reasons"));
    for (int i = 0; i < in->n_skip_reasons; i++) s->reasons[i] = hy_json_str(hy_json_at(why, (size_t)i)) ? hy_json_str(hy_json_at(why, (size_t)i)) : "";
    in->skip_reasons = s->reasons;
    return HY_OK;
}

static hy_status hy_store_open_inner(hy_store *s, const char *path) {
    size_t n = strlen(path) + 1;
    HY_TRY(hy_malloc((void **)&s->path, n, 0, "store path"));
    memcpy(s->path, path, n);
    s->fd = open(path, O_RDONLY);
    if (s->fd < 0) return hy_errorf(HY_ERR_IO, "%s: cannot open token store: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(s->fd, &sb)) return hy_errorf(HY_ERR_IO, "%s: stat failed: %s", path, strerror(errno));
    HY_TRY(hy_read_header(s, (uint64_t)sb.st_size));
    char *meta = NULL;
    hy_status st = hy_read_sections(s, &meta);
    if (st == HY_OK) st = hy_parse_meta(s, meta);
    hy_free(meta);
    HY_TRY(st);
    HY_TRY(hy_check_index(s));
    s->dctx = ZSTD_createDCtx();
    if (!s->dctx) return hy_errorf(HY_ERR_OOM, "ZSTD_createDCtx failed");
    for (int i = 0; i < HY_STORE_CACHE; i++) s->cache[i].block = -1;
    return HY_OK;
}

hy_status hy_store_open(hy_store **out, const char *path) {
    *out = NULL;
    hy_store *s;
    HY_TRY(hy_malloc((void **)&s, sizeof *s, 1, "token store"));
    s->fd = -1;
    hy_status st = hy_store_open_inner(s, path);
    if (st != HY_OK) {
        hy_store_close(s);
        return st;
    }
    *out = s;
    return HY_OK;
}

void hy_store_close(hy_store *s) {
    if (!s) return;
    if (s->fd >= 0) close(s->fd);
    if (s->dctx) ZSTD_freeDCtx(s->dctx);
    for (int i = 0; i < HY_STORE_CACHE; i++) {
        hy_free(s->cache[i].raw);
        hy_free(s->cache[i].offsets);
    }
    hy_json_free(s->meta);
    hy_free(s->paths);
    hy_free(s->hashes);
    hy_free(s->reasons);
    hy_free(s->blocks);
    hy_free(s->entries);
    hy_free(s->comp);
    hy_free(s->path);
    hy_free(s);
}

const hy_store_info *hy_store_get_info(const hy_store *s) { return &s->info; }
const hy_store_entry *hy_store_entries(const hy_store *s) { return s->entries; }
const char *hy_store_path(const hy_store *s) { return s->path; }

static int64_t hy_block_of(const hy_store *s, int64_t i) {
    int64_t lo = 0, hi = (int64_t)s->h.n_blocks - 1; /* last block with first_sample <= i */
    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if ((int64_t)s->blocks[mid].first_sample <= i) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static hy_status hy_decode_block(hy_store *s, int64_t b, hy_block_cache *c) {
    const hy_store_block *bl = &s->blocks[b];
    if (bl->comp_bytes > s->comp_cap) {
        HY_TRY(hy_realloc(&s->comp, bl->comp_bytes, "store block buffer"));
        s->comp_cap = bl->comp_bytes;
    }
    if (bl->raw_bytes > c->raw_cap) {
        HY_TRY(hy_realloc((void **)&c->raw, bl->raw_bytes, "store block"));
        c->raw_cap = bl->raw_bytes;
    }
    c->block = -1;
    HY_TRY(hy_pread_all(s, s->comp, bl->comp_bytes, bl->offset, "block"));
    size_t z = ZSTD_decompressDCtx(s->dctx, c->raw, bl->raw_bytes, s->comp, bl->comp_bytes);
    if (ZSTD_isError(z) || z != bl->raw_bytes)
        return hy_errorf(HY_ERR_FORMAT, "%s: corrupt token store block %lld: %s; hint: rebuild the store", s->path, (long long)b,
                         ZSTD_isError(z) ? ZSTD_getErrorName(z) : "wrong decompressed size");
    int64_t end = b + 1 < (int64_t)s->h.n_blocks ? (int64_t)s->blocks[b + 1].first_sample : (int64_t)s->h.n_samples;
    int64_t n = end - (int64_t)bl->first_sample;
    if (n > c->off_cap) {
        HY_TRY(hy_realloc((void **)&c->offsets, sizeof(uint32_t) * (size_t)n, "store block offsets"));
        c->off_cap = n;
    }
    uint32_t off = 0;
    for (int64_t k = 0; k < n; k++) {
        const hy_store_entry *e = &s->entries[(int64_t)bl->first_sample + k];
        c->offsets[k] = off;
        off += 5u * (e->len[0] + e->len[1]);
    }
    c->block = b;
    return HY_OK;
}

static hy_status hy_cached_block(hy_store *s, int64_t b, hy_block_cache **out) {
    hy_block_cache *victim = &s->cache[0];
    for (int k = 0; k < HY_STORE_CACHE; k++) {
        hy_block_cache *c = &s->cache[k];
        if (c->block == b) {
            c->used = ++s->clock;
            *out = c;
            return HY_OK;
        }
        if (c->used < victim->used) victim = c;
    }
    HY_TRY(hy_decode_block(s, b, victim));
    victim->used = ++s->clock;
    *out = victim;
    return HY_OK;
}

hy_status hy_store_read(hy_store *s, int64_t i, int side, int32_t *ids, int32_t *labels) {
    if (i < 0 || i >= (int64_t)s->h.n_samples || side < 0 || side > (int)s->h.kind)
        return hy_errorf(HY_ERR_ARG, "%s: no sample %lld side %d (the store has %llu %s samples)", s->path, (long long)i, side,
                         (unsigned long long)s->h.n_samples, hy_rec_kind_name((hy_rec_kind)s->h.kind));
    int64_t b = hy_block_of(s, i);
    hy_block_cache *c;
    HY_TRY(hy_cached_block(s, b, &c));
    const hy_store_entry *e = &s->entries[i];
    const uint8_t *p = c->raw + c->offsets[i - (int64_t)s->blocks[b].first_sample] + (side ? 5u * e->len[0] : 0);
    uint32_t len = e->len[side];
    const uint8_t *mask = p + 4u * len;
    int32_t tmp;
    for (uint32_t t = 0; t < len; t++) {
        memcpy(&tmp, p + 4u * t, 4);
        if (ids) ids[t] = tmp;
        if (labels) labels[t] = mask[t] ? tmp : HY_LABEL_IGNORE;
    }
    return HY_OK;
}

/* ---------------- staleness ---------------- */

static hy_status hy_stale(const char *path, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static hy_status hy_stale(const char *path, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hy_errorf(HY_ERR_MISMATCH, "%s: stale token store: %s", path, msg);
}

static hy_status hy_compare_opts(const char *path, const hy_data_opts *have, const hy_data_opts *want) {
    if (have->kind != want->kind) return hy_stale(path, "made with kind %s, want %s", hy_kind_name(have->kind), hy_kind_name(want->kind));
    if (have->max_len != want->max_len) return hy_stale(path, "made with max_len %d, want %d", have->max_len, want->max_len);
    if (have->over_length != want->over_length)
        return hy_stale(path, "made with over_length %s, want %s", hy_over_length_name(have->over_length), hy_over_length_name(want->over_length));
    if (have->on_error != want->on_error)
        return hy_stale(path, "made with on_error %s, want %s", hy_bad_record_name(have->on_error), hy_bad_record_name(want->on_error));
    if (!have->add_bos != !want->add_bos) return hy_stale(path, "made with add_bos %d, want %d", !!have->add_bos, !!want->add_bos);
    if (!have->add_eos != !want->add_eos) return hy_stale(path, "made with add_eos %d, want %d", !!have->add_eos, !!want->add_eos);
    if (have->train_on != want->train_on)
        return hy_stale(path, "made with train_on %s, want %s", hy_train_on_name(have->train_on), hy_train_on_name(want->train_on));
    return HY_OK;
}

hy_status hy_store_check(const char *path, const hy_store_key *want) {
    hy_store *s;
    HY_TRY(hy_store_open(&s, path));
    const hy_store_info *in = &s->info;
    hy_status st = HY_OK;
    if (in->n_sources != want->n_sources) {
        st = hy_stale(path, "made from %d source file%s, want %d", in->n_sources, in->n_sources == 1 ? "" : "s", want->n_sources);
        goto done;
    }
    for (int i = 0; i < in->n_sources; i++)
        if (in->source_hashes[i] != want->source_hashes[i]) {
            st = hy_stale(path, "source data changed: %s (hash %016llx, the store was made from %s with hash %016llx)", want->source_paths[i],
                          (unsigned long long)want->source_hashes[i], in->source_paths[i], (unsigned long long)in->source_hashes[i]);
            goto done;
        }
    if (in->tok_hash != want->tok_hash) {
        st = hy_stale(path, "tokenizer changed (hash %016llx, the store was made with %016llx)", (unsigned long long)want->tok_hash,
                      (unsigned long long)in->tok_hash);
        goto done;
    }
    if (in->tmpl_hash != want->tmpl_hash) {
        st = hy_stale(path, "chat template changed (hash %016llx, the store was made with %016llx)", (unsigned long long)want->tmpl_hash,
                      (unsigned long long)in->tmpl_hash);
        goto done;
    }
    st = hy_compare_opts(path, &in->opts, &want->opts);
    if (st == HY_OK && hy_data_opts_hash(&in->opts) != hy_data_opts_hash(&want->opts)) st = hy_stale(path, "options changed");
done:
    hy_store_close(s);
    return st;
}
