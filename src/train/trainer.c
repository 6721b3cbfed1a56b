/*
 * trainer.c — fit / validate / test / predict with Lightning 2.x's hook order.
 *
 * The orders below are Lightning's (docs/lightning.md "Hook order"; checked entry by entry in
 * tests/test_hooks.c). A training step reads like llm.c's loop:
 *
 *     batch -> on_train_batch_start -> optimizer_step(closure: training_step, zero_grad, backward)
 *           -> [clip] -> update -> [scheduler] -> on_train_batch_end -> log -> [validate] -> submit
 *
 * and is one command buffer, submitted once; nothing is read back unless a logger row, a
 * progress-bar refresh or a hook asks for a value.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "data/data_internal.h"
#include "optim/optim_internal.h"
#include "tensor/tensor_impl.h"
#include "train/trainer_impl.h"

/* optimizer.c / loader.c internals used for checkpoints and overfit_batches */

const char *vkt_stage_name(vkt_stage s)
{
    switch (s) {
    case VKT_STAGE_FIT:
        return "fit";
    case VKT_STAGE_VALIDATE:
        return "validate";
    case VKT_STAGE_TEST:
        return "test";
    case VKT_STAGE_PREDICT:
        return "predict";
    default:
        return "none";
    }
}

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

/* ---- hook dispatch --------------------------------------------------------------------------- */

#define FN(obj, off, type) (*(type *)((const char *)(obj) + (off)))

/* Turns a hook's failure into a message naming the hook (keeps the hook's own message). */
static vkt_status hook_failed(vkt_trainer *t, const char *fx, const char *who, vkt_status s)
{
    (void)t;
    if (vkt_last_status() == VKT_OK || vkt_last_error()[0] == '\0') {
        vkt__error(s, "%s %s returned %s", who, fx, vkt_status_name(s));
    } else {
        vkt__error_context("in %s %s", who, fx);
    }
    return s;
}

static vkt_status check(vkt_trainer *t, const char *fx, const char *who, vkt_status s)
{
    if (s == VKT_OK || s == VKT_SKIP_EPOCH) {
        return s;
    }
    return hook_failed(t, fx, who, s);
}

/*
 * Tensor scopes around hooks. The epoch and loop hooks run outside any batch's scope, so a tensor
 * their ops make would live until the user frees it, which nobody does for an intermediate; they
 * get a scope of their own, and what they make without vkt_tensor_keep dies when they return
 * (logged values survive: the results hold a reference). The hooks where a module builds state
 * that must outlive them run in the caller's scope: prepare_data, setup, configure_model,
 * on_fit_start and on_train_start (configure_optimizers and on_load_checkpoint are not
 * dispatched here).
 */
static bool hook_scoped(const char *fx)
{
    static const char *const state_hooks[] = {"prepare_data", "setup", "configure_model",
                                              "on_fit_start", "on_train_start"};
    for (size_t i = 0; i < VKT__ARRAY_LEN(state_hooks); i++) {
        if (strcmp(fx, state_hooks[i]) == 0) {
            return false;
        }
    }
    return true;
}

/* Callbacks (all or a subset), then optionally the module, for `vkt_hook`-typed hooks. */
enum { ALL = 0, NON_MONITORING = 1, MONITORING = 2 };

static vkt_status cb_hook_in(vkt_trainer *t, const char *fx, size_t off, int which)
{
    for (uint32_t i = 0; i < t->n_cbs; i++) {
        vkt_callback *cb = t->cbs[i];
        if ((which == NON_MONITORING && cb->monitoring) ||
            (which == MONITORING && !cb->monitoring)) {
            continue;
        }
        vkt_hook f = FN(cb, off, vkt_hook);
        if (f) {
            t->fx = fx;
            vkt_status s = check(t, fx, "callback", f(t, cb->user_data));
            if (s != VKT_OK) {
                return s;
            }
        }
    }
    return VKT_OK;
}

static vkt_status cb_hook(vkt_trainer *t, const char *fx, size_t off, int which)
{
    bool scoped = hook_scoped(fx);
    if (scoped) {
        vkt_scope_begin(t->dev);
    }
    vkt_status s = cb_hook_in(t, fx, off, which);
    if (scoped) {
        vkt_scope_end(t->dev);
    }
    return s;
}

static vkt_status m_hook(vkt_trainer *t, const char *fx, size_t off)
{
    vkt_hook f = FN(t->m, off, vkt_hook);
    if (!f) {
        return VKT_OK;
    }
    bool scoped = hook_scoped(fx);
    if (scoped) {
        vkt_scope_begin(t->dev);
    }
    t->fx = fx;
    vkt_status s = f(t, t->m->user_data);
    if (scoped) {
        vkt_scope_end(t->dev);
    }
    return check(t, fx, "module", s);
}

static vkt_status both(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off)
{
    vkt_status s = cb_hook(t, fx, cb_off, ALL);
    return s == VKT_OK ? m_hook(t, fx, m_off) : s;
}

#define BOTH(t, name) both(t, #name, offsetof(vkt_callback, name), offsetof(vkt_module, name))
#define CBS(t, name) cb_hook(t, #name, offsetof(vkt_callback, name), ALL)
#define MOD(t, name) m_hook(t, #name, offsetof(vkt_module, name))

/*
 * The one dispatch loop of hooks with arguments: every callback's hook `hook_name` (of type
 * `type`, at `cb_off`), then the module's (at `m_off`), each called as f(t, <args>, user_data);
 * returns from the enclosing function with the first failure, else VKT_OK.
 */
#define CALL_HOOKS(t, hook_name, type, cb_off, m_off, ...)                                         \
    do {                                                                                           \
        for (uint32_t i_ = 0; i_ < (t)->n_cbs; i_++) {                                             \
            type f_ = FN((t)->cbs[i_], cb_off, type);                                              \
            if (f_) {                                                                              \
                (t)->fx = (hook_name);                                                             \
                vkt_status s_ =                                                                    \
                    check(t, hook_name, "callback", f_(t, __VA_ARGS__, (t)->cbs[i_]->user_data));  \
                if (s_ != VKT_OK) {                                                                \
                    return s_;                                                                     \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        type m_ = FN((t)->m, m_off, type);                                                         \
        if (m_) {                                                                                  \
            (t)->fx = (hook_name);                                                                 \
            return check(t, hook_name, "module", m_(t, __VA_ARGS__, (t)->m->user_data));           \
        }                                                                                          \
        return VKT_OK;                                                                             \
    } while (0)

static vkt_status stage_hooks_in(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                                 vkt_stage stage)
{
    CALL_HOOKS(t, fx, vkt_stage_hook, cb_off, m_off, stage);
}

/* setup builds state (no scope of its own); teardown gets one, like the other end hooks */
static vkt_status stage_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                              vkt_stage stage)
{
    bool scoped = hook_scoped(fx);
    if (scoped) {
        vkt_scope_begin(t->dev);
    }
    vkt_status s = stage_hooks_in(t, fx, cb_off, m_off, stage);
    if (scoped) {
        vkt_scope_end(t->dev);
    }
    return s;
}

/* Like CALL_HOOKS, but VKT_SKIP_EPOCH from any of them is remembered, not a failure. */
static vkt_status batch_start_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                                    const vkt_batch *b, uint32_t idx, uint32_t dl)
{
    vkt_status result = VKT_OK;
    for (uint32_t i = 0; i < t->n_cbs; i++) {
        vkt_batch_start_hook f = FN(t->cbs[i], cb_off, vkt_batch_start_hook);
        if (f) {
            t->fx = fx;
            vkt_status s = check(t, fx, "callback", f(t, b, idx, dl, t->cbs[i]->user_data));
            if (s == VKT_SKIP_EPOCH) {
                result = s;
            } else if (s != VKT_OK) {
                return s;
            }
        }
    }
    vkt_batch_start_hook f = FN(t->m, m_off, vkt_batch_start_hook);
    if (f) {
        t->fx = fx;
        vkt_status s = check(t, fx, "module", f(t, b, idx, dl, t->m->user_data));
        if (s != VKT_OK) {
            return s;
        }
    }
    return result;
}

static vkt_status train_batch_end_hooks(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                        uint32_t idx)
{
    CALL_HOOKS(t, "on_train_batch_end", vkt_train_batch_end_hook,
               offsetof(vkt_callback, on_train_batch_end), offsetof(vkt_module, on_train_batch_end),
               o, b, idx);
}

static vkt_status eval_batch_end_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                                       const vkt_outputs *o, const vkt_batch *b, uint32_t idx)
{
    CALL_HOOKS(t, fx, vkt_batch_end_hook, cb_off, m_off, o, b, idx, 0u);
}

