#version 450
// conv_epilogue.comp — between the matmul's rows (M, C_out / groups) of one chunk and group
// (layout in conv_geom.glsl) and the (N, C_out, OH, OW) tensor, one invocation per element:
//   CONV_EPI_SCATTER  y[n0 + n, co0 + co, oy, ox] = rows[m, co] + bias[co0 + co] (has_bias)
//   CONV_EPI_GATHER   rows[m, co] = dy[n0 + n, co0 + co, oy, ox]  (the backward's matmul operand)
// Invocations run over the NCHW side in order, so its accesses are contiguous.
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"
#include "conv_ops.h"

layout(constant_id = 1) const uint MODE = CONV_EPI_SCATTER;

layout(set = 0, binding = 0) readonly buffer Src { float src[]; };
layout(set = 0, binding = 1) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 2) writeonly buffer Dst { float dst[]; };

void main()
{
    uint e = vkt_global_index();
    uint ohw = pc.oh * pc.ow;
    if (e >= pc.batch * pc.co_group * ohw) {
        return;
    }
    uint r = e % ohw, co = (e / ohw) % pc.co_group, n = e / (ohw * pc.co_group);
    uint row = (n * ohw + r) * pc.co_group + co;
    uint nchw = ((pc.n0 + n) * pc.c_out + pc.co0 + co) * ohw + r;
    if (MODE == CONV_EPI_SCATTER) {
        float b = pc.has_bias != 0u ? bias[pc.co0 + co] : 0.0;
        dst[nchw] = src[row] + b;
    } else {
        dst[row] = src[nchw];
    }
}
