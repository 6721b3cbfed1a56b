#version 450
// dropout.comp — out (+)= keep(i) ? a[i] * scale : 0, with keep(i) from Philox4x32-10
// (philox.glsl): keep(i) iff (word 0 of element i's block) >> 8 >= threshold, i.e. the element's
// uniform in [0, 1) is >= p rounded to a multiple of 2^-24 (threshold = p * 2^24; 2^24 drops
// everything). Forward: a = x, accumulate = 0. Backward regenerates the same mask from the same
// (seed, offset): a = dy, out = dx, accumulate = 1. Dropped elements are exactly 0 even where a is
// Inf or NaN. Dispatch: src/ops/dropout.c. Reference: vkt__ref_dropout (src/ref/ref_random.c).
// Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint n;
    uint seed_lo;
    uint seed_hi;
    uint off_lo;
    uint off_hi;
    uint threshold; // in [0, 2^24]
    float scale;    // 1 / (1 - p), computed on the host
    uint accumulate;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    uvec2 ctr = philox_counter(pc.off_lo, pc.off_hi, i);
    uint w = philox4x32_10(uvec4(ctr, 0u, 0u), uvec2(pc.seed_lo, pc.seed_hi)).x;
    float v = (w >> 8) >= pc.threshold ? a[i] * pc.scale : 0.0;
    o[i] = pc.accumulate != 0u ? o[i] + v : v;
}
