/*
 * check_elementwise.c — the elementwise ops against src/ref: every UNARY, BINARY and SCALAR op of
 * the op table (src/ops/op_table.h) through one generic driver, with the row's tolerance; then
 * the ops with hand-written cases (add_bias, sum_cols, accumulate, max/min_into, cast, concat).
 */
#include <stdio.h>
#include <string.h>

#include "check/check.h"

typedef struct ew_case {
    int64_t rows, cols;
} ew_case;

/* Awkward sizes, plus one past 65535 workgroups of 256 to exercise the 2-D grid. */
static const ew_case cases[] = {
    {1, 1}, {1, 3}, {63, 1}, {1, 64}, {65, 1}, {1000, 1}, {3, 1000}, {65, 63}, {1000, 3},
    {4097, 4097},
};

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

/* Every elementwise op of the table that has a reference, on one shape. */
static bool run_table(vkt__check_ctx *c, const ew_case *k, float *want, const char *shape)
{
    int64_t n = k->rows * k->cols;
    for (int o = 0; o < VKT__OP_COUNT; o++) {
        const vkt__op_case *op = &vkt__op_cases[o];
        bool generic = op->kind == VKT__OPK_UNARY || op->kind == VKT__OPK_BINARY ||
                       op->kind == VKT__OPK_SCALAR;
        if (!generic || !op->reference.custom || !vkt__check_wants(c, op->name)) {
            continue;
        }
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

void vkt__check_elementwise(vkt__check_ctx *c)
{
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
        if (vkt__check_wants(c, "sum_cols") && k->rows <= 1000) {
            /* rows summed in order in fp32 vs a double reference */
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *out = vkt_tensor_new_1d(c->dev, VKT_F32, k->cols);
            vkt_tensor *x = vkt__check_tensor(c->dev, VKT_F32, a, 2, sh);
            float *got = NULL;
            if (out && x && vkt__sum_cols(x, out, false) == VKT_OK) {
                got = vkt__check_fetch(out);
            }
            double ms = (vkt__now() - t0) * 1e3;
            if (got) {
                vkt__ref_sum_cols(want, a, k->rows, k->cols);
                vkt__check_report(c, "sum_cols", shape, vkt__max_err(got, want, k->cols),
                                  1e-5 * (double)k->rows, ms, NULL);
            } else {
                vkt__check_report_failure(c, "sum_cols", shape);
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
}
