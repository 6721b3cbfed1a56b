/*
 * fuzz_yaml.c — hparams.yaml: a vkt_dict built from the fuzz input (keys and strings of any
 * bytes, numbers of any bit pattern, nested dicts, f32 lists) is written by the CSV logger's
 * log_hyperparams, read back with libyaml's parser, and every value must come back: strings
 * byte for byte and never as a plain scalar a YAML resolver would take for a number, bool or
 * null; numbers exactly (NaN as .nan); dicts with the same keys; lists element by element.
 * A string that is not UTF-8 must be refused with an error and no file.
 *
 * Input: a sequence of entries, each a kind byte (number, string, child, floats) and a key, then
 * the value; a child takes the following entries up to its count.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "fuzz_bytes.h"
#include "fuzz_util.h"
#include "train/train_internal.h"
#include "vkt/train.h"

static bool any_high_byte;

static void note(const char *s)
{
    for (; *s; s++) {
        any_high_byte = any_high_byte || (unsigned char)*s >= 0x80;
    }
}

static void fill(vkt_fuzz_bytes *b, vkt_dict *d, int depth)
{
    uint32_t n = vkt_fuzz_u8(b) % 8;
    for (uint32_t i = 0; i < n && b->left; i++) {
        uint8_t kind = vkt_fuzz_u8(b);
        char key[64], str[256];
        vkt_fuzz_str(b, key, sizeof key);
        note(key);
        switch (kind % 4) {
        case 0:
            vkt_dict_set_number(d, key, vkt_fuzz_double(b));
            break;
        case 1:
            vkt_fuzz_str(b, str, sizeof str);
            note(str);
            vkt_dict_set_string(d, key, str);
            break;
        case 2:
            if (depth < 4) {
                fill(b, vkt_dict_child(d, key), depth + 1);
            }
            break;
        default: {
            float v[12];
            int64_t shape[2] = {vkt_fuzz_u8(b) % 4, vkt_fuzz_u8(b) % 4};
            int ndim = kind / 4 % 3;
            int64_t count = ndim == 0 ? 1 : ndim == 1 ? shape[0] : shape[0] * shape[1];
            for (int64_t j = 0; j < count; j++) {
                uint32_t u = (uint32_t)vkt_fuzz_u64(b);
                memcpy(&v[j], &u, sizeof u);
            }
            vkt_dict_set_floats(d, key, count ? v : NULL, ndim, shape);
            break;
        }
        }
    }
}

static yaml_node_t *lookup(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k->type == YAML_SCALAR_NODE && k->data.scalar.length == strlen(key) &&
            memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0) {
            return yaml_document_get_node(doc, p->value);
        }
    }
    abort(); /* a key went missing */
}

/* A string that came back as a plain scalar must not look like a YAML number, bool or null
 * (checked here independently of the writer's resolver: C's strtod and the word lists). */
static void check_str(yaml_node_t *n, const char *want)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.length != strlen(want) ||
        memcmp(n->data.scalar.value, want, n->data.scalar.length) != 0) {
        abort();
    }
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return;
    }
    static const char *const words[] = {
        "yes",   "Yes", "YES", "no", "No",  "NO",  "true", "True", "TRUE", "false", "False",
        "FALSE", "on",  "On",  "ON", "off", "Off", "OFF",  "null", "Null", "NULL",  "~",
    };
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        if (strcmp(want, words[w]) == 0) {
            abort();
        }
    }
    char *end;
    if (want[0] && strspn(want, "0123456789+-.eE_") == strlen(want) &&
        strpbrk(want, "0123456789")) {
        (void)strtod(want, &end);
        if (*end == '\0') {
            abort(); /* a plain scalar strtod reads whole: a number to YAML too */
        }
    }
}

static void check_num(yaml_node_t *n, double want)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        abort();
    }
    const char *s = (const char *)n->data.scalar.value;
    double got;
    if (strcmp(s, ".nan") == 0) {
        got = NAN;
    } else if (strcmp(s, ".inf") == 0 || strcmp(s, "-.inf") == 0) {
        got = s[0] == '-' ? -INFINITY : INFINITY;
    } else {
        char *end;
        got = strtod(s, &end);
        if (*end) {
            abort();
        }
    }
    if (isnan(want) ? !isnan(got) : got != want) {
        abort();
    }
}

