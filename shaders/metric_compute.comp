#version 450
// metric_compute.comp — a metric's value from its state, on the device, in one workgroup and a
// fixed order (so the same state always gives the same bits).
// Dispatch: vkt_metric_compute (src/metrics/metrics.c). CPU reference: vkt__ref_metric_compute
// (src/ref/ref_metrics.c). Checks: src/check/check_metrics.c. Tests: tests/test_metrics.c.
//
// Specialization constants: 0 = workgroup size, 1 = METRIC, 2 = AVERAGE (values below).
// Bindings: 0 state (words; see metric_update.comp / metric_regression.comp), 1 out (f32).
//
// Classification (state: tp[C], predicted[C], target[C] as u32 counts), per class c:
//   ACCURACY, RECALL  tp / target    PRECISION  tp / predicted    F1  2 tp / (predicted + target)
// and 0 where the denominator is 0 (torchmetrics' zero_division = 0).
//   MICRO     the same with the counts summed over the classes first (exact integer sums)
//   MACRO     sum of the values of the classes that occur / their number; a class occurs when
//             predicted + target > 0 (= tp + fp + fn > 0), or with top_k > 1 when target > 0
//   WEIGHTED  sum of target * value / sum of target
//   NONE      out[c] = the value of class c
//   BINARY    out[0] = the value of class 1 (the positive class)
// Each invocation takes the classes c = t, t + WG, ... in order; the partial results are combined
// by a fixed shared-memory tree. The value sums are compensated (two-sum; rounding errors kept).
// Regression (state: hi, lo, count low, count high): (hi + lo) / count, NaN for count 0;
// RMSE takes the square root.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "metric_ops.h"
layout(constant_id = 1) const uint METRIC = M_ACCURACY;
layout(constant_id = 2) const uint AVERAGE = AVG_MICRO;

layout(set = 0, binding = 0) readonly buffer State { uint state[]; };
layout(set = 0, binding = 1) writeonly buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint classes;  // C
    uint top_k;
} pc;

#define QNAN uintBitsToFloat(0x7fc00000u)

// Per invocation: (hi, lo) value sum, weight sum, and the three count sums (micro).
shared float sh_hi[gl_WorkGroupSize.x];
shared float sh_lo[gl_WorkGroupSize.x];
shared uint sh_w[gl_WorkGroupSize.x];
shared uint sh_tp[gl_WorkGroupSize.x];
shared uint sh_pred[gl_WorkGroupSize.x];
shared uint sh_tgt[gl_WorkGroupSize.x];

float ratio(uint num, uint den)
{
    return den == 0u ? 0.0 : float(num) / float(den);
}

float value(uint tp, uint pred, uint tgt)
{
    if (METRIC == M_PRECISION) {
        return ratio(tp, pred);
    }
    if (METRIC == M_F1) {
        return ratio(2u * tp, pred + tgt);
    }
    return ratio(tp, tgt); // accuracy, recall
}

// (hi, lo) += (x_hi, x_lo) with the rounding error of hi + x_hi kept in lo (Neumaier).
void sum_add(inout float hi, inout float lo, float x_hi, float x_lo)
{
    precise float s = hi + x_hi;
    precise float e = abs(hi) >= abs(x_hi) ? (hi - s) + x_hi : (x_hi - s) + hi;
    precise float l = lo + x_lo + e;
    hi = s;
    lo = l;
}

void regression()
{
    if (gl_LocalInvocationID.x != 0u) {
        return;
    }
    float hi = uintBitsToFloat(state[0]), lo = uintBitsToFloat(state[1]);
    float count = float(state[3]) * 4294967296.0 + float(state[2]);
    bool finite = (floatBitsToUint(hi) & 0x7f800000u) != 0x7f800000u;
    precise float s = finite ? hi + lo : hi; // a non-finite hi is the answer (lo may be NaN)
    float v = count == 0.0 ? QNAN : s / count;
    o[0] = METRIC == M_RMSE ? sqrt(v) : v;
}

void main()
{
    if (METRIC >= M_MSE) {
        regression();
        return;
    }
    uint C = pc.classes;
    uint t = gl_LocalInvocationID.x;
    uint wg = gl_WorkGroupSize.x;
    if (AVERAGE == AVG_BINARY) {
        if (t == 0u) {
            o[0] = value(state[1], state[C + 1u], state[2u * C + 1u]);
        }
        return;
    }
    if (AVERAGE == AVG_NONE) {
        for (uint c = t; c < C; c += wg) {
            o[c] = value(state[c], state[C + c], state[2u * C + c]);
        }
        return;
    }
    float hi = 0.0, lo = 0.0;
    uint w = 0u, stp = 0u, spred = 0u, stgt = 0u;
    for (uint c = t; c < C; c += wg) {
        uint tp = state[c], pred = state[C + c], tgt = state[2u * C + c];
        if (AVERAGE == AVG_MICRO) {
            stp += tp;
            spred += pred;
            stgt += tgt;
        } else if (AVERAGE == AVG_MACRO) {
            bool occurs = pc.top_k > 1u ? tgt > 0u : pred + tgt > 0u;
            if (occurs) {
                sum_add(hi, lo, value(tp, pred, tgt), 0.0);
                w += 1u;
            }
        } else { // AVG_WEIGHTED
            precise float x = float(tgt) * value(tp, pred, tgt);
            sum_add(hi, lo, x, 0.0);
            w += tgt;
        }
    }
    sh_hi[t] = hi;
    sh_lo[t] = lo;
    sh_w[t] = w;
    sh_tp[t] = stp;
    sh_pred[t] = spred;
    sh_tgt[t] = stgt;
    barrier();
    // Largest power of two below wg; the tree works for any workgroup size.
    for (uint s = wg > 1u ? 1u << findMSB(wg - 1u) : 0u; s > 0u; s >>= 1) {
        if (t < s && t + s < wg) {
            float h = sh_hi[t], l = sh_lo[t];
            sum_add(h, l, sh_hi[t + s], sh_lo[t + s]);
            sh_hi[t] = h;
            sh_lo[t] = l;
            sh_w[t] += sh_w[t + s];
            sh_tp[t] += sh_tp[t + s];
            sh_pred[t] += sh_pred[t + s];
            sh_tgt[t] += sh_tgt[t + s];
        }
        barrier();
    }
    if (t != 0u) {
        return;
    }
    if (AVERAGE == AVG_MICRO) {
        o[0] = value(sh_tp[0], sh_pred[0], sh_tgt[0]);
    } else {
        precise float total = sh_hi[0] + sh_lo[0];
        o[0] = sh_w[0] == 0u ? 0.0 : total / float(sh_w[0]);
    }
}
