#version 450
// attention_bwd_dq.comp — dQ of the fused attention (FlashAttention-2's second backward kernel):
// one workgroup per (b * h, block of ATTN_ROWS queries), one invocation per query row, keys and
// values streamed in shared tiles of BK rows over this pass's keys [begin, end); the dQ
// accumulator, its q and dO rows and the tile's scores, dP and dS stay in shared memory (each
// invocation's own words), taken four words at a time into registers.
// P is recomputed from q, k and the forward's L: P_ij = exp(s_ij - L_i); with the dropout
// multiplier z_ij regenerated from Philox, dS_ij = P_ij (z_ij dO_i . v_j - D_i) and
// dQ_i (+)= scale * sum_j dS_ij k_j. Each invocation owns its row of dQ: no atomics, and the sum
// runs in key order whatever the workgroup or subgroup size.
// Specialization constant: 0 workgroup size (ATTN_ROWS). Bindings: stats holds L then D
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
layout(set = 0, binding = 6) buffer DQ { float dq[]; };

shared vec4 ks[ATTN_TILE_WORDS];
shared vec4 vs[ATTN_TILE_WORDS];
shared vec4 acc[ATTN_ROWS * ATTN_MAX_D4];  // word c of row tid at c * WG + tid
shared vec4 qsh[ATTN_ROWS * ATTN_MAX_D4];  // q * scale, likewise
shared vec4 gsh[ATTN_ROWS * ATTN_MAX_D4];  // dO, likewise
// scores, then dS, of keys 4 jq .. 4 jq + 3 at jq * WG + tid; dsh: their dP = dO . v
shared vec4 ssh[ATTN_ROWS * ATTN_MAX_BK / 4];
shared vec4 dsh[ATTN_ROWS * ATTN_MAX_BK / 4];

// dS of key jj (tile at k0, nk keys) for query i from its score sc and dP dp.
float dscore(float sc, float dp, uint i, uint row, uint k0, uint jj, uint nk, float li, float di)
{
    uint j = k0 + jj;
    if (jj >= nk || (pc.causal != 0u && j > i)) {
        return 0.0;
    }
    if (pc.has_mask != 0u) {
        sc += mask[i * pc.tk + j];
    }
    float z = pc.threshold != 0u ? attn_dropout(row, j) : 1.0;
    return exp(sc - li) * (z * dp - di);
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

    for (uint c = 0u; c < DP; c++) {
        acc[c * WG + tid] = vec4(0.0);
        qsh[c * WG + tid] = vec4(0.0);
        gsh[c * WG + tid] = vec4(0.0);
    }
    for (uint c = 0u; valid && c < D4; c++) {
        qsh[c * WG + tid] = ATTN_LOAD4(q, qb, c) * pc.scale;
        gsh[c * WG + tid] = ATTN_LOAD4(dout, qb, c);
    }
    float li = valid ? stats[row] : 0.0, di = valid ? stats[pc.bh * pc.tq + row] : 0.0;

    uint kend = pc.end;
    if (pc.causal != 0u) {
        kend = min(kend, q0 + WG);
    }
    for (uint k0 = pc.begin; k0 < kend; k0 += BK) {
        barrier();
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
            dsh[jq * WG + tid] = vec4(0.0);
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 q0 = qsh[c * WG + tid], q1 = qsh[(c + 1u) * WG + tid];
            vec4 q2 = qsh[(c + 2u) * WG + tid], q3 = qsh[(c + 3u) * WG + tid];
            vec4 g0 = gsh[c * WG + tid], g1 = gsh[(c + 1u) * WG + tid];
            vec4 g2 = gsh[(c + 2u) * WG + tid], g3 = gsh[(c + 3u) * WG + tid];
            for (uint jq = 0u; jq < nq4; jq++) {
                uint w = jq * 4u * DP + c, w1 = w + DP, w2 = w + 2u * DP, w3 = w + 3u * DP;
                ssh[jq * WG + tid] += vec4(
                    ATTN_DOT4(ks, w, q0, q1, q2, q3), ATTN_DOT4(ks, w1, q0, q1, q2, q3),
                    ATTN_DOT4(ks, w2, q0, q1, q2, q3), ATTN_DOT4(ks, w3, q0, q1, q2, q3));
                dsh[jq * WG + tid] += vec4(
                    ATTN_DOT4(vs, w, g0, g1, g2, g3), ATTN_DOT4(vs, w1, g0, g1, g2, g3),
                    ATTN_DOT4(vs, w2, g0, g1, g2, g3), ATTN_DOT4(vs, w3, g0, g1, g2, g3));
            }
        }
        for (uint jq = 0u; jq < nq4; jq++) {
            vec4 sc = ssh[jq * WG + tid], dp = dsh[jq * WG + tid];
            uint jj = jq * 4u;
            ssh[jq * WG + tid] = vec4(dscore(sc.x, dp.x, i, row, k0, jj, nk, li, di),
                                      dscore(sc.y, dp.y, i, row, k0, jj + 1u, nk, li, di),
                                      dscore(sc.z, dp.z, i, row, k0, jj + 2u, nk, li, di),
                                      dscore(sc.w, dp.w, i, row, k0, jj + 3u, nk, li, di));
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 a0 = acc[c * WG + tid], a1 = acc[(c + 1u) * WG + tid];
            vec4 a2 = acc[(c + 2u) * WG + tid], a3 = acc[(c + 3u) * WG + tid];
            for (uint jq = 0u; jq < nq4; jq++) {
                vec4 ds = ssh[jq * WG + tid];
                uint w = jq * 4u * DP + c, w1 = w + DP, w2 = w + 2u * DP, w3 = w + 3u * DP;
                ATTN_MAD4(a0, ds, ks, w, w1, w2, w3, 0u);
                ATTN_MAD4(a1, ds, ks, w, w1, w2, w3, 1u);
                ATTN_MAD4(a2, ds, ks, w, w1, w2, w3, 2u);
                ATTN_MAD4(a3, ds, ks, w, w1, w2, w3, 3u);
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
    for (uint c = 0u; c < D4; c++) {
        vec4 val = acc[c * WG + tid] * pc.scale;
        if (pc.accumulate != 0u) {
            val += ATTN_LOAD4(dq, qb, c);
        }
        ATTN_STORE4(dq, qb, c, val);
    }
}
