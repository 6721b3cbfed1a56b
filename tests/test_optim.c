/*
 * test_optim.c — vkt_sgd_step and vkt_adam_step: the "optim" checks (src/check/check_optim.c,
 * against the CPU reference), argument errors, defaults, torch's semantics on numbers worked out
 * by hand, and a small training run (logits trained directly with SGD on vkt_softmax_xent)
 * whose losses must follow the CPU reference's.
 */
#include <math.h>
#include <string.h>

#include "ref/ref.h"
#include "test_util.h"

static void optim_matches_reference(void **state)
{
    (void)state;
    test_run_checks("optim");
}

static vkt_tensor *upload(const float *data, int64_t n)
{
    return test_upload(VKT_F32, data, 1, &n);
}

static void download(const vkt_tensor *t, float *dst, int64_t n)
{
    assert_int_equal(vkt_tensor_download(t, dst, (size_t)n * sizeof *dst), VKT_OK);
}

static void expect_error(vkt_status got, vkt_status want, const char *needle)
{
    assert_int_equal(got, want);
    assert_int_equal(vkt_last_status(), want);
    if (!strstr(vkt_last_error(), needle)) {
        fail_msg("error \"%s\" does not mention \"%s\"", vkt_last_error(), needle);
    }
}

static void optim_bad_arguments_are_clear_errors(void **state)
{
    (void)state;
    vkt_scope_begin(test_dev);
    vkt_tensor *p = vkt_tensor_new_2d(test_dev, VKT_F32, 3, 4);
    vkt_tensor *g = vkt_tensor_new_1d(test_dev, VKT_F32, 12); /* same count, other shape: fine */
    vkt_tensor *g5 = vkt_tensor_new_1d(test_dev, VKT_F32, 5);
    vkt_tensor *gi = vkt_tensor_new_1d(test_dev, VKT_I32, 12);
    vkt_tensor *m = vkt_tensor_new_1d(test_dev, VKT_F32, 12);
    vkt_tensor *v = vkt_tensor_new_1d(test_dev, VKT_F32, 12);
    vkt_fill(p, 1.0f);
    vkt_fill(g, 1.0f);
    vkt_fill(m, 0.0f);
    vkt_fill(v, 0.0f);
    vkt_sgd_params sgd = {.lr = 0.1f};
    vkt_adam_params adam = {.lr = 0.1f, .step = 1};

    assert_int_equal(vkt_sgd_step(p, g, NULL, &sgd), VKT_OK);
    assert_int_equal(vkt_adam_step(p, g, m, v, &adam), VKT_OK);

    expect_error(vkt_sgd_step(p, g5, NULL, &sgd), VKT_SHAPE_MISMATCH,
                 "vkt_sgd_step: param is [3, 4] f32 but grad is [5] f32");
    expect_error(vkt_sgd_step(p, gi, NULL, &sgd), VKT_DTYPE_MISMATCH, "grad is [12] i32");
    expect_error(vkt_sgd_step(p, g, NULL, &(vkt_sgd_params){.lr = 0.1f, .momentum = 0.9f}),
                 VKT_INVALID_ARGUMENT, "needs a momentum_buf");
    expect_error(vkt_sgd_step(p, g, m,
                              &(vkt_sgd_params){.lr = 0.1f, .momentum = 0.9f, .dampening = 0.1f,
                                                .nesterov = true}),
                 VKT_INVALID_ARGUMENT, "Nesterov");
    expect_error(vkt_sgd_step(p, g, NULL, &(vkt_sgd_params){.lr = -1.0f}), VKT_INVALID_ARGUMENT,
                 "lr (-1)");
    expect_error(vkt_sgd_step(p, p, NULL, &sgd), VKT_INVALID_ARGUMENT,
                 "param and grad share memory");
    expect_error(vkt_sgd_step(p, g, g, &(vkt_sgd_params){.lr = 0.1f, .momentum = 0.5f}),
                 VKT_INVALID_ARGUMENT, "grad and momentum_buf share memory");
    expect_error(vkt_sgd_step(p, g, NULL, NULL), VKT_INVALID_ARGUMENT, "must not be NULL");

    expect_error(vkt_adam_step(p, g, m, v, &(vkt_adam_params){.lr = 0.1f}),
                 VKT_INVALID_ARGUMENT, "step is 0");
    expect_error(vkt_adam_step(p, g, m, g5, &adam), VKT_SHAPE_MISMATCH, "v is [5] f32");
    expect_error(vkt_adam_step(p, g, m, m, &adam), VKT_INVALID_ARGUMENT,
                 "m and v share memory");
    expect_error(
        vkt_adam_step(p, g, m, v, &(vkt_adam_params){.lr = 0.1f, .beta1 = 1.0f, .step = 1}),
        VKT_INVALID_ARGUMENT, "betas in (0, 1)");
    expect_error(vkt_adam_step(p, g, NULL, v, &adam), VKT_INVALID_ARGUMENT, "must not be NULL");

    /* views that overlap count as sharing memory */
    vkt_tensor *big = vkt_tensor_new_1d(test_dev, VKT_F32, 128);
    vkt_tensor *lo = vkt_tensor_view(big, 0, 1, (int64_t[]){12});
    vkt_tensor *hi = vkt_tensor_view(big, 64, 1, (int64_t[]){12});
    vkt_fill(big, 0.0f);
    assert_int_equal(vkt_adam_step(p, g, lo, hi, &adam), VKT_OK);
    vkt_scope_end(test_dev);
}

