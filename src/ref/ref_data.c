/*
 * ref_data.c — CPU reference for shaders/gather_batch.comp.
 */
#include "ref/ref.h"

void vkt__ref_gather_batch(float *x, int32_t *y, const uint8_t *images, const uint8_t *labels,
                           const uint32_t *perm, uint32_t start, uint32_t rows, uint32_t features,
                           float scale, float bias)
{
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t s = perm[start + r];
        for (uint32_t f = 0; f < features; f++) {
            x[(uint64_t)r * features + f] =
                (float)images[(uint64_t)s * features + f] * scale + bias;
        }
        y[r] = labels[s];
    }
}
