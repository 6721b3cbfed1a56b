/*
 * test_params.c — the parameter and layer API (include/vkt/nn.h): a model built from named
 * parameters and buffers, torch's state_dict order, a custom residual forward whose gradients
 * match a CPU computation, the one-block property (zero-grad one fill, an optimizer step one
 * dispatch), torch.nn.init statistics, registration errors, and state dicts: a safetensors round
 * trip, strict-load errors, and files written by PyTorch (tests/fixtures/torch_residual*,
 * tools/make_torch_residual_fixture.py; tests/fixtures/torch_bn*, tools/make_torch_bn_safetensors.py:
 * a CNN with batch norm in torch's dtypes, and torch's F16 / BF16 / F64 conversions).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

static const char *fixture_dir;

static int64_t align64(int64_t n) { return (n + 63) / 64 * 64; }

static float *download(vkt_tensor *t)
{
    size_t bytes = vkt_tensor_bytes(t);
    float *v = malloc(bytes);
    assert_non_null(v);
    assert_int_equal(vkt_tensor_download(t, v, bytes), VKT_OK);
    return v;
}

/* fc1 Linear(5, 7), a root parameter "scale", a norm-like module with parameters and buffers
 * (one registered after its buffers). */
static vkt_model *user_model(uint64_t seed, vkt_linear_layer *fc1, vkt_linear_layer *fc2)
{
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = seed}, &m), VKT_OK);
    assert_int_equal(vkt_linear_init(m, "fc1", 5, 7, true, fc1), VKT_OK);
    vkt_init ones = vkt_init_ones();
    assert_non_null(vkt_model_add_param(m, "scale", 1, (int64_t[]){5}, &ones));
    assert_non_null(vkt_model_add_param(m, "norm.weight", 1, (int64_t[]){7}, &ones));
    assert_non_null(vkt_model_add_param(m, "norm.bias", 1, (int64_t[]){7}, NULL));
    assert_non_null(vkt_model_add_buffer(m, "norm.running_var", VKT_F32, 1, (int64_t[]){7}, &ones));
    assert_non_null(vkt_model_add_buffer(m, "norm.num_batches_tracked", VKT_I32, 0, NULL, NULL));
    vkt_init three = vkt_init_constant(3.0f);
    assert_non_null(vkt_model_add_param(m, "norm.extra", 2, (int64_t[]){2, 3}, &three));
    assert_int_equal(vkt_linear_init(m, "fc2", 7, 5, true, fc2), VKT_OK);
    return m;
}

static void user_model_names_order_and_blocks(void **state)
{
    (void)state;
    vkt_linear_layer fc1, fc2;
    vkt_model *m = user_model(7, &fc1, &fc2);
    assert_false(vkt_model_is_built(m));
    /* torch: a module's own parameters, its buffers, then its children in registration order */
    const char *want[] = {"scale",       "fc1.weight",       "fc1.bias",
                          "norm.weight", "norm.bias",        "norm.extra",
                          "norm.running_var", "norm.num_batches_tracked", "fc2.weight",
                          "fc2.bias"};
    assert_int_equal(vkt_model_num_tensors(m), 10);
    for (uint32_t i = 0; i < 10; i++) {
        assert_string_equal(vkt_model_tensor_name(m, i), want[i]);
    }
    int64_t shape[VKT_MAX_DIMS];
    assert_int_equal(vkt_model_tensor_shape(m, 7, shape), 0); /* scalar buffer */
    assert_int_equal(vkt_model_tensor_shape(m, 1, shape), 2);
    assert_int_equal(shape[0], 7);
    assert_int_equal(shape[1], 5);
    uint64_t n_params = 35 + 7 + 5 + 7 + 7 + 6 + 35 + 5;
    assert_int_equal(vkt_model_num_params(m), n_params);
    assert_true(vkt_model_is_training(m));
    vkt_model_train(m, false);
    assert_false(vkt_model_is_training(m));
    vkt_model_train(m, true);

    /* the first forward builds: one block each, padded views, buffers apart */
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_2d(test_dev, VKT_F32, 2, 5);
    assert_int_equal(vkt_fill(x, 1.0f), VKT_OK);
    assert_non_null(vkt_linear_forward(&fc2, vkt_relu(vkt_linear_forward(&fc1, x))));
    vkt_scope_end(test_dev);
    assert_true(vkt_model_is_built(m));
    int64_t padded = align64(35) + align64(7) + align64(5) * 2 + align64(7) + align64(6) +
                     align64(35) + align64(5);
    assert_int_equal(vkt_tensor_numel(vkt_model_param_block(m)), padded);
    assert_int_equal(vkt_tensor_numel(vkt_model_grad_block(m)), padded);
    vkt_param *nbt = vkt_model_find(m, "norm.num_batches_tracked");
    assert_true(vkt_param_is_buffer(nbt));
    assert_false(vkt_tensor_requires_grad(vkt_param_tensor(nbt)));
    assert_int_equal(vkt_tensor_dtype(vkt_param_tensor(nbt)), VKT_I32);
    assert_int_equal(vkt_tensor_numel(vkt_param_tensor(nbt)), 1);
    assert_true(vkt_tensor_requires_grad(vkt_param_tensor(fc1.weight)));
    assert_ptr_equal(vkt_param_model(fc1.weight), m);
    assert_string_equal(vkt_param_name(fc1.bias), "fc1.bias");
    /* initial values: ones, zeros, the constant, torch.nn.Linear's bounds */
    float *v = download(vkt_param_tensor(vkt_model_find(m, "norm.running_var")));
    float *e = download(vkt_param_tensor(vkt_model_find(m, "norm.extra")));
    float *b = download(vkt_param_tensor(vkt_model_find(m, "norm.bias")));
    float *w = download(vkt_param_tensor(fc2.weight));
    int32_t n0 = -1;
    assert_int_equal(vkt_tensor_download(vkt_param_tensor(nbt), &n0, 4), VKT_OK);
    assert_int_equal(n0, 0);
    for (int i = 0; i < 7; i++) {
        assert_true(v[i] == 1.0f && b[i] == 0.0f);
    }
    for (int i = 0; i < 6; i++) {
        assert_true(e[i] == 3.0f);
    }
    bool nonzero = false;
    for (int i = 0; i < 35; i++) {
        assert_true(fabsf(w[i]) <= 1.0f / sqrtf(7.0f));
        nonzero |= w[i] != 0.0f;
    }
    assert_true(nonzero);
    free(v);
    free(e);
    free(b);
    free(w);
    vkt_model_destroy(m);
}

