#version 450
// attention_fwd.comp — fused scaled-dot-product attention forward, FlashAttention-2 style: one
// workgroup per (b * h, block of ATTN_ROWS queries), one invocation per query row. Keys and
// values stream through shared memory in tiles of BK rows; each invocation keeps its q row,
// output accumulator and tile scores in shared memory (its own words only; a private array
// indexed at run time costs lavapipe a select ladder), takes four words of q or o and four keys
// at a time into registers, and keeps a running maximum m and sum l per tile (online softmax),
// so no (Tq, Tk) score matrix exists anywhere. Causal tiles wholly above the
// block's last query are not loaded.
//   A pass covers keys [begin, end). Between passes the state lives in (o, L) normalised:
// o = sum_j exp(s_j - L) z_j v_j, L = log sum_j exp(s_j) (z_j the dropout multiplier), from which
// the next pass restarts with m = L, l = 1. A row with no finite score so far keeps o = 0,
// L = -inf; after the last pass it gives o = NaN (torch's softmax of an all -inf row).
// Specialization constant: 0 workgroup size (ATTN_ROWS).
// Dispatch: src/ops/attention.c. Reference: src/ref/ref_attention.c. Checks:
// src/check/check_attention.c. Tests: tests/test_attention.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attention.glsl"

layout(set = 0, binding = 0) readonly buffer Q { float q[]; };
layout(set = 0, binding = 1) readonly buffer K { float k[]; };
layout(set = 0, binding = 2) readonly buffer V { float v[]; };
layout(set = 0, binding = 3) readonly buffer M { float mask[]; };
layout(set = 0, binding = 4) buffer O { float o[]; };
layout(set = 0, binding = 5) buffer L { float lse[]; };

shared vec4 ks[ATTN_TILE_WORDS];
shared vec4 vs[ATTN_TILE_WORDS];
shared vec4 acc[ATTN_ROWS * ATTN_MAX_D4]; // word c of row tid at c * WG + tid
shared vec4 qsh[ATTN_ROWS * ATTN_MAX_D4]; // q * scale, likewise
// scores 4 jq .. 4 jq + 3 of row tid at jq * WG + tid
shared vec4 ssh[ATTN_ROWS * ATTN_MAX_BK / 4];

// The mask, the causal triangle and the tile's end (keys jj >= nk) on score sc of key k0 + jj.
float masked(float sc, uint i, uint k0, uint jj, uint nk)
{
    uint j = k0 + jj;
    if (pc.has_mask != 0u && jj < nk) {
        sc += mask[i * pc.tk + j];
    }
    return (jj >= nk || (pc.causal != 0u && j > i)) ? ATTN_NEG_INF : sc;
}