static vkt_status loss_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                             vkt_tensor *loss)
{
    CALL_HOOKS(t, fx, vkt_loss_hook, cb_off, m_off, loss);
}

static vkt_status opt_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off)
{
    CALL_HOOKS(t, fx, vkt_optimizer_hook, cb_off, m_off, t->oc.optimizer);
}

#define LOSS_HOOKS(t, name, loss)                                                                  \
    loss_hooks(t, #name, offsetof(vkt_callback, name), offsetof(vkt_module, name), loss)
#define OPT_HOOKS(t, name)                                                                         \
    opt_hooks(t, #name, offsetof(vkt_callback, name), offsetof(vkt_module, name))

/* ---- errors ---------------------------------------------------------------------------------- */

vkt_status vkt_trainer_fail(vkt_trainer *t, vkt_status s, const char *fmt, ...)
{
    (void)t;
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vkt__error(s, "%s", msg);
}

/* Calls every callback's on_exception, keeps the message, returns s. */
static vkt_status interrupted(vkt_trainer *t, vkt_status s)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", vkt_last_error());
    for (uint32_t i = 0; i < t->n_cbs; i++) {
        if (t->cbs[i]->on_exception) {
            t->fx = "on_exception";
            t->cbs[i]->on_exception(t, s, t->cbs[i]->user_data);
        }
    }
    for (uint32_t i = 0; i < t->n_loggers; i++) {
        if (t->loggers[i]->save) {
            t->loggers[i]->save(t->loggers[i]->user_data);
        }
    }
    t->fx = NULL;
    t->stage = VKT_STAGE_NONE;
    t->eval_stage = VKT_STAGE_NONE;
    t->epoch_end_results = NULL;
    t->sanity_checking = false;
    vkt_device_finish(t->dev); /* error path: nothing of the failed run may still be in flight */
    vkt__error(s, "%s", msg);
    return s;
}

/* ---- creation -------------------------------------------------------------------------------- */

static vkt_status resolve_desc(vkt_trainer *t, const vkt_trainer_desc *in)
{
    vkt_trainer_desc *d = &t->d;
    *d = *in;
    t->clip_algorithm_given = in->gradient_clip_algorithm;
    if (d->max_epochs == 0 && d->max_steps == 0) {
        d->max_epochs = 1000;
    } else if (d->max_epochs == 0) {
        d->max_epochs = VKT_UNLIMITED;
    }
    if (d->max_steps == 0) {
        d->max_steps = VKT_UNLIMITED;
    }
    if (d->check_val_every_n_epoch == 0) {
        d->check_val_every_n_epoch = 1;
    }
    if (d->num_sanity_val_steps == 0) {
        d->num_sanity_val_steps = 2;
    }
    if (d->log_every_n_steps == 0) {
        d->log_every_n_steps = 50;
    }
    if (d->accumulate_grad_batches == 0) {
        d->accumulate_grad_batches = 1;
    }
    if (d->gradient_clip_algorithm == VKT_CLIP_DEFAULT) {
        d->gradient_clip_algorithm = VKT_CLIP_NORM;
    }
    if (d->gradient_clip_algorithm != VKT_CLIP_NORM &&
        d->gradient_clip_algorithm != VKT_CLIP_VALUE) {
        return vkt__error(VKT_INVALID_ARGUMENT, "gradient_clip_algorithm %d is not norm or value",
                          (int)d->gradient_clip_algorithm);
    }
    if (!d->progress_stream) {
        d->progress_stream = stdout;
    }
    if (d->store_budget == 0) {
        vkt_device_stats st;
        vkt_device_get_stats(t->dev, &st);
        d->store_budget = st.memory_limit / 4;
    }
    const vkt_limit *lims[] = {&d->limit_train_batches, &d->limit_val_batches,
                               &d->limit_test_batches, &d->limit_predict_batches,
                               &d->val_check_interval, &d->overfit_batches};
    for (size_t i = 0; i < VKT__ARRAY_LEN(lims); i++) {
        if (lims[i]->count < 0 || lims[i]->fraction < 0 || lims[i]->fraction > 1.0 ||
            (lims[i]->count > 0 && lims[i]->fraction > 0)) {
            return vkt__error(VKT_INVALID_ARGUMENT, "a batch limit takes a count >= 0 or a "
                                                    "fraction in [0, 1], not both");
        }
    }
    if (d->fast_dev_run) {
        vkt_limit n = {.count = d->fast_dev_run};
        d->limit_train_batches = d->limit_val_batches = n;
        d->limit_test_batches = d->limit_predict_batches = n;
        d->max_steps = d->fast_dev_run;
        d->max_epochs = 1;
        d->disable_sanity_check = true;
        d->val_check_interval = (vkt_limit){0};
        d->check_val_every_n_epoch = 1;
        t->fast_dev_run = true;
    }
    if (d->overfit_batches.count > 0 || d->overfit_batches.fraction > 0) {
        d->limit_train_batches = d->limit_val_batches = d->overfit_batches;
    }
    return VKT_OK;
}

vkt_status vkt_trainer_create(vkt_device *dev, const vkt_trainer_desc *desc, vkt_trainer **out)
{
    *out = NULL;
    if (!dev) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_create: device is NULL");
    }
    vkt_trainer *t = vkt__calloc(1, sizeof *t);
    if (!t) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    t->dev = dev;
    vkt_status s = resolve_desc(t, desc ? desc : &(vkt_trainer_desc){0});
    if (s != VKT_OK) {
        free(t);
        return s;
    }
    const vkt_trainer_desc *d = &t->d;
    snprintf(t->root_dir, sizeof t->root_dir, "%s",
             d->default_root_dir ? d->default_root_dir : ".");

    /* callbacks: user list, then the defaults, then checkpoint callbacks moved to the end */
    bool user_ckpt = false, user_pbar = false;
    vkt_callback *list[VKT_MAX_CALLBACKS + 2];
    uint32_t n = 0;
    for (int i = 0; i < VKT_MAX_CALLBACKS && d->callbacks[i]; i++) {
        list[n++] = d->callbacks[i];
        user_ckpt |= d->callbacks[i]->checkpoint;
        user_pbar |= vkt__is_progress_bar(d->callbacks[i]);
    }
    if (d->enable_progress_bar == VKT_FLAG_OFF && user_pbar) {
        free(t);
        return vkt__error(VKT_INVALID_ARGUMENT, "enable_progress_bar is off but a progress bar "
                                                "callback was given");
    }
    if (d->enable_checkpointing == VKT_FLAG_OFF && user_ckpt) {
        free(t);
        return vkt__error(VKT_INVALID_ARGUMENT, "enable_checkpointing is off but a checkpoint "
                                                "callback was given");
    }
    if (d->enable_checkpointing != VKT_FLAG_OFF && !user_ckpt && !t->fast_dev_run) {
        t->own_ckpt = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){0});
        if (!t->own_ckpt) {
            free(t);
            return vkt_last_status();
        }
        list[n++] = t->own_ckpt;
    }
    if (d->enable_progress_bar != VKT_FLAG_OFF && !user_pbar) {
        t->own_pbar =
            vkt_progress_bar_create(&(vkt_progress_bar_desc){.stream = d->progress_stream});
        if (!t->own_pbar) {
            vkt_model_checkpoint_destroy(t->own_ckpt);
            free(t);
            return vkt_last_status();
        }
        list[n++] = t->own_pbar;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!list[i]->checkpoint) {
            t->cbs[t->n_cbs++] = list[i];
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        if (list[i]->checkpoint) {
            t->cbs[t->n_cbs++] = list[i];
        }
    }
    /* two stateful callbacks with one state key */
    for (uint32_t i = 0; i < t->n_cbs; i++) {
        for (uint32_t j = i + 1; j < t->n_cbs; j++) {
            const char *a = t->cbs[i]->state_key ? t->cbs[i]->state_key : t->cbs[i]->name;
            const char *b = t->cbs[j]->state_key ? t->cbs[j]->state_key : t->cbs[j]->name;
            if (t->cbs[i]->state_dict && t->cbs[j]->state_dict && a && b && strcmp(a, b) == 0) {
                vkt_trainer_destroy(t);
                return vkt__error(VKT_INVALID_ARGUMENT, "two stateful callbacks share the state "
                                                        "key \"%s\"; give each a distinct "
                                                        "state_key",
                                  a);
            }
        }
    }

    /* loggers */
    for (int i = 0; i < VKT_MAX_LOGGERS && d->loggers[i]; i++) {
        t->loggers[t->n_loggers++] = d->loggers[i];
    }
    if (t->n_loggers == 0 && d->logger != VKT_FLAG_OFF && !t->fast_dev_run) {
        s = vkt_csv_logger_create(t->root_dir, "lightning_logs", &t->own_logger);
        if (s != VKT_OK) {
            vkt_trainer_destroy(t);
            return s;
        }
        t->loggers[t->n_loggers++] = t->own_logger;
    }
    if (t->fast_dev_run) {
        t->n_loggers = 0;
    }
    const char *ld = t->n_loggers && t->loggers[0]->log_dir
                         ? t->loggers[0]->log_dir(t->loggers[0]->user_data)
                         : NULL;
    snprintf(t->log_dir, sizeof t->log_dir, "%s", ld ? ld : t->root_dir);
    t->stage_results = &t->train_results;
    *out = t;
    return VKT_OK;
}

