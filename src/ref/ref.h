/*
 * ref.h — CPU reference implementations of every op, in plain C with double accumulation where
 * it matters. The checks (src/check) and the tests compare the shaders against these.
 * Naming: vkt__ref_<op>, same argument order as the op (outputs first, llm.c style).
 */
#ifndef VKT_REF_H
#define VKT_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "ops/op_table.h" /* VKT__OPS */
#include "vkt/data.h"     /* vkt_data_type */
#include "vkt/metrics.h" /* vkt_metric_desc */
#include "vkt/tensor.h" /* vkt_sgd_params, vkt_adam_params */

/* ---- the op table's elementwise ops (src/ops/op_table.h): vkt__ref_<name> of every UNARY,
 * BINARY and SCALAR row, declared from the table with the signature its generic checks call;
 * defined in src/ref/ref_<family>.c ---- */
#define VKT__REF_DECL_UNARY(name) void vkt__ref_##name(float *y, const float *x, int64_t n);
#define VKT__REF_DECL_BINARY(name)                                                                 \
    void vkt__ref_##name(float *y, const float *a, const float *b, int64_t n);
#define VKT__REF_DECL_BROADCAST(name) VKT__REF_DECL_BINARY(name)
#define VKT__REF_DECL_SCALAR(name) void vkt__ref_##name(float *y, const float *x, float s, int64_t n);
#define VKT__REF_DECL_REDUCE(name)
#define VKT__REF_DECL_CUSTOM(name)
#define VKT__REF_DECL(OP, name, kind, ...) VKT__REF_DECL_##kind(name)
VKT__OPS(VKT__REF_DECL)
#undef VKT__REF_DECL

/* ---- other elementwise kernels (src/ref/ref_elementwise.c) ---- */
/* out = x broadcast (NumPy rules) from xshape to oshape (xnd <= ond). */
void vkt__ref_broadcast_to(float *out, const float *x, int xnd, const int64_t *xshape, int ond,
                           const int64_t *oshape);
/* out = x summed (in double) over the dims where oshape (right-aligned) has 1 and xshape not;
 * false on out of memory. */
bool vkt__ref_sum_to_shape(float *out, const float *x, int xnd, const int64_t *xshape, int ond,
                           const int64_t *oshape);
/* Comparison masks: op 0..5 = eq, ne, lt, le, gt, ge; y = 1 or 0. */
void vkt__ref_compare(float *y, const float *a, const float *b, int op, int64_t n);
/* y = cond != 0 ? a : b (same shapes). */
void vkt__ref_where(float *y, const float *cond, const float *a, const float *b, int64_t n);
/* torch.clamp; NaN bounds are none. */
void vkt__ref_clamp(float *y, const float *x, float min, float max, int64_t n);
void vkt__ref_relu_backward(float *dx, const float *dy, const float *x, int64_t n);
void vkt__ref_add_bias(float *out, const float *x, const float *bias, int64_t rows, int64_t cols);
void vkt__ref_sum_cols(float *out, const float *x, int64_t rows, int64_t cols);
void vkt__ref_cast_i32_f32(float *out, const int32_t *x, int64_t n);
void vkt__ref_cast_f32_i32(int32_t *out, const float *x, int64_t n);

/* ---- softmax cross-entropy (src/ref/ref_xent.c); logits (rows, cols), labels (rows) ---- */
/* *loss = mean over rows of logsumexp(row) - row[label] (NaN for a label outside [0, cols)). */
void vkt__ref_softmax_xent(float *loss, const float *logits, const int32_t *labels, int64_t rows,
                           int64_t cols);
/* dlogits = gout / rows * (softmax(row) - onehot(label)); a row with a bad label is NaN. */
void vkt__ref_softmax_xent_backward(float *dlogits, const float *logits, const int32_t *labels,
                                    float gout, int64_t rows, int64_t cols);

/* loss[i] = logsumexp(row i) - row[label] in double; 0 for a label equal to ignore_index (when
 * has_ignore), NaN for another label outside [0, cols). */
