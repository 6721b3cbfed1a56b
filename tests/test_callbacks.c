/*
 * test_callbacks.c — the built-in callbacks inside a real fit (docs/lightning.md "ModelCheckpoint",
 * "EarlyStopping", "Progress bar"): ModelCheckpoint (monitor val_loss, top 2, save_last) and
 * EarlyStopping (patience 3) on the validation losses of Lightning's verified runs, 3, 2, 2.5, 2.2,
 * 2.1: the run stops after epoch 4, the files are epoch=1-step=4.ckpt, epoch=4-step=10.ckpt and
 * last.ckpt, the messages are Lightning's, and the checkpoints hold the callbacks' state. The
 * progress bar's plain lines (not a terminal) and its '\r' frames (terminal) on the same run. Unit
 * tests of the pieces (file names, top-k, stopping criteria, line formatting) are in
 * tests/test_train_io.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_alloc.h"
#include "test_util.h"
#include "vkt/metrics.h"
#include "vkt/train.h"

static char tmpdir[128];

typedef struct run {
    vkt_model *model;
    vkt_optimizer *opt;
} run;

static const float val_losses[] = {3, 2, 2.5f, 2.2f, 2.1f, 1, 1, 1, 1, 1};

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)t, (void)i;
    run *r = ud;
    if (!vkt_model_is_training(r->model)) { /* back in training mode after each validation */
        return VKT_ERROR;
    }
    vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(r->model, b->x), b->y);
    return vkt_outputs_set(out, "loss", loss);
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)b, (void)i, (void)dl, (void)out;
    if (vkt_model_is_training(((run *)ud)->model)) { /* the trainer's model.eval() */
        return VKT_ERROR;
    }
    return vkt_log_value(t, "val_loss", val_losses[vkt_trainer_current_epoch(t)],
                         &(vkt_log_opts){.prog_bar = true});
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    run *r = ud;
    oc->optimizer = r->opt;
    oc->model = r->model;
    return VKT_OK;
}

/* 4 training samples (2 batches), 2 validation samples (1 batch); up to 10 epochs. */
static vkt_trainer *fit(vkt_trainer_desc desc)
{
    enum { F = 3 };
    static uint8_t im[6 * F], lb[6];
    for (int i = 0; i < 6 * F; i++) {
        im[i] = (uint8_t)(i * 31);
    }
    for (int i = 0; i < 6; i++) {
        lb[i] = (uint8_t)(i % 2);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, 6, F, &ds), VKT_OK);
    vkt_loader *tl, *vl;
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds, .batch_size = 2,
                                                          .indices = (uint32_t[]){0, 1, 2, 3},
                                                          .count = 4},
                                       &tl),
                     VKT_OK);
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds, .batch_size = 2,
                                                          .indices = (uint32_t[]){4, 5},
                                                          .count = 2},
                                       &vl),
                     VKT_OK);
    run r;
    uint32_t sizes[2] = {F, 2};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 2, 0, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &r.model), VKT_OK);
    assert_int_equal(vkt_optimizer_create(r.model,
                                          &(vkt_optim_desc){.type = VKT_OPTIM_SGD, .lr = 0.1f},
                                          &r.opt),
                     VKT_OK);
    vkt_module m = {
        .training_step = training_step,
        .validation_step = validation_step,
        .configure_optimizers = configure_optimizers,
        .user_data = &r,
    };
    desc.default_root_dir = tmpdir;
    desc.max_epochs = desc.max_epochs ? desc.max_epochs : 10;
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev, &desc, &t), VKT_OK);
    vkt_status s = vkt_trainer_fit(t, &m, tl, vl);
    if (s != VKT_OK) {
        fprintf(stderr, "fit: %s\n", vkt_last_error());
    }
    assert_int_equal(s, VKT_OK);
    vkt_optimizer_destroy(r.opt);
    vkt_model_destroy(r.model);
    vkt_loader_destroy(tl);
    vkt_loader_destroy(vl);
    vkt_dataset_destroy(ds);
    return t;
}

