/*
 * vkt/train.h — a PyTorch-Lightning-style Trainer, LightningModule and Callback for C.
 *
 *     static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i,
 *                                     vkt_outputs *out, void *ud)
 *     {
 *         my_model *m = ud;
 *         vkt_tensor *logits = vkt_model_forward(m->mlp, b->x);
 *         vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
 *         vkt_log(t, "train_loss", loss, &(vkt_log_opts){ .prog_bar = true });
 *         vkt_outputs_set(out, "logits", logits);      // seen by on_train_batch_end
 *         return vkt_outputs_set(out, "loss", loss);   // the trainer runs backward on it
 *     }
 *
 *     vkt_module module = {
 *         .training_step = training_step, .validation_step = validation_step,
 *         .configure_optimizers = configure_optimizers, .user_data = &my,
 *     };
 *     vkt_trainer *t;
 *     vkt_trainer_create(dev, &(vkt_trainer_desc){ .max_epochs = 5 }, &t);
 *     vkt_status s = vkt_trainer_fit(t, &module, train_loader, val_loader);
 *
 * Semantics are Lightning 2.x's (docs/lightning.md): the same hooks in the same
 * order (callbacks before the module, monitoring callbacks after it in on_train_epoch_end,
 * validation inside the epoch, sanity check, gradient accumulation, checkpoint save/load order),
 * `log` with the same defaults per hook, suffixes, reductions and batch-size-weighted epoch
 * means, the same progress bar and metrics.csv. Differences are listed in docs/lightning.md.
 *
 * Hooks. Every hook is a function pointer; NULL means the default behaviour. Every hook gets the
 * trainer and the user_data of its module or callback; the module is vkt_trainer_module(t).
 * Hooks return a vkt_status: anything but VKT_OK stops the run, every callback's on_exception
 * is called, and fit/validate/test/predict return that status (the message stays in
 * vkt_last_error()). vkt_trainer_fail() sets a message and returns the status in one line.
 *
 * Tensors made in hooks. Steps and batch hooks run inside the batch's tensor scope (vkt/tensor.h).
 * Every other hook dispatched by the trainer runs in a scope of its own, so the intermediates of
 * an epoch-end computation are freed when the hook returns (a logged value stays alive as long as
 * the trainer needs it); vkt_tensor_keep a tensor that must outlive the hook. The exceptions,
 * where a module builds state, run in the caller's scope: prepare_data, setup, configure_model,
 * configure_optimizers, on_fit_start, on_train_start and on_load_checkpoint.
 *
 * Values stay on the device: logged tensors are reduced on the device and read back only at
 * logging points (log_every_n_steps, progress-bar refreshes, epoch ends) or when a hook reads a
 * metric by name; step outputs reach batch-end hooks as device tensors.
 */
#ifndef VKT_TRAIN_H
#define VKT_TRAIN_H

#include <stdio.h>

#include "data.h"
#include "dist.h"
#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkt_trainer vkt_trainer;

/* ---- step outputs ---------------------------------------------------------------------------- */

#define VKT_MAX_OUTPUTS 16

/** Named device tensors returned by a *_step (Lightning's returned dict). */
typedef struct vkt_outputs {
    uint32_t count;
    const char *names[VKT_MAX_OUTPUTS];   /* not copied: literals, or strings outliving the step */
    vkt_tensor *values[VKT_MAX_OUTPUTS];  /* borrowed from the step's scope */
} vkt_outputs;

/** Adds or replaces `name`. VKT_TOO_LARGE past VKT_MAX_OUTPUTS entries. */
VKT_API vkt_status vkt_outputs_set(vkt_outputs *o, const char *name, vkt_tensor *value);
/** The tensor stored under `name`, or NULL. `o` may be NULL. */
VKT_API vkt_tensor *vkt_outputs_get(const vkt_outputs *o, const char *name);

/* ---- dictionaries (checkpoints, callback state, hyper-parameters) ---------------------------- */

/** A small ordered dictionary of numbers, strings, nested dictionaries and f32 arrays (some
 * tagged as integer arrays: vkt_dict_set_ints). */
typedef struct vkt_dict vkt_dict;

VKT_API vkt_dict *vkt_dict_create(void);
VKT_API void vkt_dict_destroy(vkt_dict *d);
VKT_API uint32_t vkt_dict_count(const vkt_dict *d);
VKT_API const char *vkt_dict_key(const vkt_dict *d, uint32_t i);
VKT_API vkt_status vkt_dict_set_number(vkt_dict *d, const char *key, double v);
VKT_API vkt_status vkt_dict_set_string(vkt_dict *d, const char *key, const char *v);
/** A nested dictionary under `key` (created if absent, returned if present); NULL on error. */
VKT_API vkt_dict *vkt_dict_child(vkt_dict *d, const char *key);
/** Copies `n` floats of the given shape (ndim <= VKT_MAX_DIMS). */
VKT_API vkt_status vkt_dict_set_floats(vkt_dict *d, const char *key, const float *v, int ndim,
                                       const int64_t *shape);
