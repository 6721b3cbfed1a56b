/*
 * checkpoint_format.c — the checkpoint format: a vkt_dict as a safetensors file, its JSON
 * written and parsed (strictly) with jansson, and every check a file must pass. The file I/O
 * (atomic write, reading) is checkpoint_io.c.
 *
 * Layout (https://github.com/huggingface/safetensors, the format torch users load with
 * safetensors.torch.load_file):
 *   u64 little-endian N | N bytes of JSON header, space-padded so the data starts 8-aligned |
 *   the arrays, little-endian, back to back in header order.
 * Header: {"__metadata__": {"format": "pt", "vkt_format": "2", "vkt": <tree>,
 *                           "vkt_tensors": <paths>, "vkt_crc32": <crcs>},
 *          "<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...}
 * A save writes an f32 array as F32 and an integer one (vkt_dict_set_ints: batch norm's
 * num_batches_tracked) as I64, the dtype torch's load_state_dict expects for it; a vkt file holds
 * no other dtype. A load reads every dtype of DTYPES into f32 arrays: floats exactly (F16, BF16)
 * or rounded to nearest (F64; a finite value past f32's range is an error), integers exactly up
 * to 2^24 in magnitude (beyond that an error), BOOL bytes 0 or 1; integer and BOOL tensors become
 * integer arrays, written back as I64.
 * safetensors metadata values are strings, so <tree>, <paths> and <crcs> are strings holding JSON:
 *   <tree>   the whole dict: numbers, strings and nested objects, with null where an f32 array
 *            sits;
 *   <paths>  {"<name>": ["key", "key", ...]}: the dict path of each tensor. Names are the
 *            '/'-joined path ("state_dict/0.weight"), made unique with "~N" when keys hold '/';
 *   <crcs>   {"vkt": C, "vkt_tensors": C, "tensors": {"<name>": C, ...}}: zlib's CRC-32 of the
 *            <tree> and <paths> strings (their UTF-8 bytes) and of each tensor's data bytes.
 *
 * Numbers in <tree>, the rule for any reader:
 *   - a finite number is a JSON number: an integer up to 2^53 without a fraction, anything else
 *     as %.17g (an exact round trip), -0 as -0.0;
 *   - a non-finite number is one of the strings "NaN", "Infinity", "-Infinity": strict JSON has no
 *     token for them, and every JSON parser reads a string (Python's json.loads with no
 *     parse_constant, JSON.parse, serde_json, jansson);
 *   - so that a string spelled like one of those stays a string, it is written as a list holding
 *     just it (["NaN"]); no other lists appear.
 * Files without vkt_format (written before it) spelled non-finite numbers as Python's json module
 * does (bare NaN, Infinity, -Infinity) and have no CRCs; they load as they always did
 * (legacy_to_current). A file without "vkt" metadata (any safetensors file, such as
 * safetensors.torch.save_file(model.state_dict()) writes) loads as a flat dict of its tensors.
 *
 * Integrity: each tensor's bytes are checked against their CRC-32, so a flipped data byte is
 * refused, naming the tensor. The header is covered too: it is parsed strictly and checked
 * against the safetensors rules (a flipped byte in its structure, a dtype, a shape, an offset or a
 * name breaks one of them: a damaged dtype is unknown, of another size, or one vkt never writes),
 * and the two strings that hold values a strict parse cannot doubt (a digit of an epoch, a letter
 * of a string) carry their own CRC-32.
 *
 * Every allocation of a save happens in vkt__checkpoint_encode, before checkpoint_io.c creates
 * the temporary file. Loading validates everything and every error names the file and the
 * problem.
 * Tests: tests/test_train_io.c, tests/check_safetensors.py (reads a file as safetensors does),
 * fuzz/fuzz_checkpoint.c, fuzz/fuzz_json.c.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>
#include <zlib.h>

#include "train/train_internal.h"

#define MAX_HEADER (100u * 1000u * 1000u) /* the safetensors library's limit */
#define MAX_DEPTH 200
#define FORMAT "2"
#define JSON_READ (JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL)
#define JSON_WRITE (JSON_COMPACT | JSON_REAL_PRECISION(17))
/* what a save writes first, after the 8 length bytes (this format's and the one before it) */
#define HEADER_START "{\"__metadata__\":{\"format\":\"pt\",\"vkt"

static const char *const nonfinite_words[3] = {"NaN", "Infinity", "-Infinity"};

/* The safetensors dtypes a load reads: name, bytes per element, whether integer (read into an
 * integer array, written back as I64). */
#define DTYPES(X)          \
    X(F32, 4, false)       \
    X(F64, 8, false)       \
    X(F16, 2, false)       \
    X(BF16, 2, false)      \
    X(I64, 8, true)        \
    X(I32, 4, true)        \
    X(I16, 2, true)        \
    X(I8, 1, true)         \
    X(U8, 1, true)         \
    X(BOOL, 1, true)

typedef enum st_dtype {
#define X(name, size, integer) DT_##name,
    DTYPES(X)
#undef X
    DT_COUNT
} st_dtype;

static const struct {
    const char *name;
    unsigned size;
    bool integer;
} dtypes[] = {
#define X(name, size, integer) {#name, size, integer},
    DTYPES(X)
#undef X
};
_Static_assert(sizeof dtypes / sizeof *dtypes == DT_COUNT, "one dtypes row per DTYPES entry");

static int dtype_of(const char *name)
{
    for (int i = 0; i < DT_COUNT; i++) {
        if (strcmp(name, dtypes[i].name) == 0) {
            return i;
        }
    }
    return -1;
}

