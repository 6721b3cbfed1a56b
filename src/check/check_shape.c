/*
 * check_shape.c — the shape ops (src/ops/shape.c), the reductions along dimensions
 * (src/ops/reduce_dim.c) and softmax / log_softmax (src/ops/softmax.c) against the references of
 * src/ref/ref_shape.c, and every differentiable one of them against central finite differences.
 * Shapes have dimensions of 1, 3, 63, 65 and 1000, 1-D to 6-D; reductions and softmax run over
 * every dimension of each shape, on both paths of a dimension that is not the last (the strided
 * kernel, and permute + row reductions: src/ops/reduce_dim.c), and a reduced length of 10^5
 * takes the multi-level row path both directly (last dimension) and after a permute.
 * Tests: tests/test_shape.c.
 *
 * Tolerances (vkt__max_err units: |got - want| / max(1, |want|); u = 2^-24):
 *  - copies (permute, slice, cat, stack, pad, expand, views): exact, tol 0;
 *  - max, min, argmax, argmin: selections, exact, tol 0 (inputs have ties: first index wins);
 *  - sum, sum_dims, mean: compensated sums rounded once (docs/reductions.md) plus the mean's
 *    division (2.5 ULP); against a double reference on inputs in [-1, 1) whose sums reach ~300:
 *    the bound is ~ 4u |S| / max(1, |S|) = 2.4e-7, tol 1e-6 (measured <= 1.2e-7);
 *  - var, std: a two-pass variance, each squared deviation rounded (u relative, all terms
 *    positive) and the mean's own error entering only at second order; plus sqrt (exact in
 *    Vulkan to ~1 ULP): tol 1e-6 (measured ~3e-7);
 *  - softmax, log_softmax: exp of arguments in [-2, 0] (Vulkan: 3 + 2|x| ULP = 7 ULP = 4.2e-7),
 *    a compensated sum and a division (2.5 ULP) or a log (absolute 2^-21 near 1): tol 2e-6.
 *  - gradients: the finite-difference scheme of check_grad.c (Richardson over h and h/2, fp32
 *    forward passes, losses of magnitude ~10): tol 5e-4, as there. h = 0.01 for max / min (whose
 *    inputs are 0.05 apart), else 0.02: log_softmax over 65 elements changes 65 rounded outputs
 *    per probe, whose noise (~2.4e-7 each) over 2h = 0.02 came to 5.3e-4 at h = 0.01.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "ops/reduce_dim.h"
#include "ops/shape_internal.h"

#define TOL_SUM 1e-6
#define TOL_VAR 1e-6
#define TOL_SOFTMAX 2e-6
#define GRAD_PROBES 24
#define GRAD_H 0.01f        /* max / min: inputs are 0.05 apart */
#define GRAD_H_SMOOTH 0.02f /* the rest: half the rounding noise of h = 0.01 */
#define GRAD_TOL 5e-4

static int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        n *= shape[d];
    }
    return n;
}

static void shape_name(char *buf, size_t size, int ndim, const int64_t *shape, const char *extra)
{
    size_t at = 0;
    for (int d = 0; d < ndim && at < size; d++) {
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", d ? "x" : "", (long long)shape[d]);
    }
    if (extra && at < size) {
        snprintf(buf + at, size - at, " %s", extra);
    }
}

/* Reports got (device) against want (host) for n floats. */
static void report(vkt__check_ctx *c, const char *op, const char *shape, const float *got,
                   const float *want, int64_t n, double tol, double t0)
{
    if (!got) {
        vkt__check_report_failure(c, op, shape);
        return;
    }
    vkt__check_report(c, op, shape, vkt__max_err(got, want, n), tol, (vkt__now() - t0) * 1e3,
                      NULL);
}

static void report_i32(vkt__check_ctx *c, const char *op, const char *shape, const int32_t *got,
                       const int32_t *want, int64_t n, double t0)
{
    if (!got) {
        vkt__check_report_failure(c, op, shape);
        return;
    }
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) {
        bad += got[i] != want[i];
    }
    char note[64];
    snprintf(note, sizeof note, "%lld of %lld indices differ", (long long)bad, (long long)n);
    vkt__check_report(c, op, shape, bad ? INFINITY : 0.0, 0.0, (vkt__now() - t0) * 1e3,
                      bad ? note : NULL);
}

/* ---- copies ---------------------------------------------------------------------------------- */

typedef enum copy_op { C_PERMUTE, C_TRANSPOSE, C_NARROW, C_SLICE, C_PAD, C_EXPAND, C_RESHAPE,
                       C_FLATTEN } copy_op;

typedef struct copy_case {
    const char *name;
    copy_op op;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    int64_t p[12]; /* op parameters (see run_copy) */
    int np;
} copy_case;

