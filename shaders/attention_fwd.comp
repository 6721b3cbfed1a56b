#version 450
// attention_fwd.comp — fused scaled-dot-product attention forward, FlashAttention-2 style: one
// workgroup per (b * h, block of ATTN_ROWS queries), one invocation per query row. Keys and
// values stream through shared memory in tiles of BK rows; each invocation keeps its output
// accumulator and tile scores in shared memory (its own words only; a private array indexed
// at run time costs lavapipe a select ladder) and a running maximum m and sum l per tile
// (online softmax), so no (Tq, Tk) score matrix exists anywhere. Causal tiles wholly above the
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
shared float ssh[ATTN_ROWS * ATTN_MAX_BK]; // score jj of row tid at jj * WG + tid

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
        for (uint jj = 0u; jj < nk; jj++) {
            ssh[jj * WG + tid] = 0.0;
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 q0 = qsh[c * WG + tid], q1 = qsh[(c + 1u) * WG + tid];
            vec4 q2 = qsh[(c + 2u) * WG + tid], q3 = qsh[(c + 3u) * WG + tid];
            for (uint jj = 0u; jj < nk; jj++) {
                uint w = jj * DP + c;
                ssh[jj * WG + tid] += dot(q0, ks[w]) + dot(q1, ks[w + 1u]) +
                                      dot(q2, ks[w + 2u]) + dot(q3, ks[w + 3u]);
            }
        }
        float mt = ATTN_NEG_INF;
        for (uint jj = 0u; jj < nk; jj++) {
            uint j = k0 + jj;
            float sc = ssh[jj * WG + tid];
            if (pc.has_mask != 0u) {
                sc += mask[i * pc.tk + j];
            }
            if (pc.causal != 0u && j > i) {
                sc = ATTN_NEG_INF;
            }
            ssh[jj * WG + tid] = sc;
            mt = max(mt, sc);
        }
        float mn = max(m, mt);
        if (mn == ATTN_NEG_INF) {
            continue; // no finite score yet: nothing to add
        }
        float alpha = exp(m - mn); // m = -inf: 0
        m = mn;
        l *= alpha;
        for (uint jj = 0u; jj < nk; jj++) {
            float p = exp(ssh[jj * WG + tid] - m);
            l += p;
            ssh[jj * WG + tid] = pc.threshold != 0u ? p * attn_dropout(row, k0 + jj) : p;
        }
        for (uint c = 0u; c < DP; c += 4u) {
            vec4 a0 = acc[c * WG + tid] * alpha, a1 = acc[(c + 1u) * WG + tid] * alpha;
            vec4 a2 = acc[(c + 2u) * WG + tid] * alpha, a3 = acc[(c + 3u) * WG + tid] * alpha;
            for (uint jj = 0u; jj < nk; jj++) {
                float p = ssh[jj * WG + tid];
                uint w = jj * DP + c;
                a0 += p * vs[w];
                a1 += p * vs[w + 1u];
                a2 += p * vs[w + 2u];
                a3 += p * vs[w + 3u];
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