/* torch.nn.Linear on x (..., in): the same values and gradients (x, weight, bias) as the 2-D path
 * on x reshaped to (rows, in), for 3-D and 4-D inputs of the same rows; y also against a CPU
 * computation; a 1-D x is one row. */
static void linear_on_nd_input(void **state)
{
    (void)state;
    enum { ROWS = 6, IN = 5, OUT = 7 };
    vkt_model *m = NULL;
    vkt_linear_layer fc;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = 5}, &m), VKT_OK);
    assert_int_equal(vkt_linear_init(m, "fc", IN, OUT, true, &fc), VKT_OK);
    assert_int_equal(vkt_model_build(m), VKT_OK);
    float xs[ROWS * IN], cs[ROWS * OUT];
    for (int i = 0; i < ROWS * IN; i++) {
        xs[i] = (float)sin(0.9 * i + 0.3);
    }
    for (int i = 0; i < ROWS * OUT; i++) {
        cs[i] = (float)cos(0.4 * i);
    }
    float *W = download(vkt_param_tensor(fc.weight)), *bias = download(vkt_param_tensor(fc.bias));
    const int64_t shapes[3][4] = {{ROWS, IN}, {2, 3, IN}, {2, 1, 3, IN}};
    const int ndims[3] = {2, 3, 4};
    float *ref[4] = {0}; /* y, dx, dW, db of the 2-D path */
    for (int s = 0; s < 3; s++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, ndims[s], shapes[s]);
        assert_int_equal(vkt_tensor_upload(x, xs, sizeof xs), VKT_OK);
        vkt_tensor_set_requires_grad(x, true);
        vkt_tensor *y = vkt_linear_forward(&fc, x);
        assert_non_null(y);
        assert_int_equal(vkt_tensor_ndim(y), ndims[s]);
        for (int d = 0; d < ndims[s] - 1; d++) {
            assert_int_equal(vkt_tensor_dim(y, d), shapes[s][d]);
        }
        assert_int_equal(vkt_tensor_dim(y, ndims[s] - 1), OUT);
        vkt_tensor *c = vkt_tensor_new(test_dev, VKT_F32, 1, (int64_t[]){ROWS * OUT});
        assert_int_equal(vkt_tensor_upload(c, cs, sizeof cs), VKT_OK);
        vkt_tensor *loss = vkt_sum(vkt_mul(vkt_reshape(y, 1, (int64_t[]){ROWS * OUT}), c));
        assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
        assert_int_equal(vkt_backward(loss), VKT_OK);
        float *got[4] = {download(y), download(vkt_tensor_grad(x)),
                         download(vkt_tensor_grad(vkt_param_tensor(fc.weight))),
                         download(vkt_tensor_grad(vkt_param_tensor(fc.bias)))};
        const int n[4] = {ROWS * OUT, ROWS * IN, OUT * IN, OUT};
        for (int t = 0; t < 4; t++) {
            for (int i = 0; s > 0 && i < n[t]; i++) {
                assert_true(fabsf(got[t][i] - ref[t][i]) <= 1e-6f * (1.0f + fabsf(ref[t][i])));
            }
        }
        for (int r = 0; s == 0 && r < ROWS; r++) {
            for (int o = 0; o < OUT; o++) {
                double want = bias[o];
                for (int k = 0; k < IN; k++) {
                    want += (double)xs[r * IN + k] * W[o * IN + k];
                }
                assert_true(fabs(got[0][r * OUT + o] - want) <= 1e-5 * (1.0 + fabs(want)));
            }
        }
        for (int t = 0; t < 4; t++) {
            if (s == 0) {
                ref[t] = got[t];
            } else {
                free(got[t]);
            }
        }
        vkt_scope_end(test_dev);
    }
    /* a 1-D x: (in) -> (out), row 0 of the 2-D result */
    vkt_scope_begin(test_dev);
    vkt_tensor *x1 = vkt_tensor_new_1d(test_dev, VKT_F32, IN);
    assert_int_equal(vkt_tensor_upload(x1, xs, IN * sizeof(float)), VKT_OK);
    vkt_tensor *y1 = vkt_linear_forward(&fc, x1);
    assert_non_null(y1);
    assert_int_equal(vkt_tensor_ndim(y1), 1);
    assert_int_equal(vkt_tensor_dim(y1, 0), OUT);
    float *g1 = download(y1);
    for (int o = 0; o < OUT; o++) {
        assert_true(fabsf(g1[o] - ref[0][o]) <= 1e-6f * (1.0f + fabsf(ref[0][o])));
    }
    free(g1);
    /* a wrong feature count names both shapes */
    vkt_tensor *bad = vkt_tensor_new(test_dev, VKT_F32, 3, (int64_t[]){2, 3, 4});
    assert_null(vkt_linear_forward(&fc, bad));
    assert_non_null(strstr(vkt_last_error(), "[2, 3, 4] f32"));
    assert_non_null(strstr(vkt_last_error(), "[7, 5] f32"));
    vkt_scope_end(test_dev);
    for (int t = 0; t < 4; t++) {
        free(ref[t]);
    }
    free(W);
    free(bias);
    vkt_model_destroy(m);
}

