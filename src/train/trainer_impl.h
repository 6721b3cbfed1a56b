/*
 * trainer_impl.h — the vkt_trainer struct and what the trainer's files (trainer.c,
 * trainer_desc.c, hooks.c, closure.c, fit_loop.c, eval_loop.c, trainer_state.c, log.c, store.c)
 * offer each other.
 */
#ifndef VKT_TRAINER_IMPL_H
#define VKT_TRAINER_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "train/train_internal.h"

/* One value of a metric dictionary: a host number, or a pending device value / scale (f32). */
typedef struct vkt__mval {
    char name[104];
    double value;
    bool known;
    vkt_tensor *pending;   /* holds a reference */
    double scale;          /* divisor applied in f32 when read */
} vkt__mval;

typedef struct vkt__mdict {
    vkt__mval *items;      /* insertion order */
    uint32_t count, cap;
} vkt__mdict;

/* One (hook, name) logged by vkt_log during a stage's epoch. */
typedef struct vkt__result {
    char fx[48];
    char name[88];
    bool on_step, on_epoch, prog_bar, logger;
    vkt_reduce_fx reduce;
    vkt_tensor *step_value;  /* the last logged tensor (reference held) */
    bool has_step;
    uint64_t step_id;        /* the batch it was last logged in */
    vkt_tensor *acc;         /* epoch accumulator (device, one f32) */
    double cum_bs;           /* sum of batch sizes (mean) */
    uint32_t count;
    uint32_t order;
    vkt_metric *metric;      /* vkt_log_metric: the epoch value is its compute() (borrowed) */
    uint32_t computed_at;    /* `count` when acc last came from the metric's compute() */
    bool sync_dist;
    vkt_tensor *synced; /* DDP: acc reduced over the ranks (acc itself stays this rank's) */
    double synced_bs;   /* cum_bs summed over the ranks */
    uint32_t synced_at; /* `count` when synced was made */
    bool step_synced;   /* DDP: step_value is the ranks' reduction already */
} vkt__result;

typedef struct vkt__results {
    vkt__result *items;
    uint32_t count, cap;
} vkt__results;

typedef struct vkt__store vkt__store; /* store.c */
/* A loader's shard as it was, while DDP gives it this rank's (vkt__ddp_shard / _unshard). */
typedef struct vkt__shard_saved {
    vkt_loader *loader; /* NULL: nothing to restore */
    uint32_t replicas, rank;
} vkt__shard_saved;

struct vkt_closure {
    vkt_trainer *t;
    const vkt_batch *batch;
    uint32_t batch_idx;
    bool zero_grad;          /* this batch starts an accumulation window */
    bool stepping;           /* the optimizer steps after this closure */
    vkt_outputs *outputs;
    vkt_status status;
    bool ran;
};

struct vkt_trainer {
    vkt_device *dev;
    vkt_trainer_desc d;          /* resolved */
    vkt_clip_algorithm clip_algorithm_given; /* before resolving: DEFAULT when unset */
    vkt_module *m;
    vkt_callback *cbs[VKT_MAX_CALLBACKS + 2];
    uint32_t n_cbs;
    vkt_callback *own_ckpt, *own_pbar; /* defaults we created */
    vkt_logger *loggers[VKT_MAX_LOGGERS];
    uint32_t n_loggers;
    vkt_logger *own_logger;
    char root_dir[1024];
    char log_dir[1024];

    /* state */
    vkt_stage stage;
    const char *fx;              /* the hook running now (log defaults) */
    uint32_t current_epoch;
    uint64_t global_step;
    uint64_t batches_that_stepped;
    bool sanity_checking, should_stop, barebones, fast_dev_run;
    bool in_fit;
    uint32_t num_training_batches, num_val_batches, num_eval_batches;
    uint32_t batch_rows;         /* rows of the current batch (batch_size inference) */
    uint64_t log_step_id;        /* increases per batch: duplicate-log detection */
    uint64_t eval_step_counter;  /* val on_step rows: running batch counter */
    uint32_t result_order;
    vkt_optim_config oc;
    bool have_optimizer;
    vkt_tensor *nan_probe;       /* accumulates loss * 0: NaN once a loss was not finite */
    uint64_t metric_reads;
    vkt_loader *train_loader, *val_loader;