static char *read_all(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    rewind(f);
    char *b = calloc(1, (size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
    return b;
}

static void assert_has(const char *text, const char *want)
{
    /* text is never NULL (read_all asserts), but cmocka's fail() is not noreturn to the compiler */
    if (!text || !strstr(text, want)) {
        fail_msg("output lacks '%s'; it is:\n%s", want, text ? text : "(null)");
    }
}

static void checkpoint_and_early_stopping(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    assert_non_null(out);
    vkt_callback *ckpt = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){
        .monitor = "val_loss", .save_top_k = 2, .save_last = true, .verbose = true});
    vkt_callback *es = vkt_early_stopping_create(
        &(vkt_early_stopping_desc){.monitor = "val_loss", .verbose = true});
    assert_non_null(ckpt);
    assert_non_null(es);
    /* given in Lightning's verified order [ModelCheckpoint, EarlyStopping] */
    vkt_trainer *t = fit((vkt_trainer_desc){.callbacks = {ckpt, es}, .progress_stream = out});

    /* EarlyStopping: stopped after epoch 4 (current_epoch counts the finished epochs) */
    assert_true(vkt_trainer_should_stop(t));
    assert_int_equal(vkt_trainer_current_epoch(t), 5);
    assert_int_equal(vkt_trainer_global_step(t), 10);

    /* ModelCheckpoint: the two best and last.ckpt, the others deleted */
    char dir[512], p[700];
    snprintf(dir, sizeof dir, "%s/checkpoints", vkt_trainer_log_dir(t));
    const char *kept[] = {"epoch=1-step=4.ckpt", "epoch=4-step=10.ckpt", "last.ckpt"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, kept[i]);
        assert_int_equal(access(p, F_OK), 0);
    }
    const char *gone[] = {"epoch=0-step=2.ckpt", "epoch=2-step=6.ckpt", "epoch=3-step=8.ckpt"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, gone[i]);
        assert_int_equal(access(p, F_OK), -1);
    }
    const char *best = vkt_model_checkpoint_best_path(ckpt);
    assert_non_null(strstr(best, "/checkpoints/epoch=1-step=4.ckpt"));
    assert_non_null(strstr(vkt_model_checkpoint_last_path(ckpt), "/checkpoints/last.ckpt"));

    /* the attributes Lightning users read: best_model_score, kth_best_model_path, best_k_models
     * (insertion order; 2.1 is stored as the f32 it was logged as) */
    double score = 0;
    assert_true(vkt_model_checkpoint_best_score(ckpt, &score));
    assert_true(score == 2.0);
    assert_non_null(strstr(vkt_model_checkpoint_kth_best_path(ckpt), "/epoch=4-step=10.ckpt"));
    assert_int_equal(vkt_model_checkpoint_best_k_count(ckpt), 2);
    assert_string_equal(vkt_model_checkpoint_best_k(ckpt, 0, &score), best);
    assert_true(score == 2.0);
    assert_non_null(strstr(vkt_model_checkpoint_best_k(ckpt, 1, &score), "/epoch=4-step=10.ckpt"));
    assert_true(score == (double)2.1f);
    assert_null(vkt_model_checkpoint_best_k(ckpt, 2, NULL));
    /* EarlyStopping: wait_count, stopped_epoch, best_score */
    assert_int_equal(vkt_early_stopping_wait_count(es), 3);
    assert_int_equal(vkt_early_stopping_stopped_epoch(es), 4);
    assert_true(vkt_early_stopping_best_score(es) == 2.0f);
    /* the getters of one kind given the other kind of callback */
    assert_int_equal(vkt_early_stopping_wait_count(ckpt), 0);
    assert_true(isnan(vkt_early_stopping_best_score(ckpt)));
    assert_int_equal(vkt_model_checkpoint_best_k_count(es), 0);
    assert_false(vkt_model_checkpoint_best_score(es, NULL));
    assert_string_equal(vkt_model_checkpoint_best_path(es), "");
    /* trainer.callbacks: EarlyStopping, the default progress bar, then ModelCheckpoint moved to
     * the end */
    assert_int_equal(vkt_trainer_num_callbacks(t), 3);
    assert_ptr_equal(vkt_trainer_callback(t, 0), es);
    assert_string_equal(vkt_trainer_callback(t, 1)->name, "TQDMProgressBar");
    assert_ptr_equal(vkt_trainer_callback(t, 2), ckpt);
    assert_null(vkt_trainer_callback(t, 3));
    assert_ptr_equal(vkt_trainer_checkpoint_callback(t), ckpt);

    /* the best checkpoint: Lightning's keys, the weights, and both callbacks' state */
    vkt_dict *c = NULL;
    assert_int_equal(vkt_checkpoint_load(best, &c), VKT_OK);
    double v = -1;
    assert_true(vkt_dict_get_number(c, "epoch", &v) && v == 1);
    assert_true(vkt_dict_get_number(c, "global_step", &v) && v == 4);
    int ndim = 0;
    int64_t shape[VKT_MAX_DIMS];
    assert_non_null(
        vkt_dict_get_floats(vkt_dict_get_child(c, "state_dict"), "0.weight", &ndim, shape));
    assert_int_equal(ndim, 2);
    assert_int_equal(shape[0], 2);
    assert_int_equal(shape[1], 3);
    const vkt_dict *cbs = vkt_dict_get_child(c, "callbacks");
    const vkt_dict *mc = vkt_dict_get_child(cbs, ckpt->state_key);
    assert_non_null(mc);
    assert_string_equal(vkt_dict_get_string(mc, "best_model_path"), best);
    assert_true(vkt_dict_get_number(mc, "best_model_score", &v) && v == 2);
    assert_int_equal(vkt_dict_count(vkt_dict_get_child(mc, "best_k_models")), 2);
    const vkt_dict *esd = vkt_dict_get_child(cbs, "EarlyStopping{'monitor': 'val_loss', "
                                                  "'mode': 'min'}");
    assert_non_null(esd);
    assert_true(vkt_dict_get_number(esd, "wait_count", &v) && v == 0);
    assert_true(vkt_dict_get_number(esd, "best_score", &v) && v == 2);
    vkt_dict_destroy(c);
    /* last.ckpt is the final state: EarlyStopping has stopped */
    assert_int_equal(vkt_checkpoint_load(vkt_model_checkpoint_last_path(ckpt), &c), VKT_OK);
    esd = vkt_dict_get_child(vkt_dict_get_child(c, "callbacks"),
                             "EarlyStopping{'monitor': 'val_loss', 'mode': 'min'}");
    assert_true(vkt_dict_get_number(esd, "wait_count", &v) && v == 3);
    assert_true(vkt_dict_get_number(esd, "stopped_epoch", &v) && v == 4);
    assert_string_equal(vkt_dict_get_string(esd, "stopping_reason"), "PATIENCE_EXHAUSTED");
    vkt_dict_destroy(c);

    /* the messages and the progress lines (not a terminal: one plain line per epoch) */
    char *text = read_all(out);
    assert_has(text, "Metric val_loss improved. New best score: 3.000\n");
    assert_has(text, "Epoch 1, global step 4: 'val_loss' reached 2.00000 (best 2.00000), saving "
                     "model to '");
    assert_has(text, "epoch=1-step=4.ckpt' as top 2\n");
    assert_has(text, "Epoch 2, global step 6: 'val_loss' reached 2.50000 (best 2.00000)");
    assert_has(text, "Monitored metric val_loss did not improve in the last 3 records. Best "
                     "score: 2.000. Signaling Trainer to stop.\n");
    assert_has(text, "Epoch 0: 100%|██████████| 2/2 [");
    assert_has(text, "it/s, v_num=0, val_loss=3.000]\n");
    assert_has(text, "it/s, v_num=0, val_loss=2.100]\n");
    assert_null(strstr(text, "Epoch 5:"));
    assert_null(strchr(text, '\r'));
    assert_null(strstr(text, "Sanity Checking"));
    free(text);
    fclose(out);
    vkt_trainer_destroy(t);
    vkt_model_checkpoint_destroy(ckpt);
    vkt_early_stopping_destroy(es);
}

