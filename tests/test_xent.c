/*
 * test_xent.c — vkt_softmax_xent: forward and backward vs the CPU reference (the "softmax_xent"
 * checks, src/check/check_xent.c), error messages, invalid labels, extreme logits against values
 * worked out by hand, gradient accumulation, and determinism; vkt_cross_entropy's fused path
 * (ignore_index, reductions) at GPT-2's vocabulary and beyond 65535 rows against the double
 * reference, with its device memory.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref.h"
#include "test_util.h"
#include "vkt/loss.h"

static void softmax_xent_matches_reference(void **state)
{
    (void)state;
    test_run_checks("softmax_xent");
}

static vkt_tensor *upload_2d(vkt_dtype dt, int64_t rows, int64_t cols, const void *data)
{
    return test_upload(dt, data, 2, (int64_t[]){rows, cols});
}

static vkt_tensor *upload_1d(vkt_dtype dt, int64_t n, const void *data)
{
    return test_upload(dt, data, 1, &n);
}

static float download_scalar(const vkt_tensor *t)
{
    float v = 0.0f;
    assert_int_equal(vkt_tensor_download(t, &v, sizeof v), VKT_OK);
    return v;
}

static void softmax_xent_bad_inputs_are_clear_errors(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *logits = vkt_tensor_new_2d(test_dev, VKT_F32, 3, 4);
    vkt_tensor *labels = vkt_tensor_new_1d(test_dev, VKT_I32, 3);

    vkt_tensor *short_labels = vkt_tensor_new_1d(test_dev, VKT_I32, 5);
    assert_null(vkt_softmax_xent(logits, short_labels));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "vkt_softmax_xent"));
    assert_non_null(strstr(vkt_last_error(), "[3, 4] f32"));
    assert_non_null(strstr(vkt_last_error(), "[5] i32"));

    vkt_tensor *float_labels = vkt_tensor_new_1d(test_dev, VKT_F32, 3);
    assert_null(vkt_softmax_xent(logits, float_labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "labels is [3] f32 but must be i32"));

    vkt_tensor *flat = vkt_tensor_new_1d(test_dev, VKT_F32, 12);
    assert_null(vkt_softmax_xent(flat, labels));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "logits is [12] f32 but must have 2 dimensions"));

    vkt_tensor *int_logits = vkt_tensor_new_2d(test_dev, VKT_I32, 3, 4);
    assert_null(vkt_softmax_xent(int_logits, labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);

    /* a NULL input gives NULL and leaves the previous error alone */
    assert_null(vkt_softmax_xent(NULL, labels));
    assert_null(vkt_softmax_xent(logits, NULL));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    vkt_scope_end(test_dev);
}

/* Rows whose logits sit at +-1e4 (exp would overflow without the max shift), against values
 * worked out by hand:
 *   row 0 = (1e4, -1e4, 1e4 - 1), label 2: softmax = (1, 0, e^-1) / (1 + e^-1),
 *          loss = log(1 + e^-1) + 1
 *   row 1 = (-1e4, -1e4, -1e4), label 0:   softmax = 1/3 each, loss = log 3 */
static void softmax_xent_extreme_logits(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    const float x[6] = {1e4f, -1e4f, 1e4f - 1.0f, -1e4f, -1e4f, -1e4f};
    const int32_t y[2] = {2, 0};
    vkt_tensor *logits = upload_2d(VKT_F32, 2, 3, x);
    vkt_tensor *labels = upload_1d(VKT_I32, 2, y);
    vkt_tensor_set_requires_grad(logits, true);
    vkt_tensor *loss = vkt_softmax_xent(logits, labels);
    assert_non_null(loss);
    double e1 = exp(-1.0);
    double want = ((log1p(e1) + 1.0) + log(3.0)) / 2.0;
    float got = download_scalar(loss);
    assert_true(fabs(got - want) <= 4e-7 * want);

    assert_int_equal(vkt_backward(loss), VKT_OK);
    float g[6];
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(logits), g, sizeof g), VKT_OK);
    const double want_g[6] = {1.0 / (1.0 + e1) / 2.0, 0.0, (e1 / (1.0 + e1) - 1.0) / 2.0,
                              (1.0 / 3.0 - 1.0) / 2.0, 1.0 / 6.0, 1.0 / 6.0};
    for (int i = 0; i < 6; i++) {
        assert_true(fabs(g[i] - want_g[i]) <= 1e-7);
    }
    vkt_scope_end(test_dev);
}