    vkt_stage eval_stage;        /* VALIDATE, TEST or PREDICT while an eval loop runs, else NONE */
    vkt__store **stores;
    uint32_t n_stores, stores_cap;
    uint64_t store_bytes;

    vkt__results train_results, eval_results;
    vkt__results *stage_results; /* the one vkt_log writes to now */
    /* set while a loop's epoch-end hooks run: every metric read merges these results' live epoch
     * values first, as Lightning's callback_metrics / progress_bar_metrics properties do, so a
     * hook sees what an earlier epoch-end hook logged */
    vkt__results *epoch_end_results;
    /* log_gen counts changes to the results and dictionaries; merged_gen / merged_results are
     * what the last merge saw, so a read merges once per change, not once per read */
    uint64_t log_gen, merged_gen;
    const vkt__results *merged_results;
    vkt__mdict callback_metrics, logged_metrics, pbar_metrics;

    /* DDP (ddp.c): the ranks, NULL on one process */
    vkt_dist *dist;
    bool own_dist;                               /* joined MPI_COMM_WORLD for this trainer */
    vkt__shard_saved shard_saved[2];             /* the train and val loaders' own shards */
    struct vkt__reducer *reducer;                /* the gradient buckets, during fit */
};

/* ---- ddp.c ---- */

/* At create: resolves the strategy, joining MPI_COMM_WORLD when DDP has no dist. */
vkt_status vkt__ddp_setup(vkt_trainer *t);
void vkt__ddp_teardown(vkt_trainer *t);
/* With DDP, `l` (NULL: none) yields this rank's shard until vkt__ddp_unshard; the validate,
 * test and predict loops shard their loader, as Lightning's DistributedSampler does. */
vkt_status vkt__ddp_shard(vkt_trainer *t, vkt_loader *l, vkt__shard_saved *saved);
void vkt__ddp_unshard(vkt_trainer *t, vkt__shard_saved *saved);
/* At fit's start, before the batch counts: each rank's shard of the train and val loaders. */
vkt_status vkt__ddp_shard_loaders(vkt_trainer *t);
/* At fit's end: the loaders' shards as they were, and the gradient reducer freed. */
void vkt__ddp_fit_end(vkt_trainer *t);
/* After configure_optimizers (and a checkpoint's weights): the ranks agree on the model and the
 * loop, and start from rank 0's parameters. */
vkt_status vkt__ddp_fit_start(vkt_trainer *t);
/* Around the backward of a stepping batch (DDP's no_sync on the others): _before starts
 * following which gradients are final, _after (given the backward's status) makes every rank's
 * gradients their mean. */
vkt_status vkt__ddp_before_backward(vkt_trainer *t, bool stepping);
vkt_status vkt__ddp_after_backward(vkt_trainer *t, bool stepping, vkt_status backward);

/* ---- grad_reducer.c: the gradient block in buckets, all-reduced during the backward ---- */

typedef struct vkt__reducer vkt__reducer;
vkt_status vkt__reducer_create(vkt_dist *dist, vkt_model *m, size_t bucket_bytes,
                               vkt__reducer **out);
void vkt__reducer_destroy(vkt__reducer *r);
uint32_t vkt__reducer_buckets(const vkt__reducer *r);
/* Before a backward: each bucket is read back as soon as its gradients are final. */
vkt_status vkt__reducer_arm(vkt__reducer *r);
vkt_status vkt__reducer_disarm(vkt__reducer *r);
/* After it: the rest read back, each bucket all-reduced in order and written back as the mean. */
vkt_status vkt__reducer_run(vkt__reducer *r);
/* A sync_dist metric's state summed over the ranks before its compute (torchmetrics' sync),
 * the local state kept in *saved; then _unsync puts it back. No-ops on one process. */
vkt_status vkt__ddp_metric_sync(vkt_trainer *t, vkt_metric *m, int32_t **saved);
vkt_status vkt__ddp_metric_unsync(vkt_trainer *t, vkt_metric *m, int32_t *saved);
/* Before an epoch's values are read: the sync_dist results' reductions over the ranks
 * (vkt__result.synced), in one all-reduce per reduce_fx kind. */
