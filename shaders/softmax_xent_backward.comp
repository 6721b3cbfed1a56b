#version 450
// softmax_xent_backward.comp — gradient of vkt_softmax_xent, one invocation per logit:
//   dx[i, j] (+)= gout[0] / B * (softmax(x[i])[j] - (j == label[i]))
// with softmax(x[i])[j] = exp((x[i, j] - m_i) - log(s_i)) from the (m, log s) pairs the forward
// pass saved (softmax_xent.comp). gout, d(loss)/d(mean loss), is read here on the device. A row
// whose label is outside [0, C) gets NaN (its loss is NaN too).
// Dispatch: src/ops/softmax_xent.c. Reference: vkt__ref_softmax_xent_backward (src/ref/ref_xent.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Labels { int labels[]; };
layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) readonly buffer Gout { float gout[]; };
layout(set = 0, binding = 4) buffer Dx { float dx[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    uint accumulate;
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
    if (label >= 0 && uint(label) < pc.cols) {
        // precise: (x - m) is exact near the max; x - (m + log s) would round at 1e4's spacing
        precise float z = (x[i] - stats[2 * row]) - stats[2 * row + 1];
        float p = exp(z);
        float y = uint(label) == j ? 1.0 : 0.0;
        d = (gout[0] / float(pc.rows)) * (p - y);
    } else {
        d = uintBitsToFloat(0x7fc00000u); // NaN
    }
    if (pc.accumulate != 0) {
        d += dx[i];
    }
    dx[i] = d;
}
