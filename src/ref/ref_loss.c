/*
 * ref_loss.c — CPU reference for the NLL_ROWS kernel (shaders/nll.comp), in double.
 */
#include <math.h>

#include "ref/ref.h"

void vkt__ref_nll_rows(float *loss, float *row_weight, const float *lp, const int32_t *targets,
                       const float *weight, int32_t ignore_index, float smoothing, int64_t rows,
                       int64_t cols)
{
    for (int64_t i = 0; i < rows; i++) {
        int32_t t = targets[i];
        if (t == ignore_index) {
            loss[i] = row_weight[i] = 0.0f;
            continue;
        }
        if (t < 0 || t >= cols) {
            loss[i] = row_weight[i] = NAN;
            continue;
        }
        double wt = weight ? weight[t] : 1.0, s = 0.0;
        for (int64_t c = 0; c < cols; c++) {
            s += (weight ? weight[c] : 1.0) * lp[i * cols + c];
        }
        loss[i] = (float)-((1.0 - smoothing) * wt * lp[i * cols + t] + smoothing / (double)cols * s);
        row_weight[i] = (float)wt;
    }
}
