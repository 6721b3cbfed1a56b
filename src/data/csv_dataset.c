/*
 * csv_dataset.c — datasets from CSV files of numbers (vkt_dataset_load_csv in include/vkt/data.h),
 * parsed with libcsv (RFC 4180 quoting; spaces around unquoted cells are trimmed; a leading UTF-8
 * byte-order mark is skipped).
 *
 * The first row is held as text until its end decides whether it is a header (and resolves the
 * target column); every later cell is converted as it arrives, so memory grows with the data and
 * the first bad cell stops the load with its row and column. Tests: tests/test_data.c;
 * fuzz/fuzz_csv_dataset.c.
 */
#include <csv.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/data_internal.h"

typedef struct csv_ctx {
    const vkt_csv_dataset_desc *d;
    vkt_status s;        /* the first error; later callbacks do nothing */
    uint32_t row, col;   /* 1-based record; 0-based cell within it */
    uint32_t ncols, target;
    bool decided;        /* the first row was classified */
    char **first;        /* first row's text until then */
    uint32_t nfirst, cap_first;
    char **names;        /* header cells, or NULL */
    float *x;            /* features, row-major */
    uint32_t nx, cap_x;
    uint32_t *y;         /* i32 or f32 targets, as bits */
    uint32_t ny, cap_y;
} csv_ctx;

static vkt_status oom(void) { return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory"); }

/* Where a cell is, for errors: "row 3, column 2 ('petal_width')". */
static void where(const csv_ctx *c, uint32_t col, char *buf, size_t n)
{
    if (c->names && col < c->ncols) {
        snprintf(buf, n, "row %u, column %u ('%s')", c->row, col + 1, c->names[col]);
    } else {
        snprintf(buf, n, "row %u, column %u", c->row, col + 1);
    }
}

static bool parse_number(const char *text, double *out)
{
    if (!text[0]) {
        return false;
    }
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    return *end == '\0' && errno != ERANGE;
}

/* One data cell of column `col`. */
static void put_cell(csv_ctx *c, uint32_t col, const char *text)
{
    double v;
    char at[160];
    if (!parse_number(text, &v)) {
        where(c, col, at, sizeof at);
        c->s = vkt__error(VKT_CORRUPT_FILE, "%s: %s: '%.40s' is not a number", c->d->path, at,
                          text[0] ? text : "(empty)");
        return;
    }
    if (isfinite(v) && fabs(v) > 3.4028234663852886e38) {
        where(c, col, at, sizeof at);
        c->s = vkt__error(VKT_CORRUPT_FILE, "%s: %s: %s is beyond float32", c->d->path, at, text);
        return;
    }
    if (col != c->target) {
        if (c->nx == UINT32_MAX) {
            c->s = vkt__error(VKT_TOO_LARGE, "%s: more than 2^32 cells", c->d->path);
        } else if (!vkt__grow((void **)&c->x, &c->cap_x, c->nx + 1, sizeof *c->x)) {
            c->s = oom();
        } else {
            c->x[c->nx++] = (float)v;
        }
        return;
    }
    uint32_t w;
    if (c->d->target_type == VKT_DATA_F32) {
        float f = (float)v;
        memcpy(&w, &f, sizeof w);
    } else {
        if (!(v >= 0.0 && v <= 2147483647.0 && v == floor(v))) {
            where(c, col, at, sizeof at);
            c->s = vkt__error(VKT_CORRUPT_FILE, "%s: %s: %s is not a class label (an integer "
                                                ">= 0; target_type VKT_DATA_F32 reads values)",
                              c->d->path, at, text);
            return;
        }
        int32_t i = (int32_t)v;
        memcpy(&w, &i, sizeof w);
    }
    if (!vkt__grow((void **)&c->y, &c->cap_y, c->ny + 1, sizeof *c->y)) {
        c->s = oom();
        return;
    }
    c->y[c->ny++] = w;
}

/* Resolves the target column once the first row is known; names the columns on error. */
static vkt_status resolve_target(csv_ctx *c)
{
    const vkt_csv_dataset_desc *d = c->d;
    if (c->ncols < 2) {
        return vkt__error(VKT_CORRUPT_FILE, "%s: %u column: a dataset needs a target and at least "
                                            "one feature",
                          d->path, c->ncols);
    }
    if (d->target) {
        for (uint32_t i = 0; c->names && i < c->ncols; i++) {
            if (strcmp(c->names[i], d->target) == 0) {
                c->target = i;
                return VKT_OK;
            }
        }
        vkt__sbuf b = {0};
        for (uint32_t i = 0; c->names && i < c->ncols; i++) {
            vkt__sb_puts(&b, i ? ", " : "");
            vkt__sb_puts(&b, c->names[i]);
        }
        vkt_status s = vkt__error(VKT_INVALID_ARGUMENT,
                                  c->names ? "%s: no column named '%s' (the header has %s)"
                                           : "%s: target '%s' is a name but the file has no "
                                             "header row%s",
                                  d->path, d->target, b.p ? b.p : "");
        free(b.p);
        return s;
    }
    int64_t t = d->target_index < 0 ? (int64_t)c->ncols + d->target_index : d->target_index;
    if (t < 0 || t >= c->ncols) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: target_index %d is outside the %u columns",
                          d->path, d->target_index, c->ncols);
    }
    c->target = (uint32_t)t;
    return VKT_OK;
}

/* The end of the first row: header or data. */
static void decide(csv_ctx *c)
{
    c->decided = true;
    c->ncols = c->nfirst;
    bool header = c->d->header == VKT_CSV_HEADER_PRESENT;
    if (c->d->header == VKT_CSV_HEADER_AUTO) {
        for (uint32_t i = 0; i < c->nfirst && !header; i++) {
            double v;
            header = !parse_number(c->first[i], &v);
        }
    }
    if (header) {
        c->names = c->first;
        c->first = NULL;
    }
    c->s = resolve_target(c);
    for (uint32_t i = 0; c->first && i < c->nfirst && c->s == VKT_OK; i++) {
        put_cell(c, i, c->first[i]);
    }
}

