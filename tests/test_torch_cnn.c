/*
 * test_torch_cnn.c — PyTorch agreement for a small CNN trained by vkt's layers, ops and Adam:
 *     Conv2d(1,4,3,p=1,bias=False) BatchNorm2d(4) ReLU MaxPool2d(2) Conv2d(4,8,3,p=1,bias=False)
 *     BatchNorm2d(8) ReLU MaxPool2d(2) Flatten Linear(72,16) ReLU Dropout(0.25) Linear(16,10)
 * on (8, 1, 12, 12)
 * from tests/fixtures/torch_cnn.safetensors (argv[1]; made by tools/make_torch_cnn_fixture.py,
 * whose header lists the tensors and says why the convolutions have no bias). The model is a user's
 * own forward over the layer API, named as torch's nn.Sequential; torch's dropout masks cannot be
 * regenerated, so the fixture's mask is multiplied (vkt_mul) where Dropout stands. From torch's
 * initial state dict, four Adam steps (lr 1e-2) in training mode must reproduce every loss, every
 * parameter and buffer after every step (running statistics and num_batches_tracked included), the
 * step-0 gradients, and the logits of a batch in eval mode, within 1e-4 relative. The worst error
 * per family (conv, bn, linear, loss, eval logits) is printed. The sequential vkt_cnn_desc of the
 * same sizes must name its tensors as the fixture does.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

#define TOL 1e-4
enum { B = 8, STEPS = 4, CLASSES = 10, HIDDEN = 16 };

static const char *fixture_path;

typedef struct cnn {
    vkt_model *m;
    vkt_conv2d_layer conv0, conv4;
    vkt_batch_norm_layer bn1, bn5;
    vkt_linear_layer fc9, fc12;
} cnn;

static void cnn_init(cnn *c)
{
    assert_int_equal(vkt_model_create(test_dev, &(vkt_model_desc){.seed = 0}, &c->m), VKT_OK);
    const vkt_conv2d_desc k3 = {.kernel = {3, 3}, .padding = {1, 1}};
    vkt_conv2d_desc d0 = k3, d4 = k3;
    d0.in_channels = 1, d0.out_channels = 4, d0.no_bias = true;
    d4.in_channels = 4, d4.out_channels = 8, d4.no_bias = true;
    assert_int_equal(vkt_conv2d_init(c->m, "0", &d0, &c->conv0), VKT_OK);
    assert_int_equal(
        vkt_batch_norm2d_init(c->m, "1", &(vkt_batch_norm_desc){.num_features = 4}, &c->bn1),
        VKT_OK);
    assert_int_equal(vkt_conv2d_init(c->m, "4", &d4, &c->conv4), VKT_OK);
    assert_int_equal(
        vkt_batch_norm2d_init(c->m, "5", &(vkt_batch_norm_desc){.num_features = 8}, &c->bn5),
        VKT_OK);
    assert_int_equal(vkt_linear_init(c->m, "9", 72, HIDDEN, true, &c->fc9), VKT_OK);
    assert_int_equal(vkt_linear_init(c->m, "12", HIDDEN, CLASSES, true, &c->fc12), VKT_OK);
}

/* torch's forward of the fixture's model; mask NULL: no dropout (eval) */
static vkt_tensor *cnn_forward(cnn *c, vkt_tensor *x, vkt_tensor *mask)
{
    const vkt_pool2d_params pool2 = {.kernel = {2, 2}};
    vkt_tensor *h = vkt_relu(vkt_batch_norm_forward(&c->bn1, vkt_conv2d_forward(&c->conv0, x)));
    h = vkt_max_pool2d(h, &pool2);
    h = vkt_relu(vkt_batch_norm_forward(&c->bn5, vkt_conv2d_forward(&c->conv4, h)));
    h = vkt_max_pool2d(h, &pool2);
    h = vkt_relu(vkt_linear_forward(&c->fc9, vkt_flatten(h, 1, -1)));
    if (mask) {
        h = vkt_mul(h, mask);
    }
    return vkt_linear_forward(&c->fc12, h);
}

/* the worst error per tensor family: by the index of the layer in the Sequential */
enum { FAM_CONV, FAM_BN, FAM_LINEAR, FAM_LOSS, FAM_LOGITS, FAM_COUNT };
static const char *const fam_names[FAM_COUNT] = {"conv", "bn", "linear", "loss", "eval logits"};
static double worst[FAM_COUNT];
static int failures;