/**
 * An integer array (torch's int64 buffers, such as batch norm's num_batches_tracked): stored as
 * f32 like any array (vkt_dict_get_floats reads it), and written by vkt_checkpoint_save as an I64
 * tensor. Every |v| must be at most 2^24, where f32 stops holding all integers
 * (VKT_INVALID_ARGUMENT naming the key otherwise).
 */
VKT_API vkt_status vkt_dict_set_ints(vkt_dict *d, const char *key, const int64_t *v, int ndim,
                                     const int64_t *shape);
VKT_API bool vkt_dict_has(const vkt_dict *d, const char *key);
/** Getters return false when the key is absent or holds another kind of value. */
VKT_API bool vkt_dict_get_number(const vkt_dict *d, const char *key, double *out);
VKT_API const char *vkt_dict_get_string(const vkt_dict *d, const char *key);
VKT_API const vkt_dict *vkt_dict_get_child(const vkt_dict *d, const char *key);
VKT_API const float *vkt_dict_get_floats(const vkt_dict *d, const char *key, int *ndim,
                                         int64_t *shape);
/** Whether `key` holds an integer array (vkt_dict_set_ints, or an integer tensor of a file). */
VKT_API bool vkt_dict_is_ints(const vkt_dict *d, const char *key);
VKT_API vkt_status vkt_dict_remove(vkt_dict *d, const char *key);

/* ---- optimizers from the module -------------------------------------------------------------- */

typedef enum vkt_sched_interval {
    VKT_INTERVAL_DEFAULT = 0, /* = EPOCH */
    VKT_INTERVAL_EPOCH,
    VKT_INTERVAL_STEP,
    _VKT_INTERVAL_FORCE_U32 = 0x7FFFFFFF
} vkt_sched_interval;

/** What configure_optimizers fills in. The trainer destroys neither: they belong to the module. */
typedef struct vkt_optim_config {
    vkt_optimizer *optimizer;       /* required */
    vkt_model *model;               /* the parameters it steps: zero_grad, clipping, checkpoints */
    vkt_scheduler *scheduler;       /* may be NULL */
    vkt_sched_interval interval;
    uint32_t frequency;             /* 0 -> 1 */
} vkt_optim_config;

/** Inside optimizer_step: runs training_step, zero_grad, backward, on_before_optimizer_step and
 * gradient clipping (Lightning's closure as optimizer.step(closure) runs it). Runs once. */
typedef struct vkt_closure vkt_closure;
VKT_API vkt_status vkt_closure_run(vkt_closure *c);

/* ---- the module (LightningModule) ------------------------------------------------------------ */

typedef enum vkt_stage {
    VKT_STAGE_NONE = 0,
    VKT_STAGE_FIT,
    VKT_STAGE_VALIDATE,
    VKT_STAGE_TEST,
    VKT_STAGE_PREDICT,
    _VKT_STAGE_FORCE_U32 = 0x7FFFFFFF
} vkt_stage;

/** "fit", "validate", "test", "predict". */
VKT_API const char *vkt_stage_name(vkt_stage s);

typedef vkt_status (*vkt_hook)(vkt_trainer *t, void *ud);
typedef vkt_status (*vkt_stage_hook)(vkt_trainer *t, vkt_stage stage, void *ud);
typedef vkt_status (*vkt_step_fn)(vkt_trainer *t, const vkt_batch *batch, uint32_t batch_idx,
                                  vkt_outputs *out, void *ud);
typedef vkt_status (*vkt_eval_step_fn)(vkt_trainer *t, const vkt_batch *batch, uint32_t batch_idx,
                                       uint32_t dataloader_idx, vkt_outputs *out, void *ud);
typedef vkt_status (*vkt_batch_start_hook)(vkt_trainer *t, const vkt_batch *batch,
                                           uint32_t batch_idx, uint32_t dataloader_idx, void *ud);
typedef vkt_status (*vkt_train_batch_end_hook)(vkt_trainer *t, const vkt_outputs *outputs,
                                               const vkt_batch *batch, uint32_t batch_idx,
                                               void *ud);
typedef vkt_status (*vkt_batch_end_hook)(vkt_trainer *t, const vkt_outputs *outputs,
                                         const vkt_batch *batch, uint32_t batch_idx,
                                         uint32_t dataloader_idx, void *ud);
typedef vkt_status (*vkt_loss_hook)(vkt_trainer *t, vkt_tensor *loss, void *ud);
typedef vkt_status (*vkt_optimizer_hook)(vkt_trainer *t, vkt_optimizer *opt, void *ud);
typedef vkt_status (*vkt_checkpoint_hook)(vkt_trainer *t, vkt_dict *checkpoint, void *ud);

