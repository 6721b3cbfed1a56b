/*
 * test_norm.c — batch norm, layer norm, RMSNorm, dropout and the Philox stream
 * (src/ops/batch_norm.c, src/ops/layer_norm.c, src/ops/dropout.c, src/ops/random.c) and the
 * LayerNorm / RMSNorm layers (src/nn/layer_norm.c): the reference and finite-difference checks
 * (src/check/check_norm.c, src/check/check_grad.c), Philox known answers, dropout and
 * random-number statistics, reproducibility, the identity cases, constant rows, bitwise
 * determinism, error messages, and agreement with PyTorch within 1e-4 relative — BatchNorm1d/2d
 * (forward, gradients, running statistics over three steps), F.layer_norm and a hand-composed
 * RMSNorm (forward, dx, dweight, dbias) — from tests/fixtures/torch_norm.txt (argv[1]; made by
 * tools/make_torch_norm_fixtures.py, no PyTorch needed here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "test_util.h"

static void norm_matches_reference(void **state)
{
    (void)state;
    test_run_checks("norm");
}

static void philox_known_answers_on_cpu(void **state)
{
    (void)state;
    uint32_t out[4];
    vkt__ref_philox(out, (uint32_t[4]){0, 0, 0, 0}, (uint32_t[2]){0, 0});
    assert_int_equal(out[0], 0x6627e8d5);
    assert_int_equal(out[3], 0x9b00dbd8);
    vkt__ref_philox(out, (uint32_t[4]){0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                    (uint32_t[2]){0xa4093822, 0x299f31d0});
    assert_int_equal(out[0], 0xd16cfe09);
    assert_int_equal(out[1], 0x94fdcceb);
    assert_int_equal(out[2], 0x5001e420);
    assert_int_equal(out[3], 0x24126ea1);
}

/* Mask mean within 5 binomial standard deviations of 1 - p; kept values exactly x / (1 - p). */
static void dropout_statistics_and_scale(void **state)
{
    (void)state;
    const int64_t n = 200000;
    static const float ps[] = {0.1f, 0.3f, 0.5f, 0.8f};
    float *x = test_ramp(n, 37, 0);
    vkt_scope_begin(test_dev);
    vkt_tensor *tx = test_upload(VKT_F32, x, 1, &n);
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        float p = ps[k];
        float scale = (float)(1.0 / (1.0 - (double)p));
        float *y = test_fetch(vkt_dropout(tx, p, 1234 + k, 0, true));
        int64_t kept = 0;
        for (int64_t i = 0; i < n; i++) {
            if (y[i] != 0.0f) {
                assert_true(y[i] == x[i] * scale);
                kept++;
            }
        }
        double mean = (double)kept / (double)n, sd = sqrt(p * (1.0 - p) / (double)n);
        fprintf(stderr, "p %.1f: kept %.5f (want %.5f +- %.5f)\n", p, mean, 1.0 - p, 5 * sd);
        assert_true(fabs(mean - (1.0 - p)) < 5 * sd);
        free(y);
    }
    vkt_scope_end(test_dev);
    free(x);
}

/* Same (seed, offset): same mask; element i at offset o + 10 is element i + 10 at offset o; a
 * different seed gives a different mask. */
static void dropout_is_reproducible_from_seed_and_offset(void **state)
{
    (void)state;
    const int64_t n = 5000;
    float *x = test_ramp(n, 37, 0);
    vkt_scope_begin(test_dev);
    vkt_tensor *tx = test_upload(VKT_F32, x, 1, &n);
    float *a = test_fetch(vkt_dropout(tx, 0.5f, 99, 1u << 20, true));
    float *b = test_fetch(vkt_dropout(tx, 0.5f, 99, 1u << 20, true));
    float *c = test_fetch(vkt_dropout(tx, 0.5f, 99, (1u << 20) + 10, true));
    float *d = test_fetch(vkt_dropout(tx, 0.5f, 100, 1u << 20, true));
    float *u = test_fetch(vkt_rand_uniform(test_dev, 1, &n, 99, 1u << 20));
    assert_memory_equal(a, b, (size_t)n * 4);
    int64_t differ = 0;
    for (int64_t i = 0; i < n; i++) {
        differ += (a[i] != 0) != (d[i] != 0);
        /* the mask is the uniform stream at the same (seed, offset) */
        assert_int_equal(a[i] != 0, u[i] >= 0.5f);
        if (i + 10 < n) {
            assert_int_equal(c[i] != 0, a[i + 10] != 0);
        }
    }
    assert_true(differ > n / 4);
    vkt_scope_end(test_dev);
    free(a);
    free(b);
    free(c);
    free(d);
    free(u);
    free(x);
}

/* p = 0 and eval mode give a copy (a new tensor) through which gradients flow; p = 1 gives
 * zeros, Inf and NaN included. */
