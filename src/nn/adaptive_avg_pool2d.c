/*
 * adaptive_avg_pool2d.c — torch.nn.AdaptiveAvgPool2d(output_size) in a sequential model: no
 * parameters, samples (C, H, W) -> (C, oh, ow), vkt_adaptive_avg_pool2d (src/ops/pool.c).
 * Test: tests/test_layers.c.
 */
#include "nn/layer.h"

typedef struct adaptive_state {
    int64_t oh, ow;
} adaptive_state;

static vkt_status adaptive_seq_init(vkt_model *m, const char *prefix, int index,
                                    const vkt_layer_desc *d, const vkt__sample_shape *in,
                                    vkt__sample_shape *out, void *state)
{
    (void)m, (void)prefix;
    char sh[64];
    if (d->output_size[0] == 0 || d->output_size[1] == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_model_create: layer %d is "
                          "AdaptiveAvgPool2d((%u, %u)); both output sizes "
                          "must be > 0",
                          index, d->output_size[0], d->output_size[1]);
    }
    if (in->ndim != 3) {
        return vkt__error(in->ndim ? VKT_SHAPE_MISMATCH : VKT_INVALID_ARGUMENT,
                          "vkt_model_create: layer %d is AdaptiveAvgPool2d, which takes samples "
                          "(C, H, W), but %s",
                          index,
                          in->ndim ? vkt__sample_shape_describe(in, sh, sizeof sh)
                                   : "the sample shape is not known; set vkt_model_desc.input");
    }
    adaptive_state *a = state;
    a->oh = d->output_size[0];
    a->ow = d->output_size[1];
    *out = (vkt__sample_shape){.ndim = 3, .d = {in->d[0], a->oh, a->ow}};
    return VKT_OK;
}

static vkt_tensor *adaptive_seq_forward(void *state, const vkt_tensor *x)
{
    const adaptive_state *a = state;
    return vkt_adaptive_avg_pool2d(x, a->oh, a->ow);
}

const vkt__layer_kind vkt__layer_adaptive_avg_pool2d = {
    .name = "AdaptiveAvgPool2d",
    .state_size = sizeof(adaptive_state),
    .init = adaptive_seq_init,
    .forward = adaptive_seq_forward,
};