/* Which of nonfinite_words `s` is; -1 if none. */
static int nonfinite_word(const char *s)
{
    for (int i = 0; i < 3; i++) {
        if (strcmp(s, nonfinite_words[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static double nonfinite_value(int word)
{
    return word == 0 ? NAN : word == 1 ? INFINITY : -INFINITY;
}

/* The JSON text of `j` in vkt's allocator (released with free()), space-padded to a multiple of
 * `align` bytes; NULL when out of memory. json_dumps is not used: jansson 2.14 ignores a failed
 * allocation while it writes an object key and returns text with the key missing. json_dumpb
 * into a buffer of the measured size allocates only for its loop check, whose failures it
 * reports. */
static char *dump_json(const json_t *j, size_t align, size_t *len)
{
    size_t n = json_dumpb(j, NULL, 0, JSON_WRITE);
    if (n == 0) {
        return NULL; /* even {} has 2 bytes */
    }
    size_t padded = (n + align - 1) / align * align;
    char *s = vkt__malloc(padded + 1);
    if (s && json_dumpb(j, s, n, JSON_WRITE) != n) {
        free(s);
        s = NULL;
    }
    if (s) {
        memset(s + n, ' ', padded - n);
        s[padded] = '\0';
        if (len) {
            *len = padded;
        }
    }
    return s;
}

static uint32_t crc_bytes(const void *p, uint64_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const Bytef *b = p;
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, k);
        b += k;
        n -= k;
    }
    return (uint32_t)c;
}

/* ---- the dict as JSON ---- */

static json_t *number_json(double v)
{
    if (isnan(v)) {
        return json_string(nonfinite_words[0]);
    }
    if (isinf(v)) {
        return json_string(nonfinite_words[v < 0 ? 2 : 1]);
    }
    if (v == floor(v) && fabs(v) <= 9007199254740992.0 && !(v == 0 && signbit(v))) {
        return json_integer((json_int_t)v);
    }
    return json_real(v);
}

static json_t *string_json(const char *s)
{
    json_t *v = json_string(s);
    if (!v || nonfinite_word(s) < 0) {
        return v;
    }
    json_t *list = json_array();
    if (!list) {
        json_decref(v);
        return NULL;
    }
    return json_array_append_new(list, v) == 0 ? list : (json_decref(list), NULL);
}

typedef struct tensor_ref {
    char *name;
    const float *data;
    bool ints; /* written as I64, else F32 */
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    uint64_t count;
} tensor_ref;

/* Walking a dict into JSON. */
typedef struct tree_out {
    bool no_tensors;     /* vkt__dict_to_json: an f32 array is an error (tensor_key) */
    const char *tensor_key;
    tensor_ref *t;       /* the arrays, their places null in the tree, paths in `paths` */
    uint32_t n, cap;
    json_t *paths;
    const char *keys[MAX_DEPTH + 1];
    const char *bad_key; /* a key or string not UTF-8, or a dict nested too deep */
    bool oom;
} tree_out;

static bool name_taken(const tree_out *c, const char *name)
{
    for (uint32_t i = 0; i < c->n; i++) {
        if (strcmp(c->t[i].name, name) == 0) {
            return true;
        }
    }
    return strcmp(name, "__metadata__") == 0;
}

/* Records the f32 array at keys[0..depth] as a tensor of the file; false when out of memory. */
static bool add_tensor(tree_out *c, const vkt__dict_entry *e, int depth)
{
    vkt__sbuf name = {0};
    json_t *path = json_array();
    for (int k = 0; k <= depth; k++) {
        if (k) {
            vkt__sb_putc(&name, '/');
        }
        vkt__sb_puts(&name, c->keys[k]);
        if (path && json_array_append_new(path, json_string(c->keys[k])) != 0) {
            json_decref(path);
            path = NULL;
        }
    }
    size_t base = name.len;
    for (int dup = 1; !name.oom && name_taken(c, name.p); dup++) {
        char suffix[24];
        snprintf(suffix, sizeof suffix, "~%d", dup);
        name.len = base;
        vkt__sb_puts(&name, suffix);
    }
    bool ok = !name.oom && path && vkt__grow((void **)&c->t, &c->cap, c->n + 1, sizeof *c->t);
    if (!ok) {
        json_decref(path);
    }
    /* json_object_set_new takes `path` even when it fails */
    if (!ok || json_object_set_new(c->paths, name.p, path) != 0) {
        free(name.p);
        return false;
    }
    tensor_ref *t = &c->t[c->n++];
    t->name = name.p;
    t->data = e->floats;
    t->ints = e->ints;
    t->ndim = e->ndim;
    memcpy(t->shape, e->shape, sizeof t->shape);
    t->count = e->count;
    return true;
}

/* The dict as a JSON object; NULL with c->oom or c->bad_key set. */
static json_t *tree_json(tree_out *c, const vkt_dict *d, int depth)
{
    json_t *o = json_object();
    if (!o) {
        c->oom = true;
        return NULL;
    }
    for (uint32_t i = 0; i < vkt_dict_count(d); i++) {
        vkt__dict_entry e = vkt__dict_at(d, i);
        /* jansson refuses strings that are not UTF-8 with NULL, which would read as out of memory:
         * checked first so the error can say what is wrong */
        if (!vkt__utf8_valid(e.key) ||
            (e.kind == VKT__DICT_STRING && !vkt__utf8_valid(e.string)) ||
            (e.kind == VKT__DICT_CHILD && depth + 1 >= MAX_DEPTH)) {
            c->bad_key = e.key;
            break;
        }
        c->keys[depth] = e.key;
        json_t *v = NULL;
        switch (e.kind) {
        case VKT__DICT_NUMBER:
            v = number_json(e.number);
            break;
        case VKT__DICT_STRING:
            v = string_json(e.string);
            break;
        case VKT__DICT_CHILD:
            v = tree_json(c, e.child, depth + 1);
            break;
        case VKT__DICT_FLOATS:
            if (c->no_tensors) {
                c->tensor_key = e.key;
            } else {
                v = add_tensor(c, &e, depth) ? json_null() : NULL;
            }
            break;
        default:
            continue;
        }
        if (!v) {
            c->oom = c->oom || (!c->bad_key && !c->tensor_key);
            break;
        }
        if (json_object_set_new(o, e.key, v) != 0) {
            c->oom = true;
            break;
        }
    }
    if (c->oom || c->bad_key || c->tensor_key) {
        json_decref(o);
        return NULL;
    }
    return o;
}

char *vkt__dict_to_json(const vkt_dict *d)
{
    tree_out c = {.no_tensors = true};
    json_t *j = tree_json(&c, d, 0);
    char *s = j ? dump_json(j, 1, NULL) : NULL;
    json_decref(j);
    if (!s) {
        if (c.tensor_key) {
            vkt__error(VKT_INVALID_ARGUMENT, "vkt_dict: '%s' holds an f32 array; JSON text holds "
                                             "numbers, strings and dicts only",
                       c.tensor_key);
        } else if (c.bad_key) {
            vkt__error(VKT_INVALID_ARGUMENT, "vkt_dict: key or string '%s' is not UTF-8 or nests "
                                             "deeper than %d: JSON cannot hold it",
                       c.bad_key, MAX_DEPTH);
        } else {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_dict: out of host memory writing JSON");
        }
    }
    return s;
}

/* ---- JSON to the dict ---- */

static vkt_status corrupt(const char *where, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static vkt_status corrupt(const char *where, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vkt__error(VKT_CORRUPT_FILE, "%s: %s", where, msg);
}

/* jansson 2.14's parser does not survive a failed allocation: its lexer drops the character it
 * could not save (lex_save ignores strbuffer_append_byte's result) and then asserts, reads past
 * the string or decodes it short. So a parse runs with an allocation function that remembers a
 * failure and retries once through the one installed, and a parse that saw a failure is out of
 * memory whatever jansson returned. vkt is single-threaded on the host; the functions installed
 * before are back when parse_json returns. */
static json_malloc_t parse_malloc;
static bool parse_alloc_failed;

static void *guarded_malloc(size_t n)
{
    void *p = parse_malloc(n);
    if (!p) {
        parse_alloc_failed = true;
        p = parse_malloc(n);
    }
    return p;
}

/* Parses JSON text strictly (no NaN tokens, no duplicate keys, nothing after the value); NULL
 * with the error set: out of memory, or corrupt naming `what`. */
static json_t *parse_json(const char *where, const char *what, const char *s, size_t n)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    parse_malloc = m;
    parse_alloc_failed = false;
    json_set_alloc_funcs(guarded_malloc, f);
    json_error_t err;
    json_t *j = json_loadb(s, n, JSON_READ, &err);
    json_set_alloc_funcs(m, f);
    if (parse_alloc_failed || (!j && json_error_code(&err) == json_error_out_of_memory)) {
        json_decref(j);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory parsing %s", where, what);
        return NULL;
    }
    if (!j) {
        corrupt(where, "bad JSON in %s: %s at byte %d", what, err.text, err.position);
    }
    return j;
}

/* A file's tensor, from its header. */
typedef struct tinfo {
    const char *name;
    st_dtype dt;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    uint64_t begin, end, count;
    bool used;
} tinfo;

/* Building a dict from its JSON tree. */
typedef struct tree_in {
    const char *where; /* "vkt_checkpoint_load: '<path>'", for messages */
    const unsigned char *data;
    tinfo *t;
    uint32_t nt;
    json_t *paths; /* vkt_tensors: where each tensor sits; NULL when there are none */
    const char *keys[MAX_DEPTH + 1];
} tree_in;

static uint64_t get_le(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;) {
        v = v << 8 | p[i];
    }
    return v;
}

/* IEEE half precision, exactly (every F16 value is an f32 value). */
static float f16_value(uint32_t h)
{
    uint32_t e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 31) { /* inf / NaN, payload kept */
        uint32_t u = (h & 0x8000u) << 16 | 0x7f800000u | m << 13;
        memcpy(&v, &u, 4);
        return v;
    }
    v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m | 1024), (int)e - 25);
    return h & 0x8000u ? -v : v;
}

