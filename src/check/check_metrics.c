/*
 * check_metrics.c — the metrics (src/metrics/metrics.c; shaders metric_update.comp,
 * metric_prob_check.comp, metric_regression.comp, metric_compute.comp) against the host twin in
 * src/ref/ref_metrics.c. Tests: tests/test_metrics.c.
 *
 * Every case creates a metric, feeds it several batches of unequal sizes (1, 3, 63, 64, 65, 1000
 * and larger: below, around and past the 256-invocation workgroup, several workgroups per
 * update) and compares vkt_metric_compute with the reference after the last one. Inputs:
 *   binary      f32 preds alternating per batch between probabilities in [0, 1] and logits in
 *               [-4, 4] (so the batch sigmoid rule switches), one batch with a NaN (sigmoid for
 *               that batch, the NaN sample negative); or i32 labels. ~3% of targets (and label
 *               preds) are outside {0, 1}: skipped.
 *   scores      (N, C) f32 in [-3, 3] (argmax, top_k); "ties" draws from 4 values and puts a NaN
 *               in ~2% of the rows, so first-index and NaN ranking decide.
 *   labels      i32 preds; ~3% outside [0, C): skipped.
 *   absent = a  targets only in [0, C - a): class C - a is only ever predicted (fp only, in the
 *               macro mean with 0) and classes C - a + 1 .. C - 1 never occur (scores -1e30):
 *               left out of the macro mean. ~3% of targets are -100 or C: skipped.
 * State sizes cover both update paths: at most 2048 words counted per workgroup in shared memory
 * (C = 3, 10, 100 counts; C = 10 confusion matrix) and global atomics beyond (C = 1000 counts,
 * C = 100 confusion matrix).
 *
 * Tolerances, relative to the reference value (absolute where it is 0), u = 2^-24:
 *  - confusion matrices and every count: exact (integer atomics): 0.
 *  - a single ratio (binary, micro, per class): counts converted to f32 (exact below 2^24, else
 *    u each) and one division, which Vulkan allows 2.5 ulp (<= 5u): 8u.
 *  - macro / weighted means: each term as above plus the support weight's conversion and product
 *    (9u; the terms are >= 0, so relative to their sum too); the terms' sum is compensated
 *    (rounded once: u), the weight sum converted (u), one division (5u): 16u.
 *  - mean squared error: each (p - t)^2 is within 3u (subtraction and product), vkt_sum's batch
 *    sum within 2u of the exact sum of those positive terms, the state's compensated running sum
 *    rounded once (u), the count converted (u), one division (5u): 12u. Mean absolute error: one
 *    rounding per term instead of three: 10u. Its root halves the relative error (6u) and adds
 *    sqrt's error, which Vulkan inherits from 1/inversesqrt (2 + 2.5 ulp, <= 9u): 16u.
 *  - "compensated": one squared error of 2^24 followed by 64 batches whose squared errors sum to
 *    0.75 each: an f32 running sum loses every one (0.75 is below half an ulp of 2^24), 2.9e-6
 *    relative, far above 12u; the compensated state keeps them exactly.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"

#define U_F32 (1.0 / 16777216.0)
#define TOL_RATIO (8.0 * U_F32)
#define TOL_MEAN (16.0 * U_F32)
#define TOL_MSE (12.0 * U_F32)
#define TOL_MAE (10.0 * U_F32)
#define TOL_RMSE (16.0 * U_F32)

typedef enum input_kind {
    IN_BINARY,        /* f32 probabilities / logits */
    IN_BINARY_LABELS, /* i32 {0, 1} */
    IN_SCORES,        /* (N, C) f32 */
    IN_SCORES_TIES,
    IN_LABELS,        /* i32 class labels */
    IN_REGRESSION,
    IN_COMPENSATED,   /* regression: 2^24 then 64 x 0.75 */
} input_kind;

static const char *const input_names[] = {"probs/logits", "labels",     "scores", "scores+ties",
                                          "labels",       "regression", "2^24+64x0.75"};

#define MAX_BATCHES 8

typedef struct metric_case {
    const char *op;
    vkt_metric_desc desc;
    input_kind input;
    uint32_t absent;
    int64_t batches[MAX_BATCHES]; /* samples per update, up to the first 0 */
    int64_t cols;                 /* regression: > 0 gives 2-D (n / cols, cols) batches */
} metric_case;

