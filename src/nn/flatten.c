/*
 * flatten.c — torch.nn.Flatten(start_dim = 1, end_dim = -1) in a sequential model: vkt_flatten
 * (src/ops/shape.c), a view of its input that gradients flow through. The sample shape it gives
 * is checked and computed here, so the next layer's sizes are validated at creation.
 * Test: tests/test_layers.c.
 */
#include "nn/layer.h"

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
    return vkt_flatten(x, f->start_dim, f->end_dim);
}

const vkt__layer_kind vkt__layer_flatten = {
    .name = "Flatten",
    .state_size = sizeof(flatten_state),
    .init = flatten_seq_init,
    .forward = flatten_seq_forward,
};