static const copy_case copy_cases[] = {
    {"permute", C_PERMUTE, 3, {3, 63, 65}, {2, 0, 1}, 3},
    {"permute", C_PERMUTE, 4, {1, 3, 1, 65}, {3, 1, 0, 2}, 4},
    {"permute", C_PERMUTE, 5, {2, 3, 1, 5, 7}, {4, 2, 0, 3, 1}, 5},
    {"permute", C_PERMUTE, 6, {2, 3, 2, 1, 5, 3}, {5, 4, 3, 2, 1, 0}, 6},
    {"permute", C_PERMUTE, 2, {1000, 3}, {-1, 0}, 2},
    {"transpose", C_TRANSPOSE, 2, {65, 63}, {0, 1}, 2},
    {"transpose", C_TRANSPOSE, 4, {3, 5, 7, 2}, {1, -1}, 2},
    {"narrow", C_NARROW, 2, {63, 65}, {1, 2, 60}, 3},
    {"narrow", C_NARROW, 2, {1000, 3}, {0, -65, 63}, 3},
    {"narrow", C_NARROW, 5, {2, 3, 65, 1, 3}, {2, 1, 63}, 3},
    {"slice", C_SLICE, 2, {65, 63}, {0, 1, 64, 3}, 4},
    {"slice", C_SLICE, 2, {3, 1000}, {1, -900, -1, 7}, 4},
    {"slice", C_SLICE, 6, {2, 1, 3, 7, 2, 3}, {3, 0, 100, 2}, 4},
    {"pad", C_PAD, 3, {3, 63, 65}, {1, 2, 3, 0}, 4},
    {"pad", C_PAD, 2, {5, 65}, {-1, 2, 0, -3}, 4},
    {"pad", C_PAD, 4, {1, 3, 2, 3}, {1, 1, 0, 2, 3, 0, 1, 1}, 8},
    {"pad", C_PAD, 1, {1000}, {-999, 3}, 2},
    /* expand: x is ndim/shape, the target p (np dimensions) */
    {"expand", C_EXPAND, 3, {3, 1, 65}, {2, 3, 63, 65}, 4},
    {"expand", C_EXPAND, 1, {1}, {1000}, 1},
    {"expand", C_EXPAND, 2, {65, 1}, {-1, 63}, 2},
    {"expand", C_EXPAND, 3, {1, 3, 1}, {2, 1, 5, 3, 3, 2}, 6},
    {"reshape", C_RESHAPE, 2, {63, 65}, {-1, 5, 13}, 3},
    {"reshape", C_RESHAPE, 3, {2, 3, 1000}, {6000}, 1},
    {"flatten", C_FLATTEN, 4, {3, 5, 7, 2}, {1, 2}, 2},
};

static void run_copy(vkt__check_ctx *c, const copy_case *k)
{
    int xndim = k->ndim;
    int64_t n = numel_of(xndim, k->shape);
    char shape[96];
    shape_name(shape, sizeof shape, xndim, k->shape, NULL);
    float *x = vkt__check_rand(c, n, -1.0f, 1.0f), *want = NULL, *got = NULL;
    if (!x) {
        return;
    }
    double t0 = vkt__now();
    vkt_scope_begin(c->dev);
    vkt_tensor *t = vkt__check_tensor(c->dev, VKT_F32, x, xndim, k->shape);
    vkt_tensor *y = NULL;
    int64_t wn = n;
    switch (k->op) {
    case C_PERMUTE: {
        int perm[VKT_MAX_DIMS], np[VKT_MAX_DIMS];
        for (int d = 0; d < k->ndim; d++) {
            perm[d] = (int)k->p[d];
            np[d] = perm[d] < 0 ? perm[d] + k->ndim : perm[d];
        }
        y = vkt_permute(t, perm);
        want = vkt__malloc((size_t)n * sizeof *want);
        if (want) {
            vkt__ref_permute(want, x, k->ndim, k->shape, np);
        }
        break;
    }
    case C_TRANSPOSE: {
        int a = (int)k->p[0], b = (int)k->p[1], perm[VKT_MAX_DIMS];
        y = vkt_transpose(t, a, b);
        a = a < 0 ? a + k->ndim : a;
        b = b < 0 ? b + k->ndim : b;
        for (int d = 0; d < k->ndim; d++) {
            perm[d] = d == a ? b : (d == b ? a : d);
        }
        want = vkt__malloc((size_t)n * sizeof *want);
        if (want) {
            vkt__ref_permute(want, x, k->ndim, k->shape, perm);
        }
        break;
    }
    case C_NARROW:
    case C_SLICE: {
        int dim = (int)k->p[0];
        int64_t size = k->shape[dim], start = k->p[1], len, step = 1;
        if (k->op == C_NARROW) {
            y = vkt_narrow(t, dim, start, k->p[2]);
            start = start < 0 ? start + size : start;
            len = k->p[2];
        } else {
            step = k->p[3];
            y = vkt_slice(t, dim, start, k->p[2], step);
            int64_t s = start < 0 ? start + size : start, e = k->p[2] < 0 ? k->p[2] + size : k->p[2];
            s = s < 0 ? 0 : (s > size ? size : s);
            e = e < 0 ? 0 : (e > size ? size : e);
            start = s;
            len = (e - s + step - 1) / step;
        }
        wn = n / size * len;
        want = vkt__malloc((size_t)wn * sizeof *want);
        if (want) {
            vkt__ref_slice(want, x, k->ndim, k->shape, dim, start, len, step);
        }
        break;
    }
    case C_PAD: {
        wn = 1;
        for (int d = 0; d < k->ndim; d++) {
            int64_t s = k->shape[d];
            int j = k->ndim - 1 - d;
            if (2 * j + 1 < k->np) {
                s += k->p[2 * j] + k->p[2 * j + 1];
            }
            wn *= s;
        }
        y = vkt_pad(t, k->np, k->p, -2.5f);
        want = vkt__malloc((size_t)wn * sizeof *want);
        if (want) {
            vkt__ref_pad(want, x, k->ndim, k->shape, k->np, k->p, -2.5f);
        }
        break;
    }
    case C_EXPAND: {
        int64_t s[VKT_MAX_DIMS];
        int lead = k->np - xndim;
        for (int d = 0; d < k->np; d++) {
            s[d] = k->p[d] == -1 ? k->shape[d - lead] : k->p[d];
        }
        y = vkt_expand(t, k->np, k->p);
        wn = numel_of(k->np, s);
        want = vkt__malloc((size_t)wn * sizeof *want);
        if (want) {
            vkt__ref_expand(want, x, xndim, k->shape, k->np, s);
        }
        break;
    }
    case C_RESHAPE:
    case C_FLATTEN:
        y = k->op == C_RESHAPE ? vkt_reshape(t, k->np, k->p)
                               : vkt_flatten(t, (int)k->p[0], (int)k->p[1]);
        want = vkt__malloc((size_t)n * sizeof *want);
        if (want) {
            memcpy(want, x, (size_t)n * sizeof *want);
        }
        break;
    }
    if (y && vkt_tensor_numel(y) != wn) {
        vkt__error(VKT_ERROR, "%s gave %lld elements, expected %lld", k->name,
                   (long long)vkt_tensor_numel(y), (long long)wn);
    } else if (want) {
        got = vkt__check_fetch(y);
    }
    vkt_scope_end(c->dev);
    report(c, k->name, shape, got, want, wn, 0.0, t0);
    free(x);
    free(want);
    free(got);
}

