/*
 * bench_matmul.c — `vkt bench matmul`: GFLOP/s of the matmul kernels (shaders/matmul_tiled.comp,
 * shaders/matmul_regblock.comp; src/ops/matmul.c) on square, MLP-, CNN-shaped and batched
 * products, each also as a percentage of the device's measured fp32 peak (src/ops/peak_fma.h,
 * `vkt bench peak`).
 *
 *   vkt bench matmul [--sizes LIST] [--repeat N] [--variant all|auto|NAME] [--csv]
 *
 * LIST is comma-separated; each item is S (an S×S×S product), MxNxK[:FORM], the product
 * C (M, N) = op(A) (M, K) · op(B) (K, N) with FORM one of AB (default), AtB, ABt, AtBt, or
 * BxMxNxK[:FORM], B such products in one batched call ((B, M, K) · (B, K, N)). The default list
 * is the squares 256..2048; the products of a 784-256-128-10 MLP with batch 128 as its training
 * step runs them (each layer's forward, weight gradient and input gradient; default_sizes says
 * which form each is); the matmuls of the CNN of `vkt train --model cnn` at batch 128 (its
 * convolutions as src/ops/conv.c runs them: im2col columns (B·H·W, Cin·9) times the weight
 * (Cout, Cin·9) transposed, the weight gradient rowsᵀ·cols and the columns' gradient rows·W);
 * and 16 products of 128x128x32 in one batched call (attention-like). --variant: every kernel
 * (all, the default; vkt_matmul's choice first), the one vkt_matmul picks (auto), or one by name.
 * --csv: one row per (product, kernel) with a header, for bench/matmul_vs_blas.sh.
 *
 * Each measurement: one warm-up call (pipeline creation), then N timed runs (default 5), each
 * recording enough calls to do >= 100 MFLOP of work and waiting for them with vkt_device_finish;
 * the median and the fastest run, divided by their number of calls, give the time per product.
 * Inputs are uniform in [-1, 1); results are not validated here (`vkt selftest matmul` does
 * that).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ops/matmul.h"
#include "ops/peak_fma.h"

typedef struct bench_size {
    int64_t M, N, K;
    int64_t batch;
    int flags;
    const char *what;
} bench_size;

static const char *const form_names[4] = {"AB", "AtB", "ABt", "AtBt"};

/* The products of training as vkt runs them: a Linear is x · Wᵀ with W (out, in) (src/nn/linear.c),
 * so its forward is ABt, its weight gradient dYᵀ·X (AtB) and its input gradient dY·W (AB; none
 * for the first layer, whose input needs no gradient). */
static const bench_size default_sizes[] = {
    {256, 256, 256, 1, 0, "square"},
    {512, 512, 512, 1, 0, "square"},
    {1024, 1024, 1024, 1, 0, "square"},
    {2048, 2048, 2048, 1, 0, "square"},
    /* MLP 784-256-128-10, batch 128 */
    {128, 256, 784, 1, VKT_TRANS_B, "MLP fc1 fwd"},
    {128, 128, 256, 1, VKT_TRANS_B, "MLP fc2 fwd"},
    {128, 10, 128, 1, VKT_TRANS_B, "MLP fc3 fwd"},
    {256, 784, 128, 1, VKT_TRANS_A, "MLP fc1 dW"},
    {128, 256, 128, 1, VKT_TRANS_A, "MLP fc2 dW"},
    {10, 128, 128, 1, VKT_TRANS_A, "MLP fc3 dW"},
    {128, 256, 128, 1, 0, "MLP fc2 dX"},
    {128, 128, 10, 1, 0, "MLP fc3 dX"},
    /* CNN, batch 128: conv1 1 -> 32 at 28x28 and conv2 32 -> 64 at 14x14 (3x3, padding 1) as
     * im2col products; fc1 3136 -> 128 (fc2 is the MLP's fc3) */
    {100352, 32, 9, 1, VKT_TRANS_B, "CNN conv1 fwd"},
    {32, 9, 100352, 1, VKT_TRANS_A, "CNN conv1 dW"},
    {25088, 64, 288, 1, VKT_TRANS_B, "CNN conv2 fwd"},
    {64, 288, 25088, 1, VKT_TRANS_A, "CNN conv2 dW"},
    {25088, 288, 64, 1, 0, "CNN conv2 dX"},
    {128, 128, 3136, 1, VKT_TRANS_B, "CNN fc1 fwd"},
    {128, 3136, 128, 1, VKT_TRANS_A, "CNN fc1 dW"},
    {128, 3136, 128, 1, 0, "CNN fc1 dX"},
    {128, 128, 32, 16, 0, "batched"},
};

