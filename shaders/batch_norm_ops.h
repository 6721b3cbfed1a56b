// batch_norm_ops.h — values of constant_id 1 (MODE) of shaders/batch_norm_stats.comp and
// shaders/batch_norm_backward_apply.comp, included by the shaders and by src/ops/batch_norm.c, so
// each code is written once. Plain #defines only: this file is both GLSL and C (no VKT__ prefix:
// GLSL reserves identifiers with two consecutive underscores).
#ifndef BATCH_NORM_OPS_H
#define BATCH_NORM_OPS_H

// MODE of batch_norm_stats.comp
#define BN_STATS_BATCH 0   // the batch's statistics (training)
#define BN_STATS_RUNNING 1 // the running statistics (eval)

// MODE of batch_norm_backward_apply.comp
#define BN_BACKWARD_TRAIN 0
#define BN_BACKWARD_EVAL 1

#endif