/* Tensor `t` of the file as a new f32 array (*out, NULL for an error, which names the tensor
 * and the element f32 cannot hold). */
static vkt_status read_values(const char *where, const unsigned char *data, const tinfo *t,
                              float **out)
{
    float *v = vkt__malloc(t->count ? t->count * sizeof(float) : 1);
    *out = NULL;
    if (!v) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory for tensor '%s'", where,
                          t->name);
    }
    const unsigned size = dtypes[t->dt].size;
    const unsigned char *p = data + t->begin;
    for (uint64_t i = 0; i < t->count; i++, p += size) {
        uint64_t u = get_le(p, size);
        int64_t k = 0;
        switch (t->dt) {
        case DT_F32: {
            uint32_t w = (uint32_t)u;
            memcpy(&v[i], &w, 4);
            continue;
        }
        case DT_F64: {
            double d;
            memcpy(&d, &u, 8);
            v[i] = (float)d;
            if (isinf(v[i]) && isfinite(d)) {
                free(v);
                return corrupt(where, "tensor '%s' (F64) element %llu is %g, past f32's range "
                                      "(vkt arrays are f32)",
                               t->name, (unsigned long long)i, d);
            }
            continue;
        }
        case DT_F16:
            v[i] = f16_value((uint32_t)u);
            continue;
        case DT_BF16: {
            uint32_t w = (uint32_t)u << 16;
            memcpy(&v[i], &w, 4);
            continue;
        }
        case DT_I64:
            memcpy(&k, &u, 8);
            break;
        case DT_I32:
            k = (int32_t)(uint32_t)u;
            break;
        case DT_I16:
            k = (int16_t)(uint16_t)u;
            break;
        case DT_I8:
            k = (int8_t)(uint8_t)u;
            break;
        case DT_U8:
            k = (int64_t)u;
            break;
        case DT_BOOL:
            if (u > 1) {
                free(v);
                return corrupt(where, "tensor '%s' (BOOL) element %llu is byte %u; BOOL bytes "
                                      "are 0 or 1",
                               t->name, (unsigned long long)i, (unsigned)u);
            }
            k = (int64_t)u;
            break;
        default:
            break;
        }
        if (k > VKT__F32_EXACT_INT || k < -VKT__F32_EXACT_INT) {
            free(v);
            return corrupt(where, "tensor '%s' (%s) element %llu is %lld, past 2^24 in "
                                  "magnitude: vkt arrays are f32, which cannot hold it exactly",
                           t->name, dtypes[t->dt].name, (unsigned long long)i, (long long)k);
        }
        v[i] = (float)k;
    }
    *out = v;
    return VKT_OK;
}

