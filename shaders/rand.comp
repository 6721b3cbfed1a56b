#version 450
// rand.comp — fills a tensor from the Philox4x32-10 stream (philox.glsl); element i uses the block
// at counter offset + i:
//   DIST_UNIFORM  o[i] = (word 0 >> 8) * 2^-24, in [0, 1), exact (bit-identical on the CPU)
//   DIST_NORMAL   Box-Muller on words 0 and 1: u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1],
//                 u2 = (w1 >> 8) * 2^-24, o[i] = sqrt(-2 ln u1) * cos(2 pi u2), evaluated as
//                 -sqrt(-2 ln u1) * cos(pi (2 u2 - 1)): Vulkan bounds cos's error (2^-11
//                 absolute) only on [-pi, pi]
//   DIST_BITS     o[4i + j] = word j of the block at counter (offset + i, c2, c3), i < n: the raw
//                 generator, for the known-answer checks (n blocks, 4n words)
// Dispatch: src/ops/random.c. Reference: src/ref/ref_random.c. Checks: src/check/check_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "philox.glsl"

#include "rand_ops.h"
layout(constant_id = 1) const uint DIST = DIST_UNIFORM;

layout(set = 0, binding = 0) writeonly buffer Out { uint o[]; };

layout(push_constant) uniform PC {
    uint n;
    uint seed_lo;
    uint seed_hi;
    uint off_lo;
    uint off_hi;
    uint c2; // DIST_BITS only: the counter's upper words (0 for the public stream)
    uint c3;
} pc;

const float PI = 3.14159265358979323846;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    uvec2 ctr = philox_counter(pc.off_lo, pc.off_hi, i);
    uvec4 w = philox4x32_10(uvec4(ctr, pc.c2, pc.c3), uvec2(pc.seed_lo, pc.seed_hi));
    if (DIST == DIST_UNIFORM) {
        o[i] = floatBitsToUint(philox_uniform(w.x));
    } else if (DIST == DIST_NORMAL) {
        float u1 = float((w.x >> 8) + 1u) * (1.0 / 16777216.0);
        float u2 = philox_uniform(w.y);
        o[i] = floatBitsToUint(-sqrt(-2.0 * log(u1)) * cos(PI * (2.0 * u2 - 1.0)));
    } else {
        o[4u * i] = w.x;
        o[4u * i + 1u] = w.y;
        o[4u * i + 2u] = w.z;
        o[4u * i + 3u] = w.w;
    }
}
