/*
 * check_data.c — the device batch gather (shaders/gather_batch.comp via vkt_loader) against
 * vkt__ref_gather_batch, for every normalisation, and the streamed path against the same reference.
 */
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "data/data_internal.h"
#include "vkt/data.h"


typedef struct data_case {
    uint32_t n, features, batch;
    vkt_norm norm;
    bool stream;
} data_case;

static const data_case cases[] = {
    {1, 1, 1, VKT_NORM_UNIT, false},      {3, 3, 2, VKT_NORM_NONE, false},
    {65, 63, 64, VKT_NORM_MEAN_STD, false}, {1000, 784, 128, VKT_NORM_UNIT, false},
    {1000, 784, 128, VKT_NORM_UNIT, true}, {257, 65, 1000, VKT_NORM_MEAN_STD, true},
};

void vkt__check_data(vkt__check_ctx *c)
{
    if (!vkt__check_wants(c, "gather_batch")) {
        return;
    }
    for (size_t k = 0; k < VKT__ARRAY_LEN(cases); k++) {
        const data_case *dc = &cases[k];
        char shape[64];
        snprintf(shape, sizeof shape, "%ux%u b%u%s", dc->n, dc->features, dc->batch,
                 dc->stream ? " stream" : "");
        const char *op = dc->stream ? "stream_batch" : "gather_batch";
        size_t bytes = (size_t)dc->n * dc->features;
        uint8_t *im = vkt__malloc(bytes), *lb = vkt__malloc(dc->n);
        float *want = vkt__malloc((size_t)dc->batch * dc->features * sizeof *want);
        int32_t *want_y = vkt__malloc((size_t)dc->batch * sizeof *want_y);
        vkt_dataset *ds = NULL;
        vkt_loader *l = NULL;
        if (!im || !lb || !want || !want_y) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, op, shape);
            goto next;
        }
        for (size_t i = 0; i < bytes; i++) {
            im[i] = (uint8_t)(vkt__check_next(c) & 0xFF);
        }
        for (uint32_t i = 0; i < dc->n; i++) {
            lb[i] = (uint8_t)(vkt__check_next(c) % 10);
        }
        float mean = 0.2860f, std = 0.3530f;
        if (vkt_dataset_from_memory(im, lb, dc->n, dc->features, &ds) != VKT_OK ||
            vkt_loader_create(c->dev,
                              &(vkt_loader_desc){.dataset = ds, .batch_size = dc->batch,
                                                 .shuffle = true, .seed = 7, .norm = dc->norm,
                                                 .mean = mean, .std = std, .stream = dc->stream},
                              &l) != VKT_OK) {
            vkt__check_report_failure(c, op, shape);
            goto next;
        }
        if (vkt_loader_on_device(l) == dc->stream) {
            vkt__error(VKT_ERROR, "loader chose the %s path", dc->stream ? "device" : "stream");
            vkt__check_report_failure(c, op, shape);
            goto next;
        }
        float scale = dc->norm == VKT_NORM_NONE ? 1.0f
                      : dc->norm == VKT_NORM_MEAN_STD ? 1.0f / (255.0f * std)
                                                      : 1.0f / 255.0f;
        float bias = dc->norm == VKT_NORM_MEAN_STD ? -mean / std : 0.0f;
        double t0 = vkt__now(), err = 0.0;
        uint32_t start = 0;
        bool failed = false;
        /* two epochs: the second reshuffles */
        for (uint32_t epoch = 0; epoch < 2 && !failed; epoch++) {
            start = 0;
            vkt_loader_start_epoch(l, epoch);
            vkt_batch b;
            vkt_scope_begin(c->dev);
            while (!failed && vkt_loader_next(l, &b)) {
                float *got = vkt__check_fetch(b.x);
                int32_t *got_y = vkt__check_fetch(b.y);
                if (!got || !got_y) {
                    failed = true;
                } else {
                    vkt__ref_gather_batch(want, want_y, im, lb, vkt__loader_order(l), start, b.rows,
                                          dc->features, scale, bias);
                    double e = vkt__max_err(got, want, (int64_t)b.rows * dc->features);
                    err = e > err ? e : err;
                    if (memcmp(got_y, want_y, b.rows * sizeof *want_y) != 0) {
                        err = 1.0 / 0.0;
                    }
                }
                free(got);
                free(got_y);
                start += b.rows;
            }
            vkt_scope_end(c->dev);
            if (!failed && start != dc->n) {
                vkt__error(VKT_ERROR, "epoch %u yielded %u of %u samples", epoch, start, dc->n);
                failed = true;
            }
        }
        if (failed) {
            vkt__check_report_failure(c, op, shape);
        } else {
            /* x*scale+bias computed in fp32 both ways with the same scale and bias: exact */
            vkt__check_report(c, op, shape, err, 1e-6, (vkt__now() - t0) * 1e3, NULL);
        }
    next:
        vkt_loader_destroy(l);
        vkt_dataset_destroy(ds);
        free(im);
        free(lb);
        free(want);
        free(want_y);
    }
}
