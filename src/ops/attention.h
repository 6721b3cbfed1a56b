/*
 * attention.h — internal entry points of vkt_attention (src/ops/attention.c,
 * src/ops/attention_unfused.c), for the fallback, the checks and the tests.
 *
 * The fused kernels stream keys (forward, dQ) or queries (dK/dV) in passes of at most
 * VKT__ATTN_PASS_BUDGET / (2 ceil(D / 4) + 5) rows, so that no invocation runs a loop nest longer
 * than lavapipe allows (docs/shaders.md); vkt__attention_ex takes the pass length as an argument
 * so a short sequence can exercise several passes. The tape node keeps it: the backward passes
 * split the same way.
 */
#ifndef VKT_OPS_ATTENTION_H
#define VKT_OPS_ATTENTION_H

#include "tensor/tensor_impl.h"

/* Loop iterations one invocation may run per pass (lavapipe ends a loop after 65535). */
#define VKT__ATTN_PASS_BUDGET 30000u
/* Head dimensions above this take the unfused composition. */
#define VKT__ATTN_MAX_FUSED_D 128

/* vkt_attention with at most pass_rows streamed rows per pass (rounded down to the tile, at least
 * one tile); 0: the budget's own length. */
vkt_tensor *vkt__attention_ex(const vkt_tensor *q, const vkt_tensor *k, const vkt_tensor *v,
                              const vkt_attention_params *p, uint32_t pass_rows);

/* The same attention composed from differentiable whole-tensor ops (batched matmul, softmax,
 * dropout, ...): vkt_attention's path for D > VKT__ATTN_MAX_FUSED_D, and the reference the fused
 * kernels are checked against on the device. Arguments already validated. */
vkt_tensor *vkt__attention_unfused(const vkt_tensor *q, const vkt_tensor *k, const vkt_tensor *v,
                                   const vkt_attention_params *p);

#endif