static void dropout_identity_and_all_dropped(void **state)
{
    (void)state;
    int64_t n = 6;
    float x[6] = {1, -2, 3, INFINITY, NAN, 0.5f};
    float dy[6] = {0.5f, 1, -1, 2, 3, 4};
    vkt_scope_begin(test_dev);
    vkt_tensor *tx = test_upload(VKT_F32, x, 1, &n), *tdy = test_upload(VKT_F32, dy, 1, &n);
    vkt_tensor_set_requires_grad(tx, true);
    for (int mode = 0; mode < 2; mode++) {
        vkt_tensor *y =
            mode ? vkt_dropout(tx, 0.7f, 1, 0, false) : vkt_dropout(tx, 0.0f, 1, 0, true);
        assert_non_null(y);
        assert_ptr_not_equal(y, tx);
        float *got = test_fetch(y);
        assert_memory_equal(got, x, sizeof x);
        free(got);
        assert_int_equal(vkt_zero_grad(tx), VKT_OK);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, tdy))), VKT_OK);
        float *g = test_fetch(vkt_tensor_grad(tx));
        assert_memory_equal(g, dy, sizeof dy);
        free(g);
    }
    float *z = test_fetch(vkt_dropout(tx, 1.0f, 5, 0, true));
    for (int i = 0; i < 6; i++) {
        assert_true(z[i] == 0.0f && !signbit(z[i]));
    }
    free(z);
    vkt_scope_end(test_dev);
}

/* Uniform mean 1/2, variance 1/12; normal mean 0, variance 1, both within 6 standard errors. */
static void rand_statistics(void **state)
{
    (void)state;
    const int64_t n = 300000;
    vkt_scope_begin(test_dev);
    float *u = test_fetch(vkt_rand_uniform(test_dev, 1, &n, 2024, 0));
    float *z = test_fetch(vkt_rand_normal(test_dev, 1, &n, 2024, 0));
    double su = 0, su2 = 0, sz = 0, sz2 = 0, sz4 = 0;
    for (int64_t i = 0; i < n; i++) {
        assert_true(u[i] >= 0.0f && u[i] < 1.0f);
        assert_true(isfinite(z[i]));
        su += u[i];
        su2 += (u[i] - 0.5) * (u[i] - 0.5);
        sz += z[i];
        sz2 += (double)z[i] * z[i];
        sz4 += (double)z[i] * z[i] * z[i] * z[i];
    }
    double mu = su / n, vu = su2 / n, mz = sz / n, vz = sz2 / n, kz = sz4 / n;
    fprintf(stderr, "uniform mean %.5f var %.5f; normal mean %.5f var %.5f 4th moment %.4f\n", mu,
            vu, mz, vz, kz);
    assert_true(fabs(mu - 0.5) < 6 * sqrt(1.0 / 12 / n));
    assert_true(fabs(vu - 1.0 / 12) < 6 * sqrt(1.0 / 180 / n));
    assert_true(fabs(mz) < 6 * sqrt(1.0 / n));
    assert_true(fabs(vz - 1.0) < 6 * sqrt(2.0 / n));
    assert_true(fabs(kz - 3.0) < 6 * sqrt(96.0 / n)); /* a normal's 4th moment is 3, var 96 */
    vkt_scope_end(test_dev);
    free(u);
    free(z);
}

/* A 100k-per-channel forward and backward give the same bits twice. */
static void batch_norm_is_bitwise_deterministic(void **state)
{
    (void)state;
    int64_t shape[4] = {128, 3, 28, 28}, c = 3;
    int64_t n = 128 * 3 * 28 * 28;
    float *x = test_ramp(n, 37, 0);
    float w[3] = {0.5f, 1, 2}, b[3] = {0, 1, -1};
    float *out[2], *gx[2];
    for (int r = 0; r < 2; r++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *tx = test_upload(VKT_F32, x, 4, shape), *tw = test_upload(VKT_F32, w, 1, &c),
                   *tb = test_upload(VKT_F32, b, 1, &c);
        vkt_tensor_set_requires_grad(tx, true);
        vkt_tensor *y =
            vkt_batch_norm(tx, tw, tb, NULL, NULL, &(vkt_batch_norm_params){.training = true});
        out[r] = test_fetch(y);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, y))), VKT_OK);
        gx[r] = test_fetch(vkt_tensor_grad(tx));
        vkt_scope_end(test_dev);
    }
    assert_memory_equal(out[0], out[1], (size_t)n * 4);
    assert_memory_equal(gx[0], gx[1], (size_t)n * 4);
    for (int r = 0; r < 2; r++) {
        free(out[r]);
        free(gx[r]);
    }
    free(x);
}

/* The profile's calls of kernel `name` (0 if it did not run). */
static uint64_t kernel_calls(const vkt_profile_kernel *k, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(k[i].name, name) == 0) {
            return k[i].calls;
        }
    }
    return 0;
}

/* Which kernels a training forward and backward of batch norm + ReLU runs: vkt_batch_norm_relu
 * runs no elementwise pass (the ReLU is in batch norm's kernels) where vkt_relu(vkt_batch_norm())
 * runs two; a (n, c) plane of S % 4 == 0 takes the texel kernels, S = 9 the scalar ones; a
 * sequential BatchNorm2d + ReLU takes the fused op. Only on devices that read through texels. */
