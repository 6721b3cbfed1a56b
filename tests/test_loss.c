/*
 * test_loss.c — the losses of include/vkt/loss.h:
 *   - PyTorch agreement: every case of tests/fixtures/torch_loss.txt (argv[1]; made by
 *     tools/make_torch_loss_fixtures.py, whose CASES this table mirrors), loss and gradient
 *     within 1e-4 relative (floor 1e-3 for values through zero);
 *   - the NLL_ROWS kernel against vkt__ref_nll_rows on a large batch;
 *   - defaults of a zeroed desc (ignore_index -100), all-ignored mean is NaN, bad options and
 *     shapes are clear errors.
 * Finite differences: src/check/check_grad.c (test_grad).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check/check.h"
#include "ops/loss.h"
#include "test_util.h"
#include "vkt/loss.h"


typedef test_fixture fix;

static const char *fixture_path;

static const fix *find(const char *c, const char *what)
{
    return test_fixture_find("%s/%s", c, what);
}

static vkt_tensor *tensor_of(const fix *x, vkt_dtype dtype)
{
    if (dtype != VKT_I32) {
        return test_upload(dtype, x->v, x->ndim, x->dims);
    }
    int32_t *iv = malloc((size_t)x->n * sizeof *iv);
    assert_non_null(iv);
    for (int64_t i = 0; i < x->n; i++) {
        iv[i] = (int32_t)x->v[i];
    }
    vkt_tensor *t = test_upload(VKT_I32, iv, x->ndim, x->dims);
    free(iv);
    return t;
}

typedef enum kind { MSE, L1, SMOOTH_L1, HUBER, BCE, NLL, CE } kind;

typedef struct loss_case {
    const char *name;
    kind kind;
    vkt_loss_desc desc; /* weight / pos_weight: set from the fixture when it has them */
} loss_case;

/* tools/make_torch_loss_fixtures.py's CASES */
static const loss_case cases[] = {
    {"mse_mean", MSE, {0}},
    {"mse_sum", MSE, {.reduction = VKT_REDUCTION_SUM}},
    {"mse_none", MSE, {.reduction = VKT_REDUCTION_NONE}},
    {"l1_mean", L1, {0}},
    {"l1_none", L1, {.reduction = VKT_REDUCTION_NONE}},
    {"smooth_l1_mean", SMOOTH_L1, {0}},
    {"smooth_l1_beta", SMOOTH_L1, {.reduction = VKT_REDUCTION_SUM, .beta = 0.5f}},
    {"huber_mean", HUBER, {0}},
    {"huber_delta", HUBER, {.reduction = VKT_REDUCTION_NONE, .delta = 0.7f}},
    {"bce_mean", BCE, {0}},
    {"bce_pos_weight", BCE, {.reduction = VKT_REDUCTION_SUM}},
    {"bce_both", BCE, {.reduction = VKT_REDUCTION_NONE}},
    {"nll_mean", NLL, {0}},
    {"nll_weight_mean", NLL, {0}},
    {"nll_weight_sum", NLL, {.reduction = VKT_REDUCTION_SUM}},
    {"nll_ignore2", NLL, {.reduction = VKT_REDUCTION_NONE, .has_ignore_index = true,
                          .ignore_index = 2}},
    {"ce_mean", CE, {0}},
    {"ce_weight_mean", CE, {0}},
    {"ce_smooth", CE, {.label_smoothing = 0.1f}},
    {"ce_weight_smooth", CE, {.label_smoothing = 0.2f}},
    {"ce_weight_smooth_sum", CE, {.reduction = VKT_REDUCTION_SUM, .label_smoothing = 0.2f}},
    {"ce_smooth_none", CE, {.reduction = VKT_REDUCTION_NONE, .label_smoothing = 0.3f}},
};

