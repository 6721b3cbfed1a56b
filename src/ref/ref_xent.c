/*
 * ref_xent.c — CPU reference for vkt_softmax_xent and its backward (shaders/softmax_xent*.comp),
 * in double throughout: the max-shifted log-sum-exp of each row, then the mean over rows.
 */
#include <math.h>

#include "ref/ref.h"

/* The row's max and log(sum(exp(x - max))), in double. */
static void row_stats(const float *x, int64_t cols, double *max, double *log_sum)
{
    double m = -INFINITY;
    for (int64_t j = 0; j < cols; j++) {
        m = fmax(m, (double)x[j]);
    }
    double s = 0.0;
    for (int64_t j = 0; j < cols; j++) {
        s += exp((double)x[j] - m);
    }
    *max = m;
    *log_sum = log(s);
}

static bool label_ok(int32_t label, int64_t cols) { return label >= 0 && label < cols; }

void vkt__ref_softmax_xent(float *loss, const float *logits, const int32_t *labels, int64_t rows,
                           int64_t cols)
{
    double total = 0.0;
    for (int64_t i = 0; i < rows; i++) {
        const float *x = logits + i * cols;
        double m, ls;
        row_stats(x, cols, &m, &ls);
        total += label_ok(labels[i], cols) ? (m - (double)x[labels[i]]) + ls : NAN;
    }
    *loss = (float)(total / (double)rows);
}

void vkt__ref_softmax_xent_backward(float *dlogits, const float *logits, const int32_t *labels,
                                    float gout, int64_t rows, int64_t cols)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *x = logits + i * cols;
        float *d = dlogits + i * cols;
        double m, ls;
        row_stats(x, cols, &m, &ls);
        for (int64_t j = 0; j < cols; j++) {
            if (!label_ok(labels[i], cols)) {
                d[j] = NAN;
                continue;
            }
            double p = exp(((double)x[j] - m) - ls);
            double y = j == labels[i] ? 1.0 : 0.0;
            d[j] = (float)((double)gout * (p - y) / (double)rows);
        }
    }
}
