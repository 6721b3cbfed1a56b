#version 450
// pool2d.comp — the forward of max_pool2d, avg_pool2d, adaptive_avg_pool2d and
// upsample_nearest2d on (N, C, H, W) (MODE from pool_ops.h; windows in pool2d.glsl), one
// invocation per output element. Max pooling takes the first maximum in row-major window order
// (a NaN wins and the last NaN is kept, as torch) and writes its index iy * W + ix into idx.
// Dispatch: src/ops/pool.c. Reference: src/ref/ref_pool.c. Checks: src/check/check_conv.c.
// Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "pool2d.glsl"
#include "pool_ops.h"

layout(constant_id = 1) const uint MODE = POOL_MAX;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Idx { int idx[]; };
layout(set = 0, binding = 2) writeonly buffer Y { float y[]; };

void main()
{
    uint e = vkt_global_index();
    uint ohw = pc.oh * pc.ow;
    if (e >= pc.planes * ohw) {
        return;
    }
    uint p = e / ohw, oy = (e % ohw) / pc.ow, ox = e % pc.ow;
    uint base = p * pc.h * pc.w;
    if (MODE == POOL_UPSAMPLE) {
        y[e] = x[base + (oy / pc.sh) * pc.w + ox / pc.sw];
        return;
    }
    int y0, y1, x0, x1, fy, fx;
    if (MODE == POOL_ADAPTIVE_AVG) {
        adaptive_window(oy, pc.h, pc.oh, y0, y1);
        adaptive_window(ox, pc.w, pc.ow, x0, x1);
    } else {
        pool_window(oy, pc.kh, pc.sh, pc.ph, pc.h, y0, y1, fy);
        pool_window(ox, pc.kw, pc.sw, pc.pw, pc.w, x0, x1, fx);
    }
    if (MODE == POOL_MAX) {
        float m = -1.0 / 0.0;
        int at = y0 * int(pc.w) + x0;
        for (int iy = y0; iy < y1; iy++) {
            for (int ix = x0; ix < x1; ix++) {
                float v = x[base + uint(iy) * pc.w + uint(ix)];
                if (v > m || isnan(v)) {
                    m = v;
                    at = iy * int(pc.w) + ix;
                }
            }
        }
        y[e] = m;
        idx[e] = at;
        return;
    }
    float s = 0.0;
    for (int iy = y0; iy < y1; iy++) {
        for (int ix = x0; ix < x1; ix++) {
            s += x[base + uint(iy) * pc.w + uint(ix)];
        }
    }
    float d = MODE == POOL_AVG ? avg_divisor(oy, ox) : float((y1 - y0) * (x1 - x0));
    y[e] = s / d;
}
