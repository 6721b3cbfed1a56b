// col2im.glsl — the body of col2im.comp (dcols read from its storage buffer) and
// col2im_texel.comp (COL2IM_TEXEL: dcols read through set 1 binding 0, a texel view of the same
// range as set 0 binding 0; a fetch is a vectorised gather on CPU drivers, a storage-buffer load
// a scalar loop per lane: docs/shaders.md, texel bindings).
//
// The input gradient of one chunk and group from dcols (M, k_stride) (layout in conv_geom.glsl),
// as a gather: each element of dx sums, in a fixed order (ky, then kx), the entries of dcols
// that im2col read from it, so no two invocations write the same element and no atomics are
// needed. dx (+)= that sum (accumulate).
// Specialization constants: 0 workgroup size, 1 V, 2 UNIT (below). V = 4 divides by push constants
// once per four elements and stores one vec4: on CPU drivers a division is a scalar loop per
// lane and a vec4 store the fastest store (docs/shaders.md, texel bindings).
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d_backward (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.

layout(constant_id = 1) const uint V = 1;    // dx elements per invocation: 1, or 4 (H*W % 4 == 0)
layout(constant_id = 2) const uint UNIT = 0; // 1: stride 1 on both axes (no divisions)

layout(set = 0, binding = 0) readonly buffer DCols { float dcols[]; };
layout(set = 0, binding = 1) buffer DX { float dx[]; };
layout(set = 0, binding = 1) buffer DX4 { vec4 dx4[]; };
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

// The sum for dx[n0 + n, c0 + c, iy, ix].
float taps(uint n, uint c, uint iy, uint ix)
{
    uint kk = pc.kh * pc.kw;
    float s = 0.0;
    for (uint ky = 0; ky < pc.kh; ky++) {
        int ty = int(iy + pc.ph) - int(ky * pc.dh);
        uint oy = UNIT != 0u ? uint(max(ty, 0)) : uint(max(ty, 0)) / pc.sh;
        bool row_ok = ty >= 0 && (UNIT != 0u || oy * pc.sh == uint(ty)) && oy < pc.oh;
        for (uint kx = 0; kx < pc.kw; kx++) {
            int tx = int(ix + pc.pw) - int(kx * pc.dw);
            uint ox = UNIT != 0u ? uint(max(tx, 0)) : uint(max(tx, 0)) / pc.sw;
            bool ok = row_ok && tx >= 0 && (UNIT != 0u || ox * pc.sw == uint(tx)) && ox < pc.ow;
            // branch-free: every lane loads (element 0 where no window reads), then selects
            uint m = (n * pc.oh + oy) * pc.ow + ox;
            float v = load_dcols(ok ? m * pc.k_stride + c * kk + ky * pc.kw + kx : 0u);
            s += ok ? v : 0.0;
        }
    }
    return s;
}

void main()
{
    uint hw = pc.h * pc.w;
    uint e = vkt_global_index() * V;
    if (e >= pc.batch * pc.c_group * hw) {
        return;
    }
    // V consecutive elements of one plane (V == 4 only where H * W % 4 == 0)
    uint ix = e % pc.w, iy = (e / pc.w) % pc.h;
    uint c = (e / hw) % pc.c_group, n = e / (hw * pc.c_group);
    uint o = ((pc.n0 + n) * pc.c_in + pc.c0 + c) * hw + iy * pc.w + ix;
    vec4 s = vec4(0.0);
    for (uint i = 0; i < V; i++) {
        s[i] = taps(n, c, iy, ix);
        if (++ix == pc.w) {
            ix = 0;
            iy++;
        }
    }
    if (V == 4) {
        dx4[o / 4u] = pc.accumulate != 0u ? dx4[o / 4u] + s : s;
    } else {
        dx[o] = pc.accumulate != 0u ? dx[o] + s[0] : s[0];
    }
}
