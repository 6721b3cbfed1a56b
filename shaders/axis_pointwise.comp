#version 450
// axis_pointwise.comp — elementwise kernels that combine a tensor x, viewed as (outer, len, inner),
// with per-(o, i) values a, b reduced along the middle dimension (index r = o * inner + i); the
// pieces of var/std, softmax/log_softmax and the backward of the dimension reductions.
// One invocation per element of x (n = outer * len * inner), with j its index along len:
//   OP_CENTER_SQ       out = (x - a[r])^2                      var: squared deviations
//   OP_EXP_SUB         out = exp(x - a[r])                     softmax numerators (a = max)
//   OP_DIV             out = x / a[r]                          softmax (a = sum of exp)
//   OP_LOG_SOFTMAX     out = (x - a[r]) - log(b[r])            (a = max, b = sum of exp(x - a))
//   OP_MUL             out = x * y                             dy * y for softmax backward
//   OP_SQRT            out = sqrt(x)                           std
//   OP_BCAST           out = alpha * a[r]                      sum / mean backward
//   OP_SCATTER         out = j == b[r] ? a[r] : 0              max / min backward (b = index)
//   OP_VAR_BACKWARD    out = alpha * a[r] * (x - b[r])         (a = gout, b = mean)
//   OP_SOFTMAX_BWD     out = x * (y - a[r])                    (x = softmax, y = dy,
//                                                              a = sum(dy * softmax))
//   OP_LOG_SOFTMAX_BWD out = y - exp(x) * a[r]                 (x = log_softmax, y = dy,
//                                                              a = sum(dy))
// With `accumulate` the value is added to out (gradients). Specialization: 0 = workgroup size,
// 1 = OP. Dispatch: vkt__axis_pointwise in src/ops/reduce_dim.c. References: src/ref/ref_shape.c.
// Checks: src/check/check_shape.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#define OP_CENTER_SQ 0
#define OP_EXP_SUB 1
#define OP_DIV 2
#define OP_LOG_SOFTMAX 3
#define OP_MUL 4
#define OP_SQRT 5
#define OP_BCAST 6
#define OP_SCATTER 7
#define OP_VAR_BACKWARD 8
#define OP_SOFTMAX_BWD 9
#define OP_LOG_SOFTMAX_BWD 10
layout(constant_id = 1) const uint OP = OP_CENTER_SQ;

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
    if (OP == OP_CENTER_SQ) {
        float d = x[e] - a[r];
        v = d * d;
    } else if (OP == OP_EXP_SUB) {
        v = exp(x[e] - a[r]);
    } else if (OP == OP_DIV) {
        v = x[e] / a[r];
    } else if (OP == OP_LOG_SOFTMAX) {
        v = (x[e] - a[r]) - log(uintBitsToFloat(b[r]));
    } else if (OP == OP_MUL) {
        v = x[e] * y[e];
    } else if (OP == OP_SQRT) {
        v = sqrt(x[e]);
    } else if (OP == OP_BCAST) {
        v = pc.alpha * a[r];
    } else if (OP == OP_SCATTER) {
        v = j == b[r] ? a[r] : 0.0;
    } else if (OP == OP_VAR_BACKWARD) {
        v = pc.alpha * a[r] * (x[e] - uintBitsToFloat(b[r]));
    } else if (OP == OP_SOFTMAX_BWD) {
        v = x[e] * (y[e] - a[r]);
    } else {
        v = y[e] - exp(x[e]) * a[r];
    }
    if (pc.accumulate != 0u) {
        v += o[e];
    }
    o[e] = v;
}
