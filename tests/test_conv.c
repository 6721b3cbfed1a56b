/*
 * test_conv.c — conv2d and the pooling family (src/ops/conv.c, src/ops/pool.c): the reference
 * checks (src/check/check_conv.c) and the finite-difference cases of src/check/check_grad.c,
 * max pooling's NaN and -inf semantics, adaptive windows longer than one shader loop, bitwise
 * determinism of the backward passes, error messages, and agreement with PyTorch's F.conv2d,
 * max/avg/adaptive-avg pooling and nearest interpolation (outputs and gradients) within 1e-4
 * relative, from tests/fixtures/torch_conv.txt (argv[1]; made by tools/make_torch_conv_fixtures.py,
 * no PyTorch needed here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "ops/matmul.h"
#include "shaders/pool_ops.h"
#include "test_util.h"

static void conv_matches_reference(void **state)
{
    (void)state;
    test_run_checks("conv");
}

static void gradients_match_finite_differences(void **state)
{
    (void)state;
    test_run_checks("pool2d");
    test_run_checks("upsample_nearest2d");
    test_run_checks("conv2d_");
}

/* torch: a NaN in the window is the maximum (the last NaN's index); an all -inf window gives -inf
 * at its first element; the gradient goes to the argmax only. */
static void max_pool_nan_and_inf(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    /* four planes (twice the same two), so that x and dy are whole texels: on CPU drivers the
     * forward and the backward run on the tiled kernels (pool_tiled_kernels_run_where_they_fit) */
    float x[16] = {1.0f, NAN, 3.0f, NAN, -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                   1.0f, NAN, 3.0f, NAN, -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int64_t shape[4] = {1, 4, 2, 2};
    vkt_tensor *tx = test_upload(VKT_F32, x, 4, shape);
    vkt_tensor_set_requires_grad(tx, true);
    vkt_tensor *y = vkt_max_pool2d(tx, &(vkt_pool2d_params){.kernel = {2, 2}});
    assert_non_null(y);
    assert_int_equal(vkt_tensor_numel(y), 4);
    float *hy = test_fetch(y);
    int32_t *idx = test_fetch(y->node->saved);
    for (int p = 0; p < 4; p += 2) {
        assert_true(isnan(hy[p]));
        assert_true(isinf(hy[p + 1]) && hy[p + 1] < 0);
        assert_int_equal(idx[p], 3);
        assert_int_equal(idx[p + 1], 0);
    }
    float g[4] = {2.0f, 5.0f, 7.0f, 11.0f};
    vkt_tensor *tg = test_upload(VKT_F32, g, 4, (int64_t[4]){1, 4, 1, 1});
    assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, tg))), VKT_OK);
    float *dx = test_fetch(vkt_tensor_grad(tx));
    for (int i = 0; i < 16; i++) {
        float want = i == 3 ? 2.0f : i == 4 ? 5.0f : i == 11 ? 7.0f : i == 12 ? 11.0f : 0.0f;
        assert_true(dx[i] == want);
    }
    free(hy);
    free(idx);
    free(dx);
    vkt_scope_end(test_dev);
}

/* Max and avg pooling whose windows tile the input run on the tiled kernels on CPU drivers where
 * x (forward) and dy and the argmax (backward) are whole texels, and on pool2d.comp /
 * pool2d_backward.comp otherwise (the results on these shapes are checked against the reference
 * in src/check/check_conv.c): the profile names the kernels of a forward and backward. */
