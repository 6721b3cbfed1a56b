/*
 * test_matmul.c — vkt_matmul: both kernels vs the CPU reference (src/check/check_matmul.c), the
 * variant choice and forcing, shape errors, accumulation, backward through the tape,
 * determinism.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/matmul.h"
#include "ref/ref.h"
#include "test_util.h"

static void matmul_matches_reference(void **state)
{
    (void)state;
    test_run_checks("matmul");
}

static vkt_tensor *tensor_2d(int64_t r, int64_t c, const float *data)
{
    vkt_tensor *t = vkt_tensor_new_2d(test_dev, VKT_F32, r, c);
    assert_non_null(t);
    assert_int_equal(vkt_tensor_upload(t, data, (size_t)(r * c) * sizeof(float)), VKT_OK);
    return t;
}

static void fetch(const vkt_tensor *t, float *out)
{
    assert_non_null(t);
    assert_int_equal(vkt_tensor_download(t, out, vkt_tensor_bytes(t)), VKT_OK);
}

static uint64_t pipelines_created(vkt_device *dev)
{
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    return st.pipelines_created;
}

/* AUTO follows the capability probe, and forcing a variant really switches kernels: on a fresh
 * device (empty pipeline cache) AUTO and the default variant share one pipeline while the other
 * variant needs its own. Every variant gives the same exact result. */
static void variant_follows_the_device_and_can_be_forced(void **state)
{
    (void)state;
    vkt_device *dev = NULL;
    assert_int_equal(vkt_device_create(&(vkt_device_desc){.validation = true}, &dev), VKT_OK);
    vkt__matmul_variant def = vkt__matmul_default_variant(dev);
    assert_int_equal(def, vkt_device_get_info(dev)->type == VKT_DEVICE_TYPE_CPU
                              ? VKT__MATMUL_REGBLOCK
                              : VKT__MATMUL_TILED);
    vkt__matmul_variant other =
        def == VKT__MATMUL_TILED ? VKT__MATMUL_REGBLOCK : VKT__MATMUL_TILED;

    /* [[1,2],[3,4],[5,6]] · [[1,0,2],[0,1,3]]: small integers, exact in any order */
    const float a[] = {1, 2, 3, 4, 5, 6};
    const float b[] = {1, 0, 2, 0, 1, 3};
    const float want[] = {1, 2, 8, 3, 4, 18, 5, 6, 28};
    vkt_tensor *ta = vkt_tensor_new_2d(dev, VKT_F32, 3, 2);
    vkt_tensor *tb = vkt_tensor_new_2d(dev, VKT_F32, 2, 3);
    vkt_tensor *tc = vkt_tensor_new_2d(dev, VKT_F32, 3, 3);
    assert_true(ta && tb && tc);
    assert_int_equal(vkt_tensor_upload(ta, a, sizeof a), VKT_OK);
    assert_int_equal(vkt_tensor_upload(tb, b, sizeof b), VKT_OK);
    const vkt__matmul_variant order[] = {VKT__MATMUL_AUTO, def, other, VKT__MATMUL_AUTO};
    const uint64_t new_pipelines[] = {1, 0, 1, 0};
    for (size_t i = 0; i < 4; i++) {
        uint64_t before = pipelines_created(dev);
        vkt_device_stats s0, s1;
        vkt_device_get_stats(dev, &s0);
        assert_int_equal(vkt_fill(tc, -1.0f), VKT_OK);
        assert_int_equal(vkt__matmul_into(ta, tb, tc, 0, false, order[i]), VKT_OK);
        vkt_device_get_stats(dev, &s1);
        assert_int_equal(s1.dispatches - s0.dispatches, 1); /* one dispatch, no helper passes */
        assert_int_equal(pipelines_created(dev) - before, new_pipelines[i]);
        float got[9];
        assert_int_equal(vkt_tensor_download(tc, got, sizeof got), VKT_OK);
        assert_memory_equal(got, want, sizeof want);
    }
    /* an out-of-range variant is an error, not a crash */
    assert_int_equal(vkt__matmul_into(ta, tb, tc, 0, false, (vkt__matmul_variant)7),
                     VKT_INVALID_ARGUMENT);
    vkt_tensor_free(ta);
    vkt_tensor_free(tb);
    vkt_tensor_free(tc);
    vkt_device_finish(dev);
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    assert_int_equal(st.validation_messages, 0);
    vkt_device_destroy(dev);
}

