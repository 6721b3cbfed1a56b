/*
 * max_pool2d.c — torch.nn.MaxPool2d in a sequential model: no parameters, samples (C, H, W),
 * vkt_max_pool2d (src/ops/pool.c); stride 0 is torch's default (the kernel size).
 * Test: tests/test_layers.c.
 */
#include "nn/layer.h"

static vkt_status max_pool_seq_init(vkt_model *m, const char *prefix, int index,
                                    const vkt_layer_desc *d, const vkt__sample_shape *in,
                                    vkt__sample_shape *out, void *state)
{
    (void)m, (void)prefix;
    return vkt__pool2d_seq_init("MaxPool2d", index, d, in, out, state);
}

static vkt_tensor *max_pool_seq_forward(void *state, const vkt_tensor *x)
{
    return vkt_max_pool2d(x, state);
}

const vkt__layer_kind vkt__layer_max_pool2d = {
    .name = "MaxPool2d",
    .state_size = sizeof(vkt_pool2d_params),
    .init = max_pool_seq_init,
    .forward = max_pool_seq_forward,
};
