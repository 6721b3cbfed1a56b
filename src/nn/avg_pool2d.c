/*
 * avg_pool2d.c — torch.nn.AvgPool2d in a sequential model: no parameters, samples (C, H, W),
 * vkt_avg_pool2d (src/ops/pool.c); stride 0 is torch's default (the kernel size).
 * Test: tests/test_layers.c.
 */
#include "nn/layer.h"

static vkt_status avg_pool_seq_init(vkt_model *m, const char *prefix, int index,
                                    const vkt_layer_desc *d, const vkt__sample_shape *in,
                                    vkt__sample_shape *out, void *state)
{
    (void)m, (void)prefix;
    return vkt__pool2d_seq_init("AvgPool2d", index, d, in, out, state);
}

static vkt_tensor *avg_pool_seq_forward(void *state, const vkt_tensor *x)
{
    return vkt_avg_pool2d(x, state);
}

const vkt__layer_kind vkt__layer_avg_pool2d = {
    .name = "AvgPool2d",
    .state_size = sizeof(vkt_pool2d_params),
    .init = avg_pool_seq_init,
    .forward = avg_pool_seq_forward,
};
