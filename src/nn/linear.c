/*
 * linear.c — torch.nn.Linear as a layer over a model's parameters: y = x Wᵀ + b for x (..., in):
 * vkt_linear for one row or a batch of rows (vkt_linear_relu where a ReLU follows in a sequential
 * model), vkt_matmul (VKT_TRANS_B, W shared by every leading index) and vkt_add_bias for N-D x;
 * the backward is autograd's. The pattern every layer follows (src/nn/layer.h). Tests:
 * tests/test_params.c, tests/test_nn.c (N-D input: linear_on_nd_input).
 */
#include <math.h>

#include "nn/layer.h"

vkt_status vkt_linear_init(vkt_model *m, const char *name, uint32_t in, uint32_t out, bool bias,
                           vkt_linear_layer *layer)
{
    static const char fn[] = "vkt_linear_init";
    if (!m || !name || !layer) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: model, name and layer are required", fn);
    }
    *layer = (vkt_linear_layer){.model = m, .in = in, .out = out};
    if (in == 0 || out == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" is Linear(%u, %u); both sizes must be "
                                                "> 0",
                          fn, name, in, out);
    }
    /* torch: kaiming_uniform_(a = sqrt(5)) on the weight is U(±1/sqrt(fan_in)), and so is the
     * bias; drawn as uniform(-bound, bound) with bound rounded to f32 first */
    float bound = 1.0f / sqrtf((float)in);
    vkt_init u = vkt_init_uniform(-bound, bound);
    char pname[256];
    vkt_status s = vkt__layer_param_name(pname, sizeof pname, fn, name, "weight");
    layer->weight = s == VKT_OK ? vkt_model_add_param(m, pname, 2, (int64_t[]){out, in}, &u) : NULL;
    if (!layer->weight) {
        return vkt_last_status();
    }
    if (bias) {
        s = vkt__layer_param_name(pname, sizeof pname, fn, name, "bias");
        layer->bias = s == VKT_OK ? vkt_model_add_param(m, pname, 1, (int64_t[]){out}, &u) : NULL;
        if (!layer->bias) {
            return vkt_last_status();
        }
        (void)vkt_param_set_role(layer->bias, VKT_PARAM_BIAS); /* cannot fail: a parameter */
    }
    return VKT_OK;
}

/* The layer's forward, then a ReLU with relu: a 2-D (or 1-D: one row) x runs as one vkt_linear
 * (vkt_linear_relu); an N-D x (..., in) as vkt_matmul, whose W is shared by every leading index
 * and whose leading dimensions fold into one 2-D product's rows, and vkt_add_bias (vkt_relu). */
static vkt_tensor *linear_layer_forward(const vkt_linear_layer *l, const vkt_tensor *x, bool relu)
{
    if (!l || !x) {
        return NULL;
    }
    const vkt_tensor *w = vkt_param_tensor(l->weight);
    const vkt_tensor *b = l->bias ? vkt_param_tensor(l->bias) : NULL;
    int nd = vkt_tensor_ndim(x);
    if (nd > 2) {
        vkt_tensor *h = vkt_matmul(x, w, VKT_TRANS_B);
        vkt_tensor *y = b ? vkt_add_bias(h, b) : h;
        return relu ? vkt_relu(y) : y;
    }
    const vkt_tensor *x2 = nd == 1 ? vkt_reshape(x, 2, (int64_t[2]){1, vkt_tensor_dim(x, 0)}) : x;
    vkt_tensor *y = relu ? vkt_linear_relu(x2, w, b) : vkt_linear(x2, w, b);
    return nd == 1 && y ? vkt_reshape(y, 1, (int64_t[1]){l->out}) : y;
}

vkt_tensor *vkt_linear_forward(const vkt_linear_layer *l, const vkt_tensor *x)
{
    return linear_layer_forward(l, x, false);
}

/* ---- in a sequential model ------------------------------------------------------------------- */

static void linear_input(const vkt_layer_desc *d, vkt__sample_shape *in)
{
    *in = (vkt__sample_shape){.ndim = 1, .d = {d->in}};
}

static vkt_status linear_seq_init(vkt_model *m, const char *prefix, int index,
                                  const vkt_layer_desc *d, const vkt__sample_shape *in,
                                  vkt__sample_shape *out, void *state)
{
    if (d->in == 0 || d->out == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: layer %d is Linear(%u, %u); "
                                                "both sizes must be > 0",
                          index, d->in, d->out);
    }
    if (in->ndim > 1) {
        char sh[64];
        return vkt__error(VKT_SHAPE_MISMATCH, "vkt_model_create: layer %d is Linear(%u, %u), which "
                                              "takes %u features per sample, but the layer before "
                                              "it gives samples of shape %s; put a Flatten between",
                          index, d->in, d->out, d->in,
                          vkt__sample_shape_describe(in, sh, sizeof sh));
    }
    if (in->ndim != 1 || in->d[0] != d->in) {
        return vkt__error(VKT_SHAPE_MISMATCH, "vkt_model_create: layer %d is Linear(%u, %u) and "
                                              "takes %u inputs but the layer before it gives %lld",
                          index, d->in, d->out, d->in, (long long)in->d[0]);
    }
    *out = (vkt__sample_shape){.ndim = 1, .d = {d->out}};
    return vkt_linear_init(m, prefix, d->in, d->out, !d->no_bias, state);
}

static vkt_tensor *linear_seq_forward(void *state, const vkt_tensor *x)
{
    return linear_layer_forward(state, x, false);
}

static vkt_tensor *linear_seq_forward_relu(void *state, const vkt_tensor *x)
{
    return linear_layer_forward(state, x, true);
}

const vkt__layer_kind vkt__layer_linear = {
    .name = "Linear",
    .state_size = sizeof(vkt_linear_layer),
    .input_shape = linear_input,
    .init = linear_seq_init,
    .forward = linear_seq_forward,
    .forward_relu = linear_seq_forward_relu,
};
