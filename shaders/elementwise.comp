#version 450
// elementwise.comp — one shader, one op per specialization (constant_id 1 = OP); the codes and
// what each computes are in elementwise_ops.h, shared with the dispatch code.
// With `accumulate` != 0 the result is added to out (gradient accumulation).
// Dispatch and backward: src/ops/elementwise.c. CPU reference: src/ref/ref_elementwise.c.
// Checks: src/check/check_elementwise.c and check_grad.c, driven by src/ops/op_table.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "elementwise_ops.h"
layout(constant_id = 1) const uint OP = EW_ADD;

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint n;
    uint cols;       // EW_ADD_BIAS only
    float alpha;     // EW_SCALE only
    uint accumulate;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    float v;
    if (OP == EW_ADD) {
        v = a[i] + b[i];
    } else if (OP == EW_MUL) {
        v = a[i] * b[i];
    } else if (OP == EW_SCALE) {
        v = pc.alpha * a[i];
    } else if (OP == EW_RELU) {
        v = max(a[i], 0.0);
    } else if (OP == EW_RELU_BACKWARD) {
        v = b[i] > 0.0 ? a[i] : 0.0;
    } else if (OP == EW_ADD_BIAS) {
        v = a[i] + b[i % pc.cols];
    } else if (OP == EW_TANH) {
        // from exp(-2|x|) <= 1, so large |x| saturates to +-1 instead of inf / inf; NaN stays NaN
        float e = exp(-2.0 * abs(a[i]));
        float t = (1.0 - e) / (1.0 + e);
        v = a[i] < 0.0 ? -t : t;
    } else if (OP == EW_TANH_BACKWARD) {
        v = a[i] * (1.0 - b[i] * b[i]);
    } else {
        float x = a[i], y = o[i];
        if (isnan(x) || isnan(y)) {
            o[i] = isnan(x) ? x : y;
        } else {
            o[i] = OP == EW_MAX_INTO ? max(x, y) : min(x, y);
        }
        return;
    }
    if (pc.accumulate != 0) {
        v += o[i];
    }
    o[i] = v;
}
