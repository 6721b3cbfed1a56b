/*
 * small_kernels.c — the MLP training step's small kernels (issue 11): per-step device counters
 * and time of the 784-256-128-10 MLP step (forward, softmax cross-entropy, zero-grad, backward,
 * Adam), then the memory rate of Adam, ReLU, bias-add, the cross-entropy forward and backward
 * against vkt_copy (a transfer copy: the device's own bandwidth peer) in the same run, in
 * alternating rounds. Speed is printed, never asserted.
 *
 *     build/bench/small_kernels [--batch 128] [--classes 10] [--steps 20] [--rounds 5]
 *                               [--n 1048576]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vkt/vkt.h"

#define REPS 20
#define MAX_ROUNDS 32

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int fail(const char *what)
{
    fprintf(stderr, "small_kernels: %s: %s\n", what, vkt_last_error());
    return 1;
}

typedef enum { K_COPY, K_ADAM, K_RELU, K_BIAS, K_XENT_FWD, K_XENT_BWD, N_KERNELS } kernel_id;
static const char *const kernel_names[N_KERNELS] = {
    "vkt_copy (peer)",   "adam_step",       "relu",
    "add_bias (B, 256)", "xent fwd (B, C)", "xent fwd+bwd (B, C)"};

typedef struct bench_state {
    vkt_device *dev;
    int64_t n, batch, classes;
    vkt_tensor *a, *b, *p, *g, *m, *v, *bias, *logits, *labels;
    uint32_t step;
} bench_state;

/* Bytes each kernel moves (reads + writes), the rate's numerator. */
static double kernel_bytes(const bench_state *s, kernel_id k)
{
    double n = (double)s->n, l = (double)(s->batch * s->classes);
    switch (k) {
    case K_COPY:
    case K_RELU:
        return 8 * n;
    case K_ADAM:
        return 28 * n; /* grad, param, m, v read; param, m, v written */
    case K_BIAS:
        return 8 * n + 4 * 256;
    case K_XENT_FWD:
        return 4 * l;
    default:
        return 4 * l + 12 * l; /* forward, then x read and dx read and written */
    }
}

static vkt_status run_kernel(bench_state *s, kernel_id k)
{
    vkt_status st = VKT_OK;
    for (int r = 0; r < REPS && st == VKT_OK; r++) {
        vkt_scope_begin(s->dev);
        switch (k) {
        case K_COPY:
            st = vkt_copy(s->b, s->a);
            break;
        case K_ADAM:
            st = vkt_adam_step(s->p, s->g, s->m, s->v,
                               &(vkt_adam_params){.lr = 1e-3f, .step = ++s->step});
            break;
        case K_RELU:
            st = vkt_relu(s->a) ? VKT_OK : vkt_last_status();
            break;
        case K_BIAS:
            st = vkt_add_bias(vkt_reshape(s->a, 2, (int64_t[]){s->n / 256, 256}), s->bias)
                     ? VKT_OK
                     : vkt_last_status();
            break;
        case K_XENT_FWD:
            st = vkt_softmax_xent(s->logits, s->labels) ? VKT_OK : vkt_last_status();
            break;
        default: {
            vkt_tensor *loss = vkt_softmax_xent(s->logits, s->labels);
            st = loss ? vkt_backward(loss) : vkt_last_status();
            break;
        }
        }
        vkt_scope_end(s->dev);
    }
    return st == VKT_OK ? vkt_device_finish(s->dev) : st;
}

static int bench_step(vkt_device *dev, int64_t batch, int steps)
{
    vkt_model *m = NULL;
    vkt_optimizer *opt = NULL;
    vkt_model_desc md;
    if (vkt_mlp_desc((const uint32_t[]){784, 256, 128, 10}, 4, 0, &md) != VKT_OK ||
        vkt_model_create(dev, &md, &m) != VKT_OK ||
        vkt_optimizer_create(m, &(vkt_optim_desc){.type = VKT_OPTIM_ADAM, .lr = 1e-3f}, &opt) !=
            VKT_OK) {
        return fail("creating the MLP");
    }
    vkt_tensor *x = vkt_rand_uniform(dev, 2, (int64_t[]){batch, 784}, 1, 0);
    vkt_tensor *y = vkt_tensor_new_1d(dev, VKT_I32, batch);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    for (int64_t i = 0; labels && i < batch; i++) {
        labels[i] = (int32_t)(i * 7 % 10);
    }
    if (!x || !y || !labels || vkt_tensor_upload(y, labels, (size_t)batch * sizeof *labels)) {
        free(labels);
        return fail("inputs");
    }
    free(labels);
    double t_steps = 0;
    vkt_device_stats st = {0};
    for (int s = -2; s < steps; s++) { /* two warm-up steps build the pipelines */
        if (s == 0) {
            vkt_device_reset_stats(dev);
        }
        double t0 = now();
        vkt_scope_begin(dev);
        vkt_tensor *loss = vkt_softmax_xent(vkt_model_forward(m, x), y);
        if (!loss || vkt_model_zero_grad(m) != VKT_OK || vkt_backward(loss) != VKT_OK ||
            vkt_optimizer_step(opt) != VKT_OK) {
            return fail("training step");
        }
        vkt_scope_end(dev);
        vkt_device_finish(dev);
        if (s >= 0) {
            t_steps += now() - t0;
        }
    }
    vkt_device_get_stats(dev, &st);
    double per = t_steps / steps;
    printf("MLP 784-256-128-10 step, batch %lld: %.2f ms, %.0f samples/s; per step %.1f "
           "dispatches, %.1f transfers (fills and copies), %.1f barriers\n",
           (long long)batch, per * 1e3, (double)batch / per, (double)st.dispatches / steps,
           (double)st.transfers / steps, (double)st.barriers / steps);
    vkt_tensor_free(x);
    vkt_tensor_free(y);
    vkt_optimizer_destroy(opt);
    vkt_model_destroy(m);
    return 0;
}

