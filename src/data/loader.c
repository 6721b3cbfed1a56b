/*
 * loader.c — batches from a dataset: gathered on the device or streamed from the host.
 *
 * Device path: the loader's samples (its subset, in subset order) are uploaded once as words
 * (u8 packed four to a word, i32/f32 one each), with their targets, their dataset indices (which
 * key augmentation) and the per-channel scale/bias of the normalisation. Each epoch uploads one
 * permutation of 4 * count bytes; each batch is one dispatch of shaders/gather_batch.comp
 * (gather_batch16.comp for u8 rows in groups of 16 on CPU drivers). A training step thus
 * transfers nothing from the host.
 *
 * u8 and f32 samples give f32 batches; i32 samples (token ids) give i32 batches, copied word for
 * word on both paths, so values beyond 2^24 survive; normalisation and augmentation, which would
 * alter them, are refused for i32 samples.
 *
 * Stream path (data larger than the device allows, or desc.stream): each batch is built on the
 * host by vkt__ref_gather_batch — the same function the device is checked against — and uploaded
 * through the staging ring, recorded into the current command buffer; the device is still running
 * earlier steps meanwhile, so the upload of step n+1 overlaps step n.
 *
 * Tests: tests/test_data.c; device check: src/check/check_data.c.
 */
#include <string.h>

#include "data/data_internal.h"
#include "ref/ref.h"
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/gather_batch.comp. */
typedef struct vkt__pc_gather {
    uint32_t features, rows, start, in_features, inner, channels, targets;
    uint32_t h, w, crop_h, crop_w, pad, hflip, seed_lo, seed_hi, epoch, tag;
} vkt__pc_gather;
_Static_assert(sizeof(vkt__pc_gather) <= VKT__PUSH_MAX, "push constants");
_Static_assert(sizeof(vkt__pc_gather) == 17 * 4, "the GLSL block has 17 uints");

#define GATHER_WG 256u

struct vkt_loader {
    vkt_device *dev;
    vkt_dataset *ds;
    vkt_loader_desc desc;
    vkt_sample_layout xl, yl;
    vkt__gather_args args;  /* the batch geometry; per batch: perm, start, rows */
    int out_ndim;           /* x: (rows, out_shape...) */
    int64_t out_shape[VKT_MAX_SAMPLE_DIMS];
    uint32_t *subset;       /* dataset indices of this loader's samples */
    uint32_t count;
    uint32_t replicas, rank; /* the DistributedSampler shard this loader yields */
    uint32_t len;            /* samples per epoch: count, or the shard's ceil(count / replicas) */
    uint32_t *order;         /* this epoch's order (of len), as positions in subset; room for
                                count padded to a multiple of replicas */
    uint32_t order_cap;
    uint32_t cursor, batch, epoch;
    float *norm;            /* scale[channels], bias[channels] */
    bool norm_uniform;      /* every channel has the same scale and bias */
    bool on_device;
    bool perm_ready;        /* device path: perm holds the current order */
    vkt_tensor *images;     /* device path: subset samples, words */
    vkt_tensor *labels;     /* subset targets, words */
    vkt_tensor *ids;        /* subset's dataset indices */
    vkt_tensor *norm_t;
    vkt_tensor *perm;       /* the epoch's order */
    void *host_x;           /* stream path scratch: 32-bit words (f32, or i32 for i32 samples) */
    uint32_t *host_y;
};

uint32_t vkt_loader_num_samples(const vkt_loader *l)
{
    uint32_t bs = l->desc.batch_size;
    return l->desc.drop_last ? (l->len / bs) * bs : l->len;
}

uint32_t vkt_loader_num_batches(const vkt_loader *l)
{
    uint32_t bs = l->desc.batch_size;
    return l->desc.drop_last ? l->len / bs : (l->len + bs - 1) / bs;
}

bool vkt_loader_on_device(const vkt_loader *l) { return l->on_device; }

