/*
 * test_metrics.c — the metrics (include/vkt/metrics.h, src/metrics/metrics.c): the reference
 * checks (src/check/check_metrics.c), updates that never read back, wait or upload, the values
 * of torchmetrics' documentation examples, the per-batch sigmoid rule, skipped samples, reset,
 * bitwise determinism, scopes, defaults and error messages.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "test_util.h"

static vkt_tensor *f32_tensor(const float *x, int ndim, const int64_t *shape)
{
    vkt_tensor *t = vkt_tensor_new(test_dev, VKT_F32, ndim, shape);
    assert_non_null(t);
    assert_int_equal(vkt_tensor_upload(t, x, vkt_tensor_bytes(t)), VKT_OK);
    return t;
}

static vkt_tensor *i32_tensor(const int32_t *x, int64_t n)
{
    vkt_tensor *t = vkt_tensor_new_1d(test_dev, VKT_I32, n);
    assert_non_null(t);
    assert_int_equal(vkt_tensor_upload(t, x, vkt_tensor_bytes(t)), VKT_OK);
    return t;
}

static vkt_metric *make(vkt_metric_desc d)
{
    vkt_metric *m = NULL;
    assert_int_equal(vkt_metric_create(test_dev, &d, &m), VKT_OK);
    assert_non_null(m);
    return m;
}

/* The metric's one f32 value. */
static float value(vkt_metric *m)
{
    float v = -1.0f;
    vkt_tensor *t = vkt_metric_compute(m);
    assert_non_null(t);
    assert_int_equal(vkt_tensor_numel(t), 1);
    assert_int_equal(vkt_tensor_download(t, &v, sizeof v), VKT_OK);
    vkt_tensor_free(t);
    return v;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static float rng_float(uint64_t *s, float lo, float hi)
{
    return (float)(lo + (hi - lo) * ((double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0)));
}

static void metrics_match_reference(void **state)
{
    (void)state;
    test_run_checks("metrics");
}

/* 50 updates of each kind of metric: device work only. Then compute is checked against the
 * reference (after the counters were read). */
static void fifty_updates_read_nothing_back_and_never_wait(void **state)
{
    (void)state;
    enum { STEPS = 50, C = 10 };
    vkt_scope_begin(test_dev);
    vkt_metric *f1 = make((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = C,
                                            .average = VKT_AVERAGE_MACRO});
    vkt_metric *acc = make((vkt_metric_desc){.type = VKT_METRIC_ACCURACY}); /* binary, f32 */
    vkt_metric *cm = make((vkt_metric_desc){.type = VKT_METRIC_CONFUSION_MATRIX, .num_classes = C});
    vkt_metric *mse = make((vkt_metric_desc){.type = VKT_METRIC_MEAN_SQUARED_ERROR});
    vkt__ref_metric rf1, racc, rmse;
    assert_true(vkt__ref_metric_init(&rf1, vkt_metric_get_desc(f1)));
    assert_true(vkt__ref_metric_init(&racc, vkt_metric_get_desc(acc)));
    assert_true(vkt__ref_metric_init(&rmse, vkt_metric_get_desc(mse)));

    /* every input is uploaded (and the uploads finished) before the counters start */
    vkt_tensor *scores[STEPS], *labels[STEPS], *probs[STEPS], *bin[STEPS], *p[STEPS], *t[STEPS];
    uint64_t seed = 42;
    for (int k = 0; k < STEPS; k++) {
        int64_t n = 1 + (k * 37) % 200; /* unequal batches */
        int64_t shape[2] = {n, C};
        float *x = malloc((size_t)(n * C) * sizeof *x);
        float *y = malloc((size_t)n * sizeof *y);
        int32_t *l = malloc((size_t)n * sizeof *l);
        int32_t *b = malloc((size_t)n * sizeof *b);
        for (int64_t i = 0; i < n * C; i++) {
            x[i] = rng_float(&seed, -2.0f, 2.0f);
        }
        for (int64_t i = 0; i < n; i++) {
            l[i] = (int32_t)(rng_next(&seed) % (C - 2)); /* classes 8, 9: never targets */
            b[i] = (int32_t)(rng_next(&seed) % 2);
            y[i] = rng_float(&seed, 0.0f, 1.0f);
        }
        scores[k] = vkt_tensor_keep(f32_tensor(x, 2, shape));
        labels[k] = vkt_tensor_keep(i32_tensor(l, n));
        probs[k] = vkt_tensor_keep(f32_tensor(y, 1, &n));
        bin[k] = vkt_tensor_keep(i32_tensor(b, n));
        p[k] = vkt_tensor_keep(f32_tensor(x, 1, &n));
        t[k] = probs[k];
        vkt__ref_metric_update(&rf1, x, NULL, l, NULL, n);
        vkt__ref_metric_update(&racc, y, NULL, b, NULL, n);
        vkt__ref_metric_update(&rmse, x, NULL, NULL, y, n);
        free(x);
        free(y);
        free(l);
        free(b);
    }
    assert_int_equal(vkt_device_finish(test_dev), VKT_OK);
    vkt_device_reset_stats(test_dev);
    for (int k = 0; k < STEPS; k++) {
        assert_int_equal(vkt_metric_update(f1, scores[k], labels[k]), VKT_OK);
        assert_int_equal(vkt_metric_update(acc, probs[k], bin[k]), VKT_OK);
        assert_int_equal(vkt_metric_update(cm, scores[k], labels[k]), VKT_OK);
        assert_int_equal(vkt_metric_update(mse, p[k], t[k]), VKT_OK);
    }
    vkt_tensor *v_f1 = vkt_metric_compute(f1), *v_acc = vkt_metric_compute(acc);
    vkt_tensor *v_cm = vkt_metric_compute(cm), *v_mse = vkt_metric_compute(mse);
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    fprintf(stderr, "4 x %d updates + 4 computes: %llu dispatches, %llu transfers, %llu submits, "
                    "%llu host waits, %llu bytes down, %llu bytes up\n",
            STEPS, (unsigned long long)st.dispatches, (unsigned long long)st.transfers,
            (unsigned long long)st.submits, (unsigned long long)st.host_waits,
            (unsigned long long)st.bytes_downloaded, (unsigned long long)st.bytes_uploaded);
    assert_int_equal(st.host_waits, 0);
    assert_int_equal(st.bytes_downloaded, 0);
    assert_int_equal(st.bytes_uploaded, 0);
    assert_true(st.dispatches >= 4 * STEPS);
    assert_int_equal(vkt_metric_update_count(f1), STEPS);

    double want;
    float got;
    vkt__ref_metric_compute(&want, &rf1);
    assert_int_equal(vkt_tensor_download(v_f1, &got, sizeof got), VKT_OK);
    assert_true(fabs(got - want) <= 1e-6 * want);
    vkt__ref_metric_compute(&want, &racc);
    assert_int_equal(vkt_tensor_download(v_acc, &got, sizeof got), VKT_OK);
    assert_true(fabs(got - want) <= 1e-6 * want);
    vkt__ref_metric_compute(&want, &rmse);
    assert_int_equal(vkt_tensor_download(v_mse, &got, sizeof got), VKT_OK);
    assert_true(fabs(got - want) <= 1e-6 * want);
    int32_t matrix[C * C];
    double wm[C * C];
    vkt__ref_metric ref_cm = rf1;
    ref_cm.desc.type = VKT_METRIC_CONFUSION_MATRIX; /* the same counts, seen as the matrix */
    vkt__ref_metric_compute(wm, &ref_cm);
    assert_int_equal(vkt_tensor_download(v_cm, matrix, sizeof matrix), VKT_OK);
    for (int i = 0; i < C * C; i++) {
        assert_int_equal(matrix[i], (int32_t)wm[i]);
    }
    for (int k = 0; k < STEPS; k++) {
        vkt_tensor_free(scores[k]);
        vkt_tensor_free(labels[k]);
        vkt_tensor_free(probs[k]);
        vkt_tensor_free(bin[k]);
        vkt_tensor_free(p[k]);
    }
    vkt__ref_metric_free(&rf1);
    vkt__ref_metric_free(&racc);
    vkt__ref_metric_free(&rmse);
    vkt_metric_destroy(f1);
    vkt_metric_destroy(acc);
    vkt_metric_destroy(cm);
    vkt_metric_destroy(mse);
    vkt_scope_end(test_dev);
}

/* The values printed in torchmetrics' documentation (and in its top_k bug reports). */
static void torchmetrics_documentation_examples(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    /* F1Score(task="multiclass", num_classes=3): micro 0.3333; MulticlassF1Score (macro) 0.2667 */
    int32_t t6[6] = {0, 1, 2, 0, 1, 2}, p6[6] = {0, 2, 1, 0, 0, 1};
    vkt_tensor *tt = i32_tensor(t6, 6), *tp = i32_tensor(p6, 6);
    vkt_metric *m = make((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 3});
    assert_int_equal(vkt_metric_update(m, tp, tt), VKT_OK);
    assert_float_equal(value(m), 1.0f / 3.0f, 1e-6f);
    vkt_metric_destroy(m);
    m = make((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 3,
                               .average = VKT_AVERAGE_MACRO});
    assert_int_equal(vkt_metric_update(m, tp, tt), VKT_OK);
    assert_float_equal(value(m), 0.8f / 3.0f, 1e-6f); /* classes: 0.8, 0, 0 */
    vkt_metric_destroy(m);

    /* BinaryAccuracy / BinaryF1Score: target [0,1,0,1,0,1], preds [.11,.22,.84,.73,.33,.92] */
    int32_t bt[6] = {0, 1, 0, 1, 0, 1};
    float bp[6] = {0.11f, 0.22f, 0.84f, 0.73f, 0.33f, 0.92f};
    int64_t six = 6;
    vkt_tensor *btt = i32_tensor(bt, 6), *bpt = f32_tensor(bp, 1, &six);
    static const vkt_metric_type bin_types[3] = {VKT_METRIC_ACCURACY, VKT_METRIC_F1,
                                                 VKT_METRIC_PRECISION};
    for (int i = 0; i < 3; i++) {
        m = make((vkt_metric_desc){.type = bin_types[i]});
        assert_int_equal(vkt_metric_update(m, bpt, btt), VKT_OK);
        assert_float_equal(value(m), 2.0f / 3.0f, 1e-6f);
        vkt_metric_destroy(m);
    }

    /* MulticlassConfusionMatrix(num_classes=3): target [2,1,0,0], preds [2,1,0,1] */
    int32_t ct[4] = {2, 1, 0, 0}, cp[4] = {2, 1, 0, 1};
    m = make((vkt_metric_desc){.type = VKT_METRIC_CONFUSION_MATRIX, .num_classes = 3});
    assert_int_equal(vkt_metric_update(m, i32_tensor(cp, 4), i32_tensor(ct, 4)), VKT_OK);
    vkt_tensor *cmt = vkt_metric_compute(m);
    assert_int_equal(vkt_tensor_ndim(cmt), 2);
    assert_int_equal(vkt_tensor_dim(cmt, 0), 3);
    assert_int_equal(vkt_tensor_dtype(cmt), VKT_I32);
    int32_t cmv[9], cmw[9] = {1, 1, 0, 0, 1, 0, 0, 0, 1};
    assert_int_equal(vkt_tensor_download(cmt, cmv, sizeof cmv), VKT_OK);
    assert_memory_equal(cmv, cmw, sizeof cmw);
    vkt_metric_destroy(m);

    /* MeanSquaredError 0.8750, MeanAbsoluteError 0.5000 */
    int64_t four = 4;
    float mt[4] = {2.5f, 5.0f, 4.0f, 8.0f}, mp[4] = {3.0f, 5.0f, 2.5f, 7.0f};
    m = make((vkt_metric_desc){.type = VKT_METRIC_MEAN_SQUARED_ERROR});
    assert_int_equal(vkt_metric_update(m, f32_tensor(mp, 1, &four), f32_tensor(mt, 1, &four)),
                     VKT_OK);
    assert_float_equal(value(m), 0.875f, 1e-7f);
    vkt_metric_destroy(m);
    m = make((vkt_metric_desc){.type = VKT_METRIC_MEAN_SQUARED_ERROR, .root = true});
    assert_int_equal(vkt_metric_update(m, f32_tensor(mp, 1, &four), f32_tensor(mt, 1, &four)),
                     VKT_OK);
    assert_float_equal(value(m), sqrtf(0.875f), 1e-6f);
    vkt_metric_destroy(m);
    float at[4] = {3.0f, -0.5f, 2.0f, 7.0f}, ap[4] = {2.5f, 0.0f, 2.0f, 8.0f};
    m = make((vkt_metric_desc){.type = VKT_METRIC_MEAN_ABSOLUTE_ERROR});
    assert_int_equal(vkt_metric_update(m, f32_tensor(ap, 1, &four), f32_tensor(at, 1, &four)),
                     VKT_OK);
    assert_float_equal(value(m), 0.5f, 1e-7f);
    vkt_metric_destroy(m);

    /* torchmetrics issue #2418 (fixed in 1.3.2): class 1 never a target; top-2 macro accuracy is
     * 0.5 like top-1, the class being left out of the mean (tp + fn = 0) */
    float sp[9] = {0.9f, 0.1f, 0.0f, 0.9f, 0.1f, 0.0f, 0.9f, 0.1f, 0.0f};
    int32_t st[3] = {0, 0, 2};
    int64_t s33[2] = {3, 3};
    for (uint32_t k = 1; k <= 2; k++) {
        m = make((vkt_metric_desc){.type = VKT_METRIC_ACCURACY, .num_classes = 3, .top_k = k,
                                   .average = VKT_AVERAGE_MACRO});
        assert_int_equal(vkt_metric_update(m, f32_tensor(sp, 2, s33), i32_tensor(st, 3)), VKT_OK);
        assert_float_equal(value(m), 0.5f, 1e-7f);
        vkt_metric_destroy(m);
    }
    /* torchmetrics issue #1653 (fixed by PR #2839): top_k = C makes every prediction right */
    float rp[15];
    int32_t rt[3] = {4, 0, 2};
    uint64_t seed = 5;
    for (int i = 0; i < 15; i++) {
        rp[i] = rng_float(&seed, 0.0f, 1.0f);
    }
    int64_t s35[2] = {3, 5};
    m = make((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 5, .top_k = 5,
                               .average = VKT_AVERAGE_MACRO});
    assert_int_equal(vkt_metric_update(m, f32_tensor(rp, 2, s35), i32_tensor(rt, 3)), VKT_OK);
    assert_float_equal(value(m), 1.0f, 0.0f);
    vkt_metric_destroy(m);
    vkt_scope_end(test_dev);
}

/* torchmetrics decides "probabilities or logits" per update, for the whole batch. */
static void sigmoid_rule_applies_per_batch(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_metric *m = make((vkt_metric_desc){.type = VKT_METRIC_ACCURACY, .task = VKT_TASK_BINARY});
    float a[2] = {0.6f, 0.4f};        /* probabilities: positive, negative */
    float b[3] = {0.6f, 0.4f, 1.5f};  /* 1.5 makes them logits: all three positive */
    int32_t ta[2] = {1, 0}, tb[3] = {1, 0, 1};
    int64_t n2 = 2, n3 = 3;
    assert_int_equal(vkt_metric_update(m, f32_tensor(a, 1, &n2), i32_tensor(ta, 2)), VKT_OK);
    assert_int_equal(vkt_metric_update(m, f32_tensor(b, 1, &n3), i32_tensor(tb, 3)), VKT_OK);
    /* 2 of 2, then 2 of 3 right (0.4 -> sigmoid 0.599 > 0.5 is wrong); element-wise or
     * whole-epoch rules would give 5/5 or 3/5 */
    assert_float_equal(value(m), 0.8f, 1e-7f);
    vkt_metric_destroy(m);
    vkt_scope_end(test_dev);
}

/* Targets outside the classes (ignore_index-style -100) and bad label predictions are skipped. */
static void out_of_range_samples_are_skipped(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_metric *m = make((vkt_metric_desc){.type = VKT_METRIC_ACCURACY, .num_classes = 4});
    int32_t t[6] = {0, -100, 2, 4, 3, 1}, p[6] = {0, 1, 1, 4, 3, 9};
    assert_int_equal(vkt_metric_update(m, i32_tensor(p, 6), i32_tensor(t, 6)), VKT_OK);
    /* counted: (0,0) right, (2,1) wrong, (3,3) right -> 2/3 */
    assert_float_equal(value(m), 2.0f / 3.0f, 1e-7f);
    vkt_metric_destroy(m);
    /* a batch that is all padding counts nothing: 0 (zero_division), like an empty metric */
    m = make((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 4,
                               .average = VKT_AVERAGE_MACRO});
    int32_t pad[3] = {-100, -100, -100}, any[3] = {1, 2, 3};
    assert_int_equal(vkt_metric_update(m, i32_tensor(any, 3), i32_tensor(pad, 3)), VKT_OK);
    assert_float_equal(value(m), 0.0f, 0.0f);
    vkt_metric_destroy(m);
    vkt_scope_end(test_dev);
}

static void reset_starts_over(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int32_t t1[4] = {0, 1, 1, 2}, p1[4] = {0, 1, 2, 2}, t2[3] = {2, 2, 0}, p2[3] = {1, 2, 0};
    vkt_metric *m = make((vkt_metric_desc){.type = VKT_METRIC_RECALL, .num_classes = 3,
                                           .average = VKT_AVERAGE_MACRO});
    vkt_metric *fresh = make((vkt_metric_desc){.type = VKT_METRIC_RECALL, .num_classes = 3,
                                               .average = VKT_AVERAGE_MACRO});
    assert_int_equal(vkt_metric_update(m, i32_tensor(p1, 4), i32_tensor(t1, 4)), VKT_OK);
    vkt_tensor *before = vkt_metric_compute(m);
    assert_int_equal(vkt_metric_reset(m), VKT_OK);
    assert_int_equal(vkt_metric_update_count(m), 0);
    assert_float_equal(value(m), 0.0f, 0.0f);
    assert_int_equal(vkt_metric_update(m, i32_tensor(p2, 3), i32_tensor(t2, 3)), VKT_OK);
    assert_int_equal(vkt_metric_update(fresh, i32_tensor(p2, 3), i32_tensor(t2, 3)), VKT_OK);
    float a = value(m), b = value(fresh), v;
    assert_memory_equal(&a, &b, sizeof a);
    /* class 0: 1, class 1 (only predicted: in the mean with 0), class 2: 1/2 */
    assert_float_equal(a, 0.5f, 1e-7f);
    /* a value computed before the reset keeps it: (1 + 0.5 + 1) / 3 */
    assert_int_equal(vkt_tensor_download(before, &v, sizeof v), VKT_OK);
    assert_float_equal(v, 2.5f / 3.0f, 1e-6f);
    vkt_metric_destroy(m);
    vkt_metric_destroy(fresh);

    /* regression: NaN before any observation (torchmetrics divides 0 by 0), also after reset */
    m = make((vkt_metric_desc){.type = VKT_METRIC_MEAN_ABSOLUTE_ERROR});
    assert_true(isnan(value(m)));
    float x[2] = {1.0f, 2.0f};
    int64_t n = 2;
    vkt_tensor *tx = f32_tensor(x, 1, &n);
    assert_int_equal(vkt_metric_update(m, tx, tx), VKT_OK);
    assert_float_equal(value(m), 0.0f, 0.0f);
    assert_int_equal(vkt_metric_reset(m), VKT_OK);
    assert_true(isnan(value(m)));
    vkt_metric_destroy(m);
    vkt_scope_end(test_dev);
}

/* The same updates give the same bits, for the float-summing metrics especially. */
static void results_are_bitwise_deterministic(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    enum { C = 100, N = 5000 };
    uint64_t seed = 9;
    float *x = malloc((size_t)N * C * sizeof *x), *y = malloc((size_t)N * C * sizeof *y);
    int32_t *l = malloc((size_t)N * sizeof *l);
    for (int i = 0; i < N * C; i++) {
        x[i] = rng_float(&seed, -3.0f, 3.0f);
        y[i] = rng_float(&seed, -3.0f, 3.0f);
    }
    for (int i = 0; i < N; i++) {
        l[i] = (int32_t)(rng_next(&seed) % C);
    }
    int64_t shape[2] = {N, C}, nn = (int64_t)N * C;
    vkt_tensor *tx = f32_tensor(x, 2, shape), *ty = f32_tensor(y, 1, &nn);
    vkt_tensor *flat = f32_tensor(x, 1, &nn), *tl = i32_tensor(l, N);
    float first[3] = {0}, again[3];
    for (int run = 0; run < 3; run++) {
        vkt_metric *f1 = make((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = C,
                                                .average = VKT_AVERAGE_WEIGHTED});
        vkt_metric *mse = make((vkt_metric_desc){.type = VKT_METRIC_MEAN_SQUARED_ERROR});
        vkt_metric *mae = make((vkt_metric_desc){.type = VKT_METRIC_MEAN_ABSOLUTE_ERROR});
        for (int k = 0; k < 3; k++) {
            assert_int_equal(vkt_metric_update(f1, tx, tl), VKT_OK);
            assert_int_equal(vkt_metric_update(mse, flat, ty), VKT_OK);
            assert_int_equal(vkt_metric_update(mae, flat, ty), VKT_OK);
        }
        float *dst = run ? again : first;
        dst[0] = value(f1);
        dst[1] = value(mse);
        dst[2] = value(mae);
        if (run) {
            assert_memory_equal(first, again, sizeof first);
        }
        vkt_metric_destroy(f1);
        vkt_metric_destroy(mse);
        vkt_metric_destroy(mae);
    }
    free(x);
    free(y);
    free(l);
    vkt_scope_end(test_dev);
}

/* A metric made inside a scope outlives it; compute's output belongs to the scope. */
static void metrics_outlive_scopes(void **state)
{
    (void)state;
    size_t live_before;
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    live_before = st.memory_in_use;
    vkt_scope_begin(test_dev);
    vkt_metric *m = make((vkt_metric_desc){.type = VKT_METRIC_ACCURACY, .num_classes = 5});
    vkt_scope_end(test_dev);
    vkt_scope_begin(test_dev);
    int32_t t[3] = {1, 2, 3};
    assert_int_equal(vkt_metric_update(m, i32_tensor(t, 3), i32_tensor(t, 3)), VKT_OK);
    assert_float_equal(value(m), 1.0f, 0.0f);
    vkt_tensor *v = vkt_metric_compute(m);
    assert_non_null(v);
    vkt_scope_end(test_dev); /* frees v */
    vkt_metric_destroy(m);
    assert_int_equal(vkt_device_finish(test_dev), VKT_OK);
    vkt_device_get_stats(test_dev, &st);
    assert_int_equal(st.memory_in_use, live_before);
}

static void defaults_are_filled_in(void **state)
{
    (void)state;
    vkt_metric *m = make((vkt_metric_desc){.type = VKT_METRIC_F1, .label = "val_f1"});
    const vkt_metric_desc *d = vkt_metric_get_desc(m);
    assert_int_equal(d->task, VKT_TASK_BINARY);
    assert_int_equal(d->num_classes, 2);
    assert_float_equal(d->threshold, 0.5f, 0.0f);
    assert_int_equal(d->top_k, 1);
    assert_string_equal(d->label, "val_f1");
    assert_ptr_equal(vkt_metric_device(m), test_dev);
    vkt_metric_destroy(m);
    m = make((vkt_metric_desc){.type = VKT_METRIC_PRECISION, .num_classes = 7});
    d = vkt_metric_get_desc(m);
    assert_int_equal(d->task, VKT_TASK_MULTICLASS);
    assert_int_equal(d->average, VKT_AVERAGE_MICRO);
    assert_int_equal(d->top_k, 1);
    assert_null(d->label);
    vkt_metric_destroy(m);
    assert_string_equal(vkt_metric_type_name(VKT_METRIC_MEAN_ABSOLUTE_ERROR),
                        "mean_absolute_error");
    assert_string_equal(vkt_metric_type_name((vkt_metric_type)99), "unknown");
    vkt_metric_destroy(NULL);
    assert_null(vkt_metric_get_desc(NULL));
}

static void expect_create_error(vkt_metric_desc d, const char *needle)
{
    vkt_metric *m = (vkt_metric *)&d; /* must be reset to NULL */
    assert_int_equal(vkt_metric_create(test_dev, &d, &m), VKT_INVALID_ARGUMENT);
    assert_null(m);
    assert_non_null(strstr(vkt_last_error(), "vkt_metric_create"));
    if (!strstr(vkt_last_error(), needle)) {
        fail_msg("\"%s\" lacks \"%s\"", vkt_last_error(), needle);
    }
}

static void bad_descs_are_clear_errors(void **state)
{
    (void)state;
    expect_create_error((vkt_metric_desc){0}, "type 0");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_F1, .task = VKT_TASK_MULTICLASS},
                        "num_classes in 2 .. 65535");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 70000},
                        "got 70000");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 3, .top_k = 4},
                        "top_k = 4 exceeds num_classes = 3");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_F1, .top_k = 2}, "binary");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_ACCURACY, .threshold = 1.5f},
                        "threshold 1.5");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_ACCURACY, .threshold = 0.3f,
                                          .num_classes = 4},
                        "threshold applies to binary");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_RECALL, .task = VKT_TASK_BINARY,
                                          .num_classes = 3},
                        "not num_classes = 3");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_CONFUSION_MATRIX, .num_classes = 4,
                                          .top_k = 2},
                        "neither top_k nor average");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_MEAN_ABSOLUTE_ERROR, .root = true},
                        "root applies to mean_squared_error");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_MEAN_SQUARED_ERROR, .num_classes = 2},
                        "regression metric");
    expect_create_error((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 3,
                                          .average = (vkt_metric_average)9},
                        "average 9");
    assert_int_equal(vkt_metric_create(NULL, &(vkt_metric_desc){.type = VKT_METRIC_F1}, NULL),
                     VKT_INVALID_ARGUMENT);
}

