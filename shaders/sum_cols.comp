#version 450
// sum_cols.comp — out[j] (+)= sum over rows i of x[i, j]; one invocation per column, rows summed
// in order, so the result is deterministic. Used by add_bias backward (bias gradient).
// Dispatch: src/ops/sum_cols.c. Reference: vkt__ref_sum_cols (src/ref/ref_elementwise.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    uint accumulate;
} pc;

void main()
{
    uint j = vkt_global_index();
    if (j >= pc.cols) {
        return;
    }
    float s = 0.0;
    for (uint i = 0; i < pc.rows; i++) {
        s += x[i * pc.cols + j];
    }
    o[j] = pc.accumulate != 0 ? o[j] + s : s;
}
