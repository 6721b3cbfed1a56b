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

/* ---- matmul (src/ref/ref_matmul.c); flags VKT_TRANS_A / VKT_TRANS_B as in vkt_matmul ---- */
/* c (M, N) = op(a) (M, K) · op(b) (K, N) */
void vkt__ref_matmul(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K,
                     int flags);
/* s[i, j] = sum_k |op(a)[i, k] op(b)[k, j]|: the scale of C[i, j]'s rounding error */
void vkt__ref_matmul_abs(double *s, const float *a, const float *b, int64_t M, int64_t N,
                         int64_t K, int flags);
/* da = dL/da and db = dL/db (stored like a and b) for L with dL/dC = g (M, N); da_abs / db_abs
 * (may be NULL) get the matching sums of absolute products */
void vkt__ref_matmul_backward(float *da, float *db, double *da_abs, double *db_abs,
                              const float *a, const float *b, const float *g, int64_t M,
                              int64_t N, int64_t K, int flags);

#endif
