/*
 * bench_matmul.c — `vkt bench matmul`: GFLOP/s of both matmul kernels (shaders/matmul_tiled.comp,
 * shaders/matmul_regblock.comp; src/ops/matmul.c) on square, MLP-shaped and batched products.
 *
 *   vkt bench matmul [--sizes LIST] [--repeat N]
 *
 * LIST is comma-separated; each item is S (an S×S×S product), MxNxK[:FORM], the product
 * C (M, N) = op(A) (M, K) · op(B) (K, N) with FORM one of AB (default), AtB, ABt, AtBt, or
 * BxMxNxK[:FORM], B such products in one batched call ((B, M, K) · (B, K, N)). The
 * default list is the squares 256..2048 and the products of a 784-256-128-10 MLP with batch 128:
 * the three forward layers, and the first layer's weight gradient (Xᵀ·dY, 784x256x128:AtB) and
 * input gradient (dY·Wᵀ, 128x784x256:ABt), and 16 products of 128x128x32 in one batched call
 * (attention-like: (16, 128, 32) · (16, 32, 128)).
 *
 * Each measurement: one warm-up call (pipeline creation), then N timed runs (default 5), each
 * recording enough calls to do >= 100 MFLOP of work and waiting for them with vkt_device_finish;
 * the median run, divided by its number of calls, gives the time per product. Inputs are
 * uniform in [-1, 1); results are not validated here (`vkt selftest matmul` does that).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ops/matmul.h"

typedef struct bench_size {
    int64_t M, N, K;
    int64_t batch;
    int flags;
    const char *what;
} bench_size;

static const char *const form_names[4] = {"AB", "AtB", "ABt", "AtBt"};

static const bench_size default_sizes[] = {
    {256, 256, 256, 1, 0, "square"},
    {512, 512, 512, 1, 0, "square"},
    {1024, 1024, 1024, 1, 0, "square"},
    {2048, 2048, 2048, 1, 0, "square"},
    {128, 256, 784, 1, 0, "MLP fc1 fwd"},
    {128, 128, 256, 1, 0, "MLP fc2 fwd"},
    {128, 10, 128, 1, 0, "MLP fc3 fwd"},
    {784, 256, 128, 1, VKT_TRANS_A, "MLP fc1 dW"},
    {128, 784, 256, 1, VKT_TRANS_B, "MLP fc1 dX"},
    {128, 128, 32, 16, 0, "batched"},
};

static int bench_usage(void)
{
    fprintf(stderr, "usage: vkt bench matmul [--sizes S|[Bx]MxNxK[:AB|AtB|ABt|AtBt],...] "
                    "[--repeat N]\n");
    return 2;
}

/* Parses one LIST item; false on a malformed one. */
static bool parse_size(const char *s, bench_size *out)
{
    long long bt = 1, m = 0, n = 0, k = 0;
    char form[8] = "AB";
    int used = 0;
    if (sscanf(s, "%lldx%lldx%lldx%lld%n", &bt, &m, &n, &k, &used) == 4 ||
        (bt = 1, sscanf(s, "%lldx%lldx%lld%n", &m, &n, &k, &used) == 3)) {
        if (s[used] == ':') {
            if (sscanf(s + used + 1, "%7s", form) != 1) {
                return false;
            }
        } else if (s[used] != '\0') {
            return false;
        }
    } else if (sscanf(s, "%lld%n", &m, &used) == 1 && s[used] == '\0') {
        n = k = m;
    } else {
        return false;
    }
    if (bt < 1 || m < 1 || n < 1 || k < 1) {
        return false;
    }
    int flags = -1;
    for (int f = 0; f < 4; f++) {
        if (strcmp(form, form_names[f]) == 0) {
            flags = f;
        }
    }
    if (flags < 0) {
        return false;
    }
    *out = (bench_size){m, n, k, bt, flags, bt > 1 ? "batched" : "custom"};
    return true;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* GFLOP/s of one variant on one size (median of `repeat` runs); negative on error. */
static double measure(vkt_tensor *a, vkt_tensor *b, vkt_tensor *c, const bench_size *s,
                      vkt__matmul_variant v, int repeat)
{
    vkt_device *dev = vkt_tensor_device(c);
    double flops = 2.0 * (double)s->batch * (double)s->M * (double)s->N * (double)s->K;
    int calls = (int)(1e8 / flops) + 1;
    if (vkt__matmul_into(a, b, c, s->flags, false, v) != VKT_OK ||
        vkt_device_finish(dev) != VKT_OK) {
        return -1.0;
    }
    double *t = vkt__malloc((size_t)repeat * sizeof *t);
    if (!t) {
        return -1.0;
    }
    for (int r = 0; r < repeat; r++) {
        double t0 = vkt__now();
        for (int i = 0; i < calls; i++) {
            if (vkt__matmul_into(a, b, c, s->flags, false, v) != VKT_OK) {
                free(t);
                return -1.0;
            }
        }
        if (vkt_device_finish(dev) != VKT_OK) {
            free(t);
            return -1.0;
        }
        t[r] = (vkt__now() - t0) / calls;
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    double med = t[repeat / 2];
    free(t);
    return flops / med * 1e-9;
}

/* A (batch, rows, cols) tensor (2-D for batch 1) of uniform values in [-1, 1). */
static vkt_tensor *random_tensor(vkt_device *dev, int64_t batch, int64_t rows, int64_t cols,
                                 uint32_t *seed)
{
    int64_t n = batch * rows * cols;
    vkt_tensor *t = batch > 1 ? vkt_tensor_new(dev, VKT_F32, 3, (int64_t[3]){batch, rows, cols})
                              : vkt_tensor_new_2d(dev, VKT_F32, rows, cols);
    float *h = vkt__malloc((size_t)n * sizeof *h);
    if (!t || !h) {
        free(h);
        return t;
    }
    for (int64_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        h[i] = (float)(*seed >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
    if (vkt_tensor_upload(t, h, (size_t)n * sizeof *h) != VKT_OK) {
        vkt_tensor_free(t);
        t = NULL;
    }
    free(h);
    return t;
}

int vkt_cli_bench_matmul(vkt_device *dev, int argc, char **argv)
{
    int repeat = 5;
    bench_size *sizes = NULL;
    size_t nsizes = 0;
    int status = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            uint32_t r;
            if (vkt_cli_u32("vkt bench matmul", "--repeat", argv[++i], 1, 1000000, &r) != 0) {
                free(sizes);
                return 2;
            }
            repeat = (int)r;
        } else if (strcmp(argv[i], "--sizes") == 0 && i + 1 < argc) {
            char *list = vkt__strdup(argv[++i]);
            free(sizes);
            sizes = NULL;
            nsizes = 0;
            for (char *save = NULL, *tok = list ? strtok_r(list, ",", &save) : NULL; tok;
                 tok = strtok_r(NULL, ",", &save)) {
                bench_size *grown = vkt__realloc(sizes, (nsizes + 1) * sizeof *sizes);
                if (!grown || !parse_size(tok, &grown[nsizes])) {
                    fprintf(stderr, "vkt bench matmul: bad size '%s'\n", tok);
                    free(grown ? grown : sizes);
                    free(list);
                    return bench_usage();
                }
                sizes = grown;
                nsizes++;
            }
            free(list);
        } else {
            free(sizes);
            return bench_usage();
        }
    }
    const bench_size *list = sizes ? sizes : default_sizes;
    size_t n = sizes ? nsizes : VKT__ARRAY_LEN(default_sizes);
    vkt__matmul_variant chosen = vkt__matmul_default_variant(dev);
    /* the CPU drivers' kernels against each other, the GPU one against the CPU one */
    vkt__matmul_variant other = chosen == VKT__MATMUL_REGBLOCK ? VKT__MATMUL_TILED
                                                                : VKT__MATMUL_REGBLOCK;

    printf("matmul on %s: GFLOP/s (2BMNK / median time of %d runs), C (B, M, N) = op(A)·op(B)\n",
           vkt_device_get_info(dev)->name, repeat);
    printf("%-12s %-5s %4s %5s %5s %5s  %9s %9s  %s\n", "product", "form", "B", "M", "N", "K",
           vkt__matmul_variant_name(chosen), vkt__matmul_variant_name(other),
           "chosen/other");
    uint32_t seed = 12345;
    for (size_t i = 0; i < n && status == 0; i++) {
        const bench_size *s = &list[i];
        bool ta = s->flags & VKT_TRANS_A, tb = s->flags & VKT_TRANS_B;
        vkt_scope_begin(dev);
        vkt_tensor *a = random_tensor(dev, s->batch, ta ? s->K : s->M, ta ? s->M : s->K, &seed);
        vkt_tensor *b = random_tensor(dev, s->batch, tb ? s->N : s->K, tb ? s->K : s->N, &seed);
        vkt_tensor *c = vkt_tensor_new_1d(dev, VKT_F32, s->batch * s->M * s->N);
        double g_chosen = -1.0, g_other = -1.0;
        if (a && b && c) {
            g_chosen = measure(a, b, c, s, chosen, repeat);
            g_other = g_chosen < 0.0 ? -1.0 : measure(a, b, c, s, other, repeat);
        }
        if (g_chosen < 0.0 || g_other < 0.0) {
            fprintf(stderr, "vkt bench matmul: %lldx%lldx%lld failed: %s\n", (long long)s->M,
                    (long long)s->N, (long long)s->K, vkt_last_error());
            status = 1;
        } else {
            printf("%-12s %-5s %4lld %5lld %5lld %5lld  %9.2f %9.2f  %.2fx\n", s->what,
                   form_names[s->flags], (long long)s->batch, (long long)s->M, (long long)s->N,
                   (long long)s->K, g_chosen, g_other, g_chosen / g_other);
        }
        fflush(stdout);
        vkt_scope_end(dev);
    }
    free(sizes);
    return status;
}