/* trainer.checkpoint_callback is the default ModelCheckpoint when none is given: no monitor, so it
 * keeps the newest file and best_model_score stays None. */
static void default_checkpoint_callback(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    assert_non_null(out);
    vkt_trainer *t = fit((vkt_trainer_desc){.max_epochs = 2, .progress_stream = out});
    vkt_callback *ckpt = vkt_trainer_checkpoint_callback(t);
    assert_non_null(ckpt);
    assert_int_equal(vkt_trainer_num_callbacks(t), 2);
    assert_ptr_equal(vkt_trainer_callback(t, 1), ckpt); /* after the progress bar */
    assert_non_null(strstr(vkt_model_checkpoint_best_path(ckpt), "/epoch=1-step=4.ckpt"));
    assert_false(vkt_model_checkpoint_best_score(ckpt, NULL));
    assert_string_equal(vkt_model_checkpoint_last_path(ckpt), "");
    vkt_trainer_destroy(t);
    fclose(out);
}

/* Ops in the hooks that run outside a batch's scope (epoch starts and ends, the loop's start and
 * end): their tensors are freed when the hook returns, so a fit leaves the device as it was. */
static vkt_status leaky_epoch_hook(vkt_trainer *t, void *ud)
{
    (void)ud;
    vkt_tensor *x = vkt_tensor_new_1d(vkt_trainer_device(t), VKT_F32, 256);
    vkt_status s = x ? vkt_fill(x, 1.5f) : vkt_last_status();
    vkt_tensor *y = s == VKT_OK ? vkt_scale(vkt_mean(x), 2.0f) : NULL;
    return y ? vkt_log(t, "cb_value", y, NULL) : vkt_last_status();
}

static vkt_status leaky_end_hook(vkt_trainer *t, void *ud)
{
    (void)ud;
    vkt_tensor *x = vkt_tensor_new_1d(vkt_trainer_device(t), VKT_F32, 64);
    return x ? vkt_fill(x, 0.0f) : vkt_last_status();
}

