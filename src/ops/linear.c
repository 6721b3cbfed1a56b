/*
 * linear.c — vkt_linear (torch.nn.functional.linear) and vkt_linear_relu (ReLU after it), forward
 * and backward side by side.
 *
 * Forward: on CPU drivers one dispatch of shaders/matmul_texel.comp whose epilogue adds the bias
 * and applies the ReLU as the tile is stored (vkt__matmul_epilogue, src/ops/matmul.c); where
 * that kernel cannot run the product (GPUs, operands not viewable as texels) the op is composed
 * of vkt_matmul, vkt_add_bias and vkt_relu, whose nodes the tape then holds. Both give the values
 * of the composition bit for bit: the epilogue makes the same fp32 add and max after the same
 * product. Backward of the fused node, with G = dL/dy masked by y > 0 for the ReLU (the mask of
 * the pre-activation, as y > 0 exactly where it is): dx = G·W, dW = Gᵀ·x, dbias = G summed over
 * rows — the products and the column sum the composition's backward makes, without its copy of
 * the gradient through the bias add. Reference: the composition's (src/ref/ref_matmul.c,
 * ref_elementwise.c). Checks: src/check/check_matmul.c (fused against the composition, exact),
 * finite differences in src/check/check_grad.c (linear, linear_relu). Tests: tests/test_matmul.c.
 */
#include "ops/matmul.h"
#include "shaders/matmul_ops.h"

/* x (N, in), w (out, in), bias (out) or NULL, f32 on one device. */
static bool linear_check(const char *op, const vkt_tensor *x, const vkt_tensor *w,
                         const vkt_tensor *bias)
{
    if (!vkt__check_same_device(op, x, w) || !vkt__check_dtype(op, "x", x, VKT_F32) ||
        !vkt__check_dtype(op, "w", w, VKT_F32) || !vkt__check_ndim(op, "x", x, 2) ||
        !vkt__check_ndim(op, "w", w, 2)) {
        return false;
    }
    char dx[96], dw[96], db[96];
    if (w->shape[1] != x->shape[1]) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: x is %s and w is %s; w must be (out, in) with in = %lld, x's features", op,
                   vkt_tensor_describe(x, dx, sizeof dx), vkt_tensor_describe(w, dw, sizeof dw),
                   (long long)x->shape[1]);
        return false;
    }
    if (bias &&
        (!vkt__check_same_device(op, x, bias) || !vkt__check_dtype(op, "bias", bias, VKT_F32))) {
        return false;
    }
    if (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[0])) {
        vkt__error(VKT_SHAPE_MISMATCH, "%s: w is %s so bias must be [%lld] f32, but it is %s", op,
                   vkt_tensor_describe(w, dw, sizeof dw), (long long)w->shape[0],
                   vkt_tensor_describe(bias, db, sizeof db));
        return false;
    }
    return true;
}

/* The composition, for the devices and operands the fused kernel does not take. */
static vkt_tensor *linear_composed(const vkt_tensor *x, const vkt_tensor *w, const vkt_tensor *bias,
                                   bool relu)
{
    vkt_tensor *h = vkt_matmul(x, w, VKT_TRANS_B);
    vkt_tensor *y = h && bias ? vkt_add_bias(h, bias) : h;
    if (y != h) {
        vkt_tensor_free(h); /* y's node, if any, holds it */
    }
    vkt_tensor *r = y && relu ? vkt_relu(y) : y;
    if (r != y) {
        vkt_tensor_free(y);
    }
    return r;
}

static vkt_tensor *linear(const char *op, vkt__op code, const vkt_tensor *x, const vkt_tensor *w,
                          const vkt_tensor *bias, bool relu)
{
    if (!x || !w || !linear_check(op, x, w, bias)) {
        return NULL;
    }
    if (vkt__matmul_default_variant(x->dev) != VKT__MATMUL_TEXEL) {
        return linear_composed(x, w, bias, relu); /* no fused kernel: nothing to allocate first */
    }
    vkt_tensor *y = vkt__new_output(x->dev, VKT_F32, 2, (int64_t[2]){x->shape[0], w->shape[0]});
    if (!y) {
        return NULL;
    }
    vkt_status s = VKT_OK;
    uint32_t epi = (bias ? MATMUL_EPI_BIAS : 0u) | (relu ? MATMUL_EPI_RELU : 0u);
    if (!vkt__matmul_epilogue(x, w, VKT_TRANS_B, bias, epi, y, &s)) {
        vkt_tensor_free(y);
        return linear_composed(x, w, bias, relu);
    }
    if (s == VKT_OK && vkt__any_requires_grad(x, w, bias)) {
        s = vkt__record(code, y, x, w, bias) ? VKT_OK : vkt_last_status();
    }
    if (s != VKT_OK) {
        vkt__error_context("%s", op);
        vkt_tensor_free(y);
        return NULL;
    }
    return y;
}

vkt_tensor *vkt_linear(const vkt_tensor *x, const vkt_tensor *w, const vkt_tensor *bias)
{
    return linear("vkt_linear", VKT__OP_LINEAR, x, w, bias, false);
}

vkt_tensor *vkt_linear_relu(const vkt_tensor *x, const vkt_tensor *w, const vkt_tensor *bias)
{
    return linear("vkt_linear_relu", VKT__OP_LINEAR_RELU, x, w, bias, true);
}

/* dx (+)= G·W, dW (+)= Gᵀ·x, dbias (+)= G's column sums, G = gout (masked by y > 0 with relu). */
static vkt_status linear_backward(vkt__node *n, const vkt_tensor *gout, bool relu)
{
    vkt_tensor *x = n->in[0], *w = n->in[1], *bias = n->in[2];
    vkt_tensor *masked = NULL;
    const vkt_tensor *g = gout;
    vkt_status s = VKT_OK;
    if (relu) {
        masked = vkt_tensor_new(gout->dev, VKT_F32, 2, n->out->shape);
        s = masked ? vkt__relu_mask(gout, n->out, masked) : vkt_last_status();
        g = masked;
    }
    bool acc;
    if (s == VKT_OK && vkt__wants_grad(x)) {
        vkt_tensor *gx = vkt__grad_first(x, &acc);
        s = gx ? vkt__matmul_into(g, w, gx, 0, acc, VKT__MATMUL_AUTO) : vkt_last_status();
    }
    if (s == VKT_OK && vkt__wants_grad(w)) {
        vkt_tensor *gw = vkt__grad_first(w, &acc);
        s = gw ? vkt__matmul_into(g, x, gw, VKT_TRANS_A, acc, VKT__MATMUL_AUTO) : vkt_last_status();
    }
    if (s == VKT_OK && bias && vkt__wants_grad(bias)) {
        vkt_tensor *gb = vkt__grad_first(bias, &acc);
        s = gb ? vkt__sum_cols(g, gb, acc) : vkt_last_status();
    }
    vkt_tensor_free(masked); /* memory returns once the passes that read it are done */
    return s;
}

vkt_status vkt__linear_backward(vkt__node *n, const vkt_tensor *gout)
{
    return linear_backward(n, gout, false);
}

vkt_status vkt__linear_relu_backward(vkt__node *n, const vkt_tensor *gout)
{
    return linear_backward(n, gout, true);
}