/* y = x + fc2(relu(fc1(x))), loss = sum(y * c): gradients against a double-precision CPU run. */
static void residual_gradients_match_cpu(void **state)
{
    (void)state;
    enum { B = 3, D = 5, H = 7 };
    vkt_model *m = NULL;
    vkt_linear_layer fc1, fc2;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = 11}, &m), VKT_OK);
    assert_int_equal(vkt_linear_init(m, "fc1", D, H, true, &fc1), VKT_OK);
    assert_int_equal(vkt_linear_init(m, "fc2", H, D, true, &fc2), VKT_OK);
    assert_int_equal(vkt_model_build(m), VKT_OK);
    float xs[B * D], cs[B * D];
    for (int i = 0; i < B * D; i++) {
        xs[i] = (float)sin(1.3 * i + 0.2);
        cs[i] = (float)cos(0.7 * i);
    }
    float *W1 = download(vkt_param_tensor(fc1.weight)), *b1 = download(vkt_param_tensor(fc1.bias));
    float *W2 = download(vkt_param_tensor(fc2.weight)), *b2 = download(vkt_param_tensor(fc2.bias));

    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_2d(test_dev, VKT_F32, B, D);
    vkt_tensor *c = vkt_tensor_new_2d(test_dev, VKT_F32, B, D);
    assert_int_equal(vkt_tensor_upload(x, xs, sizeof xs), VKT_OK);
    assert_int_equal(vkt_tensor_upload(c, cs, sizeof cs), VKT_OK);
    vkt_tensor_set_requires_grad(x, true);
    vkt_tensor *y = vkt_add(x, vkt_linear_forward(&fc2, vkt_relu(vkt_linear_forward(&fc1, x))));
    vkt_tensor *loss = vkt_sum(vkt_mul(y, c));
    assert_non_null(loss);
    assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
    assert_int_equal(vkt_backward(loss), VKT_OK);
    float *gy = download(y);
    float *gW1 = download(vkt_tensor_grad(vkt_param_tensor(fc1.weight)));
    float *gb1 = download(vkt_tensor_grad(vkt_param_tensor(fc1.bias)));
    float *gW2 = download(vkt_tensor_grad(vkt_param_tensor(fc2.weight)));
    float *gb2 = download(vkt_tensor_grad(vkt_param_tensor(fc2.bias)));
    float *gx = download(vkt_tensor_grad(x));
    vkt_scope_end(test_dev);

    double h1[B][H], r[B][H], dh1[B][H], want_y[B][D];
    double dW1[H][D] = {{0}}, db1[H] = {0}, dW2[D][H] = {{0}}, db2[D] = {0}, dx[B][D];
    for (int bi = 0; bi < B; bi++) {
        for (int j = 0; j < H; j++) {
            h1[bi][j] = b1[j];
            for (int k = 0; k < D; k++) {
                h1[bi][j] += (double)xs[bi * D + k] * W1[j * D + k];
            }
            r[bi][j] = h1[bi][j] > 0 ? h1[bi][j] : 0;
        }
        for (int o = 0; o < D; o++) {
            want_y[bi][o] = xs[bi * D + o] + b2[o];
            for (int j = 0; j < H; j++) {
                want_y[bi][o] += r[bi][j] * W2[o * H + j];
            }
        }
    }
    for (int bi = 0; bi < B; bi++) {
        for (int j = 0; j < H; j++) {
            double dr = 0;
            for (int o = 0; o < D; o++) {
                dr += (double)cs[bi * D + o] * W2[o * H + j];
                dW2[o][j] += (double)cs[bi * D + o] * r[bi][j];
            }
            dh1[bi][j] = h1[bi][j] > 0 ? dr : 0;
            db1[j] += dh1[bi][j];
            for (int k = 0; k < D; k++) {
                dW1[j][k] += dh1[bi][j] * xs[bi * D + k];
            }
        }
        for (int o = 0; o < D; o++) {
            db2[o] += cs[bi * D + o];
            dx[bi][o] = cs[bi * D + o];
            for (int j = 0; j < H; j++) {
                dx[bi][o] += dh1[bi][j] * W1[j * D + o];
            }
        }
    }