/* A label outside [0, C) makes that row's loss NaN, hence the mean, and its gradient row NaN;
 * the other rows' gradients are unaffected. */
static void softmax_xent_invalid_label_gives_nan(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    const float x[12] = {0.5f, -1.0f, 2.0f, 0.0f, 1.0f, 1.0f, 1.0f, 1.0f, 3.0f, 2.0f, 1.0f, 0.0f};
    const int32_t y[3] = {1, -1, 4};
    vkt_tensor *logits = upload_2d(VKT_F32, 3, 4, x);
    vkt_tensor *labels = upload_1d(VKT_I32, 3, y);
    vkt_tensor_set_requires_grad(logits, true);
    vkt_tensor *loss = vkt_softmax_xent(logits, labels);
    assert_non_null(loss);
    assert_true(isnan(download_scalar(loss)));
    assert_int_equal(vkt_backward(loss), VKT_OK);
    float g[12], want[12];
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(logits), g, sizeof g), VKT_OK);
    vkt__ref_softmax_xent_backward(want, x, y, 1.0f, 3, 4);
    for (int j = 0; j < 4; j++) {
        assert_true(fabs(g[j] - want[j]) <= 1e-7); /* row 0 is valid */
        assert_true(isnan(g[4 + j]) && isnan(g[8 + j]));
    }
    /* the same rows with valid labels give a finite loss */
    const int32_t ok[3] = {1, 0, 3};
    float want_loss;
    vkt__ref_softmax_xent(&want_loss, x, ok, 3, 4);
    float got = download_scalar(vkt_softmax_xent(logits, upload_1d(VKT_I32, 3, ok)));
    assert_true(fabsf(got - want_loss) <= 4e-7f * want_loss);
    vkt_scope_end(test_dev);
}

/* Gradients accumulate like PyTorch's: two backward passes give exactly twice the gradient.
 * Without an input that requires a gradient nothing is recorded. */
static void softmax_xent_backward_accumulates(void **state)
{
    (void)state;
    enum { B = 5, C = 7 };
    float x[B * C], once[B * C], twice[B * C];
    int32_t y[B];
    for (int i = 0; i < B * C; i++) {
        x[i] = (float)((i * 37) % 11) * 0.3f - 1.5f;
    }
    for (int i = 0; i < B; i++) {
        y[i] = (i * 3) % C;
    }
    vkt_scope_begin(test_dev);
    vkt_tensor *logits = upload_2d(VKT_F32, B, C, x);
    vkt_tensor *labels = upload_1d(VKT_I32, B, y);
    size_t nodes = vkt_graph_size(test_dev);
    assert_non_null(vkt_softmax_xent(logits, labels));
    assert_int_equal(vkt_graph_size(test_dev), nodes);

    vkt_tensor_set_requires_grad(logits, true);
    vkt_tensor *loss = vkt_softmax_xent(logits, labels);
    assert_int_equal(vkt_graph_size(test_dev), nodes + 1);
    assert_int_equal(vkt_backward(loss), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(logits), once, sizeof once), VKT_OK);
    assert_int_equal(vkt_backward(loss), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(logits), twice, sizeof twice), VKT_OK);
    float want[B * C];
    vkt__ref_softmax_xent_backward(want, x, y, 1.0f, B, C);
    for (int i = 0; i < B * C; i++) {
        assert_true(fabsf(once[i] - want[i]) <= 1e-7f);
        assert_true(twice[i] == 2.0f * once[i]);
    }
    vkt_scope_end(test_dev);
}

/* Same inputs, same bits: the reductions have a fixed order. */
static void softmax_xent_is_deterministic(void **state)
{
    (void)state;
    enum { B = 65, C = 1000 };
    float *x = malloc(sizeof(float) * B * C);
    int32_t y[B];
    assert_non_null(x);
    uint32_t r = 12345;
    for (int i = 0; i < B * C; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)(r >> 8) / 16777216.0f * 20.0f - 10.0f;
    }
    for (int i = 0; i < B; i++) {
        y[i] = (i * 389) % C;
    }
    float loss[2], *g[2] = {malloc(sizeof(float) * B * C), malloc(sizeof(float) * B * C)};
    assert_non_null(g[0]);
    assert_non_null(g[1]);
    for (int k = 0; k < 2; k++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *logits = upload_2d(VKT_F32, B, C, x);
        vkt_tensor_set_requires_grad(logits, true);
        vkt_tensor *l = vkt_softmax_xent(logits, upload_1d(VKT_I32, B, y));
        loss[k] = download_scalar(l);
        assert_int_equal(vkt_backward(l), VKT_OK);
        assert_int_equal(
            vkt_tensor_download(vkt_tensor_grad(logits), g[k], sizeof(float) * B * C), VKT_OK);
        vkt_scope_end(test_dev);
    }
    assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);
    assert_memory_equal(g[0], g[1], sizeof(float) * B * C);
    free(x);
    free(g[0]);
    free(g[1]);
}

