/*
 * test_attention.c — vkt_attention (src/ops/attention.c), every test on both implementations
 * (VKT_ATTENTION=fused and unfused): the fused kernels against the CPU
 * reference and the unfused composition, and finite differences (src/check/check_attention.c,
 * the attention_* cases of check_grad.c); the dropout mask rebuilt from vkt_rand_uniform
 * (forward and backward agree with it; the same stream gives the same result, another offset
 * another); an all -inf row gives NaN; bitwise determinism; gradients for some inputs only
 * and for q = k = v; error messages; and agreement with PyTorch within 1e-4 relative, from
 * tests/fixtures/torch_attention.txt (argv[1]; made by tools/make_torch_attention_fixtures.py, no
 * PyTorch needed here).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "test_util.h"

static vkt_tensor *upload(const float *x, int ndim, const int64_t *shape)
{
    return test_upload(VKT_F32, x, ndim, shape);
}

static float *fetch(const vkt_tensor *t) { return test_fetch(t); }

static float *ramp(int64_t n, int64_t mul) { return test_ramp(n, mul, 0); }

static void attention_matches_reference(void **state)
{
    (void)state;
    test_run_checks("attention"); /* the attention family and check_grad.c's attention_* cases */
}

/* out and the gradients of sum(out * r) for q, k, v (B, H, T, D) made by ramp. */
typedef struct result {
    float *out, *dq, *dk, *dv;
} result;

static void result_free(result *r)
{
    free(r->out);
    free(r->dq);
    free(r->dk);
    free(r->dv);
}

static result run(const int64_t shape[4], const vkt_attention_params *p)
{
    vkt_scope_begin(test_dev);
    int64_t n = shape[0] * shape[1] * shape[2] * shape[3];
    float *h[4] = {ramp(n, 37), ramp(n, 53), ramp(n, 71), ramp(n, 29)};
    vkt_tensor *t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = upload(h[i], 4, shape);
        free(h[i]);
        vkt_tensor_set_requires_grad(t[i], i < 3);
    }
    vkt_tensor *y = vkt_attention(t[0], t[1], t[2], p);
    assert_non_null(y);
    assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, t[3]))), VKT_OK);
    result r = {fetch(y), fetch(vkt_tensor_grad(t[0])), fetch(vkt_tensor_grad(t[1])),
                fetch(vkt_tensor_grad(t[2]))};
    vkt_scope_end(test_dev);
    return r;
}

/* Host attention in double with the dropout multipliers z (bh, t, t) given: out and the
 * gradients of sum(out * r). */
static void host_attention(int64_t bh, int64_t t, int64_t d, float scale, const float *z,
                           const float *q, const float *k, const float *v, const float *r,
                           double *out, double *dq, double *dk, double *dv)
{
    double *p = malloc((size_t)t * 2 * sizeof *p);
    assert_non_null(p);
    double *dp = p + t;
    memset(dk, 0, (size_t)(bh * t * d) * sizeof *dk);
    memset(dv, 0, (size_t)(bh * t * d) * sizeof *dv);
    for (int64_t s = 0; s < bh; s++) {
        for (int64_t i = 0; i < t; i++) {
            const float *qi = q + (s * t + i) * d, *ri = r + (s * t + i) * d;
            double mx = -INFINITY, sum = 0.0, dsum = 0.0;
            for (int64_t j = 0; j <= i; j++) { /* causal */
                double acc = 0.0;
                for (int64_t e = 0; e < d; e++) {
                    acc += (double)qi[e] * k[(s * t + j) * d + e];
                }
                p[j] = acc * scale;
                mx = fmax(mx, p[j]);
            }
            for (int64_t j = 0; j <= i; j++) {
                p[j] = exp(p[j] - mx);
                sum += p[j];
            }
            for (int64_t e = 0; e < d; e++) {
                out[(s * t + i) * d + e] = 0.0;
            }
            for (int64_t j = 0; j <= i; j++) {
                p[j] /= sum;
                double zj = z[(s * t + i) * t + j], acc = 0.0;
                for (int64_t e = 0; e < d; e++) {
                    out[(s * t + i) * d + e] += p[j] * zj * v[(s * t + j) * d + e];
                    dv[(s * t + j) * d + e] += p[j] * zj * ri[e];
                    acc += (double)ri[e] * v[(s * t + j) * d + e];
                }
                dp[j] = acc * zj;
                dsum += p[j] * dp[j];
            }
            for (int64_t e = 0; e < d; e++) {
                dq[(s * t + i) * d + e] = 0.0;
            }
            for (int64_t j = 0; j <= i; j++) {
                double ds = p[j] * (dp[j] - dsum) * scale;
                for (int64_t e = 0; e < d; e++) {
                    dq[(s * t + i) * d + e] += ds * k[(s * t + j) * d + e];
                    dk[(s * t + j) * d + e] += ds * qi[e];
                }
            }
        }
    }
    free(p);
}

