/*
 * test_grad.c — every differentiable op's gradient against central finite differences
 * (src/check/check_grad.c), plus autograd bookkeeping: accumulation, zero_grad, scopes, errors.
 */
#include <string.h>

#include "test_util.h"

static void gradients_match_finite_differences(void **state)
{
    (void)state;
    test_run_checks("grad");
}

static void gradients_accumulate_until_zeroed(void **state)
{
    (void)state;
    float xv[4] = {1, -2, 3, -4};
    vkt_tensor *x = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    assert_int_equal(vkt_tensor_upload(x, xv, sizeof xv), VKT_OK);
    vkt_tensor_set_requires_grad(x, true);
    float g[4];
    for (int round = 1; round <= 2; round++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *loss = vkt_sum(vkt_scale(x, 3.0f));
        assert_int_equal(vkt_backward(loss), VKT_OK);
        vkt_scope_end(test_dev);
        assert_int_equal(vkt_graph_size(test_dev), 0);
        assert_int_equal(vkt_tensor_download(vkt_tensor_grad(x), g, sizeof g), VKT_OK);
        for (int i = 0; i < 4; i++) {
            assert_true(g[i] == 3.0f * (float)round);
        }
    }
    assert_int_equal(vkt_zero_grad(x), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(x), g, sizeof g), VKT_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(g[i] == 0.0f);
    }
    vkt_tensor_free(x);
}

static void backward_errors_are_clear(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    vkt_fill(x, 1.0f);
    assert_int_equal(vkt_backward(x), VKT_SHAPE_MISMATCH); /* not a scalar */
    assert_non_null(strstr(vkt_last_error(), "one f32 element"));
    vkt_tensor *s = vkt_sum(x); /* nothing requires grad: no graph */
    assert_int_equal(vkt_backward(s), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "requires a gradient"));
    assert_int_equal(vkt_backward(NULL), VKT_INVALID_ARGUMENT);
    vkt_scope_end(test_dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(gradients_match_finite_differences),
        VKT_TEST(gradients_accumulate_until_zeroed),
        VKT_TEST(backward_errors_are_clear),
    };
    return VKT_RUN_GROUP(tests);
}
