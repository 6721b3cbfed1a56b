#version 450
// softmax_xent_mean.comp — forward of vkt_softmax_xent, pass 2 of 2: out[0] = mean of the n
// per-row losses written by softmax_xent.comp. One workgroup: invocation t sums rows t, t + WG,
// ... in order, then a fixed-order shared-memory tree adds the partial sums (deterministic).
// Dispatch: src/ops/softmax_xent.c. Reference: vkt__ref_softmax_xent (src/ref/ref_xent.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Rows { float rows[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint n;
} pc;

#include "softmax_xent_reduce.glsl"

void main()
{
    uint t = gl_LocalInvocationID.x;
    float s = 0.0;
    for (uint i = t; i < pc.n; i += gl_WorkGroupSize.x) {
        s += rows[i];
    }
    s = group_reduce(s, false);
    if (t == 0) {
        o[0] = s / float(pc.n);
    }
}
