/*
 * test_embedding.c — vkt_embedding (src/ops/embedding.c) and the Embedding layer
 * (src/nn/embedding.c): the reference and finite-difference checks (src/check/check_embedding.c,
 * the "embedding" cases of check_grad.c), output shapes for indices of 1 to 5 dimensions,
 * out-of-range indices (NaN rows, no gradient), accumulation, a run of one index far past
 * lavapipe's loop limit, bit-identical gradients across runs, the layer's name, shape, role,
 * initial statistics, values and gradients, error messages, and agreement with PyTorch's
 * F.embedding (values and weight gradients of sum(out * R), torch's in float64) within 1e-4
 * relative, from tests/fixtures/torch_embedding.txt (argv[1]; made by
 * tools/make_torch_embedding_fixtures.py, no PyTorch needed here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "test_util.h"

static void embedding_matches_reference(void **state)
{
    (void)state;
    test_run_checks("embedding");
}

/* (*indices.shape, D) for indices of 1 to 5 dimensions; each row is its weight row. */
static void output_shapes_and_rows(void **state)
{
    (void)state;
    static const struct {
        int ndim;
        int64_t shape[5];
    } cases[] = {{1, {1}}, {1, {3}}, {2, {4, 7}}, {3, {2, 3, 5}}, {5, {2, 1, 3, 1, 2}}};
    const int64_t v = 65, d = 63;
    float *w = test_ramp(v * d, 37, 0);
    vkt_scope_begin(test_dev);
    vkt_tensor *tw = test_upload(VKT_F32, w, 2, (int64_t[]){v, d});
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        int64_t n = 1;
        for (int i = 0; i < cases[k].ndim; i++) {
            n *= cases[k].shape[i];
        }
        int32_t idx[64];
        for (int64_t i = 0; i < n; i++) {
            idx[i] = (int32_t)((i * 29 + 7) % v);
        }
        vkt_tensor *y = vkt_embedding(tw, test_upload(VKT_I32, idx, cases[k].ndim, cases[k].shape));
        assert_non_null(y);
        assert_int_equal(vkt_tensor_ndim(y), cases[k].ndim + 1);
        for (int i = 0; i < cases[k].ndim; i++) {
            assert_int_equal(vkt_tensor_dim(y, i), cases[k].shape[i]);
        }
        assert_int_equal(vkt_tensor_dim(y, -1), d);
        float *got = test_fetch(y);
        for (int64_t i = 0; i < n; i++) {
            assert_memory_equal(got + i * d, w + idx[i] * d, (size_t)d * sizeof *got);
        }
        free(got);
    }
    vkt_scope_end(test_dev);
    free(w);
}

/* Indices outside [0, V) give NaN rows and add nothing to the gradient; the backward adds to
 * what the gradient holds (a second backward doubles it), and rows no index names stay 0. */
static void out_of_range_and_accumulation(void **state)
{
    (void)state;
    const int64_t v = 5, d = 3, n = 8;
    int32_t idx[8] = {0, -1, 5, 2, INT32_MAX, 0, INT32_MIN, 2};
    float *w = test_ramp(v * d, 37, 1), *r = test_ramp(n * d, 37, 2);
    vkt_scope_begin(test_dev);
    vkt_tensor *tw = test_upload(VKT_F32, w, 2, (int64_t[]){v, d});
    vkt_tensor *ti = test_upload(VKT_I32, idx, 1, &n);
    vkt_tensor *tr = test_upload(VKT_F32, r, 2, (int64_t[]){n, d});
    vkt_tensor_set_requires_grad(tw, true);
    float *g[2];
    for (int pass = 0; pass < 2; pass++) {
        vkt_tensor *y = vkt_embedding(tw, ti);
        float *got = test_fetch(y);
        for (int64_t i = 0; i < n; i++) {
            bool valid = idx[i] >= 0 && idx[i] < v;
            for (int64_t j = 0; j < d; j++) {
                if (valid) {
                    assert_true(got[i * d + j] == w[idx[i] * d + j]);
                } else {
                    assert_true(isnan(got[i * d + j]));
                }
            }
        }
        free(got);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, tr))), VKT_OK);
        g[pass] = test_fetch(vkt_tensor_grad(tw));
    }
    for (int64_t j = 0; j < d; j++) {
        float g0 = r[0 * d + j] + r[5 * d + j], g2 = r[3 * d + j] + r[7 * d + j];
        assert_true(g[0][0 * d + j] == g0);
        assert_true(g[0][2 * d + j] == g2);
        for (int64_t row = 0; row < v; row++) {
            if (row != 0 && row != 2) {
                assert_true(g[0][row * d + j] == 0.0f && !signbit(g[0][row * d + j]));
            }
            assert_true(g[1][row * d + j] == 2.0f * g[0][row * d + j]);
        }
    }
    vkt_scope_end(test_dev);
    free(g[0]);
    free(g[1]);
    free(w);
    free(r);
}