/* A kept i32 tensor of `bytes` (zero-padded to whole words) holding `data`. */
static vkt_tensor *upload_words(vkt_device *dev, const void *data, size_t bytes)
{
    size_t words = VKT__MAX((bytes + 3) / 4, (size_t)1);
    uint8_t *tmp = vkt__calloc(words, 4);
    if (!tmp) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    memcpy(tmp, data, bytes);
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

/* The subset's elements of one array (x or y), packed in subset order. */
static uint8_t *pack(const vkt_loader *l, bool x, size_t per, size_t *bytes)
{
    *bytes = (size_t)l->count * per;
    uint8_t *p = vkt__malloc(VKT__MAX(*bytes, (size_t)1));
    if (!p) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        return NULL;
    }
    for (uint32_t i = 0; i < l->count; i++) {
        const void *src = x ? vkt_dataset_sample(l->ds, l->subset[i])
                            : vkt_dataset_target(l->ds, l->subset[i]);
        memcpy(p + (size_t)i * per, src, per);
    }
    return p;
}

static void free_device(vkt_loader *l)
{
    vkt_tensor_free(l->images);
    vkt_tensor_free(l->labels);
    vkt_tensor_free(l->ids);
    vkt_tensor_free(l->norm_t);
    vkt_tensor_free(l->perm);
    l->images = l->labels = l->ids = l->norm_t = l->perm = NULL;
}

static vkt_status to_device(vkt_loader *l)
{
    size_t xper = l->args.in_features * vkt_data_type_size(l->xl.type);
    size_t yper = l->args.targets * vkt_data_type_size(l->yl.type);
    const vkt_device_info *info = vkt_device_get_info(l->dev);
    /* each array fits one binding */
    if ((uint64_t)l->count * xper + 4 > info->max_storage_buffer_range ||
        (uint64_t)l->count * yper + 4 > info->max_storage_buffer_range) {
        return VKT_UNSUPPORTED;
    }
    size_t xb, yb;
    uint8_t *im = pack(l, true, xper, &xb), *lb = im ? pack(l, false, yper, &yb) : NULL;
    if (!lb) {
        free(im);
        return VKT_OUT_OF_HOST_MEMORY;
    }
    l->images = upload_words(l->dev, im, xb);
    l->labels = l->images ? upload_words(l->dev, lb, yb) : NULL;
    free(im);
    free(lb);
    l->ids = l->labels ? upload_words(l->dev, l->subset, (size_t)l->count * 4) : NULL;
    l->norm_t = l->ids ? upload_words(l->dev, l->norm, (size_t)l->args.channels * 8) : NULL;
    l->perm = l->norm_t ? vkt_tensor_new_1d(l->dev, VKT_I32, l->count) : NULL;
    if (!l->perm) {
        vkt_status s = vkt_last_status();
        free_device(l);
        return s; /* e.g. out of device memory: fall back to streaming */
    }
    vkt_tensor_keep(l->perm);
    l->on_device = true;
    return VKT_OK;
}

/* Per-channel scale and bias: unit(x) = x * u, then (unit(x) - mean) / std. */
static vkt_status make_norm(vkt_loader *l)
{
    const vkt_loader_desc *d = &l->desc;
    uint32_t C = l->args.channels;
    l->norm = vkt__malloc((size_t)C * 2 * sizeof *l->norm);
    if (!l->norm) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    float unit = l->xl.type == VKT_DATA_U8 && d->norm != VKT_NORM_NONE ? 1.0f / 255.0f : 1.0f;
    for (uint32_t c = 0; c < C; c++) {
        float scale = unit, bias = 0.0f;
        if (d->norm == VKT_NORM_MEAN_STD) {
            float m = d->channel_mean ? d->channel_mean[c] : d->mean;
            float s = d->channel_std ? d->channel_std[c] : d->std;
            if (!(s > 0.0f)) {
                return vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: std of channel %u is "
                                                        "%g; it must be > 0 for VKT_NORM_MEAN_STD",
                                  c, (double)s);
            }
            if (unit == 1.0f) {
                scale = 1.0f / s;
            } else {
                scale = 1.0f / (255.0f * s);
            }
            bias = -m / s;
        }
        l->norm[c] = scale;
        l->norm[C + c] = bias;
    }
    l->norm_uniform = true;
    for (uint32_t c = 1; c < C; c++) {
        l->norm_uniform =
            l->norm_uniform && l->norm[c] == l->norm[0] && l->norm[C + c] == l->norm[C];
    }
    return VKT_OK;
}

/* i32 samples (token ids, indices) are delivered as they are: an option that would scale or
 * crop them is a mistake, named rather than ignored. */
