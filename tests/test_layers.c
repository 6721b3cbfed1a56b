/*
 * test_layers.c — the torch.nn layers of src/nn/ beyond Linear and ReLU: state-dict names, order,
 * shapes and initial values; batch norm's training (batch statistics, running statistics
 * updated) against eval (running statistics, nothing updated), computed on the host; dropout's
 * identity in eval, its masks (the Philox stream of the layer's key and counter) and their
 * reproducibility from the model's seed; Flatten's sample shapes, values and gradients;
 * Conv2d's names, shapes, initial statistics and values against a host convolution; the pools
 * in a sequential model against the ops called by hand; the full-size reference CNN
 * (vkt_cnn_desc); sequential models of these layers; and the errors bad layer descs get.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layer.h"
#include "test_util.h"

static float *download(const vkt_tensor *t)
{
    assert_non_null(t);
    size_t n = (size_t)vkt_tensor_numel(t);
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    assert_int_equal(vkt_tensor_download(t, v, n * sizeof *v), VKT_OK);
    return v;
}

static int32_t download_i32(const vkt_tensor *t)
{
    int32_t v = -1;
    assert_int_equal(vkt_tensor_bytes(t), sizeof v);
    assert_int_equal(vkt_tensor_download(t, &v, sizeof v), VKT_OK);
    return v;
}

static vkt_tensor *upload(int ndim, const int64_t *shape, const float *v)
{
    return test_upload(VKT_F32, v, ndim, shape);
}

static void fill_uniform(float *v, int64_t n, uint64_t seed, float lo, float hi)
{
    vkt__rng r = {seed};
    for (int64_t i = 0; i < n; i++) {
        v[i] = lo + (hi - lo) * (float)vkt__rng_uniform(&r);
    }
}

static vkt_model *empty_model(uint64_t seed)
{
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = seed}, &m), VKT_OK);
    return m;
}

static void expect_names(const vkt_model *m, const char *const *names, uint32_t n)
{
    assert_int_equal(vkt_model_num_tensors(m), n);
    for (uint32_t i = 0; i < n; i++) {
        assert_string_equal(vkt_model_tensor_name(m, i), names[i]);
    }
}

#define CLOSE(got, want, tol)                                                                      \
    do {                                                                                           \
        double g_ = (double)(got), w_ = (double)(want);                                            \
        if (!(fabs(g_ - w_) <= (tol) * (1.0 + fabs(w_)))) {                                        \
            fail_msg("%s = %.9g, want %.9g (line %d)", #got, g_, w_, __LINE__);                    \
        }                                                                                          \
    } while (0)

/* ---- batch norm ------------------------------------------------------------------------------ */

static void batch_norm_names_shapes_and_init(void **state)
{
    (void)state;
    vkt_model *m = empty_model(0);
    vkt_batch_norm_layer bn, bn1, na, nr;
    assert_int_equal(vkt_batch_norm2d_init(m, "bn", &(vkt_batch_norm_desc){.num_features = 5}, &bn),
                     VKT_OK);
    assert_int_equal(
        vkt_batch_norm1d_init(m, "b1", &(vkt_batch_norm_desc){.num_features = 3}, &bn1), VKT_OK);
    assert_int_equal(
        vkt_batch_norm2d_init(m, "na", &(vkt_batch_norm_desc){.num_features = 2, .no_affine = true},
                              &na),
        VKT_OK);
    assert_int_equal(
        vkt_batch_norm2d_init(
            m, "nr", &(vkt_batch_norm_desc){.num_features = 2, .no_running_stats = true}, &nr),
        VKT_OK);
    assert_null(na.weight);
    assert_null(na.bias);
    assert_null(nr.running_mean);
    assert_null(nr.num_batches_tracked);
    assert_float_equal(bn.eps, 1e-5f, 0);
    assert_float_equal(bn.momentum, 0.1f, 0);
    /* torch's order: modules as registered; in each its parameters, then running_mean,
     * running_var, num_batches_tracked */
    const char *names[] = {"bn.weight",
                           "bn.bias",
                           "bn.running_mean",
                           "bn.running_var",
                           "bn.num_batches_tracked",
                           "b1.weight",
                           "b1.bias",
                           "b1.running_mean",
                           "b1.running_var",
                           "b1.num_batches_tracked",
                           "na.running_mean",
                           "na.running_var",
                           "na.num_batches_tracked",
                           "nr.weight",
                           "nr.bias"};
    expect_names(m, names, 15);
    assert_int_equal(vkt_model_num_params(m), 3 + 3 + 5 + 5 + 2 + 2);
    for (uint32_t i = 0; i < vkt_model_num_tensors(m); i++) {
        const char *name = vkt_model_tensor_name(m, i);
        const char *leaf = strchr(name, '.') + 1;
        int64_t shape[VKT_MAX_DIMS];
        int nd = vkt_model_tensor_shape(m, i, shape);
        vkt_tensor *t = vkt_model_tensor(m, i);
        if (strcmp(leaf, "num_batches_tracked") == 0) {
            assert_int_equal(nd, 0); /* a scalar, as torch's */
            assert_int_equal(vkt_tensor_dtype(t), VKT_I32);
            assert_true(vkt_param_is_buffer(vkt_model_tensor_param(m, i)));
            assert_int_equal(download_i32(t), 0);
            continue;
        }
        bool buffer = strncmp(leaf, "running", 7) == 0;
        assert_int_equal(vkt_param_is_buffer(vkt_model_tensor_param(m, i)), buffer);
        assert_int_equal(nd, 1);
        assert_int_equal(shape[0], name[0] == 'b' ? (name[1] == '1' ? 3 : 5) : 2);
        float want = strcmp(leaf, "weight") == 0 || strcmp(leaf, "running_var") == 0 ? 1.0f : 0.0f;
        float *v = download(t);
        for (int64_t j = 0; j < shape[0]; j++) {
            assert_true(v[j] == want);
        }
        free(v);
    }
    vkt_model_destroy(m);
}

