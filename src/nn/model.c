/*
 * model.c — sequential models of Linear and ReLU layers over contiguous parameter blocks.
 *
 * Parameters are laid out in torch.nn.Sequential state_dict order, each padded to a multiple of
 * 64 elements (256 bytes: a valid storage-buffer offset on every device). The parameter block and
 * the gradient block have the same layout; every parameter view has its gradient set to the
 * matching view of the gradient block (vkt_tensor_set_grad), so vkt_backward writes straight into
 * the block and zero-grad is one fill.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "vkt/nn.h"

#define PARAM_ALIGN 64 /* elements */

typedef struct layer {
    vkt_layer_desc d;
    int weight, bias;  /* parameter tensor indices; -1 when absent */
} layer;

struct vkt_model {
    vkt_device *dev;
    layer layers[VKT_MAX_LAYERS];
    int n_layers;
    vkt_tensor *params, *grads;          /* the blocks */
    vkt_tensor *p[2 * VKT_MAX_LAYERS];   /* views into params */
    vkt_tensor *g[2 * VKT_MAX_LAYERS];   /* views into grads */
    char names[2 * VKT_MAX_LAYERS][24];
    uint32_t n_tensors;
    uint64_t n_params;
};

vkt_status vkt_mlp_desc(const uint32_t *sizes, int n, uint64_t seed, vkt_model_desc *out)
{
    memset(out, 0, sizeof *out);
    if (!sizes || n < 2 || 2 * (n - 1) - 1 > VKT_MAX_LAYERS) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_mlp_desc: need 2 to %d layer sizes, got %d",
                          VKT_MAX_LAYERS / 2 + 1, n);
    }
    int k = 0;
    for (int i = 0; i + 1 < n; i++) {
        if (sizes[i] == 0 || sizes[i + 1] == 0) {
            return vkt__error(VKT_INVALID_ARGUMENT, "vkt_mlp_desc: layer size %d is 0", i);
        }
        out->layers[k++] = (vkt_layer_desc){VKT_LAYER_LINEAR, sizes[i], sizes[i + 1], false};
        if (i + 2 < n) {
            out->layers[k++] = (vkt_layer_desc){.type = VKT_LAYER_RELU};
        }
    }
    out->seed = seed;
    return VKT_OK;
}

void vkt_model_destroy(vkt_model *m)
{
    if (!m) {
        return;
    }
    for (uint32_t i = 0; i < m->n_tensors; i++) {
        vkt_tensor_free(m->p[i]);
        vkt_tensor_free(m->g[i]);
    }
    vkt_tensor_free(m->params);
    vkt_tensor_free(m->grads);
    free(m);
}