/* The tensor whose recorded path is keys[0..depth]; NULL if none. */
static tinfo *tensor_at(tree_in *c, int depth)
{
    const char *name;
    json_t *p;
    json_object_foreach(c->paths, name, p) {
        if (json_array_size(p) != (size_t)depth + 1) {
            continue;
        }
        bool same = true;
        for (int k = 0; k <= depth && same; k++) {
            same = strcmp(json_string_value(json_array_get(p, (size_t)k)), c->keys[k]) == 0;
        }
        for (uint32_t k = 0; same && k < c->nt; k++) {
            if (strcmp(c->t[k].name, name) == 0) {
                return &c->t[k];
            }
        }
    }
    return NULL;
}

static vkt_status tree_from_json(tree_in *c, json_t *obj, vkt_dict *d, int depth)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        c->keys[depth] = key;
        vkt_status s = VKT_OK;
        switch (json_typeof(v)) {
        case JSON_INTEGER:
        case JSON_REAL:
            s = vkt_dict_set_number(d, key, json_number_value(v));
            break;
        case JSON_STRING: {
            int w = nonfinite_word(json_string_value(v));
            s = w >= 0 ? vkt_dict_set_number(d, key, nonfinite_value(w))
                       : vkt_dict_set_string(d, key, json_string_value(v));
            break;
        }
        case JSON_ARRAY: {
            json_t *only = json_array_get(v, 0);
            if (json_array_size(v) != 1 || !json_is_string(only) ||
                nonfinite_word(json_string_value(only)) < 0) {
                return corrupt(c->where, "metadata value '%s' is a list; vkt dicts hold numbers, "
                                         "strings, dicts and tensors (the one list is [\"NaN\"] "
                                         "and the like: a string spelled as a number)",
                               key);
            }
            s = vkt_dict_set_string(d, key, json_string_value(only));
            break;
        }
        case JSON_OBJECT: {
            if (depth + 1 >= MAX_DEPTH) {
                return corrupt(c->where, "metadata tree nests deeper than %d", MAX_DEPTH);
            }
            vkt_dict *child = vkt_dict_child(d, key);
            s = child ? tree_from_json(c, v, child, depth + 1) : vkt_last_status();
            break;
        }
        case JSON_NULL: {
            tinfo *t = c->paths ? tensor_at(c, depth) : NULL;
            if (!t) {
                return corrupt(c->where, "the metadata tree has a tensor at '%s' (depth %d) but "
                                         "vkt_tensors names none there",
                               key, depth);
            }
            if (t->used) {
                return corrupt(c->where, "tensor '%s' is placed twice", t->name);
            }
            t->used = true;
            float *data;
            s = read_values(c->where, c->data, t, &data);
            if (s == VKT_OK) {
                s = vkt__dict_set_floats_owned(d, key, data, t->ndim, t->shape,
                                               dtypes[t->dt].integer);
            }
            break;
        }
        default:
            return corrupt(c->where, "metadata value '%s' is a boolean; vkt dicts hold numbers, "
                                     "strings, dicts and tensors",
                           key);
        }
        if (s != VKT_OK) {
            return s;
        }
    }
    return VKT_OK;
}

/* Files before vkt_format spelled non-finite numbers as bare NaN, Infinity and -Infinity, which
 * strict JSON refuses, and strings spelled so as plain strings. Rewrites both into this format's
 * spelling ("NaN", ["NaN"]) so one parser reads both. That writer put these words in strings
 * verbatim (no \u escapes), so the raw text is enough to recognise them; keys stay as they are. */
static char *legacy_to_current(const char *s, size_t n)
{
    vkt__sbuf b = {0};
    vkt__sb_puts(&b, "");
    size_t i = 0;
    while (i < n && !b.oom) {
        if (s[i] == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"') {
                j += s[j] == '\\' ? 2 : 1;
            }
            if (j >= n) { /* unterminated: the parser says so */
                vkt__sb_putn(&b, s + i, n - i);
                break;
            }
            j++;
            size_t k = j;
            while (k < n && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r')) {
                k++;
            }
            bool word = false;
            for (int w = 0; w < 3 && !(k < n && s[k] == ':'); w++) {
                size_t len = strlen(nonfinite_words[w]);
                word |= j - i - 2 == len && memcmp(s + i + 1, nonfinite_words[w], len) == 0;
            }
            if (word) {
                vkt__sb_putc(&b, '[');
            }
            vkt__sb_putn(&b, s + i, j - i);
            if (word) {
                vkt__sb_putc(&b, ']');
            }
            i = j;
            continue;
        }
        bool word = false;
        for (int w = 0; w < 3 && !word; w++) {
            size_t len = strlen(nonfinite_words[w]);
            if (n - i >= len && memcmp(s + i, nonfinite_words[w], len) == 0) {
                vkt__sb_putc(&b, '"');
                vkt__sb_putn(&b, s + i, len);
                vkt__sb_putc(&b, '"');
                i += len;
                word = true;
            }
        }
        if (!word) {
            vkt__sb_putc(&b, s[i++]);
        }
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* Parses the tree text `what` (legacy: written before vkt_format) into `out`. */
static vkt_status parse_tree(tree_in *c, const char *what, const char *text, size_t n, bool legacy,
                             vkt_dict *out)
{
    char *conv = NULL;
    if (legacy) {
        conv = legacy_to_current(text, n);
        if (!conv) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory reading %s",
                              c->where, what);
        }
        text = conv;
        n = strlen(conv);
    }
    json_t *tree = parse_json(c->where, what, text, n);
    free(conv);
    if (!tree) {
        return vkt_last_status();
    }
    vkt_status s = json_is_object(tree) ? tree_from_json(c, tree, out, 0)
                                        : corrupt(c->where, "bad JSON in %s: not an object", what);
    json_decref(tree);
    return s;
}

