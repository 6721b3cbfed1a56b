/*
 * optimizer.c — SGD, Adam, AdamW over a model's parameter block, and learning-rate schedules.
 *
 * The update kernels are vkt_sgd_step / vkt_adam_step (src/ops/optim.c, shaders/sgd_step.comp,
 * shaders/adam_step.comp); an optimizer step is one dispatch over the whole block. State (SGD
 * momentum; Adam m and v) is one allocation each, made zero at creation.
 *
 * Parameter groups (vkt_optim_desc.no_decay): group 0 holds the parameters that decay, group 1
 * those whose role is in no_decay (torch's param_groups as nanoGPT builds them). The block is in
 * state-dict order, so a group is a set of runs of neighbouring parameters; create finds the runs
 * and makes views of the four blocks for each, and a step is one dispatch per run (a run owns the
 * padding after its last parameter, whose gradient is zero). Without weight decay the groups
 * differ in nothing and a step stays one dispatch.
 * Tests: tests/test_optim_groups.c (torch fixture), tests/test_trainer_flags.c (checkpoints).
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "nn/nn_internal.h"
#include "optim/optim_internal.h"
#include "vkt/nn.h"

/* Neighbouring parameters of one group: views of the parameter, gradient and state blocks. */
typedef struct vkt__run {
    bool decay;
    vkt_tensor *p, *g, *s1, *s2; /* s1, s2 may be NULL */
} vkt__run;

struct vkt_optimizer {
    vkt_model *model;
    vkt_optim_desc d;
    vkt_tensor *s1, *s2;   /* momentum, or Adam's m and v; may be NULL */
    uint32_t steps;
    uint32_t n_trainable;  /* parameters (not buffers) */
    uint8_t *group;        /* per parameter in state-dict order: 0 decays, 1 not; NULL: 1 group */
    vkt__run *runs;        /* NULL: one dispatch over the whole blocks */
    uint32_t n_runs;
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

/* A view of elements [begin, begin + n) of `block`, out of any scope (NULL: none wanted). */
static bool run_view(vkt_tensor *block, int64_t begin, int64_t n, vkt_tensor **out)
{
    *out = NULL;
    return !block || (*out = vkt_tensor_keep(vkt_tensor_view(block, begin, 1, &n))) != NULL;
}

/* The groups of o->d.no_decay and, when weight decay makes them differ, the runs. */
static vkt_status make_groups(vkt_optimizer *o)
{
    vkt_model *m = o->model;
    uint32_t known = (1u << VKT_PARAM_ROLE_COUNT) - 1u;
    if (o->d.no_decay & ~known) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_optimizer_create: no_decay 0x%x has bits beyond the %d parameter "
                          "roles (a mask of 1u << vkt_param_role)",
                          (unsigned)o->d.no_decay, (int)VKT_PARAM_ROLE_COUNT);
    }
    o->group = vkt__calloc(m->n ? m->n : 1, 1);
    /* at most one run per parameter; begin[] holds each run's first element */
    int64_t *begin = vkt__calloc(m->n ? m->n : 1, sizeof *begin);
    uint8_t *decay = vkt__calloc(m->n ? m->n : 1, 1);
    vkt_status s = o->group && begin && decay ? VKT_OK
                                              : vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host "
                                                                                   "memory");
    uint32_t n_runs = 0;
    for (uint32_t i = 0; s == VKT_OK && i < m->n; i++) {
        const vkt_param *p = m->order[i];
        if (p->buffer) {
            continue;
        }
        bool dec = !(o->d.no_decay & (1u << p->role));
        o->group[o->n_trainable++] = dec ? 0 : 1;
        if (n_runs == 0 || decay[n_runs - 1] != dec) {
            begin[n_runs] = n_runs == 0 ? 0 : p->offset;
            decay[n_runs++] = dec;
        }
    }
    if (s == VKT_OK && o->d.weight_decay != 0.0f && n_runs > 1) {
        vkt_tensor *pb = vkt_model_param_block(m), *gb = vkt_model_grad_block(m);
        o->runs = vkt__calloc(n_runs, sizeof *o->runs);
        s = o->runs ? VKT_OK : vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        for (uint32_t r = 0; s == VKT_OK && r < n_runs; r++) {
            int64_t end = r + 1 < n_runs ? begin[r + 1] : vkt_tensor_numel(pb);
            vkt__run *run = &o->runs[o->n_runs++];
            run->decay = decay[r];
            if (!run_view(pb, begin[r], end - begin[r], &run->p) ||
                !run_view(gb, begin[r], end - begin[r], &run->g) ||
                !run_view(o->s1, begin[r], end - begin[r], &run->s1) ||
                !run_view(o->s2, begin[r], end - begin[r], &run->s2)) {
                s = vkt_last_status();
            }
        }
    }
    free(begin);
    free(decay);
    return s;
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
    if (o->d.no_decay && make_groups(o) != VKT_OK) {
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
        for (uint32_t i = 0; i < o->n_runs; i++) {
            vkt_tensor_free(o->runs[i].p);
            vkt_tensor_free(o->runs[i].g);
            vkt_tensor_free(o->runs[i].s1);
            vkt_tensor_free(o->runs[i].s2);
        }
        free(o->runs);
        free(o->group);
        vkt_tensor_free(o->s1);
        vkt_tensor_free(o->s2);
        free(o);
    }
}

