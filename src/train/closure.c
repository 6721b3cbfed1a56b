/*
 * closure.c — one optimization step in Lightning's automatic optimization: the step outputs,
 * optimizer_step(closure), and the closure's phases (training_step, zero_grad, backward, clip),
 * then the learning-rate schedulers.
 *
 *     optimizer_step(closure) -> closure: training_step -> [zero_grad] -> backward
 *                                         -> on_before_optimizer_step -> clip
 *                             -> optimizer.step -> [lr_scheduler_step]
 *
 * Everything here runs inside the batch's tensor scope (fit_loop.c); hooks get no scope of their
 * own, so what one of them makes lives until the batch ends.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "train/trainer_impl.h"

/* ---- outputs --------------------------------------------------------------------------------- */

vkt_status vkt_outputs_set(vkt_outputs *o, const char *name, vkt_tensor *value)
{
    if (!o || !name) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_outputs_set: outputs and name are required");
    }
    for (uint32_t i = 0; i < o->count; i++) {
        if (strcmp(o->names[i], name) == 0) {
            o->values[i] = value;
            return VKT_OK;
        }
    }
    if (o->count >= VKT_MAX_OUTPUTS) {
        return vkt__error(VKT_TOO_LARGE, "vkt_outputs_set(\"%s\"): at most %d outputs per step",
                          name, VKT_MAX_OUTPUTS);
    }
    o->names[o->count] = name;
    o->values[o->count] = value;
    o->count++;
    return VKT_OK;
}

vkt_tensor *vkt_outputs_get(const vkt_outputs *o, const char *name)
{
    for (uint32_t i = 0; o && i < o->count; i++) {
        if (strcmp(o->names[i], name) == 0) {
            return o->values[i];
        }
    }
    return NULL;
}

/* ---- the closure's phases -------------------------------------------------------------------- */

vkt_status vkt__trainer_zero_grad(vkt_trainer *t)
{
    return t->oc.model ? vkt_model_zero_grad(t->oc.model) : VKT_OK;
}

/* training_step; *loss is its "loss" (NULL: no optimization for this batch), checked, divided by
 * accumulate_grad_batches, and folded into the NaN probe. */
static vkt_status training_step(vkt_closure *c, vkt_tensor **loss_out)
{
    vkt_trainer *t = c->t;
    vkt_module *m = t->m;
    *loss_out = NULL;
    t->fx = "training_step";
    vkt_status s = vkt__hook_check(t, "training_step", "module",
                                   m->training_step(t, c->batch, c->batch_idx, c->outputs,
                                                    m->user_data));
    if (s != VKT_OK) {
        return s;
    }
    vkt_tensor *loss = vkt_outputs_get(c->outputs, "loss");
    if (!loss && c->outputs->count > 0) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "training_step returned outputs without \"loss\"; set it with "
                          "vkt_outputs_set(out, \"loss\", loss) (or return no outputs at all to "
                          "skip the optimization of this batch)");
    }
    if (loss && (vkt_tensor_numel(loss) != 1 || vkt_tensor_dtype(loss) != VKT_F32)) {
        char d[96];
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "training_step's loss is %s; it must be one f32 element",
                          vkt_tensor_describe(loss, d, sizeof d));
    }
    if (loss && t->d.accumulate_grad_batches > 1) {
        loss = vkt_scale(loss, 1.0f / (float)t->d.accumulate_grad_batches);
        if (!loss) {
            return vkt_last_status();
        }
        vkt_outputs_set(c->outputs, "loss", loss);
    }
    if (loss && t->d.detect_nan) {
        s = vkt_accumulate(t->nan_probe, loss, 0.0f);
        if (s != VKT_OK) {
            return s;
        }
    }
    *loss_out = loss;
    return VKT_OK;
}

/* on_before_zero_grad, then the module's optimizer_zero_grad or the default. */
static vkt_status zero_grad(vkt_closure *c)
{
    vkt_trainer *t = c->t;
    vkt_module *m = t->m;
    vkt_status s = VKT__OPTIMIZER_HOOKS(t, on_before_zero_grad);
    if (s != VKT_OK) {
        return s;
    }
    if (!m->optimizer_zero_grad) {
        return vkt__trainer_zero_grad(t);
    }
    t->fx = "optimizer_zero_grad";
    return vkt__hook_check(t, t->fx, "module",
                           m->optimizer_zero_grad(t, t->current_epoch, c->batch_idx,
                                                  t->oc.optimizer, m->user_data));
}

/* on_before_backward, the module's backward or vkt_backward with DDP's gradient average on a
 * stepping batch (DDP's no_sync on the others), on_after_backward. */
