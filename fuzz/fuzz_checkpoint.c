/*
 * fuzz_checkpoint.c — vkt_checkpoint_load on arbitrary bytes (safetensors files of this format,
 * the one before it, plain ones of every dtype the reader converts, torch's batch-norm state
 * dicts, garbage). The loader must return OK or an error with a message; on OK, saving the dict
 * and loading it again must give the same dict, tensors and their integer tags included, and
 * that save must succeed (a loaded dict is always savable).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_dict.h"
#include "fuzz_util.h"
#include "internal.h"
#include "vkt/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vkt_fuzz_file f;
    vkt_fuzz_file_open(&f, data, size);
    vkt_dict *d = NULL;
    vkt_clear_error(); /* errors persist: a stale message must not pass the check */
    vkt_status s = vkt_checkpoint_load(f.path, &d);
    vkt_fuzz_file_close(&f);
    if (s != VKT_OK) {
        if (!vkt_last_error()[0] || d) {
            abort();
        }
        return 0;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/round_trip.ckpt", vkt_fuzz_dir());
    if (vkt_checkpoint_save(d, path) != VKT_OK) {
        fprintf(stderr, "save of a loaded dict failed: %s\n", vkt_last_error());
        abort();
    }
    vkt_dict *again = NULL;
    if (vkt_checkpoint_load(path, &again) != VKT_OK) {
        fprintf(stderr, "reload failed: %s\n", vkt_last_error());
        abort();
    }
    if (!vkt_fuzz_dicts_equal(d, again)) {
        fprintf(stderr, "the round trip changed the dict\n");
        abort();
    }
    vkt_dict_destroy(again);
    vkt_dict_destroy(d);
    vkt_fuzz_dir_clear();
    return 0;
}
