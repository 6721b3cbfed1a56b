/*
 * fit_loop.c — vkt_trainer_fit: Lightning's FitLoop and TrainingEpochLoop. A training batch reads
 * like llm.c's loop, one phase a line (the closure's phases are in closure.c):
 *
 *     next_batch -> on_train_batch_start
 *                -> optimizer_step(closure: training_step, zero_grad, backward, clip)
 *                -> lr schedulers -> on_train_batch_end -> log -> submit -> [validate]
 *
 * and is one command buffer, submitted once; nothing is read back unless a logger row, a
 * progress-bar refresh or a hook asks for a value. Hook order: docs/lightning.md "Hook order",
 * tests/test_hooks.c.
 */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "data/data_internal.h"
#include "train/trainer_impl.h"

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

/* The step's logged values into the dictionaries, and a logger row every log_every_n_steps. */
static vkt_status log_step(vkt_trainer *t)
{
    bool push = !t->d.disable_step_logging &&
                ((t->batches_that_stepped + 1) % t->d.log_every_n_steps == 0 || t->should_stop ||
                 t->fast_dev_run);
    vkt_status s = vkt__log_train_step(t, push && t->n_loggers > 0);
    return s == VKT_OK && push ? check_nan(t) : s;
}

/* One training batch (TrainingEpochLoop.advance), inside the batch's tensor scope.
 * *skip_epoch: on_train_batch_start asked to skip the rest of the epoch. */
static vkt_status train_batch(vkt_trainer *t, uint32_t i, bool last, bool stepping,
                              bool *skip_epoch)
{
    vkt_batch b;
    vkt_outputs out = {0};
    vkt_closure c = {.t = t, .batch = &b, .batch_idx = i,
                     .zero_grad = i % t->d.accumulate_grad_batches == 0, .stepping = stepping,
                     .outputs = &out};
    vkt_status s = vkt__next_batch(t, t->train_loader, &b);
    if (s != VKT_OK) {
        return s;
    }
    s = vkt__batch_start_hooks(t, "on_train_batch_start",
                               offsetof(vkt_callback, on_train_batch_start),
                               offsetof(vkt_module, on_train_batch_start), &b, i);
    if (s == VKT_SKIP_EPOCH) {
        *skip_epoch = true;
        return VKT_OK;
    }
    if (s != VKT_OK) {
        return s;
    }
    /* training_step, zero_grad, backward, clip and the update; between updates of an
     * accumulation window only the closure */
    s = stepping ? vkt__trainer_optimizer_step(t, &c) : vkt_closure_run(&c);
    if (s != VKT_OK) {
        return s;
    }
    if (stepping && (s = vkt__trainer_lr_schedulers(t, i, last)) != VKT_OK) {
        return s;
    }
    if ((s = vkt__train_batch_end_hooks(t, &out, &b, i)) != VKT_OK) {
        return s;
    }
    return stepping ? log_step(t) : VKT_OK;
}

/* The ranks' stores made one (DDP), then on_train_epoch_end: non-monitoring callbacks, the
 * module, then monitoring callbacks; the train epoch values are live in callback_metrics from
 * here on. Then the epoch's logger row. */
