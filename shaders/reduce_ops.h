// reduce_ops.h — values of constant_id 1 of shaders/reduce.glsl (OP) and
// shaders/reduce_backward.comp (MODE), included by the shaders and by src/ops/reduce.c, so each
// code is written once. Plain #defines only: this file is both GLSL and C (no VKT__ prefix: GLSL
// reserves identifiers with two consecutive underscores).
#ifndef REDUCE_OPS_H
#define REDUCE_OPS_H

// OP of reduce.glsl (reduce_sg.comp, reduce_smem.comp)
#define RED_SUM 0       // compensated (hi, lo) sum; the final level writes (hi + lo) / div
#define RED_MAX 1       // maximum; NaN propagates. min = -max(-x) with negate = 1
#define RED_ARGMAX 2    // (value, index) pairs; NaN counts as the maximum; lowest index on ties
#define RED_COUNT_F32 3 // number of a[i] == b[i] as floats (NaN != NaN, -0 == +0)
#define RED_COUNT_I32 4 // number of a[i] == b[i] as integers; also used for count partials

// MODE of reduce_backward.comp
#define RB_BROADCAST 0 // dx[r, j] += gout[r] / div
#define RB_SCATTER 1   // dx[r, idx[r]] += gout[r]

#endif
