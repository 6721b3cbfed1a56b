/*
 * checkpoint.c — vkt_checkpoint_save / vkt_checkpoint_load: a vkt_dict as a safetensors file.
 *
 * Layout (https://github.com/huggingface/safetensors, the format torch users load with
 * safetensors.torch.load_file):
 *   u64 little-endian N | N bytes of JSON header, space-padded so the data starts 8-aligned |
 *   the f32 arrays, little-endian, back to back in header order.
 * Header: {"__metadata__": {"format": "pt", "vkt": <tree>, "vkt_tensors": <paths>},
 *          "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
 *   <tree>    the JSON of the whole dict (metadata values are strings, so it is a string holding
 *             JSON): numbers, strings and nested objects, with null where an f32 array sits;
 *   <paths>   {"<name>": ["key", "key", ...]}: the dict path of each tensor. Names are the
 *             '/'-joined path ("state_dict/0.weight"), made unique with "~N" when keys hold '/'.
 * Numbers are written as %.17g (exact round trip); NaN and infinities as Python's json module
 * writes them (NaN, Infinity, -Infinity). A file without "vkt" metadata (any safetensors file of
 * F32 tensors) loads as a flat dict of its tensors.
 *
 * Saving is atomic: <path>.tmp.<pid>, fflush + fsync, rename over <path>, fsync the directory.
 * Loading validates everything (the checks of the safetensors library and of the tree) and every
 * error names the file and the problem. The small JSON writer and parser live here too.
 * Tests: tests/test_train_io.c, tests/check_safetensors.py (reads a file as safetensors does).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/train_internal.h"

#define MAX_HEADER (100u * 1000u * 1000u) /* the safetensors library's limit */
#define MAX_DEPTH 200

/* a growing string: vkt__sbuf (src/core.c) */

/* ---- JSON writer ---- */

static void json_string(vkt__sbuf *b, const char *s)
{
    vkt__sb_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            vkt__sb_puts(b, "\\\"");
            break;
        case '\\':
            vkt__sb_puts(b, "\\\\");
            break;
        case '\n':
            vkt__sb_puts(b, "\\n");
            break;
        case '\r':
            vkt__sb_puts(b, "\\r");
            break;
        case '\t':
            vkt__sb_puts(b, "\\t");
            break;
        case '\b':
            vkt__sb_puts(b, "\\b");
            break;
        case '\f':
            vkt__sb_puts(b, "\\f");
            break;
        default:
            if (*p < 0x20) {
                char u[8];
                snprintf(u, sizeof u, "\\u%04x", *p);
                vkt__sb_puts(b, u);
            } else {
                vkt__sb_putc(b, (char)*p);
            }
        }
    }
    vkt__sb_putc(b, '"');
}

static void json_number(vkt__sbuf *b, double v)
{
    char t[40];
    if (isnan(v)) {
        snprintf(t, sizeof t, "NaN");
    } else if (isinf(v)) {
        snprintf(t, sizeof t, v < 0 ? "-Infinity" : "Infinity");
    } else if (v == 0 && signbit(v)) {
        snprintf(t, sizeof t, "-0.0"); /* "-0" would read back as the int 0 in Python */
    } else {
        snprintf(t, sizeof t, "%.17g", v);
        vkt__c_decimal_point(t);
    }
    vkt__sb_puts(b, t);
}

