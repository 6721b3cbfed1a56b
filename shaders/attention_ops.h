/* attention_ops.h — sizes shared by src/ops/attention.c and the attention shaders
 * (shaders/attention.glsl): plain #defines, valid C and GLSL. */
#ifndef VKT_ATTENTION_OPS_H
#define VKT_ATTENTION_OPS_H

/* Head dimensions up to ATTN_MAX_D4 * 4 = 128 take the fused path; each invocation keeps its
 * accumulator rows (o; dq; dk and dv) in shared memory, ATTN_MAX_D4 vec4 words each, and its
 * scores (and dP) of the current tile, ATTN_MAX_BK floats each. */
#define ATTN_MAX_D4 32
#define ATTN_MAX_BK 64
/* Rows (queries; keys in dK/dV) per workgroup, one invocation each. */
#define ATTN_ROWS 8
#define ATTN_ROWS_DKDV 8
/* vec4 words one shared tile (K, V, Q or dO) holds: BK = min(ATTN_MAX_BK, this / ceil(D / 4)).
 * Shared memory: forward 8 KiB tiles + 4 KiB o + 4 KiB q + 2 KiB scores = 18 KiB; dQ 8 + 4
 * (dq) + 8 (q, dO) + 4 (scores, dP) = 24 KiB; dK/dV 8.5 + 8 (dk, dv) + 8 (k, v) + 4 = 28.5 KiB
 * (src/ops/attention.c takes the unfused path on a device with less). */
#define ATTN_TILE_WORDS 256
#define ATTN_SHARED_BYTES (29 * 1024)

#endif