/* Return from on_train_batch_start to skip the rest of the epoch (Lightning's -1). */
#define VKT_SKIP_EPOCH ((vkt_status)1)

typedef struct vkt_module {
    /* steps: fill `out`; training_step must set "loss" unless it wants no backward (Lightning's
     * `return None`). Eval steps may leave `out` empty. */
    vkt_step_fn training_step;           /* required for fit */
    vkt_eval_step_fn validation_step;
    vkt_eval_step_fn test_step;
    vkt_eval_step_fn predict_step;
    vkt_status (*configure_optimizers)(vkt_trainer *t, vkt_optim_config *out, void *ud);
    /* The module's model (optional when configure_optimizers names it): evaluation loops switch
     * it to eval mode and back (Lightning's model.eval() / model.train()), also in a test or
     * predict run without fit, where no optimizer config exists. */
    vkt_model *model;

    /* setup and data */
    vkt_hook prepare_data;
    vkt_stage_hook setup, teardown;
    vkt_hook configure_model;
    vkt_status (*on_before_batch_transfer)(vkt_trainer *t, vkt_batch *b, uint32_t dl_idx, void *ud);
    vkt_status (*transfer_batch_to_device)(vkt_trainer *t, vkt_batch *b, uint32_t dl_idx, void *ud);
    vkt_status (*on_after_batch_transfer)(vkt_trainer *t, vkt_batch *b, uint32_t dl_idx, void *ud);

    /* the loops */
    vkt_hook on_fit_start, on_fit_end;
    vkt_hook on_train_start, on_train_end;
    vkt_hook on_validation_start, on_validation_end;
    vkt_hook on_test_start, on_test_end;
    vkt_hook on_predict_start, on_predict_end;
    vkt_hook on_train_epoch_start, on_train_epoch_end;
    vkt_hook on_validation_epoch_start, on_validation_epoch_end;
    vkt_hook on_test_epoch_start, on_test_epoch_end;
    vkt_hook on_predict_epoch_start, on_predict_epoch_end;
    vkt_batch_start_hook on_train_batch_start; /* dataloader_idx is 0; may return VKT_SKIP_EPOCH */
    vkt_train_batch_end_hook on_train_batch_end;
    vkt_batch_start_hook on_validation_batch_start, on_test_batch_start, on_predict_batch_start;
    vkt_batch_end_hook on_validation_batch_end, on_test_batch_end, on_predict_batch_end;
    vkt_hook on_validation_model_eval, on_validation_model_train, on_validation_model_zero_grad;

    /* optimization (automatic) */
    vkt_loss_hook on_before_backward;
    vkt_loss_hook backward;              /* default: vkt_backward(loss) */
    vkt_hook on_after_backward;
    vkt_optimizer_hook on_before_zero_grad;
    vkt_status (*optimizer_zero_grad)(vkt_trainer *t, uint32_t epoch, uint32_t batch_idx,
                                      vkt_optimizer *opt, void *ud);  /* default: zero_grad */
    vkt_optimizer_hook on_before_optimizer_step;
    /* default: clip with the trainer's gradient_clip_val / algorithm. An override gets the flags
     * as the user gave them, Lightning's None for unset: clip_val is NaN when gradient_clip_val
     * is not > 0 (test with isnan), algorithm is NULL when gradient_clip_algorithm is
     * VKT_CLIP_DEFAULT, else "norm" or "value". The override does the clipping itself
     * (vkt_clip_grad_norm / vkt_clip_grad_value) or none. */
    vkt_status (*configure_gradient_clipping)(vkt_trainer *t, vkt_optimizer *opt, float clip_val,
                                              const char *algorithm, void *ud);
    /* default: vkt_closure_run(closure), then vkt_optimizer_step(opt). The closure runs
     * training_step, zero_grad, backward, on_before_optimizer_step and clipping. */
    vkt_status (*optimizer_step)(vkt_trainer *t, uint32_t epoch, uint32_t batch_idx,
                                 vkt_optimizer *opt, vkt_closure *closure, void *ud);
    vkt_status (*lr_scheduler_step)(vkt_trainer *t, vkt_scheduler *s, void *ud);

    /* checkpoints: the dict is the whole checkpoint, mutable */
    vkt_checkpoint_hook on_save_checkpoint, on_load_checkpoint;

    void *user_data;
} vkt_module;

/* ---- callbacks ------------------------------------------------------------------------------- */