static double err_vs(const float *got, const double *want, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / fmax(1.0, fabs(want[i]));
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

static void dropout_matches_rebuilt_mask(void **state)
{
    (void)state;
    const int64_t shape[4] = {2, 2, 37, 8}, bh = 4, t = 37, d = 8, n = bh * t * d;
    const float p = 0.4f;
    vkt_attention_params ap = {.causal = true, .dropout_p = p, .seed = 42, .offset = 1000};
    result a = run(shape, &ap), b = run(shape, &ap);
    /* the same stream: bitwise the same */
    assert_memory_equal(a.out, b.out, (size_t)n * sizeof(float));
    assert_memory_equal(a.dk, b.dk, (size_t)n * sizeof(float));
    ap.offset += (uint64_t)(bh * t * t);
    result c = run(shape, &ap);
    assert_memory_not_equal(a.out, c.out, (size_t)n * sizeof(float));
    ap.offset -= (uint64_t)(bh * t * t);

    /* the mask rebuilt from vkt_rand_uniform over the (B, H, Tq, Tk) scores */
    int64_t sshape[4] = {2, 2, t, t};
    vkt_tensor *u = vkt_rand_uniform(test_dev, 4, sshape, ap.seed, ap.offset);
    float *z = fetch(u);
    vkt_tensor_free(u);
    float keep_scale = (float)(1.0 / (1.0 - (double)p));
    int64_t kept = 0, seen = 0;
    for (int64_t x = 0; x < bh * t * t; x++) {
        z[x] = z[x] >= p ? keep_scale : 0.0f;
        int64_t i = (x / t) % t, j = x % t;
        if (j <= i) {
            kept += z[x] != 0.0f;
            seen++;
        }
    }
    double frac = (double)kept / (double)seen;
    assert_true(frac > 0.5 && frac < 0.7); /* 1 - p = 0.6 of ~2800 scores */
    float *h[4] = {ramp(n, 37), ramp(n, 53), ramp(n, 71), ramp(n, 29)};
    double *want = malloc((size_t)n * 4 * sizeof *want);
    assert_non_null(want);
    host_attention(bh, t, d, 1.0f / sqrtf((float)d), z, h[0], h[1], h[2], h[3], want, want + n,
                   want + 2 * n, want + 3 * n);
    double e[4] = {err_vs(a.out, want, n), err_vs(a.dq, want + n, n), err_vs(a.dk, want + 2 * n, n),
                   err_vs(a.dv, want + 3 * n, n)};
    fprintf(stderr, "dropout vs rebuilt mask: out %.3g dq %.3g dk %.3g dv %.3g\n", e[0], e[1], e[2],
            e[3]);
    for (int i = 0; i < 4; i++) {
        assert_true(e[i] < 1e-5);
        free(h[i]);
    }
    free(want);
    free(z);
    result_free(&a);
    result_free(&b);
    result_free(&c);
}

static void fully_masked_row_is_nan(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    const int64_t shape[4] = {1, 2, 5, 4}, ms[2] = {5, 5};
    float *h = ramp(40, 37);
    vkt_tensor *q = upload(h, 4, shape);
    float m[25] = {0};
    for (int j = 0; j < 5; j++) {
        m[2 * 5 + j] = -INFINITY; /* query 2 sees nothing */
    }
    vkt_tensor *mask = upload(m, 2, ms);
    vkt_attention_params p = {.mask = mask};
    float *y = fetch(vkt_attention(q, q, q, &p));
    for (int s = 0; s < 2; s++) {
        for (int i = 0; i < 5; i++) {
            for (int e = 0; e < 4; e++) {
                float val = y[(s * 5 + i) * 4 + e];
                assert_true(i == 2 ? isnan(val) : isfinite(val));
            }
        }
    }
    free(y);
    free(h);
    vkt_scope_end(test_dev);
}

static void defaults_and_bitwise_determinism(void **state)
{
    (void)state;
    const int64_t shape[4] = {3, 1, 45, 20};
    const size_t bytes = 3 * 45 * 20 * sizeof(float);
    vkt_attention_params none = {0}, scale = {.scale = (float)(1.0 / sqrt(20.0))};
    result a = run(shape, NULL), b = run(shape, &none), c = run(shape, &scale);
    assert_memory_equal(a.out, b.out, bytes);
    assert_memory_equal(a.out, c.out, bytes);
    assert_memory_equal(a.dq, b.dq, bytes);
    assert_memory_equal(a.dk, c.dk, bytes);
    assert_memory_equal(a.dv, c.dv, bytes);
    result_free(&a);
    result_free(&b);
    result_free(&c);
}

/* Only some inputs wanting a gradient: the dK/dV kernel writes the other into scratch. */
static void partial_gradients_match_full(void **state)
{
    (void)state;
    const int64_t shape[4] = {2, 2, 19, 12}, n = 2 * 2 * 19 * 12;
    vkt_attention_params p = {.causal = true};
    result full = run(shape, &p);
    for (int want = 0; want < 3; want++) {
        vkt_scope_begin(test_dev);
        float *h[4] = {ramp(n, 37), ramp(n, 53), ramp(n, 71), ramp(n, 29)};
        vkt_tensor *t[4];
        for (int i = 0; i < 4; i++) {
            t[i] = upload(h[i], 4, shape);
            free(h[i]);
        }
        vkt_tensor_set_requires_grad(t[want], true);
        vkt_tensor *y = vkt_attention(t[0], t[1], t[2], &p);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, t[3]))), VKT_OK);
        for (int i = 0; i < 3; i++) {
            assert_true((vkt_tensor_grad(t[i]) != NULL) == (i == want));
        }
        float *g = fetch(vkt_tensor_grad(t[want]));
        const float *w = want == 0 ? full.dq : want == 1 ? full.dk : full.dv;
        assert_memory_equal(g, w, (size_t)n * sizeof(float));
        free(g);
        vkt_scope_end(test_dev);
    }
    result_free(&full);
}

