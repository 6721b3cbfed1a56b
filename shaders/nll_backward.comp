#version 450
// nll_backward.comp — backward of nll.comp, one invocation per element of lp (B, C):
//   dlp[i, c] += -gout[i] ((1 - eps) w[t] [c == t] + (eps / C) w[c])     (0 for ignored rows)
// Dispatch: src/ops/nll.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint HAS_WEIGHT = 0;

layout(set = 0, binding = 0) readonly buffer Gout { float gout[]; };
layout(set = 0, binding = 1) readonly buffer Targets { int targets[]; };
layout(set = 0, binding = 2) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 3) buffer Dlp { float dlp[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    int ignore_index;
    float smoothing;
} pc;

void main()
{
    uint e = vkt_global_index();
    if (e >= pc.rows * pc.cols) {
        return;
    }
    uint i = e / pc.cols, c = e % pc.cols;
    int t = targets[i];
    float a = 0.0;
    if (t != pc.ignore_index) {
        if (t < 0 || uint(t) >= pc.cols) {
            a = uintBitsToFloat(0x7fc00000u);
        } else {
            float w_t = HAS_WEIGHT != 0 ? weight[t] : 1.0;
            float w_c = HAS_WEIGHT != 0 ? weight[c] : 1.0;
            a = (uint(t) == c ? (1.0 - pc.smoothing) * w_t : 0.0) +
                pc.smoothing / float(pc.cols) * w_c;
        }
    }
    dlp[e] += -gout[i] * a;
}
