#version 450
// reduce_backward.comp — gradients of the reductions, accumulated (+=) into dx (rows x cols):
//   RB_BROADCAST  dx[r, j] += gout[r] / div   sum (div = 1), mean (div = cols); one invocation
//                                             per element of dx
//   RB_SCATTER    dx[r, idx[r]] += gout[r]    max / min: only the first extreme element of each
//                                             row receives the gradient; one invocation per row
// Whole-tensor reductions are rows = 1, cols = n. Constant_id 1 = MODE.
// Dispatch: reduce_backward in src/ops/reduce.c. Reference: vkt__ref_reduce_*_backward in
// src/ref/ref_reduce.c. Checked by src/check/check_reduce.c ("*_backward").
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "reduce_ops.h"
layout(constant_id = 1) const uint MODE = RB_BROADCAST;

layout(set = 0, binding = 0) readonly buffer Gout { float gout[]; };
layout(set = 0, binding = 1) readonly buffer Idx { uint idx[]; }; // RB_SCATTER only
layout(set = 0, binding = 2) buffer Dx { float dx[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    float div; // RB_BROADCAST only
} pc;

void main()
{
    uint i = vkt_global_index();
    if (MODE == RB_BROADCAST) {
        if (i >= pc.rows * pc.cols) {
            return;
        }
        float g = gout[i / pc.cols];
        dx[i] += pc.div != 1.0 ? g / pc.div : g; // x / 1 need not be exact (2.5 ULP division)
    } else {
        if (i >= pc.rows) {
            return;
        }
        uint j = idx[i];
        if (j < pc.cols) {
            dx[i * pc.cols + j] += gout[i];
        }
    }
}