void vkt_trainer_destroy(vkt_trainer *t)
{
    if (!t) {
        return;
    }
    vkt_device_finish(t->dev);
    vkt__stores_free(t);
    vkt__results_free(&t->train_results);
    vkt__results_free(&t->eval_results);
    vkt__mdict_free(&t->callback_metrics);
    vkt__mdict_free(&t->logged_metrics);
    vkt__mdict_free(&t->pbar_metrics);
    vkt_tensor_free(t->nan_probe);
    for (uint32_t i = 0; i < t->n_loggers; i++) {
        if (t->loggers[i]->finalize) {
            t->loggers[i]->finalize(t->loggers[i]->user_data);
        }
    }
    if (t->own_logger) {
        vkt_csv_logger_destroy(t->own_logger);
    }
    vkt_model_checkpoint_destroy(t->own_ckpt);
    vkt_progress_bar_destroy(t->own_pbar);
    free(t);
}

/* ---- limits ---------------------------------------------------------------------------------- */

static vkt_status limit_batches(const vkt_limit *l, uint32_t n, const char *what, uint32_t *out)
{
    if (l->none) {
        *out = 0;
    } else if (l->count > 0) {
        *out = (uint32_t)VKT__MIN((int64_t)n, l->count);
    } else if (l->fraction > 0) {
        *out = (uint32_t)((double)n * l->fraction);
        if (*out == 0 && n > 0) {
            return vkt__error(VKT_INVALID_ARGUMENT,
                              "you requested to check %g of the %s batches, but %g * %u < 1; "
                              "increase limit_%s_batches",
                              l->fraction, what, l->fraction, n, what);
        }
    } else {
        *out = n;
    }
    return VKT_OK;
}

/* ---- one batch ------------------------------------------------------------------------------- */

static vkt_status batch_transfer(vkt_trainer *t, vkt_batch *b)
{
    vkt_module *m = t->m;
    vkt_status s = VKT_OK;
    if (m->on_before_batch_transfer) {
        t->fx = "on_before_batch_transfer";
        s = check(t, t->fx, "module", m->on_before_batch_transfer(t, b, 0, m->user_data));
    }
    if (s == VKT_OK && m->transfer_batch_to_device) {
        t->fx = "transfer_batch_to_device";
        s = check(t, t->fx, "module", m->transfer_batch_to_device(t, b, 0, m->user_data));
    }
    if (s == VKT_OK && m->on_after_batch_transfer) {
        t->fx = "on_after_batch_transfer";
        s = check(t, t->fx, "module", m->on_after_batch_transfer(t, b, 0, m->user_data));
    }
    t->batch_rows = b->rows;
    return s;
}

