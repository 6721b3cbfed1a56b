/*
 * sequential.c — torch.nn.Sequential as a convenience over layers: vkt_model_desc.layers are
 * made with each layer kind's init under the names "0", "1", ... (so "0.weight", "2.bias" as in
 * torch's state_dict), and vkt_model_forward runs them in order. Layer kinds: src/nn/layer.h.
 * Test: tests/test_nn.c.
 */
#include <string.h>

#include "nn/layer.h"
#include "nn/nn_internal.h"

typedef struct seq_layer {
    const vkt__layer_kind *kind;
    void *state;
} seq_layer;

struct vkt__seq {
    seq_layer layers[VKT_MAX_LAYERS];
    int n;
    vkt__sample_shape in, out;  /* of one sample */
};

#define KIND_ENTRY(type, name) [type] = &vkt__layer_##name,
static const vkt__layer_kind *const kinds[] = {VKT__LAYER_KINDS(KIND_ENTRY)};
#undef KIND_ENTRY
/* every vkt_layer_type after NONE has a kind, and the types are 1..count */
_Static_assert(VKT__ARRAY_LEN(kinds) == VKT__LAYER_KIND_COUNT + 1, "layer types are not 1..count");

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
        out->layers[k++] =
            (vkt_layer_desc){.type = VKT_LAYER_LINEAR, .in = sizes[i], .out = sizes[i + 1]};
        if (i + 2 < n) {
            out->layers[k++] = (vkt_layer_desc){.type = VKT_LAYER_RELU};
        }
    }
    out->seed = seed;
    return VKT_OK;
}

void vkt__seq_destroy(vkt__seq *s)
{
    for (int i = 0; s && i < s->n; i++) {
        free(s->layers[i].state);
    }
    free(s);
}

vkt_status vkt__seq_create(vkt_model *m, const vkt_model_desc *desc)
{
    vkt__seq *q = vkt__calloc(1, sizeof *q);
    if (!q) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    m->seq = q;
    vkt__sample_shape cur = {0};
    for (int i = 0; i < VKT_MAX_DIMS - 1 && desc->input[i] != 0; i++) {
        cur.d[cur.ndim++] = desc->input[i];
    }
    q->in = cur;
    for (int i = 0; i < VKT_MAX_LAYERS && desc->layers[i].type != VKT_LAYER_NONE; i++) {
        const vkt_layer_desc *d = &desc->layers[i];
        const vkt__layer_kind *k =
            (unsigned)d->type < VKT__ARRAY_LEN(kinds) ? kinds[d->type] : NULL;
        if (!k) {
            return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: layer %d has unknown type "
                                                    "%d",
                              i, (int)d->type);
        }
        if (cur.ndim == 0 && k->input_shape) {
            k->input_shape(d, &cur);
            q->in = cur; /* the layers before were shape-preserving */
        }
        seq_layer *L = &q->layers[q->n++];
        L->kind = k;
        L->state = vkt__calloc(1, VKT__MAX(k->state_size, 1));
        if (!L->state) {
            return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        char prefix[16];
        snprintf(prefix, sizeof prefix, "%d", i);
        vkt__sample_shape next = {0};
        vkt_status s = k->init(m, prefix, i, d, &cur, &next, L->state);
        if (s != VKT_OK) {
            return s;
        }
        cur = next;
    }
    q->out = cur;
    if (m->n_params == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_create: the model has no layer with "
                                                "parameters (Linear, Conv2d, BatchNorm)");
    }
    return VKT_OK;
}

uint32_t vkt__seq_in_features(const vkt__seq *s)
{
    return s && s->in.ndim == 1 ? (uint32_t)s->in.d[0] : 0;
}

uint32_t vkt__seq_out_features(const vkt__seq *s)
{
    return s && s->out.ndim == 1 ? (uint32_t)s->out.d[0] : 0;
}

