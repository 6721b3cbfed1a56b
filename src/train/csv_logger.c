/*
 * csv_logger.c — Lightning's CSVLogger (loggers/csv_logs.py; docs/lightning.md "metrics.csv") as
 * a vkt_logger:
 *   save_dir/name/version_N/metrics.csv   N = 1 + the largest existing version_N (0 if none)
 *   save_dir/name/version_N/hparams.yaml  written when log_hyperparams is called
 * metrics.csv: one row per log_metrics call (rows are never merged), the header is the sorted
 * union of every key seen; when a new key appears the file is rewritten with the new header.
 * `epoch` and `step` are ints, other values Python float reprs (0.3665059506893158), absent
 * cells empty; fields are quoted as Python's csv module does (QUOTE_MINIMAL). Lines end in
 * LINE_END: "\r\n", as Python's csv module (the excel dialect) writes Lightning's file. Each
 * row is on disk when log_metrics returns.
 * Reading the file back (to rewrite it under a wider header, as Lightning's
 * _rewrite_with_new_header does) is libcsv's parser. Writing stays here: libcsv's writer quotes
 * every field, and the file must be Python's QUOTE_MINIMAL byte for byte.
 * Tests: tests/test_train_io.c (the observed metrics.csv of docs/lightning.md, row by row;
 * hparams.yaml through tests/check_hparams_yaml.py, PyYAML's safe_load).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <csv.h>

#include "train/train_internal.h"

#define LINE_END "\r\n"

typedef struct csv_logger {
    vkt_logger logger; /* first: vkt_logger * <-> csv_logger * */
    char *log_dir;
    char *metrics_path;
    char version[24];
    char **keys; /* the header, sorted */
    uint32_t nkeys;
    bool file_exists;
    vkt_dict *hparams;
} csv_logger;

/* a growing string: vkt__sbuf (src/core.c) */

/* ---- CSV ---- */

/* Python csv QUOTE_MINIMAL: quote fields holding the delimiter, the quote or a line break. */
static void csv_field(vkt__sbuf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        vkt__sb_puts(b, s);
        return;
    }
    vkt__sb_puts(b, "\"");
    for (; *s; s++) {
        vkt__sb_putn(b, s, 1);
        if (*s == '"') {
            vkt__sb_puts(b, "\"");
        }
    }
    vkt__sb_puts(b, "\"");
}

static vkt_status oom(void)
{
    return vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory");
}

/* The whole file at `path` as a NUL-terminated string in *out. */
static vkt_status read_file(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        return vkt__error(VKT_IO, "CSVLogger: cannot read '%s' back to add columns: %s", path,
                          strerror(errno));
    }
    vkt__sbuf b = {0};
    vkt__sb_puts(&b, "");
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
        vkt__sb_putn(&b, chunk, r);
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad || b.oom) {
        free(b.p);
        return bad ? vkt__error(VKT_IO, "CSVLogger: cannot read '%s' back to add columns", path)
                   : oom();
    }
    *out = b.p;
    return VKT_OK;
}

typedef struct text_out {
    const char *text;
    size_t len;
} text_out;

static bool write_text(FILE *f, void *ctx)
{
    const text_out *t = ctx;
    return fwrite(t->text, 1, t->len, f) == t->len;
}

