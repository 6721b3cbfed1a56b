// rand_ops.h — values of constant_id 1 (DIST) of shaders/rand.comp, included by the shader and by
// src/ops/random.c, so each code is written once. Plain #defines only: this file is both GLSL and
// C (no VKT__ prefix: GLSL reserves identifiers with two consecutive underscores).
#ifndef RAND_OPS_H
#define RAND_OPS_H

#define DIST_UNIFORM 0 // uniform in [0, 1)
#define DIST_NORMAL 1  // standard normal (Box-Muller)
#define DIST_BITS 2    // the raw Philox words

#endif
