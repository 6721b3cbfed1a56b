/*
 * fuzz_json.c — the checkpoint metadata tree (the "vkt" string of checkpoint_format.c) on arbitrary
 * text: vkt__dict_from_json must return OK or an error with a message. The first byte chooses the
 * spelling (odd: the one before vkt_format, bare NaN / Infinity); the rest is the JSON. On OK, the
 * dict written back (vkt__dict_to_json) must read back to the same dict, and writing that gives
 * the same text again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_dict.h"
#include "fuzz_util.h"
#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    bool legacy = data[0] & 1;
    vkt_dict *d = NULL;
    vkt_clear_error(); /* errors persist: a stale message must not pass the check */
    vkt_status s = vkt__dict_from_json((const char *)data + 1, size - 1, legacy, &d);
    if (s != VKT_OK) {
        if (!vkt_last_error()[0] || d) {
            abort();
        }
        return 0;
    }
    char *text = vkt__dict_to_json(d);
    if (!text) {
        fprintf(stderr, "writing a parsed dict failed: %s\n", vkt_last_error());
        abort();
    }
    vkt_dict *again = NULL;
    if (vkt__dict_from_json(text, strlen(text), false, &again) != VKT_OK) {
        fprintf(stderr, "re-parse failed: %s\n  %s\n", vkt_last_error(), text);
        abort();
    }
    if (!vkt_fuzz_dicts_equal(d, again)) {
        fprintf(stderr, "the round trip changed the dict: %s\n", text);
        abort();
    }
    char *text2 = vkt__dict_to_json(again);
    if (!text2 || strcmp(text, text2) != 0) {
        fprintf(stderr, "writing is not a fixed point:\n  %s\n  %s\n", text, text2);
        abort();
    }
    free(text2);
    free(text);
    vkt_dict_destroy(again);
    vkt_dict_destroy(d);
    return 0;
}