void main()
{
    uint g = vkt_flat_group();
    if (g >= pc.bh * pc.blocks) { // uniform per workgroup
        return;
    }
    const uint WG = gl_WorkGroupSize.x;
    uint tid = gl_LocalInvocationID.x;
    uint bh = g / pc.blocks, q0 = (g % pc.blocks) * WG;
    uint i = q0 + tid;
    bool valid = i < pc.tq;
    uint row = bh * pc.tq + i, qb = row * pc.d;

    float m = ATTN_NEG_INF, l = 0.0;
    for (uint c = 0u; c < DP; c++) {
        acc[c * WG + tid] = vec4(0.0);
        qsh[c * WG + tid] = vec4(0.0);
    }
    for (uint c = 0u; valid && c < D4; c++) {
        qsh[c * WG + tid] = ATTN_LOAD4(q, qb, c) * pc.scale;
    }
    if (valid && pc.first == 0u) {
        m = lse[row];
        l = m == ATTN_NEG_INF ? 0.0 : 1.0;
        for (uint c = 0u; c < D4; c++) {
            acc[c * WG + tid] = ATTN_LOAD4(o, qb, c);
        }
    }

    uint kend = pc.end;
    if (pc.causal != 0u) {
        kend = min(kend, q0 + WG); // keys past the block's last query are masked for all of it
    }
    for (uint k0 = pc.begin; k0 < kend; k0 += BK) {
        barrier(); // the previous tile has been read
        for (uint x = tid; x < BK * DP; x += WG) { // words past D4 load as zeros
            uint jj = x / DP, c = x % DP, j = k0 + jj;
            uint base = (bh * pc.tk + j) * pc.d;
            ks[x] = j < kend ? ATTN_LOAD4(k, base, c) : vec4(0.0);
            vs[x] = j < kend ? ATTN_LOAD4(v, base, c) : vec4(0.0);
        }
        barrier();
        if (!valid) {
            continue;
        }
        uint nk = min(BK, kend - k0);
        uint nq4 = (nk + 3u) / 4u; // keys in fours; BK is a multiple of 4, rows past nk are zeros
        for (uint jq = 0u; jq < nq4; jq++) {
            ssh[jq * WG + tid] = vec4(0.0);
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 q0 = qsh[c * WG + tid], q1 = qsh[(c + 1u) * WG + tid];
            vec4 q2 = qsh[(c + 2u) * WG + tid], q3 = qsh[(c + 3u) * WG + tid];
            for (uint jq = 0u; jq < nq4; jq++) {
                uint w = jq * 4u * DP + c, w1 = w + DP, w2 = w + 2u * DP, w3 = w + 3u * DP;
                ssh[jq * WG + tid] += vec4(
                    ATTN_DOT4(ks, w, q0, q1, q2, q3), ATTN_DOT4(ks, w1, q0, q1, q2, q3),
                    ATTN_DOT4(ks, w2, q0, q1, q2, q3), ATTN_DOT4(ks, w3, q0, q1, q2, q3));
            }
        }
        float mt = ATTN_NEG_INF;
        for (uint jq = 0u; jq < nq4; jq++) {
            vec4 sc = ssh[jq * WG + tid];
            uint jj = jq * 4u;
            sc = vec4(masked(sc.x, i, k0, jj, nk), masked(sc.y, i, k0, jj + 1u, nk),
                      masked(sc.z, i, k0, jj + 2u, nk), masked(sc.w, i, k0, jj + 3u, nk));
            ssh[jq * WG + tid] = sc;
            mt = max(mt, max(max(sc.x, sc.y), max(sc.z, sc.w)));
        }
        float mn = max(m, mt);
        if (mn == ATTN_NEG_INF) {
            continue; // no finite score yet: nothing to add
        }
        float alpha = exp(m - mn); // m = -inf: 0
        m = mn;
        l *= alpha;
        for (uint jq = 0u; jq < nq4; jq++) {
            vec4 p = exp(ssh[jq * WG + tid] - m);
            l += (p.x + p.y) + (p.z + p.w);
            if (pc.threshold != 0u) {
                uint j = k0 + jq * 4u;
                p *= vec4(attn_dropout(row, j), attn_dropout(row, j + 1u),
                          attn_dropout(row, j + 2u), attn_dropout(row, j + 3u));
            }
            ssh[jq * WG + tid] = p;
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 a0 = acc[c * WG + tid] * alpha, a1 = acc[(c + 1u) * WG + tid] * alpha;
            vec4 a2 = acc[(c + 2u) * WG + tid] * alpha, a3 = acc[(c + 3u) * WG + tid] * alpha;
            for (uint jq = 0u; jq < nq4; jq++) {
                vec4 p = ssh[jq * WG + tid];
                uint w = jq * 4u * DP + c, w1 = w + DP, w2 = w + 2u * DP, w3 = w + 3u * DP;
                ATTN_MAD4(a0, p, vs, w, w1, w2, w3, 0u);
                ATTN_MAD4(a1, p, vs, w, w1, w2, w3, 1u);
                ATTN_MAD4(a2, p, vs, w, w1, w2, w3, 2u);
                ATTN_MAD4(a3, p, vs, w, w1, w2, w3, 3u);
            }
            acc[c * WG + tid] = a0;
            acc[(c + 1u) * WG + tid] = a1;
            acc[(c + 2u) * WG + tid] = a2;
            acc[(c + 3u) * WG + tid] = a3;
        }
    }
    if (!valid) {
        return;
    }
    bool none = l == 0.0;
    float inv = none ? 0.0 : 1.0 / l;
    for (uint c = 0u; c < D4; c++) {
        vec4 val = (none && pc.last != 0u) ? vec4(ATTN_NAN) : acc[c * WG + tid] * inv;
        ATTN_STORE4(o, qb, c, val);
    }
    lse[row] = none ? ATTN_NEG_INF : m + log(l);
}
