/*
 * text.c — text corpora for character-level language models (include/vkt/data.h): reading a file
 * or a directory, the byte vocabulary and its hex form, encoding, the unigram entropy, the split
 * by position and the dataset of next-token windows. Host only. Tests: tests/test_text.c; fuzz
 * target: fuzz/fuzz_text.c.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

vkt_status vkt_vocab_build(const uint8_t *data, size_t n, vkt_vocab *out)
{
    if (!out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_vocab_build: out is NULL");
    }
    memset(out, 0, sizeof *out);
    if (!data || n == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_vocab_build: no bytes (data %s, n %zu)",
                          data ? "given" : "NULL", n);
    }
    bool seen[256] = {false};
    for (size_t i = 0; i < n; i++) {
        seen[data[i]] = true;
    }
    for (int b = 0; b < 256; b++) {
        out->index[b] = -1;
        if (seen[b]) {
            out->index[b] = (int16_t)out->size;
            out->bytes[out->size++] = (uint8_t)b;
        }
    }
    return VKT_OK;
}

vkt_status vkt_vocab_format(const vkt_vocab *v, char *buf, size_t buf_size)
{
    if (!v || !buf || v->size == 0 || v->size > 256) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_vocab_format: %s",
                          !v || !buf ? "v and buf are required" : "the vocabulary is empty");
    }
    if (buf_size < 2 * (size_t)v->size + 1) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_vocab_format: %u bytes need a buffer of %u "
                                                "chars, buf_size is %zu",
                          v->size, 2 * v->size + 1, buf_size);
    }
    static const char hex[] = "0123456789abcdef";
    for (uint32_t i = 0; i < v->size; i++) {
        buf[2 * i] = hex[v->bytes[i] >> 4];
        buf[2 * i + 1] = hex[v->bytes[i] & 15];
    }
    buf[2 * v->size] = '\0';
    return VKT_OK;
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

vkt_status vkt_vocab_parse(const char *hex, vkt_vocab *out)
{
    const char *fn = "vkt_vocab_parse";
    if (!out || !hex) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: hex and out are required", fn);
    }
    memset(out, 0, sizeof *out);
    for (int b = 0; b < 256; b++) {
        out->index[b] = -1;
    }
    size_t len = strnlen(hex, 513);
    if (len == 0 || len % 2 || len > 512) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: a vocabulary is 1 to 256 bytes as 2 to 512 "
                                                "hex digits; this one has %s%zu",
                          fn, len > 512 ? "over " : "", VKT__MIN(len, (size_t)512));
    }
    for (size_t i = 0; i < len; i += 2) {
        int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
        if (hi < 0 || lo < 0) {
            size_t at = hi < 0 ? i : i + 1;
            return vkt__error(VKT_INVALID_ARGUMENT, "%s: character %zu (0x%02x) is not a hex "
                                                    "digit",
                              fn, at, (unsigned)(unsigned char)hex[at]);
        }
        int b = hi * 16 + lo;
        if (out->size && b <= out->bytes[out->size - 1]) {
            return vkt__error(VKT_INVALID_ARGUMENT, "%s: byte %zu (0x%02x) does not follow 0x%02x "
                                                    "in increasing order",
                              fn, i / 2, (unsigned)b, (unsigned)out->bytes[out->size - 1]);
        }
        out->index[b] = (int16_t)out->size;
        out->bytes[out->size++] = (uint8_t)b;
    }
    return VKT_OK;
}

vkt_status vkt_vocab_encode(const vkt_vocab *v, const uint8_t *s, size_t n, int32_t *out)
{
    if (!v || (n && (!s || !out))) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_vocab_encode: v, s and out are required");
    }
    for (size_t i = 0; i < n; i++) {
        int t = v->index[s[i]];
        if (t < 0) {
            return vkt__error(VKT_INVALID_ARGUMENT, "vkt_vocab_encode: byte 0x%02x ('%c') at "
                                                    "position %zu is not in the vocabulary of %u",
                              (unsigned)s[i], s[i] >= 32 && s[i] < 127 ? s[i] : '?', i, v->size);
        }
        out[i] = t;
    }
    return VKT_OK;
}

vkt_status vkt_vocab_decode(const vkt_vocab *v, const int32_t *tokens, size_t n, uint8_t *out)
{
    if (!v || (n && (!tokens || !out))) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_vocab_decode: v, tokens and out are "
                                                "required");
    }
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= v->size) {
            return vkt__error(VKT_INVALID_ARGUMENT, "vkt_vocab_decode: token %d at position %zu "
                                                    "is outside the vocabulary [0, %u)",
                              (int)tokens[i], i, v->size);
        }
        out[i] = v->bytes[tokens[i]];
    }
    return VKT_OK;
}

void vkt_text_free(vkt_text *t)
{
    if (t) {
        free(t->data);
        free(t->tokens);
        memset(t, 0, sizeof *t);
    }
}

/* Takes over `data` (freed on error too): the vocabulary and the tokens. */
static vkt_status text_adopt(uint8_t *data, size_t size, uint32_t files, vkt_text *out)
{
    *out = (vkt_text){.data = data, .size = size, .files = files};
    vkt_status s = vkt_vocab_build(data, size, &out->vocab);
    if (s == VKT_OK) {
        out->tokens = vkt__malloc(size * sizeof *out->tokens);
        s = out->tokens ? vkt_vocab_encode(&out->vocab, data, size, out->tokens)
                        : vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for %zu tokens",
                                     size);
    }
    if (s != VKT_OK) {
        vkt_text_free(out);
    }
    return s;
}

