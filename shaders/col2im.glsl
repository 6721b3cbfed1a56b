// col2im.glsl — the body of col2im.comp (dcols read from its storage buffer) and
// col2im_texel.comp (COL2IM_TEXEL: dcols read through set 1 binding 0, a texel view of the same
// range as set 0 binding 0; a fetch is a vectorised gather on CPU drivers, a storage-buffer load
// a scalar loop per lane: docs/performance.md).
//
// The input gradient of one chunk and group from dcols (M, k_stride) (layout in conv_geom.glsl),
// as a gather: each element of dx sums, in a fixed order (ky, then kx), the entries of dcols
// that im2col read from it, so no two invocations write the same element and no atomics are
// needed. dx (+)= that sum (accumulate).
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d_backward (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.

layout(set = 0, binding = 0) readonly buffer DCols { float dcols[]; };
layout(set = 0, binding = 1) buffer DX { float dx[]; };
#ifdef COL2IM_TEXEL
layout(set = 1, binding = 0) uniform samplerBuffer DColsT;

float load_dcols(uint i)
{
    return texelFetch(DColsT, int(i / 4u))[i % 4u];
}
#else
float load_dcols(uint i)
{
    return dcols[i];
}
#endif

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
    float s = 0.0;
    for (uint ky = 0; ky < pc.kh; ky++) {
        int ty = int(iy + pc.ph) - int(ky * pc.dh);
        uint oy = uint(max(ty, 0)) / pc.sh;
        bool row_ok = ty >= 0 && oy * pc.sh == uint(ty) && oy < pc.oh;
        for (uint kx = 0; kx < pc.kw; kx++) {
            int tx = int(ix + pc.pw) - int(kx * pc.dw);
            uint ox = uint(max(tx, 0)) / pc.sw;
            bool ok = row_ok && tx >= 0 && ox * pc.sw == uint(tx) && ox < pc.ow;
            // branch-free: every lane loads (element 0 where no window reads), then selects
            uint m = (n * pc.oh + oy) * pc.ow + ox;
            float v = load_dcols(ok ? m * pc.k_stride + c * kk + ky * pc.kw + kx : 0u);
            s += ok ? v : 0.0;
        }
    }
    uint o = ((pc.n0 + n) * pc.c_in + pc.c0 + c) * hw + iy * pc.w + ix;
    dx[o] = pc.accumulate != 0u ? dx[o] + s : s;
}
