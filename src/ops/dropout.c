/*
 * dropout.c — vkt_dropout (torch.nn.functional.dropout) and its backward.
 *
 * Shader: shaders/dropout.comp (mask from shaders/philox.glsl). CPU reference: vkt__ref_dropout
 * (src/ref/ref_random.c). Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
 *
 * The mask is never stored: the node keeps (p, seed, offset) and backward regenerates it, which
 * costs one Philox block per element instead of a tensor of the input's size.
 */
#include <math.h>

#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/dropout.comp. */
typedef struct vkt__pc_dropout {
    uint32_t n;
    uint32_t seed_lo, seed_hi;
    uint32_t off_lo, off_hi;
    uint32_t threshold;
    float scale;
    uint32_t accumulate;
} vkt__pc_dropout;
_Static_assert(sizeof(vkt__pc_dropout) <= VKT__PUSH_MAX, "push constants");

#define DROPOUT_WG 256u

/* out (+)= mask * a * scale for the stream (seed, offset) at drop probability p. */
static vkt_status dropout_dispatch(const vkt_tensor *a, vkt_tensor *out, float p, uint64_t seed,
                                   uint64_t offset, bool accumulate)
{
    vkt__pc_dropout pc = {
        .n = (uint32_t)a->numel,
        .seed_lo = (uint32_t)seed,
        .seed_hi = (uint32_t)(seed >> 32),
        .off_lo = (uint32_t)offset,
        .off_hi = (uint32_t)(offset >> 32),
        /* keep iff the element's 24-bit uniform >= p, p rounded to a multiple of 2^-24; p = 1
         * gives 2^24, above every uniform */
        .threshold = (uint32_t)lrint((double)p * 16777216.0),
        .scale = p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f,
        .accumulate = accumulate,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_DROPOUT,
        .spec = {DROPOUT_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(a, VKT__READ), vkt__bind(out, accumulate ? VKT__RW : VKT__WRITE)},
    };
    vkt__elementwise_groups((uint64_t)a->numel, DROPOUT_WG, d.groups);
    return vkt__dispatch(a->dev, &d);
}

vkt_tensor *vkt_dropout(const vkt_tensor *x, float p, uint64_t seed, uint64_t offset, bool training)
{
    if (!x) {
        return NULL;
    }
    if (!vkt__check_dtype("vkt_dropout", "x", x, VKT_F32)) {
        return NULL;
    }
    if (!(p >= 0.0f && p <= 1.0f)) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_dropout: p is %g but must be in [0, 1]", (double)p);
        return NULL;
    }
    /* torch returns the input itself here; a copy keeps "every op returns a new tensor the
     * caller owns", and the node (with p = 0) keeps the gradient flowing. */
    bool identity = p == 0.0f || !training;
    vkt_tensor *y = vkt__new_output(x->dev, VKT_F32, x->ndim, x->shape);
    if (!y) {
        return NULL;
    }
    vkt_status s = identity ? vkt_copy(y, x) : dropout_dispatch(x, y, p, seed, offset, false);
    if (s != VKT_OK) {
        vkt__error_context("vkt_dropout");
        vkt_tensor_free(y);
        return NULL;
    }
    if (vkt__any_requires_grad(x, NULL, NULL)) {
        vkt__node *n = vkt__record(VKT__OP_DROPOUT, y, x, NULL, NULL);
        if (!n) {
            vkt_tensor_free(y);
            return NULL;
        }
        n->fparam[0] = identity ? 0.0f : p;
        n->iparam[0] = (int)(uint32_t)seed;
        n->iparam[1] = (int)(uint32_t)(seed >> 32);
        n->iparam[2] = (int)(uint32_t)offset;
        n->iparam[3] = (int)(uint32_t)(offset >> 32);
    }
    return y;
}

vkt_status vkt__dropout_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *dx = vkt__grad_of(x);
    if (!dx) {
        return vkt_last_status();
    }
    uint64_t seed = (uint64_t)(uint32_t)n->iparam[0] | (uint64_t)(uint32_t)n->iparam[1] << 32;
    uint64_t offset = (uint64_t)(uint32_t)n->iparam[2] | (uint64_t)(uint32_t)n->iparam[3] << 32;
    /* p = 0 keeps every element with scale 1: dx += dy */
    return dropout_dispatch(gout, dx, n->fparam[0], seed, offset, true);
}