static vkt_status zero_grad(vkt_trainer *t)
{
    return t->oc.model ? vkt_model_zero_grad(t->oc.model) : VKT_OK;
}

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
        return check(t, t->fx, "module",
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

/* Lightning's closure: training_step, zero_grad (at a window start), backward. */
vkt_status vkt_closure_run(vkt_closure *c)
{
    if (!c || c->ran) {
        return c ? c->status : vkt__error(VKT_INVALID_ARGUMENT, "vkt_closure_run: NULL closure");
    }
    c->ran = true;
    vkt_trainer *t = c->t;
    vkt_module *m = t->m;
    vkt_status s;
    t->fx = "training_step";
    s = check(t, "training_step", "module",
              m->training_step(t, c->batch, c->batch_idx, c->outputs, m->user_data));
    if (s != VKT_OK) {
        return c->status = s;
    }
    vkt_tensor *loss = vkt_outputs_get(c->outputs, "loss");
    if (!loss && c->outputs->count > 0) {
        return c->status = vkt__error(VKT_INVALID_ARGUMENT,
                                      "training_step returned outputs without \"loss\"; set it "
                                      "with vkt_outputs_set(out, \"loss\", loss) (or return no "
                                      "outputs at all to skip the optimization of this batch)");
    }
    if (loss && (vkt_tensor_numel(loss) != 1 || vkt_tensor_dtype(loss) != VKT_F32)) {
        char d[96];
        return c->status = vkt__error(VKT_INVALID_ARGUMENT,
                                      "training_step's loss is %s; it must be one f32 element",
                                      vkt_tensor_describe(loss, d, sizeof d));
    }
    if (loss && t->d.accumulate_grad_batches > 1) {
        loss = vkt_scale(loss, 1.0f / (float)t->d.accumulate_grad_batches);
        if (!loss) {
            return c->status = vkt_last_status();
        }
        vkt_outputs_set(c->outputs, "loss", loss);
    }
    if (loss && t->d.detect_nan) {
        s = vkt_accumulate(t->nan_probe, loss, 0.0f);
        if (s != VKT_OK) {
            return c->status = s;
        }
    }
    if (c->zero_grad) {
        s = OPT_HOOKS(t, on_before_zero_grad);
        if (s == VKT_OK) {
            if (m->optimizer_zero_grad) {
                t->fx = "optimizer_zero_grad";
                s = check(t, t->fx, "module",
                          m->optimizer_zero_grad(t, t->current_epoch, c->batch_idx,
                                                 t->oc.optimizer, m->user_data));
            } else {
                s = zero_grad(t);
            }
        }
        if (s != VKT_OK) {
            return c->status = s;
        }
    }
    if (!loss) {
        return c->status = VKT_OK; /* Lightning's `return None`: no backward */
    }
    s = LOSS_HOOKS(t, on_before_backward, loss);
    if (s == VKT_OK) {
        if (m->backward) {
            t->fx = "backward";
            s = check(t, t->fx, "module", m->backward(t, loss, m->user_data));
        } else {
            s = vkt_backward(loss);
        }
    }
    if (s == VKT_OK) {
        s = BOTH(t, on_after_backward);
    }
    if (s == VKT_OK && c->stepping) {
        /* Lightning runs these inside optimizer.step(closure), after the closure's backward */
        s = OPT_HOOKS(t, on_before_optimizer_step);
        if (s == VKT_OK) {
            s = clip(t);
        }
    }
    return c->status = s;
}

static vkt_status scheduler_step(vkt_trainer *t)
{
    vkt_module *m = t->m;
    if (m->lr_scheduler_step) {
        t->fx = "lr_scheduler_step";
        return check(t, t->fx, "module", m->lr_scheduler_step(t, t->oc.scheduler, m->user_data));
    }
    vkt_scheduler_step(t->oc.scheduler);
    return VKT_OK;
}

/* Lightning's default LightningModule.optimizer_step: optimizer.step(closure). */
static vkt_status default_optimizer_step(vkt_trainer *t, vkt_closure *c)
{
    vkt_status s = vkt_closure_run(c);
    if (s != VKT_OK) {
        return s;
    }
    if (!vkt_outputs_get(c->outputs, "loss")) {
        return VKT_OK; /* no loss: torch skips the step as well (closure returned None) */
    }
    return vkt_optimizer_step(t->oc.optimizer);
}

/* FitLoop._can_stop_early: should_stop is honoured only once min_epochs / min_steps are met.
 * During epoch e current_epoch is e, Lightning's epoch_progress.current.processed. */
static bool min_reached(const vkt_trainer *t)
{
    return (t->d.min_epochs <= 0 || t->current_epoch >= (uint64_t)t->d.min_epochs) &&
           (t->d.min_steps <= 0 || t->global_step >= (uint64_t)t->d.min_steps);
}

static bool max_steps_reached(const vkt_trainer *t)
{
    return t->d.max_steps > 0 && t->global_step >= (uint64_t)t->d.max_steps;
}

static bool should_validate_now(vkt_trainer *t, uint32_t batch_idx, uint64_t total_idx, bool last)
{
    if (!t->val_loader || t->num_val_batches == 0) {
        return false;
    }
    const vkt_trainer_desc *d = &t->d;
    if (d->check_val_every_n_epoch > 0 &&
        (t->current_epoch + 1) % (uint64_t)d->check_val_every_n_epoch != 0) {
        return false;
    }
    /* _should_check_val_fx: validate at once when asked to stop, but only if the loop may stop
     * now; before min_epochs / min_steps are met validation runs at its usual batches. */
    if (t->should_stop && min_reached(t)) {
        return true;
    }
    uint64_t every;
    if (d->val_check_interval.count > 0) {
        every = (uint64_t)d->val_check_interval.count;
    } else if (d->val_check_interval.fraction > 0) {
        every = VKT__MAX(1u, (uint32_t)(t->num_training_batches * d->val_check_interval.fraction));
    } else {
        return last;
    }
    uint64_t it = d->check_val_every_n_epoch > 0 ? batch_idx : total_idx;
    return (it + 1) % every == 0;
}

/* ---- evaluation loops ------------------------------------------------------------------------ */

/* `zero_grad_first`: in-fit validation after a batch that stepped (Lightning's on_advance_end
 * calls on_validation_model_zero_grad only when not accumulating: the gradients of an unfinished
 * accumulation window must survive a validation run). */
static vkt_status run_eval(vkt_trainer *t, vkt_stage stage, vkt_loader *l, uint32_t n_batches,
                           bool zero_grad_first)
{
    vkt_module *m = t->m;
    vkt_status s = VKT_OK;
    bool val = stage == VKT_STAGE_VALIDATE || stage == VKT_STAGE_FIT;
    bool test = stage == VKT_STAGE_TEST;
    vkt_eval_step_fn step = val ? m->validation_step : test ? m->test_step : m->predict_step;
    vkt__results_reset(&t->eval_results);
    t->stage_results = &t->eval_results;
    t->eval_stage = val ? VKT_STAGE_VALIDATE : test ? VKT_STAGE_TEST : VKT_STAGE_PREDICT;
    t->num_eval_batches = n_batches;
    if (stage == VKT_STAGE_FIT && !t->sanity_checking && zero_grad_first) {
        s = MOD(t, on_validation_model_zero_grad);
        if (s == VKT_OK && !m->on_validation_model_zero_grad) {
            s = zero_grad(t);
        }
    }
    /* model.eval() for every evaluation loop (Lightning's default on_*_model_eval); the mode
     * before is restored at the end */
    bool was_training = t->oc.model && vkt_model_is_training(t->oc.model);
    if (t->oc.model) {
        vkt_model_train(t->oc.model, false);
    }
    if (s == VKT_OK && (val || test)) {
        s = MOD(t, on_validation_model_eval);
    }
#define EVAL_BOTH(vname, tname, pname)                                                             \
    (val ? BOTH(t, vname) : test ? BOTH(t, tname) : BOTH(t, pname))
    if (s == VKT_OK) {
        s = EVAL_BOTH(on_validation_start, on_test_start, on_predict_start);
    }
    if (s == VKT_OK) {
        vkt__stores_reset_stage(t, t->eval_stage); /* stores empty themselves per epoch */
        s = EVAL_BOTH(on_validation_epoch_start, on_test_epoch_start, on_predict_epoch_start);
    }
    if (s == VKT_OK) {
        s = vkt_loader_start_epoch(l, 0);
    }
    for (uint32_t i = 0; s == VKT_OK && i < n_batches; i++) {
        vkt_batch b;
        vkt_scope_begin(t->dev);
        if (!vkt_loader_next(l, &b)) {
            vkt_scope_end(t->dev);
            s = vkt_last_status();
            break;
        }
        t->log_step_id++;
        s = batch_transfer(t, &b);
        const char *fx_start = val ? "on_validation_batch_start" : test ? "on_test_batch_start"
                                                                       : "on_predict_batch_start";
        size_t cb_start = val ? offsetof(vkt_callback, on_validation_batch_start)
                          : test ? offsetof(vkt_callback, on_test_batch_start)
                                 : offsetof(vkt_callback, on_predict_batch_start);
        size_t m_start = val ? offsetof(vkt_module, on_validation_batch_start)
                         : test ? offsetof(vkt_module, on_test_batch_start)
                                : offsetof(vkt_module, on_predict_batch_start);
        if (s == VKT_OK) {
            s = batch_start_hooks(t, fx_start, cb_start, m_start, &b, i, 0);
            s = s == VKT_SKIP_EPOCH ? VKT_OK : s;
        }
        vkt_outputs out = {0};
        if (s == VKT_OK && step) {
            t->fx = val ? "validation_step" : test ? "test_step" : "predict_step";
            s = check(t, t->fx, "module", step(t, &b, i, 0, &out, m->user_data));
        }
        if (s == VKT_OK) {
            const char *fx_end = val ? "on_validation_batch_end" : test ? "on_test_batch_end"
                                                                       : "on_predict_batch_end";
            size_t cb_end = val ? offsetof(vkt_callback, on_validation_batch_end)
                            : test ? offsetof(vkt_callback, on_test_batch_end)
                                   : offsetof(vkt_callback, on_predict_batch_end);
            size_t m_end = val ? offsetof(vkt_module, on_validation_batch_end)
                           : test ? offsetof(vkt_module, on_test_batch_end)
                                  : offsetof(vkt_module, on_predict_batch_end);
            s = eval_batch_end_hooks(t, fx_end, cb_end, m_end, &out, &b, i);
        }
        if (s == VKT_OK && stage != VKT_STAGE_PREDICT) {
            s = vkt__log_eval_step(t);
            if (!t->sanity_checking) {
                t->eval_step_counter++;
            }
        }
        vkt_scope_end(t->dev);
        if (s == VKT_OK) {
            s = vkt_device_flush(t->dev);
        }
    }
    /* _EvaluationLoop.on_run_end closes the epoch's results before the epoch-end hooks, and
     * callback_metrics merges them: the hooks read this epoch's values (the sanity check's too,
     * which are dropped with the dictionaries when it ends) */
    if (s == VKT_OK && stage != VKT_STAGE_PREDICT) {
        s = vkt__log_eval_epoch_live(t);
        t->epoch_end_results = t->stage_results;
    }
    if (s == VKT_OK) {
        s = EVAL_BOTH(on_validation_epoch_end, on_test_epoch_end, on_predict_epoch_end);
    }
    t->epoch_end_results = NULL;
    if (s == VKT_OK && stage != VKT_STAGE_PREDICT) {
        s = vkt__log_eval_epoch(t);
    }
    vkt__log_reset_metrics(&t->eval_results);
    if (s == VKT_OK) {
        s = EVAL_BOTH(on_validation_end, on_test_end, on_predict_end);
    }
    if (s == VKT_OK && (val || test)) {
        s = MOD(t, on_validation_model_train); /* only when given, as in Lightning */
    }
    if (t->oc.model) {
        vkt_model_train(t->oc.model, was_training);
    }
#undef EVAL_BOTH
    t->stage_results = &t->train_results;
    t->eval_stage = VKT_STAGE_NONE;
    t->fx = NULL;
    return s;
}

/* ---- checkpoints ----------------------------------------------------------------------------- */

static vkt_status copy_dict(vkt_dict *dst, const vkt_dict *src)
{
    for (uint32_t i = 0; i < vkt_dict_count(src); i++) {
        const char *k = vkt_dict_key(src, i);
        double num;
        const char *str;
        const vkt_dict *child;
        int nd;
        int64_t shape[VKT_MAX_DIMS];
        const float *f;
        vkt_status s = VKT_OK;
        if (vkt_dict_get_number(src, k, &num)) {
            s = vkt_dict_set_number(dst, k, num);
        } else if ((str = vkt_dict_get_string(src, k))) {
            s = vkt_dict_set_string(dst, k, str);
        } else if ((child = vkt_dict_get_child(src, k))) {
            vkt_dict *c = vkt_dict_child(dst, k);
            s = c ? copy_dict(c, child) : vkt_last_status();
        } else if ((f = vkt_dict_get_floats(src, k, &nd, shape))) {
            s = vkt_dict_set_floats(dst, k, f, nd, shape);
        }
        if (s != VKT_OK) {
            return s;
        }
    }
    return VKT_OK;
}

static vkt_status put_tensor(vkt_dict *d, const char *key, const vkt_tensor *t)
{
    size_t bytes = vkt_tensor_bytes(t);
    float *host = vkt__malloc(bytes ? bytes : 4);
    if (!host) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    vkt_status s = vkt_tensor_download(t, host, bytes);
    if (s == VKT_OK) {
        int64_t shape[VKT_MAX_DIMS];
        for (int i = 0; i < vkt_tensor_ndim(t); i++) {
            shape[i] = vkt_tensor_dim(t, i);
        }
        s = vkt_dict_set_floats(d, key, host, vkt_tensor_ndim(t), shape);
    }
    free(host);
    return s;
}

vkt_status vkt__trainer_dump_checkpoint(vkt_trainer *t, bool weights_only, vkt_dict **out)
{
    *out = NULL;
    vkt_dict *c = vkt_dict_create();
    if (!c) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    vkt_status s = vkt_dict_set_number(c, "epoch", t->current_epoch);
    if (s == VKT_OK) {
        s = vkt_dict_set_number(c, "global_step", (double)t->global_step);
    }
    if (s == VKT_OK) {
        char v[64];
        snprintf(v, sizeof v, "vkt %s", vkt_version());
        s = vkt_dict_set_string(c, "pytorch-lightning_version", v);
    }
    vkt_dict *sd = s == VKT_OK ? vkt_dict_child(c, "state_dict") : NULL;
    if (sd && t->oc.model) {
        s = vkt_model_state_dict(t->oc.model, sd); /* parameters and buffers, torch's order */
    }
    if (s == VKT_OK) {
        vkt_dict *loops = vkt_dict_child(c, "loops");
        vkt_dict *fit = loops ? vkt_dict_child(loops, "fit_loop") : NULL;
        vkt_dict *el = fit ? vkt_dict_child(fit, "epoch_loop.state_dict") : NULL;
        s = el ? vkt_dict_set_number(el, "_batches_that_stepped", (double)t->batches_that_stepped)
               : vkt_last_status();
        if (s == VKT_OK) {
            s = vkt_dict_set_number(fit, "epoch_progress.current.completed", t->current_epoch);
        }
    }
    if (s == VKT_OK && !weights_only) {
        vkt_dict *cbs = vkt_dict_child(c, "callbacks");
        for (uint32_t i = 0; s == VKT_OK && cbs && i < t->n_cbs; i++) {
            vkt_callback *cb = t->cbs[i];
            const char *key = cb->state_key ? cb->state_key : cb->name;
            if (!cb->state_dict || !key) {
                continue;
            }
            vkt_dict *st = vkt_dict_child(cbs, key);
            t->fx = "state_dict";
            s = st ? check(t, "state_dict", "callback", cb->state_dict(t, st, cb->user_data))
                   : vkt_last_status();
            if (s == VKT_OK && vkt_dict_count(st) == 0) {
                vkt_dict_remove(cbs, key); /* Lightning keeps only truthy states */
            }
        }
        if (s == VKT_OK && t->oc.optimizer) {
            vkt_dict *os = vkt_dict_child(vkt_dict_child(c, "optimizer_states"), "0");
            s = os ? vkt_dict_set_number(os, "step", vkt_optimizer_steps(t->oc.optimizer))
                   : vkt_last_status();
            if (s == VKT_OK) {
                s = vkt_dict_set_number(os, "lr", vkt_optimizer_lr(t->oc.optimizer));
            }
            for (int k = 0; s == VKT_OK && k < 2; k++) {
                vkt_tensor *st = vkt__optimizer_state(t->oc.optimizer, k);
                if (st) {
                    s = put_tensor(os, k ? "exp_avg_sq" : "exp_avg", st);
                }
            }
        }
        if (s == VKT_OK && t->oc.scheduler) {
            vkt_dict *ls = vkt_dict_child(vkt_dict_child(c, "lr_schedulers"), "0");
            s = ls ? vkt_dict_set_number(ls, "last_epoch", vkt_scheduler_t(t->oc.scheduler))
                   : vkt_last_status();
        }
    }
    /* the hyper-parameters are saved with weights_only too */
    if (s == VKT_OK && t->d.hparams) {
        s = vkt_dict_set_string(c, "hparams_name", "hparams");
        vkt_dict *hp = s == VKT_OK ? vkt_dict_child(c, "hyper_parameters") : NULL;
        s = hp ? copy_dict(hp, t->d.hparams) : (s == VKT_OK ? vkt_last_status() : s);
    }
    /* every cb.on_save_checkpoint (not for weights_only), then the module's */
    const char *fx = "on_save_checkpoint";
    for (uint32_t i = 0; s == VKT_OK && !weights_only && i < t->n_cbs; i++) {
        if (t->cbs[i]->on_save_checkpoint) {
            t->fx = fx;
            s = check(t, fx, "callback", t->cbs[i]->on_save_checkpoint(t, c, t->cbs[i]->user_data));
        }
    }
    if (s == VKT_OK && t->m && t->m->on_save_checkpoint) {
        t->fx = fx;
        s = check(t, fx, "module", t->m->on_save_checkpoint(t, c, t->m->user_data));
    }
    if (s != VKT_OK) {
        vkt_dict_destroy(c);
        return s;
    }
    *out = c;
    return VKT_OK;
}

/* ---- resume: every value read from the checkpoint is checked ---- */

/* A value of the wrong kind or out of range; `where` is its parent's dotted path ("" at the
 * top). */
static vkt_status bad_value(const vkt_trainer *t, const char *where, const char *key,
                            const char *what)
{
    return vkt__error(VKT_CORRUPT_FILE, "%s: checkpoint value \"%s%s%s\" %s", t->d.ckpt_path,
                      where, where[0] ? "." : "", key, what);
}

/* The dict at `key` of `d`: NULL when absent, an error when `key` holds something else. */
static vkt_status ckpt_child(const vkt_trainer *t, const vkt_dict *d, const char *where,
                             const char *key, const vkt_dict **out)
{
    *out = vkt_dict_get_child(d, key);
    return *out || !vkt_dict_has(d, key) ? VKT_OK : bad_value(t, where, key, "is not a dict");
}

/* An integer from 0 to max at `key` (what Lightning saves there); *present false when absent. */
static vkt_status ckpt_uint(const vkt_trainer *t, const vkt_dict *d, const char *where,
                            const char *key, double max, bool *present, uint64_t *out)
{
    *present = false;
    if (!d || !vkt_dict_has(d, key)) {
        return VKT_OK;
    }
    double v;
    char what[96];
    if (!vkt_dict_get_number(d, key, &v)) {
        return bad_value(t, where, key, "is not a number");
    }
    if (!isfinite(v) || v != floor(v) || v < 0 || v > max) {
        snprintf(what, sizeof what, "is %.17g; it must be an integer from 0 to %.0f", v, max);
        return bad_value(t, where, key, what);
    }
    *present = true;
    *out = (uint64_t)v;
    return VKT_OK;
}

/* The loop and optimizer numbers of a checkpoint, checked. */
typedef struct restored {
    bool has_epoch, has_gs, has_bts, has_step, has_lr, has_last_epoch;
    uint64_t epoch, gs, bts, step, last_epoch;
    double lr;
    const vkt_dict *os, *ls; /* optimizer_states.0, lr_schedulers.0 */
} restored;

/* Checks every value restore_* reads, and those Lightning requires a kind of: the strings,
 * the dicts. Runs before the hooks, and again after them (on_load_checkpoint may edit the
 * checkpoint). */
static vkt_status check_checkpoint(const vkt_trainer *t, const vkt_dict *ckpt, restored *r)
{
    *r = (restored){0};
    static const char *const strings[] = {"pytorch-lightning_version", "hparams_name"};
    for (size_t i = 0; i < VKT__ARRAY_LEN(strings); i++) {
        if (vkt_dict_has(ckpt, strings[i]) && !vkt_dict_get_string(ckpt, strings[i])) {
            return bad_value(t, "", strings[i], "is not a string");
        }
    }
    const vkt_dict *x, *loops, *fit, *el, *oss, *lss, *cbs;
    vkt_status s = ckpt_child(t, ckpt, "", "state_dict", &x);
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "hyper_parameters", &x);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "callbacks", &cbs);
    }
    for (uint32_t i = 0; s == VKT_OK && i < vkt_dict_count(cbs); i++) {
        s = ckpt_child(t, cbs, "callbacks", vkt_dict_key(cbs, i), &x);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "loops", &loops);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, loops, "loops", "fit_loop", &fit);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, fit, "loops.fit_loop", "epoch_loop.state_dict", &el);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "optimizer_states", &oss);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, oss, "optimizer_states", "0", &r->os);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, ckpt, "", "lr_schedulers", &lss);
    }
    if (s == VKT_OK) {
        s = ckpt_child(t, lss, "lr_schedulers", "0", &r->ls);
    }
    /* current_epoch = epoch + 1 is a uint32; steps are counted exactly in a double up to 2^53 */
    const double max_steps = 9007199254740992.0;
    if (s == VKT_OK) {
        s = ckpt_uint(t, ckpt, "", "epoch", (double)UINT32_MAX - 1, &r->has_epoch, &r->epoch);
    }
    if (s == VKT_OK) {
        s = ckpt_uint(t, ckpt, "", "global_step", max_steps, &r->has_gs, &r->gs);
    }
    if (s == VKT_OK) {
        s = ckpt_uint(t, el, "loops.fit_loop.epoch_loop.state_dict", "_batches_that_stepped",
                      max_steps, &r->has_bts, &r->bts);
    }
    if (s == VKT_OK) {
        s = ckpt_uint(t, r->os, "optimizer_states.0", "step", UINT32_MAX, &r->has_step, &r->step);
    }
    if (s == VKT_OK) {
        s = ckpt_uint(t, r->ls, "lr_schedulers.0", "last_epoch", UINT32_MAX, &r->has_last_epoch,
                      &r->last_epoch);
    }
    if (s == VKT_OK && r->os && vkt_dict_has(r->os, "lr")) {
        r->has_lr = vkt_dict_get_number(r->os, "lr", &r->lr);
        if (!r->has_lr) {
            s = bad_value(t, "optimizer_states.0", "lr", "is not a number");
        } else if (!isfinite(r->lr) || r->lr < 0 || r->lr > FLT_MAX) {
            char what[96];
            snprintf(what, sizeof what, "is %.17g; a learning rate is finite and not negative",
                     r->lr);
            s = bad_value(t, "optimizer_states.0", "lr", what);
        }
    }
    return s;
}