vkt_status vkt_model_create(vkt_device *dev, const vkt_model_desc *desc, vkt_model **out)
{
    *out = NULL;
    if (!dev || !desc) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: device and desc are required");
    }
    vkt_model *m = vkt__calloc(1, sizeof *m);
    if (!m) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    m->dev = dev;
    vkt_status s = VKT_OK;
    /* layout */
    int64_t offs[2 * VKT_MAX_LAYERS], sizes[2 * VKT_MAX_LAYERS][2];
    int ndims[2 * VKT_MAX_LAYERS];
    int64_t total = 0;
    uint32_t prev_out = 0;
    for (int i = 0; i < VKT_MAX_LAYERS && desc->layers[i].type != VKT_LAYER_NONE; i++) {
        const vkt_layer_desc *ld = &desc->layers[i];
        layer *L = &m->layers[m->n_layers++];
        L->d = *ld;
        L->weight = L->bias = -1;
        if (ld->type == VKT_LAYER_RELU) {
            continue;
        }
        if (ld->type != VKT_LAYER_LINEAR || ld->in == 0 || ld->out == 0) {
            s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: layer %d is not a valid Linear "
                                                 "or ReLU layer",
                           i);
            goto fail;
        }
        if (prev_out && ld->in != prev_out) {
            s = vkt__error(VKT_SHAPE_MISMATCH, "vkt_model_create: layer %d takes %u inputs but "
                                               "the layer before it gives %u",
                           i, ld->in, prev_out);
            goto fail;
        }
        prev_out = ld->out;
        for (int part = 0; part < (ld->no_bias ? 1 : 2); part++) {
            uint32_t t = m->n_tensors++;
            snprintf(m->names[t], sizeof m->names[t], "%d.%s", i, part ? "bias" : "weight");
            ndims[t] = part ? 1 : 2;
            sizes[t][0] = part ? ld->out : ld->out;
            sizes[t][1] = part ? 0 : ld->in;
            int64_t n = part ? ld->out : (int64_t)ld->out * ld->in;
            offs[t] = total;
            total += VKT__ALIGN_UP(n, PARAM_ALIGN);
            m->n_params += (uint64_t)n;
            *(part ? &L->bias : &L->weight) = (int)t;
        }
    }
    if (m->n_tensors == 0) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: the model has no Linear layer");
        goto fail;
    }
    /* blocks */
    m->params = vkt_tensor_new_1d(dev, VKT_F32, total);
    m->grads = m->params ? vkt_tensor_new_1d(dev, VKT_F32, total) : NULL;
    if (!m->grads) {
        s = vkt_last_status();
        goto fail;
    }
    vkt_tensor_keep(m->params);
    vkt_tensor_keep(m->grads);
    /* initial values on the host: torch.nn.Linear's bounds, padding zero */
    float *host = vkt__calloc((size_t)total, sizeof *host);
    if (!host) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    vkt__rng rng = {desc->seed};
    for (int i = 0; i < m->n_layers; i++) {
        const layer *L = &m->layers[i];
        if (L->d.type != VKT_LAYER_LINEAR) {
            continue;
        }
        float bound = 1.0f / sqrtf((float)L->d.in);
        int parts[2] = {L->weight, L->bias};
        for (int k = 0; k < 2; k++) {
            if (parts[k] < 0) {
                continue;
            }
            int64_t n = parts[k] == L->bias ? L->d.out : (int64_t)L->d.out * L->d.in;
            for (int64_t j = 0; j < n; j++) {
                host[offs[parts[k]] + j] = (float)((2.0 * vkt__rng_uniform(&rng) - 1.0) * bound);
            }
        }
    }
    s = vkt_tensor_upload(m->params, host, (size_t)total * sizeof *host);
    free(host);
    if (s == VKT_OK) {
        s = vkt_fill(m->grads, 0.0f);
    }
    if (s != VKT_OK) {
        goto fail;
    }
    for (uint32_t t = 0; t < m->n_tensors; t++) {
        m->p[t] = vkt_tensor_keep(vkt_tensor_view(m->params, offs[t], ndims[t], sizes[t]));
        m->g[t] = vkt_tensor_keep(vkt_tensor_view(m->grads, offs[t], ndims[t], sizes[t]));
        if (!m->p[t] || !m->g[t]) {
            s = vkt_last_status();
            goto fail;
        }
        vkt_tensor_set_requires_grad(m->p[t], true);
        s = vkt_tensor_set_grad(m->p[t], m->g[t]);
        if (s != VKT_OK) {
            goto fail;
        }
    }
    *out = m;
    return VKT_OK;

fail:
    vkt_model_destroy(m);
    return s;
}

vkt_tensor *vkt_model_forward(vkt_model *m, const vkt_tensor *x)
{
    if (!m || !x) {
        return NULL;
    }
    uint32_t in = vkt_model_in_features(m);
    if (vkt_tensor_ndim(x) != 2 || vkt_tensor_dim(x, 1) != in) {
        char d[96];
        vkt__error(VKT_SHAPE_MISMATCH, "vkt_model_forward: x is %s but the model takes (batch, %u) "
                                       "f32",
                   vkt_tensor_describe(x, d, sizeof d), in);
        return NULL;
    }
    vkt_tensor *h = (vkt_tensor *)x;
    for (int i = 0; i < m->n_layers && h; i++) {
        const layer *L = &m->layers[i];
        if (L->d.type == VKT_LAYER_RELU) {
            h = vkt_relu(h);
        } else {
            h = vkt_matmul(h, m->p[L->weight], VKT_TRANS_B);
            if (L->bias >= 0) {
                h = vkt_add_bias(h, m->p[L->bias]);
            }
        }
    }
    return h;
}

vkt_status vkt_model_zero_grad(vkt_model *m) { return vkt_fill(m->grads, 0.0f); }

vkt_device *vkt_model_device(const vkt_model *m) { return m->dev; }
uint32_t vkt_model_num_tensors(const vkt_model *m) { return m->n_tensors; }
vkt_tensor *vkt_model_tensor(const vkt_model *m, uint32_t i)
{
    return i < m->n_tensors ? m->p[i] : NULL;
}
const char *vkt_model_tensor_name(const vkt_model *m, uint32_t i)
{
    return i < m->n_tensors ? m->names[i] : NULL;
}
uint64_t vkt_model_num_params(const vkt_model *m) { return m->n_params; }
vkt_tensor *vkt_model_param_block(const vkt_model *m) { return m->params; }
vkt_tensor *vkt_model_grad_block(const vkt_model *m) { return m->grads; }

uint32_t vkt_model_in_features(const vkt_model *m)
{
    for (int i = 0; i < m->n_layers; i++) {
        if (m->layers[i].d.type == VKT_LAYER_LINEAR) {
            return m->layers[i].d.in;
        }
    }
    return 0;
}

uint32_t vkt_model_out_features(const vkt_model *m)
{
    for (int i = m->n_layers; i-- > 0;) {
        if (m->layers[i].d.type == VKT_LAYER_LINEAR) {
            return m->layers[i].d.out;
        }
    }
    return 0;
}