vkt_status vkt__ddp_sync_results(vkt_trainer *t, vkt__results *rs);
/* When a step's values are committed: its sync_dist step values reduced over the ranks (the
 * mean unweighted, as Lightning syncs a step value), in place of this rank's. */
vkt_status vkt__ddp_sync_steps(vkt_trainer *t, vkt__results *rs);

/* ---- store_sync.c ---- */

/* With DDP, at the end of an epoch of `stage` and before its epoch-end hooks: the ranks' stores
 * of the stage become the whole epoch's (concatenations gathered, reductions reduced). */
vkt_status vkt__stores_sync(vkt_trainer *t, vkt_stage stage);

/* ---- trainer_desc.c ---- */

/* Fills the zeros of `d` with Lightning's defaults (vkt_trainer_desc's comment). */
void vkt__trainer_desc_defaults(vkt_device *dev, vkt_trainer_desc *d);
/* Checks a defaulted desc; an error names the flag. */
vkt_status vkt__trainer_desc_validate(const vkt_trainer_desc *d);
/* What fast_dev_run and overfit_batches imply for the other flags, after validation. */
void vkt__trainer_desc_apply_modes(vkt_trainer_desc *d);
/* A batch limit applied to a loader of `n` batches; `what` ("train", "val", ...) for messages. */
vkt_status vkt__limit_batches(const vkt_limit *l, uint32_t n, const char *what, uint32_t *out);

/* ---- hooks.c ---- */

#define VKT__NO_HOOK SIZE_MAX /* an offset for "no callback / no module hook" */

typedef enum vkt__cb_filter {
    VKT__CB_ALL = 0,
    VKT__CB_NON_MONITORING,
    VKT__CB_MONITORING,
} vkt__cb_filter;

/* Whether a dispatch runs in a tensor scope of its own (hooks.c says which hooks do). */
typedef enum vkt__scope {
    VKT__SCOPE_CALLER = 0,
    VKT__SCOPE_OWN,
} vkt__scope;

/* A hook's status: OK and SKIP_EPOCH pass, a failure gets the hook's name in its message. */
vkt_status vkt__hook_check(vkt_trainer *t, const char *fx, const char *who, vkt_status s);
/* `vkt_hook`-typed hooks: the callbacks (`which` of them) at cb_off, then the module's at m_off;
 * VKT__NO_HOOK skips either. Callbacks and module each get a scope when `scope` is OWN. */
vkt_status vkt__hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                      vkt__cb_filter which, vkt__scope scope);
vkt_status vkt__stage_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                            vkt_stage stage, vkt__scope scope);
/* Batch hooks run in the batch's scope. VKT_SKIP_EPOCH from a start hook is returned after every
 * hook ran. */
vkt_status vkt__batch_start_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                                  const vkt_batch *b, uint32_t idx);
vkt_status vkt__train_batch_end_hooks(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                      uint32_t idx);
vkt_status vkt__eval_batch_end_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                                     const vkt_outputs *o, const vkt_batch *b, uint32_t idx);
vkt_status vkt__loss_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off,
                           vkt_tensor *loss);
vkt_status vkt__optimizer_hooks(vkt_trainer *t, const char *fx, size_t cb_off, size_t m_off);
/* The loader's next batch through on_before_batch_transfer, transfer_batch_to_device and
 * on_after_batch_transfer, in the caller's (the batch's) scope. */
vkt_status vkt__next_batch(vkt_trainer *t, vkt_loader *l, vkt_batch *b);
/* A failed run: every callback's on_exception, the loggers saved, the run state reset, the
 * device finished; returns s with the failure's message kept. */
vkt_status vkt__trainer_interrupted(vkt_trainer *t, vkt_status s);

#define VKT__BOTH(t, name, scope)                                                                  \
    vkt__hooks(t, #name, offsetof(vkt_callback, name), offsetof(vkt_module, name), VKT__CB_ALL,     \
               scope)
