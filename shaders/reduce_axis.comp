#version 450
// reduce_axis.comp — reductions along a non-contiguous dimension: x is viewed as
// (outer, len, inner) and invocation (o, i) reduces x[o, 0..len, i] alone, walking the reduced
// dimension with stride `inner` in increasing order (so neighbouring invocations read
// neighbouring words), and writes output o * inner + i. The order is fixed: deterministic, no
// atomics. Used when there are enough outputs to fill the device (src/ops/reduce_dim.c says when;
// otherwise the dimension is permuted last and the row reductions of reduce.glsl run).
//   RA_SUM     Neumaier compensated sum (as reduce.glsl), written as (hi + lo) / div
//   RA_ARGMAX  (value, first index) of the maximum of x (or of -x with negate: min); NaN counts
//              as the maximum (torch.argmax / torch.max(x, dim)); writes the index to out1 and,
//              with write_value, the value (negated back) to out0
// len is at most 32768: lavapipe (gallivm) ends a loop after 65535 iterations in total (nesting
// does not help), which silently truncated a 10^5-long walk; longer dimensions are permuted and
// row-reduced instead.
// Specialization constants: 0 = workgroup size, 1 = OP (codes: axis_ops.h).
// Dispatch: reduce_axis in src/ops/reduce_dim.c. Reference: vkt__ref_reduce_dim in
// src/ref/ref_shape.c. Checks: src/check/check_shape.c. Design: docs/reductions.md.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "axis_ops.h"
layout(constant_id = 1) const uint OP = RA_SUM;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) writeonly buffer Out0 { float out0[]; };
layout(set = 0, binding = 2) writeonly buffer Out1 { uint out1[]; };

layout(push_constant) uniform PC {
    uint outer;
    uint len;
    uint inner;
    uint negate;
    float div;
    uint write_value;
} pc;

bool is_nan(float v)
{
    return (floatBitsToUint(v) & 0x7fffffffu) > 0x7f800000u;
}

bool is_finite(float v)
{
    return (floatBitsToUint(v) & 0x7f800000u) != 0x7f800000u;
}

void main()
{
    uint r = vkt_global_index();
    if (r >= pc.outer * pc.inner) {
        return;
    }
    uint o = r / pc.inner, i = r - o * pc.inner;
    uint base = o * pc.len * pc.inner + i;
    if (OP == RA_SUM) {
        precise float hi = 0.0, lo = 0.0;
        for (uint j = 0; j < pc.len; j++) {
            precise float v = x[base + j * pc.inner];
            precise float t = hi + v;
            precise float e = abs(hi) >= abs(v) ? (hi - t) + v : (v - t) + hi;
            lo += e;
            hi = t;
        }
        precise float s = is_finite(hi) ? hi + lo : hi;
        out0[r] = pc.div != 1.0 ? s / pc.div : s;
    } else {
        float sign = pc.negate != 0u ? -1.0 : 1.0;
        float best = sign * x[base];
        uint at = 0;
        for (uint j = 1; j < pc.len && !is_nan(best); j++) {
            float v = sign * x[base + j * pc.inner];
            if (is_nan(v) || v > best) {
                best = v;
                at = j;
            }
        }
        out1[r] = at;
        if (pc.write_value != 0u) {
            out0[r] = sign * best;
        }
    }
}
