/*
 * fuzz_idx.c — vkt_idx_read on arbitrary bytes: raw IDX, gzip streams and garbage. The reader must
 * return OK or an error with a message; on OK its dimensions times the element size must account
 * for every byte.
 */
#include <stdlib.h>

#include "fuzz_util.h"
#include "internal.h"
#include "vkt/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vkt_fuzz_file f;
    vkt_fuzz_file_open(&f, data, size);
    vkt_idx idx;
    vkt_clear_error(); /* errors persist: a stale message must not pass the check */
    vkt_status s = vkt_idx_read(f.path, &idx);
    if (s == VKT_OK) {
        size_t n = vkt_data_type_size(idx.type); /* size is in bytes */
        for (int i = 0; i < idx.ndim; i++) {
            n *= idx.dims[i];
        }
        if (n != idx.size || !idx.data) {
            abort();
        }
    } else if (!vkt_last_error()[0]) {
        abort();
    }
    vkt_idx_free(&idx);
    vkt_fuzz_file_close(&f);
    return 0;
}
