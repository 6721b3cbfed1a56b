/*
 * loader.c — batches from a dataset: gathered on the device or streamed from the host.
 *
 * Device path: the loader's samples (its subset, in subset order) are uploaded once as bytes
 * (images and labels packed four to a 32-bit word). Each epoch uploads one permutation of
 * 4 * count bytes; each batch is one dispatch of shaders/gather_batch.comp. A training step thus
 * transfers nothing from the host.
 *
 * Stream path (data larger than the device allows, or desc.stream): each batch is normalised on
 * the host and uploaded through the staging ring, recorded into the current command buffer; the
 * device is still running earlier steps meanwhile, so the upload of step n+1 overlaps step n.
 */
#include <string.h>

#include "data/data_internal.h"
#include "tensor/tensor_impl.h"
#include "vkt/data.h"

/* Mirrors `PC` in shaders/gather_batch.comp. */
typedef struct vkt__pc_gather {
    uint32_t features, rows, start;
    float scale, bias;
} vkt__pc_gather;
_Static_assert(sizeof(vkt__pc_gather) <= VKT__PUSH_MAX, "push constants");

#define GATHER_WG 256u

struct vkt_loader {
    vkt_device *dev;
    vkt_dataset *ds;
    vkt_loader_desc desc;
    uint32_t *subset;       /* dataset indices of this loader's samples */
    uint32_t count;
    uint32_t *order;        /* this epoch's order, as positions in subset */
    uint32_t cursor, batch;
    float scale, bias;
    bool on_device;
    bool perm_ready;        /* device path: perm holds the current order */
    vkt_tensor *images;     /* device path: subset bytes, i32 words */
    vkt_tensor *labels;
    vkt_tensor *perm;       /* device path: the epoch's order */
    float *host_x;          /* stream path scratch */
    int32_t *host_y;
};

uint32_t vkt_loader_num_samples(const vkt_loader *l)
{
    uint32_t bs = l->desc.batch_size;
    return l->desc.drop_last ? (l->count / bs) * bs : l->count;
}

uint32_t vkt_loader_num_batches(const vkt_loader *l)
{
    uint32_t bs = l->desc.batch_size;
    return l->desc.drop_last ? l->count / bs : (l->count + bs - 1) / bs;
}

bool vkt_loader_on_device(const vkt_loader *l) { return l->on_device; }

/* Packs bytes into a word tensor (zero-padded to a multiple of 4). */
static vkt_tensor *upload_bytes(vkt_device *dev, const uint8_t *bytes, size_t n)
{
    size_t words = (n + 3) / 4;
    uint8_t *tmp = vkt__calloc(words, 4);
    if (!tmp) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    memcpy(tmp, bytes, n);
    vkt_tensor *t = vkt_tensor_new_1d(dev, VKT_I32, (int64_t)words);
    if (t) {
        vkt_tensor_keep(t);
        if (vkt_tensor_upload(t, tmp, words * 4) != VKT_OK) {
            vkt_tensor_free(t);
            t = NULL;
        }
    }
    free(tmp);
    return t;
}

static vkt_status to_device(vkt_loader *l)
{
    uint32_t f = vkt_dataset_features(l->ds);
    size_t bytes = (size_t)l->count * f;
    const vkt_device_info *info = vkt_device_get_info(l->dev);
    /* fits one binding, and leaves most of the memory budget to the model */
    if (bytes + 4 > info->max_storage_buffer_range) {
        return VKT_UNSUPPORTED;
    }
    uint8_t *im = vkt__malloc(bytes), *lb = vkt__malloc(l->count);
    if (!im || !lb) {
        free(im);
        free(lb);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < l->count; i++) {
        memcpy(im + (size_t)i * f, vkt_dataset_image(l->ds, l->subset[i]), f);
        lb[i] = vkt_dataset_label(l->ds, l->subset[i]);
    }
    l->images = upload_bytes(l->dev, im, bytes);
    l->labels = l->images ? upload_bytes(l->dev, lb, l->count) : NULL;
    free(im);
    free(lb);
    l->perm = l->labels ? vkt_tensor_new_1d(l->dev, VKT_I32, l->count) : NULL;
    if (!l->perm) {
        vkt_status s = vkt_last_status();
        vkt_tensor_free(l->images);
        vkt_tensor_free(l->labels);
        l->images = l->labels = NULL;
        return s; /* e.g. out of device memory: fall back to streaming */
    }
    vkt_tensor_keep(l->perm);
    l->on_device = true;
    return VKT_OK;
}

