/*
 * optimizer.c — SGD, Adam, AdamW over a model's parameter block, and learning-rate schedules.
 *
 * The update kernels are vkt_sgd_step / vkt_adam_step (src/ops/optim.c, shaders/sgd_step.comp,
 * shaders/adam_step.comp); an optimizer step is one dispatch over the whole block. State (SGD
 * momentum; Adam m and v) is one allocation each, made zero at creation.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "optim/optim_internal.h"
#include "vkt/nn.h"

struct vkt_optimizer {
    vkt_model *model;
    vkt_optim_desc d;
    vkt_tensor *s1, *s2;   /* momentum, or Adam's m and v; may be NULL */
    uint32_t steps;
};

struct vkt_scheduler {
    vkt_optimizer *opt;
    vkt_sched_desc d;
    float base_lr;
    uint32_t t;
};

static vkt_tensor *state_like(vkt_tensor *block)
{
    vkt_tensor *t = vkt_tensor_new_1d(vkt_tensor_device(block), VKT_F32, vkt_tensor_numel(block));
    if (t) {
        vkt_tensor_keep(t);
        if (vkt_fill(t, 0.0f) != VKT_OK) {
            vkt_tensor_free(t);
            return NULL;
        }
    }
    return t;
}

vkt_status vkt_optimizer_create(vkt_model *m, const vkt_optim_desc *desc, vkt_optimizer **out)
{
    *out = NULL;
    if (!m || !desc) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_optimizer_create: model and desc are required");
    }
    vkt_optimizer *o = vkt__calloc(1, sizeof *o);
    if (!o) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    o->model = m;
    o->d = *desc;
    o->d.type = VKT__DEF(o->d.type, VKT_OPTIM_ADAM);
    o->d.lr = VKT__DEF(o->d.lr, 1e-3f);
    o->d.beta1 = VKT__DEF(o->d.beta1, 0.9f);
    o->d.beta2 = VKT__DEF(o->d.beta2, 0.999f);
    o->d.eps = VKT__DEF(o->d.eps, 1e-8f);
    if (o->d.type != VKT_OPTIM_SGD && o->d.type != VKT_OPTIM_ADAM && o->d.type != VKT_OPTIM_ADAMW) {
        free(o);
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_optimizer_create: unknown optimizer type %d",
                          (int)desc->type);
    }
    if (!(o->d.lr > 0.0f) || o->d.weight_decay < 0.0f || o->d.momentum < 0.0f ||
        (o->d.nesterov && (o->d.momentum <= 0.0f || o->d.dampening != 0.0f))) {
        free(o);
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_optimizer_create: invalid hyper-parameters (lr %g, momentum %g, "
                          "weight decay %g; nesterov needs momentum > 0 and dampening 0)",
                          (double)desc->lr, (double)desc->momentum, (double)desc->weight_decay);
    }
    vkt_status built = vkt_model_build(m); /* the blocks the state is shaped after */
    if (built != VKT_OK) {
        free(o);
        return built;
    }
    vkt_tensor *block = vkt_model_param_block(m);
    bool need2 = o->d.type != VKT_OPTIM_SGD;
    bool need1 = need2 || o->d.momentum > 0.0f;
    if (need1 && !(o->s1 = state_like(block))) {
        goto fail;
    }
    if (need2 && !(o->s2 = state_like(block))) {
        goto fail;
    }
    *out = o;
    return VKT_OK;

fail:
    vkt_optimizer_destroy(o);
    return vkt_last_status();
}

void vkt_optimizer_destroy(vkt_optimizer *o)
{
    if (o) {
        vkt_tensor_free(o->s1);
        vkt_tensor_free(o->s2);
        free(o);
    }
}