/* vkt_attention(x, x, x): one gradient for all three roles, equal to the sum of the three taken
 * apart (dK and dV then share a buffer in one dispatch). */
static void self_attention_gradient_sums_the_roles(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    const int64_t shape[4] = {1, 3, 21, 10}, n = 3 * 21 * 10;
    float *h = ramp(n, 37), *hr = ramp(n, 29);
    vkt_tensor *x = upload(h, 4, shape), *r = upload(hr, 4, shape), *c[3];
    vkt_tensor_set_requires_grad(x, true);
    for (int i = 0; i < 3; i++) {
        c[i] = upload(h, 4, shape);
        vkt_tensor_set_requires_grad(c[i], true);
    }
    vkt_attention_params p = {.causal = true};
    assert_int_equal(vkt_backward(vkt_sum(vkt_mul(vkt_attention(x, x, x, &p), r))), VKT_OK);
    assert_int_equal(vkt_backward(vkt_sum(vkt_mul(vkt_attention(c[0], c[1], c[2], &p), r))),
                     VKT_OK);
    float *g = fetch(vkt_tensor_grad(x)), *g3[3];
    for (int i = 0; i < 3; i++) {
        g3[i] = fetch(vkt_tensor_grad(c[i]));
    }
    for (int64_t e = 0; e < n; e++) {
        float want = g3[0][e] + g3[1][e] + g3[2][e];
        assert_true(fabsf(g[e] - want) <= 1e-6f * fmaxf(1.0f, fabsf(want)));
    }
    for (int i = 0; i < 3; i++) {
        free(g3[i]);
    }
    free(g);
    free(h);
    free(hr);
    vkt_scope_end(test_dev);
}