/* Host batch norm over x (N, C, S): per channel mean and biased/unbiased variance. */
static void host_stats(const float *x, int N, int C, int S, double *mean, double *var_b,
                       double *var_u)
{
    for (int c = 0; c < C; c++) {
        double s = 0, sq = 0;
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < S; i++) {
                s += x[(n * C + c) * S + i];
            }
        }
        mean[c] = s / (N * S);
        for (int n = 0; n < N; n++) {
            for (int i = 0; i < S; i++) {
                double d = x[(n * C + c) * S + i] - mean[c];
                sq += d * d;
            }
        }
        var_b[c] = sq / (N * S);
        var_u[c] = sq / (N * S - 1);
    }
}

static void batch_norm_training_and_eval(void **state)
{
    (void)state;
    enum { N = 5, C = 3, H = 2, W = 3, S = H * W };
    const float momentum = 0.25f, eps = 1e-3f;
    vkt_model *m = empty_model(0);
    vkt_batch_norm_layer bn;
    assert_int_equal(
        vkt_batch_norm2d_init(
            m, "bn", &(vkt_batch_norm_desc){.num_features = C, .momentum = momentum, .eps = eps},
            &bn),
        VKT_OK);
    /* a weight and bias that are not the identity, so the affine part is seen */
    const float w[C] = {1.5f, -0.5f, 2.0f}, b[C] = {0.25f, 1.0f, -3.0f};
    assert_int_equal(vkt_tensor_upload(vkt_param_tensor(bn.weight), w, sizeof w), VKT_OK);
    assert_int_equal(vkt_tensor_upload(vkt_param_tensor(bn.bias), b, sizeof b), VKT_OK);
    float xs[2][N * C * S];
    fill_uniform(xs[0], N * C * S, 1, -2.0f, 5.0f);
    fill_uniform(xs[1], N * C * S, 2, 0.0f, 1.0f);
    const int64_t shape[4] = {N, C, H, W};
    double rm[C], rv[C];
    for (int c = 0; c < C; c++) {
        rm[c] = 0, rv[c] = 1;
    }
    /* two training steps: batch statistics; running stats and the counter move */
    assert_true(vkt_model_is_training(m));
    for (int step = 0; step < 2; step++) {
        vkt_scope_begin(test_dev);
        float *y = download(vkt_batch_norm_forward(&bn, upload(4, shape, xs[step])));
        vkt_scope_end(test_dev);
        double mean[C], vb[C], vu[C];
        host_stats(xs[step], N, C, S, mean, vb, vu);
        for (int i = 0; i < N * C * S; i++) {
            int c = (i / S) % C;
            CLOSE(y[i], (xs[step][i] - mean[c]) / sqrt(vb[c] + eps) * w[c] + b[c], 1e-5);
        }
        free(y);
        for (int c = 0; c < C; c++) {
            rm[c] = (1 - momentum) * rm[c] + momentum * mean[c];
            rv[c] = (1 - momentum) * rv[c] + momentum * vu[c];
        }
        float *gm = download(vkt_param_tensor(bn.running_mean));
        float *gv = download(vkt_param_tensor(bn.running_var));
        for (int c = 0; c < C; c++) {
            CLOSE(gm[c], rm[c], 1e-5);
            CLOSE(gv[c], rv[c], 1e-5);
        }
        free(gm), free(gv);
        assert_int_equal(download_i32(vkt_param_tensor(bn.num_batches_tracked)), step + 1);
    }
    /* eval: the running statistics normalise, and nothing moves */
    vkt_model_train(m, false);
    for (int rep = 0; rep < 2; rep++) {
        vkt_scope_begin(test_dev);
        float *y = download(vkt_batch_norm_forward(&bn, upload(4, shape, xs[0])));
        vkt_scope_end(test_dev);
        for (int i = 0; i < N * C * S; i++) {
            int c = (i / S) % C;
            CLOSE(y[i], (xs[0][i] - rm[c]) / sqrt(rv[c] + eps) * w[c] + b[c], 1e-5);
        }
        free(y);
        float *gm = download(vkt_param_tensor(bn.running_mean));
        for (int c = 0; c < C; c++) {
            CLOSE(gm[c], rm[c], 1e-6);
        }
        free(gm);
        assert_int_equal(download_i32(vkt_param_tensor(bn.num_batches_tracked)), 2);
    }
    /* wrong inputs name the layer and what it takes */
    vkt_scope_begin(test_dev);
    assert_null(vkt_batch_norm_forward(&bn, upload(2, (int64_t[]){4, C}, xs[0])));
    assert_non_null(strstr(vkt_last_error(), "BatchNorm2d(3) takes (B, 3, H, W)"));
    assert_null(vkt_batch_norm_forward(&bn, upload(4, (int64_t[]){N, 2, H, 4}, xs[0])));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    vkt_scope_end(test_dev);
    vkt_model_destroy(m);
}

static void batch_norm_without_running_stats_uses_the_batch(void **state)
{
    (void)state;
    enum { N = 7, C = 4 };
    vkt_model *m = empty_model(0);
    vkt_batch_norm_layer bn;
    assert_int_equal(
        vkt_batch_norm1d_init(
            m, "",
            &(vkt_batch_norm_desc){.num_features = C, .no_running_stats = true, .no_affine = true},
            &bn),
        VKT_OK);
    /* no affine and no buffers: a model of nothing; give it one parameter to build */
    assert_non_null(vkt_model_add_param(m, "unused", 1, (int64_t[]){1}, NULL));
    float x[N * C];
    fill_uniform(x, N * C, 3, -1.0f, 3.0f);
    double mean[C], vb[C], vu[C];
    host_stats(x, N, C, 1, mean, vb, vu);
    for (int mode = 0; mode < 2; mode++) { /* torch: batch statistics in eval mode too */
        vkt_model_train(m, mode == 0);
        vkt_scope_begin(test_dev);
        float *y = download(vkt_batch_norm_forward(&bn, upload(2, (int64_t[]){N, C}, x)));
        vkt_scope_end(test_dev);
        for (int i = 0; i < N * C; i++) {
            CLOSE(y[i], (x[i] - mean[i % C]) / sqrt(vb[i % C] + 1e-5), 1e-5);
        }
        free(y);
    }
    vkt_model_destroy(m);
}

