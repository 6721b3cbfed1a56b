/*
 * test_reduce.c — the reduction family (src/ops/reduce.c): the reference checks on both
 * workgroup-combine paths (src/check/check_reduce.c), bitwise determinism, the 10^7-element
 * accuracy contract, agreement between the paths, autograd bookkeeping and error messages.
 * Run it at LP_NATIVE_VECTOR_WIDTH=128/256/512 too (lavapipe subgroups of 4, 8, 16).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "test_util.h"

/* splitmix64-based uniform floats in [lo, hi) */
static float *rand_floats(uint64_t seed, int64_t n, float lo, float hi)
{
    float *p = malloc((size_t)n * sizeof *p);
    assert_non_null(p);
    for (int64_t i = 0; i < n; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        p[i] = (float)(lo + (hi - lo) * ((double)(z >> 11) * (1.0 / 9007199254740992.0)));
    }
    return p;
}

static bool subgroup_available(void)
{
    return vkt_device_get_info(test_dev)->subgroup_arithmetic;
}

static void reduce_matches_reference_on_both_paths(void **state)
{
    (void)state;
    bool before = vkt__device_caps(test_dev)->subgroup_arith;
    test_run_checks("reduce");
    /* the checks switch paths and must restore the device's choice */
    assert_int_equal(vkt__device_caps(test_dev)->subgroup_arith, before);
}

typedef vkt_tensor *(*reduce_fn)(const vkt_tensor *);

/* Three runs of every op on the same input give the same bits, on each path. */
static void results_are_bitwise_deterministic(void **state)
{
    (void)state;
    static const struct {
        reduce_fn fn;
        int64_t rows, cols; /* rows 0: whole tensor of cols elements */
    } cases[] = {
        {vkt_sum, 0, 1000003},       {vkt_mean, 0, 1000003},     {vkt_max, 0, 1000003},
        {vkt_argmax, 0, 1000003},    {vkt_sum_rows, 2, 100003},  {vkt_mean_rows, 100000, 10},
        {vkt_min_rows, 2, 100003},   {vkt_argmax_rows, 65, 63},  {vkt_sum_rows, 3, 1000},
    };
    bool before = vkt__device_caps(test_dev)->subgroup_arith;
    float *x = rand_floats(7, 1000003, -3.0f, 3.0f);
    for (int sg = 0; sg < 2; sg++) {
        if (sg && !subgroup_available()) {
            break;
        }
        assert_true(vkt__device_set_subgroup_arith(test_dev, sg != 0));
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            vkt_scope_begin(test_dev);
            int64_t shape[2] = {cases[i].rows, cases[i].cols};
            vkt_tensor *t = cases[i].rows ? test_upload(VKT_F32, x, 2, shape)
                                          : test_upload(VKT_F32, x, 1, &cases[i].cols);
            void *first = test_fetch(cases[i].fn(t));
            size_t bytes = (size_t)(cases[i].rows ? cases[i].rows : 1) * 4;
            for (int run = 0; run < 2; run++) {
                void *again = test_fetch(cases[i].fn(t));
                assert_memory_equal(first, again, bytes);
                free(again);
            }
            free(first);
            vkt_scope_end(test_dev);
        }
    }
    vkt__device_set_subgroup_arith(test_dev, before);
    free(x);
}

/* A sum of 10^7 values is within 1e-6 (relative to sum|x|) of a double-precision reference, for
 * values in [0, 1) and mixed signs, on both paths. The checks hold it to 2u ~ 1.2e-7. */
static void sum_of_1e7_values_is_accurate(void **state)
{
    (void)state;
    int64_t n = 10000000;
    bool before = vkt__device_caps(test_dev)->subgroup_arith;
    for (int mixed = 0; mixed < 2; mixed++) {
        float *x = rand_floats(11 + (uint64_t)mixed, n, mixed ? -1.0f : 0.0f, 1.0f);
        double want, abs_sum;
        vkt__ref_sum(&want, &abs_sum, x, n);
        /* what a plain fp32 loop gives, to show the test could fail */
        float naive = 0.0f;
        for (int64_t i = 0; i < n; i++) {
            naive += x[i];
        }
        for (int sg = 0; sg < 2; sg++) {
            if (sg && !subgroup_available()) {
                break;
            }
            assert_true(vkt__device_set_subgroup_arith(test_dev, sg != 0));
            vkt_scope_begin(test_dev);
            float *got = test_fetch(vkt_sum(test_upload(VKT_F32, x, 1, &n)));
            double err = fabs(*got - want) / abs_sum;
            fprintf(stderr, "sum of 10^7 %s, %s path: relative error %.3g (plain fp32 loop %.3g)\n",
                    mixed ? "in [-1,1)" : "in [0,1)", sg ? "subgroup" : "shared-memory", err,
                    fabs(naive - want) / abs_sum);
            assert_true(err <= 1e-6);
            free(got);
            vkt_scope_end(test_dev);
        }
        free(x);
    }
    vkt__device_set_subgroup_arith(test_dev, before);
}

