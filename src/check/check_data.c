/*
 * check_data.c — the device batch gather (shaders/gather_batch*.comp via vkt_loader) against
 * vkt__ref_gather_batch: u8, i32 and f32 samples of flat and (C, H, W) shapes, class labels and
 * shaped f32/i32 targets, every normalisation (scalar and per-channel), subsets, and random
 * crop + flip augmentation, over two epochs; and the streamed path against the same reference.
 * Feature counts that are multiples of 4 (784, 4, 12, 3072) run the kernel four features per
 * invocation, u8 per-channel ones with channels of 6 and of 4 pixels (a quad across two channels,
 * and quads within one); the others (1, 3, 63, 105, ...) one per invocation. On CPU drivers u8
 * samples of 784, 3 x 16 x 16 (per channel) and 32 features (a subset, f32 targets) without
 * augmentation run gather_batch16.comp, 16 features per invocation.
 * i32 samples (full 32-bit range) must come back as i32 batches, bit for bit.
 */
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "data/data_internal.h"

typedef struct data_case {
    uint32_t n;
    vkt_data_type xt;
    int xdims;
    int64_t xs[5];
    vkt_data_type yt;
    int ydims; /* 0: class labels */
    int64_t ys[2];
    uint32_t batch;
    vkt_norm norm;
    bool per_channel, subset, stream;
    vkt_augment_desc aug;
} data_case;

#define U8 VKT_DATA_U8
#define I32 VKT_DATA_I32
#define F32 VKT_DATA_F32
static const data_case cases[] = {
    {1, U8, 1, {1}, U8, 0, {0}, 1, VKT_NORM_UNIT, false, false, false, {0}},
    {3, U8, 1, {3}, U8, 0, {0}, 2, VKT_NORM_NONE, false, false, false, {0}},
    {65, U8, 1, {63}, U8, 0, {0}, 64, VKT_NORM_MEAN_STD, false, false, false, {0}},
    {1000, U8, 1, {784}, U8, 0, {0}, 128, VKT_NORM_UNIT, false, false, false, {0}},
    {1000, U8, 1, {784}, U8, 0, {0}, 128, VKT_NORM_UNIT, false, false, true, {0}},
    {33, U8, 3, {3, 16, 16}, U8, 0, {0}, 8, VKT_NORM_MEAN_STD, true, false, false, {0}},
    {70, U8, 1, {32}, F32, 1, {2}, 64, VKT_NORM_NONE, false, true, false, {0}},
    {257, U8, 1, {65}, U8, 0, {0}, 1000, VKT_NORM_MEAN_STD, false, false, true, {0}},
    {63, F32, 1, {4}, I32, 2, {2, 3}, 10, VKT_NORM_MEAN_STD, true, true, false, {0}},
    {100, F32, 3, {3, 5, 7}, F32, 1, {2}, 33, VKT_NORM_MEAN_STD, true, false, false, {0}},
    {77, I32, 3, {2, 9, 9}, I32, 0, {0}, 16, VKT_NORM_UNIT, false, true, false, {0}},
    {21, I32, 2, {2, 6}, U8, 0, {0}, 5, VKT_NORM_UNIT, false, false, false, {0}},
    {33, U8, 3, {2, 3, 2}, U8, 0, {0}, 8, VKT_NORM_MEAN_STD, true, false, false, {0}},
    {33, U8, 3, {3, 2, 2}, U8, 0, {0}, 8, VKT_NORM_MEAN_STD, true, false, false, {0}},
    {45, I32, 1, {65}, F32, 1, {2}, 8, VKT_NORM_NONE, false, true, true, {0}},
    {300, U8, 3, {3, 32, 32}, U8, 0, {0}, 128, VKT_NORM_MEAN_STD, true, false, false,
     {32, 32, 4, true}},
    {300, U8, 3, {3, 32, 32}, U8, 0, {0}, 128, VKT_NORM_MEAN_STD, true, true, true,
     {32, 32, 4, true}},
    {50, U8, 3, {1, 28, 28}, F32, 2, {3, 2}, 20, VKT_NORM_UNIT, false, false, false,
     {0, 0, 0, true}},
    {40, F32, 3, {1, 3, 65}, F32, 0, {0}, 7, VKT_NORM_NONE, false, false, false, {1, 63, 0, false}},
#if VKT_MAX_DIMS >= 6 /* the most dimensions a sample can have */
    {29, U8, 5, {2, 1, 3, 2, 5}, F32, 2, {1, 3}, 8, VKT_NORM_MEAN_STD, true, true, false, {0}},
#endif
};
#undef U8
#undef I32
#undef F32

