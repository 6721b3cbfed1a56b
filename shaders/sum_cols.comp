#version 450
// sum_cols.comp — partial column sums of x (rows, cols): invocation g = k * cols + j sums rows
// [k * chunk, min((k + 1) * chunk, rows)) of column j, in order, into o[k * cols + j] (+= with
// accumulate). src/ops/sum_cols.c runs it again on the (chunks, cols) partials until one row is
// left, so every invocation walks at most `chunk` rows (lavapipe ends a loop after 65535
// iterations; docs/shaders.md) and the order, hence the result, depends only on the shape.
// Used by add_bias backward (bias gradient).
// Dispatch: src/ops/sum_cols.c. Reference: vkt__ref_sum_cols (src/ref/ref_elementwise.c).
// Checks: src/check/check_elementwise.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    uint chunk; // rows per invocation
    uint chunks; // ceil(rows / chunk)
    uint accumulate;
} pc;

void main()
{
    uint g = vkt_global_index();
    if (g >= pc.chunks * pc.cols) {
        return;
    }
    uint k = g / pc.cols, j = g - k * pc.cols;
    uint r0 = k * pc.chunk, r1 = min(r0 + pc.chunk, pc.rows);
    float s = 0.0;
    for (uint i = r0; i < r1; i++) {
        s += x[i * pc.cols + j];
    }
    o[g] = pc.accumulate != 0 ? o[g] + s : s;
}