static void epoch_hook_tensors_are_freed(void **state)
{
    (void)state;
    vkt_device_finish(test_dev);
    vkt_device_stats before, after;
    vkt_device_get_stats(test_dev, &before);
    vkt_callback leaky = {.on_train_epoch_start = leaky_epoch_hook,
                          .on_train_epoch_end = leaky_epoch_hook,
                          .on_validation_epoch_start = leaky_epoch_hook,
                          .on_validation_epoch_end = leaky_epoch_hook,
                          .on_validation_start = leaky_end_hook,
                          .on_validation_end = leaky_end_hook,
                          .on_sanity_check_start = leaky_end_hook,
                          .on_sanity_check_end = leaky_end_hook,
                          .on_train_end = leaky_end_hook,
                          .on_fit_end = leaky_end_hook,
                          .teardown = NULL,
                          .name = "Leaky"};
    vkt_trainer *t = fit((vkt_trainer_desc){.max_epochs = 3, .callbacks = {&leaky},
                                            .enable_progress_bar = VKT_FLAG_OFF,
                                            .enable_checkpointing = VKT_FLAG_OFF,
                                            .logger = VKT_FLAG_OFF});
    float v = 0;
    assert_true(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "cb_value", &v));
    assert_true(v == 3.0f);
    vkt_trainer_destroy(t);
    vkt_device_finish(test_dev);
    vkt_device_get_stats(test_dev, &after);
    if (after.memory_in_use != before.memory_in_use) {
        fail_msg("device memory in use: %llu bytes before the fit, %llu after",
                 (unsigned long long)before.memory_in_use,
                 (unsigned long long)after.memory_in_use);
    }
}

/* on_after_backward runs in the batch's scope: a tensor it makes lives until the batch ends, so
 * on_train_batch_end can read it (it used to get a scope of its own and free the tensor). */
enum { HANDOFF_FLOATS = 1 << 18 };
typedef struct handoff {
    vkt_tensor *x;
    uint64_t in_use_after_make;
    uint32_t batches, alive, right_value;
} handoff;

static vkt_status handoff_after_backward(vkt_trainer *t, void *ud)
{
    handoff *h = ud;
    h->x = vkt_tensor_new_1d(vkt_trainer_device(t), VKT_F32, HANDOFF_FLOATS);
    vkt_status s = h->x ? vkt_fill(h->x, 2.5f) : vkt_last_status();
    vkt_device_finish(vkt_trainer_device(t));
    vkt_device_stats st;
    vkt_device_get_stats(vkt_trainer_device(t), &st);
    h->in_use_after_make = st.memory_in_use;
    return s;
}

static vkt_status handoff_batch_end(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                    uint32_t i, void *ud)
{
    (void)o, (void)b, (void)i;
    handoff *h = ud;
    vkt_device_finish(vkt_trainer_device(t));
    vkt_device_stats st;
    vkt_device_get_stats(vkt_trainer_device(t), &st);
    h->batches++;
    /* freed would be HANDOFF_FLOATS * 4 bytes fewer; the step's own frees are far smaller */
    if (st.memory_in_use + HANDOFF_FLOATS * 2 > h->in_use_after_make) {
        h->alive++;
        float v = 0;
        vkt_tensor *mean = vkt_mean(h->x);
        vkt_status s = mean ? vkt_tensor_download(mean, &v, sizeof v) : vkt_last_status();
        h->right_value += s == VKT_OK && v == 2.5f;
    }
    h->x = NULL;
    return VKT_OK;
}

static void after_backward_tensors_live_until_batch_end(void **state)
{
    (void)state;
    handoff h = {0};
    vkt_callback cb = {.on_after_backward = handoff_after_backward,
                       .on_train_batch_end = handoff_batch_end,
                       .name = "Handoff",
                       .user_data = &h};
    vkt_trainer *t = fit((vkt_trainer_desc){.max_epochs = 1, .callbacks = {&cb},
                                            .enable_progress_bar = VKT_FLAG_OFF,
                                            .enable_checkpointing = VKT_FLAG_OFF,
                                            .logger = VKT_FLAG_OFF});
    vkt_trainer_destroy(t);
    assert_int_equal(h.batches, 2);
    assert_int_equal(h.alive, 2);
    assert_int_equal(h.right_value, 2);
}

/* A metric read during an epoch-end hook merges the live epoch values once per change: a second
 * read of an unchanged dictionary reads nothing back from the device. */
typedef struct reads {
    uint64_t second_read, after_log_read, third_read;
    float logged;
    bool ran;
} reads;

static uint64_t readbacks(vkt_trainer *t)
{
    vkt_device_stats st;
    vkt_device_get_stats(vkt_trainer_device(t), &st);
    return st.readbacks;
}

static vkt_status reads_epoch_end(vkt_trainer *t, void *ud)
{
    reads *r = ud;
    if (vkt_trainer_sanity_checking(t) || r->ran) {
        return VKT_OK;
    }
    r->ran = true;
    float v;
    if (!vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_loss", &v)) {
        return vkt_trainer_fail(t, VKT_ERROR, "no val_loss");
    }
    uint64_t n = readbacks(t);
    vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_loss", &v);
    r->second_read = readbacks(t) - n;
    vkt_status s = vkt_log_value(t, "cb_late", 7.0f, NULL);
    if (s != VKT_OK) {
        return s;
    }
    n = readbacks(t);
    if (!vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "cb_late", &r->logged)) {
        return vkt_trainer_fail(t, VKT_ERROR, "cb_late is not in callback_metrics");
    }
    r->after_log_read = readbacks(t) - n;
    n = readbacks(t);
    vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "cb_late", &v);
    vkt_trainer_metrics_count(t, VKT_CALLBACK_METRICS);
    r->third_read = readbacks(t) - n;
    return VKT_OK;
}