static void pool_tiled_kernels_run_where_they_fit(void **state)
{
    (void)state;
    static const struct {
        bool max;
        int64_t x[4];
        vkt_pool2d_params p;
        const char *fwd, *bwd; /* on CPU drivers with texel views */
    } cases[] = {
        {true, {2, 3, 8, 8}, {.kernel = {2, 2}}, "pool2d_tiled", "pool2d_tiled_backward"},
        {false, {1, 3, 4, 6}, {.kernel = {2, 3}}, "pool2d_tiled", "pool2d_tiled_backward"},
        /* 45 outputs: a partial last vec4; dy (45 floats) is not whole texels */
        {true, {1, 3, 6, 10}, {.kernel = {2, 2}}, "pool2d_tiled", "pool2d_backward"},
        /* 3 x 2 windows, 100 outputs */
        {true, {2, 5, 6, 10}, {.kernel = {3, 2}}, "pool2d_tiled", "pool2d_tiled_backward"},
        /* overlapping windows, padding: neither */
        {true,
         {3, 2, 7, 9},
         {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}},
         "pool2d",
         "pool2d_backward"},
        {false, {2, 2, 6, 6}, {.kernel = {2, 2}, .stride = {1, 1}}, "pool2d", "pool2d_backward"},
        /* windows that do not cover the input's last row and column */
        {false, {2, 2, 5, 5}, {.kernel = {2, 2}}, "pool2d", "pool2d_backward"},
        /* x of 18 floats: not whole texels; dy of 2 */
        {true, {1, 2, 3, 3}, {.kernel = {3, 3}}, "pool2d", "pool2d_backward"},
        /* x whole texels (24 floats), dy (6) not: tiled forward only */
        {true, {1, 6, 2, 2}, {.kernel = {2, 2}}, "pool2d_tiled", "pool2d_backward"},
    };
    bool tiled = vkt__device_caps(test_dev)->texel4 && vkt__device_caps(test_dev)->cpu_like;
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *x = vkt_rand_uniform(test_dev, 4, cases[i].x, 1, 0);
        assert_non_null(x);
        vkt_tensor_set_requires_grad(x, true);
        assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
        assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);
        vkt_tensor *y =
            cases[i].max ? vkt_max_pool2d(x, &cases[i].p) : vkt_avg_pool2d(x, &cases[i].p);
        assert_int_equal(vkt_backward(vkt_sum(y)), VKT_OK);
        assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
        const char *want[2] = {tiled ? cases[i].fwd : "pool2d",
                               tiled ? cases[i].bwd : "pool2d_backward"};
        assert_int_equal(test_profile_calls(want[0], false), 1);
        assert_int_equal(test_profile_calls(want[1], false), 1);
        assert_int_equal(test_profile_calls("pool2d", true), 2); /* no other pooling kernel */
        assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
        vkt_scope_end(test_dev);
    }
}

/* The block kernels run where the shapes fit them and the others where they do not (the
 * results on these shapes are checked against the reference in src/check/check_conv.c): the
 * profile names the im2col and col2im kernels of a forward and backward with dx. Without texel
 * views (VKT_DISABLE_TEXEL=1, or a device without them) the storage-buffer kernels run; every x
 * here is whole texels, so that it can be viewed. */