/* Before configure_optimizers: the hooks, in Lightning's load order. */
static vkt_status restore_hooks(vkt_trainer *t, vkt_dict *ckpt)
{
    restored r;
    vkt_status s = check_checkpoint(t, ckpt, &r);
    if (s != VKT_OK) {
        return s;
    }
    const char *fx = "on_load_checkpoint";
    if (t->m->on_load_checkpoint) {
        t->fx = fx;
        s = check(t, fx, "module", t->m->on_load_checkpoint(t, ckpt, t->m->user_data));
    }
    for (uint32_t i = 0; s == VKT_OK && i < t->n_cbs; i++) {
        if (t->cbs[i]->on_load_checkpoint) {
            t->fx = fx;
            s = check(t, fx, "callback",
                      t->cbs[i]->on_load_checkpoint(t, ckpt, t->cbs[i]->user_data));
        }
    }
    const vkt_dict *cbs = vkt_dict_get_child(ckpt, "callbacks");
    for (uint32_t i = 0; s == VKT_OK && cbs && i < vkt_dict_count(cbs); i++) {
        const char *key = vkt_dict_key(cbs, i);
        bool found = false;
        for (uint32_t j = 0; j < t->n_cbs; j++) {
            const char *k = t->cbs[j]->state_key ? t->cbs[j]->state_key : t->cbs[j]->name;
            found |= k && strcmp(k, key) == 0;
        }
        if (!found) {
            vkt__trainer_print(t, "warning: the checkpoint has state for callback \"%s\", which "
                                  "this trainer does not have\n",
                               key);
        }
    }
    for (uint32_t i = 0; s == VKT_OK && i < t->n_cbs; i++) {
        vkt_callback *cb = t->cbs[i];
        const char *key = cb->state_key ? cb->state_key : cb->name;
        const vkt_dict *st = cbs && key ? vkt_dict_get_child(cbs, key) : NULL;
        if (cb->load_state_dict && st && vkt_dict_count(st) > 0) {
            t->fx = "load_state_dict";
            s = check(t, "load_state_dict", "callback", cb->load_state_dict(t, st, cb->user_data));
        }
    }
    return s;
}

