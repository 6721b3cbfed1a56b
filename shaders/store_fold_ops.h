// store_fold_ops.h — values of constant_id 1 (OP) of shaders/store_fold.comp, included by the
// shader and by src/train/store.c, so each code is written once. Plain #defines only: this file is
// both GLSL and C (no VKT__ prefix: GLSL reserves identifiers with two consecutive underscores).
#ifndef STORE_FOLD_OPS_H
#define STORE_FOLD_OPS_H

#define FOLD_SUM 0      // acc[j] += sum_i x[i, j]
#define FOLD_MAX 1      // acc[j] = max(acc[j], max_i x[i, j])  (NaN propagates)
#define FOLD_MIN 2      // acc[j] = min(acc[j], min_i x[i, j])
#define FOLD_MEAN_VAR 3 // parallel update of (mean, M2)

#endif