static void on_field(void *data, size_t len, void *ud)
{
    csv_ctx *c = ud;
    if (c->s != VKT_OK) {
        return;
    }
    if (c->col == 0) {
        c->row++;
    }
    uint32_t col = c->col++;
    if (c->decided && col >= c->ncols) {
        return; /* counted; reported at the end of the row */
    }
    char buf[128];
    if (c->decided && len < sizeof buf) {
        memcpy(buf, data, len);
        buf[len] = '\0';
        put_cell(c, col, buf);
        return;
    }
    char *copy = vkt__malloc(len + 1);
    if (!copy) {
        c->s = oom();
        return;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    if (c->decided) { /* a long cell: not a number, but say so by the same path */
        put_cell(c, col, copy);
        free(copy);
        return;
    }
    if (!vkt__grow((void **)&c->first, &c->cap_first, c->nfirst + 1, sizeof *c->first)) {
        free(copy);
        c->s = oom();
        return;
    }
    c->first[c->nfirst++] = copy;
}

static void on_record(int term, void *ud)
{
    (void)term;
    csv_ctx *c = ud;
    if (c->s != VKT_OK) {
        return;
    }
    if (c->col == 0) { /* libcsv reports a row of one empty cell as no fields */
        c->row++;
    }
    uint32_t cells = c->col;
    c->col = 0;
    if (!c->decided) {
        decide(c);
        return;
    }
    if (cells != c->ncols) {
        c->s = vkt__error(VKT_CORRUPT_FILE, "%s: row %u has %u cells but the first row has %u",
                          c->d->path, c->row, cells, c->ncols);
    }
}

/* libcsv answers a failed growth by retrying smaller; any failure counts as out of memory so
 * that allocation-failure injection sees every point fail. vkt is single-threaded on the host. */
static bool csv_alloc_failed;

static void *csv_counted_realloc(void *p, size_t n)
{
    void *q = vkt__realloc(p, n);
    csv_alloc_failed |= !q;
    return q;
}

static void free_strings(char **v, uint32_t n)
{
    for (uint32_t i = 0; v && i < n; i++) {
        free(v[i]);
    }
    free(v);
}

vkt_status vkt_dataset_load_csv(const vkt_csv_dataset_desc *desc, vkt_dataset **out)
{
    *out = NULL;
    if (!desc || !desc->path) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dataset_load_csv: path is required");
    }
    if (desc->target_type != VKT_DATA_DEFAULT && desc->target_type != VKT_DATA_I32 &&
        desc->target_type != VKT_DATA_F32) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dataset_load_csv: target_type must be "
                                                "VKT_DATA_I32 (class labels) or VKT_DATA_F32");
    }
    errno = 0;
    FILE *f = fopen(desc->path, "rb");
    if (!f) {
        return vkt__error(VKT_IO, "%s: cannot open: %s", desc->path,
                          errno ? strerror(errno) : "out of memory");
    }
    csv_ctx c = {.d = desc};
    struct csv_parser p;
    csv_init(&p, CSV_STRICT | CSV_STRICT_FINI);
    csv_set_realloc_func(&p, csv_counted_realloc);
    csv_set_free_func(&p, free);
    csv_alloc_failed = false;
    char chunk[1 << 14];
    size_t n = fread(chunk, 1, sizeof chunk, f);
    /* A UTF-8 byte-order mark (Excel's "CSV UTF-8", pandas' encoding="utf-8-sig") is no part of
     * the first cell: kept, it would hide the target's name or make a row of numbers a header. */
    size_t skip = n >= 3 && memcmp(chunk, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    bool parse_failed = false;
    while (c.s == VKT_OK && !parse_failed && n > 0) {
        parse_failed = csv_parse(&p, chunk + skip, n - skip, on_field, on_record, &c) != n - skip;
        skip = 0;
        n = fread(chunk, 1, sizeof chunk, f);
    }
    if (c.s == VKT_OK && ferror(f)) {
        c.s = vkt__error(VKT_IO, "%s: read error", desc->path);
    }
    if (c.s == VKT_OK && !parse_failed) {
        parse_failed = csv_fini(&p, on_field, on_record, &c) != 0;
    }
    if (c.s == VKT_OK && (csv_alloc_failed || (parse_failed && csv_error(&p) != CSV_EPARSE))) {
        c.s = oom();
    } else if (c.s == VKT_OK && parse_failed) {
        c.s = vkt__error(VKT_CORRUPT_FILE, "%s: row %u: %s (a quote inside an unquoted cell, or "
                                           "an unterminated quoted cell)",
                         desc->path, c.row + (c.col == 0), csv_strerror(csv_error(&p)));
    }
    csv_free(&p);
    fclose(f);
    if (c.s == VKT_OK && c.ny == 0) {
        c.s = vkt__error(VKT_CORRUPT_FILE, "%s: no data rows", desc->path);
    }
    if (c.s == VKT_OK) {
        vkt_dataset_desc d = {
            .count = c.ny,
            .x = {VKT_DATA_F32, 1, {c.ncols - 1}},
            .y = {desc->target_type == VKT_DATA_F32 ? VKT_DATA_F32 : VKT_DATA_I32, 0, {0}},
        };
        c.s = vkt__dataset_adopt(&d, c.x, c.y, out);
        c.x = NULL;
        c.y = NULL;
    }
    free(c.x);
    free(c.y);
    free_strings(c.first, c.nfirst);
    free_strings(c.names, c.ncols);
    return c.s;
}
