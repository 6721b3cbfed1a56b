/*
 * fuzz_metrics_csv.c — metrics.csv reading. vkt reads metrics.csv in one place: the CSV logger
 * reads its own file back when a new key appears and rewrites every row under the new header
 * (Lightning's _rewrite_with_new_header); nothing resumes or loads the file otherwise. So:
 *   mode 0: the logger driven with fuzz-chosen keys (any bytes: ',', '"', line breaks, "epoch"),
 *           values (any bit pattern), steps and epochs; the file must then parse as strict CSV
 *           (RFC 4180 with "\r\n", as Python's csv writes) with the sorted union of the keys as
 *           its header and exactly the modelled rows, every metric reading back bit for bit.
 *   mode 1: one row logged, the file replaced by fuzz bytes, then a row with a new key: the
 *           read-back of arbitrary bytes must give an error with a message or a strict CSV file
 *           with the logger's header, equal-width rows, and the new row last.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_bytes.h"
#include "fuzz_util.h"
#include "train/train_internal.h"

#define MAX_KEYS 16
#define MAX_ROWS 8

typedef struct csv {
    uint32_t nrows, ncols[600];
    char *cell[600][MAX_KEYS + 2];
} csv;

/* Strict CSV: quoted fields may hold anything ("" for a quote), others no '"', '\r' or '\n';
 * records end in "\r\n". Aborts on anything else; at most 600 records of MAX_KEYS + 2 fields. */
static void parse_strict(const char *s, csv *out)
{
    memset(out, 0, sizeof *out);
    while (*s) {
        if (out->nrows == 600) {
            abort();
        }
        uint32_t r = out->nrows++;
        while (true) {
            char *f = malloc(strlen(s) + 1);
            size_t o = 0;
            if (*s == '"') {
                for (s++;; s++) {
                    if (!*s) {
                        abort(); /* unclosed quote */
                    }
                    if (*s == '"' && s[1] != '"') {
                        s++;
                        break;
                    }
                    if (*s == '"') {
                        s++;
                    }
                    f[o++] = *s;
                }
            } else {
                while (*s && !strchr(",\"\r\n", *s)) {
                    f[o++] = *s++;
                }
            }
            f[o] = '\0';
            if (out->ncols[r] == MAX_KEYS + 2) {
                abort();
            }
            out->cell[r][out->ncols[r]++] = f;
            if (*s == ',') {
                s++;
                continue;
            }
            if (s[0] != '\r' || s[1] != '\n') {
                abort(); /* a stray quote or a bare line break */
            }
            s += 2;
            break;
        }
    }
}

static void free_csv(csv *c)
{
    for (uint32_t r = 0; r < c->nrows; r++) {
        for (uint32_t i = 0; i < c->ncols[r]; i++) {
            free(c->cell[r][i]);
        }
    }
}

typedef struct call {
    uint32_t n;
    const char *names[5]; /* up to 4 from the input, and mode 1's new key */
    double values[5];
    int64_t step, epoch;
} call;

static char pool[8][24];
/* The key mode 1 adds; the pool never holds it. */
#define NEW_KEY "\x01new key"

static void take_call(vkt_fuzz_bytes *b, call *c)
{
    c->n = vkt_fuzz_u8(b) % 5;
    for (uint32_t i = 0; i < c->n; i++) {
        c->names[i] = pool[vkt_fuzz_u8(b) % 8];
        c->values[i] = vkt_fuzz_double(b);
    }
    c->step = (int64_t)(vkt_fuzz_u64(b) >> (vkt_fuzz_u8(b) % 64));
    c->epoch = (int64_t)vkt_fuzz_u64(b) >> (vkt_fuzz_u8(b) % 64);
}

static vkt_status log_call(vkt_logger *l, const call *c)
{
    return l->log_metrics(c->names, c->values, c->n, c->step, c->epoch, l->user_data);
}

/* The cell `key` of call `c` as the logger writes it, or NULL (empty). */
static const char *model_cell(const call *c, const char *key, char *buf, size_t n)
{
    const char *got = NULL;
    for (uint32_t i = 0; i < c->n; i++) {
        if (strcmp(c->names[i], key) == 0) {
            vkt__format_py_float(buf, n, c->values[i]);
            got = buf;
        }
    }
    if (strcmp(key, "epoch") == 0 && c->epoch >= 0) {
        snprintf(buf, n, "%lld", (long long)c->epoch);
        got = buf;
    }
    if (strcmp(key, "step") == 0) {
        snprintf(buf, n, "%lld", (long long)c->step);
        got = buf;
    }
    return got;
}

