/*
 * dict.c — vkt_dict: a small ordered dictionary of numbers, strings, nested dictionaries and f32
 * arrays (checkpoints, callback state, hyper-parameters). Keys are copied; setting an existing
 * key replaces its value in place (Python dict order). An array set by vkt_dict_set_ints (or read
 * from an integer tensor) holds integers exactly representable in f32 and is tagged so that a
 * checkpoint writes it as I64, torch's dtype for integer buffers. Written to disk by checkpoint_format.c; tests in
 * tests/test_train_io.c.
 */
#include <math.h>
#include <string.h>

#include "train/train_internal.h"

typedef struct entry {
    char *key;
    vkt__dict_kind kind;
    double number;
    char *string;
    vkt_dict *child;
    float *floats;
    bool ints;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    uint64_t count;
} entry;

struct vkt_dict {
    entry *e;
    uint32_t count, cap;
};

static void entry_clear(entry *x)
{
    free(x->string);
    vkt_dict_destroy(x->child);
    free(x->floats);
    x->string = NULL;
    x->child = NULL;
    x->floats = NULL;
}

vkt_dict *vkt_dict_create(void)
{
    vkt_dict *d = vkt__calloc(1, sizeof *d);
    if (!d) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_dict_create: out of host memory");
    }
    return d;
}

void vkt_dict_destroy(vkt_dict *d)
{
    if (!d) {
        return;
    }
    for (uint32_t i = 0; i < d->count; i++) {
        entry_clear(&d->e[i]);
        free(d->e[i].key);
    }
    free(d->e);
    free(d);
}

uint32_t vkt_dict_count(const vkt_dict *d) { return d ? d->count : 0; }

const char *vkt_dict_key(const vkt_dict *d, uint32_t i)
{
    return d && i < d->count ? d->e[i].key : NULL;
}

static entry *find(const vkt_dict *d, const char *key)
{
    if (!d || !key) {
        return NULL;
    }
    for (uint32_t i = 0; i < d->count; i++) {
        if (strcmp(d->e[i].key, key) == 0) {
            return &d->e[i];
        }
    }
    return NULL;
}

/* The entry for `key`, emptied, appended if new; NULL with the error set. */
static entry *slot(vkt_dict *d, const char *key, const char *fn)
{
    if (!d || !key) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: %s is NULL", fn, d ? "key" : "dict");
        return NULL;
    }
    entry *x = find(d, key);
    if (x) {
        entry_clear(x);
        return x;
    }
    char *k = vkt__strdup(key);
    if (!k || !vkt__grow((void **)&d->e, &d->cap, d->count + 1, sizeof *d->e)) {
        free(k);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory", fn);
        return NULL;
    }
    x = &d->e[d->count++];
    memset(x, 0, sizeof *x);
    x->key = k;
    return x;
}

vkt_status vkt_dict_set_number(vkt_dict *d, const char *key, double v)
{
    entry *x = slot(d, key, "vkt_dict_set_number");
    if (!x) {
        return vkt_last_status();
    }
    x->kind = VKT__DICT_NUMBER;
    x->number = v;
    return VKT_OK;
}

vkt_status vkt_dict_set_string(vkt_dict *d, const char *key, const char *v)
{
    if (!v) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dict_set_string: value of '%s' is NULL",
                          key ? key : "(null)");
    }
    char *copy = vkt__strdup(v);
    if (!copy) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_dict_set_string: out of host memory");
    }
    entry *x = slot(d, key, "vkt_dict_set_string");
    if (!x) {
        free(copy);
        return vkt_last_status();
    }
    x->kind = VKT__DICT_STRING;
    x->string = copy;
    return VKT_OK;
}

vkt_dict *vkt_dict_child(vkt_dict *d, const char *key)
{
    entry *x = find(d, key);
    if (x) {
        if (x->kind != VKT__DICT_CHILD) {
            vkt__error(VKT_INVALID_ARGUMENT,
                       "vkt_dict_child: '%s' holds a %s, not a dictionary", key,
                       x->kind == VKT__DICT_NUMBER ? "number"
                       : x->kind == VKT__DICT_STRING ? "string"
                                                     : "float array");
            return NULL;
        }
        return x->child;
    }
    vkt_dict *c = vkt_dict_create();
    if (!c) {
        return NULL;
    }
    x = slot(d, key, "vkt_dict_child");
    if (!x) {
        vkt_dict_destroy(c);
        return NULL;
    }
    x->kind = VKT__DICT_CHILD;
    x->child = c;
    return c;
}

