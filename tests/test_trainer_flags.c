/*
 * test_trainer_flags.c — the Trainer flags (docs/lightning.md "Trainer flags") and resuming fit
 * from a checkpoint ("Hook order", "Checkpoint contents"), each asserted with the exact counts and
 * values Lightning's loops give (loops/fit_loop.py, loops/training_epoch_loop.py,
 * loops/optimization/automatic.py):
 *   accumulate_grad_batches (zero_grad / optimizer_step batches, global_step, outputs["loss"] / k,
 *   logger rows only on stepping batches, validation inside a window keeps its gradients),
 *   limit_train/val_batches (count, fraction, the error for a fraction giving 0 batches, none),
 *   num_sanity_val_steps, val_check_interval (count, fraction, across epochs, too large),
 *   check_val_every_n_epoch, max_steps / max_epochs / min_epochs / should_stop (from a hook, a
 *   callback and a validation hook), VKT_SKIP_EPOCH, gradient clipping by norm and by value
 *   (against torch's formulas on the host), fast_dev_run, overfit_batches, step-interval scheduler
 *   frequency, and fit(ckpt_path): the load order, the restored state, and a resumed run ending
 *   bit for bit where an uninterrupted one does; missing and corrupt checkpoint files.
 *
 * Fixture: an in-memory dataset whose sample i has first feature byte i (a batch names its
 * samples), a 3-4-2 MLP, loaders of batch size 2, and a module + callback that count and record
 * the hooks these behaviours are about. Progress bar off, files under a temporary directory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data_internal.h"
#include "optim/optim_internal.h"
#include "test_util.h"

/* optimizer.c / loader.c internals: Adam's state for the resume comparison, the shuffle flag */

#define MAXS 64    /* recorded steps / batches */
#define MAXP 1024  /* floats of a parameter / gradient block */
#define MAXG 8     /* recorded gradient snapshots */
#define MAXE 64    /* recorded setup events */

typedef struct at {
    int epoch, batch;
} at;

/* What the module and callback record; reset by every run. */
typedef struct probe {
    /* configuration */
    bool override_opt_step;      /* module optimizer_step (records, and reads grads) */
    bool read_losses;            /* training_step's loss and outputs["loss"] on the host */
    bool read_grads;             /* grads before clipping and after the closure */
    bool read_ids;               /* the sample ids of each training batch */
    bool log_loss;               /* vkt_log("train_loss") in training_step */
    bool snapshot_at_train_start;
    at skip_epoch_at;            /* on_train_batch_start returns VKT_SKIP_EPOCH there */
    at m_stop_at, cb_stop_at;    /* module / callback on_train_batch_end sets should_stop */
    bool stop_on_first_val;      /* callback on_validation_end sets should_stop once */
    bool override_clip;          /* module configure_gradient_clipping records its arguments */
    /* counts */
    int train_steps, val_steps, sanity_steps, before_zero_grads, before_opt_steps, batch_ends,
        epoch_starts, epoch_ends, sanity_starts, sanity_ends, exceptions, val_zero_grads;
    /* records */
    at zero_grad_at[MAXS], opt_step_at[MAXS], val_at[MAXS], sched_at[MAXS];
    int n_zero_grad, n_opt_step, n_val, n_sched;
    float lr_at_step[MAXS];      /* the optimizer's lr at each on_before_optimizer_step */
    int n_lr;
    at last;                     /* the training batch running now */
    uint64_t gs_at_epoch_end[MAXS];
    uint32_t epoch_at_epoch_start[MAXS];
    float loss[MAXS], out_loss[MAXS];
    int ids[MAXS][2];
    float pre[MAXG][MAXP], post[MAXG][MAXP];
    int n_pre, n_post;
    uint32_t grad_n;
    uint32_t fit_start_epoch, train_start_epoch;
    uint64_t fit_start_gs, train_start_gs;
    /* state at on_train_start (resume) */
    float snap_params[MAXP], snap_s1[MAXP], snap_s2[MAXP], snap_lr;
    uint32_t snap_steps;
    char ev[MAXE][32];
    int n_ev;
    int clip_calls;
    float clip_val;
    char clip_algo[16];          /* "(null)" for NULL */
} probe;

static probe P;

static void ev(const char *name)
{
    if (P.n_ev < MAXE) {
        snprintf(P.ev[P.n_ev++], sizeof P.ev[0], "%s", name);
    }
}

static void record(at *list, int *n, int epoch, int batch)
{
    if (*n < MAXS) {
        list[(*n)++] = (at){epoch, batch};
    }
}

static bool at_is(at a, vkt_trainer *t, uint32_t batch)
{
    return a.epoch == (int)vkt_trainer_current_epoch(t) && a.batch == (int)batch;
}

static void reset_probe(void)
{
    memset(&P, 0, sizeof P);
    P.skip_epoch_at = P.m_stop_at = P.cb_stop_at = (at){-1, -1};
}

static void assert_at_list(const at *got, int n_got, const at *want, int n_want, const char *what)
{
    bool same = n_got == n_want;
    for (int i = 0; same && i < n_want; i++) {
        same = got[i].epoch == want[i].epoch && got[i].batch == want[i].batch;
    }
    if (!same) {
        fprintf(stderr, "%s: got", what);
        for (int i = 0; i < n_got; i++) {
            fprintf(stderr, " (%d,%d)", got[i].epoch, got[i].batch);
        }
        fprintf(stderr, "; want");
        for (int i = 0; i < n_want; i++) {
            fprintf(stderr, " (%d,%d)", want[i].epoch, want[i].batch);
        }
        fprintf(stderr, "\n");
    }
    assert_true(same);
}
#define ASSERT_AT(got, n, ...)                                                                     \
    do {                                                                                           \
        const at want_[] = {__VA_ARGS__};                                                          \
        assert_at_list(got, n, want_, (int)(sizeof want_ / sizeof want_[0]), #got);                \
    } while (0)

static float read1(const vkt_tensor *t)
{
    float v = NAN;
    assert_int_equal(vkt_tensor_download(t, &v, sizeof v), VKT_OK);
    return v;
}

static uint32_t read_block(const vkt_tensor *t, float *dst)
{
    uint32_t n = (uint32_t)vkt_tensor_numel(t);
    assert_true(n <= MAXP);
    assert_int_equal(vkt_tensor_download(t, dst, n * sizeof(float)), VKT_OK);
    return n;
}

/* ---- the module ---- */

typedef struct ctx {
    vkt_model *model;
    vkt_optimizer *opt;
    vkt_scheduler *sched;
    vkt_sched_interval interval;
    uint32_t frequency;
} ctx;

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    ctx *c = ud;
    int k = P.train_steps++;
    vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(c->model, b->x), b->y);
    if (!loss) {
        return vkt_last_status();
    }
    if (P.read_losses && k < MAXS) {
        P.loss[k] = read1(loss);
    }
    if (P.read_ids && k < MAXS) {
        float x[2 * 3];
        assert_int_equal(b->rows, 2);
        assert_int_equal(vkt_tensor_download(b->x, x, sizeof x), VKT_OK);
        P.ids[k][0] = (int)lroundf(x[0] * 255.0f); /* feature 0 of sample i is i / 255 */
        P.ids[k][1] = (int)lroundf(x[3] * 255.0f);
    }
    if (P.log_loss) {
        vkt_status s = vkt_log(t, "train_loss", loss, NULL);
        if (s != VKT_OK) {
            return s;
        }
    }
    return vkt_outputs_set(out, "loss", loss);
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)i, (void)dl;
    ctx *c = ud;
    if (vkt_trainer_sanity_checking(t)) {
        P.sanity_steps++;
    } else {
        P.val_steps++;
    }
    return vkt_outputs_set(out, "x", vkt_model_forward(c->model, b->x));
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    ctx *c = ud;
    ev("configure_optimizers");
    oc->optimizer = c->opt;
    oc->model = c->model;
    oc->scheduler = c->sched;
    oc->interval = c->interval;
    oc->frequency = c->frequency;
    return VKT_OK;
}

static vkt_status m_setup(vkt_trainer *t, vkt_stage s, void *ud)
{
    (void)t, (void)s, (void)ud;
    ev("setup");
    return VKT_OK;
}

static vkt_status m_on_fit_start(vkt_trainer *t, void *ud)
{
    (void)ud;
    ev("on_fit_start");
    P.fit_start_epoch = vkt_trainer_current_epoch(t);
    P.fit_start_gs = vkt_trainer_global_step(t);
    return VKT_OK;
}

static vkt_status m_on_train_start(vkt_trainer *t, void *ud)
{
    ctx *c = ud;
    ev("on_train_start");
    P.train_start_epoch = vkt_trainer_current_epoch(t);
    P.train_start_gs = vkt_trainer_global_step(t);
    if (P.snapshot_at_train_start) {
        read_block(vkt_model_param_block(c->model), P.snap_params);
        read_block(vkt__optimizer_state(c->opt, 0), P.snap_s1);
        read_block(vkt__optimizer_state(c->opt, 1), P.snap_s2);
        P.snap_steps = vkt_optimizer_steps(c->opt);
        P.snap_lr = vkt_optimizer_lr(c->opt);
    }
    return VKT_OK;
}

