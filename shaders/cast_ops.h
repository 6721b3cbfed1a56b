// cast_ops.h — values of constant_id 1 (OP) of shaders/cast.comp, included by the shader and by
// src/ops/shape.c, so each code is written once. Plain #defines only: this file is both GLSL and C
// (no VKT__ prefix: GLSL reserves identifiers with two consecutive underscores).
#ifndef CAST_OPS_H
#define CAST_OPS_H

#define CAST_I32_TO_F32 0 // out = float(in)
#define CAST_F32_TO_I32 1 // out = int(in), truncation toward zero (torch's .to(torch.int32))

#endif
