/*
 * embedding.c — torch.nn.Embedding as a layer: weight (num, dim) drawn from N(0, 1) as torch
 * initialises it, tagged VKT_PARAM_EMBEDDING for the optimizer's groups; the forward is
 * vkt_embedding (src/ops/embedding.c), whose backward autograd uses. Test: tests/test_embedding.c.
 */
#include <stdint.h>

#include "nn/layer.h"

vkt_status vkt_embedding_init(vkt_model *m, const char *name, uint32_t num, uint32_t dim,
                              vkt_embedding_layer *layer)
{
    static const char fn[] = "vkt_embedding_init";
    if (!m || !name || !layer) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: model, name and layer are required", fn);
    }
    *layer = (vkt_embedding_layer){.model = m, .num = num, .dim = dim};
    if (num == 0 || dim == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: \"%s\" is Embedding(%u, %u); both sizes must be > 0", fn, name, num,
                          dim);
    }
    if (num > INT32_MAX) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: \"%s\" is Embedding(%u, %u); indices are i32, so num must be at "
                          "most 2147483647",
                          fn, name, num, dim);
    }
    vkt_init normal = vkt_init_normal(0.0f, 1.0f); /* torch: nn.init.normal_(weight) */
    char pname[256];
    vkt_status s = vkt__layer_param_name(pname, sizeof pname, fn, name, "weight");
    layer->weight =
        s == VKT_OK ? vkt_model_add_param(m, pname, 2, (int64_t[]){num, dim}, &normal) : NULL;
    if (!layer->weight) {
        return vkt_last_status();
    }
    return vkt_param_set_role(layer->weight, VKT_PARAM_EMBEDDING);
}

vkt_tensor *vkt_embedding_forward(const vkt_embedding_layer *l, const vkt_tensor *indices)
{
    if (!l || !indices) {
        return NULL;
    }
    return vkt_embedding(vkt_param_tensor(l->weight), indices);
}
