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
 * On CPU-type devices a softmax along a contiguous last dimension of at most
 * VKT__SOFTMAX_ROWS_MAX_LEN is one dispatch instead of four (shaders/softmax_rows.comp, one
 * invocation per row; its backward softmax_rows_backward.comp instead of three): short rows leave
 * the row reductions' workgroups mostly idle, and each pass over memory costs as much as the
 * arithmetic. The same kernels, with a scale and a causal triangle, are the unfused attention's
 * softmax on every device (vkt__softmax_scaled).
 * Reference: vkt__ref_softmax / vkt__ref_log_softmax (src/ref/ref_shape.c). Checks:
 * src/check/check_shape.c. Tests: tests/test_shape.c, tests/fixtures/torch_shape.txt.
 */
#include "ops/reduce_dim.h"
#include "ops/shape_internal.h"

/* Mirror `PC` in shaders/softmax_rows.comp and softmax_rows_backward.comp. */
typedef struct vkt__pc_softmax_rows {
    uint32_t rows, len;
    float scale;
    uint32_t causal;
} vkt__pc_softmax_rows;
_Static_assert(sizeof(vkt__pc_softmax_rows) <= VKT__PUSH_MAX, "push constants");

typedef struct vkt__pc_softmax_rows_backward {
    uint32_t rows, len;
    float scale;
    uint32_t causal, accumulate;
} vkt__pc_softmax_rows_backward;
_Static_assert(sizeof(vkt__pc_softmax_rows_backward) <= VKT__PUSH_MAX, "push constants");

#define ROWS_WG 64u

/* The node's iparam: [0] the dimension, [1] 1 for the row kernels, [2] causal; fparam[0] the
 * row kernels' scale. */
static vkt_tensor *softmax_rows(const char *name, const vkt_tensor *x, float scale, bool causal)
{
    int64_t len = x->shape[x->ndim - 1];
    vkt_tensor *out = vkt__new_output(x->dev, VKT_F32, x->ndim, x->shape);
    if (!out) {
        return NULL;
    }
    vkt__pc_softmax_rows pc = {
        .rows = (uint32_t)(x->numel / len),
        .len = (uint32_t)len,
        .scale = scale,
        .causal = causal,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_SOFTMAX_ROWS,
        .spec = {ROWS_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(x, VKT__READ), vkt__bind(out, VKT__WRITE)},
    };
    vkt__groups_2d(VKT__DIV_UP((uint64_t)pc.rows, ROWS_WG), d.groups);
    if (vkt__dispatch(x->dev, &d) != VKT_OK) {
        goto fail;
    }
    if (x->requires_grad) {
        vkt__node *n = vkt__record(VKT__OP_SOFTMAX, out, x, NULL, NULL);
        if (!n) {
            goto fail;
        }
        n->iparam[0] = x->ndim - 1;
        n->iparam[1] = 1;
        n->iparam[2] = causal;
        n->fparam[0] = scale;
    }
    return out;

fail:
    vkt__error_context("%s", name);
    vkt_tensor_free(out);
    return NULL;
}

vkt_tensor *vkt__softmax_scaled(const vkt_tensor *x, float scale, bool causal)
{
    return softmax_rows("vkt_attention (unfused)", x, scale, causal);
}

/* Writes every element of x's gradient: its first writer overwrites it (vkt__grad_first). */
static vkt_status softmax_rows_backward(vkt__node *n, const vkt_tensor *gout)
{
    bool accumulate;
    vkt_tensor *g = vkt__grad_first(n->in[0], &accumulate);
    if (!g) {
        return vkt_last_status();
    }
    const vkt_tensor *y = n->out;
    int64_t len = y->shape[y->ndim - 1];
    vkt__pc_softmax_rows_backward pc = {
        .rows = (uint32_t)(y->numel / len),
        .len = (uint32_t)len,
        .scale = n->fparam[0],
        .causal = n->iparam[2] != 0,
        .accumulate = accumulate,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_SOFTMAX_ROWS_BACKWARD,
        .spec = {ROWS_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(y, VKT__READ), vkt__bind(gout, VKT__READ),
                     vkt__bind(g, accumulate ? VKT__RW : VKT__WRITE)},
    };
    vkt__groups_2d(VKT__DIV_UP((uint64_t)pc.rows, ROWS_WG), d.groups);
    return vkt__dispatch(y->dev, &d);
}

static vkt_tensor *softmax_impl(const char *name, const vkt_tensor *x, int dim, bool log)
{
    int d;
    if (!x || !vkt__check_dtype(name, "x", x, VKT_F32) || !vkt__norm_dim(name, x, dim, x->ndim, &d)) {
        return NULL;
    }
    int64_t outer, len, inner;
    vkt__axis_split(x, d, &outer, &len, &inner);
    if (!log && inner == 1 && len <= VKT__SOFTMAX_ROWS_MAX_LEN &&
        vkt__device_caps(x->dev)->cpu_like) {
        return softmax_rows(name, x, 1.0f, false);
    }
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
    if (n->iparam[1]) {
        return softmax_rows_backward(n, gout);
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