static vkt_status get_floats_into(const vkt_dict *d, const char *key, vkt_tensor *dst,
                                  const char *path)
{
    int nd;
    int64_t shape[VKT_MAX_DIMS];
    const float *f = vkt_dict_get_floats(d, key, &nd, shape);
    int64_t n = 1;
    for (int i = 0; f && i < nd; i++) {
        n *= shape[i];
    }
    if (!f || n != vkt_tensor_numel(dst)) {
        return vkt__error(VKT_CORRUPT_FILE, "%s: \"%s\" is missing or has %lld values where the "
                                            "model has %lld",
                          path, key, f ? (long long)n : 0LL, (long long)vkt_tensor_numel(dst));
    }
    return vkt_tensor_upload(dst, f, (size_t)n * sizeof(float));
}

/* After configure_optimizers (Lightning's restore_model): the weights. */
static vkt_status restore_weights(vkt_trainer *t, vkt_dict *ckpt)
{
    const char *path = t->d.ckpt_path;
    const vkt_dict *sd = vkt_dict_get_child(ckpt, "state_dict");
    if (!sd || !t->oc.model) {
        return vkt__error(VKT_CORRUPT_FILE, "%s: no state_dict, or no model from "
                                            "configure_optimizers to load it into",
                          path);
    }
    vkt_status s = vkt_model_load_state_dict(t->oc.model, sd);
    if (s == VKT_NOT_FOUND || s == VKT_SHAPE_MISMATCH) { /* a checkpoint of another model */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", vkt_last_error());
        s = vkt__error(VKT_CORRUPT_FILE, "%s: the state_dict does not fit the model: %s", path,
                       msg);
    }
    return s;
}

/* After on_fit_start (Lightning's restore_training_state): optimizer, scheduler, loops. */
static vkt_status restore_training_state(vkt_trainer *t, vkt_dict *ckpt)
{
    const char *path = t->d.ckpt_path;
    restored r;
    vkt_status s = check_checkpoint(t, ckpt, &r);
    if (s == VKT_OK && r.os && t->oc.optimizer) {
        if (r.has_lr) {
            vkt_optimizer_set_lr(t->oc.optimizer, (float)r.lr);
        }
        vkt__optimizer_set_steps(t->oc.optimizer, r.has_step ? (uint32_t)r.step : 0);
        for (int k = 0; s == VKT_OK && k < 2; k++) {
            vkt_tensor *st = vkt__optimizer_state(t->oc.optimizer, k);
            if (st) {
                s = get_floats_into(r.os, k ? "exp_avg_sq" : "exp_avg", st, path);
            }
        }
    }
    if (s == VKT_OK && r.ls && t->oc.scheduler && r.has_last_epoch) {
        vkt__scheduler_set_t(t->oc.scheduler, (uint32_t)r.last_epoch);
    }
    if (s != VKT_OK) {
        return s;
    }
    /* saved at the end of epoch e: resume with epoch e + 1 */
    t->current_epoch = (uint32_t)r.epoch + 1;
    t->global_step = r.gs;
    t->batches_that_stepped = r.has_bts ? r.bts : r.gs;
    return VKT_OK;
}

/* ---- fit ------------------------------------------------------------------------------------- */

static vkt_status check_nan(vkt_trainer *t)
{
    if (!t->d.detect_nan || !t->nan_probe) {
        return VKT_OK;
    }
    float v;
    vkt_status s = vkt_tensor_download(t->nan_probe, &v, sizeof v);
    if (s == VKT_OK && !isfinite(v)) {
        return vkt__error(VKT_ERROR, "the training loss became NaN or infinite at or before "
                                     "global step %llu (epoch %u); stopping as detect_nan asks",
                          (unsigned long long)t->global_step, t->current_epoch);
    }
    return s;
}