static vkt_status refuse_i32_options(const vkt_loader_desc *d)
{
    const vkt_augment_desc *a = &d->augment;
    const char *opt = d->norm == VKT_NORM_MEAN_STD ? "norm VKT_NORM_MEAN_STD"
                      : d->channel_mean           ? "channel_mean"
                      : d->channel_std            ? "channel_std"
                      : a->crop_h || a->crop_w    ? "augment.crop_h/crop_w"
                      : a->padding                ? "augment.padding"
                      : a->hflip                  ? "augment.hflip"
                                                  : NULL;
    if (opt) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: %s applies to u8 or f32 "
                                                "features only; these are i32, delivered "
                                                "unchanged as i32 batches",
                          opt);
    }
    return VKT_OK;
}

/* The output shape, channels and augmentation geometry; errors name what does not fit. */
static vkt_status make_geometry(vkt_loader *l)
{
    const vkt_loader_desc *d = &l->desc;
    const vkt_augment_desc *a = &d->augment;
    if (l->xl.type == VKT_DATA_I32) {
        vkt_status s = refuse_i32_options(d);
        if (s != VKT_OK) {
            return s;
        }
    }
    vkt__gather_args *g = &l->args;
    size_t xe = vkt_dataset_features(l->ds), ye = 1;
    for (int i = 0; i < l->yl.ndim; i++) {
        ye *= (size_t)l->yl.shape[i];
    }
    *g = (vkt__gather_args){.x_type = l->xl.type, .y_type = l->yl.type, .ids = l->subset,
                            .in_features = (uint32_t)xe, .features = (uint32_t)xe,
                            .targets = (uint32_t)ye, .channels = (uint32_t)l->xl.shape[0],
                            .seed = d->seed};
    g->inner = g->in_features / g->channels;
    l->out_ndim = l->xl.ndim;
    memcpy(l->out_shape, l->xl.shape, sizeof l->out_shape);
    bool augment = a->crop_h || a->crop_w || a->padding || a->hflip;
    if (augment) {
        if (l->xl.ndim != 3) {
            return vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: augmentation needs (C, H, "
                                                    "W) samples but they have %d dimensions "
                                                    "(vkt_dataset_reshape gives them a shape)",
                              l->xl.ndim);
        }
        uint32_t h = (uint32_t)l->xl.shape[1], w = (uint32_t)l->xl.shape[2];
        uint32_t ch = a->crop_h ? a->crop_h : h, cw = a->crop_w ? a->crop_w : w;
        if ((!a->crop_h) != (!a->crop_w) || (!a->crop_h && a->padding) ||
            a->padding > (1u << 16) || (uint64_t)ch > h + 2ull * a->padding ||
            (uint64_t)cw > w + 2ull * a->padding) {
            return vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: a crop of %u x %u with "
                                                    "padding %u does not fit %u x %u samples "
                                                    "(crop_h and crop_w are both set, at most "
                                                    "the padded size)",
                              a->crop_h, a->crop_w, a->padding, h, w);
        }
        if ((uint64_t)g->channels * ch * cw > UINT32_MAX) {
            return vkt__error(VKT_TOO_LARGE, "vkt_loader_create: crop too large");
        }
        *g = (vkt__gather_args){.x_type = g->x_type, .y_type = g->y_type, .ids = g->ids,
                                .in_features = g->in_features, .features = g->channels * ch * cw,
                                .targets = g->targets, .channels = g->channels, .inner = ch * cw,
                                .augment = true, .h = h, .w = w, .crop_h = ch, .crop_w = cw,
                                .pad = a->padding, .hflip = a->hflip, .seed = d->seed};
        l->out_shape[1] = ch;
        l->out_shape[2] = cw;
    }
    if (d->channel_mean || d->channel_std) {
        if (!d->channel_mean || !d->channel_std || d->channels != g->channels) {
            return vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: channel_mean and "
                                                    "channel_std need %u entries each (the first "
                                                    "dimension of the sample shape) but channels "
                                                    "is %u",
                              g->channels, d->channels);
        }
    }
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
    l->xl = vkt_dataset_x_layout(l->ds);
    l->yl = vkt_dataset_y_layout(l->ds);
    uint32_t n = vkt_dataset_count(l->ds);
    l->count = desc_in->indices ? desc_in->count : n;
    vkt_status s = VKT_OK;
    if (l->count == 0) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: no samples");
        goto fail;
    }
    if (l->desc.norm < VKT_NORM_UNIT || l->desc.norm > VKT_NORM_NONE) {
        s = vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader_create: norm %d is not a vkt_norm",
                       (int)l->desc.norm);
        goto fail;
    }
    l->subset = vkt__malloc((size_t)l->count * sizeof *l->subset);
    l->order = vkt__malloc((size_t)l->count * sizeof *l->order);
    l->order_cap = l->count;
    l->replicas = 1;
    l->len = l->count;
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
    s = make_geometry(l);
    if (s == VKT_OK) {
        s = make_norm(l);
    }
    l->desc.channel_mean = l->desc.channel_std = NULL; /* borrowed: copied into norm */
    if (s != VKT_OK) {
        goto fail;
    }
    if (!l->desc.stream) {
        s = to_device(l);
        if (s == VKT_OUT_OF_HOST_MEMORY) {
            goto fail;
        }
        s = VKT_OK; /* anything else: stream instead */
        vkt_clear_error();
    }
    if (!l->on_device) {
        size_t bs = l->desc.batch_size;
        l->host_x = vkt__malloc(bs * l->args.features * 4);
        l->host_y = vkt__malloc(bs * l->args.targets * sizeof *l->host_y);
        if (!l->host_x || !l->host_y) {
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            goto fail;
        }
    }
    l->cursor = l->len; /* no epoch started */
    if (desc_in->num_replicas > 1 || desc_in->rank > 0) {
        s = vkt__loader_set_replicas(l, VKT__DEF(desc_in->num_replicas, 1u), desc_in->rank);
        if (s != VKT_OK) {
            goto fail;
        }
    }
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
    free_device(l);
    free(l->subset);
    free(l->order);
    free(l->norm);
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
    if (l->replicas > 1) {
        /* DistributedSampler: pad to len * replicas by repeating the order from its start,
         * then every replicas-th position from rank */
        uint32_t total = l->len * l->replicas;
        for (uint32_t i = l->count; i < total; i++) {
            l->order[i] = l->order[(i - l->count) % l->count];
        }
        for (uint32_t i = 0; i < l->len; i++) {
            l->order[i] = l->order[l->rank + i * l->replicas];
        }
    }
    l->cursor = 0;
    l->batch = 0;
    l->epoch = epoch;
    if (l->on_device && (l->desc.shuffle || !l->perm_ready)) {
        /* one small upload per epoch; unshuffled orders are uploaded once, and again after a new
         * shard (the tail past len of a shard is never read) */
        l->perm_ready = true;
        return vkt_tensor_upload(l->perm, l->order, (size_t)l->count * sizeof *l->order);
    }
    return VKT_OK;
}

