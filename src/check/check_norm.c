/*
 * check_norm.c — batch norm, layer norm, RMSNorm, dropout and the Philox stream against
 * src/ref/ref_norm.c and src/ref/ref_random.c, plus central finite differences of batch norm (train
 * and eval) and dropout (fixed mask); those of layer norm and RMSNorm are in check_grad.c. Ops:
 * src/ops/batch_norm.c, src/ops/layer_norm.c, src/ops/dropout.c, src/ops/random.c.
 * Tests: tests/test_norm.c.
 *
 * Tolerances (u = 2^-24, the unit roundoff of f32):
 *  - philox bits, uniforms, dropout values and dropout backward: integer arithmetic, an exact
 *    scaling by 2^-24 and one f32 multiply (dropout's 0 + dy * scale too): tol 0.
 *  - normals: the device's log, sqrt and cos are only as accurate as Vulkan requires (cos: 2^-11
 *    absolute on [-pi, pi]; log: 3 ulp); |sqrt(-2 ln u1)| <= 5.8, so 5.8 * 2^-11 + ~1e-5 < 4e-3
 *    absolute (lavapipe is ~1e-6; the statistical tests in tests/test_norm.c are the real check).
 *  - batch-norm statistics: the sums are compensated (the exact sum, rounded once), then the mean
 *    is one division (2.5 ulp) and invstd is m2 / M (2.5 ulp), + eps, sqrt (~4.5 ulp) and 1 / .
 *    (2.5 ulp): error / (|mean| + std) for the mean and relative for invstd, tol 32u. The mean's
 *    rounding shifts xhat by up to ulp(mean) / std, so y and the gradients are checked against
 *    the reference evaluated at the device's own statistics (the node's saved tensor); running
 *    statistics likewise follow from the mean and variance: tol 32u with vkt__max_err.
 *  - y = (x - mean) * invstd * w + b: four roundings of values <= ~2: vkt__max_err tol 16u.
 *  - dweight, dbias: compensated sums of dy * xhat (xhat 2 roundings, the product 1): error /
 *    sum|term| of the channel, tol 8u. dx: terms up to |w| invstd (|dy| + |mean dy| + |xhat
 *    mean(dy xhat)|) ~ 6 with ~6 roundings and cancellation: vkt__max_err tol 1e-5 (~170u).
 *  - layer norm / RMSNorm: stats, y and dweight / dbias as batch norm's (TOL_STATS, TOL_Y,
 *    TOL_SUMS: the row sums are compensated and meet in a fixed tree; the column sums are
 *    compensated chunk partials, then the partials' compensated sum). dx = rstd (g - mean(g) -
 *    xhat mean(g xhat)) cancels in rows of tiny variance (C = 3) and so may the means, so its error
 *    is taken relative to the size of its terms and sums, rstd (|g| + mean|g| + |xhat|
 *    mean|g xhat|) (the reference's dx_mag): ~6 roundings, tol 16u (measured <= 4u).
 *  - finite differences: as check_grad.c (Richardson on h = 0.01 and h/2; rounding ~6e-8 * |L|
 *    / h with |L| ~ 10): tol 5e-4.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "ops/random.h"

#define U_F32 (1.0 / 16777216.0)
#define TOL_STATS (32.0 * U_F32)
#define TOL_Y (16.0 * U_F32)
#define TOL_SUMS (8.0 * U_F32)
#define TOL_DX 1e-5
#define TOL_LN_DX (16.0 * U_F32)
#define TOL_NORMAL 4e-3
#define GRAD_H 0.01f
#define GRAD_TOL 5e-4
#define GRAD_PROBES 12

/* ---- Philox, uniforms, normals -------------------------------------------------------------- */