/* One index at 131073 positions: no shader loop walks the run (lavapipe ends loops after 65535
 * iterations); with R = 0.5 every partial sum is exact, so the row's gradient is exactly N / 2. */
static void one_run_past_the_loop_limit(void **state)
{
    (void)state;
    const int64_t v = 3, d = 2, n = 131073;
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    float *w = test_ramp(v * d, 37, 3);
    assert_non_null(idx);
    for (int64_t i = 0; i < n; i++) {
        idx[i] = 1;
    }
    vkt_scope_begin(test_dev);
    vkt_tensor *tw = test_upload(VKT_F32, w, 2, (int64_t[]){v, d});
    vkt_tensor_set_requires_grad(tw, true);
    vkt_tensor *y = vkt_embedding(tw, test_upload(VKT_I32, idx, 1, &n));
    assert_int_equal(vkt_backward(vkt_scale(vkt_sum(y), 0.5f)), VKT_OK);
    float *g = test_fetch(vkt_tensor_grad(tw));
    for (int64_t j = 0; j < d; j++) {
        assert_true(g[0 * d + j] == 0.0f);
        if (g[1 * d + j] != 0.5f * (float)n) {
            fail_msg("grad[1, %lld] = %.9g, want %.9g", (long long)j, g[1 * d + j], 0.5 * n);
        }
        assert_true(g[2 * d + j] == 0.0f);
    }
    vkt_scope_end(test_dev);
    free(g);
    free(w);
    free(idx);
}

/* The same inputs give the same gradient bits (GPT-2's vocabulary, 8192 tokens with repeats). The
 * check family compares the gradient bit for bit with a host reference of the device's order at
 * every subgroup size the suite runs (4, 8 and 16), which shows that it does not depend on it. */
static void gradient_is_bitwise_deterministic(void **state)
{
    (void)state;
    const int64_t v = 50257, d = 3, n = 8192;
    int32_t *idx = malloc((size_t)n * sizeof *idx);
    assert_non_null(idx);
    for (int64_t i = 0; i < n; i++) {
        idx[i] = (int32_t)((i * i * 7919 + i) % (i % 3 ? 300 : v)); /* hot rows and spread ones */
    }
    float *w = test_ramp(v * d, 37, 4), *r = test_ramp(n * d, 37, 5), *g[2];
    for (int run = 0; run < 2; run++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *tw = test_upload(VKT_F32, w, 2, (int64_t[]){v, d});
        vkt_tensor_set_requires_grad(tw, true);
        vkt_tensor *y = vkt_embedding(tw, test_upload(VKT_I32, idx, 2, (int64_t[]){8, 1024}));
        vkt_tensor *tr = test_upload(VKT_F32, r, 3, (int64_t[]){8, 1024, d});
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, tr))), VKT_OK);
        g[run] = test_fetch(vkt_tensor_grad(tw));
        vkt_scope_end(test_dev);
    }
    assert_memory_equal(g[0], g[1], (size_t)(v * d) * sizeof *g[0]);
    free(g[0]);
    free(g[1]);
    free(w);
    free(r);
    free(idx);
}

/* ---- the layer ------------------------------------------------------------------------------- */

