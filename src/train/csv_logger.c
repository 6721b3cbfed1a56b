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
 * Tests: tests/test_train_io.c (the observed metrics.csv of docs/lightning.md, row by row).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "train/train_internal.h"

#define LINE_END "\r\n"

typedef struct csv_logger {
    vkt_logger logger; /* first: vkt_logger * <-> csv_logger * */
    char *log_dir;
    char *metrics_path;
    char version[24];
    char **keys; /* the header, sorted */
    uint32_t nkeys, cap;
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

/* Splits one CSV record at *p into malloc'd fields; advances *p. false at the end of input. */
static bool csv_record(const char **p, char ***fields, uint32_t *n)
{
    const char *s = *p;
    *fields = NULL;
    *n = 0;
    if (!*s) {
        return false;
    }
    uint32_t cap = 0;
    while (true) {
        vkt__sbuf f = {0};
        vkt__sb_puts(&f, "");
        if (*s == '"') {
            s++;
            while (*s) {
                if (*s == '"' && s[1] == '"') {
                    vkt__sb_putn(&f, s, 1);
                    s += 2;
                } else if (*s == '"') {
                    s++;
                    break;
                } else {
                    vkt__sb_putn(&f, s++, 1);
                }
            }
        }
        while (*s && *s != ',' && *s != '\r' && *s != '\n') {
            vkt__sb_putn(&f, s++, 1);
        }
        if (!vkt__grow((void **)fields, &cap, *n + 1, sizeof **fields)) {
            free(f.p);
            break;
        }
        (*fields)[(*n)++] = f.p;
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '\r') {
            s++;
        }
        if (*s == '\n') {
            s++;
        }
        break;
    }
    *p = s;
    return true;
}

static void free_fields(char **f, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        free(f[i]);
    }
    free(f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    vkt__sbuf b = {0};
    vkt__sb_puts(&b, "");
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) {
        vkt__sb_putn(&b, chunk, r);
    }
    bool bad = ferror(f) || b.oom;
    fclose(f);
    if (bad) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

