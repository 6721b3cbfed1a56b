/*
 * trainer.c — the trainer object: creation (flags resolved by trainer_desc.c, the callback and
 * logger lists assembled), destruction, and what it reports (its state, vkt_trainer_print).
 *
 * The rest of the trainer, one concern a file: hooks.c (dispatch, scopes), closure.c (one
 * optimization step), fit_loop.c, eval_loop.c, trainer_state.c (checkpoint dump / resume),
 * log.c (vkt_log and the metric dictionaries), store.c (epoch stores).
 */
#include <stdarg.h>
#include <string.h>

#include "train/trainer_impl.h"

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

/* ---- creation -------------------------------------------------------------------------------- */

static vkt_status resolve_desc(vkt_trainer *t, const vkt_trainer_desc *in)
{
    t->d = *in;
    t->clip_algorithm_given = in->gradient_clip_algorithm;
    vkt__trainer_desc_defaults(t->dev, &t->d);
    vkt_status s = vkt__trainer_desc_validate(&t->d);
    if (s != VKT_OK) {
        return s;
    }
    vkt__trainer_desc_apply_modes(&t->d);
    t->fast_dev_run = t->d.fast_dev_run != 0;
    return VKT_OK;
}

/*
 * The callback list: the user's in order, then the default ModelCheckpoint and progress bar
 * unless one was given or the flag is off, checkpoint callbacks moved to the end. The defaults
 * are ordinary vkt_callbacks, dispatched like the user's.
 */
static vkt_status assemble_callbacks(vkt_trainer *t)
{
    const vkt_trainer_desc *d = &t->d;
    bool user_ckpt = false, user_pbar = false;
    vkt_callback *list[VKT_MAX_CALLBACKS + 2];
    uint32_t n = 0;
    for (int i = 0; i < VKT_MAX_CALLBACKS && d->callbacks[i]; i++) {
        list[n++] = d->callbacks[i];
        user_ckpt |= d->callbacks[i]->checkpoint;
        user_pbar |= vkt__is_progress_bar(d->callbacks[i]);
    }
    if (d->enable_progress_bar == VKT_FLAG_OFF && user_pbar) {
        return vkt__error(VKT_INVALID_ARGUMENT, "enable_progress_bar is off but a progress bar "
                                                "callback was given");
    }
    if (d->enable_checkpointing == VKT_FLAG_OFF && user_ckpt) {
        return vkt__error(VKT_INVALID_ARGUMENT, "enable_checkpointing is off but a checkpoint "
                                                "callback was given");
    }
    if (d->enable_checkpointing != VKT_FLAG_OFF && !user_ckpt && !t->fast_dev_run) {
        t->own_ckpt = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){0});
        if (!t->own_ckpt) {
            return vkt_last_status();
        }
        list[n++] = t->own_ckpt;
    }
    /* Lightning's progress bar and loggers are rank-zero-only */
    if (d->enable_progress_bar != VKT_FLAG_OFF && !user_pbar && vkt_trainer_is_global_zero(t)) {
        t->own_pbar =
            vkt_progress_bar_create(&(vkt_progress_bar_desc){.stream = d->progress_stream});
        if (!t->own_pbar) {
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
                return vkt__error(VKT_INVALID_ARGUMENT, "two stateful callbacks share the state "
                                                        "key \"%s\"; give each a distinct "
                                                        "state_key",
                                  a);
            }
        }
    }
    return VKT_OK;
}

/* The user's loggers, else a CSV logger under default_root_dir; none under fast_dev_run. */
static vkt_status assemble_loggers(vkt_trainer *t)
{
    const vkt_trainer_desc *d = &t->d;
    snprintf(t->log_dir, sizeof t->log_dir, "%s", t->root_dir);
    if (!vkt_trainer_is_global_zero(t)) {
        return VKT_OK; /* loggers are rank-zero-only; the log_dir comes from rank 0 (create) */
    }
    for (int i = 0; i < VKT_MAX_LOGGERS && d->loggers[i]; i++) {
        t->loggers[t->n_loggers++] = d->loggers[i];
    }
    if (t->n_loggers == 0 && d->logger != VKT_FLAG_OFF && !t->fast_dev_run) {
        vkt_status s = vkt_csv_logger_create(t->root_dir, "lightning_logs", &t->own_logger);
        if (s != VKT_OK) {
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
    if (ld) {
        snprintf(t->log_dir, sizeof t->log_dir, "%s", ld);
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
    t->stage_results = &t->train_results;
    vkt_status s = resolve_desc(t, desc ? desc : &(vkt_trainer_desc){0});
    if (s == VKT_OK) {
        s = vkt__ddp_setup(t);
    }
    if (s == VKT_OK) {
        snprintf(t->root_dir, sizeof t->root_dir, "%s",
                 t->d.default_root_dir ? t->d.default_root_dir : ".");
        s = assemble_callbacks(t);
    }
    if (s == VKT_OK) {
        s = assemble_loggers(t);
    }
    /* DDP: every rank's log_dir is rank 0's (where its logger puts version_N and the
     * checkpoints), as Lightning broadcasts the checkpoint directory */
    if (s == VKT_OK && t->dist) {
        s = vkt_dist_broadcast(t->dist, t->log_dir, sizeof t->log_dir, 0);
    }
    if (s != VKT_OK) {
        vkt_trainer_destroy(t);
        return s;
    }
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
    vkt__ddp_teardown(t);
    free(t);
}

void vkt__trainer_reset_run(vkt_trainer *t, vkt_module *m, vkt_stage stage)
{
    t->m = m;
    t->stage = stage;
    t->should_stop = false;
    t->sanity_checking = false;
    t->fx = NULL;
    vkt_clear_error();
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

uint32_t vkt_trainer_num_eval_batches(const vkt_trainer *t) { return t->num_eval_batches; }

/* Lightning's print: through the progress bar when there is one, so a bar on a terminal is not
 * torn. */
static void print_line(vkt_trainer *t, const char *line)
{
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

void vkt_trainer_print(vkt_trainer *t, const char *fmt, ...)
{
    if (!vkt_trainer_is_global_zero(t)) {
        return; /* Lightning's trainer.print is rank-zero-only */
    }
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    print_line(t, line);
}
