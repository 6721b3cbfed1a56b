/*
 * flatten.c — torch.nn.Flatten(start_dim = 1, end_dim = -1) as a layer: a view of its input, no
 * copy and no dispatch. Tensors are contiguous and row-major, so merging dimensions start..end
 * keeps every element where it is (torch's flatten order). The view is not an op on the tape;
 * gradients reach the input because the view's gradient is made a view of the input's gradient
 * (the backward accumulates into the same memory, and the input's gradient, a node output's, is
 * zeroed by vkt_backward before the walk). Test: tests/test_layers.c.
 */
#include "nn/layer.h"

/* Normalised (0-based, inclusive) dims, or false with the error set. */
static bool flatten_dims(const char *fn, int ndim, int *start, int *end)
{
    int s = *start < 0 ? *start + ndim : *start, e = *end < 0 ? *end + ndim : *end;
    if (s < 0 || s >= ndim || e < 0 || e >= ndim || s > e) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: start_dim %d and end_dim %d do not select "
                   "dimensions first..last of a %d-D tensor",
                   fn, *start, *end, ndim);
        return false;
    }
    *start = s;
    *end = e;
    return true;
}

vkt_tensor *vkt__flatten(const vkt_tensor *x, int start_dim, int end_dim)
{
    static const char fn[] = "Flatten";
    if (!x) {
        return NULL;
    }
    int nd = vkt_tensor_ndim(x);
    if (!flatten_dims(fn, nd, &start_dim, &end_dim)) {
        return NULL;
    }
    int64_t shape[VKT_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < nd; i++) {
        if (i <= start_dim || i > end_dim) {
            shape[k++] = vkt_tensor_dim(x, i);
        } else {
            shape[k - 1] *= vkt_tensor_dim(x, i);
        }
    }
    vkt_tensor *base = (vkt_tensor *)x;
    vkt_tensor *v = vkt_tensor_view(base, 0, k, shape);
    if (!v || !vkt_tensor_requires_grad(x)) {
        return v;
    }
    vkt_tensor *g = vkt_tensor_grad(x);
    if (!g) {
        /* a fresh zero gradient for x; x holds it from here on */
        int64_t xs[VKT_MAX_DIMS];
        for (int i = 0; i < nd; i++) {
            xs[i] = vkt_tensor_dim(x, i);
        }
        vkt_device *dev = vkt_tensor_device(x);
        vkt_scope_begin(dev);
        g = vkt_tensor_new(dev, VKT_F32, nd, xs);
        vkt_status s = g ? vkt_fill(g, 0.0f) : vkt_last_status();
        s = s == VKT_OK ? vkt_tensor_set_grad(base, g) : s;
        vkt_scope_end(dev); /* x's reference keeps g */
        if (s != VKT_OK) {
            vkt_tensor_free(v);
            return NULL;
        }
        g = vkt_tensor_grad(x);
    }
    vkt_device *dev = vkt_tensor_device(x);
    vkt_scope_begin(dev);
    vkt_tensor *gv = vkt_tensor_view(g, 0, k, shape);
    vkt_status s = gv ? vkt_tensor_set_grad(v, gv) : vkt_last_status();
    vkt_scope_end(dev); /* v's reference keeps gv */
    if (s != VKT_OK) {
        vkt_tensor_free(v);
        return NULL;
    }
    vkt_tensor_set_requires_grad(v, true);
    return v;
}

/* ---- in a sequential model ------------------------------------------------------------------- */

typedef struct flatten_state {
    int start_dim, end_dim; /* of the batched tensor, as torch's */
} flatten_state;

static vkt_status flatten_seq_init(vkt_model *m, const char *prefix, int index,
                                   const vkt_layer_desc *d, const vkt__sample_shape *in,
                                   vkt__sample_shape *out, void *state)
{
    (void)m, (void)prefix;
    flatten_state *f = state;
    f->start_dim = d->start_dim == 0 ? 1 : d->start_dim;
    f->end_dim = d->end_dim == 0 ? -1 : d->end_dim;
    if (in->ndim == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_model_create: layer %d is Flatten but the "
                          "sample shape is not known; set "
                          "vkt_model_desc.input",
                          index);
    }
    int nd = in->ndim + 1, s = f->start_dim, e = f->end_dim;
    s = s < 0 ? s + nd : s;
    e = e < 0 ? e + nd : e;
    if (s < 1 || s >= nd || e < s || e >= nd) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_model_create: layer %d is Flatten(%d, %d), "
                          "which must select dimensions 1..%d of the "
                          "(batch, ...) input without the batch dimension",
                          index, f->start_dim, f->end_dim, nd - 1);
    }
    *out = (vkt__sample_shape){0};
    for (int i = 1; i < nd; i++) {
        if (i <= s || i > e) {
            out->d[out->ndim++] = in->d[i - 1];
        } else {
            out->d[out->ndim - 1] *= in->d[i - 1];
        }
    }
    return VKT_OK;
}

static vkt_tensor *flatten_seq_forward(void *state, const vkt_tensor *x)
{
    const flatten_state *f = state;
    return vkt__flatten(x, f->start_dim, f->end_dim);
}

const vkt__layer_kind vkt__layer_flatten = {
    .name = "Flatten",
    .state_size = sizeof(flatten_state),
    .init = flatten_seq_init,
    .forward = flatten_seq_forward,
};