vkt_status vkt__dict_from_json(const char *json, size_t n, bool legacy, vkt_dict **out)
{
    *out = NULL;
    vkt_dict *d = vkt_dict_create();
    if (!d) {
        return vkt_last_status();
    }
    tree_in c = {.where = "vkt__dict_from_json"};
    vkt_status s = parse_tree(&c, "the JSON", json, n, legacy, d);
    if (s != VKT_OK) {
        vkt_dict_destroy(d);
        return s;
    }
    *out = d;
    return VKT_OK;
}

/* ---- save ---- */

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

/* Bytes of one element of `t` in the file. */
static unsigned tensor_elem_size(const tensor_ref *t) { return t->ints ? 8 : 4; }

#define CHUNK 512 /* elements encoded at a time: the writer allocates nothing */

/* Elements [i, i + n) of `t` (n <= CHUNK) as the file holds them (little-endian F32 or I64) into
 * `b`; their byte count. */
static size_t encode_chunk(const tensor_ref *t, uint64_t i, size_t n, unsigned char *b)
{
    unsigned size = tensor_elem_size(t);
    for (size_t k = 0; k < n; k++) {
        uint64_t u;
        if (t->ints) {
            int64_t x = (int64_t)t->data[i + k]; /* an integer of magnitude <= 2^24 */
            memcpy(&u, &x, 8);
        } else {
            uint32_t w;
            memcpy(&w, &t->data[i + k], 4);
            u = w;
        }
        for (unsigned j = 0; j < size; j++) {
            b[k * size + j] = (unsigned char)(u >> (8 * j));
        }
    }
    return n * size;
}

/* The CRC-32 of `t`'s bytes in the file. */
static uint32_t crc_tensor(const tensor_ref *t)
{
    unsigned char b[CHUNK * 8];
    uLong c = crc32(0L, Z_NULL, 0);
    for (uint64_t i = 0; i < t->count; i += CHUNK) {
        size_t n = (size_t)VKT__MIN(t->count - i, (uint64_t)CHUNK);
        c = crc32(c, b, (uInt)encode_chunk(t, i, n, b));
    }
    return (uint32_t)c;
}

static bool write_tensor(FILE *f, const tensor_ref *t)
{
    unsigned char b[CHUNK * 8];
    for (uint64_t i = 0; i < t->count; i += CHUNK) {
        size_t n = (size_t)VKT__MIN(t->count - i, (uint64_t)CHUNK);
        size_t bytes = encode_chunk(t, i, n, b);
        if (fwrite(b, 1, bytes, f) != bytes) {
            return false;
        }
    }
    return true;
}

/* One tensor's header entry. */
static json_t *tensor_entry(const tensor_ref *t, uint64_t begin)
{
    json_t *shape = json_array();
    for (int k = 0; shape && k < t->ndim; k++) {
        if (json_array_append_new(shape, json_integer((json_int_t)t->shape[k])) != 0) {
            json_decref(shape);
            shape = NULL;
        }
    }
    /* "o" takes `shape`, also when json_pack fails */
    return shape ? json_pack("{s:s,s:o,s:[I,I]}", "dtype", t->ints ? "I64" : "F32", "shape",
                             shape, "data_offsets", (json_int_t)begin,
                             (json_int_t)(begin + t->count * tensor_elem_size(t)))
                 : NULL;
}

/* The header, space-padded to a multiple of 8 bytes; NULL with c->oom or c->bad_key set. */
static char *build_header(const vkt_dict *ckpt, tree_out *c, size_t *len)
{
    char *tree_s = NULL, *paths_s = NULL, *crc_s = NULL, *out = NULL;
    json_t *tree = NULL, *tcrc = NULL, *crcs = NULL, *header = NULL;
    c->paths = json_object();
    tree = c->paths ? tree_json(c, ckpt, 0) : NULL;
    if (!tree) {
        goto done;
    }
    tree_s = dump_json(tree, 1, NULL);
    paths_s = dump_json(c->paths, 1, NULL);
    tcrc = json_object();
    bool ok = tree_s && paths_s && tcrc;
    for (uint32_t i = 0; ok && i < c->n; i++) {
        json_t *v = json_integer(crc_tensor(&c->t[i]));
        ok = json_object_set_new(tcrc, c->t[i].name, v) == 0;
    }
    crcs = ok ? json_pack("{s:I,s:I,s:O}", "vkt", (json_int_t)crc_bytes(tree_s, strlen(tree_s)),
                          "vkt_tensors", (json_int_t)crc_bytes(paths_s, strlen(paths_s)),
                          "tensors", tcrc)
              : NULL;
    crc_s = crcs ? dump_json(crcs, 1, NULL) : NULL;
    /* "format" first: HEADER_START */
    json_t *meta = crc_s ? json_pack("{s:s,s:s,s:s,s:s,s:s}", "format", "pt", "vkt_format",
                                     FORMAT, "vkt", tree_s, "vkt_tensors", paths_s, "vkt_crc32",
                                     crc_s)
                         : NULL;
    header = meta ? json_object() : NULL;
    ok = header && json_object_set_new(header, "__metadata__", meta) == 0;
    if (!header) {
        json_decref(meta);
    }
    uint64_t off = 0;
    for (uint32_t i = 0; ok && i < c->n; i++) {
        ok = json_object_set_new(header, c->t[i].name, tensor_entry(&c->t[i], off)) == 0;
        off += c->t[i].count * tensor_elem_size(&c->t[i]);
    }
    /* padded with spaces so the data starts 8-byte aligned (8 + N a multiple of 8) */
    out = ok ? dump_json(header, 8, len) : NULL;
done:
    c->oom = !out && !c->bad_key;
    free(tree_s);
    free(paths_s);
    free(crc_s);
    json_decref(tree);
    json_decref(tcrc);
    json_decref(crcs);
    json_decref(header);
    return out;
}

