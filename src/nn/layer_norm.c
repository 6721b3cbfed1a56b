/*
 * layer_norm.c — torch.nn.LayerNorm and RMSNorm (over the last dimension) as layers: weight ones
 * and bias zeros registered with the VKT_PARAM_NORM role, and forwards that are vkt_layer_norm /
 * vkt_rms_norm (src/ops/layer_norm.c). Not in the sequential layer table: they serve
 * transformer blocks, which are written as code. Test: tests/test_norm.c.
 */
#include <math.h>

#include "nn/layer.h"

/* "<prefix>.<leaf>" of shape (dim), with the NORM role. */
static vkt_param *add(vkt_model *m, const char *fn, const char *prefix, const char *leaf,
                      uint32_t dim, vkt_init init)
{
    char pname[256];
    if (vkt__layer_param_name(pname, sizeof pname, fn, prefix, leaf) != VKT_OK) {
        return NULL;
    }
    const int64_t shape[1] = {dim};
    vkt_param *p = vkt_model_add_param(m, pname, 1, shape, &init);
    if (p) {
        (void)vkt_param_set_role(p, VKT_PARAM_NORM); /* a parameter and a known role: cannot fail */
    }
    return p;
}

static vkt_status check_dim_eps(const char *fn, const char *name, uint32_t dim, float eps)
{
    if (dim == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" has dim 0; it must be > 0", fn, name);
    }
    if (!isfinite(eps) || eps < 0.0f) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: \"%s\" has eps %g; it must be finite and >= 0",
                          fn, name, (double)eps);
    }
    return VKT_OK;
}

/* x must be (..., dim) f32; `kind` is "LayerNorm" or "RMSNorm". */
static bool check_input(const char *fn, const char *kind, uint32_t dim, const vkt_tensor *x)
{
    int nd = vkt_tensor_ndim(x);
    if (vkt_tensor_dtype(x) == VKT_F32 && vkt_tensor_dim(x, nd - 1) == dim) {
        return true;
    }
    char d[96];
    vkt__error(vkt_tensor_dtype(x) == VKT_F32 ? VKT_SHAPE_MISMATCH : VKT_DTYPE_MISMATCH,
               "%s: x is %s but %s(%u) takes (..., %u) f32", fn,
               vkt_tensor_describe(x, d, sizeof d), kind, dim, dim);
    return false;
}

static vkt_tensor *tensor_or_null(vkt_param *p) { return p ? vkt_param_tensor(p) : NULL; }

vkt_status vkt_layer_norm_init(vkt_model *m, const char *name, const vkt_layer_norm_desc *desc,
                               vkt_layer_norm_layer *layer)
{
    const char *fn = "vkt_layer_norm_init";
    if (!m || !name || !desc || !layer) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: model, name, desc and layer are required", fn);
    }
    *layer =
        (vkt_layer_norm_layer){.model = m, .dim = desc->dim, .eps = VKT__DEF(desc->eps, 1e-5f)};
    vkt_status s = check_dim_eps(fn, name, desc->dim, desc->eps);
    if (s != VKT_OK || desc->no_affine) {
        return s;
    }
    if (!(layer->weight = add(m, fn, name, "weight", desc->dim, vkt_init_ones())) ||
        (!desc->no_bias &&
         !(layer->bias = add(m, fn, name, "bias", desc->dim, vkt_init_zeros())))) {
        return vkt_last_status();
    }
    return VKT_OK;
}

vkt_tensor *vkt_layer_norm_forward(const vkt_layer_norm_layer *l, const vkt_tensor *x)
{
    if (!l || !x || !check_input("vkt_layer_norm_forward", "LayerNorm", l->dim, x)) {
        return NULL;
    }
    return vkt_layer_norm(x, tensor_or_null(l->weight), tensor_or_null(l->bias), l->eps);
}

vkt_status vkt_rms_norm_init(vkt_model *m, const char *name, uint32_t dim, float eps,
                             vkt_rms_norm_layer *layer)
{
    const char *fn = "vkt_rms_norm_init";
    if (!m || !name || !layer) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: model, name and layer are required", fn);
    }
    *layer = (vkt_rms_norm_layer){.model = m, .dim = dim, .eps = VKT__DEF(eps, 1e-6f)};
    vkt_status s = check_dim_eps(fn, name, dim, eps);
    if (s == VKT_OK && !(layer->weight = add(m, fn, name, "weight", dim, vkt_init_ones()))) {
        s = vkt_last_status();
    }
    return s;
}

vkt_tensor *vkt_rms_norm_forward(const vkt_rms_norm_layer *l, const vkt_tensor *x)
{
    if (!l || !x || !check_input("vkt_rms_norm_forward", "RMSNorm", l->dim, x)) {
        return NULL;
    }
    return vkt_rms_norm(x, tensor_or_null(l->weight), l->eps);
}