static void shape_mismatch_is_a_clear_error(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *a = vkt_tensor_new_2d(test_dev, VKT_F32, 3, 4);
    vkt_tensor *b = vkt_tensor_new_2d(test_dev, VKT_F32, 5, 6);
    assert_null(vkt_matmul(a, b, 0));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    const char *e = vkt_last_error();
    assert_non_null(strstr(e, "vkt_matmul"));
    assert_non_null(strstr(e, "[3, 4] f32"));
    assert_non_null(strstr(e, "[5, 6] f32"));
    assert_non_null(strstr(e, "inner dimensions 4 and 5 differ"));

    /* With transposes the message names the dimensions actually compared. */
    assert_null(vkt_matmul(a, b, VKT_TRANS_A | VKT_TRANS_B));
    e = vkt_last_error();
    assert_non_null(strstr(e, "inner dimensions 3 and 6 differ"));
    assert_non_null(strstr(e, "transposed"));
    /* ... and shapes that only fit with a transpose work */
    vkt_tensor *b2 = vkt_tensor_new_2d(test_dev, VKT_F32, 6, 4);
    vkt_tensor *c = vkt_matmul(a, b2, VKT_TRANS_B);
    assert_non_null(c);
    assert_int_equal(vkt_tensor_dim(c, 0), 3);
    assert_int_equal(vkt_tensor_dim(c, 1), 6);

    /* NULL propagates without touching the error */
    assert_null(vkt_matmul(vkt_matmul(a, b, 0), b, 0));
    assert_non_null(strstr(vkt_last_error(), "inner dimensions 4 and 5 differ"));

    vkt_tensor *v = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    assert_null(vkt_matmul(v, b, 0));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "2 dimensions"));
    vkt_tensor *i = vkt_tensor_new_2d(test_dev, VKT_I32, 4, 5);
    assert_null(vkt_matmul(a, i, 0));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_null(vkt_matmul(a, b2, 4));
    assert_int_equal(vkt_last_status(), VKT_INVALID_ARGUMENT);
    vkt_scope_end(test_dev);
}

/* c += a·b on top of existing values, for both variants and an edge-heavy shape */
static void accumulate_adds_to_the_output(void **state)
{
    (void)state;
    const int64_t M = 37, N = 29, K = 19;
    float *a = malloc(M * K * sizeof *a), *b = malloc(K * N * sizeof *b);
    float *c0 = malloc(M * N * sizeof *c0), *want = malloc(M * N * sizeof *want);
    float *got = malloc(M * N * sizeof *got);
    assert_true(a && b && c0 && want && got);
    /* small integers: every partial sum is exact in fp32, so the result must be exact */
    for (int64_t x = 0; x < M * K; x++) {
        a[x] = (float)((x * 7) % 11) - 5.0f;
    }
    for (int64_t x = 0; x < K * N; x++) {
        b[x] = (float)((x * 5) % 9) - 4.0f;
    }
    for (int64_t x = 0; x < M * N; x++) {
        c0[x] = (float)(x % 13);
    }
    vkt__ref_matmul(want, a, b, &(vkt__ref_mm){1, M, N, K, 0, false, false});
    for (int64_t x = 0; x < M * N; x++) {
        want[x] += c0[x];
    }
    const vkt__matmul_variant vs[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK};
    for (size_t v = 0; v < 2; v++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *ta = tensor_2d(M, K, a), *tb = tensor_2d(K, N, b), *tc = tensor_2d(M, N, c0);
        assert_int_equal(vkt__matmul_into(ta, tb, tc, 0, true, vs[v]), VKT_OK);
        fetch(tc, got);
        assert_memory_equal(got, want, M * N * sizeof *got);
        /* and without accumulate the old contents are overwritten */
        assert_int_equal(vkt__matmul_into(ta, tb, tc, 0, false, vs[v]), VKT_OK);
        fetch(tc, got);
        for (int64_t x = 0; x < M * N; x++) {
            assert_true(got[x] == want[x] - c0[x]);
        }
        vkt_scope_end(test_dev);
    }
    free(a), free(b), free(c0), free(want), free(got);
}

