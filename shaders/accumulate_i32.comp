#version 450
// accumulate_i32.comp — dst[i] += src[i] for int32 tensors (counters such as correct
// predictions). The f32 form is OP_SCALE with accumulate in elementwise.comp.
// Dispatch: vkt_accumulate (src/ops/elementwise.c). Checked in check_elementwise.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Src { int src[]; };
layout(set = 0, binding = 1) buffer Dst { int dst[]; };

layout(push_constant) uniform PC {
    uint n;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i < pc.n) {
        dst[i] += src[i];
    }
}
