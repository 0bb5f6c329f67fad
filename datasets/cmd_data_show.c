/* cmd_data_show.c — `hymba data inspect` and `hymba data render`.
 *
 * inspect shows samples as the model will see them: the decoded text with the
 * supervised tokens highlighted (bold green on a terminal, [[ ]] otherwise)
 * and the ids, from a token store or straight from JSONL.  The text of a run
 * of tokens is the difference between the decodings of the prefixes that end
 * before and after it, so spaces and byte-fallback characters come out as the
 * full decode has them.
 * render prints, per record, what other stacks can be compared against:
 * {"text": rendered template, "input_ids": [...], "labels": [...]} (−100 =
 * unsupervised); preference records give {"chosen": {...}, "rejected": {...}}
 * with the reply-only labels of the token store. */
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/alloc.h"
#include "core/json.h"
#include "datasets/cmd_data.h"
#include "datasets/jsonl.h"
#include "datasets/prepare_internal.h"

typedef struct {
    const hy_tokenizer *tok;
    int color;
    const char *on, *off;
} hy_show;

static void show_init(hy_show *s, const hy_tokenizer *tok) {
    s->tok = tok;
    s->color = isatty(fileno(stdout));
    s->on = s->color ? "\x1b[1;32m" : "[[";
    s->off = s->color ? "\x1b[0m" : "]]";
}

/* Text of ids[0..n) with supervised runs marked, then the ids likewise. */
static hy_status show_tokens(const hy_show *s, const int32_t *ids, const int32_t *labels, size_t n) {
    char *prev = NULL, *cur = NULL;
    size_t prev_len = 0, cur_len;
    hy_status st = HY_OK;
    for (size_t a = 0; a < n && st == HY_OK;) {
        int sup = labels[a] != HY_LABEL_IGNORE;
        size_t b = a;
        while (b < n && (labels[b] != HY_LABEL_IGNORE) == sup) b++;
        st = hy_tok_decode(s->tok, ids, b, 0, &cur, &cur_len);
        if (st != HY_OK) break;
        size_t from = prev && cur_len >= prev_len && !memcmp(cur, prev, prev_len) ? prev_len : 0;
        printf("%s%.*s%s", sup ? s->on : "", (int)(cur_len - from), cur + from, sup ? s->off : "");
        free(prev);
        prev = cur;
        prev_len = cur_len;
        cur = NULL;
        a = b;
    }
    free(prev);
    printf("\nids:");
    for (size_t t = 0; t < n; t++) {
        int sup = labels[t] != HY_LABEL_IGNORE, was = t && labels[t - 1] != HY_LABEL_IGNORE;
        if (sup && !was) printf(" %s%d", s->on, ids[t]);
        else if (!sup && was) printf("%s %d", s->off, ids[t]);
        else printf(" %d", ids[t]);
    }
    if (n && labels[n - 1] != HY_LABEL_IGNORE) printf("%s", s->off);
    printf("\n");
    return st;
}

static void show_header(const char *what, int64_t idx, const char *file, uint64_t line, size_t n, const int32_t *labels, uint32_t prompt) {
    size_t sup = 0;
    for (size_t t = 0; t < n; t++) sup += labels[t] != HY_LABEL_IGNORE;
    printf("── sample %lld%s%s (%s:%llu): %zu tokens, %zu supervised", (long long)idx, *what ? " " : "", what, file, (unsigned long long)line, n, sup);
    if (prompt) printf(", prompt %u", prompt);
    printf("\n");
}

/* ---------------- inspect a store ---------------- */