/* cat / stack of three parts along each dimension */
typedef struct cat_case {
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    int64_t lens[3]; /* cat: sizes of the parts in dim (shape[dim] ignored) */
    int dim;
    bool stack;
} cat_case;

static const cat_case cat_cases[] = {
    {3, {3, 0, 65}, {1, 63, 3}, 1, false},
    {2, {1000, 0}, {3, 1, 2}, 1, false},
    {4, {0, 3, 2, 5}, {65, 1, 3}, 0, false},
    {5, {2, 3, 1, 2, 0}, {3, 1, 2}, -1, false},
    {2, {63, 65}, {0}, 0, true},
    {2, {63, 65}, {0}, 1, true},
    {2, {63, 65}, {0}, 2, true},
    {5, {2, 1, 3, 2, 3}, {0}, 5, true},
};

static void run_cat(vkt__check_ctx *c, const cat_case *k)
{
    const char *op = k->stack ? "stack" : "cat";
    int dim = k->dim < 0 ? k->dim + k->ndim : k->dim;
    char shape[96], extra[32];
    snprintf(extra, sizeof extra, "dim %d", k->dim);
    shape_name(shape, sizeof shape, k->ndim, k->shape, extra);
    float *parts[3] = {0}, *want = NULL, *got = NULL;
    int64_t pshape[3][VKT_MAX_DIMS], total = 0;
    bool ok = true;
    for (int p = 0; p < 3; p++) {
        memcpy(pshape[p], k->shape, sizeof pshape[p]);
        if (!k->stack) {
            pshape[p][dim] = k->lens[p];
        }
        parts[p] = vkt__check_rand(c, numel_of(k->ndim, pshape[p]), -1.0f, 1.0f);
        ok = ok && parts[p];
        total += numel_of(k->ndim, pshape[p]);
    }
    double t0 = vkt__now();
    want = ok ? vkt__malloc((size_t)total * sizeof *want) : NULL;
    if (want) {
        vkt__ref_cat(want, (const float *const *)parts, k->lens, 3, k->ndim, k->shape, dim,
                     k->stack);
        vkt_scope_begin(c->dev);
        vkt_tensor *t[3];
        for (int p = 0; p < 3; p++) {
            t[p] = vkt__check_tensor(c->dev, VKT_F32, parts[p], k->ndim, pshape[p]);
        }
        vkt_tensor *y = k->stack ? vkt_stack((const vkt_tensor *const *)t, 3, k->dim)
                                 : vkt_cat((const vkt_tensor *const *)t, 3, k->dim);
        got = y && vkt_tensor_numel(y) == total ? vkt__check_fetch(y) : NULL;
        vkt_scope_end(c->dev);
        report(c, op, shape, got, want, total, 0.0, t0);
    }
    for (int p = 0; p < 3; p++) {
        free(parts[p]);
    }
    free(want);
    free(got);
}

