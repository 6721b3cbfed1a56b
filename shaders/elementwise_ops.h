// elementwise_ops.h — values of constant_id 1 (OP) of shaders/elementwise.comp, included by the
// shader and by its dispatch code (src/ops/elementwise.c), so each code is written once.
// Plain #defines only: this file is both GLSL and C. The names carry no VKT__ prefix because GLSL
// reserves identifiers with two consecutive underscores.
#ifndef ELEMENTWISE_OPS_H
#define ELEMENTWISE_OPS_H

#define EW_MUL 1           // out = a * b
#define EW_SCALE 2         // out = alpha * a
#define EW_RELU 3          // out = max(a, 0)
#define EW_RELU_BACKWARD 4 // out = b > 0 ? a : 0          (a = dy, b = x)
#define EW_ADD_BIAS 5      // out = a + b[i % cols]        (a: (rows, cols), b: (cols))
#define EW_MAX_INTO 6      // out = max(out, a)            (NaN propagates, as torch.max)
#define EW_MIN_INTO 7      // out = min(out, a)
#define EW_TANH 8          // out = tanh(a)
#define EW_TANH_BACKWARD 9 // out = a * (1 - b * b)       (a = dy, b = y = tanh x)
// unary ops (b: x or y, as noted, for the backward codes; a = dy)
#define EW_EXP 10
#define EW_DIV 11                   // out = a / b                 (log backward: b = x)
#define EW_LOG 12
#define EW_SQRT 13
#define EW_SQRT_BACKWARD 14         // out = a * 0.5 / b           (b = y)
#define EW_RSQRT 15
#define EW_RSQRT_BACKWARD 16        // out = -0.5 * a * b^3        (b = y)
#define EW_ABS 17
#define EW_ABS_BACKWARD 18          // out = a * sign(b)           (b = x)
#define EW_SIGMOID 19
#define EW_SIGMOID_BACKWARD 20      // out = a * b * (1 - b)       (b = y)
#define EW_GELU 21                  // x * Phi(x), Phi by erf (math.glsl)
#define EW_GELU_BACKWARD 22         // (b = x)
#define EW_GELU_TANH 23             // torch's approximate='tanh', as x * sigmoid(2 u)
#define EW_GELU_TANH_BACKWARD 24    // (b = x)
#define EW_SILU 25
#define EW_SILU_BACKWARD 26         // (b = x)
#define EW_LEAKY_RELU 27            // alpha = negative slope
#define EW_LEAKY_RELU_BACKWARD 28   // (b = x)
#define EW_ELU 29                   // alpha
#define EW_ELU_BACKWARD 30          // (b = x)
#define EW_CLAMP 31                 // alpha = min, beta = max; NaN = no bound
#define EW_CLAMP_BACKWARD 32        // out = a where min <= b <= max, else 0 (b = x)
#define EW_POW_SCALAR 33            // out = a ^ alpha (torch.pow; pow.glsl)
#define EW_POW_SCALAR_BACKWARD 34   // out = a * alpha * b ^ (alpha - 1)   (b = x)
#define EW_SOFTPLUS 35              // beta 1, threshold 20 (torch's defaults)
#define EW_SOFTPLUS_BACKWARD 36     // (b = x)
#define EW_LOG1P 37
#define EW_LOG1P_BACKWARD 38        // out = a / (1 + b)          (b = x)
#define EW_ADD_SCALAR 39            // out = a + alpha

#endif