/* ---- dropout --------------------------------------------------------------------------------- */

static void dropout_masks_eval_and_reproducibility(void **state)
{
    (void)state;
    enum { R = 37, K = 129, N = R * K };
    const float p = 0.3f;
    float x[N];
    fill_uniform(x, N, 4, 0.5f, 2.0f); /* never 0, so a zero output is a dropped element */
    vkt_model *a = empty_model(7), *b = empty_model(7), *c = empty_model(8);
    vkt_dropout_layer da, da2, db, dc;
    assert_int_equal(vkt_dropout_init(a, "drop", p, &da), VKT_OK);
    assert_int_equal(vkt_dropout_init(a, "drop2", p, &da2), VKT_OK);
    assert_int_equal(vkt_dropout_init(b, "drop", p, &db), VKT_OK);
    assert_int_equal(vkt_dropout_init(c, "drop", p, &dc), VKT_OK);
    assert_true(da.seed == db.seed);
    assert_true(da.seed != da2.seed && da.seed != dc.seed);
    const int64_t shape[2] = {R, K};
    float *ya[2], *yb[2];
    vkt_scope_begin(test_dev);
    vkt_tensor *xt = upload(2, shape, x);
    for (int s = 0; s < 2; s++) {
        ya[s] = download(vkt_dropout_forward(&da, xt));
        yb[s] = download(vkt_dropout_forward(&db, xt));
    }
    float *y2 = download(vkt_dropout_forward(&da2, xt));
    float *yc = download(vkt_dropout_forward(&dc, xt));
    /* the mask of step s is the layer's Philox stream at counter s * N */
    float *u[2];
    for (int s = 0; s < 2; s++) {
        u[s] = download(vkt_rand_uniform(test_dev, 2, shape, da.seed, (uint64_t)s * N));
    }
    vkt_scope_end(test_dev);
    assert_int_equal(da.offset, 2 * N);
    /* same seed and name: the same masks, step after step */
    assert_memory_equal(ya[0], yb[0], sizeof x);
    assert_memory_equal(ya[1], yb[1], sizeof x);
    /* a new mask each step, per layer name and per seed */
    assert_memory_not_equal(ya[0], ya[1], sizeof x);
    assert_memory_not_equal(ya[0], y2, sizeof x);
    assert_memory_not_equal(ya[0], yc, sizeof x);
    const float scale = 1.0f / (1.0f - p);
    for (int s = 0; s < 2; s++) {
        int dropped = 0;
        for (int i = 0; i < N; i++) {
            bool keep = u[s][i] >= p;
            if (keep) {
                CLOSE(ya[s][i], x[i] * scale, 1e-6);
            } else {
                assert_true(ya[s][i] == 0.0f);
                dropped++;
            }
        }
        /* binomial(N, p): within 5 standard deviations */
        double sd = sqrt(N * p * (1 - p));
        assert_true(fabs(dropped - N * p) < 5 * sd);
        free(ya[s]), free(yb[s]), free(u[s]);
    }
    free(y2), free(yc);
    /* eval: identity, and the counter does not move */
    vkt_model_train(a, false);
    vkt_scope_begin(test_dev);
    float *ye = download(vkt_dropout_forward(&da, upload(2, shape, x)));
    vkt_scope_end(test_dev);
    assert_memory_equal(ye, x, sizeof x);
    assert_int_equal(da.offset, 2 * N);
    free(ye);
    vkt_dropout_layer bad;
    assert_int_equal(vkt_dropout_init(a, "bad", 1.5f, &bad), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "1.5"));
    vkt_model_destroy(a);
    vkt_model_destroy(b);
    vkt_model_destroy(c);
}

/* ---- flatten --------------------------------------------------------------------------------- */