static vkt_status m_on_load_checkpoint(vkt_trainer *t, vkt_dict *ckpt, void *ud)
{
    (void)t, (void)ud;
    assert_true(vkt_dict_has(ckpt, "state_dict"));
    ev("on_load_checkpoint");
    return VKT_OK;
}

static vkt_status m_on_train_epoch_start(vkt_trainer *t, void *ud)
{
    (void)ud;
    if (P.epoch_starts < MAXS) {
        P.epoch_at_epoch_start[P.epoch_starts] = vkt_trainer_current_epoch(t);
    }
    P.epoch_starts++;
    return VKT_OK;
}

static vkt_status m_on_train_epoch_end(vkt_trainer *t, void *ud)
{
    (void)ud;
    if (P.epoch_ends < MAXS) {
        P.gs_at_epoch_end[P.epoch_ends] = vkt_trainer_global_step(t);
    }
    P.epoch_ends++;
    return VKT_OK;
}

static vkt_status m_on_train_batch_start(vkt_trainer *t, const vkt_batch *b, uint32_t i,
                                         uint32_t dl, void *ud)
{
    (void)b, (void)dl, (void)ud;
    P.last = (at){(int)vkt_trainer_current_epoch(t), (int)i};
    return at_is(P.skip_epoch_at, t, i) ? VKT_SKIP_EPOCH : VKT_OK;
}

static vkt_status m_on_train_batch_end(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                       uint32_t i, void *ud)
{
    (void)b, (void)ud;
    if (P.read_losses && P.batch_ends < MAXS) {
        vkt_tensor *l = vkt_outputs_get(o, "loss");
        assert_non_null(l);
        P.out_loss[P.batch_ends] = read1(l);
    }
    P.batch_ends++;
    if (at_is(P.m_stop_at, t, i)) {
        vkt_trainer_set_should_stop(t, true);
    }
    return VKT_OK;
}

static vkt_status m_on_validation_start(vkt_trainer *t, void *ud)
{
    (void)ud;
    if (!vkt_trainer_sanity_checking(t)) {
        record(P.val_at, &P.n_val, P.last.epoch, P.last.batch);
    }
    return VKT_OK;
}

/* Lightning's default (zero_grad), counted */
static vkt_status m_on_validation_model_zero_grad(vkt_trainer *t, void *ud)
{
    (void)t;
    P.val_zero_grads++;
    return vkt_model_zero_grad(((ctx *)ud)->model);
}

static vkt_status m_on_before_zero_grad(vkt_trainer *t, vkt_optimizer *o, void *ud)
{
    (void)t, (void)o, (void)ud;
    P.before_zero_grads++;
    return VKT_OK;
}

static vkt_status m_optimizer_zero_grad(vkt_trainer *t, uint32_t epoch, uint32_t i,
                                        vkt_optimizer *o, void *ud)
{
    (void)t, (void)o;
    record(P.zero_grad_at, &P.n_zero_grad, (int)epoch, (int)i);
    return vkt_model_zero_grad(((ctx *)ud)->model);
}

static vkt_status m_on_before_optimizer_step(vkt_trainer *t, vkt_optimizer *o, void *ud)
{
    (void)t;
    P.before_opt_steps++;
    if (P.n_lr < MAXS) {
        P.lr_at_step[P.n_lr++] = vkt_optimizer_lr(o);
    }
    if (P.read_grads && P.n_pre < MAXG) {
        P.grad_n = read_block(vkt_model_grad_block(((ctx *)ud)->model), P.pre[P.n_pre++]);
    }
    return VKT_OK;
}

/* Lightning's default optimizer_step (closure, then the update), recorded; with read_grads the
 * gradients are read between the closure (which clips) and the update */
static vkt_status m_optimizer_step(vkt_trainer *t, uint32_t epoch, uint32_t i, vkt_optimizer *o,
                                   vkt_closure *c, void *ud)
{
    (void)t;
    record(P.opt_step_at, &P.n_opt_step, (int)epoch, (int)i);
    vkt_status s = vkt_closure_run(c);
    if (s == VKT_OK && P.read_grads && P.n_post < MAXG) {
        read_block(vkt_model_grad_block(((ctx *)ud)->model), P.post[P.n_post++]);
    }
    return s == VKT_OK ? vkt_optimizer_step(o) : s;
}

static vkt_status m_lr_scheduler_step(vkt_trainer *t, vkt_scheduler *s, void *ud)
{
    (void)ud;
    record(P.sched_at, &P.n_sched, (int)vkt_trainer_current_epoch(t), P.last.batch);
    vkt_scheduler_step(s);
    return VKT_OK;
}

/* ---- the callback ---- */

static vkt_status c_setup(vkt_trainer *t, vkt_stage s, void *ud)
{
    (void)t, (void)s, (void)ud;
    ev("C.setup");
    return VKT_OK;
}
static vkt_status c_on_fit_start(vkt_trainer *t, void *ud)
{
    (void)t, (void)ud;
    ev("C.on_fit_start");
    return VKT_OK;
}
static vkt_status c_on_train_start(vkt_trainer *t, void *ud)
{
    (void)t, (void)ud;
    ev("C.on_train_start");
    return VKT_OK;
}
static vkt_status c_on_sanity_check_start(vkt_trainer *t, void *ud)
{
    (void)t, (void)ud;
    P.sanity_starts++;
    return VKT_OK;
}
static vkt_status c_on_sanity_check_end(vkt_trainer *t, void *ud)
{
    (void)t, (void)ud;
    P.sanity_ends++;
    return VKT_OK;
}
static vkt_status c_on_train_batch_end(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                       uint32_t i, void *ud)
{
    (void)o, (void)b, (void)ud;
    if (at_is(P.cb_stop_at, t, i)) {
        vkt_trainer_set_should_stop(t, true);
    }
    return VKT_OK;
}
static vkt_status c_on_validation_end(vkt_trainer *t, void *ud)
{
    (void)ud;
    if (!vkt_trainer_sanity_checking(t) && P.stop_on_first_val) {
        P.stop_on_first_val = false;
        vkt_trainer_set_should_stop(t, true); /* as EarlyStopping checking on validation end */
    }
    return VKT_OK;
}
static vkt_status c_on_load_checkpoint(vkt_trainer *t, vkt_dict *ckpt, void *ud)
{
    (void)t, (void)ckpt, (void)ud;
    ev("C.on_load_checkpoint");
    return VKT_OK;
}
static vkt_status c_state_dict(vkt_trainer *t, vkt_dict *st, void *ud)
{
    (void)t, (void)ud;
    return vkt_dict_set_number(st, "foo", 1);
}
static vkt_status c_load_state_dict(vkt_trainer *t, const vkt_dict *st, void *ud)
{
    (void)t, (void)ud;
    double v = 0;
    assert_true(vkt_dict_get_number(st, "foo", &v));
    assert_true(v == 1.0);
    ev("C.load_state_dict");
    return VKT_OK;
}
static void c_on_exception(vkt_trainer *t, vkt_status s, void *ud)
{
    (void)t, (void)s, (void)ud;
    P.exceptions++;
}

/* ---- a logger that keeps its rows ---- */

typedef struct logged_row {
    char names[8][32];
    double values[8];
    uint32_t n;
    int64_t step, epoch;
} logged_row;

static logged_row rows[MAXS];
static int n_rows;

static vkt_status cap_log_metrics(const char *const *names, const double *values, uint32_t n,
                                  int64_t step, int64_t epoch, void *ud)
{
    (void)ud;
    if (n_rows < MAXS) {
        logged_row *r = &rows[n_rows++];
        r->n = n < 8 ? n : 8;
        for (uint32_t i = 0; i < r->n; i++) {
            snprintf(r->names[i], sizeof r->names[i], "%s", names[i]);
            r->values[i] = values[i];
        }
        r->step = step;
        r->epoch = epoch;
    }
    return VKT_OK;
}

static vkt_logger capture_logger = {.log_metrics = cap_log_metrics};

/* ---- fixture ---- */

static char tmpdir[128];

static vkt_status m_configure_gradient_clipping(vkt_trainer *t, vkt_optimizer *o, float val,
                                                const char *algo, void *ud)
{
    (void)t, (void)o, (void)ud;
    P.clip_calls++;
    P.clip_val = val;
    snprintf(P.clip_algo, sizeof P.clip_algo, "%s", algo ? algo : "(null)");
    return VKT_OK;
}

typedef struct fixture {
    /* in */
    uint32_t train_batches;      /* batches of 2 samples: 0 .. 2 * train_batches - 1 */
    uint32_t val_batches;        /* 0: no validation loader; samples 32 .. */
    uint32_t hidden;             /* 0 -> 4 */
    bool shuffle;                /* training loader */
    bool adam;                   /* else SGD lr 0.1 */
    vkt_sched_type sched;
    uint32_t warmup, t_max;      /* VKT_SCHED_WARMUP_COSINE */
    uint32_t no_decay;           /* non-zero: AdamW lr 0.01, weight decay 0.5 with these groups */
    vkt_sched_interval interval;
    uint32_t frequency;
    uint64_t model_seed;
    vkt_callback *extra_cb;
    /* out */
    uint32_t current_epoch, num_training_batches, num_val_batches;
    uint64_t global_step;
    bool should_stop, shuffle_after;
    float params[MAXP];
    uint32_t n_params;
    char error[1024];
} fixture;

