/*
 * test_elementwise.c — the elementwise ops vs CPU reference (src/check/check_elementwise.c);
 * shape and dtype errors; tanh's special values.
 */
#include <math.h>
#include <string.h>

#include "test_util.h"

static void elementwise_matches_reference(void **state)
{
    (void)state;
    test_run_checks("elementwise");
}

static void add_shape_mismatch_is_a_clear_error(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *a = vkt_tensor_new_2d(test_dev, VKT_F32, 3, 4);
    vkt_tensor *b = vkt_tensor_new_2d(test_dev, VKT_F32, 4, 3);
    assert_null(vkt_add(a, b));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "[3, 4] f32"));
    assert_non_null(strstr(vkt_last_error(), "[4, 3] f32"));
    /* NULL propagates without touching the error */
    assert_null(vkt_relu(vkt_add(a, b)));
    vkt_tensor *bias = vkt_tensor_new_1d(test_dev, VKT_F32, 3);
    assert_null(vkt_add_bias(a, bias));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    vkt_tensor *labels = vkt_tensor_new_2d(test_dev, VKT_I32, 3, 4);
    assert_null(vkt_add(a, labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    vkt_scope_end(test_dev);
}

/* Values the random check does not reach: saturation, signed zero, NaN, infinities. */
static void tanh_special_values_and_errors(void **state)
{
    (void)state;
    const float in[8] = {0.0f, -0.0f, 20.0f, -20.0f, 100.0f, NAN, INFINITY, -INFINITY};
    const float want[8] = {0.0f, 0.0f, 1.0f, -1.0f, 1.0f, NAN, 1.0f, -1.0f};
    float got[8];
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_1d(test_dev, VKT_F32, 8);
    assert_int_equal(vkt_tensor_upload(x, in, sizeof in), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_tanh(x), got, sizeof got), VKT_OK);
    for (int i = 0; i < 8; i++) {
        if (isnan(want[i])) {
            assert_true(isnan(got[i]));
        } else {
            assert_float_equal(got[i], want[i], 0.0f);
        }
    }
    vkt_tensor *labels = vkt_tensor_new_1d(test_dev, VKT_I32, 3);
    assert_null(vkt_tanh(labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "vkt_tanh"));
    assert_null(vkt_tanh(NULL));
    vkt_scope_end(test_dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(elementwise_matches_reference),
        VKT_TEST(add_shape_mismatch_is_a_clear_error),
        VKT_TEST(tanh_special_values_and_errors),
    };
    return VKT_RUN_GROUP(tests);
}
