/*
 * vkt/nn.h — parameters, layers, models, optimizers, learning-rate schedules, gradient clipping.
 *
 * A model is a set of named tensors: trainable parameters and non-trainable buffers (running
 * statistics and the like), named and shaped as torch.nn's state_dict. Layers are plain functions
 * over tensors that register their parameters on a model; any code can add more:
 *
 *     vkt_model *m;
 *     vkt_model_create(dev, &(vkt_model_desc){ .seed = 0 }, &m);      // empty
 *     vkt_linear_layer fc1, fc2;
 *     vkt_linear_init(m, "fc1", 64, 128, true, &fc1);                 // "fc1.weight", "fc1.bias"
 *     vkt_linear_init(m, "fc2", 128, 64, true, &fc2);
 *     vkt_init ones = vkt_init_ones();
 *     vkt_param *scale = vkt_model_add_param(m, "scale", 1, (int64_t[]){64}, &ones);
 *     vkt_model_build(m);                                 // the blocks; optional (see below)
 *     // a forward of your own; autograd gives the backward
 *     vkt_tensor *h = vkt_linear_forward(&fc2, vkt_relu(vkt_linear_forward(&fc1, x)));
 *     vkt_tensor *y = vkt_add(x, h);
 *
 * Or a sequential model from a layer list (torch.nn.Sequential, names "0.weight", "2.bias"...):
 *
 *     vkt_model_create(dev, &(vkt_model_desc){ .layers = {
 *         { VKT_LAYER_LINEAR, 784, 256 }, { VKT_LAYER_RELU },
 *         { VKT_LAYER_LINEAR, 256, 10 } }, .seed = 0 }, &mlp);
 *     vkt_optimizer *opt;
 *     vkt_optimizer_create(mlp, &(vkt_optim_desc){ .type = VKT_OPTIM_ADAM, .lr = 1e-3f }, &opt);
 *
 *     // one training step: recorded into one command buffer, one submit, no readback
 *     vkt_scope_begin(dev);
 *     vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(mlp, x), y);
 *     vkt_model_zero_grad(mlp);          // one fill over the gradient block
 *     vkt_backward(loss);
 *     vkt_optimizer_step(opt);           // one dispatch over the parameter block
 *     vkt_scope_end(dev);
 *     vkt_device_flush(dev);
 *
 * Building. Parameters and buffers are registered first (vkt_model_add_param/_add_buffer, or a
 * layer's init); the device memory is allocated and initialised once, by vkt_model_build or, if it
 * was not called, by the first call that needs a device tensor (vkt_param_tensor, a layer's
 * forward, vkt_model_tensor, vkt_model_param_block/_grad_block, vkt_model_zero_grad,
 * vkt_optimizer_create, vkt_model_load_*). From then on the set is fixed: adding is an error.
 * A model made from a desc with layers is built by vkt_model_create.
 *
 * Memory (llm.c's layout, on the device): a model's parameters live in one allocation, its
 * gradients in a second and each optimizer state (momentum; Adam's m and v) in one more; f32
 * buffers and i32 buffers have one allocation each, which optimizers and zero-grad never touch.
 * Each tensor is a view into its block, padded to 64 elements so every view is aligned for any
 * device. Padding stays zero, has zero gradient, and is never updated.
 *
 * Initial values are drawn on the host from one generator seeded with vkt_model_desc.seed, in
 * registration order, when the model is built (vkt_init: torch.nn.init's rules).
 *
 * State dict. vkt_model_num_tensors/_tensor/_tensor_name list parameters and buffers in torch's
 * state_dict order: per module (the dotted name prefix) its own parameters, then its own buffers,
 * then its sub-modules in the order they were first registered. So a torch model of the same
 * structure loads vkt's tensors with load_state_dict and no renaming, and vice versa.
 *
 * Adding a layer: see src/nn/layer.h.
 */
#ifndef VKT_NN_H
#define VKT_NN_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- initialisation (torch.nn.init) ---------------------------------------------------------- */

typedef enum vkt_init_type {
    VKT_INIT_ZEROS = 0,
    VKT_INIT_ONES,
    VKT_INIT_CONSTANT,        /* a */
    VKT_INIT_UNIFORM,         /* U(a, b) */
    VKT_INIT_NORMAL,          /* N(mean a, std b) */
    VKT_INIT_XAVIER_UNIFORM,  /* U(±gain·sqrt(6 / (fan_in + fan_out))) */
    VKT_INIT_XAVIER_NORMAL,   /* N(0, gain·sqrt(2 / (fan_in + fan_out))) */
    VKT_INIT_KAIMING_UNIFORM, /* U(±gain·sqrt(3 / fan)), gain = vkt_init_gain(nonlinearity, a) */
    VKT_INIT_KAIMING_NORMAL,  /* N(0, gain / sqrt(fan)) */
    _VKT_INIT_FORCE_U32 = 0x7FFFFFFF
} vkt_init_type;

