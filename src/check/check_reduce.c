/*
 * check_reduce.c — sum, mean, max, min, argmax (whole tensor and _rows), count_equal and the
 * reduction backward against src/ref/ref_reduce.c, on both workgroup-combine paths: every op is
 * reported as "<op>/smem" (shared-memory tree, reduce_smem.comp) and "<op>/sg" (subgroup
 * arithmetic, reduce_sg.comp; skipped on a device without it). The device's path is restored
 * afterwards. Ops: src/ops/reduce.c. Tests: tests/test_reduce.c.
 *
 * Tolerances (u = 2^-24, the unit roundoff of f32):
 *  - sum: every level keeps the rounding error of its additions (two-sum) and the subgroup adds
 *    are made exact, so the result is the exact sum rounded once (<= u|S| <= u sum|x|) plus terms
 *    of order u^2 * (elements per invocation, <= ~600) * sum|x| (below 1e-3 u). The error is
 *    measured against sum|x| of the row, so mixed-sign data is judged fairly: tol 2u. A plain
 *    fp32 loop over the 10^6 values is off by ~1e-4 of sum|x|, and the "2^24+small" cases fail
 *    if any single combine step (per invocation, subgroup, workgroup, level) is uncompensated.
 *  - mean: the sum's error plus one division, which Vulkan allows 2.5 ULP (<= 5u): tol 7u.
 *  - max, min, argmax, count_equal: selections and integer counts are exact: tol 0.
 *  - backward: sum/max/min add gout into a gradient that starts from random values, the same
 *    fp32 addition as the reference: tol 0; mean divides gout by cols (2.5 ULP): 5u relative.
 */
#include <math.h>
#include <stdio.h>

#include "check/check.h"

#define U_F32 (1.0 / 16777216.0)
#define TOL_SUM (2.0 * U_F32)
#define TOL_MEAN (7.0 * U_F32)
#define TOL_MEAN_BACKWARD (5.0 * U_F32)

typedef struct path {
    const char *name;
    bool subgroup;
} path;

static const path paths[] = {{"smem", false}, {"sg", true}};

typedef enum red_kind { R_SUM, R_MEAN, R_MAX, R_MIN, R_ARGMAX } red_kind;

typedef struct red_op {
    const char *name;
    vkt_tensor *(*fn)(const vkt_tensor *);
    red_kind kind;
} red_op;

/* In this order (check_backward uses the first four). */
static const red_op whole_ops[] = {
    {"sum", vkt_sum, R_SUM},
    {"mean", vkt_mean, R_MEAN},
    {"max", vkt_max, R_MAX},
    {"min", vkt_min, R_MIN},
    {"argmax", vkt_argmax, R_ARGMAX},
};

static const red_op row_ops[] = {
    {"sum_rows", vkt_sum_rows, R_SUM},
    {"mean_rows", vkt_mean_rows, R_MEAN},
    {"max_rows", vkt_max_rows, R_MAX},
    {"min_rows", vkt_min_rows, R_MIN},
    {"argmax_rows", vkt_argmax_rows, R_ARGMAX},
};

/* Whole-tensor sizes: awkward, around the workgroup sizes, and large enough for split rows. */
static const int64_t sizes[] = {1, 3, 63, 64, 65, 1000, 4097, 100000, 1000003};

typedef struct rows_case {
    int64_t rows, cols;
} rows_case;

/* Row shapes: one invocation per row (cols <= 32: 1, 3, 10), one workgroup per row with every
 * workgroup size (32 .. 256: cols 33, 63, 200, 500, 1000), many rows (100000 short ones; 70000
 * workgroups, a 2-D grid past 65535) and long rows split over workgroups (100003). */
static const rows_case row_cases[] = {
    {1, 1}, {3, 1000}, {1000, 3}, {65, 63}, {7, 200}, {5, 500}, {100000, 10}, {70000, 33},
    {2, 100003},
};