/* One update of params/grads/states with weight decay `wd`. */
static vkt_status step_tensors(vkt_optimizer *o, vkt_tensor *p, vkt_tensor *g, vkt_tensor *s1,
                               vkt_tensor *s2, float wd)
{
    if (o->d.type == VKT_OPTIM_SGD) {
        vkt_sgd_params sp = {
            .lr = o->d.lr,
            .momentum = o->d.momentum,
            .dampening = o->d.dampening,
            .weight_decay = wd,
            .nesterov = o->d.nesterov,
            .first_step = o->steps == 0,
        };
        return vkt_sgd_step(p, g, s1, &sp);
    }
    vkt_adam_params ap = {
        .lr = o->d.lr,
        .beta1 = o->d.beta1,
        .beta2 = o->d.beta2,
        .eps = o->d.eps,
        .weight_decay = wd,
        .decoupled = o->d.type == VKT_OPTIM_ADAMW,
        .step = o->steps + 1,
    };
    return vkt_adam_step(p, g, s1, s2, &ap);
}

vkt_status vkt_optimizer_step(vkt_optimizer *o)
{
    vkt_status s = VKT_OK;
    if (!o->runs) {
        /* one group, or two that differ in nothing (no weight decay; all in one group) */
        bool all_off = o->group && o->n_trainable > 0 && o->group[0] == 1;
        s = step_tensors(o, vkt_model_param_block(o->model), vkt_model_grad_block(o->model),
                         o->s1, o->s2, all_off ? 0.0f : o->d.weight_decay);
    }
    for (uint32_t r = 0; s == VKT_OK && r < o->n_runs; r++) {
        const vkt__run *run = &o->runs[r];
        s = step_tensors(o, run->p, run->g, run->s1, run->s2,
                         run->decay ? o->d.weight_decay : 0.0f);
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

/* ---- parameter groups (for checkpoints) ---------------------------------------------------- */

uint32_t vkt__optimizer_num_groups(const vkt_optimizer *o) { return o->group ? 2u : 1u; }

uint32_t vkt__optimizer_group_params(const vkt_optimizer *o, uint32_t g, int64_t *idx)
{
    uint32_t n = 0, total = vkt__optimizer_n_trainable(o);
    for (uint32_t i = 0; i < total; i++) {
        if ((o->group ? o->group[i] : 0u) == g) {
            idx[n++] = i;
        }
    }
    return n;
}

uint32_t vkt__optimizer_n_trainable(const vkt_optimizer *o)
{
    if (o->group) {
        return o->n_trainable;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < o->model->n; i++) {
        n += !o->model->order[i]->buffer;
    }
    return n;
}

float vkt__optimizer_group_weight_decay(const vkt_optimizer *o, uint32_t g)
{
    return g == 0 ? o->d.weight_decay : 0.0f;
}

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
    if (desc->type == VKT_SCHED_WARMUP_COSINE && !(desc->t_max > desc->warmup)) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_scheduler_create: warmup-cosine schedule needs t_max (%u) > "
                          "warmup (%u)",
                          (unsigned)desc->t_max, (unsigned)desc->warmup);
    }
    if (desc->type != VKT_SCHED_NONE && desc->type != VKT_SCHED_STEP &&
        desc->type != VKT_SCHED_COSINE && desc->type != VKT_SCHED_WARMUP_COSINE) {
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
    if (s->d.type == VKT_SCHED_WARMUP_COSINE) {
        vkt__scheduler_set_t(s, 0); /* LambdaLR sets lr = base * lambda(0) at construction */
    }
    *out = s;
    return VKT_OK;
}

void vkt_scheduler_destroy(vkt_scheduler *s) { free(s); }
uint32_t vkt_scheduler_t(const vkt_scheduler *s) { return s->t; }

/* The lr after t steps, in double. */
static double lr_at(const vkt_scheduler *s, uint32_t t)
{
    double base = s->base_lr, eta_min = s->d.eta_min;
    switch (s->d.type) {
    case VKT_SCHED_STEP:
        return base * pow((double)s->d.gamma, (double)(t / s->d.step_size));
    case VKT_SCHED_COSINE:
        /* closed form of CosineAnnealingLR (torch's recursive form agrees to rounding) */
        return eta_min + (base - eta_min) * (1.0 + cos(M_PI * (double)t / (double)s->d.t_max)) /
                             2.0;
    case VKT_SCHED_WARMUP_COSINE: {
        uint32_t w = s->d.warmup, tm = s->d.t_max;
        if (t < w) {
            return base * (double)(t + 1) / (double)w;
        }
        if (t > tm) {
            return eta_min;
        }
        double ratio = (double)(t - w) / (double)(tm - w);
        return eta_min + 0.5 * (1.0 + cos(M_PI * ratio)) * (base - eta_min);
    }
    default:
        return base;
    }
}

void vkt_scheduler_step(vkt_scheduler *s)
{
    s->t++;
    s->opt->d.lr = (float)lr_at(s, s->t);
}

/* ---- for checkpoints (src/train/trainer_state.c) ------------------------------------------- */

vkt_tensor *vkt__optimizer_state(vkt_optimizer *o, int i) { return i == 0 ? o->s1 : o->s2; }

void vkt__optimizer_set_steps(vkt_optimizer *o, uint32_t steps) { o->steps = steps; }

void vkt__scheduler_set_t(vkt_scheduler *s, uint32_t t)
{
    s->t = t;
    s->opt->d.lr = (float)lr_at(s, t);
}