void vkt__ref_xent_rows(double *loss, const float *logits, const int32_t *labels, int64_t rows,
                        int64_t cols, bool has_ignore, int32_t ignore_index);
/* d[j] = g * (softmax(x)[j] - (j == label)) for one row x (cols); 0 for an ignored label, NaN for
 * another bad one. */
void vkt__ref_xent_row_grad(double *d, const float *x, int32_t label, int64_t cols, double g,
                            bool has_ignore, int32_t ignore_index);

/* ---- losses (src/ref/ref_loss.c) ---- */
/* The NLL_ROWS kernel: loss[i] = -((1 - smoothing) w[t] lp[i, t] + smoothing / C sum_c w[c]
 * lp[i, c]), row_weight[i] = w[t]; 0 and 0 for t = ignore_index, NaN for t outside [0, C);
 * weight may be NULL (1). */
void vkt__ref_nll_rows(float *loss, float *row_weight, const float *lp, const int32_t *targets,
                       const float *weight, int32_t ignore_index, float smoothing, int64_t rows,
                       int64_t cols);

/* ---- optimizer steps (src/ref/ref_optim.c): in place, torch.optim's f32 arithmetic ---- */
void vkt__ref_sgd_step(float *param, float *momentum_buf, const float *grad,
                       const vkt_sgd_params *p, int64_t n);
void vkt__ref_adam_step(float *param, float *m, float *v, const float *grad,
                        const vkt_adam_params *p, int64_t n);
/* ---- reductions (src/ref/ref_reduce.c); whole-tensor versions are rows = 1, cols = n ---- */
/* Row sums in double, and the row sums of |x| (the scale of the rounding error; may be NULL). */
void vkt__ref_sum_rows(double *sum, double *abs_sum, const float *x, int64_t rows, int64_t cols);
void vkt__ref_sum(double *sum, double *abs_sum, const float *x, int64_t n);
/* max / min of each row; a NaN in the row makes the result NaN (torch.max / torch.amax). */
void vkt__ref_max_rows(float *out, const float *x, int64_t rows, int64_t cols);
void vkt__ref_min_rows(float *out, const float *x, int64_t rows, int64_t cols);
void vkt__ref_max(float *out, const float *x, int64_t n);
void vkt__ref_min(float *out, const float *x, int64_t n);
/* First index of each row's maximum; a NaN counts as the maximum (torch.argmax). */
void vkt__ref_argmax_rows(int32_t *out, const float *x, int64_t rows, int64_t cols);
void vkt__ref_argmax(int32_t *out, const float *x, int64_t n);
/* First index of each row's minimum; a NaN counts as the minimum (the index min backward uses). */
void vkt__ref_argmin_rows(int32_t *out, const float *x, int64_t rows, int64_t cols);
/* Number of i with a[i] == b[i] (float compare: NaN != NaN, -0 == +0). */
void vkt__ref_count_equal_f32(int32_t *out, const float *a, const float *b, int64_t n);
void vkt__ref_count_equal_i32(int32_t *out, const int32_t *a, const int32_t *b, int64_t n);
/* sum/mean backward: dx[r, j] += gout[r] / div (div = 1 for sum, cols for mean). */
void vkt__ref_reduce_broadcast_backward(float *dx, const float *gout, float div, int64_t rows,
                                        int64_t cols);
/* max/min backward: dx[r, idx[r]] += gout[r]. */
void vkt__ref_reduce_scatter_backward(float *dx, const float *gout, const int32_t *idx,
                                      int64_t rows, int64_t cols);
/* ---- shape ops, reductions along a dimension, softmax (src/ref/ref_shape.c) ----
 * Tensors are row-major with `ndim` dimensions of `shape`; "along dim" means x viewed as
 * (outer, len, inner) around it. */