/* ---- reductions along a dimension, softmax ---------------------------------------------------- */

typedef struct red_shape {
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
} red_shape;

static const red_shape red_shapes[] = {
    {1, {1000}},
    {3, {3, 63, 65}},
    {3, {1, 1000, 3}},
    {4, {65, 1, 63, 2}},
    {5, {2, 3, 5, 7, 3}},
    {6, {2, 1, 3, 2, 5, 3}},
    {2, {1000, 300}},   /* dim 0: long strided columns */
    {2, {100000, 3}},   /* dim 0: few long columns; permuted, the multi-level rows */
    {2, {3, 100000}},   /* dim 1: the multi-level rows directly */
};

typedef enum dim_fn { D_SUM, D_MEAN, D_MAX, D_MIN, D_ARGMAX, D_ARGMIN, D_VAR, D_STD, D_VAR0,
                      D_SOFTMAX, D_LOG_SOFTMAX } dim_fn;

static const struct {
    const char *name;
    dim_fn fn;
} dim_ops[] = {
    {"sum_dim", D_SUM},      {"mean_dim", D_MEAN},       {"max_dim", D_MAX},
    {"min_dim", D_MIN},      {"argmax_dim", D_ARGMAX},   {"argmin_dim", D_ARGMIN},
    {"var_dim", D_VAR},      {"std_dim", D_STD},         {"var_dim_c0", D_VAR0},
    {"softmax", D_SOFTMAX},  {"log_softmax", D_LOG_SOFTMAX},
};

static void run_dim(vkt__check_ctx *c, const red_shape *k, int dim, int fi, const float *x,
                    const float *xq, const char *path)
{
    dim_fn fn = dim_ops[fi].fn;
    int64_t n = numel_of(k->ndim, k->shape), outer = 1, inner = 1, len = k->shape[dim];
    for (int d = 0; d < dim; d++) {
        outer *= k->shape[d];
    }
    for (int d = dim + 1; d < k->ndim; d++) {
        inner *= k->shape[d];
    }
    bool soft = fn == D_SOFTMAX || fn == D_LOG_SOFTMAX;
    bool sel = fn == D_MAX || fn == D_MIN || fn == D_ARGMAX || fn == D_ARGMIN;
    const float *in = sel ? xq : x; /* selections get ties */
    int64_t wn = soft ? n : outer * inner;
    char shape[96], extra[48];
    bool keep = !soft && (dim % 2) == 0;
    snprintf(extra, sizeof extra, "dim %d%s%s", dim, keep ? " keepdim" : "", path);
    shape_name(shape, sizeof shape, k->ndim, k->shape, extra);
    float *want = vkt__malloc((size_t)wn * sizeof *want);
    int32_t *iwant = vkt__malloc((size_t)wn * sizeof *iwant);
    void *got = NULL;
    if (!want || !iwant) {
        goto done;
    }
    double t0 = vkt__now();
    double tol = 0.0;
    switch (fn) {
    case D_SUM: vkt__ref_reduce_dim(want, NULL, in, outer, len, inner, VKT__REF_DIM_SUM, 0); tol = TOL_SUM; break;
    case D_MEAN: vkt__ref_reduce_dim(want, NULL, in, outer, len, inner, VKT__REF_DIM_MEAN, 0); tol = TOL_SUM; break;
    case D_MAX: case D_ARGMAX: vkt__ref_reduce_dim(want, iwant, in, outer, len, inner, VKT__REF_DIM_MAX, 0); break;
    case D_MIN: case D_ARGMIN: vkt__ref_reduce_dim(want, iwant, in, outer, len, inner, VKT__REF_DIM_MIN, 0); break;
    case D_VAR: vkt__ref_reduce_dim(want, NULL, in, outer, len, inner, VKT__REF_DIM_VAR, 1.0f); tol = TOL_VAR; break;
    case D_VAR0: vkt__ref_reduce_dim(want, NULL, in, outer, len, inner, VKT__REF_DIM_VAR, 0.0f); tol = TOL_VAR; break;
    case D_STD: vkt__ref_reduce_dim(want, NULL, in, outer, len, inner, VKT__REF_DIM_STD, 1.0f); tol = TOL_VAR; break;
    case D_SOFTMAX: vkt__ref_softmax(want, in, outer, len, inner, false); tol = TOL_SOFTMAX; break;
    case D_LOG_SOFTMAX: vkt__ref_softmax(want, in, outer, len, inner, true); tol = TOL_SOFTMAX; break;
    }
    vkt_scope_begin(c->dev);
    vkt_tensor *t = vkt__check_tensor(c->dev, VKT_F32, in, k->ndim, k->shape);
    vkt_tensor *y = NULL;
    switch (fn) {
    case D_SUM: y = vkt_sum_dim(t, dim, keep); break;
    case D_MEAN: y = vkt_mean_dim(t, dim, keep); break;
    case D_MAX: y = vkt_max_dim(t, dim, keep); break;
    case D_MIN: y = vkt_min_dim(t, dim, keep); break;
    case D_ARGMAX: y = vkt_argmax_dim(t, dim - k->ndim, keep); break; /* a negative dim */
    case D_ARGMIN: y = vkt_argmin_dim(t, dim, keep); break;
    case D_VAR: y = vkt_var_dim(t, dim, keep, 1.0f); break;
    case D_VAR0: y = vkt_var_dim(t, dim, keep, 0.0f); break;
    case D_STD: y = vkt_std_dim(t, dim, keep, 1.0f); break;
    case D_SOFTMAX: y = vkt_softmax(t, dim); break;
    case D_LOG_SOFTMAX: y = vkt_log_softmax(t, dim - k->ndim); break;
    }
    int want_ndim = soft || keep ? k->ndim : (k->ndim > 1 ? k->ndim - 1 : 1);
    if (y && (vkt_tensor_numel(y) != wn || vkt_tensor_ndim(y) != want_ndim)) {
        char d[128];
        vkt__error(VKT_ERROR, "%s gave %s, expected %lld elements in %d dimensions",
                   dim_ops[fi].name, vkt_tensor_describe(y, d, sizeof d), (long long)wn,
                   want_ndim);
    } else {
        got = vkt__check_fetch(y);
    }
    vkt_scope_end(c->dev);
    if (fn == D_ARGMAX || fn == D_ARGMIN) {
        report_i32(c, dim_ops[fi].name, shape, got, iwant, wn, t0);
    } else {
        report(c, dim_ops[fi].name, shape, got, want, wn, tol, t0);
    }
done:
    free(want);
    free(iwant);
    free(got);
}

