/*
 * check_xent.c — vkt_softmax_xent (forward loss) and its backward (through vkt_backward) against
 * the double-precision reference in src/ref/ref_xent.c.
 *
 * Every batch size B in {1, 3, 64, 65, 1000} meets every class count C in
 * {1, 3, 10, 63, 65, 1000, 10000} (1 and 3 below the workgroup, 63/65 around a multiple of the
 * 64 lanes many GPUs use, 10000 several loop trips per invocation), with one of three kinds of
 * logits (rotating so each B and each C sees all three):
 *   unit    U(-4, 4)
 *   offset  +-1e4 (sign alternating by row) + U(-8, 8): exp(x) overflows without the max shift,
 *           and the loss is a small difference of large numbers (f32 spacing at 1e4 is 1e-3)
 *   wide    U(-1e4, 1e4): softmax is one-hot to f32 precision, losses are up to 2e4
 * The backward check scales the loss by 0.75 * B before vkt_backward, so the gradient the shader
 * reads on the device is not 1 and the expected dlogits are 0.75 * (softmax - onehot).
 */
#include <math.h>
#include <stdio.h>

#include "check/check.h"
#include "shaders/softmax_xent_ops.h"

static const int64_t batch_sizes[] = {1, 3, 64, 65, 1000};
static const int64_t class_counts[] = {1, 3, 10, 63, 65, 1000, 10000};

enum { KIND_UNIT, KIND_OFFSET, KIND_WIDE, KIND_COUNT };
static const char *const kind_names[] = {"unit", "offset", "wide"};

/* Unit roundoff of f32: half an ulp, relative. */
#define U32 (1.0 / 16777216.0)

/* Error bounds, in units of U32 and relative to max(1, |value|) (the vkt__max_err measure):
 *   - the shaders add n positive terms in a chain of depth ceil(n / WG) (each invocation's loop)
 *     + ceil(log2 WG) (the tree), or C for a short row (one invocation's loop): at most that
 *     many U32 relative error;
 *   - Vulkan allows exp to be off by 3 + 2|x| ulp (2 U32 per ulp); the terms that matter lie
 *     within 16 of the row max in these inputs, so the softmax-weighted error of the sum is at most
 *     35 ulp = 70 U32. log adds at most 3 ulp or 2^-21 absolute (8 U32), division 2.5 ulp (5).
 * Forward: a row loss (m - x[label]) + log(s) has three non-negative parts, so its error relative
 *   to max(1, loss) is at most d_rows + 70 + 8 + 2 (the two roundings). Averaging rows whose
 *   losses can be below 1 doubles that relative to max(1, mean), then the batch sum (d_batch)
 *   and the division by B (5) add.
 * Backward: p = exp(z), z = (x - m) - log s. z is off (absolutely) by the log-sum's error
 *   (d_rows + 78), by log s's rounding to f32 (<= ln(C) < 10) and by the subtraction's rounding
 *   (|z|, but p * |z| <= 1/e: < 1); each moves p by that times p <= 1. exp's own error,
 *   3 + 2|z| ulp of p, is < 10 (p * |z| <= 1/e again); p - y and the scaling by gout / B add
 *   1 + 5. The gradient's size is <= 0.75, so these absolute bounds are what vkt__max_err sees. */
static double depth(int64_t n, uint32_t wg)
{
    return ceil((double)n / wg) + ceil(log2((double)wg));
}

/* A row's chain: one invocation's loop over all C columns for short rows
 * (softmax_xent_rows.comp), the workgroup's strided loops and tree otherwise. */
static double row_depth(int64_t c, uint32_t wg)
{
    return c <= XENT_ROWS_MAX_COLS ? (double)c : depth(c, wg);
}

static double forward_tol(int64_t b, int64_t c, uint32_t wg)
{
    return (2.0 * (row_depth(c, wg) + 80.0) + depth(b, wg) + 5.0) * U32;
}