static void free_ctx(tree_out *c)
{
    for (uint32_t i = 0; i < c->n; i++) {
        free(c->t[i].name);
    }
    free(c->t);
    json_decref(c->paths);
}

/* ---- encoding a checkpoint ---- */

struct vkt__ckpt_image {
    tree_out c;
    char *header;
    size_t hlen;
};

vkt_status vkt__checkpoint_encode(const vkt_dict *ckpt, const char *path, vkt__ckpt_image **out)
{
    *out = NULL;
    vkt__ckpt_image *im = vkt__calloc(1, sizeof *im);
    if (!im) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_checkpoint_save: '%s': out of host memory",
                          path);
    }
    im->header = build_header(ckpt, &im->c, &im->hlen);
    vkt_status s = VKT_OK;
    if (!im->header) {
        if (im->c.bad_key) {
            s = vkt__error(VKT_INVALID_ARGUMENT,
                           "vkt_checkpoint_save: '%s': key or string '%s' is not valid UTF-8 or "
                           "nests deeper than %d (safetensors headers are UTF-8 JSON)",
                           path, im->c.bad_key, MAX_DEPTH);
        } else {
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_checkpoint_save: '%s': out of host memory",
                           path);
        }
    } else if (im->hlen > MAX_HEADER) {
        s = vkt__error(VKT_TOO_LARGE,
                       "vkt_checkpoint_save: '%s': the header would be %zu bytes; safetensors "
                       "allows %u",
                       path, im->hlen, MAX_HEADER);
    }
    if (s != VKT_OK) {
        vkt__checkpoint_image_free(im);
        return s;
    }
    *out = im;
    return VKT_OK;
}

bool vkt__checkpoint_write(FILE *f, void *image)
{
    const vkt__ckpt_image *im = image;
    unsigned char len8[8];
    put_u64le(len8, im->hlen);
    bool ok = fwrite(len8, 1, 8, f) == 8 && fwrite(im->header, 1, im->hlen, f) == im->hlen;
    for (uint32_t i = 0; ok && i < im->c.n; i++) {
        ok = write_tensor(f, &im->c.t[i]);
    }
    return ok;
}

void vkt__checkpoint_image_free(vkt__ckpt_image *im)
{
    if (!im) {
        return;
    }
    free(im->header);
    free_ctx(&im->c);
    free(im);
}

bool vkt__checkpoint_starts_like(const unsigned char *head, size_t n)
{
    /* 8 length bytes, then the header's fixed start, compared as far as the file goes */
    if (n > 0 && n <= 8) {
        return false;
    }
    size_t cmp = n == 0 ? 0 : VKT__MIN(n - 8, sizeof HEADER_START - 1);
    return memcmp(head + 8, HEADER_START, cmp) == 0;
}

/* ---- load ---- */

