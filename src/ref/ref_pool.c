/*
 * ref_pool.c — CPU reference for the pooling family (src/ops/pool.c; shaders pool2d.comp,
 * pool2d_backward.comp): torch's window formulas restated directly, sums in double, and the
 * backward as a scatter of each output's gradient (the device gathers). Used by
 * src/check/check_conv.c and tests/test_conv.c.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"
#include "ref/ref.h"
#include "shaders/pool_ops.h"

#define MIN64(a, b) ((a) < (b) ? (a) : (b))
#define MAX64(a, b) ((a) > (b) ? (a) : (b))

/* The window of output (oy, ox) clipped to the input, and its divisor. */
static void window(const vkt__ref_pool_dims *d, int mode, int64_t oy, int64_t ox, int64_t *y0,
                   int64_t *y1, int64_t *x0, int64_t *x1, double *div)
{
    if (mode == POOL_ADAPTIVE_AVG) {
        *y0 = oy * d->h / d->oh;
        *y1 = ((oy + 1) * d->h + d->oh - 1) / d->oh;
        *x0 = ox * d->w / d->ow;
        *x1 = ((ox + 1) * d->w + d->ow - 1) / d->ow;
        *div = (double)((*y1 - *y0) * (*x1 - *x0));
        return;
    }
    int64_t ys = oy * d->sh - d->ph, xs = ox * d->sw - d->pw;
    int64_t ye = MIN64(ys + d->kh, d->h + d->ph), xe = MIN64(xs + d->kw, d->w + d->pw);
    double full = (double)((ye - ys) * (xe - xs));
    *y0 = MAX64(ys, 0);
    *x0 = MAX64(xs, 0);
    *y1 = MIN64(ye, d->h);
    *x1 = MIN64(xe, d->w);
    *div = d->exclude_pad ? (double)((*y1 - *y0) * (*x1 - *x0)) : full;
}

void vkt__ref_pool2d(float *y, int32_t *idx, const float *x, int mode, const vkt__ref_pool_dims *d)
{
    for (int64_t p = 0; p < d->n * d->c; p++) {
        const float *xp = x + p * d->h * d->w;
        for (int64_t oy = 0; oy < d->oh; oy++) {
            for (int64_t ox = 0; ox < d->ow; ox++) {
                int64_t o = (p * d->oh + oy) * d->ow + ox;
                if (mode == POOL_UPSAMPLE) {
                    y[o] = xp[(oy / d->sh) * d->w + ox / d->sw];
                    continue;
                }
                int64_t y0, y1, x0, x1;
                double div;
                window(d, mode, oy, ox, &y0, &y1, &x0, &x1, &div);
                if (mode == POOL_MAX) {
                    float m = -INFINITY;
                    int64_t at = y0 * d->w + x0;
                    for (int64_t iy = y0; iy < y1; iy++) {
                        for (int64_t ix = x0; ix < x1; ix++) {
                            float v = xp[iy * d->w + ix];
                            if (v > m || isnan(v)) {
                                m = v;
                                at = iy * d->w + ix;
                            }
                        }
                    }
                    y[o] = m;
                    if (idx) {
                        idx[o] = (int32_t)at;
                    }
                    continue;
                }
                double s = 0.0;
                for (int64_t iy = y0; iy < y1; iy++) {
                    for (int64_t ix = x0; ix < x1; ix++) {
                        s += xp[iy * d->w + ix];
                    }
                }
                y[o] = (float)(s / div);
            }
        }
    }
}

void vkt__ref_pool2d_backward(float *dx, const float *dy, const int32_t *idx, int mode,
                              const vkt__ref_pool_dims *d)
{
    int64_t hw = d->h * d->w, nx = d->n * d->c * hw;
    double *acc = vkt__calloc((size_t)nx, sizeof *acc);
    for (int64_t i = 0; !acc && i < nx; i++) {
        dx[i] = NAN; /* the check then reports a failure rather than passing */
    }
    for (int64_t p = 0; acc && p < d->n * d->c; p++) {
        double *ap = acc + p * hw;
        for (int64_t oy = 0; oy < d->oh; oy++) {
            for (int64_t ox = 0; ox < d->ow; ox++) {
                int64_t o = (p * d->oh + oy) * d->ow + ox;
                double g = dy[o];
                if (mode == POOL_UPSAMPLE) {
                    ap[(oy / d->sh) * d->w + ox / d->sw] += g;
                    continue;
                }
                if (mode == POOL_MAX) {
                    ap[idx[o]] += g;
                    continue;
                }
                int64_t y0, y1, x0, x1;
                double div;
                window(d, mode, oy, ox, &y0, &y1, &x0, &x1, &div);
                for (int64_t iy = y0; iy < y1; iy++) {
                    for (int64_t ix = x0; ix < x1; ix++) {
                        ap[iy * d->w + ix] += g / div;
                    }
                }
            }
        }
    }
    for (int64_t i = 0; acc && i < nx; i++) {
        dx[i] = (float)acc[i];
    }
    free(acc);
}