int main(int argc, char **argv)
{
    int64_t batch = 128, classes = 10, n = 1 << 20;
    int steps = 20, rounds = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--batch") == 0) {
            batch = atoll(argv[i + 1]);
        } else if (strcmp(argv[i], "--classes") == 0) {
            classes = atoll(argv[i + 1]);
        } else if (strcmp(argv[i], "--steps") == 0) {
            steps = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--rounds") == 0) {
            rounds = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--n") == 0) {
            n = atoll(argv[i + 1]);
        }
    }
    if (batch < 1 || classes < 1 || steps < 1 || rounds < 3 || rounds > MAX_ROUNDS || n < 256 ||
        n % 256) {
        fprintf(
            stderr,
            "small_kernels: --batch >= 1, --classes >= 1, --steps >= 1, --rounds in [3, %d], --n a "
            "multiple of 256\n",
            MAX_ROUNDS);
        return 2;
    }
    vkt_device *dev = NULL;
    if (vkt_device_create(&(vkt_device_desc){0}, &dev) != VKT_OK) {
        return fail("device");
    }
    int rc = bench_step(dev, batch, steps);
    bench_state s = {.dev = dev, .n = n, .batch = batch, .classes = classes};
    s.a = vkt_rand_uniform(dev, 1, &n, 2, 0);
    s.b = vkt_tensor_new_1d(dev, VKT_F32, n);
    s.p = vkt_rand_uniform(dev, 1, &n, 3, 0);
    s.g = vkt_rand_uniform(dev, 1, &n, 4, 0);
    s.m = vkt_tensor_new_1d(dev, VKT_F32, n);
    s.v = vkt_tensor_new_1d(dev, VKT_F32, n);
    s.bias = vkt_rand_uniform(dev, 1, (int64_t[]){256}, 5, 0);
    s.logits = vkt_rand_uniform(dev, 2, (int64_t[]){batch, classes}, 6, 0);
    s.labels = vkt_tensor_new_1d(dev, VKT_I32, batch);
    int32_t *labels = malloc((size_t)batch * sizeof *labels);
    for (int64_t i = 0; labels && i < batch; i++) {
        labels[i] = (int32_t)(i * 3 % classes);
    }
    if (rc || !s.a || !s.b || !s.p || !s.g || !s.m || !s.v || !s.bias || !s.logits || !labels ||
        vkt_fill(s.m, 0) || vkt_fill(s.v, 0) ||
        vkt_tensor_upload(s.labels, labels, (size_t)batch * sizeof *labels)) {
        free(labels);
        return rc ? rc : fail("bench tensors");
    }
    free(labels);
    vkt_tensor_set_requires_grad(s.logits, true);
    double t[N_KERNELS][MAX_ROUNDS];
    for (int k = 0; k < N_KERNELS; k++) { /* warm-up: pipelines */
        if (run_kernel(&s, (kernel_id)k) != VKT_OK) {
            return fail(kernel_names[k]);
        }
    }
    for (int r = 0; r < rounds; r++) { /* alternating rounds: every kernel once per round */
        for (int k = 0; k < N_KERNELS; k++) {
            double t0 = now();
            if (run_kernel(&s, (kernel_id)k) != VKT_OK) {
                return fail(kernel_names[k]);
            }
            t[k][r] = (now() - t0) / REPS;
        }
    }
    printf("n = %lld floats, batch %lld, %lld classes, %d rounds of %d calls; GB/s = bytes read + "
           "written / "
           "time (min time = best rate)\n",
           (long long)n, (long long)batch, (long long)classes, rounds, REPS);
    printf("%-22s %10s %10s %10s %10s %12s\n", "kernel", "min us", "median us", "best GB/s",
           "med GB/s", "med vs copy");
    double copy_med = 0;
    for (int k = 0; k < N_KERNELS; k++) {
        qsort(t[k], (size_t)rounds, sizeof t[k][0], cmp_double);
        double mn = t[k][0], med = t[k][rounds / 2], bytes = kernel_bytes(&s, (kernel_id)k);
        double rate_med = bytes / med * 1e-9;
        if (k == K_COPY) {
            copy_med = rate_med;
        }
        printf("%-22s %10.1f %10.1f %10.2f %10.2f %12.2f\n", kernel_names[k], mn * 1e6, med * 1e6,
               bytes / mn * 1e-9, rate_med, rate_med / copy_med);
    }
    vkt_tensor *all[] = {s.a, s.b, s.p, s.g, s.m, s.v, s.bias, s.logits, s.labels};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        vkt_tensor_free(all[i]);
    }
    vkt_device_destroy(dev);
    return 0;
}