static void run_reductions(vkt__check_ctx *c)
{
    for (size_t s = 0; s < VKT__ARRAY_LEN(red_shapes); s++) {
        const red_shape *k = &red_shapes[s];
        int64_t n = numel_of(k->ndim, k->shape);
        float *x = vkt__check_rand(c, n, -1.0f, 1.0f);
        float *xq = vkt__check_rand(c, n, 0.0f, 4.0f);
        if (x && xq) {
            for (int64_t i = 0; i < n; i++) {
                xq[i] = floorf(xq[i]) - 1.5f; /* four values: many ties */
            }
            if (n > 100) {
                xq[n / 3] = NAN; /* one NaN: its row's max/min and arg are the NaN's */
            }
            for (int dim = 0; dim < k->ndim; dim++) {
                /* a dimension that is not the last has two paths (src/ops/reduce_dim.c) */
                bool inner = false;
                for (int d = dim + 1; d < k->ndim; d++) {
                    inner = inner || k->shape[d] > 1;
                }
                for (int path = inner ? 0 : 1; path < 2; path++) {
                    vkt__reduce_axis_force(inner ? path : -1);
                    for (size_t f = 0; f < VKT__ARRAY_LEN(dim_ops); f++) {
                        if (vkt__check_wants(c, dim_ops[f].name)) {
                            run_dim(c, k, dim, (int)f, x, xq,
                                    !inner ? "" : (path ? " strided" : " permute"));
                        }
                    }
                }
                vkt__reduce_axis_force(-1);
            }
        }
        free(x);
        free(xq);
    }
}

static void run_sum_dims(vkt__check_ctx *c)
{
    static const struct {
        int ndim;
        int64_t shape[VKT_MAX_DIMS];
        uint32_t mask;
    } cases[] = {
        {4, {3, 63, 1, 65}, 0x5},  {4, {3, 63, 1, 65}, 0xa}, {4, {3, 63, 1, 65}, 0xf},
        {4, {3, 63, 1, 65}, 0x6},  {5, {2, 3, 5, 7, 3}, 0x15}, {6, {2, 1, 3, 2, 5, 3}, 0x2a},
        {2, {100000, 3}, 0x1},     {3, {1000, 3, 65}, 0x5}, {3, {2, 3, 4}, 0x2},
    };
    if (!vkt__check_wants(c, "sum_dims")) {
        return;
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        int ndim = cases[i].ndim;
        const int64_t *shape = cases[i].shape;
        int64_t n = numel_of(ndim, shape), wn = 1;
        for (int d = 0; d < ndim; d++) {
            wn *= (cases[i].mask >> d) & 1u ? 1 : shape[d];
        }
        char name[96], extra[32];
        snprintf(extra, sizeof extra, "mask 0x%x", cases[i].mask);
        shape_name(name, sizeof name, ndim, shape, extra);
        float *x = vkt__check_rand(c, n, -1.0f, 1.0f), *want = NULL, *got = NULL;
        double *wd = vkt__malloc((size_t)wn * sizeof *wd);
        want = vkt__malloc((size_t)wn * sizeof *want);
        if (x && wd && want) {
            double t0 = vkt__now();
            vkt__ref_sum_dims(wd, x, ndim, shape, cases[i].mask);
            for (int64_t e = 0; e < wn; e++) {
                want[e] = (float)wd[e];
            }
            vkt_scope_begin(c->dev);
            vkt_tensor *t = vkt__check_tensor(c->dev, VKT_F32, x, ndim, shape);
            vkt_tensor *y = vkt_sum_dims(t, cases[i].mask, i % 2 == 0);
            got = y && vkt_tensor_numel(y) == wn ? vkt__check_fetch(y) : NULL;
            vkt_scope_end(c->dev);
            report(c, "sum_dims", name, got, want, wn, TOL_SUM, t0);
        }
        free(x);
        free(wd);
        free(want);
        free(got);
    }
}

