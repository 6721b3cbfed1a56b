#version 450
// batch_norm_apply_texel.comp — batch_norm_apply.comp (same push constants and bindings) four
// elements of one channel per invocation, for S % 4 == 0: x read through its texel view (set 1
// binding 0, the range of set 0 binding 0), the channel's parameters loaded once per four
// elements, one vec4 store. On CPU drivers a fetch is a vectorised gather and a vec4 store the
// fastest store, where storage-buffer float accesses are scalar loops per lane
// (docs/shaders.md, texel bindings).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm (src/ref/ref_norm.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 1) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 2) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 3) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 4) writeonly buffer Y4 { vec4 y4[]; };
layout(set = 1, binding = 0) uniform samplerBuffer Xt;

layout(push_constant) uniform PC {
    uint n;        // N * C * S
    uint channels; // C
    uint spatial;  // S, a multiple of 4
    uint has_weight;
    uint has_bias;
} pc;

void main()
{
    uint q = vkt_global_index();
    if (q >= pc.n / 4u) {
        return;
    }
    uint c = (q / (pc.spatial / 4u)) % pc.channels;
    float shift = pc.has_bias != 0u ? bias[c] : 0.0;
    // the one-element kernel's order of operations: ((x - mean) * invstd) * weight + bias
    vec4 v = (texelFetch(Xt, int(q)) - stats[c]) * stats[pc.channels + c];
    if (pc.has_weight != 0u) {
        v *= weight[c];
    }
    y4[q] = v + shift;
}