#define CLOSE(got, want) assert_true(fabs((double)(got) - (want)) <= 1e-5 + 1e-4 * fabs(want))
    for (int i = 0; i < B * D; i++) {
        CLOSE(gy[i], want_y[i / D][i % D]);
        CLOSE(gx[i], dx[i / D][i % D]);
    }
    for (int i = 0; i < H * D; i++) {
        CLOSE(gW1[i], dW1[i / D][i % D]);
        CLOSE(gW2[i], dW2[i / H][i % H]);
    }
    for (int i = 0; i < H; i++) {
        CLOSE(gb1[i], db1[i]);
    }
    for (int i = 0; i < D; i++) {
        CLOSE(gb2[i], db2[i]);
    }
#undef CLOSE
    free(W1), free(b1), free(W2), free(b2), free(gy), free(gW1), free(gb1), free(gW2), free(gb2),
        free(gx);

    /* one block: zero-grad is one fill, an SGD step and an Adam step one dispatch each */
    vkt_optimizer *sgd = NULL, *adam = NULL;
    assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_SGD,
                                                               .momentum = 0.9f},
                                          &sgd),
                     VKT_OK);
    assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM}, &adam),
                     VKT_OK);
    vkt_device_finish(test_dev);
    vkt_device_stats st;
    vkt_device_reset_stats(test_dev);
    assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
    vkt_device_get_stats(test_dev, &st);
    assert_int_equal(st.transfers, 1);
    assert_int_equal(st.dispatches, 0);
    vkt_optimizer *opts[2] = {sgd, adam};
    for (int i = 0; i < 2; i++) {
        vkt_device_reset_stats(test_dev);
        assert_int_equal(vkt_optimizer_step(opts[i]), VKT_OK);
        vkt_device_get_stats(test_dev, &st);
        assert_int_equal(st.dispatches, 1);
        assert_int_equal(st.transfers, 0);
    }
    vkt_optimizer_destroy(sgd);
    vkt_optimizer_destroy(adam);
    vkt_model_destroy(m);
}

/* mean, standard deviation and bounds of n draws */
static void stats(const float *v, int64_t n, double *mean, double *std, double *lo, double *hi)
{
    double s = 0, sq = 0;
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += v[i];
        sq += (double)v[i] * v[i];
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
    *mean = s / (double)n;
    *std = sqrt(sq / (double)n - *mean * *mean);
}

static void init_statistics(void **state)
{
    (void)state;
    enum { O = 128, I = 64, K = 3 };
    const int64_t shape[4] = {O, I, K, K}; /* a conv weight: fan_in 576, fan_out 1152 */
    const int64_t n = (int64_t)O * I * K * K;
    const double fan_in = I * K * K, fan_out = O * K * K;
    struct {
        vkt_init init;
        double mean, std, bound; /* bound 0: unbounded (normal) */
    } cases[] = {
        {vkt_init_uniform(-2.0f, 3.0f), 0.5, 5.0 / sqrt(12.0), 2.5},
        {vkt_init_normal(1.0f, 2.0f), 1.0, 2.0, 0},
        {vkt_init_xavier_uniform(1.0f), 0, sqrt(2.0 / (fan_in + fan_out)),
         sqrt(6.0 / (fan_in + fan_out))},
        {vkt_init_xavier_normal(2.0f), 0, 2.0 * sqrt(2.0 / (fan_in + fan_out)), 0},
        {vkt_init_kaiming_uniform(0, VKT_FAN_IN, VKT_NONLIN_RELU), 0, sqrt(2.0 / fan_in),
         sqrt(2.0) * sqrt(3.0 / fan_in)},
        {vkt_init_kaiming_uniform(sqrtf(5.0f), VKT_FAN_IN, VKT_NONLIN_LEAKY_RELU), 0,
         1.0 / sqrt(3.0 * fan_in), 1.0 / sqrt(fan_in)}, /* torch's Conv/Linear default */
        {vkt_init_kaiming_normal(0, VKT_FAN_OUT, VKT_NONLIN_RELU), 0, sqrt(2.0 / fan_out), 0},
        {vkt_init_kaiming_normal(0.1f, VKT_FAN_IN, VKT_NONLIN_LEAKY_RELU), 0,
         sqrt(2.0 / 1.01) / sqrt(fan_in), 0},
        {vkt_init_kaiming_normal(0, VKT_FAN_IN, VKT_NONLIN_TANH), 0, 5.0 / 3.0 / sqrt(fan_in), 0},
    };
    float *v = malloc((size_t)n * sizeof *v);
    assert_non_null(v);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        uint64_t seed = 123 + c;
        assert_int_equal(vkt_init_fill(&cases[c].init, 4, shape, &seed, v), VKT_OK);
        assert_true(seed != 123 + c); /* the generator advanced */
        double mean, std, lo, hi;
        stats(v, n, &mean, &std, &lo, &hi);
        double sd = cases[c].std;
        if (fabs(mean - cases[c].mean) > 0.02 * sd + 1e-6 || fabs(std / sd - 1.0) > 0.01) {
            fail_msg("case %zu: mean %g std %g, want %g %g", c, mean, std, cases[c].mean, sd);
        }
        if (cases[c].bound > 0) {
            double b = cases[c].bound, mid = cases[c].mean;
            assert_true(lo >= mid - b - 1e-6 && hi <= mid + b + 1e-6);
            assert_true(lo < mid - 0.99 * b && hi > mid + 0.99 * b);
        } else {
            assert_true(hi - lo > 6.0 * sd); /* normal: tails beyond 3 sigma */
        }
    }
    free(v);
    float g[1];
    assert_float_equal(vkt_init_gain(VKT_NONLIN_RELU, 0), sqrt(2.0), 1e-6);
    assert_float_equal(vkt_init_gain(VKT_NONLIN_LEAKY_RELU, 0.01f), sqrt(2.0 / 1.0001), 1e-6);
    assert_float_equal(vkt_init_gain(VKT_NONLIN_TANH, 0), 5.0 / 3.0, 1e-6);
    assert_float_equal(vkt_init_gain(VKT_NONLIN_LINEAR, 0), 1.0, 0);
    uint64_t seed = 0;
    vkt_init c5 = vkt_init_constant(5.0f);
    assert_int_equal(vkt_init_fill(&c5, 1, (int64_t[]){1}, &seed, g), VKT_OK);
    assert_true(g[0] == 5.0f);
    vkt_init xu = vkt_init_xavier_uniform(1.0f);
    assert_int_equal(vkt_init_fill(&xu, 1, (int64_t[]){1}, &seed, g), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "2 or more"));
}