typedef enum vkt_nonlinearity {
    VKT_NONLIN_LEAKY_RELU = 0, /* torch's kaiming default; gain sqrt(2 / (1 + a²)) */
    VKT_NONLIN_LINEAR,         /* 1 (also conv and sigmoid) */
    VKT_NONLIN_RELU,           /* sqrt(2) */
    VKT_NONLIN_TANH,           /* 5/3 */
    VKT_NONLIN_SIGMOID,        /* 1 */
    _VKT_NONLIN_FORCE_U32 = 0x7FFFFFFF
} vkt_nonlinearity;

typedef enum vkt_fan_mode {
    VKT_FAN_IN = 0,
    VKT_FAN_OUT,
    _VKT_FAN_FORCE_U32 = 0x7FFFFFFF
} vkt_fan_mode;

/**
 * How a tensor starts. Fans are torch's: fan_in = shape[1]·receptive, fan_out = shape[0]·receptive,
 * receptive = the product of shape[2:]; xavier and kaiming need 2 or more dimensions.
 * The zero value is zeros.
 */
typedef struct vkt_init {
    vkt_init_type type;
    float a, b;                    /* CONSTANT a; UNIFORM [a, b); NORMAL mean a, std b;
                                      KAIMING a = the leaky_relu negative slope */
    float gain;                    /* XAVIER; 0 -> 1 */
    vkt_fan_mode mode;             /* KAIMING */
    vkt_nonlinearity nonlinearity; /* KAIMING */
} vkt_init;

VKT_API vkt_init vkt_init_zeros(void);
VKT_API vkt_init vkt_init_ones(void);
VKT_API vkt_init vkt_init_constant(float v);
VKT_API vkt_init vkt_init_uniform(float a, float b);
VKT_API vkt_init vkt_init_normal(float mean, float std);
VKT_API vkt_init vkt_init_xavier_uniform(float gain);
VKT_API vkt_init vkt_init_xavier_normal(float gain);
VKT_API vkt_init vkt_init_kaiming_uniform(float a, vkt_fan_mode mode, vkt_nonlinearity nl);
VKT_API vkt_init vkt_init_kaiming_normal(float a, vkt_fan_mode mode, vkt_nonlinearity nl);
/** torch.nn.init.calculate_gain; `param` is leaky_relu's negative slope. */
VKT_API float vkt_init_gain(vkt_nonlinearity nl, float param);
/**
 * Fills `out` (the product of `shape` floats) as `init` says, drawing from a splitmix64 generator
 * whose state is *seed (advanced). The host half of every parameter's initialisation.
 */
VKT_API vkt_status vkt_init_fill(const vkt_init *init, int ndim, const int64_t *shape,
                                 uint64_t *seed, float *out);

/* ---- models ---------------------------------------------------------------------------------- */

typedef enum vkt_layer_type {
    VKT_LAYER_NONE = 0,   /* ends the layer list */
    VKT_LAYER_LINEAR,     /* y = x Wᵀ + b; W (out, in) as torch.nn.Linear */
    VKT_LAYER_RELU,
    VKT_LAYER_BATCH_NORM1D, /* torch.nn.BatchNorm1d(in): samples (C) or (C, L) */
    VKT_LAYER_BATCH_NORM2D, /* torch.nn.BatchNorm2d(in): samples (C, H, W) */
    VKT_LAYER_DROPOUT,      /* torch.nn.Dropout(p) */
    VKT_LAYER_FLATTEN,      /* torch.nn.Flatten(start_dim, end_dim) */
    VKT_LAYER_CONV2D,       /* torch.nn.Conv2d(in, out, kernel, stride, padding, dilation, groups) */
    VKT_LAYER_MAX_POOL2D,   /* torch.nn.MaxPool2d(kernel, stride, padding) */
    VKT_LAYER_AVG_POOL2D,   /* torch.nn.AvgPool2d(kernel, stride, padding, count_include_pad) */
    VKT_LAYER_ADAPTIVE_AVG_POOL2D, /* torch.nn.AdaptiveAvgPool2d(output_size) */
    _VKT_LAYER_FORCE_U32 = 0x7FFFFFFF
} vkt_layer_type;

/**
 * One layer of a sequential model. Zero fields take torch's defaults, so a desc reads as the
 * torch constructor: { VKT_LAYER_BATCH_NORM2D, 32 }, { VKT_LAYER_DROPOUT, .p = 0.25f }.
 * Dimensions (start_dim, end_dim) count the batch dimension, as torch's.
 */