static vkt_status write_file_atomic(const char *path, const char *text, size_t len)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        return vkt__error(VKT_IO, "CSVLogger: cannot create '%s': %s", tmp, strerror(errno));
    }
    bool ok = fwrite(text, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        vkt_status s = vkt__error(VKT_IO, "CSVLogger: cannot write '%s': %s", path,
                                  strerror(errno));
        unlink(tmp);
        return s;
    }
    return VKT_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int32_t key_index(const csv_logger *c, const char *key)
{
    for (uint32_t i = 0; i < c->nkeys; i++) {
        if (strcmp(c->keys[i], key) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

static void put_header(const csv_logger *c, vkt__sbuf *b)
{
    for (uint32_t i = 0; i < c->nkeys; i++) {
        if (i) {
            vkt__sb_puts(b, ",");
        }
        csv_field(b, c->keys[i]);
    }
    vkt__sb_puts(b, LINE_END);
}

/* _rewrite_with_new_header: reads the file back and writes every row under the new header. */
static vkt_status rewrite(csv_logger *c)
{
    char *text = read_file(c->metrics_path);
    if (!text) {
        return vkt__error(VKT_IO, "CSVLogger: cannot read '%s' back to add columns: %s",
                          c->metrics_path, strerror(errno));
    }
    vkt__sbuf out = {0};
    put_header(c, &out);
    const char *p = text;
    char **old = NULL, **row;
    uint32_t nold = 0, nrow;
    bool have_header = csv_record(&p, &old, &nold);
    int32_t *map = vkt__calloc(nold ? nold : 1, sizeof *map);
    for (uint32_t i = 0; map && i < nold; i++) {
        map[i] = key_index(c, old[i]);
    }
    char **cells = vkt__calloc(c->nkeys, sizeof *cells);
    while (have_header && map && cells && csv_record(&p, &row, &nrow)) {
        memset(cells, 0, c->nkeys * sizeof *cells);
        for (uint32_t i = 0; i < nrow && i < nold; i++) {
            if (map[i] >= 0) {
                cells[map[i]] = row[i];
            }
        }
        for (uint32_t i = 0; i < c->nkeys; i++) {
            if (i) {
                vkt__sb_puts(&out, ",");
            }
            csv_field(&out, cells[i] ? cells[i] : "");
        }
        vkt__sb_puts(&out, LINE_END);
        free_fields(row, nrow);
    }
    vkt_status s = !map || !cells || out.oom
                       ? vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory")
                       : write_file_atomic(c->metrics_path, out.p, out.len);
    free(cells);
    free(map);
    free_fields(old, nold);
    free(out.p);
    free(text);
    return s;
}

static vkt_status csv_log_metrics(const char *const *names, const double *values, uint32_t n,
                                  int64_t step, int64_t epoch, void *ud)
{
    csv_logger *c = ud;
    /* the row as (key, text) pairs: the metrics, then epoch, then step (a later key wins) */
    uint32_t m = n + 2;
    const char **rk = vkt__calloc(m, sizeof *rk);
    char (*rv)[48] = vkt__calloc(m, sizeof *rv);
    if (!rk || !rv) {
        free(rk);
        free(rv);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory");
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
    /* new keys: extend and sort the header; rewrite the file if it has rows already */
    bool added = false;
    vkt_status s = VKT_OK;
    for (uint32_t j = 0; j < cnt && s == VKT_OK; j++) {
        if (key_index(c, rk[j]) >= 0) {
            continue;
        }
        char *k = vkt__strdup(rk[j]);
        if (!k || !vkt__grow((void **)&c->keys, &c->cap, c->nkeys + 1, sizeof *c->keys)) {
            free(k);
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory");
            break;
        }
        c->keys[c->nkeys++] = k;
        added = true;
    }
    if (added) {
        qsort(c->keys, c->nkeys, sizeof *c->keys, cmp_str);
        if (s == VKT_OK && c->file_exists) {
            s = rewrite(c);
        }
    }
    vkt__sbuf line = {0};
    if (s == VKT_OK && !c->file_exists) {
        put_header(c, &line);
    }
    for (uint32_t i = 0; s == VKT_OK && i < c->nkeys; i++) {
        if (i) {
            vkt__sb_puts(&line, ",");
        }
        for (uint32_t j = 0; j < cnt; j++) {
            if (strcmp(rk[j], c->keys[i]) == 0) {
                csv_field(&line, rv[j]);
            }
        }
    }
    vkt__sb_puts(&line, LINE_END);
    if (s == VKT_OK) {
        FILE *f = line.oom ? NULL : fopen(c->metrics_path, c->file_exists ? "ab" : "wb");
        bool ok = f && fwrite(line.p, 1, line.len, f) == line.len;
        ok = f && fclose(f) == 0 && ok;
        if (!ok) {
            s = vkt__error(line.oom ? VKT_OUT_OF_HOST_MEMORY : VKT_IO,
                           "CSVLogger: cannot write '%s': %s", c->metrics_path,
                           line.oom ? "out of host memory" : strerror(errno));
        } else {
            c->file_exists = true;
        }
    }
    free(line.p);
    free(rk);
    free(rv);
    return s;
}

/* ---- hparams.yaml (PyYAML's yaml.dump: sorted keys, block style, 2-space indent) ---- */

/* Whether PyYAML's resolver would read `s` as an int or a float (YAML 1.1 patterns, without
 * sexagesimal numbers, which we quote whenever they hold a ':' anyway). */
static bool yaml_numeric(const char *s)
{
    if (*s == '+' || *s == '-') {
        s++;
    }
    if (strcmp(s, ".inf") == 0 || strcmp(s, ".Inf") == 0 || strcmp(s, ".INF") == 0 ||
        strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0) {
        return true;
    }
    if ((s[0] == '0' && s[1] == 'b' && s[2] && strspn(s + 2, "01_") == strlen(s + 2)) ||
        (s[0] == '0' && s[1] == 'x' && s[2] &&
         strspn(s + 2, "0123456789abcdefABCDEF_") == strlen(s + 2))) {
        return true;
    }
    size_t i = strspn(s, "0123456789_");
    bool lead_digit = s[0] >= '0' && s[0] <= '9';
    if (s[i] == '\0') {
        return lead_digit;
    }
    if (s[i] != '.' || (!lead_digit && !(s[i + 1] >= '0' && s[i + 1] <= '9'))) {
        return false;
    }
    i++;
    i += strspn(s + i, "0123456789_");
    if (s[i] == '\0') {
        return true;
    }
    if ((s[i] == 'e' || s[i] == 'E') && (s[i + 1] == '+' || s[i + 1] == '-') && s[i + 2]) {
        return strspn(s + i + 2, "0123456789") == strlen(s + i + 2);
    }
    return false;
}

/* Whether PyYAML writes `s` as a plain scalar (block context). */
static bool yaml_plain_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || s[0] == ' ' || s[n - 1] == ' ' || strchr("#,[]{}&*!|>'\"%@`", s[0]) ||
        (strchr("-?:", s[0]) && (n == 1 || s[1] == ' ')) || s[n - 1] == ':' ||
        strstr(s, ": ") || strstr(s, " #") || strcmp(s, "<<") == 0 || strcmp(s, "=") == 0) {
        return false;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 || *p == 0x7F) {
            return false;
        }
    }
    static const char *words[] = {"yes",   "Yes",   "YES", "no",  "No",   "NO",   "true",
                                  "True",  "TRUE",  "false", "False", "FALSE", "on", "On",
                                  "ON",    "off",   "Off", "OFF", "null", "Null", "NULL", "~"};
    for (size_t i = 0; i < VKT__ARRAY_LEN(words); i++) {
        if (strcmp(s, words[i]) == 0) {
            return false;
        }
    }
    bool digit0 = s[0] >= '0' && s[0] <= '9';
    bool date = n >= 8 && strspn(s, "0123456789") == 4 && s[4] == '-'; /* timestamps */
    return !yaml_numeric(s) && !(digit0 && strchr(s, ':')) && !date;
}

static void yaml_scalar_str(vkt__sbuf *b, const char *s)
{
    if (yaml_plain_ok(s)) {
        vkt__sb_puts(b, s);
        return;
    }
    bool printable = true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        printable = printable && !(*p < 0x20 || *p == 0x7F);
    }
    if (printable) {
        vkt__sb_puts(b, "'");
        for (; *s; s++) {
            vkt__sb_putn(b, s, 1);
            if (*s == '\'') {
                vkt__sb_puts(b, "'");
            }
        }
        vkt__sb_puts(b, "'");
        return;
    }
    vkt__sb_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        if (*p == '"' || *p == '\\') {
            snprintf(e, sizeof e, "\\%c", *p);
        } else if (*p == '\n') {
            snprintf(e, sizeof e, "\\n");
        } else if (*p == '\t') {
            snprintf(e, sizeof e, "\\t");
        } else if (*p < 0x20 || *p == 0x7F) {
            snprintf(e, sizeof e, "\\x%02X", *p);
        } else {
            e[0] = (char)*p;
            e[1] = '\0';
        }
        vkt__sb_puts(b, e);
    }
    vkt__sb_puts(b, "\"");
}

