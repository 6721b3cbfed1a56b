// axis_ops.h — values of constant_id 1 (OP) of shaders/reduce_axis.comp and
// shaders/axis_pointwise.comp, included by the shaders and by src/ops/reduce_dim.c,
// src/ops/softmax.c, so each code is written once. Plain #defines only: this file is both GLSL
// and C (no VKT__ prefix: GLSL reserves identifiers with two consecutive underscores).
#ifndef AXIS_OPS_H
#define AXIS_OPS_H

// OP of reduce_axis.comp
#define RA_SUM 0    // compensated sum, divided by div
#define RA_ARGMAX 2 // (value, first index) of the maximum (of -x with negate); NaN is the maximum

// OP of axis_pointwise.comp (r: the element's index in the reduced tensor, j: along len)
#define AX_CENTER_SQ 0        // (x - a[r])^2
#define AX_EXP_SUB 1          // exp(x - a[r])
#define AX_DIV 2              // x / a[r]
#define AX_LOG_SOFTMAX 3      // (x - a[r]) - log(b[r])
#define AX_MUL 4              // x * y
#define AX_SQRT 5             // sqrt(x)
#define AX_BCAST 6            // alpha * a[r]
#define AX_SCATTER 7          // j == b[r] ? a[r] : 0
#define AX_VAR_BACKWARD 8     // alpha * a[r] * (x - b[r])
#define AX_SOFTMAX_BWD 9      // x * (y - a[r])
#define AX_LOG_SOFTMAX_BWD 10 // y - exp(x) * a[r]

#endif