/* ---- gradients ------------------------------------------------------------------------------- */

typedef enum grad_fn { G_RESHAPE, G_FLATTEN, G_PERMUTE, G_TRANSPOSE, G_NARROW, G_SLICE, G_CAT,
                       G_STACK, G_PAD, G_EXPAND, G_SUM_DIM, G_SUM_DIMS, G_MEAN_DIM, G_MAX_DIM,
                       G_MIN_DIM, G_VAR_DIM, G_STD_DIM, G_SOFTMAX, G_LOG_SOFTMAX,
                       G_RANGE_VIEW, G_CHAIN } grad_fn;

typedef struct grad_case {
    const char *name;
    vkt__op op; /* the op whose backward is checked; NONE for the chain */
    grad_fn fn;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    int dim;
    int n_inputs; /* cat / stack: parts, else 1 */
} grad_case;

static const grad_case grad_cases[] = {
    {"reshape_grad", VKT__OP_RESHAPE, G_RESHAPE, 3, {3, 5, 7}, 0, 1},
    {"flatten_grad", VKT__OP_RESHAPE, G_FLATTEN, 4, {2, 3, 5, 2}, 1, 1},
    {"permute_grad", VKT__OP_PERMUTE, G_PERMUTE, 4, {2, 3, 5, 2}, 0, 1},
    {"transpose_grad", VKT__OP_PERMUTE, G_TRANSPOSE, 3, {3, 65, 2}, 0, 1},
    {"narrow_grad", VKT__OP_SLICE, G_NARROW, 3, {3, 7, 5}, 1, 1},
    {"slice_grad", VKT__OP_SLICE, G_SLICE, 2, {63, 3}, 0, 1},
    {"cat_grad", VKT__OP_CAT, G_CAT, 3, {2, 3, 5}, 1, 3},
    {"stack_grad", VKT__OP_STACK, G_STACK, 2, {3, 5}, 1, 2},
    {"pad_grad", VKT__OP_PAD, G_PAD, 3, {2, 5, 7}, 0, 1},
    {"expand_grad", VKT__OP_EXPAND, G_EXPAND, 3, {3, 1, 5}, 0, 1},
    {"sum_dim_grad", VKT__OP_SUM_DIMS, G_SUM_DIM, 3, {3, 5, 7}, 1, 1},
    {"sum_dims_grad", VKT__OP_SUM_DIMS, G_SUM_DIMS, 4, {3, 2, 5, 3}, 0, 1},
    {"mean_dim_grad", VKT__OP_MEAN_DIM, G_MEAN_DIM, 3, {3, 5, 7}, 0, 1},
    {"max_dim_grad", VKT__OP_MAX_DIM, G_MAX_DIM, 3, {3, 5, 7}, 1, 1},
    {"min_dim_grad", VKT__OP_MAX_DIM, G_MIN_DIM, 2, {5, 65}, 1, 1},
    {"var_dim_grad", VKT__OP_VAR_DIM, G_VAR_DIM, 3, {3, 5, 7}, 2, 1},
    {"std_dim_grad", VKT__OP_STD_DIM, G_STD_DIM, 3, {3, 5, 7}, 0, 1},
    {"softmax_grad", VKT__OP_SOFTMAX, G_SOFTMAX, 3, {3, 5, 7}, 1, 1},
    {"softmax_grad", VKT__OP_SOFTMAX, G_SOFTMAX, 2, {3, 65}, 1, 1},
    {"log_softmax_grad", VKT__OP_LOG_SOFTMAX, G_LOG_SOFTMAX, 3, {3, 5, 7}, 0, 1},
    {"log_softmax_grad", VKT__OP_LOG_SOFTMAX, G_LOG_SOFTMAX, 2, {3, 65}, -1, 1},
    /* rows dim.. of dimension 0 but the last, as (rows * shape[1], shape[2]): a view at 64-float
     * rows (256 bytes, aligned on every device), a copy at rows of 35 where the alignment is
     * above 4 bytes */
    {"range_view_grad", VKT__OP_RANGE_VIEW, G_RANGE_VIEW, 3, {4, 8, 8}, 1, 1},
    {"range_view_grad", VKT__OP_RANGE_VIEW, G_RANGE_VIEW, 3, {3, 5, 7}, 1, 1},
    /* x -> permute -> softmax(dim 0) -> narrow -> sum_dim: gradients through a chain */
    {"chain_grad", VKT__OP_NONE, G_CHAIN, 3, {3, 4, 5}, 0, 1},
};

