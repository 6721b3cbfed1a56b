/*
 * hooks.c — hook dispatch: every callback's hook (in list order), then the module's; failures
 * name the hook; tensor scopes around the hooks that run outside a batch; on_exception.
 *
 * The order in which the loops call these is Lightning's (docs/lightning.md "Hook order";
 * checked entry by entry in tests/test_hooks.c).
 */
#include <stddef.h>
#include <string.h>

#include "train/trainer_impl.h"

#define FN(obj, off, type) (*(type *)((const char *)(obj) + (off)))

vkt_status vkt__hook_check(vkt_trainer *t, const char *fx, const char *who, vkt_status s)
{
    (void)t;
    if (s == VKT_OK || s == VKT_SKIP_EPOCH) {
        return s;
    }
    /* keep the hook's own message; name the hook when it left none */
    if (vkt_last_status() == VKT_OK || vkt_last_error()[0] == '\0') {
        vkt__error(s, "%s %s returned %s", who, fx, vkt_status_name(s));
    } else {
        vkt__error_context("in %s %s", who, fx);
    }
    return s;
}

/*
 * A scope of its own for a hook that runs outside any batch's scope (epoch, loop and teardown
 * hooks): a tensor its ops make would otherwise live until the user frees it, which nobody does
 * for an intermediate. What it makes without vkt_tensor_keep dies when it returns (logged values
 * survive: the results hold a reference). Hooks where a module builds state that must outlive
 * them (prepare_data, setup, configure_model, on_fit_start, on_train_start) and every hook inside
 * a batch (its tensors live until the batch's scope ends, so on_after_backward can hand a tensor
 * to on_train_batch_end) run in the caller's scope. vkt_scope_end is called after every
 * vkt_scope_begin, failed or not (a failed begin is closed by its end, vkt/tensor.h).
 */
static vkt_status scope_begin(vkt_trainer *t, vkt__scope scope)
{
    return scope == VKT__SCOPE_OWN ? vkt_scope_begin(t->dev) : VKT_OK;
}

static void scope_end(vkt_trainer *t, vkt__scope scope)
{
    if (scope == VKT__SCOPE_OWN) {
        vkt_scope_end(t->dev);
    }
}

static vkt_status callback_hooks(vkt_trainer *t, const char *fx, size_t off, vkt__cb_filter which)
{
    for (uint32_t i = 0; i < t->n_cbs; i++) {
        vkt_callback *cb = t->cbs[i];
        if ((which == VKT__CB_NON_MONITORING && cb->monitoring) ||
            (which == VKT__CB_MONITORING && !cb->monitoring)) {
            continue;
        }
        vkt_hook f = FN(cb, off, vkt_hook);
        if (f) {
            t->fx = fx;
            vkt_status s = vkt__hook_check(t, fx, "callback", f(t, cb->user_data));
            if (s != VKT_OK) {
                return s;
            }
        }
    }
    return VKT_OK;
}

vkt_status vkt__hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                      vkt__cb_filter which, vkt__scope scope)
{
    vkt_status s = VKT_OK;
    if (cb_off != VKT__NO_HOOK) {
        s = scope_begin(t, scope);
        if (s == VKT_OK) {
            s = callback_hooks(t, fx, cb_off, which);
        }
        scope_end(t, scope);
    }
    vkt_hook f = m_off != VKT__NO_HOOK ? FN(t->m, m_off, vkt_hook) : NULL;
    if (s != VKT_OK || !f) {
        return s;
    }
    s = scope_begin(t, scope);
    if (s == VKT_OK) {
        t->fx = fx;
        s = f(t, t->m->user_data);
    }
    scope_end(t, scope);
    return vkt__hook_check(t, fx, "module", s);
}

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
                vkt_status s_ = vkt__hook_check(t, hook_name, "callback",                          \
                                                f_(t, __VA_ARGS__, (t)->cbs[i_]->user_data));      \
                if (s_ != VKT_OK) {                                                                \
                    return s_;                                                                     \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        type m_ = FN((t)->m, m_off, type);                                                         \
        if (m_) {                                                                                  \
            (t)->fx = (hook_name);                                                                 \
            return vkt__hook_check(t, hook_name, "module", m_(t, __VA_ARGS__, (t)->m->user_data)); \
        }                                                                                          \
        return VKT_OK;                                                                             \
    } while (0)

