/*
 * ref_data.c — CPU reference for shaders/gather_batch.comp: gather, normalisation and
 * augmentation of one loader batch (u8/f32 samples give f32 elements; i32 samples are copied, so
 * token ids stay exact). The loader's host-streaming path (src/data/loader.c) uses it
 * too, so the two paths give identical batches; src/check/check_data.c compares the device.
 */
#include <string.h>

#include "data/data_internal.h"
#include "ref/ref.h"

void vkt__ref_augment_draw(uint64_t seed, uint32_t epoch, uint32_t id, uint32_t range_y,
                           uint32_t range_x, uint32_t *oy, uint32_t *ox, bool *flip)
{
    uint32_t w[4], ctr[4] = {id, epoch, VKT__AUGMENT_TAG, 0};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    vkt__ref_philox(w, ctr, key);
    *oy = w[0] % range_y;
    *ox = w[1] % range_x;
    *flip = (w[2] & 1u) != 0;
}

static float load(const void *x, vkt_data_type t, uint64_t i)
{
    if (t == VKT_DATA_F32) {
        return ((const float *)x)[i];
    }
    return (float)((const uint8_t *)x)[i];
}

void vkt__ref_gather_batch(void *x, uint32_t *y, const vkt__gather_args *a)
{
    float *xf = x;
    int32_t *xi = x;
    for (uint32_t r = 0; r < a->rows; r++) {
        uint32_t p = a->perm[a->start + r];
        uint64_t q = a->by_id ? a->ids[p] : p;
        uint32_t oy0 = 0, ox0 = 0;
        bool flip = false;
        if (a->augment) {
            vkt__ref_augment_draw(a->seed, a->epoch, a->ids[p], a->h + 2 * a->pad - a->crop_h + 1,
                                  a->w + 2 * a->pad - a->crop_w + 1, &oy0, &ox0, &flip);
            flip = flip && a->hflip;
        }
        for (uint32_t k = 0; k < a->features; k++) {
            uint32_t c = k / a->inner;
            uint64_t src = k;
            bool inside = true;
            if (a->augment) {
                uint32_t oy = (k % a->inner) / a->crop_w, ox = k % a->crop_w;
                int64_t iy = (int64_t)oy + oy0 - a->pad;
                int64_t ix = (int64_t)(flip ? a->crop_w - 1 - ox : ox) + ox0 - a->pad;
                inside = iy >= 0 && iy < a->h && ix >= 0 && ix < a->w;
                src = (uint64_t)c * a->h * a->w + (uint64_t)(inside ? iy : 0) * a->w +
                      (uint64_t)(inside ? ix : 0);
            }
            uint64_t at = (uint64_t)r * a->features + k, from = q * a->in_features + src;
            if (a->x_type == VKT_DATA_I32) {
                xi[at] = inside ? ((const int32_t *)a->x)[from] : 0;
            } else {
                float v = inside ? load(a->x, a->x_type, from) : 0.0f;
                xf[at] = v * a->scale[c] + a->bias[c];
            }
        }
        for (uint32_t k = 0; k < a->targets; k++) {
            uint64_t i = q * a->targets + k;
            uint32_t w;
            if (a->y_type == VKT_DATA_U8) {
                w = ((const uint8_t *)a->y)[i];
            } else {
                memcpy(&w, (const uint8_t *)a->y + 4 * i, 4);
            }
            y[(uint64_t)r * a->targets + k] = w;
        }
    }
}
