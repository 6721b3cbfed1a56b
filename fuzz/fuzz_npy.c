/*
 * fuzz_npy.c — vkt_npy_read on arbitrary bytes: .npy headers (the dict literal parser), data
 * sizes, narrowing of '<i8'/'<f8', gzip streams and garbage. The reader must return OK or an error
 * with a message; on OK its dimensions and type must account for every byte.
 */
#include <stdlib.h>

#include "fuzz_util.h"
#include "internal.h"
#include "vkt/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vkt_fuzz_file f;
    vkt_fuzz_file_open(&f, data, size);
    vkt_array a;
    vkt_clear_error(); /* errors persist: a stale message must not pass the check */
    vkt_status s = vkt_npy_read(f.path, &a);
    if (s == VKT_OK) {
        size_t n = vkt_data_type_size(a.type);
        for (int i = 0; i < a.ndim; i++) {
            n *= (size_t)a.dims[i];
        }
        if (n == 0 || n != a.size || !a.data || a.ndim > VKT_MAX_DIMS) {
            abort();
        }
    } else if (!vkt_last_error()[0]) {
        abort();
    }
    vkt_array_free(&a);
    vkt_fuzz_file_close(&f);
    return 0;
}
