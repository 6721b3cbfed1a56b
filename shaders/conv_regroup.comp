#version 450
// conv_regroup.comp — dst[g * dst_stride + i] (+)= src[g * src_stride + i] for g < groups,
// i < len: moves a grouped weight (or its gradient) between the dense (C_out, C_in / groups, KH,
// KW) layout and one whose groups start at aligned offsets, so each group can be bound as a
// matmul operand (a binding's offset must be a multiple of minStorageBufferOffsetAlignment).
// Dispatch: src/ops/conv.c. Checks: src/check/check_conv.c (grouped cases).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Src { float src[]; };
layout(set = 0, binding = 1) buffer Dst { float dst[]; };

layout(push_constant) uniform PC {
    uint groups;
    uint len;
    uint src_stride;
    uint dst_stride;
    uint accumulate;
} pc;

void main()
{
    uint e = vkt_global_index();
    if (e >= pc.groups * pc.len) {
        return;
    }
    uint g = e / pc.len, i = e % pc.len;
    uint o = g * pc.dst_stride + i;
    float v = src[g * pc.src_stride + i];
    dst[o] = pc.accumulate != 0u ? dst[o] + v : v;
}
