#version 450
// attention_bwd_dkdv.comp — dK and dV of the fused attention (FlashAttention-2's first backward
// kernel): one workgroup per (b * h, block of ATTN_ROWS_DKDV keys), one invocation per key row,
// queries, their dO rows and their (L, D) streamed in shared tiles of BK rows over this pass's
// queries [begin, end); the dK, dV accumulators, the k and v rows and the tile's P z and dS stay
// in shared memory.
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
shared float ssh[ATTN_ROWS_DKDV * ATTN_MAX_BK]; // dS of query ii at ii * WG + tid
shared float psh[ATTN_ROWS_DKDV * ATTN_MAX_BK]; // P z of query ii

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

    for (uint c = 0u; c < D4; c++) {
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
        for (uint x = tid; x < BK * D4; x += WG) {
            uint ii = x / D4, c = x % D4, i = i0 + ii;
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
            uint i = i0 + ii;
            float sc = 0.0, dp = 0.0;
            for (uint c = 0u; c < D4; c++) {
                sc += dot(qs[ii * D4 + c], ksh[c * WG + tid]);
                dp += dot(dos[ii * D4 + c], vsh[c * WG + tid]);
            }
            if (pc.has_mask != 0u) {
                sc += mask[i * pc.tk + j];
            }
            float p = (pc.causal != 0u && j > i) ? 0.0 : exp(sc - ls[ii]);
            float pz = pc.threshold != 0u ? p * attn_dropout(bh * pc.tq + i, j) : p;
            ssh[ii * WG + tid] = pz * dp - p * dsum[ii];
            psh[ii * WG + tid] = pz;
        }
        for (uint c = 0u; c < D4; c++) {
            vec4 a = dka[c * WG + tid], b = dva[c * WG + tid];
            for (uint ii = 0u; ii < nq; ii++) {
                a += ssh[ii * WG + tid] * qs[ii * D4 + c];
                b += psh[ii * WG + tid] * dos[ii * D4 + c];
            }
            dka[c * WG + tid] = a;
            dva[c * WG + tid] = b;
        }
    }
    if (!valid) {
        return;
    }
    for (uint c = 0u; c < D4; c++) {
        vec4 vk = dka[c * WG + tid] * pc.scale, vv = dva[c * WG + tid];
        if (pc.accumulate != 0u) {
            vk += ATTN_LOAD4(dk, kb, c);
            vv += ATTN_LOAD4(dv, kb, c);
        }
        ATTN_STORE4(dk, kb, c, vk);
        ATTN_STORE4(dv, kb, c, vv);
    }
}
