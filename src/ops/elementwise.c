/*
 * elementwise.c — the same-shape elementwise ops: scale, relu, tanh, the unary ops (exp, ln, sqrt,
 * rsqrt, abs, neg, sigmoid, gelu, gelu_tanh, silu, leaky_relu, elu, clamp, pow_scalar, softplus,
 * log1p, add_scalar), add_bias and accumulate: each op's forward and, right after it, its backward
 * (registered in src/ops/op_table.h). Broadcasting binary ops: src/ops/broadcast.c.
 *
 * Shader: shaders/elementwise.comp (one OP per specialization constant, codes in
 * shaders/elementwise_ops.h); shaders/accumulate_i32.comp for integer counters.
 * CPU reference: src/ref/ref_elementwise.c. Checks: src/check/check_elementwise.c (device vs
 * reference), src/check/check_grad.c (finite differences), both generated from the op table.
 * Tests: tests/test_elementwise.c, tests/test_grad.c.
 */
#include <math.h>

#include "shaders/elementwise_ops.h"
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/elementwise.comp. */
typedef struct vkt__pc_elementwise {
    uint32_t n;
    uint32_t cols;
    float alpha;
    uint32_t accumulate;
    float beta;
} vkt__pc_elementwise;
_Static_assert(sizeof(vkt__pc_elementwise) <= VKT__PUSH_MAX, "push constants");


#define EW_WG 256u

/* out (+)= op(a, b); b may be NULL for unary ops. */
static vkt_status ew_dispatch2(uint32_t op, const vkt_tensor *a, const vkt_tensor *b,
                               vkt_tensor *out, float alpha, float beta, uint32_t cols,
                               bool accumulate)
{
    vkt__pc_elementwise pc = {
        .n = (uint32_t)out->numel,
        .cols = cols,
        .alpha = alpha,
        .accumulate = accumulate,
        .beta = beta,
    };
    vkt__binding ab = vkt__bind(a, VKT__READ);
    vkt__binding bb = b ? vkt__bind(b, VKT__READ) : (vkt__binding){0};
    /* CPU drivers read a and b through texels (shaders/elementwise.comp's TEXEL): the bias of
     * EW_ADD_BIAS only when its view covers every column */
    uint32_t texel = 0;
    if (vkt__device_caps(out->dev)->cpu_like && op != EW_MAX_INTO && op != EW_MIN_INTO) {
        texel |= vkt__texel_usable(out->dev, &ab) ? 1u : 0u;
        texel |= b && vkt__texel_usable(out->dev, &bb) && (op != EW_ADD_BIAS || cols % 4 == 0)
                     ? 2u
                     : 0u;
    }
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_ELEMENTWISE,
        .spec = {EW_WG, op, texel},
        .spec_count = 3,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {ab, bb, vkt__bind(out, accumulate ? VKT__RW : VKT__WRITE)},
        .texel_set = true,
    };
    if (texel & 1u) {
        d.texels[0] = ab;
    }
    if (texel & 2u) {
        d.texels[1] = bb;
    }
    /* 4 elements per invocation (shaders/elementwise.comp) */
    vkt__elementwise_groups(((uint64_t)out->numel + 3) / 4, EW_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}

static vkt_status ew_dispatch(uint32_t op, const vkt_tensor *a, const vkt_tensor *b,
                              vkt_tensor *out, float alpha, uint32_t cols, bool accumulate)
{
    return ew_dispatch2(op, a, b, out, alpha, 0.0f, cols, accumulate);
}

/* Runs one forward op: makes the output, dispatches, records the node. */
static vkt_tensor *ew_forward2(vkt__op node_op, uint32_t op, const vkt_tensor *a,
                               const vkt_tensor *b, float alpha, float beta, uint32_t cols)
{
    vkt_tensor *out = vkt__new_output(a->dev, VKT_F32, a->ndim, a->shape);
    if (!out) {
        return NULL;
    }
    if (ew_dispatch2(op, a, b, out, alpha, beta, cols, false) != VKT_OK) {
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
        n->fparam[1] = beta;
    }
    return out;
}

static vkt_tensor *ew_forward(vkt__op node_op, uint32_t op, const vkt_tensor *a,
                              const vkt_tensor *b, float alpha, uint32_t cols)
{
    return ew_forward2(node_op, op, a, b, alpha, 0.0f, cols);
}

/* g(in) (+)= alpha * gout: written by its first writer (vkt__grad_first), else accumulated */
static vkt_status acc_scaled(vkt_tensor *in, const vkt_tensor *gout, float alpha)
{
    bool accumulate;
    vkt_tensor *g = vkt__grad_first(in, &accumulate);
    return g ? ew_dispatch(EW_SCALE, gout, NULL, g, alpha, 0, accumulate) : vkt_last_status();
}