/* Worst |got - want| / scale over rows, with non-finite wants matched exactly (NaN to NaN). */
static double sum_err(const float *got, const double *want, const double *scale, int64_t rows)
{
    double m = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        double g = got[r], w = want[r];
        double e;
        if (!isfinite(w)) {
            e = (isnan(w) ? isnan(g) : g == w) ? 0.0 : INFINITY;
        } else if (!isfinite(g)) {
            e = INFINITY;
        } else {
            e = fabs(g - w) / fmax(scale[r], 1e-30);
        }
        if (!(e <= m)) {
            m = e;
        }
    }
    return m;
}

static double index_err(const int32_t *got, const int32_t *want, int64_t n)
{
    double bad = 0.0;
    for (int64_t i = 0; i < n; i++) {
        bad += got[i] != want[i];
    }
    return bad;
}

/* max_i |got - want| / |want| (|got| where want is 0). */
static double rel_err(const float *got, const float *want, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double w = want[i];
        double e = fabs((double)got[i] - w) / (w != 0.0 ? fabs(w) : 1.0);
        if (!(e <= m)) {
            m = e;
        }
    }
    return m;
}

/* Runs one reduction on tx (host copy x, seen as rows x cols) and reports it. `extra_tol` is
 * added to the sum/mean tolerance (0 except for the overflow-fallback case). */
static void check_op(vkt__check_ctx *c, const red_op *op, const path *p, vkt_tensor *tx,
                     const float *x, int64_t rows, int64_t cols, const char *shape,
                     double extra_tol)
{
    char name[64];
    snprintf(name, sizeof name, "%s/%s", op->name, p->name);
    if (!vkt__check_wants(c, name)) {
        return;
    }
    vkt_scope_begin(c->dev);
    double t0 = vkt__now();
    void *got = vkt__check_fetch(op->fn(tx));
    double ms = (vkt__now() - t0) * 1e3;
    double *want = vkt__malloc((size_t)rows * sizeof *want);
    double *scale = vkt__malloc((size_t)rows * sizeof *scale);
    void *wantv = vkt__malloc((size_t)rows * sizeof(float));
    if (!got || !want || !scale || !wantv) {
        if (got) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        }
        vkt__check_report_failure(c, name, shape);
    } else if (op->kind == R_SUM || op->kind == R_MEAN) {
        vkt__ref_sum_rows(want, scale, x, rows, cols);
        double tol = op->kind == R_SUM ? TOL_SUM : TOL_MEAN;
        for (int64_t r = 0; r < rows && op->kind == R_MEAN; r++) {
            want[r] /= (double)cols;
            scale[r] /= (double)cols;
        }
        vkt__check_report(c, name, shape, sum_err(got, want, scale, rows), tol + extra_tol, ms,
                          op->kind == R_SUM ? "error / sum|x| of the row"
                                            : "error / mean|x| of the row");
    } else if (op->kind == R_ARGMAX) {
        vkt__ref_argmax_rows(wantv, x, rows, cols);
        vkt__check_report(c, name, shape, index_err(got, wantv, rows), 0.0, ms,
                          "rows with a wrong index");
    } else {
        (op->kind == R_MAX ? vkt__ref_max_rows : vkt__ref_min_rows)(wantv, x, rows, cols);
        vkt__check_report(c, name, shape, vkt__max_err(got, wantv, rows), 0.0, ms, NULL);
    }
    free(got);
    free(want);
    free(scale);
    free(wantv);
    vkt_scope_end(c->dev);
}