static void batch_norm_relu_kernels(void **state)
{
    (void)state;
    if (!vkt__device_caps(test_dev)->texel4) {
        skip(); /* a GPU, or texels switched off: the texel kernels are not the choice */
    }
    const int64_t shapes[2][4] = {{2, 3, 4, 4}, {2, 3, 3, 3}};
    for (int t = 0; t < 2; t++) {
        for (int fused = 0; fused < 2; fused++) {
            int64_t c = shapes[t][1], n = 1;
            for (int d = 0; d < 4; d++) {
                n *= shapes[t][d];
            }
            float *x = test_ramp(n, 7, 0);
            float w[3] = {0.5f, 1, -2}, b[3] = {0.25f, -0.5f, 1};
            vkt_scope_begin(test_dev);
            vkt_tensor *tx = test_upload(VKT_F32, x, 4, shapes[t]);
            vkt_tensor *tw = test_upload(VKT_F32, w, 1, &c), *tb = test_upload(VKT_F32, b, 1, &c);
            vkt_tensor_set_requires_grad(tx, true);
            vkt_tensor_set_requires_grad(tw, true);
            assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
            assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);
            vkt_batch_norm_params p = {.training = true};
            vkt_tensor *y = fused ? vkt_batch_norm_relu(tx, tw, tb, NULL, NULL, &p)
                                  : vkt_relu(vkt_batch_norm(tx, tw, tb, NULL, NULL, &p));
            assert_int_equal(vkt_backward(vkt_sum(y)), VKT_OK);
            assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
            vkt_profile pr;
            vkt_profile_kernel k[32];
            assert_int_equal(vkt_device_profile_read(test_dev, &pr, k, 32), VKT_OK);
            uint32_t nk = VKT__MIN(pr.kernel_count, 32u);
            bool texel = t == 0;
            assert_int_equal(kernel_calls(k, nk, "elementwise"), fused ? 0 : 2);
            assert_int_equal(kernel_calls(k, nk, "batch_norm_stats_texel"), texel ? 1 : 0);
            assert_int_equal(kernel_calls(k, nk, "batch_norm_stats"), texel ? 0 : 1);
            assert_int_equal(kernel_calls(k, nk, "batch_norm_apply_texel"), texel ? 1 : 0);
            assert_int_equal(kernel_calls(k, nk, "batch_norm_apply"), texel ? 0 : 1);
            assert_int_equal(kernel_calls(k, nk, "batch_norm_backward_reduce_texel"), texel);
            assert_int_equal(kernel_calls(k, nk, "batch_norm_backward_reduce"), !texel);
            assert_int_equal(kernel_calls(k, nk, "batch_norm_backward_apply_texel"), texel);
            assert_int_equal(kernel_calls(k, nk, "batch_norm_backward_apply"), !texel);
            vkt_scope_end(test_dev);
            free(x);
        }
    }
    /* Conv2d, BatchNorm2d, ReLU as a model: one batch norm + ReLU op, no elementwise pass */
    vkt_model_desc md = {.input = {1, 4, 4}, .seed = 1};
    md.layers[0] = (vkt_layer_desc){
        .type = VKT_LAYER_CONV2D, .in = 1, .out = 2, .kernel = {3, 3}, .padding = {1, 1}};
    md.layers[1] = (vkt_layer_desc){.type = VKT_LAYER_BATCH_NORM2D, .in = 2};
    md.layers[2] = (vkt_layer_desc){.type = VKT_LAYER_RELU};
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &md, &m), VKT_OK);
    vkt_model_train(m, true);
    int64_t xs[4] = {3, 1, 4, 4};
    float *x = test_ramp(48, 5, 0);
    vkt_scope_begin(test_dev);
    vkt_tensor *tx = test_upload(VKT_F32, x, 4, xs);
    assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
    assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);
    vkt_tensor *y = vkt_model_forward(m, tx);
    assert_non_null(y);
    assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
    vkt_profile pr;
    vkt_profile_kernel k[32];
    assert_int_equal(vkt_device_profile_read(test_dev, &pr, k, 32), VKT_OK);
    uint32_t nk = VKT__MIN(pr.kernel_count, 32u);
    assert_int_equal(kernel_calls(k, nk, "batch_norm_apply_texel"), 1);
    assert_int_equal(kernel_calls(k, nk, "elementwise"), 0);
    float got[96];
    assert_int_equal(vkt_tensor_download(y, got, sizeof got), VKT_OK);
    for (int i = 0; i < 96; i++) {
        assert_true(got[i] >= 0.0f); /* the ReLU was applied */
    }
    vkt_scope_end(test_dev);
    vkt_model_destroy(m);
    free(x);
}

