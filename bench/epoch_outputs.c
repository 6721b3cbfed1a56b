/*
 * epoch_outputs.c — what it costs to have every batch output at epoch end.
 *
 * For 10, 100 and 1000 steps per epoch (batch 128, logits 128 x 10, an MLP 64-128-10), one epoch
 * with each of:
 *   (a) hand cache   Lightning 2's advice: training_step appends logits.cpu() to a list, the epoch
 *                    end concatenates on the host and takes the mean and accuracy
 *   (b) concat store vkt_store(..., VKT_STORE_CONCAT): every batch kept on the device, mean and
 *                    accuracy computed there at epoch end
 *   (c) streaming    vkt_store(..., VKT_STORE_MEAN) for the mean logit and an epoch accuracy from
 *                    device counters: constant memory
 * and prints host memory for the outputs, device memory of the stores (peak), bytes read back and
 * host reads during the epoch. All three give the same epoch mean (checked).
 *
 *     build/bench/epoch_outputs [--steps 10,100,1000]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkt/vkt.h"

enum { F = 64, C = 10, B = 128 };
typedef enum { HAND, CONCAT, STREAM } mode;
static const char *mode_names[] = {"(a) hand cache, host", "(b) epoch store, concat",
                                   "(c) epoch store, streaming"};

typedef struct bench {
    mode mode;
    vkt_model *model;
    vkt_optimizer *opt;
    float **host_batches; /* (a) */
    int32_t **host_labels;
    uint32_t n_host;
    uint64_t host_bytes;
    vkt_tensor *correct;   /* (c): i32 running count of correct predictions */
    double mean;           /* result */
    double acc;
    vkt_device_stats at_start, at_end;
    double t0, seconds;
} bench;

