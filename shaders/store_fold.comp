#version 450
// store_fold.comp — folds a batch x (rows, cols) into an epoch accumulator along the batch
// dimension; one invocation per column, rows in order, so results are deterministic
// (constant_id 1 = OP):
//   FOLD_SUM       acc[j] += sum_i x[i, j]
//   FOLD_MAX/MIN   acc[j] = max/min(acc[j], max/min_i x[i, j])      (NaN propagates)
//   FOLD_MEAN_VAR  Chan et al.'s parallel update of (mean, M2) with the batch's own two-pass
//                  (mean_b, M2_b):  d = mean_b - mean; n = n_a + n_b;
//                  mean += d * n_b / n;  M2 += M2_b + d^2 * n_a * n_b / n
// `init` != 0: the accumulator is empty (first batch of the epoch).
// Dispatch: src/train/store.c (vkt__store_fold). Reference: vkt__ref_store_fold. Checks:
// src/check/check_store.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "store_fold_ops.h"
layout(constant_id = 1) const uint OP = FOLD_SUM;

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Acc { float acc[]; };
layout(set = 0, binding = 2) buffer M2 { float m2[]; };

layout(push_constant) uniform PC {
    uint rows;
    uint cols;
    float n_a;     // rows already folded (FOLD_MEAN_VAR)
    uint init;
} pc;

float pick(float a, float b)
{
    if (isnan(a) || isnan(b)) {
        return isnan(a) ? a : b;
    }
    return OP == FOLD_MAX ? max(a, b) : min(a, b);
}

void main()
{
    uint j = vkt_global_index();
    if (j >= pc.cols) {
        return;
    }
    if (OP == FOLD_SUM) {
        precise float s = 0.0;
        for (uint i = 0; i < pc.rows; i++) {
            s += x[i * pc.cols + j];
        }
        acc[j] = pc.init != 0 ? s : acc[j] + s;
    } else if (OP == FOLD_MAX || OP == FOLD_MIN) {
        float m = x[j];
        for (uint i = 1; i < pc.rows; i++) {
            m = pick(m, x[i * pc.cols + j]);
        }
        acc[j] = pc.init != 0 ? m : pick(acc[j], m);
    } else {
        float nb = float(pc.rows);
        precise float s = 0.0;
        for (uint i = 0; i < pc.rows; i++) {
            s += x[i * pc.cols + j];
        }
        float mb = s / nb;
        precise float q = 0.0;
        for (uint i = 0; i < pc.rows; i++) {
            float d = x[i * pc.cols + j] - mb;
            q += d * d;
        }
        if (pc.init != 0) {
            acc[j] = mb;
            m2[j] = q;
        } else {
            float n = pc.n_a + nb;
            float d = mb - acc[j];
            acc[j] = acc[j] + d * (nb / n);
            m2[j] = m2[j] + q + d * d * (pc.n_a * nb / n);
        }
    }
}