#define SMALL {1, 3, 63, 64, 65, 1000}
#define LARGE {100000, 4097, 65}
#define ACC VKT_METRIC_ACCURACY
#define PREC VKT_METRIC_PRECISION
#define REC VKT_METRIC_RECALL
#define F1 VKT_METRIC_F1
#define CM VKT_METRIC_CONFUSION_MATRIX
#define MC VKT_TASK_MULTICLASS
#define BIN VKT_TASK_BINARY

static const metric_case cases[] = {
    /* binary: class 1 positive; threshold default 0.5 and 0.3 */
    {"accuracy/binary", {.type = ACC}, IN_BINARY, 0, SMALL, 0},
    {"precision/binary", {.type = PREC, .task = BIN}, IN_BINARY, 0, SMALL, 0},
    {"recall/binary", {.type = REC, .num_classes = 2, .task = BIN}, IN_BINARY, 0, SMALL, 0},
    {"f1/binary", {.type = F1, .threshold = 0.3f}, IN_BINARY, 0, SMALL, 0},
    {"f1/binary", {.type = F1}, IN_BINARY_LABELS, 0, SMALL, 0},
    {"f1/binary", {.type = F1}, IN_BINARY, 0, LARGE, 0},
    {"confusion_matrix/binary", {.type = CM}, IN_BINARY, 0, SMALL, 0},
    /* multiclass from scores */
    {"accuracy/micro", {.type = ACC, .num_classes = 10}, IN_SCORES, 0, SMALL, 0},
    {"accuracy/micro", {.type = ACC, .num_classes = 10}, IN_SCORES, 0, LARGE, 0},
    {"accuracy/micro", {.type = ACC, .num_classes = 10}, IN_SCORES_TIES, 0, SMALL, 0},
    {"accuracy/macro", {.type = ACC, .num_classes = 10, .average = VKT_AVERAGE_MACRO}, IN_SCORES,
     3, SMALL, 0},
    {"precision/macro", {.type = PREC, .num_classes = 10, .average = VKT_AVERAGE_MACRO},
     IN_SCORES, 3, SMALL, 0},
    {"recall/weighted", {.type = REC, .num_classes = 10, .average = VKT_AVERAGE_WEIGHTED},
     IN_SCORES, 2, SMALL, 0},
    {"f1/micro", {.type = F1, .num_classes = 10, .task = MC}, IN_SCORES, 0, SMALL, 0},
    {"f1/macro", {.type = F1, .num_classes = 10, .average = VKT_AVERAGE_MACRO}, IN_SCORES, 3,
     SMALL, 0},
    {"f1/macro", {.type = F1, .num_classes = 100, .average = VKT_AVERAGE_MACRO}, IN_SCORES_TIES,
     20, SMALL, 0},
    {"f1/macro", {.type = F1, .num_classes = 1000, .average = VKT_AVERAGE_MACRO}, IN_SCORES, 100,
     {3, 65, 1000, 1}, 0},
    {"f1/none", {.type = F1, .num_classes = 10, .average = VKT_AVERAGE_NONE}, IN_SCORES, 3, SMALL,
     0},
    {"accuracy/macro/top2", {.type = ACC, .num_classes = 3, .top_k = 2,
                             .average = VKT_AVERAGE_MACRO}, IN_SCORES, 1, SMALL, 0},
    {"accuracy/micro/top5", {.type = ACC, .num_classes = 100, .top_k = 5}, IN_SCORES_TIES, 0,
     SMALL, 0},
    {"f1/macro/top3", {.type = F1, .num_classes = 10, .top_k = 3, .average = VKT_AVERAGE_MACRO},
     IN_SCORES, 3, SMALL, 0},
    {"precision/macro/top3", {.type = PREC, .num_classes = 10, .top_k = 3,
                              .average = VKT_AVERAGE_MACRO}, IN_SCORES_TIES, 2, SMALL, 0},
    {"recall/none/top10", {.type = REC, .num_classes = 10, .top_k = 10,
                           .average = VKT_AVERAGE_NONE}, IN_SCORES, 2, SMALL, 0},
    {"confusion_matrix", {.type = CM, .num_classes = 10}, IN_SCORES_TIES, 2, SMALL, 0},
    /* multiclass from labels */
    {"accuracy/macro", {.type = ACC, .num_classes = 7, .average = VKT_AVERAGE_MACRO}, IN_LABELS,
     2, SMALL, 0},
    {"precision/none", {.type = PREC, .num_classes = 5, .average = VKT_AVERAGE_NONE}, IN_LABELS,
     1, SMALL, 0},
    {"f1/weighted", {.type = F1, .num_classes = 7, .average = VKT_AVERAGE_WEIGHTED}, IN_LABELS, 2,
     SMALL, 0},
    {"f1/macro", {.type = F1, .num_classes = 1000, .average = VKT_AVERAGE_MACRO}, IN_LABELS, 300,
     LARGE, 0},
    {"confusion_matrix", {.type = CM, .num_classes = 100}, IN_LABELS, 5, SMALL, 0},
    /* regression */
    {"mean_squared_error", {.type = VKT_METRIC_MEAN_SQUARED_ERROR}, IN_REGRESSION, 0, SMALL, 0},
    {"mean_squared_error", {.type = VKT_METRIC_MEAN_SQUARED_ERROR}, IN_REGRESSION, 0,
     {100000, 1000003, 4097}, 0},
    {"mean_squared_error", {.type = VKT_METRIC_MEAN_SQUARED_ERROR}, IN_REGRESSION, 0,
     {5, 65, 1000, 33}, 5},
    {"mean_squared_error", {.type = VKT_METRIC_MEAN_SQUARED_ERROR}, IN_COMPENSATED, 0, {0}, 0},
    {"root_mean_squared_error", {.type = VKT_METRIC_MEAN_SQUARED_ERROR, .root = true},
     IN_REGRESSION, 0, SMALL, 0},
    {"mean_absolute_error", {.type = VKT_METRIC_MEAN_ABSOLUTE_ERROR}, IN_REGRESSION, 0, SMALL, 0},
    {"mean_absolute_error", {.type = VKT_METRIC_MEAN_ABSOLUTE_ERROR}, IN_REGRESSION, 0,
     {4097, 100000}, 0},
};