/* Every op of `ops` on x (rows x cols; 1-D when whole) on both paths. */
static void check_ops(vkt__check_ctx *c, const red_op *ops, size_t nops, const float *x,
                      int64_t rows, int64_t cols, bool whole, const char *shape, double extra_tol)
{
    int64_t n = rows * cols, sh[2] = {rows, cols};
    for (size_t pi = 0; pi < VKT__ARRAY_LEN(paths); pi++) {
        if (!vkt__device_set_subgroup_arith(c->dev, paths[pi].subgroup)) {
            continue; /* no subgroup arithmetic on this device */
        }
        vkt_scope_begin(c->dev);
        vkt_tensor *tx = whole ? vkt__check_tensor(c->dev, VKT_F32, x, 1, &n)
                               : vkt__check_tensor(c->dev, VKT_F32, x, 2, sh);
        for (size_t i = 0; i < nops; i++) {
            if (tx) {
                check_op(c, &ops[i], &paths[pi], tx, x, rows, cols, shape, extra_tol);
            } else {
                vkt__check_report_failure(c, ops[i].name, shape);
            }
        }
        vkt_scope_end(c->dev);
    }
}

/* Values in {-1, -0.75, .., 0.75}: many ties, so "first index of the maximum" is exercised. */
static float *rand_ties(vkt__check_ctx *c, int64_t n)
{
    float *x = vkt__check_rand(c, n, 0.0f, 8.0f);
    for (int64_t i = 0; x && i < n; i++) {
        x[i] = floorf(x[i]) * 0.25f - 1.0f;
    }
    return x;
}

static void check_whole(vkt__check_ctx *c)
{
    static const red_op argmax_ties = {"argmax", vkt_argmax, R_ARGMAX};
    for (size_t i = 0; i < VKT__ARRAY_LEN(sizes); i++) {
        int64_t n = sizes[i];
        char shape[64];
        float *x = vkt__check_rand(c, n, -2.0f, 2.0f);
        float *t = rand_ties(c, n);
        if (x && t) {
            snprintf(shape, sizeof shape, "n=%lld", (long long)n);
            check_ops(c, whole_ops, VKT__ARRAY_LEN(whole_ops), x, 1, n, true, shape, 0.0);
            snprintf(shape, sizeof shape, "n=%lld ties", (long long)n);
            check_ops(c, &argmax_ties, 1, t, 1, n, true, shape, 0.0);
        } else {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, "reduce", "whole");
        }
        free(x);
        free(t);
    }
}

/* NaN, infinities and huge values: torch's NaN rules (docs/reductions.md) and the overflow
 * fallbacks of the sum. */