typedef struct vkt_callback {
    vkt_stage_hook setup, teardown;
    vkt_hook on_fit_start, on_fit_end;
    vkt_hook on_sanity_check_start, on_sanity_check_end;
    vkt_hook on_train_start, on_train_end;
    vkt_hook on_validation_start, on_validation_end;
    vkt_hook on_test_start, on_test_end;
    vkt_hook on_predict_start, on_predict_end;
    vkt_hook on_train_epoch_start, on_train_epoch_end;
    vkt_hook on_validation_epoch_start, on_validation_epoch_end;
    vkt_hook on_test_epoch_start, on_test_epoch_end;
    vkt_hook on_predict_epoch_start, on_predict_epoch_end;
    vkt_batch_start_hook on_train_batch_start;
    vkt_train_batch_end_hook on_train_batch_end;
    vkt_batch_start_hook on_validation_batch_start, on_test_batch_start, on_predict_batch_start;
    vkt_batch_end_hook on_validation_batch_end, on_test_batch_end, on_predict_batch_end;
    /* `status` is the failing status; the message is in vkt_last_error(). */
    void (*on_exception)(vkt_trainer *t, vkt_status status, void *ud);
    vkt_loss_hook on_before_backward;
    vkt_hook on_after_backward;
    vkt_optimizer_hook on_before_optimizer_step, on_before_zero_grad;
    vkt_checkpoint_hook on_save_checkpoint, on_load_checkpoint;

    /* state in checkpoints: checkpoint["callbacks"][state_key] */
    const char *state_key;      /* default: name; two stateful callbacks may not share a key */
    vkt_status (*state_dict)(vkt_trainer *t, vkt_dict *state, void *ud);
    vkt_status (*load_state_dict)(vkt_trainer *t, const vkt_dict *state, void *ud);

    /* EarlyStopping and ModelCheckpoint are "monitoring": their on_train_epoch_end runs after the
     * module's, and checkpoint callbacks are moved to the end of the list. */
    bool monitoring;
    bool checkpoint;
    const char *name;           /* for messages; may be NULL */
    void *user_data;
} vkt_callback;

/* ---- logging (self.log) ---------------------------------------------------------------------- */

typedef enum vkt_flag {
    VKT_FLAG_DEFAULT = 0,
    VKT_FLAG_ON,
    VKT_FLAG_OFF,
    _VKT_FLAG_FORCE_U32 = 0x7FFFFFFF
} vkt_flag;

typedef enum vkt_reduce_fx {
    VKT_REDUCE_DEFAULT = 0, /* = MEAN */
    VKT_REDUCE_MEAN,
    VKT_REDUCE_SUM,
    VKT_REDUCE_MAX,
    VKT_REDUCE_MIN,
    _VKT_REDUCE_FORCE_U32 = 0x7FFFFFFF
} vkt_reduce_fx;

/** self.log's options. Zero: Lightning's defaults for the hook that logs. */
typedef struct vkt_log_opts {
    vkt_flag on_step;
    vkt_flag on_epoch;
    bool prog_bar;
    vkt_flag logger;          /* default on */
    vkt_reduce_fx reduce_fx;
    uint32_t batch_size;      /* 0: the current batch's rows (for the weighted epoch mean) */
    /* DDP: the epoch value is reduce_fx over every rank's (the mean weighted by every rank's
     * batch sizes), in one small all-reduce at epoch end; a no-op on one process. Every rank
     * must log the same names with it. Step values stay this rank's. */
    bool sync_dist;
} vkt_log_opts;

/**
 * Logs a one-element device tensor. The value is not read: epoch aggregation happens on the
 * device. Errors (VKT_INVALID_ARGUMENT): a hook where Lightning forbids logging, on_step and
 * on_epoch both off, a tensor with more than one element, the same name logged twice in one hook
 * with different options.
 */
VKT_API vkt_status vkt_log(vkt_trainer *t, const char *name, const vkt_tensor *value,
                           const vkt_log_opts *opts);
/** Logs a host number (converted to an f32 device value). */
VKT_API vkt_status vkt_log_value(vkt_trainer *t, const char *name, float value,
                                 const vkt_log_opts *opts);

typedef struct vkt_metric vkt_metric; /* vkt/metrics.h */

/**
 * Logs a metric object (vkt/metrics.h) as Lightning logs a torchmetrics Metric: its epoch value.
 * At the end of the running stage's epoch the trainer computes it on the device, puts it in the
 * metric dictionaries and loggers, then resets the metric. Update it yourself in the step. Only
 * on_epoch logging of one-value metrics (not a confusion matrix or VKT_AVERAGE_NONE); for a
 * per-step value log a tensor with vkt_log. Calling it again in later steps is allowed.
 */
VKT_API vkt_status vkt_log_metric(vkt_trainer *t, const char *name, vkt_metric *metric,
                                  const vkt_log_opts *opts);

typedef enum vkt_metrics_kind {
    VKT_CALLBACK_METRICS = 0, /* trainer.callback_metrics */
    VKT_LOGGED_METRICS,       /* trainer.logged_metrics */
    VKT_PROGRESS_BAR_METRICS, /* trainer.progress_bar_metrics */
    _VKT_METRICS_FORCE_U32 = 0x7FFFFFFF
} vkt_metrics_kind;

/** Reads a metric by name (a device read if its value is not on the host yet). */
VKT_API bool vkt_trainer_metric(vkt_trainer *t, vkt_metrics_kind kind, const char *name,
                                float *value);
