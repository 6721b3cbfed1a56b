/*
 * test_stores.c — epoch stores: every batch output at epoch end, on the device.
 *
 * Every test trains twice with the same seed. The reference run reads each batch's logits to the
 * host and computes what the epoch end should see there. The measured run only stores and reads
 * nothing per step. vkt is deterministic, so both runs compute the same logits bit for bit, and
 * the comparison is exact.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"
#include "vkt/metrics.h"

enum { F = 8, C = 4, N = 203 }; /* 203 samples: batches of 16 end with an 11-row batch */

typedef struct st_run {
    bool reference;             /* read every batch to the host */
    vkt_store_kind kind;        /* what the measured run stores */
    vkt_model *model;
    vkt_optimizer *opt;
    /* reference: all logits of the last epoch, row-major, and their labels */
    float *ref_logits;
    int32_t *ref_labels;
    int64_t ref_rows;
    /* measured: what the epoch-end hook saw */
    float epoch_mean, epoch_acc;
    float red[C], red_var[C];
    int64_t rows_seen[3];
    uint32_t batches_seen;
    uint32_t epochs_ended;
    uint64_t readbacks_during_epoch;
    uint64_t readbacks_at_start;
} st_run;

static char tmpdir[128];

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    st_run *r = ud;
    vkt_tensor *logits = vkt_model_forward(r->model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    vkt_status s = VKT_OK;
    if (r->reference) {
        if (vkt_trainer_current_epoch(t) == 1) { /* keep the last epoch */
            r->ref_logits = realloc(r->ref_logits, (size_t)(r->ref_rows + b->rows) * C * 4);
            r->ref_labels = realloc(r->ref_labels, (size_t)(r->ref_rows + b->rows) * 4);
            s = vkt_tensor_download(logits, r->ref_logits + r->ref_rows * C,
                                    (size_t)b->rows * C * 4);
            if (s == VKT_OK) {
                s = vkt_tensor_download(b->y, r->ref_labels + r->ref_rows, (size_t)b->rows * 4);
            }
            r->ref_rows += b->rows;
        }
    } else {
        s = vkt_log(t, "train_loss", loss, NULL);
        if (s == VKT_OK) {
            s = vkt_store(t, "logits", logits, r->kind);
        }
        if (s == VKT_OK && r->kind == VKT_STORE_CONCAT) {
            s = vkt_store(t, "labels", b->y, VKT_STORE_CONCAT);
        }
        if (s == VKT_OK) {
            s = vkt_store(t, "loss", loss, VKT_STORE_MEAN);
        }
    }
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    st_run *r = ud;
    oc->optimizer = r->opt;
    oc->model = r->model;
    return VKT_OK;
}

static vkt_status on_train_epoch_start(vkt_trainer *t, void *ud)
{
    st_run *r = ud;
    vkt_device_stats st;
    vkt_device_get_stats(vkt_trainer_device(t), &st);
    r->readbacks_at_start = st.readbacks;
    /* stores reset themselves before this hook */
    r->rows_seen[2] = vkt_store_rows(t, VKT_STAGE_FIT, "logits");
    return VKT_OK;
}