typedef struct vkt_layer_desc {
    vkt_layer_type type;
    uint32_t in, out;     /* LINEAR: features; BATCH_NORM*: in = num_features */
    bool no_bias;         /* LINEAR, CONV2D without bias */
    float p;              /* DROPOUT: probability of dropping; 0 -> 0.5 */
    float eps;            /* BATCH_NORM*: 0 -> 1e-5 */
    float momentum;       /* BATCH_NORM*: 0 -> 0.1 */
    bool no_affine;       /* BATCH_NORM*: affine=False (no weight, bias) */
    bool no_running_stats; /* BATCH_NORM*: track_running_stats=False (batch statistics always) */
    int start_dim, end_dim; /* FLATTEN: 0 -> 1, -1 */
    /* CONV2D (in, out = channels) and the pools; pairs are (h, w) */
    uint32_t kernel[2];      /* required */
    uint32_t stride[2];      /* 0 -> 1 (CONV2D), the kernel size (pools) */
    uint32_t padding[2];     /* zeros on each side; pools: at most half the kernel */
    uint32_t dilation[2];    /* CONV2D: 0 -> 1 */
    uint32_t groups;         /* CONV2D: 0 -> 1 */
    bool exclude_pad;        /* AVG_POOL2D: count_include_pad=False */
    uint32_t output_size[2]; /* ADAPTIVE_AVG_POOL2D: (oh, ow) */
} vkt_layer_desc;

#define VKT_MAX_LAYERS 32

/**
 * A model: empty (no layers; add parameters and layers, then build) or sequential (layers up to
 * the first VKT_LAYER_NONE, named "<index>.<param>" as torch.nn.Sequential). Layers start as
 * torch.nn's do: Linear weights and biases uniform in ±1/sqrt(in) (Kaiming-uniform with
 * a = sqrt(5)), drawn from a generator seeded with `seed`.
 */
typedef struct vkt_model_desc {
    vkt_layer_desc layers[VKT_MAX_LAYERS]; /* up to the first VKT_LAYER_NONE */
    uint64_t seed;
    const char *label;    /* may be NULL */
    /* One sample's shape, up to the first 0: {1, 28, 28} for (C, H, W) images, whose batches
     * are (B, 1, 28, 28). All zeros: the first Linear's (in). */
    uint32_t input[VKT_MAX_DIMS - 1];
} vkt_model_desc;

typedef struct vkt_model vkt_model;
/** A named parameter or buffer of a model; owned by the model. */
typedef struct vkt_param vkt_param;

/** Fills `out` with Linear(sizes[0], sizes[1]), ReLU, ..., Linear(sizes[n-2], sizes[n-1]). */
VKT_API vkt_status vkt_mlp_desc(const uint32_t *sizes, int n, uint64_t seed, vkt_model_desc *out);
/** The reference CNN's sizes; zero fields take the defaults in brackets. */
typedef struct vkt_cnn_config {
    uint32_t channels, height, width; /* one input sample (C, H, W); required, H and W >= 4 */
    uint32_t classes;                 /* required */
    uint32_t conv1, conv2;            /* output channels of the convolutions [32, 64] */
    uint32_t hidden;                  /* features of the first Linear [128] */
    float dropout;                    /* [0.25] */
    /* Conv2d(bias=False): a bias right before a BatchNorm2d cancels out in training */
    bool no_conv_bias;
    uint64_t seed;
} vkt_cnn_config;
/**
 * Fills `out` with torch's
 *     Sequential(Conv2d(C, conv1, 3, padding=1), BatchNorm2d(conv1), ReLU(), MaxPool2d(2),
 *                Conv2d(conv1, conv2, 3, padding=1), BatchNorm2d(conv2), ReLU(), MaxPool2d(2),
 *                Flatten(), Linear(conv2 * (H/4) * (W/4), hidden), ReLU(), Dropout(dropout),
 *                Linear(hidden, classes))
 * and input (C, H, W); its state dict is "0.weight", "1.running_mean", ..., "12.bias".
 */
VKT_API vkt_status vkt_cnn_desc(const vkt_cnn_config *cfg, vkt_model_desc *out);
VKT_API vkt_status vkt_model_create(vkt_device *dev, const vkt_model_desc *desc, vkt_model **out);
VKT_API void vkt_model_destroy(vkt_model *m);
VKT_API vkt_device *vkt_model_device(const vkt_model *m);

/**
 * Registers a trainable f32 parameter `name` (dotted: "conv1.weight", "layer1.0.bn1.bias") of
 * `ndim` (1..VKT_MAX_DIMS) dimensions; `init` NULL means zeros. NULL with the error set on a
 * duplicate or malformed name, a bad shape or init, or a model already built.
 */
VKT_API vkt_param *vkt_model_add_param(vkt_model *m, const char *name, int ndim,
                                       const int64_t *shape, const vkt_init *init);
/**
 * Registers a non-trainable buffer (f32 or i32; ndim 0 is a scalar such as num_batches_tracked,
 * held as one element). Buffers are saved and loaded with the state dict but have no gradient and
 * no optimizer state. `init` NULL means zeros (an i32 buffer takes the values rounded).
 */
VKT_API vkt_param *vkt_model_add_buffer(vkt_model *m, const char *name, vkt_dtype dtype, int ndim,
                                        const int64_t *shape, const vkt_init *init);