/* checkpoint_io.c's atomic write; a killed write's temporary of the same file goes too */
static vkt_status write_file_atomic(const char *path, const char *text, size_t len)
{
    return vkt__write_file_atomic("CSVLogger", path, write_text, &(text_out){text, len}, NULL);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int32_t key_index(char *const *keys, uint32_t nkeys, const char *key)
{
    for (uint32_t i = 0; i < nkeys; i++) {
        if (strcmp(keys[i], key) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

static void put_header(vkt__sbuf *b, char *const *keys, uint32_t nkeys)
{
    for (uint32_t i = 0; i < nkeys; i++) {
        if (i) {
            vkt__sb_puts(b, ",");
        }
        csv_field(b, keys[i]);
    }
    vkt__sb_puts(b, LINE_END);
}

/* One row of (key, text) pairs under the header `keys`; absent cells empty. */
static void put_row(vkt__sbuf *b, char *const *keys, uint32_t nkeys, const char *const *rk,
                    const char (*rv)[48], uint32_t cnt)
{
    for (uint32_t i = 0; i < nkeys; i++) {
        if (i) {
            vkt__sb_puts(b, ",");
        }
        for (uint32_t j = 0; j < cnt; j++) {
            if (strcmp(rk[j], keys[i]) == 0) {
                csv_field(b, rv[j]);
            }
        }
    }
    vkt__sb_puts(b, LINE_END);
}

/* _rewrite_with_new_header: the file's rows read back and put under the header `keys` (a
 * superset of the file's) into `out`. Cells of columns not in `keys` are dropped. */
/* Re-reading metrics.csv: libcsv calls field() per field and record() per record. The first
 * record is the old header; every later one is written to `out` under the new header. */
typedef struct reread {
    char *const *keys; /* the new header */
    uint32_t nkeys;
    vkt__sbuf *out;
    char **old; /* the old header's fields */
    uint32_t nold, cap_old;
    int32_t *map; /* old column -> new column (-1: none) */
    char **row;   /* the current record's fields */
    uint32_t nrow, cap_row;
    const char **cells; /* the current record under the new header */
    bool header_done, oom;
} reread;

static void reread_field(void *data, size_t len, void *ud)
{
    reread *r = ud;
    char ***f = r->header_done ? &r->row : &r->old;
    uint32_t *n = r->header_done ? &r->nrow : &r->nold;
    uint32_t *cap = r->header_done ? &r->cap_row : &r->cap_old;
    char *copy = r->oom ? NULL : vkt__malloc(len + 1);
    if (!copy || !vkt__grow((void **)f, cap, *n + 1, sizeof **f)) {
        free(copy);
        r->oom = true;
        return;
    }
    memcpy(copy, data, len);
    copy[len] = '\0';
    (*f)[(*n)++] = copy;
}

static void reread_record(int term, void *ud)
{
    (void)term;
    reread *r = ud;
    if (r->oom) {
        return;
    }
    if (!r->header_done) {
        r->header_done = true;
        r->map = vkt__calloc(r->nold, sizeof *r->map);
        r->cells = vkt__calloc(r->nkeys, sizeof *r->cells);
        if (!r->map || !r->cells) {
            r->oom = true;
            return;
        }
        for (uint32_t i = 0; i < r->nold; i++) {
            r->map[i] = key_index(r->keys, r->nkeys, r->old[i]);
        }
        return;
    }
    memset(r->cells, 0, r->nkeys * sizeof *r->cells);
    for (uint32_t i = 0; i < r->nrow && i < r->nold; i++) {
        if (r->map[i] >= 0) {
            r->cells[r->map[i]] = r->row[i];
        }
    }
    for (uint32_t i = 0; i < r->nkeys; i++) {
        if (i) {
            vkt__sb_puts(r->out, ",");
        }
        csv_field(r->out, r->cells[i] ? r->cells[i] : "");
    }
    vkt__sb_puts(r->out, LINE_END);
    for (uint32_t i = 0; i < r->nrow; i++) {
        free(r->row[i]);
    }
    r->nrow = 0;
}

/* Python's csv module keeps spaces around fields; libcsv's default trims them. */
static int no_space(unsigned char c)
{
    (void)c;
    return 0;
}

/* libcsv answers a failed buffer growth by retrying smaller blocks; any failure here counts as out
 * of memory instead, so that a rewrite either has all the memory it asked for or fails cleanly
 * (and allocation-failure injection sees every point fail). vkt is single-threaded on the host. */
static bool csv_alloc_failed;

static void *csv_counted_realloc(void *p, size_t n)
{
    void *q = vkt__realloc(p, n);
    csv_alloc_failed |= !q;
    return q;
}

static vkt_status rewrite(const csv_logger *c, char *const *keys, uint32_t nkeys, vkt__sbuf *out)
{
    char *text = NULL;
    vkt_status s = read_file(c->metrics_path, &text);
    if (s != VKT_OK) {
        return s;
    }
    put_header(out, keys, nkeys);
    reread r = {.keys = keys, .nkeys = nkeys, .out = out};
    struct csv_parser p;
    csv_init(&p, 0);
    csv_set_space_func(&p, no_space);
    csv_set_realloc_func(&p, csv_counted_realloc);
    csv_set_free_func(&p, free);
    csv_alloc_failed = false;
    size_t len = strlen(text);
    bool failed = csv_parse(&p, text, len, reread_field, reread_record, &r) != len;
    failed = csv_fini(&p, reread_field, reread_record, &r) != 0 || failed;
    if (failed || r.oom || csv_alloc_failed) {
        /* not strict: the only errors left are memory (CSV_ENOMEM, CSV_ETOOBIG) */
        s = oom();
    }
    csv_free(&p);
    for (uint32_t i = 0; i < r.nrow; i++) {
        free(r.row[i]);
    }
    free(r.row);
    for (uint32_t i = 0; i < r.nold; i++) {
        free(r.old[i]);
    }
    free(r.old);
    free(r.map);
    free(r.cells);
    free(text);
    return s;
}

static vkt_status append_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "ab");
    bool ok = f && fwrite(text, 1, len, f) == len;
    ok = f && fclose(f) == 0 && ok;
    if (!ok) {
        return vkt__error(VKT_IO, "CSVLogger: cannot write '%s': %s", path, strerror(errno));
    }
    return VKT_OK;
}

/* Nothing changes (file or logger) unless the whole row is on disk: a new header is built
 * aside, and a file that needs it is rewritten in one atomic replacement. */
static vkt_status csv_log_metrics(const char *const *names, const double *values, uint32_t n,
                                  int64_t step, int64_t epoch, void *ud)
{
    csv_logger *c = ud;
    vkt_status s = VKT_OK;
    vkt__sbuf text = {0};
    char **keys = NULL; /* the new header [0, total), then its new strings [total, +nnew) */
    uint32_t total = c->nkeys, nnew = 0;
    /* the row as (key, text) pairs: the metrics, then epoch, then step (a later key wins) */
    uint32_t m = n + 2;
    const char **rk = vkt__calloc(m, sizeof *rk);
    char(*rv)[48] = vkt__calloc(m, sizeof *rv);
    if (!rk || !rv) {
        s = oom();
        goto cleanup;
    }
    uint32_t cnt = 0;
    for (uint32_t i = 0; i < n + 2; i++) {
        const char *k = i < n ? names[i] : i == n ? "epoch" : "step";
        if (!k || (i == n && epoch < 0)) {
            continue;
        }
        uint32_t at = cnt;
        for (uint32_t j = 0; j < cnt; j++) {
            if (strcmp(rk[j], k) == 0) {
                at = j;
            }
        }
        rk[at] = k;
        if (i < n) {
            vkt__format_py_float(rv[at], sizeof rv[at], values[i]);
        } else {
            snprintf(rv[at], sizeof rv[at], "%lld", (long long)(i == n ? epoch : step));
        }
        cnt += at == cnt;
    }
    for (uint32_t j = 0; j < cnt; j++) {
        nnew += key_index(c->keys, c->nkeys, rk[j]) < 0;
    }
    if (nnew) {
        total = c->nkeys + nnew;
        keys = vkt__calloc((size_t)total + nnew, sizeof *keys);
        if (!keys) {
            s = oom();
            goto cleanup;
        }
        if (c->nkeys) { /* c->keys is NULL before the first row */
            memcpy(keys, c->keys, c->nkeys * sizeof *keys);
        }
        for (uint32_t j = 0, k = c->nkeys; j < cnt; j++) {
            if (key_index(c->keys, c->nkeys, rk[j]) >= 0) {
                continue;
            }
            if (!(keys[k] = vkt__strdup(rk[j]))) {
                s = oom();
                goto cleanup;
            }
            keys[total + (k - c->nkeys)] = keys[k];
            k++;
        }
        qsort(keys, total, sizeof *keys, cmp_str);
    }
    char *const *header = nnew ? keys : c->keys;
    if (!c->file_exists) {
        put_header(&text, header, total);
    } else if (nnew) {
        s = rewrite(c, header, total, &text);
        if (s != VKT_OK) {
            goto cleanup;
        }
    }
    put_row(&text, header, total, rk, (const char(*)[48])rv, cnt);
    if (text.oom) {
        s = oom();
        goto cleanup;
    }
    s = c->file_exists && !nnew ? append_file(c->metrics_path, text.p, text.len)
                                : write_file_atomic(c->metrics_path, text.p, text.len);
    if (s != VKT_OK) {
        goto cleanup;
    }
    c->file_exists = true;
    if (nnew) {
        free(c->keys);
        c->keys = keys;
        c->nkeys = total;
        keys = NULL;
    }
cleanup:
    for (uint32_t j = 0; keys && j < nnew; j++) {
        free(keys[total + j]);
    }
    free(keys);
    free(text.p);
    free(rk);
    free(rv);
    return s;
}

/* ---- hparams.yaml (PyYAML's yaml.dump layout: sorted keys, block style, 2-space indent) ----
 *
 * libyaml's emitter chooses the layout and the quoting (it is the C original of PyYAML's
 * emitter, so the bytes are yaml.dump's). What it cannot know is the resolver: whether a string
 * written plain would read back as something else. yaml_implicit_non_str answers that and a string
 * it flags is emitted with plain_implicit = 0, which makes libyaml quote it.
 */

/* sign? then the rest of `s` after it */
static const char *skip_sign(const char *s) { return s + (*s == '+' || *s == '-'); }

/* `s` is one of the words, exactly */
static bool is_word(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s, words[i]) == 0) {
            return true;
        }
    }
    return false;
}

