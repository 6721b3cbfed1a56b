/*
 * test_torch_agreement.c — vkt's MLP training matches PyTorch's, step by step.
 *
 * tests/fixtures/torch_mlp.txt (made by tools/make_torch_fixtures.py with Debian's python3-torch)
 * holds torch's initial weights for a 12-16-10-5 MLP, four batches, and for SGD (plain, momentum
 * with dampening, Nesterov, weight decay), Adam (with and without L2), AdamW and Adam with
 * clip_grad_norm_, the loss of every step and every weight after every step. vkt starts from the
 * same weights and must reproduce every loss and weight within 1e-5 relative.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define TOL 1e-5

typedef test_fixture fix;

static const char *fixture_path;

static void load_fixtures(void) { test_fixtures_load(fixture_path, 10, NULL); }

typedef struct config {
    const char *name;
    vkt_optim_desc opt;
    float clip;
} config;

static const config configs[] = {
    {"sgd", {.type = VKT_OPTIM_SGD, .lr = 0.1f}, 0},
    {"sgd_momentum",
     {.type = VKT_OPTIM_SGD,
      .lr = 0.05f,
      .momentum = 0.9f,
      .dampening = 0.1f,
      .weight_decay = 1e-3f},
     0},
    {"sgd_nesterov",
     {.type = VKT_OPTIM_SGD,
      .lr = 0.05f,
      .momentum = 0.9f,
      .nesterov = true,
      .weight_decay = 1e-3f},
     0},
    {"adam", {.type = VKT_OPTIM_ADAM, .lr = 1e-2f}, 0},
    {"adam_l2", {.type = VKT_OPTIM_ADAM, .lr = 1e-2f, .weight_decay = 1e-2f}, 0},
    {"adamw", {.type = VKT_OPTIM_ADAMW, .lr = 1e-2f, .weight_decay = 0.05f}, 0},
    {"adam_clip", {.type = VKT_OPTIM_ADAM, .lr = 1e-2f}, 0.5f},
};

static void run_config(const config *cfg)
{
    uint32_t sizes[4] = {12, 16, 10, 5};
    vkt_model_desc md;
    assert_int_equal(vkt_mlp_desc(sizes, 4, 0, &md), VKT_OK);
    vkt_model *m;
    assert_int_equal(vkt_model_create(test_dev, &md, &m), VKT_OK);
    assert_int_equal(vkt_model_num_tensors(m), 6);
    for (uint32_t t = 0; t < vkt_model_num_tensors(m); t++) {
        const fix *w = test_fixture_get("init/%s", vkt_model_tensor_name(m, t));
        assert_int_equal(vkt_tensor_numel(vkt_model_tensor(m, t)), w->n);
        assert_int_equal(vkt_tensor_upload(vkt_model_tensor(m, t), w->v, (size_t)w->n * 4), VKT_OK);
    }
    vkt_optimizer *opt;
    assert_int_equal(vkt_optimizer_create(m, &cfg->opt, &opt), VKT_OK);
    const fix *losses = test_fixture_get("%s/losses", cfg->name);
    double worst_loss = 0, worst_w = 0;
    for (int s = 0; s < 4; s++) {
        const fix *x = test_fixture_get("batch%d/x", s), *yf = test_fixture_get("batch%d/y", s);
        int32_t y[16];
        for (int i = 0; i < yf->n; i++) {
            y[i] = (int32_t)yf->v[i];
        }
        vkt_scope_begin(test_dev);
        vkt_tensor *tx = vkt_tensor_new_2d(test_dev, VKT_F32, x->dims[0], x->dims[1]);
        vkt_tensor *ty = vkt_tensor_new_1d(test_dev, VKT_I32, yf->n);
        assert_int_equal(vkt_tensor_upload(tx, x->v, (size_t)x->n * 4), VKT_OK);
        assert_int_equal(vkt_tensor_upload(ty, y, (size_t)yf->n * 4), VKT_OK);
        vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(m, tx), ty);
        assert_non_null(loss);
        assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
        assert_int_equal(vkt_backward(loss), VKT_OK);
        if (cfg->clip > 0) {
            assert_int_equal(vkt_clip_grad_norm(m, cfg->clip, NULL), VKT_OK);
        }
        assert_int_equal(vkt_optimizer_step(opt), VKT_OK);
        float l;
        assert_int_equal(vkt_tensor_download(loss, &l, sizeof l), VKT_OK);
        vkt_scope_end(test_dev);
        double el = test_rel_err(&l, &losses->v[s], 1, 1e-2);
        worst_loss = el > worst_loss ? el : worst_loss;
        for (uint32_t t = 0; t < vkt_model_num_tensors(m); t++) {
            const fix *w =
                test_fixture_get("%s/step%d/%s", cfg->name, s, vkt_model_tensor_name(m, t));
            float got[256];
            assert_true(w->n <= 256);
            assert_int_equal(vkt_tensor_download(vkt_model_tensor(m, t), got, (size_t)w->n * 4),
                             VKT_OK);
            double e = test_rel_err(got, w->v, w->n, 1e-2);
            if (e > TOL) {
                fprintf(stderr, "%s step %d %s: relative error %.3g\n", cfg->name, s,
                        vkt_model_tensor_name(m, t), e);
            }
            worst_w = e > worst_w ? e : worst_w;
        }
    }
    fprintf(stderr, "%-13s max relative error: loss %.2g, weights %.2g\n", cfg->name, worst_loss,
            worst_w);
    assert_true(worst_loss <= TOL);
    assert_true(worst_w <= TOL);
    vkt_optimizer_destroy(opt);
    vkt_model_destroy(m);
}

static void mlp_training_matches_pytorch(void **state)
{
    (void)state;
    load_fixtures();
    for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
        run_config(&configs[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s tests/fixtures/torch_mlp.txt\n", argv[0]);
        return 2;
    }
    fixture_path = argv[1];
    const struct CMUnitTest tests[] = {
        VKT_TEST(mlp_training_matches_pytorch),
    };
    return VKT_RUN_GROUP(tests);
}
