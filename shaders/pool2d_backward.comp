#version 450
// pool2d_backward.comp — the input gradient of pool2d.comp's ops as a gather: one invocation
// per input element sums, over the output windows that contain it in a fixed order (oy, then
// ox), dy (max: where the saved argmax is this element; avg: dy / the window's divisor; adaptive:
// dy / the window's size; upsample: the sh x sw block it was copied to). No two invocations write
// the same element: no atomics, deterministic. dx (+)= that sum (accumulate). POOL_MAX_TILED
// (windows that tile the input) runs one invocation per window instead: it needs no search for
// the windows that hold an input, which costs divisions and per-lane loops on CPU drivers.
// Dispatch: src/ops/pool.c. Reference: src/ref/ref_pool.c. Checks: src/check/check_conv.c.
// Tests: tests/test_conv.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "pool2d.glsl"
#include "pool_ops.h"

layout(constant_id = 1) const uint MODE = POOL_MAX;

layout(set = 0, binding = 0) readonly buffer DY { float dy[]; };
layout(set = 0, binding = 1) readonly buffer Idx { int idx[]; };
layout(set = 0, binding = 2) buffer DX { float dx[]; };

// Output indices [lo, hi] whose max / avg window on this axis contains input index i.
void covering(uint i, uint k, uint s, uint p, uint on, out int lo, out int hi)
{
    int first = int(i + p) - int(k) + 1; // smallest o * s with i inside [o * s - p, o * s - p + k)
    lo = first <= 0 ? 0 : (first + int(s) - 1) / int(s);
    hi = min(int(i + p) / int(s), int(on) - 1);
}

// Output indices [lo, hi] whose adaptive window contains input index i (see pool2d.glsl).
void adaptive_covering(uint i, uint n, uint on, out int lo, out int hi)
{
    lo = int((i * on) / n);
    hi = min(int(((i + 1u) * on + n - 1u) / n) - 1, int(on) - 1);
}

// POOL_MAX_TILED: window e (each input lies in exactly one) writes its kh x kw inputs: dy where
// the argmax is, 0 elsewhere. One pass over dy and the argmax, no per-input window search.
void max_tiled(uint e)
{
    uint ohw = pc.oh * pc.ow;
    if (e >= pc.planes * ohw) {
        return;
    }
    uint p = e / ohw, oy = (e % ohw) / pc.ow, ox = e % pc.ow;
    float g = dy[e];
    int at = idx[e];
    uint y0 = oy * pc.kh, x0 = ox * pc.kw;
    for (uint a = 0; a < pc.kh; a++) {
        for (uint b = 0; b < pc.kw; b++) {
            int self = int((y0 + a) * pc.w + x0 + b);
            uint o = p * pc.h * pc.w + uint(self);
            float s = at == self ? g : 0.0;
            dx[o] = pc.accumulate != 0u ? dx[o] + s : s;
        }
    }
}

void main()
{
    if (MODE == POOL_MAX_TILED) {
        max_tiled(vkt_global_index());
        return;
    }
    uint e = vkt_global_index();
    uint hw = pc.h * pc.w;
    if (e >= pc.planes * hw) {
        return;
    }
    uint p = e / hw, iy = (e % hw) / pc.w, ix = e % pc.w;
    uint base = p * pc.oh * pc.ow;
    float s = 0.0;
    if (MODE == POOL_UPSAMPLE) {
        for (uint a = 0; a < pc.sh; a++) {
            for (uint b = 0; b < pc.sw; b++) {
                s += dy[base + (iy * pc.sh + a) * pc.ow + ix * pc.sw + b];
            }
        }
    } else if (MODE == POOL_ADAPTIVE_AVG) {
        int oy0, oy1, ox0, ox1;
        adaptive_covering(iy, pc.h, pc.oh, oy0, oy1);
        adaptive_covering(ix, pc.w, pc.ow, ox0, ox1);
        for (int oy = oy0; oy <= oy1; oy++) {
            int y0, y1;
            adaptive_window(uint(oy), pc.h, pc.oh, y0, y1);
            for (int ox = ox0; ox <= ox1; ox++) {
                int x0, x1;
                adaptive_window(uint(ox), pc.w, pc.ow, x0, x1);
                s += dy[base + uint(oy) * pc.ow + uint(ox)] / float((y1 - y0) * (x1 - x0));
            }
        }
    } else {
        int oy0, oy1, ox0, ox1;
        covering(iy, pc.kh, pc.sh, pc.ph, pc.oh, oy0, oy1);
        covering(ix, pc.kw, pc.sw, pc.pw, pc.ow, ox0, ox1);
        int self = int(iy * pc.w + ix);
        for (int oy = oy0; oy <= oy1; oy++) {
            for (int ox = ox0; ox <= ox1; ox++) {
                uint o = base + uint(oy) * pc.ow + uint(ox);
                if (MODE == POOL_MAX) {
                    s += idx[o] == self ? dy[o] : 0.0;
                } else {
                    s += dy[o] / avg_divisor(uint(oy), uint(ox));
                }
            }
        }
    }
    dx[e] = pc.accumulate != 0u ? dx[e] + s : s;
}