static vkt_tensor *apply(const loss_case *k, const vkt_tensor *x, const vkt_tensor *y,
                         const vkt_loss_desc *d)
{
    switch (k->kind) {
    case MSE:
        return vkt_mse_loss(x, y, d);
    case L1:
        return vkt_l1_loss(x, y, d);
    case SMOOTH_L1:
        return vkt_smooth_l1_loss(x, y, d);
    case HUBER:
        return vkt_huber_loss(x, y, d);
    case BCE:
        return vkt_binary_cross_entropy_with_logits(x, y, d);
    case NLL:
        return vkt_nll_loss(x, y, d);
    default:
        return vkt_cross_entropy(x, y, d);
    }
}

static void losses_match_pytorch(void **state)
{
    (void)state;
    test_fixtures_load(fixture_path, 50, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const loss_case *k = &cases[i];
        vkt_scope_begin(test_dev);
        const fix *fx = find(k->name, "input"), *fy = find(k->name, "target");
        assert_non_null(fx);
        assert_non_null(fy);
        vkt_tensor *x = tensor_of(fx, VKT_F32);
        vkt_tensor *y = tensor_of(fy, k->kind >= NLL ? VKT_I32 : VKT_F32);
        vkt_loss_desc d = k->desc;
        const fix *fw = find(k->name, "weight"), *fp = find(k->name, "pos_weight");
        d.weight = fw ? tensor_of(fw, VKT_F32) : NULL;
        d.pos_weight = fp ? tensor_of(fp, VKT_F32) : NULL;
        vkt_tensor_set_requires_grad(x, true);
        vkt_tensor *loss = apply(k, x, y, &d);
        assert_non_null(loss);
        const fix *fg = find(k->name, "g");
        vkt_tensor *l = fg ? vkt_sum(vkt_mul(loss, tensor_of(fg, VKT_F32))) : loss;
        assert_int_equal(vkt_backward(l), VKT_OK);
        double el = test_torch_err(loss, find(k->name, "loss"), 1e-3);
        double eg = test_torch_err(vkt_tensor_grad(x), find(k->name, "dinput"), 1e-3);
        print_message("%-22s loss %.2g grad %.2g\n", k->name, el, eg);
        assert_true(el <= 1e-4);
        assert_true(eg <= 1e-4);
        vkt_scope_end(test_dev);
    }
}

/* shaders/nll.comp vs vkt__ref_nll_rows on (4099, 37) with weights, smoothing and every tenth
 * row ignored: per-row sums of 37 terms in f32 vs double, tolerance 1e-5 relative */
static void nll_rows_match_reference(void **state)
{
    (void)state;
    enum { R = 4099, K = 37 };
    static float lp[R * K], w[K], loss[R], wt[R], got[R], got_wt[R];
    static int32_t t[R];
    uint64_t s = 12345;
    for (int i = 0; i < R * K; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        lp[i] = -(float)((s >> 40) % 10000) / 1000.0f;
    }
    for (int c = 0; c < K; c++) {
        w[c] = 0.25f + 0.05f * (float)c;
    }
    for (int i = 0; i < R; i++) {
        t[i] = i % 10 == 0 ? 7 : (i * 7) % K; /* ignore_index below is 7 */
    }
    vkt_scope_begin(test_dev);
    int64_t shape[2] = {R, K}, rows = R, cols = K;
    vkt_tensor *tl = vkt_tensor_new(test_dev, VKT_F32, 2, shape);
    vkt_tensor *tt = vkt_tensor_new_1d(test_dev, VKT_I32, rows);
    vkt_tensor *tw = vkt_tensor_new_1d(test_dev, VKT_F32, cols);
    assert_int_equal(vkt_tensor_upload(tl, lp, sizeof lp), VKT_OK);
    assert_int_equal(vkt_tensor_upload(tt, t, sizeof t), VKT_OK);
    assert_int_equal(vkt_tensor_upload(tw, w, sizeof w), VKT_OK);
    vkt_tensor *rw = NULL;
    vkt_tensor *out = vkt__nll_rows(tl, tt, tw, 7, 0.15f, &rw);
    assert_non_null(out);
    assert_int_equal(vkt_tensor_download(out, got, sizeof got), VKT_OK);
    assert_int_equal(vkt_tensor_download(rw, got_wt, sizeof got_wt), VKT_OK);
    vkt__ref_nll_rows(loss, wt, lp, t, w, 7, 0.15f, R, K);
    assert_true(vkt__max_err(got, loss, R) <= 1e-5);
    assert_true(vkt__max_err(got_wt, wt, R) == 0.0);
    vkt_tensor_free(rw);
    vkt_scope_end(test_dev);
}

