/*
 * ref_elementwise.c — CPU references for shaders/elementwise.comp, shaders/broadcast.comp,
 * shaders/sum_to_shape.comp and shaders/sum_cols.comp.
 */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "internal.h"
#include "ref/ref.h"

void vkt__ref_add(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = a[i] + b[i];
    }
}

void vkt__ref_mul(float *out, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = a[i] * b[i];
    }
}

void vkt__ref_scale(float *out, const float *a, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = s * a[i];
    }
}

void vkt__ref_relu(float *out, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = x[i] > 0.0f ? x[i] : 0.0f;
    }
}

void vkt__ref_relu_backward(float *dx, const float *dy, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
    }
}

/* libm's tanhf (correctly rounded or nearly); the shader's exp-based form differs from it by at
 * most a few ULP of 1 (measured 1.8e-7 on 4097^2 inputs in [-2, 2]); devices whose exp is
 * coarser (Vulkan allows 3 + 2|x| ULP) stay within the table's tolerance of 1e-6. */
void vkt__ref_tanh(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = tanhf(x[i]);
    }
}

void vkt__ref_add_bias(float *out, const float *x, const float *bias, int64_t rows, int64_t cols)
{
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t j = 0; j < cols; j++) {
            out[i * cols + j] = x[i * cols + j] + bias[j];
        }
    }
}

void vkt__ref_sum_cols(float *out, const float *x, int64_t rows, int64_t cols)
{
    for (int64_t j = 0; j < cols; j++) {
        double s = 0.0;
        for (int64_t i = 0; i < rows; i++) {
            s += x[i * cols + j];
        }
        out[j] = (float)s;
    }
}

void vkt__ref_cast_i32_f32(float *out, const int32_t *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = (float)x[i];
    }
}

void vkt__ref_cast_f32_i32(int32_t *out, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        out[i] = (int32_t)x[i];
    }
}

/* ---- broadcasting (src/ops/broadcast.c) ---- */

/* Offset in x (shape xshape, right-aligned against oshape) of output element i. */
static int64_t bcast_offset(int64_t i, int xnd, const int64_t *xshape, int ond,
                            const int64_t *oshape)
{
    int64_t off = 0, stride = 1;
    for (int d = ond - 1; d >= 0; d--) {
        int64_t c = i % oshape[d];
        i /= oshape[d];
        int xd = d - (ond - xnd);
        if (xd >= 0) {
            off += (xshape[xd] == 1 ? 0 : c) * stride;
            stride *= xshape[xd];
        }
    }
    return off;
}

static int64_t numel_of(int nd, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++) {
        n *= shape[d];
    }
    return n;
}

void vkt__ref_broadcast_to(float *out, const float *x, int xnd, const int64_t *xshape, int ond,
                           const int64_t *oshape)
{
    int64_t n = numel_of(ond, oshape);
    for (int64_t i = 0; i < n; i++) {
        out[i] = x[bcast_offset(i, xnd, xshape, ond, oshape)];
    }
}

bool vkt__ref_sum_to_shape(float *out, const float *x, int xnd, const int64_t *xshape, int ond,
                           const int64_t *oshape)
{
    int64_t no = numel_of(ond, oshape), nx = numel_of(xnd, xshape);
    double *acc = vkt__calloc((size_t)no, sizeof *acc);
    if (!acc) {
        return false;
    }
    for (int64_t i = 0; i < nx; i++) {
        acc[bcast_offset(i, ond, oshape, xnd, xshape)] += x[i];
    }
    for (int64_t j = 0; j < no; j++) {
        out[j] = (float)acc[j];
    }
    free(acc);
    return true;
}

/* The broadcasting ops below are called on inputs already broadcast to the output's shape.
 * add, sub, mul, maximum, minimum: one rounding, as the shader: exact (tolerance 0). */
void vkt__ref_sub(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = a[i] - b[i];
    }
}

/* Vulkan allows 2.5 ULP for a / b; lavapipe divides exactly (measured 0). Tolerance 3e-7
 * (2.5 ULP of the relative error measure). */
void vkt__ref_div(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = a[i] / b[i];
    }
}

