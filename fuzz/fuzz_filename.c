/*
 * fuzz_filename.c — ModelCheckpoint's file-name templates (vkt__checkpoint_format_name):
 * "{epoch}-{val_loss:.2f}" style templates from the fuzz input, with or without
 * auto_insert_metric_name, fuzz-chosen epoch, step and logged metric values (NaN, infinities,
 * huge, a logged "epoch"), into buffers of several sizes, each allocated to its exact size so
 * AddressSanitizer sees any overflow. The result is a file name (NUL-terminated inside the
 * buffer, non-empty, no '/') or an error with a message.
 *
 * Input: flags (bit 0 auto_insert, bits 1-3 buffer size), epoch, step (8 bytes each), a metric
 * count byte, then (name, value) pairs, then the template (the rest, NULs dropped).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_bytes.h"
#include "fuzz_util.h"
#include "train/train_internal.h"

typedef struct metrics {
    uint32_t n;
    char names[8][32];
    double values[8];
} metrics;

static bool lookup(void *ctx, const char *name, double *v)
{
    const metrics *m = ctx;
    for (uint32_t i = 0; i < m->n; i++) {
        if (strcmp(m->names[i], name) == 0) {
            *v = m->values[i];
            return true;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vkt_fuzz_bytes b = {data, size};
    static const size_t sizes[8] = {1, 2, 8, 16, 64, 256, 1024, 4096};
    uint8_t flags = vkt_fuzz_u8(&b);
    int64_t epoch = (int64_t)vkt_fuzz_u64(&b), step = (int64_t)vkt_fuzz_u64(&b);
    metrics m = {.n = vkt_fuzz_u8(&b) % 9};
    for (uint32_t i = 0; i < m.n; i++) {
        vkt_fuzz_str(&b, m.names[i], sizeof m.names[i]);
        m.values[i] = vkt_fuzz_double(&b);
    }
    char *tmpl = malloc(b.left + 1);
    size_t tl = 0;
    for (size_t i = 0; i < b.left; i++) {
        if (b.p[i]) {
            tmpl[tl++] = (char)b.p[i];
        }
    }
    tmpl[tl] = '\0';
    size_t n = sizes[(flags >> 1) & 7];
    char *buf = malloc(n);
    vkt_clear_error();
    vkt_status s = vkt__checkpoint_format_name(buf, n, tmpl, flags & 1, epoch, step, lookup, &m);
    if (s == VKT_OK) {
        size_t len = strnlen(buf, n);
        if (len == n || len == 0 || memchr(buf, '/', len)) {
            abort();
        }
    } else if (!vkt_last_error()[0]) {
        abort();
    }
    free(buf);
    free(tmpl);
    return 0;
}
