/*
 * check_elementwise.c — the elementwise ops against src/ref: every UNARY, BINARY and SCALAR op of
 * the op table (src/ops/op_table.h) through one generic driver, with the row's tolerance; the
 * BROADCAST rows also on the broadcast shape pairs below (inputs broadcast on the host for the
 * reference), with sum_to_shape, the comparisons and where on the same pairs; then the ops with
 * hand-written cases (clamp, add_bias, sum_cols, accumulate, max/min_into, cast, concat).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "ops/broadcast.h"

typedef struct ew_case {
    int64_t rows, cols;
} ew_case;

/* Awkward sizes, plus one past 65535 workgroups of 256 to exercise the 2-D grid. */
static const ew_case cases[] = {
    {1, 1}, {1, 3}, {63, 1}, {1, 64}, {65, 1}, {1000, 1}, {3, 1000}, {65, 63}, {1000, 3},
    {4097, 4097},
};

typedef struct bc_pair {
    int na, nb;
    int64_t a[VKT_MAX_DIMS], b[VKT_MAX_DIMS];
} bc_pair;

/* Broadcast shape pairs: a middle and a leading broadcast, a 1-element tensor against a matrix,
 * column and row vectors, 6-D on both sides, and a bias-like (128 * 196, 64) + (64) whose
 * gradient reduces 25088 rows (sum_to_shape's two passes). */
static const bc_pair bc_pairs[] = {
    {3, 2, {3, 1, 5}, {4, 5}},
    {1, 2, {1}, {65, 63}},
    {2, 2, {1, 1}, {3, 1000}},
    {2, 2, {65, 63}, {65, 1}},
    {2, 2, {1, 63}, {65, 1}},
    {6, 6, {2, 1, 3, 1, 2, 5}, {1, 4, 1, 3, 1, 5}},
    {2, 1, {128 * 196, 64}, {64}},
};

static int64_t shape_numel(int nd, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < nd; d++) {
        n *= shape[d];
    }
    return n;
}

static void shape_name(char *buf, size_t size, const bc_pair *p)
{
    size_t k = 0;
    for (int side = 0; side < 2; side++) {
        int nd = side ? p->nb : p->na;
        const int64_t *sh = side ? p->b : p->a;
        for (int d = 0; d < nd && k < size; d++) {
            k += (size_t)snprintf(buf + k, size - k, "%s%lld", d ? "x" : "", (long long)sh[d]);
        }
        if (!side && k < size) {
            k += (size_t)snprintf(buf + k, size - k, "+");
        }
    }
}

/* The broadcast of a pair's shapes (the pairs are valid). */
static int pair_out(const bc_pair *p, int64_t *out)
{
    int nd = p->na > p->nb ? p->na : p->nb;
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - p->na), db = d - (nd - p->nb);
        int64_t sa = da < 0 ? 1 : p->a[da], sb = db < 0 ? 1 : p->b[db];
        out[d] = sa == 1 ? sb : sa;
    }
    return nd;
}

/* got vs want, or a failure report when got is NULL */
static void report(vkt__check_ctx *c, const char *op, const char *shape, const float *got,
                   const float *want, int64_t n, double tol, double t0)
{
    double ms = (vkt__now() - t0) * 1e3;
    if (got) {
        vkt__check_report(c, op, shape, vkt__max_err(got, want, n), tol, ms, NULL);
    } else {
        vkt__check_report_failure(c, op, shape);
    }
}

static const char *const compare_names[6] = {"eq", "ne", "lt", "le", "gt", "ge"};
static vkt_tensor *(*const compare_fns[6])(const vkt_tensor *, const vkt_tensor *) = {
    vkt_eq, vkt_ne, vkt_lt, vkt_le, vkt_gt, vkt_ge,
};