static void layer_names_shape_role_and_init(void **state)
{
    (void)state;
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = 7}, &m), VKT_OK);
    vkt_embedding_layer wte, bare;
    assert_int_equal(vkt_embedding_init(m, "wte", 1000, 64, &wte), VKT_OK);
    assert_int_equal(wte.num, 1000);
    assert_int_equal(wte.dim, 64);
    assert_ptr_equal(wte.model, m);
    assert_string_equal(vkt_param_name(wte.weight), "wte.weight");
    assert_int_equal(vkt_param_role_of(wte.weight), VKT_PARAM_EMBEDDING);
    assert_int_equal(vkt_embedding_init(m, "", 3, 5, &bare), VKT_OK);
    assert_string_equal(vkt_param_name(bare.weight), "weight");
    assert_int_equal(vkt_model_num_params(m), 1000 * 64 + 15);
    int64_t shape[VKT_MAX_DIMS];
    vkt_param *p = vkt_model_find(m, "wte.weight");
    assert_ptr_equal(p, wte.weight);
    for (uint32_t i = 0; i < vkt_model_num_tensors(m); i++) {
        if (vkt_model_tensor_param(m, i) == p) {
            assert_int_equal(vkt_model_tensor_shape(m, i, shape), 2);
            assert_int_equal(shape[0], 1000);
            assert_int_equal(shape[1], 64);
        }
    }
    /* N(0, 1) as torch's nn.Embedding: mean and variance within 6 standard errors */
    float *w = test_fetch(vkt_param_tensor(wte.weight));
    const double n = 64000;
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < 64000; i++) {
        s += w[i];
        s2 += (double)w[i] * w[i];
    }
    double mean = s / n, var = s2 / n - mean * mean;
    fprintf(stderr, "Embedding(1000, 64) init: mean %.5f var %.5f\n", mean, var);
    assert_true(fabs(mean) < 6 / sqrt(n));
    assert_true(fabs(var - 1) < 6 * sqrt(2 / n));
    /* forward: the weight's rows; backward into the model's gradient block */
    vkt_scope_begin(test_dev);
    int32_t idx[6] = {999, 0, 5, 5, 17, 999};
    vkt_tensor *y = vkt_embedding_forward(&wte, test_upload(VKT_I32, idx, 2, (int64_t[]){2, 3}));
    assert_non_null(y);
    assert_int_equal(vkt_tensor_dim(y, 2), 64);
    float *got = test_fetch(y);
    for (int i = 0; i < 6; i++) {
        assert_memory_equal(got + i * 64, w + idx[i] * 64, 64 * sizeof *got);
    }
    assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
    assert_int_equal(vkt_backward(vkt_sum(y)), VKT_OK);
    float *g = test_fetch(vkt_tensor_grad(vkt_param_tensor(wte.weight)));
    for (int64_t row = 0; row < 1000; row++) {
        float want = row == 999 || row == 5 ? 2.0f : row == 0 || row == 17 ? 1.0f : 0.0f;
        for (int j = 0; j < 64; j++) {
            assert_true(g[row * 64 + j] == want);
        }
    }
    vkt_scope_end(test_dev);
    free(got);
    free(g);
    free(w);
    vkt_model_destroy(m);
}

/* ---- errors ---------------------------------------------------------------------------------- */

static void expect_status(vkt_status got, vkt_status s, const char *needle)
{
    assert_int_equal(got, s);
    if (!strstr(vkt_last_error(), needle)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", vkt_last_error(), needle);
        fail();
    }
}

static void errors_are_clear(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *w = vkt_tensor_new_2d(test_dev, VKT_F32, 3, 4);
    vkt_tensor *wi = vkt_tensor_new_2d(test_dev, VKT_I32, 3, 4);
    vkt_tensor *w1 = vkt_tensor_new_1d(test_dev, VKT_F32, 12);
    vkt_tensor *w3 = vkt_tensor_new(test_dev, VKT_F32, 3, (int64_t[]){2, 3, 4});
    vkt_tensor *idx = vkt_tensor_new_1d(test_dev, VKT_I32, 5);
    vkt_tensor *idxf = vkt_tensor_new_1d(test_dev, VKT_F32, 5);
    vkt_tensor *idx6 = vkt_tensor_new(test_dev, VKT_I32, 6, (int64_t[]){1, 1, 1, 1, 1, 2});
    test_expect_error(vkt_embedding(wi, idx), VKT_DTYPE_MISMATCH,
                      "vkt_embedding: weight is [3, 4] i32 but must be f32");
    test_expect_error(vkt_embedding(w, idxf), VKT_DTYPE_MISMATCH,
                      "vkt_embedding: indices is [5] f32 but must be i32");
    test_expect_error(
        vkt_embedding(w1, idx), VKT_SHAPE_MISMATCH,
        "vkt_embedding: weight is [12] f32 but must be (num_embeddings, embedding_dim)");
    test_expect_error(vkt_embedding(w3, idx), VKT_SHAPE_MISMATCH, "weight is [2, 3, 4] f32");
    test_expect_error(
        vkt_embedding(w, idx6), VKT_SHAPE_MISMATCH,
        "indices is [1, 1, 1, 1, 1, 2] i32; the output adds a dimension (embedding_dim), "
        "so indices may have at most 5");
    /* NULL inputs give NULL without touching the error */
    vkt_clear_error();
    assert_null(vkt_embedding(NULL, idx));
    assert_null(vkt_embedding(w, NULL));
    assert_null(vkt_embedding_forward(NULL, idx));
    assert_int_equal(vkt_last_status(), VKT_OK);
    vkt_scope_end(test_dev);

    vkt_model *m = NULL;
    vkt_embedding_layer l;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){0}, &m), VKT_OK);
    expect_status(vkt_embedding_init(m, "tok", 0, 8, &l), VKT_INVALID_ARGUMENT,
                  "vkt_embedding_init: \"tok\" is Embedding(0, 8); both sizes must be > 0");
    expect_status(vkt_embedding_init(m, "tok", 3u << 30, 8, &l), VKT_INVALID_ARGUMENT,
                  "indices are i32, so num must be at most 2147483647");
    expect_status(vkt_embedding_init(NULL, "tok", 3, 8, &l), VKT_INVALID_ARGUMENT,
                  "vkt_embedding_init: model, name and layer are required");
    assert_int_equal(vkt_embedding_init(m, "tok", 3, 8, &l), VKT_OK);
    assert_int_not_equal(vkt_embedding_init(m, "tok", 3, 8, &l), VKT_OK); /* a duplicate */
    assert_non_null(strstr(vkt_last_error(), "tok.weight"));
    vkt_model_destroy(m);
}