/* The sorted union of the calls' keys, as the header must be. */
static uint32_t model_header(const call *calls, uint32_t ncalls, const char **keys)
{
    uint32_t n = 0;
    for (uint32_t c = 0; c < ncalls; c++) {
        const char *k[7];
        uint32_t nk = 0;
        for (uint32_t i = 0; i < calls[c].n; i++) {
            k[nk++] = calls[c].names[i];
        }
        if (calls[c].epoch >= 0) {
            k[nk++] = "epoch";
        }
        k[nk++] = "step";
        for (uint32_t i = 0; i < nk; i++) {
            uint32_t j = 0;
            while (j < n && strcmp(keys[j], k[i]) != 0) {
                j++;
            }
            if (j == n) {
                keys[n++] = k[i];
            }
        }
    }
    for (uint32_t i = 1; i < n; i++) { /* insertion sort by strcmp, as the logger's qsort */
        for (uint32_t j = i; j > 0 && strcmp(keys[j - 1], keys[j]) > 0; j--) {
            const char *t = keys[j];
            keys[j] = keys[j - 1];
            keys[j - 1] = t;
        }
    }
    return n;
}

static void check_row(const csv *f, uint32_t r, const char **keys, uint32_t nkeys, const call *c)
{
    if (f->ncols[r] != nkeys) {
        abort();
    }
    for (uint32_t i = 0; i < nkeys; i++) {
        char buf[48];
        const char *want = model_cell(c, keys[i], buf, sizeof buf);
        if (strcmp(f->cell[r][i], want ? want : "") != 0) {
            abort();
        }
        bool is_metric = want && strcmp(keys[i], "epoch") && strcmp(keys[i], "step");
        for (uint32_t j = 0; is_metric && j < c->n; j++) {
            if (strcmp(c->names[j], keys[i]) == 0) {
                double v = strtod(f->cell[r][i], NULL), w = c->values[j];
                is_metric = false;
                for (uint32_t k = j + 1; k < c->n; k++) {
                    is_metric = is_metric || strcmp(c->names[k], keys[i]) == 0;
                }
                if (!is_metric && (isnan(w) ? !isnan(v) : memcmp(&v, &w, sizeof v) != 0)) {
                    abort(); /* the value does not read back */
                }
            }
        }
    }
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) {
        abort();
    }
    b[n] = '\0';
    fclose(f);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vkt_fuzz_bytes b = {data, size};
    uint8_t mode = vkt_fuzz_u8(&b) & 1;
    for (int i = 0; i < 8; i++) {
        vkt_fuzz_str(&b, pool[i], sizeof pool[i]);
        if (strcmp(pool[i], NEW_KEY) == 0) {
            pool[i][0] = '\0'; /* mode 1's key must be new to force the rewrite */
        }
    }
    vkt_logger *l = NULL;
    if (vkt_csv_logger_create(vkt_fuzz_dir(), "", &l) != VKT_OK) {
        abort();
    }
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.csv", l->log_dir(l->user_data));
    call calls[MAX_ROWS];
    uint32_t ncalls = 0;
    const char *keys[MAX_ROWS * 7];
    static csv f;
    if (mode == 0) {
        uint32_t want = 1 + vkt_fuzz_u8(&b) % MAX_ROWS;
        for (; ncalls < want; ncalls++) {
            take_call(&b, &calls[ncalls]);
            if (log_call(l, &calls[ncalls]) != VKT_OK) {
                abort();
            }
        }
        uint32_t nkeys = model_header(calls, ncalls, keys);
        char *text = slurp(path);
        parse_strict(text, &f);
        if (f.nrows != ncalls + 1 || f.ncols[0] != nkeys) {
            abort();
        }
        for (uint32_t i = 0; i < nkeys; i++) {
            if (strcmp(f.cell[0][i], keys[i]) != 0) {
                abort();
            }
        }
        for (uint32_t r = 0; r < ncalls; r++) {
            check_row(&f, r + 1, keys, nkeys, &calls[r]);
        }
        free_csv(&f);
        free(text);
    } else {
        take_call(&b, &calls[0]);
        take_call(&b, &calls[1]);
        calls[1].names[calls[1].n] = NEW_KEY; /* not in the pool: forces the rewrite */
        calls[1].values[calls[1].n++] = 1.5;
        size_t len = vkt_fuzz_u8(&b) * 2u;
        len = len < b.left ? len : b.left;
        if (log_call(l, &calls[0]) != VKT_OK) {
            abort();
        }
        FILE *out = fopen(path, "wb");
        if (!out || fwrite(b.p, 1, len, out) != len || fclose(out) != 0) {
            abort();
        }
        vkt_clear_error();
        if (log_call(l, &calls[1]) != VKT_OK) {
            if (!vkt_last_error()[0]) {
                abort();
            }
        } else {
            uint32_t nkeys = model_header(calls, 2, keys);
            char *text = slurp(path);
            parse_strict(text, &f);
            if (f.nrows < 2 || f.ncols[0] != nkeys) {
                abort();
            }
            for (uint32_t i = 0; i < nkeys; i++) {
                if (strcmp(f.cell[0][i], keys[i]) != 0) {
                    abort();
                }
            }
            for (uint32_t r = 1; r < f.nrows; r++) {
                if (f.ncols[r] != nkeys) {
                    abort();
                }
            }
            check_row(&f, f.nrows - 1, keys, nkeys, &calls[1]);
            free_csv(&f);
            free(text);
        }
    }
    unlink(path);
    rmdir(l->log_dir(l->user_data));
    vkt_csv_logger_destroy(l);
    return 0;
}