/* [eE] sign digits+ at s (sign required when `need_sign`), then the end */
static bool exponent_end(const char *s, bool need_sign)
{
    if (*s != 'e' && *s != 'E') {
        return false;
    }
    s++;
    if (*s == '+' || *s == '-') {
        s++;
    } else if (need_sign) {
        return false;
    }
    size_t d = strspn(s, "0123456789");
    return d > 0 && s[d] == '\0';
}

static bool all_of(const char *s, const char *set) { return s[strspn(s, set)] == '\0'; }

/* PyYAML's (YAML 1.1) int and float resolvers (resolver.py), and YAML 1.2's core-schema numbers
 * so that other readers keep the string too (quoting is always safe, never needed for PyYAML). */
static bool yaml_numeric(const char *s)
{
    static const char *const specials[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"};
    const char *u = skip_sign(s);
    if (is_word(u, specials, VKT__ARRAY_LEN(specials))) {
        return true;
    }
    if (u[0] == '0' && (u[1] == 'b' || u[1] == 'x' || u[1] == 'o') && u[2]) {
        const char *digits = u[1] == 'b'   ? "01_"
                             : u[1] == 'o' ? "01234567"
                                           : "0123456789abcdefABCDEF_";
        return all_of(u + 2, digits);
    }
    /* sexagesimal ints and floats (190:20:30, 1:30.5): any digit string holding a ':' */
    if (u[0] >= '0' && u[0] <= '9' && strchr(u, ':') && all_of(u, "0123456789_:.")) {
        return true;
    }
    size_t i = strspn(u, "0123456789_");
    bool lead_digit = u[0] >= '0' && u[0] <= '9';
    if (u[i] == '\0') {
        return lead_digit; /* 1.1: 0[0-7_]+ | 0 | [1-9][0-9_]*; 1.2: [0-9]+ */
    }
    if (lead_digit && exponent_end(u + i, false)) {
        return true; /* 1.2: 1e3 */
    }
    if (u[i] != '.') {
        return false;
    }
    const char *frac = u + i + 1;
    size_t f = strspn(frac, "0123456789_");
    if (!lead_digit && !(frac[0] >= '0' && frac[0] <= '9')) {
        return false; /* "." and "._1" are strings */
    }
    return frac[f] == '\0' || exponent_end(frac + f, false);
}

/* Whether PyYAML's resolver (or YAML 1.2's) reads `s`, written plain, as anything but a str. */
static bool yaml_implicit_non_str(const char *s)
{
    static const char *const words[] = {
        "yes",   "Yes",   "YES",   "no", "No", "NO", "true", "True", "TRUE",
        "false", "False", "FALSE", "on", "On", "ON", "off",  "Off",  "OFF",
        "null",  "Null",  "NULL",  "~",  "",   "<<", "=",
    };
    if (is_word(s, words, VKT__ARRAY_LEN(words)) || yaml_numeric(s)) {
        return true;
    }
    /* timestamps: 2024-01-01, 2024-1-1 10:00:00 */
    return strspn(s, "0123456789") == 4 && s[4] == '-';
}

typedef struct yaml_out {
    yaml_emitter_t em;
    vkt__sbuf text;
    vkt_status status; /* the first failure, with its message set */
} yaml_out;

static int yaml_write(void *data, unsigned char *buffer, size_t size)
{
    vkt__sbuf *b = data;
    vkt__sb_putn(b, (const char *)buffer, size);
    return !b->oom;
}

/* Emits `ev` if it was initialized (`init` nonzero); records the first failure. */
static bool yaml_emit(yaml_out *y, yaml_event_t *ev, int init)
{
    if (y->status != VKT_OK) {
        if (init) {
            yaml_event_delete(ev);
        }
        return false;
    }
    if (init && yaml_emitter_emit(&y->em, ev)) { /* the emitter owns the event now */
        return true;
    }
    if (!init || y->em.error == YAML_MEMORY_ERROR || y->text.oom) {
        y->status =
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory writing YAML");
    } else {
        y->status = vkt__error(VKT_ERROR, "CSVLogger: libyaml cannot write hparams.yaml: %s",
                               y->em.problem ? y->em.problem : "unknown error");
    }
    return false;
}

static bool yaml_str(yaml_out *y, const char *s)
{
    if (y->status == VKT_OK && !vkt__utf8_valid(s)) {
        y->status = vkt__error(VKT_INVALID_ARGUMENT,
                               "CSVLogger: hparams.yaml: '%.64s' is not valid UTF-8", s);
        return false;
    }
    yaml_event_t ev;
    int plain = !yaml_implicit_non_str(s);
    return yaml_emit(y, &ev,
                     y->status == VKT_OK &&
                         yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, -1, plain,
                                                      1, YAML_ANY_SCALAR_STYLE));
}

