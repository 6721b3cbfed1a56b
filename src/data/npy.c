/*
 * npy.c — NumPy .npy files (numpy/lib/format.py), raw or gzip-compressed.
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length (little-endian: 2 bytes
 * in 1.0, 4 in 2.0 and 3.0), the header, then the data. The header is a Python dict literal,
 * e.g. {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 28, 28), }, padded with spaces
 * and a newline. No Debian C library reads .npy (libnpy and cnpy are not packaged), and a full
 * Python-literal parser is far more than the format needs: this parses exactly the three keys
 * NumPy writes — a quoted string, True/False and a tuple of integers — and rejects anything else.
 *
 * Data sizes are claims checked like IDX (vkt__read_payload). '<i8' and '<f8' are narrowed to
 * i32 / f32 in place, refusing values that do not fit. Tests: tests/test_data.c; fuzz/fuzz_npy.c.
 */
#include <string.h>

#include "data/data_internal.h"

#define NPY_MAX_HEADER 65536u

/* dtype strings vkt reads: descr, element type, bytes per element in the file. */
#define VKT__NPY_DTYPES(X)                                                                         \
    X("|u1", VKT_DATA_U8, 1)                                                                       \
    X("<u1", VKT_DATA_U8, 1)                                                                       \
    X("<i4", VKT_DATA_I32, 4)                                                                      \
    X("<f4", VKT_DATA_F32, 4)                                                                      \
    X("<i8", VKT_DATA_I32, 8)                                                                      \
    X("<f8", VKT_DATA_F32, 8)

typedef struct npy_header {
    char descr[16];
    bool fortran;
    int ndim;
    int64_t dims[VKT_MAX_DIMS];
} npy_header;

typedef struct npy_parser {
    const char *path, *text;
    size_t at, len;
} npy_parser;

static vkt_status bad(const npy_parser *p, const char *what)
{
    return vkt__error(VKT_CORRUPT_FILE, "%s: .npy header: %s at offset %zu of the header", p->path,
                      what, p->at);
}

static void skip_ws(npy_parser *p)
{
    while (p->at < p->len && (p->text[p->at] == ' ' || p->text[p->at] == '\t' ||
                              p->text[p->at] == '\n' || p->text[p->at] == '\r')) {
        p->at++;
    }
}

static bool accept(npy_parser *p, char c)
{
    skip_ws(p);
    if (p->at < p->len && p->text[p->at] == c) {
        p->at++;
        return true;
    }
    return false;
}

/* A '...' or "..." string without escapes into out (cap bytes). */
static vkt_status parse_string(npy_parser *p, char *out, size_t cap, const char *what)
{
    skip_ws(p);
    char q = p->at < p->len ? p->text[p->at] : 0;
    if (q != '\'' && q != '"') {
        char msg[64];
        snprintf(msg, sizeof msg, "expected a quoted %s", what);
        return bad(p, msg);
    }
    size_t start = ++p->at;
    while (p->at < p->len && p->text[p->at] != q) {
        if (p->text[p->at] == '\\') {
            return bad(p, "escapes in strings are not supported");
        }
        p->at++;
    }
    if (p->at >= p->len) {
        return bad(p, "unterminated string");
    }
    size_t n = p->at - start;
    p->at++;
    if (n + 1 > cap) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s of %zu characters is too long", what, n);
        return bad(p, msg);
    }
    memcpy(out, p->text + start, n);
    out[n] = '\0';
    return VKT_OK;
}

static vkt_status parse_bool(npy_parser *p, bool *out)
{
    skip_ws(p);
    const char *t = p->text + p->at;
    size_t left = p->len - p->at;
    if (left >= 4 && memcmp(t, "True", 4) == 0) {
        *out = true;
        p->at += 4;
    } else if (left >= 5 && memcmp(t, "False", 5) == 0) {
        *out = false;
        p->at += 5;
    } else {
        return bad(p, "fortran_order must be True or False");
    }
    return VKT_OK;
}

