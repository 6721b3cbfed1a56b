/*
 * test_grad.c — every differentiable op's gradient against central finite differences
 * (src/check/check_grad.c), plus autograd bookkeeping: accumulation, zero_grad, scopes, errors,
 * the grad-ready observer DDP reduces buckets with.
 */
#include <string.h>

#include "tensor/tensor_impl.h"
#include "test_alloc.h"
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

static void expect4(const vkt_tensor *t, const float want[4])
{
    float g[4];
    assert_int_equal(vkt_tensor_download(vkt_tensor_grad(t), g, sizeof g), VKT_OK);
    for (int i = 0; i < 4; i++) {
        assert_true(g[i] == want[i]);
    }
}

/* First-touch gradients (src/tensor/graph.c): r = relu(x) feeds two branches, so its gradient's
 * first writer overwrites and the second adds; a second backward over the same graph starts the
 * intermediates from zero again while the leaf x accumulates; a later loss that does not reach
 * r leaves r's gradient zero (its nodes are skipped, not run on an unwritten gradient). */
static void first_touch_gradients_write_then_accumulate(void **state)
{
    (void)state;
    float xv[4] = {1, -2, 3, -4};
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    assert_int_equal(vkt_tensor_upload(x, xv, sizeof xv), VKT_OK);
    vkt_tensor_set_requires_grad(x, true);
    vkt_tensor *r = vkt_relu(x);
    vkt_tensor *loss = vkt_add(vkt_sum(vkt_scale(r, 2.0f)), vkt_sum(vkt_scale(r, 5.0f)));
    assert_int_equal(vkt_backward(loss), VKT_OK);
    expect4(r, (const float[]){7, 7, 7, 7});
    expect4(x, (const float[]){7, 0, 7, 0});

    assert_int_equal(vkt_backward(loss), VKT_OK);
    expect4(r, (const float[]){7, 7, 7, 7});
    expect4(x, (const float[]){14, 0, 14, 0});

    vkt_tensor *loss2 = vkt_sum(vkt_scale(x, 1.0f));
    assert_int_equal(vkt_backward(loss2), VKT_OK);
    expect4(r, (const float[]){0, 0, 0, 0});
    expect4(x, (const float[]){15, 1, 15, 1});
    vkt_scope_end(test_dev);
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

/* A scope that cannot be opened fails visibly, and its end closes nothing: the enclosing scope
 * (and what lives in it) survives however deep the failure happened. Each run is on a fresh
 * device, whose scope stacks start empty, so that every growth of theirs is a failure point. */
enum { OUTER_FLOATS = 1 << 18, SCOPE_DEPTH = 4096 };
static vkt_device *scope_dev; /* a fresh one per run: its scope stacks start empty and grow */
static uint64_t scope_baseline;

static void deep_scopes_setup(void *ctx)
{
    (void)ctx;
    assert_int_equal(vkt_device_create(&(vkt_device_desc){0}, &scope_dev), VKT_OK);
    vkt_device_stats st;
    vkt_device_get_stats(scope_dev, &st);
    scope_baseline = st.memory_in_use;
    assert_int_equal(vkt_scope_begin(scope_dev), VKT_OK);
    vkt_tensor *outer = vkt_tensor_new_1d(scope_dev, VKT_F32, OUTER_FLOATS);
    assert_non_null(outer);
}

static vkt_status deep_scopes_op(void *ctx)
{
    (void)ctx;
    vkt_status first = VKT_OK;
    for (uint32_t i = 0; i < SCOPE_DEPTH; i++) {
        vkt_status s = vkt_scope_begin(scope_dev);
        first = first == VKT_OK ? s : first;
    }
    for (uint32_t i = 0; i < SCOPE_DEPTH; i++) {
        vkt_scope_end(scope_dev);
    }
    return first;
}

static void deep_scopes_check(void *ctx, vkt_status s, long point)
{
    (void)ctx;
    if (s != VKT_OK) {
        assert_int_equal(s, VKT_OUT_OF_HOST_MEMORY);
        assert_non_null(strstr(vkt_last_error(), "vkt_scope_begin"));
    }
    vkt_device_stats st;
    vkt_device_finish(scope_dev);
    vkt_device_get_stats(scope_dev, &st);
    assert_true(st.memory_in_use >= scope_baseline + OUTER_FLOATS * sizeof(float));
    vkt_scope_end(scope_dev); /* the outer scope: its tensor goes now */
    vkt_device_finish(scope_dev);
    vkt_device_get_stats(scope_dev, &st);
    uint64_t in_use = st.memory_in_use;
    vkt_device_destroy(scope_dev);
    scope_dev = NULL;
    if (in_use != scope_baseline) {
        fail_msg("point %ld: %llu bytes in use, %llu before", point, (unsigned long long)in_use,
                 (unsigned long long)scope_baseline);
    }
}

typedef struct heard {
    vkt_tensor *leaf[8];
    float grad[8][4]; /* the gradient when the observer heard of it */
    int n;
    int fail_at; /* the observer fails at this call (from 1); 0: never */
} heard;

static vkt_status on_ready(void *ctx, vkt_tensor *leaf)
{
    heard *h = ctx;
    if (++h->n == h->fail_at) {
        return vkt__error(VKT_SHAPE_MISMATCH, "observer failed");
    }
    h->leaf[h->n - 1] = leaf;
    return vkt_tensor_download(vkt_tensor_grad(leaf), h->grad[h->n - 1], sizeof h->grad[0]);
}

/* L = sum(a * b * a) + sum(c * c): the walk passes c's only node first (c heard of once, though
 * that node reads it twice), then a * b, the first node reading a and b (a's second reader, y * a,
 * comes earlier in the walk and must not make it final). Each gradient is final when heard of. An
 * observer's error stops the backward with it. */
static void grad_ready_hears_each_leaf_once_its_gradient_is_final(void **state)
{
    (void)state;
    float av[4] = {1, 2, 3, 4}, bv[4] = {-1, 0.5f, 2, 1}, cv[4] = {3, -2, 1, 0.25f};
    vkt_tensor *a = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    vkt_tensor *b = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    vkt_tensor *c = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    vkt_tensor *leaves[3] = {a, b, c};
    const float *vals[3] = {av, bv, cv};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vkt_tensor_upload(leaves[i], vals[i], sizeof av), VKT_OK);
        vkt_tensor_set_requires_grad(leaves[i], true);
    }
    for (int fail_at = 0; fail_at <= 2; fail_at += 2) {
        heard h = {.fail_at = fail_at};
        vkt_scope_begin(test_dev);
        vkt_tensor *first = vkt_sum(vkt_mul(vkt_mul(a, b), a)); /* recorded in this order */
        vkt_tensor *loss = vkt_add(first, vkt_sum(vkt_mul(c, c)));
        for (int i = 0; i < 3; i++) {
            assert_int_equal(vkt_zero_grad(leaves[i]), VKT_OK);
        }
        assert_int_equal(vkt__set_grad_ready(test_dev, on_ready, &h), VKT_OK);
        vkt_status s = vkt_backward(loss);
        assert_int_equal(vkt__set_grad_ready(test_dev, NULL, NULL), VKT_OK);
        vkt_scope_end(test_dev);
        if (fail_at) {
            assert_int_equal(s, VKT_SHAPE_MISMATCH);
            assert_non_null(strstr(vkt_last_error(), "observer failed"));
            assert_int_equal(h.n, 2);
            continue;
        }
        assert_int_equal(s, VKT_OK);
        assert_int_equal(h.n, 3);
        assert_ptr_equal(h.leaf[0], c);
        assert_ptr_equal(h.leaf[1], a);
        assert_ptr_equal(h.leaf[2], b);
        for (int i = 0; i < 4; i++) {
            assert_true(h.grad[0][i] == 2 * cv[i]);
            assert_true(h.grad[1][i] == 2 * av[i] * bv[i]);
            assert_true(h.grad[2][i] == av[i] * av[i]);
        }
    }
    for (int i = 0; i < 3; i++) {
        vkt_tensor_free(leaves[i]);
    }
}

static void failed_scope_begin_keeps_scopes_balanced(void **state)
{
    (void)state;
    long points = vkt_test_each_alloc_failure("vkt_scope_begin", deep_scopes_setup,
                                              deep_scopes_op, deep_scopes_check, NULL);
    assert_true(points >= 2); /* the two mark stacks */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(gradients_match_finite_differences),
        VKT_TEST(gradients_accumulate_until_zeroed),
        VKT_TEST(first_touch_gradients_write_then_accumulate),
        VKT_TEST(backward_errors_are_clear),
        VKT_TEST(grad_ready_hears_each_leaf_once_its_gradient_is_final),
        VKT_TEST(failed_scope_begin_keeps_scopes_balanced),
    };
    return VKT_RUN_GROUP(tests);
}