static vkt_status run_fit(fixture *f, vkt_trainer_desc d)
{
    enum { F = 3, N = 64 };
    static uint8_t im[N * F], lb[N];
    for (int i = 0; i < N; i++) {
        im[i * F + 0] = (uint8_t)i;
        im[i * F + 1] = (uint8_t)(i * 29 + 7);
        im[i * F + 2] = (uint8_t)(i * 53 + 3);
        lb[i] = (uint8_t)((i + i / 3) % 2);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, N, F, &ds), VKT_OK);
    uint32_t tidx[32], vidx[32];
    for (uint32_t i = 0; i < 32; i++) {
        tidx[i] = i;
        vidx[i] = 32 + i;
    }
    assert_true(f->train_batches <= 16 && f->val_batches <= 16);
    vkt_loader *tl, *vl = NULL;
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds,
                                                                    .batch_size = 2,
                                                                    .indices = tidx,
                                                                    .count = 2 * f->train_batches,
                                                                    .shuffle = f->shuffle,
                                                                    .seed = 5},
                                       &tl),
                     VKT_OK);
    if (f->val_batches) {
        vkt_loader_desc vd = {.dataset = ds, .batch_size = 2, .indices = vidx,
                              .count = 2 * f->val_batches};
        assert_int_equal(vkt_loader_create(test_dev, &vd, &vl), VKT_OK);
    }
    uint32_t sizes[3] = {F, f->hidden ? f->hidden : 4, 2};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 3, f->model_seed, &md);
    ctx c = {.interval = f->interval, .frequency = f->frequency};
    assert_int_equal(vkt_model_create(test_dev, &md, &c.model), VKT_OK);
    vkt_optim_desc od = f->adam ? (vkt_optim_desc){.type = VKT_OPTIM_ADAM, .lr = 0.01f}
                                : (vkt_optim_desc){.type = VKT_OPTIM_SGD, .lr = 0.1f};
    if (f->no_decay) {
        od = (vkt_optim_desc){.type = VKT_OPTIM_ADAMW, .lr = 0.01f, .weight_decay = 0.5f,
                              .no_decay = f->no_decay};
    }
    assert_int_equal(vkt_optimizer_create(c.model, &od, &c.opt), VKT_OK);
    if (f->sched != VKT_SCHED_NONE) {
        assert_int_equal(vkt_scheduler_create(c.opt, &(vkt_sched_desc){.type = f->sched,
                                                                         .step_size = 1,
                                                                         .gamma = 0.5f,
                                                                         .warmup = f->warmup,
                                                                         .t_max = f->t_max},
                                              &c.sched),
                         VKT_OK);
    }
    vkt_module m = {
        .training_step = training_step,
        .validation_step = validation_step,
        .configure_gradient_clipping = P.override_clip ? m_configure_gradient_clipping : NULL,
        .configure_optimizers = configure_optimizers,
        .setup = m_setup,
        .on_fit_start = m_on_fit_start,
        .on_train_start = m_on_train_start,
        .on_load_checkpoint = m_on_load_checkpoint,
        .on_train_epoch_start = m_on_train_epoch_start,
        .on_train_epoch_end = m_on_train_epoch_end,
        .on_train_batch_start = m_on_train_batch_start,
        .on_train_batch_end = m_on_train_batch_end,
        .on_validation_start = m_on_validation_start,
        .on_validation_model_zero_grad = m_on_validation_model_zero_grad,
        .on_before_zero_grad = m_on_before_zero_grad,
        .optimizer_zero_grad = m_optimizer_zero_grad,
        .on_before_optimizer_step = m_on_before_optimizer_step,
        .optimizer_step = P.override_opt_step ? m_optimizer_step : NULL,
        .lr_scheduler_step = m_lr_scheduler_step,
        .user_data = &c,
    };
    vkt_callback cb = {
        .setup = c_setup,
        .on_fit_start = c_on_fit_start,
        .on_train_start = c_on_train_start,
        .on_sanity_check_start = c_on_sanity_check_start,
        .on_sanity_check_end = c_on_sanity_check_end,
        .on_train_batch_end = c_on_train_batch_end,
        .on_validation_end = c_on_validation_end,
        .on_load_checkpoint = c_on_load_checkpoint,
        .on_exception = c_on_exception,
        .state_dict = c_state_dict,
        .load_state_dict = c_load_state_dict,
        .state_key = "Probe",
        .name = "Probe",
    };
    d.enable_progress_bar = VKT_FLAG_OFF;
    if (!d.default_root_dir) {
        d.default_root_dir = tmpdir;
    }
    if (d.logger == VKT_FLAG_DEFAULT) {
        d.logger = VKT_FLAG_OFF;
    }
    if (d.enable_checkpointing == VKT_FLAG_DEFAULT && !f->extra_cb) {
        d.enable_checkpointing = VKT_FLAG_OFF;
    }
    d.callbacks[0] = &cb;
    d.callbacks[1] = f->extra_cb;
    n_rows = 0;
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev, &d, &t), VKT_OK);
    vkt_status s = vkt_trainer_fit(t, &m, tl, vl);
    snprintf(f->error, sizeof f->error, "%s", s == VKT_OK ? "" : vkt_last_error());
    f->current_epoch = vkt_trainer_current_epoch(t);
    f->global_step = vkt_trainer_global_step(t);
    f->num_training_batches = vkt_trainer_num_training_batches(t);
    f->num_val_batches = vkt_trainer_num_val_batches(t);
    f->should_stop = vkt_trainer_should_stop(t);
    f->n_params = read_block(vkt_model_param_block(c.model), f->params);
    f->shuffle_after = vkt__loader_set_shuffle(tl, f->shuffle);
    vkt_trainer_destroy(t);
    vkt_scheduler_destroy(c.sched);
    vkt_optimizer_destroy(c.opt);
    vkt_model_destroy(c.model);
    vkt_loader_destroy(tl);
    vkt_loader_destroy(vl);
    vkt_dataset_destroy(ds);
    return s;
}

/* fit that must succeed */
static void fit_ok(fixture *f, vkt_trainer_desc d)
{
    vkt_status s = run_fit(f, d);
    if (s != VKT_OK) {
        fprintf(stderr, "fit: %s\n", f->error);
    }
    assert_int_equal(s, VKT_OK);
}

static vkt_limit count(int64_t n) { return (vkt_limit){.count = n}; }
static vkt_limit fraction(double f) { return (vkt_limit){.fraction = f}; }

/* ---- accumulate_grad_batches (docs/lightning.md: "Hook order", "Logging", "metrics.csv") ---- */

/* The train-step rows: only "train_loss", one per stepping batch, step = stepping batches so far,
 * value = that batch's raw (unnormalized) loss. */
static void assert_step_rows(const int *stepping_k, const int *epochs, int n)
{
    assert_int_equal(n_rows, n);
    for (int r = 0; r < n; r++) {
        assert_int_equal(rows[r].n, 1);
        assert_string_equal(rows[r].names[0], "train_loss");
        assert_int_equal(rows[r].step, r);
        assert_int_equal(rows[r].epoch, epochs[r]);
        assert_true(rows[r].values[0] == (double)P.loss[stepping_k[r]]);
    }
}

static void accumulate_2_with_4_batches(void **state)
{
    (void)state;
    reset_probe();
    P.override_opt_step = P.read_losses = P.log_loss = true;
    fixture f = {.train_batches = 4};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 2, .accumulate_grad_batches = 2,
                                  .log_every_n_steps = 1, .loggers = {&capture_logger}});
    /* zero_grad when batch_idx % 2 == 0, steps when (batch_idx + 1) % 2 == 0 */
    ASSERT_AT(P.zero_grad_at, P.n_zero_grad, {0, 0}, {0, 2}, {1, 0}, {1, 2});
    assert_int_equal(P.before_zero_grads, 4);
    ASSERT_AT(P.opt_step_at, P.n_opt_step, {0, 1}, {0, 3}, {1, 1}, {1, 3});
    assert_int_equal(P.before_opt_steps, 4);
    assert_int_equal(f.global_step, 4);
    assert_int_equal(P.gs_at_epoch_end[0], 2);
    assert_int_equal(P.gs_at_epoch_end[1], 4);
    /* outputs["loss"] is training_step's loss / k (an exact f32 halving) */
    assert_int_equal(P.train_steps, 8);
    assert_int_equal(P.batch_ends, 8);
    for (int k = 0; k < 8; k++) {
        assert_true(P.loss[k] > 0.0f);
        assert_true(P.out_loss[k] == P.loss[k] * 0.5f);
    }
    /* logger rows on batches 1, 3 of each epoch, steps 0..3 */
    assert_step_rows((const int[]){1, 3, 5, 7}, (const int[]){0, 0, 1, 1}, 4);
}

