/* json.c — jansson behind the hy_json API (json.h).  hy_json is jansson's
 * json_t under another name; nothing else in the tree includes jansson.h. */
#include "json.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#define J(x) ((json_t *)(x))
#define H(x) ((hy_json *)(x))

hy_status hy_json_parse(hy_json **out, const char *text, size_t len, const char *origin) {
    json_error_t e;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    *out = H(j);
    if (!j) return hy_errorf(HY_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", origin ? origin : "<json>", e.line, e.column, e.text);
    return HY_OK;
}

hy_status hy_json_load_file(hy_json **out, const char *path) {
    json_error_t e;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return hy_errorf(HY_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    json_t *j = json_loadf(f, JSON_DECODE_ANY, &e);
    fclose(f);
    if (!j) return hy_errorf(HY_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, e.line, e.column, e.text);
    *out = H(j);
    return HY_OK;
}

hy_json *hy_json_ref(hy_json *j) { return H(json_incref(J(j))); }
void hy_json_free(hy_json *j) { if (j) json_decref(J(j)); }

hy_json_type hy_json_typeof(const hy_json *j) {
    if (!j) return HY_JSON_INVALID;
    switch (json_typeof(J(j))) {
    case JSON_OBJECT: return HY_JSON_OBJECT;
    case JSON_ARRAY: return HY_JSON_ARRAY;
    case JSON_STRING: return HY_JSON_STRING;
    case JSON_INTEGER: return HY_JSON_INT;
    case JSON_REAL: return HY_JSON_REAL;
    case JSON_TRUE:
    case JSON_FALSE: return HY_JSON_BOOL;
    case JSON_NULL: return HY_JSON_NULL;
    }
    return HY_JSON_INVALID;
}

const char *hy_json_type_name(hy_json_type t) {
    static const char *n[] = {"null", "boolean", "integer", "number", "string", "array", "object", "missing"};
    return (unsigned)t <= HY_JSON_INVALID ? n[t] : "?";
}
const char *hy_json_describe(const hy_json *j) { return hy_json_type_name(hy_json_typeof(j)); }

hy_json *hy_json_get(const hy_json *obj, const char *key) {
    return json_is_object(J(obj)) ? H(json_object_get(J(obj), key)) : NULL;
}
size_t hy_json_len(const hy_json *j) {
    if (json_is_array(J(j))) return json_array_size(J(j));
    if (json_is_object(J(j))) return json_object_size(J(j));
    if (json_is_string(J(j))) return json_string_length(J(j));
    return 0;
}
hy_json *hy_json_at(const hy_json *arr, size_t i) { return json_is_array(J(arr)) ? H(json_array_get(J(arr), i)) : NULL; }
const char *hy_json_str(const hy_json *j) { return json_is_string(J(j)) ? json_string_value(J(j)) : NULL; }
int64_t hy_json_int(const hy_json *j) { return json_is_integer(J(j)) ? (int64_t)json_integer_value(J(j)) : 0; }
double hy_json_num(const hy_json *j) { return json_is_number(J(j)) ? json_number_value(J(j)) : 0.0; }
int hy_json_is_number(const hy_json *j) { return j && json_is_number(J(j)); }
int hy_json_bool(const hy_json *j) { return j && json_is_true(J(j)); }

void *hy_json_iter(const hy_json *obj) { return json_is_object(J(obj)) ? json_object_iter(J(obj)) : NULL; }
void *hy_json_iter_next(const hy_json *obj, void *it) { return json_object_iter_next(J(obj), it); }
const char *hy_json_iter_key(void *it) { return json_object_iter_key(it); }
hy_json *hy_json_iter_value(void *it) { return H(json_object_iter_value(it)); }

hy_json *hy_json_object(void) { return H(json_object()); }
hy_json *hy_json_array(void) { return H(json_array()); }
hy_json *hy_json_string(const char *s) { return H(json_string(s)); }
hy_json *hy_json_stringn(const char *s, size_t n) { return H(json_stringn(s, n)); }
hy_json *hy_json_integer(int64_t v) { return H(json_integer((json_int_t)v)); }
hy_json *hy_json_real(double v) { return H(json_real(v)); }
hy_json *hy_json_boolean(int v) { return H(json_boolean(v)); }
hy_json *hy_json_null(void) { return H(json_null()); }

hy_status hy_json_set(hy_json *obj, const char *key, hy_json *val) {
    if (!val || json_object_set_new(J(obj), key, J(val)) != 0)
        return hy_errorf(HY_ERR_OOM, "out of memory building JSON (key \"%s\")", key);
    return HY_OK;
}
hy_status hy_json_append(hy_json *arr, hy_json *val) {
    if (!val || json_array_append_new(J(arr), J(val)) != 0)
        return hy_errorf(HY_ERR_OOM, "out of memory building JSON array");
    return HY_OK;
}

static size_t hy_json_flags(int flags) {
    size_t f = JSON_PRESERVE_ORDER | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
    if (flags & HY_JSON_COMPACT) f |= JSON_COMPACT;
    if (flags & HY_JSON_INDENT) f |= JSON_INDENT(2);
    if (flags & HY_JSON_ASCII) f |= JSON_ENSURE_ASCII;
    return f;
}
char *hy_json_dump(const hy_json *j, int flags) { return json_dumps(J(j), hy_json_flags(flags)); }

hy_status hy_json_save_file(const hy_json *j, const char *path, int flags) {
    if (json_dump_file(J(j), path, hy_json_flags(flags)) != 0)
        return hy_errorf(HY_ERR_IO, "%s: cannot write JSON: %s", path, strerror(errno));
    return HY_OK;
}
