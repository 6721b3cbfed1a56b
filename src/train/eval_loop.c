/*
 * eval_loop.c — Lightning's _EvaluationLoop: the sanity check and in-fit validation (called from
 * fit_loop.c), and vkt_trainer_validate / test / predict. One batch is
 *
 *     next_batch -> on_<stage>_batch_start -> <stage>_step -> on_<stage>_batch_end -> log -> submit
 *
 * in one tensor scope. Hook order: docs/lightning.md "Hook order", tests/test_hooks.c.
 */
#include <stddef.h>
#include <string.h>

#include "train/trainer_impl.h"

#define FN(obj, off, type) (*(type *)((const char *)(obj) + (off)))

typedef struct hook_ref {
    const char *fx;
    size_t cb, m;
} hook_ref;

/* The hooks of one evaluation stage. */
typedef struct eval_hooks {
    const char *step_fx;
    size_t step;
    hook_ref start, epoch_start, batch_start, batch_end, epoch_end, end;
} eval_hooks;

#define HOOK(name) {#name, offsetof(vkt_callback, name), offsetof(vkt_module, name)}
#define EVAL_HOOKS(p)                                                                              \
    {#p "_step",            offsetof(vkt_module, p##_step), HOOK(on_##p##_start),                  \
     HOOK(on_##p##_epoch_start), HOOK(on_##p##_batch_start), HOOK(on_##p##_batch_end),             \
     HOOK(on_##p##_epoch_end), HOOK(on_##p##_end)}

enum { EVAL_VALIDATE, EVAL_TEST, EVAL_PREDICT, EVAL_STAGES };
static const eval_hooks eval_table[] = {EVAL_HOOKS(validation), EVAL_HOOKS(test),
                                        EVAL_HOOKS(predict)};
_Static_assert(VKT__ARRAY_LEN(eval_table) == EVAL_STAGES, "one entry per evaluation stage");

static vkt_status run_hooks(vkt_trainer *t, const hook_ref *h)
{
    return vkt__hooks(t, h->fx, h->cb, h->m, VKT__CB_ALL, VKT__SCOPE_OWN);
}

/* One batch, inside its tensor scope. */
static vkt_status eval_batch(vkt_trainer *t, const eval_hooks *h, vkt_loader *l, uint32_t i,
                             bool logs)
{
    vkt_batch b;
    vkt_outputs out = {0};
    vkt_status s = vkt__next_batch(t, l, &b);
    if (s != VKT_OK) {
        return s;
    }
    s = vkt__batch_start_hooks(t, h->batch_start.fx, h->batch_start.cb, h->batch_start.m, &b, i);
    if (s != VKT_OK && s != VKT_SKIP_EPOCH) {
        return s; /* SKIP_EPOCH skips nothing here, as in Lightning */
    }
    vkt_eval_step_fn step = FN(t->m, h->step, vkt_eval_step_fn);
    if (step) {
        t->fx = h->step_fx;
        s = vkt__hook_check(t, t->fx, "module", step(t, &b, i, 0, &out, t->m->user_data));
        if (s != VKT_OK) {
            return s;
        }
    }
    s = vkt__eval_batch_end_hooks(t, h->batch_end.fx, h->batch_end.cb, h->batch_end.m, &out, &b,
                                  i);
    if (s != VKT_OK || !logs) {
        return s;
    }
    s = vkt__log_eval_step(t);
    if (!t->sanity_checking) {
        t->eval_step_counter++;
    }
    return s;
}

/* on_<stage>_epoch_start, the batches, on_<stage>_epoch_end, the epoch's logger row. */
static vkt_status eval_epoch(vkt_trainer *t, const eval_hooks *h, vkt_loader *l,
                             uint32_t n_batches, bool logs)
{
    vkt__stores_reset_stage(t, t->eval_stage); /* stores empty themselves per epoch */
    vkt_status s = run_hooks(t, &h->epoch_start);
    if (s == VKT_OK) {
        s = vkt_loader_start_epoch(l, 0);
    }
    for (uint32_t i = 0; s == VKT_OK && i < n_batches; i++) {
        s = vkt_scope_begin(t->dev);
        if (s == VKT_OK) {
            s = eval_batch(t, h, l, i, logs);
        }
        vkt_scope_end(t->dev);
        if (s == VKT_OK) {
            s = vkt_device_flush(t->dev); /* one submit per batch */
        }
    }
    if (s == VKT_OK) {
        s = vkt__stores_sync(t, t->eval_stage); /* DDP: the ranks' stores made one */
    }
    if (s != VKT_OK) {
        return s;
    }
    /* _EvaluationLoop.on_run_end closes the epoch's results before the epoch-end hooks, and
     * callback_metrics merges them: the hooks read this epoch's values (the sanity check's too,
     * which are dropped with the dictionaries when it ends) */
    if (logs && (s = vkt__log_eval_epoch_live(t)) != VKT_OK) {
        return s;
    }
    t->epoch_end_results = logs ? t->stage_results : NULL;
    s = run_hooks(t, &h->epoch_end);
    t->epoch_end_results = NULL;
    return s == VKT_OK && logs ? vkt__log_eval_epoch(t) : s;
}

vkt_status vkt__run_eval(vkt_trainer *t, vkt_stage stage, vkt_loader *l, uint32_t n_batches,
                         bool zero_grad_first)
{
    bool val = stage == VKT_STAGE_VALIDATE || stage == VKT_STAGE_FIT;
    bool test = stage == VKT_STAGE_TEST;
    bool logs = stage != VKT_STAGE_PREDICT;
    const eval_hooks *h = &eval_table[val ? EVAL_VALIDATE : test ? EVAL_TEST : EVAL_PREDICT];
    vkt__results_reset(&t->eval_results);
    t->stage_results = &t->eval_results;
    t->eval_stage = val ? VKT_STAGE_VALIDATE : test ? VKT_STAGE_TEST : VKT_STAGE_PREDICT;
    t->num_eval_batches = n_batches;
    vkt_status s = VKT_OK;
    /* in-fit validation after a batch that stepped (Lightning's on_advance_end calls
     * on_validation_model_zero_grad only when not accumulating: the gradients of an unfinished
     * accumulation window must survive a validation run) */
    if (stage == VKT_STAGE_FIT && !t->sanity_checking && zero_grad_first) {
        s = VKT__MOD(t, on_validation_model_zero_grad, VKT__SCOPE_OWN);
        if (s == VKT_OK && !t->m->on_validation_model_zero_grad) {
            s = vkt__trainer_zero_grad(t);
        }
    }
    /* model.eval() for every evaluation loop (Lightning's default on_*_model_eval); the mode
     * before is restored at the end */
    vkt_model *model = t->oc.model ? t->oc.model : t->m->model;
    bool was_training = model && vkt_model_is_training(model);
    if (model) {
        vkt_model_train(model, false);
    }
    if (s == VKT_OK && (val || test)) {
        s = VKT__MOD(t, on_validation_model_eval, VKT__SCOPE_OWN);
    }
    if (s == VKT_OK) {
        s = run_hooks(t, &h->start);
    }
    if (s == VKT_OK) {
        s = eval_epoch(t, h, l, n_batches, logs);
    }
    vkt__log_reset_metrics(&t->eval_results);
    if (s == VKT_OK) {
        s = run_hooks(t, &h->end);
    }
    if (s == VKT_OK && (val || test)) {
        s = VKT__MOD(t, on_validation_model_train, VKT__SCOPE_OWN); /* only when given */
    }
    if (model) {
        vkt_model_train(model, was_training);
    }
    t->stage_results = &t->train_results;
    t->eval_stage = VKT_STAGE_NONE;
    t->fx = NULL;
    return s;
}

/* ---- validate / test / predict --------------------------------------------------------------- */

static vkt_status run_stage(vkt_trainer *t, vkt_module *m, vkt_loader *l, vkt_stage stage)
{
    if (!t || !m || !l) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_%s: trainer, module and loader are "
                                                "required",
                          vkt_stage_name(stage));
    }
    vkt__trainer_reset_run(t, m, stage);
    vkt_eval_step_fn step = stage == VKT_STAGE_VALIDATE ? m->validation_step
                            : stage == VKT_STAGE_TEST   ? m->test_step
                                                        : m->predict_step;
    if (!step) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_%s: the module has no %s_step",
                          vkt_stage_name(stage),
                          stage == VKT_STAGE_VALIDATE ? "validation" : vkt_stage_name(stage));
    }
    const vkt_limit *lim = stage == VKT_STAGE_VALIDATE ? &t->d.limit_val_batches
                           : stage == VKT_STAGE_TEST   ? &t->d.limit_test_batches
                                                       : &t->d.limit_predict_batches;
    uint32_t n = 0;
    /* this rank's shard, as Lightning's DistributedSampler, before the batches are counted */
    vkt__shard_saved shard;
    vkt_status s = vkt__ddp_shard(t, l, &shard);
    if (s == VKT_OK) {
        s = vkt__limit_batches(lim, vkt_loader_num_batches(l),
                               stage == VKT_STAGE_VALIDATE ? "val" : vkt_stage_name(stage), &n);
    }
    if (s == VKT_OK) {
        s = VKT__MOD(t, prepare_data, VKT__SCOPE_CALLER);
    }
    if (s == VKT_OK) {
        s = VKT__STAGE_HOOKS(t, setup, stage, VKT__SCOPE_CALLER);
    }
    if (s == VKT_OK) {
        s = VKT__MOD(t, configure_model, VKT__SCOPE_CALLER);
    }
    if (stage == VKT_STAGE_VALIDATE) {
        t->num_val_batches = n;
    }
    vkt__results_reset(&t->eval_results);
    if (s == VKT_OK) {
        s = vkt__run_eval(t, stage, l, n, false);
    }
    vkt__ddp_unshard(t, &shard);
    if (s == VKT_OK) {
        s = VKT__STAGE_HOOKS(t, teardown, stage, VKT__SCOPE_OWN);
    }
    if (s != VKT_OK) {
        return vkt__trainer_interrupted(t, s);
    }
    s = vkt_device_finish(t->dev);
    t->stage = VKT_STAGE_NONE;
    t->fx = NULL;
    return s;
}

vkt_status vkt_trainer_validate(vkt_trainer *t, vkt_module *m, vkt_loader *val)
{
    return run_stage(t, m, val, VKT_STAGE_VALIDATE);
}

vkt_status vkt_trainer_test(vkt_trainer *t, vkt_module *m, vkt_loader *test)
{
    return run_stage(t, m, test, VKT_STAGE_TEST);
}

vkt_status vkt_trainer_predict(vkt_trainer *t, vkt_module *m, vkt_loader *loader)
{
    return run_stage(t, m, loader, VKT_STAGE_PREDICT);
}