static void accumulate_2_with_5_batches(void **state)
{
    (void)state;
    reset_probe();
    P.override_opt_step = P.read_losses = P.log_loss = true;
    fixture f = {.train_batches = 5};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1, .accumulate_grad_batches = 2,
                                  .log_every_n_steps = 1, .loggers = {&capture_logger}});
    /* the last batch starts a window (4 % 2 == 0) and steps (last batch of the epoch) */
    ASSERT_AT(P.zero_grad_at, P.n_zero_grad, {0, 0}, {0, 2}, {0, 4});
    ASSERT_AT(P.opt_step_at, P.n_opt_step, {0, 1}, {0, 3}, {0, 4});
    assert_int_equal(P.before_opt_steps, 3);
    assert_int_equal(f.global_step, 3);
    assert_int_equal(P.batch_ends, 5);
    for (int k = 0; k < 5; k++) {
        assert_true(P.out_loss[k] == P.loss[k] * 0.5f); /* / k even for the short last window */
    }
    assert_step_rows((const int[]){1, 3, 4}, (const int[]){0, 0, 0}, 3);
}

/* Validation inside an accumulation window must not erase the window's gradients (Lightning's
 * on_advance_end calls on_validation_model_zero_grad only when not accumulating; its
 * test_validation_during_gradient_accumulation_window): validating after every batch trains
 * exactly as not validating at all. */
static void validation_inside_an_accumulation_window_keeps_gradients(void **state)
{
    (void)state;
    reset_probe();
    fixture plain = {.train_batches = 4, .model_seed = 3};
    fit_ok(&plain, (vkt_trainer_desc){.max_epochs = 1, .accumulate_grad_batches = 2});
    reset_probe();
    fixture f = {.train_batches = 4, .val_batches = 1, .model_seed = 3};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1, .accumulate_grad_batches = 2,
                                  .val_check_interval = count(1)});
    ASSERT_AT(P.val_at, P.n_val, {0, 0}, {0, 1}, {0, 2}, {0, 3});
    assert_int_equal(P.val_zero_grads, 2); /* after the stepping batches 1 and 3 only */
    assert_int_equal(f.n_params, plain.n_params);
    assert_memory_equal(f.params, plain.params, f.n_params * sizeof(float));
}

/* ---- limit_train_batches / limit_val_batches ---- */

static void limit_batches_as_counts(void **state)
{
    (void)state;
    reset_probe();
    fixture f = {.train_batches = 5, .val_batches = 4};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1, .limit_train_batches = count(3),
                                  .limit_val_batches = count(2)});
    assert_int_equal(f.num_training_batches, 3);
    assert_int_equal(f.num_val_batches, 2);
    assert_int_equal(P.train_steps, 3);
    assert_int_equal(f.global_step, 3);
    assert_int_equal(P.sanity_steps, 2);
    assert_int_equal(P.val_steps, 2);
    ASSERT_AT(P.val_at, P.n_val, {0, 2}); /* at the last of the 3 batches */
    /* a count above the loader's batches: min(len, n) */
    reset_probe();
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1, .limit_train_batches = count(9),
                                  .limit_val_batches = count(9)});
    assert_int_equal(f.num_training_batches, 5);
    assert_int_equal(f.num_val_batches, 4);
    assert_int_equal(P.train_steps, 5);
    assert_int_equal(P.val_steps, 4);
}

static void limit_batches_as_fractions(void **state)
{
    (void)state;
    reset_probe();
    fixture f = {.train_batches = 5, .val_batches = 4};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1, .limit_train_batches = fraction(0.5),
                                  .limit_val_batches = fraction(0.75)});
    assert_int_equal(f.num_training_batches, 2); /* int(5 * 0.5) */
    assert_int_equal(f.num_val_batches, 3);      /* int(4 * 0.75) */
    assert_int_equal(P.train_steps, 2);
    assert_int_equal(P.sanity_steps, 2);
    assert_int_equal(P.val_steps, 3);
    ASSERT_AT(P.val_at, P.n_val, {0, 1});
}

static void limit_fraction_giving_no_batch_is_an_error(void **state)
{
    (void)state;
    struct {
        vkt_trainer_desc d;
        const char *flag;
    } cases[] = {
        {{.limit_train_batches = fraction(0.1)}, "limit_train_batches"}, /* 0.1 * 5 < 1 */
        {{.limit_val_batches = fraction(0.2)}, "limit_val_batches"},     /* 0.2 * 4 < 1 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset_probe();
        fixture f = {.train_batches = 5, .val_batches = 4};
        assert_int_equal(run_fit(&f, cases[i].d), VKT_INVALID_ARGUMENT);
        if (!strstr(f.error, cases[i].flag) || !strstr(f.error, "< 1")) {
            fprintf(stderr, "error: %s\n", f.error);
            fail();
        }
        /* (Lightning raises the train limit's error after its sanity check, vkt before any
         * loop; neither trains) */
        assert_int_equal(P.train_steps, 0);
        assert_int_equal(P.exceptions, 1);
    }
}

static void limit_val_none_disables_validation_and_sanity_check(void **state)
{
    (void)state;
    reset_probe();
    fixture f = {.train_batches = 3, .val_batches = 4};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 2, .limit_val_batches = {.none = true}});
    assert_int_equal(f.num_val_batches, 0);
    assert_int_equal(P.sanity_starts, 0);
    assert_int_equal(P.sanity_steps, 0);
    assert_int_equal(P.val_steps, 0);
    assert_int_equal(P.n_val, 0);
    assert_int_equal(P.train_steps, 6);
}

/* FitLoop.skip: with no training batches the training loop does not run at all (no
 * on_train_start, epochs or on_train_end), whatever max_epochs says; the sanity check does. */
static void limit_train_none_skips_the_training_loop(void **state)
{
    (void)state;
    reset_probe();
    fixture f = {.train_batches = 3, .val_batches = 2};
    fit_ok(&f, (vkt_trainer_desc){.limit_train_batches = {.none = true}}); /* max_epochs 1000 */
    assert_int_equal(f.num_training_batches, 0);
    assert_int_equal(P.sanity_steps, 2);
    assert_int_equal(P.epoch_starts, 0);
    assert_int_equal(P.train_steps, 0);
    assert_int_equal(P.n_val, 0);
    assert_int_equal(f.current_epoch, 0);
    for (int i = 0; i < P.n_ev; i++) {
        assert_true(strstr(P.ev[i], "on_train_start") == NULL);
    }
}

/* ---- num_sanity_val_steps ---- */

static void sanity_val_steps_default_all_and_disabled(void **state)
{
    (void)state;
    struct {
        vkt_trainer_desc d;
        int steps, starts;
    } cases[] = {
        {{.max_epochs = 1}, 2, 1},                                      /* default: 2 */
        {{.max_epochs = 1, .num_sanity_val_steps = VKT_UNLIMITED}, 4, 1}, /* all */
        {{.max_epochs = 1, .num_sanity_val_steps = 3}, 3, 1},
        {{.max_epochs = 1, .disable_sanity_check = true}, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset_probe();
        fixture f = {.train_batches = 1, .val_batches = 4};
        fit_ok(&f, cases[i].d);
        assert_int_equal(P.sanity_steps, cases[i].steps);
        assert_int_equal(P.sanity_starts, cases[i].starts);
        assert_int_equal(P.sanity_ends, cases[i].starts);
        assert_int_equal(P.val_steps, 4); /* the epoch's validation is unaffected */
    }
}

/* ---- val_check_interval / check_val_every_n_epoch ---- */

static void val_check_interval_as_a_count(void **state)
{
    (void)state;
    /* every 2 batches of 5: after batches 1 and 3, not at the epoch end */
    reset_probe();
    fixture f = {.train_batches = 5, .val_batches = 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 2, .val_check_interval = count(2)});
    ASSERT_AT(P.val_at, P.n_val, {0, 1}, {0, 3}, {1, 1}, {1, 3});
    assert_int_equal(P.val_steps, 4);
    /* check_val_every_n_epoch VKT_UNLIMITED: counted over all batches (total_batch_idx) */
    reset_probe();
    fixture g = {.train_batches = 2, .val_batches = 1};
    fit_ok(&g, (vkt_trainer_desc){.max_epochs = 3, .val_check_interval = count(3),
                                  .check_val_every_n_epoch = VKT_UNLIMITED});
    ASSERT_AT(P.val_at, P.n_val, {1, 0}, {2, 1});
    /* longer than an epoch while validating per epoch: Lightning's ValueError */
    reset_probe();
    assert_int_equal(run_fit(&f, (vkt_trainer_desc){.max_epochs = 1,
                                                    .val_check_interval = count(6)}),
                     VKT_INVALID_ARGUMENT);
    if (!strstr(f.error, "val_check_interval (6)") || !strstr(f.error, "training batches (5)")) {
        fprintf(stderr, "error: %s\n", f.error);
        fail();
    }
    assert_int_equal(P.train_steps, 0);
}

