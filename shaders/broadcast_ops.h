// broadcast_ops.h — values of constant_id 1 (OP) of shaders/broadcast.comp, included by the
// shader and by its dispatch code (src/ops/broadcast.c). Plain #defines: both GLSL and C.
// x0, x1, x2 are the inputs at binding 0, 1, 2, each read through its own (broadcast) strides.
#ifndef BROADCAST_OPS_H
#define BROADCAST_OPS_H

#define BC_ADD 0            // out = x0 + x1
#define BC_SUB 1            // out = x0 - x1
#define BC_MUL 2            // out = x0 * x1
#define BC_DIV 3            // out = x0 / x1
#define BC_MAXIMUM 4        // out = max(x0, x1)              (NaN propagates, as torch.maximum)
#define BC_MINIMUM 5        // out = min(x0, x1)
#define BC_POW 6            // out = x0 ^ x1                  (torch.pow: NaN for x0 < 0, x1 not integral)
#define BC_EQ 7             // out = x0 == x1 ? 1 : 0         (comparisons: f32 masks)
#define BC_NE 8
#define BC_LT 9
#define BC_LE 10
#define BC_GT 11
#define BC_GE 12
#define BC_WHERE 13         // out = x0 != 0 ? x1 : x2
// backward terms, each at the output's shape (x0 = dy unless noted)
#define BC_DIV_GRAD_B 14    // out = -x0 * x1 / (x2 * x2)     (x1 = a, x2 = b)
#define BC_MAXIMUM_GRAD 15  // out = x0 * (x1 > x2 ? 1 : x1 == x2 ? 0.5 : 0)   (x1 = self, x2 = other)
#define BC_MINIMUM_GRAD 16  // out = x0 * (x1 < x2 ? 1 : x1 == x2 ? 0.5 : 0)
#define BC_POW_GRAD_A 17    // out = x0 * x2 * x1 ^ (x2 - 1)   (x1 = a, x2 = b)
#define BC_POW_GRAD_B 18    // out = x0 * x1 ^ x2 * log(x1), 0 where x1 == 0 and x2 >= 0
#define BC_WHERE_GRAD_A 19  // out = x0 != 0 ? x1 : 0          (x0 = cond, x1 = dy)
#define BC_WHERE_GRAD_B 20  // out = x0 != 0 ? 0 : x1

#define BC_MAX_DIMS 6       // = VKT_MAX_DIMS

#endif