#include <time.h>
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define OK(call)                                                                                   \
    do {                                                                                           \
        if ((call) != VKT_OK) {                                                                    \
            fprintf(stderr, "%s: %s\n", #call, vkt_last_error());                                  \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static vkt_status training_step(vkt_trainer *t, const vkt_batch *b, uint32_t i, vkt_outputs *out,
                                void *ud)
{
    (void)i;
    bench *k = ud;
    vkt_tensor *logits = vkt_model_forward(k->model, b->x);
    vkt_tensor *loss = vkt_softmax_xent(logits, b->y);
    vkt_status s = VKT_OK;
    switch (k->mode) {
    case HAND: { /* outputs.append(logits.cpu()) */
        size_t bytes = (size_t)b->rows * C * 4;
        float *h = malloc(bytes);
        int32_t *y = malloc(b->rows * 4);
        k->host_batches = realloc(k->host_batches, (k->n_host + 1) * sizeof *k->host_batches);
        k->host_labels = realloc(k->host_labels, (k->n_host + 1) * sizeof *k->host_labels);
        s = vkt_tensor_download(logits, h, bytes);
        if (s == VKT_OK) {
            s = vkt_tensor_download(b->y, y, b->rows * 4);
        }
        k->host_batches[k->n_host] = h;
        k->host_labels[k->n_host++] = y;
        k->host_bytes += bytes + b->rows * 4;
        break;
    }
    case CONCAT:
        s = vkt_store(t, "logits", logits, VKT_STORE_CONCAT);
        if (s == VKT_OK) {
            s = vkt_store(t, "labels", b->y, VKT_STORE_CONCAT);
        }
        break;
    case STREAM:
        s = vkt_store(t, "logits", logits, VKT_STORE_MEAN);
        if (s == VKT_OK) {
            s = vkt_accumulate(k->correct, vkt_count_equal(vkt_argmax_rows(logits), b->y), 1.0f);
        }
        break;
    }
    return s == VKT_OK ? vkt_outputs_set(out, "loss", loss) : s;
}

static vkt_status configure_optimizers(vkt_trainer *t, vkt_optim_config *oc, void *ud)
{
    (void)t;
    bench *k = ud;
    oc->optimizer = k->opt;
    oc->model = k->model;
    return VKT_OK;
}

static vkt_status on_train_epoch_start(vkt_trainer *t, void *ud)
{
    bench *k = ud;
    vkt_device_finish(vkt_trainer_device(t));
    vkt_device_get_stats(vkt_trainer_device(t), &k->at_start);
    k->t0 = now();
    return VKT_OK;
}

static vkt_status on_train_epoch_end(vkt_trainer *t, void *ud)
{
    bench *k = ud;
    vkt_status s = VKT_OK;
    uint64_t rows = 0, hits = 0;
    double sum = 0;
    if (k->mode == HAND) { /* torch.cat(outputs).mean() on the host */
        for (uint32_t i = 0; i < k->n_host; i++) {
            for (int r = 0; r < B; r++) {
                int best = 0;
                for (int c = 0; c < C; c++) {
                    float v = k->host_batches[i][r * C + c];
                    sum += v;
                    best = v > k->host_batches[i][r * C + best] ? c : best;
                }
                hits += best == k->host_labels[i][r];
                rows++;
            }
        }
        k->mean = sum / (double)(rows * C);
        k->acc = (double)hits / (double)rows;
    } else if (k->mode == CONCAT) {
        vkt_tensor *all = vkt_store_concat(t, VKT_STAGE_FIT, "logits");
        vkt_tensor *labels = vkt_store_concat(t, VKT_STAGE_FIT, "labels");
        vkt_tensor *mean = vkt_mean(all);
        vkt_tensor *h = vkt_count_equal(vkt_argmax_rows(all), labels);
        float m = 0;
        int32_t c = 0;
        s = vkt_tensor_download(mean, &m, 4);
        if (s == VKT_OK) {
            s = vkt_tensor_download(h, &c, 4);
        }
        k->mean = m;
        k->acc = (double)c / (double)vkt_tensor_dim(all, 0);
        vkt_tensor_free(mean);
        vkt_tensor_free(h);
    } else {
        vkt_tensor *col_means = vkt_store_result(t, VKT_STAGE_FIT, "logits"); /* (C) */
        vkt_tensor *mean = vkt_mean(col_means);
        float m = 0;
        int32_t c = 0;
        s = vkt_tensor_download(mean, &m, 4);
        if (s == VKT_OK) {
            s = vkt_tensor_download(k->correct, &c, 4);
        }
        k->mean = m;
        k->acc = (double)c / (double)vkt_store_rows(t, VKT_STAGE_FIT, "logits");
        vkt_tensor_free(mean);
    }
    vkt_device_get_stats(vkt_trainer_device(t), &k->at_end);
    k->seconds = now() - k->t0;
    return s;
}

static void run(vkt_device *dev, uint32_t steps, mode md, bench *k)
{
    uint32_t n = steps * B;
    uint8_t *im = malloc((size_t)n * F), *lb = malloc(n);
    for (uint64_t i = 0; i < (uint64_t)n * F; i++) {
        im[i] = (uint8_t)((i * 2654435761u) >> 24);
    }
    for (uint32_t i = 0; i < n; i++) {
        lb[i] = (uint8_t)(im[(uint64_t)i * F] % C);
    }
    vkt_dataset *ds;
    vkt_loader *l;
    OK(vkt_dataset_from_memory(im, lb, n, F, &ds));
    OK(vkt_loader_create(dev, &(vkt_loader_desc){.dataset = ds, .batch_size = B, .shuffle = true},
                         &l));
    uint32_t sizes[3] = {F, 128, C};
    vkt_model_desc d;
    OK(vkt_mlp_desc(sizes, 3, 0, &d));
    memset(k, 0, sizeof *k);
    k->mode = md;
    OK(vkt_model_create(dev, &d, &k->model));
    OK(vkt_optimizer_create(k->model, &(vkt_optim_desc){0}, &k->opt));
    k->correct = vkt_tensor_new_1d(dev, VKT_I32, 1);
    OK(vkt_fill(k->correct, 0));
    vkt_module m = {.training_step = training_step, .configure_optimizers = configure_optimizers,
                    .on_train_epoch_start = on_train_epoch_start,
                    .on_train_epoch_end = on_train_epoch_end, .user_data = k};
    vkt_trainer *t;
    OK(vkt_trainer_create(dev, &(vkt_trainer_desc){.max_epochs = 1,
                                                   .enable_progress_bar = VKT_FLAG_OFF,
                                                   .enable_checkpointing = VKT_FLAG_OFF,
                                                   .logger = VKT_FLAG_OFF,
                                                   .store_budget = 1ull << 30},
                           &t));
    OK(vkt_trainer_fit(t, &m, l, NULL));
    vkt_trainer_destroy(t);
    for (uint32_t i = 0; i < k->n_host; i++) {
        free(k->host_batches[i]);
        free(k->host_labels[i]);
    }
    free(k->host_batches);
    free(k->host_labels);
    vkt_tensor_free(k->correct);
    vkt_optimizer_destroy(k->opt);
    vkt_model_destroy(k->model);
    vkt_loader_destroy(l);
    vkt_dataset_destroy(ds);
    free(im);
    free(lb);
}

static void human(char *buf, size_t n, double bytes)
{
    if (bytes >= 1048576.0) {
        snprintf(buf, n, "%.1f MiB", bytes / 1048576.0);
    } else if (bytes >= 1024.0) {
        snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
    } else {
        snprintf(buf, n, "%.0f B", bytes);
    }
}

int main(int argc, char **argv)
{
    uint32_t steps[8] = {10, 100, 1000};
    int n_steps = 3;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], "--steps") == 0) {
            n_steps = 0;
            for (char *tok = strtok(argv[i + 1], ","); tok && n_steps < 8;
                 tok = strtok(NULL, ",")) {
                steps[n_steps++] = (uint32_t)atoi(tok);
            }
        }
    }
    vkt_device *dev;
    OK(vkt_device_create(&(vkt_device_desc){0}, &dev));
    printf("device: %s; batch %d, logits %dx%d per step, one epoch each\n\n",
           vkt_device_get_info(dev)->name, B, B, C);
    printf("| steps/epoch | method | host memory for outputs | device memory of stores (peak) "
           "| bytes read back | host reads | epoch time | epoch mean logit | accuracy |\n");
    printf("|---:|---|---:|---:|---:|---:|---:|---:|---:|\n");
    int bad = 0;
    for (int s = 0; s < n_steps; s++) {
        double means[3];
        for (int md = 0; md < 3; md++) {
            bench k;
            run(dev, steps[s], (mode)md, &k);
            char hm[32], dm[32], rb[32];
            human(hm, sizeof hm, (double)k.host_bytes);
            human(dm, sizeof dm, (double)(k.at_end.memory_stores_peak));
            human(rb, sizeof rb, (double)(k.at_end.bytes_downloaded - k.at_start.bytes_downloaded));
            printf("| %u | %s | %s | %s | %s | %llu | %.2f s | %.6f | %.4f |\n", steps[s],
                   mode_names[md], hm, dm, rb,
                   (unsigned long long)(k.at_end.readbacks - k.at_start.readbacks), k.seconds,
                   k.mean, k.acc);
            means[md] = k.mean;
            vkt_device_reset_stats(dev);
        }
        for (int md = 1; md < 3; md++) {
            if (fabs(means[md] - means[0]) > 1e-4 * fmax(1.0, fabs(means[0]))) {
                fprintf(stderr, "mismatch: %s mean %.7f vs hand cache %.7f\n", mode_names[md],
                        means[md], means[0]);
                bad = 1;
            }
        }
    }
    vkt_device_destroy(dev);
    return bad;
}
