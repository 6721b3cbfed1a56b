// attention.glsl — shared by attention_fwd.comp, attention_bwd_dq.comp, attention_bwd_dkdv.comp
// and attention_bwd_rowdot.comp: the push constants, row loads and stores of a (BH, T, D) tensor
// as vec4 words, and the dropout keep-bit of one score (Philox, philox.glsl).
// Dispatch: src/ops/attention.c. Reference: src/ref/ref_attention.c.
//
// q, o, dq (BH, Tq, D); k, v, dk, dv (BH, Tk, D); mask (Tq, Tk); L, D_i (BH, Tq); all row-major.
// A pass covers rows [begin, end) of the streamed operand (keys in the forward and dQ, queries in
// dK/dV): the host splits long sequences into passes so no invocation runs a loop nest of more
// than about 30000 iterations (lavapipe ends longer loops early), carrying state between passes.
#include "attention_ops.h"
#include "philox.glsl"

layout(push_constant) uniform PC {
    uint bh;         // B * H
    uint tq, tk, d;
    uint blocks;     // row blocks per (b, h): ceil(rows / gl_WorkGroupSize.x)
    uint bk;         // streamed rows per shared tile: bk * D4 <= ATTN_TILE_WORDS, <= ATTN_MAX_BK
    uint begin, end; // this pass's streamed rows
    uint first, last;
    uint causal, has_mask;
    float scale;
    uint threshold;  // dropout: keep iff the score's 24-bit uniform >= threshold; 0 = no dropout
    float drop_scale; // 1 / (1 - p)
    uint seed_lo, seed_hi, off_lo, off_hi;
    uint accumulate;
} pc;

// ceil(D / 4), vec4 words per row, and the tile length: run-time values, not specialization
// constants, so one pipeline serves every head dimension (lavapipe takes about a second to
// compile each of these kernels).
#define D4 ((pc.d + 3u) / 4u)
#define BK pc.bk
// Words per row in shared memory: D4 padded to a multiple of 4 (zeros), so the inner loops take
// four words at a time into named registers (a private array indexed at run time would cost
// lavapipe a select ladder, and one indexed by a constant trip count would be unrolled).
#define DP ((D4 + 3u) & ~3u)

// Element e of a row as vec4 word c: zero past d, so padded words add nothing to dot products.
#define ATTN_LOAD4(buf, base, c)                                                                   \
    vec4((c) * 4u + 0u < pc.d ? buf[(base) + (c) * 4u + 0u] : 0.0,                                 \
         (c) * 4u + 1u < pc.d ? buf[(base) + (c) * 4u + 1u] : 0.0,                                 \
         (c) * 4u + 2u < pc.d ? buf[(base) + (c) * 4u + 2u] : 0.0,                                 \
         (c) * 4u + 3u < pc.d ? buf[(base) + (c) * 4u + 3u] : 0.0)

#define ATTN_STORE4(buf, base, c, val)                                                             \
    for (uint e_ = 0u; e_ < 4u; e_++) {                                                           \
        if ((c) * 4u + e_ < pc.d) {                                                                \
            buf[(base) + (c) * 4u + e_] = (val)[e_];                                               \
        }                                                                                          \
    }

// The dropout multiplier of score (row, j), row = bh * tq + i: drop_scale or 0. The stream index
// is the score's flat index row * tk + j (64 bits), as vkt_dropout on the (B, H, Tq, Tk) scores.
float attn_dropout(uint row, uint j)
{
    uint hi, lo, c0, c1;
    umulExtended(row, pc.tk, hi, lo);
    lo = uaddCarry(lo, j, c0);
    lo = uaddCarry(lo, pc.off_lo, c1);
    hi = hi + pc.off_hi + c0 + c1;
    uint w = philox4x32_10(uvec4(lo, hi, 0u, 0u), uvec2(pc.seed_lo, pc.seed_hi)).x;
    return (w >> 8) >= pc.threshold ? pc.drop_scale : 0.0;
}

// The dot product of the row of words w .. w + 3 of shared array `arr` with a0 .. a3.
#define ATTN_DOT4(arr, w, a0, a1, a2, a3)                                                          \
    (dot(a0, arr[w]) + dot(a1, arr[(w) + 1u]) + dot(a2, arr[(w) + 2u]) + dot(a3, arr[(w) + 3u]))

// acc += the four rows at words w, w1, w2, w3 (+ o) of shared array `arr` weighted by p's parts.
#define ATTN_MAD4(acc, p, arr, w, w1, w2, w3, o)                                                   \
    acc += (p).x * arr[(w) + (o)] + (p).y * arr[(w1) + (o)] + (p).z * arr[(w2) + (o)] +           \
           (p).w * arr[(w3) + (o)]

#define ATTN_NEG_INF uintBitsToFloat(0xff800000u)
#define ATTN_NAN uintBitsToFloat(0x7fc00000u)