vkt_status vkt_text_from_memory(const void *data, size_t size, vkt_text *out)
{
    if (!out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_text_from_memory: out is NULL");
    }
    memset(out, 0, sizeof *out);
    if (!data || size == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_text_from_memory: the text is empty");
    }
    uint8_t *copy = vkt__malloc(size);
    if (!copy) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for %zu bytes of text",
                          size);
    }
    memcpy(copy, data, size);
    return text_adopt(copy, size, 1, out);
}

/* Appends the file's bytes to *buf (of *len bytes, *cap allocated). */
static vkt_status append_file(const char *path, uint8_t **buf, size_t *len, size_t *cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return vkt__error(VKT_IO, "%s: cannot open: %s", path, strerror(errno));
    }
    vkt_status s = VKT_OK;
    for (;;) {
        if (*cap - *len < 65536) {
            size_t nc = VKT__MAX(*cap * 2, *len + 65536);
            uint8_t *nb = vkt__realloc(*buf, nc);
            if (!nb) {
                s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory after %zu bytes",
                               path, *len);
                break;
            }
            *buf = nb;
            *cap = nc;
        }
        size_t got = fread(*buf + *len, 1, *cap - *len, f);
        *len += got;
        if (got == 0) {
            if (ferror(f)) {
                s = vkt__error(VKT_IO, "%s: read error: %s", path, strerror(errno));
            }
            break;
        }
    }
    fclose(f);
    return s;
}

static bool skipped_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] == '.' || (n >= 4 && strcmp(name + n - 4, ".dat") == 0) ||
           (n >= 3 && strcmp(name + n - 3, ".u8") == 0);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names of the regular files of `dir` that are read. */
static vkt_status list_dir(const char *dir, char ***names_out, uint32_t *n_out)
{
    *names_out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) {
        return vkt__error(VKT_IO, "%s: cannot open the directory: %s", dir, strerror(errno));
    }
    char **names = NULL, *path = NULL;
    uint32_t n = 0, cap = 0;
    vkt_status s = VKT_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (skipped_name(e->d_name)) {
            continue;
        }
        size_t plen = strlen(dir) + strlen(e->d_name) + 2;
        free(path);
        path = vkt__malloc(plen);
        if (!path) {
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        snprintf(path, plen, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue; /* subdirectories, dangling links, devices */
        }
        char *name = vkt__strdup(e->d_name);
        if (!name || !vkt__grow((void **)&names, &cap, n + 1, sizeof *names)) {
            free(name);
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            break;
        }
        names[n++] = name;
    }
    free(path);
    closedir(d);
    if (s != VKT_OK) {
        for (uint32_t i = 0; i < n; i++) {
            free(names[i]);
        }
        free(names);
        return s;
    }
    if (n) {
        qsort(names, n, sizeof *names, cmp_names);
    }
    *names_out = names;
    *n_out = n;
    return VKT_OK;
}

