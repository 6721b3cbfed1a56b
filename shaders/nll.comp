#version 450
// nll.comp — forward of the NLL_ROWS op (nll_loss and cross_entropy): one invocation per row of
// the log-probabilities lp (B, C), summing the row's classes in order:
//   loss[i] = -((1 - eps) w[t] lp[i, t] + (eps / C) sum_c w[c] lp[i, c])     t = targets[i]
//   wt[i]   = w[t]                          (the row's share of a weighted mean's denominator)
// with w = 1 without weights (HAS_WEIGHT = 0). A row whose target is ignore_index gives 0 and 0;
// a target outside [0, C) gives NaN and NaN (torch raises; a shader cannot).
// Backward: nll_backward.comp. Dispatch: src/ops/nll.c. Reference: src/ref/ref_loss.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(constant_id = 1) const uint HAS_WEIGHT = 0;

layout(set = 0, binding = 0) readonly buffer LP { float lp[]; };
layout(set = 0, binding = 1) readonly buffer Targets { int targets[]; };
layout(set = 0, binding = 2) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 3) writeonly buffer Loss { float loss[]; };
layout(set = 0, binding = 4) writeonly buffer Wt { float wt[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    int ignore_index;
    float smoothing;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.rows) {
        return;
    }
    int t = targets[i];
    if (t == pc.ignore_index) {
        loss[i] = 0.0;
        wt[i] = 0.0;
        return;
    }
    if (t < 0 || uint(t) >= pc.cols) {
        loss[i] = uintBitsToFloat(0x7fc00000u);
        wt[i] = uintBitsToFloat(0x7fc00000u);
        return;
    }
    uint base = i * pc.cols;
    float w_t = HAS_WEIGHT != 0 ? weight[t] : 1.0;
    float l = (1.0 - pc.smoothing) * w_t * lp[base + uint(t)];
    if (pc.smoothing != 0.0) {
        float s = 0.0;
        for (uint c = 0; c < pc.cols; c++) {
            s += (HAS_WEIGHT != 0 ? weight[c] : 1.0) * lp[base + c];
        }
        l += pc.smoothing / float(pc.cols) * s;
    }
    loss[i] = -l;
    wt[i] = w_t;
}