static void epoch_end_reads_merge_once_per_change(void **state)
{
    (void)state;
    reads r = {0};
    vkt_callback cb = {.on_validation_epoch_end = reads_epoch_end, .name = "Reads",
                       .user_data = &r};
    vkt_trainer *t = fit((vkt_trainer_desc){.max_epochs = 1, .callbacks = {&cb},
                                            .enable_progress_bar = VKT_FLAG_OFF,
                                            .enable_checkpointing = VKT_FLAG_OFF,
                                            .logger = VKT_FLAG_OFF});
    vkt_trainer_destroy(t);
    assert_true(r.ran);
    assert_int_equal(r.second_read, 0);
    assert_int_equal(r.after_log_read, 1); /* the new value: merged and read once */
    assert_true(r.logged == 7.0f);
    assert_int_equal(r.third_read, 0);
}

/* save_weights_only as Lightning's dump_checkpoint(weights_only=True) writes it: the weights,
 * loops and hyper-parameters, no callback states or optimizer, and the callbacks'
 * on_save_checkpoint hooks are not called (the module's is). */
static int cb_saves;

static vkt_status count_save(vkt_trainer *t, vkt_dict *ckpt, void *ud)
{
    (void)t, (void)ckpt, (void)ud;
    cb_saves++;
    return VKT_OK;
}

static void weights_only_checkpoint(void **state)
{
    (void)state;
    FILE *out = tmpfile();
    assert_non_null(out);
    vkt_dict *hp = vkt_dict_create();
    assert_non_null(hp);
    assert_int_equal(vkt_dict_set_number(hp, "lr", 0.1), VKT_OK);
    vkt_callback *ckpt = vkt_model_checkpoint_create(&(vkt_checkpoint_desc){
        .save_weights_only = true});
    assert_non_null(ckpt);
    vkt_callback counter = {.on_save_checkpoint = count_save, .name = "Counter"};
    cb_saves = 0;
    vkt_trainer *t = fit((vkt_trainer_desc){.max_epochs = 1, .hparams = hp,
                                            .callbacks = {&counter, ckpt},
                                            .progress_stream = out});
    assert_int_equal(cb_saves, 0);
    vkt_dict *c = NULL;
    assert_int_equal(vkt_checkpoint_load(vkt_model_checkpoint_best_path(ckpt), &c), VKT_OK);
    assert_non_null(vkt_dict_get_child(c, "state_dict"));
    assert_non_null(vkt_dict_get_child(c, "loops"));
    assert_false(vkt_dict_has(c, "callbacks"));
    assert_false(vkt_dict_has(c, "optimizer_states"));
    double lr = 0;
    assert_true(vkt_dict_get_number(vkt_dict_get_child(c, "hyper_parameters"), "lr", &lr));
    assert_true(lr == 0.1);
    assert_non_null(vkt_dict_get_string(c, "hparams_name"));
    vkt_dict_destroy(c);
    vkt_trainer_destroy(t);
    vkt_model_checkpoint_destroy(ckpt);
    vkt_dict_destroy(hp);
    fclose(out);
}

/* ---- allocation failures over trainer creation and the start of fit ------------------------ */

typedef struct alloc_ctx {
    vkt_trainer_desc desc;
    vkt_module m;
    vkt_loader *tl, *vl;
    vkt_trainer *t;
    run r;
    int train_starts;
} alloc_ctx;

static vkt_status af_validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                     vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    alloc_ctx *c = ud;
    vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(c->r.model, b->x), b->y);
    return loss ? vkt_log(t, "val_loss", loss, &(vkt_log_opts){.prog_bar = true})
                : vkt_last_status();
}

static vkt_status af_configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    alloc_ctx *c = ud;
    oc->optimizer = c->r.opt;
    oc->model = c->r.model;
    return VKT_OK;
}

static vkt_status af_training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i,
                                   vkt_outputs *out, void *ud)
{
    return training_step(t, b, i, out, &((alloc_ctx *)ud)->r);
}

/* The fit stops before its first epoch: what is under test is everything up to there. */
static vkt_status af_on_train_start(vkt_trainer *t, void *ud)
{
    ((alloc_ctx *)ud)->train_starts++;
    vkt_trainer_set_should_stop(t, true);
    return VKT_OK;
}

static vkt_status af_op(void *ud)
{
    alloc_ctx *c = ud;
    c->t = NULL;
    c->train_starts = 0;
    vkt_status s = vkt_trainer_create(test_dev, &c->desc, &c->t);
    if (s != VKT_OK) {
        assert_null(c->t);
        return s;
    }
    return vkt_trainer_fit(c->t, &c->m, c->tl, c->vl);
}