static void registration_errors_are_clear(void **state)
{
    (void)state;
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){0}, &m), VKT_OK);
    assert_int_equal(vkt_model_build(m), VKT_INVALID_ARGUMENT); /* nothing registered */
    assert_non_null(strstr(vkt_last_error(), "no parameters"));
    vkt_linear_layer fc;
    assert_int_equal(vkt_linear_init(m, "fc", 3, 4, false, &fc), VKT_OK);
    assert_null(fc.bias);
    int64_t s2[2] = {4, 3};
    _Static_assert(VKT_MAX_DIMS == 6, "the too-many-dimensions case below says 7");
    struct {
        const char *name;
        int ndim;
        const int64_t *shape;
        const char *phrase;
    } bad[] = {
        {"fc.weight", 2, s2, "\"fc.weight\" is already registered"},
        {"fc", 2, s2, "clash"},
        {"fc.weight.x", 2, s2, "clash"},
        {"a..b", 2, s2, "not a valid name"},
        {"", 2, s2, "not a valid name"},
        {".a", 2, s2, "not a valid name"},
        {"a b", 2, s2, "not a valid name"},
        {"w", 0, NULL, "has 0 dimensions"},
        {"w", VKT_MAX_DIMS + 1, (int64_t[]){1, 1, 1, 1, 1, 1, 1}, "has 7 dimensions"},
        {"w", 2, (int64_t[]){4, 0}, "dimension 1 is 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vkt_clear_error();
        assert_null(vkt_model_add_param(m, bad[i].name, bad[i].ndim, bad[i].shape, NULL));
        if (!strstr(vkt_last_error(), bad[i].phrase)) {
            fail_msg("\"%s\": %s", bad[i].name, vkt_last_error());
        }
    }
    vkt_init xu = vkt_init_xavier_uniform(1.0f), inverted = vkt_init_uniform(1.0f, 0.0f);
    assert_null(vkt_model_add_param(m, "v", 1, (int64_t[]){3}, &xu));
    assert_non_null(strstr(vkt_last_error(), "\"v\": fan in and fan out"));
    assert_null(vkt_model_add_param(m, "v", 1, (int64_t[]){3}, &inverted));
    assert_non_null(strstr(vkt_last_error(), "uniform(1, 0)"));
    assert_null(vkt_model_add_buffer(m, "v", (vkt_dtype)7, 1, (int64_t[]){3}, NULL));
    assert_non_null(strstr(vkt_last_error(), "neither f32 nor i32"));
    assert_int_equal(vkt_linear_init(m, "fc2", 0, 4, true, &fc), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "Linear(0, 4)"));
    assert_int_equal(vkt_model_num_tensors(m), 1); /* nothing half-registered */
    /* a model without a layer list has no vkt_model_forward */
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_2d(test_dev, VKT_F32, 2, 3);
    assert_null(vkt_model_forward(m, x));
    assert_non_null(strstr(vkt_last_error(), "no layer list"));
    vkt_scope_end(test_dev);
    /* after the build the set is fixed */
    assert_int_equal(vkt_model_build(m), VKT_OK);
    assert_int_equal(vkt_model_build(m), VKT_OK);
    assert_null(vkt_model_add_param(m, "late", 1, (int64_t[]){3}, NULL));
    assert_non_null(strstr(vkt_last_error(), "\"late\": the model is already built"));
    assert_null(vkt_model_add_buffer(m, "late", VKT_F32, 1, (int64_t[]){3}, NULL));
    assert_non_null(strstr(vkt_last_error(), "already built"));
    assert_int_equal(vkt_linear_init(m, "fc3", 3, 4, true, &fc), VKT_INVALID_ARGUMENT);
    vkt_model_destroy(m);
}

