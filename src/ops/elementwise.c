/*
 * elementwise.c — add, mul, scale, relu, tanh, add_bias and accumulate: each op's forward and, right
 * after it, its backward (registered in src/ops/op_table.h).
 *
 * Shader: shaders/elementwise.comp (one OP per specialization constant, codes in
 * shaders/elementwise_ops.h); shaders/accumulate_i32.comp for integer counters.
 * CPU reference: src/ref/ref_elementwise.c. Checks: src/check/check_elementwise.c (device vs
 * reference), src/check/check_grad.c (finite differences), both generated from the op table.
 * Tests: tests/test_elementwise.c, tests/test_grad.c.
 */
#include "shaders/elementwise_ops.h"
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/elementwise.comp. */
typedef struct vkt__pc_elementwise {
    uint32_t n;
    uint32_t cols;
    float alpha;
    uint32_t accumulate;
} vkt__pc_elementwise;
_Static_assert(sizeof(vkt__pc_elementwise) <= VKT__PUSH_MAX, "push constants");


#define EW_WG 256u

/* out (+)= op(a, b); b may be NULL for unary ops. */
static vkt_status ew_dispatch(uint32_t op, const vkt_tensor *a, const vkt_tensor *b,
                              vkt_tensor *out, float alpha, uint32_t cols, bool accumulate)
{
    vkt__pc_elementwise pc = {
        .n = (uint32_t)out->numel,
        .cols = cols,
        .alpha = alpha,
        .accumulate = accumulate,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_ELEMENTWISE,
        .spec = {EW_WG, op},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(a, VKT__READ),
                b ? vkt__bind(b, VKT__READ) : (vkt__binding){0},
                vkt__bind(out, accumulate ? VKT__RW : VKT__WRITE),
            },
    };
    vkt__elementwise_groups((uint64_t)out->numel, EW_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}

/* Runs one forward op: makes the output, dispatches, records the node. */
static vkt_tensor *ew_forward(vkt__op node_op, uint32_t op, const vkt_tensor *a,
                              const vkt_tensor *b, float alpha, uint32_t cols)
{
    vkt_tensor *out = vkt__new_output(a->dev, VKT_F32, a->ndim, a->shape);
    if (!out) {
        return NULL;
    }
    if (ew_dispatch(op, a, b, out, alpha, cols, false) != VKT_OK) {
        vkt_tensor_free(out);
        return NULL;
    }
    if (vkt__any_requires_grad(a, b, NULL)) {
        vkt__node *n = vkt__record(node_op, out, a, b, NULL);
        if (!n) {
            vkt_tensor_free(out);
            return NULL;
        }
        n->fparam[0] = alpha;
    }
    return out;
}

/* g(in) += alpha * gout */
static vkt_status acc_scaled(vkt_tensor *in, const vkt_tensor *gout, float alpha)
{
    vkt_tensor *g = vkt__grad_of(in);
    return g ? ew_dispatch(EW_SCALE, gout, NULL, g, alpha, 0, true) : vkt_last_status();
}

/* g(in) (+)= op(a, b): a backward kernel of this shader accumulating into in's gradient. */
static vkt_status acc_op(vkt_tensor *in, uint32_t op, const vkt_tensor *a, const vkt_tensor *b)
{
    vkt_tensor *g = vkt__grad_of(in);
    return g ? ew_dispatch(op, a, b, g, 0.0f, 0, true) : vkt_last_status();
}

static bool check_binary(const char *op, const vkt_tensor *a, const vkt_tensor *b)
{
    return vkt__check_same_device(op, a, b) && vkt__check_dtype(op, "a", a, VKT_F32) &&
           vkt__check_same_shape(op, a, b);
}

vkt_tensor *vkt_add(const vkt_tensor *a, const vkt_tensor *b)
{
    if (!a || !b || !check_binary("vkt_add", a, b)) {
        return NULL;
    }
    return ew_forward(VKT__OP_ADD, EW_ADD, a, b, 0.0f, 0);
}

vkt_status vkt__add_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_status s = vkt__wants_grad(n->in[0]) ? acc_scaled(n->in[0], gout, 1.0f) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(n->in[1])) {
        s = acc_scaled(n->in[1], gout, 1.0f);
    }
    return s;
}

vkt_tensor *vkt_mul(const vkt_tensor *a, const vkt_tensor *b)
{
    if (!a || !b || !check_binary("vkt_mul", a, b)) {
        return NULL;
    }
    return ew_forward(VKT__OP_MUL, EW_MUL, a, b, 0.0f, 0);
}

/* d(a*b)/da = b, d(a*b)/db = a; mul(x, x) gets both terms (gradient fan-in). */
vkt_status vkt__mul_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *a = n->in[0], *b = n->in[1];
    vkt_status s = vkt__wants_grad(a) ? acc_op(a, EW_MUL, gout, b) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(b)) {
        s = acc_op(b, EW_MUL, gout, a);
    }
    return s;
}

