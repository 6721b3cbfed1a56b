#version 450
// conv_regroup.comp — moves a weight (or its gradient) between the dense (C_out, C_in / groups,
// KH, KW) layout and the layout the products bind (conv.c): groups starting at aligned offsets
// (a binding's offset must be a multiple of minStorageBufferOffsetAlignment) and rows of
// K = C_in / groups * KH * KW floats padded to a multiple of 4 (the texel matmul's rows).
// For g < groups, j < rows, i < dst_rstride:
//   dst[g * dst_gstride + j * dst_rstride + i] (+)= i < len ? src[g * src_gstride +
//   j * src_rstride + i] : 0
// so the padding columns of a padded destination are written with zeros.
// Dispatch: src/ops/conv.c. Checks: src/check/check_conv.c (grouped and padded cases).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Src { float src[]; };
layout(set = 0, binding = 1) buffer Dst { float dst[]; };

layout(push_constant) uniform PC {
    uint groups;
    uint rows;        // per group
    uint len;         // floats of a row that come from src
    uint src_gstride; // floats between groups
    uint src_rstride; // floats between rows
    uint dst_gstride;
    uint dst_rstride; // >= len
    uint accumulate;
} pc;

void main()
{
    uint e = vkt_global_index();
    if (e >= pc.groups * pc.rows * pc.dst_rstride) {
        return;
    }
    uint i = e % pc.dst_rstride, j = (e / pc.dst_rstride) % pc.rows;
    uint g = e / (pc.dst_rstride * pc.rows);
    uint o = g * pc.dst_gstride + j * pc.dst_rstride + i;
    float v = i < pc.len ? src[g * pc.src_gstride + j * pc.src_rstride + i] : 0.0;
    dst[o] = pc.accumulate != 0u ? dst[o] + v : v;
}