static void flatten_shapes_values_and_gradients(void **state)
{
    (void)state;
    /* (C, H, W) -Flatten(2, 3)-> (C, H·W) -BatchNorm1d(C)-> -Flatten-> (F) -Linear-> (O) */
    enum { B = 3, C = 2, H = 3, W = 5, S = H * W, F = C * S, O = 4 };
    vkt_model_desc md = {.layers = {{VKT_LAYER_FLATTEN, .start_dim = 2, .end_dim = 3},
                                    {VKT_LAYER_BATCH_NORM1D, C},
                                    {VKT_LAYER_FLATTEN},
                                    {VKT_LAYER_LINEAR, F, O}},
                         .input = {C, H, W}};
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &md, &m), VKT_OK);
    const char *names[] = {
        "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked",
        "3.weight", "3.bias"};
    expect_names(m, names, 7);
    float x[B * F], gamma[C] = {2.0f, -0.5f};
    fill_uniform(x, B * F, 5, -1.0f, 1.0f);
    assert_int_equal(
        vkt_tensor_upload(vkt_param_tensor(vkt_model_find(m, "1.weight")), gamma, sizeof gamma),
        VKT_OK);
    float *w = download(vkt_param_tensor(vkt_model_find(m, "3.weight")));
    float *bias = download(vkt_param_tensor(vkt_model_find(m, "3.bias")));
    vkt_scope_begin(test_dev);
    vkt_tensor *y = vkt_model_forward(m, upload(4, (int64_t[]){B, C, H, W}, x));
    assert_int_equal(vkt_tensor_ndim(y), 2);
    assert_int_equal(vkt_tensor_dim(y, 1), O);
    assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
    assert_int_equal(vkt_backward(vkt_sum(y)), VKT_OK);
    float *yv = download(y);
    float *gg = download(vkt_tensor_grad(vkt_param_tensor(vkt_model_find(m, "1.weight"))));
    vkt_scope_end(test_dev);
    /* host: batch norm per channel over (B, H·W), row-major flattening, then the Linear; and
     * d sum(y) / d gamma[c] = sum over (b, s) of xhat[b, c, s] · sum_o W[o, c·S + s] */
    double mean[C], vb[C], vu[C], dg[C] = {0};
    host_stats(x, B, C, S, mean, vb, vu);
    for (int b = 0; b < B; b++) {
        double z[F];
        for (int j = 0; j < F; j++) {
            int c = j / S;
            double xhat = (x[b * F + j] - mean[c]) / sqrt(vb[c] + 1e-5);
            z[j] = xhat * gamma[c];
            double col = 0;
            for (int o = 0; o < O; o++) {
                col += w[o * F + j];
            }
            dg[c] += xhat * col;
        }
        for (int o = 0; o < O; o++) {
            double want = bias[o];
            for (int j = 0; j < F; j++) {
                want += z[j] * w[o * F + j];
            }
            CLOSE(yv[b * O + o], want, 1e-5);
        }
    }
    for (int c = 0; c < C; c++) {
        CLOSE(gg[c], dg[c], 1e-4);
    }
    free(w), free(bias), free(yv), free(gg);
    vkt_model_destroy(m);
}

/* ---- sequential models of these layers ------------------------------------------------------- */

static void sequential_names_forward_and_modes(void **state)
{
    (void)state;
    enum { B = 6, C = 2, H = 3, W = 4, F = C * H * W, O = 5 };
    vkt_model_desc md = {
        .layers = {{VKT_LAYER_BATCH_NORM2D, C},
                   {VKT_LAYER_FLATTEN},
                   {VKT_LAYER_LINEAR, F, O},
                   {VKT_LAYER_BATCH_NORM1D, O, .momentum = 0.5f},
                   {VKT_LAYER_RELU},
                   {VKT_LAYER_DROPOUT, .p = 0.5f},
                   {VKT_LAYER_LINEAR, O, 3}},
        .input = {C, H, W},
        .seed = 11,
    };
    vkt_model *m = NULL, *m2 = NULL;
    assert_int_equal(vkt_model_create(test_dev, &md, &m), VKT_OK);
    assert_int_equal(vkt_model_create(test_dev, &md, &m2), VKT_OK);
    const char *names[] = {"0.weight",
                           "0.bias",
                           "0.running_mean",
                           "0.running_var",
                           "0.num_batches_tracked",
                           "2.weight",
                           "2.bias",
                           "3.weight",
                           "3.bias",
                           "3.running_mean",
                           "3.running_var",
                           "3.num_batches_tracked",
                           "6.weight",
                           "6.bias"};
    expect_names(m, names, 14);
    assert_int_equal(vkt_model_in_features(m), 0); /* the input is (C, H, W), not features */
    assert_int_equal(vkt_model_out_features(m), 3);
    float x[B * F];
    fill_uniform(x, B * F, 9, -1.0f, 2.0f);
    vkt_scope_begin(test_dev);
    vkt_tensor *xt = upload(4, (int64_t[]){B, C, H, W}, x);
    float *y1 = download(vkt_model_forward(m, xt));
    float *y2 = download(vkt_model_forward(m2, xt));
    float *y1b = download(vkt_model_forward(m, xt));
    assert_memory_equal(y1, y2, B * 3 * sizeof(float));      /* same seed, same masks */
    assert_memory_not_equal(y1, y1b, B * 3 * sizeof(float)); /* the next mask */
    /* a training step reaches every parameter through dropout, batch norm and the view */
    vkt_tensor *labels = vkt_tensor_new_1d(test_dev, VKT_I32, B);
    const int32_t lab[B] = {0, 1, 2, 0, 1, 2};
    assert_int_equal(vkt_tensor_upload(labels, lab, sizeof lab), VKT_OK);
    assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
    assert_int_equal(vkt_backward(vkt_softmax_xent(vkt_model_forward(m, xt), labels)), VKT_OK);
    float *g0 = download(vkt_tensor_grad(vkt_param_tensor(vkt_model_find(m, "0.weight"))));
    float *g2 = download(vkt_tensor_grad(vkt_param_tensor(vkt_model_find(m, "2.weight"))));
    double n0 = 0, n2 = 0;
    for (int i = 0; i < C; i++) {
        n0 += fabs(g0[i]);
    }
    for (int i = 0; i < O * F; i++) {
        n2 += fabs(g2[i]);
    }
    assert_true(n0 > 0 && n2 > 0);
    free(g0), free(g2);
    /* three training forwards counted by both batch norms */
    assert_int_equal(download_i32(vkt_param_tensor(vkt_model_find(m, "0.num_batches_tracked"))), 3);
    /* eval: deterministic (no dropout, running statistics), counters still */
    vkt_model_train(m, false);
    float *e1 = download(vkt_model_forward(m, xt));
    float *e2 = download(vkt_model_forward(m, xt));
    assert_memory_equal(e1, e2, B * 3 * sizeof(float));
    assert_int_equal(download_i32(vkt_param_tensor(vkt_model_find(m, "3.num_batches_tracked"))), 3);
    /* wrong input shapes name what the model takes */
    assert_null(vkt_model_forward(m, upload(2, (int64_t[]){B, F}, x)));
    assert_non_null(strstr(vkt_last_error(), "(batch, 2, 3, 4)"));
    vkt_scope_end(test_dev);
    free(y1), free(y2), free(y1b), free(e1), free(e2);
    vkt_model_destroy(m);
    vkt_model_destroy(m2);
}

