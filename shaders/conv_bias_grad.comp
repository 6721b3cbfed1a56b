#version 450
// conv_bias_grad.comp — dbias[co] (+)= the sum over n, oy, ox of dy (N, C_out, OH, OW): one
// workgroup per output channel, a compensated strided sum per invocation and a fixed tree
// (batch_norm_reduce.glsl, which sums channels of (N, C, S) tensors), so the result is
// deterministic and each invocation loops N * OH * OW / WG times (a one-invocation loop over the
// channel would exceed the 65535 iterations after which lavapipe ends a loop). Uses
// conv_geom.glsl's batch (all N images), c_out, oh, ow and accumulate.
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d_backward (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"
#include "batch_norm_reduce.glsl"

layout(set = 0, binding = 0) readonly buffer DY { float dy[]; };
layout(set = 0, binding = 1) buffer DB { float db[]; };

void main()
{
    uint co = vkt_flat_group();
    if (co >= pc.c_out) {
        return; // uniform across the workgroup
    }
    uint ohw = pc.oh * pc.ow;
    uint m = pc.batch * ohw;
    vec2 s = vec2(0.0);
    for (uint k = gl_LocalInvocationID.x; k < m; k += gl_WorkGroupSize.x) {
        bn_add(s, dy[bn_index(k, co, pc.c_out, ohw)], 0.0);
    }
    vec4 r = bn_workgroup_sum(vec4(s, 0.0, 0.0));
    if (gl_LocalInvocationID.x == 0u) {
        float v = bn_value(r.xy);
        db[co] = pc.accumulate != 0u ? db[co] + v : v;
    }
}