/* (d0, d1, ...) with an optional trailing comma; () is a scalar. */
static vkt_status parse_shape(npy_parser *p, npy_header *h)
{
    if (!accept(p, '(')) {
        return bad(p, "shape must be a tuple");
    }
    h->ndim = 0;
    while (!accept(p, ')')) {
        skip_ws(p);
        int64_t v = 0;
        size_t digits = 0;
        while (p->at < p->len && p->text[p->at] >= '0' && p->text[p->at] <= '9') {
            if (v > ((int64_t)1 << 40)) {
                return bad(p, "a dimension is too large");
            }
            v = v * 10 + (p->text[p->at++] - '0');
            digits++;
        }
        if (!digits) {
            return bad(p, "expected a non-negative integer in shape");
        }
        if (p->at < p->len && p->text[p->at] == 'L') { /* Python 2 longs */
            p->at++;
        }
        if (h->ndim == VKT_MAX_DIMS) {
            char msg[64];
            snprintf(msg, sizeof msg, "more than %d dimensions", VKT_MAX_DIMS);
            return bad(p, msg);
        }
        h->dims[h->ndim++] = v;
        if (!accept(p, ',')) {
            if (!accept(p, ')')) {
                return bad(p, "expected ',' or ')' in shape");
            }
            break;
        }
    }
    return VKT_OK;
}

static vkt_status parse_header(npy_parser *p, npy_header *h)
{
    memset(h, 0, sizeof *h);
    if (!accept(p, '{')) {
        return bad(p, "expected '{'");
    }
    unsigned seen = 0;
    vkt_status s = VKT_OK;
    while (!accept(p, '}')) {
        char key[32];
        s = parse_string(p, key, sizeof key, "key");
        if (s != VKT_OK) {
            return s;
        }
        if (!accept(p, ':')) {
            return bad(p, "expected ':' after a key");
        }
        unsigned bit;
        if (strcmp(key, "descr") == 0) {
            bit = 1;
            s = parse_string(p, h->descr, sizeof h->descr, "descr");
        } else if (strcmp(key, "fortran_order") == 0) {
            bit = 2;
            s = parse_bool(p, &h->fortran);
        } else if (strcmp(key, "shape") == 0) {
            bit = 4;
            s = parse_shape(p, h);
        } else {
            char msg[128];
            snprintf(msg, sizeof msg, "unexpected key '%s' (only descr, fortran_order, shape)",
                     key);
            return bad(p, msg);
        }
        if (s != VKT_OK) {
            return s;
        }
        if (seen & bit) {
            return bad(p, "a key appears twice");
        }
        seen |= bit;
        if (!accept(p, ',')) {
            if (!accept(p, '}')) {
                return bad(p, "expected ',' or '}'");
            }
            break;
        }
    }
    skip_ws(p);
    if (p->at != p->len) {
        return bad(p, "text after the dict");
    }
    if (seen != 7) {
        return bad(p, !(seen & 1)   ? "no 'descr'"
                      : !(seen & 2) ? "no 'fortran_order'"
                                    : "no 'shape'");
    }
    return VKT_OK;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Little-endian file elements of `fsize` bytes to host-order 4-byte elements, in place. */
static vkt_status narrow(vkt_array *a, const char *path, size_t fsize, size_t n)
{
    if (fsize == 1) {
        return VKT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        uint64_t v = le(a->data + i * fsize, (int)fsize);
        uint32_t w = (uint32_t)v;
        if (fsize == 8 && a->type == VKT_DATA_I32) {
            int64_t x = (int64_t)v;
            if (x < INT32_MIN || x > INT32_MAX) {
                return vkt__error(VKT_CORRUPT_FILE, "%s: element %zu is %lld, which does not fit "
                                                    "in int32 ('<i8' is read as i32)",
                                  path, i, (long long)x);
            }
        } else if (fsize == 8) {
            double d;
            memcpy(&d, &v, sizeof d);
            /* the smallest double that rounds past FLT_MAX, so the cast below is defined */
            if (d == d && d != 1.0 / 0.0 && d != -1.0 / 0.0 &&
                (d >= 0x1.ffffffp+127 || d <= -0x1.ffffffp+127)) {
                return vkt__error(VKT_CORRUPT_FILE, "%s: element %zu is %g, which is beyond "
                                                    "float32 ('<f8' is read as f32)",
                                  path, i, d);
            }
            float f = (float)d;
            memcpy(&w, &f, sizeof w);
        }
        memcpy(a->data + 4 * i, &w, 4);
    }
    if (fsize == 8) {
        uint8_t *p = vkt__realloc(a->data, 4 * n);
        if (!p) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
        }
        a->data = p;
    }
    return VKT_OK;
}

