/*
 * test_elementwise.c — the elementwise ops vs CPU reference (src/check/check_elementwise.c, which
 * also runs the broadcast pairs and sum_to_shape); shape and dtype errors (broadcasting ones name
 * both shapes); special values of the unary ops; erf's precision over a sweep; comparisons are
 * not recorded.
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

/* Uploads n values, applies f, downloads into got. */
static void apply1(vkt_tensor *(*f)(const vkt_tensor *), const float *in, float *got, int n)
{
    vkt_tensor *x = vkt_tensor_new_1d(test_dev, VKT_F32, n);
    assert_int_equal(vkt_tensor_upload(x, in, (size_t)n * sizeof *in), VKT_OK);
    vkt_tensor *y = f(x);
    assert_non_null(y);
    assert_int_equal(vkt_tensor_download(y, got, (size_t)n * sizeof *got), VKT_OK);
}

/* want NaN -> got NaN; else equal within rel (relative) */
static void expect_values(const float *got, const float *want, int n, double rel)
{
    for (int i = 0; i < n; i++) {
        if (isnan(want[i])) {
            assert_true(isnan(got[i]));
        } else if (isinf(want[i]) || want[i] == 0.0f) {
            assert_true(got[i] == want[i]);
        } else {
            assert_true(fabs((double)got[i] - want[i]) <= rel * fabs((double)want[i]));
        }
    }
}

static vkt_tensor *pow_int3(const vkt_tensor *x) { return vkt_pow_scalar(x, 3.0f); }
static vkt_tensor *pow_third(const vkt_tensor *x) { return vkt_pow_scalar(x, 1.0f / 3.0f); }
static vkt_tensor *pow_neg1(const vkt_tensor *x) { return vkt_pow_scalar(x, -1.0f); }
static vkt_tensor *pow_zero(const vkt_tensor *x) { return vkt_pow_scalar(x, 0.0f); }
static vkt_tensor *clamp_lo(const vkt_tensor *x) { return vkt_clamp(x, 0.0f, NAN); }

/* Saturation, signed zero, NaN, infinities and the domain edges, each as torch gives them. */
static void unary_special_values(void **state)
{
    (void)state;
    enum { N = 8 };
    const float in[N] = {0.0f, -0.0f, 100.0f, -100.0f, NAN, INFINITY, -INFINITY, -1.0f};
    static const struct {
        vkt_tensor *(*f)(const vkt_tensor *);
        float want[N];
        double rel;
    } cases[] = {
        {vkt_sigmoid, {0.5f, 0.5f, 1.0f, 3.7200760e-44f, NAN, 1.0f, 0.0f, 0.26894142f}, 1e-6},
        {vkt_softplus, {0.69314718f, 0.69314718f, 100.0f, 3.7200760e-44f, NAN, INFINITY, 0.0f,
                        0.31326169f}, 1e-6},
        {vkt_ln, {-INFINITY, -INFINITY, 4.6051702f, NAN, NAN, INFINITY, NAN, NAN}, 1e-6},
        {vkt_sqrt, {0.0f, 0.0f, 10.0f, NAN, NAN, INFINITY, NAN, NAN}, 1e-7},
        {vkt_rsqrt, {INFINITY, INFINITY, 0.1f, NAN, NAN, 0.0f, NAN, NAN}, 1e-6},
        {vkt_log1p, {0.0f, 0.0f, 4.6151205f, NAN, NAN, INFINITY, NAN, -INFINITY}, 1e-6},
        {vkt_gelu, {0.0f, 0.0f, 100.0f, 0.0f, NAN, INFINITY, NAN, -0.15865525f}, 1e-6},
        {vkt_gelu_tanh, {0.0f, 0.0f, 100.0f, 0.0f, NAN, INFINITY, NAN, -0.15880801f}, 1e-6},
        {vkt_silu, {0.0f, 0.0f, 100.0f, -3.7200760e-42f, NAN, INFINITY, NAN, -0.26894142f}, 1e-5},
        {vkt_abs, {0.0f, 0.0f, 100.0f, 100.0f, NAN, INFINITY, INFINITY, 1.0f}, 0.0},
        {pow_int3, {0.0f, -0.0f, 1e6f, -1e6f, NAN, INFINITY, -INFINITY, -1.0f}, 1e-7},
        {pow_third, {0.0f, 0.0f, 4.6415888f, NAN, NAN, INFINITY, NAN, NAN}, 1e-6},
        {pow_neg1, {INFINITY, -INFINITY, 0.01f, -0.01f, NAN, 0.0f, -0.0f, -1.0f}, 1e-7},
        {pow_zero, {1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f, 1.0f}, 0.0},
        {clamp_lo, {0.0f, 0.0f, 100.0f, 0.0f, NAN, INFINITY, 0.0f, 0.0f}, 0.0},
    };
    vkt_scope_begin(test_dev);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        float got[N];
        apply1(cases[c].f, in, got, N);
        /* sigmoid(-100) and friends are subnormal: a device may flush them to 0 */
        for (int i = 0; i < N; i++) {
            if (fabsf(cases[c].want[i]) < 1e-37f && fabsf(got[i]) < 1e-37f) {
                got[i] = cases[c].want[i];
            }
        }
        print_message("case %zu\n", c);
        expect_values(got, cases[c].want, N, cases[c].rel);
    }
    vkt_scope_end(test_dev);
}

