#version 450
// metric_update.comp — the update of the classification metrics (accuracy, precision, recall, F1,
// confusion matrix): one invocation per sample works out the sample's (target, prediction) pair
// and counts it into the metric's i32 state with integer atomics, which are exact and do not
// depend on the order of the additions.
// Dispatch: vkt_metric_update (src/metrics/metrics.c). CPU reference: vkt__ref_metric_update
// (src/ref/ref_metrics.c). Checks: src/check/check_metrics.c. Tests: tests/test_metrics.c.
//
// Specialization constants:
//   0  workgroup size
//   1  PRED       how preds are read (PRED_* below)
//   2  STATE      what is counted (STATE_* below)
//   3  SMEM_BINS  > 0: the state has this many words and each workgroup counts into a shared copy
//                 first, then adds its non-zero words into the state (one atomic per word instead
//                 of one per sample); 0: the atomics go straight to the state buffer.
// Bindings: 0 preds (f32 or i32 words), 1 target (i32), 2 sigmoid flag (PRED_BINARY_F32: nonzero
// when the batch holds a value outside [0, 1]; written by metric_prob_check.comp), 3 state.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "metric_ops.h"
layout(constant_id = 1) const uint PRED = PRED_LABELS;
layout(constant_id = 2) const uint STATE = STATE_COUNTS;

layout(constant_id = 3) const uint SMEM_BINS = 0;
const uint SMEM_SIZE = SMEM_BINS > 0u ? SMEM_BINS : 1u;

layout(set = 0, binding = 0) readonly buffer Preds { uint preds[]; };
layout(set = 0, binding = 1) readonly buffer Target { uint target[]; }; // i32; negatives wrap
layout(set = 0, binding = 2) readonly buffer Flag { uint flag[]; };
layout(set = 0, binding = 3) buffer State { uint state[]; };

layout(push_constant) uniform PC {
    uint n;           // samples in the batch
    uint classes;     // C (2 for binary)
    uint top_k;       // PRED_SCORES: 1 = argmax
    float threshold;  // PRED_BINARY_F32
} pc;

shared uint bins[SMEM_SIZE];

bool is_nan(float x)
{
    return (floatBitsToUint(x) & 0x7fffffffu) > 0x7f800000u;
}

// Whether score (xv, column xi) ranks above (av, ai): NaN above everything (torch.argmax and
// torch.topk), then the larger value, then the lower index.
bool ranks_above(float xv, uint xi, float av, uint ai)
{
    bool xn = is_nan(xv), an = is_nan(av);
    if (xn != an) {
        return xn;
    }
    if (!xn && xv != av) {
        return xv > av;
    }
    return xi < ai;
}

void count(uint word)
{
    if (SMEM_BINS > 0u) {
        atomicAdd(bins[word], 1u);
    } else {
        atomicAdd(state[word], 1u);
    }
}

// Counts sample i, unless it is skipped (target or label prediction outside the classes).
void classify(uint i)
{
    uint C = pc.classes;
    // i32 values read as uint: a negative one wraps past every class and is skipped too
    uint tu = target[i];
    if (tu >= C) {
        return;
    }
    uint p;
    if (PRED == PRED_LABELS || PRED == PRED_BINARY_I32) {
        p = preds[i];
        if (p >= C) {
            return;
        }
    } else if (PRED == PRED_BINARY_F32) {
        float x = uintBitsToFloat(preds[i]);
        if (flag[0] != 0u) {
            x = 1.0 / (1.0 + exp(-x));
        }
        p = x > pc.threshold ? 1u : 0u;
    } else {
        uint base = i * C;
        float tv = uintBitsToFloat(preds[base + tu]);
        uint best = 0u;
        float bv = uintBitsToFloat(preds[base]);
        uint above = 0u; // scores ranked above the target's
        for (uint j = 0u; j < C; j++) {
            float v = uintBitsToFloat(preds[base + j]);
            if (j > 0u && ranks_above(v, j, bv, best)) {
                bv = v;
                best = j;
            }
            if (pc.top_k > 1u && ranks_above(v, j, tv, tu)) {
                above++;
            }
        }
        p = (pc.top_k > 1u && above < pc.top_k) ? tu : best;
    }
    if (STATE == STATE_CONFMAT) {
        count(tu * C + p);
    } else {
        if (p == tu) {
            count(tu);
        }
        count(C + p);
        count(2u * C + tu);
    }
}

void main()
{
    uint lid = gl_LocalInvocationID.x;
    uint wg = gl_WorkGroupSize.x;
    if (SMEM_BINS > 0u) {
        for (uint b = lid; b < SMEM_BINS; b += wg) {
            bins[b] = 0u;
        }
        barrier();
    }
    // No early return: every invocation must reach the barriers below.
    uint i = vkt_global_index();
    if (i < pc.n) {
        classify(i);
    }
    if (SMEM_BINS > 0u) {
        barrier();
        for (uint b = lid; b < SMEM_BINS; b += wg) {
            uint c = bins[b];
            if (c != 0u) {
                atomicAdd(state[b], c);
            }
        }
    }
}
