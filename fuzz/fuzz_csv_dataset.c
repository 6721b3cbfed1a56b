/*
 * fuzz_csv_dataset.c — vkt_dataset_load_csv on arbitrary text. The first byte picks the header
 * mode (bits 0-1), the target type (bit 2) and the target index (bits 3-7, signed: from the end
 * when negative); the second, when bit 7 of the first is set, makes the target the column named
 * "y". The rest is the file. The loader must return OK or an error with a message; on OK the
 * dataset's samples must be f32 of (columns - 1) and its labels consistent with its classes.
 */
#include <stdlib.h>

#include "fuzz_util.h"
#include "internal.h"
#include "vkt/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) {
        return 0;
    }
    uint8_t mode = data[0];
    vkt_csv_dataset_desc d = {
        .header = (vkt_csv_header)((mode & 3u) % 3),
        .target_type = mode & 4u ? VKT_DATA_F32 : VKT_DATA_I32,
        .target_index = (int)(mode >> 3) - 16,
        .target = data[1] & 0x80u ? "y" : NULL,
    };
    vkt_fuzz_file f;
    vkt_fuzz_file_open(&f, data + 2, size - 2);
    d.path = f.path;
    vkt_dataset *ds;
    vkt_clear_error(); /* errors persist: a stale message must not pass the check */
    vkt_status s = vkt_dataset_load_csv(&d, &ds);
    if (s == VKT_OK) {
        vkt_sample_layout x = vkt_dataset_x_layout(ds), y = vkt_dataset_y_layout(ds);
        if (x.type != VKT_DATA_F32 || x.ndim != 1 || x.shape[0] < 1 || y.ndim != 0 ||
            vkt_dataset_count(ds) == 0) {
            abort();
        }
        for (uint32_t i = 0; y.type == VKT_DATA_I32 && i < vkt_dataset_count(ds); i++) {
            int32_t v = *(const int32_t *)vkt_dataset_target(ds, i);
            if (v < 0 || (uint32_t)v >= vkt_dataset_classes(ds)) {
                abort();
            }
        }
        vkt_dataset_destroy(ds);
    } else if (!vkt_last_error()[0] || ds) {
        abort();
    }
    vkt_fuzz_file_close(&f);
    return 0;
}
