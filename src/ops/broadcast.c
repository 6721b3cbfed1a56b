/*
 * broadcast.c — elementwise ops with NumPy broadcasting: add, sub, mul, div, maximum, minimum,
 * pow, where (each forward with its backward right after it, registered in src/ops/op_table.h)
 * and the comparisons eq, ne, lt, le, gt, ge (f32 0/1 masks, not differentiable).
 *
 * Shapes are right-aligned and a size-1 dim stretches (vkt__broadcast_shape). The host merges
 * adjacent dims that every input walks contiguously, so same-shape inputs run as one dim with
 * stride 1 (the shader's contiguous fast path). Backward: each input's gradient term is formed at
 * the output's shape and summed back to the input's shape (vkt__sum_to_shape); an input that was
 * not broadcast gets it accumulated directly, without a temporary.
 *
 * Shaders: shaders/broadcast.comp (codes in shaders/broadcast_ops.h), shaders/sum_to_shape.comp.
 * CPU reference: src/ref/ref_elementwise.c. Checks: src/check/check_elementwise.c,
 * src/check/check_grad.c (BROADCAST rows of the op table). Tests: tests/test_elementwise.c.
 */
#include <stdio.h>

#include "ops/broadcast.h"
#include "shaders/broadcast_ops.h"

/* Mirrors `PC` in shaders/broadcast.comp. */
typedef struct vkt__pc_broadcast {
    uint32_t n, ndim, accumulate;
    uint32_t shape[BC_MAX_DIMS];
    uint32_t stride[3][BC_MAX_DIMS];
} vkt__pc_broadcast;
_Static_assert(sizeof(vkt__pc_broadcast) <= VKT__PUSH_MAX, "push constants");

#define BC_WG 256u

static void describe_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < ndim && k < size; d++) {
        k += (size_t)snprintf(buf + k, size - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    }
    if (k < size) {
        snprintf(buf + k, size - k, "]");
    }
}

bool vkt__broadcast_shape(const char *op, const vkt_tensor *a, const vkt_tensor *b, int *ndim,
                          int64_t *shape)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t sa = da < 0 ? 1 : a->shape[da], sb = db < 0 ? 1 : b->shape[db];
        if (sa != sb && sa != 1 && sb != 1) {
            char ta[96], tb[96];
            vkt__error(VKT_SHAPE_MISMATCH,
                       "%s: cannot broadcast %s with %s: dim %d (from the right) is %lld vs %lld; "
                       "sizes must match or be 1",
                       op, vkt_tensor_describe(a, ta, sizeof ta),
                       vkt_tensor_describe(b, tb, sizeof tb), nd - d, (long long)sa, (long long)sb);
            return false;
        }
        shape[d] = sa == 1 ? sb : sa;
    }
    *ndim = nd;
    return true;
}

bool vkt__has_shape(const vkt_tensor *t, int ndim, const int64_t *shape)
{
    bool same = t->ndim == ndim;
    for (int d = 0; same && d < ndim; d++) {
        same = t->shape[d] == shape[d];
    }
    return same;
}