/* PyYAML represent_float / represent_int (integral values as ints: a vkt_dict number cannot say
 * which it was) */
static bool yaml_number(yaml_out *y, double v, bool as_float)
{
    char t[48];
    if (isnan(v)) {
        snprintf(t, sizeof t, ".nan");
    } else if (isinf(v)) {
        snprintf(t, sizeof t, v < 0 ? "-.inf" : ".inf");
    } else if (!as_float && v == floor(v) && fabs(v) < 9007199254740992.0) {
        snprintf(t, sizeof t, "%lld", (long long)v);
    } else {
        vkt__format_py_float(t, sizeof t, v);
        char *e = strchr(t, 'e');
        if (e && !strchr(t, '.')) { /* 1e-05 -> 1.0e-05, as PyYAML writes it */
            memmove(e + 2, e, strlen(e) + 1);
            memcpy(e, ".0", 2);
        }
    }
    yaml_event_t ev;
    return yaml_emit(y, &ev,
                     y->status == VKT_OK &&
                         yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)t, -1, 1, 0,
                                                      YAML_PLAIN_SCALAR_STYLE));
}

static bool yaml_seq(yaml_out *y, bool start)
{
    yaml_event_t ev;
    int init =
        y->status == VKT_OK &&
        (start ? yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1, YAML_BLOCK_SEQUENCE_STYLE)
               : yaml_sequence_end_event_initialize(&ev));
    return yaml_emit(y, &ev, init);
}