/* beta1 = beta2 = eps = 0 mean torch's defaults 0.9, 0.999, 1e-8: the same bits as spelling
 * them out. */
static void adam_zero_params_mean_defaults(void **state)
{
    (void)state;
    enum { N = 100 };
    float x[N], gr[N], out[2][N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i / N - 0.5f;
        gr[i] = (float)((i * 7) % 13) / 13.0f - 0.4f;
    }
    vkt_adam_params given[2] = {{.lr = 0.01f, .weight_decay = 0.1f},
                                {.lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                 .weight_decay = 0.1f}};
    for (int k = 0; k < 2; k++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *p = upload(x, N), *g = upload(gr, N);
        vkt_tensor *m = vkt_tensor_new_1d(test_dev, VKT_F32, N);
        vkt_tensor *v = vkt_tensor_new_1d(test_dev, VKT_F32, N);
        vkt_fill(m, 0.0f);
        vkt_fill(v, 0.0f);
        for (uint32_t step = 1; step <= 3; step++) {
            given[k].step = step;
            assert_int_equal(vkt_adam_step(p, g, m, v, &given[k]), VKT_OK);
        }
        download(p, out[k], N);
        vkt_scope_end(test_dev);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
}

/* torch.optim.SGD's momentum on numbers exact in f32 (lr 0.5, momentum 0.5, dampening 0.5):
 *   step 1 (first):  buf = g1 = 1                        p = 1 - 0.5 * 1   = 0.5
 *   step 2, g2 = 3:  buf = 0.5 * 1 + (1 - 0.5) * 3 = 2    p = 0.5 - 0.5 * 2 = -0.5
 * and with Nesterov (dampening 0), g = 1 then 3:
 *   step 1:  buf = 1,                  g' = 1 + 0.5 * 1 = 1.5      p = 1 - 0.75   = 0.25
 *   step 2:  buf = 0.5 * 1 + 3 = 3.5,  g' = 3 + 0.5 * 3.5 = 4.75   p = 0.25 - 2.375 = -2.125 */
static void sgd_momentum_follows_torch(void **state)
{
    (void)state;
    const float one = 1.0f, g1 = 1.0f, g2 = 3.0f;
    const vkt_sgd_params plain = {.lr = 0.5f, .momentum = 0.5f, .dampening = 0.5f};
    const vkt_sgd_params nesterov = {.lr = 0.5f, .momentum = 0.5f, .nesterov = true};
    const float want[2][4] = {{0.5f, 1.0f, -0.5f, 2.0f}, {0.25f, 1.0f, -2.125f, 3.5f}};
    for (int k = 0; k < 2; k++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *p = upload(&one, 1), *buf = vkt_tensor_new_1d(test_dev, VKT_F32, 1);
        vkt_sgd_params sp = k == 0 ? plain : nesterov;
        float got[4];
        sp.first_step = true;
        assert_int_equal(vkt_sgd_step(p, upload(&g1, 1), buf, &sp), VKT_OK);
        download(p, &got[0], 1);
        download(buf, &got[1], 1);
        sp.first_step = false;
        assert_int_equal(vkt_sgd_step(p, upload(&g2, 1), buf, &sp), VKT_OK);
        download(p, &got[2], 1);
        download(buf, &got[3], 1);
        assert_memory_equal(got, want[k], sizeof got);
        vkt_scope_end(test_dev);
    }
}

/* Adam's first step from m = v = 0 moves each parameter by lr * g / (|g| + eps'), i.e. by
 * almost exactly lr against the gradient's sign, whatever the gradient's size (m^ = g and
 * v^ = g^2 after bias correction). AdamW with weight decay first scales by 1 - lr * wd. */
static void adam_first_step_moves_by_lr(void **state)
{
    (void)state;
    enum { N = 4 };
    const float x[N] = {0.5f, -0.25f, 2.0f, 0.0f};
    const float g[N] = {0.3f, -2.0f, 1e-3f, -50.0f};
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        vkt_scope_begin(test_dev);
        vkt_tensor *p = upload(x, N);
        vkt_tensor *m = vkt_tensor_new_1d(test_dev, VKT_F32, N);
        vkt_tensor *v = vkt_tensor_new_1d(test_dev, VKT_F32, N);
        vkt_fill(m, 0.0f);
        vkt_fill(v, 0.0f);
        vkt_adam_params ap = {.lr = 0.01f, .step = 1};
        if (decoupled) {
            ap.decoupled = true;
            ap.weight_decay = 0.5f;
        }
        assert_int_equal(vkt_adam_step(p, upload(g, N), m, v, &ap), VKT_OK);
        float got[N];
        download(p, got, N);
        for (int i = 0; i < N; i++) {
            double start = decoupled ? x[i] * (1.0 - 0.01 * 0.5) : x[i];
            double want = start - 0.01 * g[i] / (fabs(g[i]) + 1e-8);
            assert_true(fabs(got[i] - want) <= 1.2e-7 * fmax(1.0, fabs(want)));
        }
        vkt_scope_end(test_dev);
    }
}

