#version 450
// col2im_block.comp — col2im.comp (the same gather, in the same order: each element of dx sums
// its taps ky, then kx, from 0.0; push constants in conv_geom.glsl) for a unit stride, a kernel
// known when the pipeline is made, k_stride % 4 == 0, H * W % 4 == 0 and dcols viewed as texels
// (set 1 binding 0; set 0 binding 0 is the same range, not read here). 4 consecutive elements of
// one plane per invocation and one vec4 store, the tap loops unrolled: which component of its
// texel a tap reads depends only on the channel and the tap (rows are k_stride floats apart), so
// it is chosen once per invocation and tap rather than per element as in col2im_texel.comp.
// Specialization constants: 0 workgroup size, 1 KH, 2 KW.
// Dispatch: src/ops/conv.c (conv_col2im). Reference: vkt__ref_conv2d_backward
// (src/ref/ref_conv.c). Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"

layout(constant_id = 1) const uint KH = 3;
layout(constant_id = 2) const uint KW = 3;

const uint KK = KH * KW;

layout(set = 0, binding = 1) buffer DX4 { vec4 dx4[]; };
layout(set = 1, binding = 0) uniform samplerBuffer DColsT;

void main()
{
    uint hw = pc.h * pc.w;
    uint e = vkt_global_index() * 4u;
    if (e >= pc.batch * pc.c_group * hw) {
        return;
    }
    // elements r..r+3 of plane c of image n (a plane is whole vec4s)
    uint r = e % hw, t = e / hw;
    uint c = t % pc.c_group, n = t / pc.c_group;
    int iy[4], ix[4];
    iy[0] = int(r / pc.w), ix[0] = int(r % pc.w);
    for (uint p = 1; p < 4u; p++) {
        bool wrap = ix[p - 1u] + 1 == int(pc.w);
        iy[p] = iy[p - 1u] + (wrap ? 1 : 0), ix[p] = wrap ? 0 : ix[p - 1u] + 1;
    }
    uint k0 = c * KK; // the column of tap (0, 0)
    uint ks4 = pc.k_stride / 4u;
    vec4 s = vec4(0.0);
    for (uint ky = 0; ky < KH; ky++) {
        for (uint kx = 0; kx < KW; kx++) {
            uint k = k0 + ky * KW + kx, kt = k / 4u, kc = k % 4u;
            for (uint p = 0; p < 4u; p++) {
                int oy = iy[p] + int(pc.ph) - int(ky * pc.dh);
                int ox = ix[p] + int(pc.pw) - int(kx * pc.dw);
                bool ok = oy >= 0 && oy < int(pc.oh) && ox >= 0 && ox < int(pc.ow);
                // branch-free: every lane fetches (texel 0 where no window reads), then selects
                uint m = (n * pc.oh + uint(oy)) * pc.ow + uint(ox);
                vec4 v = texelFetch(DColsT, ok ? int(m * ks4 + kt) : 0);
                float a = kc == 0u ? v.x : kc == 1u ? v.y : kc == 2u ? v.z : v.w;
                s[p] += ok ? a : 0.0;
            }
        }
    }
    uint o = ((pc.n0 + n) * pc.c_in + pc.c0 + c) * hw + r;
    dx4[o / 4u] = pc.accumulate != 0u ? dx4[o / 4u] + s : s;
}
