#version 450
// softmax_xent.comp — forward of vkt_softmax_xent, pass 1 of 2: one workgroup per row of the
// logits (B, C). The workgroup finds the row's max m, then s = sum_j exp(x[j] - m) (each with a
// fixed-order shared-memory tree, so the result is deterministic), and invocation 0 writes
//   stats[row] = (m, log(s))                 saved for the backward pass
//   rows[row]  = (m - x[label]) + log(s)     the row's loss; NaN if label is outside [0, C)
// and, with XENT_HAS_IGNORE, 0 for a row whose label is ignore_index (checked first: an
// ignore_index inside [0, C) ignores that class, as torch).
// Subtracting the max keeps exp() in range for any finite logits (e.g. +-1e4). Each invocation
// loops over C / WG columns (197 at C = 50257, WG 256): far below lavapipe's 65535-iteration
// limit for any C the op accepts (src/ops/softmax_xent.c); rows beyond 65535 use a 2-D grid.
// Pass 2 (the batch mean): softmax_xent_mean.comp. Backward: softmax_xent_backward.comp.
// Dispatch: src/ops/softmax_xent.c. Reference: src/ref/ref_xent.c. Checks: src/check/check_xent.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "softmax_xent_ops.h"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Labels { int labels[]; };
layout(set = 0, binding = 2) writeonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) writeonly buffer Rows { float rows[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    uint flags;       // XENT_HAS_IGNORE
    int ignore_index;
} pc;

#include "softmax_xent_reduce.glsl"

void main()
{
    uint row = vkt_flat_group();
    if (row >= pc.rows) {
        return; // uniform over the workgroup: all its invocations share the row
    }
    uint t = gl_LocalInvocationID.x;
    uint base = row * pc.cols;

    float m = uintBitsToFloat(0xff800000u); // -inf
    for (uint j = t; j < pc.cols; j += gl_WorkGroupSize.x) {
        m = max(m, x[base + j]);
    }
    m = group_reduce(m, true);

    float s = 0.0;
    for (uint j = t; j < pc.cols; j += gl_WorkGroupSize.x) {
        s += exp(x[base + j] - m);
    }
    s = group_reduce(s, false);

    if (t == 0) {
        float ls = log(s);
        int label = labels[row];
        stats[2 * row] = m;
        stats[2 * row + 1] = ls;
        // precise: no reassociation into (m + ls) - x[label], which would lose the small loss
        // of a row with large logits (at 1e4 the float spacing is 1e-3)
        precise float loss = uintBitsToFloat(0x7fc00000u); // NaN for a label outside [0, C)
        if ((pc.flags & XENT_HAS_IGNORE) != 0 && label == pc.ignore_index) {
            loss = 0.0;
        } else if (label >= 0 && uint(label) < pc.cols) {
            loss = (m - x[base + uint(label)]) + ls;
        }
        rows[row] = loss;
    }
}