/* out (+)= op(x0, x1, x2) at out's shape; each input broadcasts to it (x1, x2 may be NULL). */
static vkt_status bc_dispatch(uint32_t op, vkt_tensor *out, const vkt_tensor *x0,
                              const vkt_tensor *x1, const vkt_tensor *x2, bool accumulate)
{
    const vkt_tensor *in[3] = {x0, x1, x2};
    /* per output dim: its size and each input's stride (0 where the input is broadcast) */
    int64_t shape[VKT_MAX_DIMS], st[3][VKT_MAX_DIMS];
    int nd = 0;
    for (int d = 0; d < out->ndim; d++) {
        if (out->shape[d] == 1) {
            continue; /* contributes nothing to any offset */
        }
        int64_t s[3];
        for (int k = 0; k < 3; k++) {
            const vkt_tensor *t = in[k];
            int td = t ? d - (out->ndim - t->ndim) : -1;
            s[k] = 0;
            if (td >= 0 && t->shape[td] != 1) {
                s[k] = 1;
                for (int e = td + 1; e < t->ndim; e++) {
                    s[k] *= t->shape[e];
                }
            }
        }
        /* merge into the previous (outer) dim when every input steps through both as one */
        bool merge = nd > 0;
        for (int k = 0; merge && k < 3; k++) {
            merge = st[k][nd - 1] == s[k] * out->shape[d];
        }
        if (merge) {
            shape[nd - 1] *= out->shape[d];
            for (int k = 0; k < 3; k++) {
                st[k][nd - 1] = s[k];
            }
        } else {
            shape[nd] = out->shape[d];
            for (int k = 0; k < 3; k++) {
                st[k][nd] = s[k];
            }
            nd++;
        }
    }
    if (nd == 0) { /* one element */
        shape[0] = 1;
        st[0][0] = st[1][0] = st[2][0] = 0;
        nd = 1;
    }
    vkt__pc_broadcast pc = {.n = (uint32_t)out->numel, .ndim = (uint32_t)nd,
                            .accumulate = accumulate};
    for (int d = 0; d < nd; d++) {
        pc.shape[d] = (uint32_t)shape[d];
        for (int k = 0; k < 3; k++) {
            pc.stride[k][d] = (uint32_t)st[k][d];
        }
    }
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_BROADCAST,
        .spec = {BC_WG, op},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(x0, VKT__READ),
                x1 ? vkt__bind(x1, VKT__READ) : (vkt__binding){0},
                x2 ? vkt__bind(x2, VKT__READ) : (vkt__binding){0},
                vkt__bind(out, accumulate ? VKT__RW : VKT__WRITE),
            },
    };
    vkt__elementwise_groups((uint64_t)out->numel, BC_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}

/* Validates f32 inputs on one device and makes the output at their broadcast shape. */
static vkt_tensor *bc_output(const char *op, const vkt_tensor *a, const vkt_tensor *b)
{
    int nd;
    int64_t shape[VKT_MAX_DIMS];
    if (!vkt__check_same_device(op, a, b) || !vkt__check_dtype(op, "a", a, VKT_F32) ||
        !vkt__check_dtype(op, "b", b, VKT_F32) || !vkt__broadcast_shape(op, a, b, &nd, shape)) {
        return NULL;
    }
    return vkt__new_output(a->dev, VKT_F32, nd, shape);
}

/* One broadcasting forward: output, dispatch, and a node when record_op is not NONE and an input
 * requires a gradient. */
static vkt_tensor *bc_forward(const char *name, vkt__op record_op, uint32_t op,
                              const vkt_tensor *a, const vkt_tensor *b)
{
    if (!a || !b) {
        return NULL;
    }
    vkt_tensor *out = bc_output(name, a, b);
    if (!out) {
        return NULL;
    }
    if (bc_dispatch(op, out, a, b, NULL, false) != VKT_OK ||
        (record_op != VKT__OP_NONE && vkt__any_requires_grad(a, b, NULL) &&
         !vkt__record(record_op, out, a, b, NULL))) {
        vkt_tensor_free(out);
        return NULL;
    }
    return out;
}

/* grad(in) += op(x0, x1, x2) at gout's shape, summed to in's shape. */
static vkt_status acc_term(vkt_tensor *in, const vkt_tensor *gout, uint32_t op,
                           const vkt_tensor *x0, const vkt_tensor *x1, const vkt_tensor *x2)
{
    vkt_tensor *g = vkt__grad_of(in);
    if (!g) {
        return vkt_last_status();
    }
    if (vkt__has_shape(in, gout->ndim, gout->shape)) {
        return bc_dispatch(op, g, x0, x1, x2, true);
    }
    vkt_tensor *t = vkt_tensor_new(gout->dev, VKT_F32, gout->ndim, gout->shape);
    if (!t) {
        return vkt_last_status();
    }
    vkt_status s = bc_dispatch(op, t, x0, x1, x2, false);
    if (s == VKT_OK) {
        s = vkt__sum_to_shape(t, in->ndim, in->shape, g, true);
    }
    vkt_tensor_free(t);
    return s;
}