VKT_API uint32_t vkt_trainer_metrics_count(vkt_trainer *t, vkt_metrics_kind kind);
/** The i-th metric name in insertion order; NULL past the end. */
VKT_API const char *vkt_trainer_metric_name(vkt_trainer *t, vkt_metrics_kind kind, uint32_t i);

/* ---- epoch stores: every batch output at epoch end, on the device ------------------------------
 * *
 *
 * Lightning 2 removed training_epoch_end(outputs) and leaves users to cache step outputs by hand
 * (memory grows, a clear() is easy to forget, the values are pulled to the host). vkt keeps them on
 * the device: a step calls vkt_store(t, "logits", logits, VKT_STORE_CONCAT) and at epoch end any
 * hook gets vkt_store_concat(t, VKT_STAGE_FIT, "logits"), one (rows, ...) device tensor. Nothing
 * is read back per step. Stores belong to a stage (VKT_STAGE_FIT = the training loop,
 * VKT_STAGE_VALIDATE, VKT_STAGE_TEST, VKT_STAGE_PREDICT) and empty themselves when the next epoch
 * of that stage starts; their contents stay readable until then.
 *
 * A store with a reduction keeps only a constant-size accumulator: reductions run along the batch
 * dimension (the accumulator has the shape of one row) with fixed-order device kernels.
 *
 * Under DDP the ranks' stores of a stage are made one at the end of each epoch, before its
 * epoch-end hooks: a concatenation holds every rank's rows (rank 0's first; vkt_store_batches
 * stays this rank's), a reduction the whole epoch's value (docs/distributed.md). Every rank must
 * keep the same stores. */

typedef enum vkt_store_kind {
    VKT_STORE_CONCAT = 0, /* every batch, concatenated on request */
    VKT_STORE_SUM,
    VKT_STORE_MEAN,       /* over all rows of the epoch (batch-size weighted) */
    VKT_STORE_MIN,
    VKT_STORE_MAX,
    VKT_STORE_COUNT,      /* number of rows */
    VKT_STORE_MEAN_VAR,   /* mean and variance by Chan et al.'s parallel update */
    _VKT_STORE_FORCE_U32 = 0x7FFFFFFF
} vkt_store_kind;

/**
 * Adds `value` (rows along dimension 0; a one-element tensor counts as one row) to this epoch's
 * store `name` of the running stage. One store has one kind and one row shape. Going over the
 * trainer's store budget is VKT_OUT_OF_DEVICE_MEMORY naming the store, its size and the budget.
 */
VKT_API vkt_status vkt_store(vkt_trainer *t, const char *name, const vkt_tensor *value,
                             vkt_store_kind kind);
/** CONCAT stores: all rows as one tensor (owned by the store; valid until the store resets). */
VKT_API vkt_tensor *vkt_store_concat(vkt_trainer *t, vkt_stage stage, const char *name);
/** CONCAT stores: the per-batch tensors, in order; *n is set. Owned by the store. */
VKT_API vkt_tensor *const *vkt_store_batches(vkt_trainer *t, vkt_stage stage, const char *name,
                                             uint32_t *n);
/** Rows added this epoch (any kind); -1 when there is no such store. */
VKT_API int64_t vkt_store_rows(vkt_trainer *t, vkt_stage stage, const char *name);
/**
 * Reduction stores: the value (SUM, MEAN, MIN, MAX: one row's shape; COUNT: one f32; MEAN_VAR:
 * the mean). Owned by the store. NULL if the store has no rows yet.
 */
VKT_API vkt_tensor *vkt_store_result(vkt_trainer *t, vkt_stage stage, const char *name);
/** MEAN_VAR stores: the variance (unbiased: divided by rows - 1, as torch.var). */
VKT_API vkt_tensor *vkt_store_variance(vkt_trainer *t, vkt_stage stage, const char *name,
                                       bool unbiased);

/* ---- loggers --------------------------------------------------------------------------------- */

typedef struct vkt_logger {
    /* One row: `n` metrics at `step`; `epoch` < 0 when the row has no epoch column. */
    vkt_status (*log_metrics)(const char *const *names, const double *values, uint32_t n,
                              int64_t step, int64_t epoch, void *ud);
    vkt_status (*log_hyperparams)(const vkt_dict *hparams, void *ud);
    vkt_status (*save)(void *ud);
    void (*finalize)(void *ud);
    const char *(*version)(void *ud);   /* "0" for version_0; may be NULL */
    const char *(*log_dir)(void *ud); /* where checkpoints go (log_dir/checkpoints); may be NULL */
    void *user_data;
} vkt_logger;

/**
 * Lightning's CSVLogger: save_dir/name/version_N/metrics.csv (+ hparams.yaml), N the next free
 * version. `name` NULL -> "lightning_logs". Free with vkt_csv_logger_destroy.
 */
