/* gen_demo.c — `hymba-gen-demo OUTDIR`: writes the bundled demo data sets and
 * the demo model directory (config, BPE tokenizer) that the README's first
 * command trains on.  datasets/demo/regen.sh runs it and compresses the output.
 *
 * What it writes (README.md beside this file lists every file):
 *   OUTDIR/{sft1,sft2,dpo}.{train,eval}.jsonl   chat tasks a tiny model learns
 *       on a CPU in minutes: copying, reversing, sorting, small arithmetic,
 *       counting, spelling, capitals; SFT-1 single-turn task data with a short
 *       system prompt; SFT-2 instructions and 2–3-turn chats whose later turns
 *       refer back ("And reversed?"), plus prompt/completion records; DPO pairs
 *       whose rejected answer is wrong (off by one, wrong order) or sloppy.
 *   OUTDIR/model/   config.json (a tiny Hymba with every structural feature of
 *       spec §12), tokenizer.json (BPE learned here), tokenizer_config.json
 *       (Hymba's chat template), special_tokens_map.json, generation_config.json.
 *
 * Invariants: the output is a pure function of this file (own splitmix64 RNG,
 * fixed seeds, no clock, no locale); all text is printable ASCII; eval records
 * avoid prompts that occur in the train split of the same stage when an unseen
 * one can be drawn (the arithmetic space is small, so a few may repeat).
 *
 * The demo tokenizer (a BPE learned on the rendered train conversations) and
 * the model files are made by gen_demo_tok.c. */
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/hy_base.h"
#include "core/json.h"
#include "datasets/demo/gen_demo.h"

enum { DEMO_TEXT = 256, DEMO_MAX_MSGS = 8, DEMO_MAX_TURNS = 3 };

/* ---------------------------------------------------------------- RNG, text */

typedef struct { uint64_t s; } demo_rng;