/* A callback reads the whole epoch from the stores. */
static vkt_status on_train_epoch_end(vkt_trainer *t, void *ud)
{
    st_run *r = ud;
    vkt_device *dev = vkt_trainer_device(t);
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    r->readbacks_during_epoch = st.readbacks - r->readbacks_at_start;
    r->epochs_ended++;
    if (r->reference) {
        return VKT_OK;
    }
    r->rows_seen[vkt_trainer_current_epoch(t) & 1] = vkt_store_rows(t, VKT_STAGE_FIT, "logits");
    vkt_status s = VKT_OK;
    if (r->kind == VKT_STORE_CONCAT) {
        vkt_tensor *all = vkt_store_concat(t, VKT_STAGE_FIT, "logits");
        vkt_tensor *labels = vkt_store_concat(t, VKT_STAGE_FIT, "labels");
        vkt_store_batches(t, VKT_STAGE_FIT, "logits", &r->batches_seen);
        if (!all || !labels) {
            return vkt_last_status();
        }
        /* epoch-end reductions are the reduce kernels, on the device */
        vkt_tensor *mean = vkt_mean(all);
        vkt_tensor *pred = vkt_argmax_rows(all);
        vkt_tensor *hits = vkt_count_equal(pred, labels);
        int32_t h = 0;
        s = vkt_tensor_download(mean, &r->epoch_mean, 4);
        if (s == VKT_OK) {
            s = vkt_tensor_download(hits, &h, 4);
        }
        r->epoch_acc = (float)h / (float)vkt_tensor_dim(all, 0);
        vkt_tensor_free(mean);
        vkt_tensor_free(pred);
        vkt_tensor_free(hits);
    } else {
        vkt_tensor *res = vkt_store_result(t, VKT_STAGE_FIT, "logits");
        s = res ? vkt_tensor_download(res, r->red, vkt_tensor_bytes(res)) : vkt_last_status();
        if (s == VKT_OK && r->kind == VKT_STORE_MEAN_VAR) {
            vkt_tensor *var = vkt_store_variance(t, VKT_STAGE_FIT, "logits", true);
            s = var ? vkt_tensor_download(var, r->red_var, sizeof r->red_var) : vkt_last_status();
        }
    }
    return s;
}

static vkt_status fit(st_run *r, vkt_trainer_desc d, vkt_trainer **out)
{
    static uint8_t im[N * F], lb[N];
    for (int i = 0; i < N * F; i++) {
        im[i] = (uint8_t)((i * 7919 + 13) % 251);
    }
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)(im[i * F] % C);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, N, F, &ds), VKT_OK);
    vkt_loader *l;
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 16,
                                                                    .shuffle = true, .seed = 5},
                                       &l),
                     VKT_OK);
    uint32_t sizes[3] = {F, 12, C};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 3, 3, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &r->model), VKT_OK);
    assert_int_equal(
        vkt_optimizer_create(r->model, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM}, &r->opt), VKT_OK);
    vkt_module m = {.training_step = training_step, .configure_optimizers = configure_optimizers,
                    .on_train_epoch_start = on_train_epoch_start, .user_data = r};
    vkt_callback cb = {.on_train_epoch_end = on_train_epoch_end, .user_data = r};
    if (d.max_epochs == 0) {
        d.max_epochs = 2;
    }
    d.enable_progress_bar = VKT_FLAG_OFF;
    d.enable_checkpointing = VKT_FLAG_OFF;
    d.default_root_dir = tmpdir;
    d.callbacks[0] = &cb;
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev, &d, &t), VKT_OK);
    vkt_status s = vkt_trainer_fit(t, &m, l, NULL);
    vkt_optimizer_destroy(r->opt);
    vkt_model_destroy(r->model);
    vkt_loader_destroy(l);
    vkt_dataset_destroy(ds);
    if (out) {
        *out = t;
    } else {
        vkt_trainer_destroy(t);
    }
    return s;
}

static void concat_store_holds_the_epoch(void **state)
{
    (void)state;
    st_run ref = {.reference = true}, run = {.kind = VKT_STORE_CONCAT};
    assert_int_equal(fit(&ref, (vkt_trainer_desc){.disable_step_logging = true}, NULL), VKT_OK);
    assert_int_equal(fit(&run, (vkt_trainer_desc){.disable_step_logging = true}, NULL), VKT_OK);
    double sum = 0;
    int hits = 0;
    for (int64_t i = 0; i < ref.ref_rows; i++) {
        int best = 0;
        for (int c = 0; c < C; c++) {
            sum += ref.ref_logits[i * C + c];
            best = ref.ref_logits[i * C + c] > ref.ref_logits[i * C + best] ? c : best;
        }
        hits += best == ref.ref_labels[i];
    }
    double want_mean = sum / (double)(ref.ref_rows * C);
    float want_acc = (float)hits / (float)ref.ref_rows;
    fprintf(stderr, "epoch mean of logits %.7f (cpu %.7f), accuracy %.4f (cpu %.4f)\n",
            (double)run.epoch_mean, want_mean, (double)run.epoch_acc, (double)want_acc);
    assert_int_equal(ref.ref_rows, N);
    assert_true(fabs(run.epoch_mean - want_mean) <= 1e-6 * fmax(1.0, fabs(want_mean)));
    assert_float_equal(run.epoch_acc, want_acc, 0);
    assert_int_equal(run.rows_seen[0], N);
    assert_int_equal(run.rows_seen[1], N); /* reset at the epoch start, not accumulated */
    assert_int_equal(run.rows_seen[2], 0); /* empty when the second epoch starts */
    assert_int_equal(run.batches_seen, 13);
    /* nothing was read during the epoch before its end */
    assert_int_equal(run.readbacks_during_epoch, 0);
    free(ref.ref_logits);
    free(ref.ref_labels);
}