VKT_API vkt_status vkt_csv_logger_create(const char *save_dir, const char *name, vkt_logger **out);
VKT_API void vkt_csv_logger_destroy(vkt_logger *l);

/* ---- the trainer ----------------------------------------------------------------------------- */

/** A batch limit: all (zero), a count, or a fraction of the loader's batches; or none at all. */
typedef struct vkt_limit {
    int64_t count;      /* > 0: at most this many batches */
    double fraction;    /* > 0: int(fraction * batches) (an error if that is 0) */
    bool none;          /* run no batches (disables the loop; for val also the sanity check) */
} vkt_limit;

#define VKT_MAX_CALLBACKS 16
#define VKT_MAX_LOGGERS 4
#define VKT_UNLIMITED (-1)

typedef enum vkt_clip_algorithm {
    VKT_CLIP_DEFAULT = 0, /* = NORM */
    VKT_CLIP_NORM,
    VKT_CLIP_VALUE,
    _VKT_CLIP_FORCE_U32 = 0x7FFFFFFF
} vkt_clip_algorithm;

/**
 * Trainer flags. Zero means Lightning's default:
 *   max_epochs 1000 if max_steps is unset too (VKT_UNLIMITED: no limit), max_steps none,
 *   limits all batches, val_check_interval 1.0 (once per epoch), check_val_every_n_epoch 1
 *   (VKT_UNLIMITED: only by val_check_interval), num_sanity_val_steps 2 (VKT_UNLIMITED: all;
 *   disable_sanity_check for none), log_every_n_steps 50 (disable_step_logging for none),
 *   accumulate_grad_batches 1, no clipping, progress bar / checkpointing / CSV logger on,
 *   default_root_dir ".", no fast_dev_run, no overfit_batches, ddp_bucket_bytes 25 MiB (torch's
 *   bucket_cap_mb).
 */
/* How fit runs over processes (Lightning's strategy). */
typedef enum vkt_strategy {
    VKT_STRATEGY_AUTO = 0, /* DDP when a vkt_dist is given, else one process */
    VKT_STRATEGY_SINGLE,
    VKT_STRATEGY_DDP, /* data parallel over the ranks of vkt_trainer_desc.dist (vkt/dist.h) */
    _VKT_STRATEGY_FORCE_U32 = 0x7FFFFFFF
} vkt_strategy;

typedef struct vkt_trainer_desc {
    int64_t max_epochs, min_epochs;
    int64_t max_steps, min_steps;
    vkt_limit limit_train_batches, limit_val_batches, limit_test_batches, limit_predict_batches;
    vkt_limit val_check_interval;       /* count: every n batches; fraction: of the epoch */
    int64_t check_val_every_n_epoch;
    int64_t num_sanity_val_steps;
    bool disable_sanity_check;
    uint32_t log_every_n_steps;
    bool disable_step_logging;
    uint32_t accumulate_grad_batches;
    float gradient_clip_val;            /* <= 0: no clipping */
    vkt_clip_algorithm gradient_clip_algorithm;
    vkt_flag enable_progress_bar;
    vkt_flag enable_checkpointing;      /* adds a default ModelCheckpoint unless one is given */
    vkt_flag logger;                    /* default: a CSV logger under default_root_dir */
    vkt_logger *loggers[VKT_MAX_LOGGERS]; /* borrowed; replaces the default logger */
    const char *default_root_dir;
    uint32_t fast_dev_run;              /* n batches of each loop, one epoch, no checkpoints/logs */
    vkt_limit overfit_batches;
    uint64_t seed;
    bool deterministic;                 /* vkt's reductions always are; recorded in hparams */
    bool detect_nan;                    /* a NaN/inf training loss is an error (read per step!) */
    vkt_callback *callbacks[VKT_MAX_CALLBACKS]; /* borrowed, in order; several of one kind OK */
    const vkt_dict *hparams;            /* borrowed; logged and saved in checkpoints */
    uint64_t store_budget;              /* bytes for epoch stores; 0: a quarter of device memory */
    const char *ckpt_path;              /* resume fit from this checkpoint */
    /* resume from this checkpoint, already read with vkt_checkpoint_load (borrowed; the
     * on_load_checkpoint hooks may edit it): fit reads no file. ckpt_path must name the file it
     * came from (messages; ModelCheckpoint never removes it). */
    vkt_dict *ckpt;
    FILE *progress_stream;              /* where the progress bar writes; NULL = stdout */
    vkt_strategy strategy;
    /* borrowed: the ranks of the DDP strategy; NULL with VKT_STRATEGY_DDP: the trainer joins
     * MPI_COMM_WORLD itself (and leaves it at vkt_trainer_destroy) */
    vkt_dist *dist;
    /* DDP's gradient buckets (PyTorch DDP's bucket_cap_mb): each is all-reduced as soon as the
     * backward has finished its gradients, while the device computes the earlier layers'. 0: 25
     * MiB, the first bucket (the last layers) at most 1 MiB, as torch; SIZE_MAX: one bucket,
     * reduced after the whole backward. */
    size_t ddp_bucket_bytes;
} vkt_trainer_desc;

