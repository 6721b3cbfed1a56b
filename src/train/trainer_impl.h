/*
 * trainer_impl.h — the vkt_trainer struct, shared by trainer.c and log.c only.
 */
#ifndef VKT_TRAINER_IMPL_H
#define VKT_TRAINER_IMPL_H

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
} vkt__result;

typedef struct vkt__results {
    vkt__result *items;
    uint32_t count, cap;
} vkt__results;

typedef struct vkt__store vkt__store; /* store.c */

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
    vkt__mdict callback_metrics, logged_metrics, pbar_metrics;
};

/* store.c */
void vkt__stores_reset_stage(vkt_trainer *t, vkt_stage stage);
void vkt__stores_free(vkt_trainer *t);

/* log.c */
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
