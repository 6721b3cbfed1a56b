/*
 * ref.h — CPU reference implementations of every op, in plain C with double accumulation where
 * it matters. The checks (src/check) and the tests compare the shaders against these.
 * Naming: vkt__ref_<op>, same argument order as the op (outputs first, llm.c style).
 */
#ifndef VKT_REF_H
#define VKT_REF_H

#include <stdbool.h>
#include <stdint.h>

/* ---- elementwise (src/ref/ref_elementwise.c) ---- */
void vkt__ref_add(float *out, const float *a, const float *b, int64_t n);
void vkt__ref_mul(float *out, const float *a, const float *b, int64_t n);
void vkt__ref_scale(float *out, const float *a, float s, int64_t n);
void vkt__ref_relu(float *out, const float *x, int64_t n);
void vkt__ref_relu_backward(float *dx, const float *dy, const float *x, int64_t n);
void vkt__ref_add_bias(float *out, const float *x, const float *bias, int64_t rows, int64_t cols);
void vkt__ref_sum_cols(float *out, const float *x, int64_t rows, int64_t cols);

#endif
