/*
 * test_nn.c — models (layout, initialisation, names, errors), optimizers and schedules, gradient
 * clipping, and the counters of a 100-step training run: one submit per step, a host wait only
 * where the loss is printed.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"

static vkt_model *mlp(const uint32_t *sizes, int n, uint64_t seed)
{
    vkt_model_desc md;
    assert_int_equal(vkt_mlp_desc(sizes, n, seed, &md), VKT_OK);
    vkt_model *m = NULL;
    assert_int_equal(vkt_model_create(test_dev, &md, &m), VKT_OK);
    return m;
}

static void model_layout_names_and_init(void **state)
{
    (void)state;
    uint32_t sizes[4] = {784, 256, 128, 10};
    vkt_model *m = mlp(sizes, 4, 42);
    assert_int_equal(vkt_model_num_params(m), 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
    assert_int_equal(vkt_model_num_tensors(m), 6);
    const char *names[6] = {"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"};
    for (int i = 0; i < 6; i++) {
        assert_string_equal(vkt_model_tensor_name(m, (uint32_t)i), names[i]);
    }
    assert_int_equal(vkt_tensor_dim(vkt_model_tensor(m, 0), 0), 256); /* (out, in) as torch */
    assert_int_equal(vkt_tensor_dim(vkt_model_tensor(m, 0), 1), 784);
    assert_true(vkt_tensor_numel(vkt_model_param_block(m)) >= (int64_t)vkt_model_num_params(m));
    /* torch.nn.Linear: U(-1/sqrt(in), 1/sqrt(in)) for weights and biases */
    const uint32_t fan_in[6] = {784, 784, 256, 256, 128, 128};
    for (int i = 0; i < 6; i++) {
        vkt_tensor *t = vkt_model_tensor(m, (uint32_t)i);
        int64_t n = vkt_tensor_numel(t);
        float *v = malloc((size_t)n * 4);
        assert_int_equal(vkt_tensor_download(t, v, (size_t)n * 4), VKT_OK);
        float bound = 1.0f / sqrtf((float)fan_in[i]);
        double mean = 0, sq = 0, maxabs = 0;
        for (int64_t j = 0; j < n; j++) {
            assert_true(fabsf(v[j]) <= bound);
            mean += v[j];
            sq += (double)v[j] * v[j];
            maxabs = fmax(maxabs, fabs(v[j]));
        }
        mean /= (double)n;
        double var = sq / (double)n - mean * mean;
        if (n > 1000) { /* uniform: variance bound^2 / 3 */
            assert_true(fabs(var / (bound * bound / 3.0) - 1.0) < 0.05);
            assert_true(maxabs > 0.95 * bound);
        }
        free(v);
    }
    /* padding of the gradient block is zero and zero_grad is one fill */
    vkt_device_finish(test_dev);
    vkt_device_reset_stats(test_dev);
    assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    assert_int_equal(st.transfers, 1);
    assert_int_equal(st.dispatches, 0);
    vkt_model_destroy(m);
}

static void seeds_reproduce_and_differ(void **state)
{
    (void)state;
    uint32_t sizes[3] = {7, 5, 3};
    vkt_model *a = mlp(sizes, 3, 1), *b = mlp(sizes, 3, 1), *c = mlp(sizes, 3, 2);
    float va[35], vb[35], vc[35];
    assert_int_equal(vkt_tensor_download(vkt_model_tensor(a, 0), va, sizeof va), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_model_tensor(b, 0), vb, sizeof vb), VKT_OK);
    assert_int_equal(vkt_tensor_download(vkt_model_tensor(c, 0), vc, sizeof vc), VKT_OK);
    assert_memory_equal(va, vb, sizeof va);
    assert_memory_not_equal(va, vc, sizeof va);
    vkt_model_destroy(a);
    vkt_model_destroy(b);
    vkt_model_destroy(c);
}

static void model_errors_are_clear(void **state)
{
    (void)state;
    vkt_model *m = NULL;
    vkt_model_desc bad = {.layers = {{VKT_LAYER_LINEAR, 4, 8}, {VKT_LAYER_RELU},
                                     {VKT_LAYER_LINEAR, 9, 2}}};
    assert_int_equal(vkt_model_create(test_dev, &bad, &m), VKT_SHAPE_MISMATCH);
    assert_null(m);
    assert_non_null(strstr(vkt_last_error(), "takes 9 inputs"));
    uint32_t one[1] = {4};
    vkt_model_desc md;
    assert_int_equal(vkt_mlp_desc(one, 1, 0, &md), VKT_INVALID_ARGUMENT);

    uint32_t sizes[2] = {4, 3};
    m = mlp(sizes, 2, 0);
    vkt_scope_begin(test_dev);
    vkt_tensor *x = vkt_tensor_new_2d(test_dev, VKT_F32, 2, 5);
    assert_null(vkt_model_forward(m, x));
    assert_int_equal(vkt_last_status(), VKT_SHAPE_MISMATCH);
    assert_non_null(strstr(vkt_last_error(), "(batch, 4)"));
    vkt_scope_end(test_dev);
    vkt_optimizer *o = NULL;
    assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_SGD, .lr = -1},
                                          &o),
                     VKT_INVALID_ARGUMENT);
    assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_SGD,
                                                               .nesterov = true},
                                          &o),
                     VKT_INVALID_ARGUMENT);
    assert_null(o);
    vkt_model_destroy(m);
}