/* vkt_backward through a matmul: loss = sum(x·w) needs no other op than matmul itself when
 * written as ones(1, M) · (x · w) · ones(N, 1); dL/dw = xᵀ·1·1ᵀ, so dw[k, j] = sum_i x[i, k]. */
static void backward_through_the_tape(void **state)
{
    (void)state;
    const int64_t M = 5, K = 6, N = 7;
    float x[5 * 6], w[6 * 7], ones_m[5], ones_n[7];
    for (int i = 0; i < M * K; i++) {
        x[i] = (float)(i % 7) - 3.0f;
    }
    for (int i = 0; i < K * N; i++) {
        w[i] = (float)(i % 5) - 2.0f;
    }
    for (int i = 0; i < 7; i++) {
        ones_m[i % 5] = 1.0f;
        ones_n[i] = 1.0f;
    }
    const vkt__matmul_variant vs[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK};
    for (size_t v = 0; v < 2; v++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *tx = tensor_2d(M, K, x), *tw = tensor_2d(K, N, w);
        vkt_tensor *l = tensor_2d(1, M, ones_m), *r = tensor_2d(N, 1, ones_n);
        vkt_tensor_set_requires_grad(tw, true);
        vkt_tensor_set_requires_grad(tx, true);
        vkt_tensor *loss = vkt__matmul_ex(vkt__matmul_ex(l, vkt__matmul_ex(tx, tw, 0, vs[v]), 0,
                                                         vs[v]),
                                          r, 0, vs[v]);
        assert_non_null(loss);
        assert_int_equal(vkt_graph_size(test_dev), 3);
        for (int rep = 1; rep <= 2; rep++) { /* the second backward accumulates */
            assert_int_equal(vkt_backward(loss), VKT_OK);
            float dw[6 * 7], dx[5 * 6];
            fetch(vkt_tensor_grad(tw), dw);
            fetch(vkt_tensor_grad(tx), dx);
            for (int k = 0; k < K; k++) {
                float colsum = 0.0f;
                for (int i = 0; i < M; i++) {
                    colsum += x[i * K + k];
                }
                float rowsum = 0.0f; /* dx[i, k] = sum_j w[k, j] */
                for (int j = 0; j < N; j++) {
                    rowsum += w[k * N + j];
                }
                for (int j = 0; j < N; j++) {
                    assert_true(dw[k * N + j] == rep * colsum);
                }
                for (int i = 0; i < M; i++) {
                    assert_true(dx[i * K + k] == rep * rowsum);
                }
            }
        }
        vkt_scope_end(test_dev);
    }
}

/* Same inputs, same bits: no atomics, fixed summation order (both variants). */
static void results_are_deterministic(void **state)
{
    (void)state;
    const int64_t M = 70, N = 90, K = 301;
    float *a = malloc(M * K * sizeof *a), *b = malloc(K * N * sizeof *b);
    float *r1 = malloc(M * N * sizeof *r1), *r2 = malloc(M * N * sizeof *r2);
    assert_true(a && b && r1 && r2);
    for (int64_t x = 0; x < M * K; x++) {
        a[x] = sinf((float)x);
    }
    for (int64_t x = 0; x < K * N; x++) {
        b[x] = cosf((float)x * 0.37f);
    }
    const vkt__matmul_variant vs[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK};
    for (size_t v = 0; v < 2; v++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *ta = tensor_2d(M, K, a), *tb = tensor_2d(K, N, b);
        fetch(vkt__matmul_ex(ta, tb, 0, vs[v]), r1);
        fetch(vkt__matmul_ex(ta, tb, 0, vs[v]), r2);
        assert_memory_equal(r1, r2, M * N * sizeof *r1);
        vkt_scope_end(test_dev);
    }
    free(a), free(b), free(r1), free(r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(matmul_matches_reference),
        VKT_TEST(variant_follows_the_device_and_can_be_forced),
        VKT_TEST(shape_mismatch_is_a_clear_error),
        VKT_TEST(accumulate_adds_to_the_output),
        VKT_TEST(backward_through_the_tape),
        VKT_TEST(results_are_deterministic),
    };
    return VKT_RUN_GROUP(tests);
}