static void expect_create_error(const vkt_model_desc *md, vkt_status want, const char *const *parts,
                                int n)
{
    static int sentinel;
    vkt_model *m = (vkt_model *)&sentinel; /* must be reset to NULL on failure */
    assert_int_equal(vkt_model_create(test_dev, md, &m), want);
    assert_null(m);
    for (int i = 0; i < n; i++) {
        if (!strstr(vkt_last_error(), parts[i])) {
            fail_msg("error \"%s\" does not name \"%s\"", vkt_last_error(), parts[i]);
        }
    }
}

static void bad_layer_descs_are_clear(void **state)
{
    (void)state;
    /* the reference CNN's head with the wrong in_features: both numbers */
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_BATCH_NORM2D, 64},
                                                     {VKT_LAYER_FLATTEN},
                                                     {VKT_LAYER_LINEAR, 3000, 128}},
                                          .input = {64, 7, 7}},
                        VKT_SHAPE_MISMATCH,
                        (const char *[]){"layer 2", "Linear(3000, 128)", "takes 3000", "3136"}, 4);
    /* Linear straight after a (C, H, W) layer: the shape and the fix */
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_BATCH_NORM2D, 4}, {VKT_LAYER_LINEAR, 64, 2}},
                          .input = {4, 4, 4}},
        VKT_SHAPE_MISMATCH, (const char *[]){"(4, 4, 4)", "Flatten"}, 2);
    /* batch norm's channels against the input's */
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_BATCH_NORM2D, 32}}, .input = {16, 8, 8}},
        VKT_SHAPE_MISMATCH, (const char *[]){"BatchNorm2d(32)", "(16, 8, 8)"}, 2);
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_LINEAR, 6, 4}, {VKT_LAYER_BATCH_NORM1D, 5}}},
        VKT_SHAPE_MISMATCH, (const char *[]){"layer 1", "BatchNorm1d(5)", "(4)"}, 3);
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_BATCH_NORM2D, 3}, {VKT_LAYER_LINEAR, 3, 2}}},
        VKT_INVALID_ARGUMENT, (const char *[]){"vkt_model_desc.input"}, 1);
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_BATCH_NORM1D, 3, .eps = -1.0f},
                                                     {VKT_LAYER_LINEAR, 3, 2}}},
                        VKT_INVALID_ARGUMENT, (const char *[]){"eps -1"}, 1);
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_BATCH_NORM1D, 3, .momentum = 2},
                                                     {VKT_LAYER_LINEAR, 3, 2}}},
                        VKT_INVALID_ARGUMENT, (const char *[]){"momentum 2"}, 1);
    /* dropout's p, flatten's dims */
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_LINEAR, 3, 2}, {VKT_LAYER_DROPOUT, .p = -0.5f}}},
        VKT_INVALID_ARGUMENT, (const char *[]){"layer 1", "Dropout(-0.5)"}, 2);
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_FLATTEN, .end_dim = 4}, {VKT_LAYER_LINEAR, 3, 2}},
                          .input = {1, 2, 3}},
        VKT_INVALID_ARGUMENT, (const char *[]){"Flatten(1, 4)", "1..3"}, 2);
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_FLATTEN}, {VKT_LAYER_LINEAR, 3, 2}}},
        VKT_INVALID_ARGUMENT, (const char *[]){"Flatten", "not known"}, 2);
    /* layers without parameters only */
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_DROPOUT}, {VKT_LAYER_FLATTEN}}, .input = {2, 2}},
        VKT_INVALID_ARGUMENT, (const char *[]){"no layer with parameters"}, 1);
    /* the layer API's own checks */
    vkt_model *m = empty_model(0);
    vkt_batch_norm_layer bn;
    assert_int_equal(vkt_batch_norm2d_init(m, "bn", &(vkt_batch_norm_desc){0}, &bn),
                     VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "\"bn\" has num_features 0"));
    assert_int_equal(
        vkt_batch_norm2d_init(NULL, "bn", &(vkt_batch_norm_desc){.num_features = 1}, &bn),
        VKT_INVALID_ARGUMENT);
    vkt_model_destroy(m);
}

/* ---- convolution and pooling ----------------------------------------------------------------- */

/* Every value in ±bound, reaching near it, with U(±bound)'s mean and variance (5 sigma). */
static void expect_uniform(const vkt_tensor *t, double bound)
{
    int64_t n = vkt_tensor_numel(t);
    float *v = download(t);
    double s = 0, sq = 0, hi = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(fabs(v[i]) <= bound * (1 + 1e-6));
        s += v[i], sq += (double)v[i] * v[i], hi = fmax(hi, fabs(v[i]));
    }
    free(v);
    double var = bound * bound / 3, mean = s / n;
    assert_true(hi > bound * (1 - 10.0 / n));
    assert_true(fabs(mean) < 5 * sqrt(var / n));
    /* the variance of x^2 for U(±b) is 4 b^4 / 45 */
    assert_true(fabs(sq / n - var) < 5 * sqrt(4 * pow(bound, 4) / 45 / n));
}