static vkt_status check_shape(const char *fn, const char *key, int ndim, const int64_t *shape,
                              uint64_t *count)
{
    if (ndim < 0 || ndim > VKT_MAX_DIMS || (ndim > 0 && !shape)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: '%s' has ndim %d; 0 to %d dimensions allowed",
                          fn, key ? key : "(null)", ndim, VKT_MAX_DIMS);
    }
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] > 0 && n > (UINT64_MAX / 8) / (uint64_t)shape[i])) {
            return vkt__error(VKT_INVALID_ARGUMENT, "%s: '%s' has dimension %d of size %lld", fn,
                              key ? key : "(null)", i, (long long)shape[i]);
        }
        n *= (uint64_t)shape[i];
    }
    *count = n;
    return VKT_OK;
}

vkt_status vkt__dict_set_floats_owned(vkt_dict *d, const char *key, float *v, int ndim,
                                      const int64_t *shape, bool ints)
{
    uint64_t n;
    vkt_status s = check_shape("vkt_dict_set_floats", key, ndim, shape, &n);
    if (s == VKT_OK && n > 0 && !v) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_dict_set_floats: '%s' has no data", key);
    }
    entry *x = s == VKT_OK ? slot(d, key, "vkt_dict_set_floats") : NULL;
    if (!x) {
        free(v);
        return vkt_last_status();
    }
    x->kind = VKT__DICT_FLOATS;
    x->floats = v;
    x->ints = ints;
    x->ndim = ndim;
    for (int i = 0; i < VKT_MAX_DIMS; i++) {
        x->shape[i] = i < ndim ? shape[i] : 0;
    }
    x->count = n;
    return VKT_OK;
}

/* A copy of `v` (n floats) as an array of `d`, tagged `ints`. */
static vkt_status set_copy(vkt_dict *d, const char *key, const float *v, int ndim,
                           const int64_t *shape, bool ints)
{
    uint64_t n;
    vkt_status s = check_shape("vkt_dict_set_floats", key, ndim, shape, &n);
    if (s != VKT_OK) {
        return s;
    }
    if (n > 0 && !v) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dict_set_floats: '%s' has no data",
                          key ? key : "(null)");
    }
    float *copy = vkt__malloc(n ? n * sizeof(float) : 1);
    if (!copy) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY,
                          "vkt_dict_set_floats: out of host memory for %llu floats",
                          (unsigned long long)n);
    }
    if (n) {
        memcpy(copy, v, n * sizeof(float));
    }
    return vkt__dict_set_floats_owned(d, key, copy, ndim, shape, ints);
}

vkt_status vkt_dict_set_floats(vkt_dict *d, const char *key, const float *v, int ndim,
                               const int64_t *shape)
{
    return set_copy(d, key, v, ndim, shape, false);
}

vkt_status vkt_dict_set_ints(vkt_dict *d, const char *key, const int64_t *v, int ndim,
                             const int64_t *shape)
{
    uint64_t n;
    vkt_status s = check_shape("vkt_dict_set_ints", key, ndim, shape, &n);
    if (s != VKT_OK) {
        return s;
    }
    if (n > 0 && !v) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dict_set_ints: '%s' has no data",
                          key ? key : "(null)");
    }
    for (uint64_t i = 0; i < n; i++) {
        if (v[i] > VKT__F32_EXACT_INT || v[i] < -VKT__F32_EXACT_INT) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "vkt_dict_set_ints: '%s' element %llu is %lld; dict arrays are f32 "
                              "and hold integers exactly up to 2^24 in magnitude",
                              key ? key : "(null)", (unsigned long long)i, (long long)v[i]);
        }
    }
    float *f = vkt__malloc(n ? n * sizeof(float) : 1);
    if (!f) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY,
                          "vkt_dict_set_ints: out of host memory for %llu values",
                          (unsigned long long)n);
    }
    for (uint64_t i = 0; i < n; i++) {
        f[i] = (float)v[i];
    }
    return vkt__dict_set_floats_owned(d, key, f, ndim, shape, true);
}

