/*
 * vkt/tensor.h — device tensors, ops and autograd.
 *
 * A tensor is a contiguous, row-major range of device memory with a dtype (f32 or i32) and up to
 * four dimensions. Ops are recorded into the device's current command buffer as they are called;
 * nothing runs until the device submits (see vkt/gpu.h). Ops that take a tensor needing a gradient
 * also append a node to the device's tape, and vkt_backward() walks that tape in reverse.
 *
 *     vkt_scope_begin(dev);                                  // intermediates die at scope end
 *     vkt_tensor *h = vkt_relu(vkt_add_bias(vkt_matmul(x, w, 0), b));
 *     vkt_tensor *loss = vkt_softmax_xent(h, labels);
 *     if (!loss) { fprintf(stderr, "%s\n", vkt_last_error()); }
 *     vkt_backward(loss);                                    // w->grad, b->grad filled
 *     vkt_scope_end(dev);                                    // frees h, loss and the tape
 *
 * Ownership: every tensor returned by vkt_tensor_new* or by an op belongs to the caller, who frees
 * it with vkt_tensor_free, unless it was made inside a scope: then vkt_scope_end frees it (and
 * vkt_tensor_free before that is allowed too). Memory is returned to the device only after the
 * work that used it has finished.
 */
#ifndef VKT_TENSOR_H
#define VKT_TENSOR_H

#include "gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

#define VKT_MAX_DIMS 4

typedef enum vkt_dtype {
    VKT_DTYPE_DEFAULT = 0, /* f32 */
    VKT_F32,
    VKT_I32,
    _VKT_DTYPE_FORCE_U32 = 0x7FFFFFFF
} vkt_dtype;

typedef struct vkt_tensor vkt_tensor;

/* ---- creation, data, shape ------------------------------------------------------------------ */

/** A new uninitialised tensor; NULL on error (bad shape, too large, out of memory). */
VKT_API vkt_tensor *vkt_tensor_new(vkt_device *dev, vkt_dtype dtype, int ndim,
                                   const int64_t *shape);
VKT_API vkt_tensor *vkt_tensor_new_1d(vkt_device *dev, vkt_dtype dtype, int64_t n);
VKT_API vkt_tensor *vkt_tensor_new_2d(vkt_device *dev, vkt_dtype dtype, int64_t rows, int64_t cols);
/** A tensor sharing `base`'s memory: `ndim`/`shape` elements starting at element `offset`. */
VKT_API vkt_tensor *vkt_tensor_view(vkt_tensor *base, int64_t offset, int ndim,
                                    const int64_t *shape);
/** Drops the caller's reference; memory returns once no pending work or tape node uses it. */
VKT_API void vkt_tensor_free(vkt_tensor *t);

/** Copies `bytes` (must equal the tensor's byte size) from host memory; recorded, not waited on. */
VKT_API vkt_status vkt_tensor_upload(vkt_tensor *t, const void *src, size_t bytes);
/** Submits pending work, waits for it and copies the tensor into `dst` (`bytes` = byte size). */
VKT_API vkt_status vkt_tensor_download(const vkt_tensor *t, void *dst, size_t bytes);
/** Sets every element to `value` (converted to the dtype). */
VKT_API vkt_status vkt_fill(vkt_tensor *t, float value);
/** dst = src; same dtype and element count. */
VKT_API vkt_status vkt_copy(vkt_tensor *dst, const vkt_tensor *src);

VKT_API vkt_device *vkt_tensor_device(const vkt_tensor *t);
VKT_API vkt_dtype vkt_tensor_dtype(const vkt_tensor *t);
VKT_API int vkt_tensor_ndim(const vkt_tensor *t);
/** Size of dimension i; negative i counts from the end. */
VKT_API int64_t vkt_tensor_dim(const vkt_tensor *t, int i);
VKT_API int64_t vkt_tensor_numel(const vkt_tensor *t);
VKT_API size_t vkt_tensor_bytes(const vkt_tensor *t);
/** Writes "[3, 4] f32" into buf; returns buf. */
VKT_API const char *vkt_tensor_describe(const vkt_tensor *t, char *buf, size_t size);

/* ---- autograd -------------------------------------------------------------------------------- */

VKT_API void vkt_tensor_set_requires_grad(vkt_tensor *t, bool requires_grad);
VKT_API bool vkt_tensor_requires_grad(const vkt_tensor *t);
/** The gradient accumulated by vkt_backward; NULL before the first backward. */
VKT_API vkt_tensor *vkt_tensor_grad(const vkt_tensor *t);
/** Makes `grad` (same shape, f32, owned by the caller) the tensor's gradient storage. */
VKT_API vkt_status vkt_tensor_set_grad(vkt_tensor *t, vkt_tensor *grad);
/** Fills the tensor's gradient with zeros (no-op without one). */
VKT_API vkt_status vkt_zero_grad(vkt_tensor *t);
/**
 * Accumulates d(loss)/d(t) into t's gradient for every tensor t that requires it and that `loss`
 * depends on. `loss` must be an f32 tensor with one element. The tape stays until vkt_graph_clear
 * or the end of the scope that recorded it.
 */