VKT_API vkt_status vkt_trainer_create(vkt_device *dev, const vkt_trainer_desc *desc,
                                      vkt_trainer **out);
VKT_API void vkt_trainer_destroy(vkt_trainer *t);
/** The desc with every default resolved. */
VKT_API const vkt_trainer_desc *vkt_trainer_query_desc(const vkt_trainer *t);

VKT_API vkt_status vkt_trainer_fit(vkt_trainer *t, vkt_module *m, vkt_loader *train,
                                   vkt_loader *val);
VKT_API vkt_status vkt_trainer_validate(vkt_trainer *t, vkt_module *m, vkt_loader *val);
VKT_API vkt_status vkt_trainer_test(vkt_trainer *t, vkt_module *m, vkt_loader *test);
VKT_API vkt_status vkt_trainer_predict(vkt_trainer *t, vkt_module *m, vkt_loader *loader);

/* state */
VKT_API vkt_device *vkt_trainer_device(const vkt_trainer *t);
/** Lightning's global_rank, world_size and is_global_zero (0, 1 and true on one process). */
VKT_API int vkt_trainer_global_rank(const vkt_trainer *t);
VKT_API int vkt_trainer_world_size(const vkt_trainer *t);
VKT_API bool vkt_trainer_is_global_zero(const vkt_trainer *t);
VKT_API vkt_module *vkt_trainer_module(const vkt_trainer *t);
VKT_API uint32_t vkt_trainer_current_epoch(const vkt_trainer *t);
VKT_API uint64_t vkt_trainer_global_step(const vkt_trainer *t);
VKT_API bool vkt_trainer_sanity_checking(const vkt_trainer *t);
VKT_API bool vkt_trainer_should_stop(const vkt_trainer *t);
VKT_API void vkt_trainer_set_should_stop(vkt_trainer *t, bool stop);
VKT_API vkt_stage vkt_trainer_stage(const vkt_trainer *t);
VKT_API uint32_t vkt_trainer_num_training_batches(const vkt_trainer *t);
VKT_API uint32_t vkt_trainer_num_val_batches(const vkt_trainer *t);
/** The batches of the evaluation loop running now: the sanity check's, a validation run's, a
 * test's or a predict's (the last one's when none runs). */
VKT_API uint32_t vkt_trainer_num_eval_batches(const vkt_trainer *t);
/** The optimizer from configure_optimizers (NULL before). */
VKT_API vkt_optimizer *vkt_trainer_optimizer(const vkt_trainer *t);
/**
 * trainer.callbacks: the final list, in the order hooks run (the given callbacks, then the
 * default progress bar / ModelCheckpoint the trainer added, checkpoint callbacks moved to the
 * end). vkt_trainer_callback returns NULL past the end.
 */
