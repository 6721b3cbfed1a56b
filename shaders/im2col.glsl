// im2col.glsl — the body of im2col.comp (x read from its storage buffer) and im2col_texel.comp
// (IM2COL_TEXEL: x read through set 1 binding 0, a texel view of the same range as set 0 binding
// 0; a fetch is a vectorised gather on CPU drivers, a storage-buffer load a scalar loop per
// lane: docs/shaders.md, texel bindings). Two files rather than a specialization constant
// because a kernel that declares set 1 must always be given it (the validation layer aborts in
// vkCmdDispatch when a statically used set 1 is not bound).
//
// cols (M, k_stride) of one chunk and group of x (N, C_in, H, W) (layout in conv_geom.glsl):
// cols[m, k] = x[n0 + n, c0 + c, oy * sh + ky * dh - ph, ox * sw + kx * dw - pw] for k < K, or 0
// where that lies in the padding; columns K <= k < k_stride are 0 (the zero columns that pad K to
// a multiple of 4 for the texel matmul).
// Each invocation writes V consecutive columns of one row, stepping (c, ky, kx) instead of
// dividing again per column: integer division by a push constant is a scalar loop per SIMD lane
// on CPU drivers, and one vec4 store is the fastest store there (docs/shaders.md, texel bindings).
// Specialization constants: 0 workgroup size, 1 V (1, or a multiple of 4 that divides k_stride).
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.

layout(constant_id = 1) const uint V = 4; // 1, or a multiple of 4 that divides k_stride

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Cols { float cols[]; };
layout(set = 0, binding = 1) writeonly buffer Cols4 { vec4 cols4[]; };
#ifdef IM2COL_TEXEL
layout(set = 1, binding = 0) uniform samplerBuffer Xt;

float load_x(uint i)
{
    return texelFetch(Xt, int(i / 4u))[i % 4u];
}
#else
float load_x(uint i)
{
    return x[i];
}
#endif

void main()
{
    uint e = vkt_global_index();
    uint kk = pc.kh * pc.kw;
    uint K = pc.c_group * kk;
    uint ohw = pc.oh * pc.ow;
    uint per_row = pc.k_stride / V;
    if (e >= pc.batch * ohw * per_row) {
        return;
    }
    uint m = e / per_row, k = (e % per_row) * V;
    uint n = m / ohw, r = m % ohw;
    uint oy = r / pc.ow, ox = r % pc.ow;
    uint c = k / kk, kr = k % kk;
    uint ky = kr / pc.kw, kx = kr % pc.kw;
    int y0 = int(oy * pc.sh) - int(pc.ph), x0 = int(ox * pc.sw) - int(pc.pw);
    uint plane = pc.h * pc.w;
    uint base = ((pc.n0 + n) * pc.c_in + pc.c0) * plane;
    float v[V];
    for (uint i = 0; i < V; i++) {
        int iy = y0 + int(ky * pc.dh), ix = x0 + int(kx * pc.dw);
        bool inside = k + i < K && iy >= 0 && iy < int(pc.h) && ix >= 0 && ix < int(pc.w);
        // branch-free: every lane loads (element 0 where outside), then selects
        float val = load_x(inside ? base + c * plane + uint(iy) * pc.w + uint(ix) : 0u);
        v[i] = inside ? val : 0.0;
        if (++kx == pc.kw) {
            kx = 0;
            if (++ky == pc.kh) {
                ky = 0;
                c++;
            }
        }
    }
    uint o = m * pc.k_stride + k;
    if (V % 4u == 0u) {
        for (uint j = 0; j < V / 4u; j++) {
            cols4[o / 4u + j] = vec4(v[4u * j], v[4u * j + 1u], v[4u * j + 2u], v[4u * j + 3u]);
        }
    } else {
        cols[o] = v[0];
    }
}