static int family(const char *name)
{
    switch (atoi(name)) {
    case 0:
    case 4:
        return FAM_CONV;
    case 1:
    case 5:
        return FAM_BN;
    default:
        return FAM_LINEAR;
    }
}

static void record(int fam, const char *what, double e)
{
    worst[fam] = fmax(worst[fam], e);
    if (!(e <= TOL)) {
        fprintf(stderr, "%s: relative error %.3g > %g\n", what, e, TOL);
        failures++;
    }
}

/* The fixture's "<prefix>/<key>" (prefix NULL: "<key>") with want_numel elements. The file has
 * no vkt metadata, so vkt_checkpoint_load reads it as one flat dict. */
static const float *get(const vkt_dict *fx, const char *prefix, const char *key, int64_t want_numel)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s%s", prefix ? prefix : "", prefix ? "/" : "", key);
    return test_dict_floats(fx, full, want_numel);
}

static vkt_tensor *upload(const vkt_dict *fx, const char *prefix, const char *key, int ndim,
                          const int64_t *shape)
{
    vkt_tensor *t = vkt_tensor_new(test_dev, VKT_F32, ndim, shape);
    assert_non_null(t);
    const float *v = get(fx, prefix, key, vkt_tensor_numel(t));
    assert_int_equal(vkt_tensor_upload(t, v, vkt_tensor_bytes(t)), VKT_OK);
    return t;
}

/* A new dict of the "<prefix>/..." entries without the prefix: a state dict to load. */
static vkt_dict *pick(const vkt_dict *fx, const char *prefix)
{
    vkt_dict *sd = vkt_dict_create();
    assert_non_null(sd);
    size_t n = strlen(prefix);
    for (uint32_t i = 0; i < vkt_dict_count(fx); i++) {
        const char *key = vkt_dict_key(fx, i);
        int ndim;
        int64_t shape[VKT_MAX_DIMS];
        const float *v = vkt_dict_get_floats(fx, key, &ndim, shape);
        if (v && strncmp(key, prefix, n) == 0 && key[n] == '/') {
            assert_int_equal(vkt_dict_set_floats(sd, key + n + 1, v, ndim, shape), VKT_OK);
        }
    }
    return sd;
}

/* every tensor of the model against the fixture's child `prefix` ("step2", "grad0") */
static void compare_tensors(const cnn *c, const vkt_dict *fx, const char *prefix, bool grads)
{
    for (uint32_t i = 0; i < vkt_model_num_tensors(c->m); i++) {
        const char *name = vkt_model_tensor_name(c->m, i);
        vkt_param *p = vkt_model_tensor_param(c->m, i);
        if (grads && vkt_param_is_buffer(p)) {
            continue;
        }
        vkt_tensor *t = vkt_param_tensor(p);
        int64_t n = vkt_tensor_numel(t);
        const float *want = get(fx, prefix, name, n);
        float *got = malloc((size_t)n * sizeof *got);
        assert_non_null(got);
        vkt_tensor *src = grads ? vkt_tensor_grad(t) : t;
        assert_non_null(src);
        assert_int_equal(vkt_tensor_download(src, got, (size_t)n * sizeof *got), VKT_OK);
        if (vkt_tensor_dtype(t) == VKT_I32) { /* num_batches_tracked: exact */
            int32_t k;
            memcpy(&k, got, sizeof k);
            got[0] = (float)k;
            assert_true(got[0] == want[0]);
        }
        char what[96];
        snprintf(what, sizeof what, "%s/%s", prefix, name);
        record(family(name), what, test_rel_err(got, want, n, 1e-2));
        free(got);
    }
}