/* Every BROADCAST op, sum_to_shape, the comparisons and where on one pair. */
static void run_pair(vkt__check_ctx *c, const bc_pair *p)
{
    char shape[96];
    shape_name(shape, sizeof shape, p);
    int64_t os[VKT_MAX_DIMS];
    int nd = pair_out(p, os);
    int64_t n = shape_numel(nd, os), na = shape_numel(p->na, p->a), nb = shape_numel(p->nb, p->b);
    float *ea = vkt__malloc((size_t)n * sizeof *ea), *eb = vkt__malloc((size_t)n * sizeof *eb);
    float *want = vkt__malloc((size_t)n * sizeof *want);
    float *x = vkt__check_rand(c, n, -2.0f, 2.0f);
    if (!ea || !eb || !want || !x) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, "broadcast", shape);
        goto done;
    }
    for (int o = 0; o < VKT__OP_COUNT; o++) {
        const vkt__op_case *op = &vkt__op_cases[o];
        if (op->kind != VKT__OPK_BROADCAST || !vkt__check_wants(c, op->name)) {
            continue;
        }
        float *a = vkt__check_rand_for(c, op->flags, na, -2.0f, 2.0f);
        float *b = vkt__check_rand_for(c, op->flags, nb, -2.0f, 2.0f);
        vkt_scope_begin(c->dev);
        double t0 = vkt__now();
        float *got = NULL;
        if (a && b) {
            got = vkt__check_fetch(op->forward.binary(
                vkt__check_tensor(c->dev, VKT_F32, a, p->na, p->a),
                vkt__check_tensor(c->dev, VKT_F32, b, p->nb, p->b)));
            vkt__ref_broadcast_to(ea, a, p->na, p->a, nd, os);
            vkt__ref_broadcast_to(eb, b, p->nb, p->b, nd, os);
            op->reference.binary(want, ea, eb, n);
        }
        report(c, op->name, shape, got, want, n, op->tol, t0);
        free(got);
        free(a);
        free(b);
        vkt_scope_end(c->dev);
    }
    if (vkt__check_wants(c, "sum_to_shape")) {
        /* x at the output's shape summed to each input's shape; fp32 sums of ~sqrt(n_red) terms
         * in two passes vs double: rounding ~ 2^-24 sqrt(n_red) |partial sums|, tolerance
         * 1e-6 sqrt(n_red) (measured below 1e-6 at n_red = 25088) */
        for (int side = 0; side < 2; side++) {
            int tn = side ? p->nb : p->na;
            const int64_t *ts = side ? p->b : p->a;
            int64_t tcount = side ? nb : na;
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *tx = vkt__check_tensor(c->dev, VKT_F32, x, nd, os);
            vkt_tensor *out = vkt_tensor_new(c->dev, VKT_F32, tn, ts);
            float *got = NULL;
            if (tx && out && vkt__sum_to_shape(tx, tn, ts, out, false) == VKT_OK) {
                got = vkt__check_fetch(out);
            }
            bool ok = vkt__ref_sum_to_shape(want, x, nd, os, tn, ts);
            char name[128];
            snprintf(name, sizeof name, "%s->%s", shape, side ? "b" : "a");
            report(c, "sum_to_shape", name, ok ? got : NULL, want, tcount,
                   1e-6 * sqrt((double)(n / tcount)), t0);
            free(got);
            vkt_scope_end(c->dev);
        }
    }
    /* comparisons and where on values in steps of 0.5, so that ties occur */
    float *a = vkt__check_rand(c, na, -2.0f, 2.0f), *b = vkt__check_rand(c, nb, -2.0f, 2.0f);
    for (int64_t i = 0; a && i < na; i++) {
        a[i] = roundf(a[i] * 2.0f) / 2.0f;
    }
    for (int64_t i = 0; b && i < nb; i++) {
        b[i] = roundf(b[i] * 2.0f) / 2.0f;
    }
    if (a && b) {
        vkt__ref_broadcast_to(ea, a, p->na, p->a, nd, os);
        vkt__ref_broadcast_to(eb, b, p->nb, p->b, nd, os);
    }
    for (int k = 0; a && b && k < 6; k++) {
        if (!vkt__check_wants(c, compare_names[k])) {
            continue;
        }
        vkt_scope_begin(c->dev);
        double t0 = vkt__now();
        float *got = vkt__check_fetch(compare_fns[k](
            vkt__check_tensor(c->dev, VKT_F32, a, p->na, p->a),
            vkt__check_tensor(c->dev, VKT_F32, b, p->nb, p->b)));
        vkt__ref_compare(want, ea, eb, k, n);
        report(c, compare_names[k], shape, got, want, n, 0.0, t0);
        free(got);
        vkt_scope_end(c->dev);
    }
    if (a && b && vkt__check_wants(c, "where")) {
        /* cond = (a >= 0) at a's shape, choosing between a and b */
        float *cond = vkt__malloc((size_t)n * sizeof *cond);
        vkt_scope_begin(c->dev);
        double t0 = vkt__now();
        float *got = NULL;
        if (cond) {
            for (int64_t i = 0; i < na; i++) {
                cond[i] = a[i] >= 0.0f ? 1.0f : 0.0f;
            }
            got = vkt__check_fetch(vkt_where(vkt__check_tensor(c->dev, VKT_F32, cond, p->na, p->a),
                                             vkt__check_tensor(c->dev, VKT_F32, a, p->na, p->a),
                                             vkt__check_tensor(c->dev, VKT_F32, b, p->nb, p->b)));
            vkt__ref_broadcast_to(want, cond, p->na, p->a, nd, os);
            vkt__ref_where(want, want, ea, eb, n);
        }
        report(c, "where", shape, got, want, n, 0.0, t0);
        free(got);
        free(cond);
        vkt_scope_end(c->dev);
    }
    free(a);
    free(b);
