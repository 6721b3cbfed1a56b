#version 450
// attention_bwd_dkdv.comp — dK and dV of the fused attention (FlashAttention-2's first backward
// kernel): one workgroup per (b * h, block of ATTN_ROWS_DKDV keys), one invocation per key row,
// queries, their dO rows and their (L, D) streamed in shared tiles of BK rows over this pass's
// queries [begin, end); the dK, dV accumulators, the k and v rows and the tile's scores, dP, P z
// and dS stay in shared memory, taken four words at a time into registers.
// P is recomputed: P_ij = exp(s_ij - L_i), z_ij the regenerated dropout multiplier;
// dV_j (+)= sum_i P_ij z_ij dO_i and dK_j (+)= scale * sum_i dS_ij q_i with
// dS_ij = P_ij (z_ij dO_i . v_j - D_i). Each invocation owns its rows of dK and dV: no atomics,
// sums in query order. Causal: query tiles wholly before the block's first key are skipped.
// Specialization constant: 0 workgroup size (ATTN_ROWS_DKDV). Bindings: stats holds L then D
// (attention_bwd_rowdot.comp).
// Dispatch: src/ops/attention.c. Reference: src/ref/ref_attention.c. Checks:
// src/check/check_attention.c. Tests: tests/test_attention.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attention.glsl"

layout(set = 0, binding = 0) readonly buffer Q { float q[]; };
layout(set = 0, binding = 1) readonly buffer K { float k[]; };
layout(set = 0, binding = 2) readonly buffer V { float v[]; };
layout(set = 0, binding = 3) readonly buffer M { float mask[]; };
layout(set = 0, binding = 4) readonly buffer DO { float dout[]; };
layout(set = 0, binding = 5) readonly buffer S { float stats[]; };
layout(set = 0, binding = 6) buffer DK { float dk[]; };
layout(set = 0, binding = 7) buffer DV { float dv[]; };

shared vec4 qs[ATTN_TILE_WORDS];
shared vec4 dos[ATTN_TILE_WORDS];
shared float ls[ATTN_MAX_BK];
shared float dsum[ATTN_MAX_BK];
shared vec4 dka[ATTN_ROWS_DKDV * ATTN_MAX_D4]; // word c of key row tid at c * WG + tid
shared vec4 dva[ATTN_ROWS_DKDV * ATTN_MAX_D4];
shared vec4 ksh[ATTN_ROWS_DKDV * ATTN_MAX_D4]; // k * scale, likewise
shared vec4 vsh[ATTN_ROWS_DKDV * ATTN_MAX_D4];
// scores, then dS, of queries 4 iq .. 4 iq + 3 of the tile at iq * WG + tid; psh: their dP,
// then P z
shared vec4 ssh[ATTN_ROWS_DKDV * ATTN_MAX_BK / 4];
shared vec4 psh[ATTN_ROWS_DKDV * ATTN_MAX_BK / 4];

// Query ii of the tile at i0 (nq queries) against key j: its score sc becomes dS, its dP dp
// becomes P z.
void dscore(inout float sc, inout float dp, uint bh, uint i0, uint ii, uint nq, uint j)
{
    uint i = i0 + ii;
    if (ii >= nq || (pc.causal != 0u && j > i)) {
        sc = 0.0;
        dp = 0.0;
        return;
    }
    if (pc.has_mask != 0u) {
        sc += mask[i * pc.tk + j];
    }
    float p = exp(sc - ls[ii]);
    float pz = pc.threshold != 0u ? p * attn_dropout(bh * pc.tq + i, j) : p;
    sc = pz * dp - p * dsum[ii];
    dp = pz;
}

