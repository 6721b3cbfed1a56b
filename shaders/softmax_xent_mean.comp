#version 450
// softmax_xent_mean.comp — forward of vkt_softmax_xent / vkt_cross_entropy, pass 2 of 2: the
// reduction of the n per-row losses written by softmax_xent.comp. One workgroup: invocation t
// sums rows t, t + WG, ... in order (and counts those not ignored), then fixed-order
// shared-memory trees add the partial sums and counts (deterministic). Writes
//   o[0]     = sum / count (mean), or sum (XENT_SUM); count 0 gives NaN, as torch
//   den[0]   = count (mean) or 1 (sum): what the backward divides gout by
// count is the number of rows whose label is not ignore_index (all rows without
// XENT_HAS_IGNORE), exact in f32 since the op allows fewer than 2^24 rows; the loop runs n / WG
// times, at most 65535 (src/ops/softmax_xent.c bounds n).
// Dispatch: src/ops/softmax_xent.c. Reference: vkt__ref_softmax_xent (src/ref/ref_xent.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "softmax_xent_ops.h"

layout(set = 0, binding = 0) readonly buffer Rows { float rows[]; };
layout(set = 0, binding = 1) readonly buffer Labels { int labels[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 3) writeonly buffer Den { float den[]; };

layout(push_constant) uniform PC {
    uint n;
    uint flags;       // XENT_HAS_IGNORE, XENT_SUM
    int ignore_index;
} pc;

#include "softmax_xent_reduce.glsl"

void main()
{
    uint t = gl_LocalInvocationID.x;
    bool has_ignore = (pc.flags & XENT_HAS_IGNORE) != 0;
    float s = 0.0;
    float c = 0.0;
    for (uint i = t; i < pc.n; i += gl_WorkGroupSize.x) {
        s += rows[i];
        c += has_ignore && labels[i] == pc.ignore_index ? 0.0 : 1.0;
    }
    s = group_reduce(s, false);
    c = group_reduce(c, false);
    if (t == 0) {
        bool sum = (pc.flags & XENT_SUM) != 0;
        o[0] = sum ? s : s / c;
        den[0] = sum ? 1.0 : c;
    }
}