/* g(in) (+)= op(a, b): a backward kernel of this shader writing or accumulating into in's
 * gradient, all of whose elements it covers. */
static vkt_status acc_op(vkt_tensor *in, uint32_t op, const vkt_tensor *a, const vkt_tensor *b)
{
    bool accumulate;
    vkt_tensor *g = vkt__grad_first(in, &accumulate);
    return g ? ew_dispatch(op, a, b, g, 0.0f, 0, accumulate) : vkt_last_status();
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

vkt_status vkt__relu_mask(const vkt_tensor *gout, const vkt_tensor *y, vkt_tensor *out)
{
    return ew_dispatch(EW_RELU_BACKWARD, gout, y, out, 0.0f, 0, false);
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

/* ---- unary ops: y = f(x) with the op's scalars; backward codes read x or y (n->out) ---- */

static vkt_tensor *unary(const char *name, vkt__op node_op, uint32_t op, const vkt_tensor *x,
                         float alpha, float beta)
{
    if (!x || !vkt__check_dtype(name, "x", x, VKT_F32)) {
        return NULL;
    }
    return ew_forward2(node_op, op, x, NULL, alpha, beta, 0);
}

/* g(x) += op(gout, x or y) with the node's scalars. */
static vkt_status unary_backward(vkt__node *n, const vkt_tensor *gout, uint32_t op, bool from_y)
{
    if (!vkt__wants_grad(n->in[0])) {
        return VKT_OK;
    }
    bool accumulate;
    vkt_tensor *g = vkt__grad_first(n->in[0], &accumulate);
    return g ? ew_dispatch2(op, gout, from_y ? n->out : n->in[0], g, n->fparam[0], n->fparam[1],
                            0, accumulate)
             : vkt_last_status();
}

vkt_tensor *vkt_exp(const vkt_tensor *x)
{
    return unary("vkt_exp", VKT__OP_EXP, EW_EXP, x, 0.0f, 0.0f);
}

/* dx = dy * y */
vkt_status vkt__exp_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_MUL, true);
}

vkt_tensor *vkt_ln(const vkt_tensor *x)
{
    return unary("vkt_ln", VKT__OP_LN, EW_LOG, x, 0.0f, 0.0f);
}

/* dx = dy / x */
vkt_status vkt__ln_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_DIV, false);
}

vkt_tensor *vkt_sqrt(const vkt_tensor *x)
{
    return unary("vkt_sqrt", VKT__OP_SQRT, EW_SQRT, x, 0.0f, 0.0f);
}

/* dx = dy / (2 y) */
vkt_status vkt__sqrt_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_SQRT_BACKWARD, true);
}

vkt_tensor *vkt_rsqrt(const vkt_tensor *x)
{
    return unary("vkt_rsqrt", VKT__OP_RSQRT, EW_RSQRT, x, 0.0f, 0.0f);
}

/* dx = -dy y^3 / 2 */
vkt_status vkt__rsqrt_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_RSQRT_BACKWARD, true);
}

vkt_tensor *vkt_abs(const vkt_tensor *x)
{
    return unary("vkt_abs", VKT__OP_ABS, EW_ABS, x, 0.0f, 0.0f);
}

/* dx = dy sign(x), 0 at x = 0 (torch) */
vkt_status vkt__abs_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_ABS_BACKWARD, false);
}

vkt_tensor *vkt_neg(const vkt_tensor *x)
{
    return unary("vkt_neg", VKT__OP_NEG, EW_SCALE, x, -1.0f, 0.0f);
}

vkt_status vkt__neg_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_SCALE, false); /* fparam[0] = -1: dx = -dy */
}

vkt_tensor *vkt_sigmoid(const vkt_tensor *x)
{
    return unary("vkt_sigmoid", VKT__OP_SIGMOID, EW_SIGMOID, x, 0.0f, 0.0f);
}

/* dx = dy y (1 - y) */
vkt_status vkt__sigmoid_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_SIGMOID_BACKWARD, true);
}

vkt_tensor *vkt_gelu(const vkt_tensor *x)
{
    return unary("vkt_gelu", VKT__OP_GELU, EW_GELU, x, 0.0f, 0.0f);
}

/* dx = dy (Phi(x) + x phi(x)) */
vkt_status vkt__gelu_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_GELU_BACKWARD, false);
}

vkt_tensor *vkt_gelu_tanh(const vkt_tensor *x)
{
    return unary("vkt_gelu_tanh", VKT__OP_GELU_TANH, EW_GELU_TANH, x, 0.0f, 0.0f);
}

vkt_status vkt__gelu_tanh_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_GELU_TANH_BACKWARD, false);
}

vkt_tensor *vkt_silu(const vkt_tensor *x)
{
    return unary("vkt_silu", VKT__OP_SILU, EW_SILU, x, 0.0f, 0.0f);
}

