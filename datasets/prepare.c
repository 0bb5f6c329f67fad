/* prepare.c — dataset → token store with worker threads (see prepare.h).
 *
 * Pipeline: the calling thread reads chunks of lines (≤ 256 lines or 4 MiB,
 * never spanning two files) into a ring of slots; worker threads parse,
 * encode and apply the length policy to whole chunks; the calling thread
 * writes finished chunks to the store strictly in sequence order, so the
 * output is identical for any thread count.  A slot's state moves
 * EMPTY → FILLED (reader) → BUSY → DONE (worker) → EMPTY (writer), guarded by
 * one mutex and two condition variables.  Worker errors are copied into the
 * chunk (the error buffer is thread-local) and re-raised by the writer, which
 * reaches them in input order.  The dataset's kind (AUTO) is fixed by its
 * first sample, in the writer, so it does not depend on scheduling either. */
#include "datasets/prepare.h"

#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alloc.h"
#include "datasets/jsonl.h"
#include "datasets/prepare_internal.h"
#include "core/timer.h"

enum { HY_CHUNK_LINES = 256, HY_CHUNK_BYTES = 4 << 20 };
enum { HY_SLOT_EMPTY, HY_SLOT_FILLED, HY_SLOT_BUSY, HY_SLOT_DONE };

typedef struct {
    uint32_t len[2], prompt_len;
    uint8_t kind;
    uint64_t line;
    size_t at; /* offset of side 0 in the chunk's token arrays; side 1 follows */
} hy_out_sample;

typedef struct {
    int state;
    int64_t seq;
    int source;
    char *text; /* lines, each NUL-terminated */
    size_t text_len, text_cap;
    size_t *off;
    int64_t *lineno;
    int n_lines, lines_cap;
    uint64_t bytes_end; /* input bytes read when the chunk was complete (progress) */
    /* results */
    int32_t *ids, *labels;
    size_t tok_len, tok_cap;
    hy_out_sample *out;
    int n_out, out_cap;
    hy_store_stats counts; /* records, skipped, dropped_*, truncated */
    hy_errlog skipped;
    hy_status err;
    char errmsg[1024];
} hy_chunk;

typedef struct {
    const char *const *files;
    int n_files;
    const hy_encoder *enc;
    const hy_prepare_opts *o;
    hy_chunk *slots;
    int n_slots;
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    int quit;
} hy_pipe;

void hy_prepare_opts_default(hy_prepare_opts *o) {
    memset(o, 0, sizeof *o);
    hy_data_opts_default(&o->data);
    o->progress = -1;
}

/* ---------------- chunk buffers ---------------- */

static hy_status hy_chunk_add_line(hy_chunk *c, const char *line, size_t len, int64_t no) {
    if (c->text_len + len + 1 > c->text_cap) {
        size_t cap = c->text_cap ? c->text_cap : (1 << 16);
        while (cap < c->text_len + len + 1) cap *= 2;
        HY_TRY(hy_realloc((void **)&c->text, cap, "prepare chunk text"));
        c->text_cap = cap;
    }
    if (c->n_lines == c->lines_cap) {
        int cap = c->lines_cap ? 2 * c->lines_cap : HY_CHUNK_LINES;
        HY_TRY(hy_realloc((void **)&c->off, sizeof(size_t) * (size_t)cap, "prepare chunk lines"));
        HY_TRY(hy_realloc((void **)&c->lineno, sizeof(int64_t) * (size_t)cap, "prepare chunk lines"));
        c->lines_cap = cap;
    }
    memcpy(c->text + c->text_len, line, len);
    c->text[c->text_len + len] = 0;
    c->off[c->n_lines] = c->text_len;
    c->lineno[c->n_lines++] = no;
    c->text_len += len + 1;
    return HY_OK;
}

static hy_status hy_chunk_reserve_tokens(hy_chunk *c, size_t n) {
    if (c->tok_len + n <= c->tok_cap) return HY_OK;
    size_t cap = c->tok_cap ? c->tok_cap : (1 << 16);
    while (cap < c->tok_len + n) cap *= 2;
    HY_TRY(hy_realloc((void **)&c->ids, cap * sizeof(int32_t), "prepare chunk tokens"));
    HY_TRY(hy_realloc((void **)&c->labels, cap * sizeof(int32_t), "prepare chunk labels"));
    c->tok_cap = cap;
    return HY_OK;
}