static void errors_are_clear(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t one_val[4] = {1, 3, 1, 1}, s2[2] = {4, 3}, c3 = 3, c4 = 4, one = 1;
    vkt_tensor *x1 = vkt_tensor_new(test_dev, VKT_F32, 4, one_val);
    vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, 2, s2);
    vkt_tensor *xi = vkt_tensor_new(test_dev, VKT_I32, 2, s2);
    vkt_tensor *v1 = vkt_tensor_new_1d(test_dev, VKT_F32, 3);
    vkt_tensor *c = vkt_tensor_new(test_dev, VKT_F32, 1, &c3);
    vkt_tensor *bad = vkt_tensor_new(test_dev, VKT_F32, 1, &c4);
    vkt_tensor *nbt_f = vkt_tensor_new(test_dev, VKT_F32, 1, &one);
    assert_int_equal(vkt_fill(x, 1.0f), VKT_OK);
    assert_int_equal(vkt_fill(x1, 1.0f), VKT_OK);
    vkt_batch_norm_params train = {.training = true};
    test_expect_error(
        vkt_batch_norm(x1, NULL, NULL, c, c, &train), VKT_INVALID_ARGUMENT,
        "expected more than 1 value per channel when training, got x [1, 3, 1, 1] f32");
    /* eval mode with one value per channel is fine, as in torch */
    vkt_tensor *ok = vkt_batch_norm(x1, NULL, NULL, c, c, NULL);
    assert_non_null(ok);
    test_expect_error(vkt_batch_norm(x, NULL, NULL, NULL, NULL, NULL), VKT_INVALID_ARGUMENT,
                      "eval mode (training = false) normalises with the running statistics");
    test_expect_error(vkt_batch_norm(x, NULL, NULL, c, NULL, &train), VKT_INVALID_ARGUMENT,
                      "running_mean is given but running_var is NULL");
    test_expect_error(vkt_batch_norm(x, bad, NULL, NULL, NULL, &train), VKT_SHAPE_MISMATCH,
                      "weight is [4] f32 but x [4, 3] f32 has 3 channels; it must be [3] f32");
    test_expect_error(vkt_batch_norm(v1, NULL, NULL, NULL, NULL, &train), VKT_SHAPE_MISMATCH,
                      "x is [3] f32 but must be (N, C, ...)");
    test_expect_error(vkt_batch_norm(xi, NULL, NULL, NULL, NULL, &train), VKT_DTYPE_MISMATCH,
                      "x is [4, 3] i32 but must be f32");
    test_expect_error(vkt_batch_norm(x, NULL, NULL, NULL, NULL,
                                     &(vkt_batch_norm_params){.training = true, .momentum = 1.5f}),
                      VKT_INVALID_ARGUMENT, "momentum is 1.5 but must be in [0, 1]");
    test_expect_error(vkt_batch_norm(x, NULL, NULL, NULL, NULL,
                                     &(vkt_batch_norm_params){.training = true, .eps = -1.0f}),
                      VKT_INVALID_ARGUMENT, "eps is -1");
    test_expect_error(
        vkt_batch_norm(x, NULL, NULL, c, c,
                       &(vkt_batch_norm_params){.training = true, .num_batches_tracked = nbt_f}),
        VKT_DTYPE_MISMATCH, "num_batches_tracked is [1] f32 but must be one i32");
    test_expect_error(vkt_dropout(x, 1.5f, 0, 0, true), VKT_INVALID_ARGUMENT,
                      "vkt_dropout: p is 1.5 but must be in [0, 1]");
    test_expect_error(vkt_dropout(x, NAN, 0, 0, true), VKT_INVALID_ARGUMENT, "p is nan");
    test_expect_error(vkt_dropout(xi, 0.5f, 0, 0, true), VKT_DTYPE_MISMATCH, "x is [4, 3] i32");
    int64_t zero = 0;
    test_expect_error(vkt_rand_uniform(test_dev, 1, &zero, 0, 0), VKT_INVALID_ARGUMENT,
                      "vkt_rand_uniform");
    test_expect_error(vkt_rand_normal(NULL, 1, &one, 0, 0), VKT_INVALID_ARGUMENT,
                      "vkt_rand_normal: device is NULL");
    /* NULL inputs give NULL without touching the error */
    vkt_clear_error();
    assert_null(vkt_batch_norm(NULL, NULL, NULL, NULL, NULL, NULL));
    assert_null(vkt_dropout(NULL, 0.5f, 0, 0, true));
    assert_int_equal(vkt_last_status(), VKT_OK);
    vkt_scope_end(test_dev);
}

/* ---- layer norm and RMSNorm ----------------------------------------------------------------- */

/* Rows of one value (variance 0): LN gives y = bias (xhat ~ 0, rstd = 1 / sqrt(eps)) and
 * dx = rstd (g - mean(g)); RMSNorm of a zero row gives y = 0 and dx = g / sqrt(eps). All finite,
 * as the reference at the device's stats, and the stats themselves as expected. */
