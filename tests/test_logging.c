/*
 * test_logging.c — vkt_log against Lightning's self.log (docs/lightning.md "Logging",
 * "metrics.csv"): the observed run with log_every_n_steps=1, 2 train batches of 2 and validation
 * batches of 2, 2, 1 (epoch means weighted by batch size: 1, 2, 3 -> 1.8), the three metric
 * dictionaries, the exact metrics.csv rows and step numbers, and misuse errors. Also that epoch
 * aggregation stays on the device: the run reads values back only at logging points.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

typedef struct run {
    vkt_model *model;
    vkt_optimizer *opt;
    float train_loss[2][2];     /* the loss tensors' values, read in a test-only hook */
    bool at_epoch_end_checked;
    int mode;                   /* 0: the observed run; 1..: misuse cases */
    vkt_status misuse_status;
} run;

static vkt_log_opts OPTS(vkt_flag step, vkt_flag epoch, bool pbar, vkt_reduce_fx r)
{
    return (vkt_log_opts){.on_step = step, .on_epoch = epoch, .prog_bar = pbar, .reduce_fx = r};
}

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    run *r = ud;
    vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(r->model, b->x), b->y);
    vkt_status s = vkt_log(t, "train_loss", loss, &(vkt_log_opts){.prog_bar = true});
    if (s == VKT_OK) {
        vkt_log_opts o = OPTS(VKT_FLAG_ON, VKT_FLAG_ON, true, VKT_REDUCE_DEFAULT);
        s = vkt_log_value(t, "train_both", (float)(i + 1), &o);
    }
    if (s == VKT_OK) {
        vkt_log_opts o = OPTS(VKT_FLAG_OFF, VKT_FLAG_ON, false, VKT_REDUCE_SUM);
        s = vkt_log_value(t, "train_sum", 1.0f, &o);
    }
    if (s == VKT_OK && r->mode == 1) {
        /* same name, same hook, other options: an error */
        vkt_log_opts o = OPTS(VKT_FLAG_ON, VKT_FLAG_ON, false, VKT_REDUCE_MAX);
        r->misuse_status = vkt_log(t, "train_loss", loss, &o);
        return r->misuse_status;
    }
    if (s == VKT_OK && r->mode == 2) {
        r->misuse_status = vkt_log(t, "logits", vkt_model_forward(r->model, b->x), NULL);
        return r->misuse_status;
    }
    if (s == VKT_OK && r->mode == 3) {
        vkt_log_opts o = OPTS(VKT_FLAG_OFF, VKT_FLAG_OFF, false, VKT_REDUCE_DEFAULT);
        r->misuse_status = vkt_log_value(t, "x", 1.0f, &o);
        return r->misuse_status;
    }
    if (s == VKT_OK && r->mode == 4) {
        return vkt_outputs_set(out, "logits", loss); /* outputs without "loss" */
    }
    if (s == VKT_OK && r->mode == 5) {
        loss = vkt_scale(loss, NAN);
    }
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)b, (void)dl, (void)out, (void)ud;
    float v = (float)(i + 1);
    vkt_status s = vkt_log_value(t, "val_loss", v, &(vkt_log_opts){.prog_bar = true});
    if (s == VKT_OK) {
        vkt_log_opts o = OPTS(VKT_FLAG_ON, VKT_FLAG_ON, false, VKT_REDUCE_DEFAULT);
        s = vkt_log_value(t, "val_both", v, &o);
    }
    if (s == VKT_OK) {
        vkt_log_opts o = OPTS(VKT_FLAG_DEFAULT, VKT_FLAG_DEFAULT, false, VKT_REDUCE_MAX);
        s = vkt_log_value(t, "val_max", v, &o);
    }
    return s;
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    run *r = ud;
    oc->optimizer = r->opt;
    oc->model = r->model;
    return VKT_OK;
}

static vkt_status on_fit_start(vkt_trainer *t, void *ud)
{
    run *r = ud;
    if (r->mode == 6) {
        r->misuse_status = vkt_log_value(t, "not_here", 1.0f, NULL);
        return r->misuse_status;
    }
    return VKT_OK;
}

static vkt_status on_train_epoch_end(vkt_trainer *t, void *ud)
{
    (void)ud;
    return vkt_log_value(t, "ep_metric", (float)vkt_trainer_current_epoch(t), NULL);
}

static vkt_status cb_on_train_batch_end(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                        uint32_t i, void *ud)
{
    (void)o, (void)b, (void)ud;
    return vkt_log_value(t, "cb_metric", (float)i, NULL);
}