static void af_check(void *ud, vkt_status s, long point)
{
    alloc_ctx *c = ud;
    if (point < 0) {
        assert_int_equal(s, VKT_OK);
        assert_int_equal(c->train_starts, 1);
        assert_int_equal(vkt_trainer_current_epoch(c->t), 0);
    }
    vkt_trainer_destroy(c->t);
    c->t = NULL;
}

/* vkt_trainer_create (default ModelCheckpoint, progress bar and CSV logger) and the start of fit
 * (setup, configure_optimizers, on_fit_start, hparams.yaml, on_train_start), with each host
 * allocation failing in turn: an error with a message, no crash, no leak (LeakSanitizer). */
static void trainer_setup_survives_each_allocation_failure(void **state)
{
    (void)state;
    enum { F = 3 };
    uint8_t im[4 * F] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, lb[4] = {0, 1, 0, 1};
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, 4, F, &ds), VKT_OK);
    alloc_ctx c = {0};
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 2},
                                       &c.tl),
                     VKT_OK);
    uint32_t sizes[2] = {F, 2};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 2, 0, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &c.r.model), VKT_OK);
    assert_int_equal(vkt_optimizer_create(c.r.model,
                                          &(vkt_optim_desc){.type = VKT_OPTIM_SGD, .lr = 0.1f},
                                          &c.r.opt),
                     VKT_OK);
    vkt_dict *hp = vkt_dict_create();
    assert_non_null(hp);
    assert_int_equal(vkt_dict_set_number(hp, "lr", 0.1), VKT_OK);
    assert_int_equal(vkt_dict_set_string(hp, "optimizer", "sgd"), VKT_OK);
    vkt_dict *arch = vkt_dict_child(hp, "arch");
    assert_non_null(arch);
    assert_int_equal(vkt_dict_set_number(arch, "hidden", 4), VKT_OK);
    char root[256];
    snprintf(root, sizeof root, "%s/alloc", tmpdir);
    FILE *out = tmpfile();
    assert_non_null(out);
    vkt_callback es_like = {.name = "Probe"};
    c.desc = (vkt_trainer_desc){.max_epochs = 2, .default_root_dir = root, .hparams = hp,
                                .callbacks = {&es_like}, .progress_stream = out};
    c.m = (vkt_module){.training_step = af_training_step,
                       .configure_optimizers = af_configure_optimizers,
                       .on_train_start = af_on_train_start,
                       .user_data = &c};
    long points = vkt_test_each_alloc_failure("trainer setup", NULL, af_op, af_check, &c);
    printf("trainer creation and the start of fit: %ld allocation points injected\n", points);
    /* the same with a validation loader: the sanity check runs before on_train_start */
    c.vl = c.tl;
    c.m.validation_step = af_validation_step;
    points = vkt_test_each_alloc_failure("trainer setup + sanity check", NULL, af_op, af_check, &c);
    printf("... with the sanity check: %ld allocation points injected\n", points);
    fclose(out);
    vkt_dict_destroy(hp);
    vkt_optimizer_destroy(c.r.opt);
    vkt_model_destroy(c.r.model);
    vkt_loader_destroy(c.tl);
    vkt_dataset_destroy(ds);
}

static void progress_bar_on_a_terminal(void **state)
{
    (void)state;
    FILE *term = tmpfile(), *other = tmpfile();
    vkt_callback *bar =
        vkt_progress_bar_create(&(vkt_progress_bar_desc){.stream = term, .tty = VKT_FLAG_ON});
    vkt_callback *es = vkt_early_stopping_create(&(vkt_early_stopping_desc){.monitor = "val_loss"});
    vkt_trainer *t = fit((vkt_trainer_desc){.callbacks = {bar, es},
                                            .enable_checkpointing = VKT_FLAG_OFF,
                                            .progress_stream = other});
    char *text = read_all(term);
    /* the sanity bar, drawn then erased at position 0 ("\r" + spaces + "\r") */
    assert_has(text, "\rSanity Checking DataLoader 0: 100%|██████████| 1/1 [");
    const char *erase = strstr(text, "it/s]\r      ");
    assert_non_null(erase);
    /* the main bar redrawn in place, the validation bar one line below it (tqdm's position 1) */
    assert_has(text, "\rEpoch 0:   0%|          | 0/2 [00:00<?, ?it/s]");
    assert_has(text, "\n\rValidation DataLoader 0: 100%|██████████| 1/1 [");
    assert_has(text, "\x1b[A");
    assert_has(text, ", v_num=1, val_loss=3.000]"); /* the second run in tmpdir: version_1 */
    assert_has(text, "\rEpoch 4: 100%|██████████| 2/2 [");
    /* closed at train end: the last frame stays and the line ends */
    size_t n = strlen(text);
    assert_true(n > 2 && text[n - 1] == '\n' && text[n - 2] == ']');
    free(text);
    fclose(term);
    fclose(other);
    vkt_trainer_destroy(t);
    vkt_progress_bar_destroy(bar);
    vkt_early_stopping_destroy(es);
}

/* ---- callback_metrics in on_validation_epoch_end -------------------------------------------- */