static void conv_block_kernels_run_where_they_fit(void **state)
{
    (void)state;
    static const struct {
        int64_t x[4], w[4];
        vkt_conv2d_params p;
        const char *im2col, *col2im; /* with texel views */
    } cases[] = {
        {{2, 32, 14, 14}, {8, 32, 3, 3}, {.padding = {1, 1}}, "im2col_block", "col2im_block"},
        {{2, 1, 28, 28}, {4, 1, 3, 3}, {.padding = {1, 1}}, "im2col_block", "col2im_block"},
        /* stride 2: neither */
        {{1, 3, 7, 8},
         {2, 3, 3, 3},
         {.stride = {2, 2}, .padding = {1, 1}},
         "im2col_texel",
         "col2im_texel"},
        /* 4 x 100 columns per invocation: too many for im2col_block */
        {{2, 4, 6, 6}, {8, 4, 5, 5}, {.padding = {2, 2}}, "im2col_texel", "col2im_block"},
        /* horizontal dilation: not im2col_block */
        {{1, 2, 8, 6},
         {2, 2, 3, 3},
         {.padding = {2, 2}, .dilation = {2, 2}},
         "im2col_texel",
         "col2im_block"},
        /* 7 x 9 planes: not whole vec4s for col2im_block */
        {{2, 2, 7, 9}, {2, 2, 3, 3}, {.groups = 1}, "im2col_block", "col2im_texel"},
        /* vertical stride: not col2im_block */
        {{2, 6, 9, 8},
         {3, 6, 2, 3},
         {.stride = {2, 1}, .padding = {1, 2}, .dilation = {2, 1}},
         "im2col_block",
         "col2im_texel"},
    };
    bool texel = vkt__device_caps(test_dev)->texel4;
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *x = vkt_rand_uniform(test_dev, 4, cases[i].x, 1, 0);
        vkt_tensor *w = vkt_rand_uniform(test_dev, 4, cases[i].w, 2, 0);
        assert_true(x && w);
        vkt_tensor_set_requires_grad(x, true);
        assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
        assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);
        assert_int_equal(vkt_backward(vkt_sum(vkt_conv2d(x, w, NULL, &cases[i].p))), VKT_OK);
        assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
        vkt_profile p;
        vkt_profile_kernel k[32];
        assert_int_equal(vkt_device_profile_read(test_dev, &p, k, 32), VKT_OK);
        const char *want[2] = {texel ? cases[i].im2col : "im2col",
                               texel ? cases[i].col2im : "col2im"};
        uint64_t calls[2] = {0, 0}, others = 0;
        for (uint32_t j = 0; j < p.kernel_count && j < 32; j++) {
            bool im = strncmp(k[j].name, "im2col", 6) == 0,
                 col = strncmp(k[j].name, "col2im", 6) == 0;
            if (im || col) {
                if (strcmp(k[j].name, want[col]) == 0) {
                    calls[col] += k[j].calls;
                } else {
                    others += k[j].calls;
                }
            }
        }
        assert_int_equal(calls[0], 1); /* forward only: no weight gradient */
        assert_int_equal(calls[1], 1);
        assert_int_equal(others, 0);
        assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
        vkt_scope_end(test_dev);
    }
}

/* On CPU drivers a one-group convolution's forward writes y (N, C_out, OH, OW) straight from the
 * texel matmul, per image W · colsᵀ with the bias in its epilogue: no epilogue pass; grouped
 * ones keep rows = cols · Wᵀ and the scatter (both checked against the reference in
 * src/check/check_conv.c). */
static void conv_forward_writes_nchw_from_the_product(void **state)
{
    (void)state;
    static const struct {
        int64_t x[4], w[4];
        int32_t groups;
    } cases[] = {
        {{2, 3, 9, 8}, {5, 3, 3, 3}, 1},
        {{1, 1, 28, 28}, {32, 1, 3, 3}, 1},
        {{2, 4, 6, 6}, {6, 2, 3, 3}, 2},
    };
    bool texel = vkt__matmul_default_variant(test_dev) == VKT__MATMUL_TEXEL;
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *x = vkt_rand_uniform(test_dev, 4, cases[i].x, 1, 0);
        vkt_tensor *w = vkt_rand_uniform(test_dev, 4, cases[i].w, 2, 0);
        vkt_tensor *b = vkt_rand_uniform(test_dev, 1, &cases[i].w[0], 3, 0);
        assert_true(x && w && b);
        assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
        assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);
        vkt_conv2d_params p = {.padding = {1, 1}, .groups = cases[i].groups};
        assert_non_null(vkt_conv2d(x, w, b, &p));
        assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
        bool direct = texel && cases[i].groups == 1;
        assert_int_equal(test_profile_calls("conv_epilogue", true),
                         direct ? 0 : (uint64_t)cases[i].groups);
        assert_int_equal(test_profile_calls("matmul", true), (uint64_t)cases[i].groups);
        assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
        vkt_scope_end(test_dev);
    }
}

