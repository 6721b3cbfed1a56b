/*
 * ref.h — CPU reference implementations of every op, in plain C with double accumulation where
 * it matters. The checks (src/check) and the tests compare the shaders against these.
 * Naming: vkt__ref_<op>, same argument order as the op (outputs first, llm.c style).
 */
#ifndef VKT_REF_H
#define VKT_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "vkt/tensor.h" /* vkt_sgd_params, vkt_adam_params */

/* ---- elementwise (src/ref/ref_elementwise.c) ---- */
void vkt__ref_add(float *out, const float *a, const float *b, int64_t n);
void vkt__ref_mul(float *out, const float *a, const float *b, int64_t n);
void vkt__ref_scale(float *out, const float *a, float s, int64_t n);
void vkt__ref_relu(float *out, const float *x, int64_t n);
void vkt__ref_relu_backward(float *dx, const float *dy, const float *x, int64_t n);
void vkt__ref_add_bias(float *out, const float *x, const float *bias, int64_t rows, int64_t cols);
void vkt__ref_sum_cols(float *out, const float *x, int64_t rows, int64_t cols);

/* ---- softmax cross-entropy (src/ref/ref_xent.c); logits (rows, cols), labels (rows) ---- */
/* *loss = mean over rows of logsumexp(row) - row[label] (NaN for a label outside [0, cols)). */
void vkt__ref_softmax_xent(float *loss, const float *logits, const int32_t *labels, int64_t rows,
                           int64_t cols);
/* dlogits = gout / rows * (softmax(row) - onehot(label)); a row with a bad label is NaN. */
void vkt__ref_softmax_xent_backward(float *dlogits, const float *logits, const int32_t *labels,
                                    float gout, int64_t rows, int64_t cols);

/* ---- optimizer steps (src/ref/ref_optim.c): in place, torch.optim's f32 arithmetic ---- */
void vkt__ref_sgd_step(float *param, float *momentum_buf, const float *grad,
                       const vkt_sgd_params *p, int64_t n);
void vkt__ref_adam_step(float *param, float *m, float *v, const float *grad,
                        const vkt_adam_params *p, int64_t n);

#endif