static void conv2d_names_shapes_and_init(void **state)
{
    (void)state;
    vkt_model *m = empty_model(7);
    vkt_conv2d_layer c, g;
    assert_int_equal(
        vkt_conv2d_init(
            m, "c", &(vkt_conv2d_desc){.in_channels = 8, .out_channels = 64, .kernel = {3, 5}}, &c),
        VKT_OK);
    assert_int_equal(vkt_conv2d_init(m, "g",
                                     &(vkt_conv2d_desc){.in_channels = 6,
                                                        .out_channels = 9,
                                                        .kernel = {2, 2},
                                                        .groups = 3,
                                                        .no_bias = true},
                                     &g),
                     VKT_OK);
    assert_null(g.bias);
    /* torch's defaults filled */
    assert_int_equal(c.desc.stride[0], 1);
    assert_int_equal(c.desc.stride[1], 1);
    assert_int_equal(c.desc.dilation[1], 1);
    assert_int_equal(c.desc.groups, 1);
    const char *names[] = {"c.weight", "c.bias", "g.weight"};
    expect_names(m, names, 3);
    int64_t shape[VKT_MAX_DIMS];
    assert_int_equal(vkt_model_tensor_shape(m, 0, shape), 4);
    assert_true(shape[0] == 64 && shape[1] == 8 && shape[2] == 3 && shape[3] == 5);
    assert_int_equal(vkt_model_tensor_shape(m, 1, shape), 1);
    assert_int_equal(shape[0], 64);
    assert_int_equal(vkt_model_tensor_shape(m, 2, shape), 4);
    assert_true(shape[0] == 9 && shape[1] == 2 && shape[2] == 2 && shape[3] == 2);
    assert_int_equal(vkt_model_num_params(m), 64 * 8 * 15 + 64 + 9 * 2 * 4);
    /* kaiming_uniform(a = sqrt(5)) and the bias: U(±1/sqrt(fan_in)), fan_in = in / groups · kh · kw
     */
    expect_uniform(vkt_param_tensor(c.weight), 1 / sqrt(8 * 15.0));
    expect_uniform(vkt_param_tensor(c.bias), 1 / sqrt(8 * 15.0));
    expect_uniform(vkt_param_tensor(g.weight), 1 / sqrt(2 * 4.0));
    vkt_model_destroy(m);
}

/* y[n, o, i, j] = b[o] + sum over the group's channels and the window, as torch's conv2d. */
static double host_conv(const float *x, const float *w, const float *b, const vkt_conv2d_desc *d,
                        int64_t H, int64_t W, int n, int o, int i, int j)
{
    int cg = (int)(d->in_channels / d->groups), og = (int)(d->out_channels / d->groups);
    double s = b ? b[o] : 0;
    for (int c = 0; c < cg; c++) {
        int ci = o / og * cg + c;
        for (uint32_t ky = 0; ky < d->kernel[0]; ky++) {
            for (uint32_t kx = 0; kx < d->kernel[1]; kx++) {
                int64_t y = (int64_t)i * d->stride[0] - d->padding[0] + ky * d->dilation[0];
                int64_t xx = (int64_t)j * d->stride[1] - d->padding[1] + kx * d->dilation[1];
                if (y >= 0 && y < H && xx >= 0 && xx < W) {
                    s += (double)x[((n * (int64_t)d->in_channels + ci) * H + y) * W + xx] *
                         w[((o * cg + c) * d->kernel[0] + ky) * d->kernel[1] + kx];
                }
            }
        }
    }
    return s;
}

static void conv2d_forward_and_shape_errors(void **state)
{
    (void)state;
    enum { N = 2, C = 4, H = 7, W = 6 };
    vkt_model *m = empty_model(3);
    vkt_conv2d_layer l;
    const vkt_conv2d_desc d = {.in_channels = C,
                               .out_channels = 6,
                               .kernel = {3, 2},
                               .stride = {2, 1},
                               .padding = {1, 0},
                               .dilation = {1, 2},
                               .groups = 2};
    assert_int_equal(vkt_conv2d_init(m, "conv", &d, &l), VKT_OK);
    float x[N * C * H * W];
    fill_uniform(x, N * C * H * W, 4, -1.0f, 1.0f);
    vkt_scope_begin(test_dev);
    vkt_tensor *y = vkt_conv2d_forward(&l, upload(4, (int64_t[]){N, C, H, W}, x));
    assert_non_null(y);
    /* OH = (7 + 2 - 2 - 1) / 2 + 1 = 4, OW = (6 - 2 - 1) / 1 + 1 = 4 */
    assert_int_equal(vkt_tensor_dim(y, 1), 6);
    assert_int_equal(vkt_tensor_dim(y, 2), 4);
    assert_int_equal(vkt_tensor_dim(y, 3), 4);
    float *got = download(y), *w = download(vkt_param_tensor(l.weight)),
          *b = download(vkt_param_tensor(l.bias));
    for (int n = 0; n < N; n++) {
        for (int o = 0; o < 6; o++) {
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 4; j++) {
                    CLOSE(got[((n * 6 + o) * 4 + i) * 4 + j],
                          host_conv(x, w, b, &l.desc, H, W, n, o, i, j), 1e-5);
                }
            }
        }
    }
    free(got), free(w), free(b);
    /* x with 3 channels for Conv2d(4, 6), and a 3-D x: both numbers in the message */
    assert_null(vkt_conv2d_forward(&l, upload(4, (int64_t[]){N, 3, H, W}, x)));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "[2, 3, 7, 6]"));
    assert_non_null(strstr(vkt_last_error(), "Conv2d(4, 6) takes (B, 4, H, W)"));
    assert_null(vkt_conv2d_forward(&l, upload(3, (int64_t[]){C, H, W}, x)));
    assert_non_null(strstr(vkt_last_error(), "[4, 7, 6]"));
    vkt_scope_end(test_dev);
    /* the layer API's own checks */
    vkt_conv2d_layer bad;
    assert_int_equal(
        vkt_conv2d_init(
            m, "bad",
            &(vkt_conv2d_desc){.in_channels = 4, .out_channels = 6, .kernel = {3, 3}, .groups = 4},
            &bad),
        VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "\"bad\" is Conv2d(4, 6) with groups 4"));
    assert_int_equal(
        vkt_conv2d_init(m, "bad", &(vkt_conv2d_desc){.in_channels = 4, .out_channels = 6}, &bad),
        VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "kernel (0, 0)"));
    vkt_model_destroy(m);
}