vkt_status vkt_loader_create(vkt_device *dev, const vkt_loader_desc *desc_in, vkt_loader **out)
{
    *out = NULL;
    if (!dev || !desc_in || !desc_in->dataset) {
        return vkt__error(VKT_INVALID_ARGUMENT,
                          "vkt_loader_create: device and dataset are required");
    }
    vkt_loader *l = vkt__calloc(1, sizeof *l);
    if (!l) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    l->dev = dev;
    l->ds = desc_in->dataset;
    l->desc = *desc_in;
    l->desc.batch_size = VKT__DEF(l->desc.batch_size, 32u);
    l->desc.norm = VKT__DEF(l->desc.norm, VKT_NORM_UNIT);
    uint32_t n = vkt_dataset_count(l->ds);
    l->count = desc_in->indices ? desc_in->count : n;
    vkt_status s = VKT_OK;
    if (l->count == 0) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: no samples");
        goto fail;
    }
    switch (l->desc.norm) {
    case VKT_NORM_MEAN_STD:
        if (!(l->desc.std > 0.0f)) {
            s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: std must be > 0 for "
                                                 "VKT_NORM_MEAN_STD");
            goto fail;
        }
        l->scale = 1.0f / (255.0f * l->desc.std);
        l->bias = -l->desc.mean / l->desc.std;
        break;
    case VKT_NORM_NONE:
        l->scale = 1.0f;
        l->bias = 0.0f;
        break;
    default:
        l->scale = 1.0f / 255.0f;
        l->bias = 0.0f;
    }
    l->subset = vkt__malloc((size_t)l->count * sizeof *l->subset);
    l->order = vkt__malloc((size_t)l->count * sizeof *l->order);
    if (!l->subset || !l->order) {
        s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        goto fail;
    }
    for (uint32_t i = 0; i < l->count; i++) {
        l->subset[i] = desc_in->indices ? desc_in->indices[i] : i;
        if (l->subset[i] >= n) {
            s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: index %u at position %u is "
                                                 "past the %u samples of the dataset",
                           l->subset[i], i, n);
            goto fail;
        }
        l->order[i] = i;
    }
    l->desc.indices = NULL;
    if (!l->desc.stream) {
        s = to_device(l);
        if (s == VKT_OUT_OF_HOST_MEMORY) {
            goto fail;
        }
        s = VKT_OK; /* anything else: stream instead */
        vkt_clear_error();
    }
    if (!l->on_device) {
        uint32_t f = vkt_dataset_features(l->ds);
        l->host_x = vkt__malloc((size_t)l->desc.batch_size * f * sizeof *l->host_x);
        l->host_y = vkt__malloc((size_t)l->desc.batch_size * sizeof *l->host_y);
        if (!l->host_x || !l->host_y) {
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            goto fail;
        }
    }
    l->cursor = l->count; /* no epoch started */
    *out = l;
    return VKT_OK;

fail:
    vkt_loader_destroy(l);
    return s;
}

void vkt_loader_destroy(vkt_loader *l)
{
    if (!l) {
        return;
    }
    vkt_tensor_free(l->images);
    vkt_tensor_free(l->labels);
    vkt_tensor_free(l->perm);
    free(l->subset);
    free(l->order);
    free(l->host_x);
    free(l->host_y);
    free(l);
}

vkt_status vkt_loader_start_epoch(vkt_loader *l, uint32_t epoch)
{
    for (uint32_t i = 0; i < l->count; i++) {
        l->order[i] = i;
    }
    if (l->desc.shuffle) {
        vkt__rng r = {l->desc.seed * 0x9E3779B97F4A7C15ull + epoch + 1};
        for (uint32_t i = l->count - 1; i > 0; i--) {
            uint32_t j = vkt__rng_below(&r, i + 1);
            uint32_t t = l->order[i];
            l->order[i] = l->order[j];
            l->order[j] = t;
        }
    }
    l->cursor = 0;
    l->batch = 0;
    if (l->on_device && (l->desc.shuffle || !l->perm_ready)) {
        /* one small upload per epoch; unshuffled orders are uploaded once */
        l->perm_ready = true;
        return vkt_tensor_upload(l->perm, l->order, (size_t)l->count * sizeof *l->order);
    }
    return VKT_OK;
}