/* gelu's erf (Cephes, shaders/math.glsl) against libm's double erfc over [-9, 9] in steps of
 * 1/128: relative error of gelu(x) / x = Phi(x) at most 1e-6 where Phi comes from erf (x >= -sqrt 2),
 * and 3e-6 in the tail where it is erfc(-x / sqrt 2) / 2 (Cephes' erfcf is good to ~1e-6 relative
 * there, and exp's own error at arguments down to -40 adds to it; measured 2.0e-6 at x = -8.45;
 * the absolute error is below 1e-12). */
static void gelu_erf_is_precise(void **state)
{
    (void)state;
    enum { N = 2 * 9 * 128 + 1 };
    static float in[N], got[N];
    for (int i = 0; i < N; i++) {
        in[i] = (float)(i - N / 2) / 128.0f;
    }
    vkt_scope_begin(test_dev);
    apply1(vkt_gelu, in, got, N);
    double worst = 0.0, at = 0.0;
    for (int i = 0; i < N; i++) {
        double x = in[i], want = x * 0.5 * erfc(-x / sqrt(2.0));
        if (x == 0.0 || fabs(want) < 1e-30) {
            continue;
        }
        double e = fabs(got[i] - want) / fabs(want) / (x < -1.4142135623730951 ? 3.0 : 1.0);
        if (e > worst) {
            worst = e;
            at = x;
        }
    }
    print_message("gelu: max relative error / tolerance %.3g (x = %g)\n", worst / 1e-6, at);
    assert_true(worst <= 1e-6);
    vkt_scope_end(test_dev);
}

static void broadcast_errors_name_both_shapes(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t sa[3] = {2, 3, 4}, sb[2] = {3, 5};
    vkt_tensor *a = vkt_tensor_new(test_dev, VKT_F32, 3, sa);
    vkt_tensor *b = vkt_tensor_new(test_dev, VKT_F32, 2, sb);
    vkt_tensor *(*const fns[])(const vkt_tensor *, const vkt_tensor *) = {
        vkt_add, vkt_sub, vkt_mul, vkt_div, vkt_maximum, vkt_minimum, vkt_pow, vkt_eq, vkt_ge,
    };
    for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        assert_null(fns[i](a, b));
        assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
        assert_non_null(strstr(vkt_last_error(), "[2, 3, 4] f32"));
        assert_non_null(strstr(vkt_last_error(), "[3, 5] f32"));
        assert_non_null(strstr(vkt_last_error(), "4 vs 5"));
    }
    /* where: cond against the broadcast of a and b */
    int64_t sc[2] = {3, 1}, sx[1] = {2};
    vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, 1, sx);
    vkt_tensor *c = vkt_tensor_new(test_dev, VKT_F32, 2, sc);
    vkt_tensor *w = vkt_tensor_new(test_dev, VKT_F32, 3, sa);
    assert_null(vkt_where(c, w, x));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_null(vkt_where(w, c, x)); /* (2,3,4) against the (3, 2) of a and b */
    assert_non_null(strstr(vkt_last_error(), "cond"));
    assert_non_null(strstr(vkt_last_error(), "[3, 2]"));
    vkt_tensor *labels = vkt_tensor_new_1d(test_dev, VKT_I32, 4);
    assert_null(vkt_sub(a, labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_null(vkt_where(labels, a, a));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_null(vkt_gelu(labels));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_null(vkt_mul(NULL, a));
    assert_null(vkt_where(c, NULL, a));
    vkt_scope_end(test_dev);
}

/* (3,1,5) + (4,5) gives (3,4,5) with the right values; a comparison is a mask and records
 * nothing, while where of a tensor that requires a gradient does. */
static void broadcast_values_and_masks(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t sa[3] = {3, 1, 5}, sb[2] = {4, 5};
    float ha[15], hb[20], got[60];
    for (int i = 0; i < 15; i++) {
        ha[i] = (float)(100 * i);
    }
    for (int i = 0; i < 20; i++) {
        hb[i] = (float)i;
    }
    vkt_tensor *a = vkt_tensor_new(test_dev, VKT_F32, 3, sa);
    vkt_tensor *b = vkt_tensor_new(test_dev, VKT_F32, 2, sb);
    assert_int_equal(vkt_tensor_upload(a, ha, sizeof ha), VKT_OK);
    assert_int_equal(vkt_tensor_upload(b, hb, sizeof hb), VKT_OK);
    vkt_tensor *y = vkt_add(a, b);
    assert_int_equal(vkt_tensor_ndim(y), 3);
    assert_int_equal(vkt_tensor_dim(y, 1), 4);
    assert_int_equal(vkt_tensor_download(y, got, sizeof got), VKT_OK);
    for (int i = 0; i < 3; i++) {
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 5; k++) {
                assert_float_equal(got[(i * 4 + j) * 5 + k], ha[i * 5 + k] + hb[j * 5 + k], 0.0f);
            }
        }
    }
    vkt_tensor_set_requires_grad(a, true);
    size_t before = vkt_graph_size(test_dev);
    vkt_tensor *m = vkt_gt(a, b);
    assert_non_null(m);
    assert_false(vkt_tensor_requires_grad(m));
    assert_int_equal(vkt_graph_size(test_dev), before);
    assert_non_null(vkt_where(m, a, b));
    assert_int_equal(vkt_graph_size(test_dev), before + 1);
    vkt_scope_end(test_dev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(elementwise_matches_reference),
        VKT_TEST(add_shape_mismatch_is_a_clear_error),
        VKT_TEST(tanh_special_values_and_errors),
        VKT_TEST(unary_special_values),
        VKT_TEST(gelu_erf_is_precise),
        VKT_TEST(broadcast_errors_name_both_shapes),
        VKT_TEST(broadcast_values_and_masks),
    };
    return VKT_RUN_GROUP(tests);
}
