/*
 * relu.c — torch.nn.ReLU in a sequential model: no parameters, any shape, vkt_relu.
 * Test: tests/test_nn.c.
 */
#include "nn/layer.h"

static vkt_status relu_seq_init(vkt_model *m, const char *prefix, int index,
                                const vkt_layer_desc *d, const vkt__sample_shape *in,
                                vkt__sample_shape *out, void *state)
{
    (void)m, (void)prefix, (void)index, (void)d, (void)state;
    *out = *in;
    return VKT_OK;
}

static vkt_tensor *relu_seq_forward(void *state, const vkt_tensor *x)
{
    (void)state;
    return vkt_relu(x);
}

const vkt__layer_kind vkt__layer_relu = {
    .name = "ReLU",
    .state_size = 0,
    .init = relu_seq_init,
    .forward = relu_seq_forward,
};
