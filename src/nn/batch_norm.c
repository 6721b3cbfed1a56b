/*
 * batch_norm.c — torch.nn.BatchNorm1d and BatchNorm2d as layers: weight, bias, running_mean,
 * running_var and num_batches_tracked registered in torch's order with torch's initial values,
 * and a forward that is vkt_batch_norm (src/ops/batch_norm.c) in the model's training or eval
 * mode. The two differ only in the rank of x they take. Test: tests/test_layers.c,
 * tests/test_torch_cnn.c.
 */
#include "nn/layer.h"

/* torch's defaults for the zero fields */
static vkt_batch_norm_desc bn_desc_defaults(const vkt_batch_norm_desc *d)
{
    vkt_batch_norm_desc r = *d;
    r.eps = r.eps == 0.0f ? 1e-5f : r.eps;
    r.momentum = r.momentum == 0.0f ? 0.1f : r.momentum;
    return r;
}

static vkt_status bn_validate(const char *fn, const char *name, const vkt_batch_norm_desc *d)
{
    if (d->num_features == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" has num_features 0; it must be > 0", fn,
                          name);
    }
    if (!(d->eps > 0.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" has eps %g; it must be > 0", fn, name,
                          (double)d->eps);
    }
    if (!(d->momentum > 0.0f && d->momentum <= 1.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" has momentum %g; it must be in (0, 1]",
                          fn, name, (double)d->momentum);
    }
    return VKT_OK;
}

static vkt_param *add(vkt_model *m, const char *fn, const char *prefix, const char *leaf,
                      bool buffer, vkt_dtype dtype, int ndim, int64_t c, vkt_init init)
{
    char pname[256];
    if (vkt__layer_param_name(pname, sizeof pname, fn, prefix, leaf) != VKT_OK) {
        return NULL;
    }
    const int64_t shape[1] = {c};
    if (buffer) {
        return vkt_model_add_buffer(m, pname, dtype, ndim, shape, &init);
    }
    vkt_param *p = vkt_model_add_param(m, pname, ndim, shape, &init);
    if (p) {
        (void)vkt_param_set_role(p, VKT_PARAM_NORM); /* a parameter and a known role: cannot fail */
    }
    return p;
}

static vkt_status bn_init(const char *fn, vkt_model *m, const char *name,
                          const vkt_batch_norm_desc *desc, int rank_lo, int rank_hi,
                          vkt_batch_norm_layer *layer)
{
    if (!m || !name || !desc || !layer) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: model, name, desc and layer are required", fn);
    }
    vkt_batch_norm_desc d = bn_desc_defaults(desc);
    *layer = (vkt_batch_norm_layer){.model = m,
                                    .num_features = d.num_features,
                                    .input_ndim = {rank_lo, rank_hi},
                                    .eps = d.eps,
                                    .momentum = d.momentum};
    vkt_status s = bn_validate(fn, name, &d);
    if (s != VKT_OK) {
        return s;
    }
    int64_t c = d.num_features;
    if (!d.no_affine) {
        if (!(layer->weight = add(m, fn, name, "weight", false, VKT_F32, 1, c, vkt_init_ones())) ||
            !(layer->bias = add(m, fn, name, "bias", false, VKT_F32, 1, c, vkt_init_zeros()))) {
            return vkt_last_status();
        }
    }
    if (!d.no_running_stats) {
        if (!(layer->running_mean =
                  add(m, fn, name, "running_mean", true, VKT_F32, 1, c, vkt_init_zeros())) ||
            !(layer->running_var =
                  add(m, fn, name, "running_var", true, VKT_F32, 1, c, vkt_init_ones())) ||
            !(layer->num_batches_tracked =
                  add(m, fn, name, "num_batches_tracked", true, VKT_I32, 0, 1, vkt_init_zeros()))) {
            return vkt_last_status();
        }
    }
    return VKT_OK;
}

vkt_status vkt_batch_norm1d_init(vkt_model *m, const char *name, const vkt_batch_norm_desc *desc,
                                 vkt_batch_norm_layer *layer)
{
    return bn_init("vkt_batch_norm1d_init", m, name, desc, 2, 3, layer);
}

vkt_status vkt_batch_norm2d_init(vkt_model *m, const char *name, const vkt_batch_norm_desc *desc,
                                 vkt_batch_norm_layer *layer)
{
    return bn_init("vkt_batch_norm2d_init", m, name, desc, 4, 4, layer);
}

static vkt_tensor *tensor_or_null(vkt_param *p) { return p ? vkt_param_tensor(p) : NULL; }