static void check_special(vkt__check_ctx *c)
{
    enum { NCASES = 6 };
    static const int64_t ns[NCASES] = {4097, 1000, 100000, 65, 30, 100000};
    static const char *names[NCASES] = {"n=4097 nan",    "n=1000 +-inf", "n=100000 +inf",
                                        "n=65 all -inf", "n=30 ~1e37",   "n=100000 2^24+1.001"};
    for (int k = 0; k < NCASES; k++) {
        int64_t n = ns[k];
        float *x = vkt__check_rand(c, n, -2.0f, 2.0f);
        if (!x) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, "reduce", names[k]);
            continue;
        }
        double extra_tol = 0.0;
        switch (k) {
        case 0: /* two NaNs: every result is NaN, argmax is the first NaN even after +inf */
            x[5] = INFINITY;
            x[1234] = NAN;
            x[3000] = NAN;
            break;
        case 1: /* both infinities: sum NaN, max inf, min -inf, argmax the first +inf */
            x[10] = INFINITY;
            x[700] = -INFINITY;
            x[701] = INFINITY;
            break;
        case 2: /* one +inf: the sum is +inf (its NaN compensation must not leak) */
            x[77777] = INFINITY;
            break;
        case 3: /* nothing but -inf: argmax 0 (empty invocations never win) */
            for (int64_t i = 0; i < n; i++) {
                x[i] = -INFINITY;
            }
            break;
        case 5: /* 2^24 then 1 + 2^-10 everywhere: an uncompensated step anywhere (the first
                 * invocation's loop, a subgroupAdd, the workgroup or the second-level combine)
                 * drops the small terms' low bits, ~1e-6 of sum|x| or more */
            x[0] = 16777216.0f;
            for (int64_t i = 1; i < n; i++) {
                x[i] = 1.0f + 1.0f / 1024.0f;
            }
            break;
        case 4: /* 0 <= x < 1e37 (sum < FLT_MAX): with subgroups of 16 or more the split point
                  * 2^e * 2 * size overflows and the subgroup path falls back to a plain
                  * subgroupAdd, whose order is the device's: a plain fp32 sum of 30 positive
                  * values in any order is within 29u of sum|x|, added to the tolerance */
            for (int64_t i = 0; i < n; i++) {
                x[i] = fabsf(x[i]) * 0.5e37f;
            }
            extra_tol = 29.0 * U_F32;
            break;
        }
        check_ops(c, whole_ops, VKT__ARRAY_LEN(whole_ops), x, 1, n, true, names[k], extra_tol);
        free(x);
    }
    /* 1000 rows of 64: x[r, 0] in [2^24, 2^25), the rest in [1, 2). Every uncompensated step
     * that adds a small partial to the big one (per invocation, in a subgroupAdd, across
     * subgroups, in the shared tree, across levels) loses up to u of the row's sum|x|; a correct
     * result is within u (final rounding). Over 1000 rows two or three lossy steps exceed 2u. */
    {
        int64_t rows = 1000, cols = 64;
        float *x = vkt__check_rand(c, rows * cols, 1.0f, 2.0f);
        float *big = vkt__check_rand(c, rows, 16777216.0f, 33554432.0f);
        if (x && big) {
            for (int64_t r = 0; r < rows; r++) {
                x[r * cols] = big[r];
            }
            check_ops(c, row_ops, 2, x, rows, cols, false, "1000x64 2^24+small", 0.0);
        } else {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, "reduce", "1000x64 2^24+small");
        }
        free(x);
        free(big);
    }
    /* per-row NaN / inf: rows 5 and 7 hold NaNs, row 8 +inf, row 9 only -inf */
    int64_t rows = 65, cols = 63;
    float *x = vkt__check_rand(c, rows * cols, -2.0f, 2.0f);
    if (x) {
        x[5 * cols + 2] = NAN;
        x[7 * cols + 40] = NAN;
        x[7 * cols + 10] = NAN;
        x[8 * cols + 3] = INFINITY;
        for (int64_t j = 0; j < cols; j++) {
            x[9 * cols + j] = -INFINITY;
        }
        check_ops(c, row_ops, VKT__ARRAY_LEN(row_ops), x, rows, cols, false, "65x63 nan/inf",
                  0.0);
    } else {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, "reduce", "65x63 nan/inf");
    }
    free(x);
}

static void check_rows(vkt__check_ctx *c)
{
    static const red_op argmax_ties = {"argmax_rows", vkt_argmax_rows, R_ARGMAX};
    for (size_t i = 0; i < VKT__ARRAY_LEN(row_cases); i++) {
        int64_t rows = row_cases[i].rows, cols = row_cases[i].cols;
        char shape[64];
        float *x = vkt__check_rand(c, rows * cols, -2.0f, 2.0f);
        float *t = rand_ties(c, rows * cols);
        if (x && t) {
            snprintf(shape, sizeof shape, "%lldx%lld", (long long)rows, (long long)cols);
            check_ops(c, row_ops, VKT__ARRAY_LEN(row_ops), x, rows, cols, false, shape, 0.0);
            snprintf(shape, sizeof shape, "%lldx%lld ties", (long long)rows, (long long)cols);
            check_ops(c, &argmax_ties, 1, t, rows, cols, false, shape, 0.0);
        } else {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, "reduce", "rows");
        }
        free(x);
        free(t);
    }
}

/* One sum of 10^7 values in [0, 1) (the accuracy contract; tests/test_reduce.c adds mixed signs
 * and the 1e-6 bound). */
