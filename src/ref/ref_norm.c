/*
 * ref_norm.c — CPU reference for batch norm (shaders/batch_norm_*.comp via src/ops/batch_norm.c)
 * and for layer norm and RMSNorm (shaders/layer_norm*.comp via src/ops/layer_norm.c): statistics
 * and sums in double, two passes (mean, then squared deviations). Used by src/check/check_norm.c
 * and tests/test_norm.c.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "internal.h"
#include "ref/ref.h"

void vkt__ref_batch_norm_stats(float *stats, float *running_mean, float *running_var,
                               const float *x, int64_t N, int64_t C, int64_t S, bool training,
                               float momentum, float eps)
{
    double m = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        if (!training) {
            stats[c] = running_mean[c];
            stats[C + c] = (float)(1.0 / sqrt((double)running_var[c] + (double)eps));
            continue;
        }
        double s = 0.0, m2 = 0.0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t k = 0; k < S; k++) {
                s += x[(n * C + c) * S + k];
            }
        }
        float mean = (float)(s / m);
        for (int64_t n = 0; n < N; n++) {
            for (int64_t k = 0; k < S; k++) {
                double d = (double)x[(n * C + c) * S + k] - mean;
                m2 += d * d;
            }
        }
        stats[c] = mean;
        stats[C + c] = (float)(1.0 / sqrt(m2 / m + (double)eps));
        if (running_mean && running_var) {
            double mom = momentum;
            running_mean[c] = (float)((1.0 - mom) * running_mean[c] + mom * mean);
            running_var[c] = (float)((1.0 - mom) * running_var[c] + mom * m2 / (m - 1.0));
        }
    }
}

void vkt__ref_batch_norm_apply(float *y, const float *x, const float *stats, const float *weight,
                               const float *bias, int64_t N, int64_t C, int64_t S)
{
    for (int64_t c = 0; c < C; c++) {
        double mean = stats[c], invstd = stats[C + c];
        double w = weight ? weight[c] : 1.0, b = bias ? bias[c] : 0.0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t k = 0; k < S; k++) {
                int64_t i = (n * C + c) * S + k;
                y[i] = (float)((x[i] - mean) * invstd * w + b);
            }
        }
    }
}

void vkt__ref_batch_norm_backward(float *dx, float *dweight, float *dbias, const float *dy,
                                  const float *x, const float *stats, const float *weight,
                                  int64_t N, int64_t C, int64_t S, bool training)
{
    double m = (double)(N * S);
    for (int64_t c = 0; c < C; c++) {
        double mean = stats[c], invstd = stats[C + c];
        double s_dy = 0.0, s_dyx = 0.0;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t k = 0; k < S; k++) {
                int64_t i = (n * C + c) * S + k;
                s_dy += dy[i];
                s_dyx += dy[i] * ((x[i] - mean) * invstd);
            }
        }
        if (dweight) {
            dweight[c] = (float)s_dyx;
        }
        if (dbias) {
            dbias[c] = (float)s_dy;
        }
        if (!dx) {
            continue;
        }
        double scale = (weight ? weight[c] : 1.0) * invstd;
        for (int64_t n = 0; n < N; n++) {
            for (int64_t k = 0; k < S; k++) {
                int64_t i = (n * C + c) * S + k;
                double xhat = (x[i] - mean) * invstd;
                dx[i] = (float)(training ? scale * (dy[i] - s_dy / m - xhat * s_dyx / m)
                                         : scale * dy[i]);
            }
        }
    }
}

/* ---- layer norm and RMSNorm ----------------------------------------------------------------- */

void vkt__ref_layer_norm_stats(float *stats, const float *x, int64_t R, int64_t C, float eps,
                               bool rms)
{
    for (int64_t r = 0; r < R; r++) {
        const float *row = x + r * C;
        float mean = 0.0f;
        if (!rms) {
            double s = 0.0;
            for (int64_t j = 0; j < C; j++) {
                s += row[j];
            }
            mean = (float)(s / (double)C);
        }
        double m2 = 0.0;
        for (int64_t j = 0; j < C; j++) {
            double d = (double)row[j] - mean;
            m2 += d * d;
        }
        float rstd = (float)(1.0 / sqrt(m2 / (double)C + (double)eps));
        if (rms) {
            stats[r] = rstd;
        } else {
            stats[r] = mean;
            stats[R + r] = rstd;
        }
    }
}

void vkt__ref_layer_norm_apply(float *y, const float *x, const float *stats, const float *weight,
                               const float *bias, int64_t R, int64_t C, bool rms)
{
    for (int64_t r = 0; r < R; r++) {
        double mean = rms ? 0.0 : stats[r], rstd = rms ? stats[r] : stats[R + r];
        for (int64_t j = 0; j < C; j++) {
            double v = ((double)x[r * C + j] - mean) * rstd;
            v = v * (weight ? weight[j] : 1.0) + (bias ? bias[j] : 0.0);
            y[r * C + j] = (float)v;
        }
    }
}

void vkt__ref_layer_norm_backward(float *dx, double *dx_mag, float *dweight, float *dbias,
                                  const float *dy, const float *x, const float *stats,
                                  const float *weight, int64_t R, int64_t C, bool rms)
{
    double *dw = dweight ? vkt__calloc((size_t)C, sizeof *dw) : NULL;
    double *db = dbias ? vkt__calloc((size_t)C, sizeof *db) : NULL;
    for (int64_t r = 0; r < R; r++) {
        double mean = rms ? 0.0 : stats[r], rstd = rms ? stats[r] : stats[R + r];
        const float *xr = x + r * C, *gr = dy + r * C;
        double mg = 0.0, mgx = 0.0, ag = 0.0, agx = 0.0;
        for (int64_t j = 0; j < C; j++) {
            double xhat = ((double)xr[j] - mean) * rstd;
            double g = (double)gr[j] * (weight ? weight[j] : 1.0);
            mg += g;
            mgx += g * xhat;
            ag += fabs(g);
            agx += fabs(g * xhat);
            if (dw) {
                dw[j] += (double)gr[j] * xhat;
            }
            if (db) {
                db[j] += gr[j];
            }
        }
        mg = rms ? 0.0 : mg / (double)C;
        mgx /= (double)C;
        ag = rms ? 0.0 : ag / (double)C;
        agx /= (double)C;
        for (int64_t j = 0; dx && j < C; j++) {
            double xhat = ((double)xr[j] - mean) * rstd;
            double g = (double)gr[j] * (weight ? weight[j] : 1.0);
            dx[r * C + j] = (float)(rstd * (g - mg - xhat * mgx));
            if (dx_mag) {
                dx_mag[r * C + j] = rstd * (fabs(g) + ag + fabs(xhat) * agx);
            }
        }
    }
    for (int64_t j = 0; j < C; j++) { /* NaN when out of memory: the check then fails */
        if (dweight) {
            dweight[j] = dw ? (float)dw[j] : NAN;
        }
        if (dbias) {
            dbias[j] = db ? (float)db[j] : NAN;
        }
    }
    free(dw);
    free(db);
}