static float metric(vkt_trainer *t, vkt_metrics_kind k, const char *name)
{
    float v = NAN;
    if (!vkt_trainer_metric(t, k, name, &v)) {
        fprintf(stderr, "metric %s missing\n", name);
        fail();
    }
    return v;
}

static vkt_status cb_on_validation_epoch_end(vkt_trainer *t, void *ud)
{
    (void)ud;
    if (!vkt_trainer_sanity_checking(t) && vkt_trainer_current_epoch(t) == 0) {
        /* the bare train_both still holds the step value */
        assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "train_both"), 2.0, 0);
    }
    return VKT_OK;
}

static vkt_status cb_on_train_epoch_end(vkt_trainer *t, void *ud)
{
    run *r = ud;
    if (vkt_trainer_current_epoch(t) != 0) {
        return VKT_OK;
    }
    /* the values observed in Lightning at on_train_epoch_end of epoch 0 */
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "train_both"), 1.5, 0);
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "train_both_step"), 2.0, 0);
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "train_both_epoch"), 1.5, 0);
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "train_sum"), 2.0, 0);
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "val_loss"), 1.8f, 0);
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "val_both"), 1.8f, 0);
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "val_both_epoch"), 1.8f, 0);
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "val_max"), 3.0, 0);
    assert_float_equal(metric(t, VKT_CALLBACK_METRICS, "cb_metric"), 1.0, 0);
    metric(t, VKT_CALLBACK_METRICS, "train_loss");
    /* eval step-only values never reach callback_metrics */
    assert_false(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_both_step", NULL));
    /* logged_metrics: no bare forked name; has val_both_step */
    assert_false(vkt_trainer_metric(t, VKT_LOGGED_METRICS, "train_both", NULL));
    assert_true(vkt_trainer_metric(t, VKT_LOGGED_METRICS, "val_both_step", NULL));
    /* progress_bar_metrics in insertion order: {train_loss, train_both_step, val_loss,
     * train_both_epoch} */
    const char *pb[] = {"train_loss", "train_both_step", "val_loss", "train_both_epoch"};
    assert_int_equal(vkt_trainer_metrics_count(t, VKT_PROGRESS_BAR_METRICS), 4);
    for (uint32_t i = 0; i < 4; i++) {
        assert_string_equal(vkt_trainer_metric_name(t, VKT_PROGRESS_BAR_METRICS, i), pb[i]);
    }
    r->at_epoch_end_checked = true;
    return VKT_OK;
}

static char tmpdir[128];

/* 4 training samples (2 batches of 2), 5 validation samples (batches of 2, 2, 1). */
static vkt_status fit(run *r, vkt_trainer_desc desc, vkt_callback *cb, vkt_trainer **out)
{
    enum { F = 3 };
    static uint8_t im[9 * F], lb[9];
    for (int i = 0; i < 9 * F; i++) {
        im[i] = (uint8_t)(i * 31);
    }
    for (int i = 0; i < 9; i++) {
        lb[i] = (uint8_t)(i % 2);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, 9, F, &ds), VKT_OK);
    vkt_loader *tl, *vl;
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds,
                                                          .batch_size = 2,
                                                          .indices = (uint32_t[]){0, 1, 2, 3},
                                                          .count = 4},
                                       &tl),
                     VKT_OK);
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 2,
                                                                    .indices = (uint32_t[]){4, 5, 6,
                                                                                            7, 8},
                                                                    .count = 5},
                                       &vl),
                     VKT_OK);
    uint32_t sizes[2] = {F, 2};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 2, 0, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &r->model), VKT_OK);
    assert_int_equal(vkt_optimizer_create(r->model, &(vkt_optim_desc){.type = VKT_OPTIM_SGD,
                                                                      .lr = 0.1f},
                                          &r->opt),
                     VKT_OK);
    vkt_module m = {
        .training_step = training_step,
        .validation_step = validation_step,
        .configure_optimizers = configure_optimizers,
        .on_train_epoch_end = on_train_epoch_end,
        .on_fit_start = on_fit_start,
        .user_data = r,
    };
    desc.default_root_dir = tmpdir;
    desc.enable_progress_bar = VKT_FLAG_OFF;
    desc.callbacks[0] = cb;
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev, &desc, &t), VKT_OK);
    vkt_status s = vkt_trainer_fit(t, &m, tl, vl);
    vkt_optimizer_destroy(r->opt);
    vkt_model_destroy(r->model);
    vkt_loader_destroy(tl);
    vkt_loader_destroy(vl);
    vkt_dataset_destroy(ds);
    if (out) {
        *out = t;
    } else {
        vkt_trainer_destroy(t);
    }
    return s;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return NULL;
    }
    static char buf[16384];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    /* Python's csv writes "\r\n": check it, then compare as "\n" text */
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            assert_true(i > 0 && buf[i - 1] == '\r');
        }
        if (buf[i] != '\r') {
            buf[o++] = buf[i];
        }
    }
    buf[o] = '\0';
    return buf;
}