done:
    free(ea);
    free(eb);
    free(want);
    free(x);
}

/* clamp with both bounds, each bound alone (NaN and infinity as none) and crossed bounds */
static void run_clamp(vkt__check_ctx *c, const ew_case *k, const float *a, float *want,
                      const int64_t *sh, const char *shape)
{
    static const float bounds[][2] = {
        {-0.5f, 0.7f}, {NAN, 0.3f}, {-0.2f, INFINITY}, {1.0f, -1.0f}, {-INFINITY, NAN},
    };
    int64_t n = k->rows * k->cols;
    for (size_t i = 0; i < VKT__ARRAY_LEN(bounds); i++) {
        vkt_scope_begin(c->dev);
        double t0 = vkt__now();
        float *got = vkt__check_fetch(
            vkt_clamp(vkt__check_tensor(c->dev, VKT_F32, a, 2, sh), bounds[i][0], bounds[i][1]));
        float lo = isinf(bounds[i][0]) ? NAN : bounds[i][0];
        float hi = isinf(bounds[i][1]) ? NAN : bounds[i][1];
        vkt__ref_clamp(want, a, lo, hi, n);
        report(c, "clamp", shape, got, want, n, 0.0, t0);
        free(got);
        vkt_scope_end(c->dev);
    }
}

/* One generic op of the table (UNARY, BINARY or SCALAR with a reference) on one shape: inputs a
 * (and b), both in [-2, 2) ([0.1, 2) for VKT__OPF_POSITIVE ops). */
static void run_generic(vkt__check_ctx *c, const vkt__op_case *op, const ew_case *k,
                        const float *a, const float *b, float *want, const char *shape)
{
    int64_t n = k->rows * k->cols;
    int64_t sh[2] = {k->rows, k->cols};
    vkt_scope_begin(c->dev);
    double t0 = vkt__now();
    vkt_tensor *t[2] = {vkt__check_tensor(c->dev, VKT_F32, a, 2, sh),
                        vkt__check_tensor(c->dev, VKT_F32, b, 2, sh)};
    float *got = t[0] && t[1] ? vkt__check_fetch(vkt__op_case_apply(op, t)) : NULL;
    double ms = (vkt__now() - t0) * 1e3;
    if (!got) {
        vkt__check_report_failure(c, op->name, shape);
    } else {
        switch (op->kind) {
        case VKT__OPK_UNARY:
            op->reference.unary(want, a, n);
            break;
        case VKT__OPK_BINARY:
        case VKT__OPK_BROADCAST:
            op->reference.binary(want, a, b, n);
            break;
        default:
            op->reference.scalar(want, a, VKT__CHECK_SCALAR, n);
            break;
        }
        vkt__check_report(c, op->name, shape, vkt__max_err(got, want, n), op->tol, ms, NULL);
    }
    free(got);
    vkt_scope_end(c->dev);
}