bool vkt_loader_next(vkt_loader *l, vkt_batch *b)
{
    memset(b, 0, sizeof *b);
    vkt_clear_error();
    uint32_t remaining = l->count - l->cursor;
    uint32_t rows = VKT__MIN(remaining, l->desc.batch_size);
    if (rows == 0 || (l->desc.drop_last && rows < l->desc.batch_size)) {
        return false;
    }
    uint32_t f = vkt_dataset_features(l->ds);
    vkt_tensor *x = vkt_tensor_new_2d(l->dev, VKT_F32, rows, f);
    vkt_tensor *y = x ? vkt_tensor_new_1d(l->dev, VKT_I32, rows) : NULL;
    if (!y) {
        vkt_tensor_free(x);
        return false;
    }
    vkt_status s;
    if (l->on_device) {
        vkt__pc_gather pc = {f, rows, l->cursor, l->scale, l->bias};
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_GATHER_BATCH,
            .spec = {GATHER_WG},
            .spec_count = 1,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {vkt__bind(l->images, VKT__READ), vkt__bind(l->labels, VKT__READ),
                         vkt__bind(l->perm, VKT__READ), vkt__bind(x, VKT__WRITE),
                         vkt__bind(y, VKT__WRITE)},
        };
        vkt__elementwise_groups((uint64_t)rows * f, GATHER_WG, d.groups);
        s = vkt__dispatch(l->dev, &d);
    } else {
        for (uint32_t r = 0; r < rows; r++) {
            uint32_t sample = l->subset[l->order[l->cursor + r]];
            const uint8_t *img = vkt_dataset_image(l->ds, sample);
            for (uint32_t j = 0; j < f; j++) {
                l->host_x[(size_t)r * f + j] = (float)img[j] * l->scale + l->bias;
            }
            l->host_y[r] = vkt_dataset_label(l->ds, sample);
        }
        s = vkt_tensor_upload(x, l->host_x, (size_t)rows * f * sizeof(float));
        if (s == VKT_OK) {
            s = vkt_tensor_upload(y, l->host_y, (size_t)rows * sizeof(int32_t));
        }
    }
    if (s != VKT_OK) {
        vkt_tensor_free(x);
        vkt_tensor_free(y);
        return false;
    }
    b->x = x;
    b->y = y;
    b->rows = rows;
    b->index = l->batch++;
    l->cursor += rows;
    return true;
}

vkt_status vkt_split_indices(uint32_t n, float fraction, uint64_t seed, uint32_t **train,
                             uint32_t *n_train, uint32_t **held_out, uint32_t *n_held_out)
{
    *train = *held_out = NULL;
    *n_train = *n_held_out = 0;
    if (!(fraction >= 0.0f && fraction < 1.0f)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_split_indices: fraction %g is not in [0, 1)",
                          (double)fraction);
    }
    uint32_t held = (uint32_t)((double)n * fraction + 0.5);
    uint32_t *perm = vkt__malloc((size_t)VKT__MAX(n, 1u) * sizeof *perm);
    uint32_t *h = vkt__malloc((size_t)VKT__MAX(held, 1u) * sizeof *h);
    if (!perm || !h) {
        free(perm);
        free(h);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        perm[i] = i;
    }
    vkt__rng r = {seed ^ 0x5DEECE66Dull};
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = vkt__rng_below(&r, i);
        uint32_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    memcpy(h, perm + (n - held), (size_t)held * sizeof *h);
    *train = perm;
    *n_train = n - held;
    *held_out = h;
    *n_held_out = held;
    return VKT_OK;
}

const uint32_t *vkt__loader_order(const vkt_loader *l) { return l->order; }

bool vkt__loader_set_shuffle(vkt_loader *l, bool shuffle)
{
    bool old = l->desc.shuffle;
    l->desc.shuffle = shuffle;
    return old;
}