/* A block sequence of f32 values (nested lists for ndim > 1), as tensor.tolist() dumps. */
static void yaml_floats(yaml_out *y, const float *v, int ndim, const int64_t *shape, int dim,
                        uint64_t *at)
{
    yaml_seq(y, true);
    for (int64_t i = 0; i < shape[dim] && y->status == VKT_OK; i++) {
        if (dim + 1 == ndim) {
            yaml_number(y, (double)v[(*at)++], true);
        } else {
            yaml_floats(y, v, ndim, shape, dim + 1, at);
        }
    }
    yaml_seq(y, false);
}

static int cmp_entry_keys(const void *a, const void *b)
{
    return strcmp(((const vkt__dict_entry *)a)->key, ((const vkt__dict_entry *)b)->key);
}

static void yaml_dict(yaml_out *y, const vkt_dict *d)
{
    uint32_t n = vkt_dict_count(d);
    vkt__dict_entry *e = vkt__calloc(n ? n : 1, sizeof *e);
    if (!e) {
        if (y->status == VKT_OK) {
            y->status =
                vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory writing YAML");
        }
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        e[i] = vkt__dict_at(d, i);
    }
    qsort(e, n, sizeof *e, cmp_entry_keys);
    yaml_event_t ev;
    yaml_emit(y, &ev,
              y->status == VKT_OK && yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                                         YAML_BLOCK_MAPPING_STYLE));
    for (uint32_t i = 0; i < n && y->status == VKT_OK; i++) {
        yaml_str(y, e[i].key);
        switch (e[i].kind) {
        case VKT__DICT_NUMBER:
            yaml_number(y, e[i].number, false);
            break;
        case VKT__DICT_STRING:
            yaml_str(y, e[i].string);
            break;
        case VKT__DICT_CHILD:
            yaml_dict(y, e[i].child);
            break;
        case VKT__DICT_FLOATS: {
            uint64_t at = 0;
            if (e[i].ndim == 0) {
                yaml_number(y, (double)e[i].floats[0], true);
            } else {
                yaml_floats(y, e[i].floats, e[i].ndim, e[i].shape, 0, &at);
            }
            break;
        }
        default: /* an entry kind this writer does not know: null keeps the mapping valid */
            yaml_emit(y, &ev,
                      y->status == VKT_OK &&
                          yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)"null", -1,
                                                       1, 0, YAML_PLAIN_SCALAR_STYLE));
            break;
        }
    }
    yaml_emit(y, &ev, y->status == VKT_OK && yaml_mapping_end_event_initialize(&ev));
    free(e);
}

