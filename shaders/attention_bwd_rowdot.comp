#version 450
// attention_bwd_rowdot.comp — the first step of the attention backward (FlashAttention-2):
// stats[row] = L[row] and stats[BH * Tq + row] = D_row = sum_e dO[row, e] * O[row, e], one
// invocation per query row. With dropout D is still rowsum(dO * O): sum_j P z (dO . v_j) = dO . O.
// Both halves feed attention_bwd_dq.comp and attention_bwd_dkdv.comp, which take one binding for
// them (eight bindings at most).
// Dispatch: src/ops/attention.c. Reference: src/ref/ref_attention.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "attention.glsl"

layout(set = 0, binding = 0) readonly buffer O { float o[]; };
layout(set = 0, binding = 1) readonly buffer DO { float dout[]; };
layout(set = 0, binding = 2) readonly buffer L { float lse[]; };
layout(set = 0, binding = 3) buffer S { float stats[]; };

void main()
{
    uint row = vkt_global_index();
    uint rows = pc.bh * pc.tq;
    if (row >= rows) {
        return;
    }
    float acc = 0.0;
    for (uint e = 0u; e < pc.d; e++) {
        acc += dout[row * pc.d + e] * o[row * pc.d + e];
    }
    stats[row] = lse[row];
    stats[rows + row] = acc;
}
