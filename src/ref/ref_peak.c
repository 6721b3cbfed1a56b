/*
 * ref_peak.c — CPU reference of the peak FMA kernel (shaders/peak_fma.comp), in its order.
 */
#include <math.h>

#include "ops/peak_fma.h"
#include "ref/ref.h"

void vkt__ref_peak_fma(float *out, int64_t n, uint32_t iters, float a, float b)
{
    enum { LANES = VKT__PEAK_FMA_LANES };
    for (int64_t g = 0; g < n; g++) {
        float x[LANES];
        for (uint32_t l = 0; l < LANES; l++) {
            x[l] = (float)(((uint32_t)g * LANES + l) % 1021u) * (float)(1.0 / 1021.0);
        }
        for (uint32_t i = 0; i < iters * VKT__PEAK_FMA_UNROLL; i++) {
            for (uint32_t l = 0; l < LANES; l++) {
                x[l] = fmaf(x[l], a, b);
            }
        }
        /* the shader's vec4 sum over its chains, then (x + y) + (z + w) */
        float s[4] = {0};
        for (uint32_t l = 0; l < LANES; l++) {
            s[l % 4] += x[l];
        }
        out[g] = (s[0] + s[1]) + (s[2] + s[3]);
    }
}