static void reduction_stores_fold_the_epoch(void **state)
{
    (void)state;
    st_run ref = {.reference = true};
    assert_int_equal(fit(&ref, (vkt_trainer_desc){.disable_step_logging = true}, NULL), VKT_OK);
    vkt_store_kind kinds[] = {VKT_STORE_SUM, VKT_STORE_MEAN, VKT_STORE_MIN, VKT_STORE_MAX,
                              VKT_STORE_COUNT, VKT_STORE_MEAN_VAR};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        st_run run = {.kind = kinds[k]};
        assert_int_equal(fit(&run, (vkt_trainer_desc){.disable_step_logging = true}, NULL), VKT_OK);
        for (int c = 0; c < (kinds[k] == VKT_STORE_COUNT ? 1 : C); c++) {
            double s = 0, mn = INFINITY, mx = -INFINITY;
            for (int64_t i = 0; i < ref.ref_rows; i++) {
                double v = ref.ref_logits[i * C + c];
                s += v;
                mn = fmin(mn, v);
                mx = fmax(mx, v);
            }
            double mean = s / (double)ref.ref_rows, q = 0;
            for (int64_t i = 0; i < ref.ref_rows; i++) {
                double d = ref.ref_logits[i * C + c] - mean;
                q += d * d;
            }
            double want = kinds[k] == VKT_STORE_SUM     ? s
                          : kinds[k] == VKT_STORE_MEAN  ? mean
                          : kinds[k] == VKT_STORE_MIN   ? mn
                          : kinds[k] == VKT_STORE_MAX   ? mx
                          : kinds[k] == VKT_STORE_COUNT ? (double)ref.ref_rows
                                                        : mean;
            double err = fabs(run.red[c] - want) / fmax(1.0, fabs(want));
            /* fp32 column folds over 203 rows: ~1e-5 relative; min/max/count exact */
            double tol = (kinds[k] == VKT_STORE_MIN || kinds[k] == VKT_STORE_MAX ||
                          kinds[k] == VKT_STORE_COUNT) ? 0 : 1e-5;
            if (err > tol) {
                fprintf(stderr, "kind %d column %d: %.8f vs %.8f\n", (int)kinds[k], c,
                        (double)run.red[c], want);
            }
            assert_true(err <= tol);
            if (kinds[k] == VKT_STORE_MEAN_VAR) {
                double var = q / (double)(ref.ref_rows - 1);
                assert_true(fabs(run.red_var[c] - var) <= 2e-5 * fmax(1.0, var));
            }
        }
    }
    free(ref.ref_logits);
    free(ref.ref_labels);
}

static void over_budget_is_a_clear_error_and_keeps_logged_metrics(void **state)
{
    (void)state;
    /* 13 batches of 16 x 4 floats (256-byte chunks) + labels: 3 KiB is not enough for an epoch */
    st_run run = {.kind = VKT_STORE_CONCAT};
    vkt_trainer *t;
    vkt_device_finish(test_dev);
    vkt_device_reset_stats(test_dev);
    vkt_status s = fit(&run, (vkt_trainer_desc){.store_budget = 3 << 10, .log_every_n_steps = 1},
                       &t);
    assert_int_equal(s, VKT_OUT_OF_DEVICE_MEMORY);
    const char *msg = vkt_last_error();
    fprintf(stderr, "%s\n", msg);
    assert_non_null(strstr(msg, "epoch store \""));
    assert_non_null(strstr(msg, "(fit, "));
    assert_non_null(strstr(msg, "budget"));
    /* the rows logged before the error are on disk */
    char path[512];
    snprintf(path, sizeof path, "%s/metrics.csv", vkt_trainer_log_dir(t));
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
    }
    fclose(f);
    assert_true(lines >= 2); /* the header and the rows of the steps before the error */
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    assert_true(st.memory_stores_peak > 0 && st.memory_stores_peak <= (3 << 10));
    vkt_trainer_destroy(t);
    vkt_device_get_stats(test_dev, &st);
    assert_int_equal(st.memory_stores, 0); /* destroying the trainer frees the stores */
}

