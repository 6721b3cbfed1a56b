/*
 * vkt/nn.h — layers, models, optimizers, learning-rate schedules, gradient clipping.
 *
 *     vkt_model *mlp;
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
 * Memory (llm.c's layout, on the device): a model's parameters live in one allocation, its
 * gradients in a second and each optimizer state (momentum; Adam's m and v) in one more. Each
 * parameter tensor is a view into the block, padded to 64 elements so every view is aligned for
 * any device. Padding stays zero, has zero gradient, and is never updated.
 */
#ifndef VKT_NN_H
#define VKT_NN_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- models ---------------------------------------------------------------------------------- */

typedef enum vkt_layer_type {
    VKT_LAYER_NONE = 0,   /* ends the layer list */
    VKT_LAYER_LINEAR,     /* y = x Wᵀ + b; W (out, in) as torch.nn.Linear */
    VKT_LAYER_RELU,
    _VKT_LAYER_FORCE_U32 = 0x7FFFFFFF
} vkt_layer_type;

typedef struct vkt_layer_desc {
    vkt_layer_type type;
    uint32_t in, out;     /* LINEAR */
    bool no_bias;         /* LINEAR without bias */
} vkt_layer_desc;

#define VKT_MAX_LAYERS 32

/**
 * A sequential model. Linear layers start as torch.nn.Linear does: weights and biases uniform in
 * ±1/sqrt(in) (Kaiming-uniform with a = sqrt(5)), drawn from a generator seeded with `seed`.
 */
typedef struct vkt_model_desc {
    vkt_layer_desc layers[VKT_MAX_LAYERS]; /* up to the first VKT_LAYER_NONE */
    uint64_t seed;
    const char *label;    /* may be NULL */
} vkt_model_desc;

typedef struct vkt_model vkt_model;

/** Fills `out` with Linear(sizes[0], sizes[1]), ReLU, ..., Linear(sizes[n-2], sizes[n-1]). */
VKT_API vkt_status vkt_mlp_desc(const uint32_t *sizes, int n, uint64_t seed, vkt_model_desc *out);
VKT_API vkt_status vkt_model_create(vkt_device *dev, const vkt_model_desc *desc, vkt_model **out);
VKT_API void vkt_model_destroy(vkt_model *m);
VKT_API vkt_device *vkt_model_device(const vkt_model *m);
/** Logits for a batch x (B, in) f32; NULL with the error set on a shape mismatch. */
VKT_API vkt_tensor *vkt_model_forward(vkt_model *m, const vkt_tensor *x);
/** Zeroes every gradient: one fill over the gradient block. */
VKT_API vkt_status vkt_model_zero_grad(vkt_model *m);

/** Parameter tensors in torch.nn.Sequential state_dict order ("0.weight", "0.bias", "2.weight"...).
 */
VKT_API uint32_t vkt_model_num_tensors(const vkt_model *m);
VKT_API vkt_tensor *vkt_model_tensor(const vkt_model *m, uint32_t i);
VKT_API const char *vkt_model_tensor_name(const vkt_model *m, uint32_t i);
/** Number of parameters (without padding). */
VKT_API uint64_t vkt_model_num_params(const vkt_model *m);
/** The flat blocks (with padding): what optimizers and checkpoints work on. */
VKT_API vkt_tensor *vkt_model_param_block(const vkt_model *m);
VKT_API vkt_tensor *vkt_model_grad_block(const vkt_model *m);
/** Input features of the first layer and outputs of the last. */
VKT_API uint32_t vkt_model_in_features(const vkt_model *m);
VKT_API uint32_t vkt_model_out_features(const vkt_model *m);

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
} vkt_optim_desc;

typedef struct vkt_optimizer vkt_optimizer;

VKT_API vkt_status vkt_optimizer_create(vkt_model *m, const vkt_optim_desc *desc,
                                        vkt_optimizer **out);
VKT_API void vkt_optimizer_destroy(vkt_optimizer *o);
/** One update of every parameter: one dispatch over the parameter block. */
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
    _VKT_SCHED_FORCE_U32 = 0x7FFFFFFF
} vkt_sched_type;

typedef struct vkt_sched_desc {
    vkt_sched_type type;
    uint32_t step_size;   /* STEP; 0 -> 1 */
    float gamma;          /* STEP; 0 -> 0.1 */
    uint32_t t_max;       /* COSINE; required */
    float eta_min;        /* COSINE */
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