/* One batch's host data: exactly one of pf / pi, and ti (classification) or tf (regression). */
typedef struct batch {
    float *pf;
    int32_t *pi;
    int32_t *ti;
    float *tf;
    int64_t n;   /* samples (rows of scores; elements otherwise) */
} batch;

static void batch_free(batch *b)
{
    free(b->pf);
    free(b->pi);
    free(b->ti);
    free(b->tf);
    memset(b, 0, sizeof *b);
}

static uint32_t below(vkt__check_ctx *c, uint32_t n) { return (uint32_t)(vkt__check_next(c) % n); }

/* ~3% of the values replaced by `a` or `b` (both outside the valid range). */
static void sprinkle(vkt__check_ctx *c, int32_t *x, int64_t n, int32_t a, int32_t b)
{
    for (int64_t i = 0; i < n; i++) {
        if (below(c, 100) < 3) {
            x[i] = below(c, 2) ? a : b;
        }
    }
}

/* Batch `k` of case `mc` with n samples; false on out of memory. */
static bool make_batch(vkt__check_ctx *c, const metric_case *mc, int k, int64_t n, batch *b)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    uint32_t C = mc->desc.num_classes ? mc->desc.num_classes : 2;
    uint32_t occur = C - mc->absent; /* targets in [0, occur) */
    switch (mc->input) {
    case IN_BINARY:
    case IN_BINARY_LABELS: {
        b->ti = vkt__check_rand_int(c, n, 2);
        if (!b->ti) {
            return false;
        }
        sprinkle(c, b->ti, n, 2, -1);
        if (mc->input == IN_BINARY_LABELS) {
            b->pi = vkt__check_rand_int(c, n, 2);
            if (b->pi) {
                sprinkle(c, b->pi, n, 2, -1);
            }
            return b->pi != NULL;
        }
        bool logits = k % 2 == 1;
        b->pf = logits ? vkt__check_rand(c, n, -4.0f, 4.0f) : vkt__check_rand(c, n, 0.0f, 1.0f);
        if (!b->pf) {
            return false;
        }
        float th = mc->desc.threshold ? mc->desc.threshold : 0.5f;
        for (int64_t i = 0; logits && i < n; i++) {
            /* keep sigmoid(x) away from the threshold by more than exp's allowed error, so the
             * device and the host (expf) classify every sample alike */
            while (fabsf(1.0f / (1.0f + expf(-b->pf[i])) - th) < 1e-4f) {
                b->pf[i] += 0.01f;
            }
        }
        if (k == 2) {
            b->pf[n / 2] = NAN; /* a probability batch with a NaN: sigmoid applies to it all */
        }
        return true;
    }
    case IN_SCORES:
    case IN_SCORES_TIES: {
        b->ti = vkt__check_rand_int(c, n, (int32_t)occur);
        b->pf = vkt__check_rand(c, n * C, -3.0f, 3.0f);
        if (!b->ti || !b->pf) {
            return false;
        }
        sprinkle(c, b->ti, n, -100, (int32_t)C);
        for (int64_t i = 0; i < n; i++) {
            float *row = b->pf + i * C;
            if (mc->input == IN_SCORES_TIES) {
                for (uint32_t j = 0; j < C; j++) {
                    row[j] = floorf(row[j] * (2.0f / 3.0f)); /* -2, -1, 0, 1 */
                }
                if (below(c, 100) < 2) {
                    row[below(c, occur < C ? occur + 1 : C)] = NAN; /* not in a never-class */
                }
            }
            for (uint32_t j = occur + 1; j < C; j++) {
                row[j] = -1e30f; /* never predicted */
            }
        }
        return true;
    }
    case IN_LABELS:
        b->ti = vkt__check_rand_int(c, n, (int32_t)occur);
        b->pi = vkt__check_rand_int(c, n, (int32_t)(occur < C ? occur + 1 : C));
        if (!b->ti || !b->pi) {
            return false;
        }
        sprinkle(c, b->ti, n, -100, (int32_t)C);
        sprinkle(c, b->pi, n, -1, (int32_t)C + 5);
        return true;
    case IN_REGRESSION:
        b->pf = vkt__check_rand(c, n, -1.0f, 1.0f);
        b->tf = vkt__check_rand(c, n, -1.0f, 1.0f);
        return b->pf && b->tf;
    default: /* IN_COMPENSATED: batch 0 one error of 4096, then 3 errors of 0.5 per batch */
        b->pf = vkt__calloc((size_t)n, sizeof *b->pf);
        b->tf = vkt__calloc((size_t)n, sizeof *b->tf);
        if (!b->pf || !b->tf) {
            return false;
        }
        for (int64_t i = 0; i < n; i++) {
            b->pf[i] = k == 0 ? 4096.0f : (i % 2 ? 0.25f : -0.25f);
            b->tf[i] = k == 0 ? 0.0f : b->pf[i] - (i % 2 ? 0.5f : -0.5f); /* error +-0.5 */
        }
        return true;
    }
}

