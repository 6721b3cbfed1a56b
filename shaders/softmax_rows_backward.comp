#version 450
// softmax_rows_backward.comp — the backward of softmax_rows.comp, one invocation per row:
// dx[r, j] (+)= scale * y[r, j] * (dy[r, j] - sum_k dy[r, k] y[r, k]); entries beyond a causal
// row's keys have y = 0 and get 0. At most 2 * len loop iterations per invocation.
// Without `accumulate` (the gradient's first writer) dx is written, not read.
// Specialization: 0 = workgroup size. Dispatch: src/ops/softmax.c. Checks: src/check/check_grad.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Y { float y[]; };
layout(set = 0, binding = 1) readonly buffer DY { float dy[]; };
layout(set = 0, binding = 2) buffer DX { float dx[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint len;
    float scale;
    uint causal;
    uint accumulate;
} pc;

void main()
{
    uint r = vkt_global_index();
    if (r >= pc.rows) {
        return;
    }
    uint base = r * pc.len;
    uint n = pc.causal != 0u ? r % pc.len + 1u : pc.len;
    float dot = 0.0;
    for (uint j = 0u; j < n; j++) {
        dot += dy[base + j] * y[base + j];
    }
    for (uint j = 0u; j < pc.len; j++) {
        float v = j < n ? pc.scale * y[base + j] * (dy[base + j] - dot) : 0.0;
        if (pc.accumulate != 0u) {
            v += dx[base + j];
        }
        dx[base + j] = v;
    }
}