static void bad_inputs_are_clear_errors(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_metric *f1 = make((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 4});
    vkt_metric *top = make((vkt_metric_desc){.type = VKT_METRIC_F1, .num_classes = 4, .top_k = 2});
    vkt_metric *bin = make((vkt_metric_desc){.type = VKT_METRIC_ACCURACY});
    vkt_metric *mse = make((vkt_metric_desc){.type = VKT_METRIC_MEAN_SQUARED_ERROR});
    vkt_tensor *s53 = vkt_tensor_new_2d(test_dev, VKT_F32, 5, 3);
    vkt_tensor *s54 = vkt_tensor_new_2d(test_dev, VKT_F32, 5, 4);
    vkt_tensor *l5 = vkt_tensor_new_1d(test_dev, VKT_I32, 5);
    vkt_tensor *l6 = vkt_tensor_new_1d(test_dev, VKT_I32, 6);
    vkt_tensor *f5 = vkt_tensor_new_1d(test_dev, VKT_F32, 5);
    vkt_tensor *f6 = vkt_tensor_new_1d(test_dev, VKT_F32, 6);
    assert_int_equal(vkt_fill(l5, 0.0f), VKT_OK);
    assert_int_equal(vkt_fill(s54, 0.0f), VKT_OK);

    assert_int_equal(vkt_metric_update(f1, s53, l5), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "vkt_metric_update: multiclass f1"));
    assert_non_null(strstr(vkt_last_error(), "(N, 4) f32"));
    assert_non_null(strstr(vkt_last_error(), "preds is [5, 3] f32 and target is [5] i32"));
    assert_int_equal(vkt_metric_update(f1, s54, f5), VKT_DTYPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "target is [5] f32"));
    assert_int_equal(vkt_metric_update(f1, l6, l5), VKT_SHAPE_MISMATCH);
    assert_int_equal(vkt_metric_update(top, l5, l5), VKT_DTYPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "top_k"));
    assert_int_equal(vkt_metric_update(bin, f6, l5), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "binary accuracy"));
    assert_int_equal(vkt_metric_update(mse, f5, l5), VKT_DTYPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "regression mean_squared_error"));
    assert_int_equal(vkt_metric_update(mse, f5, f6), VKT_SHAPE_MISMATCH);
    assert_int_equal(vkt_metric_update_count(f1), 0);

    /* a failed op's NULL: its status and message stay */
    assert_null(vkt_add(f5, f6));
    assert_int_equal(vkt_metric_update(mse, vkt_add(f5, f6), f5), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "vkt_add"));
    assert_int_equal(vkt_metric_update(NULL, f5, f5), VKT_INVALID_ARGUMENT);
    assert_null(vkt_metric_compute(NULL));
    assert_int_equal(vkt_metric_reset(NULL), VKT_INVALID_ARGUMENT);

    /* the state survived the rejected updates */
    assert_int_equal(vkt_metric_update(f1, s54, l5), VKT_OK);
    assert_float_equal(value(f1), 1.0f, 0.0f); /* all-zero scores: argmax 0 = every target */
    vkt_metric_destroy(f1);
    vkt_metric_destroy(top);
    vkt_metric_destroy(bin);
    vkt_metric_destroy(mse);
    vkt_scope_end(test_dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(metrics_match_reference),
        VKT_TEST(fifty_updates_read_nothing_back_and_never_wait),
        VKT_TEST(torchmetrics_documentation_examples),
        VKT_TEST(sigmoid_rule_applies_per_batch),
        VKT_TEST(out_of_range_samples_are_skipped),
        VKT_TEST(reset_starts_over),
        VKT_TEST(results_are_bitwise_deterministic),
        VKT_TEST(metrics_outlive_scopes),
        VKT_TEST(defaults_are_filled_in),
        VKT_TEST(bad_descs_are_clear_errors),
        VKT_TEST(bad_inputs_are_clear_errors),
    };
    return VKT_RUN_GROUP(tests);
}
