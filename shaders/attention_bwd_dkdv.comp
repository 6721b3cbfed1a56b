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
// score, then dS, of query ii at ii * WG + tid
shared float ssh[ATTN_ROWS_DKDV * ATTN_MAX_BK];
shared float psh[ATTN_ROWS_DKDV * ATTN_MAX_BK]; // dP, then P z, of query ii

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
        for (uint ii = 0u; ii < nq; ii++) {
            ssh[ii * WG + tid] = 0.0;
            psh[ii * WG + tid] = 0.0;
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 k0 = ksh[c * WG + tid], k1 = ksh[(c + 1u) * WG + tid];
            vec4 k2 = ksh[(c + 2u) * WG + tid], k3 = ksh[(c + 3u) * WG + tid];
            vec4 v0 = vsh[c * WG + tid], v1 = vsh[(c + 1u) * WG + tid];
            vec4 v2 = vsh[(c + 2u) * WG + tid], v3 = vsh[(c + 3u) * WG + tid];
            for (uint ii = 0u; ii < nq; ii++) {
                uint w = ii * DP + c;
                ssh[ii * WG + tid] += dot(qs[w], k0) + dot(qs[w + 1u], k1) +
                                      dot(qs[w + 2u], k2) + dot(qs[w + 3u], k3);
                psh[ii * WG + tid] += dot(dos[w], v0) + dot(dos[w + 1u], v1) +
                                      dot(dos[w + 2u], v2) + dot(dos[w + 3u], v3);
            }
        }
        for (uint ii = 0u; ii < nq; ii++) {
            uint i = i0 + ii;
            float sc = ssh[ii * WG + tid];
            if (pc.has_mask != 0u) {
                sc += mask[i * pc.tk + j];
            }
            float p = (pc.causal != 0u && j > i) ? 0.0 : exp(sc - ls[ii]);
            float pz = pc.threshold != 0u ? p * attn_dropout(bh * pc.tq + i, j) : p;
            ssh[ii * WG + tid] = pz * psh[ii * WG + tid] - p * dsum[ii];
            psh[ii * WG + tid] = pz;
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 a0 = dka[c * WG + tid], a1 = dka[(c + 1u) * WG + tid];
            vec4 a2 = dka[(c + 2u) * WG + tid], a3 = dka[(c + 3u) * WG + tid];
            vec4 b0 = dva[c * WG + tid], b1 = dva[(c + 1u) * WG + tid];
            vec4 b2 = dva[(c + 2u) * WG + tid], b3 = dva[(c + 3u) * WG + tid];
            for (uint ii = 0u; ii < nq; ii++) {
                float ds = ssh[ii * WG + tid], pz = psh[ii * WG + tid];
                uint w = ii * DP + c;
                a0 += ds * qs[w];
                a1 += ds * qs[w + 1u];
                a2 += ds * qs[w + 2u];
                a3 += ds * qs[w + 3u];
                b0 += pz * dos[w];
                b1 += pz * dos[w + 1u];
                b2 += pz * dos[w + 2u];
                b3 += pz * dos[w + 3u];
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