static bool utf8_valid(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 0 : (*p >> 5) == 6 ? 1 : (*p >> 4) == 14 ? 2 : (*p >> 3) == 30 ? 3 : -1;
        if (n < 0 || (n == 1 && *p < 0xC2)) {
            return false;
        }
        uint32_t cp = n == 0 ? *p : n == 1 ? (*p & 0x1Fu) : n == 2 ? (*p & 0x0Fu) : (*p & 0x07u);
        p++;
        for (int i = 0; i < n; i++, p++) {
            if ((*p & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (*p & 0x3Fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
            return false;
        }
    }
    return true;
}

/* Shape of an f32 array as nested JSON lists, for vkt__dict_to_json. */
static void json_floats(vkt__sbuf *b, const float *v, int ndim, const int64_t *shape, int dim,
                        uint64_t *at)
{
    /* dim < 4 always holds (dict arrays have at most 4 dimensions); saying so lets -O3's
     * recursive inlining see that shape[dim] stays in bounds */
    if (dim >= ndim || dim >= 4) {
        json_number(b, (double)v[(*at)++]);
        return;
    }
    vkt__sb_putc(b, '[');
    for (int64_t i = 0; i < shape[dim]; i++) {
        if (i) {
            vkt__sb_puts(b, ", ");
        }
        json_floats(b, v, ndim, shape, dim + 1, at);
    }
    vkt__sb_putc(b, ']');
}

/* The tree; f32 arrays as null (tensors_inline false) or nested lists. */
static void json_dict(vkt__sbuf *b, const vkt_dict *d, bool tensors_inline)
{
    vkt__sb_putc(b, '{');
    for (uint32_t i = 0; i < vkt_dict_count(d); i++) {
        vkt__dict_entry e = vkt__dict_at(d, i);
        if (i) {
            vkt__sb_puts(b, ", ");
        }
        json_string(b, e.key);
        vkt__sb_puts(b, ": ");
        switch (e.kind) {
        case VKT__DICT_NUMBER:
            json_number(b, e.number);
            break;
        case VKT__DICT_STRING:
            json_string(b, e.string);
            break;
        case VKT__DICT_CHILD:
            json_dict(b, e.child, tensors_inline);
            break;
        case VKT__DICT_FLOATS:
            if (tensors_inline) {
                uint64_t at = 0;
                json_floats(b, e.floats, e.ndim, e.shape, 0, &at);
            } else {
                vkt__sb_puts(b, "null");
            }
            break;
        default:
            break;
        }
    }
    vkt__sb_putc(b, '}');
}

char *vkt__dict_to_json(const vkt_dict *d)
{
    vkt__sbuf b = {0};
    json_dict(&b, d, true);
    if (b.oom || !b.p) {
        free(b.p);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_dict: out of host memory writing JSON");
        return NULL;
    }
    return b.p;
}

/* ---- JSON parser (a value tree) ---- */

typedef enum jtype { J_NULL, J_BOOL, J_NUMBER, J_STRING, J_ARRAY, J_OBJECT } jtype;

typedef struct jval jval;
struct jval {
    jtype type;
    double num;
    bool b;
    char *str;       /* J_STRING */
    uint32_t n;      /* J_ARRAY / J_OBJECT entries */
    char **keys;     /* J_OBJECT */
    jval **items;
};

static void jfree(jval *v)
{
    if (!v) {
        return;
    }
    free(v->str);
    for (uint32_t i = 0; i < v->n; i++) {
        if (v->keys) {
            free(v->keys[i]);
        }
        jfree(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v);
}

static const jval *jget(const jval *o, const char *key)
{
    if (!o || o->type != J_OBJECT) {
        return NULL;
    }
    for (uint32_t i = 0; i < o->n; i++) {
        if (strcmp(o->keys[i], key) == 0) {
            return o->items[i];
        }
    }
    return NULL;
}

typedef struct jparser {
    const char *s, *p, *end;
    char err[160];
} jparser;

static bool jfail(jparser *j, const char *what)
{
    if (!j->err[0]) {
        snprintf(j->err, sizeof j->err, "%s at byte %zu", what, (size_t)(j->p - j->s));
    }
    return false;
}

static void jws(jparser *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
        j->p++;
    }
}

static bool jlit(jparser *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->end - j->p) >= n && memcmp(j->p, lit, n) == 0) {
        j->p += n;
        return true;
    }
    return false;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool jhex4(jparser *j, uint32_t *out)
{
    if (j->end - j->p < 4) {
        return jfail(j, "truncated \\u escape");
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(j->p[i]);
        if (h < 0) {
            return jfail(j, "bad \\u escape");
        }
        v = v * 16 + (uint32_t)h;
    }
    j->p += 4;
    *out = v;
    return true;
}

static void put_utf8(vkt__sbuf *b, uint32_t cp)
{
    char u[4];
    if (cp < 0x80) {
        vkt__sb_putc(b, (char)cp);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        vkt__sb_putn(b, u, 2);
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        vkt__sb_putn(b, u, 3);
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        vkt__sb_putn(b, u, 4);
    }
}

static char *jstring(jparser *j)
{
    /* at the opening quote */
    j->p++;
    vkt__sbuf b = {0};
    vkt__sb_puts(&b, "");
    while (true) {
        if (j->p >= j->end) {
            jfail(j, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            if (b.oom) {
                jfail(j, "out of memory");
                break;
            }
            return b.p;
        }
        if (c < 0x20) {
            jfail(j, "control character in string");
            break;
        }
        if (c != '\\') {
            vkt__sb_putc(&b, (char)c);
            j->p++;
            continue;
        }
        j->p++;
        if (j->p >= j->end) {
            jfail(j, "unterminated string");
            break;
        }
        char e = *j->p++;
        uint32_t cp;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            vkt__sb_putc(&b, e);
            continue;
        case 'b':
            vkt__sb_putc(&b, '\b');
            continue;
        case 'f':
            vkt__sb_putc(&b, '\f');
            continue;
        case 'n':
            vkt__sb_putc(&b, '\n');
            continue;
        case 'r':
            vkt__sb_putc(&b, '\r');
            continue;
        case 't':
            vkt__sb_putc(&b, '\t');
            continue;
        case 'u':
            if (!jhex4(j, &cp)) {
                break;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                uint32_t lo;
                if (!jlit(j, "\\u") || !jhex4(j, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    jfail(j, "unpaired surrogate in \\u escape");
                    break;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                jfail(j, "unpaired surrogate in \\u escape");
                break;
            }
            if (cp == 0) {
                jfail(j, "NUL character in string");
                break;
            }
            put_utf8(&b, cp);
            continue;
        default:
            jfail(j, "bad escape in string");
            break;
        }
        break;
    }
    free(b.p);
    return NULL;
}

static jval *jnew(jparser *j, jtype t)
{
    jval *v = vkt__calloc(1, sizeof *v);
    if (!v) {
        jfail(j, "out of memory");
        return NULL;
    }
    v->type = t;
    return v;
}

static bool jpush(jparser *j, jval *parent, char *key, jval *item)
{
    if ((parent->n & (parent->n - 1)) == 0) { /* grow at powers of two */
        uint32_t cap = parent->n ? parent->n * 2 : 4;
        jval **items = vkt__realloc(parent->items, cap * sizeof *items);
        if (items) {
            parent->items = items;
        }
        char **keys = parent->type == J_OBJECT ? vkt__realloc(parent->keys, cap * sizeof *keys) : NULL;
        if (keys) {
            parent->keys = keys;
        }
        if (!items || (parent->type == J_OBJECT && !keys)) {
            free(key);
            jfree(item);
            return jfail(j, "out of memory");
        }
    }
    if (parent->type == J_OBJECT) {
        parent->keys[parent->n] = key;
    }
    parent->items[parent->n++] = item;
    return true;
}

static jval *jvalue(jparser *j, int depth);

static jval *jcontainer(jparser *j, int depth, bool object)
{
    jval *v = jnew(j, object ? J_OBJECT : J_ARRAY);
    if (!v) {
        return NULL;
    }
    j->p++;
    jws(j);
    if (j->p < j->end && *j->p == (object ? '}' : ']')) {
        j->p++;
        return v;
    }
    while (true) {
        char *key = NULL;
        jws(j);
        if (object) {
            if (j->p >= j->end || *j->p != '"') {
                jfail(j, "expected a string key");
                break;
            }
            key = jstring(j);
            if (!key) {
                break;
            }
            for (uint32_t i = 0; i < v->n; i++) {
                if (strcmp(v->keys[i], key) == 0) {
                    free(key);
                    key = NULL;
                    jfail(j, "duplicate key");
                    break;
                }
            }
            if (!key) {
                break;
            }
            jws(j);
            if (j->p >= j->end || *j->p != ':') {
                free(key);
                jfail(j, "expected ':'");
                break;
            }
            j->p++;
        }
        jval *item = jvalue(j, depth + 1);
        if (!item) {
            free(key);
            break;
        }
        if (!jpush(j, v, key, item)) {
            break;
        }
        jws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == (object ? '}' : ']')) {
            j->p++;
            return v;
        }
        jfail(j, object ? "expected ',' or '}'" : "expected ',' or ']'");
        break;
    }
    jfree(v);
    return NULL;
}

static jval *jnumber(jparser *j)
{
    const char *start = j->p;
    if (jlit(j, "NaN") || jlit(j, "Infinity") || jlit(j, "-Infinity")) {
        jval *v = jnew(j, J_NUMBER);
        if (v) {
            v->num = start[0] == 'N' ? NAN : start[0] == '-' ? -INFINITY : INFINITY;
        }
        return v;
    }
    /* JSON grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    const char *p = j->p;
    if (p < j->end && *p == '-') {
        p++;
    }
    if (p < j->end && *p == '0') {
        p++;
    } else if (p < j->end && *p >= '1' && *p <= '9') {
        while (p < j->end && *p >= '0' && *p <= '9') {
            p++;
        }
    } else {
        jfail(j, "expected a value");
        return NULL;
    }
    if (p < j->end && *p == '.') {
        p++;
        if (p >= j->end || *p < '0' || *p > '9') {
            j->p = p;
            jfail(j, "bad number");
            return NULL;
        }
        while (p < j->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (p < j->end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < j->end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= j->end || *p < '0' || *p > '9') {
            j->p = p;
            jfail(j, "bad number");
            return NULL;
        }
        while (p < j->end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    char tmp[400];
    size_t len = (size_t)(p - j->p);
    if (len >= sizeof tmp) {
        jfail(j, "number too long");
        return NULL;
    }
    memcpy(tmp, j->p, len);
    tmp[len] = '\0';
    jval *v = jnew(j, J_NUMBER);
    if (v) {
        v->num = vkt__strtod_c(tmp, NULL);
        j->p = p;
    }
    return v;
}

static jval *jvalue(jparser *j, int depth)
{
    if (depth > MAX_DEPTH) {
        jfail(j, "nesting too deep");
        return NULL;
    }
    jws(j);
    if (j->p >= j->end) {
        jfail(j, "unexpected end");
        return NULL;
    }
    char c = *j->p;
    if (c == '{' || c == '[') {
        return jcontainer(j, depth, c == '{');
    }
    if (c == '"') {
        char *s = jstring(j);
        jval *v = s ? jnew(j, J_STRING) : NULL;
        if (!v) {
            free(s);
            return NULL;
        }
        v->str = s;
        return v;
    }
    if (jlit(j, "null")) {
        return jnew(j, J_NULL);
    }
    if (jlit(j, "true") || jlit(j, "false")) {
        jval *v = jnew(j, J_BOOL);
        if (v) {
            v->b = j->p[-1] == 'e' && j->p[-2] == 'u';
        }
        return v;
    }
    return jnumber(j);
}

/* Parses a whole JSON document; NULL with `err` filled. */
static jval *jparse(const char *s, size_t n, char *err, size_t errn)
{
    jparser j = {.s = s, .p = s, .end = s + n};
    jval *v = jvalue(&j, 0);
    if (v) {
        jws(&j);
        if (j.p != j.end) {
            jfail(&j, "trailing characters after the JSON value");
            jfree(v);
            v = NULL;
        }
    }
    if (!v) {
        snprintf(err, errn, "%s", j.err[0] ? j.err : "bad JSON");
    }
    return v;
}

/* ---- directories ---- */

vkt_status vkt__mkdir_p(const char *path)
{
    char tmp[4096];
    if (!path || !path[0]) {
        return VKT_OK;
    }
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) {
        return vkt__error(VKT_INVALID_ARGUMENT, "directory path too long: '%s'", path);
    }
    for (char *p = tmp + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char c = *p;
            *p = '\0';
            if (mkdir(tmp, 0777) != 0 && errno != EEXIST) {
                return vkt__error(VKT_IO, "cannot create directory '%s': %s", tmp,
                                  strerror(errno));
            }
            *p = c;
            if (c == '\0') {
                break;
            }
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        return vkt__error(VKT_IO, "cannot create directory '%s': a file is in the way", path);
    }
    return VKT_OK;
}

/* ---- save ---- */

typedef struct tensor_ref {
    char *name;
    char *path_json; /* ["key", "key"] */
    const float *data;
    int ndim;
    int64_t shape[4];
    uint64_t count;
} tensor_ref;

typedef struct save_ctx {
    tensor_ref *t;
    uint32_t n, cap;
    const char *keys[MAX_DEPTH + 1];
    const char *bad_key;
    bool oom;
} save_ctx;

static bool name_taken(const save_ctx *c, const char *name)
{
    for (uint32_t i = 0; i < c->n; i++) {
        if (strcmp(c->t[i].name, name) == 0) {
            return true;
        }
    }
    return strcmp(name, "__metadata__") == 0;
}

static void collect(save_ctx *c, const vkt_dict *d, int depth)
{
    for (uint32_t i = 0; i < vkt_dict_count(d) && !c->oom && !c->bad_key; i++) {
        vkt__dict_entry e = vkt__dict_at(d, i);
        if (!utf8_valid(e.key)) {
            c->bad_key = e.key;
            return;
        }
        if (e.kind == VKT__DICT_STRING && !utf8_valid(e.string)) {
            c->bad_key = e.key;
            return;
        }
        c->keys[depth] = e.key;
        if (e.kind == VKT__DICT_CHILD) {
            if (depth + 1 >= MAX_DEPTH) {
                c->bad_key = e.key;
                return;
            }
            collect(c, e.child, depth + 1);
            continue;
        }
        if (e.kind != VKT__DICT_FLOATS) {
            continue;
        }
        vkt__sbuf name = {0}, path = {0};
        vkt__sb_putc(&path, '[');
        for (int k = 0; k <= depth; k++) {
            if (k) {
                vkt__sb_putc(&name, '/');
                vkt__sb_puts(&path, ", ");
            }
            vkt__sb_puts(&name, c->keys[k]);
            json_string(&path, c->keys[k]);
        }
        vkt__sb_putc(&path, ']');
        size_t base = name.len;
        for (int dup = 1; !name.oom && name_taken(c, name.p); dup++) {
            char suffix[24];
            snprintf(suffix, sizeof suffix, "~%d", dup);
            name.len = base;
            vkt__sb_puts(&name, suffix);
        }
        if (name.oom || path.oom || !vkt__grow((void **)&c->t, &c->cap, c->n + 1, sizeof *c->t)) {
            free(name.p);
            free(path.p);
            c->oom = true;
            return;
        }
        tensor_ref *t = &c->t[c->n++];
        t->name = name.p;
        t->path_json = path.p;
        t->data = e.floats;
        t->ndim = e.ndim;
        memcpy(t->shape, e.shape, sizeof t->shape);
        t->count = e.count;
    }
}

static void put_u64le(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(v >> (8 * i));
    }
}

static uint64_t get_u64le(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = (v << 8) | b[i];
    }
    return v;
}