/* Two runs of forward and backward give identical bits (gathers, no atomics). */
static void backward_is_bitwise_deterministic(void **state)
{
    (void)state;
    int64_t xs[4] = {3, 4, 9, 7}, ws[4] = {6, 2, 3, 3}, n = 3 * 4 * 9 * 7, nw = 6 * 2 * 9;
    float *x = malloc((size_t)n * sizeof *x), *w = malloc((size_t)nw * sizeof *w);
    assert_non_null(x);
    assert_non_null(w);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)((i * 37) % 101) * 0.02f - 1.0f;
    }
    for (int64_t i = 0; i < nw; i++) {
        w[i] = (float)((i * 13) % 29) * 0.05f - 0.7f;
    }
    float *out[2][3];
    for (int r = 0; r < 2; r++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *tx = test_upload(VKT_F32, x, 4, xs), *tw = test_upload(VKT_F32, w, 4, ws);
        vkt_tensor_set_requires_grad(tx, true);
        vkt_tensor_set_requires_grad(tw, true);
        vkt_conv2d_params p = {.stride = {2, 1}, .padding = {1, 1}, .groups = 2};
        vkt_tensor *y = vkt_conv2d(tx, tw, NULL, &p);
        vkt_tensor *z = vkt_avg_pool2d(vkt_max_pool2d(y, &(vkt_pool2d_params){.kernel = {2, 2}}),
                                       &(vkt_pool2d_params){.kernel = {2, 2}, .stride = {1, 1}});
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(z, z))), VKT_OK);
        out[r][0] = test_fetch(y);
        out[r][1] = test_fetch(vkt_tensor_grad(tx));
        out[r][2] = test_fetch(vkt_tensor_grad(tw));
        vkt_scope_end(test_dev);
    }
    assert_memory_equal(out[0][1], out[1][1], (size_t)n * sizeof(float));
    assert_memory_equal(out[0][2], out[1][2], (size_t)nw * sizeof(float));
    for (int r = 0; r < 2; r++) {
        for (int i = 0; i < 3; i++) {
            free(out[r][i]);
        }
    }
    free(x);
    free(w);
}

/* Adaptive windows too long for one shader loop are pooled in two separable passes (columns,
 * then rows), windows in which too many outputs meet in the backward likewise, and what even
 * one axis cannot hold is refused; values and gradients against the host reference. */
static void adaptive_pool_long_windows(void **state)
{
    (void)state;
    /* 300 x 310 -> 1 x 1: 93000 inputs per window; 2 x 2 -> 600 x 600: 300 x 300 outputs per
     * input in the backward; 5 x 7 -> 2 x 3: one pass */
    static const int64_t cases[][6] = {
        {1, 2, 300, 310, 1, 1}, {2, 1, 2, 2, 600, 600}, {1, 3, 5, 7, 2, 3}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int64_t *c = cases[k];
        vkt__ref_pool_dims d = {.n = c[0], .c = c[1], .h = c[2], .w = c[3], .oh = c[4], .ow = c[5]};
        int64_t nx = d.n * d.c * d.h * d.w, ny = d.n * d.c * d.oh * d.ow;
        float *x = malloc((size_t)nx * sizeof *x), *dy = malloc((size_t)ny * sizeof *dy);
        float *want = malloc((size_t)ny * sizeof *want), *want_dx = malloc((size_t)nx * sizeof *x);
        assert_true(x && dy && want && want_dx);
        for (int64_t i = 0; i < nx; i++) {
            x[i] = (float)((i * 7919) % 1000) / 250.0f - 2.0f;
        }
        for (int64_t i = 0; i < ny; i++) {
            dy[i] = (float)((i * 104729) % 1000) / 500.0f - 1.0f;
        }
        vkt__ref_pool2d(want, NULL, x, POOL_ADAPTIVE_AVG, &d);
        vkt__ref_pool2d_backward(want_dx, dy, NULL, POOL_ADAPTIVE_AVG, &d);
        vkt_scope_begin(test_dev);
        vkt_tensor *xt = test_upload(VKT_F32, x, 4, (int64_t[]){d.n, d.c, d.h, d.w});
        vkt_tensor_set_requires_grad(xt, true);
        vkt_tensor *y = vkt_adaptive_avg_pool2d(xt, d.oh, d.ow);
        assert_non_null(y);
        assert_int_equal(vkt_tensor_dim(y, 2), d.oh);
        assert_int_equal(vkt_tensor_dim(y, 3), d.ow);
        /* sum(y * dy) makes dy the output gradient */
        vkt_tensor *dyt = test_upload(VKT_F32, dy, 4, (int64_t[]){d.n, d.c, d.oh, d.ow});
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, dyt))), VKT_OK);
        float *got = test_fetch(y), *got_dx = test_fetch(vkt_tensor_grad(xt));
        /* fp32 sums of up to 90000 terms against the double reference */
        assert_true(vkt__max_err(got, want, ny) < 1e-4);
        assert_true(vkt__max_err(got_dx, want_dx, nx) < 1e-4);
        free(got), free(got_dx);
        vkt_scope_end(test_dev);
        free(x), free(dy), free(want), free(want_dx);
    }
    /* one axis past what an invocation walks: refused, naming the sizes */
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, 4, (int64_t[]){1, 1, 1, 70000});
    assert_non_null(x);
    test_expect_error(vkt_adaptive_avg_pool2d(x, 1, 1), VKT_INVALID_ARGUMENT, "1 x 70000 inputs");
    vkt_tensor *one = vkt_tensor_new(test_dev, VKT_F32, 4, (int64_t[]){1, 1, 1, 1});
    test_expect_error(vkt_adaptive_avg_pool2d(one, 1, 70000), VKT_INVALID_ARGUMENT,
                      "1 x 70000 windows");
    vkt_scope_end(test_dev);
}