static vkt_status backward(vkt_trainer *t, vkt_tensor *loss, bool stepping)
{
    vkt_module *m = t->m;
    vkt_status s = VKT__LOSS_HOOKS(t, on_before_backward, loss);
    if (s == VKT_OK) {
        s = vkt__ddp_before_backward(t, stepping);
    }
    if (s != VKT_OK) {
        return s;
    }
    if (m->backward) {
        t->fx = "backward";
        s = vkt__hook_check(t, t->fx, "module", m->backward(t, loss, m->user_data));
    } else {
        s = vkt_backward(loss);
    }
    s = vkt__ddp_after_backward(t, stepping, s);
    if (s != VKT_OK) {
        return s;
    }
    /* in the batch's scope: what it makes may be read by on_train_batch_end */
    return VKT__BOTH(t, on_after_backward, VKT__SCOPE_CALLER);
}

/* configure_gradient_clipping, or clipping with the trainer's flags. */
static vkt_status clip(vkt_trainer *t)
{
    vkt_module *m = t->m;
    float val = t->d.gradient_clip_val;
    if (m->configure_gradient_clipping) {
        /* what the user gave, as Lightning passes the trainer's flags: None (NaN / NULL) when
         * unset, so an override can tell "unset" from a value */
        float given = val > 0.0f ? val : NAN;
        const char *algo = t->clip_algorithm_given == VKT_CLIP_VALUE  ? "value"
                           : t->clip_algorithm_given == VKT_CLIP_NORM ? "norm"
                                                                      : NULL;
        t->fx = "configure_gradient_clipping";
        return vkt__hook_check(t, t->fx, "module",
                               m->configure_gradient_clipping(t, t->oc.optimizer, given, algo,
                                                              m->user_data));
    }
    if (val <= 0.0f || !t->oc.model) {
        return VKT_OK;
    }
    return t->d.gradient_clip_algorithm == VKT_CLIP_VALUE
               ? vkt_clip_grad_value(t->oc.model, val)
               : vkt_clip_grad_norm(t->oc.model, val, NULL);
}

/* Lightning's closure. Without a loss (Lightning's `return None`) there is no backward. */
static vkt_status run_closure(vkt_closure *c)
{
    vkt_trainer *t = c->t;
    vkt_tensor *loss;
    vkt_status s = training_step(c, &loss);
    if (s != VKT_OK) {
        return s;
    }
    if (c->zero_grad && (s = zero_grad(c)) != VKT_OK) {
        return s;
    }
    if (!loss) {
        return VKT_OK;
    }
    if ((s = backward(t, loss, c->stepping)) != VKT_OK) {
        return s;
    }
    if (!c->stepping) {
        return VKT_OK;
    }
    /* Lightning runs these inside optimizer.step(closure), after the closure's backward */
    if ((s = VKT__OPTIMIZER_HOOKS(t, on_before_optimizer_step)) != VKT_OK) {
        return s;
    }
    return clip(t);
}

vkt_status vkt_closure_run(vkt_closure *c)
{
    if (!c) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_closure_run: NULL closure");
    }
    if (c->ran) {
        return c->status;
    }
    c->ran = true;
    return c->status = run_closure(c);
}

/* ---- the step ---------------------------------------------------------------------------------- */

vkt_status vkt__trainer_optimizer_step(vkt_trainer *t, vkt_closure *c)
{
    vkt_module *m = t->m;
    vkt_status s;
    if (m->optimizer_step) {
        t->fx = "optimizer_step";
        s = vkt__hook_check(t, t->fx, "module",
                            m->optimizer_step(t, t->current_epoch, c->batch_idx, t->oc.optimizer,
                                              c, m->user_data));
        if (s == VKT_OK && !c->ran) {
            s = vkt__error(VKT_INVALID_ARGUMENT, "optimizer_step did not run the closure (call "
                                                 "vkt_closure_run(closure))");
        }
    } else {
        /* Lightning's default: optimizer.step(closure); no loss: torch skips the step as well
         * (the closure returned None) */
        s = vkt_closure_run(c);
        if (s == VKT_OK && vkt_outputs_get(c->outputs, "loss")) {
            s = vkt_optimizer_step(t->oc.optimizer);
        }
    }
    if (s == VKT_OK && vkt_outputs_get(c->outputs, "loss")) {
        t->global_step++;
    }
    return s;
}

static vkt_status scheduler_step(vkt_trainer *t)
{
    vkt_module *m = t->m;
    if (m->lr_scheduler_step) {
        t->fx = "lr_scheduler_step";
        return vkt__hook_check(t, t->fx, "module",
                               m->lr_scheduler_step(t, t->oc.scheduler, m->user_data));
    }
    vkt_scheduler_step(t->oc.scheduler);
    return VKT_OK;
}

/* _update_learning_rates: step interval on stepping batches whose batch_idx + 1 is a multiple of
 * `frequency` (the index within the epoch, not global_step), epoch interval on the last batch
 * when current_epoch + 1 is. */
vkt_status vkt__trainer_lr_schedulers(vkt_trainer *t, uint32_t batch_idx, bool last)
{
    if (!t->oc.scheduler) {
        return VKT_OK;
    }
    uint32_t f = VKT__DEF(t->oc.frequency, 1u);
    bool due = t->oc.interval == VKT_INTERVAL_STEP ? (batch_idx + 1) % f == 0
                                                    : last && (t->current_epoch + 1) % f == 0;
    return due ? scheduler_step(t) : VKT_OK;
}