static void state_dict_round_trip_and_strict_errors(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "/tmp/vkt_test_params_%d.safetensors", (int)getpid());
    vkt_linear_layer a1, a2, b1, b2;
    vkt_model *a = user_model(1, &a1, &a2), *b = user_model(2, &b1, &b2);
    int32_t seven = 7;
    assert_int_equal(vkt_tensor_upload(vkt_param_tensor(vkt_model_find(a, "norm.num_batches_tracked")),
                                       &seven, 4),
                     VKT_OK);
    vkt_dict *sd = vkt_dict_create();
    assert_int_equal(vkt_model_state_dict(a, sd), VKT_OK);
    assert_int_equal(vkt_dict_count(sd), 10);
    assert_string_equal(vkt_dict_key(sd, 0), "scale"); /* torch's order */
    int nd = -1;
    const float *nbt = vkt_dict_get_floats(sd, "norm.num_batches_tracked", &nd, NULL);
    assert_non_null(nbt);
    assert_int_equal(nd, 0);
    assert_true(nbt[0] == 7.0f);
    assert_int_equal(vkt_checkpoint_save(sd, path), VKT_OK);
    vkt_dict_destroy(sd);
    assert_int_equal(vkt_model_load_safetensors(b, path), VKT_OK);
    for (uint32_t i = 0; i < vkt_model_num_tensors(a); i++) {
        float *va = download(vkt_model_tensor(a, i)), *vb = download(vkt_model_tensor(b, i));
        assert_memory_equal(va, vb, vkt_tensor_bytes(vkt_model_tensor(a, i)));
        free(va);
        free(vb);
    }
    vkt_model_destroy(b);

    /* strict: a wrong shape, a missing tensor, an unexpected one; each named, nothing loaded */
    vkt_model *c = NULL;
    vkt_linear_layer l;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){0}, &c), VKT_OK);
    assert_int_equal(vkt_linear_init(c, "fc1", 6, 7, true, &l), VKT_OK);
    assert_int_equal(vkt_model_load_safetensors(c, path), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "\"fc1.weight\" is [7, 5] but the model's is [7, 6]"));
    assert_non_null(strstr(vkt_last_error(), path));
    vkt_model_destroy(c);
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){0}, &c), VKT_OK);
    assert_int_equal(vkt_linear_init(c, "fc1", 5, 7, true, &l), VKT_OK);
    assert_non_null(vkt_model_add_param(c, "head.weight", 1, (int64_t[]){2}, NULL));
    assert_int_equal(vkt_model_load_safetensors(c, path), VKT_NOT_FOUND);
    assert_non_null(strstr(vkt_last_error(), "\"head.weight\" ([2] in the model) is missing"));
    vkt_model_destroy(c);
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){0}, &c), VKT_OK);
    assert_int_equal(vkt_linear_init(c, "fc1", 5, 7, true, &l), VKT_OK);
    assert_int_equal(vkt_model_load_safetensors(c, path), VKT_NOT_FOUND);
    assert_non_null(strstr(vkt_last_error(), "\"scale\" is not a tensor of the model"));
    float *w = download(vkt_param_tensor(l.weight)), *wa = download(vkt_param_tensor(a1.weight));
    assert_memory_not_equal(w, wa, 35 * 4);
    free(w);
    free(wa);
    vkt_model_destroy(c);
    unlink(path);
    assert_int_equal(vkt_model_load_safetensors(a, path), VKT_NOT_FOUND);
    vkt_model_destroy(a);
}

/* A state_dict written by PyTorch loads with no renaming, and the custom forward and backward
 * agree with torch's. */
static void torch_file_loads(void **state)
{
    (void)state;
    char model_path[512], io_path[512];
    snprintf(model_path, sizeof model_path, "%s/torch_residual.safetensors", fixture_dir);
    snprintf(io_path, sizeof io_path, "%s/torch_residual_io.safetensors", fixture_dir);
    vkt_model *m = NULL;
    vkt_linear_layer fc1, fc2;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = 99}, &m), VKT_OK);
    assert_int_equal(vkt_linear_init(m, "fc1", 5, 7, true, &fc1), VKT_OK);
    assert_int_equal(vkt_linear_init(m, "fc2", 7, 5, true, &fc2), VKT_OK);
    assert_int_equal(vkt_model_load_safetensors(m, model_path), VKT_OK);
    vkt_dict *io = NULL;
    assert_int_equal(vkt_checkpoint_load(io_path, &io), VKT_OK);
    const float *xs = vkt_dict_get_floats(io, "x", NULL, NULL);
    assert_non_null(xs);
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_2d(test_dev, VKT_F32, 3, 5);
    assert_int_equal(vkt_tensor_upload(x, xs, 15 * 4), VKT_OK);
    vkt_tensor_set_requires_grad(x, true);
    vkt_tensor *y = vkt_add(x, vkt_linear_forward(&fc2, vkt_relu(vkt_linear_forward(&fc1, x))));
    assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
    assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, y))), VKT_OK);
    struct {
        const char *key;
        vkt_tensor *t;
    } want[] = {
        {"y", y},
        {"grad/x", vkt_tensor_grad(x)},
        {"grad/fc1.weight", vkt_tensor_grad(vkt_param_tensor(fc1.weight))},
        {"grad/fc1.bias", vkt_tensor_grad(vkt_param_tensor(fc1.bias))},
        {"grad/fc2.weight", vkt_tensor_grad(vkt_param_tensor(fc2.weight))},
        {"grad/fc2.bias", vkt_tensor_grad(vkt_param_tensor(fc2.bias))},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const float *ref = vkt_dict_get_floats(io, want[i].key, NULL, NULL);
        assert_non_null(ref);
        float *got = download(want[i].t);
        for (int64_t j = 0; j < vkt_tensor_numel(want[i].t); j++) {
            if (fabsf(got[j] - ref[j]) > 1e-5f + 1e-5f * fabsf(ref[j])) {
                fail_msg("%s[%lld]: %g, torch %g", want[i].key, (long long)j, got[j], ref[j]);
            }
        }
        free(got);
    }
    vkt_scope_end(test_dev);
    vkt_dict_destroy(io);
    vkt_model_destroy(m);
}

