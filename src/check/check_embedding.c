/*
 * check_embedding.c — vkt_embedding and its backward against src/ref/ref_embedding.c. Op:
 * src/ops/embedding.c (shaders/embedding*.comp). Finite differences: the "embedding" cases of
 * src/check/check_grad.c. Tests: tests/test_embedding.c.
 *
 * Each case gathers with random weights, then backpropagates L = sum(y * R) (y's gradient is R
 * exactly) into a gradient that starts at random values (the backward accumulates), and reports:
 *  - embedding: the forward, a copy (NaN rows for out-of-range indices): bit-identical, tol 0;
 *  - embedding_backward: the gradient against the reference in the device's own summation order
 *    for the case's chunk (shaders/embedding_backward.comp): the number of elements that differ
 *    in any bit, tol 0; rows no index names must keep their starting values;
 *  - embedding_backward/double: the gradient against the terms summed in double, as
 *    |got - want| / S with S the sum of |terms| of the element (its starting value included).
 *    The device adds in chains of at most T = chunk + chunks + 1 (a segment, the heads of the
 *    chunks a run crosses, the gradient), so the error is at most gamma_T S (Higham, Accuracy and
 *    Stability, 3.1): tol (T + 3) u, u = 2^-24.
 * The cases: every V of 1, 3, 65, 1000, 50257 and D of 1, 3, 63, 65, 128; indices of 1 to 3
 * dimensions; rows no index names; runs across the default 256-position chunks; forced chunks of
 * 1, 2 and 3 positions (every run crosses chunks); one index everywhere for N = 70001 (a run
 * longer than lavapipe's 65535-iteration loop limit, docs/shaders.md); out-of-range indices.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "ops/embedding.h"

#define U_F32 (1.0 / 16777216.0)

typedef enum emb_pattern {
    EMB_RANDOM,       /* uniform in [0, hi) */
    EMB_SAME,         /* hi - 1 everywhere */
    EMB_OUT_OF_RANGE, /* uniform in [0, hi), every third one out of [0, num) */
} emb_pattern;

typedef struct emb_case {
    int64_t num, dim;
    int ndim;
    int64_t shape[3];
    emb_pattern pattern;
    int32_t hi;
    uint32_t chunk; /* 0: the default */
} emb_case;

static const emb_case emb_cases[] = {
    {1, 1, 1, {1}, EMB_RANDOM, 1, 0},
    {3, 3, 1, {3}, EMB_RANDOM, 3, 0},
    {65, 63, 2, {4, 7}, EMB_RANDOM, 9, 0},         /* repeats; rows 9..64 untouched */
    {1000, 65, 3, {2, 3, 5}, EMB_RANDOM, 1000, 0}, /* two column blocks */
    {3, 65, 1, {1000}, EMB_RANDOM, 3, 0},          /* runs of ~333 across 256-chunks */
    {1000, 128, 2, {8, 512}, EMB_RANDOM, 1000, 0},
    {50257, 3, 2, {4, 1000}, EMB_RANDOM, 50257, 0},
    {50257, 63, 2, {2, 300}, EMB_RANDOM, 600, 0}, /* most rows untouched */
    {5, 65, 2, {4, 7}, EMB_RANDOM, 5, 1},
    {5, 65, 2, {4, 7}, EMB_RANDOM, 5, 2},
    {5, 1, 3, {3, 1, 11}, EMB_RANDOM, 2, 3},
    {7, 3, 1, {70001}, EMB_SAME, 5, 0}, /* one run over 274 chunks */
    {65, 3, 2, {3, 11}, EMB_OUT_OF_RANGE, 65, 0},
    {3, 3, 1, {7}, EMB_OUT_OF_RANGE, 3, 2},
};

static int32_t *emb_indices(vkt__check_ctx *c, const emb_case *k, int64_t n)
{
    static const int32_t bad[] = {-1, INT32_MIN, INT32_MAX, 1 << 30};
    int32_t *p = vkt__check_rand_int(c, n, k->hi);
    for (int64_t i = 0; p && i < n; i++) {
        if (k->pattern == EMB_SAME) {
            p[i] = k->hi - 1;
        } else if (k->pattern == EMB_OUT_OF_RANGE && i % 3 == 1) {
            p[i] = (i / 3) % 5 == 4 ? (int32_t)k->num : bad[(i / 3) % 4];
        }
    }
    return p;
}

static void emb_shape_str(const emb_case *k, char *buf, size_t size)
{
    size_t at =
        (size_t)snprintf(buf, size, "V %lld D %lld idx ", (long long)k->num, (long long)k->dim);
    for (int i = 0; i < k->ndim && at < size; i++) {
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "x" : "", (long long)k->shape[i]);
    }
    if (at < size && k->chunk) {
        at += (size_t)snprintf(buf + at, size - at, " chunk %u", k->chunk);
    }
    if (at < size && k->pattern != EMB_RANDOM) {
        snprintf(buf + at, size - at, "%s", k->pattern == EMB_SAME ? " same" : " out-of-range");
    }
}