static void layer_norm_constant_rows(void **state)
{
    (void)state;
    enum { R = 4, C = 1000 };
    int64_t shape[2] = {R, C}, c = C;
    static float x[R * C], dy[R * C], w[C], b[C], want[R * C], dx_want[R * C];
    static double mag[R * C];
    static const float vals[R] = {0.1f, -3.7f, 0.0f, 1e4f};
    for (int r = 0; r < R; r++) {
        for (int j = 0; j < C; j++) {
            x[r * C + j] = vals[r];
            dy[r * C + j] = (float)((r * 31 + j * 17) % 23) * 0.1f - 1.1f;
        }
    }
    for (int j = 0; j < C; j++) {
        w[j] = 0.5f + (float)(j % 7) * 0.25f;
        b[j] = (float)(j % 5) * 0.2f - 0.4f;
    }
    for (int rms = 0; rms < 2; rms++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *tx = test_upload(VKT_F32, x, 2, shape), *tw = test_upload(VKT_F32, w, 1, &c),
                   *tb = test_upload(VKT_F32, b, 1, &c);
        vkt_tensor *tg = test_upload(VKT_F32, dy, 2, shape);
        vkt_tensor_set_requires_grad(tx, true);
        vkt_tensor *y = rms ? vkt_rms_norm(tx, tw, 0.0f) : vkt_layer_norm(tx, tw, tb, 0.0f);
        assert_non_null(y);
        float *got = test_fetch(y), *stats = test_fetch(y->node->saved);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, tg))), VKT_OK);
        float *gx = test_fetch(vkt_tensor_grad(tx));
        float eps = rms ? 1e-6f : 1e-5f;
        double rstd_want = 1.0 / sqrt((double)eps);
        for (int r = 0; r < R; r++) {
            float rstd = stats[rms ? r : R + r];
            if (!(fabs(rstd - rstd_want) <= 1e-6 * rstd_want) && !(rms && vals[r] != 0.0f)) {
                fprintf(stderr, "row %d rstd %g, want %g\n", r, (double)rstd, rstd_want);
                fail();
            }
        }
        vkt__ref_layer_norm_apply(want, x, stats, w, rms ? NULL : b, R, C, rms);
        vkt__ref_layer_norm_backward(dx_want, mag, NULL, NULL, dy, x, stats, w, R, C, rms);
        double ey = 0, edx = 0;
        for (int i = 0; i < R * C; i++) {
            assert_true(isfinite(got[i]) && isfinite(gx[i]));
            ey = fmax(ey, fabs((double)got[i] - want[i]));
            edx = fmax(edx, fabs((double)gx[i] - dx_want[i]) / mag[i]);
        }
        assert_true(ey <= 1e-6);
        assert_true(edx <= 1e-6);
        if (!rms) { /* the mean of a constant row is the value exactly here, so y is the bias */
            for (int r = 0; r < R; r++) {
                assert_true(stats[r] == vals[r]);
            }
            assert_memory_equal(got + C, b, sizeof b);
        } else { /* the zero row: y = 0, dx = g w / sqrt(eps) */
            for (int j = 0; j < C; j++) {
                assert_true(got[2 * C + j] == 0.0f);
                double d = (double)dy[2 * C + j] * w[j] * rstd_want;
                assert_true(fabs(gx[2 * C + j] - d) <= 1e-5 * fmax(fabs(d), 1.0));
            }
        }
        free(got);
        free(stats);
        free(gx);
        vkt_scope_end(test_dev);
    }
}

/* Forward and backward (x, weight and bias gradients, 2 column-sum levels) give the same bits
 * twice. */
static void layer_norm_is_bitwise_deterministic(void **state)
{
    (void)state;
    int64_t shape[2] = {300, 768}, c = 768, n = 300 * 768;
    float *x = test_ramp(n, 37, 0), *w = test_ramp(c, 37, 0), *b = test_ramp(c, 37, 0);
    float *out[2][4];
    for (int rms = 0; rms < 2; rms++) {
        for (int run = 0; run < 2; run++) {
            vkt_scope_begin(test_dev);
            vkt_tensor *tx = test_upload(VKT_F32, x, 2, shape),
                       *tw = test_upload(VKT_F32, w, 1, &c), *tb = test_upload(VKT_F32, b, 1, &c);
            vkt_tensor_set_requires_grad(tx, true);
            vkt_tensor_set_requires_grad(tw, true);
            vkt_tensor_set_requires_grad(tb, true);
            vkt_tensor *y = rms ? vkt_rms_norm(tx, tw, 0.0f) : vkt_layer_norm(tx, tw, tb, 0.0f);
            out[run][0] = test_fetch(y);
            assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, y))), VKT_OK);
            out[run][1] = test_fetch(vkt_tensor_grad(tx));
            out[run][2] = test_fetch(vkt_tensor_grad(tw));
            out[run][3] = rms ? NULL : test_fetch(vkt_tensor_grad(tb));
            vkt_scope_end(test_dev);
        }
        assert_memory_equal(out[0][0], out[1][0], (size_t)n * 4);
        assert_memory_equal(out[0][1], out[1][1], (size_t)n * 4);
        assert_memory_equal(out[0][2], out[1][2], (size_t)c * 4);
        if (!rms) {
            assert_memory_equal(out[0][3], out[1][3], (size_t)c * 4);
        }
        for (int run = 0; run < 2; run++) {
            for (int k = 0; k < 4; k++) {
                free(out[run][k]);
            }
        }
    }
    free(x);
    free(w);
    free(b);
}

