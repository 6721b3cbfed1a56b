// philox.glsl — Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as
// 1, 2, 3", SC 2011), the counter-based generator behind dropout and vkt_rand_*. Included by
// shaders/dropout.comp and shaders/rand.comp. Bit-identical CPU twin: vkt__ref_philox
// (src/ref/ref_random.c), checked against the paper's known-answer vectors in
// src/check/check_norm.c.
//
// The stream contract (for users: vkt_rand_uniform in include/vkt/tensor.h): element i of a call
// keyed by the 64-bit `seed` uses the block philox(counter = (lo32(offset + i), hi32(offset + i),
// 0, 0), key = (lo32(seed), hi32(seed))). A value depends only on (seed, offset, i), never on the
// workgroup or subgroup size, and calls whose [offset, offset + n) ranges do not overlap draw
// independent numbers.

const uint PHILOX_M0 = 0xD2511F53u;
const uint PHILOX_M1 = 0xCD9E8D57u;
const uint PHILOX_W0 = 0x9E3779B9u; // golden ratio
const uint PHILOX_W1 = 0xBB67AE85u; // sqrt(3) - 1

uvec4 philox4x32_10(uvec4 c, uvec2 k)
{
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(PHILOX_M0, c.x, hi0, lo0);
        umulExtended(PHILOX_M1, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
        k += uvec2(PHILOX_W0, PHILOX_W1);
    }
    return c;
}

// The counter of element i: the 64-bit offset (lo, hi) plus i, carried into the high word.
uvec2 philox_counter(uint off_lo, uint off_hi, uint i)
{
    uint carry;
    uint lo = uaddCarry(off_lo, i, carry);
    return uvec2(lo, off_hi + carry);
}

// A word's top 24 bits as a float in [0, 1): exact, so the CPU gets the same bits.
float philox_uniform(uint w)
{
    return float(w >> 8) * (1.0 / 16777216.0);
}
