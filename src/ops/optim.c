/*
 * optim.c — optimizer steps, in place, one dispatch each: vkt_sgd_step and vkt_adam_step.
 *
 * Both follow torch.optim's single-tensor update (SGD; Adam; AdamW = Adam with decoupled weight
 * decay) operation by operation; the scalars torch computes in Python doubles (1 - dampening,
 * 1 - beta2, lr / bias_correction1, sqrt(bias_correction2), 1 - lr * wd) are computed here in
 * double and rounded to f32 once, as torch does when it hands them to its float kernels.
 * Shaders: shaders/sgd_step.comp, shaders/adam_step.comp. CPU reference: src/ref/ref_optim.c.
 * Checks: src/check/check_optim.c. Tests: tests/test_optim.c.
 */
#include <math.h>

#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/sgd_step.comp. */
typedef struct vkt__pc_sgd_step {
    uint32_t n;
    uint32_t flags;
    float neg_lr;
    float weight_decay;
    float momentum;
    float one_minus_dampening;
} vkt__pc_sgd_step;
_Static_assert(sizeof(vkt__pc_sgd_step) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/adam_step.comp. */
typedef struct vkt__pc_adam_step {
    uint32_t n;
    uint32_t flags;
    float weight_decay;
    float decay;
    float lerp_coeff;
    float beta2;
    float one_minus_beta2;
    float neg_step_size;
    float bias_correction2_sqrt;
    float eps;
} vkt__pc_adam_step;
_Static_assert(sizeof(vkt__pc_adam_step) <= VKT__PUSH_MAX, "push constants");

/* Flags in the shaders' push constants. */
enum { SGD_MOMENTUM = 1, SGD_NESTEROV = 2, SGD_FIRST_STEP = 4 };
enum { ADAM_DECOUPLED = 1, ADAM_LERP_FROM_END = 2 };

#define OPTIM_WG 256u

/* `t` (named `what`) must be an f32 tensor on param's device with param's element count. */
static bool check_state(const char *op, const vkt_tensor *param, const char *what,
                        const vkt_tensor *t)
{
    if (!vkt__check_same_device(op, param, t) || !vkt__check_dtype(op, what, t, VKT_F32)) {
        return false;
    }
    if (t->numel != param->numel) {
        char dp[96], dt[96];
        vkt__error(VKT_SHAPE_MISMATCH, "%s: param is %s but %s is %s; element counts must match",
                   op, vkt_tensor_describe(param, dp, sizeof dp), what,
                   vkt_tensor_describe(t, dt, sizeof dt));
        return false;
    }
    return true;
}

/* The n tensors (NULLs skipped) must not share memory: each element is read and written by one
 * invocation, so aliasing would silently change the update. */
static bool check_disjoint(const char *op, int n, const vkt_tensor *const *t,
                           const char *const *names)
{
    for (int i = 0; i < n; i++) {
        for (int j = i + 1; j < n; j++) {
            if (!t[i] || !t[j] || t[i]->alloc != t[j]->alloc) {
                continue;
            }
            uint64_t ei = t[i]->offset + (uint64_t)t[i]->numel * 4;
            uint64_t ej = t[j]->offset + (uint64_t)t[j]->numel * 4;
            if (t[i]->offset < ej && t[j]->offset < ei) {
                vkt__error(VKT_INVALID_ARGUMENT,
                           "%s: %s and %s share memory; they must not overlap", op, names[i],
                           names[j]);
                return false;
            }
        }
    }
    return true;
}

/* `per_invocation`: elements each invocation steps (adam_step.comp: 4, vec4 loads and stores). */
/* `texel_shader`: the shader declares set 1 (adam_step.comp), so it is always bound; on CPU
 * drivers the shader reads all four ranges through it (TEXEL) where each can be viewed as
 * texels. */
static vkt_status dispatch_step(vkt__shader_id shader, const void *pc, uint32_t pc_size,
                                const vkt_tensor *grad, vkt_tensor *param, vkt_tensor *s1,
                                vkt_tensor *s2, uint32_t per_invocation, bool texel_shader)
{
    vkt__dispatch_desc d = {
        .shader = shader,
        .spec = {OPTIM_WG, 0},
        .spec_count = texel_shader ? 2 : 1,
        .push = pc,
        .push_size = pc_size,
        .bindings = {vkt__bind(grad, VKT__READ), vkt__bind(param, VKT__RW),
                     s1 ? vkt__bind(s1, VKT__RW) : (vkt__binding){0},
                     s2 ? vkt__bind(s2, VKT__RW) : (vkt__binding){0}},
        .texel_set = texel_shader,
    };
    bool texel = texel_shader && vkt__device_caps(param->dev)->cpu_like;
    for (int i = 0; texel && i < 4; i++) {
        texel = vkt__texel_usable(param->dev, &d.bindings[i]);
    }
    if (texel) {
        d.spec[1] = 1;
        for (int i = 0; i < 4; i++) {
            d.texels[i] = d.bindings[i];
            d.texels[i].access = VKT__READ;
        }
    }
    uint64_t n = ((uint64_t)param->numel + per_invocation - 1) / per_invocation;
    vkt__elementwise_groups(n, OPTIM_WG, d.groups);
    return vkt__dispatch(param->dev, &d);
}

vkt_status vkt_sgd_step(vkt_tensor *param, const vkt_tensor *grad, vkt_tensor *momentum_buf,
                        const vkt_sgd_params *p)
{
    const char *op = "vkt_sgd_step";
    if (!param || !grad || !p) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: param, grad and params must not be NULL", op);
    }
    if (!(p->lr >= 0.0f && p->momentum >= 0.0f && p->weight_decay >= 0.0f) ||
        !isfinite(p->lr + p->momentum + p->weight_decay + p->dampening)) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: lr (%g), momentum (%g) and weight_decay (%g) must be finite and "
                          ">= 0, dampening (%g) finite",
                          op, p->lr, p->momentum, p->weight_decay, p->dampening);
    }
    if (p->nesterov && (p->momentum <= 0.0f || p->dampening != 0.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: Nesterov momentum requires momentum > 0 and dampening 0 (got "
                          "momentum %g, dampening %g)",
                          op, p->momentum, p->dampening);
    }
    bool momentum = p->momentum != 0.0f;
    if (momentum && !momentum_buf) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: momentum %g needs a momentum_buf", op,
                          p->momentum);
    }
    const vkt_tensor *all[] = {param, grad, momentum ? momentum_buf : NULL};
    const char *names[] = {"param", "grad", "momentum_buf"};
    if (!vkt__check_dtype(op, "param", param, VKT_F32) || !check_state(op, param, "grad", grad) ||
        (momentum && !check_state(op, param, "momentum_buf", momentum_buf)) ||
        !check_disjoint(op, 3, all, names)) {
        return vkt_last_status();
    }
    vkt__pc_sgd_step pc = {
        .n = (uint32_t)param->numel,
        .flags = (momentum ? SGD_MOMENTUM : 0u) | (p->nesterov ? SGD_NESTEROV : 0u) |
                 (p->first_step ? SGD_FIRST_STEP : 0u),
        .neg_lr = -p->lr,
        .weight_decay = p->weight_decay,
        .momentum = p->momentum,
        .one_minus_dampening = (float)(1.0 - (double)p->dampening),
    };
    return dispatch_step(VKT__SHADER_SGD_STEP, &pc, sizeof pc, grad, param,
                         momentum ? momentum_buf : NULL, NULL, 1, false);
}

