/*
 * test_elementwise.c — add, mul, scale, relu, add_bias, sum_cols vs CPU reference; shape errors.
 */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(elementwise_matches_reference),
        VKT_TEST(add_shape_mismatch_is_a_clear_error),
    };
    return VKT_RUN_GROUP(tests);
}
