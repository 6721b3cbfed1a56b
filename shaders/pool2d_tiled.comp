#version 450
// pool2d_tiled.comp — the forward of max_pool2d and avg_pool2d (MODE POOL_MAX / POOL_AVG) where
// the windows tile the input (kernel = stride, no padding, H = OH * KH, W = OW * KW) on CPU
// drivers: four consecutive outputs of the flat (N * C, OH, OW) index per invocation, x read
// through a texel view (set 1 binding 0, its whole texels; set 0 binding 0 is the same range, not
// read here), y and the argmax stored as vec4s. Why: pool2d.comp's one output per invocation pays
// a scalar storage-buffer load per input, a loop over the SIMD lanes on CPU drivers, and three
// divisions per output; a texel fetch is one vectorised gather, and only the first of the four
// outputs divides, the others step on. Values, argmax (first maximum in row-major window order,
// a NaN wins and the last NaN is kept) and sum order are pool2d.comp's: the results are
// bit-identical. Dispatch: src/ops/pool.c (pool_forward). Reference: src/ref/ref_pool.c.
// Checks: src/check/check_conv.c. Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "pool2d.glsl"
#include "pool_ops.h"

layout(constant_id = 1) const uint MODE = POOL_MAX;

// without an argmax (avg) binding 1 aliases y and is not written
layout(set = 0, binding = 1) writeonly buffer Idx { int idx[]; };
layout(set = 0, binding = 1) writeonly buffer Idx4 { ivec4 idx4[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };
layout(set = 0, binding = 2) writeonly buffer Y4 { vec4 y4[]; };
layout(set = 1, binding = 0) uniform samplerBuffer Xt;

float xval(uint i)
{
    return texelFetch(Xt, int(i >> 2))[i & 3u];
}

void main()
{
    uint g = vkt_global_index();
    uint ohw = pc.oh * pc.ow, total = pc.planes * ohw;
    uint e0 = 4u * g;
    if (e0 >= total) {
        return;
    }
    uint p = e0 / ohw, r = e0 - p * ohw;
    uint oy = r / pc.ow, ox = r - oy * pc.ow;
    vec4 v4 = vec4(0.0);
    ivec4 at4 = ivec4(0);
    for (uint c = 0u; c < 4u && e0 + c < total; c++) {
        uint iy0 = oy * pc.kh, ix0 = ox * pc.kw;
        uint base = p * pc.h * pc.w;
        if (MODE == POOL_MAX) {
            float m = -1.0 / 0.0;
            int at = int(iy0 * pc.w + ix0);
            for (uint a = 0u; a < pc.kh; a++) {
                for (uint b = 0u; b < pc.kw; b++) {
                    uint self = (iy0 + a) * pc.w + ix0 + b;
                    float v = xval(base + self);
                    if (v > m || isnan(v)) {
                        m = v;
                        at = int(self);
                    }
                }
            }
            v4[c] = m;
            at4[c] = at;
        } else {
            float s = 0.0;
            for (uint a = 0u; a < pc.kh; a++) {
                for (uint b = 0u; b < pc.kw; b++) {
                    s += xval(base + (iy0 + a) * pc.w + ix0 + b);
                }
            }
            v4[c] = s / float(pc.kh * pc.kw);
        }
        if (++ox == pc.ow) {
            ox = 0u;
            if (++oy == pc.oh) {
                oy = 0u;
                p++;
            }
        }
    }
    if (e0 + 3u < total) {
        y4[g] = v4;
        if (MODE == POOL_MAX) {
            idx4[g] = at4;
        }
        return;
    }
    for (uint c = 0u; e0 + c < total; c++) {
        y[e0 + c] = v4[c];
        if (MODE == POOL_MAX) {
            idx[e0 + c] = at4[c];
        }
    }
}