void vkt__loader_replicas(const vkt_loader *l, uint32_t *replicas, uint32_t *rank)
{
    *replicas = l->replicas;
    *rank = l->rank;
}

vkt_status vkt__loader_set_replicas(vkt_loader *l, uint32_t replicas, uint32_t rank)
{
    if (replicas == 0 || rank >= replicas) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_loader: rank %u is not one of %u replicas",
                          rank, replicas);
    }
    uint64_t len = ((uint64_t)l->count + replicas - 1) / replicas;
    uint64_t total = len * replicas;
    if (total > UINT32_MAX ||
        !vkt__grow((void **)&l->order, &l->order_cap, (uint32_t)total, sizeof *l->order)) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    l->replicas = replicas;
    l->rank = rank;
    l->len = (uint32_t)len;
    l->cursor = l->len;
    l->perm_ready = false;
    return VKT_OK;
}

static vkt_status gather_on_device(vkt_loader *l, vkt_tensor *x, vkt_tensor *y, uint32_t rows)
{
    const vkt__gather_args *g = &l->args;
    vkt__pc_gather pc = {g->features, rows,      l->cursor,     g->in_features,
                         g->inner,    g->channels, g->targets, g->h,
                         g->w,        g->crop_h, g->crop_w,     g->pad,
                         g->hflip,    (uint32_t)g->seed, (uint32_t)(g->seed >> 32), l->epoch,
                         VKT__AUGMENT_TAG};
    uint32_t xt = g->x_type == VKT_DATA_U8 ? 0u : g->x_type == VKT_DATA_I32 ? 1u : 2u;
    /* four features per invocation and one vec4 store where rows are whole vec4s (x is a whole
     * tensor: its range starts on VKT__ALLOC_ALIGN) */
    vkt__binding xb = vkt__bind(x, VKT__WRITE);
    bool quad = g->features % 4 == 0 && xb.offset % 16 == 0;
    uint32_t width = quad ? g->features / 4 : g->features;
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_GATHER_BATCH,
        .spec = {GATHER_WG, xt, g->y_type != VKT_DATA_U8, g->augment, quad},
        .spec_count = 5,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(l->images, VKT__READ), vkt__bind(l->labels, VKT__READ),
                     vkt__bind(l->perm, VKT__READ), vkt__bind(l->ids, VKT__READ),
                     vkt__bind(l->norm_t, VKT__READ), xb, vkt__bind(y, VKT__WRITE)},
    };
    /* sixteen u8 features per invocation from one texel (gather_batch16.comp) on CPU drivers,
     * where every group of 16 lies in one sample and in one channel (or every channel has the
     * same normalisation: then the shader reads channel 0's) and the words are whole texels */
    bool one_norm = l->norm_uniform;
    bool by16 = quad && vkt__device_caps(l->dev)->cpu_like && g->x_type == VKT_DATA_U8 &&
                !g->augment && g->features % 16 == 0 && g->in_features % 16 == 0 &&
                (g->inner % 16 == 0 || one_norm);
    vkt__binding it = by16 ? vkt__texel_or_none(l->dev, d.bindings[0]) : (vkt__binding){0};
    if (it.alloc) {
        pc.inner = one_norm ? g->features : g->inner;
        d.shader = VKT__SHADER_GATHER_BATCH16;
        d.spec[1] = g->y_type != VKT_DATA_U8;
        d.spec_count = 2;
        d.texels[0] = it;
        d.texel_ints = 1u;
        width = g->features / 16;
    }
    vkt__elementwise_groups((uint64_t)rows * VKT__MAX(width, g->targets), GATHER_WG, d.groups);
    return vkt__dispatch(l->dev, &d);
}