static void val_check_interval_as_a_fraction(void **state)
{
    (void)state;
    reset_probe();
    fixture f = {.train_batches = 5, .val_batches = 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1, .val_check_interval = fraction(0.5)});
    ASSERT_AT(P.val_at, P.n_val, {0, 1}, {0, 3}); /* every max(1, int(5 * 0.5)) = 2 batches */
    reset_probe();
    fixture g = {.train_batches = 4, .val_batches = 1};
    fit_ok(&g, (vkt_trainer_desc){.max_epochs = 1, .val_check_interval = fraction(0.25)});
    ASSERT_AT(P.val_at, P.n_val, {0, 0}, {0, 1}, {0, 2}, {0, 3});
    reset_probe();
    fixture h = {.train_batches = 3, .val_batches = 1};
    fit_ok(&h, (vkt_trainer_desc){.max_epochs = 1, .val_check_interval = fraction(0.2)});
    ASSERT_AT(P.val_at, P.n_val, {0, 0}, {0, 1}, {0, 2}); /* max(1, int(0.6)) = 1 */
}

static void check_val_every_2_epochs(void **state)
{
    (void)state;
    reset_probe();
    fixture f = {.train_batches = 2, .val_batches = 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 4, .check_val_every_n_epoch = 2});
    ASSERT_AT(P.val_at, P.n_val, {1, 1}, {3, 1}); /* (epoch + 1) % 2 == 0 */
    assert_int_equal(P.sanity_starts, 1);          /* the sanity check still runs */
}

/* ---- max_steps / max_epochs / min_epochs / should_stop ---- */

static void max_steps_stops_mid_epoch(void **state)
{
    (void)state;
    reset_probe();
    fixture f = {.train_batches = 4, .val_batches = 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 10, .max_steps = 6});
    assert_int_equal(P.train_steps, 6);
    assert_int_equal(f.global_step, 6);
    /* the stopped epoch still ends (on_train_epoch_end) and counts */
    assert_int_equal(P.epoch_starts, 2);
    assert_int_equal(P.epoch_ends, 2);
    assert_int_equal(P.gs_at_epoch_end[0], 4);
    assert_int_equal(P.gs_at_epoch_end[1], 6);
    assert_int_equal(f.current_epoch, 2);
    /* batch 1 of epoch 1 is not a validation batch: no validation there */
    ASSERT_AT(P.val_at, P.n_val, {0, 3});
    /* max_steps alone lifts the 1000-epoch default */
    reset_probe();
    fixture g = {.train_batches = 2};
    vkt_trainer_desc d = {.max_steps = 5};
    fit_ok(&g, d);
    assert_int_equal(P.train_steps, 5);
    assert_int_equal(g.current_epoch, 3);
}

static void max_epochs_and_its_default(void **state)
{
    (void)state;
    reset_probe();
    fixture f = {.train_batches = 2, .val_batches = 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 3});
    assert_int_equal(P.epoch_starts, 3);
    assert_int_equal(P.epoch_ends, 3);
    assert_int_equal(f.current_epoch, 3);
    assert_int_equal(f.global_step, 6);
    assert_int_equal(P.n_val, 3);
    for (uint32_t e = 0; e < 3; e++) {
        assert_int_equal(P.epoch_at_epoch_start[e], e);
    }
    /* the resolved defaults */
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev, &(vkt_trainer_desc){.logger = VKT_FLAG_OFF,
                                                                       .enable_checkpointing =
                                                                           VKT_FLAG_OFF,
                                                                       .enable_progress_bar =
                                                                           VKT_FLAG_OFF},
                                        &t),
                     VKT_OK);
    assert_int_equal(vkt_trainer_query_desc(t)->max_epochs, 1000);
    assert_int_equal(vkt_trainer_query_desc(t)->max_steps, VKT_UNLIMITED);
    assert_true(vkt_trainer_query_desc(t)->ddp_bucket_bytes == (size_t)25 << 20);
    assert_int_equal(vkt_trainer_query_desc(t)->strategy, VKT_STRATEGY_SINGLE);
    vkt_trainer_destroy(t);
    assert_int_equal(vkt_trainer_create(test_dev, &(vkt_trainer_desc){.max_steps = 7,
                                                                       .logger = VKT_FLAG_OFF,
                                                                       .enable_checkpointing =
                                                                           VKT_FLAG_OFF,
                                                                       .enable_progress_bar =
                                                                           VKT_FLAG_OFF},
                                        &t),
                     VKT_OK);
    assert_int_equal(vkt_trainer_query_desc(t)->max_epochs, VKT_UNLIMITED);
    vkt_trainer_destroy(t);
}

static void min_epochs_defers_should_stop_from_a_hook(void **state)
{
    (void)state;
    /* should_stop in epoch 0: ignored until 3 epochs are done, then the fit ends; validation
     * runs only at its usual batches meanwhile (the loop may not stop yet) */
    reset_probe();
    P.m_stop_at = (at){0, 0};
    fixture f = {.train_batches = 4, .val_batches = 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 6, .min_epochs = 3});
    assert_int_equal(P.train_steps, 12);
    assert_int_equal(f.current_epoch, 3);
    assert_int_equal(P.epoch_ends, 3);
    ASSERT_AT(P.val_at, P.n_val, {0, 3}, {1, 3}, {2, 3});
    assert_true(f.should_stop);
    /* min_epochs 1: during epoch 0 only 0 epochs are processed, so epoch 0 still completes */
    reset_probe();
    P.m_stop_at = (at){0, 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 6, .min_epochs = 1});
    assert_int_equal(P.train_steps, 4);
    assert_int_equal(f.current_epoch, 1);
    ASSERT_AT(P.val_at, P.n_val, {0, 3});
}

static void should_stop_from_a_callback(void **state)
{
    (void)state;
    /* set after batch 1 of epoch 1: validation runs at once (Lightning validates when asked to
     * stop), on_train_epoch_end still runs, no further epoch */
    reset_probe();
    P.cb_stop_at = (at){1, 1};
    fixture f = {.train_batches = 4, .val_batches = 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 5});
    assert_int_equal(P.train_steps, 6);
    assert_int_equal(f.global_step, 6);
    assert_int_equal(P.epoch_ends, 2);
    assert_int_equal(f.current_epoch, 2);
    ASSERT_AT(P.val_at, P.n_val, {0, 3}, {1, 1});
    /* set in on_validation_end of a mid-epoch validation (EarlyStopping's place when validation
     * is not at epoch end): the epoch ends right after that batch */
    reset_probe();
    P.stop_on_first_val = true;
    fixture g = {.train_batches = 6, .val_batches = 1};
    fit_ok(&g, (vkt_trainer_desc){.max_epochs = 5, .val_check_interval = count(2)});
    assert_int_equal(P.train_steps, 2);
    ASSERT_AT(P.val_at, P.n_val, {0, 1});
    assert_int_equal(P.epoch_ends, 1);
    assert_int_equal(g.current_epoch, 1);
}

static void skip_epoch_from_on_train_batch_start(void **state)
{
    (void)state;
    reset_probe();
    P.skip_epoch_at = (at){0, 2};
    fixture f = {.train_batches = 4, .val_batches = 1};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 2});
    /* epoch 0: batches 0, 1, then nothing (no step, no batch end, no validation) */
    assert_int_equal(P.train_steps, 2 + 4);
    assert_int_equal(P.batch_ends, 2 + 4);
    assert_int_equal(f.global_step, 6);
    assert_int_equal(P.epoch_ends, 2);
    assert_int_equal(P.gs_at_epoch_end[0], 2);
    assert_int_equal(P.gs_at_epoch_end[1], 6);
    assert_int_equal(f.current_epoch, 2);
    ASSERT_AT(P.val_at, P.n_val, {1, 3});
}

/* ---- gradient clipping (after on_before_optimizer_step, inside the closure) ---- */

static void gradient_clip_by_norm(void **state)
{
    (void)state;
    const float clip = 0.05f;
    reset_probe();
    P.override_opt_step = P.read_grads = true;
    fixture f = {.train_batches = 2};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 2, .gradient_clip_val = clip});
    assert_int_equal(P.n_pre, 4);
    assert_int_equal(P.n_post, 4);
    for (int g = 0; g < 4; g++) {
        /* torch.nn.utils.clip_grad_norm_: coef = max_norm / (total_norm + 1e-6), clamped to 1 */
        double ss = 0;
        for (uint32_t i = 0; i < P.grad_n; i++) {
            ss += (double)P.pre[g][i] * P.pre[g][i];
        }
        float norm = (float)sqrt(ss);
        assert_true(norm > 2 * clip); /* clipping changes every gradient by over 2x */
        float coef = clip / (norm + 1e-6f);
        for (uint32_t i = 0; i < P.grad_n; i++) {
            float want = P.pre[g][i] * coef;
            /* The device's norm is an f32 tree sum of ~30 squares against a double sum here:
             * a few ulp of relative difference, carried into every clipped value. */
            if (fabsf(P.post[g][i] - want) > 1e-6f * fabsf(want)) {
                fprintf(stderr, "step %d grad %u: %.9g, want %.9g\n", g, i, (double)P.post[g][i],
                        (double)want);
                fail();
            }
        }
    }
}

