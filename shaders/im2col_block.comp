#version 450
// im2col_block.comp — im2col.comp (same cols, push constants in conv_geom.glsl) in blocks of
// PX = 8 adjacent output pixels of one row x CB input channels per invocation, for a unit
// horizontal stride and dilation, k_stride % 4 == 0 and x viewed as texels (set 1 binding 0; set 0
// binding 0 is the same range, not read here). The PX + KW - 1 floats of x under one kernel row of
// the 8 pixels are contiguous: they come from T vec4 texel fetches, shifted by their alignment,
// and give CB * KH * KW columns of each pixel, stored as vec4s. On CPU drivers that is 4 fetches
// per 8 x 3 columns of a 3 x 3 kernel where im2col_texel.comp makes one per column (each a 16-byte
// gather), and no per-column stepping or division (docs/shaders.md, texel bindings). 8 pixels per
// invocation measured faster than 4; the stores (a loop over the lanes) dominate either way.
// Specialization constants: 0 workgroup size, 1 KH, 2 KW (the kernel: loops and the column
// layout unroll), 3 CB (channels per invocation: CB * KH * KW % 4 == 0, or CB = C_in / groups
// and one block per row, whose columns are then padded with zeros to k_stride).
// Dispatch: src/ops/conv.c (conv_im2col). Reference: vkt__ref_conv2d (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"

layout(constant_id = 1) const uint KH = 3;
layout(constant_id = 2) const uint KW = 3;
layout(constant_id = 3) const uint CB = 4;

const uint KK = KH * KW;
const uint NCOL = CB * KK;         // columns of one block
const uint NV = (NCOL + 3u) / 4u;  // vec4 stores per pixel
const uint PX = 8u;               // pixels per invocation (IM2COL_BLOCK_PX in src/ops/conv.c)
const uint SPAN = PX + KW - 1u;    // floats of x under one kernel row of the pixels
const uint T = (SPAN + 6u) / 4u;   // texels that cover SPAN floats at any alignment

layout(set = 0, binding = 1) writeonly buffer Cols4 { vec4 cols4[]; };
layout(set = 1, binding = 0) uniform samplerBuffer Xt;

void main()
{
    uint e = vkt_global_index();
    uint nb = (pc.c_group + CB - 1u) / CB, q4 = (pc.ow + PX - 1u) / PX;
    if (e >= pc.batch * pc.oh * q4 * nb) {
        return;
    }
    // block b of channels, pixels ox0..ox0+PX-1 of row oy of image n; b varies fastest so that
    // neighbouring invocations store neighbouring columns
    uint b = e % nb, t = e / nb;
    uint ox0 = (t % q4) * PX;
    t /= q4;
    uint oy = t % pc.oh, n = t / pc.oh;
    int xs = int(ox0) - int(pc.pw); // the column of x under float 0 of a window
    int last = textureSize(Xt) - 1;
    bool col_ok[SPAN];
    for (uint j = 0; j < SPAN; j++) {
        col_ok[j] = xs + int(j) >= 0 && xs + int(j) < int(pc.w);
    }
    float win[CB][KH][SPAN]; // x under kernel row ky of channel b * CB + ci, 0 in the padding
    for (uint ci = 0; ci < CB; ci++) {
        uint c = b * CB + ci;
        int plane = int(((pc.n0 + n) * pc.c_in + pc.c0 + c) * pc.h * pc.w);
        for (uint ky = 0; ky < KH; ky++) {
            int iy = int(oy * pc.sh + ky * pc.dh) - int(pc.ph);
            bool row_ok = c < pc.c_group && iy >= 0 && iy < int(pc.h);
            int f = plane + iy * int(pc.w) + xs;
            int t0 = f >> 2;
            uint s = uint(f & 3);
            float u[4u * T];
            for (uint i = 0; i < T; i++) {
                // clamped: the texels around a window may lie outside x, never its used floats
                vec4 v = texelFetch(Xt, clamp(t0 + int(i), 0, last));
                u[4u * i] = v.x, u[4u * i + 1u] = v.y, u[4u * i + 2u] = v.z, u[4u * i + 3u] = v.w;
            }
            for (uint j = 0; j < SPAN; j++) {
                float v = s == 0u ? u[j] : s == 1u ? u[j + 1u] : s == 2u ? u[j + 2u] : u[j + 3u];
                win[ci][ky][j] = row_ok && col_ok[j] ? v : 0.0;
            }
        }
    }
    uint m0 = (n * pc.oh + oy) * pc.ow + ox0, col0 = b * NCOL;
    for (uint p = 0; p < PX; p++) {
        if (ox0 + p >= pc.ow) {
            break;
        }
        uint o = ((m0 + p) * pc.k_stride + col0) / 4u;
        for (uint j = 0; j < NV; j++) {
            if (col0 + 4u * j >= pc.k_stride) {
                break;
            }
            vec4 v;
            for (uint q = 0; q < 4u; q++) {
                uint l = min(4u * j + q, NCOL - 1u); // column l of the block: (ci, ky, kx)
                v[q] = 4u * j + q < NCOL ? win[l / KK][(l % KK) / KW][p + l % KW] : 0.0;
            }
            cols4[o + j] = v;
        }
    }
}
