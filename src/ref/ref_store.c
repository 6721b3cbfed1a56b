/*
 * ref_store.c — CPU reference for shaders/store_fold.comp: column reductions over all rows.
 */
#include <math.h>

#include "ref/ref.h"

void vkt__ref_store_fold(float *acc, float *m2, const float *x, int64_t rows, int64_t cols, int op)
{
    for (int64_t j = 0; j < cols; j++) {
        double s = 0.0, mx = -INFINITY, mn = INFINITY;
        for (int64_t i = 0; i < rows; i++) {
            double v = x[i * cols + j];
            s += v;
            mx = v > mx ? v : mx;
            mn = v < mn ? v : mn;
        }
        double mean = s / (double)rows, q = 0.0;
        for (int64_t i = 0; i < rows; i++) {
            double d = x[i * cols + j] - mean;
            q += d * d;
        }
        acc[j] = (float)(op == 0 ? s : op == 1 ? mx : op == 2 ? mn : mean);
        if (m2) {
            m2[j] = (float)q; /* sum of squared deviations (M2) */
        }
    }
}