static void check_floats(yaml_document_t *doc, yaml_node_t *n, const float *v, int ndim,
                         const int64_t *shape, int dim, uint64_t *at)
{
    if (n->type != YAML_SEQUENCE_NODE ||
        n->data.sequence.items.top - n->data.sequence.items.start != shape[dim]) {
        abort();
    }
    for (int64_t i = 0; i < shape[dim]; i++) {
        yaml_node_t *item = yaml_document_get_node(doc, n->data.sequence.items.start[i]);
        if (dim + 1 == ndim) {
            check_num(item, (double)v[(*at)++]);
        } else {
            check_floats(doc, item, v, ndim, shape, dim + 1, at);
        }
    }
}

static void check_dict(yaml_document_t *doc, yaml_node_t *map, const vkt_dict *d)
{
    uint32_t n = vkt_dict_count(d);
    if (map->type != YAML_MAPPING_NODE ||
        map->data.mapping.pairs.top - map->data.mapping.pairs.start != (ptrdiff_t)n) {
        abort();
    }
    for (uint32_t i = 0; i < n; i++) {
        vkt__dict_entry e = vkt__dict_at(d, i);
        yaml_node_t *k = NULL;
        for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
             p++) {
            yaml_node_t *kn = yaml_document_get_node(doc, p->key);
            if (kn->data.scalar.length == strlen(e.key) &&
                memcmp(kn->data.scalar.value, e.key, strlen(e.key)) == 0) {
                k = kn;
            }
        }
        if (!k) {
            abort();
        }
        check_str(k, e.key);
        yaml_node_t *v = lookup(doc, map, e.key);
        uint64_t at = 0;
        switch (e.kind) {
        case VKT__DICT_NUMBER:
            check_num(v, e.number);
            break;
        case VKT__DICT_STRING:
            check_str(v, e.string);
            break;
        case VKT__DICT_CHILD:
            check_dict(doc, v, e.child);
            break;
        case VKT__DICT_FLOATS:
            if (e.ndim == 0) {
                check_num(v, (double)e.floats[0]);
            } else {
                check_floats(doc, v, e.floats, e.ndim, e.shape, 0, &at);
            }
            break;
        default:
            abort();
        }
    }
}

static void remove_run(const char *log_dir)
{
    char p[512];
    snprintf(p, sizeof p, "%s/hparams.yaml", log_dir);
    unlink(p);
    rmdir(log_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vkt_fuzz_bytes b = {data, size};
    any_high_byte = false;
    vkt_dict *hp = vkt_dict_create();
    fill(&b, hp, 0);
    vkt_logger *l = NULL;
    if (vkt_csv_logger_create(vkt_fuzz_dir(), "", &l) != VKT_OK) {
        abort();
    }
    const char *dir = l->log_dir(l->user_data);
    char path[512];
    snprintf(path, sizeof path, "%s/hparams.yaml", dir);
    vkt_status s = l->log_hyperparams(hp, l->user_data);
    if (s != VKT_OK) {
        /* only a string that is not UTF-8 may be refused, and then no file is written */
        if (s != VKT_INVALID_ARGUMENT || !any_high_byte || !strstr(vkt_last_error(), "UTF-8") ||
            access(path, F_OK) == 0) {
            abort();
        }
    } else {
        FILE *f = fopen(path, "rb");
        yaml_parser_t parser;
        yaml_document_t doc;
        if (!f || !yaml_parser_initialize(&parser)) {
            abort();
        }
        yaml_parser_set_input_file(&parser, f);
        if (!yaml_parser_load(&parser, &doc)) {
            abort(); /* the file does not parse */
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            abort();
        }
        check_dict(&doc, root, hp);
        yaml_document_delete(&doc);
        yaml_parser_delete(&parser);
        fclose(f);
    }
    remove_run(dir);
    vkt_csv_logger_destroy(l);
    vkt_dict_destroy(hp);
    return 0;
}