/* A sequential model of every layer of this family against the same ops called by hand. */
static void pool_layers_in_a_sequential_model(void **state)
{
    (void)state;
    enum { B = 3, H = 9, W = 10 };
    vkt_model *m = NULL;
    const vkt_model_desc md = {
        .layers = {{VKT_LAYER_CONV2D, 1, 2, .kernel = {3, 3}, .padding = {1, 1}},
                   {VKT_LAYER_MAX_POOL2D, .kernel = {2, 2}},
                   {VKT_LAYER_AVG_POOL2D, .kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1},
                    .exclude_pad = true},
                   {VKT_LAYER_ADAPTIVE_AVG_POOL2D, .output_size = {2, 3}},
                   {VKT_LAYER_FLATTEN},
                   {VKT_LAYER_LINEAR, 12, 5}},
        .input = {1, H, W},
        .seed = 5};
    assert_int_equal(vkt_model_create(test_dev, &md, &m), VKT_OK);
    const char *names[] = {"0.weight", "0.bias", "5.weight", "5.bias"};
    expect_names(m, names, 4);
    assert_int_equal(vkt_model_out_features(m), 5);
    float x[B * H * W];
    fill_uniform(x, B * H * W, 6, -1.0f, 2.0f);
    vkt_scope_begin(test_dev);
    vkt_tensor *xt = upload(4, (int64_t[]){B, 1, H, W}, x);
    vkt_tensor *y = vkt_model_forward(m, xt);
    assert_non_null(y);
    assert_int_equal(vkt_tensor_ndim(y), 2);
    assert_int_equal(vkt_tensor_dim(y, 0), B);
    assert_int_equal(vkt_tensor_dim(y, 1), 5);
    /* stride 0 is the kernel size for the pools; exclude_pad reaches avg_pool2d */
    vkt_tensor *h = vkt_conv2d(xt, vkt_param_tensor(vkt_model_find(m, "0.weight")),
                               vkt_param_tensor(vkt_model_find(m, "0.bias")),
                               &(vkt_conv2d_params){.padding = {1, 1}});
    h = vkt_max_pool2d(h, &(vkt_pool2d_params){.kernel = {2, 2}, .stride = {2, 2}});
    h = vkt_avg_pool2d(
        h, &(vkt_pool2d_params){
               .kernel = {3, 3}, .stride = {1, 1}, .padding = {1, 1}, .exclude_pad = true});
    assert_int_equal(vkt_tensor_dim(h, 2), 4);
    assert_int_equal(vkt_tensor_dim(h, 3), 5);
    h = vkt_flatten(vkt_adaptive_avg_pool2d(h, 2, 3), 1, -1);
    h = vkt_add_bias(vkt_matmul(h, vkt_param_tensor(vkt_model_find(m, "5.weight")), VKT_TRANS_B),
                     vkt_param_tensor(vkt_model_find(m, "5.bias")));
    float *got = download(y), *want = download(h);
    for (int i = 0; i < B * 5; i++) {
        assert_true(got[i] == want[i]); /* the same kernels in the same order */
    }
    free(got), free(want);
    vkt_scope_end(test_dev);
    vkt_model_destroy(m);
}

/* The reference CNN at full size: torch's names and shapes, and a forward of a batch. */
static void cnn_desc_full_size(void **state)
{
    (void)state;
    vkt_model_desc md;
    assert_int_equal(
        vkt_cnn_desc(
            &(vkt_cnn_config){.channels = 1, .height = 28, .width = 28, .classes = 10, .seed = 1},
            &md),
        VKT_OK);
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &md, &m), VKT_OK);
    const char *names[] = {"0.weight",
                           "0.bias",
                           "1.weight",
                           "1.bias",
                           "1.running_mean",
                           "1.running_var",
                           "1.num_batches_tracked",
                           "4.weight",
                           "4.bias",
                           "5.weight",
                           "5.bias",
                           "5.running_mean",
                           "5.running_var",
                           "5.num_batches_tracked",
                           "9.weight",
                           "9.bias",
                           "12.weight",
                           "12.bias"};
    expect_names(m, names, 18);
    const struct {
        uint32_t i;
        int nd;
        int64_t d[4];
    } shapes[] = {{0, 4, {32, 1, 3, 3}}, {1, 1, {32}},           {4, 1, {32}},
                  {6, 0, {0}},           {7, 4, {64, 32, 3, 3}}, {8, 1, {64}},
                  {14, 2, {128, 3136}},  {16, 2, {10, 128}},     {17, 1, {10}}};
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        int64_t s[VKT_MAX_DIMS];
        assert_int_equal(vkt_model_tensor_shape(m, shapes[k].i, s), shapes[k].nd);
        for (int j = 0; j < shapes[k].nd; j++) {
            assert_int_equal(s[j], shapes[k].d[j]);
        }
    }
    assert_int_equal(vkt_model_num_params(m), 32 * 9 + 32 + 2 * 32 + 64 * 32 * 9 + 64 + 2 * 64 +
                                                  3136 * 128 + 128 + 128 * 10 + 10);
    assert_int_equal(vkt_model_out_features(m), 10);
    expect_uniform(vkt_param_tensor(vkt_model_find(m, "4.weight")), 1 / sqrt(32 * 9.0));
    enum { B = 2 };
    float *x = malloc(B * 28 * 28 * sizeof *x);
    assert_non_null(x);
    fill_uniform(x, B * 28 * 28, 8, 0.0f, 1.0f);
    for (int training = 1; training >= 0; training--) {
        vkt_model_train(m, training);
        vkt_scope_begin(test_dev);
        vkt_tensor *y = vkt_model_forward(m, upload(4, (int64_t[]){B, 1, 28, 28}, x));
        assert_non_null(y);
        assert_int_equal(vkt_tensor_ndim(y), 2);
        assert_int_equal(vkt_tensor_dim(y, 0), B);
        assert_int_equal(vkt_tensor_dim(y, 1), 10);
        float *v = download(y);
        for (int i = 0; i < B * 10; i++) {
            assert_true(isfinite(v[i]));
        }
        free(v);
        vkt_scope_end(test_dev);
    }
    free(x);
    vkt_model_destroy(m);
    /* no_conv_bias drops "0.bias" and "4.bias" */
    assert_int_equal(
        vkt_cnn_desc(
            &(vkt_cnn_config){
                .channels = 3, .height = 8, .width = 12, .classes = 4, .no_conv_bias = true},
            &md),
        VKT_OK);
    assert_int_equal(vkt_model_create(test_dev, &md, &m), VKT_OK);
    assert_int_equal(vkt_model_num_tensors(m), 16);
    assert_null(vkt_model_find(m, "0.bias"));
    assert_null(vkt_model_find(m, "4.bias"));
    int64_t s[VKT_MAX_DIMS];
    assert_int_equal(vkt_model_tensor_shape(m, 12, s), 2); /* 9.weight: 64 · (8/4) · (12/4) */
    assert_int_equal(s[1], 64 * 2 * 3);
    vkt_model_destroy(m);
    assert_int_equal(
        vkt_cnn_desc(&(vkt_cnn_config){.channels = 1, .height = 3, .width = 28, .classes = 10},
                     &md),
        VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "(1, 3, 28)"));
}

