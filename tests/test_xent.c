/*
 * test_xent.c — vkt_softmax_xent: forward and backward vs the CPU reference (the "softmax_xent"
 * checks, src/check/check_xent.c), error messages, invalid labels, extreme logits against values
 * worked out by hand, gradient accumulation, and determinism.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/ref.h"
#include "test_util.h"

static void softmax_xent_matches_reference(void **state)
{
    (void)state;
    test_run_checks("softmax_xent");
}

static vkt_tensor *upload_2d(vkt_dtype dt, int64_t rows, int64_t cols, const void *data)
{
    vkt_tensor *t = vkt_tensor_new_2d(test_dev, dt, rows, cols);
    assert_non_null(t);
    assert_int_equal(vkt_tensor_upload(t, data, vkt_tensor_bytes(t)), VKT_OK);
    return t;
}

static vkt_tensor *upload_1d(vkt_dtype dt, int64_t n, const void *data)
{
    vkt_tensor *t = vkt_tensor_new_1d(test_dev, dt, n);
    assert_non_null(t);
    assert_int_equal(vkt_tensor_upload(t, data, vkt_tensor_bytes(t)), VKT_OK);
    return t;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(softmax_xent_matches_reference),
        VKT_TEST(softmax_xent_bad_inputs_are_clear_errors),
        VKT_TEST(softmax_xent_extreme_logits),
        VKT_TEST(softmax_xent_invalid_label_gives_nan),
        VKT_TEST(softmax_xent_backward_accumulates),
        VKT_TEST(softmax_xent_is_deterministic),
    };
    return VKT_RUN_GROUP(tests);
}