vkt_status vkt_npy_read(const char *path, vkt_array *out)
{
    memset(out, 0, sizeof *out);
    if (!path) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_npy_read: path is NULL");
    }
    gzFile f;
    vkt_status s = vkt__read_open(path, &f);
    if (s != VKT_OK) {
        return s;
    }
    char *text = NULL;
    uint8_t pre[12];
    s = vkt__read_exact(f, path, pre, 10, "the preamble", 0, 10);
    if (s != VKT_OK) {
        goto fail;
    }
    if (memcmp(pre, "\x93NUMPY", 6) != 0) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: not a .npy file (no \\x93NUMPY magic)", path);
        goto fail;
    }
    if (pre[6] < 1 || pre[6] > 3) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: .npy format version %u.%u is not supported (1.0, "
                                         "2.0 and 3.0 are)",
                       path, pre[6], pre[7]);
        goto fail;
    }
    size_t pre_len = pre[6] == 1 ? 10 : 12;
    if (pre_len == 12) {
        s = vkt__read_exact(f, path, pre + 10, 2, "the preamble", 10, 12);
        if (s != VKT_OK) {
            goto fail;
        }
    }
    size_t hlen = (size_t)le(pre + 8, pre[6] == 1 ? 2 : 4);
    if (hlen > NPY_MAX_HEADER) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: .npy header of %zu bytes (at most %u supported)",
                       path, hlen, NPY_MAX_HEADER);
        goto fail;
    }
    text = vkt__malloc(hlen + 1);
    if (!text) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory", path);
        goto fail;
    }
    s = vkt__read_exact(f, path, text, hlen, "the header", 0, hlen);
    if (s != VKT_OK) {
        goto fail;
    }
    text[hlen] = '\0';
    npy_parser p = {path, text, 0, hlen};
    npy_header h;
    s = parse_header(&p, &h);
    if (s != VKT_OK) {
        goto fail;
    }
    size_t fsize = 0;
#define X(d, t, sz)                                                                                \
    if (!fsize && strcmp(h.descr, d) == 0) {                                                       \
        out->type = (t);                                                                           \
        fsize = (sz);                                                                              \
    }
    VKT__NPY_DTYPES(X)
#undef X
    if (!fsize) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: .npy dtype '%s' is not supported (%s; '|u1', '<i4', "
                                         "'<f4', '<i8', '<f8' are)",
                       path, h.descr, h.descr[0] == '>' ? "big-endian" : "unknown type");
        goto fail;
    }
    if (h.fortran) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: fortran_order True is not supported: save a C-order "
                                         "array (np.ascontiguousarray)",
                       path);
        goto fail;
    }
    uint64_t n = 0;
    bool fits = vkt__shape_elems(h.ndim, h.dims, ((uint64_t)1 << 36) / fsize, &n);
    if (!fits || n == 0) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: .npy shape is not a usable size: %s", path,
                       fits ? "a dimension is 0 (an empty array)" : "over 64 GiB");
        goto fail;
    }
    out->ndim = h.ndim;
    memcpy(out->dims, h.dims, sizeof h.dims);
    s = vkt__read_payload(f, path, pre_len + hlen, (size_t)(n * fsize), &out->data);
    if (s != VKT_OK) {
        goto fail;
    }
    s = narrow(out, path, fsize, (size_t)n);
    if (s != VKT_OK) {
        goto fail;
    }
    out->size = (size_t)n * vkt_data_type_size(out->type);
    free(text);
    gzclose(f);
    return VKT_OK;

fail:
    free(text);
    gzclose(f);
    vkt_array_free(out);
    return s;
}
