/*
 * cnn_step.c — time of one training step of the reference CNN (vkt_cnn_desc, (1, 28, 28) inputs,
 * 10 classes): forward, softmax cross-entropy, zero-grad, backward and Adam, one submit, waited
 * for; then each layer's op alone on the shapes it sees in that model (forward, and forward +
 * backward through sum(y · r)) to show where the time goes. Speed is printed, never asserted.
 *
 *     build/bench/cnn_step [--batch 128] [--steps 10]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vkt/vkt.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static vkt_tensor *rand_tensor(vkt_device *dev, int ndim, const int64_t *shape, uint64_t seed)
{
    return vkt_rand_uniform(dev, ndim, shape, seed, 0);
}

typedef enum { CONV1, BN1, RELU1, POOL1, CONV2, BN2, POOL2, FC1, FC2, N_OPS } op_id;
static const char *const op_names[N_OPS] = {
    "Conv2d(1, 32, 3, p=1)", "BatchNorm2d(32)",        "ReLU (B, 32, 28, 28)",
    "MaxPool2d(2) (32, 28)", "Conv2d(32, 64, 3, p=1)", "BatchNorm2d(64)",
    "MaxPool2d(2) (64, 14)", "Linear(3136, 128)",      "Linear(128, 10)"};

/* One op on its input; the model's own tensors stand in for the weights. */
static vkt_tensor *run_op(vkt_model *m, op_id op, vkt_tensor *x)
{
    const vkt_conv2d_params pad1 = {.padding = {1, 1}};
    const vkt_pool2d_params pool = {.kernel = {2, 2}};
    const vkt_batch_norm_params bn = {.training = true, .momentum = 0.1f, .eps = 1e-5f};
#define T(name) vkt_param_tensor(vkt_model_find(m, name))
    switch (op) {
    case CONV1:
        return vkt_conv2d(x, T("0.weight"), T("0.bias"), &pad1);
    case BN1:
        return vkt_batch_norm(x, T("1.weight"), T("1.bias"), NULL, NULL, &bn);
    case RELU1:
        return vkt_relu(x);
    case POOL1:
        return vkt_max_pool2d(x, &pool);
    case CONV2:
        return vkt_conv2d(x, T("4.weight"), T("4.bias"), &pad1);
    case BN2:
        return vkt_batch_norm(x, T("5.weight"), T("5.bias"), NULL, NULL, &bn);
    case POOL2:
        return vkt_max_pool2d(x, &pool);
    case FC1:
        return vkt_add_bias(vkt_matmul(x, T("9.weight"), VKT_TRANS_B), T("9.bias"));
    default:
        return vkt_add_bias(vkt_matmul(x, T("12.weight"), VKT_TRANS_B), T("12.bias"));
    }
#undef T
}

int main(int argc, char **argv)
{
    int64_t batch = 128;
    int steps = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--batch") == 0) {
            batch = atoll(argv[i + 1]);
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = atoi(argv[i + 1]);
        }
    }
    vkt_device *dev = NULL;
    vkt_model *m = NULL;
    vkt_optimizer *opt = NULL;
    vkt_model_desc md;
    if (vkt_device_create(&(vkt_device_desc){0}, &dev) != VKT_OK ||
        vkt_cnn_desc(&(vkt_cnn_config){.channels = 1, .height = 28, .width = 28, .classes = 10},
                     &md) != VKT_OK ||
        vkt_model_create(dev, &md, &m) != VKT_OK ||
        vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM, .lr = 1e-3f}, &opt) !=
            VKT_OK) {
        fprintf(stderr, "cnn_step: %s\n", vkt_last_error());
        return 1;
    }
    printf("batch %lld\n", (long long)batch);
    vkt_tensor *x = rand_tensor(dev, 4, (int64_t[]){batch, 1, 28, 28}, 1);
    vkt_tensor *y = vkt_tensor_new_1d(dev, VKT_I32, batch);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    for (int64_t i = 0; labels && i < batch; i++) {
        labels[i] = (int32_t)(i * 7 % 10);
    }
    if (!x || !y || !labels || vkt_tensor_upload(y, labels, (size_t)batch * sizeof *labels)) {
        fprintf(stderr, "cnn_step: %s\n", vkt_last_error());
        return 1;
    }
    free(labels);
    double t_steps = 0;
    for (int s = -2; s < steps; s++) { /* two warm-up steps build the pipelines */
        double t0 = now();
        vkt_scope_begin(dev);
        vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(m, x), y);
        if (!loss || vkt_model_zero_grad(m) != VKT_OK || vkt_backward(loss) != VKT_OK ||
            vkt_optimizer_step(opt) != VKT_OK) {
            fprintf(stderr, "cnn_step: %s\n", vkt_last_error());
            return 1;
        }
        vkt_scope_end(dev);
        vkt_device_finish(dev);
        if (s >= 0) {
            t_steps += now() - t0;
        }
    }
    double per = t_steps / steps;
    printf("train step (forward, loss, backward, Adam): %.1f ms, %.0f samples/s\n", per * 1e3,
           (double)batch / per);

    /* each op alone, on the input shape it has in the model */
    const int64_t shapes[N_OPS][4] = {{batch, 1, 28, 28},  {batch, 32, 28, 28}, {batch, 32, 28, 28},
                                      {batch, 32, 28, 28}, {batch, 32, 14, 14}, {batch, 64, 14, 14},
                                      {batch, 64, 14, 14}, {batch, 3136},       {batch, 128}};
    printf("%-24s %12s %14s\n", "op", "forward ms", "fwd+bwd ms");
    for (int op = 0; op < N_OPS; op++) {
        int nd = shapes[op][2] ? 4 : 2;
        vkt_tensor *in = rand_tensor(dev, nd, shapes[op], 3 + (uint64_t)op);
        vkt_tensor_set_requires_grad(in, true);
        double t[2] = {0, 0};
        for (int mode = 0; mode < 2; mode++) {
            for (int r = -1; r < steps; r++) {
                double t0 = now();
                vkt_scope_begin(dev);
                vkt_tensor *out = run_op(m, (op_id)op, in);
                if (mode == 1) {
                    vkt_tensor *w =
                        vkt_rand_uniform(dev, vkt_tensor_ndim(out),
                                         (int64_t[]){vkt_tensor_dim(out, 0), vkt_tensor_dim(out, 1),
                                                     nd == 4 ? vkt_tensor_dim(out, 2) : 0,
                                                     nd == 4 ? vkt_tensor_dim(out, 3) : 0},
                                         9, 0);
                    vkt_model_zero_grad(m);
                    vkt_backward(vkt_sum(vkt_mul(out, w)));
                }
                vkt_scope_end(dev);
                vkt_device_finish(dev);
                if (r >= 0) {
                    t[mode] += now() - t0;
                }
            }
        }
        printf("%-24s %12.2f %14.2f\n", op_names[op], t[0] / steps * 1e3, t[1] / steps * 1e3);
        vkt_tensor_free(in);
    }
    vkt_tensor_free(x);
    vkt_tensor_free(y);
    vkt_optimizer_destroy(opt);
    vkt_model_destroy(m);
    vkt_device_destroy(dev);
    return 0;
}
