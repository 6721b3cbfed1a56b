#version 450
// batch_norm_apply.comp — y = (x - mean[c]) * invstd[c] * weight[c] + bias[c] for x (N, C, S), one
// invocation per element; stats (2C) from batch_norm_stats.comp (mean at c, invstd at C + c).
// weight and bias are optional (has_weight / has_bias; absent: 1 and 0). RELU: y = max(that, 0)
// (vkt_batch_norm_relu).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_apply (src/ref/ref_norm.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_affine.glsl"

layout(constant_id = 1) const bool RELU = false;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 2) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 3) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 4) writeonly buffer Y { float y[]; };

layout(push_constant) uniform PC {
    uint n;        // N * C * S
    uint channels; // C
    uint spatial;  // S
    uint has_weight;
    uint has_bias;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    uint c = (i / pc.spatial) % pc.channels;
    float w = pc.has_weight != 0u ? weight[c] : 1.0;
    float shift = pc.has_bias != 0u ? bias[c] : 0.0;
    float v = bn_affine(x[i], stats[c], stats[pc.channels + c], w, shift);
    y[i] = RELU ? max(v, 0.0) : v;
}
