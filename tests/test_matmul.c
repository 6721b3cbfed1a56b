/*
 * test_matmul.c — vkt_matmul: both kernels vs the CPU reference (src/check/check_matmul.c), the
 * variant choice and forcing, shape errors (2-D and batched), batched output shapes, the grouped
 * sum behind a shared operand's gradient, accumulation, backward through the tape, determinism,
 * and agreement with torch.matmul on batched, transposed and shared operands
 * (tests/fixtures/torch_bmm.txt, argv[1]; made by tools/make_torch_bmm_fixtures.py).
 */
#include <math.h>
#include <stdio.h>
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
    return test_upload(VKT_F32, data, 2, (int64_t[]){r, c});
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
    const vkt_device_info *info = vkt_device_get_info(dev);
    vkt__matmul_variant cpu = vkt__device_caps(dev)->texel4 && info->subgroup_shuffle
                                  ? VKT__MATMUL_TEXEL
                                  : VKT__MATMUL_REGBLOCK;
    assert_int_equal(def, info->type == VKT_DEVICE_TYPE_CPU ? cpu : VKT__MATMUL_TILED);
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

/* The kernel that ran one product on `dev`: the name of the profile's only dispatched kernel. */
static const char *kernel_of(vkt_device *dev, vkt_tensor *a, vkt_tensor *b, vkt_tensor **c)
{
    static vkt_profile_kernel k[4];
    vkt_profile p;
    assert_int_equal(vkt_device_profile_reset(dev), VKT_OK);
    assert_int_equal(vkt_device_profile_begin(dev), VKT_OK);
    *c = vkt__matmul_ex(a, b, 0, VKT__MATMUL_TEXEL);
    assert_non_null(*c);
    assert_int_equal(vkt_device_profile_end(dev), VKT_OK);
    assert_int_equal(vkt_device_profile_read(dev, &p, k, 4), VKT_OK);
    assert_int_equal(p.dispatches, 1);
    assert_int_equal(p.kernel_count, 1);
    return k[0].name;
}

/* The texel kernel really runs wherever its operands can be viewed as texels: with vec4 fetches
 * where the layout fits (K % 4 == 0, vec4-aligned rows: 9x12x8, 13x40x16), with one fetch per
 * value where it does not (K = 6 or 10, rows of 5 or 7 floats: 9x12x6, 10x12x10, 3x5x7; its
 * values in the operands' trailing partial texels come from the storage buffers), and an
 * operand smaller than one texel (1x1x1) goes to the regblock kernel. A second product of a
 * class needs no new pipeline. Results are exact (small integers). Only on devices that read
 * through texels. */
