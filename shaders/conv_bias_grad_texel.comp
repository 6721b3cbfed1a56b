#version 450
// conv_bias_grad_texel.comp — conv_bias_grad.comp (same push constants and bindings) for
// OH * OW % 4 == 0, dy read through its texel view (set 1 binding 0, the range of set 0 binding
// 0): invocation t takes the channel's vec4s q = t, t + WG, ... in order, adding their four
// values in order, so the order depends only on the sizes and the workgroup size
// (batch_norm_reduce.glsl). On CPU drivers a fetch is a vectorised gather, where a
// storage-buffer float load is a scalar loop per lane (docs/shaders.md, texel bindings).
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d_backward (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"
#include "batch_norm_reduce.glsl"

layout(set = 0, binding = 1) buffer DB { float db[]; };
layout(set = 1, binding = 0) uniform samplerBuffer DYt;

void main()
{
    uint co = vkt_flat_group();
    if (co >= pc.c_out) {
        return; // uniform across the workgroup
    }
    uint ohw = pc.oh * pc.ow;
    uint m = pc.batch * ohw;
    vec2 s = vec2(0.0);
    for (uint q = gl_LocalInvocationID.x; q < m / 4u; q += gl_WorkGroupSize.x) {
        vec4 v = texelFetch(DYt, int(bn_index(4u * q, co, pc.c_out, ohw) / 4u));
        for (uint i = 0; i < 4; i++) {
            bn_add(s, v[i], 0.0);
        }
    }
    vec4 r = bn_workgroup_sum(vec4(s, 0.0, 0.0));
    if (gl_LocalInvocationID.x == 0u) {
        float v = bn_value(r.xy);
        db[co] = pc.accumulate != 0u ? db[co] + v : v;
    }
}