static void layer_norm_errors_are_clear(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t s2[2] = {4, 3}, c3 = 3, c4 = 4, long_row[2] = {1, 256 * 65536 + 1};
    vkt_tensor *x = vkt_tensor_new(test_dev, VKT_F32, 2, s2);
    vkt_tensor *xi = vkt_tensor_new(test_dev, VKT_I32, 2, s2);
    vkt_tensor *c = vkt_tensor_new(test_dev, VKT_F32, 1, &c3);
    vkt_tensor *ci = vkt_tensor_new(test_dev, VKT_I32, 1, &c3);
    vkt_tensor *bad = vkt_tensor_new(test_dev, VKT_F32, 1, &c4);
    vkt_tensor *m2 = vkt_tensor_new(test_dev, VKT_F32, 2, s2);
    assert_int_equal(vkt_fill(x, 1.0f), VKT_OK);
    test_expect_error(vkt_layer_norm(xi, NULL, NULL, 0.0f), VKT_DTYPE_MISMATCH,
                      "vkt_layer_norm: x is [4, 3] i32 but must be f32");
    test_expect_error(
        vkt_layer_norm(x, bad, NULL, 0.0f), VKT_SHAPE_MISMATCH,
        "vkt_layer_norm: weight is [4] f32 but x [4, 3] f32 has 3 elements in its last "
        "dimension; it must be [3] f32");
    test_expect_error(vkt_layer_norm(x, c, ci, 0.0f), VKT_DTYPE_MISMATCH,
                      "vkt_layer_norm: bias is [3] i32 but x [4, 3] f32");
    test_expect_error(vkt_layer_norm(x, m2, NULL, 0.0f), VKT_SHAPE_MISMATCH,
                      "weight is [4, 3] f32");
    test_expect_error(vkt_layer_norm(x, NULL, NULL, -1.0f), VKT_INVALID_ARGUMENT,
                      "vkt_layer_norm: eps is -1 but must be finite and >= 0");
    test_expect_error(vkt_rms_norm(x, NULL, NAN), VKT_INVALID_ARGUMENT, "vkt_rms_norm: eps is nan");
    test_expect_error(vkt_rms_norm(x, bad, 0.0f), VKT_SHAPE_MISMATCH,
                      "vkt_rms_norm: weight is [4] f32 but x [4, 3] f32 has 3 elements");
    test_expect_error(vkt_rms_norm(xi, NULL, 0.0f), VKT_DTYPE_MISMATCH,
                      "vkt_rms_norm: x is [4, 3] i32");
    /* past 65536 * 256 elements a row would overrun lavapipe's loop limit: refused, not wrong */
    vkt_tensor *xl = vkt_tensor_new(test_dev, VKT_F32, 2, long_row);
    assert_non_null(xl);
    test_expect_error(
        vkt_layer_norm(xl, NULL, NULL, 0.0f), VKT_INVALID_ARGUMENT,
        "vkt_layer_norm: x is [1, 16777217] f32; rows of more than 16777216 elements are "
        "not supported");
    vkt_tensor_free(xl);
    /* NULL inputs give NULL without touching the error */
    vkt_clear_error();
    assert_null(vkt_layer_norm(NULL, c, c, 0.0f));
    assert_null(vkt_rms_norm(NULL, c, 0.0f));
    assert_int_equal(vkt_last_status(), VKT_OK);
    vkt_scope_end(test_dev);
}

/* LayerNorm / RMSNorm layers: names, shapes, initial values and roles as torch.nn's; the forward
 * is the op on the layer's parameters, and the gradients reach them. */
static void norm_layers(void **state)
{
    (void)state;
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){0}, &m), VKT_OK);
    vkt_layer_norm_layer ln, ln_nb, ln_na;
    vkt_rms_norm_layer rn;
    assert_int_equal(vkt_layer_norm_init(m, "ln", &(vkt_layer_norm_desc){.dim = 5}, &ln), VKT_OK);
    assert_int_equal(
        vkt_layer_norm_init(m, "h.0.ln", &(vkt_layer_norm_desc){.dim = 5, .no_bias = true}, &ln_nb),
        VKT_OK);
    assert_int_equal(
        vkt_layer_norm_init(
            m, "na", &(vkt_layer_norm_desc){.dim = 5, .eps = 1e-3f, .no_affine = true}, &ln_na),
        VKT_OK);
    assert_int_equal(vkt_rms_norm_init(m, "rms", 5, 0.0f, &rn), VKT_OK);
    assert_true(ln.eps == 1e-5f && ln_na.eps == 1e-3f && rn.eps == 1e-6f);
    assert_null(ln_nb.bias);
    assert_null(ln_na.weight);
    assert_null(ln_na.bias);
    assert_int_equal(vkt_model_num_tensors(m), 4);
    static const char *names[] = {"ln.weight", "ln.bias", "h.0.ln.weight", "rms.weight"};
    for (uint32_t i = 0; i < 4; i++) {
        assert_string_equal(vkt_model_tensor_name(m, i), names[i]);
        vkt_param *p = vkt_model_tensor_param(m, i);
        assert_int_equal(vkt_param_role_of(p), VKT_PARAM_NORM);
        float *v = test_fetch(vkt_param_tensor(p));
        assert_int_equal(vkt_tensor_numel(vkt_param_tensor(p)), 5);
        for (int j = 0; j < 5; j++) {
            assert_true(v[j] == (i == 1 ? 0.0f : 1.0f));
        }
        free(v);
    }
    int64_t shape[3] = {2, 3, 5}, n = 30;
    float *x = test_ramp(n, 37, 0);
    vkt_scope_begin(test_dev);
    vkt_tensor *tx = test_upload(VKT_F32, x, 3, shape);
    float *a = test_fetch(vkt_layer_norm_forward(&ln, tx));
    float *e =
        test_fetch(vkt_layer_norm(tx, vkt_param_tensor(ln.weight), vkt_param_tensor(ln.bias), 0));
    assert_memory_equal(a, e, (size_t)n * 4);
    free(a);
    free(e);
    a = test_fetch(vkt_layer_norm_forward(&ln_na, tx));
    e = test_fetch(vkt_layer_norm(tx, NULL, NULL, 1e-3f));
    assert_memory_equal(a, e, (size_t)n * 4);
    free(a);
    free(e);
    vkt_tensor *y = vkt_rms_norm_forward(&rn, tx);
    assert_non_null(y);
    assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, y))), VKT_OK);
    float *g = test_fetch(vkt_tensor_grad(vkt_param_tensor(rn.weight)));
    for (int j = 0; j < 5; j++) { /* d sum(y^2) / dw = 2 sum(xhat^2 w) != 0 */
        assert_true(g[j] > 0.0f);
    }
    free(g);
    int64_t bad_shape[2] = {6, 4};
    vkt_tensor *xb = vkt_tensor_new(test_dev, VKT_F32, 2, bad_shape);
    test_expect_error(
        vkt_layer_norm_forward(&ln, xb), VKT_SHAPE_MISMATCH,
        "vkt_layer_norm_forward: x is [6, 4] f32 but LayerNorm(5) takes (..., 5) f32");
    test_expect_error(vkt_rms_norm_forward(&rn, xb), VKT_SHAPE_MISMATCH,
                      "vkt_rms_norm_forward: x is [6, 4] f32 but RMSNorm(5) takes (..., 5) f32");
    vkt_scope_end(test_dev);
    vkt_layer_norm_layer l2;
    assert_int_equal(vkt_layer_norm_init(m, "z", &(vkt_layer_norm_desc){0}, &l2),
                     VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "vkt_layer_norm_init: \"z\" has dim 0"));
    assert_int_equal(vkt_rms_norm_init(m, "z", 4, -1.0f, &rn), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "vkt_rms_norm_init: \"z\" has eps -1"));
    free(x);
    vkt_model_destroy(m);
}