VKT_API vkt_status vkt_backward(vkt_tensor *loss);
/** Drops every tape node (and the references nodes hold). */
VKT_API void vkt_graph_clear(vkt_device *dev);
/** Number of nodes on the device's tape. */
VKT_API size_t vkt_graph_size(const vkt_device *dev);

/**
 * Tensors made between begin and end (and tape nodes) are released at end. Scopes nest. Begin
 * fails with VKT_OUT_OF_HOST_MEMORY when the scope cannot be opened (also inside such a scope);
 * call vkt_scope_end for it all the same: it then closes nothing, and what was made in between
 * belongs to the enclosing scope.
 */
VKT_API vkt_status vkt_scope_begin(vkt_device *dev);
VKT_API void vkt_scope_end(vkt_device *dev);
/** Takes `t` out of the current scope: the caller owns it again. */
VKT_API vkt_tensor *vkt_tensor_keep(vkt_tensor *t);

/* ---- ops --------------------------------------------------------------------------------------
 * Each returns a new tensor, or NULL with the last error set. A NULL input gives NULL. */

enum {
    VKT_TRANS_A = 1, /* use Aᵀ */
    VKT_TRANS_B = 2, /* use Bᵀ */
};

/** C = op(A)·op(B); A, B 2-D f32. flags: VKT_TRANS_A | VKT_TRANS_B. (M,K)·(K,N) -> (M,N). */
VKT_API vkt_tensor *vkt_matmul(const vkt_tensor *a, const vkt_tensor *b, int flags);
/** y[i,j] = x[i,j] + bias[j]; x (M,N), bias (N). */
VKT_API vkt_tensor *vkt_add_bias(const vkt_tensor *x, const vkt_tensor *bias);
VKT_API vkt_tensor *vkt_relu(const vkt_tensor *x);
/**
 * Mean softmax cross-entropy over the batch: logits (B,C) f32, labels (B) i32 in [0,C).
 * Returns a one-element f32 tensor. A label outside [0,C) contributes a NaN loss.
 */
VKT_API vkt_tensor *vkt_softmax_xent(const vkt_tensor *logits, const vkt_tensor *labels);
/** Elementwise; same shape and dtype f32. */
VKT_API vkt_tensor *vkt_add(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_mul(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_scale(const vkt_tensor *a, float s);

/** A copy converted to `dtype` (i32 -> f32 exactly; f32 -> i32 truncates). Not differentiable. */
VKT_API vkt_tensor *vkt_cast(const vkt_tensor *x, vkt_dtype dtype);
/** Rows of `n` tensors (same dtype and trailing dimensions) one after another. Not differentiable.
 */
VKT_API vkt_tensor *vkt_concat(const vkt_tensor *const *parts, uint32_t n);

/**
 * In place, not recorded on the tape: dst += alpha * src (f32), or dst += src (i32, alpha 1).
 * Same element count and dtype. For device-side running sums (epoch loss, correct predictions).
 */
VKT_API vkt_status vkt_accumulate(vkt_tensor *dst, const vkt_tensor *src, float alpha);

/** Whole-tensor reductions to a one-element tensor (argmax: i32 flat index, first on ties). */
VKT_API vkt_tensor *vkt_sum(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_mean(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_max(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_min(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_argmax(const vkt_tensor *x);
/** Per-row reductions of a 2-D tensor (R,C) to (R). */
VKT_API vkt_tensor *vkt_sum_rows(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_mean_rows(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_max_rows(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_min_rows(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_argmax_rows(const vkt_tensor *x);
/** Number of positions where a[i] == b[i] (same shape, i32 or f32), as a one-element i32 tensor. */
VKT_API vkt_tensor *vkt_count_equal(const vkt_tensor *a, const vkt_tensor *b);

/* ---- optimizer steps (in place; match torch.optim's update formulas) ------------------------ */

typedef struct vkt_sgd_params {
    float lr;
    float momentum;      /* 0: plain SGD; momentum_buf may then be NULL */
    float dampening;
    float weight_decay;
    bool nesterov;
    bool first_step;     /* torch initialises the momentum buffer with the first gradient */
} vkt_sgd_params;

/** param -= lr * update(grad); param, grad, momentum_buf: same element count, f32. */
VKT_API vkt_status vkt_sgd_step(vkt_tensor *param, const vkt_tensor *grad, vkt_tensor *momentum_buf,
                                const vkt_sgd_params *p);

typedef struct vkt_adam_params {
    float lr;
    float beta1, beta2;  /* 0 -> 0.9, 0.999 */
    float eps;           /* 0 -> 1e-8 */
    float weight_decay;
    bool decoupled;      /* true: AdamW (decay applied to the weights), false: Adam (L2 in grad) */
    uint32_t step;       /* 1 for the first step: bias correction uses it */
} vkt_adam_params;

VKT_API vkt_status vkt_adam_step(vkt_tensor *param, const vkt_tensor *grad, vkt_tensor *m,
                                 vkt_tensor *v, const vkt_adam_params *p);

#ifdef __cplusplus
}
#endif
#endif
