/*
 * output_collector.c — the seed "How to access all batch outputs at epoch end in callbacks?",
 * written with vkt as the seed writes it for Lightning 2: training_step returns the logits beside
 * the loss; OutputCollectorCallback keeps every batch's outputs, reset in on_train_epoch_start;
 * OutputProcessingCallback concatenates all logits in on_train_epoch_end and logs their mean.
 *
 * This is the hand-made cache that Lightning 2 leaves to its users (memory grows with the epoch).
 * examples/epoch_store.c (issue "epoch stores") does the same without the cache.
 *
 *     build/examples/output_collector [--check]
 *
 * With --check it also downloads every batch's logits and checks the logged mean against a host
 * computation (and exits non-zero on a mismatch); the test suite runs it so.
 */
#include "example_common.h"

#define MAX_BATCHES 64

typedef struct simple_model {
    toy *toy;                     /* first: toy_configure_optimizers reads it */
    bool check;
    double host_sum[8];           /* --check: sum of all logits per epoch, computed on the host */
    int64_t host_count[8];
} simple_model;

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)t, (void)i;
    simple_model *m = ud;
    vkt_tensor *logits = vkt_model_forward(m->toy->model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    if (m->check && logits) {
        float v[64 * 2];
        int64_t n = vkt_tensor_numel(logits);
        vkt_tensor_download(logits, v, (size_t)n * sizeof(float));
        for (int64_t k = 0; k < n; k++) {
            m->host_sum[vkt_trainer_current_epoch(t)] += v[k];
        }
        m->host_count[vkt_trainer_current_epoch(t)] += n;
    }
    vkt_outputs_set(out, "logits", logits); /* Crucial step: return the output too */
    return vkt_outputs_set(out, "loss", loss);
}

/* OutputCollectorCallback: pl_module.epoch_outputs = [] / .append(outputs) */
typedef struct collector {
    vkt_tensor *logits[MAX_BATCHES];
    uint32_t n;
} collector;

static vkt_status collector_epoch_start(vkt_trainer *t, void *ud)
{
    (void)t;
    collector *c = ud;
    for (uint32_t i = 0; i < c->n; i++) {
        vkt_tensor_free(c->logits[i]); /* reset for the new epoch */
    }
    c->n = 0;
    return VKT_OK;
}

static vkt_status collector_batch_end(vkt_trainer *t, const vkt_outputs *o, const vkt_batch *b,
                                      uint32_t i, void *ud)
{
    (void)b, (void)i;
    collector *c = ud;
    if (c->n == MAX_BATCHES) {
        return vkt_trainer_fail(t, VKT_TOO_LARGE, "collector: more than %d batches", MAX_BATCHES);
    }
    /* keep the step's logits past the end of the step: the memory cost of this pattern */
    c->logits[c->n++] = vkt_tensor_keep(vkt_outputs_get(o, "logits"));
    return VKT_OK;
}

/* OutputProcessingCallback: torch.cat(all logits).mean(), logged */
static vkt_status processing_epoch_end(vkt_trainer *t, void *ud)
{
    collector *c = ud;
    vkt_tensor *all = vkt_concat((const vkt_tensor *const *)c->logits, c->n);
    vkt_tensor *avg = vkt_mean(all);
    vkt_status s = vkt_log(t, "avg_logits", avg, NULL);
    vkt_tensor_free(all);
    vkt_tensor_free(avg);
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
        .user_data = &sm,
    };
    collector col = {0};
    vkt_callback collect = {.on_train_epoch_start = collector_epoch_start,
                            .on_train_batch_end = collector_batch_end,
                            .name = "OutputCollectorCallback",
                            .user_data = &col};
    vkt_callback process = {.on_train_epoch_end = processing_epoch_end,
                            .name = "OutputProcessingCallback",
                            .user_data = &col};
    vkt_trainer *t;
    VKT_OK_OR_DIE(vkt_trainer_create(toy.dev,
                                     &(vkt_trainer_desc){.max_epochs = 2,
                                                         .callbacks = {&collect, &process},
                                                         .default_root_dir =
                                                             example_dir("output_collector"),
                                                         .enable_checkpointing = VKT_FLAG_OFF},
                                     &t));
    VKT_OK_OR_DIE(vkt_trainer_fit(t, &module, toy.train, NULL));
    float avg;
    CHECK(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "avg_logits", &avg), "avg_logits not logged");
    printf("avg_logits (last epoch) = %.6f over %u batches\n", (double)avg, col.n);
    if (check) {
        double want = sm.host_sum[1] / (double)sm.host_count[1];
        CHECK(col.n == 10, "collected %u batches, expected 10", col.n);
        CHECK(fabs(avg - want) <= 1e-5 * fmax(1.0, fabs(want)), "avg_logits %.7f, host %.7f",
              (double)avg, want);
        printf("check: matches the host mean %.6f of %lld logits\n", want,
               (long long)sm.host_count[1]);
    }
    collector_epoch_start(t, &col);
    vkt_trainer_destroy(t);
    toy_close(&toy);
    return 0;
}