bool vkt_dict_has(const vkt_dict *d, const char *key) { return find(d, key) != NULL; }

bool vkt_dict_get_number(const vkt_dict *d, const char *key, double *out)
{
    const entry *x = find(d, key);
    if (!x || x->kind != VKT__DICT_NUMBER) {
        return false;
    }
    if (out) {
        *out = x->number;
    }
    return true;
}

const char *vkt_dict_get_string(const vkt_dict *d, const char *key)
{
    const entry *x = find(d, key);
    return x && x->kind == VKT__DICT_STRING ? x->string : NULL;
}

const vkt_dict *vkt_dict_get_child(const vkt_dict *d, const char *key)
{
    const entry *x = find(d, key);
    return x && x->kind == VKT__DICT_CHILD ? x->child : NULL;
}

const float *vkt_dict_get_floats(const vkt_dict *d, const char *key, int *ndim, int64_t *shape)
{
    const entry *x = find(d, key);
    if (!x || x->kind != VKT__DICT_FLOATS) {
        return NULL;
    }
    if (ndim) {
        *ndim = x->ndim;
    }
    if (shape) {
        for (int i = 0; i < x->ndim; i++) {
            shape[i] = x->shape[i];
        }
    }
    /* an empty array still returns a non-NULL pointer: the key is present */
    return x->floats;
}

bool vkt_dict_is_ints(const vkt_dict *d, const char *key)
{
    const entry *x = find(d, key);
    return x && x->kind == VKT__DICT_FLOATS && x->ints;
}

vkt_status vkt_dict_remove(vkt_dict *d, const char *key)
{
    entry *x = find(d, key);
    if (!x) {
        return vkt__error(VKT_NOT_FOUND, "vkt_dict_remove: no key '%s'", key ? key : "(null)");
    }
    entry_clear(x);
    free(x->key);
    uint32_t i = (uint32_t)(x - d->e);
    memmove(&d->e[i], &d->e[i + 1], (d->count - i - 1) * sizeof *d->e);
    d->count--;
    return VKT_OK;
}

/* ---- internal ---- */

vkt__dict_entry vkt__dict_at(const vkt_dict *d, uint32_t i)
{
    vkt__dict_entry r = {0};
    if (!d || i >= d->count) {
        return r;
    }
    const entry *x = &d->e[i];
    r.kind = x->kind;
    r.key = x->key;
    r.number = x->number;
    r.string = x->string;
    r.child = x->child;
    r.floats = x->floats;
    r.ints = x->ints;
    r.ndim = x->ndim;
    memcpy(r.shape, x->shape, sizeof r.shape);
    r.count = x->count;
    return r;
}

vkt_status vkt__dict_update(vkt_dict *dst, const vkt_dict *src)
{
    for (uint32_t i = 0; src && i < src->count; i++) {
        const entry *x = &src->e[i];
        vkt_status s = VKT_OK;
        switch (x->kind) {
        case VKT__DICT_NUMBER:
            s = vkt_dict_set_number(dst, x->key, x->number);
            break;
        case VKT__DICT_STRING:
            s = vkt_dict_set_string(dst, x->key, x->string);
            break;
        case VKT__DICT_FLOATS:
            s = set_copy(dst, x->key, x->floats, x->ndim, x->shape, x->ints);
            break;
        case VKT__DICT_CHILD: {
            vkt_dict *c = vkt__dict_clone(x->child);
            if (!c) {
                return vkt_last_status();
            }
            entry *y = slot(dst, x->key, "vkt_dict");
            if (!y) {
                vkt_dict_destroy(c);
                return vkt_last_status();
            }
            y->kind = VKT__DICT_CHILD;
            y->child = c;
            break;
        }
        default:
            break;
        }
        if (s != VKT_OK) {
            return s;
        }
    }
    return VKT_OK;
}

vkt_dict *vkt__dict_clone(const vkt_dict *d)
{
    vkt_dict *c = vkt_dict_create();
    if (c && vkt__dict_update(c, d) != VKT_OK) {
        vkt_dict_destroy(c);
        return NULL;
    }
    return c;
}
