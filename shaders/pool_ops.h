// pool_ops.h — values of constant_id 1 (MODE) of shaders/pool2d.comp and pool2d_backward.comp,
// included by the shaders and by src/ops/pool.c. Plain #defines only: this file is both GLSL and C
// (no VKT__ prefix: GLSL reserves identifiers with two consecutive underscores).
#ifndef POOL_OPS_H
#define POOL_OPS_H

#define POOL_MAX 0          // max_pool2d (argmax saved as i32 index into the H x W plane)
#define POOL_AVG 1          // avg_pool2d
#define POOL_ADAPTIVE_AVG 2 // adaptive_avg_pool2d
#define POOL_UPSAMPLE 3     // upsample_nearest2d by integer factors (sh, sw)
// backward only: max_pool2d whose windows tile the input (kernel = stride, no padding, H = OH * KH,
// W = OW * KW), one invocation per window writing its KH x KW inputs
#define POOL_MAX_TILED 4

#endif
