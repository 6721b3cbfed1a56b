/*
 * reduce_dim.h — reductions along dimensions and the broadcast-along-an-axis kernels, shared by
 * src/ops/reduce_dim.c, src/ops/softmax.c and the backward of the shape ops (src/ops/shape.c).
 */
#ifndef VKT_OPS_REDUCE_DIM_H
#define VKT_OPS_REDUCE_DIM_H

#include "shaders/axis_ops.h"
#include "tensor/tensor_impl.h"

/* Row reductions of src/ops/reduce.c (multi-level, deterministic; docs/reductions.md): x as
 * (rows, cols) -> (rows). arg false: sum / div into out_val; arg true: the first index of the
 * maximum (of -x with negate) into out_idx and, if out_val, the value. */
vkt_status vkt__reduce_rows(const vkt_tensor *x, uint32_t rows, uint32_t cols, bool arg,
                            bool negate, float div, vkt_tensor *out_val, vkt_tensor *out_idx);

/* x viewed as (outer, len, inner) reduced over len into (outer * inner) outputs: the row
 * reductions when inner == 1, else the strided kernel or permute + row reductions (chosen in
 * reduce_dim.c). Same meaning of arg/negate/div/out_val/out_idx as vkt__reduce_rows. */
vkt_status vkt__reduce_axis(const vkt_tensor *x, int64_t outer, int64_t len, int64_t inner,
                            bool arg, bool negate, float div, vkt_tensor *out_val,
                            vkt_tensor *out_idx);

/* Test override of vkt__reduce_axis's choice for inner > 1: -1 automatic (the default), 0 permute
 * + row reductions, 1 the strided kernel. Process-wide; the checks set it and restore -1. */
void vkt__reduce_axis_force(int path);


/* out (+)= op(x, y, a, b) over out's elements, with out/x/y viewed as (outer, len, inner) and a, b
 * of (outer * inner) elements; op is an AX_* code of shaders/axis_ops.h; unused inputs NULL. */
vkt_status vkt__axis_pointwise(uint32_t op, const vkt_tensor *x, const vkt_tensor *y,
                               const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *out,
                               int64_t len, int64_t inner, float alpha, bool accumulate);

/* x's shape as (outer, len, inner) around dimension dim. */
void vkt__axis_split(const vkt_tensor *x, int dim, int64_t *outer, int64_t *len, int64_t *inner);


#endif
