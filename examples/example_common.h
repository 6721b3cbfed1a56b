/*
 * example_common.h — what the examples share: the seeds' toy problem (100 training and 50
 * validation samples of 10 features, 2 classes; here two Gaussian blobs stored as bytes) and a
 * small MLP module. Header-only so each example stays one readable file.
 */
#ifndef VKT_EXAMPLE_COMMON_H
#define VKT_EXAMPLE_COMMON_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vkt/vkt.h"

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check failed (%s:%d): ", __FILE__, __LINE__);                         \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define VKT_OK_OR_DIE(call)                                                                        \
    do {                                                                                           \
        if ((call) != VKT_OK) {                                                                    \
            fprintf(stderr, "%s failed: %s\n", #call, vkt_last_error());                           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

typedef struct toy {
    vkt_device *dev;
    vkt_dataset *data;
    vkt_loader *train, *val;
    vkt_model *model;
    vkt_optimizer *opt;
} toy;

/* Two blobs of 10 byte-valued features around 96 and 160 (class 0 and 1), seeded. */
static inline void toy_open(toy *t, float lr, uint32_t batch)
{
    enum { N = 150, F = 10 };
    static uint8_t im[N * F], lb[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)(i % 2);
        for (int f = 0; f < F; f++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            double u = (double)(s >> 11) / 9007199254740992.0;
            double v = (lb[i] ? 160.0 : 96.0) + (u - 0.5) * 120.0;
            im[i * F + f] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    VKT_OK_OR_DIE(vkt_device_create(&(vkt_device_desc){0}, &t->dev));
    VKT_OK_OR_DIE(vkt_dataset_from_memory(im, lb, N, F, &t->data));
    uint32_t tr[100], va[50];
    for (uint32_t i = 0; i < 100; i++) {
        tr[i] = i;
    }
    for (uint32_t i = 0; i < 50; i++) {
        va[i] = 100 + i;
    }
    VKT_OK_OR_DIE(vkt_loader_create(t->dev, &(vkt_loader_desc){.dataset = t->data,
                                                               .batch_size = batch,
                                                               .shuffle = true, .indices = tr,
                                                               .count = 100,
                                                               .norm = VKT_NORM_MEAN_STD,
                                                               .mean = 0.5f, .std = 0.25f},
                                    &t->train));
    VKT_OK_OR_DIE(vkt_loader_create(t->dev, &(vkt_loader_desc){.dataset = t->data,
                                                               .batch_size = batch,
                                                               .indices = va, .count = 50,
                                                               .norm = VKT_NORM_MEAN_STD,
                                                               .mean = 0.5f, .std = 0.25f},
                                    &t->val));
    uint32_t sizes[3] = {F, 64, 2};
    vkt_model_desc md;
    VKT_OK_OR_DIE(vkt_mlp_desc(sizes, 3, 0, &md));
    VKT_OK_OR_DIE(vkt_model_create(t->dev, &md, &t->model));
    VKT_OK_OR_DIE(vkt_optimizer_create(
        t->model, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM, .lr = lr}, &t->opt));
}

static inline void toy_close(toy *t)
{
    vkt_device_stats st;
    vkt_device_get_stats(t->dev, &st);
    CHECK(st.validation_messages == 0, "%llu Vulkan validation messages",
          (unsigned long long)st.validation_messages);
    vkt_optimizer_destroy(t->opt);
    vkt_model_destroy(t->model);
    vkt_loader_destroy(t->train);
    vkt_loader_destroy(t->val);
    vkt_dataset_destroy(t->data);
    vkt_device_destroy(t->dev);
}

static inline vkt_status toy_configure_optimizers(vkt_trainer *tr, vkt_optim_config *oc, void *ud)
{
    (void)tr;
    toy *t = *(toy **)ud; /* every example's user data starts with a toy pointer */
    oc->optimizer = t->opt;
    oc->model = t->model;
    return VKT_OK;
}

/* accuracy of a batch as a one-element f32 device tensor: mean(argmax(logits) == y) */
static inline vkt_tensor *batch_accuracy(vkt_tensor *logits, const vkt_batch *b)
{
    return vkt_scale(vkt_cast(vkt_count_equal(vkt_argmax_rows(logits), b->y), VKT_F32),
                     1.0f / (float)b->rows);
}

static inline bool has_flag(int argc, char **argv, const char *flag)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], flag) == 0) {
            return true;
        }
    }
    return false;
}

/* A scratch directory for lightning_logs/ (examples run in parallel in the test suite). */
static inline const char *example_dir(const char *name)
{
    static char dir[256];
    snprintf(dir, sizeof dir, "/tmp/vkt_example_%s_XXXXXX", name);
    if (!mkdtemp(dir)) {
        snprintf(dir, sizeof dir, ".");
    }
    return dir;
}

#endif