static vkt_status train_epoch(vkt_trainer *t, uint64_t *total_idx)
{
    vkt_module *m = t->m;
    vkt__stores_reset_stage(t, VKT_STAGE_FIT); /* stores empty themselves per epoch */
    vkt_status s = BOTH(t, on_train_epoch_start);
    if (s == VKT_OK) {
        s = vkt_loader_start_epoch(t->train_loader, t->current_epoch);
    }
    uint32_t k = t->d.accumulate_grad_batches;
    for (uint32_t i = 0; s == VKT_OK && i < t->num_training_batches; i++) {
        bool last = i + 1 == t->num_training_batches;
        vkt_batch b;
        vkt_scope_begin(t->dev);
        if (!vkt_loader_next(t->train_loader, &b)) {
            vkt_scope_end(t->dev);
            s = vkt_last_status();
            break;
        }
        t->log_step_id++;
        s = batch_transfer(t, &b);
        if (s == VKT_OK) {
            s = batch_start_hooks(t, "on_train_batch_start",
                                  offsetof(vkt_callback, on_train_batch_start),
                                  offsetof(vkt_module, on_train_batch_start), &b, i, 0);
        }
        if (s == VKT_SKIP_EPOCH) {
            vkt_scope_end(t->dev);
            s = VKT_OK;
            break;
        }
        vkt_outputs out = {0};
        bool stepping = (i + 1) % k == 0 || last;
        vkt_closure c = {.t = t, .batch = &b, .batch_idx = i, .zero_grad = i % k == 0,
                         .stepping = stepping, .outputs = &out};
        if (s == VKT_OK && stepping) {
            if (m->optimizer_step) {
                t->fx = "optimizer_step";
                s = check(t, t->fx, "module",
                          m->optimizer_step(t, t->current_epoch, i, t->oc.optimizer, &c,
                                            m->user_data));
                if (s == VKT_OK && !c.ran) {
                    s = vkt__error(VKT_INVALID_ARGUMENT, "optimizer_step did not run the closure "
                                                         "(call vkt_closure_run(closure))");
                }
            } else {
                s = default_optimizer_step(t, &c);
            }
            if (s == VKT_OK && vkt_outputs_get(&out, "loss")) {
                t->global_step++;
            }
        } else if (s == VKT_OK) {
            s = vkt_closure_run(&c);
        }
        /* schedulers (_update_learning_rates): step interval on stepping batches whose
         * batch_idx + 1 is a multiple of `frequency` (the index within the epoch, not
         * global_step), epoch interval on the last batch when current_epoch + 1 is */
        if (s == VKT_OK && stepping && t->oc.scheduler) {
            uint32_t f = VKT__DEF(t->oc.frequency, 1u);
            if (t->oc.interval == VKT_INTERVAL_STEP && (i + 1) % f == 0) {
                s = scheduler_step(t);
            } else if (t->oc.interval != VKT_INTERVAL_STEP && last &&
                       (t->current_epoch + 1) % f == 0) {
                s = scheduler_step(t);
            }
        }
        if (s == VKT_OK) {
            s = train_batch_end_hooks(t, &out, &b, i);
        }
        if (s == VKT_OK && stepping) {
            bool push = !t->d.disable_step_logging &&
                        ((t->batches_that_stepped + 1) % t->d.log_every_n_steps == 0 ||
                         t->should_stop || t->fast_dev_run);
            s = vkt__log_train_step(t, push && t->n_loggers > 0);
            if (s == VKT_OK && push) {
                s = check_nan(t);
            }
        }
        vkt_scope_end(t->dev);
        if (s == VKT_OK) {
            s = vkt_device_flush(t->dev); /* one submit per step */
        }
        /* TrainingEpochLoop.on_advance_end: validation when due (not merely because max_steps
         * was reached: Lightning validates at the end of a max_steps run only when that batch is
         * a validation batch anyway), then the loop's `done`, decided after the validation so
         * that a should_stop set during it (EarlyStopping in on_validation_end) ends the epoch
         * at this batch. */
        if (s == VKT_OK && should_validate_now(t, i, *total_idx, last)) {
            s = run_eval(t, VKT_STAGE_FIT, t->val_loader, t->num_val_batches, stepping);
        }
        if (stepping) {
            t->batches_that_stepped++;
        }
        (*total_idx)++;
        if (max_steps_reached(t) || (t->should_stop && min_reached(t))) {
            break;
        }
    }
    if (s != VKT_OK) {
        return s;
    }
    /* on_train_epoch_end: non-monitoring callbacks, the module, then monitoring callbacks; the
     * train epoch values are live in callback_metrics from here on */
    s = vkt__log_train_epoch_live(t);
    t->epoch_end_results = &t->train_results;
    if (s == VKT_OK) {
        s = cb_hook(t, "on_train_epoch_end", offsetof(vkt_callback, on_train_epoch_end),
                    NON_MONITORING);
    }
    if (s == VKT_OK) {
        s = MOD(t, on_train_epoch_end);
    }
    if (s == VKT_OK) {
        s = cb_hook(t, "on_train_epoch_end", offsetof(vkt_callback, on_train_epoch_end),
                    MONITORING);
    }
    t->epoch_end_results = NULL;
    if (s == VKT_OK) {
        s = vkt__log_train_epoch(t);
    }
    vkt__log_reset_metrics(&t->train_results); /* logged metric objects restart each epoch */
    if (s == VKT_OK) {
        s = check_nan(t);
    }
    vkt__results_reset(&t->train_results);
    return s;
}

static vkt_status setup_fit(vkt_trainer *t, vkt_loader *train, vkt_loader *val)
{
    vkt_status s = limit_batches(&t->d.limit_train_batches, vkt_loader_num_batches(train), "train",
                                 &t->num_training_batches);
    t->num_val_batches = 0;
    if (s == VKT_OK && val) {
        s = limit_batches(&t->d.limit_val_batches, vkt_loader_num_batches(val), "val",
                          &t->num_val_batches);
    }
    if (s == VKT_OK && !t->m->training_step) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_fit: the module has no training_step");
    }
    /* FitLoop.setup_data: a batch-count interval longer than the epoch would never validate */
    if (s == VKT_OK && t->num_training_batches > 0 && t->d.check_val_every_n_epoch > 0 &&
        t->d.val_check_interval.count > (int64_t)t->num_training_batches) {
        s = vkt__error(VKT_INVALID_ARGUMENT,
                       "vkt_trainer_fit: val_check_interval (%lld) must be less than or equal to "
                       "the number of the training batches (%u). If you want to disable "
                       "validation set limit_val_batches to none instead. If you want to validate "
                       "based on the total training batches, set check_val_every_n_epoch = "
                       "VKT_UNLIMITED.",
                       (long long)t->d.val_check_interval.count, t->num_training_batches);
    }
    if (s == VKT_OK && val && t->num_val_batches > 0 && !t->m->validation_step) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_fit: a validation loader was given but "
                                             "the module has no validation_step");
    }
    if (s == VKT_OK && !t->m->configure_optimizers) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_fit: the module has no "
                                             "configure_optimizers");
    }
    return s;
}

static void reset_run(vkt_trainer *t, vkt_module *m, vkt_stage stage)
{
    t->m = m;
    t->stage = stage;
    t->should_stop = false;
    t->sanity_checking = false;
    t->fx = NULL;
    vkt_clear_error();
}

static vkt_status log_hparams(vkt_trainer *t)
{
    for (uint32_t i = 0; t->d.hparams && i < t->n_loggers; i++) {
        if (t->loggers[i]->log_hyperparams) {
            vkt_status s = t->loggers[i]->log_hyperparams(t->d.hparams, t->loggers[i]->user_data);
            if (s != VKT_OK) {
                return s;
            }
        }
    }
    return VKT_OK;
}