static void gradient_clip_by_value(void **state)
{
    (void)state;
    const float clip = 0.02f;
    reset_probe();
    P.override_opt_step = P.read_grads = true;
    fixture f = {.train_batches = 2};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 2, .gradient_clip_val = clip,
                                  .gradient_clip_algorithm = VKT_CLIP_VALUE});
    assert_int_equal(P.n_post, 4);
    int above = 0, inside = 0;
    for (int g = 0; g < 4; g++) {
        for (uint32_t i = 0; i < P.grad_n; i++) {
            float v = P.pre[g][i];
            float want = v > clip ? clip : v < -clip ? -clip : v; /* clip_grad_value_ */
            above += fabsf(v) > clip;
            inside += v != 0.0f && fabsf(v) < clip;
            assert_true(P.post[g][i] == want); /* a clamp is exact */
        }
    }
    assert_true(above > 0 && inside > 0); /* both sides of the clip value were exercised */
}

/* configure_gradient_clipping gets the flags as given: Lightning passes
 * gradient_clip_val=None, gradient_clip_algorithm=None when they are unset (NaN and NULL here). */
static void configure_gradient_clipping_gets_unset_flags(void **state)
{
    (void)state;
    struct {
        float val;
        vkt_clip_algorithm algo;
        bool val_unset;
        float want_val;
        const char *want_algo;
    } cases[] = {
        {0, VKT_CLIP_DEFAULT, true, 0, "(null)"},
        {0.5f, VKT_CLIP_DEFAULT, false, 0.5f, "(null)"},
        {0, VKT_CLIP_VALUE, true, 0, "value"},
        {0.25f, VKT_CLIP_NORM, false, 0.25f, "norm"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset_probe();
        P.override_clip = true;
        fixture f = {.train_batches = 2};
        fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1, .gradient_clip_val = cases[i].val,
                                      .gradient_clip_algorithm = cases[i].algo});
        assert_int_equal(P.clip_calls, 2); /* once per optimizer step */
        if (cases[i].val_unset) {
            assert_true(isnan(P.clip_val));
        } else {
            assert_true(P.clip_val == cases[i].want_val);
        }
        assert_string_equal(P.clip_algo, cases[i].want_algo);
    }
}

/* ---- fast_dev_run / overfit_batches ---- */

static bool dir_is_empty(const char *path)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' 2>/dev/null)\"", path);
    return system(cmd) == 0;
}

static void fast_dev_run_one_batch_no_files(void **state)
{
    (void)state;
    char root[256], ckdir[300];
    snprintf(root, sizeof root, "%s/fast_dev_run", tmpdir);
    assert_int_equal(mkdir(root, 0700), 0);
    /* the defaults: a CSV logger and a ModelCheckpoint, both skipped */
    reset_probe();
    fixture f = {.train_batches = 4, .val_batches = 3};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 5, .fast_dev_run = 1, .default_root_dir = root,
                                  .logger = VKT_FLAG_ON, .enable_checkpointing = VKT_FLAG_ON});
    assert_int_equal(P.train_steps, 1);
    assert_int_equal(P.sanity_steps, 0);
    assert_int_equal(P.val_steps, 1);
    assert_int_equal(P.epoch_ends, 1);
    assert_int_equal(f.current_epoch, 1);
    assert_int_equal(f.global_step, 1);
    assert_true(dir_is_empty(root));
    /* a user ModelCheckpoint(save_last) and logger: nothing saved, no rows (though train_loss
     * is logged at every step, which fast_dev_run would push to any real logger) */
    reset_probe();
    P.log_loss = true;
    snprintf(ckdir, sizeof ckdir, "%s/ckpts", root);
    vkt_callback *mc = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){.dirpath = ckdir,
                                                                          .save_last = true});
    assert_non_null(mc);
    fixture g = {.train_batches = 4, .val_batches = 3, .extra_cb = mc};
    fit_ok(&g, (vkt_trainer_desc){.fast_dev_run = 2, .default_root_dir = root,
                                  .loggers = {&capture_logger}});
    vkt_model_checkpoint_destroy(mc);
    assert_int_equal(P.train_steps, 2);
    assert_int_equal(P.val_steps, 2);
    assert_int_equal(g.current_epoch, 1);
    assert_int_equal(n_rows, 0);
    assert_true(dir_is_empty(root));
}

static void overfit_batches_repeats_the_first_batches_unshuffled(void **state)
{
    (void)state;
    /* control: this loader does shuffle */
    reset_probe();
    P.read_ids = true;
    fixture c = {.train_batches = 4, .shuffle = true};
    fit_ok(&c, (vkt_trainer_desc){.max_epochs = 1});
    bool sequential = true;
    for (int k = 0; k < 4; k++) {
        sequential &= P.ids[k][0] == 2 * k && P.ids[k][1] == 2 * k + 1;
    }
    assert_false(sequential);
    /* overfit_batches 2: batches {0, 1} and {2, 3} every epoch; val limited to 2 batches too */
    reset_probe();
    P.read_ids = true;
    fixture f = {.train_batches = 4, .val_batches = 3, .shuffle = true};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 3, .overfit_batches = count(2)});
    assert_int_equal(f.num_training_batches, 2);
    assert_int_equal(f.num_val_batches, 2);
    assert_int_equal(P.train_steps, 6);
    for (int k = 0; k < 6; k++) {
        int b = k % 2;
        assert_int_equal(P.ids[k][0], 2 * b);
        assert_int_equal(P.ids[k][1], 2 * b + 1);
    }
    assert_int_equal(P.sanity_steps, 2);
    assert_int_equal(P.val_steps, 6);
    assert_true(f.shuffle_after); /* the loader's own setting is back after fit */
}

/* ---- schedulers: step interval with a frequency ---- */

static void step_scheduler_frequency_counts_batches_of_the_epoch(void **state)
{
    (void)state;
    /* _update_learning_rates("step"): (batch_idx + 1) % frequency == 0, batch_idx within the
     * epoch: batch 1 of each 3-batch epoch (global steps 2 and 5) */
    reset_probe();
    fixture f = {.train_batches = 3, .sched = VKT_SCHED_STEP, .interval = VKT_INTERVAL_STEP,
                 .frequency = 2};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 2});
    ASSERT_AT(P.sched_at, P.n_sched, {0, 1}, {1, 1});
    /* epoch interval, frequency 2: after the last batch of epochs 1 and 3 */
    reset_probe();
    fixture g = {.train_batches = 2, .sched = VKT_SCHED_STEP, .interval = VKT_INTERVAL_EPOCH,
                 .frequency = 2};
    fit_ok(&g, (vkt_trainer_desc){.max_epochs = 4});
    ASSERT_AT(P.sched_at, P.n_sched, {1, 1}, {3, 1});
}

/* ---- fit(ckpt_path) ---- */