static void store_misuse_is_an_error(void **state)
{
    (void)state;
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev, &(vkt_trainer_desc){.logger = VKT_FLAG_OFF,
                                                                      .enable_progress_bar =
                                                                          VKT_FLAG_OFF},
                                        &t),
                     VKT_OK);
    vkt_tensor *x = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    assert_int_equal(vkt_store(t, "x", x, VKT_STORE_CONCAT), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "no fit"));
    assert_null(vkt_store_concat(t, VKT_STAGE_FIT, "nope"));
    assert_int_equal(vkt_last_status(), VKT_NOT_FOUND);
    assert_int_equal(vkt_store_rows(t, VKT_STAGE_FIT, "nope"), -1);
    vkt_tensor_free(x);
    vkt_trainer_destroy(t);
}

/* ---- a NULL from a failed op: vkt_store and vkt_log keep the op's error ---------------------- */

typedef struct null_run {
    vkt_model *model;
    vkt_optimizer *opt;
    vkt_status store_status;
    char store_error[1024];
} null_run;

static vkt_status null_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                            void *ud)
{
    (void)i, (void)out;
    null_run *r = ud;
    /* (16, F) x (16, F): the inner sizes differ, so the op fails and returns NULL */
    vkt_tensor *bad = vkt_matmul(b->x, b->x, 0);
    r->store_status = vkt_store(t, "bad", bad, VKT_STORE_CONCAT);
    snprintf(r->store_error, sizeof r->store_error, "%s", vkt_last_error());
    return vkt_log(t, "bad", bad, NULL);
}

static vkt_status null_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    null_run *r = ud;
    oc->optimizer = r->opt;
    oc->model = r->model;
    return VKT_OK;
}

static void null_value_keeps_the_ops_error(void **state)
{
    (void)state;
    uint8_t im[32 * F] = {0}, lb[32] = {0};
    vkt_dataset *ds;
    vkt_loader *l;
    assert_int_equal(vkt_dataset_from_memory(im, lb, 32, F, &ds), VKT_OK);
    assert_int_equal(
        vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 16}, &l),
        VKT_OK);
    /* what the op says on its own */
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_2d(test_dev, VKT_F32, 16, F);
    assert_null(vkt_matmul(x, x, 0));
    vkt_status op_status = vkt_last_status();
    char op_error[1024];
    snprintf(op_error, sizeof op_error, "%s", vkt_last_error());
    vkt_scope_end(test_dev);
    assert_int_not_equal(op_status, VKT_OK);

    null_run r = {0};
    uint32_t sizes[2] = {F, C};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 2, 1, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &r.model), VKT_OK);
    assert_int_equal(vkt_optimizer_create(r.model, &(vkt_optim_desc){0}, &r.opt), VKT_OK);
    vkt_module m = {.training_step = null_step, .configure_optimizers = null_optimizers,
                    .user_data = &r};
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev, &(vkt_trainer_desc){.max_epochs = 1,
                                                                      .logger = VKT_FLAG_OFF,
                                                                      .enable_progress_bar =
                                                                          VKT_FLAG_OFF,
                                                                      .enable_checkpointing =
                                                                          VKT_FLAG_OFF},
                                        &t),
                     VKT_OK);
    assert_int_equal(vkt_trainer_fit(t, &m, l, NULL), op_status);
    assert_non_null(strstr(vkt_last_error(), "vkt_log(\"bad\")"));
    assert_non_null(strstr(vkt_last_error(), op_error));
    assert_int_equal(r.store_status, op_status);
    assert_non_null(strstr(r.store_error, "vkt_store(\"bad\")"));
    assert_non_null(strstr(r.store_error, op_error));
    vkt_trainer_destroy(t);

    /* without an error pending, a NULL value is the caller's mistake */
    assert_int_equal(vkt_trainer_create(test_dev, &(vkt_trainer_desc){.logger = VKT_FLAG_OFF,
                                                                      .enable_progress_bar =
                                                                          VKT_FLAG_OFF},
                                        &t),
                     VKT_OK);
    vkt_clear_error();
    assert_int_equal(vkt_store(t, "x", NULL, VKT_STORE_CONCAT), VKT_INVALID_ARGUMENT);
    assert_string_equal(vkt_last_error(), "vkt_store(\"x\"): value is NULL");
    vkt_trainer_destroy(t);
    vkt_optimizer_destroy(r.opt);
    vkt_model_destroy(r.model);
    vkt_loader_destroy(l);
    vkt_dataset_destroy(ds);
    vkt_clear_error();
}