static void schedules_follow_torch(void **state)
{
    (void)state;
    uint32_t sizes[2] = {2, 2};
    vkt_model *m = mlp(sizes, 2, 0);
    vkt_optimizer *o;
    assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_SGD, .lr = 0.1f},
                                          &o),
                     VKT_OK);
    vkt_scheduler *s;
    assert_int_equal(vkt_scheduler_create(o, &(vkt_sched_desc){.type = VKT_SCHED_STEP,
                                                               .step_size = 3, .gamma = 0.5f},
                                          &s),
                     VKT_OK);
    /* StepLR(step_size=3, gamma=0.5) after 1..7 steps: 0.1 0.1 0.05 0.05 0.05 0.025 0.025 */
    const float want_step[7] = {0.1f, 0.1f, 0.05f, 0.05f, 0.05f, 0.025f, 0.025f};
    for (int t = 0; t < 7; t++) {
        vkt_scheduler_step(s);
        assert_float_equal(vkt_optimizer_lr(o), want_step[t], 1e-9);
    }
    vkt_scheduler_destroy(s);
    vkt_optimizer_set_lr(o, 0.1f);
    assert_int_equal(vkt_scheduler_create(o, &(vkt_sched_desc){.type = VKT_SCHED_COSINE,
                                                               .t_max = 10, .eta_min = 0.001f},
                                          &s),
                     VKT_OK);
    for (int t = 1; t <= 10; t++) {
        vkt_scheduler_step(s);
        double want = 0.001 + (0.1 - 0.001) * (1 + cos(M_PI * t / 10.0)) / 2;
        assert_float_equal(vkt_optimizer_lr(o), want, 1e-7);
    }
    assert_float_equal(vkt_optimizer_lr(o), 0.001, 1e-9);
    vkt_scheduler_destroy(s);
    assert_int_equal(vkt_scheduler_create(o, &(vkt_sched_desc){.type = VKT_SCHED_COSINE}, &s),
                     VKT_INVALID_ARGUMENT);
    vkt_optimizer_destroy(o);
    vkt_model_destroy(m);
}

static void clipping_matches_reference(void **state)
{
    (void)state;
    test_run_checks("clip");
}

/* A 100-step run: every step is one command buffer and one submit; the host reads (and may wait)
 * only for the 5 printed losses; nothing is uploaded per step (batches are gathered on the
 * device). Waits for a free command buffer (back-pressure) are counted apart, as frame waits. */
static void hundred_steps_one_submit_each(void **state)
{
    (void)state;
    enum { N = 800, F = 20, B = 8 };
    static uint8_t im[N * F], lb[N];
    for (int i = 0; i < N * F; i++) {
        im[i] = (uint8_t)((i * 7919) % 256);
    }
    for (int i = 0; i < N; i++) {
        lb[i] = (uint8_t)(im[i * F] % 4);
    }
    vkt_dataset *ds;
    assert_int_equal(vkt_dataset_from_memory(im, lb, N, F, &ds), VKT_OK);
    vkt_loader *l;
    assert_int_equal(vkt_loader_create(test_dev,
                                       &(vkt_loader_desc){.dataset = ds, .batch_size = B,
                                                          .shuffle = true},
                                       &l),
                     VKT_OK);
    uint32_t sizes[3] = {F, 16, 4};
    vkt_model *m = mlp(sizes, 3, 0);
    vkt_optimizer *o;
    assert_int_equal(vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM}, &o),
                     VKT_OK);
    assert_int_equal(vkt_loader_start_epoch(l, 0), VKT_OK);
    vkt_device_finish(test_dev);
    vkt_device_reset_stats(test_dev);
    int prints = 0;
    float first = 0, last = 0;
    for (int step = 0; step < 100; step++) {
        vkt_batch b;
        vkt_scope_begin(test_dev);
        assert_true(vkt_loader_next(l, &b));
        vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(m, b.x), b.y);
        assert_int_equal(vkt_model_zero_grad(m), VKT_OK);
        assert_int_equal(vkt_backward(loss), VKT_OK);
        assert_int_equal(vkt_optimizer_step(o), VKT_OK);
        if (step % 20 == 19) {
            assert_int_equal(vkt_tensor_download(loss, &last, sizeof last), VKT_OK);
            if (prints++ == 0) {
                first = last;
            }
        } else {
            vkt_device_flush(test_dev);
        }
        vkt_scope_end(test_dev);
    }
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    fprintf(stderr,
            "100 steps: %llu submits, %llu host waits, %llu frame waits, %.1f "
            "dispatches/step, %.1f barriers/step, %llu bytes uploaded, %llu bytes read back\n",
            (unsigned long long)st.submits, (unsigned long long)st.host_waits,
            (unsigned long long)st.frame_waits, st.dispatches / 100.0, st.barriers / 100.0,
            (unsigned long long)st.bytes_uploaded, (unsigned long long)st.bytes_downloaded);
    assert_int_equal(st.submits, 100);
    /* a readback blocks only if the device has not finished yet: at most one wait per print */
    assert_true(st.host_waits <= (uint64_t)prints);
    assert_int_equal(st.bytes_uploaded, 0);
    assert_int_equal(st.bytes_downloaded, 4 * (uint64_t)prints);
    assert_true(last < first); /* and it learns */
    vkt_optimizer_destroy(o);
    vkt_model_destroy(m);
    vkt_loader_destroy(l);
    vkt_dataset_destroy(ds);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(model_layout_names_and_init),
        VKT_TEST(seeds_reproduce_and_differ),
        VKT_TEST(model_errors_are_clear),
        VKT_TEST(schedules_follow_torch),
        VKT_TEST(clipping_matches_reference),
        VKT_TEST(hundred_steps_one_submit_each),
    };
    return VKT_RUN_GROUP(tests);
}