/* Replaces every train_loss cell (column 7) of the data rows by "L" to compare with the sample. */
static void mask_train_loss(char *csv)
{
    char out[16384];
    size_t o = 0;
    int col = 0;
    char *body = strchr(csv, '\n'); /* the header stays as it is */
    if (!body) {
        return;
    }
    body++;
    memcpy(out, csv, (size_t)(body - csv));
    o = (size_t)(body - csv);
    for (char *p = body; *p; p++) {
        if (*p == '\n') {
            col = 0;
            out[o++] = *p;
            continue;
        }
        if (*p == ',') {
            col++;
            out[o++] = *p;
            continue;
        }
        if (col == 6 && p > csv && (p[-1] == ',') && *p != ',') {
            out[o++] = 'L';
            while (p[1] && p[1] != ',' && p[1] != '\n') {
                p++;
            }
            continue;
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    strcpy(csv, out);
}

static void observed_run_matches_lightning(void **state)
{
    (void)state;
    run r = {.mode = 0};
    vkt_callback cb = {
        .on_train_batch_end = cb_on_train_batch_end,
        .on_train_epoch_end = cb_on_train_epoch_end,
        .on_validation_epoch_end = cb_on_validation_epoch_end,
        .user_data = &r,
    };
    vkt_device_finish(test_dev);
    vkt_device_reset_stats(test_dev);
    vkt_trainer *t;
    vkt_status s = fit(&r, (vkt_trainer_desc){.max_epochs = 2, .log_every_n_steps = 1,
                                              .enable_checkpointing = VKT_FLAG_OFF},
                       &cb, &t);
    if (s != VKT_OK) {
        fprintf(stderr, "%s\n", vkt_last_error());
    }
    assert_int_equal(s, VKT_OK);
    assert_true(r.at_epoch_end_checked);
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.csv", vkt_trainer_log_dir(t));
    char *csv = read_file(path);
    assert_non_null(csv);
    mask_train_loss(csv);
    /* the metrics.csv observed in Lightning, train_loss values masked (they depend on the model) */
    const char *want =
        "cb_metric,ep_metric,epoch,step,train_both_epoch,train_both_step,train_loss,train_sum,"
        "val_both_epoch,val_both_step,val_loss,val_max\n"
        "0.0,,0,0,,1.0,L,,,,,\n"
        "1.0,,0,1,,2.0,L,,,,,\n"
        ",,,0,,,,,,1.0,,\n"
        ",,,1,,,,,,2.0,,\n"
        ",,,2,,,,,,3.0,,\n"
        ",,0,1,,,,,1.7999999523162842,,1.7999999523162842,3.0\n"
        ",0.0,0,1,1.5,,,2.0,,,,\n"
        "0.0,,1,2,,1.0,L,,,,,\n"
        "1.0,,1,3,,2.0,L,,,,,\n"
        ",,,3,,,,,,1.0,,\n"
        ",,,4,,,,,,2.0,,\n"
        ",,,5,,,,,,3.0,,\n"
        ",,1,3,,,,,1.7999999523162842,,1.7999999523162842,3.0\n"
        ",1.0,1,3,1.5,,,2.0,,,,\n";
    if (strcmp(csv, want) != 0) {
        fprintf(stderr, "metrics.csv:\n%s\nwanted:\n%s\n", csv, want);
    }
    assert_string_equal(csv, want);
    vkt_trainer_destroy(t);
}

static void default_logging_writes_only_epoch_rows(void **state)
{
    (void)state;
    /* log_every_n_steps 50 with 2 batches: no train step rows ever; with only val_loss logged at
     * epoch level the file is "epoch,step,val_loss" rows, as Lightning's defaults write it */
    run r = {.mode = 0};
    vkt_trainer *t;
    vkt_device_finish(test_dev);
    vkt_device_reset_stats(test_dev);
    assert_int_equal(fit(&r, (vkt_trainer_desc){.max_epochs = 2,
                                                .enable_checkpointing = VKT_FLAG_OFF},
                         NULL, &t),
                     VKT_OK);
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.csv", vkt_trainer_log_dir(t));
    char *csv = read_file(path);
    assert_non_null(csv);
    assert_null(strstr(csv, "train_both_step")); /* no step rows */
    assert_non_null(strstr(csv, "val_loss"));
    /* Reads happen only at logging points, one read each however many metrics a row has. Per
     * epoch: 3 validation step rows (val_both is logged on_step, and Lightning pushes every
     * validation batch's step row), the validation epoch row and the training epoch row. The 4
     * training steps and the sanity check read nothing. */
    fprintf(stderr, "2 epochs: %llu readbacks, %llu host waits\n",
            (unsigned long long)st.readbacks, (unsigned long long)st.host_waits);
    assert_int_equal(st.readbacks, 2 * (3 + 1 + 1));
    assert_true(st.host_waits <= st.readbacks);
    vkt_trainer_destroy(t);
}

static void misuse_gives_clear_errors(void **state)
{
    (void)state;
    const char *phrases[] = {"", "different options", "one element", "not useful", "\"loss\"",
                             "NaN", "can't log inside `on_fit_start`"};
    for (int mode = 1; mode <= 6; mode++) {
        run r = {.mode = mode};
        vkt_trainer_desc d = {.max_epochs = 1, .enable_checkpointing = VKT_FLAG_OFF,
                              .detect_nan = mode == 5, .log_every_n_steps = 1};
        vkt_status s = fit(&r, d, NULL, NULL);
        if (mode == 6) {
            assert_int_equal(r.misuse_status, VKT_INVALID_ARGUMENT);
        }
        assert_true(s != VKT_OK);
        if (!strstr(vkt_last_error(), phrases[mode])) {
            fprintf(stderr, "mode %d: %s\n", mode, vkt_last_error());
            fail();
        }
    }
}

static int exceptions_seen;
static vkt_status seen_status;

static void on_exception(vkt_trainer *t, vkt_status s, void *ud)
{
    (void)t, (void)ud;
    exceptions_seen++;
    seen_status = s;
}

static vkt_status failing_epoch_start(vkt_trainer *t, void *ud)
{
    (void)ud;
    return vkt_trainer_fail(t, VKT_IO, "disk full while preparing epoch %u",
                            vkt_trainer_current_epoch(t));
}

static void hook_errors_reach_on_exception_then_the_caller(void **state)
{
    (void)state;
    run r = {.mode = 0};
    vkt_callback c1 = {.on_exception = on_exception};
    vkt_callback c2 = {.on_exception = on_exception, .on_train_epoch_start = failing_epoch_start};
    exceptions_seen = 0;
    enum { F = 3 };
    static uint8_t im[4 * F], lb[4];
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, 4, F, &ds), VKT_OK);
    vkt_loader *tl;
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 2},
                                       &tl),
                     VKT_OK);
    uint32_t sizes[2] = {F, 2};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 2, 0, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &r.model), VKT_OK);
    assert_int_equal(vkt_optimizer_create(r.model, &(vkt_optim_desc){0}, &r.opt), VKT_OK);
    vkt_module m = {.training_step = training_step, .configure_optimizers = configure_optimizers,
                    .user_data = &r};
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev,
                                        &(vkt_trainer_desc){.enable_progress_bar = VKT_FLAG_OFF,
                                                            .enable_checkpointing = VKT_FLAG_OFF,
                                                            .logger = VKT_FLAG_OFF,
                                                            .callbacks = {&c1, &c2}},
                                        &t),
                     VKT_OK);
    assert_int_equal(vkt_trainer_fit(t, &m, tl, NULL), VKT_IO);
    assert_int_equal(exceptions_seen, 2);
    assert_int_equal(seen_status, VKT_IO);
    assert_non_null(strstr(vkt_last_error(), "disk full while preparing epoch 0"));
    assert_non_null(strstr(vkt_last_error(), "on_train_epoch_start"));
    vkt_trainer_destroy(t);
    vkt_optimizer_destroy(r.opt);
    vkt_model_destroy(r.model);
    vkt_loader_destroy(tl);
    vkt_dataset_destroy(ds);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkt_logging_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        VKT_TEST(observed_run_matches_lightning),
        VKT_TEST(default_logging_writes_only_epoch_rows),
        VKT_TEST(misuse_gives_clear_errors),
        VKT_TEST(hook_errors_reach_on_exception_then_the_caller),
    };
    int rc = VKT_RUN_GROUP(tests);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        return 1;
    }
    return rc;
}