/** Allocates the blocks and initialises every tensor; once (later calls return VKT_OK). */
VKT_API vkt_status vkt_model_build(vkt_model *m);
VKT_API bool vkt_model_is_built(const vkt_model *m);
/** The parameter or buffer called `name`; NULL if none. */
VKT_API vkt_param *vkt_model_find(const vkt_model *m, const char *name);

/** The tensor (a view into its block), building the model if needed; NULL with the error set if
 * that fails. A scalar buffer is a one-element 1-D tensor. */
VKT_API vkt_tensor *vkt_param_tensor(vkt_param *p);
VKT_API const char *vkt_param_name(const vkt_param *p);
VKT_API bool vkt_param_is_buffer(const vkt_param *p);
VKT_API vkt_model *vkt_param_model(const vkt_param *p);

/** What a parameter is to the optimizer: layers tag their biases, normalisation weights and
 * embedding tables so that an optimizer can put them in a group without weight decay
 * (vkt_optim_desc.no_decay; nanoGPT's and llm.c's AdamW groups). A new parameter is a WEIGHT. */
typedef enum vkt_param_role {
    VKT_PARAM_WEIGHT = 0, /* matmul and convolution weights */
    VKT_PARAM_BIAS,
    VKT_PARAM_NORM,       /* batch/layer/RMS norm weights and biases */
    VKT_PARAM_EMBEDDING,  /* embedding tables */
    VKT_PARAM_ROLE_COUNT,
    _VKT_PARAM_ROLE_FORCE_U32 = 0x7FFFFFFF
} vkt_param_role;
/** Sets the role (before or after the build); VKT_INVALID_ARGUMENT for a buffer or an unknown
 * role. */
VKT_API vkt_status vkt_param_set_role(vkt_param *p, vkt_param_role role);
VKT_API vkt_param_role vkt_param_role_of(const vkt_param *p);

/** Training mode (the default) or evaluation mode, as torch's module.train()/eval(); layers
 * whose behaviour differs (dropout, batch norm) read it. */
VKT_API void vkt_model_train(vkt_model *m, bool training);
VKT_API bool vkt_model_is_training(const vkt_model *m);
/** vkt_model_desc.seed: what parameters were drawn from and what dropout layers key on. */
VKT_API uint64_t vkt_model_seed(const vkt_model *m);

/** A sequential model's logits for a batch x (B, in) f32; NULL with the error set on a shape
 * mismatch or for a model without a layer list (call your layers' forwards). A BatchNorm layer
 * directly followed by a ReLU layer runs as one vkt_batch_norm_relu, a Linear layer as one
 * vkt_linear (followed by a ReLU: vkt_linear_relu); the same values. */
VKT_API vkt_tensor *vkt_model_forward(vkt_model *m, const vkt_tensor *x);
/** Zeroes every gradient: one fill over the gradient block. */
VKT_API vkt_status vkt_model_zero_grad(vkt_model *m);

/** Parameters and buffers in torch's state_dict order (see the top of this file). A tensor is
 * NULL if the model could not be built. */
VKT_API uint32_t vkt_model_num_tensors(const vkt_model *m);
VKT_API vkt_tensor *vkt_model_tensor(const vkt_model *m, uint32_t i);
VKT_API const char *vkt_model_tensor_name(const vkt_model *m, uint32_t i);
VKT_API vkt_param *vkt_model_tensor_param(const vkt_model *m, uint32_t i);
/** The state-dict shape of tensor i (ndim 0 for a scalar buffer); returns ndim, -1 if no such. */
VKT_API int vkt_model_tensor_shape(const vkt_model *m, uint32_t i, int64_t *shape);
/** Number of trainable parameters (without padding or buffers). */
VKT_API uint64_t vkt_model_num_params(const vkt_model *m);
/** The flat blocks (with padding): what optimizers and checkpoints work on. */
VKT_API vkt_tensor *vkt_model_param_block(const vkt_model *m);
VKT_API vkt_tensor *vkt_model_grad_block(const vkt_model *m);
/** Input features of the first layer and outputs of the last (sequential models; 0 otherwise). */
VKT_API uint32_t vkt_model_in_features(const vkt_model *m);
VKT_API uint32_t vkt_model_out_features(const vkt_model *m);

/* ---- state dicts (vkt_dict: include/vkt/train.h) --------------------------------------------- */

typedef struct vkt_dict vkt_dict;

/** Writes every parameter and buffer into `sd` under its name with its state-dict shape: f32
 * arrays, and i32 buffers as integer arrays (vkt_dict_set_ints: a checkpoint writes them as I64,
 * torch's dtype for num_batches_tracked); reads the device. */
VKT_API vkt_status vkt_model_state_dict(const vkt_model *m, vkt_dict *sd);
/**
 * Strict load, as torch's load_state_dict(strict=True): every model tensor must be in `sd` with
 * its shape, and `sd` may hold nothing else. Errors name the tensor (VKT_NOT_FOUND for a missing
 * or unexpected one, VKT_SHAPE_MISMATCH for a wrong shape); nothing is uploaded unless all match.
 */
