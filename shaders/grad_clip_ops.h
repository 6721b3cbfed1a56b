// grad_clip_ops.h — values of constant_id 1 (OP) of shaders/grad_clip.comp, included by the
// shader and by src/optim/clip.c, so each code is written once. Plain #defines only: this file is
// both GLSL and C (no VKT__ prefix: GLSL reserves identifiers with two consecutive underscores).
#ifndef GRAD_CLIP_OPS_H
#define GRAD_CLIP_OPS_H

#define CLIP_SCALE_BY_NORM 0 // g *= min(1, max_norm / (sqrt(sumsq) + 1e-6))  (clip_grad_norm_)
#define CLIP_CLAMP 1         // g = clamp(g, -clip, clip)                    (clip_grad_value_)

#endif