vkt_status vkt_optimizer_step(vkt_optimizer *o)
{
    vkt_tensor *p = vkt_model_param_block(o->model), *g = vkt_model_grad_block(o->model);
    vkt_status s;
    if (o->d.type == VKT_OPTIM_SGD) {
        vkt_sgd_params sp = {
            .lr = o->d.lr,
            .momentum = o->d.momentum,
            .dampening = o->d.dampening,
            .weight_decay = o->d.weight_decay,
            .nesterov = o->d.nesterov,
            .first_step = o->steps == 0,
        };
        s = vkt_sgd_step(p, g, o->s1, &sp);
    } else {
        vkt_adam_params ap = {
            .lr = o->d.lr,
            .beta1 = o->d.beta1,
            .beta2 = o->d.beta2,
            .eps = o->d.eps,
            .weight_decay = o->d.weight_decay,
            .decoupled = o->d.type == VKT_OPTIM_ADAMW,
            .step = o->steps + 1,
        };
        s = vkt_adam_step(p, g, o->s1, o->s2, &ap);
    }
    if (s == VKT_OK) {
        o->steps++;
    }
    return s;
}

float vkt_optimizer_lr(const vkt_optimizer *o) { return o->d.lr; }
void vkt_optimizer_set_lr(vkt_optimizer *o, float lr) { o->d.lr = lr; }
uint32_t vkt_optimizer_steps(const vkt_optimizer *o) { return o->steps; }
const vkt_optim_desc *vkt_optimizer_desc(const vkt_optimizer *o) { return &o->d; }

/* ---- schedules ----------------------------------------------------------------------------- */

vkt_status vkt_scheduler_create(vkt_optimizer *o, const vkt_sched_desc *desc, vkt_scheduler **out)
{
    *out = NULL;
    if (!o || !desc) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_scheduler_create: optimizer and desc are "
                                                "required");
    }
    if (desc->type == VKT_SCHED_COSINE && desc->t_max == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_scheduler_create: cosine schedule needs "
                                                "t_max > 0");
    }
    if (desc->type != VKT_SCHED_NONE && desc->type != VKT_SCHED_STEP &&
        desc->type != VKT_SCHED_COSINE) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_scheduler_create: unknown schedule %d",
                          (int)desc->type);
    }
    vkt_scheduler *s = vkt__calloc(1, sizeof *s);
    if (!s) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    s->opt = o;
    s->d = *desc;
    s->d.step_size = VKT__DEF(s->d.step_size, 1u);
    s->d.gamma = VKT__DEF(s->d.gamma, 0.1f);
    s->base_lr = o->d.lr;
    *out = s;
    return VKT_OK;
}

void vkt_scheduler_destroy(vkt_scheduler *s) { free(s); }
uint32_t vkt_scheduler_t(const vkt_scheduler *s) { return s->t; }

void vkt_scheduler_step(vkt_scheduler *s)
{
    s->t++;
    double lr = s->base_lr;
    switch (s->d.type) {
    case VKT_SCHED_STEP:
        lr = s->base_lr * pow((double)s->d.gamma, (double)(s->t / s->d.step_size));
        break;
    case VKT_SCHED_COSINE: {
        /* closed form of CosineAnnealingLR (torch's recursive form agrees to rounding) */
        double t = (double)s->t;
        lr = s->d.eta_min +
             (s->base_lr - s->d.eta_min) * (1.0 + cos(M_PI * t / (double)s->d.t_max)) / 2.0;
        break;
    }
    default:
        break;
    }
    s->opt->d.lr = (float)lr;
}

/* ---- for checkpoints (src/train/trainer_state.c) ------------------------------------------- */

vkt_tensor *vkt__optimizer_state(vkt_optimizer *o, int i) { return i == 0 ? o->s1 : o->s2; }

void vkt__optimizer_set_steps(vkt_optimizer *o, uint32_t steps) { o->steps = steps; }

void vkt__scheduler_set_t(vkt_scheduler *s, uint32_t t)
{
    if (t == 0) {
        s->t = 0;
        s->opt->d.lr = s->base_lr;
        return;
    }
    s->t = t - 1;
    vkt_scheduler_step(s);
}