static hy_status hy_chunk_push(hy_chunk *c, const hy_out_sample *s, const hy_sample *side0, const hy_sample *side1) {
    size_t n = (size_t)s->len[0] + s->len[1];
    HY_TRY(hy_chunk_reserve_tokens(c, n));
    if (c->n_out == c->out_cap) {
        int cap = c->out_cap ? 2 * c->out_cap : HY_CHUNK_LINES;
        HY_TRY(hy_realloc((void **)&c->out, sizeof *c->out * (size_t)cap, "prepare chunk samples"));
        c->out_cap = cap;
    }
    hy_out_sample *o = &c->out[c->n_out++];
    *o = *s;
    o->at = c->tok_len;
    memcpy(c->ids + c->tok_len, side0->ids, s->len[0] * sizeof(int32_t));
    memcpy(c->labels + c->tok_len, side0->labels, s->len[0] * sizeof(int32_t));
    c->tok_len += s->len[0];
    if (s->len[1]) {
        memcpy(c->ids + c->tok_len, side1->ids, s->len[1] * sizeof(int32_t));
        memcpy(c->labels + c->tok_len, side1->labels, s->len[1] * sizeof(int32_t));
        c->tok_len += s->len[1];
    }
    return HY_OK;
}

static void hy_chunk_reset(hy_chunk *c) {
    c->text_len = 0;
    c->n_lines = 0;
    c->tok_len = 0;
    c->n_out = 0;
    memset(&c->counts, 0, sizeof c->counts);
    memset(&c->skipped, 0, sizeof c->skipped);
    c->err = HY_OK;
    c->errmsg[0] = 0;
}

static void hy_chunk_free(hy_chunk *c) {
    hy_free(c->text);
    hy_free(c->off);
    hy_free(c->lineno);
    hy_free(c->ids);
    hy_free(c->labels);
    hy_free(c->out);
}

/* ---------------- one record ---------------- */

/* Worker scratch: two encoded sides. */
typedef struct {
    hy_sample s[2];
} hy_scratch;

/* Encode a parsed record into scratch (length policy applied); *keep = 0
 * when the sample is dropped (the reason is counted in c->counts). */
static hy_status hy_encode_record(const hy_pipe *p, const hy_record *r, hy_scratch *w, hy_chunk *c, hy_out_sample *out, int *keep) {
    const hy_data_opts *d = &p->o->data;
    hy_chat_opts co = {d->add_bos, d->add_eos, d->train_on};
    memset(out, 0, sizeof *out);
    out->kind = (uint8_t)r->kind;
    if (r->kind == HY_REC_SFT) {
        HY_TRY(p->enc->encode(p->enc, &r->chat, &co, &w->s[0]));
        out->len[0] = (uint32_t)w->s[0].n;
    } else {
        co.train_on = HY_TRAIN_ALL_ASSISTANT; /* the pair's reply is chosen below */
        HY_TRY(p->enc->encode(p->enc, &r->chat, &co, &w->s[0]));
        HY_TRY(p->enc->encode(p->enc, &r->rejected, &co, &w->s[1]));
        int n_prompt_turns = 0;
        for (int i = 0; i < r->n_prompt; i++) n_prompt_turns += r->chat.msgs[i].role == HY_ROLE_ASSISTANT;
        out->prompt_len = hy_pair_reply_only(&w->s[0], &w->s[1], n_prompt_turns);
        out->len[0] = (uint32_t)w->s[0].n;
        out->len[1] = (uint32_t)w->s[1].n;
    }
    *keep = hy_length_policy(d, w->s, r->kind == HY_REC_PREF, out->len, out->prompt_len, &c->counts);
    return HY_OK;
}