static void cnn_trains_as_torch(void **state)
{
    (void)state;
    vkt_dict *fx = NULL;
    assert_int_equal(vkt_checkpoint_load(fixture_path, &fx), VKT_OK);
    vkt_dict *init = pick(fx, "init");

    cnn c;
    cnn_init(&c);
    /* torch's state_dict names in torch's order, for the hand-made model and the sequential one
     * of the same sizes (the strict load below checks them against the fixture) */
    static const char *const names[] = {"0.weight",       "1.weight",      "1.bias",
                                        "1.running_mean", "1.running_var", "1.num_batches_tracked",
                                        "4.weight",       "5.weight",      "5.bias",
                                        "5.running_mean", "5.running_var", "5.num_batches_tracked",
                                        "9.weight",       "9.bias",        "12.weight",
                                        "12.bias"};
    enum { N_NAMES = sizeof names / sizeof names[0] };
    vkt_model *seq = NULL;
    vkt_model_desc md;
    assert_int_equal(vkt_cnn_desc(&(vkt_cnn_config){.channels = 1,
                                                    .height = 12,
                                                    .width = 12,
                                                    .classes = CLASSES,
                                                    .conv1 = 4,
                                                    .conv2 = 8,
                                                    .hidden = HIDDEN,
                                                    .no_conv_bias = true},
                                  &md),
                     VKT_OK);
    assert_int_equal(vkt_model_create(test_dev, &md, &seq), VKT_OK);
    assert_int_equal(vkt_dict_count(init), N_NAMES);
    assert_int_equal(vkt_model_num_tensors(c.m), N_NAMES);
    assert_int_equal(vkt_model_num_tensors(seq), N_NAMES);
    for (uint32_t i = 0; i < N_NAMES; i++) {
        assert_string_equal(vkt_model_tensor_name(c.m, i), names[i]);
        assert_string_equal(vkt_model_tensor_name(seq, i), names[i]);
    }
    assert_int_equal(vkt_model_load_state_dict(seq, init), VKT_OK); /* shapes agree too */
    vkt_model_destroy(seq);
    assert_int_equal(vkt_model_load_state_dict(c.m, init), VKT_OK);
    vkt_dict_destroy(init);
    compare_tensors(&c, fx, "init", false); /*DEBUG*/

    vkt_optimizer *opt = NULL;
    assert_int_equal(
        vkt_optimizer_create(c.m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM, .lr = 1e-2f}, &opt),
        VKT_OK);
    const float *want_loss = get(fx, NULL, "loss", STEPS);
    const int64_t xshape[4] = {B, 1, 12, 12};
    for (int s = 0; s < STEPS; s++) {
        char key[64];
        vkt_scope_begin(test_dev);
        snprintf(key, sizeof key, "batch%d", s);
        vkt_tensor *x = upload(fx, key, "x", 4, xshape);
        vkt_tensor *mask = upload(fx, key, "mask", 2, (int64_t[]){B, HIDDEN});
        const float *yf = get(fx, key, "y", B);
        int32_t yi[B];
        for (int i = 0; i < B; i++) {
            yi[i] = (int32_t)yf[i];
        }
        vkt_tensor *y = vkt_tensor_new_1d(test_dev, VKT_I32, B);
        assert_int_equal(vkt_tensor_upload(y, yi, sizeof yi), VKT_OK);
        vkt_tensor *loss = vkt_softmax_xent(cnn_forward(&c, x, mask), y);
        assert_non_null(loss);
        assert_int_equal(vkt_model_zero_grad(c.m), VKT_OK);
        assert_int_equal(vkt_backward(loss), VKT_OK);
        if (s == 0) {
            compare_tensors(&c, fx, "grad0", true);
        }
        assert_int_equal(vkt_optimizer_step(opt), VKT_OK);
        float l;
        assert_int_equal(vkt_tensor_download(loss, &l, sizeof l), VKT_OK);
        vkt_scope_end(test_dev);
        snprintf(key, sizeof key, "loss of step %d", s);
        record(FAM_LOSS, key, test_rel_err(&l, &want_loss[s], 1, 1e-2));
        snprintf(key, sizeof key, "step%d", s);
        compare_tensors(&c, fx, key, false);
    }
    /* eval: running statistics, no dropout */
    vkt_model_train(c.m, false);
    vkt_scope_begin(test_dev);
    vkt_tensor *logits = cnn_forward(&c, upload(fx, "eval", "x", 4, xshape), NULL);
    assert_non_null(logits);
    float got[B * CLASSES];
    assert_int_equal(vkt_tensor_download(logits, got, sizeof got), VKT_OK);
    vkt_scope_end(test_dev);
    record(FAM_LOGITS, "eval/logits",
           test_rel_err(got, get(fx, "eval", "logits", B * CLASSES), B * CLASSES, 1e-2));

    fprintf(stderr, "worst relative error against torch (tol %g):", TOL);
    for (int f = 0; f < FAM_COUNT; f++) {
        fprintf(stderr, " %s %.2g%s", fam_names[f], worst[f], f + 1 < FAM_COUNT ? "," : "\n");
    }
    vkt_optimizer_destroy(opt);
    vkt_model_destroy(c.m);
    vkt_dict_destroy(fx);
    assert_int_equal(failures, 0);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s tests/fixtures/torch_cnn.safetensors\n", argv[0]);
        return 2;
    }
    fixture_path = argv[1];
    const struct CMUnitTest tests[] = {
        VKT_TEST(cnn_trains_as_torch),
    };
    return VKT_RUN_GROUP(tests);
}
