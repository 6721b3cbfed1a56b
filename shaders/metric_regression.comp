#version 450
// metric_regression.comp — the update of mean squared / absolute error, in two passes around a
// vkt_sum of the batch's errors (constant_id 1 = OP):
//   REG_SQUARED_ERROR   err[i] = (p[i] - t[i])^2
//   REG_ABSOLUTE_ERROR  err[i] = |p[i] - t[i]|
//   REG_ACCUMULATE      one invocation: state (hi, lo) += batch sum, Neumaier's two-sum keeping
//                       the rounding error of every addition in lo; state count (64-bit) += n
// The state is four words: hi (f32), lo (f32), count low, count high (u32).
// Dispatch: vkt_metric_update (src/metrics/metrics.c). CPU reference: vkt__ref_metric_update
// (src/ref/ref_metrics.c). Checks: src/check/check_metrics.c. Tests: tests/test_metrics.c.
// Bindings: 0 a (preds, or the batch sum), 1 b (target), 2 out (errors, or the state).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "metric_ops.h"
layout(constant_id = 1) const uint OP = REG_SQUARED_ERROR;

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) buffer Out { uint o[]; };

layout(push_constant) uniform PC {
    uint n;  // elements (errors), or observations added (accumulate)
} pc;

void main()
{
    uint i = vkt_global_index();
    if (OP == REG_ACCUMULATE) {
        if (i != 0u) {
            return;
        }
        float hi = uintBitsToFloat(o[0]), lo = uintBitsToFloat(o[1]);
        float x = a[0];
        // `precise`: no reassociation or contraction, which would lose the rounding error
        precise float s = hi + x;
        precise float e = abs(hi) >= abs(x) ? (hi - s) + x : (x - s) + hi;
        precise float l = lo + e;
        o[0] = floatBitsToUint(s);
        o[1] = floatBitsToUint(l);
        uint carry;
        o[2] = uaddCarry(o[2], pc.n, carry);
        o[3] += carry;
        return;
    }
    if (i >= pc.n) {
        return;
    }
    float d = a[i] - b[i];
    o[i] = floatBitsToUint(OP == REG_SQUARED_ERROR ? d * d : abs(d));
}