/* Parse + encode one line; errors follow the on_error policy. */
static hy_status hy_process_line(const hy_pipe *p, hy_chunk *c, int k, hy_scratch *w) {
    const char *file = p->files[c->source];
    hy_record rec;
    hy_out_sample out;
    int keep = 0;
    c->counts.records++;
    size_t len = (k + 1 < c->n_lines ? c->off[k + 1] : c->text_len) - c->off[k] - 1; /* lines may hold NUL bytes */
    hy_status st = hy_record_parse(&rec, c->text + c->off[k], len, file, c->lineno[k], p->o->data.kind);
    if (st == HY_OK) {
        st = hy_encode_record(p, &rec, w, c, &out, &keep);
        if (st != HY_OK && st != HY_ERR_OOM) hy_error_context("%s:%lld", file, (long long)c->lineno[k]);
        hy_record_free(&rec);
    }
    if (st != HY_OK) {
        if (p->o->data.on_error != HY_BAD_RECORD_SKIP || st == HY_ERR_OOM) return st;
        c->counts.skipped++;
        hy_errlog_add(&c->skipped, hy_last_error());
        return HY_OK;
    }
    if (!keep) return HY_OK;
    out.line = (uint64_t)c->lineno[k];
    return hy_chunk_push(c, &out, &w->s[0], &w->s[1]);
}

static void hy_process_chunk(const hy_pipe *p, hy_chunk *c, hy_scratch *w) {
    for (int k = 0; k < c->n_lines; k++) {
        hy_status st = hy_process_line(p, c, k, w);
        if (st != HY_OK) {
            c->err = st;
            snprintf(c->errmsg, sizeof c->errmsg, "%s", hy_last_error());
            return;
        }
    }
}

/* ---------------- threads ---------------- */

