/*
 * ref_metrics.c — CPU references for the metrics (src/metrics/metrics.c; shaders
 * metric_update.comp, metric_prob_check.comp, metric_regression.comp, metric_compute.comp):
 * torchmetrics' update and compute written out plainly, with 64-bit counts and double sums.
 * Used by src/check/check_metrics.c and tests/test_metrics.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ref/ref.h"

bool vkt__ref_metric_init(vkt__ref_metric *r, const vkt_metric_desc *desc)
{
    memset(r, 0, sizeof *r);
    vkt_metric_desc d = *desc;
    if (d.type >= VKT_METRIC_MEAN_SQUARED_ERROR) {
        r->desc = d;
        return true;
    }
    if (d.task == VKT_TASK_DEFAULT) {
        d.task = d.num_classes > 0 ? VKT_TASK_MULTICLASS : VKT_TASK_BINARY;
    }
    if (d.task == VKT_TASK_BINARY) {
        d.num_classes = 2;
        d.threshold = d.threshold == 0.0f ? 0.5f : d.threshold;
    }
    d.top_k = d.top_k == 0 ? 1 : d.top_k;
    d.average = d.average == VKT_AVERAGE_DEFAULT ? VKT_AVERAGE_MICRO : d.average;
    r->desc = d;
    size_t c = d.num_classes;
    r->tp = vkt__calloc(c, sizeof *r->tp);
    r->predicted = vkt__calloc(c, sizeof *r->predicted);
    r->target = vkt__calloc(c, sizeof *r->target);
    r->confmat = vkt__calloc(c * c, sizeof *r->confmat);
    if (!r->tp || !r->predicted || !r->target || !r->confmat) {
        vkt__ref_metric_free(r);
        return false;
    }
    return true;
}

void vkt__ref_metric_free(vkt__ref_metric *r)
{
    free(r->tp);
    free(r->predicted);
    free(r->target);
    free(r->confmat);
    memset(r, 0, sizeof *r);
}

/* torch.argmax / torch.topk order: NaN above everything, then larger, then lower index. */
static bool ranks_above(float x, int64_t xi, float a, int64_t ai)
{
    if (isnan(x) != isnan(a)) {
        return isnan(x);
    }
    if (!isnan(x) && x != a) {
        return x > a;
    }
    return xi < ai;
}

/* The prediction of row `scores` (C values) for target t in [0, C), torchmetrics' top_k rule. */
static int64_t score_prediction(const float *scores, int64_t C, int64_t t, uint32_t top_k)
{
    int64_t best = 0, above = 0;
    for (int64_t j = 1; j < C; j++) {
        if (ranks_above(scores[j], j, scores[best], best)) {
            best = j;
        }
    }
    if (top_k <= 1) {
        return best;
    }
    for (int64_t j = 0; j < C; j++) {
        above += j != t && ranks_above(scores[j], j, scores[t], t);
    }
    return above < (int64_t)top_k ? t : best;
}

void vkt__ref_metric_update(vkt__ref_metric *r, const float *preds_f32, const int32_t *preds_i32,
                            const int32_t *target_i32, const float *target_f32, int64_t n)
{
    const vkt_metric_desc *d = &r->desc;
    if (d->type >= VKT_METRIC_MEAN_SQUARED_ERROR) {
        for (int64_t i = 0; i < n; i++) {
            double e = (double)preds_f32[i] - (double)target_f32[i];
            r->err_sum += d->type == VKT_METRIC_MEAN_SQUARED_ERROR ? e * e : fabs(e);
        }
        r->count += n;
        return;
    }
    int64_t C = d->num_classes;
    bool binary = d->task == VKT_TASK_BINARY;
    bool sigmoid = false;
    if (binary && preds_f32) { /* torchmetrics: any value outside [0, 1] -> sigmoid the batch */
        for (int64_t i = 0; i < n && !sigmoid; i++) {
            sigmoid = !(preds_f32[i] >= 0.0f && preds_f32[i] <= 1.0f);
        }
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t t = target_i32[i], p;
        if (t < 0 || t >= C) {
            continue; /* skipped, like torchmetrics' ignore_index */
        }
        if (preds_i32) {
            p = preds_i32[i];
            if (p < 0 || p >= C) {
                continue;
            }
        } else if (binary) {
            float x = preds_f32[i];
            if (sigmoid) {
                x = 1.0f / (1.0f + expf(-x)); /* torch.sigmoid in f32 */
            }
            p = x > d->threshold;
        } else {
            p = score_prediction(preds_f32 + i * C, C, t, d->top_k);
        }
        r->tp[t] += p == t;
        r->predicted[p]++;
        r->target[t]++;
        r->confmat[t * C + p]++;
    }
}

static double ratio(int64_t num, int64_t den)
{
    return den == 0 ? 0.0 : (double)num / (double)den; /* zero_division = 0 */
}

static double class_value(vkt_metric_type type, int64_t tp, int64_t predicted, int64_t target)
{
    switch (type) {
    case VKT_METRIC_PRECISION:
        return ratio(tp, predicted);
    case VKT_METRIC_F1:
        return ratio(2 * tp, predicted + target); /* 2tp / (2tp + fp + fn) */
    default:
        return ratio(tp, target); /* accuracy (per class), recall */
    }
}

void vkt__ref_metric_compute(double *out, const vkt__ref_metric *r)
{
    const vkt_metric_desc *d = &r->desc;
    if (d->type >= VKT_METRIC_MEAN_SQUARED_ERROR) {
        double v = r->count ? r->err_sum / (double)r->count : NAN;
        out[0] = d->type == VKT_METRIC_MEAN_SQUARED_ERROR && d->root ? sqrt(v) : v;
        return;
    }
    int64_t C = d->num_classes;
    if (d->type == VKT_METRIC_CONFUSION_MATRIX) {
        for (int64_t k = 0; k < C * C; k++) {
            out[k] = (double)r->confmat[k];
        }
        return;
    }
    bool binary = d->task == VKT_TASK_BINARY;
    if (binary && d->type != VKT_METRIC_ACCURACY) {
        out[0] = class_value(d->type, r->tp[1], r->predicted[1], r->target[1]);
        return;
    }
    if (binary || d->average == VKT_AVERAGE_MICRO) {
        int64_t tp = 0, predicted = 0, target = 0;
        for (int64_t c = 0; c < C; c++) {
            tp += r->tp[c];
            predicted += r->predicted[c];
            target += r->target[c];
        }
        out[0] = class_value(d->type, tp, predicted, target);
        return;
    }
    if (d->average == VKT_AVERAGE_NONE) {
        for (int64_t c = 0; c < C; c++) {
            out[c] = class_value(d->type, r->tp[c], r->predicted[c], r->target[c]);
        }
        return;
    }
    double sum = 0.0, weights = 0.0;
    for (int64_t c = 0; c < C; c++) {
        double v = class_value(d->type, r->tp[c], r->predicted[c], r->target[c]);
        double w;
        if (d->average == VKT_AVERAGE_WEIGHTED) {
            w = (double)r->target[c]; /* support tp + fn */
        } else {
            /* torchmetrics' _adjust_weights_safe_divide: classes with tp + fp + fn = 0 (top_k > 1:
             * tp + fn = 0) are left out of the macro mean */
            int64_t fp = r->predicted[c] - r->tp[c], fn = r->target[c] - r->tp[c];
            w = (d->top_k > 1 ? r->tp[c] + fn : r->tp[c] + fp + fn) > 0 ? 1.0 : 0.0;
        }
        sum += w * v;
        weights += w;
    }
    out[0] = weights > 0.0 ? sum / weights : 0.0;
}
