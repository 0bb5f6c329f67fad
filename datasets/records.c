/* records.c — dataset record parsing and validation (see records.h).
 *
 * Every message remembers where it came from (field name and index) so that
 * checks made on the assembled conversation still name the JSON path the
 * user has to fix.  Messages are validated field by field while filling, then
 * the conversation as a whole (role order, something to learn from). */
#include "datasets/records.h"

#include <stdarg.h>
#include <string.h>

#include "core/alloc.h"
#include "datasets/jsonl.h"

typedef struct {
    const char *file;
    int64_t lineno;
} hy_where;

typedef struct {
    const char *field;
    int idx; /* -1: the field was a plain string */
} hy_origin;

static hy_status hy_rec_err(const hy_where *w, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static hy_status hy_rec_err(const hy_where *w, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return hy_errorf(HY_ERR_DATA, "%s:%lld: %s", w->file, (long long)w->lineno, msg);
}

/* `"field"[i]` or `"field"` into buf. */
static const char *hy_path(char *buf, size_t n, const hy_origin *o) {
    if (o->idx < 0) snprintf(buf, n, "\"%s\"", o->field);
    else snprintf(buf, n, "\"%s\"[%d]", o->field, o->idx);
    return buf;
}

/* What a value is, for "got ...": a quoted (shortened) string, or its type. */
static const char *hy_got(char *buf, size_t n, const hy_json *v) {
    if (!v) return "missing field";
    const char *s = hy_json_str(v);
    if (!s) {
        if (hy_json_typeof(v) == HY_JSON_ARRAY && hy_json_len(v) == 0) return "an empty list";
        snprintf(buf, n, "%s", hy_json_describe(v));
        return buf;
    }
    size_t len = hy_json_len(v), cut = len > 40 ? 40 : len;
    while (cut < len && cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) cut--; /* keep whole characters */
    snprintf(buf, n, "\"%.*s%s\"", (int)cut, s, cut < len ? "..." : "");
    return buf;
}

const char *hy_rec_kind_name(hy_rec_kind k) { return k == HY_REC_PREF ? "preference" : "sft"; }

static int hy_role_from(const char *s, hy_role *r) {
    static const char *names[] = {"system", "user", "assistant", "tool"};
    static const hy_role roles[] = {HY_ROLE_SYSTEM, HY_ROLE_USER, HY_ROLE_ASSISTANT, HY_ROLE_TOOL};
    for (int i = 0; i < 4; i++)
        if (s && !strcmp(s, names[i])) {
            *r = roles[i];
            return 1;
        }
    return 0;
}
static const char *hy_role_str(hy_role r) {
    switch (r) {
    case HY_ROLE_SYSTEM: return "system";
    case HY_ROLE_USER: return "user";
    case HY_ROLE_ASSISTANT: return "assistant";
    case HY_ROLE_TOOL: return "tool";
    }
    return "?";
}

/* Number of messages a field contributes: 1 for a string (when allowed), the
 * list length otherwise; an empty list, a missing field or another type is an
 * error. */
static hy_status hy_field_count(const hy_where *w, const hy_json *v, const char *field, int allow_string, int *n) {
    char g[80];
    if (allow_string && hy_json_str(v)) {
        *n = 1;
        return HY_OK;
    }
    if (hy_json_typeof(v) != HY_JSON_ARRAY || hy_json_len(v) == 0)
        return hy_rec_err(w, "\"%s\": expected %s, got %s", field,
                          allow_string ? "a string or a non-empty list of messages" : "a non-empty list of messages", hy_got(g, sizeof g, v));
    if (hy_json_len(v) > (1u << 20)) return hy_rec_err(w, "\"%s\": expected at most 2^20 messages, got %zu", field, hy_json_len(v));
    *n = (int)hy_json_len(v);
    return HY_OK;
}

static hy_status hy_fill_msg(const hy_where *w, const hy_json *m, const hy_origin *o, hy_chat_msg *out) {
    char p[96], g[80];
    if (hy_json_typeof(m) != HY_JSON_OBJECT)
        return hy_rec_err(w, "%s: expected a message object {\"role\": ..., \"content\": ...}, got %s", hy_path(p, sizeof p, o),
                          hy_got(g, sizeof g, m));
    const hy_json *role = hy_json_get(m, "role"), *content = hy_json_get(m, "content");
    if (!hy_role_from(hy_json_str(role), &out->role))
        return hy_rec_err(w, "%s.role: expected one of system, user, assistant, tool; got %s", hy_path(p, sizeof p, o),
                          hy_got(g, sizeof g, role));
    if (!hy_json_str(content))
        return hy_rec_err(w, "%s.content: expected a string, got %s%s", hy_path(p, sizeof p, o), hy_got(g, sizeof g, content),
                          hy_json_typeof(content) == HY_JSON_ARRAY ? "; hint: lists of content parts are not supported" : "");
    out->content = hy_json_str(content);
    out->len = hy_json_len(content);
    return HY_OK;
}

/* Fill `n` messages of one field (string → one message of `string_role`). */
static hy_status hy_fill_field(const hy_where *w, const hy_json *v, const char *field, hy_role string_role, hy_chat_msg *msgs,
                               hy_origin *org, int n) {
    if (hy_json_str(v)) {
        msgs[0] = (hy_chat_msg){string_role, hy_json_str(v), hy_json_len(v)};
        org[0] = (hy_origin){field, -1};
        return HY_OK;
    }
    for (int i = 0; i < n; i++) {
        org[i] = (hy_origin){field, i};
        HY_TRY(hy_fill_msg(w, hy_json_at(v, (size_t)i), &org[i], &msgs[i]));
    }
    return HY_OK;
}

/* Role order and "something to learn from" on a whole conversation. */
static hy_status hy_check_conv(const hy_where *w, const hy_chat_msg *m, const hy_origin *o, int n, const char *what) {
    char p[96];
    int seen_other = 0, n_assistant = 0;
    for (int i = 0; i < n; i++) {
        hy_role r = m[i].role;
        if (r == HY_ROLE_SYSTEM && seen_other)
            return hy_rec_err(w,
                              "%s.role: expected system messages only before the first other message, got \"system\" after a "
                              "%s message; hint: the template moves every system message to the top",
                              hy_path(p, sizeof p, &o[i]), hy_role_str(m[i - 1].role));
        if (r == HY_ROLE_TOOL && (i == 0 || (m[i - 1].role != HY_ROLE_ASSISTANT && m[i - 1].role != HY_ROLE_TOOL)))
            return hy_rec_err(w, "%s.role: expected a tool message only after an assistant (tool call) or tool message, got \"tool\" %s%s",
                              hy_path(p, sizeof p, &o[i]), i ? "after a " : "first", i ? hy_role_str(m[i - 1].role) : "");
        if (r != HY_ROLE_SYSTEM) seen_other = 1;
        if (r == HY_ROLE_ASSISTANT) n_assistant++;
    }
    if (!n_assistant) return hy_rec_err(w, "%s: expected at least one assistant message (nothing to learn from), got none", what);
    return HY_OK;
}

static int hy_msg_eq(const hy_chat_msg *a, const hy_chat_msg *b) {
    return a->role == b->role && a->len == b->len && !memcmp(a->content, b->content, a->len);
}
static int hy_conv_eq(const hy_chat_msg *a, int na, const hy_chat_msg *b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (!hy_msg_eq(&a[i], &b[i])) return 0;
    return 1;
}

static hy_status hy_parse_tools(const hy_where *w, const hy_json *root, const hy_json **tools) {
    char g[80];
    const hy_json *t = hy_json_get(root, "tools");
    *tools = NULL;
    if (!t || hy_json_typeof(t) == HY_JSON_NULL) return HY_OK;
    if (hy_json_typeof(t) != HY_JSON_ARRAY) return hy_rec_err(w, "\"tools\": expected a list of tool definitions (objects), got %s", hy_got(g, sizeof g, t));
    for (size_t i = 0; i < hy_json_len(t); i++)
        if (hy_json_typeof(hy_json_at(t, i)) != HY_JSON_OBJECT)
            return hy_rec_err(w, "\"tools\"[%zu]: expected a tool definition (object), got %s", i, hy_got(g, sizeof g, hy_json_at(t, i)));
    if (hy_json_len(t)) *tools = t;
    return HY_OK;
}

static hy_status hy_alloc_msgs(hy_record *rec, hy_origin **org, int n) {
    HY_TRY(hy_malloc((void **)&rec->msgs, sizeof(hy_chat_msg) * (size_t)n, 1, "record messages"));
    return hy_malloc((void **)org, sizeof(hy_origin) * (size_t)n, 1, "record message origins");
}

/* {"messages": [...]} or {"prompt": ..., "completion": ...} */
static hy_status hy_parse_sft(hy_record *rec, const hy_where *w, hy_origin **org) {
    const hy_json *root = rec->root, *msgs = hy_json_get(root, "messages");
    int n, np, nc;
    if (msgs || !hy_json_get(root, "prompt")) {
        HY_TRY(hy_field_count(w, msgs, "messages", 0, &n));
        HY_TRY(hy_alloc_msgs(rec, org, n));
        HY_TRY(hy_fill_field(w, msgs, "messages", HY_ROLE_USER, rec->msgs, *org, n));
        HY_TRY(hy_check_conv(w, rec->msgs, *org, n, "\"messages\""));
    } else {
        const hy_json *p = hy_json_get(root, "prompt"), *c = hy_json_get(root, "completion");
        HY_TRY(hy_field_count(w, p, "prompt", 1, &np));
        HY_TRY(hy_field_count(w, c, "completion", 1, &nc));
        n = np + nc;
        HY_TRY(hy_alloc_msgs(rec, org, n));
        HY_TRY(hy_fill_field(w, p, "prompt", HY_ROLE_USER, rec->msgs, *org, np));
        HY_TRY(hy_fill_field(w, c, "completion", HY_ROLE_ASSISTANT, rec->msgs + np, *org + np, nc));
        HY_TRY(hy_check_conv(w, rec->msgs, *org, n, "\"completion\""));
    }
    rec->kind = HY_REC_SFT;
    rec->chat.msgs = rec->msgs;
    rec->chat.n = n;
    return HY_OK;
}

/* Implicit prompt: the longest shared prefix after which both sides go on
 * with an assistant message. */
static hy_status hy_implicit_prompt(const hy_where *w, const hy_chat_msg *a, int na, const hy_chat_msg *b, int nb, int *k) {
    int n = 0;
    while (n < na && n < nb && hy_msg_eq(&a[n], &b[n])) n++;
    while (n > 0 && (n == na || n == nb || a[n].role != HY_ROLE_ASSISTANT || b[n].role != HY_ROLE_ASSISTANT)) n--;
    if (n == 0)
        return hy_rec_err(w, "\"chosen\"/\"rejected\": expected conversations sharing a prompt and then each going on with an assistant "
                             "message (implicit prompt form), got no such shared prefix; hint: give the prompt as \"prompt\"");
    *k = n;
    return HY_OK;
}

static hy_status hy_check_side(const hy_where *w, const hy_chat_msg *m, const hy_origin *o, int n_prompt) {
    char p[96];
    if (m[n_prompt].role != HY_ROLE_ASSISTANT)
        return hy_rec_err(w, "%s.role: expected \"assistant\" (a preference side starts with the assistant's reply), got \"%s\"",
                          hy_path(p, sizeof p, &o[n_prompt]), hy_role_str(m[n_prompt].role));
    return HY_OK;
}

static hy_status hy_parse_pref(hy_record *rec, const hy_where *w, hy_origin **org) {
    const hy_json *root = rec->root, *p = hy_json_get(root, "prompt");
    const hy_json *c = hy_json_get(root, "chosen"), *r = hy_json_get(root, "rejected");
    int np = 0, nc, nr, implicit = !p;
    if (!implicit) HY_TRY(hy_field_count(w, p, "prompt", 1, &np));
    HY_TRY(hy_field_count(w, c, "chosen", !implicit, &nc));
    HY_TRY(hy_field_count(w, r, "rejected", !implicit, &nr));
    int na = np + nc, nb = np + nr;
    HY_TRY(hy_alloc_msgs(rec, org, na + nb));
    hy_chat_msg *a = rec->msgs, *b = rec->msgs + na;
    hy_origin *oa = *org, *ob = *org + na;
    if (!implicit) {
        HY_TRY(hy_fill_field(w, p, "prompt", HY_ROLE_USER, a, oa, np));
        memcpy(b, a, sizeof *a * (size_t)np);
        memcpy(ob, oa, sizeof *oa * (size_t)np);
    }
    HY_TRY(hy_fill_field(w, c, "chosen", HY_ROLE_ASSISTANT, a + np, oa + np, nc));
    HY_TRY(hy_fill_field(w, r, "rejected", HY_ROLE_ASSISTANT, b + np, ob + np, nr));
    if (hy_conv_eq(a, na, b, nb)) return hy_rec_err(w, "\"rejected\": expected a reply different from \"chosen\", got an identical one");
    if (implicit) HY_TRY(hy_implicit_prompt(w, a, na, b, nb, &np));
    HY_TRY(hy_check_side(w, a, oa, np));
    HY_TRY(hy_check_side(w, b, ob, np));
    HY_TRY(hy_check_conv(w, a, oa, na, "\"chosen\""));
    HY_TRY(hy_check_conv(w, b, ob, nb, "\"rejected\""));
    rec->kind = HY_REC_PREF;
    rec->n_prompt = np;
    rec->chat = (hy_chat){a, na, NULL};
    rec->rejected = (hy_chat){b, nb, NULL};
    return HY_OK;
}

/* Bad JSON: restate jansson's "<origin>:1:<col>: invalid JSON: <text>" with the file line. */
static hy_status hy_json_error(const hy_where *w) {
    int jl = 0, col = 0, off = 0;
    const char *m = hy_last_error();
    char copy[600];
    if (sscanf(m, ":%d:%d: invalid JSON: %n", &jl, &col, &off) == 2 && off > 0) {
        snprintf(copy, sizeof copy, "%s", m + off);
        return hy_rec_err(w, "expected a JSON object, got invalid JSON at column %d: %s", col, copy);
    }
    snprintf(copy, sizeof copy, "%s", m);
    return hy_rec_err(w, "expected a JSON object, got invalid JSON: %s", copy);
}

static hy_status hy_record_parse_inner(hy_record *rec, const char *line, size_t len, const hy_where *w, hy_kind expect, hy_origin **org) {
    size_t bad;
    char g[80];
    if (!hy_utf8_valid(line, len, &bad))
        return hy_rec_err(w, "byte %zu: expected UTF-8 text, got the invalid byte 0x%02x; hint: re-encode the file as UTF-8", bad + 1,
                          (unsigned char)line[bad]);
    if (hy_json_parse(&rec->root, line, len, "") != HY_OK) return hy_json_error(w);
    if (hy_json_typeof(rec->root) != HY_JSON_OBJECT) return hy_rec_err(w, "expected a JSON object (one record per line), got %s", hy_got(g, sizeof g, rec->root));
    const hy_json *root = rec->root;
    int is_pref = hy_json_get(root, "chosen") || hy_json_get(root, "rejected");
    int is_sft = hy_json_get(root, "messages") || hy_json_get(root, "completion");
    if (!is_pref && !is_sft && !hy_json_get(root, "prompt"))
        return hy_rec_err(w, "expected a record with \"messages\", \"prompt\"+\"completion\" or \"chosen\"+\"rejected\", got an object "
                             "with none of these keys");
    if (is_pref && is_sft)
        return hy_rec_err(w, "expected either an SFT record (\"messages\" or \"completion\") or a preference record (\"chosen\", "
                             "\"rejected\"), got keys of both");
    if (!is_pref && !hy_json_get(root, "messages") && hy_json_get(root, "prompt") && !hy_json_get(root, "completion"))
        return hy_rec_err(w, "\"completion\": expected a string or a list of messages, got missing field (a \"prompt\" needs a "
                             "\"completion\", or \"chosen\" and \"rejected\")");
    if (expect != HY_KIND_AUTO && (int)expect != is_pref)
        return hy_rec_err(w, "expected a%s record (this dataset holds %s records), got a%s record", expect == HY_KIND_PREF ? " preference" : "n SFT",
                          expect == HY_KIND_PREF ? "preference" : "SFT", is_pref ? " preference" : "n SFT");
    const hy_json *tools;
    HY_TRY(hy_parse_tools(w, root, &tools));
    HY_TRY(is_pref ? hy_parse_pref(rec, w, org) : hy_parse_sft(rec, w, org));
    rec->chat.tools = tools;
    rec->rejected.tools = tools;
    return HY_OK;
}

hy_status hy_record_parse(hy_record *rec, const char *line, size_t len, const char *file, int64_t lineno, hy_kind expect) {
    memset(rec, 0, sizeof *rec);
    hy_where w = {file, lineno};
    hy_origin *org = NULL;
    hy_status st = hy_record_parse_inner(rec, line, len, &w, expect, &org);
    hy_free(org);
    if (st != HY_OK) hy_record_free(rec);
    return st;
}

void hy_record_free(hy_record *rec) {
    if (!rec) return;
    hy_json_free(rec->root);
    hy_free(rec->msgs);
    memset(rec, 0, sizeof *rec);
}

void hy_errlog_add(hy_errlog *log, const char *msg) {
    if (log->n_kept < HY_ERRLOG_KEEP) snprintf(log->first[log->n_kept++], HY_ERRLOG_MSG, "%s", msg);
    log->n++;
}

void hy_errlog_merge(hy_errlog *dst, const hy_errlog *src) {
    for (int i = 0; i < src->n_kept && dst->n_kept < HY_ERRLOG_KEEP; i++) snprintf(dst->first[dst->n_kept++], HY_ERRLOG_MSG, "%s", src->first[i]);
    dst->n += src->n;
}

void hy_errlog_print(const hy_errlog *log, FILE *f) {
    if (!log->n) return;
    fprintf(f, "%lld record%s skipped; first reason%s:\n", (long long)log->n, log->n == 1 ? "" : "s", log->n_kept == 1 ? "" : "s");
    for (int i = 0; i < log->n_kept; i++) fprintf(f, "  %s\n", log->first[i]);
}
