#version 450
// elementwise.comp — one shader, one op per specialization (constant_id 1 = OP); the codes and
// what each computes are in elementwise_ops.h, shared with the dispatch code.
// With `accumulate` != 0 the result is added to out (gradient accumulation).
// Each invocation computes 4 consecutive elements and stores them as one vec4 (on lavapipe a
// vec4 store is several times faster than 4 scalar ones; bench/small_kernels measures it); the
// last invocation's n % 4 elements are stored through the scalar view, so no access leaves the
// binding's range. With TEXEL (CPU drivers) the whole quads read a and b through vec4 texel
// fetches, bits 1 / 2 of the constant (b's texels cover whole columns of the bias for
// EW_ADD_BIAS); on lavapipe a storage-buffer load is a loop over the SIMD lanes and a fetch one
// gather (docs/performance.md).
// Dispatch and backward: src/ops/elementwise.c. CPU reference: src/ref/ref_elementwise.c.
// Checks: src/check/check_elementwise.c and check_grad.c, driven by src/ops/op_table.h.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "elementwise_ops.h"
#include "math.glsl"
#include "pow.glsl"
layout(constant_id = 1) const uint OP = EW_MUL;
layout(constant_id = 2) const uint TEXEL = 0; // bit 0: a through At, bit 1: b through Bt

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) buffer Out { float o[]; };
layout(set = 0, binding = 2) buffer Out4 { vec4 o4[]; }; // the same binding, as vec4
layout(set = 1, binding = 0) uniform samplerBuffer At;    // a's range, when TEXEL says so
layout(set = 1, binding = 1) uniform samplerBuffer Bt;

float load_b(uint i, uint col)
{
    uint j = OP == EW_ADD_BIAS ? col : i;
    return (TEXEL & 2u) != 0 ? texelFetch(Bt, int(j / 4))[j % 4] : b[j];
}

layout(push_constant) uniform PC {
    uint n;
    uint cols;       // EW_ADD_BIAS only
    float alpha;     // the op's scalar: scale, slope, alpha, min, exponent
    uint accumulate;
    float beta;      // EW_CLAMP(_BACKWARD): max
} pc;

const float SQRT_2_OVER_PI = 0.79788456080286536;
const float GELU_KAPPA = 0.044715;