/* nn.Sequential(Conv2d(2, 3, 3, padding=1), BatchNorm2d(3), ReLU(), Flatten(), Linear(48, 5)) of
 * tools/make_torch_bn_safetensors.py, under torch's names. */
typedef struct bn_net {
    vkt_model *m;
    vkt_conv2d_layer conv;
    vkt_batch_norm_layer bn;
    vkt_linear_layer fc;
} bn_net;

static void bn_net_init(bn_net *n, uint64_t seed)
{
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = seed}, &n->m), VKT_OK);
    vkt_conv2d_desc cd = {.in_channels = 2, .out_channels = 3, .kernel = {3, 3}, .padding = {1, 1}};
    assert_int_equal(vkt_conv2d_init(n->m, "0", &cd, &n->conv), VKT_OK);
    assert_int_equal(vkt_batch_norm2d_init(n->m, "1", &(vkt_batch_norm_desc){.num_features = 3},
                                           &n->bn),
                     VKT_OK);
    assert_int_equal(vkt_linear_init(n->m, "4", 48, 5, true, &n->fc), VKT_OK);
}

static vkt_tensor *bn_net_forward(const bn_net *n, const vkt_tensor *x)
{
    vkt_tensor *h = vkt_relu(vkt_batch_norm_forward(&n->bn, vkt_conv2d_forward(&n->conv, x)));
    return vkt_linear_forward(&n->fc, vkt_flatten(h, 1, -1));
}

static int32_t bn_net_batches_tracked(const bn_net *n)
{
    int32_t v = -1;
    assert_int_equal(vkt_tensor_download(vkt_param_tensor(n->bn.num_batches_tracked), &v, 4),
                     VKT_OK);
    return v;
}

/* Fine-tuning from PyTorch: safetensors.torch.save_file(model.state_dict()) of a CNN with batch
 * norm (F32 weights, I64 num_batches_tracked) loads strictly into the same vkt model, whose
 * eval-mode output is torch's. vkt's own save of it says I64 for num_batches_tracked, as torch's
 * load_state_dict expects, and loads back to the same values. */
static void torch_bn_file_loads(void **state)
{
    (void)state;
    char model_path[512], io_path[512], path[256];
    snprintf(model_path, sizeof model_path, "%s/torch_bn.safetensors", fixture_dir);
    snprintf(io_path, sizeof io_path, "%s/torch_bn_io.safetensors", fixture_dir);
    snprintf(path, sizeof path, "/tmp/vkt_test_params_bn_%d.safetensors", (int)getpid());
    bn_net a, b;
    bn_net_init(&a, 5);
    if (vkt_model_load_safetensors(a.m, model_path) != VKT_OK) {
        fail_msg("%s", vkt_last_error());
    }
    assert_int_equal(bn_net_batches_tracked(&a), 3);
    vkt_dict *io = NULL;
    assert_int_equal(vkt_checkpoint_load(io_path, &io), VKT_OK);
    const float *xs = vkt_dict_get_floats(io, "x", NULL, NULL);
    const float *want = vkt_dict_get_floats(io, "logits", NULL, NULL);
    assert_non_null(xs);
    assert_non_null(want);
    vkt_model_train(a.m, false);
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, 4, (int64_t[]){2, 2, 4, 4});
    assert_int_equal(vkt_tensor_upload(x, xs, 64 * 4), VKT_OK);
    vkt_tensor *y = bn_net_forward(&a, x);
    assert_non_null(y);
    assert_int_equal(vkt_tensor_numel(y), 10);
    float *got = download(y);
    for (int j = 0; j < 10; j++) {
        if (fabsf(got[j] - want[j]) > 1e-5f) {
            fail_msg("logits[%d]: %.8g, torch %.8g", j, got[j], want[j]);
        }
    }
    free(got);
    vkt_scope_end(test_dev);
    vkt_dict_destroy(io);

    /* vkt's save: num_batches_tracked as I64 (torch's dtype), everything else F32 */
    vkt_dict *sd = vkt_dict_create();
    assert_int_equal(vkt_model_state_dict(a.m, sd), VKT_OK);
    assert_true(vkt_dict_is_ints(sd, "1.num_batches_tracked"));
    assert_false(vkt_dict_is_ints(sd, "1.running_var"));
    vkt_dict_destroy(sd);
    assert_int_equal(vkt_model_save_safetensors(a.m, path), VKT_OK);
    /* a flat file: its tensors are the state dict's keys in torch's order, nothing else, so
     * torch's load_state_dict(load_file(path)) takes it as it is */
    vkt_dict *flat = NULL;
    assert_int_equal(vkt_checkpoint_load(path, &flat), VKT_OK);
    assert_int_equal(vkt_dict_count(flat), vkt_model_num_tensors(a.m));
    for (uint32_t i = 0; i < vkt_model_num_tensors(a.m); i++) {
        assert_string_equal(vkt_dict_key(flat, i), vkt_model_tensor_name(a.m, i));
    }
    vkt_dict_destroy(flat);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char head[4096] = {0};
    assert_true(fread(head, 1, sizeof head - 1, f) > 8);
    fclose(f);
    assert_non_null(strstr(head + 8, "\"1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[]"));
    assert_non_null(strstr(head + 8, "\"1.running_mean\":{\"dtype\":\"F32\",\"shape\":[3]"));
    bn_net_init(&b, 6);
    if (vkt_model_load_safetensors(b.m, path) != VKT_OK) {
        fail_msg("%s", vkt_last_error());
    }
    assert_int_equal(bn_net_batches_tracked(&b), 3);
    for (uint32_t i = 0; i < vkt_model_num_tensors(a.m); i++) {
        float *va = download(vkt_model_tensor(a.m, i)), *vb = download(vkt_model_tensor(b.m, i));
        assert_memory_equal(va, vb, vkt_tensor_bytes(vkt_model_tensor(a.m, i)));
        free(va);
        free(vb);
    }
    unlink(path);
    vkt_model_destroy(b.m);
    vkt_model_destroy(a.m);
}

