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
// score, then dS, of key jj at jj * WG + tid
shared float ssh[ATTN_ROWS * ATTN_MAX_BK];
shared float dsh[ATTN_ROWS * ATTN_MAX_BK]; // dP = dO . v of key jj

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
        for (uint jj = 0u; jj < nk; jj++) {
            ssh[jj * WG + tid] = 0.0;
            dsh[jj * WG + tid] = 0.0;
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 q0 = qsh[c * WG + tid], q1 = qsh[(c + 1u) * WG + tid];
            vec4 q2 = qsh[(c + 2u) * WG + tid], q3 = qsh[(c + 3u) * WG + tid];
            vec4 g0 = gsh[c * WG + tid], g1 = gsh[(c + 1u) * WG + tid];
            vec4 g2 = gsh[(c + 2u) * WG + tid], g3 = gsh[(c + 3u) * WG + tid];
            for (uint jj = 0u; jj < nk; jj++) {
                uint w = jj * DP + c;
                ssh[jj * WG + tid] += dot(q0, ks[w]) + dot(q1, ks[w + 1u]) +
                                      dot(q2, ks[w + 2u]) + dot(q3, ks[w + 3u]);
                dsh[jj * WG + tid] += dot(g0, vs[w]) + dot(g1, vs[w + 1u]) +
                                      dot(g2, vs[w + 2u]) + dot(g3, vs[w + 3u]);
            }
        }
        for (uint jj = 0u; jj < nk; jj++) {
            uint j = k0 + jj;
            float sc = ssh[jj * WG + tid];
            if (pc.has_mask != 0u) {
                sc += mask[i * pc.tk + j];
            }
            float p = (pc.causal != 0u && j > i) ? 0.0 : exp(sc - li);
            float z = pc.threshold != 0u ? attn_dropout(row, j) : 1.0;
            ssh[jj * WG + tid] = p * (z * dsh[jj * WG + tid] - di);
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 a0 = acc[c * WG + tid], a1 = acc[(c + 1u) * WG + tid];
            vec4 a2 = acc[(c + 2u) * WG + tid], a3 = acc[(c + 3u) * WG + tid];
            for (uint jj = 0u; jj < nk; jj++) {
                float ds = ssh[jj * WG + tid];
                uint w = jj * DP + c;
                a0 += ds * ks[w];
                a1 += ds * ks[w + 1u];
                a2 += ds * ks[w + 2u];
                a3 += ds * ks[w + 3u];
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