#define VKT__CBS(t, name, scope)                                                                   \
    vkt__hooks(t, #name, offsetof(vkt_callback, name), VKT__NO_HOOK, VKT__CB_ALL, scope)
#define VKT__MOD(t, name, scope)                                                                   \
    vkt__hooks(t, #name, VKT__NO_HOOK, offsetof(vkt_module, name), VKT__CB_ALL, scope)
#define VKT__STAGE_HOOKS(t, name, stage, scope)                                                    \
    vkt__stage_hooks(t, #name, offsetof(vkt_callback, name), offsetof(vkt_module, name), stage,    \
                     scope)
#define VKT__LOSS_HOOKS(t, name, loss)                                                             \
    vkt__loss_hooks(t, #name, offsetof(vkt_callback, name), offsetof(vkt_module, name), loss)
#define VKT__OPTIMIZER_HOOKS(t, name)                                                              \
    vkt__optimizer_hooks(t, #name, offsetof(vkt_callback, name), offsetof(vkt_module, name))

/* ---- closure.c ---- */

/* The model's gradients to zero (no model: nothing). */
vkt_status vkt__trainer_zero_grad(vkt_trainer *t);
/* LightningModule.optimizer_step (the module's, or optimizer.step(closure)) on a stepping batch;
 * global_step advances when the closure produced a loss. */
vkt_status vkt__trainer_optimizer_step(vkt_trainer *t, vkt_closure *c);
/* _update_learning_rates after a stepping batch. */
vkt_status vkt__trainer_lr_schedulers(vkt_trainer *t, uint32_t batch_idx, bool last);

/* ---- fit_loop.c / eval_loop.c ---- */

/* State of a run reset for `m` and `stage`; the last error cleared. */
void vkt__trainer_reset_run(vkt_trainer *t, vkt_module *m, vkt_stage stage);
/* One evaluation run of `n_batches` (sanity check, in-fit or stand-alone validation, test,
 * predict). `zero_grad_first`: in-fit validation after a batch that stepped. */
vkt_status vkt__run_eval(vkt_trainer *t, vkt_stage stage, vkt_loader *l, uint32_t n_batches,
                         bool zero_grad_first);

/* ---- trainer_state.c (checkpoint dump and restore) ---- */

/* Before configure_optimizers: the checkpoint checked, on_load_checkpoint (module, callbacks),
 * callback states. */
vkt_status vkt__restore_hooks(vkt_trainer *t, vkt_dict *ckpt);
/* After configure_optimizers (Lightning's restore_model): the weights. */
vkt_status vkt__restore_weights(vkt_trainer *t, const vkt_dict *ckpt);
/* After on_fit_start (restore_training_state): optimizer, scheduler, loop counters. */
vkt_status vkt__restore_training_state(vkt_trainer *t, const vkt_dict *ckpt);

/* store.c */
void vkt__stores_reset_stage(vkt_trainer *t, vkt_stage stage);
void vkt__stores_free(vkt_trainer *t);

/* log.c */
/* Something the epoch-end merge reads changed (results or dictionaries). */
static inline void vkt__log_changed(vkt_trainer *t) { t->log_gen++; }
vkt_status vkt__log_train_step(vkt_trainer *t, bool push);
vkt_status vkt__log_eval_step(vkt_trainer *t);
vkt_status vkt__log_train_epoch_live(vkt_trainer *t);
vkt_status vkt__log_train_epoch(vkt_trainer *t);
/* The eval epoch values into callback_metrics / progress_bar_metrics before the epoch-end hooks
 * (no logger row); vkt__log_eval_epoch after them adds what the hooks logged and pushes the row. */
vkt_status vkt__log_eval_epoch_live(vkt_trainer *t);
vkt_status vkt__log_eval_epoch(vkt_trainer *t);
void vkt__log_reset_dicts(vkt_trainer *t);
/* Resets the metric objects logged in these results (after their epoch value was pushed). */
void vkt__log_reset_metrics(vkt__results *r);
void vkt__results_reset(vkt__results *r);
void vkt__results_free(vkt__results *r);
void vkt__mdict_free(vkt__mdict *d);
void vkt__mdict_clear(vkt__mdict *d);

#endif