/* F16, BF16 and F64 tensors torch saved read as torch's .float() makes them, bit for bit. */
static void torch_dtypes_convert_as_torch(void **state)
{
    (void)state;
    char io_path[512];
    snprintf(io_path, sizeof io_path, "%s/torch_bn_io.safetensors", fixture_dir);
    vkt_dict *io = NULL;
    if (vkt_checkpoint_load(io_path, &io) != VKT_OK) {
        fail_msg("%s", vkt_last_error());
    }
    static const char *const names[] = {"f16", "bf16", "f64"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char ref_key[32];
        snprintf(ref_key, sizeof ref_key, "%s_as_f32", names[i]);
        int nd = 0, rnd = 0;
        int64_t shape[VKT_MAX_DIMS], rshape[VKT_MAX_DIMS];
        const float *v = vkt_dict_get_floats(io, names[i], &nd, shape);
        const float *ref = vkt_dict_get_floats(io, ref_key, &rnd, rshape);
        assert_non_null(v);
        assert_non_null(ref);
        assert_int_equal(nd, rnd);
        int64_t n = 1;
        for (int k = 0; k < nd; k++) {
            assert_int_equal(shape[k], rshape[k]);
            n *= shape[k];
        }
        for (int64_t j = 0; j < n; j++) {
            if (memcmp(&v[j], &ref[j], 4) != 0) {
                fail_msg("%s[%lld]: %.9g, torch's .float() %.9g", names[i], (long long)j, v[j],
                         ref[j]);
            }
        }
        assert_false(vkt_dict_is_ints(io, names[i]));
    }
    vkt_dict_destroy(io);
}

/* Layers tag what an optimizer group needs (biases, norms); a buffer has no role. */
static void layers_tag_param_roles(void **state)
{
    (void)state;
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){0}, &m), VKT_OK);
    vkt_linear_layer fc;
    vkt_conv2d_layer conv;
    vkt_batch_norm_layer bn;
    assert_int_equal(vkt_linear_init(m, "fc", 3, 4, true, &fc), VKT_OK);
    assert_int_equal(vkt_conv2d_init(m, "conv", &(vkt_conv2d_desc){.in_channels = 1,
                                                                   .out_channels = 2,
                                                                   .kernel = {3, 3}},
                                     &conv),
                     VKT_OK);
    assert_int_equal(vkt_batch_norm2d_init(m, "bn", &(vkt_batch_norm_desc){.num_features = 2}, &bn),
                     VKT_OK);
    assert_int_equal(vkt_param_role_of(fc.weight), VKT_PARAM_WEIGHT);
    assert_int_equal(vkt_param_role_of(fc.bias), VKT_PARAM_BIAS);
    assert_int_equal(vkt_param_role_of(conv.weight), VKT_PARAM_WEIGHT);
    assert_int_equal(vkt_param_role_of(conv.bias), VKT_PARAM_BIAS);
    assert_int_equal(vkt_param_role_of(bn.weight), VKT_PARAM_NORM);
    assert_int_equal(vkt_param_role_of(bn.bias), VKT_PARAM_NORM);
    assert_int_equal(vkt_param_set_role(fc.weight, VKT_PARAM_EMBEDDING), VKT_OK);
    assert_int_equal(vkt_param_role_of(fc.weight), VKT_PARAM_EMBEDDING);
    assert_int_equal(vkt_param_set_role(bn.running_mean, VKT_PARAM_NORM), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "bn.running_mean is a buffer"));
    assert_int_equal(vkt_param_set_role(fc.bias, VKT_PARAM_ROLE_COUNT), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "unknown role"));
    vkt_model_destroy(m);
}

int main(int argc, char **argv)
{
    fixture_dir = argc > 1 ? argv[1] : "tests/fixtures";
    const struct CMUnitTest tests[] = {
        VKT_TEST(user_model_names_order_and_blocks),
        VKT_TEST(residual_gradients_match_cpu),
        VKT_TEST(linear_on_nd_input),
        VKT_TEST(init_statistics),
        VKT_TEST(registration_errors_are_clear),
        VKT_TEST(layers_tag_param_roles),
        VKT_TEST(state_dict_round_trip_and_strict_errors),
        VKT_TEST(torch_file_loads),
        VKT_TEST(torch_bn_file_loads),
        VKT_TEST(torch_dtypes_convert_as_torch),
    };
    return VKT_RUN_GROUP(tests);
}
