/*
 * ref_clip.c — CPU references for shaders/grad_clip.comp (torch.nn.utils.clip_grad_*_).
 */
#include <math.h>

#include "ref/ref.h"

float vkt__ref_clip_grad_norm(float *g, int64_t n, float max_norm)
{
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) {
        ss += (double)g[i] * g[i];
    }
    float norm = (float)sqrt(ss);
    float coef = max_norm / (norm + 1e-6f);
    if (coef < 1.0f) {
        for (int64_t i = 0; i < n; i++) {
            g[i] *= coef;
        }
    }
    return norm;
}

void vkt__ref_clip_grad_value(float *g, int64_t n, float clip)
{
    for (int64_t i = 0; i < n; i++) {
        g[i] = g[i] > clip ? clip : (g[i] < -clip ? -clip : g[i]);
    }
}