static int cmp_offsets(const void *a, const void *b)
{
    const tinfo *x = *(const tinfo *const *)a, *y = *(const tinfo *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static bool crc_value(const json_t *v, uint32_t *out)
{
    double d = json_number_value(v);
    if (!json_is_number(v) || d < 0 || d > 4294967295.0 || d != floor(d)) {
        return false;
    }
    *out = (uint32_t)d;
    return true;
}

/* Checks __metadata__.vkt_crc32 against the tree, the paths and every tensor's bytes. */
static vkt_status check_crcs(const char *where, const json_t *meta, const unsigned char *data,
                             const tinfo *t, uint32_t nt)
{
    const char *text = json_string_value(json_object_get(meta, "vkt_crc32"));
    json_t *crcs = parse_json(where, "__metadata__.vkt_crc32", text, strlen(text));
    if (!crcs) {
        return vkt_last_status();
    }
    vkt_status s = VKT_OK;
    json_t *tc = json_object_get(crcs, "tensors");
    if (!json_is_object(tc)) {
        s = corrupt(where, "__metadata__.vkt_crc32 is not {\"vkt\": C, \"vkt_tensors\": C, "
                           "\"tensors\": {...}}");
        goto done;
    }
    static const char *const keys[2] = {"vkt", "vkt_tensors"};
    for (int k = 0; k < 2; k++) {
        const char *v = json_string_value(json_object_get(meta, keys[k]));
        uint32_t want, got;
        if (!v) {
            s = corrupt(where, "__metadata__ has no %s", keys[k]);
            goto done;
        }
        if (!crc_value(json_object_get(crcs, keys[k]), &want)) {
            s = corrupt(where, "__metadata__.vkt_crc32 has no CRC-32 for %s", keys[k]);
            goto done;
        }
        got = crc_bytes(v, strlen(v));
        if (got != want) {
            s = corrupt(where, "__metadata__.%s fails its CRC-32 check (stored %08x, now %08x): "
                               "the header is damaged",
                        keys[k], want, got);
            goto done;
        }
    }
    for (uint32_t i = 0; i < nt; i++) {
        uint32_t want, got;
        if (!crc_value(json_object_get(tc, t[i].name), &want)) {
            s = corrupt(where, "tensor '%s' has no CRC-32 in __metadata__.vkt_crc32", t[i].name);
            goto done;
        }
        got = crc_bytes(data + t[i].begin, t[i].end - t[i].begin);
        if (got != want) {
            s = corrupt(where, "tensor '%s' fails its CRC-32 check (stored %08x, data %08x): the "
                               "file is damaged",
                        t[i].name, want, got);
            goto done;
        }
    }
    if (json_object_size(tc) != nt) {
        s = corrupt(where, "__metadata__.vkt_crc32 names tensors the file does not have");
    }
done:
    json_decref(crcs);
    return s;
}

/* vkt_tensors: {"<name>": ["key", ...]} naming tensors of the file; NULL with the error set. */
static json_t *parse_paths(const char *where, const char *text, const tinfo *t, uint32_t nt)
{
    json_t *paths = parse_json(where, "__metadata__.vkt_tensors", text, strlen(text));
    if (paths && !json_is_object(paths)) {
        corrupt(where, "bad JSON in __metadata__.vkt_tensors: not an object");
        json_decref(paths);
        return NULL;
    }
    const char *name;
    json_t *p;
    json_object_foreach(paths, name, p) {
        bool ok = json_is_array(p) && json_array_size(p) > 0 && json_array_size(p) <= MAX_DEPTH;
        for (size_t k = 0; ok && k < json_array_size(p); k++) {
            ok = json_is_string(json_array_get(p, k));
        }
        bool found = false;
        for (uint32_t k = 0; ok && k < nt && !found; k++) {
            found = strcmp(t[k].name, name) == 0;
        }
        if (!ok || !found) {
            corrupt(where, "vkt_tensors entry '%s' is %s", name,
                    ok ? "not a tensor of the file" : "not a list of keys");
            json_decref(paths);
            return NULL;
        }
    }
    return paths;
}

/* One tensor's header entry into `ti`. */
static vkt_status read_tensor_info(const char *where, const char *name, const json_t *v,
                                   uint64_t data_size, tinfo *ti)
{
    const json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape");
    const json_t *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offs)) {
        return corrupt(where, "tensor '%s' lacks dtype, shape or data_offsets", name);
    }
    int dt = dtype_of(json_string_value(dtype));
    if (dt < 0) {
        return corrupt(where, "tensor '%s' has dtype %s; vkt reads F32, F64, F16, BF16, I64, I32, "
                              "I16, I8, U8 and BOOL",
                       name, json_string_value(dtype));
    }
    if (json_array_size(shape) > VKT_MAX_DIMS) {
        return corrupt(where, "tensor '%s' has %zu dimensions; vkt dicts hold at most %d", name,
                       json_array_size(shape), VKT_MAX_DIMS);
    }
    ti->name = name;
    ti->dt = (st_dtype)dt;
    ti->ndim = (int)json_array_size(shape);
    ti->count = 1;
    for (int k = 0; k < ti->ndim; k++) {
        const json_t *x = json_array_get(shape, (size_t)k);
        double dim = json_number_value(x);
        if (!json_is_number(x) || dim < 0 || dim != floor(dim) || dim > 9e15) {
            return corrupt(where, "tensor '%s' has a bad shape", name);
        }
        ti->shape[k] = (int64_t)dim;
        if (dim > 0 && ti->count > (UINT64_MAX / 8) / (uint64_t)dim) {
            return corrupt(where, "tensor '%s' has a shape too large", name);
        }
        ti->count *= (uint64_t)dim;
    }
    const json_t *b0 = json_array_get(offs, 0), *e0 = json_array_get(offs, 1);
    double b = json_number_value(b0), e = json_number_value(e0);
    if (json_array_size(offs) != 2 || !json_is_number(b0) || !json_is_number(e0) || b < 0 ||
        e < 0 || b != floor(b) || e != floor(e)) {
        return corrupt(where, "tensor '%s' has bad data_offsets", name);
    }
    if (e < b || e > (double)data_size) {
        return corrupt(where, "tensor '%s' has data_offsets [%.0f, %.0f] out of range: the data "
                              "section has %llu bytes",
                       name, b, e, (unsigned long long)data_size);
    }
    ti->begin = (uint64_t)b;
    ti->end = (uint64_t)e;
    uint64_t need = ti->count * dtypes[dt].size; /* the shape check keeps it below 2^64 */
    if (ti->end - ti->begin != need) {
        return corrupt(where, "tensor '%s' has %llu bytes of data but its shape needs %llu (%s)",
                       name, (unsigned long long)(ti->end - ti->begin),
                       (unsigned long long)need, dtypes[dt].name);
    }
    return VKT_OK;
}