static bool write_floats_le(FILE *f, const float *v, uint64_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    for (uint64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8),
                              (unsigned char)(u >> 16), (unsigned char)(u >> 24)};
        if (fwrite(b, 1, 4, f) != 4) {
            return false;
        }
    }
    return true;
#else
    return n == 0 || fwrite(v, sizeof(float), n, f) == n;
#endif
}

static char *build_header(const vkt_dict *ckpt, save_ctx *c)
{
    vkt__sbuf tree = {0}, paths = {0}, h = {0};
    json_dict(&tree, ckpt, false);
    vkt__sb_putc(&paths, '{');
    for (uint32_t i = 0; i < c->n; i++) {
        if (i) {
            vkt__sb_puts(&paths, ", ");
        }
        json_string(&paths, c->t[i].name);
        vkt__sb_puts(&paths, ": ");
        vkt__sb_puts(&paths, c->t[i].path_json);
    }
    vkt__sb_putc(&paths, '}');
    vkt__sb_puts(&h, "{\"__metadata__\":{\"format\":\"pt\",\"vkt\":");
    json_string(&h, tree.p ? tree.p : "{}");
    vkt__sb_puts(&h, ",\"vkt_tensors\":");
    json_string(&h, paths.p ? paths.p : "{}");
    vkt__sb_putc(&h, '}');
    uint64_t off = 0;
    for (uint32_t i = 0; i < c->n; i++) {
        const tensor_ref *t = &c->t[i];
        char num[64];
        vkt__sb_putc(&h, ',');
        json_string(&h, t->name);
        vkt__sb_puts(&h, ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) {
            snprintf(num, sizeof num, "%s%lld", k ? "," : "", (long long)t->shape[k]);
            vkt__sb_puts(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                 (unsigned long long)(off + t->count * 4));
        vkt__sb_puts(&h, num);
        off += t->count * 4;
    }
    vkt__sb_putc(&h, '}');
    /* pad with spaces so the data starts 8-byte aligned (8 + N multiple of 8) */
    while (!h.oom && h.len % 8) {
        vkt__sb_putc(&h, ' ');
    }
    bool oom = tree.oom || paths.oom || h.oom;
    free(tree.p);
    free(paths.p);
    if (oom) {
        free(h.p);
        return NULL;
    }
    return h.p;
}

static void free_ctx(save_ctx *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        free(c->t[i].name);
        free(c->t[i].path_json);
    }
    free(c->t);
}

