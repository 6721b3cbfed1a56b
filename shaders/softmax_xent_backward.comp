#version 450
// softmax_xent_backward.comp — gradient of vkt_softmax_xent / vkt_cross_entropy, one invocation
// per logit:
//   dx[i, j] (+)= g_i * (softmax(x[i])[j] - (j == label[i]))
// with g_i = gout[0] / den[0] (mean: den = the counted rows; sum: 1), or gout[i] with
// XENT_PER_ROW (reduction none), and softmax(x[i])[j] = exp((x[i, j] - m_i) - log(s_i)) from the
// (m, log s) pairs the forward pass saved (softmax_xent.comp). gout is read here on the device.
// A row whose label is ignore_index (XENT_HAS_IGNORE) gets 0; one whose label is otherwise
// outside [0, C) gets NaN (its loss is NaN too). Nothing but dx is written: no (B, C)
// intermediate exists. The flat index fits a uint: the op allows at most 2^31 logits; a grid
// over more than 65535 workgroups is 2-D (vkt_global_index).
// Dispatch: src/ops/softmax_xent.c. Reference: vkt__ref_softmax_xent_backward (src/ref/ref_xent.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "softmax_xent_ops.h"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Labels { int labels[]; };
layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) readonly buffer Gout { float gout[]; };
layout(set = 0, binding = 4) buffer Dx { float dx[]; };
layout(set = 0, binding = 5) readonly buffer Den { float den[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    uint accumulate;
    uint flags;       // XENT_HAS_IGNORE, XENT_PER_ROW
    int ignore_index;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.rows * pc.cols) {
        return;
    }
    uint row = i / pc.cols;
    uint j = i - row * pc.cols;
    int label = labels[row];
    float d;
    if ((pc.flags & XENT_HAS_IGNORE) != 0 && label == pc.ignore_index) {
        d = 0.0;
    } else if (label >= 0 && uint(label) < pc.cols) {
        // precise: (x - m) is exact near the max; x - (m + log s) would round at 1e4's spacing
        precise float z = (x[i] - stats[2 * row]) - stats[2 * row + 1];
        float p = exp(z);
        float y = uint(label) == j ? 1.0 : 0.0;
        float g = (pc.flags & XENT_PER_ROW) != 0 ? gout[row] : gout[0] / den[0];
        d = g * (p - y);
    } else {
        d = uintBitsToFloat(0x7fc00000u); // NaN
    }
    if (pc.accumulate != 0) {
        d += dx[i];
    }
    dx[i] = d;
}
