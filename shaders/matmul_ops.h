// matmul_ops.h — values of constant_id 4 (EPI, bits) of shaders/matmul_texel.comp, included by the
// shader and by src/ops/matmul.c. Plain #defines only: this file is both GLSL and C.
#ifndef MATMUL_OPS_H
#define MATMUL_OPS_H

#define MATMUL_EPI_BIAS 1u      // C = acc + bias[j] (set 0 binding 3), as the product is stored
#define MATMUL_EPI_RELU 2u      // then max(C, 0)
#define MATMUL_EPI_BIAS_ROWS 4u // C = acc + bias[i]: one bias per row (of every batch)

#endif
