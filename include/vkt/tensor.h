/*
 * vkt/tensor.h — device tensors, ops and autograd.
 *
 * A tensor is a contiguous, row-major range of device memory with a dtype (f32 or i32) and up to
 * VKT_MAX_DIMS (6) dimensions. Ops are recorded into the device's current command buffer as they
 * are called; nothing runs until the device submits (see vkt/gpu.h). Ops that take a tensor
 * needing a gradient
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

#define VKT_MAX_DIMS 6

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
    VKT_TRANS_A = 1, /* use Aᵀ (the last two dimensions swapped) */
    VKT_TRANS_B = 2, /* use Bᵀ */
};

/**
 * C = op(A)·op(B), f32, as torch.matmul for operands of 2 or more dimensions: (M,K)·(K,N) -> (M,N)
 * and, batched, (..., M,K)·(..., K,N) -> (..., M,N), where both operands have the same leading
 * (batch) dimensions or one of them is 2-D and used by every batch (x (B,T,C)·W); that operand's
 * gradient is the sum over the batches. flags: VKT_TRANS_A | VKT_TRANS_B transpose the last two
 * dimensions (no copies). Errors name both shapes: fewer than 2 dimensions, batch dimensions that
 * differ, inner dimensions that differ.
 */
VKT_API vkt_tensor *vkt_matmul(const vkt_tensor *a, const vkt_tensor *b, int flags);
/** y[..., j] = x[..., j] + bias[j]; x (..., N), bias (N). */
VKT_API vkt_tensor *vkt_add_bias(const vkt_tensor *x, const vkt_tensor *bias);
/**
 * torch.nn.functional.linear: y = x·Wᵀ + bias for f32 x (N, in), W (out, in) and bias (out) or
 * NULL; y is (N, out). The same values as vkt_add_bias(vkt_matmul(x, w, VKT_TRANS_B), bias); on
 * CPU drivers the bias is added as the product is stored, one pass fewer over y each way.
 * Differentiable in x, w and bias. Sequential models use it for Linear layers.
 */
VKT_API vkt_tensor *vkt_linear(const vkt_tensor *x, const vkt_tensor *w, const vkt_tensor *bias);
/**
 * vkt_relu(vkt_linear(x, w, bias)) as one op (the same arguments and values): the ReLU is applied
 * as the product is stored and its mask computed once in the backward. Sequential models use it
 * for every Linear directly followed by ReLU.
 */
VKT_API vkt_tensor *vkt_linear_relu(const vkt_tensor *x, const vkt_tensor *w,
                                    const vkt_tensor *bias);
VKT_API vkt_tensor *vkt_relu(const vkt_tensor *x);
/** y = tanh(x), elementwise; x f32. */
VKT_API vkt_tensor *vkt_tanh(const vkt_tensor *x);
/**
 * Mean softmax cross-entropy over the batch: logits (B,C) f32, labels (B) i32 in [0,C).
 * Returns a one-element f32 tensor. A label outside [0,C) contributes a NaN loss. Keeps only
 * each row's max and log-sum: no (B,C) tensor but the logits' gradient (vkt_cross_entropy in
 * vkt/loss.h adds ignore_index and reductions); limits as vkt_cross_entropy's.
 */
VKT_API vkt_tensor *vkt_softmax_xent(const vkt_tensor *logits, const vkt_tensor *labels);
/**
 * Elementwise binary ops on f32 tensors with NumPy broadcasting: shapes are aligned at their last
 * dims, and each pair of sizes must match or one be 1 (that input repeats along the dim); missing
 * leading dims count as 1. The result has the broadcast shape, e.g. (3,1,5) and (4,5) give
 * (3,4,5). Differentiable in both inputs (a broadcast input's gradient is summed over the dims it
 * was repeated along).
 */