static void errors_are_clear(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t xs[4] = {2, 4, 5, 5}, ws[4] = {6, 2, 3, 3}, s2[2] = {4, 5}, c6 = 6, c5 = 5;
    vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, 4, xs);
    vkt_tensor *xi = vkt_tensor_new(test_dev, VKT_I32, 4, xs);
    vkt_tensor *x2 = vkt_tensor_new(test_dev, VKT_F32, 2, s2);
    vkt_tensor *w = vkt_tensor_new(test_dev, VKT_F32, 4, ws);
    vkt_tensor *b6 = vkt_tensor_new(test_dev, VKT_F32, 1, &c6);
    vkt_tensor *b5 = vkt_tensor_new(test_dev, VKT_F32, 1, &c5);
    vkt_conv2d_params g2 = {.groups = 2};
    assert_non_null(vkt_conv2d(x, w, b6, &g2));
    test_expect_error(vkt_conv2d(x2, w, NULL, &g2), VKT_SHAPE_MISMATCH,
                      "vkt_conv2d: x is [4, 5] f32 but must be (N, C_in, H, W)");
    test_expect_error(vkt_conv2d(x, x2, NULL, &g2), VKT_SHAPE_MISMATCH,
                      "weight is [4, 5] f32 but must be (C_out, C_in / groups, KH, KW)");
    test_expect_error(vkt_conv2d(xi, w, NULL, &g2), VKT_DTYPE_MISMATCH, "x is [2, 4, 5, 5] i32");
    test_expect_error(
        vkt_conv2d(x, w, NULL, NULL), VKT_SHAPE_MISMATCH,
        "x [2, 4, 5, 5] f32 has 4 channels and weight [6, 2, 3, 3] f32 is (C_out 6, 2, "
        "...) with groups = 1");
    test_expect_error(vkt_conv2d(x, w, NULL, &(vkt_conv2d_params){.groups = 3}), VKT_SHAPE_MISMATCH,
                      "must be multiples of groups");
    test_expect_error(vkt_conv2d(x, w, b5, &g2), VKT_SHAPE_MISMATCH,
                      "bias is [5] f32 but weight [6, 2, 3, 3] f32 has 6 output channels");
    test_expect_error(
        vkt_conv2d(x, w, NULL, &(vkt_conv2d_params){.groups = 2, .dilation = {3, 1}}),
        VKT_SHAPE_MISMATCH,
        "the kernel spans 7 along h (size 3, dilation 3) but x [2, 4, 5, 5] f32 padded "
        "by 0 is only 5");
    test_expect_error(vkt_conv2d(x, w, NULL, &(vkt_conv2d_params){.groups = 2, .stride = {-1, 1}}),
                      VKT_INVALID_ARGUMENT, "stride -1, dilation 1, padding 0 along h");
    test_expect_error(vkt_conv2d(x, w, NULL, &(vkt_conv2d_params){.groups = -2}),
                      VKT_INVALID_ARGUMENT, "groups is -2 but must be >= 1");
    test_expect_error(vkt_max_pool2d(x, NULL), VKT_INVALID_ARGUMENT, "the kernel size is required");
    test_expect_error(vkt_max_pool2d(x, &(vkt_pool2d_params){.kernel = {3, 3}, .padding = {2, 0}}),
                      VKT_INVALID_ARGUMENT,
                      "padding 2 along h is more than half the kernel size 3");
    test_expect_error(
        vkt_avg_pool2d(x, &(vkt_pool2d_params){.kernel = {1, 7}}), VKT_SHAPE_MISMATCH,
        "vkt_avg_pool2d: kernel 7 along w is larger than x [2, 4, 5, 5] f32 padded by 0");
    test_expect_error(vkt_max_pool2d(x, &(vkt_pool2d_params){.kernel = {2, 0}}),
                      VKT_INVALID_ARGUMENT, "kernel 0, stride 0, padding 0 along w");
    test_expect_error(
        vkt_max_pool2d(x, &(vkt_pool2d_params){.kernel = {2, 2}, .exclude_pad = true}),
        VKT_INVALID_ARGUMENT, "exclude_pad is for avg_pool2d only");
    test_expect_error(vkt_max_pool2d(x2, &(vkt_pool2d_params){.kernel = {2, 2}}),
                      VKT_SHAPE_MISMATCH,
                      "vkt_max_pool2d: x is [4, 5] f32 but must be (N, C, H, W)");
    test_expect_error(vkt_adaptive_avg_pool2d(x, 0, 3), VKT_INVALID_ARGUMENT,
                      "output size (0, 3) for x [2, 4, 5, 5] f32");
    test_expect_error(vkt_upsample_nearest2d(x, 2, 0), VKT_INVALID_ARGUMENT,
                      "scale factors (2, 0) must be >= 1");
    test_expect_error(vkt_upsample_nearest2d(xi, 2, 2), VKT_DTYPE_MISMATCH,
                      "x is [2, 4, 5, 5] i32");
    /* NULL inputs give NULL without touching the error */
    vkt_clear_error();
    assert_null(vkt_conv2d(NULL, w, NULL, NULL));
    assert_null(vkt_max_pool2d(NULL, NULL));
    assert_null(vkt_avg_pool2d(NULL, NULL));
    assert_null(vkt_adaptive_avg_pool2d(NULL, 1, 1));
    assert_null(vkt_upsample_nearest2d(NULL, 2, 2));
    assert_int_equal(vkt_last_status(), VKT_OK);
    vkt_scope_end(test_dev);
}