static vkt_status train_epoch_end(vkt_trainer *t)
{
    const size_t cb = offsetof(vkt_callback, on_train_epoch_end);
    vkt_status s = vkt__stores_sync(t, VKT_STAGE_FIT);
    if (s == VKT_OK) {
        s = vkt__log_train_epoch_live(t);
    }
    t->epoch_end_results = &t->train_results;
    if (s == VKT_OK) {
        s = vkt__hooks(t, "on_train_epoch_end", cb, VKT__NO_HOOK, VKT__CB_NON_MONITORING,
                       VKT__SCOPE_OWN);
    }
    if (s == VKT_OK) {
        s = VKT__MOD(t, on_train_epoch_end, VKT__SCOPE_OWN);
    }
    if (s == VKT_OK) {
        s = vkt__hooks(t, "on_train_epoch_end", cb, VKT__NO_HOOK, VKT__CB_MONITORING,
                       VKT__SCOPE_OWN);
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

static vkt_status train_epoch(vkt_trainer *t, uint64_t *total_idx)
{
    vkt__stores_reset_stage(t, VKT_STAGE_FIT); /* stores empty themselves per epoch */
    vkt_status s = VKT__BOTH(t, on_train_epoch_start, VKT__SCOPE_OWN);
    if (s == VKT_OK) {
        s = vkt_loader_start_epoch(t->train_loader, t->current_epoch);
    }
    uint32_t k = t->d.accumulate_grad_batches;
    for (uint32_t i = 0; s == VKT_OK && i < t->num_training_batches; i++) {
        bool last = i + 1 == t->num_training_batches;
        bool stepping = (i + 1) % k == 0 || last;
        bool skip_epoch = false;
        s = vkt_scope_begin(t->dev);
        if (s == VKT_OK) {
            s = train_batch(t, i, last, stepping, &skip_epoch);
        }
        vkt_scope_end(t->dev);
        if (s == VKT_OK && skip_epoch) {
            break;
        }
        if (s == VKT_OK) {
            s = vkt_device_flush(t->dev); /* one submit per step */
        }
        /* TrainingEpochLoop.on_advance_end: validation when due (not merely because max_steps
         * was reached: Lightning validates at the end of a max_steps run only when that batch is
         * a validation batch anyway), then the loop's `done`, decided after the validation so
         * that a should_stop set during it (EarlyStopping in on_validation_end) ends the epoch
         * at this batch. */
        if (s == VKT_OK && should_validate_now(t, i, *total_idx, last)) {
            s = vkt__run_eval(t, VKT_STAGE_FIT, t->val_loader, t->num_val_batches, stepping);
        }
        if (stepping) {
            t->batches_that_stepped++;
        }
        (*total_idx)++;
        if (max_steps_reached(t) || (t->should_stop && min_reached(t))) {
            break;
        }
    }
    return s == VKT_OK ? train_epoch_end(t) : s;
}

static vkt_status check_fit(vkt_trainer *t, vkt_loader *train, vkt_loader *val)
{
    vkt_status s = vkt__limit_batches(&t->d.limit_train_batches, vkt_loader_num_batches(train),
                                      "train", &t->num_training_batches);
    t->num_val_batches = 0;
    if (s == VKT_OK && val) {
        s = vkt__limit_batches(&t->d.limit_val_batches, vkt_loader_num_batches(val), "val",
                               &t->num_val_batches);
    }
    if (s != VKT_OK) {
        return s;
    }
    if (!t->m->training_step) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_fit: the module has no "
                                                "training_step");
    }
    /* FitLoop.setup_data: a batch-count interval longer than the epoch would never validate */
    if (t->num_training_batches > 0 && t->d.check_val_every_n_epoch > 0 &&
        t->d.val_check_interval.count > (int64_t)t->num_training_batches) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_trainer_fit: val_check_interval (%lld) must be less than or equal "
                          "to the number of the training batches (%u). If you want to disable "
                          "validation set limit_val_batches to none instead. If you want to "
                          "validate based on the total training batches, set "
                          "check_val_every_n_epoch = VKT_UNLIMITED.",
                          (long long)t->d.val_check_interval.count, t->num_training_batches);
    }
    if (val && t->num_val_batches > 0 && !t->m->validation_step) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_fit: a validation loader was given "
                                                "but the module has no validation_step");
    }
    if (!t->m->configure_optimizers) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_fit: the module has no "
                                                "configure_optimizers");
    }
    return VKT_OK;
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

/* The checkpoint to resume from: desc.ckpt as given, else read from ckpt_path into *loaded. */
static vkt_status resume_checkpoint(vkt_trainer *t, vkt_dict **loaded, vkt_dict **ckpt)
{
    if (t->d.ckpt) {
        *ckpt = t->d.ckpt;
        return VKT_OK;
    }
    vkt_status s = vkt_checkpoint_load(t->d.ckpt_path, loaded);
    if (s != VKT_OK) {
        return vkt__error_context("vkt_trainer_fit: cannot resume from ckpt_path");
    }
    *ckpt = *loaded;
    return VKT_OK;
}

/* _run_stage up to the sanity check, in Lightning's order (ckpt: resuming, else NULL). */
static vkt_status fit_start(vkt_trainer *t, vkt_dict *ckpt)
{
    vkt_module *m = t->m;
    vkt_status s = ckpt ? vkt__restore_hooks(t, ckpt) : VKT_OK;
    if (s != VKT_OK) {
        return s;
    }
    t->oc = (vkt_optim_config){0};
    t->fx = "configure_optimizers";
    s = vkt__hook_check(t, t->fx, "module", m->configure_optimizers(t, &t->oc, m->user_data));
    if (s != VKT_OK) {
        return s;
    }
    if (!t->oc.optimizer) {
        return vkt__error(VKT_INVALID_ARGUMENT, "configure_optimizers set no optimizer");
    }
    /* Lightning restores the weights before configure_optimizers (restore_model); vkt learns the
     * model from configure_optimizers, so right after it, before on_fit_start. */
    if (ckpt && (s = vkt__restore_weights(t, ckpt)) != VKT_OK) {
        return s;
    }
    if ((s = vkt__ddp_fit_start(t)) != VKT_OK) {
        return s;
    }
    if (t->d.detect_nan && !t->nan_probe) {
        t->nan_probe = vkt_tensor_keep(vkt_tensor_new_1d(t->dev, VKT_F32, 1));
        s = t->nan_probe ? vkt_fill(t->nan_probe, 0.0f) : vkt_last_status();
        if (s != VKT_OK) {
            return s;
        }
    }
    if ((s = VKT__BOTH(t, on_fit_start, VKT__SCOPE_CALLER)) != VKT_OK ||
        (s = log_hparams(t)) != VKT_OK) {
        return s;
    }
    /* restore_training_state: optimizer, scheduler and loop state come after on_fit_start and
     * the hyper-parameters (on_fit_start sees current_epoch 0 and global_step 0, as there) */
    if (ckpt && (s = vkt__restore_training_state(t, ckpt)) != VKT_OK) {
        return s;
    }
    return vkt__trainer_zero_grad(t);
}

