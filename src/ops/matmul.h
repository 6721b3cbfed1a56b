/*
 * matmul.h — internal entry points of the matmul family, for the checks, the tests and the bench.
 *
 * Three kernels compute C (+)= op(A)·op(B), batched (a batch index in the grid, per-operand batch
 * strides, 0 for a 2-D operand shared by every batch); vkt_matmul picks one from the device's
 * capabilities (vkt__device_caps(dev)) and these functions let callers force one:
 *   VKT__MATMUL_TILED     shaders/matmul_tiled.comp: shared-memory tiles, for GPUs
 *   VKT__MATMUL_REGBLOCK  shaders/matmul_regblock.comp: register blocking, no shared memory, for
 *                         CPU drivers (lavapipe), where per-invocation loads are the bottleneck
 *   VKT__MATMUL_TEXEL     shaders/matmul_texel.comp: vec4 texel fetches and subgroup shuffles,
 *                         for CPU drivers (one value per fetch where K % 4 != 0 or rows are
 *                         not vec4-aligned); operands that cannot be viewed as texels (under
 *                         16 bytes, off the texel alignment; no texel views or shuffles on the
 *                         device) run on the regblock kernel instead
 * Op and backward: src/ops/matmul.c. Reference: src/ref/ref_matmul.c. Checks:
 * src/check/check_matmul.c. Tests: tests/test_matmul.c. Bench: tools/bench_matmul.c.
 */
#ifndef VKT_OPS_MATMUL_H
#define VKT_OPS_MATMUL_H

#include "tensor/tensor_impl.h"

typedef enum vkt__matmul_variant {
    VKT__MATMUL_AUTO = 0, /* chosen from the device's capabilities */
    VKT__MATMUL_TILED,
    VKT__MATMUL_REGBLOCK,
    VKT__MATMUL_TEXEL,
    VKT__MATMUL_VARIANT_COUNT
} vkt__matmul_variant;

/* "auto", "tiled", "regblock" or "texel". */
const char *vkt__matmul_variant_name(vkt__matmul_variant v);
/* The variant vkt_matmul uses on `dev` (never AUTO). */
vkt__matmul_variant vkt__matmul_default_variant(const vkt_device *dev);

/* out (+ nothing: never accumulating) = op(a)·op(b) as vkt__matmul_into with flags, in one
 * dispatch of the texel kernel whose epilogue applies epi (MATMUL_EPI_*, shaders/matmul_ops.h:
 * the bias per column or per row, then the ReLU) as the tile is stored (vkt_linear:
 * src/ops/linear.c; vkt_conv2d's forward: src/ops/conv.c); false, with nothing recorded, where
 * that kernel cannot run the product (another device class, operands not viewable as texels, K
 * split). *status: the dispatch's. */
bool vkt__matmul_epilogue(const vkt_tensor *a, const vkt_tensor *b, int flags,
                          const vkt_tensor *bias, uint32_t epi, vkt_tensor *out,
                          vkt_status *status);

/* vkt_matmul with a forced variant; the tape node remembers it, so the backward pass of this
 * product uses the same kernel. */
vkt_tensor *vkt__matmul_ex(const vkt_tensor *a, const vkt_tensor *b, int flags,
                           vkt__matmul_variant v);

/* Internal flag of vkt__matmul_into (beside VKT_TRANS_A / VKT_TRANS_B): c is (M, N) and gets
 * the sum over the batches of the per-batch products (the gradient of a 2-D operand that a
 * batched product shared among its batches). */
#define VKT__MATMUL_SUM_BATCHES 4
/* Floats of the temporary that holds per-batch products before they are summed, where the
 * batches cannot fuse into the inner dimension: 64 MiB; more batches than fit are summed in
 * groups. */
#define VKT__MATMUL_SUM_TEMP (16u << 20)

/* c = op(a)·op(b), or c += op(a)·op(b) with `accumulate`, into an existing f32 tensor that must
 * not overlap a or b: batch·M·N elements (batch·(M, N) written row-major, whatever c's shape),
 * or M·N with VKT__MATMUL_SUM_BATCHES. Validates a and b like vkt_matmul (batches included), and
 * c's dtype and size. The backward passes (matmul's, conv2d's) use it with accumulate. */
vkt_status vkt__matmul_into(const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *c, int flags,
                            bool accumulate, vkt__matmul_variant v);
/* vkt__matmul_into with the temporary of VKT__MATMUL_SUM_BATCHES limited to sum_temp floats (at
 * least one batch's product is always made), so a test can exercise the grouped sum. */
vkt_status vkt__matmul_into_ex(const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *c,
                               int flags, bool accumulate, vkt__matmul_variant v,
                               uint32_t sum_temp);

#endif
