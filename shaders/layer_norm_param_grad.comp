#version 450
// layer_norm_param_grad.comp — the weight and bias gradients of layer norm / RMSNorm as
// deterministic column sums over the R rows of x (R, C), without atomics. Invocation
// g = k * C + j sums rows [k * chunk, min((k + 1) * chunk, R)) of column j, in order, into
// compensated (hi, lo) pairs (batch_norm_reduce.glsl's bn_add):
//   LEVEL = LN_PG_FROM_ROWS      dweight: dy * xhat, xhat = (x - mean) * rstd (RMS: x * rstd,
//                                MODE picks the stats layout); dbias: dy
//   LEVEL = LN_PG_FROM_PARTIALS  the previous level's partials: binding 0 the dweight ones,
//                                binding 1 the dbias ones
// and writes (chunks = 1 and accumulate: adds) out_w[g] / out_b[g] for the wanted ones.
// src/ops/layer_norm.c runs levels until one row is left (70000 rows: 274 partials, then one), so
// no invocation walks more than `chunk` rows (lavapipe's loop limit) and the order depends only on
// the shape. Bindings 3 and 4 are statically written: an unwanted one aliases the other (its
// flag keeps it unwritten).
// Dispatch: src/ops/layer_norm.c. Reference: vkt__ref_layer_norm_backward (src/ref/ref_norm.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_reduce.glsl"

#include "layer_norm_ops.h"
layout(constant_id = 1) const uint MODE = LN_LAYER;
layout(constant_id = 2) const uint LEVEL = LN_PG_FROM_ROWS;

layout(set = 0, binding = 0) readonly buffer In0 { float in0[]; }; // x, or dweight partials
layout(set = 0, binding = 1) readonly buffer In1 { float in1[]; }; // dy, or dbias partials
layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) buffer OutW { float out_w[]; };
layout(set = 0, binding = 4) buffer OutB { float out_b[]; };

layout(push_constant) uniform PC {
    uint rows;      // rows at this level (R, then the previous level's chunks)
    uint cols;      // C
    uint stat_rows; // R: the stats layout
    uint chunk;     // rows per invocation
    uint chunks;    // ceil(rows / chunk)
    uint want_w;
    uint want_b;
    uint accumulate;
} pc;

void main()
{
    uint g = vkt_global_index();
    if (g >= pc.chunks * pc.cols) {
        return;
    }
    uint k = g / pc.cols, j = g - k * pc.cols;
    uint r0 = k * pc.chunk, r1 = min(r0 + pc.chunk, pc.rows);
    vec2 sw = vec2(0.0), sb = vec2(0.0);
    for (uint r = r0; r < r1; r++) {
        uint i = r * pc.cols + j;
        if (LEVEL == LN_PG_FROM_PARTIALS) {
            if (pc.want_w != 0u) {
                bn_add(sw, in0[i], 0.0);
            }
            if (pc.want_b != 0u) {
                bn_add(sb, in1[i], 0.0);
            }
            continue;
        }
        float d = in1[i];
        if (pc.want_w != 0u) {
            float mean = MODE == LN_LAYER ? stats[r] : 0.0;
            float rstd = MODE == LN_LAYER ? stats[pc.stat_rows + r] : stats[r];
            bn_add(sw, d * ((in0[i] - mean) * rstd), 0.0);
        }
        if (pc.want_b != 0u) {
            bn_add(sb, d, 0.0);
        }
    }
    bool acc = pc.accumulate != 0u;
    if (pc.want_w != 0u) {
        float v = bn_value(sw);
        out_w[g] = acc ? out_w[g] + v : v;
    }
    if (pc.want_b != 0u) {
        float v = bn_value(sb);
        out_b[g] = acc ? out_b[g] + v : v;
    }
}