/* ---- PyTorch agreement ---------------------------------------------------------------------- */

#define TORCH_TOL 1e-4

typedef test_fixture fix;

static const char *fixture_path;

static void load_fixtures(void) { test_fixtures_load(fixture_path, 20, NULL); }

static double torch_worst;

static void expect_close(const char *cfg, const char *what, const vkt_tensor *t, const fix *want)
{
    double e = test_torch_err(t, want, 1e-2);
    torch_worst = e > torch_worst ? e : torch_worst;
    if (!(e <= TORCH_TOL)) {
        fprintf(stderr, "%s %s: relative error %g > %g\n", cfg, what, e, TORCH_TOL);
        fail();
    }
}

/* One forward (training or eval) on the fixture's x with gradient g, compared with torch's. */
static void torch_step(const char *cfg, const char *prefix, const fix *x, const fix *g,
                       vkt_tensor *w, vkt_tensor *b, vkt_tensor *rm, vkt_tensor *rv,
                       const vkt_batch_norm_params *p)
{
    vkt_scope_begin(test_dev);
    vkt_tensor *tx = test_upload(VKT_F32, x->v, x->ndim, x->dims),
               *tg = test_upload(VKT_F32, g->v, g->ndim, g->dims);
    vkt_tensor_set_requires_grad(tx, true);
    assert_int_equal(vkt_zero_grad(w), VKT_OK);
    assert_int_equal(vkt_zero_grad(b), VKT_OK);
    vkt_tensor *y = vkt_batch_norm(tx, w, b, rm, rv, p);
    assert_non_null(y);
    assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, tg))), VKT_OK);
    char what[96];
    snprintf(what, sizeof what, "%s y", prefix);
    expect_close(cfg, what, y, test_fixture_get("%s/%s/y", cfg, prefix));
    snprintf(what, sizeof what, "%s dx", prefix);
    expect_close(cfg, what, vkt_tensor_grad(tx), test_fixture_get("%s/%s/dx", cfg, prefix));
    if (w) {
        snprintf(what, sizeof what, "%s dweight", prefix);
        expect_close(cfg, what, vkt_tensor_grad(w), test_fixture_get("%s/%s/dweight", cfg, prefix));
        snprintf(what, sizeof what, "%s dbias", prefix);
        expect_close(cfg, what, vkt_tensor_grad(b), test_fixture_get("%s/%s/dbias", cfg, prefix));
    }
    vkt_scope_end(test_dev);
}

static void batch_norm_matches_torch(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool affine;
    } cfgs[] = {{"bn1d", true}, {"bn1d_len", false}, {"bn2d", true}, {"bn2d_c1", true}};
    load_fixtures();
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        const char *cfg = cfgs[k].name;
        const fix *x0 = test_fixture_get("%s/step0/x", cfg);
        int64_t c = x0->dims[1], one = 1;
        vkt_tensor *w = NULL, *b = NULL;
        if (cfgs[k].affine) {
            w = test_upload(VKT_F32, test_fixture_get("%s/weight", cfg)->v, 1, &c);
            b = test_upload(VKT_F32, test_fixture_get("%s/bias", cfg)->v, 1, &c);
            vkt_tensor_set_requires_grad(w, true);
            vkt_tensor_set_requires_grad(b, true);
        }
        vkt_tensor *rm = vkt_tensor_new(test_dev, VKT_F32, 1, &c);
        vkt_tensor *rv = vkt_tensor_new(test_dev, VKT_F32, 1, &c);
        vkt_tensor *nbt = vkt_tensor_new(test_dev, VKT_I32, 1, &one);
        assert_int_equal(vkt_fill(rm, 0.0f), VKT_OK); /* torch's initial running statistics */
        assert_int_equal(vkt_fill(rv, 1.0f), VKT_OK);
        assert_int_equal(vkt_fill(nbt, 0.0f), VKT_OK);
        vkt_batch_norm_params p = {
            .training = true,
            .momentum = test_fixture_get("%s/momentum", cfg)->v[0],
            .eps = test_fixture_get("%s/eps", cfg)->v[0],
            .num_batches_tracked = nbt,
        };
        for (int s = 0; s < 3; s++) {
            char prefix[16];
            snprintf(prefix, sizeof prefix, "step%d", s);
            torch_step(cfg, prefix, test_fixture_get("%s/%s/x", cfg, prefix),
                       test_fixture_get("%s/%s/g", cfg, prefix), w, b, rm, rv, &p);
            expect_close(cfg, "running_mean", rm,
                         test_fixture_get("%s/%s/running_mean", cfg, prefix));
            expect_close(cfg, "running_var", rv,
                         test_fixture_get("%s/%s/running_var", cfg, prefix));
            int32_t count;
            assert_int_equal(vkt_tensor_download(nbt, &count, sizeof count), VKT_OK);
            assert_int_equal(
                count, (int32_t)test_fixture_get("%s/%s/num_batches_tracked", cfg, prefix)->v[0]);
        }
        p.training = false;
        torch_step(cfg, "eval", x0, test_fixture_get("%s/step0/g", cfg), w, b, rm, rv, &p);
        vkt_tensor_free(w);
        vkt_tensor_free(b);
        vkt_tensor_free(rm);
        vkt_tensor_free(rv);
        vkt_tensor_free(nbt);
    }
    fprintf(stderr, "worst relative error against torch: %.3g (tol %g)\n", torch_worst, TORCH_TOL);
}