static void resume_from_last_ckpt_equals_an_uninterrupted_run(void **state)
{
    (void)state;
    enum { NB = 3 };
    char dir[256], last[320];
    snprintf(dir, sizeof dir, "%s/resume", tmpdir);
    snprintf(last, sizeof last, "%s/last.ckpt", dir);

    /* 4 epochs straight through (Adam, StepLR per epoch, a shuffling loader) */
    reset_probe();
    fixture straight = {.train_batches = NB, .val_batches = 2, .shuffle = true, .adam = true,
                        .sched = VKT_SCHED_STEP, .model_seed = 7};
    fit_ok(&straight, (vkt_trainer_desc){.max_epochs = 4});

    /* 2 epochs saving last.ckpt, then the state at save time */
    reset_probe();
    vkt_callback *mc = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){.dirpath = dir,
                                                                          .save_last = true});
    assert_non_null(mc);
    fixture first = straight;
    first.extra_cb = mc;
    fit_ok(&first, (vkt_trainer_desc){.max_epochs = 2});
    vkt_model_checkpoint_destroy(mc);
    assert_int_equal(P.sanity_starts, 1);
    ASSERT_AT(P.val_at, P.n_val, {0, NB - 1}, {1, NB - 1});
    static const char *const fresh[] = {"C.setup", "setup", "configure_optimizers",
                                        "C.on_fit_start", "on_fit_start", "C.on_train_start",
                                        "on_train_start"};
    assert_int_equal(P.n_ev, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(P.ev[i], fresh[i]);
    }
    /* what the second run must find at on_train_start: read back from last.ckpt's source, the
     * first run's final state (nothing changes after the save in on_train_epoch_end) */
    vkt_dict *ck;
    assert_int_equal(vkt_checkpoint_load(last, &ck), VKT_OK);
    double epoch = -1, gs = -1, steps = -1, lr = -1;
    assert_true(vkt_dict_get_number(ck, "epoch", &epoch));
    assert_true(vkt_dict_get_number(ck, "global_step", &gs));
    const vkt_dict *os = vkt_dict_get_child(vkt_dict_get_child(ck, "optimizer_states"), "0");
    assert_non_null(os);
    assert_true(vkt_dict_get_number(os, "step", &steps));
    assert_true(vkt_dict_get_number(os, "lr", &lr));
    int nd1, nd2;
    int64_t shape1[VKT_MAX_DIMS], shape2[VKT_MAX_DIMS];
    const float *m1 = vkt_dict_get_floats(os, "exp_avg", &nd1, shape1);
    const float *m2 = vkt_dict_get_floats(os, "exp_avg_sq", &nd2, shape2);
    assert_non_null(m1);
    assert_non_null(m2);
    assert_int_equal(nd1, 1);
    assert_int_equal(nd2, 1);
    assert_int_equal(shape1[0], first.n_params); /* the whole state block, as the parameters */
    assert_int_equal(shape2[0], first.n_params);
    assert_true(epoch == 1 && gs == 2 * NB && steps == 2 * NB);
    float saved_params[MAXP];
    memcpy(saved_params, first.params, sizeof saved_params);

    /* resume: a differently initialised model and a fresh optimizer, max_epochs 4 */
    reset_probe();
    P.snapshot_at_train_start = true;
    mc = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){.dirpath = dir, .save_last = true});
    fixture second = straight;
    second.model_seed = 99;
    second.extra_cb = mc;
    fit_ok(&second, (vkt_trainer_desc){.max_epochs = 4, .ckpt_path = last});
    vkt_model_checkpoint_destroy(mc);
    /* resuming: module on_load_checkpoint, callbacks' on_load_checkpoint, their
     * load_state_dict, then configure_optimizers; no sanity check */
    static const char *const resumed[] = {
        "C.setup",         "setup",           "on_load_checkpoint", "C.on_load_checkpoint",
        "C.load_state_dict", "configure_optimizers", "C.on_fit_start", "on_fit_start",
        "C.on_train_start", "on_train_start"};
    if (P.n_ev != 10) {
        for (int i = 0; i < P.n_ev; i++) {
            fprintf(stderr, "  %s\n", P.ev[i]);
        }
    }
    assert_int_equal(P.n_ev, 10);
    for (int i = 0; i < 10; i++) {
        assert_string_equal(P.ev[i], resumed[i]);
    }
    assert_int_equal(P.sanity_starts, 0);
    assert_int_equal(P.sanity_steps, 0);
    /* the loop state is restored after on_fit_start (restore_training_state) */
    assert_int_equal(P.fit_start_epoch, 0);
    assert_int_equal(P.fit_start_gs, 0);
    assert_int_equal(P.train_start_epoch, 2);
    assert_int_equal(P.train_start_gs, 2 * NB);
    assert_int_equal(P.epoch_starts, 2);
    assert_int_equal(P.epoch_at_epoch_start[0], 2);
    assert_int_equal(P.epoch_at_epoch_start[1], 3);
    assert_int_equal(P.train_steps, 2 * NB);
    assert_int_equal(second.global_step, 4 * NB);
    assert_int_equal(second.current_epoch, 4);
    /* weights and Adam state at on_train_start are those saved, bit for bit */
    uint32_t n = first.n_params;
    assert_memory_equal(P.snap_params, saved_params, n * sizeof(float));
    assert_memory_equal(P.snap_s1, m1, n * sizeof(float));
    assert_memory_equal(P.snap_s2, m2, n * sizeof(float));
    assert_int_equal(P.snap_steps, (uint32_t)steps);
    assert_true(P.snap_lr == (float)lr);
    assert_true(P.snap_lr == 0.01f * 0.25f); /* StepLR(gamma 0.5) after 2 epochs */

    /* desc.ckpt: the same resume from the dict already read; no file is read (ckpt_path names a
     * file that does not exist) */
    char gone[400];
    snprintf(gone, sizeof gone, "%s/read-already.ckpt", dir);
    reset_probe();
    fixture third = straight;
    third.model_seed = 99;
    fit_ok(&third, (vkt_trainer_desc){.max_epochs = 4, .ckpt_path = gone, .ckpt = ck});
    assert_int_equal(P.train_start_epoch, 2);
    assert_int_equal(third.global_step, 4 * NB);
    assert_memory_equal(third.params, straight.params, first.n_params * sizeof(float));
    vkt_dict_destroy(ck);
    /* and the resumed run ends exactly where the uninterrupted one did */
    assert_int_equal(second.n_params, straight.n_params);
    assert_memory_equal(second.params, straight.params, n * sizeof(float));
    assert_true(memcmp(second.params, saved_params, n * sizeof(float)) != 0);
}

/* AdamW with nanoGPT's two groups and a per-step warmup + cosine schedule, saved after epoch 0
 * (in the middle of the warmup) and resumed: the checkpoint holds torch's param_groups, the lr
 * sequence goes on where it stopped, and the run ends bit for bit where an uninterrupted one
 * does. A checkpoint with groups is refused by an optimizer without them. */
static void resume_with_groups_mid_warmup_equals_an_uninterrupted_run(void **state)
{
    (void)state;
    enum { NB = 3, WARMUP = 5, T_MAX = 8 };
    char dir[256], last[320];
    snprintf(dir, sizeof dir, "%s/resume_groups", tmpdir);
    snprintf(last, sizeof last, "%s/last.ckpt", dir);
    fixture straight = {.train_batches = NB, .sched = VKT_SCHED_WARMUP_COSINE, .warmup = WARMUP,
                        .t_max = T_MAX, .interval = VKT_INTERVAL_STEP,
                        .no_decay = VKT_NO_DECAY_BIAS_NORM_EMBEDDING, .model_seed = 7};
    reset_probe();
    fit_ok(&straight, (vkt_trainer_desc){.max_epochs = 4});
    /* the lr of each of the 12 steps: nanoGPT's get_lr(t), eta_min 0 */
    assert_int_equal(P.n_lr, 4 * NB);
    for (int t = 0; t < 4 * NB; t++) {
        double base = 0.01f, want;
        if (t < WARMUP) {
            want = base * (t + 1) / WARMUP;
        } else if (t > T_MAX) {
            want = 0.0;
        } else {
            want = 0.5 * (1.0 + cos(M_PI * (t - WARMUP) / (double)(T_MAX - WARMUP))) * base;
        }
        if (!(fabs(P.lr_at_step[t] - want) <= 1e-7 * base)) {
            fail_msg("step %d: lr %.9g, want %.9g", t, (double)P.lr_at_step[t], want);
        }
    }
    float straight_lr[4 * NB];
    memcpy(straight_lr, P.lr_at_step, sizeof straight_lr);

    reset_probe();
    vkt_callback *mc = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){.dirpath = dir,
                                                                          .save_last = true});
    fixture first = straight;
    first.extra_cb = mc;
    fit_ok(&first, (vkt_trainer_desc){.max_epochs = 1});
    vkt_model_checkpoint_destroy(mc);
    /* torch's layout: each group lists its parameters (0.weight 0.bias 2.weight 2.bias) */
    vkt_dict *ck;
    assert_int_equal(vkt_checkpoint_load(last, &ck), VKT_OK);
    const vkt_dict *pg = vkt_dict_get_child(
        vkt_dict_get_child(vkt_dict_get_child(ck, "optimizer_states"), "0"), "param_groups");
    assert_non_null(pg);
    assert_int_equal(vkt_dict_count(pg), 2);
    static const float want_params[2][2] = {{0, 2}, {1, 3}};
    for (int g = 0; g < 2; g++) {
        const vkt_dict *gd = vkt_dict_get_child(pg, g ? "1" : "0");
        int nd;
        int64_t shape[VKT_MAX_DIMS];
        const float *idx = vkt_dict_get_floats(gd, "params", &nd, shape);
        assert_non_null(idx);
        assert_true(vkt_dict_is_ints(gd, "params"));
        assert_int_equal(nd, 1);
        assert_int_equal(shape[0], 2);
        assert_memory_equal(idx, want_params[g], sizeof want_params[g]);
        double wd = -1, lr = -1;
        assert_true(vkt_dict_get_number(gd, "weight_decay", &wd));
        assert_true(vkt_dict_get_number(gd, "lr", &lr));
        assert_true(wd == (g ? 0.0 : 0.5f));
        /* the lr of the next step, get_lr(NB) */
        assert_true(lr == (float)((double)0.01f * (NB + 1) / WARMUP));
    }
    vkt_dict_destroy(ck);

    reset_probe();
    fixture second = straight;
    second.model_seed = 99;
    fit_ok(&second, (vkt_trainer_desc){.max_epochs = 4, .ckpt_path = last});
    assert_int_equal(P.n_lr, 3 * NB);
    for (int t = 0; t < 3 * NB; t++) {
        assert_true(P.lr_at_step[t] == straight_lr[NB + t]);
    }
    assert_memory_equal(second.params, straight.params, straight.n_params * sizeof(float));

    /* the same checkpoint, an optimizer with one group: refused, naming param_groups */
    reset_probe();
    fixture one_group = straight;
    one_group.no_decay = 0;
    one_group.adam = true;
    assert_int_equal(run_fit(&one_group, (vkt_trainer_desc){.max_epochs = 4, .ckpt_path = last}),
                     VKT_CORRUPT_FILE);
    if (!strstr(one_group.error, "has 2 param_groups but this optimizer has 1")) {
        fail_msg("error: %s", one_group.error);
    }
    /* two groups of other parameters (only the norms exempt: none here): refused */
    reset_probe();
    fixture other = straight;
    other.no_decay = 1u << VKT_PARAM_NORM;
    assert_int_equal(run_fit(&other, (vkt_trainer_desc){.max_epochs = 4, .ckpt_path = last}),
                     VKT_CORRUPT_FILE);
    if (!strstr(other.error, "param_groups[0] of the checkpoint's optimizer (2 parameters, "
                             "weight_decay 0.5) is not this optimizer's (4 parameters")) {
        fail_msg("error: %s", other.error);
    }
}

