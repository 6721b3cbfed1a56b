#version 450
// layer_norm_rows_backward.comp — layer_norm_backward.comp with one invocation per row (the
// formulas and compensated sums of that shader, in column order; no barrier): dx += the input
// gradient of layer norm (LN_LAYER) or RMSNorm (LN_RMS) from dy and layer_norm_rows.comp's stats.
// Two passes of C trips, C <= LN_ROWS_MAX_COLS. Specialization: 0 = workgroup size, 1 = MODE.
// Dispatch: src/ops/layer_norm.c. Reference: vkt__ref_layer_norm_backward (src/ref/ref_norm.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_reduce.glsl"

#include "layer_norm_ops.h"
layout(constant_id = 1) const uint MODE = LN_LAYER;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Dy { float dy[]; };
layout(set = 0, binding = 2) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 3) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 4) buffer Dx { float dx[]; };

// Shared with layer_norm_rows.comp (eps and has_bias unused here).
layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    float eps;
    uint has_weight;
    uint has_bias;
} pc;

float g_at(uint i, uint j)
{
    return pc.has_weight != 0u ? dy[i] * weight[j] : dy[i];
}

void main()
{
    uint r = vkt_global_index();
    if (r >= pc.rows) {
        return;
    }
    float mean = MODE == LN_LAYER ? stats[r] : 0.0;
    float rstd = MODE == LN_LAYER ? stats[pc.rows + r] : stats[r];
    uint base = r * pc.cols;
    vec2 a = vec2(0.0), b = vec2(0.0);
    for (uint j = 0u; j < pc.cols; j++) {
        float g = g_at(base + j, j);
        float xhat = (x[base + j] - mean) * rstd;
        if (MODE == LN_LAYER) {
            bn_add(a, g, 0.0);
        }
        bn_add(b, g * xhat, 0.0);
    }
    float n = float(pc.cols);
    float mg = bn_value(a) / n, mgx = bn_value(b) / n;
    for (uint j = 0u; j < pc.cols; j++) {
        float g = g_at(base + j, j);
        float xhat = (x[base + j] - mean) * rstd;
        dx[base + j] += rstd * ((g - mg) - xhat * mgx);
    }
}
