// softmax_xent_ops.h — flags of the softmax cross-entropy shaders (softmax_xent*.comp), shared by
// GLSL and C (src/ops/softmax_xent.c).
#ifndef VKT_SOFTMAX_XENT_OPS_H
#define VKT_SOFTMAX_XENT_OPS_H

#define XENT_HAS_IGNORE 1u // rows whose label is ignore_index count for nothing
#define XENT_SUM 2u        // mean pass: the sum, not the mean over the counted rows
#define XENT_PER_ROW 4u    // backward: gout holds one value per row (reduction none)
#define XENT_FUSED_MEAN 8u // softmax_xent_rows.comp: one workgroup that also writes the mean

// Rows of at most this many classes take softmax_xent_rows.comp (one invocation per row).
#define XENT_ROWS_MAX_COLS 64u

#endif