#define MAX_PARTS 3

static vkt_tensor *grad_apply(const grad_case *k, vkt_tensor **t)
{
    switch (k->fn) {
    case G_RESHAPE: {
        int64_t s[2] = {-1, 7};
        return vkt_reshape(t[0], 2, s);
    }
    case G_FLATTEN:
        return vkt_flatten(t[0], 1, 2);
    case G_PERMUTE: {
        int p[4] = {2, 0, 3, 1};
        return vkt_permute(t[0], p);
    }
    case G_TRANSPOSE:
        return vkt_transpose(t[0], 0, 2);
    case G_NARROW:
        return vkt_narrow(t[0], k->dim, 2, 4);
    case G_SLICE:
        return vkt_slice(t[0], k->dim, 1, -2, 4);
    case G_CAT:
        return vkt_cat((const vkt_tensor *const *)t, (uint32_t)k->n_inputs, k->dim);
    case G_STACK:
        return vkt_stack((const vkt_tensor *const *)t, (uint32_t)k->n_inputs, k->dim);
    case G_PAD: {
        int64_t p[6] = {1, -2, 0, 3, 2, 1};
        return vkt_pad(t[0], 6, p, 0.5f);
    }
    case G_EXPAND: {
        int64_t s[4] = {2, 3, 4, -1};
        return vkt_expand(t[0], 4, s);
    }
    case G_SUM_DIM:
        return vkt_sum_dim(t[0], k->dim, false);
    case G_SUM_DIMS:
        return vkt_sum_dims(t[0], 0x5, true);
    case G_MEAN_DIM:
        return vkt_mean_dim(t[0], k->dim, true);
    case G_MAX_DIM:
        return vkt_max_dim(t[0], k->dim, false);
    case G_MIN_DIM:
        return vkt_min_dim(t[0], k->dim, true);
    case G_VAR_DIM:
        return vkt_var_dim(t[0], k->dim, false, 1.0f);
    case G_STD_DIM:
        return vkt_std_dim(t[0], k->dim, true, 0.0f);
    case G_SOFTMAX:
        return vkt_softmax(t[0], k->dim);
    case G_LOG_SOFTMAX:
        return vkt_log_softmax(t[0], k->dim);
    case G_RANGE_VIEW: {
        int64_t rows = k->shape[0] - k->dim - 1, s[2] = {rows * k->shape[1], k->shape[2]};
        return vkt__range_view(t[0], k->dim * k->shape[1] * k->shape[2], 2, s);
    }
    case G_CHAIN: {
        int p[3] = {2, 0, 1};
        return vkt_sum_dim(vkt_narrow(vkt_softmax(vkt_permute(t[0], p), 0), 1, 1, 2), 2, false);
    }
    }
    return NULL;
}

/* Part i's shape: cat parts differ in k->dim (sizes 1, 2, 3, ...). */
static void part_shape(const grad_case *k, int i, int64_t *s)
{
    memcpy(s, k->shape, sizeof k->shape);
    if (k->fn == G_CAT) {
        s[k->dim] = i + 1;
    }
}

/* L = sum(y * W) in double on the host, from the device's y; NAN on error. */
static double grad_loss(vkt__check_ctx *c, const grad_case *k, float **host, const float *w,
                        int64_t wn)
{
    double l = NAN;
    vkt_scope_begin(c->dev);
    vkt_tensor *t[MAX_PARTS] = {0};
    for (int i = 0; i < k->n_inputs; i++) {
        int64_t s[VKT_MAX_DIMS];
        part_shape(k, i, s);
        t[i] = vkt__check_tensor(c->dev, VKT_F32, host[i], k->ndim, s);
    }
    vkt_tensor *y = grad_apply(k, t);
    float *yv = y && vkt_tensor_numel(y) == wn ? vkt__check_fetch(y) : NULL;
    if (yv) {
        l = 0.0;
        for (int64_t e = 0; e < wn; e++) {
            l += (double)yv[e] * (double)w[e];
        }
    }
    free(yv);
    vkt_scope_end(c->dev);
    return l;
}

