/*
 * sum_to_shape.c — vkt__sum_to_shape: a gradient at a broadcast output's shape summed back to an
 * input's shape (the backward of every broadcasting op, src/ops/broadcast.c, and of vkt_expand,
 * src/ops/shape.c), in one kernel without a permuting copy; where nothing is reduced and the scale
 * is 1, a (accumulating) copy, vkt__strided_copy (src/ops/copy.c).
 * Shader: shaders/sum_to_shape.comp. Reference: vkt__ref_sum_to_shape (src/ref/ref_elementwise.c).
 * Checks: src/check/check_elementwise.c ("sum_to_shape"), and through every BROADCAST op's
 * gradient check (src/check/check_grad.c). Tests: tests/test_elementwise.c, tests/test_shape.c.
 */
#include <math.h>

#include "ops/broadcast.h"
#include "ops/shape_internal.h"
#include "shaders/broadcast_ops.h"

/* Mirrors `PC` in shaders/sum_to_shape.comp. */
typedef struct vkt__pc_sum_to_shape {
    uint32_t n_out, n_red, chunk, chunks, accumulate;
    float alpha;
    uint32_t ndim, red_mask;
    uint32_t shape[BC_MAX_DIMS];
    uint32_t stride[BC_MAX_DIMS];
} vkt__pc_sum_to_shape;
_Static_assert(sizeof(vkt__pc_sum_to_shape) <= VKT__PUSH_MAX, "push constants");
_Static_assert(BC_MAX_DIMS == VKT_MAX_DIMS, "broadcast_ops.h follows vkt/tensor.h");

#define SUM_TO_SHAPE_WG 64u
/* Up to this many reduced elements per output element: one pass. Beyond it, chunks of about
 * sqrt(n_red) (at least this many) and a second pass over the partials. */
#define SUM_TO_SHAPE_ONE_PASS 256u

static vkt_status sts_dispatch(const vkt_tensor *x, vkt_tensor *out, vkt__pc_sum_to_shape *pc)
{
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_SUM_TO_SHAPE,
        .spec = {SUM_TO_SHAPE_WG},
        .spec_count = 1,
        .push = pc,
        .push_size = sizeof *pc,
        .bindings = {vkt__bind(x, VKT__READ), vkt__bind(out, pc->accumulate ? VKT__RW : VKT__WRITE)},
    };
    vkt__elementwise_groups((uint64_t)pc->n_out * pc->chunks, SUM_TO_SHAPE_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}

vkt_status vkt__sum_to_shape(const vkt_tensor *g, int ndim, const int64_t *shape, vkt_tensor *out,
                             bool accumulate)
{
    return vkt__sum_to_shape_scaled(g, ndim, shape, out, 1.0f, accumulate);
}

vkt_status vkt__sum_to_shape_scaled(const vkt_tensor *x, int ondim, const int64_t *oshape,
                                    vkt_tensor *out, float alpha, bool accumulate)
{
    int lead = x->ndim - ondim;
    bool ok = lead >= 0 && x->dtype == VKT_F32 && out->dtype == VKT_F32;
    int64_t on = 1;
    for (int d = 0; ok && d < x->ndim; d++) {
        int64_t od = d < lead ? 1 : oshape[d - lead];
        ok = od == x->shape[d] || od == 1;
        on *= od;
    }
    if (!ok || on != out->numel) {
        char a[128], b[128];
        return vkt__error(VKT_SHAPE_MISMATCH,
                          "vkt__sum_to_shape: g %s does not broadcast from a %d-d shape of %lld "
                          "elements (out %s)",
                          vkt_tensor_describe(x, a, sizeof a), ondim, (long long)on,
                          vkt_tensor_describe(out, b, sizeof b));
    }
    /* x's dims, each kept (the target has it) or reduced (the target has 1 there, x more),
     * merged into runs */
    vkt__pc_sum_to_shape pc = {.n_out = 1, .n_red = 1, .accumulate = accumulate, .alpha = alpha};
    int64_t shape[VKT_MAX_DIMS];
    bool red[VKT_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        int64_t od = d < lead ? 1 : oshape[d - lead];
        if (x->shape[d] == 1) {
            continue;
        }
        bool r = od == 1;
        if (nd > 0 && red[nd - 1] == r) {
            shape[nd - 1] *= x->shape[d];
        } else {
            shape[nd] = x->shape[d];
            red[nd++] = r;
        }
        if (r) {
            pc.n_red *= (uint32_t)x->shape[d];
        } else {
            pc.n_out *= (uint32_t)x->shape[d];
        }
    }
    if (nd == 0) {
        shape[0] = 1;
        red[0] = false;
        nd = 1;
    }
    pc.ndim = (uint32_t)nd;
    int64_t stride = 1;
    for (int d = nd - 1; d >= 0; d--) {
        pc.shape[d] = (uint32_t)shape[d];
        pc.stride[d] = (uint32_t)stride;
        pc.red_mask |= red[d] ? 1u << d : 0u;
        stride *= shape[d];
    }
    VKT__ASSERT((int64_t)pc.n_out == out->numel);
    if (pc.n_red == 1 && alpha == 1.0f) {
        /* nothing reduced (a same-shape add's gradient): the strided copy's vec4 and transfer
         * paths move it faster than this kernel's per-element index arithmetic */
        vkt__strided m = {.ndim = 1, .size = {out->numel}, .is = {1}, .os = {1}};
        return vkt__strided_copy(x, out, &m, accumulate);
    }
    if (pc.n_red <= SUM_TO_SHAPE_ONE_PASS) {
        pc.chunk = pc.n_red;
        pc.chunks = 1;
        return sts_dispatch(x, out, &pc);
    }
    uint32_t chunk = (uint32_t)ceil(sqrt((double)pc.n_red));
    pc.chunk = chunk < 64u ? 64u : chunk;
    pc.chunks = (pc.n_red + pc.chunk - 1) / pc.chunk;
    pc.accumulate = 0;
    int64_t part_shape[2] = {pc.chunks, pc.n_out};
    vkt_tensor *part = vkt_tensor_new(x->dev, VKT_F32, 2, part_shape);
    if (!part) {
        return vkt_last_status();
    }
    vkt_status s = sts_dispatch(x, part, &pc);
    if (s == VKT_OK) {
        /* second pass: the (chunks, n_out) partials summed over their leading dim */
        vkt__pc_sum_to_shape p2 = {
            .n_out = pc.n_out,
            .n_red = pc.chunks,
            .chunk = pc.chunks,
            .chunks = 1,
            .accumulate = accumulate,
            .alpha = 1.0f,
            .ndim = 2,
            .red_mask = 1u,
            .shape = {pc.chunks, pc.n_out},
            .stride = {pc.n_out, 1},
        };
        s = sts_dispatch(part, out, &p2);
    }
    vkt_tensor_free(part); /* its memory returns once the dispatches have run */
    return s;
}
