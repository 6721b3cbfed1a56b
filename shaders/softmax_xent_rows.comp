#version 450
// softmax_xent_rows.comp — forward of vkt_softmax_xent for short rows (C <= XENT_ROWS_MAX_COLS,
// e.g. 10 classes): one invocation per row instead of softmax_xent.comp's workgroup per row,
// whose shared-memory trees over 256 slots cost far more than 10 logits. Invocation t walks rows
// t, t + N, ... (N = the invocations of the grid) and for each, in column order, finds the max m
// and s = sum_j exp(x[j] - m), then writes as softmax_xent.comp does
//   stats[row] = (m, log(s)),  rows[row] = (m - x[label]) + log(s)   (NaN / 0 rules alike).
// With XENT_FUSED_MEAN the grid is one workgroup and it also does softmax_xent_mean.comp's work:
// invocation t's rows are that pass's rows t, t + WG, ..., summed in that order, then the same
// fixed-order trees (softmax_xent_reduce.glsl), so the mean is bit-identical to the two-pass
// path's over the same row losses. The host (src/ops/softmax_xent.c) bounds rows per invocation
// times (2 C + 2) far below lavapipe's 65535 loop iterations.
// Dispatch: src/ops/softmax_xent.c. Reference: src/ref/ref_xent.c. Checks: src/check/check_xent.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "softmax_xent_ops.h"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Labels { int labels[]; };
layout(set = 0, binding = 2) writeonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) writeonly buffer Rows { float rows[]; };
layout(set = 0, binding = 4) writeonly buffer Out { float o[]; };
layout(set = 0, binding = 5) writeonly buffer Den { float den[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    uint flags;       // XENT_HAS_IGNORE, XENT_SUM, XENT_FUSED_MEAN
    int ignore_index;
} pc;

#include "softmax_xent_reduce.glsl"

void main()
{
    uint stride = vkt_num_groups() * gl_WorkGroupSize.x;
    bool has_ignore = (pc.flags & XENT_HAS_IGNORE) != 0;
    float total = 0.0;
    float count = 0.0;
    for (uint row = vkt_global_index(); row < pc.rows; row += stride) {
        uint base = row * pc.cols;
        float m = uintBitsToFloat(0xff800000u); // -inf
        for (uint j = 0; j < pc.cols; j++) {
            m = max(m, x[base + j]);
        }
        float s = 0.0;
        for (uint j = 0; j < pc.cols; j++) {
            s += exp(x[base + j] - m);
        }
        float ls = log(s);
        int label = labels[row];
        stats[2 * row] = m;
        stats[2 * row + 1] = ls;
        // precise: as softmax_xent.comp, no reassociation into (m + ls) - x[label]
        precise float loss = uintBitsToFloat(0x7fc00000u); // NaN for a label outside [0, C)
        bool ignored = has_ignore && label == pc.ignore_index;
        if (ignored) {
            loss = 0.0;
        } else if (label >= 0 && uint(label) < pc.cols) {
            loss = (m - x[base + uint(label)]) + ls;
        }
        rows[row] = loss;
        total += loss;
        count += ignored ? 0.0 : 1.0;
    }
    if ((pc.flags & XENT_FUSED_MEAN) == 0) {
        return; // uniform: a push constant
    }
    total = group_reduce(total, false);
    count = group_reduce(count, false);
    if (gl_LocalInvocationID.x == 0) {
        bool sum = (pc.flags & XENT_SUM) != 0;
        o[0] = sum ? total : total / count;
        den[0] = sum ? 1.0 : count;
    }
}