/* vkt_batch_norm_forward, followed by a ReLU with relu (vkt_batch_norm_relu). */
static vkt_tensor *bn_layer_forward(const vkt_batch_norm_layer *l, const vkt_tensor *x, bool relu)
{
    if (!l || !x) {
        return NULL;
    }
    int nd = vkt_tensor_ndim(x);
    if (nd < l->input_ndim[0] || nd > l->input_ndim[1] || vkt_tensor_dim(x, 1) != l->num_features) {
        char d[96], w[64];
        bool two_d = l->input_ndim[0] == 4;
        if (two_d) {
            snprintf(w, sizeof w, "(B, %u, H, W)", l->num_features);
        } else {
            snprintf(w, sizeof w, "(B, %u) or (B, %u, L)", l->num_features, l->num_features);
        }
        vkt__error(VKT_SHAPE_MISMATCH,
                   "vkt_batch_norm_forward: x is %s but BatchNorm%s(%u) takes "
                   "%s f32",
                   vkt_tensor_describe(x, d, sizeof d), two_d ? "2d" : "1d", l->num_features, w);
        return NULL;
    }
    /* torch: batch statistics in training, and always without running statistics */
    bool training = vkt_model_is_training(l->model) || !l->running_mean;
    vkt_batch_norm_params p = {
        .training = training,
        .momentum = l->momentum,
        .eps = l->eps,
        .num_batches_tracked = tensor_or_null(l->num_batches_tracked),
    };
    return (relu ? vkt_batch_norm_relu : vkt_batch_norm)(
        x, tensor_or_null(l->weight), tensor_or_null(l->bias), tensor_or_null(l->running_mean),
        tensor_or_null(l->running_var), &p);
}

vkt_tensor *vkt_batch_norm_forward(const vkt_batch_norm_layer *l, const vkt_tensor *x)
{
    return bn_layer_forward(l, x, false);
}

/* ---- in a sequential model ------------------------------------------------------------------- */

static void bn1d_input(const vkt_layer_desc *d, vkt__sample_shape *in)
{
    *in = (vkt__sample_shape){.ndim = 1, .d = {d->in}}; /* (C): batch norm over features */
}

static vkt_status bn_seq_init(bool two_d, vkt_model *m, const char *prefix, int index,
                              const vkt_layer_desc *d, const vkt__sample_shape *in,
                              vkt__sample_shape *out, void *state)
{
    const char *kind = two_d ? "BatchNorm2d" : "BatchNorm1d";
    char sh[64];
    if (two_d && in->ndim == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_model_create: layer %d is %s(%u) but the "
                          "sample shape is not known; set "
                          "vkt_model_desc.input to (C, H, W)",
                          index, kind, d->in);
    }
    bool rank_ok = two_d ? in->ndim == 3 : in->ndim == 1 || in->ndim == 2;
    if (!rank_ok || in->d[0] != d->in) {
        return vkt__error(VKT_SHAPE_MISMATCH,
                          "vkt_model_create: layer %d is %s(%u), which takes "
                          "samples %s, but the layer before it gives %s",
                          index, kind, d->in,
                          two_d ? "(C, H, W) with C = num_features"
                                : "(C) or (C, L) with C = num_features",
                          vkt__sample_shape_describe(in, sh, sizeof sh));
    }
    *out = *in;
    vkt_batch_norm_desc bd = {.num_features = d->in,
                              .eps = d->eps,
                              .momentum = d->momentum,
                              .no_affine = d->no_affine,
                              .no_running_stats = d->no_running_stats};
    return two_d ? vkt_batch_norm2d_init(m, prefix, &bd, state)
                 : vkt_batch_norm1d_init(m, prefix, &bd, state);
}

static vkt_status bn1d_seq_init(vkt_model *m, const char *prefix, int index,
                                const vkt_layer_desc *d, const vkt__sample_shape *in,
                                vkt__sample_shape *out, void *state)
{
    return bn_seq_init(false, m, prefix, index, d, in, out, state);
}

static vkt_status bn2d_seq_init(vkt_model *m, const char *prefix, int index,
                                const vkt_layer_desc *d, const vkt__sample_shape *in,
                                vkt__sample_shape *out, void *state)
{
    return bn_seq_init(true, m, prefix, index, d, in, out, state);
}

static vkt_tensor *bn_seq_forward(void *state, const vkt_tensor *x)
{
    return bn_layer_forward(state, x, false);
}

static vkt_tensor *bn_seq_forward_relu(void *state, const vkt_tensor *x)
{
    return bn_layer_forward(state, x, true);
}

const vkt__layer_kind vkt__layer_batch_norm1d = {
    .name = "BatchNorm1d",
    .state_size = sizeof(vkt_batch_norm_layer),
    .input_shape = bn1d_input,
    .init = bn1d_seq_init,
    .forward = bn_seq_forward,
    .forward_relu = bn_seq_forward_relu,
};

const vkt__layer_kind vkt__layer_batch_norm2d = {
    .name = "BatchNorm2d",
    .state_size = sizeof(vkt_batch_norm_layer),
    .init = bn2d_seq_init,
    .forward = bn_seq_forward,
    .forward_relu = bn_seq_forward_relu,
};
