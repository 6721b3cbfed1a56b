/*
 * layer.h — how a layer is written, and the table of layers a sequential model can hold.
 *
 * A layer is a struct of its parameters plus two functions (src/nn/linear.c is the example):
 *   vkt_<name>_init(m, name, <options>, &layer)   registers "<name>.<param>" on the model with
 *       vkt__layer_param_name + vkt_model_add_param / vkt_model_add_buffer, in the order the
 *       torch.nn module registers them (parameters first, then buffers: torch's state_dict order),
 *       with torch.nn's default initialisation (vkt_init);
 *   vkt_<name>_forward(&layer, x, ...)             composes existing ops on vkt_param_tensor(p);
 *       autograd gives the backward. Behaviour that differs between training and evaluation
 *       (dropout, batch norm) reads vkt_model_is_training(layer->model).
 * Adding one (conv2d as the example):
 *   1. include/vkt/nn.h: vkt_conv2d_layer, vkt_conv2d_init, vkt_conv2d_forward (a desc struct for
 *      many options), in the layers section.
 *   2. src/nn/conv2d.c with both functions; listed in src/meson.build.
 *   3. To use it in vkt_model_desc.layers: VKT_LAYER_CONV2D and its fields in vkt_layer_desc, a
 *      `const vkt__layer_kind vkt__layer_conv2d` in conv2d.c, and one line in VKT__LAYER_KINDS.
 *   4. Tests: tests/test_layers.c (names, shapes, init statistics, values and gradients against a
 *      host reference; tests/test_nn.c for Linear).
 */
#ifndef VKT_NN_LAYER_H
#define VKT_NN_LAYER_H

#include "internal.h"
#include "vkt/nn.h"

/* "<prefix>.<leaf>" (or "<leaf>" for an empty prefix) into buf; VKT_INVALID_ARGUMENT if it does
 * not fit. `fn` names the caller in the error. */
vkt_status vkt__layer_param_name(char *buf, size_t n, const char *fn, const char *prefix,
                                 const char *leaf);

/* The shape of one sample (without the batch dimension) flowing through a sequential model;
 * ndim 0 while no layer has fixed it (shape-preserving layers such as ReLU leave it so). */
typedef struct vkt__sample_shape {
    int ndim;
    int64_t d[VKT_MAX_DIMS];
} vkt__sample_shape;

/* A layer usable in vkt_model_desc.layers. */
typedef struct vkt__layer_kind {
    const char *name;            /* for messages: "Linear" */
    size_t state_size;           /* bytes of the layer struct the sequential model keeps */
    /* The sample shape the layer takes (ndim 0: any, as ReLU); NULL means any. */
    void (*input_shape)(const vkt_layer_desc *d, vkt__sample_shape *in);
    /* Checks `d` (layer `index` of the list) against the input sample shape `in` (ndim 0: not
     * known), registers the parameters under `prefix` ("3") into the zeroed `state` and sets *out
     * to the output sample shape. */
    vkt_status (*init)(vkt_model *m, const char *prefix, int index, const vkt_layer_desc *d,
                       const vkt__sample_shape *in, vkt__sample_shape *out, void *state);
    /* Non-const state: dropout advances its counter. */
    vkt_tensor *(*forward)(void *state, const vkt_tensor *x);
    /* The forward followed by a ReLU, as one op (batch norm: vkt_batch_norm_relu); NULL if the
     * layer has none. vkt_model_forward uses it for the layer and a ReLU layer right after it. */
    vkt_tensor *(*forward_relu)(void *state, const vkt_tensor *x);
} vkt__layer_kind;

/* "(64, 7, 7)" into buf (n >= 64); returns buf. */
const char *vkt__sample_shape_describe(const vkt__sample_shape *s, char *buf, size_t n);

/* torch's output size of a convolution or pool along one dimension (floor); 0 if the window
 * does not fit. src/nn/conv2d.c. */
int64_t vkt__conv_out_size(int64_t in, uint32_t kernel, uint32_t stride, uint32_t padding,
                           uint32_t dilation);
/* The pools' sequential init: checks d against the (C, H, W) sample `in`, fills the op's
 * parameters and the output sample. `kind` names the layer in errors. src/nn/layer.c. */
vkt_status vkt__pool2d_seq_init(const char *kind, int index, const vkt_layer_desc *d,
                                const vkt__sample_shape *in, vkt__sample_shape *out,
                                vkt_pool2d_params *p);


/* X(type, name): every layer kind; vkt__layer_<name> is defined in src/nn/<name>.c (both batch
 * norms in batch_norm.c). In vkt_layer_type order. */
#define VKT__LAYER_KINDS(X)                                                                        \
    X(VKT_LAYER_LINEAR, linear)                                                                    \
    X(VKT_LAYER_RELU, relu)                                                                        \
    X(VKT_LAYER_BATCH_NORM1D, batch_norm1d)                                                        \
    X(VKT_LAYER_BATCH_NORM2D, batch_norm2d)                                                        \
    X(VKT_LAYER_DROPOUT, dropout)                                                                  \
    X(VKT_LAYER_FLATTEN, flatten)                                                                  \
    X(VKT_LAYER_CONV2D, conv2d)                                                                    \
    X(VKT_LAYER_MAX_POOL2D, max_pool2d)                                                            \
    X(VKT_LAYER_AVG_POOL2D, avg_pool2d)                                                            \
    X(VKT_LAYER_ADAPTIVE_AVG_POOL2D, adaptive_avg_pool2d)

#define VKT__LAYER_DECLARE(type, name) extern const vkt__layer_kind vkt__layer_##name;
VKT__LAYER_KINDS(VKT__LAYER_DECLARE)
#undef VKT__LAYER_DECLARE
#define VKT__LAYER_COUNT_ONE(type, name) +1
enum { VKT__LAYER_KIND_COUNT = 0 VKT__LAYER_KINDS(VKT__LAYER_COUNT_ONE) };
#undef VKT__LAYER_COUNT_ONE

#endif