static vkt_status gather_on_host(vkt_loader *l, vkt_tensor *x, vkt_tensor *y, uint32_t rows)
{
    vkt__gather_args g = l->args;
    g.x = vkt_dataset_sample(l->ds, 0);
    g.y = vkt_dataset_target(l->ds, 0);
    g.perm = l->order;
    g.by_id = true;
    g.start = l->cursor;
    g.rows = rows;
    g.scale = l->norm;
    g.bias = l->norm + g.channels;
    g.epoch = l->epoch;
    vkt__ref_gather_batch(l->host_x, l->host_y, &g);
    vkt_status s = vkt_tensor_upload(x, l->host_x, (size_t)rows * g.features * 4);
    if (s == VKT_OK) {
        s = vkt_tensor_upload(y, l->host_y, (size_t)rows * g.targets * sizeof(uint32_t));
    }
    return s;
}

bool vkt_loader_next(vkt_loader *l, vkt_batch *b)
{
    memset(b, 0, sizeof *b);
    vkt_clear_error();
    uint32_t remaining = l->len - l->cursor;
    uint32_t rows = VKT__MIN(remaining, l->desc.batch_size);
    if (rows == 0 || (l->desc.drop_last && rows < l->desc.batch_size)) {
        return false;
    }
    int64_t xs[VKT_MAX_DIMS] = {rows}, ys[VKT_MAX_DIMS] = {rows};
    memcpy(xs + 1, l->out_shape, (size_t)l->out_ndim * sizeof *xs);
    memcpy(ys + 1, l->yl.shape, (size_t)l->yl.ndim * sizeof *ys);
    vkt_tensor *x = vkt_tensor_new(l->dev, l->xl.type == VKT_DATA_I32 ? VKT_I32 : VKT_F32,
                                   1 + l->out_ndim, xs);
    vkt_tensor *y = x ? vkt_tensor_new(l->dev, l->yl.type == VKT_DATA_F32 ? VKT_F32 : VKT_I32,
                                       1 + l->yl.ndim, ys)
                      : NULL;
    if (!y) {
        vkt_tensor_free(x);
        return false;
    }
    vkt_status s = l->on_device ? gather_on_device(l, x, y, rows) : gather_on_host(l, x, y, rows);
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
const uint32_t *vkt__loader_subset(const vkt_loader *l) { return l->subset; }

bool vkt__loader_set_shuffle(vkt_loader *l, bool shuffle)
{
    bool old = l->desc.shuffle;
    l->desc.shuffle = shuffle;
    return old;
}
