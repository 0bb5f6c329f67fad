/* json.h — the toolkit's JSON API; the only include site of jansson is json.c.
 * Values are reference-counted handles; objects keep insertion order (needed
 * for safetensors headers and for serialising chat-template tools exactly as
 * given).  Accessors never crash on the wrong type: they return NULL / 0 and
 * the caller reports "expected X, got <hy_json_type_name>". */
#ifndef HY_JSON_H
#define HY_JSON_H
#include "hy_base.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct hy_json hy_json;
typedef enum { HY_JSON_NULL, HY_JSON_BOOL, HY_JSON_INT, HY_JSON_REAL, HY_JSON_STRING, HY_JSON_ARRAY, HY_JSON_OBJECT, HY_JSON_INVALID } hy_json_type;

/* Parse `text` (not necessarily NUL-terminated).  On error the message reads
 * "<origin>:<line>:<column>: <what jansson said>" (line/column within text). */
hy_status hy_json_parse(hy_json **out, const char *text, size_t len, const char *origin);
hy_status hy_json_load_file(hy_json **out, const char *path);
hy_json *hy_json_ref(hy_json *j);
void hy_json_free(hy_json *j); /* drop one reference; NULL is fine */

hy_json_type hy_json_typeof(const hy_json *j); /* HY_JSON_INVALID for NULL */
const char *hy_json_type_name(hy_json_type t);  /* "object", "array", "string", ... */
const char *hy_json_describe(const hy_json *j); /* type name of a value ("missing" for NULL) */

hy_json *hy_json_get(const hy_json *obj, const char *key); /* borrowed; NULL if absent */
size_t hy_json_len(const hy_json *j);                      /* array/object size, string bytes */
hy_json *hy_json_at(const hy_json *arr, size_t i);         /* borrowed */
const char *hy_json_str(const hy_json *j);                 /* NULL unless string */
int64_t hy_json_int(const hy_json *j);                     /* 0 unless integer */
double hy_json_num(const hy_json *j);                      /* integer or real */
int hy_json_is_number(const hy_json *j);
int hy_json_bool(const hy_json *j);                        /* 1 for true */

/* Object iteration in insertion order. */
void *hy_json_iter(const hy_json *obj);
void *hy_json_iter_next(const hy_json *obj, void *it);
const char *hy_json_iter_key(void *it);
hy_json *hy_json_iter_value(void *it); /* borrowed */

/* Construction (new references; NULL on allocation failure). */
hy_json *hy_json_object(void);
hy_json *hy_json_array(void);
hy_json *hy_json_string(const char *s);
hy_json *hy_json_stringn(const char *s, size_t n);
hy_json *hy_json_integer(int64_t v);
hy_json *hy_json_real(double v);
hy_json *hy_json_boolean(int v);
hy_json *hy_json_null(void);
/* Steal `val` (also on failure). */
hy_status hy_json_set(hy_json *obj, const char *key, hy_json *val);
hy_status hy_json_append(hy_json *arr, hy_json *val);

enum { HY_JSON_COMPACT = 1, HY_JSON_INDENT = 2, HY_JSON_ASCII = 4 };
/* Serialise; the returned string is malloc'd (release with free()).  Default:
 * ", " and ": " separators (Python json.dumps), insertion order, UTF-8 kept. */
char *hy_json_dump(const hy_json *j, int flags);
hy_status hy_json_save_file(const hy_json *j, const char *path, int flags);

#ifdef __cplusplus
}
#endif
#endif
