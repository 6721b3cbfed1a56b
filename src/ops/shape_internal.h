/*
 * shape_internal.h — the strided copy every shape op runs on (src/ops/copy.c), the dimension
 * helpers the shape, reduce_dim and softmax files share, and the internal range view.
 */
#ifndef VKT_OPS_SHAPE_INTERNAL_H
#define VKT_OPS_SHAPE_INTERNAL_H

#include "tensor/tensor_impl.h"

/* An iteration shape with an element stride (and offset) into each of two tensors:
 * out[o_off + sum_d i_d * os[d]] (+)= in[i_off + sum_d i_d * is[d]]. Strides are >= 0. */
typedef struct vkt__strided {
    int ndim;
    int64_t size[VKT_MAX_DIMS];
    int64_t is[VKT_MAX_DIMS];
    int64_t os[VKT_MAX_DIMS];
    int64_t i_off, o_off;
} vkt__strided;

/* Records the copy (shaders/strided_copy.comp, or a transfer copy when it is one contiguous run
 * and not accumulating). `accumulate` adds into out (f32 only). The caller guarantees that no two
 * indices map to one output element and that every index stays inside both tensors. */
vkt_status vkt__strided_copy(const vkt_tensor *in, vkt_tensor *out, const vkt__strided *s,
                             bool accumulate);
/* The same copy with the roles swapped: in's layout becomes the output's and vice versa, i.e.
 * in'[i_off + ...is] (+)= out'[o_off + ...os]. The backward of an op whose forward was `s`. */
vkt_status vkt__strided_copy_back(const vkt_tensor *gout, vkt_tensor *gin, const vkt__strided *s,
                                  bool accumulate);

/* Elements [offset, offset + numel(shape)) of contiguous x as a tensor of `shape`: a view sharing
 * x's memory when the offset meets the device's storage-buffer alignment, else a copy of the range.
 * Differentiable either way: the gradient is accumulated into that range of x's gradient. Splits a
 * tensor along its leading dimension without a copy (vkt_gpt's q, k, v). Arguments trusted: the
 * range lies inside x. Test: the range_view_grad cases of src/check/check_shape.c. */
vkt_tensor *vkt__range_view(const vkt_tensor *x, int64_t offset, int ndim, const int64_t *shape);

/* Rows up to this long take the one-pass row kernels (shaders/softmax_rows.comp): an invocation
 * walks its row at most 3 times, below lavapipe's 65535 loop iterations (docs/shaders.md). */
#define VKT__SOFTMAX_ROWS_MAX_LEN 8192
/* softmax along the last dimension of scale * x, as vkt_softmax; with `causal` x's last two
 * dimensions are (Tq, Tk) scores with Tq == Tk and query i sees keys j <= i (the probabilities
 * beyond are 0): softmax(scale * q kᵀ + causal mask) in one dispatch, the backward in one.
 * Needs ndim >= 2 with causal and a last dimension of at most VKT__SOFTMAX_ROWS_MAX_LEN; the
 * caller checks (src/ops/attention_unfused.c). Differentiable in x (a VKT__OP_SOFTMAX node). */
vkt_tensor *vkt__softmax_scaled(const vkt_tensor *x, float scale, bool causal);

/* Row-major element strides of a shape. */
void vkt__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/* Normalises a possibly negative dimension index into [0, ndim); false with the error set
 * ("vkt_sum_dim: dim 4 is out of range for x [3, 4] f32 (ndim 2)") otherwise. */
bool vkt__norm_dim(const char *op, const vkt_tensor *x, int dim, int ndim, int *out);

#endif