vkt_status vkt_text_load(const char *path, vkt_text *out)
{
    if (!out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_text_load: out is NULL");
    }
    memset(out, 0, sizeof *out);
    if (!path || !path[0]) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_text_load: path is required");
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        return vkt__error(VKT_IO, "%s: %s (a text file or a directory of text files)", path,
                          strerror(errno));
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    uint32_t files = 0;
    vkt_status s = VKT_OK;
    if (S_ISDIR(st.st_mode)) {
        char **names = NULL;
        uint32_t n = 0;
        s = list_dir(path, &names, &n);
        char *fp = NULL;
        for (uint32_t i = 0; s == VKT_OK && i < n; i++) {
            size_t plen = strlen(path) + strlen(names[i]) + 2;
            free(fp);
            fp = vkt__malloc(plen);
            if (!fp) {
                s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
                break;
            }
            snprintf(fp, plen, "%s/%s", path, names[i]);
            s = append_file(fp, &buf, &len, &cap);
            files++;
        }
        free(fp);
        for (uint32_t i = 0; i < n; i++) {
            free(names[i]);
        }
        free(names);
        if (s == VKT_OK && len == 0) {
            s = vkt__error(VKT_CORRUPT_FILE, "%s: the directory has no text (%u files read; "
                                             "hidden, .dat and .u8 files are skipped)",
                           path, files);
        }
    } else {
        s = append_file(path, &buf, &len, &cap);
        files = 1;
        if (s == VKT_OK && len == 0) {
            s = vkt__error(VKT_CORRUPT_FILE, "%s: the file is empty", path);
        }
    }
    if (s != VKT_OK) {
        free(buf);
        return s;
    }
    return text_adopt(buf, len, files, out);
}

double vkt_text_unigram_entropy(const int32_t *tokens, size_t n, uint32_t vocab_size)
{
    if (!tokens || n == 0 || vocab_size == 0 || vocab_size > 65536) {
        return NAN;
    }
    uint64_t counts[256] = {0}; /* byte vocabularies on the stack, larger ones on the heap */
    uint64_t *c = vocab_size <= 256 ? counts : vkt__calloc(vocab_size, sizeof *c);
    if (!c) {
        return NAN;
    }
    double h = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || (uint32_t)tokens[i] >= vocab_size) {
            h = NAN;
            break;
        }
        c[tokens[i]]++;
    }
    for (uint32_t v = 0; v < vocab_size && !isnan(h); v++) {
        if (c[v]) {
            double p = (double)c[v] / (double)n;
            h -= p * log(p);
        }
    }
    if (c != counts) {
        free(c);
    }
    return h;
}

vkt_status vkt_text_split(const vkt_text *t, float val_fraction, size_t *n_train)
{
    if (!t || !n_train || !t->tokens) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_text_split: t (loaded) and n_train are "
                                                "required");
    }
    if (!(val_fraction >= 0.0f && val_fraction < 1.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_text_split: val_fraction %g is not in "
                                                "[0, 1)",
                          (double)val_fraction);
    }
    size_t held = (size_t)((double)t->size * val_fraction + 0.5);
    *n_train = t->size - held;
    return VKT_OK;
}

vkt_status vkt_dataset_text_windows(const int32_t *tokens, size_t n, uint32_t context,
                                    uint32_t stride, vkt_dataset **out)
{
    const char *fn = "vkt_dataset_text_windows";
    if (!out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: out is NULL", fn);
    }
    *out = NULL;
    if (!tokens || context == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: %s", fn,
                          !tokens ? "tokens is NULL" : "context is 0");
    }
    stride = VKT__DEF(stride, context);
    if (n < (size_t)context + 1) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: %zu tokens are fewer than context + 1 = %u "
                                                "(one window and its next token)",
                          fn, n, context + 1);
    }
    size_t count = (n - context - 1) / stride + 1;
    if (count > UINT32_MAX || count > SIZE_MAX / sizeof(int32_t) / context) {
        return vkt__error(VKT_TOO_LARGE, "%s: %zu windows of %u tokens do not fit", fn, count,
                          context);
    }
    size_t elems = count * context;
    int32_t *x = vkt__malloc(elems * sizeof *x), *y = vkt__malloc(elems * sizeof *y);
    if (!x || !y) {
        free(x);
        free(y);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for %zu windows", count);
    }
    for (size_t j = 0; j < count; j++) {
        memcpy(x + j * context, tokens + j * stride, context * sizeof *x);
        memcpy(y + j * context, tokens + j * stride + 1, context * sizeof *y);
    }
    vkt_dataset_desc d = {.count = (uint32_t)count,
                          .x = {.type = VKT_DATA_I32, .ndim = 1, .shape = {context}},
                          .y = {.type = VKT_DATA_I32, .ndim = 1, .shape = {context}}};
    return vkt__dataset_adopt(&d, x, y, out);
}