/* out.shape[d] = shape[perm[d]] */
void vkt__ref_permute(float *out, const float *x, int ndim, const int64_t *shape, const int *perm);
/* elements start, start + step, ... (len of them) of dimension dim */
void vkt__ref_slice(float *out, const float *x, int ndim, const int64_t *shape, int dim,
                    int64_t start, int64_t len, int64_t step);
/* cat: parts of `shape` except dim = lens[p]; stack: n parts of `shape`, new dimension dim */
void vkt__ref_cat(float *out, const float *const *parts, const int64_t *lens, int n, int ndim,
                  const int64_t *shape, int dim, bool stack);
/* torch.nn.functional.pad, constant mode (negative pads crop) */
void vkt__ref_pad(float *out, const float *x, int ndim, const int64_t *shape, int n_pads,
                  const int64_t *pads, float value);
/* x (xndim, xshape) broadcast to (ndim, shape) */
void vkt__ref_expand(float *out, const float *x, int xndim, const int64_t *xshape, int ndim,
                     const int64_t *shape);
/* sums over the dimensions in mask, in double, laid out as the keepdim shape */
void vkt__ref_sum_dims(double *out, const float *x, int ndim, const int64_t *shape, uint32_t mask);
typedef enum vkt__ref_dim_op {
    VKT__REF_DIM_SUM,
    VKT__REF_DIM_MEAN,
    VKT__REF_DIM_MAX, /* value and first index; NaN is the maximum */
    VKT__REF_DIM_MIN, /* value and first index; NaN is the minimum */
    VKT__REF_DIM_VAR, /* sum((x - mean)^2) / max(0, len - correction) */
    VKT__REF_DIM_STD,
} vkt__ref_dim_op;
/* out (outer * inner values; may be NULL for max/min) and idx (max/min only; may be NULL) */
void vkt__ref_reduce_dim(float *out, int32_t *idx, const float *x, int64_t outer, int64_t len,
                         int64_t inner, vkt__ref_dim_op op, float correction);
void vkt__ref_softmax(float *out, const float *x, int64_t outer, int64_t len, int64_t inner,
                      bool log_softmax);

/* ---- gradient clipping (src/ref/ref_clip.c); in place, returns the L2 norm ---- */
float vkt__ref_clip_grad_norm(float *g, int64_t n, float max_norm);
void vkt__ref_clip_grad_value(float *g, int64_t n, float clip);

/* ---- epoch-store folds (src/ref/ref_store.c): op 0 sum, 1 max, 2 min, 3 mean (+ M2) ---- */
void vkt__ref_store_fold(float *acc, float *m2, const float *x, int64_t rows, int64_t cols, int op);

/* ---- data (src/ref/ref_data.c) ---- */
/* One batch of vkt_loader (shaders/gather_batch.comp). Row r is stored sample
 * q = by_id ? ids[perm[start + r]] : perm[start + r]; ids[perm[start + r]] is its dataset index,
 * which keys its augmentation. */
typedef struct vkt__gather_args {
    const void *x, *y;           /* stored samples and targets */
    vkt_data_type x_type, y_type;
    const uint32_t *perm, *ids;
    bool by_id;
    uint32_t start, rows;
    uint32_t in_features;        /* elements of a stored sample */
    uint32_t features;           /* elements of an output sample */
    uint32_t targets;            /* target elements per sample */
    uint32_t channels;           /* scale/bias entries; channel of output element k = k / inner */
    uint32_t inner;
    const float *scale, *bias;
    bool augment;                /* (C, h, w) samples cropped to (C, crop_h, crop_w) */
    uint32_t h, w, crop_h, crop_w, pad;
    bool hflip;
    uint64_t seed;
    uint32_t epoch;
} vkt__gather_args;
/* x (rows, features): f32 for u8/f32 samples (scale/bias applied); i32 for i32 samples, copied
 * (scale/bias unused). y (rows, targets) as 32-bit words (i32 labels or f32 bits). */