/* PyYAML represent_float (integral values as ints: a vkt_dict number cannot say which it was) */
static void yaml_number(vkt__sbuf *b, double v, bool as_float)
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
        if (e && !strchr(t, '.')) {
            memmove(e + 2, e, strlen(e) + 1);
            memcpy(e, ".0", 2);
        }
    }
    vkt__sb_puts(b, t);
}

static void yaml_indent(vkt__sbuf *b, int n)
{
    for (int i = 0; i < n; i++) {
        vkt__sb_puts(b, " ");
    }
}

/* A block sequence of f32 values (nested lists for ndim > 1), PyYAML's layout. */
static void yaml_floats(vkt__sbuf *b, const float *v, int ndim, const int64_t *shape, int dim,
                        uint64_t *at, int indent, bool inline_first)
{
    if (shape[dim] == 0) {
        vkt__sb_puts(b, "[]\n");
        return;
    }
    for (int64_t i = 0; i < shape[dim]; i++) {
        if (i > 0 || !inline_first) {
            yaml_indent(b, indent);
        }
        vkt__sb_puts(b, "- ");
        if (dim + 1 == ndim) {
            yaml_number(b, (double)v[(*at)++], true);
            vkt__sb_puts(b, "\n");
        } else {
            yaml_floats(b, v, ndim, shape, dim + 1, at, indent + 2, true);
        }
    }
}