/* Trains logits (B, C) directly: each step computes vkt_softmax_xent, backward, and an SGD step
 * with momentum on the logits. The CPU runs the same loop with the references; the device's
 * losses must follow them (f32 vs double reference: 1e-5 relative, the trajectories contract)
 * and the loss must drop by the reference's amount. */
static void training_logits_with_sgd_reduces_loss(void **state)
{
    (void)state;
    enum { B = 8, C = 5, STEPS = 15 };
    float x[B * C], ref_x[B * C], ref_buf[B * C] = {0}, ref_g[B * C];
    int32_t y[B];
    uint32_t r = 7;
    for (int i = 0; i < B * C; i++) {
        r = r * 1664525u + 1013904223u;
        x[i] = (float)(r >> 8) / 16777216.0f * 4.0f - 2.0f;
    }
    for (int i = 0; i < B; i++) {
        y[i] = (i * 2 + 1) % C;
    }
    memcpy(ref_x, x, sizeof x);
    const vkt_sgd_params sp0 = {.lr = 2.0f, .momentum = 0.5f};

    vkt_scope_begin(test_dev);
    vkt_tensor *logits = vkt_tensor_new_2d(test_dev, VKT_F32, B, C);
    vkt_tensor *labels = vkt_tensor_new_1d(test_dev, VKT_I32, B);
    vkt_tensor *buf = vkt_tensor_new_2d(test_dev, VKT_F32, B, C);
    assert_int_equal(vkt_tensor_upload(logits, x, sizeof x), VKT_OK);
    assert_int_equal(vkt_tensor_upload(labels, y, sizeof y), VKT_OK);
    vkt_tensor_set_requires_grad(logits, true);
    float losses[STEPS], ref_losses[STEPS];
    for (int step = 0; step < STEPS; step++) {
        vkt_sgd_params sp = sp0;
        sp.first_step = step == 0;

        vkt_scope_begin(test_dev);
        vkt_tensor *loss = vkt_softmax_xent(logits, labels);
        assert_non_null(loss);
        assert_int_equal(vkt_zero_grad(logits), VKT_OK);
        assert_int_equal(vkt_backward(loss), VKT_OK);
        assert_int_equal(vkt_tensor_download(loss, &losses[step], sizeof(float)), VKT_OK);
        vkt_scope_end(test_dev);
        assert_int_equal(vkt_sgd_step(logits, vkt_tensor_grad(logits), buf, &sp), VKT_OK);

        vkt__ref_softmax_xent(&ref_losses[step], ref_x, y, B, C);
        vkt__ref_softmax_xent_backward(ref_g, ref_x, y, 1.0f, B, C);
        vkt__ref_sgd_step(ref_x, ref_buf, ref_g, &sp, B * C);
    }
    vkt_scope_end(test_dev);
    for (int step = 0; step < STEPS; step++) {
        if (!(fabsf(losses[step] - ref_losses[step]) <= 1e-5f * ref_losses[step])) {
            fail_msg("step %d: loss %.9g, reference %.9g", step, losses[step], ref_losses[step]);
        }
    }
    /* The reference's loss falls at every step, from 2.2264 to 0.13514 (to a sixteenth); the
     * device's must too. */
    for (int step = 1; step < STEPS; step++) {
        assert_true(ref_losses[step] < ref_losses[step - 1]);
        assert_true(losses[step] < losses[step - 1]);
    }
    assert_true(ref_losses[0] > 2.0f && ref_losses[STEPS - 1] < ref_losses[0] / 16.0f);
    assert_true(losses[STEPS - 1] < losses[0] / 16.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(optim_matches_reference),
        VKT_TEST(optim_bad_arguments_are_clear_errors),
        VKT_TEST(adam_zero_params_mean_defaults),
        VKT_TEST(sgd_momentum_follows_torch),
        VKT_TEST(adam_first_step_moves_by_lr),
        VKT_TEST(training_logits_with_sgd_reduces_loss),
    };
    return VKT_RUN_GROUP(tests);
}
