#version 450
// grad_clip.comp — in-place gradient clipping (constant_id 1 = OP):
//   CLIP_SCALE_BY_NORM  norm = sqrt(sumsq[0]); g *= min(1, max_norm / (norm + 1e-6));
//                       invocation 0 also writes norm_out[0] = norm    (clip_grad_norm_)
//   CLIP_CLAMP          g = clamp(g, -clip, clip)                      (clip_grad_value_)
// The norm never leaves the device. Dispatch: src/optim/clip.c. Reference: vkt__ref_clip_*.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "grad_clip_ops.h"
layout(constant_id = 1) const uint OP = CLIP_SCALE_BY_NORM;

layout(set = 0, binding = 0) readonly buffer SumSq { float sumsq[]; };
layout(set = 0, binding = 1) buffer G { float g[]; };
layout(set = 0, binding = 2) writeonly buffer Norm { float norm_out[]; };

layout(push_constant) uniform PC {
    uint n;
    float limit;   // max_norm or clip value
} pc;

void main()
{
    uint i = vkt_global_index();
    if (OP == CLIP_CLAMP) {
        if (i < pc.n) {
            g[i] = clamp(g[i], -pc.limit, pc.limit);
        }
        return;
    }
    float norm = sqrt(sumsq[0]);
    if (i == 0) {
        norm_out[0] = norm;
    }
    if (i < pc.n) {
        float coef = min(1.0, pc.limit / (norm + 1e-6));
        g[i] *= coef;
    }
}