/* ---- PyTorch agreement ---------------------------------------------------------------------- */

#define TORCH_TOL 1e-4

typedef test_fixture fix;

static const char *fixture_path;

static void load_fixtures(void) { test_fixtures_load(fixture_path, 50, NULL); }

static vkt_tensor *upload_fix(const fix *f) { return test_upload(VKT_F32, f->v, f->ndim, f->dims); }

static double torch_worst;

/* max |a - b| / max(|b|, 1e-2): relative, with a floor for values that pass through zero */
static void expect_close(const char *cfg, const char *what, const vkt_tensor *t)
{
    double m = test_torch_err(t, test_fixture_get("%s/%s", cfg, what), 1e-2);
    torch_worst = m > torch_worst ? m : torch_worst;
    if (!(m <= TORCH_TOL)) {
        fprintf(stderr, "%s %s: relative error %g > %g\n", cfg, what, m, TORCH_TOL);
        fail();
    }
}

/* The op of configuration `cfg` on x with the fixture's parameters. */
static vkt_tensor *torch_op(const char *op, const vkt_tensor *x, const float *p, const char *cfg,
                            vkt_tensor **w, vkt_tensor **b)
{
    if (strcmp(op, "conv2d") == 0) {
        const fix *fb = test_fixture_find("%s/%s", cfg, "bias");
        *w = upload_fix(test_fixture_get("%s/%s", cfg, "weight"));
        *b = fb ? upload_fix(fb) : NULL;
        vkt_tensor_set_requires_grad(*w, true);
        vkt_tensor_set_requires_grad(*b, true);
        vkt_conv2d_params cp = {{(int32_t)p[0], (int32_t)p[1]},
                                {(int32_t)p[2], (int32_t)p[3]},
                                {(int32_t)p[4], (int32_t)p[5]},
                                (int32_t)p[6]};
        return vkt_conv2d(x, *w, *b, &cp);
    }
    if (strcmp(op, "adaptive_avg_pool2d") == 0) {
        return vkt_adaptive_avg_pool2d(x, (int64_t)p[0], (int64_t)p[1]);
    }
    if (strcmp(op, "upsample_nearest2d") == 0) {
        return vkt_upsample_nearest2d(x, (int32_t)p[0], (int32_t)p[1]);
    }
    vkt_pool2d_params pp = {
        .kernel = {(int32_t)p[0], (int32_t)p[1]},
        .stride = {(int32_t)p[2], (int32_t)p[3]},
        .padding = {(int32_t)p[4], (int32_t)p[5]},
    };
    if (strcmp(op, "max_pool2d") == 0) {
        return vkt_max_pool2d(x, &pp);
    }
    pp.exclude_pad = p[6] == 0.0f; /* torch's count_include_pad */
    return vkt_avg_pool2d(x, &pp);
}