static void *hy_worker(void *arg) {
    hy_pipe *p = arg;
    hy_scratch w;
    memset(&w, 0, sizeof w);
    pthread_mutex_lock(&p->mu);
    while (!p->quit) { /* quit: everything written, or the writer failed */
        hy_chunk *pick = NULL;
        for (int i = 0; i < p->n_slots; i++)
            if (p->slots[i].state == HY_SLOT_FILLED && (!pick || p->slots[i].seq < pick->seq)) pick = &p->slots[i];
        if (!pick) {
            pthread_cond_wait(&p->work, &p->mu);
            continue;
        }
        pick->state = HY_SLOT_BUSY;
        pthread_mutex_unlock(&p->mu);
        hy_process_chunk(p, pick, &w);
        pthread_mutex_lock(&p->mu);
        pick->state = HY_SLOT_DONE;
        pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    hy_sample_free(&w.s[0]);
    hy_sample_free(&w.s[1]);
    return NULL;
}

/* ---------------- the calling thread: read, write, report ---------------- */

typedef struct {
    hy_jsonl *r;
    int file;            /* file being read; n_files at the end */
    uint64_t bytes_done; /* bytes of the finished files */
    uint64_t bytes_total;
    int64_t next_read, next_write;
    hy_store_writer *w;
    hy_prepare_report rep;
    int kind_known;
    hy_progress prog;
} hy_main;

/* Fill chunk c with the next lines (of one file). */
static hy_status hy_read_chunk_lines(hy_pipe *p, hy_main *m, hy_chunk *c) {
    hy_chunk_reset(c);
    while (m->file < p->n_files) {
        if (!m->r) HY_TRY(hy_jsonl_open(&m->r, p->files[m->file]));
        c->source = m->file;
        const char *line;
        size_t len;
        int64_t no;
        while (c->n_lines < HY_CHUNK_LINES && c->text_len < HY_CHUNK_BYTES) {
            HY_TRY(hy_jsonl_next(m->r, &line, &len, &no));
            if (!line) break;
            HY_TRY(hy_chunk_add_line(c, line, len, no));
        }
        if (c->n_lines == HY_CHUNK_LINES || c->text_len >= HY_CHUNK_BYTES) return HY_OK;
        m->bytes_done += hy_jsonl_bytes_in(m->r);
        m->rep.bytes_text += hy_jsonl_bytes_out(m->r);
        hy_jsonl_close(m->r);
        m->r = NULL;
        m->file++;
        if (c->n_lines) return HY_OK; /* a chunk never spans two files */
    }
    return HY_OK;
}

static uint64_t hy_main_bytes(const hy_main *m) { return m->bytes_done + (m->r ? hy_jsonl_bytes_in(m->r) : 0); }

static hy_status hy_read_chunk(hy_pipe *p, hy_main *m, hy_chunk *c) {
    hy_status st = hy_read_chunk_lines(p, m, c);
    c->bytes_end = hy_main_bytes(m);
    return st;
}

static hy_status hy_write_chunk(hy_pipe *p, hy_main *m, hy_chunk *c) {
    if (c->err != HY_OK) return hy_errorf(c->err, "%s", c->errmsg);
    hy_store_stats *s = &m->rep.stats;
    s->records += c->counts.records;
    s->skipped += c->counts.skipped;
    s->dropped_long += c->counts.dropped_long;
    s->dropped_prompt += c->counts.dropped_prompt;
    s->dropped_empty += c->counts.dropped_empty;
    s->truncated += c->counts.truncated;
    hy_errlog_merge(&m->rep.skipped, &c->skipped);
    for (int k = 0; k < c->n_out; k++) {
        const hy_out_sample *o = &c->out[k];
        if (!m->kind_known) {
            m->rep.kind = (hy_rec_kind)o->kind;
            m->kind_known = 1;
        } else if (o->kind != m->rep.kind) {
            hy_status st = hy_errorf(HY_ERR_DATA, "%s:%llu: expected a%s record (this dataset's first record is one), got a%s record",
                                     p->files[c->source], (unsigned long long)o->line, m->rep.kind == HY_REC_PREF ? " preference" : "n SFT",
                                     o->kind == HY_REC_PREF ? " preference" : "n SFT");
            if (p->o->data.on_error != HY_BAD_RECORD_SKIP) return st;
            s->skipped++;
            hy_errlog_add(&m->rep.skipped, hy_last_error());
            continue;
        }
        hy_store_sample smp = {{c->ids + o->at, c->ids + o->at + o->len[0]}, {c->labels + o->at, c->labels + o->at + o->len[0]},
                               {o->len[0], o->len[1]}, o->prompt_len, (uint32_t)c->source, o->line};
        HY_TRY(hy_store_writer_add(m->w, &smp));
        s->samples++;
        s->tokens += (int64_t)o->len[0] + o->len[1];
        for (size_t t = 0; t < (size_t)o->len[0] + o->len[1]; t++) s->supervised += c->labels[o->at + t] != HY_LABEL_IGNORE;
    }
    return HY_OK;
}

/* The loop of the calling thread: keep the ring full, write in order. */
static hy_status hy_main_loop(hy_pipe *p, hy_main *m) {
    hy_status st = HY_OK;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        hy_chunk *next = &p->slots[m->next_write % p->n_slots];
        if (m->next_write < m->next_read && next->state == HY_SLOT_DONE) {
            pthread_mutex_unlock(&p->mu);
            st = hy_write_chunk(p, m, next);
            hy_progress_update(&m->prog, next->bytes_end, m->rep.stats.records, m->rep.stats.tokens, 0);
            pthread_mutex_lock(&p->mu);
            next->state = HY_SLOT_EMPTY;
            m->next_write++;
            if (st != HY_OK) break;
            continue;
        }
        hy_chunk *free_slot = &p->slots[m->next_read % p->n_slots];
        if (m->file < p->n_files && free_slot->state == HY_SLOT_EMPTY) {
            pthread_mutex_unlock(&p->mu);
            st = hy_read_chunk(p, m, free_slot);
            pthread_mutex_lock(&p->mu);
            if (st != HY_OK) break;
            if (free_slot->n_lines) {
                free_slot->seq = m->next_read++;
                free_slot->state = HY_SLOT_FILLED;
                pthread_cond_signal(&p->work);
            }
            continue;
        }
        if (m->file >= p->n_files && m->next_write == m->next_read) break;
        pthread_cond_wait(&p->done, &p->mu);
    }
    p->quit = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    return st;
}

/* ---------------- entry points ---------------- */

static int hy_auto_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 2 ? 2 : n > 64 ? 64 : (int)n;
}

static hy_status hy_pipe_run(hy_pipe *p, hy_main *m, int threads) {
    pthread_t *tid;
    HY_TRY(hy_malloc((void **)&tid, sizeof(pthread_t) * (size_t)threads, 0, "prepare threads"));
    int started = 0;
    hy_status st = HY_OK;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, hy_worker, p)) {
            st = hy_errorf(HY_ERR_INTERNAL, "pthread_create failed (started %d of %d worker threads)", started, threads);
            break;
        }
    if (st == HY_OK) st = hy_main_loop(p, m);
    else {
        pthread_mutex_lock(&p->mu);
        p->quit = 1;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
    }
    for (int i = 0; i < started; i++) pthread_join(tid[i], NULL);
    hy_free(tid);
    return st;
}

