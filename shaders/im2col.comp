#version 450
// im2col.comp — cols (M, K) of one chunk and group of x (N, C_in, H, W) (layout in
// conv_geom.glsl): cols[m, k] = x[n0 + n, c0 + c, oy * sh + ky * dh - ph, ox * sw + kx * dw - pw],
// or 0 where that lies in the padding. One invocation per element of cols.
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Cols { float cols[]; };

void main()
{
    uint e = vkt_global_index();
    uint kk = pc.kh * pc.kw;
    uint K = pc.c_group * kk;
    uint ohw = pc.oh * pc.ow;
    if (e >= pc.batch * ohw * K) {
        return;
    }
    uint m = e / K, k = e % K;
    uint n = m / ohw, r = m % ohw;
    uint oy = r / pc.ow, ox = r % pc.ow;
    uint c = k / kk, kr = k % kk;
    uint ky = kr / pc.kw, kx = kr % pc.kw;
    int iy = int(oy * pc.sh + ky * pc.dh) - int(pc.ph);
    int ix = int(ox * pc.sw + kx * pc.dw) - int(pc.pw);
    float v = 0.0;
    if (iy >= 0 && iy < int(pc.h) && ix >= 0 && ix < int(pc.w)) {
        v = x[((pc.n0 + n) * pc.c_in + pc.c0 + c) * pc.h * pc.w + uint(iy) * pc.w + uint(ix)];
    }
    cols[e] = v;
}
