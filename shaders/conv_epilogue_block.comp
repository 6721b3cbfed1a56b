#version 450
// conv_epilogue_block.comp — conv_epilogue.comp (same MODEs and push constants) in blocks of
// 4 pixels x 4 output channels per invocation, for OH * OW and C_out / groups multiples of 4 and
// a source that can be viewed as texels: four vec4 texel fetches transposed into four vec4
// stores. On CPU drivers a fetch is a vectorised gather and a vec4 store the fastest store, where
// the one-element kernel's storage-buffer float accesses are scalar loops per lane, and it
// divides by push constants once per 16 elements (docs/shaders.md, texel bindings).
//   CONV_EPI_SCATTER  y[n0 + n, co0 + co, oy, ox] = rows[m, co] + bias[co0 + co] (has_bias)
//   CONV_EPI_GATHER   rows[m, co] = dy[n0 + n, co0 + co, oy, ox]
// Specialization constants: 0 workgroup size, 1 MODE (conv_ops.h). Bindings: set 0 binding 0
// the source (read through its texel view, set 1 binding 0), 1 the bias (scatter), 2 the
// destination (vec4-aligned).
// Dispatch: src/ops/conv.c. Reference: vkt__ref_conv2d (src/ref/ref_conv.c).
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "conv_geom.glsl"
#include "conv_ops.h"

layout(constant_id = 1) const uint MODE = CONV_EPI_SCATTER;

layout(set = 0, binding = 1) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 2) writeonly buffer Dst4 { vec4 dst4[]; };
layout(set = 1, binding = 0) uniform samplerBuffer SrcT;

void main()
{
    uint e = vkt_global_index();
    uint ohw = pc.oh * pc.ow;
    uint r4 = ohw / 4u, c4 = pc.co_group / 4u;
    if (e >= pc.batch * c4 * r4) {
        return;
    }
    // pixels r..r+3 x channels co..co+3 of image n
    uint r = (e % r4) * 4u, co = ((e / r4) % c4) * 4u, n = e / (r4 * c4);
    uint row = (n * ohw + r) * pc.co_group + co; // + i * co_group: pixel r + i
    uint nchw = ((pc.n0 + n) * pc.c_out + pc.co0 + co) * ohw + r; // + j * ohw: channel co + j
    vec4 t[4];
    if (MODE == CONV_EPI_SCATTER) {
        for (uint i = 0; i < 4; i++) {
            t[i] = texelFetch(SrcT, int((row + i * pc.co_group) / 4u)); // t[i][j]: pixel i, ch j
        }
        for (uint j = 0; j < 4; j++) {
            float b = pc.has_bias != 0u ? bias[pc.co0 + co + j] : 0.0;
            dst4[(nchw + j * ohw) / 4u] = vec4(t[0][j], t[1][j], t[2][j], t[3][j]) + b;
        }
    } else {
        for (uint j = 0; j < 4; j++) {
            t[j] = texelFetch(SrcT, int((nchw + j * ohw) / 4u)); // t[j][i]: channel j, pixel i
        }
        for (uint i = 0; i < 4; i++) {
            dst4[(row + i * pc.co_group) / 4u] = vec4(t[0][i], t[1][i], t[2][i], t[3][i]);
        }
    }
}
