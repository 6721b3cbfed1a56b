#version 450
// pool2d_tiled_backward.comp — the input gradient of pool2d_tiled.comp (max_pool2d / avg_pool2d
// whose windows tile the input) on CPU drivers: four consecutive elements of the flat
// (N * C, H, W) dx per invocation, each from the one window that holds it (max: dy where the
// saved argmax is this element, 0 elsewhere; avg: dy / (KH * KW)); dy and the argmax read through
// texel views (set 1 bindings 0 and 1, whole texels; the argmax as an isamplerBuffer), dx (+)= as
// one vec4. Why: as pool2d_tiled.comp (texel fetches gather, the four elements step on from the
// first one's divisions) and a vec4 store where POOL_MAX_TILED of pool2d_backward.comp makes
// KH * KW scalar stores per window. Fetching a texel only when the window index moves past the
// one held measured slower: the branch costs more than the fetches it saves. Same values as
// pool2d_backward.comp (one term per element). Dispatch: src/ops/pool.c (pool_backward).
// Reference: src/ref/ref_pool.c. Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "pool2d.glsl"
#include "pool_ops.h"

layout(constant_id = 1) const uint MODE = POOL_MAX;

layout(set = 0, binding = 2) buffer DX { float dx[]; };
layout(set = 0, binding = 2) buffer DX4 { vec4 dx4[]; };
layout(set = 1, binding = 0) uniform samplerBuffer DYt;
layout(set = 1, binding = 1) uniform isamplerBuffer Idxt; // avg: the dummy view, not read

void main()
{
    uint g = vkt_global_index();
    uint hw = pc.h * pc.w, total = pc.planes * hw;
    uint i0 = 4u * g;
    if (i0 >= total) {
        return;
    }
    uint p = i0 / hw, r = i0 - p * hw;
    uint iy = r / pc.w, ix = r - iy * pc.w;
    uint oy = iy / pc.kh, wy = iy - oy * pc.kh; // window row, and the row within it
    uint ox = ix / pc.kw, wx = ix - ox * pc.kw;
    vec4 s4 = vec4(0.0);
    for (uint c = 0u; c < 4u && i0 + c < total; c++) {
        uint o = (p * pc.oh + oy) * pc.ow + ox;
        float gv = texelFetch(DYt, int(o >> 2))[o & 3u];
        if (MODE == POOL_MAX) {
            int at = texelFetch(Idxt, int(o >> 2))[o & 3u];
            s4[c] = at == int(iy * pc.w + ix) ? gv : 0.0;
        } else {
            s4[c] = gv / float(pc.kh * pc.kw);
        }
        if (++ix == pc.w) {
            ix = ox = wx = 0u;
            if (++iy == pc.h) {
                iy = oy = wy = 0u;
                p++;
            } else if (++wy == pc.kh) {
                wy = 0u;
                oy++;
            }
        } else if (++wx == pc.kw) {
            wx = 0u;
            ox++;
        }
    }
    if (i0 + 3u < total) {
        dx4[g] = pc.accumulate != 0u ? dx4[g] + s4 : s4;
        return;
    }
    for (uint c = 0u; i0 + c < total; c++) {
        dx[i0 + c] = pc.accumulate != 0u ? dx[i0 + c] + s4[c] : s4[c];
    }
}