static hy_status inspect_store(hy_data_args *a) {
    hy_store *s;
    HY_TRY(hy_store_open(&s, a->files[0]));
    const hy_store_info *in = hy_store_get_info(s);
    hy_tokenizer *tok = NULL;
    hy_chat_template *t = NULL;
    int32_t *ids = NULL, *labels = NULL;
    size_t cap = (size_t)(in->max_len > 0 ? in->max_len : 1);
    hy_status st = hy_data_load_model(a, in->model_dir, &tok, &t);
    if (st == HY_OK) st = hy_malloc((void **)&ids, cap * 4, 0, "inspect ids");
    if (st == HY_OK) st = hy_malloc((void **)&labels, cap * 4, 0, "inspect labels");
    hy_show sh;
    show_init(&sh, tok);
    printf("%s: %lld %s samples\n", a->files[0], (long long)in->n_samples, hy_rec_kind_name(in->kind));
    for (int64_t i = a->start; st == HY_OK && i < in->n_samples && i < a->start + a->n; i++) {
        const hy_store_entry *e = &hy_store_entries(s)[i];
        for (int side = 0; side <= (int)in->kind && st == HY_OK; side++) {
            st = hy_store_read(s, i, side, ids, labels);
            if (st != HY_OK) break;
            const char *what = in->kind == HY_REC_PREF ? (side ? "rejected" : "chosen") : "";
            show_header(what, i, e->source < (uint32_t)in->n_sources ? in->source_paths[e->source] : "?", e->line, e->len[side], labels, e->prompt_len);
            st = show_tokens(&sh, ids, labels, e->len[side]);
        }
    }
    hy_free(ids);
    hy_free(labels);
    hy_chat_template_free(t);
    hy_tok_free(tok);
    hy_store_close(s);
    return st;
}

/* ---------------- records straight from JSONL ---------------- */

typedef hy_status (*hy_record_fn)(void *ctx, const hy_record *r, const hy_sample *side, int64_t idx, const char *file, int64_t line, uint32_t prompt);

/* Encode the records of a[files] (from a->start, at most `limit`) and hand
 * each to fn; invalid records follow --on-error. */
static hy_status each_record(hy_data_args *a, const hy_chat_template *t, const hy_tokenizer *tok, int64_t limit, hy_record_fn fn, void *ctx) {
    const hy_data_opts *d = &a->prep.data;
    hy_sample s[2] = {{0}, {0}};
    hy_status st = HY_OK;
    int64_t idx = 0, done = 0, skipped = 0;
    for (int f = 0; f < a->n_files && st == HY_OK && done < limit; f++) {
        hy_jsonl *r;
        st = hy_jsonl_open(&r, a->files[f]);
        while (st == HY_OK && done < limit) {
            const char *line;
            size_t len;
            int64_t no;
            hy_record rec;
            if ((st = hy_jsonl_next(r, &line, &len, &no)) != HY_OK || !line) break;
            if (idx++ < a->start) continue;
            hy_chat_opts co = {d->add_bos, d->add_eos, d->train_on};
            uint32_t prompt = 0;
            st = hy_record_parse(&rec, line, len, a->files[f], no, d->kind);
            if (st == HY_OK) {
                if (rec.kind == HY_REC_PREF) co.train_on = HY_TRAIN_ALL_ASSISTANT;
                st = hy_chat_encode(t, tok, &rec.chat, &co, &s[0]);
                if (st == HY_OK && rec.kind == HY_REC_PREF) st = hy_chat_encode(t, tok, &rec.rejected, &co, &s[1]);
                if (st == HY_OK && rec.kind == HY_REC_PREF) {
                    int turns = 0;
                    for (int k = 0; k < rec.n_prompt; k++) turns += rec.chat.msgs[k].role == HY_ROLE_ASSISTANT;
                    prompt = hy_pair_reply_only(&s[0], &s[1], turns);
                }
                if (st != HY_OK && st != HY_ERR_OOM) hy_error_context("%s:%lld", a->files[f], (long long)no);
                if (st == HY_OK) st = fn(ctx, &rec, s, idx - 1, a->files[f], no, prompt);
                hy_record_free(&rec);
                done++;
            }
            if (st == HY_ERR_DATA && d->on_error == HY_BAD_RECORD_SKIP) {
                fprintf(stderr, "skipped: %s\n", hy_last_error());
                skipped++;
                st = HY_OK;
            }
        }
        hy_jsonl_close(r);
    }
    if (skipped) fprintf(stderr, "%lld record%s skipped\n", (long long)skipped, skipped == 1 ? "" : "s");
    hy_sample_free(&s[0]);
    hy_sample_free(&s[1]);
    return st;
}

static hy_status inspect_one(void *ctx, const hy_record *r, const hy_sample *s, int64_t idx, const char *file, int64_t line, uint32_t prompt) {
    const hy_show *sh = ctx;
    for (int side = 0; side <= (int)r->kind; side++) {
        show_header(r->kind == HY_REC_PREF ? (side ? "rejected" : "chosen") : "", idx, file, (uint64_t)line, s[side].n, s[side].labels, prompt);
        HY_TRY(show_tokens(sh, s[side].ids, s[side].labels, s[side].n));
    }
    return HY_OK;
}

