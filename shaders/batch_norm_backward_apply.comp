#version 450
// batch_norm_backward_apply.comp — dx (+)= the input gradient of batch norm, one invocation per
// element of x (N, C, S), with w = weight[c] (1 without weight) and the forward's stats (2C):
//   BN_BACKWARD_TRAIN  dx += w * invstd * (dy - sum_dy / M - xhat * sum_dyx / M),
//                      xhat = (x - mean) * invstd, sums (2C) from batch_norm_backward_reduce.comp,
//                      M = N * S; this is (w invstd / M) (M dy - sum(dy) - xhat sum(dy xhat)),
//                      the batch statistics' dependence on x included
//   BN_BACKWARD_EVAL   dx += dy * w * invstd (running statistics are constants: an affine map)
// RELU (vkt_batch_norm_relu): dy is first masked by the forward's y = bn(x) > 0, recomputed from
// x, stats, weight and bias (binding 6) as the forward computed it (batch_norm_affine.glsl).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_backward (src/ref/ref_norm.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_affine.glsl"

#include "batch_norm_ops.h"
layout(constant_id = 1) const uint MODE = BN_BACKWARD_TRAIN;
layout(constant_id = 2) const bool RELU = false;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Dy { float dy[]; };
layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) readonly buffer Sums { float sums[]; };
layout(set = 0, binding = 4) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 5) buffer Dx { float dx[]; };
layout(set = 0, binding = 6) readonly buffer Bias { float bias[]; };

layout(push_constant) uniform PC {
    uint n;        // N * C * S
    uint channels; // C
    uint spatial;  // S
    float inv_m;   // 1 / (N * S)
    uint has_weight;
    uint accumulate; // dx += the gradient (else dx = it: its first writer)
    uint has_bias;   // RELU only
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    uint c = (i / pc.spatial) % pc.channels;
    float invstd = stats[pc.channels + c];
    float w = pc.has_weight != 0u ? weight[c] : 1.0;
    float scale = pc.has_weight != 0u ? w * invstd : invstd;
    float d = dy[i];
    if (RELU) {
        float shift = pc.has_bias != 0u ? bias[c] : 0.0;
        d = bn_relu_mask(d, bn_affine(x[i], stats[c], invstd, w, shift));
    }
    float g;
    if (MODE == BN_BACKWARD_TRAIN) {
        float xhat = (x[i] - stats[c]) * invstd;
        g = scale * (d - sums[c] * pc.inv_m - xhat * (sums[pc.channels + c] * pc.inv_m));
    } else {
        g = scale * d;
    }
    dx[i] = pc.accumulate != 0u ? dx[i] + g : g;
}