static void check_big_sum(vkt__check_ctx *c)
{
    int64_t n = 10000000;
    float *x = vkt__check_rand(c, n, 0.0f, 1.0f);
    if (!x) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, "sum", "n=10^7");
        return;
    }
    check_ops(c, whole_ops, 1, x, 1, n, true, "n=10^7 [0,1)", 0.0);
    free(x);
}

static void check_count_equal(vkt__check_ctx *c)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(sizes); i++) {
        int64_t n = sizes[i];
        int32_t *la = vkt__check_rand_int(c, n, 10);
        int32_t *lb = vkt__check_rand_int(c, n, 10);
        float *fa = vkt__check_rand(c, n, -1.0f, 1.0f);
        float *fb = vkt__malloc((size_t)n * sizeof *fb);
        if (!la || !lb || !fa || !fb) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, "count_equal", "n");
            goto next;
        }
        for (int64_t k = 0; k < n; k++) {
            uint64_t r = vkt__check_next(c) % 8;
            lb[k] = r < 3 ? la[k] : lb[k]; /* about 40% equal labels */
            fb[k] = r < 4 ? fa[k] : fa[k] + 0.5f;
            if (r == 5) { /* NaN never equals NaN */
                fa[k] = fb[k] = NAN;
            } else if (r == 6) { /* -0 equals +0 */
                fa[k] = 0.0f;
                fb[k] = -0.0f;
            }
        }
        for (int dt = 0; dt < 2; dt++) {
            const void *a = dt ? (const void *)fa : (const void *)la;
            const void *b = dt ? (const void *)fb : (const void *)lb;
            int32_t want;
            if (dt) {
                vkt__ref_count_equal_f32(&want, fa, fb, n);
            } else {
                vkt__ref_count_equal_i32(&want, la, lb, n);
            }
            char shape[64];
            snprintf(shape, sizeof shape, "n=%lld %s", (long long)n, dt ? "f32" : "i32");
            for (size_t pi = 0; pi < VKT__ARRAY_LEN(paths); pi++) {
                char name[64];
                snprintf(name, sizeof name, "count_equal/%s", paths[pi].name);
                if (!vkt__check_wants(c, name) ||
                    !vkt__device_set_subgroup_arith(c->dev, paths[pi].subgroup)) {
                    continue;
                }
                vkt_scope_begin(c->dev);
                vkt_dtype t = dt ? VKT_F32 : VKT_I32;
                vkt_tensor *ta = vkt__check_tensor(c->dev, t, a, 1, &n);
                vkt_tensor *tb = vkt__check_tensor(c->dev, t, b, 1, &n);
                double t0 = vkt__now();
                int32_t *got = vkt__check_fetch(vkt_count_equal(ta, tb));
                double ms = (vkt__now() - t0) * 1e3;
                if (got) {
                    vkt__check_report(c, name, shape, fabs((double)*got - want), 0.0, ms,
                                      "count difference");
                } else {
                    vkt__check_report_failure(c, name, shape);
                }
                free(got);
                vkt_scope_end(c->dev);
            }
        }
    next:
        free(la);
        free(lb);
        free(fa);
        free(fb);
    }
}

/* d/dx of op(x): whole ops through loss = 0.37 * op(x), row ops through loss = sum(op(x) * w),
 * so gout is 0.37 or the row weights w. Except for mean (whose division is inexact), x's gradient
 * starts from random values, so backward must accumulate (+=), not overwrite. */
