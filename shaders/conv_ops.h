// conv_ops.h — values of constant_id 1 (MODE) of shaders/conv_epilogue.comp, included by the
// shader and by src/ops/conv.c. Plain #defines only: this file is both GLSL and C (no VKT__ prefix:
// GLSL reserves identifiers with two consecutive underscores).
#ifndef CONV_OPS_H
#define CONV_OPS_H

// MODE of conv_epilogue.comp
#define CONV_EPI_SCATTER 0 // forward: y (N, C_out, OH, OW) slice = rows (M, C_out/g) + bias
#define CONV_EPI_GATHER 1  // backward: rows (M, C_out/g) = dy (N, C_out, OH, OW) slice

#endif