static uint64_t rng_next(demo_rng *r) { /* splitmix64 */
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [lo, hi] (the modulo bias is < 2^-50 here). */
static int rng_range(demo_rng *r, int lo, int hi) { return lo + (int)(rng_next(r) % (uint64_t)(hi - lo + 1)); }
static int rng_pct(demo_rng *r, int pct) { return rng_range(r, 0, 99) < pct; }
#define PICK(r, arr) ((arr)[rng_range((r), 0, (int)HY_ARRAY_LEN(arr) - 1)])

/* Overwrite (setf) or append to (catf) a DEMO_TEXT buffer; the texts are made
 * here, so an overflow is a bug in this file. */
static void vcatf(char *dst, size_t at, const char *fmt, va_list ap) {
    int n = vsnprintf(dst + at, DEMO_TEXT - at, fmt, ap);
    HY_ASSERT(n >= 0 && at + (size_t)n < DEMO_TEXT);
}
static void catf(char *dst, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vcatf(dst, strlen(dst), fmt, ap);
    va_end(ap);
}
static void setf(char *dst, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vcatf(dst, 0, fmt, ap);
    va_end(ap);
}

static const char *const WORDS[] = {
    "cat", "dog", "sun", "moon", "tree", "fish", "bird", "cake", "book", "star", "hat", "cup",
    "ball", "car", "bus", "ship", "rain", "snow", "milk", "egg", "apple", "lamp", "door", "key",
    "box", "pen", "map", "sock", "boat", "frog", "duck", "bear", "lion", "wolf", "fox", "owl",
    "bee", "ant", "rose", "leaf", "rock", "sand", "hill", "lake", "road", "king", "ring", "bell"};
static const char *const NUMS[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
                                   "11", "12", "13", "14", "15", "16", "17", "18", "19", "20"};
static const char *const NAMES[] = {"Anna", "Ben", "Tom", "Mia", "Sam", "Lily", "Max", "Eva", "Leo", "Zoe"};
static const char *const DAYS[] = {"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
static const char *const COUNT_WORDS[] = {"two", "three", "four"};

/* ---------------------------------------------------------------- word lists */

typedef struct { const char *w[8]; int n; } demo_list;

static void list_draw(demo_rng *r, demo_list *l, int n, const char *const *pool, int pool_n) {
    l->n = 0;
    while (l->n < n) {
        const char *w = pool[rng_range(r, 0, pool_n - 1)];
        int dup = 0;
        for (int i = 0; i < l->n; i++) dup |= l->w[i] == w;
        if (!dup) l->w[l->n++] = w;
    }
}
static void list_words(demo_rng *r, demo_list *l, int n) { list_draw(r, l, n, WORDS, (int)HY_ARRAY_LEN(WORDS)); }
static void list_digits(demo_rng *r, demo_list *l, int n) { list_draw(r, l, n, NUMS, 10); }

static void list_join(char *dst, const demo_list *l, const char *sep) {
    dst[0] = 0;
    for (int i = 0; i < l->n; i++) catf(dst, "%s%s", i ? sep : "", l->w[i]);
}
static void list_reverse(demo_list *l) {
    for (int i = 0, j = l->n - 1; i < j; i++, j--) { const char *t = l->w[i]; l->w[i] = l->w[j]; l->w[j] = t; }
}
static int list_less(const char *a, const char *b) {
    int da = a[0] >= '0' && a[0] <= '9', db = b[0] >= '0' && b[0] <= '9';
    return da && db ? atoi(a) < atoi(b) : strcmp(a, b) < 0;
}
static void list_sort(demo_list *l) {
    for (int i = 1; i < l->n; i++)
        for (int j = i; j > 0 && list_less(l->w[j], l->w[j - 1]); j--) {
            const char *t = l->w[j]; l->w[j] = l->w[j - 1]; l->w[j - 1] = t;
        }
}
/* The list with one adjacent pair swapped (the elements are distinct, so it differs). */
static void list_join_swapped(char *dst, demo_rng *r, const demo_list *l, const char *sep) {
    demo_list s = *l;
    int i = rng_range(r, 0, l->n - 2);
    s.w[i] = l->w[i + 1];
    s.w[i + 1] = l->w[i];
    list_join(dst, &s, sep);
}
static void list_join_dropped(char *dst, demo_rng *r, const demo_list *l, const char *sep) {
    demo_list s = *l;
    int i = rng_range(r, 0, l->n - 1);
    for (int k = i; k + 1 < s.n; k++) s.w[k] = s.w[k + 1];
    s.n--;
    list_join(dst, &s, sep);
}
static void upper(char *dst, const char *src, int first_only) {
    setf(dst, "%s", src);
    for (int i = 0; dst[i]; i++)
        if ((!first_only || i == 0 || dst[i - 1] == ' ') && dst[i] >= 'a' && dst[i] <= 'z') dst[i] = (char)(dst[i] - 32);
}
static void spell(char *dst, const char *w, int backwards) {
    dst[0] = 0;
    int n = (int)strlen(w);
    for (int i = 0; i < n; i++) catf(dst, "%s%c", i ? " " : "", w[backwards ? n - 1 - i : i]);
}
static void number_off(char *dst, demo_rng *r, int v) { setf(dst, "%d", v == 0 || rng_pct(r, 50) ? v + 1 : v - 1); }

/* ---------------------------------------------------------------- tasks */

/* One question, its answer, and a wrong answer (always different) for DPO. */
typedef struct { char q[DEMO_TEXT], a[DEMO_TEXT], wrong[DEMO_TEXT]; } demo_qa;
typedef void (*demo_task_fn)(demo_rng *r, demo_qa *qa);

static void task_copy(demo_rng *r, demo_qa *qa) {
    static const char *const Q[] = {"Repeat: %s", "Copy these words: %s", "Say this back: %s"};
    demo_list l;
    list_words(r, &l, rng_range(r, 2, 5));
    list_join(qa->a, &l, " ");
    setf(qa->q, PICK(r, Q), qa->a);
    if (rng_pct(r, 50)) list_join_dropped(qa->wrong, r, &l, " ");
    else list_join_swapped(qa->wrong, r, &l, " ");
}
static void task_reverse(demo_rng *r, demo_qa *qa) {
    static const char *const Q[] = {"Reverse: %s", "Reverse the order of these words: %s", "Say these words in reverse order: %s"};
    demo_list l;
    list_words(r, &l, rng_range(r, 2, 5));
    list_join(qa->wrong, &l, " ");
    setf(qa->q, PICK(r, Q), qa->wrong);
    list_reverse(&l);
    list_join(qa->a, &l, " ");
}
static void task_sort(demo_rng *r, demo_qa *qa) {
    static const char *const QN[] = {"Sort the numbers: %s", "Sort from smallest to largest: %s"};
    static const char *const QW[] = {"Sort alphabetically: %s", "Put these words in alphabetical order: %s"};
    int numbers = rng_pct(r, 50);
    demo_list l;
    if (numbers) list_digits(r, &l, rng_range(r, 3, 6));
    else list_words(r, &l, rng_range(r, 3, 5));
    char in[DEMO_TEXT];
    list_join(in, &l, " ");
    setf(qa->q, numbers ? PICK(r, QN) : PICK(r, QW), in);
    list_sort(&l);
    list_join(qa->a, &l, " ");
    list_join_swapped(qa->wrong, r, &l, " ");
}
static void task_arith(demo_rng *r, demo_qa *qa) {
    static const char *const QA[] = {"What is %d + %d?", "Add %d and %d.", "Compute %d + %d."};
    int op = rng_range(r, 0, 2), a, b, v;
    if (op == 0) {
        a = rng_range(r, 0, 20), b = rng_range(r, 0, 20), v = a + b;
        setf(qa->q, PICK(r, QA), a, b);
    } else if (op == 1) {
        a = rng_range(r, 0, 20), b = rng_range(r, 0, a), v = a - b;
        if (rng_pct(r, 50)) setf(qa->q, "What is %d - %d?", a, b);
        else setf(qa->q, "Subtract %d from %d.", b, a);
    } else {
        a = rng_range(r, 0, 9), b = rng_range(r, 0, 9), v = a * b;
        setf(qa->q, "What is %d times %d?", a, b);
    }
    setf(qa->a, "%d", v);
    number_off(qa->wrong, r, v);
}
static void task_count(demo_rng *r, demo_qa *qa) {
    demo_list l;
    list_words(r, &l, rng_range(r, 1, 7));
    int v;
    if (rng_pct(r, 50)) {
        char in[DEMO_TEXT];
        list_join(in, &l, " ");
        setf(qa->q, "How many words are in: %s", in);
        v = l.n;
    } else {
        setf(qa->q, "How many letters are in the word %s?", l.w[0]);
        v = (int)strlen(l.w[0]);
    }
    setf(qa->a, "%d", v);
    number_off(qa->wrong, r, v);
}
static void task_upper(demo_rng *r, demo_qa *qa) {
    static const char *const Q[] = {"Uppercase: %s", "Write in capital letters: %s"};
    demo_list l;
    char in[DEMO_TEXT];
    list_words(r, &l, rng_range(r, 1, 3));
    list_join(in, &l, " ");
    setf(qa->q, PICK(r, Q), in);
    upper(qa->a, in, 0);
    upper(qa->wrong, in, 1);
}
static void task_spell(demo_rng *r, demo_qa *qa) {
    const char *w = PICK(r, WORDS);
    setf(qa->q, "Spell the word %s.", w);
    spell(qa->a, w, 0);
    spell(qa->wrong, w, 1);
    if (!strcmp(qa->a, qa->wrong)) catf(qa->wrong, " %c", w[0]);
}
static void task_pick(demo_rng *r, demo_qa *qa) {
    demo_list l;
    int kind = rng_range(r, 0, 3), n = rng_range(r, 3, 5);
    char in[DEMO_TEXT];
    if (kind < 2) list_words(r, &l, n);
    else list_digits(r, &l, n);
    list_join(in, &l, " ");
    int want = kind == 0 ? 0 : l.n - 1;
    if (kind == 0) setf(qa->q, "What is the first word in: %s", in);
    if (kind == 1) setf(qa->q, "What is the last word in: %s", in);
    if (kind == 2) setf(qa->q, "Which number is the largest: %s", in);
    if (kind == 3) setf(qa->q, "Which number is the smallest: %s", in);
    if (kind >= 2) {
        demo_list s = l;
        list_sort(&s);
        l = s;
        want = kind == 2 ? l.n - 1 : 0;
    }
    setf(qa->a, "%s", l.w[want]);
    setf(qa->wrong, "%s", l.w[want == 0 ? rng_range(r, 1, l.n - 1) : rng_range(r, 0, l.n - 2)]);
}
static void task_yesno(demo_rng *r, demo_qa *qa) {
    int yes;
    if (rng_pct(r, 50)) {
        int a = rng_range(r, 0, 20), b = rng_range(r, 0, 20);
        if (a == b) b = a + 1;
        setf(qa->q, "Is %d greater than %d?", a, b);
        yes = a > b;
    } else {
        demo_list l;
        char in[DEMO_TEXT];
        list_words(r, &l, 4);
        int shown = rng_range(r, 2, 3);
        l.n = shown;
        list_join(in, &l, " ");
        yes = rng_pct(r, 50);
        setf(qa->q, "Is the word %s in the list: %s?", yes ? l.w[rng_range(r, 0, shown - 1)] : l.w[3], in);
    }
    setf(qa->a, yes ? "Yes" : "No");
    setf(qa->wrong, yes ? "No" : "Yes");
}
static void task_next(demo_rng *r, demo_qa *qa) {
    int v = rng_range(r, 1, 19), after = rng_pct(r, 50);
    setf(qa->q, after ? "What number comes after %d?" : "What number comes before %d?", v);
    setf(qa->a, "%d", after ? v + 1 : v - 1);
    setf(qa->wrong, "%d", after ? v - 1 : v + 1);
}
static const demo_task_fn TASKS[] = {task_copy, task_reverse, task_sort, task_arith, task_count,
                                     task_upper, task_spell, task_pick, task_yesno, task_next};

/* General instructions with formatted or sentence answers (SFT-2, DPO). */
static void inst_sentence(demo_rng *r, demo_qa *qa) {
    int a = rng_range(r, 0, 20), b = rng_range(r, 0, 20);
    setf(qa->q, "Add %d and %d. Answer with a full sentence.", a, b);
    setf(qa->a, "%d plus %d is %d.", a, b, a + b);
    setf(qa->wrong, "%d plus %d is %d.", a, b, a + b + (rng_pct(r, 50) ? 1 : -1));
}
static void inst_format(demo_rng *r, demo_qa *qa) {
    static const char *const Q[] = {"List these words, one per line: %s", "Number these words: %s",
                                    "Join these words with commas: %s"};
    int kind = rng_range(r, 0, 2);
    demo_list l;
    char in[DEMO_TEXT];
    list_words(r, &l, rng_range(r, 2, 4));
    list_join(in, &l, " ");
    setf(qa->q, Q[kind], in);
    if (kind == 0) list_join(qa->a, &l, "\n");
    if (kind == 1)
        for (int i = 0; i < l.n; i++) catf(qa->a, "%s%d. %s", i ? "\n" : "", i + 1, l.w[i]);
    if (kind == 2) list_join(qa->a, &l, ", ");
    setf(qa->wrong, "%s", in); /* ignored the requested format */
}
static void inst_times(demo_rng *r, demo_qa *qa) {
    int k = rng_range(r, 0, 2), n = k + 2;
    const char *w = PICK(r, WORDS);
    setf(qa->q, "Write the word %s %s times.", w, COUNT_WORDS[k]);
    for (int i = 0; i < n; i++) catf(qa->a, "%s%s", i ? " " : "", w);
    int m = rng_pct(r, 50) ? n + 1 : n - 1;
    for (int i = 0; i < m; i++) catf(qa->wrong, "%s%s", i ? " " : "", w);
}
static void inst_hello(demo_rng *r, demo_qa *qa) {
    const char *name = PICK(r, NAMES), *other = PICK(r, NAMES);
    setf(qa->q, rng_pct(r, 50) ? "Say hello to %s." : "Greet %s.", name);
    setf(qa->a, "Hello, %s!", name);
    if (other == name) setf(qa->wrong, "Hello!");
    else setf(qa->wrong, "Hello, %s!", other);
}
static void inst_day(demo_rng *r, demo_qa *qa) {
    int d = rng_range(r, 0, 6), after = rng_pct(r, 50);
    setf(qa->q, after ? "What day comes after %s?" : "What day comes before %s?", DAYS[d]);
    setf(qa->a, "%s", DAYS[(d + (after ? 1 : 6)) % 7]);
    setf(qa->wrong, "%s", DAYS[(d + (after ? 6 : 1)) % 7]);
}
static const demo_task_fn INSTS[] = {inst_sentence, inst_format, inst_times, inst_hello, inst_day};

/* ---------------------------------------------------------------- multi-turn chains */

/* A chat of n (2–3) turns on one word list, later turns referring back. */
static void chain_words(demo_rng *r, demo_qa *t, int n) {
    demo_list l;
    list_words(r, &l, rng_range(r, 2, 4));
    char in[DEMO_TEXT];
    int sorted = rng_pct(r, 50);
    list_join(in, &l, " ");
    setf(t[0].q, sorted ? "Sort alphabetically: %s" : "Repeat: %s", in);
    if (sorted) list_sort(&l);
    list_join(t[0].a, &l, " ");
    list_join_dropped(t[0].wrong, r, &l, " ");
    for (int k = 1; k < n; k++) {
        int last = k == n - 1, step = rng_range(r, 0, last ? 4 : 1);
        char cur[DEMO_TEXT];
        list_join(cur, &l, " ");
        if (step == 0) { setf(t[k].q, rng_pct(r, 50) ? "And reversed?" : "Now reverse it."); list_reverse(&l); }
        if (step == 1) {
            const char *w = WORDS[rng_range(r, 0, (int)HY_ARRAY_LEN(WORDS) - 1)];
            setf(t[k].q, "Add %s at the end.", w);
            if (l.n < 8) l.w[l.n++] = w;
        }
        if (step <= 1) { list_join(t[k].a, &l, " "); setf(t[k].wrong, "%s", cur); }
        if (step == 2) { setf(t[k].q, "Now in capital letters."); upper(t[k].a, cur, 0); upper(t[k].wrong, cur, 1); }
        if (step == 3) { setf(t[k].q, "How many words is that?"); setf(t[k].a, "%d", l.n); number_off(t[k].wrong, r, l.n); }
        if (step == 4) { setf(t[k].q, "What is the first word?"); setf(t[k].a, "%s", l.w[0]); setf(t[k].wrong, "%s", l.w[l.n - 1]); }
        if (!strcmp(t[k].a, t[k].wrong)) setf(t[k].wrong, "%s %s", t[k].a, t[k].a);
    }
}
static void chain_numbers(demo_rng *r, demo_qa *t, int n) {
    int a = rng_range(r, 0, 10), b = rng_range(r, 0, 10), v = a + b;
    setf(t[0].q, "What is %d + %d?", a, b);
    setf(t[0].a, "%d", v);
    number_off(t[0].wrong, r, v);
    for (int k = 1; k < n; k++) {
        int step = rng_range(r, 0, 2), c = rng_range(r, 1, 9);
        if (step == 2 && v > 20) step = 1;
        if (step == 1 && c > v) step = 0;
        if (step == 0) { setf(t[k].q, "And plus %d?", c); v += c; }
        if (step == 1) { setf(t[k].q, "Now subtract %d.", c); v -= c; }
        if (step == 2) { setf(t[k].q, rng_pct(r, 50) ? "Double it." : "And twice that?"); v *= 2; }
        setf(t[k].a, "%d", v);
        number_off(t[k].wrong, r, v);
    }
}
static void chain_spell(demo_rng *r, demo_qa *t, int n) {
    task_spell(r, &t[0]);
    const char *w = strrchr(t[0].q, ' ') + 1;
    char word[32];
    setf(word, "%.*s", (int)strlen(w) - 1, w); /* drop the final "." */
    int order = rng_range(r, 0, 1);
    for (int k = 1; k < n; k++) {
        if ((k == 1) == (order == 0)) {
            setf(t[k].q, "How many letters is that?");
            setf(t[k].a, "%d", (int)strlen(word));
            number_off(t[k].wrong, r, (int)strlen(word));
        } else {
            setf(t[k].q, "And backwards?");
            spell(t[k].a, word, 1);
            spell(t[k].wrong, word, 0);
            if (!strcmp(t[k].a, t[k].wrong)) catf(t[k].wrong, " %c", word[0]);
        }
    }
}

/* ---------------------------------------------------------------- records */

typedef enum { ROLE_SYSTEM, ROLE_USER, ROLE_ASSISTANT } demo_role;
/* How a record is written: SFT {"messages"} / {"prompt","completion"} strings;
 * DPO {"prompt","chosen","rejected"} as strings, as message lists, or the
 * implicit-prompt form {"chosen": [...], "rejected": [...]}. */
typedef enum { FORM_MESSAGES, FORM_PROMPT_COMPLETION, FORM_PREF_STRING, FORM_PREF_MESSAGES, FORM_PREF_IMPLICIT } demo_form;
typedef struct { demo_role role; char text[DEMO_TEXT]; } demo_msg;
typedef struct {
    demo_form form;
    int n;                    /* SFT: the conversation; DPO: prompt + chosen (the last message) */
    demo_msg m[DEMO_MAX_MSGS];
    char rejected[DEMO_TEXT]; /* DPO: the rejected last assistant message */
} demo_rec;

static const char *const SYS1[] = {"You are a helpful assistant.", "Answer briefly.",
                                   "You are a helpful assistant. Answer briefly."};
static const char *const SYS2[] = {"You are a helpful assistant.", "You are a friendly assistant. Keep answers short.",
                                   "Follow the instructions exactly."};

static void rec_add(demo_rec *rec, demo_role role, const char *text) {
    HY_ASSERT(rec->n < DEMO_MAX_MSGS);
    rec->m[rec->n].role = role;
    setf(rec->m[rec->n++].text, "%s", text);
}
static void rec_single(demo_rec *rec, demo_form form, const char *sys, const demo_qa *qa) {
    rec->form = form;
    rec->n = 0;
    if (sys) rec_add(rec, ROLE_SYSTEM, sys);
    rec_add(rec, ROLE_USER, qa->q);
    rec_add(rec, ROLE_ASSISTANT, qa->a);
    setf(rec->rejected, "%s", qa->wrong);
}
/* 2–3 turns of one chain; the last turn's wrong answer goes to rec->rejected. */
static void rec_chain(demo_rng *r, demo_rec *rec, const char *sys) {
    demo_qa t[DEMO_MAX_TURNS];
    memset(t, 0, sizeof t);
    int n = rng_range(r, 2, DEMO_MAX_TURNS), kind = rng_range(r, 0, 2);
    if (kind == 0) chain_words(r, t, n);
    if (kind == 1) chain_numbers(r, t, n);
    if (kind == 2) chain_spell(r, t, n);
    rec->form = FORM_MESSAGES;
    rec->n = 0;
    if (sys) rec_add(rec, ROLE_SYSTEM, sys);
    for (int k = 0; k < n; k++) {
        rec_add(rec, ROLE_USER, t[k].q);
        rec_add(rec, ROLE_ASSISTANT, t[k].a);
    }
    setf(rec->rejected, "%s", t[n - 1].wrong);
}
static void draw_qa(demo_rng *r, demo_qa *qa, const demo_task_fn *fns, int n_fns) {
    memset(qa, 0, sizeof *qa);
    fns[rng_range(r, 0, n_fns - 1)](r, qa);
    HY_ASSERT(strcmp(qa->a, qa->wrong) != 0);
}

/* SFT-1: single-turn task data, a short system prompt most of the time. */
static void gen_sft1(demo_rng *r, demo_rec *rec) {
    demo_qa qa;
    draw_qa(r, &qa, TASKS, (int)HY_ARRAY_LEN(TASKS));
    rec_single(rec, FORM_MESSAGES, rng_pct(r, 90) ? PICK(r, SYS1) : NULL, &qa);
}
/* SFT-2: multi-turn chats, instructions, and prompt/completion records. */
static void gen_sft2(demo_rng *r, demo_rec *rec) {
    int kind = rng_range(r, 0, 99);
    const char *sys = rng_pct(r, 85) ? PICK(r, SYS2) : NULL;
    if (kind < 45) { rec_chain(r, rec, sys); return; }
    demo_qa qa;
    if (rng_pct(r, 70)) draw_qa(r, &qa, INSTS, (int)HY_ARRAY_LEN(INSTS));
    else draw_qa(r, &qa, TASKS, (int)HY_ARRAY_LEN(TASKS));
    if (kind < 80) rec_single(rec, FORM_MESSAGES, sys, &qa);
    else rec_single(rec, FORM_PROMPT_COMPLETION, NULL, &qa);
}
/* DPO: the rejected answer is wrong (70%) or sloppy: hedged or repeated. */
static void gen_dpo(demo_rng *r, demo_rec *rec) {
    int kind = rng_range(r, 0, 99), form = rng_range(r, 0, 99);
    const char *sys = rng_pct(r, 70) ? PICK(r, SYS2) : NULL;
    if (kind < 25) {
        rec_chain(r, rec, sys);
        rec->form = form < 70 ? FORM_PREF_MESSAGES : FORM_PREF_IMPLICIT;
    } else {
        demo_qa qa;
        if (kind < 65) draw_qa(r, &qa, TASKS, (int)HY_ARRAY_LEN(TASKS));
        else draw_qa(r, &qa, INSTS, (int)HY_ARRAY_LEN(INSTS));
        demo_form f = form < 50 ? FORM_PREF_STRING : form < 85 ? FORM_PREF_MESSAGES : FORM_PREF_IMPLICIT;
        rec_single(rec, f, f == FORM_PREF_STRING ? NULL : sys, &qa);
    }
    const char *chosen = rec->m[rec->n - 1].text;
    if (rng_pct(r, 30)) {
        if (rng_pct(r, 50)) setf(rec->rejected, "I think it is %s, but I am not sure.", chosen);
        else setf(rec->rejected, "%s %s", chosen, chosen);
    }
}

/* FNV-1a over the user messages: the key of the train/eval overlap check. */
static uint64_t rec_prompt_hash(const demo_rec *rec) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < rec->n; i++) {
        if (rec->m[i].role != ROLE_USER) continue;
        for (const char *p = rec->m[i].text; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
        h = (h ^ 0x1f) * 0x100000001b3ull;
    }
    return h;
}

/* ---------------------------------------------------------------- JSON lines */

static const char *role_name(demo_role r) { return r == ROLE_SYSTEM ? "system" : r == ROLE_USER ? "user" : "assistant"; }

static hy_json *msgs_json(const demo_msg *m, int n, const char *last_override) {
    hy_json *arr = hy_json_array();
    for (int i = 0; arr && i < n; i++) {
        hy_json *o = hy_json_object();
        const char *text = i == n - 1 && last_override ? last_override : m[i].text;
        if (!o || hy_json_set(o, "role", hy_json_string(role_name(m[i].role))) ||
            hy_json_set(o, "content", hy_json_string(text)) || hy_json_append(arr, o)) {
            hy_json_free(arr);
            return NULL;
        }
    }
    return arr;
}
/* One record as a compact JSON line (malloc'd, release with free()). */
static hy_status rec_dump(const demo_rec *rec, char **line) {
    const demo_msg *m = rec->m, *last = &rec->m[rec->n - 1];
    hy_json *o = hy_json_object();
    hy_status st = o ? HY_OK : HY_ERR_OOM;
    demo_msg rej = *last;
    setf(rej.text, "%s", rec->rejected);
    switch (rec->form) {
    case FORM_MESSAGES: if (!st) st = hy_json_set(o, "messages", msgs_json(m, rec->n, NULL)); break;
    case FORM_PROMPT_COMPLETION:
        if (!st) st = hy_json_set(o, "prompt", hy_json_string(m[0].text));
        if (!st) st = hy_json_set(o, "completion", hy_json_string(m[1].text));
        break;
    case FORM_PREF_STRING:
        if (!st) st = hy_json_set(o, "prompt", hy_json_string(m[0].text));
        if (!st) st = hy_json_set(o, "chosen", hy_json_string(last->text));
        if (!st) st = hy_json_set(o, "rejected", hy_json_string(rec->rejected));
        break;
    case FORM_PREF_MESSAGES:
        if (!st) st = hy_json_set(o, "prompt", msgs_json(m, rec->n - 1, NULL));
        if (!st) st = hy_json_set(o, "chosen", msgs_json(last, 1, NULL));
        if (!st) st = hy_json_set(o, "rejected", msgs_json(&rej, 1, NULL));
        break;
    case FORM_PREF_IMPLICIT:
        if (!st) st = hy_json_set(o, "chosen", msgs_json(m, rec->n, NULL));
        if (!st) st = hy_json_set(o, "rejected", msgs_json(m, rec->n, rec->rejected));
        break;
    }
    *line = st ? NULL : hy_json_dump(o, HY_JSON_COMPACT);
    hy_json_free(o);
    if (!*line) return hy_errorf(HY_ERR_OOM, "out of memory writing a demo record");
    return HY_OK;
}

/* ---------------------------------------------------------------- rendering */

/* The Hymba chat template (spec §13.2) for system/user/assistant messages; the
 * last message's text may be replaced (the rejected side of a DPO pair). */
static void render(const demo_msg *m, int n, const char *last_override, char *out, size_t cap) {
    size_t k = (size_t)snprintf(out, cap, "<extra_id_0>System");
    for (int i = 0; i < n; i++)
        if (m[i].role == ROLE_SYSTEM) k += (size_t)snprintf(out + k, cap - k, "\n%s", m[i].text);
    k += (size_t)snprintf(out + k, cap - k, "\n\n");
    for (int i = 0; i < n; i++) {
        const char *text = i == n - 1 && last_override ? last_override : m[i].text;
        if (m[i].role != ROLE_SYSTEM)
            k += (size_t)snprintf(out + k, cap - k, "<extra_id_1>%s\n%s\n", m[i].role == ROLE_USER ? "User" : "Assistant", text);
        HY_ASSERT(k < cap);
    }
}
static hy_status bpe_add_rec(demo_bpe *b, const demo_rec *rec, int pref) {
    char text[DEMO_MAX_MSGS * (DEMO_TEXT + 32)];
    render(rec->m, rec->n, NULL, text, sizeof text);
    HY_TRY(demo_bpe_add_text(b, text));
    if (!pref) return HY_OK;
    render(rec->m, rec->n, rec->rejected, text, sizeof text);
    return demo_bpe_add_text(b, text);
}

/* ---------------------------------------------------------------- stages, main */

typedef void (*demo_gen_fn)(demo_rng *r, demo_rec *rec);
typedef struct {
    const char *name;
    demo_gen_fn gen;
    int pref; /* preference pairs: both sides go into the BPE corpus */
    int n_train, n_eval;
    uint64_t seed;
} demo_stage;
static const demo_stage STAGES[] = {
    {"sft1", gen_sft1, 0, 4000, 200, 0x5F7001},
    {"sft2", gen_sft2, 0, 3000, 200, 0x5F7002},
    {"dpo", gen_dpo, 1, 2000, 200, 0xD90003},
};

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Draw one record; for eval, retry while its prompt occurs in the train split
 * (`seen`, sorted), up to 64 times (then *repeats counts it). */
static void draw_rec(demo_rng *r, const demo_stage *s, demo_rec *rec, const uint64_t *seen, int *repeats) {
    for (int tries = 0;; tries++) {
        s->gen(r, rec);
        uint64_t h = rec_prompt_hash(rec);
        if (!seen || !bsearch(&h, seen, (size_t)s->n_train, sizeof h, cmp_u64)) return;
        if (tries == 63) { (*repeats)++; return; }
    }
}

/* Write DIR/<stage>.<split>.jsonl.  The train split also records its prompt
 * hashes in train_hashes (sorted on return) and feeds the BPE corpus. */
static hy_status write_split(const char *dir, const demo_stage *s, int eval, uint64_t *train_hashes, demo_bpe *b, int *repeats) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s.jsonl", dir, s->name, eval ? "eval" : "train");
    FILE *f = fopen(path, "wb");
    if (!f) return hy_errorf(HY_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    demo_rng r = {s->seed * 2 + (uint64_t)eval};
    hy_status st = HY_OK;
    int n = eval ? s->n_eval : s->n_train;
    for (int i = 0; !st && i < n; i++) {
        demo_rec rec;
        char *line = NULL;
        draw_rec(&r, s, &rec, eval ? train_hashes : NULL, repeats);
        st = rec_dump(&rec, &line);
        if (!st && fprintf(f, "%s\n", line) < 0) st = hy_errorf(HY_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        free(line);
        if (!st && !eval) {
            train_hashes[i] = rec_prompt_hash(&rec);
            st = bpe_add_rec(b, &rec, s->pref);
        }
    }
    if (fclose(f) != 0 && !st) st = hy_errorf(HY_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    if (!eval) qsort(train_hashes, (size_t)n, sizeof *train_hashes, cmp_u64);
    return st;
}

static hy_status make_dir(const char *path) {
    if (mkdir(path, 0777) != 0 && errno != EEXIST) return hy_errorf(HY_ERR_IO, "%s: cannot create directory: %s", path, strerror(errno));
    return HY_OK;
}

static hy_status write_stages(const char *dir, demo_bpe *b) {
    for (size_t k = 0; k < HY_ARRAY_LEN(STAGES); k++) {
        const demo_stage *s = &STAGES[k];
        uint64_t *hashes = NULL;
        int repeats = 0;
        HY_TRY(hy_malloc((void **)&hashes, (size_t)s->n_train * sizeof *hashes, 0, "demo prompt hashes"));
        hy_status st = write_split(dir, s, 0, hashes, b, &repeats);
        if (!st) st = write_split(dir, s, 1, hashes, b, &repeats);
        hy_free(hashes);
        HY_TRY(st);
        printf("%s: %d train, %d eval records (%d eval prompts also in train)\n", s->name, s->n_train, s->n_eval, repeats);
    }
    return HY_OK;
}

static hy_status demo_run(const char *dir) {
    char model[4096];
    snprintf(model, sizeof model, "%s/model", dir);
    HY_TRY(make_dir(dir));
    HY_TRY(make_dir(model));
    demo_bpe *b = NULL;
    HY_TRY(demo_bpe_new(&b));
    hy_status st = write_stages(dir, b);
    if (!st) {
        demo_bpe_train(b, DEMO_VOCAB);
        st = demo_write_model(b, model);
    }
    if (!st) printf("tokenizer: %d ids (%d merges); model files in %s\n", demo_bpe_vocab_size(b), demo_bpe_n_merges(b), model);
    demo_bpe_free(b);
    return st;
}

int main(int argc, char **argv) {
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: hymba-gen-demo OUTDIR\n"
                        "  writes the demo data sets (*.jsonl) and the demo model files (OUTDIR/model/);\n"
                        "  datasets/demo/regen.sh runs it and compresses the data.\n");
        return 2;
    }
    if (demo_run(argv[1]) != HY_OK) {
        fprintf(stderr, "hymba-gen-demo: %s\n", hy_last_error());
        return 1;
    }
    return 0;
}