/* Worst relative error per quantity over every layer-norm / RMSNorm configuration. */
static double ln_worst[4];
static const char *const ln_what[4] = {"y", "dx", "dweight", "dbias"};

static void layer_norm_matches_torch(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        bool rms, weight, bias;
    } cfgs[] = {
        {"ln_2d", false, true, true},          {"ln_btc", false, true, true},
        {"ln_no_affine", false, false, false}, {"ln_weight_only", false, true, false},
        {"ln_c1", false, true, true},          {"ln_const", false, true, true},
        {"rms_2d", true, true, false},         {"rms_btc", true, true, false},
        {"rms_no_weight", true, false, false}, {"rms_const", true, true, false},
    };
    load_fixtures();
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        const char *cfg = cfgs[k].name;
        vkt_scope_begin(test_dev);
        const fix *x = test_fixture_get("%s/x", cfg), *g = test_fixture_get("%s/g", cfg);
        int64_t c = x->dims[x->ndim - 1];
        vkt_tensor *tx = test_upload(VKT_F32, x->v, x->ndim, x->dims),
                   *tg = test_upload(VKT_F32, g->v, g->ndim, g->dims);
        vkt_tensor *tw = cfgs[k].weight
                             ? test_upload(VKT_F32, test_fixture_get("%s/weight", cfg)->v, 1, &c)
                             : NULL;
        vkt_tensor *tb =
            cfgs[k].bias ? test_upload(VKT_F32, test_fixture_get("%s/bias", cfg)->v, 1, &c) : NULL;
        vkt_tensor_set_requires_grad(tx, true);
        vkt_tensor_set_requires_grad(tw, true);
        vkt_tensor_set_requires_grad(tb, true);
        float eps = test_fixture_get("%s/eps", cfg)->v[0];
        vkt_tensor *y = cfgs[k].rms ? vkt_rms_norm(tx, tw, eps) : vkt_layer_norm(tx, tw, tb, eps);
        assert_non_null(y);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, tg))), VKT_OK);
        const vkt_tensor *got[4] = {y, vkt_tensor_grad(tx), tw ? vkt_tensor_grad(tw) : NULL,
                                    tb ? vkt_tensor_grad(tb) : NULL};
        for (int q = 0; q < 4; q++) {
            if (!got[q]) {
                continue;
            }
            double e = test_torch_err(got[q], test_fixture_get("%s/%s", cfg, ln_what[q]), 1e-2);
            ln_worst[q] = fmax(ln_worst[q], e);
            if (!(e <= TORCH_TOL)) {
                fprintf(stderr, "%s %s: relative error %g > %g\n", cfg, ln_what[q], e, TORCH_TOL);
                fail();
            }
        }
        vkt_scope_end(test_dev);
    }
    fprintf(stderr,
            "layer norm / RMSNorm, worst relative error against torch: y %.3g, dx %.3g, "
            "dweight %.3g, dbias %.3g (tol %g)\n",
            ln_worst[0], ln_worst[1], ln_worst[2], ln_worst[3], TORCH_TOL);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(norm_matches_reference),
        VKT_TEST(philox_known_answers_on_cpu),
        VKT_TEST(dropout_statistics_and_scale),
        VKT_TEST(dropout_is_reproducible_from_seed_and_offset),
        VKT_TEST(dropout_identity_and_all_dropped),
        VKT_TEST(rand_statistics),
        VKT_TEST(batch_norm_is_bitwise_deterministic),
        VKT_TEST(batch_norm_relu_kernels),
        VKT_TEST(errors_are_clear),
        VKT_TEST(batch_norm_matches_torch),
        VKT_TEST(layer_norm_constant_rows),
        VKT_TEST(layer_norm_is_bitwise_deterministic),
        VKT_TEST(layer_norm_errors_are_clear),
        VKT_TEST(norm_layers),
        VKT_TEST(layer_norm_matches_torch),
    };
    fixture_path = argc > 1 ? argv[1] : NULL;
    return VKT_RUN_GROUP(tests);
}