/* ---- PyTorch agreement ---------------------------------------------------------------------- */

#define TORCH_TOL 1e-4
/* Errors are relative with a floor of 1e-2 for values that pass through zero: a gradient row of
 * the "runs" case sums ~150 terms of either sign, to as little as ~0.02. */

typedef test_fixture fix;

static const char *fixture_path;

static void embedding_matches_torch(void **state)
{
    (void)state;
    static const char *const cases[] = {"small", "rep2d", "rep3d", "runs", "wide"};
    test_fixtures_load(fixture_path, 20, NULL);
    double worst[2] = {0, 0};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const fix *fw = test_fixture_get("%s/weight", cases[k]),
                  *fi = test_fixture_get("%s/indices", cases[k]);
        const fix *fr = test_fixture_get("%s/r", cases[k]);
        int32_t *idx = malloc((size_t)fi->n * sizeof *idx);
        assert_non_null(idx);
        for (int64_t i = 0; i < fi->n; i++) {
            idx[i] = (int32_t)fi->v[i];
        }
        vkt_scope_begin(test_dev);
        vkt_tensor *tw = test_upload(VKT_F32, fw->v, fw->ndim, fw->dims);
        vkt_tensor_set_requires_grad(tw, true);
        vkt_tensor *y = vkt_embedding(tw, test_upload(VKT_I32, idx, fi->ndim, fi->dims));
        assert_non_null(y);
        assert_int_equal(vkt_tensor_ndim(y), fr->ndim);
        assert_int_equal(
            vkt_backward(vkt_sum(vkt_mul(y, test_upload(VKT_F32, fr->v, fr->ndim, fr->dims)))),
            VKT_OK);
        double ey = test_torch_err(y, test_fixture_get("%s/y", cases[k]), 1e-2);
        double eg =
            test_torch_err(vkt_tensor_grad(tw), test_fixture_get("%s/dweight", cases[k]), 1e-2);
        fprintf(stderr, "torch %-6s V %lld D %lld N %lld: y %.3g, dweight %.3g\n", cases[k],
                (long long)fw->dims[0], (long long)fw->dims[1], (long long)fi->n, ey, eg);
        worst[0] = ey > worst[0] ? ey : worst[0];
        worst[1] = eg > worst[1] ? eg : worst[1];
        assert_true(ey <= TORCH_TOL);
        assert_true(eg <= TORCH_TOL);
        vkt_scope_end(test_dev);
        free(idx);
    }
    fprintf(stderr, "worst relative error against torch: y %.3g, dweight %.3g (tol %g)\n", worst[0],
            worst[1], TORCH_TOL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(embedding_matches_reference),
        VKT_TEST(output_shapes_and_rows),
        VKT_TEST(out_of_range_and_accumulation),
        VKT_TEST(one_run_past_the_loop_limit),
        VKT_TEST(gradient_is_bitwise_deterministic),
        VKT_TEST(layer_names_shape_role_and_init),
        VKT_TEST(errors_are_clear),
        VKT_TEST(embedding_matches_torch),
    };
    fixture_path = argc > 1 ? argv[1] : NULL;
    return VKT_RUN_GROUP(tests);
}
