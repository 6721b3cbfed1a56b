/*
 * dropout.c — torch.nn.Dropout as a layer over vkt_dropout (src/ops/dropout.c). torch draws masks
 * from a global generator; here each layer owns a Philox stream: the key mixes the model's seed
 * with the layer's name (so two dropout layers of a model differ), and the counter advances by
 * the elements of each training forward (so consecutive steps differ), which makes a run's masks
 * a function of the seed alone. Test: tests/test_layers.c.
 */
#include "nn/layer.h"

/* FNV-1a of the name, then splitmix64 with the model's seed: a well-mixed 64-bit key. */
static uint64_t stream_key(uint64_t seed, const char *name)
{
    uint64_t h = 0xCBF29CE484222325ull;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        h = (h ^ *c) * 0x100000001B3ull;
    }
    vkt__rng r = {seed ^ h};
    return vkt__rng_next(&r);
}

vkt_status vkt_dropout_init(vkt_model *m, const char *name, float p, vkt_dropout_layer *layer)
{
    if (!m || !name || !layer) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dropout_init: model, name and layer are "
                                                "required");
    }
    *layer = (vkt_dropout_layer){.model = m, .p = p, .seed = stream_key(vkt_model_seed(m), name)};
    if (!(p >= 0.0f && p <= 1.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_dropout_init: \"%s\" has p %g; it must be in "
                          "[0, 1]",
                          name, (double)p);
    }
    return VKT_OK;
}

vkt_tensor *vkt_dropout_forward(vkt_dropout_layer *l, const vkt_tensor *x)
{
    if (!l || !x) {
        return NULL;
    }
    bool training = vkt_model_is_training(l->model);
    vkt_tensor *y = vkt_dropout(x, l->p, l->seed, l->offset, training);
    if (y && training) {
        l->offset += (uint64_t)vkt_tensor_numel(x);
    }
    return y;
}

/* ---- in a sequential model ------------------------------------------------------------------- */

static vkt_status dropout_seq_init(vkt_model *m, const char *prefix, int index,
                                   const vkt_layer_desc *d, const vkt__sample_shape *in,
                                   vkt__sample_shape *out, void *state)
{
    float p = d->p == 0.0f ? 0.5f : d->p; /* torch's default */
    if (!(p >= 0.0f && p <= 1.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_model_create: layer %d is Dropout(%g); p must "
                          "be in [0, 1]",
                          index, (double)d->p);
    }
    *out = *in;
    return vkt_dropout_init(m, prefix, p, state);
}

static vkt_tensor *dropout_seq_forward(void *state, const vkt_tensor *x)
{
    return vkt_dropout_forward(state, x);
}

const vkt__layer_kind vkt__layer_dropout = {
    .name = "Dropout",
    .state_size = sizeof(vkt_dropout_layer),
    .init = dropout_seq_init,
    .forward = dropout_seq_forward,
};
