/*
 * epoch_metrics.c — the seed "How can I print PyTorch Lightning's accuracy and loss per epoch?",
 * its three examples in C:
 *
 *   --example 1  train_loss and train_accuracy logged on_step and on_epoch (prog_bar, logger)
 *   --example 2  plus val_loss and val_accuracy in validation_step (on_epoch only)
 *   --example 3  as 2, but train_accuracy on_epoch only
 *
 *     build/examples/epoch_metrics --example 2 [--check]
 *
 * The epoch values are batch-size-weighted means reduced on the device (the last batch of the
 * epoch is smaller: 100 = 3 * 32 + 4), read back only when the progress bar or logger need them.
 * With --check the program compares them with a host computation over the same batches and
 * checks which keys each dictionary and metrics.csv hold.
 */
#include "example_common.h"

typedef struct classifier {
    toy *toy;
    int example;
    bool check;
    /* --check: per epoch, sums weighted by batch rows, computed on the host */
    double train_loss_sum, train_acc_sum, val_loss_sum, val_acc_sum;
    uint32_t train_rows, val_rows;
} classifier;

static void host_add(vkt_tensor *loss, vkt_tensor *acc, uint32_t rows, double *ls, double *as,
                     uint32_t *n)
{
    float l, a;
    vkt_tensor_download(loss, &l, sizeof l);
    vkt_tensor_download(acc, &a, sizeof a);
    *ls += (double)l * rows;
    *as += (double)a * rows;
    *n += rows;
}

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    classifier *c = ud;
    vkt_tensor *logits = vkt_model_forward(c->toy->model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    vkt_tensor *acc = batch_accuracy(logits, b);
    vkt_flag acc_step = c->example == 3 ? VKT_FLAG_OFF : VKT_FLAG_ON;
    vkt_status s = vkt_log(t, "train_loss", loss,
                           &(vkt_log_opts){.on_step = VKT_FLAG_ON, .on_epoch = VKT_FLAG_ON,
                                           .prog_bar = true, .logger = VKT_FLAG_ON});
    if (s == VKT_OK) {
        s = vkt_log(t, "train_accuracy", acc,
                    &(vkt_log_opts){.on_step = acc_step, .on_epoch = VKT_FLAG_ON, .prog_bar = true,
                                    .logger = VKT_FLAG_ON});
    }
    if (c->check && loss && acc) {
        host_add(loss, acc, b->rows, &c->train_loss_sum, &c->train_acc_sum, &c->train_rows);
    }
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

static vkt_status validation_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, uint32_t dl,
                                  vkt_outputs *out, void *ud)
{
    (void)i, (void)dl, (void)out;
    classifier *c = ud;
    vkt_tensor *logits = vkt_model_forward(c->toy->model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    vkt_tensor *acc = batch_accuracy(logits, b);
    vkt_log_opts o = {.on_step = VKT_FLAG_OFF, .on_epoch = VKT_FLAG_ON, .prog_bar = true,
                      .logger = VKT_FLAG_ON};
    vkt_status s = vkt_log(t, "val_loss", loss, &o);
    if (s == VKT_OK) {
        s = vkt_log(t, "val_accuracy", acc, &o);
    }
    if (c->check && loss && acc && !vkt_trainer_sanity_checking(t)) {
        host_add(loss, acc, b->rows, &c->val_loss_sum, &c->val_acc_sum, &c->val_rows);
    }
    return s;
}

static vkt_status on_train_epoch_start(vkt_trainer *t, void *ud)
{
    (void)t;
    classifier *c = ud;
    c->train_loss_sum = c->train_acc_sum = 0;
    c->train_rows = 0;
    return VKT_OK;
}

static vkt_status on_validation_epoch_start(vkt_trainer *t, void *ud)
{
    (void)t;
    classifier *c = ud;
    c->val_loss_sum = c->val_acc_sum = 0;
    c->val_rows = 0;
    return VKT_OK;
}

static float metric(vkt_trainer *t, const char *name)
{
    float v = NAN;
    CHECK(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, name, &v), "callback_metrics[%s] missing",
          name);
    return v;
}