VKT_API vkt_tensor *vkt_add(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_sub(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_mul(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_div(const vkt_tensor *a, const vkt_tensor *b);
/** torch.maximum / torch.minimum: NaN propagates; on ties the gradient is split evenly. */
VKT_API vkt_tensor *vkt_maximum(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_minimum(const vkt_tensor *a, const vkt_tensor *b);
/** torch.pow(a, b): NaN for a < 0 with non-integral b; d/db is 0 where a = 0 and b >= 0. */
VKT_API vkt_tensor *vkt_pow(const vkt_tensor *a, const vkt_tensor *b);
/** Comparisons with broadcasting: f32 masks of 1 (true) and 0. Not differentiable. */
VKT_API vkt_tensor *vkt_eq(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_ne(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_lt(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_le(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_gt(const vkt_tensor *a, const vkt_tensor *b);
VKT_API vkt_tensor *vkt_ge(const vkt_tensor *a, const vkt_tensor *b);
/** cond != 0 ? a : b, all three broadcast together; f32 cond. Differentiable in a and b. */
VKT_API vkt_tensor *vkt_where(const vkt_tensor *cond, const vkt_tensor *a, const vkt_tensor *b);

/* Unary ops on f32 tensors of any shape, as torch; each differentiable. */
VKT_API vkt_tensor *vkt_scale(const vkt_tensor *a, float s);
/** y = x + s */
VKT_API vkt_tensor *vkt_add_scalar(const vkt_tensor *x, float s);
VKT_API vkt_tensor *vkt_exp(const vkt_tensor *x);
/** ln (torch.log; vkt_log is the trainer's logger), sqrt, rsqrt: NaN below 0; ln(0) = -inf,
 * rsqrt(0) = inf. */
VKT_API vkt_tensor *vkt_ln(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_sqrt(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_rsqrt(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_abs(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_neg(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_sigmoid(const vkt_tensor *x);
/** GELU, x Phi(x) with the exact normal CDF (torch's approximate='none'). */
VKT_API vkt_tensor *vkt_gelu(const vkt_tensor *x);
/** GELU's tanh approximation (torch's approximate='tanh'). */
VKT_API vkt_tensor *vkt_gelu_tanh(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_silu(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_leaky_relu(const vkt_tensor *x, float negative_slope);
VKT_API vkt_tensor *vkt_elu(const vkt_tensor *x, float alpha);
/** torch.clamp; a NaN or infinite bound is none. The gradient passes where min <= x <= max. */
VKT_API vkt_tensor *vkt_clamp(const vkt_tensor *x, float min, float max);
/** torch.pow(x, exponent) with a scalar exponent. */
VKT_API vkt_tensor *vkt_pow_scalar(const vkt_tensor *x, float exponent);
/** torch.nn.functional.softplus with beta 1, threshold 20: log(1 + e^x), x itself above 20. */
VKT_API vkt_tensor *vkt_softplus(const vkt_tensor *x);
VKT_API vkt_tensor *vkt_log1p(const vkt_tensor *x);

/** A copy converted to `dtype` (i32 -> f32 exactly; f32 -> i32 truncates). Not differentiable. */
VKT_API vkt_tensor *vkt_cast(const vkt_tensor *x, vkt_dtype dtype);
/** Rows of `n` tensors (same dtype and trailing dimensions) one after another: vkt_cat along
 * dimension 0, not recorded on the tape. */
VKT_API vkt_tensor *vkt_concat(const vkt_tensor *const *parts, uint32_t n);

/* ---- shape ops (src/ops/shape.c; docs/shape.md) ----------------------------------------------
 * As torch. Dimensions index from 0; a negative dim counts from the end (-1 is the last). Every
 * op below is differentiable, works on f32 and i32 (a gradient needs f32), and except
 * vkt_reshape / vkt_flatten (views) returns a new contiguous tensor. */

/** A view of x with `ndim` dimensions (one of them may be -1: inferred); shares x's memory. */
VKT_API vkt_tensor *vkt_reshape(const vkt_tensor *x, int ndim, const int64_t *shape);
/** Dimensions start_dim..end_dim (inclusive) merged into one; a view. */
VKT_API vkt_tensor *vkt_flatten(const vkt_tensor *x, int start_dim, int end_dim);
/** out.shape[i] = x.shape[dims[i]]; dims is a permutation of 0..ndim-1 (negatives allowed). */
VKT_API vkt_tensor *vkt_permute(const vkt_tensor *x, const int *dims);
/** Dimensions d0 and d1 swapped. */
VKT_API vkt_tensor *vkt_transpose(const vkt_tensor *x, int d0, int d1);
/** Elements start..start+length-1 of dimension dim (start may be negative: from the end). */
VKT_API vkt_tensor *vkt_narrow(const vkt_tensor *x, int dim, int64_t start, int64_t length);
/** x[..., start:end:step, ...] along dim, Python slice rules (negatives from the end, clamped);
 * step >= 1. An empty result is an error (tensors have no zero-size dimensions). */
VKT_API vkt_tensor *vkt_slice(const vkt_tensor *x, int dim, int64_t start, int64_t end,
                              int64_t step);
/** The n parts one after another along dim (same dtype, ndim and other dimensions). */
VKT_API vkt_tensor *vkt_cat(const vkt_tensor *const *parts, uint32_t n, int dim);
/** The n parts (same shape and dtype) stacked along a new dimension dim (0..ndim). */
VKT_API vkt_tensor *vkt_stack(const vkt_tensor *const *parts, uint32_t n, int dim);
/** Constant padding as torch.nn.functional.pad: pads = (last_lo, last_hi, prev_lo, prev_hi, ...)
 * for the last n_pads / 2 dimensions; negative pads crop. */
VKT_API vkt_tensor *vkt_pad(const vkt_tensor *x, int n_pads, const int64_t *pads, float value);
/** x broadcast to `shape` (torch's Tensor.expand, copied): dims of size 1 grow, new leading
 * dims are added; -1 keeps a dimension. */
VKT_API vkt_tensor *vkt_expand(const vkt_tensor *x, int ndim, const int64_t *shape);

/* ---- reductions along dimensions (src/ops/reduce_dim.c; docs/reductions.md) ------------------
 * f32 input; the reduced dimension is kept with size 1 when keepdim, else removed (a 1-D input
 * reduced without keepdim gives one element of shape [1]). */
VKT_API vkt_tensor *vkt_sum_dim(const vkt_tensor *x, int dim, bool keepdim);
VKT_API vkt_tensor *vkt_mean_dim(const vkt_tensor *x, int dim, bool keepdim);
/** Values of torch.max(x, dim) / torch.min(x, dim); NaN propagates. The gradient goes to the
 * first extreme element, as torch's. */
VKT_API vkt_tensor *vkt_max_dim(const vkt_tensor *x, int dim, bool keepdim);
VKT_API vkt_tensor *vkt_min_dim(const vkt_tensor *x, int dim, bool keepdim);
/** i32 indices along dim, the first on ties, NaN counting as extreme (torch). Not
 * differentiable. */
VKT_API vkt_tensor *vkt_argmax_dim(const vkt_tensor *x, int dim, bool keepdim);
VKT_API vkt_tensor *vkt_argmin_dim(const vkt_tensor *x, int dim, bool keepdim);
/** Variance / standard deviation with sum((x - mean)^2) / (N - correction); torch's default
 * correction is 1. N - correction <= 0 gives inf or NaN, as torch. */
VKT_API vkt_tensor *vkt_var_dim(const vkt_tensor *x, int dim, bool keepdim, float correction);
VKT_API vkt_tensor *vkt_std_dim(const vkt_tensor *x, int dim, bool keepdim, float correction);
/** Sum over every dimension d with bit d of `mask` set (bit 0 = dimension 0). */
VKT_API vkt_tensor *vkt_sum_dims(const vkt_tensor *x, uint32_t mask, bool keepdim);

/** Softmax / log-softmax along dim, numerically stable (the maximum is subtracted). */
VKT_API vkt_tensor *vkt_softmax(const vkt_tensor *x, int dim);
VKT_API vkt_tensor *vkt_log_softmax(const vkt_tensor *x, int dim);

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

/* ---- normalisation, dropout and random numbers (match torch.nn.functional) ------------------ */

typedef struct vkt_batch_norm_params {
    /* true: normalise with the batch's mean and biased variance and update the running
     * statistics; false: normalise with the running statistics (eval mode) */
    bool training;
    float momentum; /* running = (1 - momentum) running + momentum batch; 0 -> 0.1 (torch's) */
    float eps;      /* added to the variance; 0 -> 1e-5 */
    /* i32, one element, incremented on the device by every training call; may be NULL */
    vkt_tensor *num_batches_tracked;
} vkt_batch_norm_params;

/**
 * torch.nn.functional.batch_norm: x (N, C, *) f32 — (N, C) is BatchNorm1d, (N, C, H, W)
 * BatchNorm2d — normalised per channel over every other dimension, then y = xhat * weight[c] +
 * bias[c]. weight, bias, running_mean, running_var: f32 (C), each may be NULL (no affine part; no
 * running statistics). Training updates running_mean (batch mean) and running_var (unbiased batch
 * variance) in place on the device; it needs more than one value per channel (N * H * W > 1).
 * Eval mode needs both running statistics. `p` NULL: eval mode with the defaults.
 * Differentiable in x, weight and bias.
 */
VKT_API vkt_tensor *vkt_batch_norm(const vkt_tensor *x, const vkt_tensor *weight,
                                   const vkt_tensor *bias, vkt_tensor *running_mean,
                                   vkt_tensor *running_var, const vkt_batch_norm_params *p);
/**
 * vkt_relu(vkt_batch_norm(...)) as one op (the same arguments, running statistics and results):
 * the ReLU is applied in batch norm's output pass and its mask in batch norm's backward passes,
 * which saves a pass over the activation each way and keeps no separate pre-ReLU tensor.
 * Sequential models use it for every BatchNorm directly followed by ReLU.
 */
VKT_API vkt_tensor *vkt_batch_norm_relu(const vkt_tensor *x, const vkt_tensor *weight,
                                        const vkt_tensor *bias, vkt_tensor *running_mean,
                                        vkt_tensor *running_var, const vkt_batch_norm_params *p);

/**
 * torch.nn.functional.layer_norm(x, (C,), weight, bias, eps) over the last dimension C of f32 x
 * (any ndim >= 1): y = (x - mean) * rstd * weight + bias with the biased variance, rstd =
 * 1 / sqrt(var + eps); weight, bias (C) may each be NULL. eps 0 -> 1e-5. Rows of up to
 * 65536 * 256 elements (fewer on a device with smaller workgroups). Differentiable in x, weight
 * and bias.
 */
VKT_API vkt_tensor *vkt_layer_norm(const vkt_tensor *x, const vkt_tensor *weight,
                                   const vkt_tensor *bias, float eps);

/**
 * RMSNorm over the last dimension C of f32 x (any ndim >= 1): y = x * rsqrt(mean(x^2) + eps) *
 * weight (weight (C) or NULL). eps 0 -> 1e-6. Row limit as vkt_layer_norm. Differentiable in x
 * and weight.
 */
VKT_API vkt_tensor *vkt_rms_norm(const vkt_tensor *x, const vkt_tensor *weight, float eps);

/**
 * torch.nn.functional.dropout on f32 x of any shape: training, y = x * mask / (1 - p) with
 * mask[i] = (uniform i of the Philox stream (seed, offset) >= p), p rounded to a multiple of
 * 2^-24; dropped elements are exactly 0, p = 1 gives zeros. p = 0 or !training returns a copy of x
 * (a new tensor, never a view, so the graph stays connected). p in [0, 1]. Differentiable: the
 * backward regenerates the same mask. Use a new offset (advance it by numel) for a new mask.
 */
VKT_API vkt_tensor *vkt_dropout(const vkt_tensor *x, float p, uint64_t seed, uint64_t offset,
                                bool training);

/**
 * Tensors filled from the Philox4x32-10 stream: element i (row-major) uses the block at counter
 * offset + i (64 bits) with key `seed`, so values depend only on (seed, offset, i) — not on the
 * device, workgroup or subgroup size — and calls over disjoint [offset, offset + numel) ranges are
 * independent. Uniform: [0, 1) in steps of 2^-24 (word 0's top 24 bits). Normal: mean 0, standard
 * deviation 1, by Box-Muller on words 0 and 1. f32; not differentiable. vkt_dropout uses the same
 * stream: its mask at (seed, offset) is vkt_rand_uniform(seed, offset) >= p.
 */
VKT_API vkt_tensor *vkt_rand_uniform(vkt_device *dev, int ndim, const int64_t *shape,
                                     uint64_t seed, uint64_t offset);
VKT_API vkt_tensor *vkt_rand_normal(vkt_device *dev, int ndim, const int64_t *shape,
                                    uint64_t seed, uint64_t offset);

/* ---- convolution, pooling and upsampling on (N, C, H, W) f32 (match torch.nn.functional) -- */

typedef struct vkt_conv2d_params {
    int32_t stride[2];   /* (h, w); 0 -> 1 */
    int32_t padding[2];  /* (h, w) zeros on each side; >= 0 */
    int32_t dilation[2]; /* (h, w); 0 -> 1 */
    int32_t groups;      /* 0 -> 1; divides C_in and C_out (C_in: depthwise) */
} vkt_conv2d_params;

/**
 * torch.nn.functional.conv2d: x (N, C_in, H, W), weight (C_out, C_in / groups, KH, KW), bias
 * (C_out) or NULL -> y (N, C_out, OH, OW) with OH = (H + 2 ph - dh (KH - 1) - 1) / sh + 1 (floor;
 * likewise OW), which must be >= 1. `p` NULL: stride 1, no padding, dilation 1, one group.
 * Differentiable in x, weight and bias. Deterministic (no atomics).
 */
VKT_API vkt_tensor *vkt_conv2d(const vkt_tensor *x, const vkt_tensor *weight,
                               const vkt_tensor *bias, const vkt_conv2d_params *p);

typedef struct vkt_pool2d_params {
    int32_t kernel[2];  /* (h, w); >= 1 */
    int32_t stride[2];  /* (h, w); 0 -> the kernel size (torch's default) */
    int32_t padding[2]; /* (h, w); at most half the kernel, as torch */
    /* avg_pool2d only: divide by the number of input elements in the window instead of the
     * window's size (false, the default, is torch's count_include_pad=True) */
    bool exclude_pad;
} vkt_pool2d_params;

/**
 * torch.nn.functional.max_pool2d (ceil_mode=False, dilation 1): x (N, C, H, W) -> (N, C, OH, OW),
 * OH = (H + 2 ph - KH) / sh + 1; padding counts as -inf; a NaN in a window is its maximum. The
 * argmax (first maximum in row-major window order) is kept for the backward, which sends each
 * output's gradient to it. Differentiable in x.
 */
VKT_API vkt_tensor *vkt_max_pool2d(const vkt_tensor *x, const vkt_pool2d_params *p);
/** torch.nn.functional.avg_pool2d (ceil_mode=False): shapes as vkt_max_pool2d; padding counts as
 * zeros, and in the divisor unless p->exclude_pad. Differentiable in x. */
VKT_API vkt_tensor *vkt_avg_pool2d(const vkt_tensor *x, const vkt_pool2d_params *p);
/** torch.nn.functional.adaptive_avg_pool2d: x (N, C, H, W) -> (N, C, oh, ow); output (i, j)
 * averages rows [floor(i H / oh), ceil((i + 1) H / oh)) and the same for columns. oh, ow >= 1
 * (they may exceed H, W). Differentiable in x. Windows too long for one shader loop are pooled
 * in two separable passes (columns, then rows); VKT_INVALID_ARGUMENT when even one axis needs more
 * (a window over about 60000 columns or 30000 rows, or one input in as many windows). */
VKT_API vkt_tensor *vkt_adaptive_avg_pool2d(const vkt_tensor *x, int64_t oh, int64_t ow);
/** torch.nn.functional.interpolate(mode='nearest') by integer factors: x (N, C, H, W) ->
 * (N, C, H * scale_h, W * scale_w), y[.., i, j] = x[.., i / scale_h, j / scale_w]; scales >= 1.
 * Differentiable in x. */
VKT_API vkt_tensor *vkt_upsample_nearest2d(const vkt_tensor *x, int32_t scale_h, int32_t scale_w);

/* ---- embedding (src/ops/embedding.c) -------------------------------------------------------- */

/**
 * torch.nn.functional.embedding: weight (V, D) f32, indices i32 of any shape (up to
 * VKT_MAX_DIMS-1 dims) -> (*indices.shape, D), out[i, :] = weight[indices[i], :]. An index outside
 * [0, V) gives a NaN row and no gradient. Differentiable in weight; the backward is deterministic
 * (no float atomics: the same inputs give bit-identical gradients whatever the subgroup size or
 * workgroup count). The backward accumulates into weight's gradient: rows no index names are
 * left as they are.
 */
VKT_API vkt_tensor *vkt_embedding(const vkt_tensor *weight, const vkt_tensor *indices);

/* ---- attention (src/ops/attention.c) ------------------------------------------------------ */

/* Which implementation runs vkt_attention (docs/ops.md, "Attention"). */
typedef enum vkt_attention_impl {
    /* the environment's VKT_ATTENTION (fused, unfused or auto) if set, else by device class:
     * unfused on CPU-type devices (lavapipe), fused elsewhere */
    VKT_ATTENTION_AUTO = 0,
    VKT_ATTENTION_FUSED,   /* the fused kernels where they run (D <= 128, 29 KiB shared memory) */
    VKT_ATTENTION_UNFUSED, /* matmul, softmax, dropout: keeps the (B, H, Tq, Tk) probabilities */
} vkt_attention_impl;

typedef struct vkt_attention_params {
    /* query i sees keys j <= i (torch is_causal=True: the top-left aligned lower triangle; needs
     * Tq == Tk) */
    bool causal;
    float scale;            /* 0 -> 1/sqrt(D) */
    /* f32 (Tq, Tk) added to the scores (0 / -inf for a boolean mask), or NULL */
    const vkt_tensor *mask;
    /* on the attention probabilities, 0 = none; torch's dropout semantics (scale 1/(1-p)) */
    float dropout_p;
    uint64_t seed, offset;  /* Philox stream of the dropout mask (as vkt_dropout) */
    vkt_attention_impl impl;
} vkt_attention_params;

/**
 * torch.nn.functional.scaled_dot_product_attention: q (B, H, Tq, D), k and v (B, H, Tk, D) f32 ->
 * (B, H, Tq, D). p NULL: not causal, no mask, no dropout. A row whose every score is -inf gives
 * NaN, as torch. Differentiable in q, k, v.
 * The dropout multiplier of score (b, h, i, j) is that of vkt_dropout on the (B, H, Tq, Tk)
 * scores: kept iff vkt_rand_uniform(seed, offset) at its flat index is >= p, then scaled by
 * 1 / (1 - p). Fused (FlashAttention-2: no (Tq, Tk) matrix is stored; the backward keeps only the
 * per-row logsumexp, B * H * Tq floats, and a reference to the mask) for D <= 128; larger head
 * dimensions, a device with under 29 KiB of shared memory, or p->impl choosing it (by default on
 * CPU-type devices, where it measures faster) run the unfused composition (batched matmul,
 * softmax and dropout), which keeps the probabilities for the backward.
 */
VKT_API vkt_tensor *vkt_attention(const vkt_tensor *q, const vkt_tensor *k, const vkt_tensor *v,
                                  const vkt_attention_params *p);

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
