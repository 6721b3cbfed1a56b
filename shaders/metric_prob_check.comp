#version 450
// metric_prob_check.comp — torchmetrics' binary input rule, on the device: sets flag[0] to 1 when
// any value of the batch lies outside [0, 1] (NaN included), in which case metric_update.comp
// passes every value of that batch through a sigmoid. flag[0] is zeroed by a fill before this
// dispatch; each workgroup ORs its own finding in once.
// Dispatch: vkt_metric_update (src/metrics/metrics.c, binary f32 preds). CPU reference:
// vkt__ref_metric_update (src/ref/ref_metrics.c). Checks: src/check/check_metrics.c.
// Tests: tests/test_metrics.c.
// Bindings: 0 preds (f32), 1 flag (one word, atomics).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Preds { float preds[]; };
layout(set = 0, binding = 1) buffer Flag { uint flag[]; };

layout(push_constant) uniform PC {
    uint n;
} pc;

shared uint outside;

void main()
{
    if (gl_LocalInvocationID.x == 0u) {
        outside = 0u;
    }
    barrier();
    uint i = vkt_global_index();
    if (i < pc.n) {
        float p = preds[i];
        bool nan = (floatBitsToUint(p) & 0x7fffffffu) > 0x7f800000u;
        if (nan || p < 0.0 || p > 1.0) {
            atomicOr(outside, 1u);
        }
    }
    barrier();
    if (gl_LocalInvocationID.x == 0u && outside != 0u) {
        atomicOr(flag[0], 1u);
    }
}