/* Uploads a batch and feeds it to the metric and the reference. */
static vkt_status feed(vkt__check_ctx *c, const metric_case *mc, vkt_metric *m,
                       vkt__ref_metric *r, const batch *b)
{
    int64_t n = b->n;
    uint32_t C = mc->desc.num_classes;
    vkt_tensor *p, *t;
    if (mc->input == IN_SCORES || mc->input == IN_SCORES_TIES) {
        int64_t shape[2] = {n, C};
        p = vkt__check_tensor(c->dev, VKT_F32, b->pf, 2, shape);
        t = vkt__check_tensor(c->dev, VKT_I32, b->ti, 1, &n);
    } else if (mc->cols > 0) {
        int64_t shape[2] = {n / mc->cols, mc->cols};
        p = vkt__check_tensor(c->dev, VKT_F32, b->pf, 2, shape);
        t = vkt__check_tensor(c->dev, VKT_F32, b->tf, 2, shape);
    } else {
        p = b->pf ? vkt__check_tensor(c->dev, VKT_F32, b->pf, 1, &n)
                  : vkt__check_tensor(c->dev, VKT_I32, b->pi, 1, &n);
        t = b->ti ? vkt__check_tensor(c->dev, VKT_I32, b->ti, 1, &n)
                  : vkt__check_tensor(c->dev, VKT_F32, b->tf, 1, &n);
    }
    vkt__ref_metric_update(r, b->pf, b->pi, b->ti, b->tf, n);
    vkt_status s = vkt_metric_update(m, p, t);
    vkt_tensor_free(p);
    vkt_tensor_free(t);
    return s;
}

/* max over outputs of |got - want| / |want| (|got - want| where want is 0); NaN matches NaN. */
static double rel_err(const float *got, const double *want, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double g = got[i], w = want[i], e;
        if (isnan(w)) {
            e = isnan(g) ? 0.0 : INFINITY;
        } else {
            e = fabs(g - w) / (w != 0.0 ? fabs(w) : 1.0);
        }
        if (!(e <= m)) {
            m = e;
        }
    }
    return m;
}