static void errors_are_clear(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t qs[4] = {2, 3, 5, 8}, ks[4] = {2, 3, 7, 8}, kd[4] = {2, 3, 7, 4}, s3[3] = {2, 3, 5};
    int64_t m57[2] = {5, 7}, m55[2] = {5, 5};
    vkt_tensor *q = vkt_tensor_new(test_dev, VKT_F32, 4, qs);
    vkt_tensor *k = vkt_tensor_new(test_dev, VKT_F32, 4, ks);
    vkt_tensor *kbad = vkt_tensor_new(test_dev, VKT_F32, 4, kd);
    vkt_tensor *qi = vkt_tensor_new(test_dev, VKT_I32, 4, qs);
    vkt_tensor *q3 = vkt_tensor_new(test_dev, VKT_F32, 3, s3);
    vkt_tensor *mask = vkt_tensor_new(test_dev, VKT_F32, 2, m57);
    vkt_tensor *mask_bad = vkt_tensor_new(test_dev, VKT_F32, 2, m55);
    test_expect_error(vkt_attention(qi, k, k, NULL), VKT_DTYPE_MISMATCH,
                 "vkt_attention: q is [2, 3, 5, 8] i32 but must be f32");
    test_expect_error(vkt_attention(q3, k, k, NULL), VKT_SHAPE_MISMATCH,
                 "vkt_attention: q is [2, 3, 5] f32 but must have 4 dimensions");
    test_expect_error(vkt_attention(q, kbad, kbad, NULL), VKT_SHAPE_MISMATCH,
                 "k is [2, 3, 7, 4] f32 but q is [2, 3, 5, 8] f32; k must be (B, H, Tk, D)");
    test_expect_error(vkt_attention(q, k, q, NULL), VKT_SHAPE_MISMATCH,
                 "v is [2, 3, 5, 8] f32 but k is [2, 3, 7, 8] f32; they must match");
    test_expect_error(vkt_attention(q, k, k, &(vkt_attention_params){.causal = true}),
                 VKT_SHAPE_MISMATCH, "causal needs as many queries as keys");
    test_expect_error(vkt_attention(q, k, k, &(vkt_attention_params){.dropout_p = 1.5f}),
                 VKT_INVALID_ARGUMENT, "dropout_p is 1.5 but must be in [0, 1]");
    test_expect_error(vkt_attention(q, k, k, &(vkt_attention_params){.scale = INFINITY}),
                 VKT_INVALID_ARGUMENT, "scale is inf but must be finite");
    test_expect_error(vkt_attention(q, k, k, &(vkt_attention_params){.mask = mask_bad}),
                 VKT_SHAPE_MISMATCH, "mask is [5, 5] f32 but must be (Tq, Tk) = [5, 7]");
    test_expect_error(vkt_attention(q, k, k, &(vkt_attention_params){.mask = qi}), VKT_DTYPE_MISMATCH,
                 "mask is [2, 3, 5, 8] i32 but must be f32");
    assert_non_null(vkt_attention(q, k, k, &(vkt_attention_params){.mask = mask}));
    vkt_clear_error();
    assert_null(vkt_attention(NULL, k, k, NULL));
    assert_null(vkt_attention(q, NULL, k, NULL));
    assert_null(vkt_attention(q, k, NULL, NULL));
    assert_int_equal(vkt_last_status(), VKT_OK);
    vkt_scope_end(test_dev);
}

/* ---- PyTorch agreement ---------------------------------------------------------------------- */

#define TORCH_TOL 1e-4

static const char *fixture_path;

static const test_fixture *get(const char *cfg, const char *what, bool required)
{
    return required ? test_fixture_get("%s/%s", cfg, what) : test_fixture_find("%s/%s", cfg, what);
}

static double torch_err(const vkt_tensor *t, const test_fixture *want)
{
    return test_torch_err(t, want, 1e-2);
}