static void matches_torch(void **state)
{
    (void)state;
    static const struct {
        const char *cfg, *op;
    } cfgs[] = {
        {"conv_basic", "conv2d"},
        {"conv_strided", "conv2d"},
        {"conv_depthwise", "conv2d"},
        {"conv_1x1", "conv2d"},
        {"max_3x3", "max_pool2d"},
        {"max_2x2", "max_pool2d"},
        {"avg_3x3", "avg_pool2d"},
        {"avg_3x2_excl", "avg_pool2d"},
        {"adaptive_down", "adaptive_avg_pool2d"},
        {"adaptive_up", "adaptive_avg_pool2d"},
        {"upsample", "upsample_nearest2d"},
    };
    load_fixtures();
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        const char *cfg = cfgs[k].cfg;
        vkt_scope_begin(test_dev);
        vkt_tensor *x = upload_fix(test_fixture_get("%s/%s", cfg, "x")), *w = NULL, *b = NULL;
        vkt_tensor *g = upload_fix(test_fixture_get("%s/%s", cfg, "g"));
        vkt_tensor_set_requires_grad(x, true);
        vkt_tensor *y =
            torch_op(cfgs[k].op, x, test_fixture_get("%s/%s", cfg, "params")->v, cfg, &w, &b);
        assert_non_null(y);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, g))), VKT_OK);
        expect_close(cfg, "y", y);
        expect_close(cfg, "dx", vkt_tensor_grad(x));
        if (w) {
            expect_close(cfg, "dweight", vkt_tensor_grad(w));
        }
        if (b) {
            expect_close(cfg, "dbias", vkt_tensor_grad(b));
        }
        vkt_scope_end(test_dev);
    }
    fprintf(stderr, "worst relative error against torch: %.3g (tol %g)\n", torch_worst, TORCH_TOL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(conv_matches_reference),
        VKT_TEST(gradients_match_finite_differences),
        VKT_TEST(max_pool_nan_and_inf),
        VKT_TEST(backward_is_bitwise_deterministic),
        VKT_TEST(conv_block_kernels_run_where_they_fit),
        VKT_TEST(pool_tiled_kernels_run_where_they_fit),
        VKT_TEST(conv_forward_writes_nchw_from_the_product),
        VKT_TEST(errors_are_clear),
        VKT_TEST(matches_torch),
        VKT_TEST(adaptive_pool_long_windows),
    };
    fixture_path = argc > 1 ? argv[1] : NULL;
    return VKT_RUN_GROUP(tests);
}