/* Every elementwise op of the table that has a reference, on one shape. The one shape past
 * 65535 workgroups (the 2-D grid, 17M elements) runs the first op of each kind only: the ops of a
 * kind share their dispatch code, and all of them there would take most of the suite's time. */
static bool run_table(vkt__check_ctx *c, const ew_case *k, float *want, const char *shape)
{
    int64_t n = k->rows * k->cols;
    bool grid = n > (int64_t)VKT__MAX_GROUPS * 256;
    bool kind_done[VKT__OPK_REDUCE + 1] = {false}; /* by vkt__op_kind */
    for (int o = 0; o < VKT__OP_COUNT; o++) {
        const vkt__op_case *op = &vkt__op_cases[o];
        bool generic = op->kind == VKT__OPK_UNARY || op->kind == VKT__OPK_BINARY ||
                       op->kind == VKT__OPK_BROADCAST || op->kind == VKT__OPK_SCALAR;
        if (!generic || !op->reference.custom || !vkt__check_wants(c, op->name) ||
            (grid && kind_done[op->kind])) {
            continue;
        }
        kind_done[op->kind] = grid;
        float *a = vkt__check_rand_for(c, op->flags, n, -2.0f, 2.0f);
        float *b = vkt__check_rand_for(c, op->flags, n, -2.0f, 2.0f);
        if (!a || !b) {
            free(a);
            free(b);
            return false;
        }
        run_generic(c, op, k, a, b, want, shape);
        free(a);
        free(b);
    }
    return true;
}

/* Column sums (the bias gradient) against a double reference; past 1024 rows in several passes,
 * past 65535 rows beyond what one shader loop may walk on lavapipe. */
static const ew_case sum_cols_cases[] = {
    {1, 1}, {1, 1000}, {63, 65}, {1000, 3}, {1025, 2}, {65537, 1}, {70000, 3}, {1100000, 1},
};

static void check_sum_cols(vkt__check_ctx *c, const ew_case *k)
{
    int64_t sh[2] = {k->rows, k->cols};
    char shape[64];
    snprintf(shape, sizeof shape, "%lldx%lld", (long long)k->rows, (long long)k->cols);
    float *a = vkt__check_rand(c, k->rows * k->cols, -2.0f, 2.0f);
    float *want = vkt__malloc((size_t)k->cols * sizeof *want);
    float *got = NULL;
    vkt_scope_begin(c->dev);
    double t0 = vkt__now();
    vkt_tensor *out = vkt_tensor_new_1d(c->dev, VKT_F32, k->cols);
    vkt_tensor *x = a && want ? vkt__check_tensor(c->dev, VKT_F32, a, 2, sh) : NULL;
    if (out && x && vkt__sum_cols(x, out, false) == VKT_OK) {
        got = vkt__check_fetch(out);
    }
    double ms = (vkt__now() - t0) * 1e3;
    if (got) {
        /* fp32 sums of at most 1024 terms, then of the partials, are within ~1e-5 of the
         * double sum; a walk that stops early (65537 rows: 2 missed) is off by far more */
        vkt__ref_sum_cols(want, a, k->rows, k->cols);
        vkt__check_report(c, "sum_cols", shape, vkt__max_err(got, want, k->cols), 1e-4, ms, NULL);
    } else {
        vkt__check_report_failure(c, "sum_cols", shape);
    }
    free(got);
    vkt_scope_end(c->dev);
    free(a);
    free(want);
}