vkt_status vkt_adam_step(vkt_tensor *param, const vkt_tensor *grad, vkt_tensor *m, vkt_tensor *v,
                         const vkt_adam_params *p)
{
    const char *op = "vkt_adam_step";
    if (!param || !grad || !m || !v || !p) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: param, grad, m, v and params must not be NULL", op);
    }
    float beta1 = VKT__DEF(p->beta1, 0.9f), beta2 = VKT__DEF(p->beta2, 0.999f);
    float eps = VKT__DEF(p->eps, 1e-8f);
    if (!(p->lr >= 0.0f && p->weight_decay >= 0.0f && eps > 0.0f) ||
        !isfinite(p->lr + p->weight_decay + eps) || !(beta1 > 0.0f && beta1 < 1.0f) ||
        !(beta2 > 0.0f && beta2 < 1.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: need finite lr >= 0 (got %g), weight_decay >= 0 (%g), eps > 0 "
                          "(%g) and betas in (0, 1) (%g, %g)",
                          op, p->lr, p->weight_decay, eps, beta1, beta2);
    }
    if (p->step < 1) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "%s: step is 0; it counts from 1 (bias correction uses it)", op);
    }
    const vkt_tensor *all[] = {param, grad, m, v};
    const char *names[] = {"param", "grad", "m", "v"};
    if (!vkt__check_dtype(op, "param", param, VKT_F32) || !check_state(op, param, "grad", grad) ||
        !check_state(op, param, "m", m) || !check_state(op, param, "v", v) ||
        !check_disjoint(op, 4, all, names)) {
        return vkt_last_status();
    }
    /* torch: exp_avg.lerp_(grad, w = 1 - beta1), which computes m + w * (g - m) when |w| < 0.5
     * and g - (g - m) * (1 - w) otherwise (1 - w in f32) */
    float w = (float)(1.0 - (double)beta1);
    bool from_end = !(fabsf(w) < 0.5f);
    double bc1 = 1.0 - pow((double)beta1, (double)p->step);
    double bc2 = 1.0 - pow((double)beta2, (double)p->step);
    vkt__pc_adam_step pc = {
        .n = (uint32_t)param->numel,
        .flags = (p->decoupled ? ADAM_DECOUPLED : 0u) | (from_end ? ADAM_LERP_FROM_END : 0u),
        .weight_decay = p->weight_decay,
        .decay = (float)(1.0 - (double)p->lr * (double)p->weight_decay),
        .lerp_coeff = from_end ? 1.0f - w : w,
        .beta2 = beta2,
        .one_minus_beta2 = (float)(1.0 - (double)beta2),
        .neg_step_size = (float)(-((double)p->lr / bc1)),
        .bias_correction2_sqrt = (float)sqrt(bc2),
        .eps = eps,
    };
    return dispatch_step(VKT__SHADER_ADAM_STEP, &pc, sizeof pc, grad, param, m, v, 4, true);
}