static size_t prod(int n, const int64_t *s)
{
    size_t p = 1;
    for (int i = 0; i < n; i++) {
        p *= (size_t)s[i];
    }
    return p;
}

/* Random elements of type t: bytes, any int32 (labels: [0, 10)), floats in [-2, 2). */
static void *random_array(vkt__check_ctx *c, vkt_data_type t, size_t n, bool labels)
{
    uint8_t *p = vkt__malloc(VKT__MAX(n, (size_t)1) * vkt_data_type_size(t));
    for (size_t i = 0; p && i < n; i++) {
        uint64_t r = vkt__check_next(c);
        if (t == VKT_DATA_U8) {
            p[i] = (uint8_t)(labels ? r % 10 : r & 0xFF);
        } else if (t == VKT_DATA_I32) {
            int32_t v = labels ? (int32_t)(r % 10) : (int32_t)(uint32_t)r;
            memcpy(p + 4 * i, &v, 4);
        } else {
            float v = (float)((double)(r >> 11) * (4.0 / 9007199254740992.0) - 2.0);
            memcpy(p + 4 * i, &v, 4);
        }
    }
    return p;
}

/* The case's scale/bias per channel, computed apart from the loader's. */
static void expected_norm(const data_case *dc, float *scale, float *bias, uint32_t C,
                          const float *mean, const float *std)
{
    for (uint32_t k = 0; k < C; k++) {
        float u = dc->xt == VKT_DATA_U8 && dc->norm != VKT_NORM_NONE ? 255.0f : 1.0f;
        scale[k] = 1.0f / u;
        bias[k] = 0.0f;
        if (dc->norm == VKT_NORM_MEAN_STD) {
            scale[k] = 1.0f / (u * std[k]);
            bias[k] = -mean[k] / std[k];
        }
    }
}

