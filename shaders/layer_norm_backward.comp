#version 450
// layer_norm_backward.comp — dx += the input gradient of layer norm (MODE = LN_LAYER) or RMSNorm
// (LN_RMS) for each row of x (R, C), one workgroup per row, from dy and the forward's stats
// (layer_norm.comp), as llm.c's layernorm_backward:
//   xhat = (x - mean) * rstd (RMS: x * rstd), g = dy * w (w = weight[j], 1 without),
//   LN_LAYER  dx += rstd * (g - mean(g) - xhat * mean(g * xhat))
//   LN_RMS    dx += rstd * (g - xhat * mean(g * xhat))
// The two row means are compensated sums over the same fixed strided column sets and shared-memory
// tree as the forward (batch_norm_reduce.glsl): independent of the subgroup size. Two passes of
// ceil(C / (LN_UNROLL * WG)) loop trips plus one tree, within lavapipe's 65535 for C <= 65536 * WG.
// Dispatch: src/ops/layer_norm.c. Reference: vkt__ref_layer_norm_backward (src/ref/ref_norm.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_reduce.glsl"

#include "layer_norm_ops.h"
layout(constant_id = 1) const uint MODE = LN_LAYER;
#if LN_UNROLL != 4
#error "the row loops below take LN_UNROLL = 4 columns per trip"
#endif

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Dy { float dy[]; };
layout(set = 0, binding = 2) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 3) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 4) buffer Dx { float dx[]; };

// Shared with layer_norm.comp (eps and has_bias unused here).
layout(push_constant) uniform PC {
    uint rows; // R
    uint cols; // C
    float eps;
    uint has_weight;
    uint has_bias;
} pc;

float g_at(uint i, uint j)
{
    return pc.has_weight != 0u ? dy[i] * weight[j] : dy[i];
}

// s.xy += g, s.zw += g * xhat for column j of the row at `base`.
void take(inout vec4 s, uint base, uint j, float mean, float rstd)
{
    if (j < pc.cols) {
        float g = g_at(base + j, j);
        float xhat = (x[base + j] - mean) * rstd;
        vec2 a = s.xy, b = s.zw;
        if (MODE == LN_LAYER) {
            bn_add(a, g, 0.0);
        }
        bn_add(b, g * xhat, 0.0);
        s = vec4(a, b);
    }
}

void put(uint base, uint j, float mean, float rstd, float mg, float mgx)
{
    if (j < pc.cols) {
        float g = g_at(base + j, j);
        float xhat = (x[base + j] - mean) * rstd;
        dx[base + j] += rstd * ((g - mg) - xhat * mgx);
    }
}

void main()
{
    uint r = vkt_flat_group();
    if (r >= pc.rows) {
        return; // whole workgroup: the 2-D grid's tail
    }
    float mean = MODE == LN_LAYER ? stats[r] : 0.0;
    float rstd = MODE == LN_LAYER ? stats[pc.rows + r] : stats[r];
    uint base = r * pc.cols;
    uint wg = gl_WorkGroupSize.x, step = LN_UNROLL * wg;
    uint trips = (pc.cols + step - 1u) / step;
    vec4 s = vec4(0.0);
    for (uint i = 0u; i < trips; i++) {
        uint j = gl_LocalInvocationID.x + i * step;
        take(s, base, j, mean, rstd);
        take(s, base, j + wg, mean, rstd);
        take(s, base, j + 2u * wg, mean, rstd);
        take(s, base, j + 3u * wg, mean, rstd);
    }
    s = bn_workgroup_sum(s);
    float n = float(pc.cols);
    float mg = bn_value(s.xy) / n, mgx = bn_value(s.zw) / n;
    for (uint i = 0u; i < trips; i++) {
        uint j = gl_LocalInvocationID.x + i * step;
        put(base, j, mean, rstd, mg, mgx);
        put(base, j + wg, mean, rstd, mg, mgx);
        put(base, j + 2u * wg, mean, rstd, mg, mgx);
        put(base, j + 3u * wg, mean, rstd, mg, mgx);
    }
}