static vkt_status fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, sizeof dir, ".");
    } else if (slash == path) {
        snprintf(dir, sizeof dir, "/");
    } else {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return vkt__error(VKT_IO, "vkt_checkpoint_save: cannot open directory '%s' to sync it: %s",
                          dir, strerror(errno));
    }
    int r = fsync(fd);
    int err = errno;
    close(fd);
    if (r != 0 && err != EINVAL && err != EROFS) {
        return vkt__error(VKT_IO, "vkt_checkpoint_save: cannot sync directory '%s': %s", dir,
                          strerror(err));
    }
    return VKT_OK;
}

vkt_status vkt_checkpoint_save(const vkt_dict *ckpt, const char *path)
{
    if (!ckpt || !path || !path[0]) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_checkpoint_save: %s is NULL or empty",
                          ckpt ? "path" : "checkpoint");
    }
    save_ctx c = {0};
    collect(&c, ckpt, 0);
    if (c.oom) {
        free_ctx(&c);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_checkpoint_save: out of host memory");
    }
    if (c.bad_key) {
        vkt_status s = vkt__error(VKT_INVALID_ARGUMENT,
                                  "vkt_checkpoint_save: '%s': key or string '%s' is not valid "
                                  "UTF-8 or nests deeper than %d (safetensors headers are "
                                  "UTF-8 JSON)",
                                  path, c.bad_key, MAX_DEPTH);
        free_ctx(&c);
        return s;
    }
    char *header = build_header(ckpt, &c);
    if (!header) {
        free_ctx(&c);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_checkpoint_save: out of host memory");
    }
    size_t hlen = strlen(header);
    if (hlen > MAX_HEADER) {
        free(header);
        free_ctx(&c);
        return vkt__error(VKT_TOO_LARGE,
                          "vkt_checkpoint_save: '%s': the header would be %zu bytes; safetensors "
                          "allows %u",
                          path, hlen, MAX_HEADER);
    }

    /* the parent directory, as Lightning's checkpoint IO makes it */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    vkt_status s = VKT_OK;
    if (slash && slash != path) {
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
        s = vkt__mkdir_p(dir);
        if (s != VKT_OK) {
            vkt__error_context("vkt_checkpoint_save: '%s'", path);
        }
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = NULL;
    if (s == VKT_OK) {
        int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        f = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (!f) {
            s = vkt__error(VKT_IO, "vkt_checkpoint_save: cannot create '%s': %s", tmp,
                           strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(tmp);
            }
        }
    }
    if (f) {
        unsigned char len8[8];
        put_u64le(len8, hlen);
        bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(header, 1, hlen, f) == hlen;
        for (uint32_t i = 0; ok && i < c.n; i++) {
            ok = write_floats_le(f, c.t[i].data, c.t[i].count);
        }
        ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
        int err = errno;
        if (fclose(f) != 0 && ok) {
            ok = false;
            err = errno;
        }
        if (!ok) {
            s = vkt__error(VKT_IO, "vkt_checkpoint_save: cannot write '%s': %s", tmp,
                           strerror(err));
            unlink(tmp);
        } else if (rename(tmp, path) != 0) {
            s = vkt__error(VKT_IO, "vkt_checkpoint_save: cannot rename '%s' to '%s': %s", tmp,
                           path, strerror(errno));
            unlink(tmp);
        } else {
            s = fsync_dir_of(path);
        }
    }
    free(header);
    free_ctx(&c);
    return s;
}