enum { VM_RUNS = 8 };

typedef struct val_seen {
    vkt_model *model;
    vkt_optimizer *opt;
    vkt_metric *acc;
    /* per validation run (the sanity check is run 0), accumulated on the host in the steps */
    uint32_t run;
    double loss_sum[VM_RUNS], rows[VM_RUNS], correct[VM_RUNS];
    bool sanity[VM_RUNS];
    /* what the hooks read from callback_metrics */
    float cb_loss[VM_RUNS], cb_acc[VM_RUNS], m_loss[VM_RUNS], m_acc[VM_RUNS];
    bool cb_has[VM_RUNS], m_has[VM_RUNS];
    bool val_loss_at_train_start;
} val_seen;

static vkt_status vm_training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i,
                                   vkt_outputs *out, void *ud)
{
    (void)t, (void)i;
    val_seen *v = ud;
    return vkt_outputs_set(out, "loss",
                           vkt_softmax_xent(vkt_model_forward(v->model, b->x), b->y));
}

static vkt_status vm_validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                     vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    val_seen *v = ud;
    vkt_tensor *logits = vkt_model_forward(v->model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    vkt_status s = vkt_log(t, "val_loss", loss, NULL);
    if (s == VKT_OK) {
        s = vkt_metric_update(v->acc, logits, b->y);
    }
    if (s == VKT_OK) {
        s = vkt_log_metric(t, "val_acc", v->acc, NULL);
    }
    /* the host's own values (the test reads them back; a real step would not) */
    float l = 0, lg[2 * 8];
    int32_t y[8];
    assert_true(b->rows <= 8);
    assert_int_equal(vkt_tensor_download(loss, &l, sizeof l), VKT_OK);
    assert_int_equal(vkt_tensor_download(logits, lg, b->rows * 2 * sizeof(float)), VKT_OK);
    assert_int_equal(vkt_tensor_download(b->y, y, b->rows * sizeof(int32_t)), VKT_OK);
    assert_true(v->run < VM_RUNS);
    v->sanity[v->run] = vkt_trainer_sanity_checking(t);
    v->loss_sum[v->run] += (double)l * b->rows;
    v->rows[v->run] += b->rows;
    for (uint32_t r = 0; r < b->rows; r++) {
        v->correct[v->run] += (lg[2 * r + 1] > lg[2 * r]) == (y[r] == 1);
    }
    return s;
}

static void vm_read(vkt_trainer *t, float *loss, float *acc, bool *has)
{
    *has = vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_loss", loss) &&
           vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_acc", acc);
}

static vkt_status vm_cb_epoch_end(vkt_trainer *t, void *ud)
{
    val_seen *v = ud;
    vm_read(t, &v->cb_loss[v->run], &v->cb_acc[v->run], &v->cb_has[v->run]);
    return VKT_OK;
}

static vkt_status vm_m_epoch_end(vkt_trainer *t, void *ud)
{
    val_seen *v = ud;
    vm_read(t, &v->m_loss[v->run], &v->m_acc[v->run], &v->m_has[v->run]);
    v->run++; /* the module's hook runs after every callback's */
    return VKT_OK;
}

/* logged at the epoch end, read by EarlyStopping right after (a monitoring callback) */
static vkt_status vm_train_epoch_end(vkt_trainer *t, void *ud)
{
    (void)ud;
    return vkt_log_value(t, "epoch_end_metric", (float)vkt_trainer_current_epoch(t), NULL);
}

static vkt_status vm_train_start(vkt_trainer *t, void *ud)
{
    val_seen *v = ud;
    v->val_loss_at_train_start = vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_loss", NULL);
    return VKT_OK;
}

static vkt_status vm_configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    val_seen *v = ud;
    oc->optimizer = v->opt;
    oc->model = v->model;
    return VKT_OK;
}

/* Lightning closes the evaluation epoch's results before on_validation_epoch_end: a callback (and
 * the module) printing per-epoch validation loss and accuracy from callback_metrics there sees
 * this epoch's values, the sanity check's during the sanity check, and nothing of it afterwards.
 * And callback_metrics merges the live results on every read: a monitoring callback sees what the
 * module logged in the same on_train_epoch_end. */