char *vkt__dict_to_yaml(const vkt_dict *d)
{
    yaml_out y = {.status = VKT_OK};
    if (!yaml_emitter_initialize(&y.em)) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory writing YAML");
        return NULL;
    }
    yaml_emitter_set_output(&y.em, yaml_write, &y.text);
    yaml_emitter_set_unicode(&y.em, 0); /* yaml.dump's allow_unicode=False: escapes, pure ASCII */
    yaml_emitter_set_width(&y.em, 80);
    yaml_emitter_set_indent(&y.em, 2);
    yaml_event_t ev;
    yaml_emit(&y, &ev, yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING));
    yaml_emit(&y, &ev,
              y.status == VKT_OK && yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1));
    yaml_dict(&y, d);
    yaml_emit(&y, &ev, y.status == VKT_OK && yaml_document_end_event_initialize(&ev, 1));
    yaml_emit(&y, &ev, y.status == VKT_OK && yaml_stream_end_event_initialize(&ev));
    if (y.status == VKT_OK && !yaml_emitter_flush(&y.em)) {
        yaml_emit(&y, &ev, 0);
    }
    yaml_emitter_delete(&y.em);
    if (y.status != VKT_OK || y.text.oom || !y.text.p) {
        if (y.status == VKT_OK) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory writing YAML");
        }
        free(y.text.p);
        return NULL;
    }
    return y.text.p;
}

static vkt_status csv_log_hyperparams(const vkt_dict *hparams, void *ud)
{
    csv_logger *c = ud;
    /* the merged dict replaces the logger's only once hparams.yaml holds it */
    vkt_dict *merged = vkt__dict_clone(c->hparams);
    vkt_status s = merged ? vkt__dict_update(merged, hparams) : vkt_last_status();
    char *yaml = s == VKT_OK ? vkt__dict_to_yaml(merged) : NULL;
    char *path = NULL;
    if (s != VKT_OK || !yaml) {
        s = s != VKT_OK ? s : vkt_last_status();
        goto cleanup;
    }
    size_t len = strlen(c->log_dir) + sizeof "/hparams.yaml";
    path = vkt__malloc(len);
    if (!path) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory");
        goto cleanup;
    }
    snprintf(path, len, "%s/hparams.yaml", c->log_dir);
    s = write_file_atomic(path, yaml, strlen(yaml));
    if (s == VKT_OK) {
        vkt_dict_destroy(c->hparams);
        c->hparams = merged;
        merged = NULL;
    }
