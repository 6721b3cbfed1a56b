/*
 * val_f1_confusion.c — validation F1 (macro) and a confusion matrix at epoch end, in a callback.
 *
 * validation_step keeps its logits and targets in epoch stores; a callback's
 * on_validation_epoch_end takes the whole epoch from the stores, updates two metrics once on the
 * device (vkt/metrics.h), logs the F1 and prints the confusion matrix. The only reads are the ones
 * the callback asks for at epoch end.
 *
 *     build/examples/val_f1_confusion [--check]
 *
 * With --check it recomputes both from the stored logits on the host and compares.
 */
#include "example_common.h"
#include "vkt/metrics.h"

typedef struct clf {
    toy *toy;
    bool check;
    int32_t last_matrix[4];
    float last_f1;
} clf;

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)t, (void)i;
    clf *c = ud;
    return vkt_outputs_set(out, "loss",
                           vkt_softmax_xent(vkt_model_forward(c->toy->model, b->x), b->y));
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    clf *c = ud;
    vkt_status s = vkt_store(t, "logits", vkt_model_forward(c->toy->model, b->x), VKT_STORE_CONCAT);
    return s == VKT_OK ? vkt_store(t, "target", b->y, VKT_STORE_CONCAT) : s;
}

/* The metrics callback */
typedef struct metrics_cb {
    vkt_metric *f1, *confusion;
    clf *clf;
} metrics_cb;

static vkt_status on_validation_epoch_end(vkt_trainer *t, void *ud)
{
    metrics_cb *m = ud;
    if (vkt_trainer_sanity_checking(t)) {
        return VKT_OK;
    }
    vkt_tensor *logits = vkt_store_concat(t, VKT_STAGE_VALIDATE, "logits");
    vkt_tensor *target = vkt_store_concat(t, VKT_STAGE_VALIDATE, "target");
    vkt_status s = vkt_metric_reset(m->f1);
    if (s == VKT_OK) {
        s = vkt_metric_reset(m->confusion);
    }
    if (s == VKT_OK) {
        s = vkt_metric_update(m->f1, logits, target);
    }
    if (s == VKT_OK) {
        s = vkt_metric_update(m->confusion, logits, target);
    }
    vkt_tensor *f1 = s == VKT_OK ? vkt_metric_compute(m->f1) : NULL;
    vkt_tensor *cm = s == VKT_OK ? vkt_metric_compute(m->confusion) : NULL;
    if (s == VKT_OK) {
        s = vkt_log(t, "val_f1", f1, &(vkt_log_opts){.prog_bar = true});
    }
    if (s == VKT_OK) {
        s = vkt_tensor_download(cm, m->clf->last_matrix, sizeof m->clf->last_matrix);
    }
    if (s == VKT_OK) {
        s = vkt_tensor_download(f1, &m->clf->last_f1, sizeof m->clf->last_f1);
    }
    if (s == VKT_OK) {
        const int32_t *x = m->clf->last_matrix;
        vkt_trainer_print(t, "epoch %u: val F1 (macro) %.4f, confusion matrix [[%d, %d], [%d, %d]]"
                             " (rows: target, columns: prediction)\n",
                          vkt_trainer_current_epoch(t), (double)m->clf->last_f1, x[0], x[1], x[2],
                          x[3]);
    }
    vkt_tensor_free(f1);
    vkt_tensor_free(cm);
    return s;
}

int main(int argc, char **argv)
{
    bool check = has_flag(argc, argv, "--check");
    toy toy;
    toy_open(&toy, 0.0005f, 16); /* a slow start: the matrix is not yet diagonal */
    clf c = {.toy = &toy, .check = check};
    metrics_cb mcb = {.clf = &c};
    VKT_OK_OR_DIE(vkt_metric_create(toy.dev, &(vkt_metric_desc){.type = VKT_METRIC_F1,
                                                                .num_classes = 2,
                                                                .average = VKT_AVERAGE_MACRO},
                                    &mcb.f1));
    VKT_OK_OR_DIE(vkt_metric_create(toy.dev, &(vkt_metric_desc){.type = VKT_METRIC_CONFUSION_MATRIX,
                                                                .num_classes = 2},
                                    &mcb.confusion));
    vkt_module module = {
        .training_step = training_step,
        .validation_step = validation_step,
        .configure_optimizers = toy_configure_optimizers,
        .user_data = &c,
    };
    vkt_callback cb = {.on_validation_epoch_end = on_validation_epoch_end, .name = "Metrics",
                       .user_data = &mcb};
    vkt_trainer *t;
    VKT_OK_OR_DIE(vkt_trainer_create(toy.dev,
                                     &(vkt_trainer_desc){.max_epochs = 2, .callbacks = {&cb},
                                                         .default_root_dir =
                                                             example_dir("val_f1_confusion"),
                                                         .enable_checkpointing = VKT_FLAG_OFF},
                                     &t));
    VKT_OK_OR_DIE(vkt_trainer_fit(t, &module, toy.train, toy.val));
    if (check) {
        /* the host's own F1 and matrix from the stored logits of the last validation epoch */
        vkt_tensor *logits = vkt_store_concat(t, VKT_STAGE_VALIDATE, "logits");
        vkt_tensor *target = vkt_store_concat(t, VKT_STAGE_VALIDATE, "target");
        float l[100];
        int32_t y[50], m[4] = {0};
        VKT_OK_OR_DIE(vkt_tensor_download(logits, l, sizeof l));
        VKT_OK_OR_DIE(vkt_tensor_download(target, y, sizeof y));
        for (int i = 0; i < 50; i++) {
            int pred = l[2 * i + 1] > l[2 * i] ? 1 : 0;
            m[y[i] * 2 + pred]++;
        }
        double f1 = 0;
        int present = 0;
        for (int k = 0; k < 2; k++) {
            int tp = m[k * 2 + k], fp = m[(1 - k) * 2 + k], fn = m[k * 2 + (1 - k)];
            if (tp + fp + fn > 0) { /* torchmetrics leaves absent classes out of the macro mean */
                f1 += tp + fp + fn ? 2.0 * tp / (2.0 * tp + fp + fn) : 0.0;
                present++;
            }
        }
        f1 /= present;
        CHECK(memcmp(m, c.last_matrix, sizeof m) == 0, "confusion matrix [[%d,%d],[%d,%d]] vs host "
              "[[%d,%d],[%d,%d]]", c.last_matrix[0], c.last_matrix[1], c.last_matrix[2],
              c.last_matrix[3], m[0], m[1], m[2], m[3]);
        CHECK(fabs(c.last_f1 - f1) <= 1e-6, "F1 %.7f vs host %.7f", (double)c.last_f1, f1);
        float logged;
        CHECK(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "val_f1", &logged) &&
                  fabsf(logged - c.last_f1) == 0.0f,
              "val_f1 in callback_metrics");
        printf("check: F1 %.6f and the confusion matrix match the host\n", f1);
    }
    vkt_trainer_destroy(t);
    vkt_metric_destroy(mcb.f1);
    vkt_metric_destroy(mcb.confusion);
    toy_close(&toy);
    return 0;
}
