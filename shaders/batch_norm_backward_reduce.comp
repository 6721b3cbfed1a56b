#version 450
// batch_norm_backward_reduce.comp — per channel c of x (N, C, S), one workgroup each
// (batch_norm_reduce.glsl): sum_dy = sum(dy) and sum_dyx = sum(dy * xhat), xhat = (x - mean[c]) *
// invstd[c] from the forward's stats (2C). Writes sums[c] = sum_dy, sums[C + c] = sum_dyx (read by
// batch_norm_backward_apply.comp in training mode), and adds dweight[c] += sum_dyx (want_dweight)
// and dbias[c] += sum_dy (want_dbias). Bindings 4 and 5 are statically written, so the dispatch
// binds real ranges there even when they are unwanted (sums again; the flags keep them unwritten).
// RELU (vkt_batch_norm_relu): dy is first masked by the forward's y = bn(x) > 0, recomputed from
// x, stats, weight (binding 6) and bias (binding 7) as the forward computed it
// (batch_norm_affine.glsl).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_backward (src/ref/ref_norm.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_affine.glsl"
#include "batch_norm_reduce.glsl"

layout(constant_id = 1) const bool RELU = false;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Dy { float dy[]; };
layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) writeonly buffer Sums { float sums[]; };
layout(set = 0, binding = 4) buffer DWeight { float dweight[]; };
layout(set = 0, binding = 5) buffer DBias { float dbias[]; };
layout(set = 0, binding = 6) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 7) readonly buffer Bias { float bias[]; };

layout(push_constant) uniform PC {
    uint batch;    // N
    uint channels; // C
    uint spatial;  // S
    uint want_dweight;
    uint want_dbias;
    uint has_weight; // RELU only
    uint has_bias;   // RELU only
} pc;

void main()
{
    uint c = vkt_flat_group();
    if (c >= pc.channels) {
        return; // whole workgroup: the 2-D grid's tail
    }
    float mean = stats[c], invstd = stats[pc.channels + c];
    float w = RELU && pc.has_weight != 0u ? weight[c] : 1.0;
    float shift = RELU && pc.has_bias != 0u ? bias[c] : 0.0;
    uint m = pc.batch * pc.spatial, wg = gl_WorkGroupSize.x;
    vec2 s_dy = vec2(0.0), s_dyx = vec2(0.0);
    BnCursor at = bn_cursor(gl_LocalInvocationID.x, wg, pc.spatial);
    for (uint k = gl_LocalInvocationID.x; k < m; k += wg, bn_step(at)) {
        uint i = bn_at(at, c, pc.channels);
        float g = dy[i];
        if (RELU) {
            g = bn_relu_mask(g, bn_affine(x[i], mean, invstd, w, shift));
        }
        bn_add(s_dy, g, 0.0);
        bn_add(s_dyx, g * ((x[i] - mean) * invstd), 0.0);
    }
    vec4 r = bn_workgroup_sum(vec4(s_dy, s_dyx));
    if (gl_LocalInvocationID.x != 0u) {
        return;
    }
    float sum_dy = bn_value(r.xy), sum_dyx = bn_value(r.zw);
    sums[c] = sum_dy;
    sums[pc.channels + c] = sum_dyx;
    if (pc.want_dweight != 0u) {
        dweight[c] += sum_dyx;
    }
    if (pc.want_dbias != 0u) {
        dbias[c] += sum_dy;
    }
}