VKT_API vkt_status vkt_model_load_state_dict(vkt_model *m, const vkt_dict *sd);
/**
 * Loads a safetensors file (read by vkt_checkpoint_load): a flat state dict such as
 * safetensors.torch.save_file(model.state_dict(), path) writes (any dtype vkt_checkpoint_load
 * reads: F32, F64, F16, BF16, I64 and the other integers, BOOL), or a vkt/Lightning
 * checkpoint, whose "state_dict" is used. Strict as vkt_model_load_state_dict; errors name the file.
 */
VKT_API vkt_status vkt_model_load_safetensors(vkt_model *m, const char *path);
/**
 * Writes the state dict alone as a flat safetensors file (atomically, as checkpoints): tensor
 * names are exactly torch's state-dict keys, so a PyTorch model of the same structure takes
 *     model.load_state_dict(safetensors.torch.load_file(path))
 * with nothing to strip or rename. (A checkpoint nests the weights under "state_dict/".)
 */
VKT_API vkt_status vkt_model_save_safetensors(const vkt_model *m, const char *path);

/* ---- layers (one file each under src/nn/; adding one: src/nn/layer.h) ------------------------ */

/** torch.nn.Linear: weight (out, in) kaiming_uniform(a = sqrt(5)), bias (out) U(±1/sqrt(in)). */
typedef struct vkt_linear_layer {
    vkt_model *model;
    vkt_param *weight, *bias;   /* bias NULL without one */
    uint32_t in, out;
} vkt_linear_layer;

/** Registers "<name>.weight" (and "<name>.bias") on `m`; `name` "" registers "weight", "bias". */
VKT_API vkt_status vkt_linear_init(vkt_model *m, const char *name, uint32_t in, uint32_t out,
                                   bool bias, vkt_linear_layer *layer);
/** y = x Wᵀ + b for x (..., in) f32 -> (..., out), as torch.nn.Linear (any leading dimensions; a
 * 1-D x gives (out)): vkt_matmul(x, W, VKT_TRANS_B) then vkt_add_bias. */
VKT_API vkt_tensor *vkt_linear_forward(const vkt_linear_layer *l, const vkt_tensor *x);

/** torch.nn.Conv2d options; zero fields are torch's defaults. */
typedef struct vkt_conv2d_desc {
    uint32_t in_channels, out_channels;
    uint32_t kernel[2];   /* (kh, kw); required */
    uint32_t stride[2];   /* 0 -> 1 */
    uint32_t padding[2];  /* zeros on each side */
    uint32_t dilation[2]; /* 0 -> 1 */
    uint32_t groups;      /* 0 -> 1; divides both channel counts */
    bool no_bias;
} vkt_conv2d_desc;

/** torch.nn.Conv2d: weight (out, in / groups, kh, kw) kaiming_uniform(a = sqrt(5)), bias (out)
 * U(±1/sqrt(fan_in)), fan_in = in / groups · kh · kw. */
typedef struct vkt_conv2d_layer {
    vkt_model *model;
    vkt_param *weight, *bias; /* bias NULL with no_bias */
    vkt_conv2d_desc desc;     /* with the defaults filled */
} vkt_conv2d_layer;

VKT_API vkt_status vkt_conv2d_init(vkt_model *m, const char *name, const vkt_conv2d_desc *desc,
                                   vkt_conv2d_layer *layer);
/** vkt_conv2d on x (B, in, H, W) f32. */
VKT_API vkt_tensor *vkt_conv2d_forward(const vkt_conv2d_layer *l, const vkt_tensor *x);

/** torch.nn.BatchNorm1d / BatchNorm2d options; zero fields are torch's defaults. */
typedef struct vkt_batch_norm_desc {
    uint32_t num_features;
    float eps;             /* 0 -> 1e-5 */
    float momentum;        /* 0 -> 0.1; running = (1 - momentum) running + momentum batch */
    bool no_affine;        /* affine=False: no weight, bias */
    bool no_running_stats; /* track_running_stats=False: no buffers, batch statistics always */
} vkt_batch_norm_desc;

/**
 * torch.nn.BatchNorm1d (input (B, C) or (B, C, L)) or BatchNorm2d ((B, C, H, W)): weight ones and
 * bias zeros (C), then the buffers running_mean zeros, running_var ones (C) and
 * num_batches_tracked (i32 scalar), in torch's order. Training mode (vkt_model_is_training)
 * normalises with the batch's statistics and updates the buffers; eval mode uses the running
 * statistics.
 */
typedef struct vkt_batch_norm_layer {
    vkt_model *model;
    vkt_param *weight, *bias;          /* NULL with no_affine */
    vkt_param *running_mean, *running_var, *num_batches_tracked; /* NULL with no_running_stats */
    uint32_t num_features;
    int input_ndim[2];                 /* the ranks of x it takes: {2, 3} (1d) or {4, 4} (2d) */
    float eps, momentum;
} vkt_batch_norm_layer;

