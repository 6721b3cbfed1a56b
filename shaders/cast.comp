#version 450
// cast.comp — dtype conversion (constant_id 1 = OP): CAST_I32_TO_F32 out = float(in),
// CAST_F32_TO_I32 out = int(in) (truncation toward zero, as torch's .to(torch.int32)).
// The buffers are declared as uint and reinterpreted, so one shader serves both directions.
// Dispatch: vkt_cast (src/ops/shape.c). Reference: vkt__ref_cast. Checked in check_elementwise.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "cast_ops.h"
layout(constant_id = 1) const uint OP = CAST_I32_TO_F32;

layout(set = 0, binding = 0) readonly buffer In { uint src[]; };
layout(set = 0, binding = 1) writeonly buffer Out { uint dst[]; };

layout(push_constant) uniform PC {
    uint n;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    if (OP == CAST_I32_TO_F32) {
        dst[i] = floatBitsToUint(float(int(src[i])));
    } else {
        dst[i] = uint(int(uintBitsToFloat(src[i])));
    }
}