/* ---- load ---- */

static vkt_status corrupt(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static vkt_status corrupt(const char *path, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vkt__error(VKT_CORRUPT_FILE, "vkt_checkpoint_load: '%s': %s", path, msg);
}

typedef struct tinfo {
    const char *name;
    int ndim;
    int64_t shape[4];
    uint64_t begin, end, count;
    bool used;
} tinfo;

static int cmp_offsets(const void *a, const void *b)
{
    const tinfo *x = *(const tinfo *const *)a, *y = *(const tinfo *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static float *read_floats(const unsigned char *data, const tinfo *t)
{
    float *v = vkt__malloc(t->count ? t->count * sizeof(float) : 1);
    if (!v) {
        return NULL;
    }
    const unsigned char *p = data + t->begin;
    for (uint64_t i = 0; i < t->count; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(&v[i], &u, 4);
    }
    return v;
}

typedef struct load_ctx {
    const char *path;
    const unsigned char *data;
    tinfo *t;
    uint32_t nt;
    const jval *paths; /* vkt_tensors object */
    const char *keys[MAX_DEPTH + 1];
} load_ctx;

/* The tensor whose recorded path is keys[0..depth]; NULL if none. */
static tinfo *tensor_at(load_ctx *c, int depth)
{
    for (uint32_t i = 0; i < c->paths->n; i++) {
        const jval *p = c->paths->items[i];
        if (p->n != (uint32_t)depth + 1) {
            continue;
        }
        bool same = true;
        for (int k = 0; k <= depth && same; k++) {
            same = strcmp(p->items[k]->str, c->keys[k]) == 0;
        }
        if (!same) {
            continue;
        }
        for (uint32_t k = 0; k < c->nt; k++) {
            if (strcmp(c->t[k].name, c->paths->keys[i]) == 0) {
                return &c->t[k];
            }
        }
    }
    return NULL;
}

static vkt_status build_tree(load_ctx *c, const jval *obj, vkt_dict *d, int depth)
{
    for (uint32_t i = 0; i < obj->n; i++) {
        const jval *v = obj->items[i];
        const char *key = obj->keys[i];
        c->keys[depth] = key;
        vkt_status s = VKT_OK;
        switch (v->type) {
        case J_NUMBER:
            s = vkt_dict_set_number(d, key, v->num);
            break;
        case J_STRING:
            s = vkt_dict_set_string(d, key, v->str);
            break;
        case J_OBJECT: {
            if (depth + 1 >= MAX_DEPTH) {
                return corrupt(c->path, "metadata tree nests deeper than %d", MAX_DEPTH);
            }
            vkt_dict *child = vkt_dict_child(d, key);
            s = child ? build_tree(c, v, child, depth + 1) : vkt_last_status();
            break;
        }
        case J_NULL: {
            tinfo *t = tensor_at(c, depth);
            if (!t) {
                return corrupt(c->path, "the metadata tree has a tensor at '%s' (depth %d) but "
                                        "vkt_tensors names none there",
                               key, depth);
            }
            if (t->used) {
                return corrupt(c->path, "tensor '%s' is placed twice", t->name);
            }
            t->used = true;
            float *data = read_floats(c->data, t);
            if (!data) {
                return vkt__error(VKT_OUT_OF_HOST_MEMORY,
                                  "vkt_checkpoint_load: out of host memory for tensor '%s'",
                                  t->name);
            }
            s = vkt__dict_set_floats_owned(d, key, data, t->ndim, t->shape);
            break;
        }
        default:
            return corrupt(c->path, "metadata value '%s' is a %s; vkt dicts hold numbers, "
                                    "strings, dicts and tensors",
                           key, v->type == J_BOOL ? "boolean" : "list");
        }
        if (s != VKT_OK) {
            return s;
        }
    }
    return VKT_OK;
}

static vkt_status parse_file(const char *path, const unsigned char *buf, uint64_t size,
                             vkt_dict *out)
{
    if (size < 8) {
        return corrupt(path, "truncated: %llu bytes, but a safetensors file starts with an "
                             "8-byte header length",
                       (unsigned long long)size);
    }
    uint64_t n = get_u64le(buf);
    if (n > MAX_HEADER) {
        return corrupt(path, "header length %llu is larger than the %u bytes safetensors allows "
                             "(not a safetensors file?)",
                       (unsigned long long)n, MAX_HEADER);
    }
    if (n > size - 8) {
        return corrupt(path, "header length %llu runs past the end of the file (%llu bytes): "
                             "truncated or not a safetensors file",
                       (unsigned long long)n, (unsigned long long)size);
    }
    const char *hs = (const char *)buf + 8;
    if (n == 0 || hs[0] != '{') {
        return corrupt(path, "the header does not start with '{' (not a safetensors file?)");
    }
    char *hcopy = vkt__malloc(n + 1);
    if (!hcopy) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_checkpoint_load: out of host memory");
    }
    memcpy(hcopy, hs, n);
    hcopy[n] = '\0';
    if (strlen(hcopy) != n || !utf8_valid(hcopy)) {
        free(hcopy);
        return corrupt(path, "the header is not UTF-8 text");
    }
    char err[200];
    jval *h = jparse(hcopy, n, err, sizeof err);
    free(hcopy);
    if (!h) {
        return corrupt(path, "bad JSON in the header: %s", err);
    }
    vkt_status s = VKT_OK;
    jval *tree = NULL, *paths = NULL;
    tinfo *t = NULL;
    tinfo **sorted = NULL;
    uint32_t nt = 0;
    const uint64_t data_size = size - 8 - n;
    if (h->type != J_OBJECT) {
        s = corrupt(path, "the header is not a JSON object");
        goto done;
    }
    t = vkt__calloc(h->n ? h->n : 1, sizeof *t);
    sorted = vkt__calloc(h->n ? h->n : 1, sizeof *sorted);
    if (!t || !sorted) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_checkpoint_load: out of host memory");
        goto done;
    }
    const jval *meta = NULL;
    for (uint32_t i = 0; i < h->n; i++) {
        const char *name = h->keys[i];
        const jval *v = h->items[i];
        if (strcmp(name, "__metadata__") == 0) {
            meta = v;
            if (v->type != J_OBJECT) {
                s = corrupt(path, "__metadata__ is not an object");
                goto done;
            }
            for (uint32_t k = 0; k < v->n; k++) {
                if (v->items[k]->type != J_STRING) {
                    s = corrupt(path, "__metadata__ value '%s' is not a string", v->keys[k]);
                    goto done;
                }
            }
            continue;
        }
        const jval *dtype = jget(v, "dtype"), *shape = jget(v, "shape");
        const jval *offs = jget(v, "data_offsets");
        if (v->type != J_OBJECT || !dtype || !shape || !offs || dtype->type != J_STRING ||
            shape->type != J_ARRAY || offs->type != J_ARRAY) {
            s = corrupt(path, "tensor '%s' lacks dtype, shape or data_offsets", name);
            goto done;
        }
        if (strcmp(dtype->str, "F32") != 0) {
            s = corrupt(path, "tensor '%s' has dtype %s; vkt checkpoints hold F32 tensors only",
                        name, dtype->str);
            goto done;
        }
        if (shape->n > 4) {
            s = corrupt(path, "tensor '%s' has %u dimensions; vkt dicts hold at most 4", name,
                        shape->n);
            goto done;
        }
        tinfo *ti = &t[nt];
        ti->name = name;
        ti->ndim = (int)shape->n;
        ti->count = 1;
        for (uint32_t k = 0; k < shape->n; k++) {
            double dim = shape->items[k]->num;
            if (shape->items[k]->type != J_NUMBER || dim < 0 || dim != floor(dim) ||
                dim > 9e15) {
                s = corrupt(path, "tensor '%s' has a bad shape", name);
                goto done;
            }
            ti->shape[k] = (int64_t)dim;
            if (dim > 0 && ti->count > (UINT64_MAX / 8) / (uint64_t)dim) {
                s = corrupt(path, "tensor '%s' has a shape too large", name);
                goto done;
            }
            ti->count *= (uint64_t)dim;
        }
        if (offs->n != 2 || offs->items[0]->type != J_NUMBER ||
            offs->items[1]->type != J_NUMBER || offs->items[0]->num < 0 ||
            offs->items[1]->num < 0 || offs->items[0]->num != floor(offs->items[0]->num) ||
            offs->items[1]->num != floor(offs->items[1]->num)) {
            s = corrupt(path, "tensor '%s' has bad data_offsets", name);
            goto done;
        }
        double b = offs->items[0]->num, e = offs->items[1]->num;
        if (e < b || e > (double)data_size) {
            s = corrupt(path, "tensor '%s' has data_offsets [%.0f, %.0f] out of range: the data "
                              "section has %llu bytes",
                        name, b, e, (unsigned long long)data_size);
            goto done;
        }
        ti->begin = (uint64_t)b;
        ti->end = (uint64_t)e;
        if (ti->end - ti->begin != ti->count * 4) {
            s = corrupt(path, "tensor '%s' has %llu bytes of data but its shape needs %llu", name,
                        (unsigned long long)(ti->end - ti->begin),
                        (unsigned long long)(ti->count * 4));
            goto done;
        }
        sorted[nt] = ti;
        nt++;
    }
    /* as the safetensors library: data back to back in offset order, covering all the data */
    qsort(sorted, nt, sizeof *sorted, cmp_offsets);
    uint64_t at = 0;
    for (uint32_t i = 0; i < nt; i++) {
        if (sorted[i]->begin != at) {
            s = corrupt(path, "tensor '%s' starts at byte %llu of the data, expected %llu "
                              "(overlapping or gapped tensors)",
                        sorted[i]->name, (unsigned long long)sorted[i]->begin,
                        (unsigned long long)at);
            goto done;
        }
        at = sorted[i]->end;
    }
    if (at != data_size) {
        s = corrupt(path, "the data section has %llu bytes but the tensors cover %llu "
                          "(truncated or padded file)",
                    (unsigned long long)data_size, (unsigned long long)at);
        goto done;
    }
    const unsigned char *data = buf + 8 + n;
    const jval *vkt_meta = jget(meta, "vkt");
    if (!vkt_meta) {
        /* a plain safetensors file: its tensors, flat, in header order */
        for (uint32_t i = 0; i < nt && s == VKT_OK; i++) {
            float *v = read_floats(data, &t[i]);
            s = v ? vkt__dict_set_floats_owned(out, t[i].name, v, t[i].ndim, t[i].shape)
                  : vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_checkpoint_load: out of memory");
        }
        goto done;
    }
    const jval *paths_meta = jget(meta, "vkt_tensors");
    tree = jparse(vkt_meta->str, strlen(vkt_meta->str), err, sizeof err);
    if (!tree || tree->type != J_OBJECT) {
        s = corrupt(path, "bad JSON in __metadata__.vkt: %s", tree ? "not an object" : err);
        goto done;
    }
    if (!paths_meta) {
        if (nt) {
            s = corrupt(path, "__metadata__ has no vkt_tensors to place its %u tensors", nt);
            goto done;
        }
    } else {
        paths = jparse(paths_meta->str, strlen(paths_meta->str), err, sizeof err);
        if (!paths || paths->type != J_OBJECT) {
            s = corrupt(path, "bad JSON in __metadata__.vkt_tensors: %s",
                        paths ? "not an object" : err);
            goto done;
        }
        for (uint32_t i = 0; i < paths->n; i++) {
            const jval *p = paths->items[i];
            bool ok = p->type == J_ARRAY && p->n > 0 && p->n <= MAX_DEPTH;
            for (uint32_t k = 0; ok && k < p->n; k++) {
                ok = p->items[k]->type == J_STRING;
            }
            bool found = false;
            for (uint32_t k = 0; ok && k < nt && !found; k++) {
                found = strcmp(t[k].name, paths->keys[i]) == 0;
            }
            if (!ok || !found) {
                s = corrupt(path, "vkt_tensors entry '%s' is %s", paths->keys[i],
                            ok ? "not a tensor of the file" : "not a list of keys");
                goto done;
            }
        }
    }
    jval empty = {.type = J_OBJECT};
    load_ctx lc = {.path = path, .data = data, .t = t, .nt = nt,
                   .paths = paths ? paths : &empty};
    s = build_tree(&lc, tree, out, 0);
    for (uint32_t i = 0; s == VKT_OK && i < nt; i++) {
        if (!t[i].used) {
            s = corrupt(path, "tensor '%s' has no place in the metadata tree", t[i].name);
        }
    }
done:
    jfree(tree);
    jfree(paths);
    jfree(h);
    free(t);
    free(sorted);
    return s;
}

vkt_status vkt_checkpoint_load(const char *path, vkt_dict **out)
{
    if (out) {
        *out = NULL;
    }
    if (!path || !out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_checkpoint_load: %s is NULL",
                          path ? "out" : "path");
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return vkt__error(err == ENOENT ? VKT_NOT_FOUND : VKT_IO,
                          "vkt_checkpoint_load: cannot open '%s': %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return vkt__error(VKT_IO, "vkt_checkpoint_load: '%s' is not a regular file", path);
    }
    uint64_t size = (uint64_t)st.st_size;
    unsigned char *buf = vkt__malloc(size ? size : 1);
    if (!buf) {
        close(fd);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY,
                          "vkt_checkpoint_load: out of host memory reading '%s' (%llu bytes)",
                          path, (unsigned long long)size);
    }
    uint64_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got > (1u << 30) ? (1u << 30) : size - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        got += (uint64_t)r;
    }
    int err = errno;
    close(fd);
    if (got != size) {
        free(buf);
        return vkt__error(VKT_IO, "vkt_checkpoint_load: cannot read '%s': %s", path,
                          got < size ? strerror(err) : "file changed while reading");
    }
    vkt_dict *d = vkt_dict_create();
    vkt_status s = d ? parse_file(path, buf, size, d) : vkt_last_status();
    free(buf);
    if (s != VKT_OK) {
        vkt_dict_destroy(d);
        return s;
    }
    *out = d;
    return VKT_OK;
}