VKT_API vkt_status vkt_batch_norm1d_init(vkt_model *m, const char *name,
                                         const vkt_batch_norm_desc *desc,
                                         vkt_batch_norm_layer *layer);
VKT_API vkt_status vkt_batch_norm2d_init(vkt_model *m, const char *name,
                                         const vkt_batch_norm_desc *desc,
                                         vkt_batch_norm_layer *layer);
/** vkt_batch_norm on x (f32, channels in dimension 1) in the model's mode. */
VKT_API vkt_tensor *vkt_batch_norm_forward(const vkt_batch_norm_layer *l, const vkt_tensor *x);

/** torch.nn.LayerNorm(dim, eps, elementwise_affine, bias) over the last dimension; zero fields are
 * torch's defaults. */
typedef struct vkt_layer_norm_desc {
    uint32_t dim;   /* normalized_shape (a single, last dimension); required */
    float eps;      /* 0 -> 1e-5 */
    bool no_affine; /* elementwise_affine=False: no weight, no bias */
    bool no_bias;   /* bias=False: weight only */
} vkt_layer_norm_desc;

/** torch.nn.LayerNorm: weight ones and bias zeros (dim), role VKT_PARAM_NORM. */
typedef struct vkt_layer_norm_layer {
    vkt_model *model;
    vkt_param *weight, *bias; /* NULL with no_affine; bias NULL with no_bias */
    uint32_t dim;
    float eps;                /* with the default filled */
} vkt_layer_norm_layer;

/** Registers "<name>.weight" (ones) and "<name>.bias" (zeros), as the desc asks. */
VKT_API vkt_status vkt_layer_norm_init(vkt_model *m, const char *name,
                                       const vkt_layer_norm_desc *desc,
                                       vkt_layer_norm_layer *layer);
/** vkt_layer_norm on x (..., dim) f32. */
VKT_API vkt_tensor *vkt_layer_norm_forward(const vkt_layer_norm_layer *l, const vkt_tensor *x);

/** RMSNorm over the last dimension (torch.nn.RMSNorm(dim, eps)): weight ones (dim), role
 * VKT_PARAM_NORM. */
typedef struct vkt_rms_norm_layer {
    vkt_model *model;
    vkt_param *weight;
    uint32_t dim;
    float eps; /* with the default filled */
} vkt_rms_norm_layer;

/** Registers "<name>.weight" (ones). eps 0 -> 1e-6 (vkt_rms_norm's default; torch.nn.RMSNorm's
 * eps=None would be FLT_EPSILON). */
VKT_API vkt_status vkt_rms_norm_init(vkt_model *m, const char *name, uint32_t dim, float eps,
                                     vkt_rms_norm_layer *layer);
/** vkt_rms_norm on x (..., dim) f32. */
VKT_API vkt_tensor *vkt_rms_norm_forward(const vkt_rms_norm_layer *l, const vkt_tensor *x);

/**
 * torch.nn.Dropout(p): in training mode zeroes each element with probability p and scales the
 * rest by 1 / (1 - p) (vkt_dropout); in eval mode a copy of x. Masks are reproducible: the layer's
 * Philox key comes from the model's seed and the layer's name, and its counter advances by the
 * elements of every training forward, so two models made with the same seed and names draw the
 * same masks in the same order.
 */
typedef struct vkt_dropout_layer {
    vkt_model *model;
    float p;
    uint64_t seed;    /* Philox key */
    uint64_t offset;  /* counter of the next training forward */
} vkt_dropout_layer;

/** No parameters; `name` only keys the random stream. p in [0, 1]. */
VKT_API vkt_status vkt_dropout_init(vkt_model *m, const char *name, float p,
                                    vkt_dropout_layer *layer);
VKT_API vkt_tensor *vkt_dropout_forward(vkt_dropout_layer *l, const vkt_tensor *x);

/** torch.nn.Embedding(num, dim): "<name>.weight" (num, dim) N(0, 1) as torch's default, role
 * VKT_PARAM_EMBEDDING (vkt_param_set_role). */
typedef struct vkt_embedding_layer {
    vkt_model *model;
    vkt_param *weight;
    uint32_t num, dim;
} vkt_embedding_layer;

/** Registers "<name>.weight" on `m` ("weight" for `name` ""); num <= 2^31 - 1 (i32 indices). */
VKT_API vkt_status vkt_embedding_init(vkt_model *m, const char *name, uint32_t num, uint32_t dim,
                                      vkt_embedding_layer *layer);
/** vkt_embedding(weight, indices): indices i32 of any shape up to 5 dimensions. */
VKT_API vkt_tensor *vkt_embedding_forward(const vkt_embedding_layer *l, const vkt_tensor *indices);

/* ---- GPT (a nanoGPT-style decoder-only transformer) ------------------------------------------ */