VKT_API uint32_t vkt_trainer_num_callbacks(const vkt_trainer *t);
VKT_API vkt_callback *vkt_trainer_callback(const vkt_trainer *t, uint32_t i);
/** trainer.checkpoint_callback: the first checkpoint callback (the default one too), or NULL. */
VKT_API vkt_callback *vkt_trainer_checkpoint_callback(const vkt_trainer *t);
/** The first logger, or NULL. */
VKT_API vkt_logger *vkt_trainer_logger(const vkt_trainer *t);
VKT_API const char *vkt_trainer_log_dir(const vkt_trainer *t);
/** Prints a line without breaking the progress bar on a terminal (LightningModule.print). */
VKT_API void vkt_trainer_print(vkt_trainer *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/**
 * trainer.save_checkpoint: the trainer's state as Lightning's dump_checkpoint builds it (weights,
 * loops, hyper-parameters; unless weights_only also callback states and optimizer), after every
 * on_save_checkpoint hook, written with vkt_checkpoint_save. What ModelCheckpoint calls.
 */
VKT_API vkt_status vkt_trainer_save_checkpoint(vkt_trainer *t, const char *path,
                                               bool weights_only);
/** Sets the last error and returns `s`: `return vkt_trainer_fail(t, VKT_ERROR, "bad %d", x);` */
VKT_API vkt_status vkt_trainer_fail(vkt_trainer *t, vkt_status s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- built-in callbacks ---------------------------------------------------------------------- */

/** Lightning's TQDMProgressBar format; plain per-epoch lines when the stream is not a terminal. */
typedef struct vkt_progress_bar_desc {
    uint32_t refresh_rate;   /* 0 -> 1 batch */
    FILE *stream;            /* NULL -> the trainer's progress_stream */
    vkt_flag tty;            /* DEFAULT: isatty(stream) */
} vkt_progress_bar_desc;
VKT_API vkt_callback *vkt_progress_bar_create(const vkt_progress_bar_desc *desc);
VKT_API void vkt_progress_bar_destroy(vkt_callback *cb);

typedef enum vkt_mode {
    VKT_MODE_DEFAULT = 0, /* = MIN */
    VKT_MODE_MIN,
    VKT_MODE_MAX,
    _VKT_MODE_FORCE_U32 = 0x7FFFFFFF
} vkt_mode;

/** Lightning's ModelCheckpoint; files are written atomically (temporary file + rename). */
typedef struct vkt_checkpoint_desc {
    const char *dirpath;         /* NULL: <log_dir>/checkpoints or <root>/checkpoints */
    const char *filename;        /* NULL: "{epoch}-{step}" */
    const char *monitor;         /* NULL: keep the newest */
    vkt_mode mode;
    int32_t save_top_k;          /* 0 -> 1; VKT_UNLIMITED: all; use save_none for 0 */
    bool save_none;
    bool save_last;
    uint32_t every_n_epochs;     /* 0 -> 1 (when every_n_train_steps is 0) */
    uint32_t every_n_train_steps;
    bool save_weights_only;
    bool verbose;
} vkt_checkpoint_desc;
VKT_API vkt_callback *vkt_model_checkpoint_create(const vkt_checkpoint_desc *desc);
VKT_API void vkt_model_checkpoint_destroy(vkt_callback *cb);
/*
 * ModelCheckpoint's attributes. Any callback may be passed: for one that is not a
 * ModelCheckpoint the paths are "", the counts 0 and best_score false. Strings stay valid until
 * the callback saves or loads again, or is destroyed.
 */
/** best_model_path ("" before the first save). */
VKT_API const char *vkt_model_checkpoint_best_path(const vkt_callback *cb);
/** last_model_path: the last save_last file ("" when there is none). */
VKT_API const char *vkt_model_checkpoint_last_path(const vkt_callback *cb);
/** best_model_score: false while it is None (no monitor, or nothing saved yet). */
VKT_API bool vkt_model_checkpoint_best_score(const vkt_callback *cb, double *score);
/** kth_best_model_path: the worst of the kept top k ("" before the first save). */
VKT_API const char *vkt_model_checkpoint_kth_best_path(const vkt_callback *cb);
/** best_k_models, path -> score in insertion order: its size, and entry i (NULL past the end;
 * *score may be NULL). A NaN score is stored as the worst value, as Lightning does. */
VKT_API uint32_t vkt_model_checkpoint_best_k_count(const vkt_callback *cb);
VKT_API const char *vkt_model_checkpoint_best_k(const vkt_callback *cb, uint32_t i,
                                                double *score);

/** Lightning's EarlyStopping. */
typedef struct vkt_early_stopping_desc {
    const char *monitor;         /* required */
    float min_delta;
    uint32_t patience;           /* 0 -> 3 */
    vkt_mode mode;
    vkt_flag strict;             /* default on: a missing metric is an error */
    vkt_flag check_finite;       /* default on */
    bool verbose;
} vkt_early_stopping_desc;
VKT_API vkt_callback *vkt_early_stopping_create(const vkt_early_stopping_desc *desc);
VKT_API void vkt_early_stopping_destroy(vkt_callback *cb);
/*
 * EarlyStopping's attributes (any callback may be passed: 0, 0 and NaN for one that is not an
 * EarlyStopping). wait_count: checks without improvement since the best; stopped_epoch: the
 * epoch it stopped the run in, 0 while it has not; best_score: +inf (mode min) / -inf (max)
 * before the first check, as Lightning's tensor starts.
 */
VKT_API uint32_t vkt_early_stopping_wait_count(const vkt_callback *cb);
VKT_API int64_t vkt_early_stopping_stopped_epoch(const vkt_callback *cb);
VKT_API float vkt_early_stopping_best_score(const vkt_callback *cb);

/* ---- checkpoint files ------------------------------------------------------------------------ */

/**
 * Writes a checkpoint dict: its arrays as tensors of a safetensors file (the format torch's
 * safetensors reads; F32, integer arrays as I64) and everything else as JSON in the file's
 * metadata (key "vkt").
 * Written to a temporary file in the same directory, fsync'd, then renamed over `path`: a crash
 * never leaves a partial checkpoint.
 */
VKT_API vkt_status vkt_checkpoint_save(const vkt_dict *ckpt, const char *path);
/** Reads one, or any safetensors file (a flat dict of its tensors). F32, F64, F16, BF16, I64,
 * I32, I16, I8, U8 and BOOL tensors become f32 arrays (the integer ones integer arrays); a value
 * f32 cannot hold (an integer past 2^24, a finite F64 past f32's range) is an error. Errors name
 * the file and what is wrong (truncated, bad header, the tensor, ...). */
VKT_API vkt_status vkt_checkpoint_load(const char *path, vkt_dict **out);

#ifdef __cplusplus
}
#endif
#endif