cleanup:
    free(path);
    free(yaml);
    vkt_dict_destroy(merged);
    return s;
}

static vkt_status csv_save(void *ud)
{
    (void)ud; /* every row is written by log_metrics */
    return VKT_OK;
}

static void csv_finalize(void *ud) { (void)ud; }

static const char *csv_version(void *ud) { return ((csv_logger *)ud)->version; }

static const char *csv_log_dir(void *ud) { return ((csv_logger *)ud)->log_dir; }

/* _get_next_version: 1 + the largest version_<digits> directory, 0 if none. */
static long next_version(const char *root)
{
    DIR *d = opendir(root);
    if (!d) {
        return 0;
    }
    long best = -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "version_", 8) != 0) {
            continue;
        }
        const char *num = e->d_name + 8;
        if (!num[0] || strspn(num, "0123456789") != strlen(num) || strlen(num) > 15) {
            continue;
        }
        char full[4096 + 512];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", root, e->d_name);
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            long v = atol(num);
            best = v > best ? v : best;
        }
    }
    closedir(d);
    return best + 1;
}

vkt_status vkt_csv_logger_create(const char *save_dir, const char *name, vkt_logger **out)
{
    if (out) {
        *out = NULL;
    }
    if (!out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_csv_logger_create: out is NULL");
    }
    if (!save_dir || !save_dir[0]) {
        save_dir = ".";
    }
    if (!name) {
        name = "lightning_logs";
    }
    csv_logger *c = vkt__calloc(1, sizeof *c);
    if (!c || !(c->hparams = vkt_dict_create())) {
        free(c);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_csv_logger_create: out of host memory");
    }
    char root[4096];
    if (name[0]) {
        snprintf(root, sizeof root, "%s/%s", save_dir, name);
    } else {
        snprintf(root, sizeof root, "%s", save_dir);
    }
    vkt_status s = VKT_OK;
    /* the version is taken by creating its directory, so two loggers never share one */
    for (int tries = 0; tries < 100; tries++) {
        long v = next_version(root);
        snprintf(c->version, sizeof c->version, "%ld", v);
        size_t len = strlen(root) + 32;
        free(c->log_dir);
        c->log_dir = vkt__malloc(len);
        if (!c->log_dir) {
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_csv_logger_create: out of host memory");
            break;
        }
        snprintf(c->log_dir, len, "%s/version_%ld", root, v);
        s = vkt__mkdir_p(root);
        if (s != VKT_OK) {
            vkt__error_context("vkt_csv_logger_create");
            break;
        }
        if (mkdir(c->log_dir, 0777) == 0) {
            break;
        }
        if (errno != EEXIST) {
            s = vkt__error(VKT_IO, "vkt_csv_logger_create: cannot create '%s': %s", c->log_dir,
                           strerror(errno));
            break;
        }
    }
    if (s == VKT_OK) {
        size_t len = strlen(c->log_dir) + 16;
        c->metrics_path = vkt__malloc(len);
        if (!c->metrics_path) {
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_csv_logger_create: out of host memory");
        } else {
            snprintf(c->metrics_path, len, "%s/metrics.csv", c->log_dir);
        }
    }
    if (s != VKT_OK) {
        vkt_csv_logger_destroy(&c->logger);
        return s;
    }
    c->logger = (vkt_logger){
        .log_metrics = csv_log_metrics,
        .log_hyperparams = csv_log_hyperparams,
        .save = csv_save,
        .finalize = csv_finalize,
        .version = csv_version,
        .log_dir = csv_log_dir,
        .user_data = c,
    };
    *out = &c->logger;
    return VKT_OK;
}

void vkt_csv_logger_destroy(vkt_logger *l)
{
    csv_logger *c = (csv_logger *)l;
    if (!c) {
        return;
    }
    for (uint32_t i = 0; i < c->nkeys; i++) {
        free(c->keys[i]);
    }
    free(c->keys);
    free(c->log_dir);
    free(c->metrics_path);
    vkt_dict_destroy(c->hparams);
    free(c);
}