void main()
{
    uint g = vkt_flat_group();
    if (g >= pc.bh * pc.blocks) { // uniform per workgroup
        return;
    }
    const uint WG = gl_WorkGroupSize.x;
    uint tid = gl_LocalInvocationID.x;
    uint bh = g / pc.blocks, j0 = (g % pc.blocks) * WG;
    uint j = j0 + tid;
    bool valid = j < pc.tk;
    uint kb = (bh * pc.tk + j) * pc.d;

    for (uint c = 0u; c < DP; c++) {
        dka[c * WG + tid] = vec4(0.0);
        dva[c * WG + tid] = vec4(0.0);
        ksh[c * WG + tid] = vec4(0.0);
        vsh[c * WG + tid] = vec4(0.0);
    }
    for (uint c = 0u; valid && c < D4; c++) {
        ksh[c * WG + tid] = ATTN_LOAD4(k, kb, c) * pc.scale;
        vsh[c * WG + tid] = ATTN_LOAD4(v, kb, c);
    }
    uint rows = pc.bh * pc.tq;
    uint qbegin = pc.begin;
    if (pc.causal != 0u) {
        qbegin = max(qbegin, j0); // queries before the block's first key see none of it
    }
    for (uint i0 = qbegin; i0 < pc.end; i0 += BK) {
        barrier();
        for (uint x = tid; x < BK * DP; x += WG) { // words past D4 load as zeros
            uint ii = x / DP, c = x % DP, i = i0 + ii;
            uint base = (bh * pc.tq + i) * pc.d;
            qs[x] = i < pc.end ? ATTN_LOAD4(q, base, c) : vec4(0.0);
            dos[x] = i < pc.end ? ATTN_LOAD4(dout, base, c) : vec4(0.0);
        }
        for (uint ii = tid; ii < BK; ii += WG) {
            uint i = i0 + ii;
            ls[ii] = i < pc.end ? stats[bh * pc.tq + i] : 0.0;
            dsum[ii] = i < pc.end ? stats[rows + bh * pc.tq + i] : 0.0;
        }
        barrier();
        if (!valid) {
            continue;
        }
        uint nq = min(BK, pc.end - i0);
        uint nq4 = (nq + 3u) / 4u; // in fours; BK is a multiple of 4, rows past nq are zeros
        for (uint iq = 0u; iq < nq4; iq++) {
            ssh[iq * WG + tid] = vec4(0.0);
            psh[iq * WG + tid] = vec4(0.0);
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 k0 = ksh[c * WG + tid], k1 = ksh[(c + 1u) * WG + tid];
            vec4 k2 = ksh[(c + 2u) * WG + tid], k3 = ksh[(c + 3u) * WG + tid];
            vec4 v0 = vsh[c * WG + tid], v1 = vsh[(c + 1u) * WG + tid];
            vec4 v2 = vsh[(c + 2u) * WG + tid], v3 = vsh[(c + 3u) * WG + tid];
            for (uint iq = 0u; iq < nq4; iq++) {
                uint w = iq * 4u * DP + c, w1 = w + DP, w2 = w + 2u * DP, w3 = w + 3u * DP;
                ssh[iq * WG + tid] += vec4(
                    ATTN_DOT4(qs, w, k0, k1, k2, k3), ATTN_DOT4(qs, w1, k0, k1, k2, k3),
                    ATTN_DOT4(qs, w2, k0, k1, k2, k3), ATTN_DOT4(qs, w3, k0, k1, k2, k3));
                psh[iq * WG + tid] += vec4(
                    ATTN_DOT4(dos, w, v0, v1, v2, v3), ATTN_DOT4(dos, w1, v0, v1, v2, v3),
                    ATTN_DOT4(dos, w2, v0, v1, v2, v3), ATTN_DOT4(dos, w3, v0, v1, v2, v3));
            }
        }
        for (uint iq = 0u; iq < nq4; iq++) {
            vec4 sc = ssh[iq * WG + tid], dp = psh[iq * WG + tid];
            uint ii = iq * 4u;
            dscore(sc.x, dp.x, bh, i0, ii, nq, j);
            dscore(sc.y, dp.y, bh, i0, ii + 1u, nq, j);
            dscore(sc.z, dp.z, bh, i0, ii + 2u, nq, j);
            dscore(sc.w, dp.w, bh, i0, ii + 3u, nq, j);
            ssh[iq * WG + tid] = sc;
            psh[iq * WG + tid] = dp;
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 a0 = dka[c * WG + tid], a1 = dka[(c + 1u) * WG + tid];
            vec4 a2 = dka[(c + 2u) * WG + tid], a3 = dka[(c + 3u) * WG + tid];
            vec4 b0 = dva[c * WG + tid], b1 = dva[(c + 1u) * WG + tid];
            vec4 b2 = dva[(c + 2u) * WG + tid], b3 = dva[(c + 3u) * WG + tid];
            for (uint iq = 0u; iq < nq4; iq++) {
                vec4 ds = ssh[iq * WG + tid], pz = psh[iq * WG + tid];
                uint w = iq * 4u * DP + c, w1 = w + DP, w2 = w + 2u * DP, w3 = w + 3u * DP;
                ATTN_MAD4(a0, ds, qs, w, w1, w2, w3, 0u);
                ATTN_MAD4(a1, ds, qs, w, w1, w2, w3, 1u);
                ATTN_MAD4(a2, ds, qs, w, w1, w2, w3, 2u);
                ATTN_MAD4(a3, ds, qs, w, w1, w2, w3, 3u);
                ATTN_MAD4(b0, pz, dos, w, w1, w2, w3, 0u);
                ATTN_MAD4(b1, pz, dos, w, w1, w2, w3, 1u);
                ATTN_MAD4(b2, pz, dos, w, w1, w2, w3, 2u);
                ATTN_MAD4(b3, pz, dos, w, w1, w2, w3, 3u);
            }
            dka[c * WG + tid] = a0;
            dka[(c + 1u) * WG + tid] = a1;
            dka[(c + 2u) * WG + tid] = a2;
            dka[(c + 3u) * WG + tid] = a3;
            dva[c * WG + tid] = b0;
            dva[(c + 1u) * WG + tid] = b1;
            dva[(c + 2u) * WG + tid] = b2;
            dva[(c + 3u) * WG + tid] = b3;
        }
    }
    if (!valid) {
        return;
    }
    // dK's row is stored before dV's is read: with k and v the same tensor both bindings are one
    // gradient, and each invocation only touches its own row of it.
    for (uint c = 0u; c < D4; c++) {
        vec4 vk = dka[c * WG + tid] * pc.scale;
        if (pc.accumulate != 0u) {
            vk += ATTN_LOAD4(dk, kb, c);
        }
        ATTN_STORE4(dk, kb, c, vk);
    }
    for (uint c = 0u; c < D4; c++) {
        vec4 vv = dva[c * WG + tid];
        if (pc.accumulate != 0u) {
            vv += ATTN_LOAD4(dv, kb, c);
        }
        ATTN_STORE4(dv, kb, c, vv);
    }
}