static void run_case(vkt__check_ctx *c, const data_case *dc)
{
    char shape[96];
    int at = snprintf(shape, sizeof shape, "%u x (", dc->n);
    for (int i = 0; i < dc->xdims; i++) {
        at += snprintf(shape + at, sizeof shape - (size_t)at, "%s%lld", i ? "," : "",
                       (long long)dc->xs[i]);
    }
    snprintf(shape + at, sizeof shape - (size_t)at, ") %s b%u%s%s%s", vkt_data_type_name(dc->xt),
             dc->batch, dc->subset ? " subset" : "", dc->aug.hflip || dc->aug.crop_h ? " aug" : "",
             dc->stream ? " stream" : "");
    const char *op = dc->stream ? "stream_batch" : "gather_batch";
    uint32_t C = (uint32_t)dc->xs[0];
    size_t xe = prod(dc->xdims, dc->xs), ye = prod(dc->ydims, dc->ys);
    void *xd = random_array(c, dc->xt, dc->n * xe, false);
    void *yd = random_array(c, dc->yt, dc->n * ye, dc->ydims == 0);
    float *mean = vkt__check_rand(c, C, 0.1f, 0.9f), *std = vkt__check_rand(c, C, 0.2f, 2.0f);
    float *scale = vkt__malloc(C * sizeof *scale), *bias = vkt__malloc(C * sizeof *bias);
    uint32_t *subset = vkt__malloc(dc->n * sizeof *subset);
    uint32_t count = dc->subset ? (dc->n + 1) / 2 : dc->n;
    size_t fe = xe;
    if (dc->aug.crop_h) {
        fe = (size_t)C * dc->aug.crop_h * dc->aug.crop_w;
    }
    uint32_t *want = vkt__malloc((size_t)dc->batch * fe * sizeof *want); /* f32 or i32 words */
    uint32_t *want_y = vkt__malloc((size_t)dc->batch * ye * sizeof *want_y);
    vkt_dataset *ds = NULL;
    vkt_loader *l = NULL;
    if (!xd || !yd || !mean || !std || !scale || !bias || !subset || !want || !want_y) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    if (!dc->per_channel) {
        for (uint32_t k = 0; k < C; k++) {
            mean[k] = 0.2860f;
            std[k] = 0.3530f;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        subset[i] = dc->subset ? dc->n - 1 - 2 * i : i; /* reversed, every other */
    }
    expected_norm(dc, scale, bias, C, mean, std);
    vkt_dataset_desc d = {.count = dc->n,
                          .x = {dc->xt, dc->xdims, {0}},
                          .x_data = xd,
                          .y = {dc->yt, dc->ydims, {dc->ys[0], dc->ys[1]}},
                          .y_data = yd};
    memcpy(d.x.shape, dc->xs, (size_t)dc->xdims * sizeof *dc->xs);
    vkt_loader_desc ld = {.dataset = NULL, .batch_size = dc->batch, .shuffle = true, .seed = 7,
                          .norm = dc->norm, .mean = mean[0], .std = std[0],
                          .channel_mean = dc->per_channel ? mean : NULL,
                          .channel_std = dc->per_channel ? std : NULL,
                          .channels = dc->per_channel ? C : 0, .augment = dc->aug,
                          .indices = dc->subset ? subset : NULL, .count = count,
                          .stream = dc->stream};
    if (vkt_dataset_create(&d, &ds) != VKT_OK ||
        (ld.dataset = ds, vkt_loader_create(c->dev, &ld, &l)) != VKT_OK) {
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    if (vkt_loader_on_device(l) == dc->stream) {
        vkt__error(VKT_ERROR, "loader chose the %s path", dc->stream ? "device" : "stream");
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    vkt__gather_args g = {
        .x = xd, .y = yd, .x_type = dc->xt, .y_type = dc->yt, .ids = vkt__loader_subset(l),
        .by_id = true, .in_features = (uint32_t)xe, .features = (uint32_t)fe,
        .targets = (uint32_t)ye, .channels = C, .inner = (uint32_t)(fe / C), .scale = scale,
        .bias = bias, .augment = dc->aug.hflip || dc->aug.crop_h, .seed = 7};
    if (g.augment) {
        g.h = (uint32_t)dc->xs[1];
        g.w = (uint32_t)dc->xs[2];
        g.crop_h = dc->aug.crop_h ? dc->aug.crop_h : g.h;
        g.crop_w = dc->aug.crop_w ? dc->aug.crop_w : g.w;
        g.pad = dc->aug.padding;
        g.hflip = dc->aug.hflip;
    }
    double t0 = vkt__now(), err = 0.0;
    bool failed = false;
    /* two epochs: the second reshuffles and redraws the augmentation */
    for (uint32_t epoch = 0; epoch < 2 && !failed; epoch++) {
        uint32_t start = 0;
        vkt_loader_start_epoch(l, epoch);
        vkt_batch b;
        vkt_scope_begin(c->dev);
        while (!failed && vkt_loader_next(l, &b)) {
            uint32_t *got = vkt__check_fetch(b.x);
            uint32_t *got_y = vkt__check_fetch(b.y);
            bool ints = dc->xt == VKT_DATA_I32;
            if (!got || !got_y || vkt_tensor_dtype(b.x) != (ints ? VKT_I32 : VKT_F32) ||
                vkt_tensor_ndim(b.x) != 1 + dc->xdims ||
                vkt_tensor_ndim(b.y) != 1 + dc->ydims ||
                vkt_tensor_numel(b.x) != (int64_t)b.rows * (int64_t)fe) {
                if (got && got_y) {
                    vkt__error(VKT_ERROR, "batch has the wrong dtype or shape");
                }
                failed = true;
            } else {
                g.perm = vkt__loader_order(l);
                g.start = start;
                g.rows = b.rows;
                g.epoch = epoch;
                vkt__ref_gather_batch(want, want_y, &g);
                size_t xn = (size_t)b.rows * fe;
                double e = ints ? (memcmp(got, want, xn * sizeof *want) ? 1.0 / 0.0 : 0.0)
                                : vkt__max_err((const float *)got, (const float *)want,
                                               (int64_t)xn);
                err = e > err ? e : err;
                if (memcmp(got_y, want_y, b.rows * ye * sizeof *want_y) != 0) {
                    err = 1.0 / 0.0;
                }
            }
            free(got);
            free(got_y);
            start += b.rows;
        }
        vkt_scope_end(c->dev);
        if (!failed && start != count) {
            vkt__error(VKT_ERROR, "epoch %u yielded %u of %u samples", epoch, start, count);
            failed = true;
        }
    }
    if (failed) {
        vkt__check_report_failure(c, op, shape);
    } else {
        /* x * scale + bias in fp32 both ways from the same scale and bias: within a contraction */
        vkt__check_report(c, op, shape, err, 1e-6, (vkt__now() - t0) * 1e3, NULL);
    }
done:
    vkt_loader_destroy(l);
    vkt_dataset_destroy(ds);
    free(xd);
    free(yd);
    free(mean);
    free(std);
    free(scale);
    free(bias);
    free(subset);
    free(want);
    free(want_y);
}

void vkt__check_data(vkt__check_ctx *c)
{
    if (!vkt__check_wants(c, "gather_batch")) {
        return;
    }
    for (size_t k = 0; k < VKT__ARRAY_LEN(cases); k++) {
        run_case(c, &cases[k]);
    }
}