void vkt__ref_maximum(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = isnan(a[i]) || isnan(b[i]) ? NAN : (a[i] > b[i] ? a[i] : b[i]);
    }
}

void vkt__ref_minimum(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = isnan(a[i]) || isnan(b[i]) ? NAN : (a[i] < b[i] ? a[i] : b[i]);
    }
}

/* pow in double (torch's CPU pow is libm's): the shader's pow(x, y) = exp2(y log2 x) carries the
 * error of log2 times |y log x| (measured 4e-7 on [0.1, 2)^2). Tolerance 2e-6. */
void vkt__ref_pow(float *y, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)pow((double)a[i], (double)b[i]);
    }
}

void vkt__ref_compare(float *y, const float *a, const float *b, int op, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        bool r = false;
        switch (op) {
        case 0: r = a[i] == b[i]; break;
        case 1: r = a[i] != b[i]; break;
        case 2: r = a[i] < b[i]; break;
        case 3: r = a[i] <= b[i]; break;
        case 4: r = a[i] > b[i]; break;
        default: r = a[i] >= b[i]; break;
        }
        y[i] = r ? 1.0f : 0.0f;
    }
}

void vkt__ref_where(float *y, const float *cond, const float *a, const float *b, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = cond[i] != 0.0f ? a[i] : b[i];
    }
}

/* ---- unary ops: libm in double, rounded once. Each tolerance is in vkt__max_err units
 * (relative above 1, absolute below) and covers the Vulkan precision of the shader's exp / log
 * (3 + 2|x| ULP; 2^-21 absolute near 1) with the margin over lavapipe's measured error noted. */

void vkt__ref_add_scalar(float *y, const float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i] + s;
    }
}

/* measured 1.2e-7 on [-2, 2) */
void vkt__ref_exp(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)exp((double)x[i]);
    }
}

/* measured 1.2e-7 on [0.1, 2) */
void vkt__ref_ln(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)log((double)x[i]);
    }
}

/* sqrt: 1 ULP or better on lavapipe (3e-7 = 2.5 ULP) */
void vkt__ref_sqrt(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)sqrt((double)x[i]);
    }
}

/* inversesqrt: Vulkan allows 2 ULP; 1e-6 relative leaves margin at the measure's scale */
void vkt__ref_rsqrt(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)(1.0 / sqrt((double)x[i]));
    }
}

void vkt__ref_abs(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = fabsf(x[i]);
    }
}

void vkt__ref_neg(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = -x[i];
    }
}

static double sigmoid_d(double x)
{
    return 1.0 / (1.0 + exp(-x));
}

void vkt__ref_sigmoid(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)sigmoid_d(x[i]);
    }
}

/* x Phi(x) with Phi from libm's double erfc; the shader's Cephes erf is within 1e-6 relative
 * of erf (measured on [-2, 2) and in test_elementwise's sweep), so 1e-6 here. */
void vkt__ref_gelu(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(v * 0.5 * erfc(-v / sqrt(2.0)));
    }
}

void vkt__ref_gelu_tanh(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        double u = sqrt(2.0 / M_PI) * (v + 0.044715 * v * v * v);
        y[i] = (float)(0.5 * v * (1.0 + tanh(u)));
    }
}

void vkt__ref_silu(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)(x[i] * sigmoid_d(x[i]));
    }
}

void vkt__ref_leaky_relu(float *y, const float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i] > 0.0f ? x[i] : s * x[i];
    }
}

void vkt__ref_elu(float *y, const float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i] > 0.0f ? x[i] : (float)(s * expm1((double)x[i]));
    }
}

void vkt__ref_clamp(float *y, const float *x, float min, float max, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        v = !isnan(min) && v < min ? min : v;
        y[i] = !isnan(max) && v > max ? max : v;
    }
}

/* see vkt__ref_pow */
void vkt__ref_pow_scalar(float *y, const float *x, float s, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)pow((double)x[i], (double)s);
    }
}

/* torch: x for x > 20 (beta 1, threshold 20), else log1p(exp(x)) */
void vkt__ref_softplus(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double v = x[i];
        y[i] = (float)(v > 20.0 ? v : log1p(exp(v)));
    }
}

void vkt__ref_log1p(float *y, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        y[i] = (float)log1p((double)x[i]);
    }
}