static void texel_kernel_runs_where_the_layout_fits(void **state)
{
    (void)state;
    vkt_device *dev = NULL;
    assert_int_equal(vkt_device_create(&(vkt_device_desc){.validation = true}, &dev), VKT_OK);
    if (vkt__matmul_default_variant(dev) != VKT__MATMUL_TEXEL) {
        vkt_device_destroy(dev);
        skip(); /* a GPU, or texels switched off: the texel kernel is not vkt_matmul's choice */
    }
    const int64_t shapes[6][3] = {{9, 12, 8},   {13, 40, 16}, {9, 12, 6},
                                  {10, 12, 10}, {3, 5, 7},    {1, 1, 1}}; /* M, N, K */
    const uint64_t new_pipelines[6] = {1, 0, 1, 0, 1, 1};
    const char *const kernels[6] = {"matmul_texel", "matmul_texel", "matmul_texel",
                                    "matmul_texel", "matmul_texel", "matmul_regblock"};
    for (int t = 0; t < 6; t++) {
        int64_t M = shapes[t][0], N = shapes[t][1], K = shapes[t][2];
        float *a = malloc(sizeof(float) * (size_t)(M * K));
        float *b = malloc(sizeof(float) * (size_t)(K * N));
        float *want = calloc((size_t)(M * N), sizeof(float));
        float *got = malloc(sizeof(float) * (size_t)(M * N));
        assert_true(a && b && want && got);
        for (int64_t i = 0; i < M * K; i++) {
            a[i] = (float)(i % 5 - 2);
        }
        for (int64_t i = 0; i < K * N; i++) {
            b[i] = (float)(i % 7 - 3);
        }
        for (int64_t i = 0; i < M; i++) {
            for (int64_t j = 0; j < N; j++) {
                for (int64_t k = 0; k < K; k++) {
                    want[i * N + j] += a[i * K + k] * b[k * N + j];
                }
            }
        }
        vkt_scope_begin(dev);
        vkt_tensor *ta = vkt_tensor_new_2d(dev, VKT_F32, M, K);
        vkt_tensor *tb = vkt_tensor_new_2d(dev, VKT_F32, K, N);
        assert_true(ta && tb);
        assert_int_equal(vkt_tensor_upload(ta, a, sizeof(float) * (size_t)(M * K)), VKT_OK);
        assert_int_equal(vkt_tensor_upload(tb, b, sizeof(float) * (size_t)(K * N)), VKT_OK);
        uint64_t before = pipelines_created(dev);
        vkt_tensor *tc = NULL;
        assert_string_equal(kernel_of(dev, ta, tb, &tc), kernels[t]);
        assert_int_equal(pipelines_created(dev) - before, new_pipelines[t]);
        assert_int_equal(vkt_tensor_download(tc, got, sizeof(float) * (size_t)(M * N)), VKT_OK);
        assert_memory_equal(got, want, sizeof(float) * (size_t)(M * N));
        vkt_scope_end(dev);
        free(a), free(b), free(want), free(got);
    }
    vkt_device_finish(dev);
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    assert_int_equal(st.validation_messages, 0);
    vkt_device_destroy(dev);
}

/* vkt_linear_relu is one dispatch of the texel kernel, bias and ReLU in its epilogue, where that
 * kernel is vkt_matmul's choice (its values and gradients are checked against the composition
 * in src/check/check_matmul.c), and the composition's three dispatches elsewhere; its argument
 * errors name the shapes. */
