/*
 * clip.c — gradient clipping by global L2 norm and by value, entirely on the device.
 * Shader: shaders/grad_clip.comp. Reference: vkt__ref_clip_grad_norm / _value (src/ref/ref_clip.c).
 * Checks: check_clip.c.
 */
#include "shaders/grad_clip_ops.h"
#include "optim/optim_internal.h"
#include "tensor/tensor_impl.h"
#include "vkt/nn.h"

/* Mirrors `PC` in shaders/grad_clip.comp. */
typedef struct vkt__pc_grad_clip {
    uint32_t n;
    float limit;
} vkt__pc_grad_clip;
_Static_assert(sizeof(vkt__pc_grad_clip) <= VKT__PUSH_MAX, "push constants");

#define CLIP_WG 256u

static vkt_status clip_dispatch(uint32_t op, const vkt_tensor *sumsq, vkt_tensor *g,
                                vkt_tensor *norm, float limit)
{
    vkt__pc_grad_clip pc = {(uint32_t)g->numel, limit};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_GRAD_CLIP,
        .spec = {CLIP_WG, op},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {sumsq ? vkt__bind(sumsq, VKT__READ) : (vkt__binding){0},
                     vkt__bind(g, VKT__RW), norm ? vkt__bind(norm, VKT__WRITE) : (vkt__binding){0}},
    };
    vkt__elementwise_groups((uint64_t)g->numel, CLIP_WG, d.groups);
    return vkt__dispatch(g->dev, &d);
}

vkt_status vkt__clip_grad_norm_tensor(vkt_tensor *g, float max_norm, vkt_tensor **norm_out)
{
    if (norm_out) {
        *norm_out = NULL;
    }
    if (!(max_norm > 0.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_clip_grad_norm: max_norm must be > 0, got %g",
                          (double)max_norm);
    }
    vkt_scope_begin(g->dev);
    vkt_tensor *sumsq = vkt_sum(vkt_mul(g, g));
    vkt_tensor *norm = sumsq ? vkt_tensor_new_1d(g->dev, VKT_F32, 1) : NULL;
    vkt_status s = norm ? clip_dispatch(CLIP_SCALE_BY_NORM, sumsq, g, norm, max_norm)
                        : vkt_last_status();
    if (s == VKT_OK && norm_out) {
        *norm_out = vkt_tensor_keep(norm);
    }
    vkt_scope_end(g->dev);
    return s;
}

vkt_status vkt_clip_grad_norm(vkt_model *m, float max_norm, vkt_tensor **norm_out)
{
    vkt_tensor *g = vkt_model_grad_block(m); /* NULL if the model could not be built */
    if (!g && norm_out) {
        *norm_out = NULL;
    }
    return g ? vkt__clip_grad_norm_tensor(g, max_norm, norm_out) : vkt_last_status();
}

vkt_status vkt__clip_grad_value_tensor(vkt_tensor *g, float clip)
{
    if (!(clip > 0.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_clip_grad_value: clip must be > 0, got %g",
                          (double)clip);
    }
    return clip_dispatch(CLIP_CLAMP, NULL, g, NULL, clip);
}

vkt_status vkt_clip_grad_value(vkt_model *m, float clip)
{
    vkt_tensor *g = vkt_model_grad_block(m);
    return g ? vkt__clip_grad_value_tensor(g, clip) : vkt_last_status();
}