static int bench_usage(void)
{
    fprintf(stderr, "usage: vkt bench matmul [--sizes S|[Bx]MxNxK[:AB|AtB|ABt|AtBt],...] "
                    "[--repeat N]\n"
                    "                        [--variant all|auto|tiled|regblock|texel] [--csv]\n");
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

/* GFLOP/s of one variant on one size: of the median and of the fastest of `repeat` runs. */
typedef struct rate {
    double median, best;
} rate;

/* The rate of variant v on s; false on error. */
static bool measure(vkt_tensor *a, vkt_tensor *b, vkt_tensor *c, const bench_size *s,
                    vkt__matmul_variant v, int repeat, rate *out)
{
    vkt_device *dev = vkt_tensor_device(c);
    double flops = 2.0 * (double)s->batch * (double)s->M * (double)s->N * (double)s->K;
    int calls = (int)(1e8 / flops) + 1;
    if (vkt__matmul_into(a, b, c, s->flags, false, v) != VKT_OK ||
        vkt_device_finish(dev) != VKT_OK) {
        return false;
    }
    double *t = vkt__malloc((size_t)repeat * sizeof *t);
    bool ok = t != NULL;
    for (int r = 0; ok && r < repeat; r++) {
        double t0 = vkt__now();
        for (int i = 0; ok && i < calls; i++) {
            ok = vkt__matmul_into(a, b, c, s->flags, false, v) == VKT_OK;
        }
        ok = ok && vkt_device_finish(dev) == VKT_OK;
        t[r] = (vkt__now() - t0) / calls;
    }
    if (ok) {
        qsort(t, (size_t)repeat, sizeof *t, cmp_double);
        *out = (rate){flops / t[repeat / 2] * 1e-9, flops / t[0] * 1e-9};
    }
    free(t);
    return ok;
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

typedef struct bench_opts {
    int repeat;
    bench_size *sizes; /* NULL: default_sizes */
    size_t nsizes;
    bool all;          /* every variant, else `variant` alone */
    vkt__matmul_variant variant;
    bool csv;
} bench_opts;

enum { O_SIZES = 256, O_REPEAT, O_VARIANT, O_CSV };

/* The --sizes list into o->sizes: 0, or 2 after naming the bad item. */
static int parse_sizes(const char *v, bench_opts *o)
{
    char *list = vkt__strdup(v);
    int rc = list ? 0 : 1;
    free(o->sizes);
    o->sizes = NULL;
    o->nsizes = 0;
    for (char *save = NULL, *tok = list ? strtok_r(list, ",", &save) : NULL; tok && rc == 0;
         tok = strtok_r(NULL, ",", &save)) {
        bench_size *grown = vkt__realloc(o->sizes, (o->nsizes + 1) * sizeof *o->sizes);
        if (!grown) {
            rc = 1;
            break;
        }
        o->sizes = grown;
        if (!parse_size(tok, &o->sizes[o->nsizes])) {
            fprintf(stderr, "vkt bench matmul: bad size '%s' (S, MxNxK[:FORM] or BxMxNxK[:FORM])\n",
                    tok);
            rc = 2;
        }
        o->nsizes++;
    }
    if (rc == 0 && o->nsizes == 0) {
        fprintf(stderr, "vkt bench matmul: --sizes needs at least one size\n");
        rc = 2;
    }
    free(list);
    return rc;
}

static int on_opt(int c, const char *v, bench_opts *o)
{
    switch (c) {
    case O_SIZES: return parse_sizes(v, o);
    case O_REPEAT: {
        uint32_t r;
        int rc = vkt_cli_u32("vkt bench matmul", "--repeat", v, 1, 1000000, &r);
        o->repeat = (int)r;
        return rc;
    }
    case O_VARIANT:
        o->all = strcmp(v, "all") == 0;
        for (int k = 0; k < VKT__MATMUL_VARIANT_COUNT && !o->all; k++) {
            if (strcmp(v, vkt__matmul_variant_name((vkt__matmul_variant)k)) == 0) {
                o->variant = (vkt__matmul_variant)k;
                return 0;
            }
        }
        if (!o->all) {
            fprintf(stderr, "vkt bench matmul: --variant takes all, auto, tiled, regblock or texel, "
                            "not '%s'\n", v);
            return 2;
        }
        return 0;
    case O_CSV: o->csv = true; return 0;
    default: return 2;
    }
}

/* argv[0] is "matmul"; the device options are gone already (tools/vkt.c, which also answers
 * --help). 0, or 2 after a usage error. */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    static const struct option opts[] = {{"sizes", required_argument, NULL, O_SIZES},
                                         {"repeat", required_argument, NULL, O_REPEAT},
                                         {"variant", required_argument, NULL, O_VARIANT},
                                         {"csv", no_argument, NULL, O_CSV},
                                         {0}};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        int rc = 0;
        if (c == '?' || c == ':') {
            rc = vkt_cli_getopt_error("vkt bench matmul", c, argv, opts);
        } else {
            rc = on_opt(c, optarg, o);
        }
        if (rc) {
            return rc;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vkt bench matmul: unexpected argument '%s'\n", argv[optind]);
        return bench_usage();
    }
    return 0;
}

int vkt_cli_bench_matmul(vkt_device *dev, int argc, char **argv)
{
    bench_opts o = {.repeat = 5, .all = true, .variant = VKT__MATMUL_AUTO};
    int status = parse_args(argc, argv, &o);
    if (status != 0) {
        free(o.sizes);
        return status;
    }
    const bench_size *list = o.sizes ? o.sizes : default_sizes;
    size_t n = o.sizes ? o.nsizes : VKT__ARRAY_LEN(default_sizes);
    /* the variants measured, vkt_matmul's choice first */
    vkt__matmul_variant chosen = vkt__matmul_default_variant(dev);
    vkt__matmul_variant vs[VKT__MATMUL_VARIANT_COUNT];
    int nv = 0;
    if (o.all || o.variant == VKT__MATMUL_AUTO) {
        vs[nv++] = chosen;
    } else {
        vs[nv++] = o.variant;
    }
    for (int k = VKT__MATMUL_AUTO + 1; o.all && k < VKT__MATMUL_VARIANT_COUNT; k++) {
        if ((vkt__matmul_variant)k != chosen) {
            vs[nv++] = (vkt__matmul_variant)k;
        }
    }
    const char *dev_name = vkt_device_get_info(dev)->name;
    vkt__peak_result peak;
    if (vkt__peak_fma_measure(dev, 0.02, 10, &peak) != VKT_OK) {
        fprintf(stderr, "vkt bench matmul: measuring the fp32 peak failed: %s\n",
                vkt_last_error());
        free(o.sizes);
        return 1;
    }
    if (o.csv) {
        printf("device,peak_gflops,product,form,batch,M,N,K,variant,chosen,median_gflops,"
               "best_gflops,median_peak_pct\n");
    } else {
        printf("matmul on %s: GFLOP/s (2BMNK / median time of %d runs), C (B, M, N) = "
               "op(A)·op(B)\n"
               "%% of the device's measured fp32 peak, %.1f GFLOP/s (vkt bench peak)\n",
               dev_name, o.repeat, peak.gflops);
        printf("%-13s %-5s %4s %6s %5s %6s", "product", "form", "B", "M", "N", "K");
        for (int k = 0; k < nv; k++) {
            printf("  %9s %6s", vkt__matmul_variant_name(vs[k]), "%peak");
        }
        if (nv > 1) {
            printf("  %s/%s", vkt__matmul_variant_name(vs[0]), vkt__matmul_variant_name(vs[1]));
        }
        printf("\n");
    }
    uint32_t seed = 12345;
    for (size_t i = 0; i < n && status == 0; i++) {
        const bench_size *s = &list[i];
        bool ta = s->flags & VKT_TRANS_A, tb = s->flags & VKT_TRANS_B;
        vkt_scope_begin(dev);
        vkt_tensor *a = random_tensor(dev, s->batch, ta ? s->K : s->M, ta ? s->M : s->K, &seed);
        vkt_tensor *b = random_tensor(dev, s->batch, tb ? s->N : s->K, tb ? s->K : s->N, &seed);
        vkt_tensor *c = vkt_tensor_new_1d(dev, VKT_F32, s->batch * s->M * s->N);
        rate r[VKT__MATMUL_VARIANT_COUNT];
        bool ok = a && b && c;
        for (int k = 0; ok && k < nv; k++) {
            ok = measure(a, b, c, s, vs[k], o.repeat, &r[k]);
        }
        if (!ok) {
            fprintf(stderr, "vkt bench matmul: %lldx%lldx%lldx%lld:%s failed: %s\n",
                    (long long)s->batch, (long long)s->M, (long long)s->N, (long long)s->K,
                    form_names[s->flags], vkt_last_error());
            status = 1;
        } else if (o.csv) {
            for (int k = 0; k < nv; k++) {
                vkt_cli_csv_quoted(stdout, dev_name);
                printf(",%.2f,", peak.gflops);
                vkt_cli_csv_quoted(stdout, s->what);
                printf(",%s,%lld,%lld,%lld,%lld,%s,%d,%.3f,%.3f,%.2f\n", form_names[s->flags],
                       (long long)s->batch, (long long)s->M, (long long)s->N, (long long)s->K,
                       vkt__matmul_variant_name(vs[k]), vs[k] == chosen, r[k].median, r[k].best,
                       100.0 * r[k].median / peak.gflops);
            }
        } else {
            printf("%-13s %-5s %4lld %6lld %5lld %6lld", s->what, form_names[s->flags],
                   (long long)s->batch, (long long)s->M, (long long)s->N, (long long)s->K);
            for (int k = 0; k < nv; k++) {
                printf("  %9.2f %5.1f%%", r[k].median, 100.0 * r[k].median / peak.gflops);
            }
            if (nv > 1) {
                printf("  %.2fx", r[0].median / r[1].median);
            }
            printf("\n");
        }
        fflush(stdout);
        vkt_scope_end(dev);
    }
    free(o.sizes);
    return status;
}