/* ---- vkt_cross_entropy's fused path (no class weights, no label smoothing) ---- */

/* Uniform in [lo, hi) from a 64-bit LCG: fast enough for tens of millions of logits. */
static void fill_uniform(float *x, int64_t n, uint64_t seed, float lo, float hi)
{
    uint64_t st = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (int64_t i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = lo + (hi - lo) * (float)((double)(st >> 40) / 16777216.0);
    }
}

/* GPT-2's vocabulary: (B, 50257) with B * V above 65535 workgroups of 256 (the backward's grid
 * is 2-D), some rows ignored (-100) and some shifted by +-1e3, against the double reference:
 * mean, sum and per-row losses on every row, the gradient on a subsample of rows. Also the device
 * memory of forward + backward: nothing of the logits' size but their gradient. */
static void cross_entropy_gpt2_vocab_matches_double_reference(void **state)
{
    (void)state;
    enum { B = 400, V = 50257, SUB = 9 };
    assert_true((int64_t)B * V > 65535ll * 256);
    int64_t n = (int64_t)B * V;
    float *x = malloc((size_t)n * sizeof *x), *g = malloc((size_t)n * sizeof *g);
    int32_t y[B];
    double ref[B];
    assert_non_null(x);
    assert_non_null(g);
    fill_uniform(x, n, 17, -6.0f, 6.0f);
    int count = 0;
    for (int i = 0; i < B; i++) {
        y[i] = i % 37 == 5 ? -100 : (int32_t)(((int64_t)i * 7919 + (i == 1 ? V - 1 : 0)) % V);
        count += y[i] != -100;
        if (i % 50 == 7) {
            for (int j = 0; j < V; j++) {
                x[(int64_t)i * V + j] += i % 100 == 7 ? 1e3f : -1e3f;
            }
        }
    }
    vkt__ref_xent_rows(ref, x, y, B, V, true, -100);
    double sum = 0;
    for (int i = 0; i < B; i++) {
        sum += ref[i];
    }

    vkt_scope_begin(test_dev);
    vkt_tensor *logits = upload_2d(VKT_F32, B, V, x);
    vkt_tensor *labels = upload_1d(VKT_I32, B, y);
    vkt_tensor_set_requires_grad(logits, true);
    assert_int_equal(vkt_device_finish(test_dev), VKT_OK);
    vkt_device_stats st;
    vkt_device_reset_stats(test_dev);
    vkt_device_get_stats(test_dev, &st);
    uint64_t before = st.memory_in_use;
    vkt_tensor *loss = vkt_cross_entropy(logits, labels, NULL);
    assert_non_null(loss);
    assert_int_equal(vkt_backward(loss), VKT_OK);
    assert_int_equal(vkt_device_finish(test_dev), VKT_OK);
    vkt_device_get_stats(test_dev, &st);
    uint64_t extra = st.memory_peak - before, logit_bytes = (uint64_t)n * 4;
    print_message("(%d, %d): forward + backward peak %.1f MB above the logits (%.1f MB)\n", B, V,
                  extra / 1e6, logit_bytes / 1e6);
    assert_true(extra <= logit_bytes + (1u << 20)); /* the gradient, and small per-row state */

    double want = sum / count, got = download_scalar(loss);
    double e_mean = fabs(got - want) / want;
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(logits), g, (size_t)n * 4), VKT_OK);
    /* the gradient in units of its scale 1 / count */
    double e_grad = 0, *d = malloc(V * sizeof *d);
    assert_non_null(d);
    static const int sub[SUB] = {0, 1, 5, 7, 57, 198, 207, 250, B - 1};
    for (int k = 0; k < SUB; k++) {
        int i = sub[k];
        vkt__ref_xent_row_grad(d, x + (int64_t)i * V, y[i], V, 1.0 / count, true, -100);
        for (int j = 0; j < V; j++) {
            double e = fabs(g[(int64_t)i * V + j] - d[j]) * count;
            e_grad = e > e_grad ? e : e_grad;
        }
    }
    assert_true(g[5ll * V] == 0.0f && g[5ll * V + V - 1] == 0.0f); /* row 5 is ignored */

    vkt_tensor *rows = vkt_cross_entropy(logits, labels,
                                         &(vkt_loss_desc){.reduction = VKT_REDUCTION_NONE});
    float lr[B];
    assert_int_equal(vkt_tensor_download(rows, lr, sizeof lr), VKT_OK);
    double e_rows = 0;
    for (int i = 0; i < B; i++) {
        double e = fabs(lr[i] - ref[i]) / fmax(ref[i], 1.0);
        e_rows = e > e_rows ? e : e_rows;
    }
    float s = download_scalar(
        vkt_cross_entropy(logits, labels, &(vkt_loss_desc){.reduction = VKT_REDUCTION_SUM}));
    double e_sum = fabs(s - sum) / sum;
    print_message("(%d, %d) vs double: mean %.2g, sum %.2g, rows %.2g (relative), gradient %.2g "
                  "(of 1 / count)\n",
                  B, V, e_mean, e_sum, e_rows, e_grad);
    /* the bounds of src/check/check_xent.c at C = 50257, WG 256: depth 205 */
    assert_true(e_mean <= 2e-5 && e_sum <= 2e-5 && e_rows <= 2e-5 && e_grad <= 2e-5);
    vkt_scope_end(test_dev);
    free(d);
    free(x);
    free(g);
}

