/*
 * loss.h — the kernel-backed part of the losses (src/ops/nll.c, src/ops/softmax_xent.c), used by
 * src/ops/loss.c.
 */
#ifndef VKT_OPS_LOSS_H
#define VKT_OPS_LOSS_H

#include "tensor/tensor_impl.h"

/* Per-row losses (B) of log-probabilities lp (B, C) (shaders/nll.comp): -((1 - smoothing) w[t]
 * lp[i, t] + smoothing / C sum_c w[c] lp[i, c]); weight (C) may be NULL (1). *row_weight gets
 * w[t] per row (0 for ignored rows), a new tensor owned by the caller, not differentiable.
 * Records NLL_ROWS when lp requires a gradient. */
vkt_tensor *vkt__nll_rows(const vkt_tensor *lp, const vkt_tensor *targets,
                          const vkt_tensor *weight, int32_t ignore_index, float smoothing,
                          vkt_tensor **row_weight);

/* What the fused softmax cross-entropy (src/ops/softmax_xent.c) computes: the mean over the rows
 * not ignored, the sum (sum) or the per-row losses (per_row); has_ignore: rows whose label is
 * ignore_index count for nothing. op names the caller in error messages. */
typedef struct vkt__xent_params {
    const char *op;
    bool has_ignore;
    int32_t ignore_index;
    bool sum, per_row;
} vkt__xent_params;

/* Softmax cross-entropy of logits (B, C) f32 and labels (B) i32 without a (B, C) intermediate;
 * records SOFTMAX_XENT when logits require a gradient. */
vkt_tensor *vkt__softmax_xent(const vkt_tensor *logits, const vkt_tensor *labels,
                              const vkt__xent_params *p);

#endif