/* Random123's known-answer vectors for Philox4x32-10 (counter, key -> output). */
static const struct {
    uint32_t ctr[4], key[2], out[4];
} kat[] = {
    {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

static void check_philox_kat(vkt__check_ctx *c)
{
    if (!vkt__check_wants(c, "philox_kat")) {
        return;
    }
    for (size_t k = 0; k < VKT__ARRAY_LEN(kat); k++) {
        char shape[32];
        snprintf(shape, sizeof shape, "vector %zu", k);
        uint32_t cpu[4];
        vkt__ref_philox(cpu, kat[k].ctr, kat[k].key);
        double bad = 0;
        for (int j = 0; j < 4; j++) {
            bad += cpu[j] != kat[k].out[j];
        }
        vkt__check_report(c, "philox_kat/cpu", shape, bad, 0.0, 0.0, "wrong words");
        vkt_scope_begin(c->dev);
        int64_t four = 4;
        vkt_tensor *t = vkt_tensor_new(c->dev, VKT_I32, 1, &four);
        uint64_t seed = kat[k].key[0] | (uint64_t)kat[k].key[1] << 32;
        uint64_t off = kat[k].ctr[0] | (uint64_t)kat[k].ctr[1] << 32;
        uint32_t *dev = t && vkt__rand_bits(t, seed, off, kat[k].ctr[2], kat[k].ctr[3]) == VKT_OK
                            ? vkt__check_fetch(t)
                            : NULL;
        if (!dev) {
            vkt__check_report_failure(c, "philox_kat/device", shape);
        } else {
            bad = 0;
            for (int j = 0; j < 4; j++) {
                bad += dev[j] != kat[k].out[j];
            }
            vkt__check_report(c, "philox_kat/device", shape, bad, 0.0, 0.0, "wrong words");
        }
        free(dev);
        vkt_scope_end(c->dev);
    }
}

/* (seed, offset) pairs: offsets that carry into the counter's high word mid-tensor. */
static const struct {
    uint64_t seed, offset;
} streams[] = {
    {0, 0},
    {0x123456789abcdefull, 0xfffffff0ull},
    {42, 0x7fffffffffffff00ull},
};

static const int64_t rand_sizes[] = {1, 3, 65, 1000, 100003};

static void check_rand(vkt__check_ctx *c)
{
    for (size_t si = 0; si < VKT__ARRAY_LEN(streams); si++) {
        for (size_t k = 0; k < VKT__ARRAY_LEN(rand_sizes); k++) {
            int64_t n = rand_sizes[k];
            char shape[96];
            snprintf(shape, sizeof shape, "%lld seed %llx offset %llx", (long long)n,
                     (unsigned long long)streams[si].seed, (unsigned long long)streams[si].offset);
            for (int normal = 0; normal < 2; normal++) {
                const char *name = normal ? "rand_normal" : "rand_uniform";
                if (!vkt__check_wants(c, name)) {
                    continue;
                }
                vkt_scope_begin(c->dev);
                double t0 = vkt__now();
                vkt_tensor *t = (normal ? vkt_rand_normal : vkt_rand_uniform)(
                    c->dev, 1, &n, streams[si].seed, streams[si].offset);
                float *got = vkt__check_fetch(t);
                double ms = (vkt__now() - t0) * 1e3;
                float *want = vkt__malloc((size_t)n * sizeof *want);
                if (!got || !want) {
                    vkt__check_report_failure(c, name, shape);
                } else {
                    (normal ? vkt__ref_rand_normal : vkt__ref_rand_uniform)(want, streams[si].seed,
                                                                            streams[si].offset, n);
                    double err = 0;
                    for (int64_t i = 0; i < n; i++) {
                        double e = normal ? fabs((double)got[i] - want[i])
                                          : (memcmp(&got[i], &want[i], 4) != 0);
                        err = e > err || isnan(e) ? (isnan(e) ? INFINITY : e) : err;
                    }
                    vkt__check_report(c, name, shape, err, normal ? TOL_NORMAL : 0.0, ms,
                                      normal ? "absolute error" : "values not bit-identical");
                }
                free(got);
                free(want);
                vkt_scope_end(c->dev);
            }
        }
    }
}

/* ---- dropout ------------------------------------------------------------------------------- */

static void check_dropout(vkt__check_ctx *c)
{
    static const float ps[] = {0.0f, 0.1f, 0.5f, 0.9f, 1.0f};
    for (size_t k = 0; k < VKT__ARRAY_LEN(rand_sizes); k++) {
        for (size_t pi = 0; pi < VKT__ARRAY_LEN(ps); pi++) {
            if (!vkt__check_wants(c, "dropout")) {
                return;
            }
            int64_t n = rand_sizes[k];
            float p = ps[pi];
            uint64_t seed = streams[1].seed, off = streams[1].offset;
            char shape[64];
            snprintf(shape, sizeof shape, "%lld p %g", (long long)n, (double)p);
            vkt_scope_begin(c->dev);
            float *x = vkt__check_rand(c, n, -2.0f, 2.0f);
            float *dy = vkt__check_rand(c, n, -1.0f, 1.0f);
            float *want = vkt__malloc((size_t)n * sizeof *want);
            float *wantd = vkt__malloc((size_t)n * sizeof *wantd);
            vkt_tensor *tx = x ? vkt__check_tensor(c->dev, VKT_F32, x, 1, &n) : NULL;
            vkt_tensor *tdy = dy ? vkt__check_tensor(c->dev, VKT_F32, dy, 1, &n) : NULL;
            vkt_tensor_set_requires_grad(tx, true);
            double t0 = vkt__now();
            vkt_tensor *y = vkt_dropout(tx, p, seed, off, true);
            float *got = vkt__check_fetch(y);
            double ms = (vkt__now() - t0) * 1e3;
            /* L = sum(y * dy): y's gradient is dy exactly */
            vkt_tensor *L = tdy ? vkt_sum(vkt_mul(y, tdy)) : NULL;
            float *gotd =
                L && vkt_backward(L) == VKT_OK ? vkt__check_fetch(vkt_tensor_grad(tx)) : NULL;
            if (!got || !gotd || !want || !wantd) {
                vkt__check_report_failure(c, "dropout", shape);
            } else {
                vkt__ref_dropout(want, x, p, seed, off, n);
                vkt__ref_dropout(wantd, dy, p, seed, off, n);
                double bad = 0, badd = 0;
                for (int64_t i = 0; i < n; i++) {
                    bad += memcmp(&got[i], &want[i], 4) != 0;
                    badd += memcmp(&gotd[i], &wantd[i], 4) != 0;
                }
                vkt__check_report(c, "dropout", shape, bad, 0.0, ms, "values not bit-identical");
                vkt__check_report(c, "dropout_backward", shape, badd, 0.0, 0.0,
                                  "values not bit-identical");
            }
            free(x);
            free(dy);
            free(want);
            free(wantd);
            free(got);
            free(gotd);
            vkt_scope_end(c->dev);
        }
    }
}

/* ---- batch norm ----------------------------------------------------------------------------- */

typedef struct bn_case {
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    float offset;   /* added to x: E[x^2] - E[x]^2 in f32 would lose the variance */
    bool affine;    /* weight and bias given */
    bool eval_only; /* one value per channel: training is an error (tests/test_norm.c) */
} bn_case;

static const bn_case bn_cases[] = {
    {2, {2, 1}, 0, true, false},             /* BatchNorm1d, two values per channel */
    {2, {3, 3}, 0, false, false},            /* no affine part */
    {2, {1000, 65}, 0, true, false},         /* many rows, C = 65 */
    {3, {3, 5, 11}, 0, true, false},         /* (N, C, L) */
    {4, {1, 3, 7, 7}, 0, true, false},       /* N = 1 */
    {4, {4, 65, 1, 1}, 0, true, false},      /* spatial 1x1 */
    {4, {2, 3, 28, 28}, 0, false, false},    /* 28x28 */
    {4, {5, 1, 7, 7}, 100, true, false},     /* offset mean */
    {4, {128, 3, 28, 28}, 100, true, false}, /* 100352 values per channel */
    {4, {3, 5, 2, 6}, 0, true, false},       /* S = 12: the plane kernels, odd C */
    {4, {1, 1, 2, 2}, 0, true, false},       /* N = 1, C = 1, one vec4 per plane */
    {4, {2, 3, 3, 3}, 0, true, false},       /* S = 9: the scalar kernels */
    {4, {1, 65, 1, 1}, 0, true, true},       /* N * H * W = 1 */
};

static void bn_dims(const bn_case *k, int64_t *n, int64_t *ch, int64_t *s)
{
    *n = k->shape[0];
    *ch = k->shape[1];
    *s = 1;
    for (int i = 2; i < k->ndim; i++) {
        *s *= k->shape[i];
    }
}

static void bn_shape_str(const bn_case *k, char *buf, size_t size)
{
    size_t at = 0;
    for (int i = 0; i < k->ndim; i++) {
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "x" : "", (long long)k->shape[i]);
    }
    snprintf(buf + at, size - at, "%s%s", k->affine ? "" : " no-affine",
             k->offset != 0 ? " offset" : "");
}

/* Stats error: mean by |mean| + std (std = 1/invstd, eps aside), invstd relative. */
static double stats_err(const float *got, const float *want, int64_t C)
{
    double m = 0;
    for (int64_t ch = 0; ch < C; ch++) {
        double scale = fabs((double)want[ch]) + 1.0 / want[C + ch];
        double e0 = fabs((double)got[ch] - want[ch]) / scale;
        double e1 = fabs((double)got[C + ch] - want[C + ch]) / fabs((double)want[C + ch]);
        double e = fmax(e0, e1);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

/* |got - want| / max(1, sum|term|) per channel for dweight (terms dy * xhat) and dbias (dy). */
static double sums_err(const float *got, const float *want, const float *dy, const float *x,
                       const float *stats, int64_t N, int64_t C, int64_t S, bool with_xhat)
{
    double m = 0;
    for (int64_t ch = 0; ch < C; ch++) {
        double a = 0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t k = 0; k < S; k++) {
                int64_t i = (n * C + ch) * S + k;
                double t = dy[i];
                if (with_xhat) {
                    t *= ((double)x[i] - stats[ch]) * stats[C + ch];
                }
                a += fabs(t);
            }
        }
        double e = fabs((double)got[ch] - want[ch]) / fmax(1.0, a);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

typedef struct bn_host {
    float *x, *w, *b, *rm, *rv, *dy;
} bn_host;

static void bn_host_free(bn_host *h)
{
    free(h->x);
    free(h->w);
    free(h->b);
    free(h->rm);
    free(h->rv);
    free(h->dy);
}

static bool bn_host_make(vkt__check_ctx *c, const bn_case *k, bn_host *h)
{
    int64_t n, ch, s;
    bn_dims(k, &n, &ch, &s);
    int64_t total = n * ch * s;
    memset(h, 0, sizeof *h);
    h->x = vkt__check_rand(c, total, k->offset - 1.0f, k->offset + 1.0f);
    h->dy = vkt__check_rand(c, total, -1.0f, 1.0f);
    h->rm = vkt__check_rand(c, ch, -0.5f, 0.5f);
    h->rv = vkt__check_rand(c, ch, 0.5f, 1.5f);
    if (k->affine) {
        h->w = vkt__check_rand(c, ch, 0.5f, 1.5f);
        h->b = vkt__check_rand(c, ch, -0.5f, 0.5f);
    }
    return h->x && h->dy && h->rm && h->rv && (!k->affine || (h->w && h->b));
}

/* How bn_run_device forms y. */
typedef enum bn_form { BN_PLAIN, BN_FUSED_RELU, BN_THEN_RELU } bn_form;

/* One device run of vkt_batch_norm, vkt_batch_norm_relu or vkt_relu(vkt_batch_norm(...)) and
 * L = sum(y * dy), whose y-gradient is dy exactly: y, batch norm's saved stats, the running
 * statistics and counter after it, and the gradients (dw, db NULL without affine). */
typedef struct bn_run {
    float *y, *stats, *rm, *rv, *dx, *dw, *db;
    int32_t *nbt;
    double ms;
} bn_run;

static void bn_run_free(bn_run *r)
{
    free(r->y);
    free(r->stats);
    free(r->rm);
    free(r->rv);
    free(r->dx);
    free(r->dw);
    free(r->db);
    free(r->nbt);
}

static bool bn_run_device(vkt__check_ctx *c, const bn_case *k, const bn_host *h, bool training,
                          bn_form form, bn_run *r)
{
    int64_t C = k->shape[1], one = 1;
    memset(r, 0, sizeof *r);
    vkt_scope_begin(c->dev);
    vkt_tensor *tx = vkt__check_tensor(c->dev, VKT_F32, h->x, k->ndim, k->shape);
    vkt_tensor *tdy = vkt__check_tensor(c->dev, VKT_F32, h->dy, k->ndim, k->shape);
    vkt_tensor *tw = k->affine ? vkt__check_tensor(c->dev, VKT_F32, h->w, 1, &C) : NULL;
    vkt_tensor *tb = k->affine ? vkt__check_tensor(c->dev, VKT_F32, h->b, 1, &C) : NULL;
    vkt_tensor *trm = vkt__check_tensor(c->dev, VKT_F32, h->rm, 1, &C);
    vkt_tensor *trv = vkt__check_tensor(c->dev, VKT_F32, h->rv, 1, &C);
    int32_t five = 5;
    vkt_tensor *tn = vkt__check_tensor(c->dev, VKT_I32, &five, 1, &one);
    vkt_tensor_set_requires_grad(tx, true);
    vkt_tensor_set_requires_grad(tw, true);
    vkt_tensor_set_requires_grad(tb, true);
    vkt_batch_norm_params p = {.training = training, .num_batches_tracked = tn};
    double t0 = vkt__now();
    vkt_tensor *bn = (tx && tdy && trm && trv && tn && (!k->affine || (tw && tb)))
                         ? (form == BN_FUSED_RELU ? vkt_batch_norm_relu
                                                  : vkt_batch_norm)(tx, tw, tb, trm, trv, &p)
                         : NULL;
    vkt_tensor *ty = form == BN_THEN_RELU ? vkt_relu(bn) : bn;
    r->y = vkt__check_fetch(ty);
    r->ms = (vkt__now() - t0) * 1e3;
    r->stats = r->y ? vkt__check_fetch(bn->node->saved) : NULL; /* the statistics the op used */
    r->rm = vkt__check_fetch(trm);
    r->rv = vkt__check_fetch(trv);
    r->nbt = vkt__check_fetch(tn);
    vkt_tensor *L = ty ? vkt_sum(vkt_mul(ty, tdy)) : NULL;
    if (L && vkt_backward(L) == VKT_OK) {
        r->dx = vkt__check_fetch(vkt_tensor_grad(tx));
        r->dw = k->affine ? vkt__check_fetch(vkt_tensor_grad(tw)) : NULL;
        r->db = k->affine ? vkt__check_fetch(vkt_tensor_grad(tb)) : NULL;
    }
    vkt_scope_end(c->dev);
    return r->y && r->stats && r->rm && r->rv && r->nbt && r->dx &&
           (!k->affine || (r->dw && r->db));
}

/* Largest |a - b| over n values (NaN: infinite). */
static double bn_diff(const float *a, const float *b, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

/* relu: vkt_batch_norm_relu against the reference of relu(batch norm), its backward at dy masked
 * by the device's y > 0 (the reference's double y may round to the other side of 0), and against
 * the device's unfused vkt_relu(vkt_batch_norm(...)), which it must match exactly: the same
 * statistics, the same affine map (batch_norm_affine.glsl), the same mask and the same sums in
 * the same order. */
static void check_bn_case(vkt__check_ctx *c, const bn_case *k, bool training, bool relu)
{
    const char *op = relu ? (training ? "batch_norm_relu_train" : "batch_norm_relu_eval")
                          : (training ? "batch_norm_train" : "batch_norm_eval");
    if (!vkt__check_wants(c, op) || (training && k->eval_only)) {
        return;
    }
    char shape[96], name[64];
    bn_shape_str(k, shape, sizeof shape);
    int64_t N, C, S;
    bn_dims(k, &N, &C, &S);
    int64_t total = N * C * S;
    bn_host h;
    bn_run r = {0}, u = {0};
    float *want = vkt__malloc((size_t)total * sizeof *want);
    float *dy = vkt__malloc((size_t)total * sizeof *dy);
    float *wstats = vkt__malloc((size_t)(2 * C) * sizeof *wstats);
    float *wdw = vkt__malloc((size_t)C * sizeof *wdw), *wdb = vkt__malloc((size_t)C * sizeof *wdb);
    if (!bn_host_make(c, k, &h) || !want || !dy || !wstats || !wdw || !wdb) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    /* both device runs start from h's running statistics, before the reference updates them */
    if (!bn_run_device(c, k, &h, training, relu ? BN_FUSED_RELU : BN_PLAIN, &r) ||
        (relu && !bn_run_device(c, k, &h, training, BN_THEN_RELU, &u))) {
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    /* statistics and running statistics (h.rm / h.rv are updated in place by the reference) */
    vkt__ref_batch_norm_stats(wstats, h.rm, h.rv, h.x, N, C, S, training, 0.1f, 1e-5f);
    snprintf(name, sizeof name, "%s/stats", op);
    vkt__check_report(c, name, shape, stats_err(r.stats, wstats, C), TOL_STATS, r.ms,
                      "mean / (|mean| + std), invstd relative");
    double rerr = fmax(vkt__max_err(r.rm, h.rm, C), vkt__max_err(r.rv, h.rv, C));
    snprintf(name, sizeof name, "%s/running", op);
    vkt__check_report(c, name, shape, rerr, TOL_STATS, 0.0, NULL);
    snprintf(name, sizeof name, "%s/num_batches_tracked", op);
    vkt__check_report(c, name, shape, fabs((double)r.nbt[0] - (training ? 6 : 5)), 0.0, 0.0,
                      "counter off");
    /* y and the gradients at the device's statistics */
    vkt__ref_batch_norm_apply(want, h.x, r.stats, h.w, h.b, N, C, S);
    for (int64_t i = 0; i < total; i++) {
        want[i] = relu ? fmaxf(want[i], 0.0f) : want[i];
        dy[i] = relu && !(r.y[i] > 0.0f) ? 0.0f : h.dy[i];
    }
    snprintf(name, sizeof name, "%s/y", op);
    vkt__check_report(c, name, shape, vkt__max_err(r.y, want, total), TOL_Y, 0.0, NULL);
    vkt__ref_batch_norm_backward(want, wdw, wdb, dy, h.x, r.stats, h.w, N, C, S, training);
    snprintf(name, sizeof name, "%s/dx", op);
    vkt__check_report(c, name, shape, vkt__max_err(r.dx, want, total), TOL_DX, 0.0, NULL);
    if (k->affine) {
        double e = fmax(sums_err(r.dw, wdw, dy, h.x, r.stats, N, C, S, true),
                        sums_err(r.db, wdb, dy, h.x, r.stats, N, C, S, false));
        snprintf(name, sizeof name, "%s/dweight_dbias", op);
        vkt__check_report(c, name, shape, e, TOL_SUMS, 0.0, "error / sum|term| of the channel");
    }
    if (relu) {
        double e = fmax(bn_diff(r.y, u.y, total), bn_diff(r.stats, u.stats, 2 * C));
        e = fmax(e, fmax(bn_diff(r.rm, u.rm, C), bn_diff(r.rv, u.rv, C)));
        e = fmax(e, fmax(bn_diff(r.dx, u.dx, total), fabs((double)r.nbt[0] - u.nbt[0])));
        if (k->affine) {
            e = fmax(e, fmax(bn_diff(r.dw, u.dw, C), bn_diff(r.db, u.db, C)));
        }
        snprintf(name, sizeof name, "%s/unfused", op);
        vkt__check_report(c, name, shape, e, 0.0, 0.0,
                          "max |fused - relu(batch_norm)| over y, stats, running, gradients");
    }
done:
    bn_host_free(&h);
    bn_run_free(&r);
    bn_run_free(&u);
    free(want);
    free(dy);
    free(wstats);
    free(wdw);
    free(wdb);
}

/* ---- layer norm and RMSNorm ------------------------------------------------------------------
 * Each case runs the forward and L = sum(y * dy), whose y-gradient is dy exactly, and checks the
 * stats (the node's saved tensor) against the reference, then y and every gradient against the
 * reference evaluated at the device's own stats, with the tolerances of batch norm above: the
 * sums are compensated in both (rows: one workgroup tree; columns: chunk partials, then their
 * compensated sum, each rounded once), so the same error budget holds. */

typedef struct ln_case {
    int ndim;
    int64_t shape[3];
    bool rms, weight, bias;
    float offset; /* added to x: a large mean (two-pass variance) */
} ln_case;

static const ln_case ln_cases[] = {
    {2, {1, 1}, false, true, true, 0},         /* one element: xhat = 0 */
    {2, {1000, 1}, false, true, true, 0},      /* C = 1, many rows */
    {2, {3, 3}, false, false, false, 0},       /* no affine part */
    {2, {65, 63}, false, true, true, 0},       /* C = 63: one workgroup of 32 */
    {2, {1000, 65}, false, true, false, 100},  /* weight only, offset mean */
    {2, {3, 1000}, false, true, true, 0},      /* C = 1000 */
    {2, {1, 4097}, false, false, true, 0},     /* bias only, past 16 columns per invocation */
    {3, {4, 33, 63}, false, true, true, 0},    /* (B, T, C) */
    {3, {2, 5, 1000}, false, true, true, 0},   /* (B, T, C), C = 1000 */
    {2, {70000, 3}, false, true, true, 0},     /* 2-D grid; 274 column partials, then one */
    {2, {1, 6000000}, false, false, false, 0}, /* 3 passes of 23438 columns per invocation: past
                                                 lavapipe's 65535 loop trips without the unroll */
    {2, {3, 3}, true, true, false, 0},         /* RMSNorm */
    {2, {65, 1}, true, false, false, 0},       /* C = 1, no weight */
    {2, {65, 63}, true, true, false, 0.5f},    /* offset */
    {2, {3, 65}, true, false, false, 0},       /* no weight */
    {2, {65, 4097}, true, true, false, 0},     /* C = 4097 */
    {3, {4, 33, 63}, true, true, false, 0},    /* (B, T, C) */
    {2, {1000, 65}, true, true, false, 0},     /* 4 column partials (RMS stats layout), then one */
};

/* rstd (RMS stats), relative. */
static double rstd_err(const float *got, const float *want, int64_t R)
{
    double m = 0;
    for (int64_t r = 0; r < R; r++) {
        double e = fabs((double)got[r] - want[r]) / fabs((double)want[r]);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

/* |got - want| / the size of the terms of dx (vkt__ref_layer_norm_backward's dx_mag). */
static double dx_err(const float *got, const float *want, const double *mag, int64_t n)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]) / fmax(mag[i], 1e-30);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

/* |got - want| / max(1, sum|term|) per column: dweight (terms dy * xhat) or dbias (dy). */
static double ln_sums_err(const float *got, const float *want, const float *dy, const float *x,
                          const float *stats, int64_t R, int64_t C, bool rms, bool with_xhat)
{
    double m = 0;
    for (int64_t j = 0; j < C; j++) {
        double a = 0;
        for (int64_t r = 0; r < R; r++) {
            double t = dy[r * C + j];
            if (with_xhat) {
                double mean = rms ? 0.0 : stats[r], rstd = rms ? stats[r] : stats[R + r];
                t *= ((double)x[r * C + j] - mean) * rstd;
            }
            a += fabs(t);
        }
        double e = fabs((double)got[j] - want[j]) / fmax(1.0, a);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

static void ln_shape_str(const ln_case *k, char *buf, size_t size)
{
    size_t at = 0;
    for (int i = 0; i < k->ndim; i++) {
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "x" : "", (long long)k->shape[i]);
    }
    snprintf(buf + at, size - at, "%s%s%s", k->weight ? " w" : "", k->bias ? " b" : "",
             k->offset != 0 ? " offset" : "");
}

static void check_ln_case(vkt__check_ctx *c, const ln_case *k)
{
    const char *op = k->rms ? "rms_norm" : "layer_norm";
    if (!vkt__check_wants(c, op)) {
        return;
    }
    char shape[96], name[64];
    ln_shape_str(k, shape, sizeof shape);
    int64_t C = k->shape[k->ndim - 1], total = 1;
    for (int i = 0; i < k->ndim; i++) {
        total *= k->shape[i];
    }
    int64_t R = total / C, ns = (k->rms ? 1 : 2) * R;
    float *x = vkt__check_rand(c, total, k->offset - 1.0f, k->offset + 1.0f);
    float *dy = vkt__check_rand(c, total, -1.0f, 1.0f);
    float *w = k->weight ? vkt__check_rand(c, C, 0.5f, 1.5f) : NULL;
    float *b = k->bias ? vkt__check_rand(c, C, -0.5f, 0.5f) : NULL;
    float *want = vkt__malloc((size_t)total * sizeof *want);
    double *mag = vkt__malloc((size_t)total * sizeof *mag);
    float *wstats = vkt__malloc((size_t)ns * sizeof *wstats);
    float *wdw = vkt__malloc((size_t)C * sizeof *wdw), *wdb = vkt__malloc((size_t)C * sizeof *wdb);
    float *y = NULL, *stats = NULL, *dx = NULL, *dw = NULL, *db = NULL;
    vkt_scope_begin(c->dev);
    if (!x || !dy || (k->weight && !w) || (k->bias && !b) || !want || !mag || !wstats || !wdw ||
        !wdb) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    vkt_tensor *tx = vkt__check_tensor(c->dev, VKT_F32, x, k->ndim, k->shape);
    vkt_tensor *tdy = vkt__check_tensor(c->dev, VKT_F32, dy, k->ndim, k->shape);
    vkt_tensor *tw = w ? vkt__check_tensor(c->dev, VKT_F32, w, 1, &C) : NULL;
    vkt_tensor *tb = b ? vkt__check_tensor(c->dev, VKT_F32, b, 1, &C) : NULL;
    vkt_tensor_set_requires_grad(tx, true);
    vkt_tensor_set_requires_grad(tw, true);
    vkt_tensor_set_requires_grad(tb, true);
    vkt_tensor *ty = NULL;
    double t0 = vkt__now();
    if (tx && tdy && (!w || tw) && (!b || tb)) {
        ty = k->rms ? vkt_rms_norm(tx, tw, 0.0f) : vkt_layer_norm(tx, tw, tb, 0.0f);
    }
    y = vkt__check_fetch(ty);
    double ms = (vkt__now() - t0) * 1e3;
    stats = y ? vkt__check_fetch(ty->node->saved) : NULL; /* the statistics the op used */
    vkt_tensor *L = ty ? vkt_sum(vkt_mul(ty, tdy)) : NULL;
    if (L && vkt_backward(L) == VKT_OK) {
        dx = vkt__check_fetch(vkt_tensor_grad(tx));
        dw = w ? vkt__check_fetch(vkt_tensor_grad(tw)) : NULL;
        db = b ? vkt__check_fetch(vkt_tensor_grad(tb)) : NULL;
    }
    if (!y || !stats || !dx || (w && !dw) || (b && !db)) {
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    vkt__ref_layer_norm_stats(wstats, x, R, C, k->rms ? 1e-6f : 1e-5f, k->rms);
    snprintf(name, sizeof name, "%s/stats", op);
    vkt__check_report(c, name, shape,
                      k->rms ? rstd_err(stats, wstats, R) : stats_err(stats, wstats, R), TOL_STATS,
                      ms, k->rms ? "rstd relative" : "mean / (|mean| + std), rstd relative");
    vkt__ref_layer_norm_apply(want, x, stats, w, b, R, C, k->rms);
    snprintf(name, sizeof name, "%s/y", op);
    vkt__check_report(c, name, shape, vkt__max_err(y, want, total), TOL_Y, 0.0, NULL);
    vkt__ref_layer_norm_backward(want, mag, wdw, wdb, dy, x, stats, w, R, C, k->rms);
    snprintf(name, sizeof name, "%s/dx", op);
    vkt__check_report(c, name, shape, dx_err(dx, want, mag, total), TOL_LN_DX, 0.0,
                      "error / size of the terms");
    if (w || b) {
        double e = 0;
        if (w) {
            e = ln_sums_err(dw, wdw, dy, x, stats, R, C, k->rms, true);
        }
        if (b) {
            e = fmax(e, ln_sums_err(db, wdb, dy, x, stats, R, C, k->rms, false));
        }
        snprintf(name, sizeof name, "%s/dweight_dbias", op);
        vkt__check_report(c, name, shape, e, TOL_SUMS, 0.0, "error / sum|term| of the column");
    }
done:
    vkt_scope_end(c->dev);
    free(x);
    free(dy);
    free(w);
    free(b);
    free(want);
    free(mag);
    free(wstats);
    free(wdw);
    free(wdb);
    free(y);
    free(stats);
    free(dx);
    free(dw);
    free(db);
}

/* ---- finite differences ----------------------------------------------------------------------
 * L = sum(y * W) formed in double on the host from the device's forward output; analytic
 * gradients from vkt_backward; central differences at h and h/2 combined by Richardson, as in
 * check_grad.c. */

typedef enum fd_op { FD_BN_TRAIN, FD_BN_EVAL, FD_DROPOUT } fd_op;

typedef struct fd_case {
    const char *name;
    fd_op op;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
} fd_case;

static const fd_case fd_cases[] = {
    {"batch_norm_train_grad", FD_BN_TRAIN, 4, {3, 2, 2, 3}},
    {"batch_norm_train_grad", FD_BN_TRAIN, 2, {5, 3}},
    {"batch_norm_eval_grad", FD_BN_EVAL, 4, {2, 3, 3, 1}},
    {"dropout_grad", FD_DROPOUT, 2, {7, 9}},
};

typedef struct fd_inputs {
    int n; /* differentiable inputs: x (and weight, bias) */
    float *v[3];
    int64_t numel[3];
    float *rm, *rv; /* eval: fixed running statistics */
} fd_inputs;

/* The op on device copies of the inputs (t[i]); with `grad` they require gradients. */
static vkt_tensor *fd_apply(vkt__check_ctx *c, const fd_case *k, const fd_inputs *in,
                            vkt_tensor **t, bool grad)
{
    int64_t C = k->shape[1];
    for (int i = 0; i < in->n; i++) {
        t[i] = i == 0 ? vkt__check_tensor(c->dev, VKT_F32, in->v[0], k->ndim, k->shape)
                      : vkt__check_tensor(c->dev, VKT_F32, in->v[i], 1, &C);
        vkt_tensor_set_requires_grad(t[i], grad);
    }
    if (k->op == FD_DROPOUT) {
        return vkt_dropout(t[0], 0.3f, 7, 1000, true);
    }
    vkt_tensor *rm = NULL, *rv = NULL;
    if (k->op == FD_BN_EVAL) {
        rm = vkt__check_tensor(c->dev, VKT_F32, in->rm, 1, &C);
        rv = vkt__check_tensor(c->dev, VKT_F32, in->rv, 1, &C);
    }
    vkt_batch_norm_params p = {.training = k->op == FD_BN_TRAIN};
    return vkt_batch_norm(t[0], t[1], t[2], rm, rv, &p);
}

/* L at the host inputs; NAN on error. */
static double fd_loss(vkt__check_ctx *c, const fd_case *k, const fd_inputs *in, const float *w,
                      int64_t wn)
{
    vkt_scope_begin(c->dev);
    vkt_tensor *t[3] = {0};
    float *y = vkt__check_fetch(fd_apply(c, k, in, t, false));
    double l = NAN;
    if (y) {
        l = 0;
        for (int64_t i = 0; i < wn; i++) {
            l += (double)y[i] * w[i];
        }
    }
    free(y);
    vkt_scope_end(c->dev);
    return l;
}

static void check_fd_case(vkt__check_ctx *c, const fd_case *k)
{
    char shape[64];
    size_t at = 0;
    int64_t total = 1, C = k->shape[1];
    for (int i = 0; i < k->ndim; i++) {
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", i ? "x" : "",
                               (long long)k->shape[i]);
        total *= k->shape[i];
    }
    fd_inputs in = {.n = k->op == FD_DROPOUT ? 1 : 3};
    float *w = vkt__check_rand(c, total, -1.0f, 1.0f), *grads[3] = {0};
    bool ok = w != NULL;
    for (int i = 0; i < in.n; i++) {
        in.numel[i] = i == 0 ? total : C;
        /* weights in [0.5, 1.5]: away from 0, where they would hide x's gradient */
        in.v[i] = vkt__check_rand(c, in.numel[i], i == 1 ? 0.5f : -1.0f, i == 1 ? 1.5f : 1.0f);
        ok = ok && in.v[i];
    }
    in.rm = vkt__check_rand(c, C, -0.5f, 0.5f);
    in.rv = vkt__check_rand(c, C, 0.5f, 1.5f);
    if (!ok || !in.rm || !in.rv) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, k->name, shape);
        goto done;
    }
    double t0 = vkt__now();
    vkt_scope_begin(c->dev);
    vkt_tensor *t[3] = {0};
    vkt_tensor *y = fd_apply(c, k, &in, t, true);
    vkt_tensor *tw = vkt__check_tensor(c->dev, VKT_F32, w, k->ndim, k->shape);
    vkt_tensor *L = y && tw ? vkt_sum(vkt_mul(y, tw)) : NULL;
    ok = L && vkt_backward(L) == VKT_OK;
    for (int i = 0; ok && i < in.n; i++) {
        ok = (grads[i] = vkt__check_fetch(vkt_tensor_grad(t[i]))) != NULL;
    }
    vkt_scope_end(c->dev);
    if (!ok) {
        vkt__check_report_failure(c, k->name, shape);
        goto done;
    }
    double err = 0;
    for (int i = 0; i < in.n; i++) {
        int64_t probes = VKT__MIN(in.numel[i], (int64_t)GRAD_PROBES);
        for (int64_t pr = 0; pr < probes; pr++) {
            int64_t e = in.numel[i] <= GRAD_PROBES
                            ? pr
                            : (int64_t)(vkt__check_next(c) % (uint64_t)in.numel[i]);
            float x0 = in.v[i][e];
            double fd[2];
            for (int half = 0; half < 2; half++) {
                float h = half ? GRAD_H / 2 : GRAD_H;
                in.v[i][e] = x0 + h;
                double lp = fd_loss(c, k, &in, w, total);
                in.v[i][e] = x0 - h;
                double lm = fd_loss(c, k, &in, w, total);
                fd[half] = (lp - lm) / (2.0 * h);
            }
            in.v[i][e] = x0;
            double rich = (4.0 * fd[1] - fd[0]) / 3.0;
            double d = fabs((double)grads[i][e] - rich) / fmax(1.0, fabs(rich));
            err = !(d <= err) ? (isnan(d) ? INFINITY : d) : err;
        }
    }
    vkt__check_report(c, k->name, shape, err, GRAD_TOL, (vkt__now() - t0) * 1e3, NULL);
done:
    free(w);
    for (int i = 0; i < 3; i++) {
        free(in.v[i]);
        free(grads[i]);
    }
    free(in.rm);
    free(in.rv);
}

void vkt__check_norm(vkt__check_ctx *c)
{
    check_philox_kat(c);
    check_rand(c);
    check_dropout(c);
    for (size_t i = 0; i < VKT__ARRAY_LEN(bn_cases); i++) {
        for (int relu = 0; relu < 2; relu++) {
            check_bn_case(c, &bn_cases[i], true, relu);
            check_bn_case(c, &bn_cases[i], false, relu);
        }
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(ln_cases); i++) {
        check_ln_case(c, &ln_cases[i]);
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(fd_cases); i++) {
        if (vkt__check_wants(c, fd_cases[i].name)) {
            check_fd_case(c, &fd_cases[i]);
        }
    }
}