static void attention_matches_torch(void **state)
{
    (void)state;
    static const char *cfgs[] = {"basic", "causal", "mask", "causal_mask_d65", "long_d32", "d160"};
    test_fixtures_load(fixture_path, 40, NULL);
    double worst[4] = {0};
    static const char *what[4] = {"out", "dq", "dk", "dv"};
    for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
        vkt_scope_begin(test_dev);
        const test_fixture *fq = get(cfgs[c], "q", true), *fk = get(cfgs[c], "k", true);
        const test_fixture *fv = get(cfgs[c], "v", true), *fr = get(cfgs[c], "r", true);
        const test_fixture *fm = get(cfgs[c], "mask", false);
        vkt_tensor *q = upload(fq->v, 4, fq->dims), *k = upload(fk->v, 4, fk->dims);
        vkt_tensor *v = upload(fv->v, 4, fv->dims), *r = upload(fr->v, 4, fr->dims);
        vkt_attention_params p = {
            .causal = get(cfgs[c], "causal", true)->v[0] != 0.0f,
            .scale = get(cfgs[c], "scale", true)->v[0],
            .mask = fm ? upload(fm->v, 2, fm->dims) : NULL,
        };
        vkt_tensor *in[3] = {q, k, v};
        for (int i = 0; i < 3; i++) {
            vkt_tensor_set_requires_grad(in[i], true);
        }
        vkt_tensor *y = vkt_attention(q, k, v, &p);
        assert_non_null(y);
        assert_int_equal(vkt_backward(vkt_sum(vkt_mul(y, r))), VKT_OK);
        const vkt_tensor *got[4] = {y, vkt_tensor_grad(q), vkt_tensor_grad(k), vkt_tensor_grad(v)};
        for (int i = 0; i < 4; i++) {
            double e = torch_err(got[i], get(cfgs[c], what[i], true));
            worst[i] = fmax(worst[i], e);
            if (!(e <= TORCH_TOL)) {
                fail_msg("%s %s: relative error %g > %g", cfgs[c], what[i], e, TORCH_TOL);
            }
        }
        vkt_scope_end(test_dev);
    }
    fprintf(stderr,
            "worst relative error against torch: out %.3g dq %.3g dk %.3g dv %.3g (tol %g)\n",
            worst[0], worst[1], worst[2], worst[3], TORCH_TOL);
}

/* VKT_ATTENTION_AUTO follows the environment's VKT_ATTENTION: every test runs once on each
 * implementation, whatever the device class would choose. */
static int impl_fused(void **state)
{
    (void)state;
    return setenv("VKT_ATTENTION", "fused", 1);
}

static int impl_unfused(void **state)
{
    (void)state;
    return setenv("VKT_ATTENTION", "unfused", 1);
}

static void env_choice_is_checked(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    int64_t qs[4] = {1, 1, 4, 4};
    vkt_tensor *q = vkt_tensor_new(test_dev, VKT_F32, 4, qs);
    assert_int_equal(setenv("VKT_ATTENTION", "flash", 1), 0);
    test_expect_error(vkt_attention(q, q, q, NULL), VKT_INVALID_ARGUMENT,
                      "VKT_ATTENTION is \"flash\"; it must be fused, unfused or auto");
    /* an explicit choice does not read the environment */
    assert_non_null(vkt_attention(q, q, q, &(vkt_attention_params){.impl = VKT_ATTENTION_FUSED}));
    test_expect_error(vkt_attention(q, q, q, &(vkt_attention_params){.impl = 7}),
                      VKT_INVALID_ARGUMENT, "impl is 7; it must be a vkt_attention_impl");
    assert_int_equal(unsetenv("VKT_ATTENTION"), 0);
    vkt_scope_end(test_dev);
}

#define BOTH(f)                                                                                    \
    cmocka_unit_test_setup_teardown(f, impl_fused, test_check_validation),                         \
        cmocka_unit_test_setup_teardown(f, impl_unfused, test_check_validation)

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        /* clang-format off */
        BOTH(attention_matches_reference),
        BOTH(dropout_matches_rebuilt_mask),
        BOTH(fully_masked_row_is_nan),
        BOTH(defaults_and_bitwise_determinism),
        BOTH(partial_gradients_match_full),
        BOTH(self_attention_gradient_sums_the_roles),
        BOTH(errors_are_clear),
        BOTH(attention_matches_torch),
        VKT_TEST(env_choice_is_checked),
        /* clang-format on */
    };
    fixture_path = argc > 1 ? argv[1] : NULL;
    return VKT_RUN_GROUP(tests);
}
