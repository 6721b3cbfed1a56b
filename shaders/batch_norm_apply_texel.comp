#version 450
// batch_norm_apply_texel.comp — batch_norm_apply.comp (same RELU, push constants and bindings) for
// S % 4 == 0, one workgroup per plane (n, c) of x (N, C, S): invocation t takes the plane's vec4s
// t, t + WG, ... of x through its texel view (set 1 binding 0, the range of set 0 binding 0) and
// stores each as one vec4. The channel (one modulo) and its parameters are loaded once per
// invocation, not per element. On CPU drivers a fetch is a vectorised gather and a vec4 store the
// fastest store, where storage-buffer float accesses and integer divisions are scalar loops per
// lane (docs/shaders.md, texel bindings).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_apply (src/ref/ref_norm.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_affine.glsl"

layout(constant_id = 1) const bool RELU = false;

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
    uint plane = vkt_flat_group();
    if (plane >= pc.n / pc.spatial) {
        return; // whole workgroup: the 2-D grid's tail
    }
    uint c = plane % pc.channels;
    float mean = stats[c], invstd = stats[pc.channels + c];
    float w = pc.has_weight != 0u ? weight[c] : 1.0;
    float shift = pc.has_bias != 0u ? bias[c] : 0.0;
    uint s4 = pc.spatial / 4u, base = plane * s4;
    for (uint j = gl_LocalInvocationID.x; j < s4; j += gl_WorkGroupSize.x) {
        vec4 v = bn_affine4(texelFetch(Xt, int(base + j)), mean, invstd, w, shift);
        y4[base + j] = RELU ? max(v, vec4(0.0)) : v;
    }
}
