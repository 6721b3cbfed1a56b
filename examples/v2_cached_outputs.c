/*
 * v2_cached_outputs.c — the seed "Hooks in PyTorch Lightning v2": training_epoch_end(outputs) is
 * gone, so the module caches its step outputs itself and clears them in on_train_epoch_end:
 *
 *     1. a list in the module to hold the outputs of training_step
 *     2. training_step appends to it
 *     3. on_train_epoch_end uses all of them ...
 *     4. ... and clears the list (forgetting this leaks memory every epoch)
 *
 *     build/examples/v2_cached_outputs [--check]
 *
 * With --check: the mean of the cached losses equals train_loss_epoch (every batch has 10 rows, so
 * Lightning's batch-weighted epoch mean is the plain mean), and the cache is empty after each
 * epoch.
 */
#include "example_common.h"

#define MAX_CACHE 64

typedef struct lit_model {
    toy *toy;
    vkt_tensor *step_losses[MAX_CACHE]; /* 1. */
    uint32_t n;
    uint32_t max_cached;
    float last_epoch_mean;
} lit_model;

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    lit_model *m = ud;
    vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(m->toy->model, b->x), b->y);
    vkt_status s = vkt_log(t, "train_loss", loss,
                           &(vkt_log_opts){.on_step = VKT_FLAG_ON, .on_epoch = VKT_FLAG_ON});
    if (s != VKT_OK) {
        return s;
    }
    if (m->n == MAX_CACHE) {
        return vkt_trainer_fail(t, VKT_TOO_LARGE, "step cache full");
    }
    m->step_losses[m->n++] = vkt_tensor_keep(loss); /* 2. (kept alive past the step) */
    m->max_cached = m->n > m->max_cached ? m->n : m->max_cached;
    return vkt_outputs_set(out, "loss", loss);
}

static vkt_status on_train_epoch_end(vkt_trainer *t, void *ud)
{
    lit_model *m = ud;
    vkt_tensor *all = vkt_concat((const vkt_tensor *const *)m->step_losses, m->n); /* 3. */
    vkt_tensor *mean = vkt_mean(all);
    vkt_status s = vkt_log(t, "training_epoch_mean", mean, NULL);
    vkt_tensor_free(all);
    vkt_tensor_free(mean);
    for (uint32_t i = 0; i < m->n; i++) { /* 4. */
        vkt_tensor_free(m->step_losses[i]);
    }
    m->n = 0;
    return s;
}

int main(int argc, char **argv)
{
    bool check = has_flag(argc, argv, "--check");
    toy toy;
    toy_open(&toy, 0.01f, 10);
    lit_model lm = {.toy = &toy};
    vkt_module module = {
        .training_step = training_step,
        .configure_optimizers = toy_configure_optimizers,
        .on_train_epoch_end = on_train_epoch_end,
        .user_data = &lm,
    };
    vkt_trainer *t;
    VKT_OK_OR_DIE(vkt_trainer_create(toy.dev,
                                     &(vkt_trainer_desc){.max_epochs = 3,
                                                         .default_root_dir =
                                                             example_dir("v2_cached_outputs"),
                                                         .enable_checkpointing = VKT_FLAG_OFF},
                                     &t));
    VKT_OK_OR_DIE(vkt_trainer_fit(t, &module, toy.train, NULL));
    float cached, logged;
    CHECK(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "training_epoch_mean", &cached), "missing");
    CHECK(vkt_trainer_metric(t, VKT_CALLBACK_METRICS, "train_loss_epoch", &logged), "missing");
    printf("training_epoch_mean %.6f  train_loss_epoch %.6f  (cache held up to %u losses)\n",
           (double)cached, (double)logged, lm.max_cached);
    if (check) {
        CHECK(fabsf(cached - logged) <= 1e-6f * fmaxf(1.0f, fabsf(logged)), "%.7f vs %.7f",
              (double)cached, (double)logged);
        CHECK(lm.n == 0 && lm.max_cached == 10, "cache: %u left, max %u", lm.n, lm.max_cached);
        printf("check: cached mean == on_epoch mean; cache cleared every epoch\n");
    }
    vkt_trainer_destroy(t);
    toy_close(&toy);
    return 0;
}
