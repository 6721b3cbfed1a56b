/*
 * nll.c — vkt__nll_rows (the NLL_ROWS op of src/ops/op_table.h: per-row negative log-likelihood
 * with class weights, ignore_index and label smoothing) and its backward. nll_loss and
 * cross_entropy (src/ops/loss.c) are built on it.
 * Shaders: shaders/nll.comp, shaders/nll_backward.comp. Reference: src/ref/ref_loss.c.
 * Checks: src/check/check_grad.c (finite differences); tests/test_loss.c (PyTorch fixture).
 */
#include "ops/loss.h"

/* Mirrors `PC` in shaders/nll.comp and shaders/nll_backward.comp. */
typedef struct vkt__pc_nll {
    uint32_t rows, cols;
    int32_t ignore_index;
    float smoothing;
} vkt__pc_nll;
_Static_assert(sizeof(vkt__pc_nll) <= VKT__PUSH_MAX, "push constants");

#define NLL_WG 64u
#define NLL_BACKWARD_WG 256u

vkt_tensor *vkt__nll_rows(const vkt_tensor *lp, const vkt_tensor *targets,
                          const vkt_tensor *weight, int32_t ignore_index, float smoothing,
                          vkt_tensor **row_weight)
{
    VKT__ASSERT(lp->ndim == 2 && targets->numel == lp->shape[0] && targets->dtype == VKT_I32);
    VKT__ASSERT(!weight || weight->numel == lp->shape[1]);
    int64_t b = lp->shape[0];
    vkt_tensor *loss = vkt__new_output(lp->dev, VKT_F32, 1, &b);
    vkt_tensor *wt = vkt__new_output(lp->dev, VKT_F32, 1, &b);
    vkt_status s = loss && wt ? VKT_OK : vkt_last_status();
    if (s == VKT_OK) {
        vkt__pc_nll pc = {(uint32_t)b, (uint32_t)lp->shape[1], ignore_index, smoothing};
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_NLL,
            .spec = {NLL_WG, weight != NULL},
            .spec_count = 2,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {vkt__bind(lp, VKT__READ), vkt__bind(targets, VKT__READ),
                         weight ? vkt__bind(weight, VKT__READ) : (vkt__binding){0},
                         vkt__bind(loss, VKT__WRITE), vkt__bind(wt, VKT__WRITE)},
        };
        vkt__elementwise_groups((uint64_t)b, NLL_WG, d.groups);
        s = vkt__dispatch(lp->dev, &d);
    }
    if (s == VKT_OK && vkt__any_requires_grad(lp, NULL, NULL)) {
        vkt__node *n = vkt__record(VKT__OP_NLL_ROWS, loss, lp, targets, weight);
        if (n) {
            n->iparam[0] = ignore_index;
            n->fparam[0] = smoothing;
        } else {
            s = vkt_last_status();
        }
    }
    if (s != VKT_OK) {
        vkt_tensor_free(loss);
        vkt_tensor_free(wt);
        return NULL;
    }
    *row_weight = wt;
    return loss;
}

/* dlp[i, c] += -gout[i] ((1 - eps) w[t] [c == t] + eps / C w[c]) */
vkt_status vkt__nll_rows_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *lp = n->in[0];
    if (!vkt__wants_grad(lp)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(lp);
    if (!g) {
        return vkt_last_status();
    }
    vkt__pc_nll pc = {(uint32_t)lp->shape[0], (uint32_t)lp->shape[1], n->iparam[0],
                      n->fparam[0]};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_NLL_BACKWARD,
        .spec = {NLL_BACKWARD_WG, n->in[2] != NULL},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(gout, VKT__READ), vkt__bind(n->in[1], VKT__READ),
                     n->in[2] ? vkt__bind(n->in[2], VKT__READ) : (vkt__binding){0},
                     vkt__bind(g, VKT__RW)},
    };
    vkt__elementwise_groups((uint64_t)lp->numel, NLL_BACKWARD_WG, d.groups);
    return vkt__dispatch(g->dev, &d);
}
