#version 450
// layer_norm.comp — layer norm (MODE = LN_LAYER) or RMSNorm (LN_RMS) of each row of x (R, C),
// one workgroup per row (2-D grid past 65535 rows):
//   LN_LAYER  mean = sum(x) / C, then var = sum((x - mean)^2) / C (two passes, never
//             E[x^2] - E[x]^2), rstd = 1 / sqrt(var + eps), y = (x - mean) * rstd * w + b;
//             stats[r] = mean, stats[R + r] = rstd
//   LN_RMS    rstd = 1 / sqrt(sum(x^2) / C + eps), y = x * rstd * w; stats[r] = rstd
// w = weight[j] (1 without), b = bias[j] (0 without). Invocation t takes the columns
// t + WG * (LN_UNROLL * i + u), u < LN_UNROLL, in increasing order into compensated sums that
// meet in the fixed shared-memory tree of batch_norm_reduce.glsl, so the result does not depend
// on the subgroup size (bitwise). lavapipe ends a shader after 65535 loop trips, counted over all
// its loops together: a row costs 2 (RMS) or 3 passes of ceil(C / (LN_UNROLL * WG)) trips plus
// the trees' log2(WG) each, and src/ops/layer_norm.c refuses C > 65536 * WG.
// Dispatch: src/ops/layer_norm.c. Reference: src/ref/ref_norm.c. Checks: src/check/check_norm.c.
// Tests: tests/test_norm.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_reduce.glsl"

#include "layer_norm_ops.h"
layout(constant_id = 1) const uint MODE = LN_LAYER;
#if LN_UNROLL != 4
#error "the row loops below take LN_UNROLL = 4 columns per trip"
#endif

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

// Column j of the row at `base`: sum (x - shift), or of its square (squares).
void take(inout vec2 a, uint base, uint j, float shift, bool squares)
{
    if (j < pc.cols) {
        float d = x[base + j] - shift;
        bn_add(a, squares ? d * d : d, 0.0);
    }
}

void put(uint base, uint j, float mean, float rstd)
{
    if (j < pc.cols) {
        float v = (x[base + j] - mean) * rstd;
        if (pc.has_weight != 0u) {
            v *= weight[j];
        }
        if (pc.has_bias != 0u) {
            v += bias[j];
        }
        y[base + j] = v;
    }
}

// sum over the row of (x - shift) or (x - shift)^2, in every invocation.
float row_sum(uint base, float shift, bool squares)
{
    uint wg = gl_WorkGroupSize.x, step = LN_UNROLL * wg;
    uint trips = (pc.cols + step - 1u) / step;
    vec2 a = vec2(0.0);
    for (uint i = 0u; i < trips; i++) {
        uint j = gl_LocalInvocationID.x + i * step;
        take(a, base, j, shift, squares);
        take(a, base, j + wg, shift, squares);
        take(a, base, j + 2u * wg, shift, squares);
        take(a, base, j + 3u * wg, shift, squares);
    }
    return bn_value(bn_workgroup_sum(vec4(a, 0.0, 0.0)).xy);
}

void main()
{
    uint r = vkt_flat_group();
    if (r >= pc.rows) {
        return; // whole workgroup: the 2-D grid's tail
    }
    uint base = r * pc.cols;
    float n = float(pc.cols);
    float mean = 0.0;
    if (MODE == LN_LAYER) {
        mean = row_sum(base, 0.0, false) / n;
    }
    float rstd = inversesqrt(row_sum(base, mean, true) / n + pc.eps);
    uint wg = gl_WorkGroupSize.x, step = LN_UNROLL * wg;
    uint trips = (pc.cols + step - 1u) / step;
    for (uint i = 0u; i < trips; i++) {
        uint j = gl_LocalInvocationID.x + i * step;
        put(base, j, mean, rstd);
        put(base, j + wg, mean, rstd);
        put(base, j + 2u * wg, mean, rstd);
        put(base, j + 3u * wg, mean, rstd);
    }
    if (gl_LocalInvocationID.x == 0u) {
        if (MODE == LN_LAYER) {
            stats[r] = mean;
            stats[pc.rows + r] = rstd;
        } else {
            stats[r] = rstd;
        }
    }
}
