/*
 * check_store.c — epoch-store folds (shaders/store_fold.comp) over several batches of unequal
 * size against a double-precision reference over all rows: column sums, max, min, and the
 * parallel mean/variance update.
 */
#include <math.h>
#include <stdio.h>

#include "check/check.h"
#include "train/store_fold.h"


static const int64_t col_cases[] = {1, 3, 65, 1000};
static const int64_t batch_rows[] = {1, 7, 64, 3, 200}; /* 275 rows per epoch */

void vkt__check_store(vkt__check_ctx *c)
{
    static const char *ops[] = {"store_sum", "store_max", "store_min", "store_mean_var"};
    for (size_t k = 0; k < VKT__ARRAY_LEN(col_cases); k++) {
        int64_t cols = col_cases[k], total = 0;
        for (size_t b = 0; b < VKT__ARRAY_LEN(batch_rows); b++) {
            total += batch_rows[b];
        }
        char shape[64];
        snprintf(shape, sizeof shape, "%lldx%lld in 5 batches", (long long)total, (long long)cols);
        float *x = vkt__check_rand(c, total * cols, -3.0f, 5.0f);
        float *want = vkt__malloc((size_t)cols * sizeof *want),
              *want2 = vkt__malloc((size_t)cols * sizeof *want2);
        if (!x || !want || !want2) {
            free(x);
            free(want);
            free(want2);
            continue;
        }
        for (int op = 0; op < 4; op++) {
            if (!vkt__check_wants(c, ops[op])) {
                continue;
            }
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *acc = vkt_tensor_new_1d(c->dev, VKT_F32, cols);
            vkt_tensor *m2 = vkt_tensor_new_1d(c->dev, VKT_F32, cols);
            vkt_status s = acc && m2 ? VKT_OK : vkt_last_status();
            int64_t at = 0;
            for (size_t b = 0; s == VKT_OK && b < VKT__ARRAY_LEN(batch_rows); b++) {
                int64_t sh[2] = {batch_rows[b], cols};
                vkt_tensor *xb = vkt__check_tensor(c->dev, VKT_F32, x + at * cols, 2, sh);
                s = xb ? vkt__store_fold(acc, op == 3 ? m2 : NULL, xb, op, at) : vkt_last_status();
                at += batch_rows[b];
            }
            float *got = s == VKT_OK ? vkt__check_fetch(acc) : NULL;
            float *got2 = s == VKT_OK && op == 3 ? vkt__check_fetch(m2) : NULL;
            double ms = (vkt__now() - t0) * 1e3;
            double err = INFINITY, tol = 0.0;
            if (got && (op != 3 || got2)) {
                vkt__ref_store_fold(want, want2, x, total, cols, op);
                err = vkt__max_err(got, want, cols);
                /* sum: fp32 sequential over 275 rows of |x| <= 5: 275 * 2^-24 * 5 relative to the
                 * result's max(1, |sum|) -> 1e-4; max/min exact; mean/var: a few ulps per
                 * combine over 5 batches, ~1e-5 relative */
                tol = op == 0 ? 1e-4 : op == 3 ? 2e-5 : 0.0;
                if (op == 3) {
                    for (int64_t j = 0; j < cols; j++) {
                        double e = fabs((double)got2[j] - want2[j]) / fmax(1.0, fabs(want2[j]));
                        err = e > err ? e : err;
                    }
                }
                vkt__check_report(c, ops[op], shape, err, tol, ms, NULL);
            } else {
                vkt__check_report_failure(c, ops[op], shape);
            }
            free(got);
            free(got2);
            vkt_scope_end(c->dev);
        }
        free(x);
        free(want);
        free(want2);
    }
}