static void linear_fuses_bias_and_relu_into_the_product(void **state)
{
    (void)state;
    bool fused = vkt__matmul_default_variant(test_dev) == VKT__MATMUL_TEXEL;
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_rand_uniform(test_dev, 2, (int64_t[2]){5, 12}, 1, 0);
    vkt_tensor *w = vkt_rand_uniform(test_dev, 2, (int64_t[2]){7, 12}, 2, 0);
    vkt_tensor *b = vkt_rand_uniform(test_dev, 1, (int64_t[1]){7}, 3, 0);
    assert_true(x && w && b);
    vkt_tensor_set_requires_grad(w, true);
    assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
    assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);
    vkt_tensor *y = vkt_linear_relu(x, w, b);
    assert_non_null(y);
    assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
    vkt_profile p;
    vkt_profile_kernel k[8];
    assert_int_equal(vkt_device_profile_read(test_dev, &p, k, 8), VKT_OK);
    assert_int_equal(p.dispatches, fused ? 1 : 3);
    if (fused) {
        assert_string_equal(k[0].name, "matmul_texel");
        assert_int_equal(y->node->op, VKT__OP_LINEAR_RELU);
    } else {
        assert_int_equal(y->node->op, VKT__OP_RELU);
    }
    assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
    vkt_tensor *w11 = vkt_rand_uniform(test_dev, 2, (int64_t[2]){7, 11}, 4, 0);
    vkt_tensor *b6 = vkt_rand_uniform(test_dev, 1, (int64_t[1]){6}, 5, 0);
    vkt_tensor *x3 = vkt_rand_uniform(test_dev, 3, (int64_t[3]){2, 5, 12}, 6, 0);
    assert_null(vkt_linear(x, w11, b));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "in = 12"));
    assert_null(vkt_linear_relu(x, w, b6));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "bias must be [7]"));
    assert_null(vkt_linear(x3, w, NULL));
    assert_non_null(strstr(vkt_last_error(), "x"));
    assert_null(vkt_linear(NULL, w, b));
    vkt_scope_end(test_dev);
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
    assert_non_null(strstr(vkt_last_error(), "at least 2 dimensions"));
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
    const vkt__matmul_variant vs[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK, VKT__MATMUL_TEXEL};
    for (size_t v = 0; v < VKT__ARRAY_LEN(vs); v++) {
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
    const vkt__matmul_variant vs[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK, VKT__MATMUL_TEXEL};
    for (size_t v = 0; v < VKT__ARRAY_LEN(vs); v++) {
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
    const vkt__matmul_variant vs[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK, VKT__MATMUL_TEXEL};
    for (size_t v = 0; v < VKT__ARRAY_LEN(vs); v++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *ta = tensor_2d(M, K, a), *tb = tensor_2d(K, N, b);
        fetch(vkt__matmul_ex(ta, tb, 0, vs[v]), r1);
        fetch(vkt__matmul_ex(ta, tb, 0, vs[v]), r2);
        assert_memory_equal(r1, r2, M * N * sizeof *r1);
        vkt_scope_end(test_dev);
    }
    free(a), free(b), free(r1), free(r2);
}

/* Batched shape rules: equal batch dimensions or one 2-D operand; the output's shape; each
 * error names both shapes. */
static void batched_shapes_and_errors(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *a4 = vkt_tensor_new(test_dev, VKT_F32, 4, (int64_t[]){2, 3, 4, 5});
    vkt_tensor *w = vkt_tensor_new_2d(test_dev, VKT_F32, 5, 6);
    vkt_tensor *b3 = vkt_tensor_new(test_dev, VKT_F32, 3, (int64_t[]){2, 5, 6});
    vkt_tensor *m = vkt_tensor_new_2d(test_dev, VKT_F32, 4, 5);
    assert_true(a4 && w && b3 && m);
    const int64_t want4[] = {2, 3, 4, 6}, want3[] = {2, 4, 6};
    vkt_tensor *c = vkt_matmul(a4, w, 0); /* a shared b */
    assert_non_null(c);
    assert_int_equal(vkt_tensor_ndim(c), 4);
    for (int d = 0; d < 4; d++) {
        assert_int_equal(vkt_tensor_dim(c, d), want4[d]);
    }
    c = vkt_matmul(m, b3, 0); /* a shared a */
    assert_non_null(c);
    assert_int_equal(vkt_tensor_ndim(c), 3);
    for (int d = 0; d < 3; d++) {
        assert_int_equal(vkt_tensor_dim(c, d), want3[d]);
    }
    /* transposes swap the last two dimensions of the batched operand too */
    c = vkt_matmul(b3, m, VKT_TRANS_A | VKT_TRANS_B);
    assert_non_null(c);
    assert_int_equal(vkt_tensor_dim(c, 1), 6);
    assert_int_equal(vkt_tensor_dim(c, 2), 4);

    /* batch dimensions that differ (in size or in number) */
    assert_null(vkt_matmul(a4, b3, 0));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    const char *e = vkt_last_error();
    assert_non_null(strstr(e, "vkt_matmul"));
    assert_non_null(strstr(e, "[2, 3, 4, 5] f32"));
    assert_non_null(strstr(e, "[2, 5, 6] f32"));
    assert_non_null(strstr(e, "batch dimensions"));
    vkt_tensor *b3x = vkt_tensor_new(test_dev, VKT_F32, 3, (int64_t[]){3, 5, 6});
    vkt_tensor *a3 = vkt_tensor_new(test_dev, VKT_F32, 3, (int64_t[]){2, 4, 5});
    assert_null(vkt_matmul(a3, b3x, 0));
    e = vkt_last_error();
    assert_non_null(strstr(e, "[2, 4, 5] f32"));
    assert_non_null(strstr(e, "[3, 5, 6] f32"));
    assert_non_null(strstr(e, "batch dimensions"));
    /* inner dimensions of batched operands */
    assert_null(vkt_matmul(a3, b3, VKT_TRANS_B));
    e = vkt_last_error();
    assert_non_null(strstr(e, "[2, 4, 5] f32"));
    assert_non_null(strstr(e, "[2, 5, 6] f32 (used transposed)"));
    assert_non_null(strstr(e, "inner dimensions 5 and 6 differ"));
    /* fewer than 2 dimensions, on either side */
    vkt_tensor *v = vkt_tensor_new_1d(test_dev, VKT_F32, 5);
    assert_null(vkt_matmul(a3, v, 0));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    e = vkt_last_error();
    assert_non_null(strstr(e, "[2, 4, 5] f32"));
    assert_non_null(strstr(e, "[5] f32"));
    assert_non_null(strstr(e, "at least 2 dimensions"));
    assert_null(vkt_matmul(v, w, 0));
    assert_non_null(strstr(vkt_last_error(), "[5] f32"));
    /* vkt__matmul_into: the output holds every batch, or one matrix with the batch sum */
    vkt_tensor *small = vkt_tensor_new_2d(test_dev, VKT_F32, 4, 6);
    assert_int_equal(vkt__matmul_into(a3, b3, small, 0, false, VKT__MATMUL_AUTO),
                     VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "the product is [2, 4, 6]"));
    assert_int_equal(vkt__matmul_into(a3, b3, small, VKT__MATMUL_SUM_BATCHES, false,
                                      VKT__MATMUL_AUTO),
                     VKT_OK);
    assert_int_equal(vkt__matmul_into(a3, b3, c, VKT__MATMUL_SUM_BATCHES, false,
                                      VKT__MATMUL_AUTO),
                     VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "the product is [4, 6]"));
    vkt_scope_end(test_dev);
}