static void bad_checkpoints_give_errors_naming_the_file(void **state)
{
    (void)state;
    char dir[256], missing[320], garbage[320], truncated[320], last[320];
    snprintf(dir, sizeof dir, "%s/bad", tmpdir);
    snprintf(missing, sizeof missing, "%s/no_such.ckpt", dir);
    snprintf(garbage, sizeof garbage, "%s/garbage.ckpt", dir);
    snprintf(truncated, sizeof truncated, "%s/truncated.ckpt", dir);
    snprintf(last, sizeof last, "%s/last.ckpt", dir);
    /* a real checkpoint of the 3-4-2 model */
    reset_probe();
    vkt_callback *mc = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){.dirpath = dir,
                                                                          .save_last = true});
    fixture f = {.train_batches = 2, .extra_cb = mc};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1});
    vkt_model_checkpoint_destroy(mc);
    FILE *fp = fopen(garbage, "wb");
    assert_non_null(fp);
    fputs("this is not a checkpoint", fp);
    fclose(fp);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "head -c $(( $(stat -c %%s '%s') / 2 )) '%s' > '%s'", last, last,
             truncated);
    assert_int_equal(system(cmd), 0);

    struct {
        const char *path;
        uint32_t hidden;
        vkt_status want;
        const char *phrase;
    } cases[] = {
        {missing, 4, VKT_NOT_FOUND, "No such file"},
        {garbage, 4, VKT_CORRUPT_FILE, ""},
        {truncated, 4, VKT_CORRUPT_FILE, ""},
        {last, 5, VKT_CORRUPT_FILE, "\"0.weight\""}, /* a 3-5-2 model: 15 weights, not 12 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset_probe();
        fixture g = {.train_batches = 2, .val_batches = 1, .hidden = cases[i].hidden};
        vkt_status s = run_fit(&g, (vkt_trainer_desc){.max_epochs = 2,
                                                      .ckpt_path = cases[i].path});
        if (s != cases[i].want || !strstr(g.error, cases[i].path) ||
            !strstr(g.error, cases[i].phrase)) {
            fprintf(stderr, "case %zu: %s: %s\n", i, vkt_status_name(s), g.error);
            fail();
        }
        assert_int_equal(P.exceptions, 1);
        assert_int_equal(P.train_steps, 0);
        assert_int_equal(P.sanity_steps, 0);
    }
}

/* Resume checks every value it restores: a checkpoint number of the wrong kind, non-integral,
 * non-finite or out of range, a dict or string of the wrong kind, is VKT_CORRUPT_FILE naming
 * the key and the file, and nothing trains. */
static void resume_refuses_bad_values(void **state)
{
    (void)state;
    char dir[256], last[320], bad[320];
    snprintf(dir, sizeof dir, "%s/badvalues", tmpdir);
    snprintf(last, sizeof last, "%s/last.ckpt", dir);
    snprintf(bad, sizeof bad, "%s/crafted.ckpt", dir);
    reset_probe();
    vkt_callback *mc = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){.dirpath = dir,
                                                                          .save_last = true});
    fixture f = {.train_batches = 2, .extra_cb = mc};
    fit_ok(&f, (vkt_trainer_desc){.max_epochs = 1});
    vkt_model_checkpoint_destroy(mc);

    enum { NUM, STR };
    struct {
        const char *dict[4]; /* the path to the parent, NULL-terminated */
        const char *key;
        int kind;
        double num;
        const char *phrase;
    } cases[] = {
        {{NULL}, "epoch", NUM, -3.5, "\"epoch\" is -3.5"},
        {{NULL}, "epoch", NUM, NAN, "\"epoch\" is nan"},
        {{NULL}, "epoch", NUM, 4294967295.0, "\"epoch\" is 4294967295"},
        {{NULL}, "epoch", STR, 0, "\"epoch\" is not a number"},
        {{NULL}, "global_step", NUM, NAN, "\"global_step\" is nan"},
        {{NULL}, "global_step", NUM, -1, "\"global_step\" is -1"},
        {{NULL}, "global_step", NUM, INFINITY, "\"global_step\" is inf"},
        {{"loops", "fit_loop", "epoch_loop.state_dict", NULL}, "_batches_that_stepped", NUM, 1.5,
         "\"loops.fit_loop.epoch_loop.state_dict._batches_that_stepped\" is 1.5"},
        {{"optimizer_states", "0", NULL}, "step", NUM, -1, "\"optimizer_states.0.step\" is -1"},
        {{"optimizer_states", "0", NULL}, "step", STR, 0, "\"optimizer_states.0.step\" is not"},
        {{"optimizer_states", "0", NULL}, "lr", NUM, INFINITY, "\"optimizer_states.0.lr\" is inf"},
        {{"optimizer_states", "0", NULL}, "lr", NUM, -0.5, "\"optimizer_states.0.lr\" is -0.5"},
        {{NULL}, "optimizer_states", NUM, 0, "\"optimizer_states\" is not a dict"},
        {{"loops", NULL}, "fit_loop", STR, 0, "\"loops.fit_loop\" is not a dict"},
        {{"callbacks", NULL}, "Probe", NUM, 1, "\"callbacks.Probe\" is not a dict"},
        {{NULL}, "state_dict", NUM, 1, "\"state_dict\" is not a dict"},
        {{NULL}, "pytorch-lightning_version", NUM, 2, "\"pytorch-lightning_version\" is not a "
                                                      "string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vkt_dict *ck = NULL;
        assert_int_equal(vkt_checkpoint_load(last, &ck), VKT_OK);
        vkt_dict *parent = ck;
        for (int k = 0; cases[i].dict[k]; k++) {
            parent = vkt_dict_child(parent, cases[i].dict[k]);
            assert_non_null(parent);
        }
        if (cases[i].kind == NUM) {
            assert_int_equal(vkt_dict_set_number(parent, cases[i].key, cases[i].num), VKT_OK);
        } else {
            assert_int_equal(vkt_dict_set_string(parent, cases[i].key, "one"), VKT_OK);
        }
        assert_int_equal(vkt_checkpoint_save(ck, bad), VKT_OK);
        vkt_dict_destroy(ck);
        reset_probe();
        fixture g = {.train_batches = 2, .val_batches = 1};
        vkt_status s = run_fit(&g, (vkt_trainer_desc){.max_epochs = 2, .ckpt_path = bad});
        if (s != VKT_CORRUPT_FILE || !strstr(g.error, bad) || !strstr(g.error, cases[i].phrase)) {
            fprintf(stderr, "case %zu (%s): %s: %s\n", i, cases[i].key, vkt_status_name(s),
                    g.error);
            fail();
        }
        assert_int_equal(P.train_steps, 0);
        assert_int_equal(P.sanity_steps, 0);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkt_trainer_flags_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        VKT_TEST(accumulate_2_with_4_batches),
        VKT_TEST(accumulate_2_with_5_batches),
        VKT_TEST(validation_inside_an_accumulation_window_keeps_gradients),
        VKT_TEST(limit_batches_as_counts),
        VKT_TEST(limit_batches_as_fractions),
        VKT_TEST(limit_fraction_giving_no_batch_is_an_error),
        VKT_TEST(limit_val_none_disables_validation_and_sanity_check),
        VKT_TEST(limit_train_none_skips_the_training_loop),
        VKT_TEST(sanity_val_steps_default_all_and_disabled),
        VKT_TEST(val_check_interval_as_a_count),
        VKT_TEST(val_check_interval_as_a_fraction),
        VKT_TEST(check_val_every_2_epochs),
        VKT_TEST(max_steps_stops_mid_epoch),
        VKT_TEST(max_epochs_and_its_default),
        VKT_TEST(min_epochs_defers_should_stop_from_a_hook),
        VKT_TEST(should_stop_from_a_callback),
        VKT_TEST(skip_epoch_from_on_train_batch_start),
        VKT_TEST(gradient_clip_by_norm),
        VKT_TEST(gradient_clip_by_value),
        VKT_TEST(configure_gradient_clipping_gets_unset_flags),
        VKT_TEST(fast_dev_run_one_batch_no_files),
        VKT_TEST(overfit_batches_repeats_the_first_batches_unshuffled),
        VKT_TEST(step_scheduler_frequency_counts_batches_of_the_epoch),
        VKT_TEST(resume_from_last_ckpt_equals_an_uninterrupted_run),
        VKT_TEST(resume_with_groups_mid_warmup_equals_an_uninterrupted_run),
        VKT_TEST(bad_checkpoints_give_errors_naming_the_file),
        VKT_TEST(resume_refuses_bad_values),
    };
    int rc = VKT_RUN_GROUP(tests);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        return 1;
    }
    return rc;
}