/* Elements whose bits differ. */
static double emb_bits_differ(const float *got, const float *want, int64_t n)
{
    double bad = 0;
    for (int64_t i = 0; i < n; i++) {
        bad += memcmp(&got[i], &want[i], sizeof *got) != 0;
    }
    return bad;
}

/* max |got - want| / S, S = mag + |start|; where S is 0 the values must be equal. */
static double emb_double_err(const float *got, const float *want, const double *mag,
                             const float *start, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = mag[i] + fabs((double)start[i]);
        double diff = fabs((double)got[i] - want[i]);
        double e = s > 0 ? diff / s : (diff == 0 ? 0 : INFINITY);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

static void check_case(vkt__check_ctx *c, const emb_case *k)
{
    char shape[96];
    emb_shape_str(k, shape, sizeof shape);
    int64_t n = 1;
    for (int i = 0; i < k->ndim; i++) {
        n *= k->shape[i];
    }
    int64_t nw = k->num * k->dim, ny = n * k->dim;
    int64_t wshape[2] = {k->num, k->dim}, yshape[4];
    memcpy(yshape, k->shape, (size_t)k->ndim * sizeof *yshape);
    yshape[k->ndim] = k->dim;
    uint32_t chunk = vkt__embedding_chunk(n, k->chunk);
    float *w = vkt__check_rand(c, nw, -1.0f, 1.0f);
    float *g0 = vkt__check_rand(c, nw, -1.0f, 1.0f);
    float *r = vkt__check_rand(c, ny, -1.0f, 1.0f);
    int32_t *idx = emb_indices(c, k, n);
    float *want = vkt__malloc((size_t)(ny > nw ? ny : nw) * sizeof *want);
    float *want_d = vkt__malloc((size_t)nw * sizeof *want_d);
    double *mag = vkt__malloc((size_t)nw * sizeof *mag);
    float *y = NULL, *grad = NULL;
    vkt_scope_begin(c->dev);
    if (!w || !g0 || !r || !idx || !want || !want_d || !mag) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, "embedding", shape);
        goto done;
    }
    vkt_tensor *tw = vkt__check_tensor(c->dev, VKT_F32, w, 2, wshape);
    vkt_tensor *tg = vkt__check_tensor(c->dev, VKT_F32, g0, 2, wshape);
    vkt_tensor *ti = vkt__check_tensor(c->dev, VKT_I32, idx, k->ndim, k->shape);
    vkt_tensor *tr = vkt__check_tensor(c->dev, VKT_F32, r, k->ndim + 1, yshape);
    vkt_tensor_set_requires_grad(tw, true);
    if (tw && tg && vkt_tensor_set_grad(tw, tg) != VKT_OK) {
        tg = NULL;
    }
    double t0 = vkt__now();
    vkt_tensor *ty = tw && tg && ti && tr ? vkt__embedding_ex(tw, ti, k->chunk) : NULL;
    y = vkt__check_fetch(ty);
    double ms = (vkt__now() - t0) * 1e3;
    vkt_tensor *L = y ? vkt_sum(vkt_mul(ty, tr)) : NULL;
    t0 = vkt__now();
    grad = L && vkt_backward(L) == VKT_OK ? vkt__check_fetch(vkt_tensor_grad(tw)) : NULL;
    double ms_back = (vkt__now() - t0) * 1e3;
    if (!y || !grad) {
        vkt__check_report_failure(c, "embedding", shape);
        goto done;
    }
    vkt__ref_embedding(want, w, idx, n, k->num, k->dim);
    vkt__check_report(c, "embedding", shape, emb_bits_differ(y, want, ny), 0.0, ms,
                      "elements not bit-identical");
    memcpy(want, g0, (size_t)nw * sizeof *want);
    memcpy(want_d, g0, (size_t)nw * sizeof *want_d);
    if (!vkt__ref_embedding_backward(want, NULL, r, idx, n, k->num, k->dim, chunk) ||
        !vkt__ref_embedding_backward(want_d, mag, r, idx, n, k->num, k->dim, 0)) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, "embedding_backward", shape);
        goto done;
    }
    vkt__check_report(c, "embedding_backward", shape, emb_bits_differ(grad, want, nw), 0.0, ms_back,
                      "elements not bit-identical to the device-order reference");
    double t = (double)chunk + (double)VKT__DIV_UP(n, (int64_t)chunk) + 1.0;
    vkt__check_report(c, "embedding_backward/double", shape,
                      emb_double_err(grad, want_d, mag, g0, nw), (t + 3.0) * U_F32, 0.0,
                      "error / sum|terms|");
done:
    vkt_scope_end(c->dev);
    free(w);
    free(g0);
    free(r);
    free(idx);
    free(want);
    free(want_d);
    free(mag);
    free(y);
    free(grad);
}

void vkt__check_embedding(vkt__check_ctx *c)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(emb_cases); i++) {
        if (vkt__check_wants(c, "embedding")) {
            check_case(c, &emb_cases[i]);
        }
    }
}
