/*
 * broadcast.h — NumPy broadcasting for the elementwise ops (src/ops/broadcast.c) and its
 * backward companion, the sum of a gradient over the broadcast dims (src/ops/sum_to_shape.c).
 */
#ifndef VKT_OPS_BROADCAST_H
#define VKT_OPS_BROADCAST_H

#include "tensor/tensor_impl.h"

/* The broadcast of a's and b's shapes (right-aligned; a size-1 dim stretches to the other's
 * size) into ndim / shape[VKT_MAX_DIMS]. False with VKT_SHAPE_MISMATCH naming both shapes and the
 * first dim that differs. */
bool vkt__broadcast_shape(const char *op, const vkt_tensor *a, const vkt_tensor *b, int *ndim,
                          int64_t *shape);

/* Whether `t` has exactly this shape. */
bool vkt__has_shape(const vkt_tensor *t, int ndim, const int64_t *shape);

/* out (+)= g summed down to `shape` (torch's sum_to_size): g's shape must broadcast from `shape`
 * (right-aligned, missing leading dims counting as 1; each dim of `shape` is 1 or equal to g's).
 * `out` has shape's element count, f32. The broadcast backward of the binary ops and of
 * vkt_expand. Deterministic: fixed order, chunked over the reduced dims
 * (shaders/sum_to_shape.comp). VKT_SHAPE_MISMATCH naming g when shapes do not fit. */
vkt_status vkt__sum_to_shape(const vkt_tensor *g, int ndim, const int64_t *shape, vkt_tensor *out,
                             bool accumulate);
/* The same, scaled: out (+)= alpha * sum. */
vkt_status vkt__sum_to_shape_scaled(const vkt_tensor *g, int ndim, const int64_t *shape,
                                    vkt_tensor *out, float alpha, bool accumulate);

#endif
