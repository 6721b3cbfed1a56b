/*
 * xent_vocab.c — vkt_cross_entropy at language-model vocabularies: for (B·T, V) logits (default
 * (2048, 50257) and (8192, 50257), GPT-2's vocabulary), the time of forward (mean, torch's
 * ignore_index -100 on every 17th row) and backward, the device memory they take beyond the
 * logits (vkt_device_stats memory_peak), and the agreement with the double reference of
 * src/ref/ref_xent.c: the mean over every row and the gradient of a few rows. With --composed,
 * also the unfused path (log_softmax + nll_loss, what class weights select) for comparison.
 * Speed and memory are printed, never asserted; the suite's checks are in tests/test_xent.c.
 *
 *     build/bench/xent_vocab [--rows 2048] [--vocab 50257] [--composed]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ref/ref.h"
#include "vkt/vkt.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void fill_uniform(float *x, int64_t n, uint64_t seed, float lo, float hi)
{
    uint64_t st = seed * 6364136223846793005ull + 1442695040888963407ull;
    for (int64_t i = 0; i < n; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = lo + (hi - lo) * (float)((double)(st >> 40) / 16777216.0);
    }
}

/* One forward + backward; returns 0 on success and prints time, memory and errors. */
static int run(vkt_device *dev, const float *x, const int32_t *y, int64_t b, int64_t v,
               bool composed, const double *ref_rows)
{
    int64_t n = b * v;
    int rc = 1;
    float *g = malloc((size_t)n * sizeof *g), *ones = malloc((size_t)v * sizeof *ones);
    double *d = malloc((size_t)v * sizeof *d);
    if (!g || !ones || !d) {
        goto done;
    }
    for (int64_t j = 0; j < v; j++) {
        ones[j] = 1.0f;
    }
    vkt_scope_begin(dev);
    vkt_tensor *logits = vkt_tensor_new_2d(dev, VKT_F32, b, v);
    vkt_tensor *labels = vkt_tensor_new_1d(dev, VKT_I32, b);
    vkt_tensor *w = vkt_tensor_new_1d(dev, VKT_F32, v);
    if (!logits || !labels || !w || vkt_tensor_upload(logits, x, (size_t)n * 4) != VKT_OK ||
        vkt_tensor_upload(labels, y, (size_t)b * 4) != VKT_OK ||
        vkt_tensor_upload(w, ones, (size_t)v * 4) != VKT_OK ||
        vkt_device_finish(dev) != VKT_OK) {
        goto fail;
    }
    vkt_tensor_set_requires_grad(logits, true);
    vkt_device_stats st;
    vkt_device_reset_stats(dev);
    vkt_device_get_stats(dev, &st);
    uint64_t before = st.memory_in_use;
    double t0 = now();
    vkt_tensor *loss = vkt_cross_entropy(logits, labels,
                                         composed ? &(vkt_loss_desc){.weight = w} : NULL);
    float got;
    if (!loss || vkt_tensor_download(loss, &got, sizeof got) != VKT_OK) {
        goto fail;
    }
    double t1 = now();
    if (vkt_backward(loss) != VKT_OK || vkt_device_finish(dev) != VKT_OK) {
        goto fail;
    }
    double t2 = now();
    vkt_device_get_stats(dev, &st);
    if (vkt_tensor_download(vkt_tensor_grad(logits), g, (size_t)n * 4) != VKT_OK) {
        goto fail;
    }
    double sum = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < b; i++) {
        sum += ref_rows[i];
        count += y[i] != -100;
    }
    double want = sum / (double)count, e_grad = 0;
    const int64_t sub[] = {0, 1, 17, b / 3, b / 2, b - 2, b - 1};
    for (size_t k = 0; k < sizeof sub / sizeof sub[0]; k++) {
        int64_t i = sub[k];
        vkt__ref_xent_row_grad(d, x + i * v, y[i], v, 1.0 / (double)count, true, -100);
        for (int64_t j = 0; j < v; j++) {
            e_grad = fmax(e_grad, fabs(g[i * v + j] - d[j]) * (double)count);
        }
    }
    uint64_t extra = st.memory_peak - before;
    printf("(%lld, %lld) %s: forward %.3f s, backward %.3f s; logits %.1f MB, peak beyond them "
           "%.1f MB (%.2f x the logits; %.1f KB besides their gradient); loss %.9g, double %.9g (relative error %.2g), gradient "
           "error %.2g of 1 / count on %zu rows\n",
           (long long)b, (long long)v, composed ? "composed" : "fused", t1 - t0, t2 - t1,
           (double)n * 4 / 1e6, extra / 1e6, (double)extra / ((double)n * 4),
           ((double)extra - (double)n * 4) / 1e3, got, want,
           fabs(got - want) / want, e_grad, sizeof sub / sizeof sub[0]);
    rc = 0;
fail:
    if (rc) {
        fprintf(stderr, "xent_vocab: %s\n", vkt_last_error());
    }
    vkt_scope_end(dev);
done:
    free(g);
    free(ones);
    free(d);
    return rc;
}

int main(int argc, char **argv)
{
    int64_t b = 2048, v = 50257;
    bool composed = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rows") == 0 && i + 1 < argc) {
            b = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc) {
            v = atoll(argv[++i]);
        } else if (strcmp(argv[i], "--composed") == 0) {
            composed = true;
        } else {
            fprintf(stderr, "usage: xent_vocab [--rows N] [--vocab V] [--composed]\n");
            return 2;
        }
    }
    float *x = malloc((size_t)(b * v) * sizeof *x);
    int32_t *y = malloc((size_t)b * sizeof *y);
    double *ref = malloc((size_t)b * sizeof *ref);
    vkt_device *dev = NULL;
    if (!x || !y || !ref || vkt_device_create(&(vkt_device_desc){0}, &dev) != VKT_OK) {
        fprintf(stderr, "xent_vocab: no memory or no device\n");
        return 1;
    }
    fill_uniform(x, b * v, 1, -6.0f, 6.0f);
    for (int64_t i = 0; i < b; i++) {
        y[i] = i % 17 == 3 ? -100 : (int32_t)((i * 7919) % v);
    }
    vkt__ref_xent_rows(ref, x, y, b, v, true, -100);
    int rc = run(dev, x, y, b, v, false, ref);
    if (rc == 0 && composed) {
        rc = run(dev, x, y, b, v, true, ref);
    }
    vkt_device_destroy(dev);
    free(x);
    free(y);
    free(ref);
    return rc;
}