static double backward_tol(int64_t c, uint32_t wg)
{
    return (row_depth(c, wg) + 78.0 + 10.0 + 1.0 + 10.0 + 6.0) * U32;
}

static float *make_logits(vkt__check_ctx *c, int kind, int64_t b, int64_t cols)
{
    int64_t n = b * cols;
    float *x = NULL;
    switch (kind) {
    case KIND_UNIT:
        return vkt__check_rand(c, n, -4.0f, 4.0f);
    case KIND_OFFSET:
        x = vkt__check_rand(c, n, -8.0f, 8.0f);
        for (int64_t i = 0; x && i < n; i++) {
            x[i] += (i / cols) % 2 ? -1e4f : 1e4f;
        }
        return x;
    default:
        return vkt__check_rand(c, n, -1e4f, 1e4f);
    }
}

static void check_case(vkt__check_ctx *c, int64_t b, int64_t cols, int kind)
{
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lld %s", (long long)b, (long long)cols,
             kind_names[kind]);
    bool fwd = vkt__check_wants(c, "softmax_xent");
    bool bwd = vkt__check_wants(c, "softmax_xent_backward");
    if (!fwd && !bwd) {
        return;
    }
    int64_t n = b * cols, sh[2] = {b, cols};
    uint32_t wg = vkt__device_caps(c->dev)->reduce_wg;
    float gscale = 0.75f * (float)b; /* exact for these B */
    float *x = make_logits(c, kind, b, cols);
    int32_t *labels = vkt__check_rand_int(c, b, (int32_t)cols);
    float *want = vkt__malloc((size_t)n * sizeof *want);
    float *got_grad = NULL, *got_loss = NULL;
    if (!x || !labels || !want) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, "softmax_xent", shape);
        goto done;
    }
    vkt_scope_begin(c->dev);
    double t0 = vkt__now();
    vkt_tensor *tx = vkt__check_tensor(c->dev, VKT_F32, x, 2, sh);
    vkt_tensor *tl = vkt__check_tensor(c->dev, VKT_I32, labels, 1, &b);
    vkt_tensor_set_requires_grad(tx, true);
    vkt_tensor *loss = vkt_softmax_xent(tx, tl);
    got_loss = vkt__check_fetch(loss);
    double ms = (vkt__now() - t0) * 1e3;
    if (fwd) {
        if (!got_loss) {
            vkt__check_report_failure(c, "softmax_xent", shape);
        } else {
            float want_loss;
            vkt__ref_softmax_xent(&want_loss, x, labels, b, cols);
            vkt__check_report(c, "softmax_xent", shape, vkt__max_err(got_loss, &want_loss, 1),
                              forward_tol(b, cols, wg), ms, NULL);
        }
    }
    if (bwd) {
        t0 = vkt__now();
        vkt_tensor *scaled = vkt_scale(loss, gscale);
        if (scaled && vkt_backward(scaled) == VKT_OK) {
            got_grad = vkt__check_fetch(vkt_tensor_grad(tx));
        }
        ms = (vkt__now() - t0) * 1e3;
        if (!got_grad) {
            vkt__check_report_failure(c, "softmax_xent_backward", shape);
        } else {
            vkt__ref_softmax_xent_backward(want, x, labels, gscale, b, cols);
            vkt__check_report(c, "softmax_xent_backward", shape, vkt__max_err(got_grad, want, n),
                              backward_tol(cols, wg), ms, NULL);
        }
    }
    vkt_scope_end(c->dev);
done:
    free(x);
    free(labels);
    free(want);
    free(got_loss);
    free(got_grad);
}

void vkt__check_softmax_xent(vkt__check_ctx *c)
{
    for (size_t bi = 0; bi < VKT__ARRAY_LEN(batch_sizes); bi++) {
        for (size_t ci = 0; ci < VKT__ARRAY_LEN(class_counts); ci++) {
            check_case(c, batch_sizes[bi], class_counts[ci], (int)((bi + ci) % KIND_COUNT));
        }
    }
}
