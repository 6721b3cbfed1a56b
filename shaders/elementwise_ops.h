// elementwise_ops.h — values of constant_id 1 (OP) of shaders/elementwise.comp, included by the
// shader and by its dispatch code (src/ops/elementwise.c), so each code is written once.
// Plain #defines only: this file is both GLSL and C. The names carry no VKT__ prefix because GLSL
// reserves identifiers with two consecutive underscores.
#ifndef ELEMENTWISE_OPS_H
#define ELEMENTWISE_OPS_H

#define EW_ADD 0           // out = a + b
#define EW_MUL 1           // out = a * b
#define EW_SCALE 2         // out = alpha * a
#define EW_RELU 3          // out = max(a, 0)
#define EW_RELU_BACKWARD 4 // out = b > 0 ? a : 0          (a = dy, b = x)
#define EW_ADD_BIAS 5      // out = a + b[i % cols]        (a: (rows, cols), b: (cols))
#define EW_MAX_INTO 6      // out = max(out, a)            (NaN propagates, as torch.max)
#define EW_MIN_INTO 7      // out = min(out, a)
#define EW_TANH 8          // out = tanh(a)
#define EW_TANH_BACKWARD 9 // out = a * (1 - b * b)       (a = dy, b = y = tanh x)

#endif
