/*
 * conv.h — internal entry point of vkt_conv2d (src/ops/conv.c), for the checks and the tests.
 *
 * vkt_conv2d works in chunks of images whose im2col matrix has at most VKT__CONV_COLS_LIMIT
 * floats (64 MiB) and VKT__CONV_MAX_ROWS rows; vkt__conv2d_ex takes the limit as an argument so a
 * small shape can exercise the chunked path. The tape node keeps the limit: the backward pass
 * chunks the same way.
 */
#ifndef VKT_OPS_CONV_H
#define VKT_OPS_CONV_H

#include "tensor/tensor_impl.h"

#define VKT__CONV_COLS_LIMIT (16 << 20) /* floats per chunk matrix: 64 MiB */
/* Rows (images * OH * OW) per chunk: the weight gradient's product runs over them, and the
 * regblock matmul's loop over its inner dimension (4 per iteration) must stay below the 65535
 * iterations after which lavapipe ends a loop. */
#define VKT__CONV_MAX_ROWS (1 << 17)

/* vkt_conv2d whose chunk matrices (im2col columns, matmul rows) hold at most cols_limit floats;
 * a chunk is at least one image whatever the limit. */
vkt_tensor *vkt__conv2d_ex(const vkt_tensor *x, const vkt_tensor *weight, const vkt_tensor *bias,
                           const vkt_conv2d_params *p, int32_t cols_limit);

#endif
