#version 450
// batch_norm_stats.comp — per-channel statistics of x (N, C, S) into stats (2C): mean[c] at c,
// invstd[c] at C + c. Specialization constant 1 = MODE:
//   BN_STATS_BATCH    one workgroup per channel (batch_norm_reduce.glsl): mean = sum(x) / M
//                     first, then m2 = sum((x - mean)^2), never E[x^2] - E[x]^2; invstd = 1 /
//                     sqrt(m2 / M + eps). With update_running, invocation 0 also sets
//                     running_mean = (1 - momentum) running_mean + momentum mean and running_var
//                     likewise with the unbiased m2 / (M - 1), as torch does; with has_nbt,
//                     channel 0 adds 1 to num_batches_tracked (i32).
//   BN_STATS_RUNNING  one invocation per channel: mean = running_mean, invstd = 1 /
//                     sqrt(running_var + eps) (eval mode; nothing is written but stats).
// Bindings 2-4 are statically written, so the dispatch binds real ranges there even when they are
// absent (the stats output again; the flags keep them unwritten).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm (src/ref/ref_norm.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_reduce.glsl"

#include "batch_norm_ops.h"
layout(constant_id = 1) const uint MODE = BN_STATS_BATCH;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Stats { float stats[]; };
layout(set = 0, binding = 2) buffer RunningMean { float running_mean[]; };
layout(set = 0, binding = 3) buffer RunningVar { float running_var[]; };
layout(set = 0, binding = 4) buffer Tracked { uint num_batches_tracked[]; };

layout(push_constant) uniform PC {
    uint batch;    // N
    uint channels; // C
    uint spatial;  // S
    float eps;
    float momentum;
    uint update_running;
    uint has_nbt;
} pc;

void main()
{
    if (MODE == BN_STATS_RUNNING) {
        uint c = vkt_global_index();
        if (c < pc.channels) {
            stats[c] = running_mean[c];
            stats[pc.channels + c] = 1.0 / sqrt(running_var[c] + pc.eps);
        }
        return;
    }
    uint c = vkt_flat_group();
    if (c >= pc.channels) {
        return; // whole workgroup: the 2-D grid's tail
    }
    uint m = pc.batch * pc.spatial;
    uint wg = gl_WorkGroupSize.x;
    vec2 acc = vec2(0.0);
    BnCursor at = bn_cursor(gl_LocalInvocationID.x, wg, pc.spatial);
    for (uint k = gl_LocalInvocationID.x; k < m; k += wg, bn_step(at)) {
        bn_add(acc, x[bn_at(at, c, pc.channels)], 0.0);
    }
    float mean = bn_value(bn_workgroup_sum(vec4(acc, 0.0, 0.0)).xy) / float(m);
    acc = vec2(0.0);
    at = bn_cursor(gl_LocalInvocationID.x, wg, pc.spatial);
    for (uint k = gl_LocalInvocationID.x; k < m; k += wg, bn_step(at)) {
        float d = x[bn_at(at, c, pc.channels)] - mean;
        bn_add(acc, d * d, 0.0);
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
