#version 450
// softmax_rows.comp — softmax along contiguous rows of len, one invocation per row, in one pass
// set: y[r, j] = softmax_j(scale * x[r, j]), and with `causal` (the rows are (.., Tq, Tk) scores
// with Tq == Tk == len, query i = r % len) only keys j <= i take part and y is 0 beyond them:
// softmax(scale * q kᵀ + causal mask) of the unfused attention. An invocation runs at most
// 3 * len loop iterations (the caller bounds len: lavapipe ends a loop after 65535,
// docs/shaders.md). Specialization: 0 = workgroup size. Dispatch and backward
// (softmax_rows_backward.comp): src/ops/softmax.c. Reference: vkt__ref_softmax
// (src/ref/ref_shape.c); the causal form: src/ref/ref_attention.c. Checks: src/check/check_shape.c,
// src/check/check_attention.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Y { float y[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint len;
    float scale;
    uint causal;
} pc;

void main()
{
    uint r = vkt_global_index();
    if (r >= pc.rows) {
        return;
    }
    uint base = r * pc.len;
    uint n = pc.causal != 0u ? r % pc.len + 1u : pc.len;
    float m = uintBitsToFloat(0xff800000u); // -inf
    for (uint j = 0u; j < n; j++) {
        m = max(m, pc.scale * x[base + j]);
    }
    float s = 0.0;
    for (uint j = 0u; j < n; j++) {
        s += exp(pc.scale * x[base + j] - m);
    }
    for (uint j = 0u; j < pc.len; j++) {
        y[base + j] = j < n ? exp(pc.scale * x[base + j] - m) / s : 0.0;
    }
}