void vkt__ref_gather_batch(void *x, uint32_t *y, const vkt__gather_args *a);
/* The crop offsets and flip of dataset sample `id` in `epoch` (vkt_augment_desc). */
void vkt__ref_augment_draw(uint64_t seed, uint32_t epoch, uint32_t id, uint32_t range_y,
                           uint32_t range_x, uint32_t *oy, uint32_t *ox, bool *flip);

/* ---- matmul (src/ref/ref_matmul.c); flags VKT_TRANS_A / VKT_TRANS_B as in vkt_matmul ---- */
/* A batched product: for bt < batch, C[bt] (M, N) = op(A[bt]) (M, K) · op(B[bt]) (K, N), every
 * operand a run of batch matrices, except a shared one (a 2-D operand that every batch uses);
 * batch 1 is the plain 2-D product. */
typedef struct vkt__ref_mm {
    int64_t batch, M, N, K;
    int flags;
    bool a_shared, b_shared;
} vkt__ref_mm;
/* c (batch, M, N) */
void vkt__ref_matmul(float *c, const float *a, const float *b, const vkt__ref_mm *g);
/* s[bt, i, j] = sum_k |op(a)[bt, i, k] op(b)[bt, k, j]|: the scale of C's rounding error */
void vkt__ref_matmul_abs(double *s, const float *a, const float *b, const vkt__ref_mm *g);
/* da = dL/da and db = dL/db (stored like a and b; a shared operand's sums over the batches) for
 * L with dL/dC = gout (batch, M, N); da_abs / db_abs (may be NULL) get the matching sums of
 * absolute products */
void vkt__ref_matmul_backward(float *da, float *db, double *da_abs, double *db_abs,
                              const float *a, const float *b, const float *gout,
                              const vkt__ref_mm *g);

/* ---- the peak FMA kernel (src/ref/ref_peak.c; src/ops/peak_fma.h) ---- */
/* out[g], g < n: the sum of invocation g's chains after iters · VKT__PEAK_FMA_UNROLL steps of
 * x = fmaf(x, a, b), in the shader's order */
void vkt__ref_peak_fma(float *out, int64_t n, uint32_t iters, float a, float b);

/* ---- metrics (src/ref/ref_metrics.c): torchmetrics' update and compute on the host ---- */
/* The host twin of a vkt_metric: its desc with defaults filled in and its state, counted in 64
 * bits (per class, and as the [target][prediction] confusion matrix) and summed in double. */
typedef struct vkt__ref_metric {
    vkt_metric_desc desc;
    int64_t *tp, *predicted, *target; /* per class */
    int64_t *confmat;                 /* C * C */
    double err_sum;                   /* regression: sum of (p - t)^2 or |p - t| */
    int64_t count;                    /* regression: observations */
} vkt__ref_metric;
/* `desc` must be one vkt_metric_create accepts. False on out of memory. */
bool vkt__ref_metric_init(vkt__ref_metric *r, const vkt_metric_desc *desc);
void vkt__ref_metric_free(vkt__ref_metric *r);
/* One update with n samples (elements; rows of (n, C) scores). Exactly one of preds_f32 and
 * preds_i32 is given; target_i32 for classification, target_f32 for regression. */
void vkt__ref_metric_update(vkt__ref_metric *r, const float *preds_f32, const int32_t *preds_i32,
                            const int32_t *target_i32, const float *target_f32, int64_t n);
/* The value: one number, C (VKT_AVERAGE_NONE) or the C * C confusion matrix counts. */
void vkt__ref_metric_compute(double *out, const vkt__ref_metric *r);

/* ---- batch norm (src/ref/ref_norm.c); x (N, C, S), S = product of the dimensions after C ---- */
/* stats (2C: mean at c, invstd at C + c). training: the batch mean rounded to f32 (as the device
 * and torch store it), then the biased variance about that mean in double; running_mean /
 * running_var (may be NULL) updated as torch does (unbiased variance, `momentum`). Eval: from the
 * running statistics. */
void vkt__ref_batch_norm_stats(float *stats, float *running_mean, float *running_var,
                               const float *x, int64_t N, int64_t C, int64_t S, bool training,
                               float momentum, float eps);
