/*
 * ref_xent.c — CPU reference for vkt_softmax_xent and its backward (shaders/softmax_xent*.comp),
 * in double throughout: the max-shifted log-sum-exp of each row, then the mean over rows; and
 * the per-row forms with ignore_index that vkt_cross_entropy's fused path is tested against.
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

void vkt__ref_xent_rows(double *loss, const float *logits, const int32_t *labels, int64_t rows,
                        int64_t cols, bool has_ignore, int32_t ignore_index)
{
    for (int64_t i = 0; i < rows; i++) {
        const float *x = logits + i * cols;
        if (has_ignore && labels[i] == ignore_index) {
            loss[i] = 0.0;
            continue;
        }
        double m, ls;
        row_stats(x, cols, &m, &ls);
        loss[i] = label_ok(labels[i], cols) ? (m - (double)x[labels[i]]) + ls : NAN;
    }
}

void vkt__ref_xent_row_grad(double *d, const float *x, int32_t label, int64_t cols, double g,
                            bool has_ignore, int32_t ignore_index)
{
    bool ignored = has_ignore && label == ignore_index;
    double m = 0, ls = 0;
    if (!ignored && label_ok(label, cols)) {
        row_stats(x, cols, &m, &ls);
    }
    for (int64_t j = 0; j < cols; j++) {
        if (ignored) {
            d[j] = 0.0;
        } else if (!label_ok(label, cols)) {
            d[j] = NAN;
        } else {
            d[j] = g * (exp(((double)x[j] - m) - ls) - (j == label ? 1.0 : 0.0));
        }
    }
}