int hy_cmd_data_inspect(hy_data_args *a) {
    if (a->n_files != 1) {
        fprintf(stderr, "hymba data inspect: expected one FILE (a token store, or JSONL with --model)\n");
        return 2;
    }
    hy_status st;
    if (hy_data_is_store(a->files[0])) st = inspect_store(a);
    else {
        hy_tokenizer *tok;
        hy_chat_template *t;
        st = hy_data_load_model(a, NULL, &tok, &t);
        if (st == HY_OK) {
            hy_show sh;
            show_init(&sh, tok);
            st = each_record(a, t, tok, a->n, inspect_one, &sh);
            hy_chat_template_free(t);
            hy_tok_free(tok);
        }
    }
    if (fflush(stdout) && st == HY_OK) st = hy_errorf(HY_ERR_IO, "stdout: write failed");
    return st == HY_OK ? 0 : hy_cli_fail("hymba data inspect");
}

/* ---------------- render ---------------- */

static hy_json *render_ints(const int32_t *v, size_t n) {
    hy_json *arr = hy_json_array();
    for (size_t i = 0; arr && i < n; i++)
        if (hy_json_append(arr, hy_json_integer(v[i])) != HY_OK) {
            hy_json_free(arr);
            return NULL;
        }
    return arr;
}

static hy_status render_side(const hy_chat_template *t, const hy_chat *c, const hy_sample *s, hy_json **out) {
    char *text;
    size_t len;
    HY_TRY(hy_chat_render(t, c, 0, &text, &len, NULL, NULL));
    hy_json *o = hy_json_object();
    hy_status st = hy_json_set(o, "text", hy_json_stringn(text, len));
    free(text);
    if (st == HY_OK) st = hy_json_set(o, "input_ids", render_ints(s->ids, s->n));
    if (st == HY_OK) st = hy_json_set(o, "labels", render_ints(s->labels, s->n));
    if (st != HY_OK) {
        hy_json_free(o);
        return st;
    }
    *out = o;
    return HY_OK;
}

static hy_status render_one(void *ctx, const hy_record *r, const hy_sample *s, int64_t idx, const char *file, int64_t line, uint32_t prompt) {
    const hy_chat_template *t = ctx;
    hy_json *out = NULL, *side[2] = {NULL, NULL};
    hy_status st = render_side(t, &r->chat, &s[0], &side[0]);
    if (st == HY_OK && r->kind == HY_REC_PREF) st = render_side(t, &r->rejected, &s[1], &side[1]);
    if (st == HY_OK && r->kind == HY_REC_PREF) {
        out = hy_json_object();
        st = hy_json_set(out, "chosen", side[0]);
        side[0] = NULL;
        if (st == HY_OK) st = hy_json_set(out, "rejected", side[1]);
        side[1] = NULL;
    } else if (st == HY_OK) {
        out = side[0];
        side[0] = NULL;
    }
    char *text = st == HY_OK ? hy_json_dump(out, 0) : NULL;
    if (st == HY_OK && !text) st = hy_errorf(HY_ERR_OOM, "out of memory rendering %s:%lld", file, (long long)line);
    if (text) printf("%s\n", text);
    free(text);
    hy_json_free(out);
    hy_json_free(side[0]);
    hy_json_free(side[1]);
    return st;
}

int hy_cmd_data_render(hy_data_args *a) {
    if (!a->n_files) {
        fprintf(stderr, "hymba data render: expected JSONL files\n");
        return 2;
    }
    hy_tokenizer *tok;
    hy_chat_template *t;
    if (hy_data_load_model(a, NULL, &tok, &t) != HY_OK) return hy_cli_fail("hymba data render");
    hy_status st = each_record(a, t, tok, INT64_MAX, render_one, t);
    hy_chat_template_free(t);
    hy_tok_free(tok);
    if (fflush(stdout) && st == HY_OK) st = hy_errorf(HY_ERR_IO, "stdout: write failed");
    return st == HY_OK ? 0 : hy_cli_fail("hymba data render");
}