/* A zeroed desc and NULL are torch's defaults (mean; ignore_index -100); all rows ignored give a
 * NaN mean (0 / 0, as torch); bad options and shapes are errors that name the problem. */
static void defaults_and_errors(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    float logits[6] = {1.0f, 2.0f, 0.5f, -1.0f, 0.0f, 3.0f};
    int32_t tg[2] = {-100, 1}, all_ignored[2] = {-100, -100};
    vkt_tensor *x = vkt_tensor_new_2d(test_dev, VKT_F32, 2, 3);
    vkt_tensor *t = vkt_tensor_new_1d(test_dev, VKT_I32, 2);
    assert_int_equal(vkt_tensor_upload(x, logits, sizeof logits), VKT_OK);
    assert_int_equal(vkt_tensor_upload(t, tg, sizeof tg), VKT_OK);
    float a, b;
    vkt_loss_desc zero = {0};
    assert_int_equal(vkt_tensor_download(vkt_cross_entropy(x, t, NULL), &a, sizeof a), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_cross_entropy(x, t, &zero), &b, sizeof b), VKT_OK);
    /* only row 1 counts: logsumexp(-1, 0, 3) - 0 */
    double want = log(exp(-1.0) + exp(0.0) + exp(3.0));
    assert_true(fabs(a - want) <= 1e-6 * want);
    assert_true(a == b);
    assert_int_equal(vkt_tensor_upload(t, all_ignored, sizeof all_ignored), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_cross_entropy(x, t, NULL), &a, sizeof a), VKT_OK);
    assert_true(isnan(a));

    vkt_loss_desc bad = {.label_smoothing = 1.5f};
    assert_null(vkt_cross_entropy(x, t, &bad));
    assert_int_equal(vkt_last_status(), VKT_INVALID_ARGUMENT);
    assert_non_null(strstr(vkt_last_error(), "label_smoothing"));
    bad = (vkt_loss_desc){.reduction = (vkt_reduction)9};
    assert_null(vkt_mse_loss(x, x, &bad));
    assert_non_null(strstr(vkt_last_error(), "reduction"));
    bad = (vkt_loss_desc){.beta = -1.0f};
    assert_null(vkt_smooth_l1_loss(x, x, &bad));
    assert_non_null(strstr(vkt_last_error(), "beta"));
    vkt_tensor *t3 = vkt_tensor_new_1d(test_dev, VKT_I32, 3);
    assert_null(vkt_nll_loss(x, t3, NULL));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "[3] i32"));
    vkt_tensor *w4 = vkt_tensor_new_1d(test_dev, VKT_F32, 4);
    vkt_loss_desc dw = {.weight = w4};
    assert_null(vkt_cross_entropy(x, t, &dw));
    assert_non_null(strstr(vkt_last_error(), "weight"));
    vkt_tensor *y = vkt_tensor_new_2d(test_dev, VKT_F32, 3, 2);
    assert_null(vkt_mse_loss(x, y, NULL));
    assert_non_null(strstr(vkt_last_error(), "[2, 3] f32"));
    assert_non_null(strstr(vkt_last_error(), "[3, 2] f32"));
    assert_null(vkt_cross_entropy(x, x, NULL));
    assert_int_equal(vkt_last_status(), VKT_DTYPE_MISMATCH);
    assert_null(vkt_l1_loss(NULL, x, NULL));
    vkt_scope_end(test_dev);
}

int main(int argc, char **argv)
{
    fixture_path = argc > 1 ? argv[1] : NULL;
    const struct CMUnitTest tests[] = {
        VKT_TEST(losses_match_pytorch),
        VKT_TEST(nll_rows_match_reference),
        VKT_TEST(defaults_and_errors),
    };
    return VKT_RUN_GROUP(tests);
}