/* The sum over batches behind a shared operand's gradient where batches cannot fuse into the
 * inner dimension (Aᵀ over batches of A (K, M)): per-batch products in a temporary summed by
 * vkt__sum_cols, in groups of batches when the temporary is limited. Small integers make every
 * sum exact, so each grouping must give the reference's bits, and accumulate adds to c. */
static void batch_sum_in_groups(void **state)
{
    (void)state;
    enum { BT = 5, M = 7, N = 9, K = 6 };
    float a[BT * K * M], b[BT * K * N], c0[M * N], want[M * N], got[M * N];
    float *per = malloc(BT * M * N * sizeof *per);
    assert_non_null(per);
    for (int i = 0; i < BT * K * M; i++) {
        a[i] = (float)((i * 7) % 11) - 5.0f;
    }
    for (int i = 0; i < BT * K * N; i++) {
        b[i] = (float)((i * 5) % 9) - 4.0f;
    }
    for (int i = 0; i < M * N; i++) {
        c0[i] = (float)(i % 13);
    }
    vkt__ref_matmul(per, a, b, &(vkt__ref_mm){BT, M, N, K, VKT_TRANS_A, false, false});
    for (int i = 0; i < M * N; i++) {
        want[i] = c0[i];
        for (int bt = 0; bt < BT; bt++) {
            want[i] += per[bt * M * N + i];
        }
    }
    free(per);
    /* one batch per group, two (the last group holds one), all five */
    const uint32_t limits[] = {M * N, 2 * M * N + 1, VKT__MATMUL_SUM_TEMP};
    const vkt__matmul_variant vs[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK, VKT__MATMUL_TEXEL};
    for (size_t v = 0; v < VKT__ARRAY_LEN(vs); v++) {
        for (size_t l = 0; l < 3; l++) {
            vkt_scope_begin(test_dev);
            vkt_tensor *ta = vkt_tensor_new(test_dev, VKT_F32, 3, (int64_t[]){BT, K, M});
            vkt_tensor *tb = vkt_tensor_new(test_dev, VKT_F32, 3, (int64_t[]){BT, K, N});
            vkt_tensor *tc = tensor_2d(M, N, c0);
            assert_int_equal(vkt_tensor_upload(ta, a, sizeof a), VKT_OK);
            assert_int_equal(vkt_tensor_upload(tb, b, sizeof b), VKT_OK);
            assert_int_equal(vkt__matmul_into_ex(ta, tb, tc,
                                                 VKT_TRANS_A | VKT__MATMUL_SUM_BATCHES, true,
                                                 vs[v], limits[l]),
                             VKT_OK);
            fetch(tc, got);
            assert_memory_equal(got, want, sizeof want);
            vkt_scope_end(test_dev);
        }
    }
}