/* y = (x - mean) * invstd * weight + bias from given stats, in double; weight / bias may be NULL
 * (1 and 0). */
void vkt__ref_batch_norm_apply(float *y, const float *x, const float *stats, const float *weight,
                               const float *bias, int64_t N, int64_t C, int64_t S);
/* Gradients from dy and the forward's stats; dx, dweight, dbias (each may be NULL) are
 * overwritten. training: the batch statistics' dependence on x is included; else the affine map. */
void vkt__ref_batch_norm_backward(float *dx, float *dweight, float *dbias, const float *dy,
                                  const float *x, const float *stats, const float *weight,
                                  int64_t N, int64_t C, int64_t S, bool training);

/* ---- layer norm and RMSNorm (src/ref/ref_norm.c); x (R, C), normalised over C ---- */
/* Per-row stats as vkt_layer_norm / vkt_rms_norm save them: rms false: stats (2R), the mean
 * rounded to f32 at r (as the device stores it), then rstd = 1 / sqrt(var + eps) at R + r with the
 * biased variance about that mean in double; rms true: stats (R), rstd = 1 / sqrt(mean(x^2) +
 * eps) at r. */
void vkt__ref_layer_norm_stats(float *stats, const float *x, int64_t R, int64_t C, float eps,
                               bool rms);
/* y = (x - mean) * rstd * weight + bias (rms: x * rstd * weight) from given stats, in double;
 * weight / bias may be NULL (1 and 0). */
void vkt__ref_layer_norm_apply(float *y, const float *x, const float *stats, const float *weight,
                               const float *bias, int64_t R, int64_t C, bool rms);
/* Gradients from dy and given stats, in double; dx, dweight, dbias (each may be NULL) are
 * overwritten. dx_mag (may be NULL): the size of dx's terms and of the sums in them,
 * rstd (|g| + mean|g| + |xhat| mean|g xhat|) with g = dy * weight: the scale of its rounding
 * errors, as dx cancels (rows of tiny variance) and so may the row means. */
void vkt__ref_layer_norm_backward(float *dx, double *dx_mag, float *dweight, float *dbias,
                                  const float *dy,
                                  const float *x, const float *stats, const float *weight,
                                  int64_t R, int64_t C, bool rms);

/* ---- random numbers and dropout (src/ref/ref_random.c): the Philox4x32-10 stream ---- */
/* One Philox4x32-10 block. */
void vkt__ref_philox(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2]);
/* out[4i + j] = word j of the block at counter (offset + i as 64 bits, c2, c3), key = seed. */
void vkt__ref_rand_bits(uint32_t *out, uint64_t seed, uint64_t offset, uint32_t c2, uint32_t c3,
                        int64_t n);
/* The uniforms of vkt_rand_uniform (bit-identical) and the normals of vkt_rand_normal (double
 * arithmetic: the device's log and cos are only as accurate as Vulkan requires). */
void vkt__ref_rand_uniform(float *out, uint64_t seed, uint64_t offset, int64_t n);
void vkt__ref_rand_normal(float *out, uint64_t seed, uint64_t offset, int64_t n);
/* Whether dropout keeps element i (offset + i of the stream) at drop probability p. */
bool vkt__ref_dropout_keep(float p, uint64_t seed, uint64_t offset, int64_t i);
/* out = keep ? x * scale : 0 (scale = 1 / (1 - p) in f32), bit-identical to vkt_dropout; also the
 * backward with x = dy. */
void vkt__ref_dropout(float *out, const float *x, float p, uint64_t seed, uint64_t offset,
                      int64_t n);

/* ---- convolution (src/ref/ref_conv.c) and pooling (src/ref/ref_pool.c) on (N, C, H, W) ---- */
typedef struct vkt__ref_conv_dims {
    int64_t n, c_in, h, w, c_out, kh, kw, oh, ow, groups;
    int64_t sh, sw, ph, pw, dh, dw;
} vkt__ref_conv_dims;
/* The dims of a conv2d of x (n, c_in, h, w) and weight (c_out, c_in / groups, kh, kw) with
 * params already defaulted (strides, dilations, groups >= 1); oh, ow by torch's formula. */
