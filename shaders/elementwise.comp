#version 450
// elementwise.comp — one shader, one op per specialization (constant_id 1 = OP):
//   OP_ADD           out = a + b
//   OP_MUL           out = a * b
//   OP_SCALE         out = alpha * a
//   OP_RELU          out = max(a, 0)
//   OP_RELU_BACKWARD out = b > 0 ? a : 0          (a = dy, b = x)
//   OP_ADD_BIAS      out = a + b[i % cols]        (a: (rows, cols), b: (cols))
//   OP_MAX_INTO      out = max(out, a)            (running epoch max; NaN propagates, as torch.max)
//   OP_MIN_INTO      out = min(out, a)
// With `accumulate` != 0 the result is added to out (gradient accumulation).
// Dispatch, CPU reference and tests: src/ops/elementwise.c, src/check/check_elementwise.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#define OP_ADD 0
#define OP_MUL 1
#define OP_SCALE 2
#define OP_RELU 3
#define OP_RELU_BACKWARD 4
#define OP_ADD_BIAS 5
#define OP_MAX_INTO 6
#define OP_MIN_INTO 7
layout(constant_id = 1) const uint OP = OP_ADD;

layout(set = 0, binding = 0) readonly buffer A { float a[]; };
layout(set = 0, binding = 1) readonly buffer B { float b[]; };
layout(set = 0, binding = 2) buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint n;
    uint cols;       // OP_ADD_BIAS only
    float alpha;     // OP_SCALE only
    uint accumulate;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    float v;
    if (OP == OP_ADD) {
        v = a[i] + b[i];
    } else if (OP == OP_MUL) {
        v = a[i] * b[i];
    } else if (OP == OP_SCALE) {
        v = pc.alpha * a[i];
    } else if (OP == OP_RELU) {
        v = max(a[i], 0.0);
    } else if (OP == OP_RELU_BACKWARD) {
        v = b[i] > 0.0 ? a[i] : 0.0;
    } else if (OP == OP_ADD_BIAS) {
        v = a[i] + b[i % pc.cols];
    } else {
        float x = a[i], y = o[i];
        if (isnan(x) || isnan(y)) {
            o[i] = isnan(x) ? x : y;
        } else {
            o[i] = OP == OP_MAX_INTO ? max(x, y) : min(x, y);
        }
        return;
    }
    if (pc.accumulate != 0) {
        v += o[i];
    }
    o[i] = v;
}