/* Exact ops (max, argmax, count) give the same bits on both paths. */
static void both_paths_agree_on_exact_ops(void **state)
{
    (void)state;
    if (!subgroup_available()) {
        fprintf(stderr, "no subgroup arithmetic: only the shared-memory path exists\n");
        return;
    }
    bool before = vkt__device_caps(test_dev)->subgroup_arith;
    int64_t shape[2] = {300, 777};
    float *x = rand_floats(3, shape[0] * shape[1], -1.0f, 1.0f);
    for (int64_t i = 0; i < shape[0] * shape[1]; i++) {
        x[i] = floorf(x[i] * 16.0f); /* ties */
    }
    void *res[2][3];
    for (int sg = 0; sg < 2; sg++) {
        assert_true(vkt__device_set_subgroup_arith(test_dev, sg != 0));
        vkt_scope_begin(test_dev);
        vkt_tensor *t = test_upload(VKT_F32, x, 2, shape);
        res[sg][0] = test_fetch(vkt_max_rows(t));
        res[sg][1] = test_fetch(vkt_argmax_rows(t));
        res[sg][2] = test_fetch(vkt_count_equal(t, t));
        vkt_scope_end(test_dev);
    }
    assert_memory_equal(res[0][0], res[1][0], (size_t)shape[0] * 4);
    assert_memory_equal(res[0][1], res[1][1], (size_t)shape[0] * 4);
    assert_int_equal(*(int32_t *)res[0][2], shape[0] * shape[1]);
    assert_int_equal(*(int32_t *)res[1][2], shape[0] * shape[1]);
    for (int sg = 0; sg < 2; sg++) {
        for (int k = 0; k < 3; k++) {
            free(res[sg][k]);
        }
    }
    vkt__device_set_subgroup_arith(test_dev, before);
    free(x);
}

static void gradients_accumulate_and_only_differentiable_ops_record(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    float x[6] = {1.0f, 5.0f, -2.0f, 5.0f, 0.5f, -2.0f};
    int64_t n = 6;
    vkt_tensor *t = test_upload(VKT_F32, x, 1, &n);
    size_t nodes = vkt_graph_size(test_dev);
    /* no input needs a gradient: nothing is recorded */
    vkt_tensor_free(vkt_max(t));
    assert_int_equal(vkt_graph_size(test_dev), nodes);
    vkt_tensor_set_requires_grad(t, true);
    vkt_tensor_free(vkt_argmax(t));
    vkt_tensor_free(vkt_count_equal(t, t));
    assert_int_equal(vkt_graph_size(test_dev), nodes); /* not differentiable */
    /* loss = max(x) + min(x) + mean(x); twice backward accumulates */
    vkt_tensor *loss = vkt_add(vkt_add(vkt_max(t), vkt_min(t)), vkt_mean(t));
    assert_non_null(loss);
    assert_int_equal(vkt_backward(loss), VKT_OK);
    assert_int_equal(vkt_backward(loss), VKT_OK);
    float *g = test_fetch(vkt_tensor_grad(t));
    float m = 2.0f * (1.0f / 6.0f);
    /* first 5 (index 1) and first -2 (index 2) only */
    float want[6] = {m, m + 2.0f, m + 2.0f, m, m, m};
    for (int i = 0; i < 6; i++) {
        assert_float_equal(g[i], want[i], 1e-6f);
    }
    free(g);
    vkt_scope_end(test_dev);
}

static void bad_dtypes_and_shapes_are_clear_errors(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *labels = vkt_tensor_new_1d(test_dev, VKT_I32, 5);
    vkt_tensor *v = vkt_tensor_new_1d(test_dev, VKT_F32, 5);
    vkt_tensor *m = vkt_tensor_new_2d(test_dev, VKT_F32, 5, 1);
    int64_t s3[3] = {2, 3, 4};
    vkt_tensor *cube = vkt_tensor_new(test_dev, VKT_F32, 3, s3);

    assert_null(vkt_sum(labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "vkt_sum"));
    assert_non_null(strstr(vkt_last_error(), "[5] i32"));
    assert_null(vkt_argmax_rows(labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);

    assert_null(vkt_sum_rows(v));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "vkt_sum_rows"));
    assert_non_null(strstr(vkt_last_error(), "[5] f32"));
    assert_null(vkt_max_rows(cube));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "[2, 3, 4] f32"));

    assert_null(vkt_count_equal(v, m));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "vkt_count_equal"));
    assert_non_null(strstr(vkt_last_error(), "[5, 1] f32"));
    assert_null(vkt_count_equal(v, labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "[5] i32"));

    /* NULL propagates without touching the error */
    assert_null(vkt_mean(vkt_sum_rows(v)));
    assert_null(vkt_count_equal(NULL, v));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "vkt_sum_rows"));

    /* whole-tensor reductions accept any shape */
    vkt_tensor *s = vkt_sum(cube);
    assert_non_null(s);
    assert_int_equal(vkt_tensor_ndim(s), 1);
    assert_int_equal(vkt_tensor_numel(s), 1);
    assert_int_equal(vkt_tensor_dtype(vkt_argmax(cube)), VKT_I32);
    assert_int_equal(vkt_tensor_dim(vkt_argmax_rows(m), 0), 5);
    vkt_scope_end(test_dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(reduce_matches_reference_on_both_paths),
        VKT_TEST(results_are_bitwise_deterministic),
        VKT_TEST(sum_of_1e7_values_is_accurate),
        VKT_TEST(both_paths_agree_on_exact_ops),
        VKT_TEST(gradients_accumulate_and_only_differentiable_ops_record),
        VKT_TEST(bad_dtypes_and_shapes_are_clear_errors),
    };
    return VKT_RUN_GROUP(tests);
}