static hy_status hy_prepare_run(const char *const *files, int n_files, const char *out_path, const hy_encoder *enc, const hy_prepare_opts *o,
                                const hy_key_buf *kb, hy_main *m) {
    hy_pipe p = {files, n_files, enc, o, NULL, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    int threads = o->threads > 0 ? o->threads : hy_auto_threads();
    m->rep.threads = threads;
    p.n_slots = 2 * threads + 2;
    HY_TRY(hy_malloc((void **)&p.slots, sizeof *p.slots * (size_t)p.n_slots, 1, "prepare chunks"));
    hy_status st = hy_store_writer_open(&m->w, out_path);
    if (st == HY_OK) {
        hy_progress_init(&m->prog, o->progress, o->progress_to ? o->progress_to : stderr, m->bytes_total);
        st = hy_pipe_run(&p, m, threads);
        if (st == HY_OK) hy_progress_update(&m->prog, hy_main_bytes(m), m->rep.stats.records, m->rep.stats.tokens, 1);
        else if (m->prog.mode == 2) fputc('\n', m->prog.f); /* end the bar's line before the error message */
    }
    if (st == HY_OK) {
        if (!m->kind_known) m->rep.kind = o->data.kind == HY_KIND_PREF ? HY_REC_PREF : HY_REC_SFT;
        st = hy_store_writer_finish(m->w, m->rep.kind, &kb->key, &m->rep.stats, &m->rep.skipped, o->model_dir);
        m->w = NULL;
    }
    hy_store_writer_abort(m->w);
    hy_jsonl_close(m->r);
    for (int i = 0; i < p.n_slots; i++) hy_chunk_free(&p.slots[i]);
    hy_free(p.slots);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.work);
    pthread_cond_destroy(&p.done);
    return st;
}

hy_status hy_prepare(const char *const *files, int n_files, const char *out_path, const hy_encoder *enc, const hy_prepare_opts *o,
                     hy_prepare_report *rep) {
    if (n_files < 1) return hy_errorf(HY_ERR_ARG, "prepare: no input files");
    hy_key_buf kb;
    HY_TRY(hy_key_make(&kb, files, n_files, enc, &o->data));
    hy_main m;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < n_files; i++) m.bytes_total += kb.bytes[i];
    m.rep.bytes_in = m.bytes_total;
    double t0 = hy_now_s();
    hy_status st = hy_prepare_run(files, n_files, out_path, enc, o, &kb, &m);
    m.rep.seconds = hy_now_s() - t0;
    m.rep.rebuilt = 1;
    hy_key_free(&kb);
    if (rep) *rep = m.rep;
    if (st != HY_OK) hy_error_context("preparing %s", out_path);
    return st;
}

hy_status hy_prepare_ensure(const char *const *files, int n_files, const char *out_path, const hy_encoder *enc, const hy_prepare_opts *o,
                            hy_prepare_report *rep) {
    if (n_files < 1) return hy_errorf(HY_ERR_ARG, "prepare: no input files");
    hy_key_buf kb;
    HY_TRY(hy_key_make(&kb, files, n_files, enc, &o->data));
    hy_error_clear();
    hy_status st = hy_store_check(out_path, &kb.key);
    hy_key_free(&kb);
    char why[512];
    snprintf(why, sizeof why, "%s", st == HY_ERR_IO ? "no token store yet" : hy_last_error());
    if (st == HY_OK) {
        hy_store *s;
        HY_TRY(hy_store_open(&s, out_path));
        hy_prepare_report r;
        memset(&r, 0, sizeof r);
        const hy_store_info *in = hy_store_get_info(s);
        r.kind = in->kind;
        r.stats = in->stats;
        r.skipped.n = in->stats.skipped;
        for (int i = 0; i < in->n_skip_reasons && i < HY_ERRLOG_KEEP; i++) snprintf(r.skipped.first[r.skipped.n_kept++], HY_ERRLOG_MSG, "%s", in->skip_reasons[i]);
        hy_store_close(s);
        if (rep) *rep = r;
        return HY_OK;
    }
    if (st != HY_ERR_IO && st != HY_ERR_MISMATCH && st != HY_ERR_FORMAT) return st; /* e.g. out of memory */
    st = hy_prepare(files, n_files, out_path, enc, o, rep);
    if (st == HY_OK && rep) snprintf(rep->why, sizeof rep->why, "%s", why);
    return st;
}
