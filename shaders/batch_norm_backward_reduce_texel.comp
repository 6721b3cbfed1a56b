#version 450
// batch_norm_backward_reduce_texel.comp — batch_norm_backward_reduce.comp (same RELU, push
// constants and bindings) for S % 4 == 0, x and dy read through their texel views (set 1 bindings 0 and 1,
// the ranges of set 0 bindings 0 and 1): invocation t takes the channel's vec4s q = t, t + WG,
// ... in order, adding their four values in order, so the order depends only on M and the
// workgroup size (batch_norm_reduce.glsl). On CPU drivers a fetch is a vectorised gather, where
// a storage-buffer float load is a scalar loop per lane (docs/shaders.md, texel bindings).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_backward (src/ref/ref_norm.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_affine.glsl"
#include "batch_norm_reduce.glsl"

layout(constant_id = 1) const bool RELU = false;

layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) writeonly buffer Sums { float sums[]; };
layout(set = 0, binding = 4) buffer DWeight { float dweight[]; };
layout(set = 0, binding = 5) buffer DBias { float dbias[]; };
layout(set = 0, binding = 6) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 7) readonly buffer Bias { float bias[]; };
layout(set = 1, binding = 0) uniform samplerBuffer Xt;
layout(set = 1, binding = 1) uniform samplerBuffer Dyt;

layout(push_constant) uniform PC {
    uint batch;    // N
    uint channels; // C
    uint spatial;  // S, a multiple of 4
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
    BnCursor at = bn_cursor(gl_LocalInvocationID.x, wg, pc.spatial / 4u);
    for (uint q = gl_LocalInvocationID.x; q < m / 4u; q += wg, bn_step(at)) {
        int t = int(bn_at(at, c, pc.channels));
        vec4 g = texelFetch(Dyt, t), xv = texelFetch(Xt, t), xhat = (xv - mean) * invstd;
        if (RELU) {
            g = bn_relu_mask4(g, bn_affine4(xv, mean, invstd, w, shift));
        }
        for (uint i = 0; i < 4; i++) {
            bn_add(s_dy, g[i], 0.0);
            bn_add(s_dyx, g[i] * xhat[i], 0.0);
        }
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
