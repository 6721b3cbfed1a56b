/*
 * epoch_store.c — the seeds' output collector (examples/output_collector.c) on epoch stores:
 * training_step stores its logits, one callback reads all of them at epoch end and logs their
 * mean. No hand-made list, no clear(), nothing pulled to the host per step: the store lives on
 * the device and empties itself when the next epoch starts.
 *
 *     build/examples/epoch_store [--check]
 *
 * With --check it also reads every batch's logits to the host (only then) and checks the logged
 * mean and the store's row count against them.
 */
#include "example_common.h"

typedef struct simple_model {
    toy *toy;                     /* first: toy_configure_optimizers reads it */
    bool check;
    double host_sum;              /* --check: this epoch's logits summed on the host */
    int64_t host_count;
} simple_model;

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    simple_model *m = ud;
    vkt_tensor *logits = vkt_model_forward(m->toy->model, b->x);
    vkt_status s = vkt_store(t, "logits", logits, VKT_STORE_CONCAT); /* kept for the epoch */
    if (m->check && s == VKT_OK) {
        float v[64 * 2];
        int64_t n = vkt_tensor_numel(logits);
        s = vkt_tensor_download(logits, v, (size_t)n * sizeof(float));
        for (int64_t k = 0; k < n; k++) {
            m->host_sum += v[k];
        }
        m->host_count += n;
    }
    return s == VKT_OK ? vkt_outputs_set(out, "loss", vkt_softmax_xent(logits, b->y)) : s;
}

static vkt_status on_train_epoch_start(vkt_trainer *t, void *ud)
{
    (void)t;
    simple_model *m = ud;
    m->host_sum = 0;
    m->host_count = 0;
    return VKT_OK;
}

/* OutputProcessingCallback, without the collector */
static vkt_status processing_epoch_end(vkt_trainer *t, void *ud)
{
    (void)ud;
    vkt_tensor *all = vkt_store_concat(t, VKT_STAGE_FIT, "logits"); /* (100, 2), on the device */
    vkt_tensor *mean = vkt_mean(all);
    vkt_status s = vkt_log(t, "avg_logits", mean, NULL);
    vkt_tensor_free(mean);
    return s;
}

int main(int argc, char **argv)
{
    bool check = has_flag(argc, argv, "--check");
    toy toy;
    toy_open(&toy, 0.02f, 10);
    simple_model sm = {.toy = &toy, .check = check};
    vkt_module module = {
        .training_step = training_step,
        .configure_optimizers = toy_configure_optimizers,
        .on_train_epoch_start = on_train_epoch_start,
        .user_data = &sm,
    };
    vkt_callback process = {.on_train_epoch_end = processing_epoch_end,
                            .name = "OutputProcessingCallback"};
    vkt_trainer *t;
    VKT_OK_OR_DIE(vkt_trainer_create(toy.dev,
                                     &(vkt_trainer_desc){.max_epochs = 2, .callbacks = {&process},
                                                         .default_root_dir =
                                                             example_dir("epoch_store"),
                                                         .enable_checkpointing = VKT_FLAG_OFF},
                                     &t));
    vkt_device_reset_stats(toy.dev);
    VKT_OK_OR_DIE(vkt_trainer_fit(t, &module, toy.train, NULL));
    float avg;
    CHECK(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "avg_logits", &avg), "avg_logits not logged");
    vkt_device_stats st;
    vkt_device_get_stats(toy.dev, &st);
    printf("avg_logits (last epoch) = %.6f over %lld rows; stores peaked at %llu bytes of device "
           "memory\n",
           (double)avg, (long long)vkt_store_rows(t, VKT_STAGE_FIT, "logits"),
           (unsigned long long)st.memory_stores_peak);
    if (check) {
        double want = sm.host_sum / (double)sm.host_count;
        CHECK(vkt_store_rows(t, VKT_STAGE_FIT, "logits") == 100, "rows %lld",
              (long long)vkt_store_rows(t, VKT_STAGE_FIT, "logits"));
        CHECK(fabs(avg - want) <= 1e-5 * fmax(1.0, fabs(want)), "avg_logits %.7f, host %.7f",
              (double)avg, want);
        printf("check: matches the host mean %.6f of %lld logits\n", want,
               (long long)sm.host_count);
    }
    vkt_trainer_destroy(t);
    toy_close(&toy);
    return 0;
}