void vkt__check_elementwise(vkt__check_ctx *c)
{
    if (vkt__check_wants(c, "sum_cols")) {
        for (size_t i = 0; i < VKT__ARRAY_LEN(sum_cols_cases); i++) {
            check_sum_cols(c, &sum_cols_cases[i]);
        }
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        const ew_case *k = &cases[i];
        int64_t n = k->rows * k->cols;
        int64_t sh[2] = {k->rows, k->cols};
        char shape[64];
        snprintf(shape, sizeof shape, "%lldx%lld", (long long)k->rows, (long long)k->cols);
        float *a = vkt__check_rand(c, n, -2.0f, 2.0f);
        float *b = vkt__check_rand(c, n, -2.0f, 2.0f);
        float *bias = vkt__check_rand(c, k->cols, -1.0f, 1.0f);
        float *want = vkt__malloc((size_t)n * sizeof *want);
        if (!a || !b || !bias || !want) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, "elementwise", shape);
            goto next;
        }
        if (!run_table(c, k, want, shape)) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            vkt__check_report_failure(c, "elementwise", shape);
            goto next;
        }
        if (vkt__check_wants(c, "clamp")) {
            run_clamp(c, k, a, want, sh, shape);
        }
        if (vkt__check_wants(c, "add_bias")) {
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *tb = vkt__check_tensor(c->dev, VKT_F32, bias, 1, &k->cols);
            float *got = vkt__check_fetch(
                vkt_add_bias(vkt__check_tensor(c->dev, VKT_F32, a, 2, sh), tb));
            double ms = (vkt__now() - t0) * 1e3;
            if (got) {
                vkt__ref_add_bias(want, a, bias, k->rows, k->cols);
                vkt__check_report(c, "add_bias", shape, vkt__max_err(got, want, n), 0.0, ms, NULL);
            } else {
                vkt__check_report_failure(c, "add_bias", shape);
            }
            free(got);
            vkt_scope_end(c->dev);
        }
        if (vkt__check_wants(c, "accumulate")) {
            /* f32: dst = b, dst += -0.37 * a; i32: dst = ib, dst += ia, twice */
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *ta = vkt__check_tensor(c->dev, VKT_F32, a, 2, sh);
            vkt_tensor *td = vkt__check_tensor(c->dev, VKT_F32, b, 2, sh);
            int32_t *ia = vkt__malloc((size_t)n * sizeof *ia), *ib = vkt__malloc((size_t)n * sizeof *ib);
            float *got = NULL;
            int32_t *got_i = NULL;
            if (ia && ib) {
                for (int64_t j = 0; j < n; j++) {
                    ia[j] = (int32_t)(a[j] * 1000.0f);
                    ib[j] = (int32_t)(b[j] * 1000.0f);
                }
                vkt_tensor *tia = vkt__check_tensor(c->dev, VKT_I32, ia, 2, sh);
                vkt_tensor *tib = vkt__check_tensor(c->dev, VKT_I32, ib, 2, sh);
                if (vkt_accumulate(td, ta, -0.37f) == VKT_OK &&
                    vkt_accumulate(tib, tia, 1.0f) == VKT_OK &&
                    vkt_accumulate(tib, tia, 1.0f) == VKT_OK) {
                    got = vkt__check_fetch(td);
                    got_i = vkt__check_fetch(tib);
                }
            }
            double ms = (vkt__now() - t0) * 1e3;
            if (got && got_i) {
                double e = 0.0;
                for (int64_t j = 0; j < n; j++) {
                    want[j] = b[j] + -0.37f * a[j];
                    if (got_i[j] != ib[j] + 2 * ia[j]) {
                        e = 1.0 / 0.0;
                    }
                }
                double ef = vkt__max_err(got, want, n);
                vkt__check_report(c, "accumulate", shape, e > ef ? e : ef, 1.2e-7, ms, NULL);
            } else {
                vkt__check_report_failure(c, "accumulate", shape);
            }
            free(ia);
            free(ib);
            free(got);
            free(got_i);
            vkt_scope_end(c->dev);
        }
        for (int mn = 0; mn < 2; mn++) {
            const char *op = mn ? "min_into" : "max_into";
            if (!vkt__check_wants(c, op)) {
                continue;
            }
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *td = vkt__check_tensor(c->dev, VKT_F32, b, 2, sh);
            vkt_tensor *ta = vkt__check_tensor(c->dev, VKT_F32, a, 2, sh);
            float *got = NULL;
            if (td && ta && vkt__max_into(td, ta, mn) == VKT_OK) {
                got = vkt__check_fetch(td);
            }
            double ms = (vkt__now() - t0) * 1e3;
            if (got) {
                for (int64_t j = 0; j < n; j++) {
                    want[j] = mn ? (a[j] < b[j] ? a[j] : b[j]) : (a[j] > b[j] ? a[j] : b[j]);
                }
                vkt__check_report(c, op, shape, vkt__max_err(got, want, n), 0.0, ms, NULL);
            } else {
                vkt__check_report_failure(c, op, shape);
            }
            free(got);
            vkt_scope_end(c->dev);
        }
        if (vkt__check_wants(c, "cast")) {
            /* i32 -> f32 and f32 -> i32 both exact for these values: tolerance 0 */
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            int32_t *iv = vkt__malloc((size_t)n * sizeof *iv), *got_i = NULL, *want_i = NULL;
            float *got = NULL;
            if (iv) {
                for (int64_t j = 0; j < n; j++) {
                    iv[j] = (int32_t)(a[j] * 1e6f);
                }
                got = vkt__check_fetch(vkt_cast(vkt__check_tensor(c->dev, VKT_I32, iv, 2, sh),
                                                VKT_F32));
                got_i = vkt__check_fetch(vkt_cast(vkt__check_tensor(c->dev, VKT_F32, a, 2, sh),
                                                  VKT_I32));
                want_i = vkt__malloc((size_t)n * sizeof *want_i);
            }
            double ms = (vkt__now() - t0) * 1e3;
            if (got && got_i && want_i) {
                vkt__ref_cast_i32_f32(want, iv, n);
                double e = vkt__max_err(got, want, n);
                vkt__ref_cast_f32_i32(want_i, a, n);
                if (memcmp(got_i, want_i, (size_t)n * sizeof *want_i) != 0) {
                    e = 1.0 / 0.0;
                }
                vkt__check_report(c, "cast", shape, e, 0.0, ms, NULL);
            } else {
                vkt__check_report_failure(c, "cast", shape);
            }
            free(iv);
            free(got);
            free(got_i);
            free(want_i);
            vkt_scope_end(c->dev);
        }
        if (vkt__check_wants(c, "concat") && k->rows >= 3) {
            /* rows [0, 1), [1, rows - 1), [rows - 1, rows) concatenated back: exact */
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *full = vkt__check_tensor(c->dev, VKT_F32, a, 2, sh);
            int64_t s1[2] = {1, k->cols}, s2[2] = {k->rows - 2, k->cols};
            vkt_tensor *p[3];
            p[0] = vkt__check_tensor(c->dev, VKT_F32, a, 2, s1);
            p[1] = vkt__check_tensor(c->dev, VKT_F32, a + k->cols, 2, s2);
            p[2] = vkt__check_tensor(c->dev, VKT_F32, a + (k->rows - 1) * k->cols, 2, s1);
            float *got =
                full ? vkt__check_fetch(vkt_concat((const vkt_tensor *const *)p, 3)) : NULL;
            double ms = (vkt__now() - t0) * 1e3;
            if (got) {
                vkt__check_report(c, "concat", shape, vkt__max_err(got, a, n), 0.0, ms, NULL);
            } else {
                vkt__check_report_failure(c, "concat", shape);
            }
            free(got);
            vkt_scope_end(c->dev);
        }
    next:
        free(a);
        free(b);
        free(bias);
        free(want);
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(bc_pairs); i++) {
        run_pair(c, &bc_pairs[i]);
    }
}
