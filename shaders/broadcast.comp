#version 450
// broadcast.comp — elementwise ops on up to three inputs with NumPy broadcasting: invocation i is
// output element i (row-major over the output's dims); each input is read at sum_d c_d * s_k[d],
// where c_d is i's coordinate in dim d and s_k[d] input k's stride there (0 on broadcast dims).
// The host merges adjacent dims first, so same-shape inputs arrive as one dim with stride 1 (the
// contiguous fast path: no index arithmetic). Op codes: broadcast_ops.h.
// With `accumulate` != 0 the result is added to out.
// Dispatch: src/ops/broadcast.c. Reference: src/ref/ref_elementwise.c (after host broadcasting).
// Checks: src/check/check_elementwise.c and check_grad.c (BROADCAST rows of src/ops/op_table.h).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "broadcast_ops.h"
#include "pow.glsl"
layout(constant_id = 1) const uint OP = BC_ADD;

layout(set = 0, binding = 0) readonly buffer X0 { float x0[]; };
layout(set = 0, binding = 1) readonly buffer X1 { float x1[]; };
layout(set = 0, binding = 2) readonly buffer X2 { float x2[]; };
layout(set = 0, binding = 3) buffer Out { float o[]; };

layout(push_constant, std430) uniform PC {
    uint n;
    uint ndim;                   // merged dims, 1..BC_MAX_DIMS
    uint accumulate;
    uint shape[BC_MAX_DIMS];     // output dims, outermost first
    uint s0[BC_MAX_DIMS];        // element strides of x0, x1, x2 per output dim
    uint s1[BC_MAX_DIMS];
    uint s2[BC_MAX_DIMS];
} pc;

float nan_of(float a, float b)
{
    return isnan(a) ? a : b;
}

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    uint o0, o1, o2;
    if (pc.ndim == 1) {
        o0 = i * pc.s0[0];
        o1 = i * pc.s1[0];
        o2 = i * pc.s2[0];
    } else {
        o0 = 0;
        o1 = 0;
        o2 = 0;
        uint r = i;
        for (int d = int(pc.ndim) - 1; d >= 0; d--) {
            uint c = r % pc.shape[d];
            r /= pc.shape[d];
            o0 += c * pc.s0[d];
            o1 += c * pc.s1[d];
            o2 += c * pc.s2[d];
        }
    }
    float a = x0[o0];
    float b = x1[o1];
    float v;
    if (OP == BC_ADD) {
        v = a + b;
    } else if (OP == BC_SUB) {
        v = a - b;
    } else if (OP == BC_MUL) {
        v = a * b;
    } else if (OP == BC_DIV) {
        v = a / b;
    } else if (OP == BC_MAXIMUM) {
        v = isnan(a) || isnan(b) ? nan_of(a, b) : max(a, b);
    } else if (OP == BC_MINIMUM) {
        v = isnan(a) || isnan(b) ? nan_of(a, b) : min(a, b);
    } else if (OP == BC_POW) {
        v = vkt_pow(a, b);
    } else if (OP == BC_EQ) {
        v = a == b ? 1.0 : 0.0;
    } else if (OP == BC_NE) {
        v = a != b ? 1.0 : 0.0;
    } else if (OP == BC_LT) {
        v = a < b ? 1.0 : 0.0;
    } else if (OP == BC_LE) {
        v = a <= b ? 1.0 : 0.0;
    } else if (OP == BC_GT) {
        v = a > b ? 1.0 : 0.0;
    } else if (OP == BC_GE) {
        v = a >= b ? 1.0 : 0.0;
    } else if (OP == BC_WHERE) {
        v = a != 0.0 ? b : x2[o2];
    } else if (OP == BC_DIV_GRAD_B) {
        float c = x2[o2];
        v = -a * b / (c * c);
    } else if (OP == BC_MAXIMUM_GRAD) {
        float c = x2[o2];
        v = a * (b > c ? 1.0 : b == c ? 0.5 : 0.0);
    } else if (OP == BC_MINIMUM_GRAD) {
        float c = x2[o2];
        v = a * (b < c ? 1.0 : b == c ? 0.5 : 0.0);
    } else if (OP == BC_POW_GRAD_A) {
        float c = x2[o2];
        v = c == 0.0 ? 0.0 : a * c * vkt_pow(b, c - 1.0);
    } else if (OP == BC_POW_GRAD_B) {
        float c = x2[o2];
        v = b == 0.0 && c >= 0.0 ? 0.0 : a * vkt_pow(b, c) * log(b);
    } else if (OP == BC_WHERE_GRAD_A) {
        v = a != 0.0 ? b : 0.0;
    } else { // BC_WHERE_GRAD_B
        v = a != 0.0 ? 0.0 : b;
    }
    if (pc.accumulate != 0) {
        v += o[i];
    }
    o[i] = v;
}