static vkt_status parse_file(const char *path, const unsigned char *buf, uint64_t size,
                             vkt_dict *out)
{
    char where[4200];
    snprintf(where, sizeof where, "vkt_checkpoint_load: '%s'", path);
    if (size < 8) {
        return corrupt(where, "truncated: %llu bytes, but a safetensors file starts with an "
                              "8-byte header length",
                       (unsigned long long)size);
    }
    uint64_t n = get_u64le(buf);
    if (n > MAX_HEADER) {
        return corrupt(where, "header length %llu is larger than the %u bytes safetensors allows "
                              "(not a safetensors file?)",
                       (unsigned long long)n, MAX_HEADER);
    }
    if (n > size - 8) {
        return corrupt(where, "header length %llu runs past the end of the file (%llu bytes): "
                              "truncated or not a safetensors file",
                       (unsigned long long)n, (unsigned long long)size);
    }
    const char *hs = (const char *)buf + 8;
    if (n == 0 || hs[0] != '{') {
        return corrupt(where, "the header does not start with '{' (not a safetensors file?)");
    }
    json_t *h = parse_json(where, "the header", hs, n);
    if (!h) {
        return vkt_last_status();
    }
    vkt_status s = VKT_OK;
    json_t *paths = NULL;
    tinfo *t = NULL;
    tinfo **sorted = NULL;
    uint32_t nt = 0;
    const uint64_t data_size = size - 8 - n;
    const unsigned char *data = buf + 8 + n;
    size_t nh = json_object_size(h);
    t = vkt__calloc(nh ? nh : 1, sizeof *t);
    sorted = vkt__calloc(nh ? nh : 1, sizeof *sorted);
    if (!t || !sorted) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory", where);
        goto done;
    }
    const json_t *meta = NULL;
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v) {
        if (strcmp(name, "__metadata__") == 0) {
            meta = v;
            if (!json_is_object(v)) {
                s = corrupt(where, "__metadata__ is not an object");
                goto done;
            }
            const char *k;
            json_t *x;
            json_object_foreach(v, k, x) {
                if (!json_is_string(x)) {
                    s = corrupt(where, "__metadata__ value '%s' is not a string", k);
                    goto done;
                }
            }
            continue;
        }
        s = read_tensor_info(where, name, v, data_size, &t[nt]);
        if (s != VKT_OK) {
            goto done;
        }
        sorted[nt] = &t[nt];
        nt++;
    }
    /* as the safetensors library: data back to back in offset order, covering all the data */
    qsort(sorted, nt, sizeof *sorted, cmp_offsets);
    uint64_t at = 0;
    for (uint32_t i = 0; i < nt; i++) {
        if (sorted[i]->begin != at) {
            s = corrupt(where, "tensor '%s' starts at byte %llu of the data, expected %llu "
                               "(overlapping or gapped tensors)",
                        sorted[i]->name, (unsigned long long)sorted[i]->begin,
                        (unsigned long long)at);
            goto done;
        }
        at = sorted[i]->end;
    }
    if (at != data_size) {
        s = corrupt(where, "the data section has %llu bytes but the tensors cover %llu "
                           "(truncated or padded file)",
                    (unsigned long long)data_size, (unsigned long long)at);
        goto done;
    }
    const char *tree_s = json_string_value(json_object_get(meta, "vkt"));
    const char *format = json_string_value(json_object_get(meta, "vkt_format"));
    bool has_crcs = json_object_get(meta, "vkt_crc32") != NULL;
    if (!tree_s) {
        if (format || has_crcs) {
            s = corrupt(where, "__metadata__ has vkt_format or vkt_crc32 but no vkt");
            goto done;
        }
        /* a plain safetensors file: its tensors, flat, in header order */
        for (uint32_t i = 0; i < nt && s == VKT_OK; i++) {
            float *f;
            s = read_values(where, data, &t[i], &f);
            if (s == VKT_OK) {
                s = vkt__dict_set_floats_owned(out, t[i].name, f, t[i].ndim, t[i].shape,
                                               dtypes[t[i].dt].integer);
            }
        }
        goto done;
    }
    if (format && strcmp(format, FORMAT) != 0) {
        s = corrupt(where, "vkt_format is \"%s\"; this vkt reads format " FORMAT
                           " (and the files before it)",
                    format);
        goto done;
    }
    if (!format != !has_crcs) {
        s = corrupt(where, "__metadata__ has %s", format ? "vkt_format but no vkt_crc32"
                                                          : "vkt_crc32 but no vkt_format");
        goto done;
    }
    /* vkt wrote it: F32 and I64 only (F32 only before vkt_format), so a damaged dtype that
     * names another dtype of the same size is refused too */
    for (uint32_t i = 0; i < nt; i++) {
        if (t[i].dt != DT_F32 && (t[i].dt != DT_I64 || !format)) {
            s = corrupt(where, "tensor '%s' has dtype %s, which vkt never writes (a vkt checkpoint "
                               "holds %s tensors)",
                        t[i].name, dtypes[t[i].dt].name, format ? "F32 and I64" : "F32");
            goto done;
        }
    }
    if (has_crcs) {
        s = check_crcs(where, meta, data, t, nt);
        if (s != VKT_OK) {
            goto done;
        }
    }
    const char *paths_s = json_string_value(json_object_get(meta, "vkt_tensors"));
    if (!paths_s && nt) {
        s = corrupt(where, "__metadata__ has no vkt_tensors to place its %u tensors", nt);
        goto done;
    }
    if (paths_s) {
        paths = parse_paths(where, paths_s, t, nt);
        if (!paths) {
            s = vkt_last_status();
            goto done;
        }
    }
    tree_in tc = {.where = where, .data = data, .t = t, .nt = nt, .paths = paths};
    s = parse_tree(&tc, "__metadata__.vkt", tree_s, strlen(tree_s), !format, out);
    for (uint32_t i = 0; s == VKT_OK && i < nt; i++) {
        if (!t[i].used) {
            s = corrupt(where, "tensor '%s' has no place in the metadata tree", t[i].name);
        }
    }
done:
    json_decref(paths);
    json_decref(h);
    free(t);
    free(sorted);
    return s;
}

vkt_status vkt__checkpoint_decode(const char *path, const unsigned char *buf, uint64_t size,
                                  vkt_dict **out)
{
    *out = NULL;
    vkt_dict *d = vkt_dict_create();
    vkt_status s = d ? parse_file(path, buf, size, d) : vkt_last_status();
    if (s != VKT_OK) {
        vkt_dict_destroy(d);
        return s;
    }
    *out = d;
    return VKT_OK;
}