/* dx = dy s (1 + x (1 - s)), s = sigmoid(x) */
vkt_status vkt__silu_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_SILU_BACKWARD, false);
}

vkt_tensor *vkt_leaky_relu(const vkt_tensor *x, float negative_slope)
{
    return unary("vkt_leaky_relu", VKT__OP_LEAKY_RELU, EW_LEAKY_RELU, x, negative_slope, 0.0f);
}

vkt_status vkt__leaky_relu_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_LEAKY_RELU_BACKWARD, false);
}

vkt_tensor *vkt_elu(const vkt_tensor *x, float alpha)
{
    return unary("vkt_elu", VKT__OP_ELU, EW_ELU, x, alpha, 0.0f);
}

/* dx = dy for x > 0, else dy alpha e^x */
vkt_status vkt__elu_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_ELU_BACKWARD, false);
}

vkt_tensor *vkt_clamp(const vkt_tensor *x, float min, float max)
{
    /* an infinite bound clamps nothing: the same as none */
    return unary("vkt_clamp", VKT__OP_CLAMP, EW_CLAMP, x, isinf(min) ? NAN : min,
                 isinf(max) ? NAN : max);
}

/* dx = dy where min <= x <= max (torch: the bounds themselves pass the gradient) */
vkt_status vkt__clamp_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_CLAMP_BACKWARD, false);
}

vkt_tensor *vkt_pow_scalar(const vkt_tensor *x, float exponent)
{
    return unary("vkt_pow_scalar", VKT__OP_POW_SCALAR, EW_POW_SCALAR, x, exponent, 0.0f);
}

/* dx = dy p x^(p - 1); 0 for p = 0 */
vkt_status vkt__pow_scalar_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_POW_SCALAR_BACKWARD, false);
}

vkt_tensor *vkt_softplus(const vkt_tensor *x)
{
    return unary("vkt_softplus", VKT__OP_SOFTPLUS, EW_SOFTPLUS, x, 0.0f, 0.0f);
}

/* dx = dy sigmoid(x); dy above the threshold */
vkt_status vkt__softplus_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_SOFTPLUS_BACKWARD, false);
}

vkt_tensor *vkt_log1p(const vkt_tensor *x)
{
    return unary("vkt_log1p", VKT__OP_LOG1P, EW_LOG1P, x, 0.0f, 0.0f);
}

vkt_status vkt__log1p_backward(vkt__node *n, const vkt_tensor *gout)
{
    return unary_backward(n, gout, EW_LOG1P_BACKWARD, false);
}

vkt_tensor *vkt_add_scalar(const vkt_tensor *x, float s)
{
    return unary("vkt_add_scalar", VKT__OP_ADD_SCALAR, EW_ADD_SCALAR, x, s, 0.0f);
}

vkt_status vkt__add_scalar_backward(vkt__node *n, const vkt_tensor *gout)
{
    return vkt__wants_grad(n->in[0]) ? acc_scaled(n->in[0], gout, 1.0f) : VKT_OK;
}

vkt_tensor *vkt_add_bias(const vkt_tensor *x, const vkt_tensor *bias)
{
    if (!x || !bias) {
        return NULL;
    }
    const char *op = "vkt_add_bias";
    if (!vkt__check_same_device(op, x, bias) || !vkt__check_dtype(op, "x", x, VKT_F32) ||
        !vkt__check_dtype(op, "bias", bias, VKT_F32) || !vkt__check_ndim(op, "bias", bias, 1)) {
        return NULL;
    }
    int64_t cols = x->shape[x->ndim - 1];
    if (bias->shape[0] != cols) {
        char dx[96], db[96];
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: x is %s so bias must be [%lld] f32 (its last dimension), but it is %s", op,
                   vkt_tensor_describe(x, dx, sizeof dx), (long long)cols,
                   vkt_tensor_describe(bias, db, sizeof db));
        return NULL;
    }
    return ew_forward(VKT__OP_ADD_BIAS, EW_ADD_BIAS, x, bias, 0.0f, (uint32_t)cols);
}

/* d/dx = gout; d/dbias = gout summed over every dimension but the last (as rows of a 2-D view). */
vkt_status vkt__add_bias_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0], *bias = n->in[1];
    vkt_status s = vkt__wants_grad(x) ? acc_scaled(x, gout, 1.0f) : VKT_OK;
    if (s == VKT_OK && vkt__wants_grad(bias)) {
        bool accumulate;
        vkt_tensor *g = vkt__grad_first(bias, &accumulate);
        int64_t cols = bias->shape[0];
        vkt_tensor *rows = g ? vkt_tensor_view((vkt_tensor *)gout, 0, 2,
                                               (int64_t[2]){gout->numel / cols, cols})
                             : NULL;
        s = rows ? vkt__sum_cols(rows, g, accumulate) : vkt_last_status();
        vkt_tensor_free(rows);
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
