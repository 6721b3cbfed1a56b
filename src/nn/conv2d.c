/*
 * conv2d.c — torch.nn.Conv2d as a layer: weight (out, in / groups, kh, kw) kaiming_uniform
 * (a = sqrt(5), i.e. U(±1/sqrt(fan_in)) with fan_in = in / groups · kh · kw) and bias (out)
 * U(±1/sqrt(fan_in)), as torch initialises them; the forward is vkt_conv2d
 * (src/ops/conv.c), whose backward autograd uses. Test: tests/test_layers.c,
 * tests/test_torch_cnn.c.
 */
#include <math.h>

#include "nn/layer.h"

/* torch's defaults for the zero fields */
static vkt_conv2d_desc conv_desc_defaults(const vkt_conv2d_desc *d)
{
    vkt_conv2d_desc r = *d;
    for (int i = 0; i < 2; i++) {
        r.stride[i] = r.stride[i] ? r.stride[i] : 1;
        r.dilation[i] = r.dilation[i] ? r.dilation[i] : 1;
    }
    r.groups = r.groups ? r.groups : 1;
    return r;
}

static vkt_status conv_validate(const char *fn, const char *name, const vkt_conv2d_desc *d)
{
    if (d->in_channels == 0 || d->out_channels == 0 || d->kernel[0] == 0 || d->kernel[1] == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: %s is Conv2d(%u, %u, kernel (%u, %u)); "
                          "channels and kernel sizes must be > 0",
                          fn, name, d->in_channels, d->out_channels, d->kernel[0], d->kernel[1]);
    }
    if (d->in_channels % d->groups || d->out_channels % d->groups) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: %s is Conv2d(%u, %u) with groups %u; "
                          "both channel counts must be multiples of groups",
                          fn, name, d->in_channels, d->out_channels, d->groups);
    }
    return VKT_OK;
}

vkt_status vkt_conv2d_init(vkt_model *m, const char *name, const vkt_conv2d_desc *desc,
                           vkt_conv2d_layer *layer)
{
    static const char fn[] = "vkt_conv2d_init";
    if (!m || !name || !desc || !layer) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: model, name, desc and layer are required", fn);
    }
    vkt_conv2d_desc d = conv_desc_defaults(desc);
    *layer = (vkt_conv2d_layer){.model = m, .desc = d};
    char quoted[64];
    snprintf(quoted, sizeof quoted, "\"%.60s\"", name);
    vkt_status s = conv_validate(fn, quoted, &d);
    if (s != VKT_OK) {
        return s;
    }
    const int64_t shape[4] = {d.out_channels, d.in_channels / d.groups, d.kernel[0], d.kernel[1]};
    const float fan_in = (float)(shape[1] * shape[2] * shape[3]);
    vkt_init w = vkt_init_kaiming_uniform(sqrtf(5.0f), VKT_FAN_IN, VKT_NONLIN_LEAKY_RELU);
    float bound = 1.0f / sqrtf(fan_in);
    vkt_init b = vkt_init_uniform(-bound, bound);
    char pname[256];
    s = vkt__layer_param_name(pname, sizeof pname, fn, name, "weight");
    layer->weight = s == VKT_OK ? vkt_model_add_param(m, pname, 4, shape, &w) : NULL;
    if (!layer->weight) {
        return vkt_last_status();
    }
    if (!d.no_bias) {
        s = vkt__layer_param_name(pname, sizeof pname, fn, name, "bias");
        layer->bias = s == VKT_OK ? vkt_model_add_param(m, pname, 1, shape, &b) : NULL; /* (out) */
        if (!layer->bias) {
            return vkt_last_status();
        }
        (void)vkt_param_set_role(layer->bias, VKT_PARAM_BIAS); /* cannot fail: a parameter */
    }
    return VKT_OK;
}

