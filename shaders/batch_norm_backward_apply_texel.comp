#version 450
// batch_norm_backward_apply_texel.comp — batch_norm_backward_apply.comp (same MODEs, RELU, push
// constants and bindings) for S % 4 == 0, one workgroup per plane (n, c) of x (N, C, S):
// invocation t takes the plane's vec4s t, t + WG, ... of x and dy through their texel views
// (set 1 bindings 0 and 1, the ranges of set 0 bindings 0 and 1), dx read and written as one
// vec4. The channel (one modulo) and its values are loaded once per invocation, not per element.
// On CPU drivers a fetch is a vectorised gather, where storage-buffer float accesses and integer
// divisions are scalar loops per lane (docs/shaders.md, texel bindings).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_backward (src/ref/ref_norm.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_affine.glsl"

#include "batch_norm_ops.h"
layout(constant_id = 1) const uint MODE = BN_BACKWARD_TRAIN;
layout(constant_id = 2) const bool RELU = false;

layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) readonly buffer Sums { float sums[]; };
layout(set = 0, binding = 4) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 5) buffer Dx4 { vec4 dx4[]; };
layout(set = 0, binding = 6) readonly buffer Bias { float bias[]; };
layout(set = 1, binding = 0) uniform samplerBuffer Xt;
layout(set = 1, binding = 1) uniform samplerBuffer Dyt;

layout(push_constant) uniform PC {
    uint n;        // N * C * S
    uint channels; // C
    uint spatial;  // S, a multiple of 4
    float inv_m;   // 1 / (N * S)
    uint has_weight;
    uint accumulate; // dx += the gradient (else dx = it: its first writer)
    uint has_bias;   // RELU only
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
    float scale = pc.has_weight != 0u ? w * invstd : invstd;
    float shift = RELU && pc.has_bias != 0u ? bias[c] : 0.0;
    float mean_dy = 0.0, mean_dyx = 0.0;
    if (MODE == BN_BACKWARD_TRAIN) {
        mean_dy = sums[c] * pc.inv_m;
        mean_dyx = sums[pc.channels + c] * pc.inv_m;
    }
    uint s4 = pc.spatial / 4u, base = plane * s4;
    for (uint j = gl_LocalInvocationID.x; j < s4; j += gl_WorkGroupSize.x) {
        int q = int(base + j);
        vec4 dy = texelFetch(Dyt, q);
        vec4 x = MODE == BN_BACKWARD_TRAIN || RELU ? texelFetch(Xt, q) : vec4(0.0);
        if (RELU) {
            dy = bn_relu_mask4(dy, bn_affine4(x, mean, invstd, w, shift));
        }
        vec4 g;
        if (MODE == BN_BACKWARD_TRAIN) {
            vec4 xhat = (x - mean) * invstd;
            g = scale * (dy - mean_dy - xhat * mean_dyx);
        } else {
            g = scale * dy;
        }
        if (pc.accumulate != 0u) {
            dx4[q] += g;
        } else {
            dx4[q] = g;
        }
    }
}
