/*
 * ref_reduce.c — CPU references for the reductions (shaders/reduce.glsl via src/ops/reduce.c) and
 * their backward (shaders/reduce_backward.comp). Sums accumulate in double; max/min/argmax follow
 * torch's NaN rules (docs/reductions.md). Used by src/check/check_reduce.c and tests/test_reduce.c.
 */
#include <math.h>

#include "ref/ref.h"

void vkt__ref_sum_rows(double *sum, double *abs_sum, const float *x, int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        double s = 0.0, a = 0.0;
        for (int64_t j = 0; j < cols; j++) {
            s += x[r * cols + j];
            a += fabs(x[r * cols + j]);
        }
        sum[r] = s;
        if (abs_sum) {
            abs_sum[r] = a;
        }
    }
}

void vkt__ref_sum(double *sum, double *abs_sum, const float *x, int64_t n)
{
    vkt__ref_sum_rows(sum, abs_sum, x, 1, n);
}

/* Extreme of each row of sign * x, times sign: NaN wins. */
static void extreme_rows(float *out, const float *x, int64_t rows, int64_t cols, float sign)
{
    for (int64_t r = 0; r < rows; r++) {
        float m = -INFINITY;
        for (int64_t j = 0; j < cols && !isnan(m); j++) {
            float v = sign * x[r * cols + j];
            if (isnan(v) || v > m) {
                m = v;
            }
        }
        out[r] = sign * m;
    }
}

void vkt__ref_max_rows(float *out, const float *x, int64_t rows, int64_t cols)
{
    extreme_rows(out, x, rows, cols, 1.0f);
}

void vkt__ref_min_rows(float *out, const float *x, int64_t rows, int64_t cols)
{
    extreme_rows(out, x, rows, cols, -1.0f);
}

void vkt__ref_max(float *out, const float *x, int64_t n) { vkt__ref_max_rows(out, x, 1, n); }

void vkt__ref_min(float *out, const float *x, int64_t n) { vkt__ref_min_rows(out, x, 1, n); }

/* First index of the extreme of each row of sign * x; the first NaN wins. */
static void arg_extreme_rows(int32_t *out, const float *x, int64_t rows, int64_t cols, float sign)
{
    for (int64_t r = 0; r < rows; r++) {
        int64_t best = 0;
        float m = sign * x[r * cols];
        for (int64_t j = 1; j < cols && !isnan(m); j++) {
            float v = sign * x[r * cols + j];
            if (isnan(v) || v > m) {
                m = v;
                best = j;
            }
        }
        out[r] = (int32_t)best;
    }
}

void vkt__ref_argmax_rows(int32_t *out, const float *x, int64_t rows, int64_t cols)
{
    arg_extreme_rows(out, x, rows, cols, 1.0f);
}

void vkt__ref_argmin_rows(int32_t *out, const float *x, int64_t rows, int64_t cols)
{
    arg_extreme_rows(out, x, rows, cols, -1.0f);
}

void vkt__ref_argmax(int32_t *out, const float *x, int64_t n)
{
    vkt__ref_argmax_rows(out, x, 1, n);
}

void vkt__ref_count_equal_f32(int32_t *out, const float *a, const float *b, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) {
        c += a[i] == b[i];
    }
    *out = (int32_t)c;
}

void vkt__ref_count_equal_i32(int32_t *out, const int32_t *a, const int32_t *b, int64_t n)
{
    int64_t c = 0;
    for (int64_t i = 0; i < n; i++) {
        c += a[i] == b[i];
    }
    *out = (int32_t)c;
}

void vkt__ref_reduce_broadcast_backward(float *dx, const float *gout, float div, int64_t rows,
                                        int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        float g = div != 1.0f ? gout[r] / div : gout[r];
        for (int64_t j = 0; j < cols; j++) {
            dx[r * cols + j] += g;
        }
    }
}

void vkt__ref_reduce_scatter_backward(float *dx, const float *gout, const int32_t *idx,
                                      int64_t rows, int64_t cols)
{
    for (int64_t r = 0; r < rows; r++) {
        dx[r * cols + idx[r]] += gout[r];
    }
}