#define VKT_GPT_MAX_LAYERS 32

/** Sizes of a GPT; zero fields take the defaults in brackets. */
typedef struct vkt_gpt_config {
    uint32_t vocab;       /* tokens; required */
    uint32_t context;     /* longest sequence (block_size) [128] */
    uint32_t layers;      /* blocks, at most VKT_GPT_MAX_LAYERS [4] */
    uint32_t heads;       /* attention heads; divides width [4] */
    uint32_t width;       /* n_embd [128] */
    float dropout;        /* every nanoGPT dropout (embeddings, attention, residuals) in [0, 1) */
    bool tie_weights;     /* lm_head uses transformer.wte.weight (nanoGPT's default) */
    uint64_t seed;        /* also keys the dropout streams (the weights come from the model's
                           * seed, as every layer's) */
} vkt_gpt_config;

/** One transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x)). */
typedef struct vkt_gpt_block {
    vkt_layer_norm_layer ln_1, ln_2;
    vkt_linear_layer c_attn, attn_proj;    /* attn.c_attn (3 width), attn.c_proj */
    vkt_linear_layer c_fc, mlp_proj;       /* mlp.c_fc (4 width), mlp.c_proj */
    vkt_dropout_layer resid_drop, mlp_drop;
    vkt_dropout_layer attn_drop;           /* the stream of the attention probabilities' dropout */
} vkt_gpt_block;

typedef struct vkt_gpt {
    vkt_model *model;
    vkt_gpt_config config;                 /* with the defaults filled */
    vkt_param *wte, *wpe;                  /* transformer.wte.weight (vocab, width), .wpe */
    vkt_param *lm_head;                    /* lm_head.weight (vocab, width); NULL when tied */
    vkt_layer_norm_layer ln_f;
    vkt_dropout_layer drop;
    vkt_gpt_block h[VKT_GPT_MAX_LAYERS];
} vkt_gpt;

/**
 * Registers nanoGPT's parameters on `m` under its state_dict names: transformer.wte.weight,
 * transformer.wpe.weight, per block transformer.h.<i>.{ln_1, attn.c_attn, attn.c_proj, ln_2,
 * mlp.c_fc, mlp.c_proj}.{weight, bias}, transformer.ln_f.{weight, bias}, and lm_head.weight
 * unless tie_weights (then the head is wte, whose gradient sums both uses, and torch's copy
 * loads with strict=False or after state_dict["lm_head.weight"] = state_dict[wte]). nanoGPT's
 * initialisation: N(0, 0.02) for linear and embedding weights, N(0, 0.02 / sqrt(2 layers)) for
 * the c_proj weights, zero biases, layer norms ones and zeros. Roles: biases BIAS, norms NORM,
 * tables EMBEDDING, so VKT_NO_DECAY_BIAS_NORM_EMBEDDING gives nanoGPT's optimizer groups.
 */
VKT_API vkt_status vkt_gpt_init(vkt_model *m, const vkt_gpt_config *cfg, vkt_gpt *out);
/**
 * Logits (B, T, vocab) f32 for tokens idx (B, T) i32 in [0, vocab), T <= context: embeddings +
 * positions, the blocks (causal attention), ln_f, the head. Dropout acts in training mode
 * (vkt_model_is_training) only. NULL with the error set on a bad idx.
 */
VKT_API vkt_tensor *vkt_gpt_forward(vkt_gpt *g, const vkt_tensor *idx);

/* ---- sampling (a language model's next token, on the host) ---------------------------------- */

/** How vkt_sample_logits draws; the zero value samples from softmax(logits) over all tokens. */
typedef struct vkt_sample_desc {
    float temperature;   /* logits / temperature; 0 -> 1; must be finite and > 0 */
    uint32_t top_k;      /* only the k largest logits (ties: the lower index first); 0: all */
    bool greedy;         /* the largest logit (the lowest index among ties); draws nothing */
} vkt_sample_desc;

/**
 * Draws a token from `n` logits as `desc` says, with one uniform draw of the splitmix64 generator
 * whose state is *rng (advanced; untouched when one token is kept: greedy, top_k 1): the same
 * state, logits and desc give the same token on every machine. Probabilities are computed in
 * double from the largest logit down, and the draw walks the kept tokens in order of decreasing
 * logit. VKT_INVALID_ARGUMENT for NULL, n 0, a bad temperature or a NaN logit (naming its
 * index).
 */
VKT_API vkt_status vkt_sample_logits(const float *logits, uint32_t n, const vkt_sample_desc *desc,
                                     uint64_t *rng, int32_t *out);

/* ---- optimizers ------------------------------------------------------------------------------ */

typedef enum vkt_optim_type {
    VKT_OPTIM_DEFAULT = 0, /* = VKT_OPTIM_ADAM */
    VKT_OPTIM_SGD,
    VKT_OPTIM_ADAM,
    VKT_OPTIM_ADAMW,
    _VKT_OPTIM_FORCE_U32 = 0x7FFFFFFF
} vkt_optim_type;