static void check_backward_case(vkt__check_ctx *c, const red_op *op, const path *p, const float *x,
                                int64_t rows, int64_t cols, bool whole, const char *shape)
{
    char name[64];
    snprintf(name, sizeof name, "%s_backward/%s", op->name, p->name);
    if (!vkt__check_wants(c, name)) {
        return;
    }
    int64_t n = rows * cols, sh[2] = {rows, cols};
    float *w = vkt__check_rand(c, rows, -1.0f, 1.0f);
    float *want = op->kind == R_MEAN ? vkt__calloc((size_t)n, sizeof *want)
                                     : vkt__check_rand(c, n, -1.0f, 1.0f);
    int32_t *idx = vkt__malloc((size_t)rows * sizeof *idx);
    float *got = NULL;
    vkt_scope_begin(c->dev);
    double t0 = vkt__now();
    vkt_tensor *tx = whole ? vkt__check_tensor(c->dev, VKT_F32, x, 1, &n)
                           : vkt__check_tensor(c->dev, VKT_F32, x, 2, sh);
    vkt_tensor *loss = NULL;
    if (tx && w && want && idx) {
        vkt_tensor_set_requires_grad(tx, true);
        vkt_tensor *g0 = vkt__check_tensor(c->dev, VKT_F32, want, whole ? 1 : 2, whole ? &n : sh);
        if (g0) {
            vkt_tensor_set_grad(tx, g0);
        }
        if (whole) {
            w[0] = 0.37f;
            loss = vkt_scale(op->fn(tx), w[0]);
        } else {
            loss = vkt_sum(vkt_mul(op->fn(tx), vkt__check_tensor(c->dev, VKT_F32, w, 1, &rows)));
        }
    }
    if (loss && vkt_backward(loss) == VKT_OK) {
        got = vkt__check_fetch(vkt_tensor_grad(tx));
    }
    double ms = (vkt__now() - t0) * 1e3;
    if (!got) {
        vkt__check_report_failure(c, name, shape);
    } else if (op->kind == R_SUM || op->kind == R_MEAN) {
        vkt__ref_reduce_broadcast_backward(want, w, op->kind == R_MEAN ? (float)cols : 1.0f, rows,
                                           cols);
        vkt__check_report(c, name, shape,
                          op->kind == R_MEAN ? rel_err(got, want, n) : vkt__max_err(got, want, n),
                          op->kind == R_MEAN ? TOL_MEAN_BACKWARD : 0.0, ms, NULL);
    } else {
        (op->kind == R_MAX ? vkt__ref_argmax_rows : vkt__ref_argmin_rows)(idx, x, rows, cols);
        vkt__ref_reduce_scatter_backward(want, w, idx, rows, cols);
        vkt__check_report(c, name, shape, vkt__max_err(got, want, n), 0.0, ms, NULL);
    }
    vkt_scope_end(c->dev);
    free(got);
    free(w);
    free(want);
    free(idx);
}

static void check_backward(vkt__check_ctx *c)
{
    static const rows_case cases[] = {{1, 1}, {1, 65}, {1, 4097}, {1, 100000},
                                      {3, 1000}, {1000, 3}, {65, 63}, {2, 100003}};
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        int64_t rows = cases[i].rows, cols = cases[i].cols;
        bool whole = rows == 1;
        char shape[64];
        if (whole) {
            snprintf(shape, sizeof shape, "n=%lld ties", (long long)cols);
        } else {
            snprintf(shape, sizeof shape, "%lldx%lld ties", (long long)rows, (long long)cols);
        }
        float *x = rand_ties(c, rows * cols); /* ties: only the first extreme gets the gradient */
        if (!x) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, "reduce_backward", shape);
            continue;
        }
        const red_op *ops = whole ? whole_ops : row_ops;
        for (size_t pi = 0; pi < VKT__ARRAY_LEN(paths); pi++) {
            if (!vkt__device_set_subgroup_arith(c->dev, paths[pi].subgroup)) {
                continue;
            }
            for (size_t k = 0; k < 4; k++) { /* sum, mean, max, min */
                check_backward_case(c, &ops[k], &paths[pi], x, rows, cols, whole, shape);
            }
        }
        free(x);
    }
}

void vkt__check_reduce(vkt__check_ctx *c)
{
    bool subgroup = vkt__device_caps(c->dev)->subgroup_arith;
    check_whole(c);
    check_special(c);
    check_rows(c);
    check_big_sum(c);
    check_count_equal(c);
    check_backward(c);
    vkt__device_set_subgroup_arith(c->dev, subgroup);
}