/* More rows than one grid dimension holds, some ignored: mean and backward against the
 * reference, at V classes. (ignore_index inside [0, C) is in
 * cross_entropy_ignore_index_semantics.) */
static void rows_beyond_65535(int V)
{
    enum { B = 65600 };
    float *x = malloc(sizeof(float) * B * V), *g = malloc(sizeof(float) * B * V);
    int32_t *y = malloc(sizeof(int32_t) * B);
    double *ref = malloc(sizeof(double) * B), *d = malloc(sizeof(double) * V);
    assert_true(x && g && y && ref && d);
    fill_uniform(x, (int64_t)B * V, 3, -3.0f, 3.0f);
    for (int i = 0; i < B; i++) {
        y[i] = i % 10 == 9 ? -100 : i % V;
    }
    vkt__ref_xent_rows(ref, x, y, B, V, true, -100);
    double sum = 0;
    int count = 0;
    for (int i = 0; i < B; i++) {
        count += y[i] != -100;
        sum += ref[i];
    }
    vkt_scope_begin(test_dev);
    vkt_tensor *logits = upload_2d(VKT_F32, B, V, x);
    vkt_tensor_set_requires_grad(logits, true);
    vkt_tensor *loss = vkt_cross_entropy(logits, upload_1d(VKT_I32, B, y), NULL);
    float got = download_scalar(loss);
    assert_true(fabs(got - sum / count) <= 1e-5 * (sum / count));
    assert_int_equal(vkt_backward(loss), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(logits), g, sizeof(float) * B * V),
                     VKT_OK);
    double e = 0;
    for (int i = 0; i < B; i++) {
        vkt__ref_xent_row_grad(d, x + (int64_t)i * V, y[i], V, 1.0 / count, true, -100);
        for (int j = 0; j < V; j++) {
            e = fmax(e, fabs(g[(int64_t)i * V + j] - d[j]) * count);
        }
    }
    assert_true(e <= 1e-5);
    vkt_scope_end(test_dev);
    free(x);
    free(g);
    free(y);
    free(ref);
    free(d);
}

/* 5 classes: the short-row forward (softmax_xent_rows.comp) over 257 workgroups, one row per
 * invocation, then the separate mean pass; 65 classes: the workgroup-per-row forward on a 2-D
 * grid of 65600 workgroups. */
static void cross_entropy_rows_beyond_65535(void **state)
{
    (void)state;
    rows_beyond_65535(5);
    rows_beyond_65535(65);
}

/* Every row ignored: a NaN mean (0 / 0, as torch), a sum of 0, zero gradients. The fused path
 * agrees with the composed one (log_softmax + nll with unit class weights) on mean, sum and
 * none. A label outside [0, C) that is not ignore_index is NaN. Too many logits: a clear error. */