vkt_status vkt_trainer_fit(vkt_trainer *t, vkt_module *m, vkt_loader *train, vkt_loader *val)
{
    if (!t || !m || !train) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_fit: trainer, module and train loader "
                                                "are required");
    }
    reset_run(t, m, VKT_STAGE_FIT);
    t->in_fit = true;
    t->train_loader = train;
    t->val_loader = val;
    vkt_dict *ckpt = NULL;
    bool shuffle_before = false, overfit = t->d.overfit_batches.count > 0 ||
                                           t->d.overfit_batches.fraction > 0;
    vkt_status s = setup_fit(t, train, val);
    if (s == VKT_OK && overfit) {
        shuffle_before = vkt__loader_set_shuffle(train, false);
        vkt__trainer_print(t, "warning: overfit_batches: the training loader is not shuffled\n");
    }
    if (s == VKT_OK) {
        s = MOD(t, prepare_data);
    }
    if (s == VKT_OK) {
        s = stage_hooks(t, "setup", offsetof(vkt_callback, setup), offsetof(vkt_module, setup),
                        VKT_STAGE_FIT);
    }
    if (s == VKT_OK) {
        s = MOD(t, configure_model);
    }
    if (s == VKT_OK && t->d.ckpt_path) {
        s = vkt_checkpoint_load(t->d.ckpt_path, &ckpt);
        if (s == VKT_OK) {
            s = restore_hooks(t, ckpt);
        } else {
            vkt__error_context("vkt_trainer_fit: cannot resume from ckpt_path");
        }
    }
    if (s == VKT_OK) {
        t->oc = (vkt_optim_config){0};
        t->fx = "configure_optimizers";
        s = check(t, t->fx, "module", m->configure_optimizers(t, &t->oc, m->user_data));
        if (s == VKT_OK && !t->oc.optimizer) {
            s = vkt__error(VKT_INVALID_ARGUMENT, "configure_optimizers set no optimizer");
        }
    }
    /* Lightning restores the weights before configure_optimizers (restore_model); vkt learns the
     * model from configure_optimizers, so right after it, before on_fit_start. */
    if (s == VKT_OK && ckpt) {
        s = restore_weights(t, ckpt);
    }
    if (s == VKT_OK && t->d.detect_nan && !t->nan_probe) {
        t->nan_probe = vkt_tensor_keep(vkt_tensor_new_1d(t->dev, VKT_F32, 1));
        s = t->nan_probe ? vkt_fill(t->nan_probe, 0.0f) : vkt_last_status();
    }
    if (s == VKT_OK) {
        s = BOTH(t, on_fit_start);
    }
    if (s == VKT_OK) {
        s = log_hparams(t);
    }
    /* restore_training_state: optimizer, scheduler and loop state come after on_fit_start and
     * the hyper-parameters (on_fit_start sees current_epoch 0 and global_step 0, as there) */
    if (s == VKT_OK && ckpt) {
        s = restore_training_state(t, ckpt);
    }
    if (s == VKT_OK) {
        s = zero_grad(t);
    }
    /* sanity check */
    if (s == VKT_OK && val && t->num_val_batches > 0 && !t->d.disable_sanity_check && !ckpt) {
        uint32_t n = t->d.num_sanity_val_steps < 0 ? t->num_val_batches
                                                   : (uint32_t)VKT__MIN((int64_t)t->num_val_batches,
                                                                        t->d.num_sanity_val_steps);
        t->sanity_checking = true;
        vkt__log_reset_dicts(t);
        s = CBS(t, on_sanity_check_start);
        if (s == VKT_OK) {
            s = run_eval(t, VKT_STAGE_FIT, val, n, false);
        }
        if (s == VKT_OK) {
            s = CBS(t, on_sanity_check_end);
        }
        t->sanity_checking = false;
        vkt__log_reset_dicts(t);
        vkt__results_reset(&t->eval_results);
    }
    /* FitLoop.skip: no training batches (limit_train_batches none, or an empty loader) runs no
     * training loop at all: no on_train_start / epochs / on_train_end (the sanity check above
     * still ran, as in Lightning's _run_stage) */
    bool train_loop = t->num_training_batches > 0;
    if (s == VKT_OK && train_loop) {
        s = BOTH(t, on_train_start);
    }
    uint64_t total_idx = 0;
    while (s == VKT_OK && train_loop) {
        if (t->d.max_epochs > 0 && t->current_epoch >= (uint64_t)t->d.max_epochs) {
            break;
        }
        if (max_steps_reached(t) || (t->should_stop && min_reached(t))) {
            break;
        }
        s = train_epoch(t, &total_idx);
        if (s == VKT_OK) {
            t->current_epoch++;
        }
    }
    if (s == VKT_OK && train_loop) {
        s = BOTH(t, on_train_end);
    }
    if (s == VKT_OK) {
        s = BOTH(t, on_fit_end);
    }
    if (s == VKT_OK) {
        s = stage_hooks(t, "teardown", offsetof(vkt_callback, teardown),
                        offsetof(vkt_module, teardown), VKT_STAGE_FIT);
    }
    if (overfit) {
        vkt__loader_set_shuffle(train, shuffle_before);
    }
    vkt_dict_destroy(ckpt);
    t->in_fit = false;
    if (s != VKT_OK) {
        return interrupted(t, s);
    }
    vkt_status f = vkt_device_finish(t->dev);
    t->fx = NULL;
    t->stage = VKT_STAGE_NONE;
    return f;
}

/* ---- validate / test / predict --------------------------------------------------------------- */

static vkt_status run_stage(vkt_trainer *t, vkt_module *m, vkt_loader *l, vkt_stage stage)
{
    if (!t || !m || !l) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_%s: trainer, module and loader are "
                                                "required",
                          vkt_stage_name(stage));
    }
    reset_run(t, m, stage);
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
    vkt_status s = limit_batches(lim, vkt_loader_num_batches(l),
                                 stage == VKT_STAGE_VALIDATE ? "val" : vkt_stage_name(stage), &n);
    if (s == VKT_OK) {
        s = MOD(t, prepare_data);
    }
    if (s == VKT_OK) {
        s = stage_hooks(t, "setup", offsetof(vkt_callback, setup), offsetof(vkt_module, setup),
                        stage);
    }
    if (s == VKT_OK) {
        s = MOD(t, configure_model);
    }
    if (stage == VKT_STAGE_VALIDATE) {
        t->num_val_batches = n;
    }
    vkt__results_reset(&t->eval_results);
    if (s == VKT_OK) {
        s = run_eval(t, stage, l, n, false);
    }
    if (s == VKT_OK) {
        s = stage_hooks(t, "teardown", offsetof(vkt_callback, teardown),
                        offsetof(vkt_module, teardown), stage);
    }
    if (s != VKT_OK) {
        return interrupted(t, s);
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

/* ---- state ----------------------------------------------------------------------------------- */

vkt_device *vkt_trainer_device(const vkt_trainer *t) { return t->dev; }
vkt_module *vkt_trainer_module(const vkt_trainer *t) { return t->m; }
uint32_t vkt_trainer_current_epoch(const vkt_trainer *t) { return t->current_epoch; }
uint64_t vkt_trainer_global_step(const vkt_trainer *t) { return t->global_step; }
bool vkt_trainer_sanity_checking(const vkt_trainer *t) { return t->sanity_checking; }
bool vkt_trainer_should_stop(const vkt_trainer *t) { return t->should_stop; }
void vkt_trainer_set_should_stop(vkt_trainer *t, bool stop) { t->should_stop = stop; }
vkt_stage vkt_trainer_stage(const vkt_trainer *t) { return t->stage; }
uint32_t vkt_trainer_num_training_batches(const vkt_trainer *t) { return t->num_training_batches; }
uint32_t vkt_trainer_num_val_batches(const vkt_trainer *t) { return t->num_val_batches; }
vkt_optimizer *vkt_trainer_optimizer(const vkt_trainer *t) { return t->oc.optimizer; }
vkt_logger *vkt_trainer_logger(const vkt_trainer *t) { return t->n_loggers ? t->loggers[0] : NULL; }
const char *vkt_trainer_log_dir(const vkt_trainer *t) { return t->log_dir; }
const vkt_trainer_desc *vkt_trainer_query_desc(const vkt_trainer *t) { return &t->d; }
uint32_t vkt_trainer_num_callbacks(const vkt_trainer *t) { return t->n_cbs; }

vkt_callback *vkt_trainer_callback(const vkt_trainer *t, uint32_t i)
{
    return i < t->n_cbs ? t->cbs[i] : NULL;
}

vkt_callback *vkt_trainer_checkpoint_callback(const vkt_trainer *t)
{
    for (uint32_t i = 0; i < t->n_cbs; i++) {
        if (t->cbs[i]->checkpoint) {
            return t->cbs[i];
        }
    }
    return NULL;
}

bool vkt__trainer_fast_dev_run(const vkt_trainer *t) { return t->fast_dev_run; }
const vkt_trainer_desc *vkt__trainer_desc(const vkt_trainer *t) { return &t->d; }
uint32_t vkt__trainer_num_eval_batches(const vkt_trainer *t) { return t->num_eval_batches; }
bool vkt__trainer_has_val(const vkt_trainer *t) { return t->val_loader && t->num_val_batches > 0; }
const char *vkt__trainer_root_dir(const vkt_trainer *t) { return t->log_dir; }

bool vkt__trainer_val_at_epoch_end(const vkt_trainer *t)
{
    return t->d.val_check_interval.count == 0 &&
           (t->d.val_check_interval.fraction == 0 || t->d.val_check_interval.fraction == 1.0) &&
           t->d.check_val_every_n_epoch == 1;
}

static void print_line(vkt_trainer *t, const char *line);

void vkt_trainer_print(vkt_trainer *t, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    print_line(t, line);
}

void vkt__trainer_print(vkt_trainer *t, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    print_line(t, line);
}

static void print_line(vkt_trainer *t, const char *line)
{
    /* through the progress bar when there is one, so a bar on a terminal is not torn */
    for (uint32_t i = 0; i < t->n_cbs; i++) {
        if (vkt__is_progress_bar(t->cbs[i])) {
            vkt__progress_bar_print(t->cbs[i], line);
            return;
        }
    }
    FILE *f = t->d.progress_stream ? t->d.progress_stream : stdout;
    fputs(line, f);
    fflush(f);
}