/* grad(in) += alpha * gout summed to in's shape; written by its first writer (vkt__grad_first:
 * the sum writes every element). */
static vkt_status acc_sum(vkt_tensor *in, const vkt_tensor *gout, float alpha)
{
    bool accumulate;
    vkt_tensor *g = vkt__grad_first(in, &accumulate);
    return g ? vkt__sum_to_shape_scaled(gout, in->ndim, in->shape, g, alpha, accumulate)
             : vkt_last_status();
}

vkt_tensor *vkt_add(const vkt_tensor *a, const vkt_tensor *b)
{
    return bc_forward("vkt_add", VKT__OP_ADD, BC_ADD, a, b);
}

vkt_status vkt__add_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_status s = vkt__wants_grad(n->in[0]) ? acc_sum(n->in[0], gout, 1.0f) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(n->in[1])) {
        s = acc_sum(n->in[1], gout, 1.0f);
    }
    return s;
}

vkt_tensor *vkt_sub(const vkt_tensor *a, const vkt_tensor *b)
{
    return bc_forward("vkt_sub", VKT__OP_SUB, BC_SUB, a, b);
}

vkt_status vkt__sub_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_status s = vkt__wants_grad(n->in[0]) ? acc_sum(n->in[0], gout, 1.0f) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(n->in[1])) {
        s = acc_sum(n->in[1], gout, -1.0f);
    }
    return s;
}

vkt_tensor *vkt_mul(const vkt_tensor *a, const vkt_tensor *b)
{
    return bc_forward("vkt_mul", VKT__OP_MUL, BC_MUL, a, b);
}

/* d(a*b)/da = b, d(a*b)/db = a; mul(x, x) gets both terms (gradient fan-in). */
vkt_status vkt__mul_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *a = n->in[0], *b = n->in[1];
    vkt_status s = vkt__wants_grad(a) ? acc_term(a, gout, BC_MUL, gout, b, NULL) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(b)) {
        s = acc_term(b, gout, BC_MUL, gout, a, NULL);
    }
    return s;
}

vkt_tensor *vkt_div(const vkt_tensor *a, const vkt_tensor *b)
{
    return bc_forward("vkt_div", VKT__OP_DIV, BC_DIV, a, b);
}

/* d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 */
vkt_status vkt__div_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *a = n->in[0], *b = n->in[1];
    vkt_status s = vkt__wants_grad(a) ? acc_term(a, gout, BC_DIV, gout, b, NULL) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(b)) {
        s = acc_term(b, gout, BC_DIV_GRAD_B, gout, a, b);
    }
    return s;
}

vkt_tensor *vkt_maximum(const vkt_tensor *a, const vkt_tensor *b)
{
    return bc_forward("vkt_maximum", VKT__OP_MAXIMUM, BC_MAXIMUM, a, b);
}

/* The gradient goes to the larger input; ties split it evenly (torch.maximum). */
vkt_status vkt__maximum_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *a = n->in[0], *b = n->in[1];
    vkt_status s = vkt__wants_grad(a) ? acc_term(a, gout, BC_MAXIMUM_GRAD, gout, a, b) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(b)) {
        s = acc_term(b, gout, BC_MAXIMUM_GRAD, gout, b, a);
    }
    return s;
}

vkt_tensor *vkt_minimum(const vkt_tensor *a, const vkt_tensor *b)
{
    return bc_forward("vkt_minimum", VKT__OP_MINIMUM, BC_MINIMUM, a, b);
}

