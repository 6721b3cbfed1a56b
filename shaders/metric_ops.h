// metric_ops.h — values of the specialization constants of shaders/metric_update.comp (PRED,
// STATE), metric_regression.comp (OP) and metric_compute.comp (METRIC, AVERAGE), included by the
// shaders and by src/metrics/metrics.c, so each code is written once. Plain #defines only: this
// file is both GLSL and C (no VKT__ prefix: GLSL reserves identifiers with two consecutive
// underscores).
#ifndef METRIC_OPS_H
#define METRIC_OPS_H

// PRED (constant_id 1) and STATE (constant_id 2) of metric_update.comp
#define PRED_LABELS 0     // i32 class labels, one per sample
#define PRED_SCORES 1     // f32 (n, classes) scores: argmax, or the top_k rule
#define PRED_BINARY_F32 2 // f32 probabilities / logits: positive when (sigmoid?)(p) > threshold
#define PRED_BINARY_I32 3 // i32 labels in {0, 1}
#define STATE_COUNTS 0    // state[c] = tp, state[C + c] = predicted as c, state[2C + c] = target c
#define STATE_CONFMAT 1   // state[target * C + prediction]

// OP (constant_id 1) of metric_regression.comp
#define REG_SQUARED_ERROR 0
#define REG_ABSOLUTE_ERROR 1
#define REG_ACCUMULATE 2

// METRIC (constant_id 1) and AVERAGE (constant_id 2) of metric_compute.comp
#define M_ACCURACY 0
#define M_PRECISION 1
#define M_RECALL 2
#define M_F1 3
#define M_MSE 4
#define M_MAE 5
#define M_RMSE 6
#define AVG_MICRO 0
#define AVG_MACRO 1
#define AVG_WEIGHTED 2
#define AVG_NONE 3
#define AVG_BINARY 4

#endif
