#version 450
// col2im.comp — the input gradient of one chunk and group from dcols (M, K) (layout in
// conv_geom.glsl), as a gather: each element of dx sums, in a fixed order (ky, then kx), the
// entries of dcols that im2col.comp read from it, so no two invocations write the same element
// and no atomics are needed. dx (+)= that sum (accumulate).
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d_backward (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"

layout(set = 0, binding = 0) readonly buffer DCols { float dcols[]; };
layout(set = 0, binding = 1) buffer DX { float dx[]; };

void main()
{
    uint e = vkt_global_index();
    uint hw = pc.h * pc.w;
    if (e >= pc.batch * pc.c_group * hw) {
        return;
    }
    uint ix = e % pc.w, iy = (e / pc.w) % pc.h;
    uint c = (e / hw) % pc.c_group, n = e / (hw * pc.c_group);
    uint kk = pc.kh * pc.kw;
    uint K = pc.c_group * kk;
    float s = 0.0;
    for (uint ky = 0; ky < pc.kh; ky++) {
        int ty = int(iy + pc.ph) - int(ky * pc.dh);
        if (ty < 0 || uint(ty) % pc.sh != 0u || uint(ty) / pc.sh >= pc.oh) {
            continue;
        }
        uint oy = uint(ty) / pc.sh;
        for (uint kx = 0; kx < pc.kw; kx++) {
            int tx = int(ix + pc.pw) - int(kx * pc.dw);
            if (tx < 0 || uint(tx) % pc.sw != 0u || uint(tx) / pc.sw >= pc.ow) {
                continue;
            }
            uint m = (n * pc.oh + oy) * pc.ow + uint(tx) / pc.sw;
            s += dcols[m * K + c * kk + ky * pc.kw + kx];
        }
    }
    uint o = ((pc.n0 + n) * pc.c_in + pc.c0 + c) * hw + iy * pc.w + ix;
    dx[o] = pc.accumulate != 0u ? dx[o] + s : s;
}
