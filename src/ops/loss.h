/*
 * loss.h — the kernel-backed part of the losses (src/ops/nll.c), used by src/ops/loss.c.
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

#endif