vkt_tensor *vkt_conv2d_forward(const vkt_conv2d_layer *l, const vkt_tensor *x)
{
    if (!l || !x) {
        return NULL;
    }
    const vkt_conv2d_desc *d = &l->desc;
    if (vkt_tensor_ndim(x) != 4 || vkt_tensor_dim(x, 1) != d->in_channels) {
        char dx[96];
        vkt__error(VKT_SHAPE_MISMATCH,
                   "vkt_conv2d_forward: x is %s but Conv2d(%u, %u) takes (B, %u, H, W) f32",
                   vkt_tensor_describe(x, dx, sizeof dx), d->in_channels, d->out_channels,
                   d->in_channels);
        return NULL;
    }
    vkt_conv2d_params p = {
        .stride = {(int32_t)d->stride[0], (int32_t)d->stride[1]},
        .padding = {(int32_t)d->padding[0], (int32_t)d->padding[1]},
        .dilation = {(int32_t)d->dilation[0], (int32_t)d->dilation[1]},
        .groups = (int32_t)d->groups,
    };
    return vkt_conv2d(x, vkt_param_tensor(l->weight), l->bias ? vkt_param_tensor(l->bias) : NULL,
                      &p);
}

int64_t vkt__conv_out_size(int64_t in, uint32_t kernel, uint32_t stride, uint32_t padding,
                           uint32_t dilation)
{
    int64_t room = in + 2 * (int64_t)padding - (int64_t)dilation * (kernel - 1) - 1;
    return room < 0 ? 0 : room / stride + 1;
}

/* ---- in a sequential model ------------------------------------------------------------------- */

static vkt_status conv_seq_init(vkt_model *m, const char *prefix, int index,
                                const vkt_layer_desc *ld, const vkt__sample_shape *in,
                                vkt__sample_shape *out, void *state)
{
    vkt_conv2d_desc cd = {
        .in_channels = ld->in,
        .out_channels = ld->out,
        .kernel = {ld->kernel[0], ld->kernel[1]},
        .stride = {ld->stride[0], ld->stride[1]},
        .padding = {ld->padding[0], ld->padding[1]},
        .dilation = {ld->dilation[0], ld->dilation[1]},
        .groups = ld->groups,
        .no_bias = ld->no_bias,
    };
    vkt_conv2d_desc d = conv_desc_defaults(&cd);
    char sh[64], name[32];
    snprintf(name, sizeof name, "layer %d", index);
    vkt_status s = conv_validate("vkt_model_create", name, &d);
    if (s != VKT_OK) {
        return s;
    }
    if (in->ndim == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_model_create: layer %d is Conv2d(%u, %u) but "
                          "the sample shape is not known; set "
                          "vkt_model_desc.input to (C, H, W)",
                          index, d.in_channels, d.out_channels);
    }
    if (in->ndim != 3 || in->d[0] != d.in_channels) {
        return vkt__error(VKT_SHAPE_MISMATCH,
                          "vkt_model_create: layer %d is Conv2d(%u, %u), which "
                          "takes samples (%u, H, W), but the layer before it "
                          "gives %s",
                          index, d.in_channels, d.out_channels, d.in_channels,
                          vkt__sample_shape_describe(in, sh, sizeof sh));
    }
    *out = (vkt__sample_shape){.ndim = 3, .d = {d.out_channels}};
    for (int i = 0; i < 2; i++) {
        out->d[1 + i] =
            vkt__conv_out_size(in->d[1 + i], d.kernel[i], d.stride[i], d.padding[i], d.dilation[i]);
    }
    if (out->d[1] == 0 || out->d[2] == 0) {
        return vkt__error(VKT_SHAPE_MISMATCH,
                          "vkt_model_create: layer %d is Conv2d(%u, %u) with "
                          "kernel (%u, %u), padding (%u, %u) and dilation (%u, "
                          "%u), which does not fit its input %s",
                          index, d.in_channels, d.out_channels, d.kernel[0], d.kernel[1],
                          d.padding[0], d.padding[1], d.dilation[0], d.dilation[1],
                          vkt__sample_shape_describe(in, sh, sizeof sh));
    }
    return vkt_conv2d_init(m, prefix, &cd, state);
}

static vkt_tensor *conv_seq_forward(void *state, const vkt_tensor *x)
{
    return vkt_conv2d_forward(state, x);
}

const vkt__layer_kind vkt__layer_conv2d = {
    .name = "Conv2d",
    .state_size = sizeof(vkt_conv2d_layer),
    .init = conv_seq_init,
    .forward = conv_seq_forward,
};
