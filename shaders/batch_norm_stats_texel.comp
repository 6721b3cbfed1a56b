#version 450
// batch_norm_stats_texel.comp — batch_norm_stats.comp's BN_STATS_BATCH mode (same push constants
// and bindings; the eval mode's copy stays there) for S % 4 == 0, x read through its texel view
// (set 1 binding 0, the range of set 0 binding 0): invocation t takes the channel's vec4s
// q = t, t + WG, ... in order, adding their four values in order to its pair, so the order
// depends only on M and the workgroup size (batch_norm_reduce.glsl). On CPU drivers a fetch is a
// vectorised gather, where a storage-buffer float load is a scalar loop per lane
// (docs/shaders.md, texel bindings).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_stats (src/ref/ref_norm.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_reduce.glsl"

layout(set = 0, binding = 1) writeonly buffer Stats { float stats[]; };
layout(set = 0, binding = 2) buffer RunningMean { float running_mean[]; };
layout(set = 0, binding = 3) buffer RunningVar { float running_var[]; };
layout(set = 0, binding = 4) buffer Tracked { uint num_batches_tracked[]; };
layout(set = 1, binding = 0) uniform samplerBuffer Xt;

layout(push_constant) uniform PC {
    uint batch;    // N
    uint channels; // C
    uint spatial;  // S, a multiple of 4
    float eps;
    float momentum;
    uint update_running;
    uint has_nbt;
} pc;

void main()
{
    uint c = vkt_flat_group();
    if (c >= pc.channels) {
        return; // whole workgroup: the 2-D grid's tail
    }
    uint m = pc.batch * pc.spatial;
    uint wg = gl_WorkGroupSize.x;
    uint s4 = pc.spatial / 4u; // the channel's vec4 q: elements 4q .. 4q + 3, within one image
    vec2 acc = vec2(0.0);
    BnCursor at = bn_cursor(gl_LocalInvocationID.x, wg, s4);
    for (uint q = gl_LocalInvocationID.x; q < m / 4u; q += wg, bn_step(at)) {
        vec4 v = texelFetch(Xt, int(bn_at(at, c, pc.channels)));
        for (uint i = 0; i < 4; i++) {
            bn_add(acc, v[i], 0.0);
        }
    }
    float mean = bn_value(bn_workgroup_sum(vec4(acc, 0.0, 0.0)).xy) / float(m);
    acc = vec2(0.0);
    at = bn_cursor(gl_LocalInvocationID.x, wg, s4);
    for (uint q = gl_LocalInvocationID.x; q < m / 4u; q += wg, bn_step(at)) {
        vec4 d = texelFetch(Xt, int(bn_at(at, c, pc.channels))) - mean;
        for (uint i = 0; i < 4; i++) {
            bn_add(acc, d[i] * d[i], 0.0);
        }
    }
    float m2 = bn_value(bn_workgroup_sum(vec4(acc, 0.0, 0.0)).xy);
    if (gl_LocalInvocationID.x != 0u) {
        return;
    }
    stats[c] = mean;
    stats[pc.channels + c] = 1.0 / sqrt(m2 / float(m) + pc.eps);
    if (pc.update_running != 0u) {
        float mom = pc.momentum;
        running_mean[c] = (1.0 - mom) * running_mean[c] + mom * mean;
        running_var[c] = (1.0 - mom) * running_var[c] + mom * (m2 / float(m - 1u));
    }
    if (pc.has_nbt != 0u && c == 0u) {
        num_batches_tracked[0] += 1u;
    }
}
