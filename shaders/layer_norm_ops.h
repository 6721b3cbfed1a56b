// layer_norm_ops.h — values of constant_id 1 (MODE) and constant_id 2 (LEVEL) of
// shaders/layer_norm.comp, layer_norm_backward.comp and layer_norm_param_grad.comp, and the
// unroll factor of their row walks, included by the shaders and by src/ops/layer_norm.c. Plain
// #defines only: this file is both GLSL and C (no VKT__ prefix: GLSL reserves `__`).
#ifndef LAYER_NORM_OPS_H
#define LAYER_NORM_OPS_H

// MODE: which normalisation; it fixes the layout of the per-row stats the forward saves:
#define LN_LAYER 0 // layer norm: stats (2R), mean[r] at r, rstd[r] at R + r
#define LN_RMS 1   // RMSNorm: stats (R), rstd[r] at r (no centring)

// LEVEL of layer_norm_param_grad.comp
#define LN_PG_FROM_ROWS 0     // column partials of dy * xhat and dy from x, dy and the stats
#define LN_PG_FROM_PARTIALS 1 // column sums of the previous level's partials

// Columns an invocation takes per loop trip in the row kernels (straight-line, no inner loop):
// a row of C elements costs ceil(C / (LN_UNROLL * WG)) trips per pass.
#define LN_UNROLL 4
// Longest row of layer_norm_rows*.comp (one invocation per row, CPU-type devices): 3 passes of
// C trips stay well inside lavapipe's 65535.
#define LN_ROWS_MAX_COLS 4096

#endif