vkt_tensor *vkt_scale(const vkt_tensor *a, float s)
{
    if (!a || !vkt__check_dtype("vkt_scale", "a", a, VKT_F32)) {
        return NULL;
    }
    return ew_forward(VKT__OP_SCALE, EW_SCALE, a, NULL, s, 0);
}

vkt_status vkt__scale_backward(vkt__node *n, const vkt_tensor *gout)
{
    return vkt__wants_grad(n->in[0]) ? acc_scaled(n->in[0], gout, n->fparam[0]) : VKT_OK;
}

vkt_tensor *vkt_relu(const vkt_tensor *x)
{
    if (!x || !vkt__check_dtype("vkt_relu", "x", x, VKT_F32)) {
        return NULL;
    }
    return ew_forward(VKT__OP_RELU, EW_RELU, x, NULL, 0.0f, 0);
}

vkt_status vkt__relu_backward(vkt__node *n, const vkt_tensor *gout)
{
    return vkt__wants_grad(n->in[0]) ? acc_op(n->in[0], EW_RELU_BACKWARD, gout, n->in[0])
                                     : VKT_OK;
}

vkt_tensor *vkt_tanh(const vkt_tensor *x)
{
    if (!x || !vkt__check_dtype("vkt_tanh", "x", x, VKT_F32)) {
        return NULL;
    }
    return ew_forward(VKT__OP_TANH, EW_TANH, x, NULL, 0.0f, 0);
}

/* dx = dy * (1 - y^2), from the saved output y (the node holds it as n->out). */
vkt_status vkt__tanh_backward(vkt__node *n, const vkt_tensor *gout)
{
    return vkt__wants_grad(n->in[0]) ? acc_op(n->in[0], EW_TANH_BACKWARD, gout, n->out) : VKT_OK;
}

vkt_tensor *vkt_add_bias(const vkt_tensor *x, const vkt_tensor *bias)
{
    if (!x || !bias) {
        return NULL;
    }
    const char *op = "vkt_add_bias";
    if (!vkt__check_same_device(op, x, bias) || !vkt__check_dtype(op, "x", x, VKT_F32) ||
        !vkt__check_dtype(op, "bias", bias, VKT_F32) || !vkt__check_ndim(op, "x", x, 2) ||
        !vkt__check_ndim(op, "bias", bias, 1)) {
        return NULL;
    }
    if (bias->shape[0] != x->shape[1]) {
        char dx[96], db[96];
        vkt__error(VKT_SHAPE_MISMATCH, "%s: x is %s so bias must be [%lld] f32, but it is %s", op,
                   vkt_tensor_describe(x, dx, sizeof dx), (long long)x->shape[1],
                   vkt_tensor_describe(bias, db, sizeof db));
        return NULL;
    }
    return ew_forward(VKT__OP_ADD_BIAS, EW_ADD_BIAS, x, bias, 0.0f, (uint32_t)x->shape[1]);
}

/* d/dx = gout; d/dbias = gout summed over rows. */
vkt_status vkt__add_bias_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0], *bias = n->in[1];
    vkt_status s = vkt__wants_grad(x) ? acc_scaled(x, gout, 1.0f) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(bias)) {
        vkt_tensor *g = vkt__grad_of(bias);
        s = g ? vkt__sum_cols(gout, g, true) : vkt_last_status();
    }
    return s;
}

vkt_status vkt_accumulate(vkt_tensor *dst, const vkt_tensor *src, float alpha)
{
    if (!dst || !src) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_accumulate: tensor is NULL");
    }
    if (!vkt__check_same_device("vkt_accumulate", dst, src)) {
        return vkt_last_status();
    }
    if (dst->dtype != src->dtype || dst->numel != src->numel) {
        char a[96], b[96];
        return vkt__error(dst->dtype != src->dtype ? VKT_DTYPE_MISMATCH : VKT_SHAPE_MISMATCH,
                          "vkt_accumulate: dst is %s but src is %s; dtype and element count must "
                          "match",
                          vkt_tensor_describe(dst, a, sizeof a),
                          vkt_tensor_describe(src, b, sizeof b));
    }
    if (dst->dtype == VKT_F32) {
        return ew_dispatch(EW_SCALE, src, NULL, dst, alpha, 0, true);
    }
    if (alpha != 1.0f) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_accumulate: i32 tensors take alpha = 1 only");
    }
    uint32_t n = (uint32_t)dst->numel;
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_ACCUMULATE_I32,
        .spec = {EW_WG},
        .spec_count = 1,
        .push = &n,
        .push_size = sizeof n,
        .bindings = {vkt__bind(src, VKT__READ), vkt__bind(dst, VKT__RW)},
    };
    vkt__elementwise_groups(n, EW_WG, d.groups);
    return vkt__dispatch(dst->dev, &d);
}

vkt_status vkt__max_into(vkt_tensor *dst, const vkt_tensor *src, bool is_min)
{
    VKT__ASSERT(dst->dtype == VKT_F32 && src->dtype == VKT_F32 && dst->numel == src->numel);
    return ew_dispatch(is_min ? EW_MIN_INTO : EW_MAX_INTO, src, NULL, dst, 0.0f, 0, true);
}