/* ---- the proof: 200 steps, a logits store and an accuracy metric, reads only when logging ---- */

typedef struct proof {
    bool reference;
    vkt_model *model;
    vkt_optimizer *opt;
    vkt_metric *acc;
    double ref_sum;
    int64_t ref_n, ref_hits, ref_rows;
    uint64_t rb0, rb_epoch, bytes_epoch;
    float store_mean;
} proof;

static vkt_status proof_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                             void *ud)
{
    (void)i;
    proof *p = ud;
    vkt_tensor *logits = vkt_model_forward(p->model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    vkt_status s = vkt_log(t, "train_loss", loss, NULL); /* on_step: a row every 50 steps */
    if (s == VKT_OK && p->reference) {
        float v[16 * C];
        int32_t y[16];
        s = vkt_tensor_download(logits, v, (size_t)b->rows * C * 4);
        if (s == VKT_OK) {
            s = vkt_tensor_download(b->y, y, (size_t)b->rows * 4);
        }
        for (uint32_t r = 0; r < b->rows; r++) {
            int best = 0;
            for (int c = 0; c < C; c++) {
                p->ref_sum += v[r * C + c];
                best = v[r * C + c] > v[r * C + best] ? c : best;
            }
            p->ref_hits += best == y[r];
        }
        p->ref_n += b->rows * C;
        p->ref_rows += b->rows;
    } else if (s == VKT_OK) {
        s = vkt_store(t, "logits", logits, VKT_STORE_CONCAT);
        if (s == VKT_OK) {
            s = vkt_metric_update(p->acc, logits, b->y);
        }
        if (s == VKT_OK) {
            s = vkt_log_metric(t, "train_acc", p->acc, &(vkt_log_opts){.prog_bar = true});
        }
    }
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

static vkt_status proof_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    proof *p = ud;
    oc->optimizer = p->opt;
    oc->model = p->model;
    return VKT_OK;
}

static vkt_status proof_epoch_start(vkt_trainer *t, void *ud)
{
    proof *p = ud;
    vkt_device_stats st;
    vkt_device_get_stats(vkt_trainer_device(t), &st);
    p->rb0 = st.readbacks;
    p->bytes_epoch = st.bytes_downloaded;
    return VKT_OK;
}

static vkt_status proof_epoch_end(vkt_trainer *t, void *ud)
{
    proof *p = ud;
    vkt_device_stats st;
    vkt_device_get_stats(vkt_trainer_device(t), &st);
    p->rb_epoch = st.readbacks - p->rb0;
    p->bytes_epoch = st.bytes_downloaded - p->bytes_epoch;
    if (p->reference) {
        return VKT_OK;
    }
    vkt_tensor *mean = vkt_mean(vkt_store_concat(t, VKT_STAGE_FIT, "logits"));
    vkt_status s = mean ? vkt_tensor_download(mean, &p->store_mean, 4) : vkt_last_status();
    vkt_tensor_free(mean);
    return s;
}

static void run_proof(proof *p, uint32_t steps)
{
    uint32_t n = steps * 16;
    uint8_t *im = malloc((size_t)n * F), *lb = malloc(n);
    for (uint64_t i = 0; i < (uint64_t)n * F; i++) {
        im[i] = (uint8_t)((i * 2654435761u) >> 24);
    }
    for (uint32_t i = 0; i < n; i++) {
        lb[i] = (uint8_t)(im[(uint64_t)i * F] % C);
    }
    vkt_dataset *ds;
    vkt_loader *l;
    assert_int_equal(vkt_dataset_from_memory(im, lb, n, F, &ds), VKT_OK);
    assert_int_equal(vkt_loader_create(test_dev, &(vkt_loader_desc){.dataset = ds, .batch_size = 16,
                                                                    .shuffle = true},
                                       &l),
                     VKT_OK);
    uint32_t sizes[3] = {F, 12, C};
    vkt_model_desc md;
    vkt_mlp_desc(sizes, 3, 1, &md);
    assert_int_equal(vkt_model_create(test_dev, &md, &p->model), VKT_OK);
    assert_int_equal(vkt_optimizer_create(p->model, &(vkt_optim_desc){0}, &p->opt), VKT_OK);
    assert_int_equal(vkt_metric_create(test_dev, &(vkt_metric_desc){.type = VKT_METRIC_ACCURACY,
                                                                    .num_classes = C},
                                       &p->acc),
                     VKT_OK);
    vkt_module m = {.training_step = proof_step, .configure_optimizers = proof_optimizers,
                    .on_train_epoch_start = proof_epoch_start, .user_data = p};
    vkt_callback cb = {.on_train_epoch_end = proof_epoch_end, .user_data = p};
    vkt_trainer *t;
    assert_int_equal(vkt_trainer_create(test_dev, &(vkt_trainer_desc){.max_epochs = 1,
                                                                      .enable_progress_bar =
                                                                          VKT_FLAG_OFF,
                                                                      .enable_checkpointing =
                                                                          VKT_FLAG_OFF,
                                                                      .default_root_dir = tmpdir,
                                                                      .callbacks = {&cb}},
                                        &t),
                     VKT_OK);
    assert_int_equal(vkt_trainer_fit(t, &m, l, NULL), VKT_OK);
    if (!p->reference) {
        float acc = -1;
        assert_true(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "train_acc", &acc));
        p->ref_sum = acc; /* measured run: keep the logged accuracy here */
    }
    vkt_trainer_destroy(t);
    vkt_metric_destroy(p->acc);
    vkt_optimizer_destroy(p->opt);
    vkt_model_destroy(p->model);
    vkt_loader_destroy(l);
    vkt_dataset_destroy(ds);
    free(im);
    free(lb);
}

