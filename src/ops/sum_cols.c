/*
 * sum_cols.c — column sums of a 2-D tensor (the bias gradient).
 * Shader: shaders/sum_cols.comp. Reference: vkt__ref_sum_cols. Checked in check_elementwise.c.
 *
 * Rows are summed in chunks of SUM_COLS_CHUNK by one invocation each (a chunk per column), then
 * the (chunks, cols) partials the same way, until one row is left: no invocation's loop comes near
 * lavapipe's 65535 iterations, whatever the row count, and the passes run in a fixed order, so the
 * sum is deterministic. A batch of up to SUM_COLS_CHUNK rows (every Linear bias gradient of a
 * usual batch) is one pass.
 */
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/sum_cols.comp. */
typedef struct vkt__pc_sum_cols {
    uint32_t rows, cols, chunk, chunks, accumulate;
} vkt__pc_sum_cols;
_Static_assert(sizeof(vkt__pc_sum_cols) <= VKT__PUSH_MAX, "push constants");

#define SUM_COLS_WG 64u
#define SUM_COLS_CHUNK 1024u

/* One pass: partial sums of x (rows, cols) into out (chunks, cols). */
static vkt_status sum_cols_pass(const vkt_tensor *x, vkt_tensor *out, uint32_t chunks,
                                bool accumulate)
{
    vkt__pc_sum_cols pc = {(uint32_t)x->shape[0], (uint32_t)x->shape[1], SUM_COLS_CHUNK, chunks,
                           accumulate};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_SUM_COLS,
        .spec = {SUM_COLS_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(x, VKT__READ), vkt__bind(out, accumulate ? VKT__RW : VKT__WRITE)},
    };
    vkt__elementwise_groups((uint64_t)chunks * pc.cols, SUM_COLS_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}

vkt_status vkt__sum_cols(const vkt_tensor *x, vkt_tensor *out, bool accumulate)
{
    VKT__ASSERT(x->ndim == 2 && out->numel == x->shape[1]);
    int64_t rows = x->shape[0], cols = x->shape[1];
    if (rows <= SUM_COLS_CHUNK) {
        return sum_cols_pass(x, out, 1, accumulate);
    }
    uint32_t chunks = (uint32_t)((rows + SUM_COLS_CHUNK - 1) / SUM_COLS_CHUNK);
    vkt_tensor *partial = vkt_tensor_new_2d(out->dev, VKT_F32, chunks, cols);
    if (!partial) {
        return vkt_last_status();
    }
    vkt_status s = sum_cols_pass(x, partial, chunks, false);
    if (s == VKT_OK) {
        s = vkt__sum_cols(partial, out, accumulate);
    }
    vkt_tensor_free(partial); /* memory returns once the passes that use it are done */
    return s;
}