/* ---- PyTorch agreement ---------------------------------------------------------------------- */

#define TORCH_TOL 1e-4

static const char *fixture_path;

/* test_torch_err with a floor of 1e-2 for values that pass through zero; the shapes must match
 * too */
static double torch_err(const vkt_tensor *t, const test_fixture *want)
{
    assert_non_null(t);
    assert_int_equal(vkt_tensor_ndim(t), want->ndim);
    for (int d = 0; d < want->ndim; d++) {
        assert_int_equal(vkt_tensor_dim(t, d), want->dims[d]);
    }
    return test_torch_err(t, want, 1e-2);
}

static vkt_tensor *fixture_tensor(const char *cfg, const char *what)
{
    const test_fixture *f = test_fixture_get("%s/%s", cfg, what);
    return test_upload(VKT_F32, f->v, f->ndim, f->dims);
}

static void matmul_matches_torch(void **state)
{
    (void)state;
    test_fixtures_load(fixture_path, 60, NULL);
    static const char *const cfgs[] = {"batched",  "batched_tt",  "batch1_tb", "linear",
                                       "shared_b_ta", "shared_a", "shared_a_tt", "attn_qk",
                                       "attn_pv",  "wide"};
    static const char *const what[3] = {"c", "da", "db"};
    const vkt__matmul_variant vs[] = {VKT__MATMUL_TILED, VKT__MATMUL_REGBLOCK, VKT__MATMUL_TEXEL};
    double worst[3] = {0};
    for (size_t v = 0; v < VKT__ARRAY_LEN(vs); v++) {
        for (size_t i = 0; i < VKT__ARRAY_LEN(cfgs); i++) {
            vkt_scope_begin(test_dev);
            const char *cfg = cfgs[i];
            vkt_tensor *a = fixture_tensor(cfg, "a");
            vkt_tensor *b = fixture_tensor(cfg, "b");
            vkt_tensor *g = fixture_tensor(cfg, "g");
            int flags = (int)test_fixture_get("%s/flags", cfg)->v[0];
            vkt_tensor_set_requires_grad(a, true);
            vkt_tensor_set_requires_grad(b, true);
            vkt_tensor *c = vkt__matmul_ex(a, b, flags, vs[v]);
            assert_int_equal(vkt_backward(vkt_sum(vkt_mul(c, g))), VKT_OK);
            const vkt_tensor *got[3] = {c, vkt_tensor_grad(a), vkt_tensor_grad(b)};
            for (int w = 0; w < 3; w++) {
                double e = torch_err(got[w], test_fixture_get("%s/%s", cfg, what[w]));
                worst[w] = fmax(worst[w], e);
                if (!(e <= TORCH_TOL)) {
                    fprintf(stderr, "%s %s %s: relative error %g > %g\n",
                            vkt__matmul_variant_name(vs[v]), cfg, what[w], e, TORCH_TOL);
                    fail();
                }
            }
            vkt_scope_end(test_dev);
        }
    }
    printf("torch.matmul agreement (%zu cases, every kernel): worst relative error c %.3g, "
           "da %.3g, db %.3g\n",
           VKT__ARRAY_LEN(cfgs), worst[0], worst[1], worst[2]);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(matmul_matches_reference),
        VKT_TEST(variant_follows_the_device_and_can_be_forced),
        VKT_TEST(texel_kernel_runs_where_the_layout_fits),
        VKT_TEST(linear_fuses_bias_and_relu_into_the_product),
        VKT_TEST(shape_mismatch_is_a_clear_error),
        VKT_TEST(accumulate_adds_to_the_output),
        VKT_TEST(backward_through_the_tape),
        VKT_TEST(results_are_deterministic),
        VKT_TEST(batched_shapes_and_errors),
        VKT_TEST(batch_sum_in_groups),
        VKT_TEST(matmul_matches_torch),
    };
    fixture_path = argc > 1 ? argv[1] : NULL;
    return VKT_RUN_GROUP(tests);
}