static void callback_metrics_in_on_validation_epoch_end(void **state)
{
    (void)state;
    enum { F = 3, N = 9 };
    uint8_t im[N * F], lb[N];
    for (int i = 0; i < N * F; i++) {
        im[i] = (uint8_t)(i * 37 + 11);
    }
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)((i * 7) % 3 == 0);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, N, F, &ds), VKT_OK);
    vkt_loader *tl, *vl;
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds, .batch_size = 2,
                                                          .indices = (uint32_t[]){0, 1, 2, 3},
                                                          .count = 4},
                                       &tl),
                     VKT_OK);
    /* validation batches of 2, 2 and 1 rows: the epoch mean is batch-size weighted */
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds, .batch_size = 2,
                                                          .indices = (uint32_t[]){4, 5, 6, 7, 8},
                                                          .count = 5},
                                       &vl),
                     VKT_OK);
    val_seen v = {0};
    uint32_t sizes[2] = {F, 2};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 2, 7, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &v.model), VKT_OK);
    assert_int_equal(vkt_optimizer_create(v.model,
                                          &(vkt_optim_desc){.type = VKT_OPTIM_SGD, .lr = 0.5f},
                                          &v.opt),
                     VKT_OK);
    assert_int_equal(vkt_metric_create(test_dev,
                                       &(vkt_metric_desc){.type = VKT_METRIC_ACCURACY,
                                                          .num_classes = 2},
                                       &v.acc),
                     VKT_OK);
    vkt_callback printer = {.on_validation_epoch_end = vm_cb_epoch_end, .user_data = &v};
    /* strict: a metric missing from callback_metrics would be an error */
    vkt_callback *es = vkt_early_stopping_create(&(vkt_early_stopping_desc){
        .monitor = "epoch_end_metric", .mode = VKT_MODE_MAX, .patience = 10});
    assert_non_null(es);
    vkt_module m = {
        .training_step = vm_training_step,
        .validation_step = vm_validation_step,
        .configure_optimizers = vm_configure_optimizers,
        .on_validation_epoch_end = vm_m_epoch_end,
        .on_train_epoch_end = vm_train_epoch_end,
        .on_train_start = vm_train_start,
        .user_data = &v,
    };
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev,
                                        &(vkt_trainer_desc){.max_epochs = 4,
                                                            .callbacks = {&printer, es},
                                                            .enable_progress_bar = VKT_FLAG_OFF,
                                                            .enable_checkpointing = VKT_FLAG_OFF,
                                                            .logger = VKT_FLAG_OFF},
                                        &t),
                     VKT_OK);
    vkt_status s = vkt_trainer_fit(t, &m, tl, vl);
    if (s != VKT_OK) {
        fprintf(stderr, "fit: %s\n", vkt_last_error());
    }
    assert_int_equal(s, VKT_OK);
    /* the sanity check (2 batches) and 4 epochs */
    assert_int_equal(v.run, 5);
    assert_true(v.sanity[0]);
    assert_int_equal((int)v.rows[0], 4);
    for (uint32_t r = 0; r < v.run; r++) {
        if (r > 0) {
            assert_false(v.sanity[r]);
            assert_int_equal((int)v.rows[r], 5);
        }
        double loss = v.loss_sum[r] / v.rows[r], acc = v.correct[r] / v.rows[r];
        printf("validation run %u%s: val_loss %.6f val_acc %.3f; the hooks read %.6f %.3f\n", r,
               r ? "" : " (sanity)", loss, acc, v.cb_loss[r], v.cb_acc[r]);
        assert_true(v.cb_has[r] && v.m_has[r]);
        assert_float_equal(v.cb_loss[r], loss, 1e-5 * fabs(loss) + 1e-6);
        assert_float_equal(v.m_loss[r], loss, 1e-5 * fabs(loss) + 1e-6);
        assert_float_equal(v.cb_acc[r], acc, 1e-6);
        assert_float_equal(v.m_acc[r], acc, 1e-6);
    }
    /* the losses differ per epoch: an epoch-late value would have failed above */
    assert_true(fabs(v.loss_sum[1] / 5 - v.loss_sum[2] / 5) > 1e-4);
    /* the sanity values stop at the sanity check; the last epoch's remain after fit */
    assert_false(v.val_loss_at_train_start);
    float last = 0;
    assert_true(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_loss", &last));
    assert_float_equal(last, v.cb_loss[4], 0);
    /* EarlyStopping saw the value the module logged in the same on_train_epoch_end */
    assert_true(vkt_early_stopping_best_score(es) == 3.0f);
    assert_int_equal(vkt_early_stopping_wait_count(es), 0);
    vkt_trainer_destroy(t);
    vkt_early_stopping_destroy(es);
    vkt_metric_destroy(v.acc);
    vkt_optimizer_destroy(v.opt);
    vkt_model_destroy(v.model);
    vkt_loader_destroy(tl);
    vkt_loader_destroy(vl);
    vkt_dataset_destroy(ds);
}

static int setup(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkt_test_callbacks_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return -1;
    }
    return test_group_setup(state);
}

static int teardown(void **state)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    int r = system(cmd);
    return test_group_teardown(state) | (r != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(checkpoint_and_early_stopping),
        VKT_TEST(progress_bar_on_a_terminal),
        VKT_TEST(default_checkpoint_callback),
        VKT_TEST(epoch_hook_tensors_are_freed),
        VKT_TEST(trainer_setup_survives_each_allocation_failure),
        VKT_TEST(weights_only_checkpoint),
        VKT_TEST(callback_metrics_in_on_validation_epoch_end),
        VKT_TEST(after_backward_tensors_live_until_batch_end),
        VKT_TEST(epoch_end_reads_merge_once_per_change),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
