/*
 * fuzz_text.c — the text corpus functions on arbitrary bytes (src/data/text.c). The first byte
 * chooses the context (1 + its low 5 bits) and the stride (its high 3 bits); the rest is parsed
 * as a vocabulary's hex string (vkt_vocab_parse: OK, or an error with a message; on OK
 * formatting it gives the same lowercase text) and read as a corpus: its tokens must decode
 * back to the bytes, the entropy must lie in [0, ln 256], and the windows dataset must exist
 * exactly when the corpus holds context + 1 tokens, its targets shifted by one from its samples.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "internal.h"
#include "vkt/data.h"

static void check_vocab_parse(const uint8_t *data, size_t size)
{
    char *hex = malloc(size + 1);
    if (!hex) {
        return;
    }
    memcpy(hex, data, size);
    hex[size] = '\0';
    vkt_vocab v;
    vkt_clear_error();
    if (vkt_vocab_parse(hex, &v) != VKT_OK) {
        if (!vkt_last_error()[0]) {
            abort();
        }
    } else {
        char back[513];
        if (vkt_vocab_format(&v, back, sizeof back) != VKT_OK || strlen(back) != strlen(hex)) {
            abort();
        }
        for (size_t i = 0; back[i]; i++) {
            if (back[i] != tolower((unsigned char)hex[i])) {
                abort();
            }
        }
    }
    free(hex);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    uint32_t context = 1 + (data[0] & 31u), stride = data[0] >> 5;
    data++, size--;
    check_vocab_parse(data, size);

    vkt_text t;
    if (vkt_text_from_memory(data, size, &t) != VKT_OK) {
        abort(); /* any non-empty bytes are a corpus */
    }
    uint8_t *back = malloc(size);
    if (!back || vkt_vocab_decode(&t.vocab, t.tokens, size, back) != VKT_OK ||
        memcmp(back, data, size) != 0) {
        abort();
    }
    free(back);
    double h = vkt_text_unigram_entropy(t.tokens, t.size, t.vocab.size);
    if (!(h >= -1e-12 && h <= log(256.0) + 1e-12)) {
        abort();
    }
    vkt_dataset *ds = NULL;
    vkt_clear_error();
    vkt_status s = vkt_dataset_text_windows(t.tokens, t.size, context, stride, &ds);
    if ((s == VKT_OK) != (t.size >= context + 1) || (s != VKT_OK && !vkt_last_error()[0])) {
        abort();
    }
    if (ds) {
        uint32_t n = vkt_dataset_count(ds);
        const int32_t *x = vkt_dataset_sample(ds, n - 1), *y = vkt_dataset_target(ds, n - 1);
        if (memcmp(x + 1, y, (context - 1) * sizeof *x) != 0) {
            abort();
        }
        vkt_dataset_destroy(ds);
    }
    vkt_text_free(&t);
    return 0;
}