vkt__ref_conv_dims vkt__ref_conv_dims_of(const int64_t x_shape[4], const int64_t w_shape[4],
                                         const vkt_conv2d_params *p);
/* y (+ bias, may be NULL) in double; mag (may be NULL) = sum of |terms| (|x w|, |bias|) of each
 * output, the scale of its rounding error. */
void vkt__ref_conv2d(float *y, double *mag, const float *x, const float *w, const float *bias,
                     const vkt__ref_conv_dims *d);
/* dx, dw, db (each may be NULL) overwritten from dy, in double; the *_mag (may be NULL) are
 * the sums of |terms| of each. */
void vkt__ref_conv2d_backward(float *dx, double *dx_mag, float *dw, double *dw_mag, float *db,
                              double *db_mag, const float *dy, const float *x, const float *w,
                              const vkt__ref_conv_dims *d);

typedef struct vkt__ref_pool_dims {
    int64_t n, c, h, w, oh, ow;
    int64_t kh, kw, sh, sw, ph, pw; /* max / avg: window; upsample: sh, sw are the factors */
    bool exclude_pad;
} vkt__ref_pool_dims;
/* mode: POOL_* of shaders/pool_ops.h. y, and idx (max only; may be NULL) as torch. */
void vkt__ref_pool2d(float *y, int32_t *idx, const float *x, int mode,
                     const vkt__ref_pool_dims *d);
/* dx overwritten from dy, by scattering each output's gradient (the device gathers); idx is the
 * max pooling argmax. */
void vkt__ref_pool2d_backward(float *dx, const float *dy, const int32_t *idx, int mode,
                              const vkt__ref_pool_dims *d);

/* ---- embedding (src/ref/ref_embedding.c); weight (num, dim), n indices ---- */
/* out (n, dim) = weight rows; NaN rows for indices outside [0, num). */
void vkt__ref_embedding(float *out, const float *weight, const int32_t *indices, int64_t n,
                        int64_t num, int64_t dim);
/* grad (num, dim) += the weight gradient for gout (n, dim); out-of-range indices add nothing.
 * chunk > 0: in f32 in the device's order for that chunk (vkt__embedding_chunk), so the result
 * is bit-identical to the device's; chunk 0: each row's terms summed in double, and mag (num x
 * dim, may be NULL) gets their sums of |terms| (0 for rows no index names). False on out of
 * memory. */
bool vkt__ref_embedding_backward(float *grad, double *mag, const float *gout,
                                 const int32_t *indices, int64_t n, int64_t num, int64_t dim,
                                 int64_t chunk);

/* ---- scaled-dot-product attention (src/ref/ref_attention.c), in double ---- */
typedef struct vkt__ref_attention_args {
    int64_t bh, tq, tk, d; /* q (bh, tq, d), k and v (bh, tk, d), row-major */
    bool causal;
    float scale;       /* already defaulted */
    const float *mask; /* (tq, tk) or NULL */
    float p; /* dropout: the multipliers of vkt_dropout on the (bh, tq, tk) scores */
    uint64_t seed, offset;
} vkt__ref_attention_args;
/* out (bh, tq, d) = softmax(q kᵀ scale + mask) (dropped) v; lse (bh, tq) = the rows'
 * logsumexp (may be NULL). A row with no finite score gives NaN and lse -inf. False when out
 * of host memory (both functions allocate row buffers). */
bool vkt__ref_attention(const vkt__ref_attention_args *a, const float *q, const float *k,
                        const float *v, float *out, float *lse);
/* dq, dk, dv (overwritten) of sum(out * dout). */
bool vkt__ref_attention_backward(const vkt__ref_attention_args *a, const float *q,
                                 const float *k, const float *v, const float *dout, float *dq,
                                 float *dk, float *dv);

#endif