static void two_hundred_steps_read_only_when_logging(void **state)
{
    (void)state;
    for (uint32_t steps = 100; steps <= 200; steps += 100) {
        proof ref = {.reference = true}, run = {0};
        run_proof(&ref, steps);
        run_proof(&run, steps);
        double cpu_mean = ref.ref_sum / (double)ref.ref_n;
        double cpu_acc = (double)ref.ref_hits / (double)ref.ref_rows;
        fprintf(stderr, "%u steps: %llu reads (%llu bytes) during the epoch; logits mean %.7f "
                        "(cpu %.7f), accuracy %.5f (cpu %.5f)\n",
                steps, (unsigned long long)run.rb_epoch, (unsigned long long)run.bytes_epoch,
                (double)run.store_mean, cpu_mean, run.ref_sum, cpu_acc);
        /* logging points inside the epoch: a train_loss row every 50 steps, one read each of the
         * row's one value; nothing else is read, however many logits the epoch produced */
        assert_int_equal(run.rb_epoch, steps / 50);
        assert_int_equal(run.bytes_epoch, 4 * (steps / 50));
        assert_true(fabs(run.store_mean - cpu_mean) <= 1e-6 * fmax(1.0, fabs(cpu_mean)));
        assert_float_equal(run.ref_sum, cpu_acc, 1e-7);
    }
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/vkt_stores_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        VKT_TEST(concat_store_holds_the_epoch),
        VKT_TEST(reduction_stores_fold_the_epoch),
        VKT_TEST(over_budget_is_a_clear_error_and_keeps_logged_metrics),
        VKT_TEST(store_misuse_is_an_error),
        VKT_TEST(null_value_keeps_the_ops_error),
        VKT_TEST(two_hundred_steps_read_only_when_logging),
    };
    int rc = VKT_RUN_GROUP(tests);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        return 1;
    }
    return rc;
}
