/*
 * softmax.c — vkt_softmax and vkt_log_softmax along any dimension (dispatch and backward).
 *
 * x is viewed as (outer, len, inner) around the dimension. Forward, numerically stable:
 *   m = max along dim, e = exp(x - m), s = sum along dim of e,
 *   softmax = e / s,  log_softmax = (x - m) - log(s)
 * Backward (y = the output, dy = its gradient):
 *   softmax:      dx += y * (dy - sum(dy * y))
 *   log_softmax:  dx += dy - exp(y) * sum(dy)
 * The reductions are vkt__reduce_axis (the row reductions when dim is the last one, see
 * src/ops/reduce_dim.c), the elementwise steps shaders/axis_pointwise.comp; every step has a
 * fixed order, so results are deterministic.
 * Reference: vkt__ref_softmax / vkt__ref_log_softmax (src/ref/ref_shape.c). Checks:
 * src/check/check_shape.c. Tests: tests/test_shape.c, tests/fixtures/torch_shape.txt.
 */
#include "ops/reduce_dim.h"
#include "ops/shape_internal.h"

static vkt_tensor *softmax_impl(const char *name, const vkt_tensor *x, int dim, bool log)
{
    int d;
    if (!x || !vkt__check_dtype(name, "x", x, VKT_F32) || !vkt__norm_dim(name, x, dim, x->ndim, &d)) {
        return NULL;
    }
    int64_t outer, len, inner;
    vkt__axis_split(x, d, &outer, &len, &inner);
    int64_t nr = outer * inner;
    vkt_tensor *out = vkt__new_output(x->dev, VKT_F32, x->ndim, x->shape);
    vkt_tensor *m = vkt_tensor_new(x->dev, VKT_F32, 1, &nr);
    vkt_tensor *idx = vkt_tensor_new(x->dev, VKT_I32, 1, &nr);
    vkt_tensor *sum = vkt_tensor_new(x->dev, VKT_F32, 1, &nr);
    vkt_tensor *e = vkt_tensor_new(x->dev, VKT_F32, x->ndim, x->shape);
    vkt_tensor *res = NULL;
    if (!out || !m || !idx || !sum || !e) {
        goto done;
    }
    if (vkt__reduce_axis(x, outer, len, inner, true, false, 1.0f, m, idx) != VKT_OK ||
        vkt__axis_pointwise(AX_EXP_SUB, x, NULL, m, NULL, e, len, inner, 0.0f, false) !=
            VKT_OK ||
        vkt__reduce_axis(e, outer, len, inner, false, false, 1.0f, sum, NULL) != VKT_OK ||
        (log ? vkt__axis_pointwise(AX_LOG_SOFTMAX, x, NULL, m, sum, out, len, inner, 0.0f,
                                   false)
             : vkt__axis_pointwise(AX_DIV, e, NULL, sum, NULL, out, len, inner, 0.0f,
                                   false)) != VKT_OK) {
        vkt__error_context("%s", name);
        goto done;
    }
    if (x->requires_grad) {
        vkt__node *n = vkt__record(log ? VKT__OP_LOG_SOFTMAX : VKT__OP_SOFTMAX, out, x, NULL, NULL);
        if (!n) {
            goto done;
        }
        n->iparam[0] = d;
    }
    res = out;
    out = NULL;
done:
    vkt_tensor_free(out);
    vkt_tensor_free(m);
    vkt_tensor_free(idx);
    vkt_tensor_free(sum);
    vkt_tensor_free(e);
    return res;
}

vkt_tensor *vkt_softmax(const vkt_tensor *x, int dim)
{
    return softmax_impl("vkt_softmax", x, dim, false);
}

vkt_tensor *vkt_log_softmax(const vkt_tensor *x, int dim)
{
    return softmax_impl("vkt_log_softmax", x, dim, true);
}

static vkt_status softmax_backward(vkt__node *n, const vkt_tensor *gout, bool log)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    int64_t outer, len, inner;
    vkt__axis_split(x, n->iparam[0], &outer, &len, &inner);
    int64_t nr = outer * inner;
    const vkt_tensor *y = n->out;
    vkt_tensor *s = vkt_tensor_new(x->dev, VKT_F32, 1, &nr);
    vkt_tensor *p = log ? NULL : vkt_tensor_new(x->dev, VKT_F32, 1, &x->numel);
    vkt_status st = VKT_OK;
    if (!s || (!log && !p)) {
        st = vkt_last_status();
    } else if (log) {
        st = vkt__reduce_axis(gout, outer, len, inner, false, false, 1.0f, s, NULL);
        if (st == VKT_OK) {
            st = vkt__axis_pointwise(AX_LOG_SOFTMAX_BWD, y, gout, s, NULL, g, len, inner,
                                     0.0f, true);
        }
    } else {
        st = vkt__axis_pointwise(AX_MUL, gout, y, NULL, NULL, p, len, inner, 0.0f, false);
        if (st == VKT_OK) {
            st = vkt__reduce_axis(p, outer, len, inner, false, false, 1.0f, s, NULL);
        }
        if (st == VKT_OK) {
            st = vkt__axis_pointwise(AX_SOFTMAX_BWD, y, gout, s, NULL, g, len, inner, 0.0f,
                                     true);
        }
    }
    vkt_tensor_free(s);
    vkt_tensor_free(p);
    return st;
}

vkt_status vkt__softmax_backward(vkt__node *n, const vkt_tensor *gout)
{
    return softmax_backward(n, gout, false);
}

vkt_status vkt__log_softmax_backward(vkt__node *n, const vkt_tensor *gout)
{
    return softmax_backward(n, gout, true);
}
