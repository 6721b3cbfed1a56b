/*
 * vkt/loss.h — loss functions as torch.nn.functional: same formulas, defaults and reductions.
 *
 *     vkt_loss_desc d = {.label_smoothing = 0.1f};        // zeroed fields are torch's defaults
 *     vkt_tensor *loss = vkt_cross_entropy(logits, targets, &d);
 *
 * Each takes an optional descriptor (NULL = every default) and returns a new f32 tensor: one
 * element for mean and sum, the unreduced per-element (per-row) losses for VKT_REDUCTION_NONE.
 * Differentiable in their float inputs (not in targets of nll_loss / cross_entropy, weights or
 * pos_weight).
 */
#ifndef VKT_LOSS_H
#define VKT_LOSS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vkt_reduction {
    VKT_REDUCTION_DEFAULT = 0, /* mean */
    VKT_REDUCTION_MEAN,
    VKT_REDUCTION_SUM,
    VKT_REDUCTION_NONE,
    _VKT_REDUCTION_FORCE_U32 = 0x7FFFFFFF
} vkt_reduction;

typedef struct vkt_loss_desc {
    vkt_reduction reduction;
    /* nll_loss / cross_entropy: f32 (C) class weights; a weighted mean divides by the sum of the
     * weights of the non-ignored targets (torch). binary_cross_entropy_with_logits: f32 weights
     * broadcast against the input. NULL: none. */
    const vkt_tensor *weight;
    /* binary_cross_entropy_with_logits: f32 weights of the positive term, broadcast against the
     * input (e.g. (C) for (N, C) inputs). NULL: none. */
    const vkt_tensor *pos_weight;
    /* nll_loss / cross_entropy: targets equal to ignore_index contribute nothing. A zeroed desc
     * means torch's -100; set has_ignore_index to use ignore_index (0 included). */
    bool has_ignore_index;
    int32_t ignore_index;
    float label_smoothing; /* cross_entropy: in [0, 1]; 0 none */
    float beta;            /* smooth_l1_loss: > 0; 0 -> 1.0 (torch's; beta = 0 is l1_loss) */
    float delta;           /* huber_loss: > 0; 0 -> 1.0 */
} vkt_loss_desc;

/** mean((input - target)^2); input and target broadcast together. */
VKT_API vkt_tensor *vkt_mse_loss(const vkt_tensor *input, const vkt_tensor *target,
                                 const vkt_loss_desc *desc);
/** mean(|input - target|). */
VKT_API vkt_tensor *vkt_l1_loss(const vkt_tensor *input, const vkt_tensor *target,
                                const vkt_loss_desc *desc);
/** |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta, d = input - target. */
VKT_API vkt_tensor *vkt_smooth_l1_loss(const vkt_tensor *input, const vkt_tensor *target,
                                       const vkt_loss_desc *desc);
/** |d| < delta ? 0.5 d^2 : delta (|d| - 0.5 delta). */
VKT_API vkt_tensor *vkt_huber_loss(const vkt_tensor *input, const vkt_tensor *target,
                                   const vkt_loss_desc *desc);
/**
 * (1 - y) x + (1 + (pos_weight - 1) y) softplus(-x), the stable form of
 * -[pos_weight y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))], times weight; x = input logits,
 * y = target in [0, 1], same shape.
 */
VKT_API vkt_tensor *vkt_binary_cross_entropy_with_logits(const vkt_tensor *input,
                                                         const vkt_tensor *target,
                                                         const vkt_loss_desc *desc);
/**
 * -w[t] log_probs[i, t] per row; log_probs (B, C) f32, targets (B) i32 in [0, C) or
 * ignore_index (a target outside both gives NaN: torch raises). Mean: divided by the sum of
 * w[t] over the non-ignored rows (the count without weights); all rows ignored gives NaN, as
 * torch.
 */
VKT_API vkt_tensor *vkt_nll_loss(const vkt_tensor *log_probs, const vkt_tensor *targets,
                                 const vkt_loss_desc *desc);
/**
 * nll_loss of log_softmax(logits, 1) with label smoothing eps: each row's loss is
 * (1 - eps) nll + (eps / C) sum_c -w[c] log_probs[i, c], and a mean divides both parts by the
 * same sum of target weights (torch's semantics with class weights). logits (B, C) f32.
 * Without weight and label_smoothing it is one fused kernel pair that keeps only each row's max
 * and log-sum: no (B, C) tensor besides the logits and their gradient (language-model
 * vocabularies); otherwise log_softmax and nll_loss. At most min(2^24 - 1, 65535 x the device's
 * reduction workgroup) rows and classes, 2^31 logits (VKT_INVALID_ARGUMENT beyond).
 */
VKT_API vkt_tensor *vkt_cross_entropy(const vkt_tensor *logits, const vkt_tensor *targets,
                                      const vkt_loss_desc *desc);

#ifdef __cplusplus
}
#endif

#endif
