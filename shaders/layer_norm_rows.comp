#version 450
// layer_norm_rows.comp — layer_norm.comp with one invocation per row instead of one workgroup:
// the same formulas, stats layout and compensated sums (bn_add of batch_norm_reduce.glsl), taken
// in column order by one invocation, so no barrier and no shared-memory tree. For CPU-type devices
// and rows of at most LN_ROWS_MAX_COLS (3 passes: within lavapipe's 65535 loop trips), where
// a workgroup per short row spends its time in barriers (docs/shaders.md).
// Specialization: 0 = workgroup size, 1 = MODE (layer_norm_ops.h). Dispatch: src/ops/layer_norm.c.
// Reference: src/ref/ref_norm.c. Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_reduce.glsl"

#include "layer_norm_ops.h"
layout(constant_id = 1) const uint MODE = LN_LAYER;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 2) readonly buffer Bias { float bias[]; };
layout(set = 0, binding = 3) writeonly buffer Y { float y[]; };
layout(set = 0, binding = 4) writeonly buffer Stats { float stats[]; };

layout(push_constant) uniform PC {
    uint rows; // R
    uint cols; // C
    float eps;
    uint has_weight;
    uint has_bias;
} pc;

void main()
{
    uint r = vkt_global_index();
    if (r >= pc.rows) {
        return;
    }
    uint base = r * pc.cols;
    float n = float(pc.cols);
    float mean = 0.0;
    if (MODE == LN_LAYER) {
        vec2 a = vec2(0.0);
        for (uint j = 0u; j < pc.cols; j++) {
            bn_add(a, x[base + j], 0.0);
        }
        mean = bn_value(a) / n;
    }
    vec2 q = vec2(0.0);
    for (uint j = 0u; j < pc.cols; j++) {
        float d = x[base + j] - mean;
        bn_add(q, d * d, 0.0);
    }
    float rstd = inversesqrt(bn_value(q) / n + pc.eps);
    for (uint j = 0u; j < pc.cols; j++) {
        float v = (x[base + j] - mean) * rstd;
        if (pc.has_weight != 0u) {
            v *= weight[j];
        }
        if (pc.has_bias != 0u) {
            v += bias[j];
        }
        y[base + j] = v;
    }
    if (MODE == LN_LAYER) {
        stats[r] = mean;
        stats[pc.rows + r] = rstd;
    } else {
        stats[r] = rstd;
    }
}
