#version 450
// batch_norm_backward_apply_texel.comp — batch_norm_backward_apply.comp (same MODEs, push
// constants and bindings) four elements of one channel per invocation, for S % 4 == 0: x and dy
// read through their texel views (set 1 bindings 0 and 1, the ranges of set 0 bindings 0 and
// 1), the channel's values loaded once per four elements, dx read and written as one vec4. On
// CPU drivers a fetch is a vectorised gather, where storage-buffer float accesses are scalar
// loops per lane (docs/shaders.md, texel bindings).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_backward (src/ref/ref_norm.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "batch_norm_ops.h"
layout(constant_id = 1) const uint MODE = BN_BACKWARD_TRAIN;

layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) readonly buffer Sums { float sums[]; };
layout(set = 0, binding = 4) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 5) buffer Dx4 { vec4 dx4[]; };
layout(set = 1, binding = 0) uniform samplerBuffer Xt;
layout(set = 1, binding = 1) uniform samplerBuffer Dyt;

layout(push_constant) uniform PC {
    uint n;        // N * C * S
    uint channels; // C
    uint spatial;  // S, a multiple of 4
    float inv_m;   // 1 / (N * S)
    uint has_weight;
    uint accumulate; // dx += the gradient (else dx = it: its first writer)
} pc;

void main()
{
    uint q = vkt_global_index();
    if (q >= pc.n / 4u) {
        return;
    }
    uint c = (q / (pc.spatial / 4u)) % pc.channels;
    float invstd = stats[pc.channels + c];
    float scale = pc.has_weight != 0u ? weight[c] * invstd : invstd;
    vec4 dy = texelFetch(Dyt, int(q));
    vec4 g;
    if (MODE == BN_BACKWARD_TRAIN) {
        vec4 xhat = (texelFetch(Xt, int(q)) - stats[c]) * invstd;
        g = scale * (dy - sums[c] * pc.inv_m - xhat * (sums[pc.channels + c] * pc.inv_m));
    } else {
        g = scale * dy;
    }
    dx4[q] = pc.accumulate != 0u ? dx4[q] + g : g;
}