static void bad_conv_and_pool_descs_are_clear(void **state)
{
    (void)state;
    /* channels that do not match the sample, naming both */
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_CONV2D, 3, 8, .kernel = {3, 3}}},
                                          .input = {1, 28, 28}},
                        VKT_SHAPE_MISMATCH,
                        (const char *[]){"layer 0 is Conv2d(3, 8)", "(3, H, W)", "(1, 28, 28)"}, 3);
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_CONV2D, 1, 8, .kernel = {3, 3}}}},
                        VKT_INVALID_ARGUMENT, (const char *[]){"Conv2d(1, 8)", "not known"}, 2);
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_CONV2D, 1, 8, .kernel = {5, 5}}},
                                          .input = {1, 3, 9}},
                        VKT_SHAPE_MISMATCH, (const char *[]){"kernel (5, 5)", "(1, 3, 9)"}, 2);
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_CONV2D, 4, 6, .kernel = {1, 1}, .groups = 4}},
                          .input = {4, 2, 2}},
        VKT_INVALID_ARGUMENT, (const char *[]){"groups 4", "multiples of groups"}, 2);
    /* a Linear after the pools that does not take what they give */
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_CONV2D, 1, 2, .kernel = {3, 3}},
                                                     {VKT_LAYER_MAX_POOL2D, .kernel = {2, 2}},
                                                     {VKT_LAYER_FLATTEN},
                                                     {VKT_LAYER_LINEAR, 30, 2}},
                                          .input = {1, 8, 8}},
                        VKT_SHAPE_MISMATCH,
                        (const char *[]){"layer 3 is Linear(30, 2)", "takes 30", "gives 18"}, 3);
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_MAX_POOL2D, .kernel = {2, 0}},
                                                     {VKT_LAYER_LINEAR, 3, 2}},
                                          .input = {1, 4, 4}},
                        VKT_INVALID_ARGUMENT,
                        (const char *[]){"layer 0 is MaxPool2d", "kernel (2, 0)"}, 2);
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_AVG_POOL2D, .kernel = {2, 2}, .padding = {0, 2}},
                                     {VKT_LAYER_LINEAR, 3, 2}},
                          .input = {1, 4, 4}},
        VKT_INVALID_ARGUMENT, (const char *[]){"AvgPool2d", "padding (0, 2)", "half"}, 3);
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_MAX_POOL2D, .kernel = {5, 5}},
                                                     {VKT_LAYER_LINEAR, 3, 2}},
                                          .input = {1, 4, 4}},
                        VKT_SHAPE_MISMATCH, (const char *[]){"kernel (5, 5)", "(1, 4, 4)"}, 2);
    expect_create_error(&(vkt_model_desc){.layers = {{VKT_LAYER_LINEAR, 4, 4},
                                                     {VKT_LAYER_MAX_POOL2D, .kernel = {2, 2}}}},
                        VKT_SHAPE_MISMATCH,
                        (const char *[]){"layer 1 is MaxPool2d", "(C, H, W)", "(4)"}, 3);
    expect_create_error(
        &(vkt_model_desc){.layers = {{VKT_LAYER_ADAPTIVE_AVG_POOL2D, .output_size = {2, 0}},
                                     {VKT_LAYER_LINEAR, 3, 2}},
                          .input = {1, 4, 4}},
        VKT_INVALID_ARGUMENT, (const char *[]){"AdaptiveAvgPool2d((2, 0))"}, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(batch_norm_names_shapes_and_init),
        VKT_TEST(batch_norm_training_and_eval),
        VKT_TEST(batch_norm_without_running_stats_uses_the_batch),
        VKT_TEST(dropout_masks_eval_and_reproducibility),
        VKT_TEST(flatten_shapes_values_and_gradients),
        VKT_TEST(sequential_names_forward_and_modes),
        VKT_TEST(bad_layer_descs_are_clear),
        VKT_TEST(conv2d_names_shapes_and_init),
        VKT_TEST(conv2d_forward_and_shape_errors),
        VKT_TEST(pool_layers_in_a_sequential_model),
        VKT_TEST(cnn_desc_full_size),
        VKT_TEST(bad_conv_and_pool_descs_are_clear),
    };
    return VKT_RUN_GROUP(tests);
}