static vkt_status sanity_check(vkt_trainer *t)
{
    uint32_t n = t->d.num_sanity_val_steps < 0
                     ? t->num_val_batches
                     : (uint32_t)VKT__MIN((int64_t)t->num_val_batches, t->d.num_sanity_val_steps);
    t->sanity_checking = true;
    vkt__log_reset_dicts(t);
    vkt_status s = VKT__CBS(t, on_sanity_check_start, VKT__SCOPE_OWN);
    if (s == VKT_OK) {
        s = vkt__run_eval(t, VKT_STAGE_FIT, t->val_loader, n, false);
    }
    if (s == VKT_OK) {
        s = VKT__CBS(t, on_sanity_check_end, VKT__SCOPE_OWN);
    }
    t->sanity_checking = false;
    vkt__log_reset_dicts(t);
    vkt__results_reset(&t->eval_results);
    return s;
}

/* FitLoop.run: on_train_start, the epochs, on_train_end. */
static vkt_status train_loop(vkt_trainer *t)
{
    vkt_status s = VKT__BOTH(t, on_train_start, VKT__SCOPE_CALLER);
    uint64_t total_idx = 0;
    while (s == VKT_OK) {
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
    return s == VKT_OK ? VKT__BOTH(t, on_train_end, VKT__SCOPE_OWN) : s;
}

static vkt_status run_fit(vkt_trainer *t, vkt_dict **loaded)
{
    vkt_dict *ckpt = NULL;
    vkt_status s;
    if ((s = VKT__MOD(t, prepare_data, VKT__SCOPE_CALLER)) != VKT_OK ||
        (s = VKT__STAGE_HOOKS(t, setup, VKT_STAGE_FIT, VKT__SCOPE_CALLER)) != VKT_OK ||
        (s = VKT__MOD(t, configure_model, VKT__SCOPE_CALLER)) != VKT_OK) {
        return s;
    }
    if (t->d.ckpt_path && (s = resume_checkpoint(t, loaded, &ckpt)) != VKT_OK) {
        return s;
    }
    if ((s = fit_start(t, ckpt)) != VKT_OK) {
        return s;
    }
    if (t->val_loader && t->num_val_batches > 0 && !t->d.disable_sanity_check && !ckpt &&
        (s = sanity_check(t)) != VKT_OK) {
        return s;
    }
    /* FitLoop.skip: no training batches (limit_train_batches none, or an empty loader) runs no
     * training loop at all: no on_train_start / epochs / on_train_end (the sanity check above
     * still ran, as in Lightning's _run_stage) */
    if (t->num_training_batches > 0 && (s = train_loop(t)) != VKT_OK) {
        return s;
    }
    if ((s = VKT__BOTH(t, on_fit_end, VKT__SCOPE_OWN)) != VKT_OK) {
        return s;
    }
    return VKT__STAGE_HOOKS(t, teardown, VKT_STAGE_FIT, VKT__SCOPE_OWN);
}

vkt_status vkt_trainer_fit(vkt_trainer *t, vkt_module *m, vkt_loader *train, vkt_loader *val)
{
    if (!t || !m || !train) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_trainer_fit: trainer, module and train loader "
                                                "are required");
    }
    vkt__trainer_reset_run(t, m, VKT_STAGE_FIT);
    t->in_fit = true;
    t->train_loader = train;
    t->val_loader = val;
    vkt_dict *loaded = NULL;
    bool shuffle_before = false;
    bool overfit = t->d.overfit_batches.count > 0 || t->d.overfit_batches.fraction > 0;
    vkt_status s = vkt__ddp_shard_loaders(t);
    if (s == VKT_OK) {
        s = check_fit(t, train, val);
    }
    if (s == VKT_OK && overfit) {
        shuffle_before = vkt__loader_set_shuffle(train, false);
        vkt_trainer_print(t, "warning: overfit_batches: the training loader is not shuffled\n");
    }
    if (s == VKT_OK) {
        s = run_fit(t, &loaded);
    }
    if (overfit) {
        vkt__loader_set_shuffle(train, shuffle_before);
    }
    vkt__ddp_fit_end(t);
    vkt_dict_destroy(loaded);
    t->in_fit = false;
    if (s != VKT_OK) {
        return vkt__trainer_interrupted(t, s);
    }
    vkt_status f = vkt_device_finish(t->dev);
    t->fx = NULL;
    t->stage = VKT_STAGE_NONE;
    return f;
}