static int cmp_entry_keys(const void *a, const void *b)
{
    return strcmp(((const vkt__dict_entry *)a)->key, ((const vkt__dict_entry *)b)->key);
}

static void yaml_dict(vkt__sbuf *b, const vkt_dict *d, int indent)
{
    uint32_t n = vkt_dict_count(d);
    vkt__dict_entry *e = vkt__calloc(n ? n : 1, sizeof *e);
    if (!e) {
        b->oom = true;
        return;
    }
    for (uint32_t i = 0; i < n; i++) {
        e[i] = vkt__dict_at(d, i);
    }
    qsort(e, n, sizeof *e, cmp_entry_keys);
    for (uint32_t i = 0; i < n; i++) {
        yaml_indent(b, indent);
        yaml_scalar_str(b, e[i].key);
        vkt__sb_puts(b, ":");
        switch (e[i].kind) {
        case VKT__DICT_NUMBER:
            vkt__sb_puts(b, " ");
            yaml_number(b, e[i].number, false);
            vkt__sb_puts(b, "\n");
            break;
        case VKT__DICT_STRING:
            vkt__sb_puts(b, " ");
            yaml_scalar_str(b, e[i].string);
            vkt__sb_puts(b, "\n");
            break;
        case VKT__DICT_CHILD:
            if (vkt_dict_count(e[i].child) == 0) {
                vkt__sb_puts(b, " {}\n");
            } else {
                vkt__sb_puts(b, "\n");
                yaml_dict(b, e[i].child, indent + 2);
            }
            break;
        case VKT__DICT_FLOATS: {
            uint64_t at = 0;
            if (e[i].ndim == 0) {
                vkt__sb_puts(b, " ");
                yaml_number(b, (double)e[i].floats[0], true);
                vkt__sb_puts(b, "\n");
            } else if (e[i].shape[0] == 0) {
                vkt__sb_puts(b, " []\n");
            } else {
                vkt__sb_puts(b, "\n");
                yaml_floats(b, e[i].floats, e[i].ndim, e[i].shape, 0, &at, indent, false);
            }
            break;
        }
        default:
            break;
        }
    }
    free(e);
}

char *vkt__dict_to_yaml(const vkt_dict *d)
{
    vkt__sbuf b = {0};
    if (vkt_dict_count(d) == 0) {
        vkt__sb_puts(&b, "{}\n");
    } else {
        yaml_dict(&b, d, 0);
    }
    if (b.oom) {
        free(b.p);
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "CSVLogger: out of host memory writing YAML");
        return NULL;
    }
    return b.p;
}

static vkt_status csv_log_hyperparams(const vkt_dict *hparams, void *ud)
{
    csv_logger *c = ud;
    vkt_status s = vkt__dict_update(c->hparams, hparams);
    if (s != VKT_OK) {
        return s;
    }
    char *yaml = vkt__dict_to_yaml(c->hparams);
    if (!yaml) {
        return vkt_last_status();
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/hparams.yaml", c->log_dir);
    s = write_file_atomic(path, yaml, strlen(yaml));
    free(yaml);
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