vkt_tensor *vkt_model_forward(vkt_model *m, const vkt_tensor *x)
{
    if (!m || !x) {
        return NULL;
    }
    const vkt__seq *q = m->seq;
    if (!q) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_model_forward: the model has no layer list "
                                         "(vkt_model_desc.layers); call its layers' forwards");
        return NULL;
    }
    bool ok = vkt_tensor_dtype(x) == VKT_F32 && vkt_tensor_ndim(x) == 1 + q->in.ndim;
    for (int i = 0; ok && i < q->in.ndim; i++) {
        ok = vkt_tensor_dim(x, i + 1) == q->in.d[i];
    }
    if (!ok) {
        char d[96], want[96] = "(batch";
        size_t at = strlen(want);
        for (int i = 0; i < q->in.ndim; i++) {
            at += (size_t)snprintf(want + at, sizeof want - at, ", %lld", (long long)q->in.d[i]);
        }
        snprintf(want + at, sizeof want - at, ")");
        vkt__error(VKT_SHAPE_MISMATCH, "vkt_model_forward: x is %s but the model takes %s f32",
                   vkt_tensor_describe(x, d, sizeof d), want);
        return NULL;
    }
    vkt_tensor *h = (vkt_tensor *)x;
    for (int i = 0; i < q->n && h; i++) {
        const seq_layer *L = &q->layers[i];
        if (L->kind->forward_relu && i + 1 < q->n && q->layers[i + 1].kind == &vkt__layer_relu) {
            h = L->kind->forward_relu(L->state, h); /* the same values, one pass fewer each way */
            i++;
        } else {
            h = L->kind->forward(L->state, h);
        }
    }
    return h;
}

/* ---- the reference CNN ----------------------------------------------------------------------- */

static vkt_cnn_config cnn_defaults(const vkt_cnn_config *c)
{
    vkt_cnn_config r = *c;
    r.conv1 = r.conv1 ? r.conv1 : 32;
    r.conv2 = r.conv2 ? r.conv2 : 64;
    r.hidden = r.hidden ? r.hidden : 128;
    r.dropout = r.dropout != 0.0f ? r.dropout : 0.25f;
    return r;
}

vkt_status vkt_cnn_desc(const vkt_cnn_config *cfg, vkt_model_desc *out)
{
    if (!cfg || !out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_cnn_desc: config and out are required");
    }
    memset(out, 0, sizeof *out);
    vkt_cnn_config c = cnn_defaults(cfg);
    if (c.channels == 0 || c.height < 4 || c.width < 4 || c.classes == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_cnn_desc: the input is (%u, %u, %u) with %u "
                                                "classes; it needs C >= 1, H and W >= 4 (two 2x2 "
                                                "pools) and classes >= 1",
                          c.channels, c.height, c.width, c.classes);
    }
    const uint32_t flat = c.conv2 * (c.height / 4) * (c.width / 4);
    const vkt_layer_desc layers[] = {
        {.type = VKT_LAYER_CONV2D,
         .in = c.channels,
         .out = c.conv1,
         .kernel = {3, 3},
         .padding = {1, 1},
         .no_bias = c.no_conv_bias},
        {.type = VKT_LAYER_BATCH_NORM2D, .in = c.conv1},
        {.type = VKT_LAYER_RELU},
        {.type = VKT_LAYER_MAX_POOL2D, .kernel = {2, 2}},
        {.type = VKT_LAYER_CONV2D,
         .in = c.conv1,
         .out = c.conv2,
         .kernel = {3, 3},
         .padding = {1, 1},
         .no_bias = c.no_conv_bias},
        {.type = VKT_LAYER_BATCH_NORM2D, .in = c.conv2},
        {.type = VKT_LAYER_RELU},
        {.type = VKT_LAYER_MAX_POOL2D, .kernel = {2, 2}},
        {.type = VKT_LAYER_FLATTEN},
        {.type = VKT_LAYER_LINEAR, .in = flat, .out = c.hidden},
        {.type = VKT_LAYER_RELU},
        {.type = VKT_LAYER_DROPOUT, .p = c.dropout},
        {.type = VKT_LAYER_LINEAR, .in = c.hidden, .out = c.classes},
    };
    _Static_assert(VKT__ARRAY_LEN(layers) <= VKT_MAX_LAYERS, "the CNN fits a desc");
    memcpy(out->layers, layers, sizeof layers);
    out->input[0] = c.channels;
    out->input[1] = c.height;
    out->input[2] = c.width;
    out->seed = c.seed;
    return VKT_OK;
}