/**
 * Defaults: lr 1e-3; SGD without momentum; Adam/AdamW betas (0.9, 0.999), eps 1e-8. weight_decay
 * is what you give (0 means none; torch's AdamW default is 0.01, which `vkt train` uses).
 */
typedef struct vkt_optim_desc {
    vkt_optim_type type;
    float lr;
    float momentum, dampening;  /* SGD */
    bool nesterov;              /* SGD */
    float weight_decay;
    float beta1, beta2, eps;    /* Adam, AdamW */
    /* bitmask of 1u << vkt_param_role: parameters with those roles get weight decay 0 (a second
     * param group, as nanoGPT/llm.c); 0: one group */
    uint32_t no_decay;
} vkt_optim_desc;

/** vkt_optim_desc.no_decay of nanoGPT's and llm.c's AdamW: decay only matmul/conv weights. */
#define VKT_NO_DECAY_BIAS_NORM_EMBEDDING                                                        \
    ((1u << VKT_PARAM_BIAS) | (1u << VKT_PARAM_NORM) | (1u << VKT_PARAM_EMBEDDING))

typedef struct vkt_optimizer vkt_optimizer;

VKT_API vkt_status vkt_optimizer_create(vkt_model *m, const vkt_optim_desc *desc,
                                        vkt_optimizer **out);
VKT_API void vkt_optimizer_destroy(vkt_optimizer *o);
/** One update of every parameter: one dispatch over the parameter block, or with weight decay
 * and no_decay groups one per run of neighbouring parameters that share a decay setting (the
 * runs are found once, at create). */
VKT_API vkt_status vkt_optimizer_step(vkt_optimizer *o);
VKT_API float vkt_optimizer_lr(const vkt_optimizer *o);
VKT_API void vkt_optimizer_set_lr(vkt_optimizer *o, float lr);
/** Steps taken so far. */
VKT_API uint32_t vkt_optimizer_steps(const vkt_optimizer *o);
VKT_API const vkt_optim_desc *vkt_optimizer_desc(const vkt_optimizer *o);

/* ---- learning-rate schedules (torch.optim.lr_scheduler semantics) ---------------------------- */

typedef enum vkt_sched_type {
    VKT_SCHED_NONE = 0,
    VKT_SCHED_STEP,       /* lr = base * gamma^floor(t / step_size)            (StepLR) */
    VKT_SCHED_COSINE,     /* lr = eta_min + (base - eta_min)(1 + cos(pi t / t_max)) / 2 */
    /* nanoGPT's get_lr(t): base (t + 1) / warmup for t < warmup, then
     * eta_min + (base - eta_min)(1 + cos(pi (t - warmup) / (t_max - warmup))) / 2 up to t_max,
     * eta_min after it. The lr is set at create (t = 0), as torch's LambdaLR does; meant for
     * vkt_optim_config.interval VKT_INTERVAL_STEP (t counts optimizer steps). */
    VKT_SCHED_WARMUP_COSINE,
    _VKT_SCHED_FORCE_U32 = 0x7FFFFFFF
} vkt_sched_type;

typedef struct vkt_sched_desc {
    vkt_sched_type type;
    uint32_t step_size;   /* STEP; 0 -> 1 */
    float gamma;          /* STEP; 0 -> 0.1 */
    uint32_t t_max;       /* COSINE, WARMUP_COSINE; required (WARMUP_COSINE: > warmup) */
    float eta_min;        /* COSINE, WARMUP_COSINE */
    uint32_t warmup;      /* WARMUP_COSINE: steps of linear warmup (0: none) */
} vkt_sched_desc;

typedef struct vkt_scheduler vkt_scheduler;

/** Reads the optimizer's current lr as the base lr. */
VKT_API vkt_status vkt_scheduler_create(vkt_optimizer *o, const vkt_sched_desc *desc,
                                        vkt_scheduler **out);
VKT_API void vkt_scheduler_destroy(vkt_scheduler *s);
/** Advances t by one and sets the optimizer's lr. */
VKT_API void vkt_scheduler_step(vkt_scheduler *s);
VKT_API uint32_t vkt_scheduler_t(const vkt_scheduler *s);

/* ---- gradient clipping (torch.nn.utils.clip_grad_norm_ / clip_grad_value_) ------------------- */

/**
 * Scales every gradient by min(1, max_norm / (norm + 1e-6)) where norm is the L2 norm of all
 * gradients, computed on the device. Returns the norm as a one-element device tensor in
 * *norm_out (may be NULL; owned by the caller): nothing is read back.
 */
VKT_API vkt_status vkt_clip_grad_norm(vkt_model *m, float max_norm, vkt_tensor **norm_out);
/** Clamps every gradient to [-clip, clip]. */
VKT_API vkt_status vkt_clip_grad_value(vkt_model *m, float clip);

#ifdef __cplusplus
}
#endif
#endif