static void cross_entropy_ignore_index_semantics(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    enum { B = 5, V = 7 };
    float x[B * V], ones[V], g[B * V];
    fill_uniform(x, B * V, 9, -2.0f, 2.0f);
    for (int j = 0; j < V; j++) {
        ones[j] = 1.0f;
    }
    const int32_t all_ignored[B] = {-100, -100, -100, -100, -100};
    vkt_tensor *logits = upload_2d(VKT_F32, B, V, x);
    vkt_tensor_set_requires_grad(logits, true);
    vkt_tensor *loss = vkt_cross_entropy(logits, upload_1d(VKT_I32, B, all_ignored), NULL);
    assert_true(isnan(download_scalar(loss)));
    vkt_tensor *sum = vkt_cross_entropy(logits, upload_1d(VKT_I32, B, all_ignored),
                                        &(vkt_loss_desc){.reduction = VKT_REDUCTION_SUM});
    assert_true(download_scalar(sum) == 0.0f);
    assert_int_equal(vkt_backward(sum), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(logits), g, sizeof g), VKT_OK);
    for (int i = 0; i < B * V; i++) {
        assert_true(g[i] == 0.0f);
    }

    const int32_t y[B] = {0, -100, 6, 3, 0};
    vkt_tensor *labels = upload_1d(VKT_I32, B, y);
    vkt_tensor *w = upload_1d(VKT_F32, V, ones);
    static const vkt_reduction reds[3] = {VKT_REDUCTION_MEAN, VKT_REDUCTION_SUM,
                                          VKT_REDUCTION_NONE};
    for (int r = 0; r < 3; r++) {
        for (int ign = 0; ign < 2; ign++) {
            vkt_loss_desc fused = {.reduction = reds[r], .has_ignore_index = ign != 0};
            vkt_loss_desc composed = fused;
            composed.weight = w;
            float a[B], b[B];
            int nout = reds[r] == VKT_REDUCTION_NONE ? B : 1;
            assert_int_equal(vkt_tensor_download(vkt_cross_entropy(logits, labels, &fused), a,
                                                 sizeof(float) * nout),
                             VKT_OK);
            assert_int_equal(vkt_tensor_download(vkt_cross_entropy(logits, labels, &composed),
                                                 b, sizeof(float) * nout),
                             VKT_OK);
            for (int i = 0; i < nout; i++) {
                /* ignore_index 0 ignores class 0 and makes -100 an invalid label: NaN */
                bool nan_ok = ign && isnan(a[i]) && isnan(b[i]);
                if (!nan_ok && !(fabsf(a[i] - b[i]) <= 1e-6f * fmaxf(fabsf(b[i]), 1.0f))) {
                    fail_msg("reduction %d, ignore_index %d, %d: fused %.9g, composed %.9g",
                             (int)reds[r], ign ? 0 : -100, i, a[i], b[i]);
                }
            }
        }
    }
    const int32_t bad[B] = {0, 7, 1, 1, 1};
    assert_true(isnan(download_scalar(vkt_cross_entropy(logits, upload_1d(VKT_I32, B, bad),
                                                        NULL))));

    /* one class more than a 256-wide workgroup covers in 65535 iterations */
    vkt_tensor *huge = vkt_tensor_new_2d(test_dev, VKT_F32, 1, 65535ll * 256 + 1);
    assert_non_null(huge);
    assert_null(vkt_cross_entropy(huge, upload_1d(VKT_I32, 1, y), NULL));
    assert_int_equal(vkt_last_status(), VKT_INVALID_ARGUMENT);
    if (!strstr(vkt_last_error(), "vkt_cross_entropy: logits is [1, 16776961] f32; at most")) {
        fail_msg("error: %s", vkt_last_error());
    }
    assert_null(vkt_softmax_xent(huge, upload_1d(VKT_I32, 1, y)));
    assert_non_null(strstr(vkt_last_error(), "vkt_softmax_xent: logits is [1, 16776961] f32"));
    vkt_scope_end(test_dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(softmax_xent_matches_reference),
        VKT_TEST(softmax_xent_bad_inputs_are_clear_errors),
        VKT_TEST(softmax_xent_extreme_logits),
        VKT_TEST(softmax_xent_invalid_label_gives_nan),
        VKT_TEST(softmax_xent_backward_accumulates),
        VKT_TEST(softmax_xent_is_deterministic),
        VKT_TEST(cross_entropy_gpt2_vocab_matches_double_reference),
        VKT_TEST(cross_entropy_rows_beyond_65535),
        VKT_TEST(cross_entropy_ignore_index_semantics),
    };
    return VKT_RUN_GROUP(tests);
}
