#version 450
// axis_pointwise.comp — elementwise kernels that combine a tensor x, viewed as (outer, len, inner),
// with per-(o, i) values a, b reduced along the middle dimension (index r = o * inner + i); the
// pieces of var/std, softmax/log_softmax and the backward of the dimension reductions.
// One invocation per element of x (n = outer * len * inner), with j its index along len:
//   AX_CENTER_SQ       out = (x - a[r])^2                      var: squared deviations
//   AX_EXP_SUB         out = exp(x - a[r])                     softmax numerators (a = max)
//   AX_DIV             out = x / a[r]                          softmax (a = sum of exp)
//   AX_LOG_SOFTMAX     out = (x - a[r]) - log(b[r])            (a = max, b = sum of exp(x - a))
//   AX_MUL             out = x * y                             dy * y for softmax backward
//   AX_SQRT            out = sqrt(x)                           std
//   AX_BCAST           out = alpha * a[r]                      sum / mean backward
//   AX_SCATTER         out = j == b[r] ? a[r] : 0              max / min backward (b = index)
//   AX_VAR_BACKWARD    out = alpha * a[r] * (x - b[r])         (a = gout, b = mean)
//   AX_SOFTMAX_BWD     out = x * (y - a[r])                    (x = softmax, y = dy,
//                                                              a = sum(dy * softmax))
//   AX_LOG_SOFTMAX_BWD out = y - exp(x) * a[r]                 (x = log_softmax, y = dy,
//                                                              a = sum(dy))
// With `accumulate` the value is added to out (gradients). Specialization: 0 = workgroup size,
// 1 = OP (codes: axis_ops.h). Dispatch: vkt__axis_pointwise in src/ops/reduce_dim.c. References: src/ref/ref_shape.c.
// Checks: src/check/check_shape.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "axis_ops.h"
layout(constant_id = 1) const uint OP = AX_CENTER_SQ;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Y { float y[]; };
layout(set = 0, binding = 2) readonly buffer A { float a[]; };
layout(set = 0, binding = 3) readonly buffer B { uint b[]; }; // float bits, or an index
layout(set = 0, binding = 4) buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint n;
    uint len;
    uint inner;
    float alpha;
    uint accumulate;
} pc;

void main()
{
    uint e = vkt_global_index();
    if (e >= pc.n) {
        return;
    }
    uint q = e / pc.inner;            // o * len + j
    uint i = e - q * pc.inner;
    uint oo = q / pc.len;
    uint j = q - oo * pc.len;
    uint r = oo * pc.inner + i;
    float v;
    if (OP == AX_CENTER_SQ) {
        float d = x[e] - a[r];
        v = d * d;
    } else if (OP == AX_EXP_SUB) {
        v = exp(x[e] - a[r]);
    } else if (OP == AX_DIV) {
        v = x[e] / a[r];
    } else if (OP == AX_LOG_SOFTMAX) {
        v = (x[e] - a[r]) - log(uintBitsToFloat(b[r]));
    } else if (OP == AX_MUL) {
        v = x[e] * y[e];
    } else if (OP == AX_SQRT) {
        v = sqrt(x[e]);
    } else if (OP == AX_BCAST) {
        v = pc.alpha * a[r];
    } else if (OP == AX_SCATTER) {
        v = j == b[r] ? a[r] : 0.0;
    } else if (OP == AX_VAR_BACKWARD) {
        v = pc.alpha * a[r] * (x[e] - uintBitsToFloat(b[r]));
    } else if (OP == AX_SOFTMAX_BWD) {
        v = x[e] * (y[e] - a[r]);
    } else {
        v = y[e] - exp(x[e]) * a[r];
    }
    if (pc.accumulate != 0u) {
        v += o[e];
    }
    o[e] = v;
}