static vkt_status stage_hooks_in(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                                 vkt_stage stage)
{
    CALL_HOOKS(t, fx, vkt_stage_hook, cb_off, m_off, stage);
}

vkt_status vkt__stage_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                            vkt_stage stage, vkt__scope scope)
{
    vkt_status s = scope_begin(t, scope);
    if (s == VKT_OK) {
        s = stage_hooks_in(t, fx, cb_off, m_off, stage);
    }
    scope_end(t, scope);
    return s;
}

vkt_status vkt__batch_start_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                                  const vkt_batch *b, uint32_t idx)
{
    vkt_status result = VKT_OK;
    for (uint32_t i = 0; i < t->n_cbs; i++) {
        vkt_batch_start_hook f = FN(t->cbs[i], cb_off, vkt_batch_start_hook);
        if (f) {
            t->fx = fx;
            vkt_status s = vkt__hook_check(t, fx, "callback", f(t, b, idx, 0, t->cbs[i]->user_data));
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
        vkt_status s = vkt__hook_check(t, fx, "module", f(t, b, idx, 0, t->m->user_data));
        if (s != VKT_OK) {
            return s;
        }
    }
    return result;
}

vkt_status vkt__train_batch_end_hooks(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                      uint32_t idx)
{
    CALL_HOOKS(t, "on_train_batch_end", vkt_train_batch_end_hook,
               offsetof(vkt_callback, on_train_batch_end), offsetof(vkt_module, on_train_batch_end),
               o, b, idx);
}

vkt_status vkt__eval_batch_end_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                                     const vkt_outputs *o, const vkt_batch *b, uint32_t idx)
{
    CALL_HOOKS(t, fx, vkt_batch_end_hook, cb_off, m_off, o, b, idx, 0u);
}

vkt_status vkt__loss_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                           vkt_tensor *loss)
{
    CALL_HOOKS(t, fx, vkt_loss_hook, cb_off, m_off, loss);
}

vkt_status vkt__optimizer_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off)
{
    CALL_HOOKS(t, fx, vkt_optimizer_hook, cb_off, m_off, t->oc.optimizer);
}

vkt_status vkt__trainer_interrupted(vkt_trainer *t, vkt_status s)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", vkt_last_error());
    /* DDP: the other ranks stop waiting for this one, with the reason */
    vkt__ddp_failed(t, s, msg);
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

/* ---- the batch --------------------------------------------------------------------------------- */

vkt_status vkt__next_batch(vkt_trainer *t, vkt_loader *l, vkt_batch *b)
{
    if (!vkt_loader_next(l, b)) {
        return vkt_last_status();
    }
    t->log_step_id++;
    vkt_module *m = t->m;
    vkt_status s = VKT_OK;
    if (m->on_before_batch_transfer) {
        t->fx = "on_before_batch_transfer";
        s = vkt__hook_check(t, t->fx, "module", m->on_before_batch_transfer(t, b, 0, m->user_data));
    }
    if (s == VKT_OK && m->transfer_batch_to_device) {
        t->fx = "transfer_batch_to_device";
        s = vkt__hook_check(t, t->fx, "module", m->transfer_batch_to_device(t, b, 0, m->user_data));
    }
    if (s == VKT_OK && m->on_after_batch_transfer) {
        t->fx = "on_after_batch_transfer";
        s = vkt__hook_check(t, t->fx, "module", m->on_after_batch_transfer(t, b, 0, m->user_data));
    }
    t->batch_rows = b->rows;
    return s;
}