static void close_to(float got, double want, const char *what)
{
    CHECK(fabs(got - want) <= 1e-5 * fmax(1.0, fabs(want)), "%s: %.7f, host %.7f", what,
          (double)got, want);
    printf("check: %-22s %.6f == host %.6f\n", what, (double)got, want);
}

int main(int argc, char **argv)
{
    int example = 1;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--example") == 0) {
            example = atoi(argv[i + 1]);
        }
    }
    CHECK(example >= 1 && example <= 3, "--example is 1, 2 or 3");
    bool check = has_flag(argc, argv, "--check");
    toy toy;
    toy_open(&toy, 0.01f, 32);
    classifier c = {.toy = &toy, .example = example, .check = check};
    vkt_module module = {
        .training_step = training_step,
        .validation_step = example >= 2 ? validation_step : NULL,
        .configure_optimizers = toy_configure_optimizers,
        .on_train_epoch_start = on_train_epoch_start,
        .on_validation_epoch_start = on_validation_epoch_start,
        .user_data = &c,
    };
    vkt_trainer *t;
    VKT_OK_OR_DIE(vkt_trainer_create(toy.dev,
                                     &(vkt_trainer_desc){.max_epochs = 5, .log_every_n_steps = 1,
                                                         .default_root_dir =
                                                             example_dir("epoch_metrics"),
                                                         .enable_checkpointing = VKT_FLAG_OFF},
                                     &t));
    VKT_OK_OR_DIE(vkt_trainer_fit(t, &module, toy.train, example >= 2 ? toy.val : NULL));
    printf("epoch 4: train_loss_epoch %.4f  train_accuracy_epoch %.4f", (double)metric(t,
           "train_loss_epoch"), (double)metric(t, example == 3 ? "train_accuracy"
                                                               : "train_accuracy_epoch"));
    if (example >= 2) {
        printf("  val_loss %.4f  val_accuracy %.4f", (double)metric(t, "val_loss"),
               (double)metric(t, "val_accuracy"));
    }
    printf("\n");
    if (check) {
        close_to(metric(t, "train_loss_epoch"), c.train_loss_sum / c.train_rows,
                 "train_loss_epoch");
        close_to(metric(t, example == 3 ? "train_accuracy" : "train_accuracy_epoch"),
                 c.train_acc_sum / c.train_rows, "train_accuracy (epoch)");
        CHECK(c.train_rows == 100, "train rows %u", c.train_rows);
        /* example 3: no train_accuracy_step anywhere */
        CHECK(vkt_trainer_metric(t, VKT_LOGGED_METRICS, "train_accuracy_step", NULL) ==
                  (example != 3),
              "train_accuracy_step presence");
        if (example >= 2) {
            close_to(metric(t, "val_loss"), c.val_loss_sum / c.val_rows, "val_loss");
            close_to(metric(t, "val_accuracy"), c.val_acc_sum / c.val_rows, "val_accuracy");
            CHECK(metric(t, "val_accuracy") > 0.9f, "the blobs are separable: accuracy %.3f",
                  (double)metric(t, "val_accuracy"));
        }
        /* the file the CSV logger wrote */
        char path[512];
        snprintf(path, sizeof path, "%s/metrics.csv", vkt_trainer_log_dir(t));
        FILE *f = fopen(path, "r");
        CHECK(f, "no %s", path);
        char header[512];
        CHECK(fgets(header, sizeof header, f), "empty metrics.csv");
        fclose(f);
        const char *want = example == 1 ? "epoch,step,train_accuracy_epoch,train_accuracy_step,"
                                          "train_loss_epoch,train_loss_step\r\n"
                           : example == 2 ? "epoch,step,train_accuracy_epoch,train_accuracy_step,"
                                            "train_loss_epoch,train_loss_step,val_accuracy,"
                                            "val_loss\r\n"
                                          : "epoch,step,train_accuracy,train_loss_epoch,"
                                            "train_loss_step,val_accuracy,val_loss\r\n";
        CHECK(strcmp(header, want) == 0, "metrics.csv header\n%swanted\n%s", header, want);
        printf("check: metrics.csv header %s", header);
    }
    vkt_trainer_destroy(t);
    toy_close(&toy);
    return 0;
}
