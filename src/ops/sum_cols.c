/*
 * sum_cols.c — column sums of a 2-D tensor (the bias gradient).
 * Shader: shaders/sum_cols.comp. Reference: vkt__ref_sum_cols. Checked in check_elementwise.c.
 */
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/sum_cols.comp. */
typedef struct vkt__pc_sum_cols {
    uint32_t rows, cols, accumulate;
} vkt__pc_sum_cols;
_Static_assert(sizeof(vkt__pc_sum_cols) <= VKT__PUSH_MAX, "push constants");

#define SUM_COLS_WG 64u

vkt_status vkt__sum_cols(const vkt_tensor *x, vkt_tensor *out, bool accumulate)
{
    VKT__ASSERT(x->ndim == 2 && out->numel == x->shape[1]);
    vkt__pc_sum_cols pc = {(uint32_t)x->shape[0], (uint32_t)x->shape[1], accumulate};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_SUM_COLS,
        .spec = {SUM_COLS_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(x, VKT__READ), vkt__bind(out, accumulate ? VKT__RW : VKT__WRITE)},
    };
    vkt__elementwise_groups((uint64_t)pc.cols, SUM_COLS_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}