// The op's value at element i (every op but EW_MAX_INTO / EW_MIN_INTO); col = i % cols for
// EW_ADD_BIAS, kept by the caller without a division per element.
// The op on one element: x_in = a[i], y = b[i] (b[col] for EW_ADD_BIAS).
float value(float x_in, float y)
{
    float v = 0.0;
    if (OP == EW_MUL) {
        v = x_in * y;
    } else if (OP == EW_SCALE) {
        v = pc.alpha * x_in;
    } else if (OP == EW_RELU) {
        v = max(x_in, 0.0);
    } else if (OP == EW_RELU_BACKWARD) {
        v = y > 0.0 ? x_in : 0.0;
    } else if (OP == EW_ADD_BIAS) {
        v = x_in + y;
    } else if (OP == EW_TANH) {
        // from exp(-2|x|) <= 1, so large |x| saturates to +-1 instead of inf / inf; NaN stays NaN
        float e = exp(-2.0 * abs(x_in));
        float t = (1.0 - e) / (1.0 + e);
        v = x_in < 0.0 ? -t : t;
    } else if (OP == EW_TANH_BACKWARD) {
        v = x_in * (1.0 - y * y);
    } else if (OP == EW_EXP) {
        v = exp(x_in);
    } else if (OP == EW_DIV) {
        v = x_in / y;
    } else if (OP == EW_LOG) { // GLSL's log is undefined for x <= 0
        float x = x_in;
        v = x > 0.0 ? log(x) : x == 0.0 ? -vkt_inf() : vkt_nan();
    } else if (OP == EW_SQRT) {
        float x = x_in;
        v = x >= 0.0 ? sqrt(x) : vkt_nan();
    } else if (OP == EW_SQRT_BACKWARD) {
        v = x_in * 0.5 / y;
    } else if (OP == EW_RSQRT) {
        float x = x_in;
        v = x > 0.0 ? inversesqrt(x) : x == 0.0 ? vkt_inf() : vkt_nan();
    } else if (OP == EW_RSQRT_BACKWARD) {
        float y = y;
        v = -0.5 * x_in * y * y * y;
    } else if (OP == EW_ABS) {
        v = abs(x_in);
    } else if (OP == EW_ABS_BACKWARD) {
        v = x_in * sign(y);
    } else if (OP == EW_SIGMOID) {
        v = vkt_sigmoid(x_in);
    } else if (OP == EW_SIGMOID_BACKWARD) {
        v = x_in * y * (1.0 - y);
    } else if (OP == EW_GELU) {
        v = x_in * vkt_normal_cdf(x_in);
    } else if (OP == EW_GELU_BACKWARD) { // Phi(x) + x phi(x)
        float x = y;
        v = x_in * (vkt_normal_cdf(x) + x * 0.39894228040143268 * exp(-0.5 * x * x));
    } else if (OP == EW_GELU_TANH) { // 0.5 x (1 + tanh u) = x sigmoid(2u): no cancellation
        float x = x_in;
        float u = SQRT_2_OVER_PI * (x + GELU_KAPPA * x * x * x);
        v = x * vkt_sigmoid(2.0 * u);
    } else if (OP == EW_GELU_TANH_BACKWARD) { // s + 2 x s (1 - s) u', s = sigmoid(2u)
        float x = y;
        float u = SQRT_2_OVER_PI * (x + GELU_KAPPA * x * x * x);
        float du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_KAPPA * x * x);
        float s = vkt_sigmoid(2.0 * u);
        v = x_in * (s + 2.0 * x * s * (1.0 - s) * du);
    } else if (OP == EW_SILU) {
        v = x_in * vkt_sigmoid(x_in);
    } else if (OP == EW_SILU_BACKWARD) {
        float s = vkt_sigmoid(y);
        v = x_in * s * (1.0 + y * (1.0 - s));
    } else if (OP == EW_LEAKY_RELU) {
        v = x_in > 0.0 ? x_in : pc.alpha * x_in;
    } else if (OP == EW_LEAKY_RELU_BACKWARD) {
        v = y > 0.0 ? x_in : pc.alpha * x_in;
    } else if (OP == EW_ELU) {
        v = x_in > 0.0 ? x_in : pc.alpha * vkt_expm1(x_in);
    } else if (OP == EW_ELU_BACKWARD) {
        v = y > 0.0 ? x_in : x_in * pc.alpha * exp(y);
    } else if (OP == EW_CLAMP) { // NaN x stays NaN: both comparisons are false
        v = x_in;
        v = !isnan(pc.alpha) && v < pc.alpha ? pc.alpha : v;
        v = !isnan(pc.beta) && v > pc.beta ? pc.beta : v;
    } else if (OP == EW_CLAMP_BACKWARD) {
        float x = y;
        bool inside = (isnan(pc.alpha) || x >= pc.alpha) && (isnan(pc.beta) || x <= pc.beta);
        v = inside ? x_in : 0.0;
    } else if (OP == EW_POW_SCALAR) {
        v = vkt_pow(x_in, pc.alpha);
    } else if (OP == EW_POW_SCALAR_BACKWARD) {
        v = pc.alpha == 0.0 ? 0.0 : x_in * pc.alpha * vkt_pow(y, pc.alpha - 1.0);
    } else if (OP == EW_SOFTPLUS) { // log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
        float x = x_in;
        v = x > 20.0 ? x : max(x, 0.0) + vkt_log1p(exp(-abs(x)));
    } else if (OP == EW_SOFTPLUS_BACKWARD) {
        v = y > 20.0 ? x_in : x_in * vkt_sigmoid(y);
    } else if (OP == EW_LOG1P) {
        v = vkt_log1p(x_in);
    } else if (OP == EW_LOG1P_BACKWARD) {
        v = x_in / (1.0 + y);
    } else if (OP == EW_ADD_SCALAR) {
        v = x_in + pc.alpha;
    }
    return v;
}

void main()
{
    uint base = 4 * vkt_global_index();
    if (base >= pc.n) {
        return;
    }
    uint count = min(4u, pc.n - base);
    if (OP == EW_MAX_INTO || OP == EW_MIN_INTO) {
        for (uint k = 0; k < count; k++) {
            uint i = base + k;
            float x = a[i], y = o[i];
            if (isnan(x) || isnan(y)) {
                o[i] = isnan(x) ? x : y;
            } else {
                o[i] = OP == EW_MAX_INTO ? max(x, y) : min(x, y);
            }
        }
        return;
    }
    uint col = OP == EW_ADD_BIAS ? base % pc.cols : 0;
    if (count == 4) {
        vec4 x = vec4(0.0), y = vec4(0.0);
        if ((TEXEL & 1u) != 0) {
            x = texelFetch(At, int(base / 4));
        }
        if ((TEXEL & 2u) != 0 && OP != EW_ADD_BIAS) {
            y = texelFetch(Bt, int(base / 4));
        }
        vec4 v;
        for (uint k = 0; k < 4; k++) {
            float xk = (TEXEL & 1u) != 0 ? x[k] : a[base + k];
            float yk = (TEXEL & 2u) != 0 && OP != EW_ADD_BIAS ? y[k] : load_b(base + k, col);
            v[k] = value(xk, yk);
            col = col + 1 == pc.cols ? 0 : col + 1;
        }
        if (pc.accumulate != 0) {
            v += o4[base / 4];
        }
        o4[base / 4] = v;
        return;
    }
    for (uint k = 0; k < count; k++) {
        float v = value(a[base + k], OP == EW_ADD_BIAS ? b[col] : b[base + k]);
        col = col + 1 == pc.cols ? 0 : col + 1;
        if (pc.accumulate != 0) {
            v += o[base + k];
        }
        o[base + k] = v;
    }
}