vkt_status vkt__minimum_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *a = n->in[0], *b = n->in[1];
    vkt_status s = vkt__wants_grad(a) ? acc_term(a, gout, BC_MINIMUM_GRAD, gout, a, b) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(b)) {
        s = acc_term(b, gout, BC_MINIMUM_GRAD, gout, b, a);
    }
    return s;
}

vkt_tensor *vkt_pow(const vkt_tensor *a, const vkt_tensor *b)
{
    return bc_forward("vkt_pow", VKT__OP_POW, BC_POW, a, b);
}

/* d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log a (0 where a = 0 and b >= 0, as torch) */
vkt_status vkt__pow_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *a = n->in[0], *b = n->in[1];
    vkt_status s = vkt__wants_grad(a) ? acc_term(a, gout, BC_POW_GRAD_A, gout, a, b) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(b)) {
        s = acc_term(b, gout, BC_POW_GRAD_B, gout, a, b);
    }
    return s;
}

/* ---- comparisons: masks, never recorded ---- */
#define VKT__COMPARISON(name, CODE)                                                                \
    vkt_tensor *vkt_##name(const vkt_tensor *a, const vkt_tensor *b)                              \
    {                                                                                              \
        return bc_forward("vkt_" #name, VKT__OP_NONE, CODE, a, b);                                 \
    }
VKT__COMPARISON(eq, BC_EQ)
VKT__COMPARISON(ne, BC_NE)
VKT__COMPARISON(lt, BC_LT)
VKT__COMPARISON(le, BC_LE)
VKT__COMPARISON(gt, BC_GT)
VKT__COMPARISON(ge, BC_GE)
#undef VKT__COMPARISON

vkt_tensor *vkt_where(const vkt_tensor *cond, const vkt_tensor *a, const vkt_tensor *b)
{
    if (!cond || !a || !b) {
        return NULL;
    }
    const char *op = "vkt_where";
    int nd, nd2;
    int64_t ab[VKT_MAX_DIMS], shape[VKT_MAX_DIMS];
    if (!vkt__check_same_device(op, cond, a) || !vkt__check_same_device(op, a, b) ||
        !vkt__check_dtype(op, "cond", cond, VKT_F32) || !vkt__check_dtype(op, "a", a, VKT_F32) ||
        !vkt__check_dtype(op, "b", b, VKT_F32) || !vkt__broadcast_shape(op, a, b, &nd, ab)) {
        return NULL;
    }
    /* cond against the broadcast of a and b, described as a shape */
    vkt_tensor ab_t = {.ndim = nd, .dtype = VKT_F32, .dev = a->dev};
    for (int d = 0; d < nd; d++) {
        ab_t.shape[d] = ab[d];
    }
    if (!vkt__broadcast_shape(op, cond, &ab_t, &nd2, shape)) {
        char sb[96];
        describe_shape(sb, sizeof sb, nd, ab);
        vkt__error_context("cond against %s, the broadcast of a and b", sb);
        return NULL;
    }
    vkt_tensor *out = vkt__new_output(a->dev, VKT_F32, nd2, shape);
    if (!out) {
        return NULL;
    }
    if (bc_dispatch(BC_WHERE, out, cond, a, b, false) != VKT_OK ||
        (vkt__any_requires_grad(a, b, NULL) && !vkt__record(VKT__OP_WHERE, out, cond, a, b))) {
        vkt_tensor_free(out);
        return NULL;
    }
    return out;
}

/* da = dy where cond, db = dy elsewhere; cond gets no gradient (a mask). */
vkt_status vkt__where_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *cond = n->in[0], *a = n->in[1], *b = n->in[2];
    vkt_status s =
        vkt__wants_grad(a) ? acc_term(a, gout, BC_WHERE_GRAD_A, cond, gout, NULL) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(b)) {
        s = acc_term(b, gout, BC_WHERE_GRAD_B, cond, gout, NULL);
    }
    return s;
}