static void run_grad(vkt__check_ctx *c, const grad_case *k)
{
    char shape[96], extra[32];
    snprintf(extra, sizeof extra, "dim %d", k->dim);
    shape_name(shape, sizeof shape, k->ndim, k->shape, extra);
    float *host[MAX_PARTS] = {0}, *grads[MAX_PARTS] = {0}, *w = NULL;
    int64_t numel[MAX_PARTS] = {0}, wn = 0;
    bool kink = k->fn == G_MAX_DIM || k->fn == G_MIN_DIM;
    bool ok = true;
    for (int i = 0; i < k->n_inputs; i++) {
        int64_t s[VKT_MAX_DIMS];
        part_shape(k, i, s);
        numel[i] = numel_of(k->ndim, s);
        host[i] = vkt__check_rand(c, numel[i], -1.0f, 1.0f);
        ok = ok && host[i];
        if (host[i] && kink) {
            /* distinct multiples of 0.05 (offset 0.025): no tie within h */
            for (int64_t e = 0; e < numel[i]; e++) {
                host[i][e] = ((float)e - (float)numel[i] / 2.0f) * 0.05f + 0.025f;
            }
            for (int64_t e = numel[i] - 1; e > 0; e--) {
                int64_t j = (int64_t)(vkt__check_next(c) % (uint64_t)(e + 1));
                float tmp = host[i][e];
                host[i][e] = host[i][j];
                host[i][j] = tmp;
            }
        }
    }
    double t0 = vkt__now();
    /* analytic gradients */
    vkt_scope_begin(c->dev);
    vkt_tensor *t[MAX_PARTS] = {0};
    for (int i = 0; ok && i < k->n_inputs; i++) {
        int64_t s[VKT_MAX_DIMS];
        part_shape(k, i, s);
        t[i] = vkt__check_tensor(c->dev, VKT_F32, host[i], k->ndim, s);
        vkt_tensor_set_requires_grad(t[i], true);
    }
    vkt_tensor *y = ok ? grad_apply(k, t) : NULL;
    vkt_tensor *wt = NULL;
    if (y) {
        wn = vkt_tensor_numel(y);
        w = vkt__check_rand(c, wn, -1.0f, 1.0f);
        int64_t ys[VKT_MAX_DIMS];
        for (int d = 0; d < vkt_tensor_ndim(y); d++) {
            ys[d] = vkt_tensor_dim(y, d);
        }
        wt = w ? vkt__check_tensor(c->dev, VKT_F32, w, vkt_tensor_ndim(y), ys) : NULL;
    }
    vkt_tensor *L = wt ? vkt_sum(vkt_mul(y, wt)) : NULL;
    ok = L && vkt_backward(L) == VKT_OK;
    for (int i = 0; ok && i < k->n_inputs; i++) {
        grads[i] = vkt__check_fetch(vkt_tensor_grad(t[i]));
        if (!grads[i] && !vkt_tensor_grad(t[i])) {
            vkt__error(VKT_ERROR, "backward produced no gradient for input %d", i);
        }
        ok = grads[i] != NULL;
    }
    vkt_scope_end(c->dev);
    if (!ok) {
        vkt__check_report_failure(c, k->name, shape);
        goto done;
    }
    double err = 0.0;
    int probed = 0, scored = 0;
    for (int i = 0; i < k->n_inputs; i++) {
        int64_t probes = numel[i] < GRAD_PROBES ? numel[i] : GRAD_PROBES;
        for (int64_t p = 0; p < probes; p++) {
            int64_t e = numel[i] <= GRAD_PROBES ? p
                                                : (int64_t)(vkt__check_next(c) % (uint64_t)numel[i]);
            float x0 = host[i][e], h0 = kink ? GRAD_H : GRAD_H_SMOOTH;
            double fd[2];
            for (int half = 0; half < 2; half++) {
                float h = half ? h0 / 2 : h0;
                host[i][e] = x0 + h;
                double lp = grad_loss(c, k, host, w, wn);
                host[i][e] = x0 - h;
                double lm = grad_loss(c, k, host, w, wn);
                fd[half] = (lp - lm) / (2.0 * h);
            }
            host[i][e] = x0;
            probed++;
            if (fabs(fd[0] - fd[1]) > GRAD_TOL * fmax(1.0, fabs(fd[0]))) {
                continue; /* a kink within h (see check_grad.c) */
            }
            scored++;
            double rich = (4.0 * fd[1] - fd[0]) / 3.0;
            double d = fabs((double)grads[i][e] - rich) / fmax(1.0, fabs(rich));
            if (!(d <= err)) {
                err = isnan(d) ? INFINITY : d;
            }
        }
    }
    char note[64];
    snprintf(note, sizeof note, "%d of %d probes scored", scored, probed);
    if (4 * scored < 3 * probed) {
        err = INFINITY;
    }
    vkt__check_report(c, k->name, shape, err, GRAD_TOL, (vkt__now() - t0) * 1e3,
                      scored < probed ? note : NULL);
done:
    for (int i = 0; i < MAX_PARTS; i++) {
        free(host[i]);
        free(grads[i]);
    }
    free(w);
}

bool vkt__check_shape_grad_covers(vkt__op op)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(grad_cases); i++) {
        if (grad_cases[i].op == op) {
            return true;
        }
    }
    return false;
}

void vkt__check_shape(vkt__check_ctx *c)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(copy_cases); i++) {
        if (vkt__check_wants(c, copy_cases[i].name)) {
            run_copy(c, &copy_cases[i]);
        }
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(cat_cases); i++) {
        if (vkt__check_wants(c, cat_cases[i].stack ? "stack" : "cat")) {
            run_cat(c, &cat_cases[i]);
        }
    }
    run_reductions(c);
    run_sum_dims(c);
    for (size_t i = 0; i < VKT__ARRAY_LEN(grad_cases); i++) {
        if (vkt__check_wants(c, grad_cases[i].name)) {
            run_grad(c, &grad_cases[i]);
        }
    }
}