static double tolerance(const vkt_metric_desc *d)
{
    switch (d->type) {
    case VKT_METRIC_CONFUSION_MATRIX:
        return 0.0;
    case VKT_METRIC_MEAN_SQUARED_ERROR:
        return d->root ? TOL_RMSE : TOL_MSE;
    case VKT_METRIC_MEAN_ABSOLUTE_ERROR:
        return TOL_MAE;
    default:
        return d->average == VKT_AVERAGE_MACRO || d->average == VKT_AVERAGE_WEIGHTED ? TOL_MEAN
                                                                                    : TOL_RATIO;
    }
}

static void run_case(vkt__check_ctx *c, const metric_case *mc)
{
    if (!vkt__check_wants(c, mc->op)) {
        return;
    }
    char shape[160];
    int at = snprintf(shape, sizeof shape, "%s", input_names[mc->input]);
    if (mc->desc.num_classes) {
        at += snprintf(shape + at, sizeof shape - (size_t)at, " C=%u", mc->desc.num_classes);
    }
    if (mc->absent) {
        at += snprintf(shape + at, sizeof shape - (size_t)at, " absent=%u", mc->absent);
    }
    for (int k = 0; k < MAX_BATCHES && mc->batches[k]; k++) {
        at += snprintf(shape + at, sizeof shape - (size_t)at, "%s%lld", k ? "+" : " n=",
                       (long long)mc->batches[k]);
    }
    if (mc->cols) {
        snprintf(shape + at, sizeof shape - (size_t)at, " (rows, %lld)", (long long)mc->cols);
    }
    vkt_scope_begin(c->dev);
    vkt_metric *m = NULL;
    vkt__ref_metric r;
    bool ref_ok = vkt__ref_metric_init(&r, &mc->desc);
    double t0 = vkt__now();
    vkt_status s = ref_ok ? vkt_metric_create(c->dev, &mc->desc, &m)
                          : vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    int nbatches = 0;
    int64_t sizes[65];
    if (mc->input == IN_COMPENSATED) {
        sizes[nbatches++] = 1;
        while (nbatches < 65) {
            sizes[nbatches++] = 3;
        }
    } else {
        for (; nbatches < MAX_BATCHES && mc->batches[nbatches]; nbatches++) {
            sizes[nbatches] = mc->batches[nbatches];
        }
    }
    for (int k = 0; k < nbatches && s == VKT_OK; k++) {
        int64_t n = sizes[k] * (mc->cols ? mc->cols : 1);
        batch b;
        if (!make_batch(c, mc, k, n, &b)) {
            s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        } else {
            s = feed(c, mc, m, &r, &b);
        }
        batch_free(&b);
    }
    float *got = s == VKT_OK ? vkt__check_fetch(vkt_metric_compute(m)) : NULL;
    double ms = (vkt__now() - t0) * 1e3;
    uint32_t C = r.desc.num_classes;
    int64_t nout = mc->desc.type == VKT_METRIC_CONFUSION_MATRIX ? (int64_t)C * C
                   : mc->desc.average == VKT_AVERAGE_NONE       ? C
                                                                : 1;
    double *want = vkt__malloc((size_t)nout * sizeof *want);
    if (!got || !want) {
        vkt__check_report_failure(c, mc->op, shape);
    } else if (mc->desc.type == VKT_METRIC_CONFUSION_MATRIX) {
        vkt__ref_metric_compute(want, &r);
        double bad = 0.0;
        for (int64_t i = 0; i < nout; i++) {
            bad += ((int32_t *)(void *)got)[i] != (int32_t)want[i];
        }
        vkt__check_report(c, mc->op, shape, bad, 0.0, ms, "cells that differ");
    } else {
        vkt__ref_metric_compute(want, &r);
        vkt__check_report(c, mc->op, shape, rel_err(got, want, nout), tolerance(&mc->desc), ms,
                          "relative error");
    }
    free(got);
    free(want);
    vkt_metric_destroy(m);
    if (ref_ok) {
        vkt__ref_metric_free(&r);
    }
    vkt_scope_end(c->dev);
}

void vkt__check_metrics(vkt__check_ctx *c)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        run_case(c, &cases[i]);
    }
}
