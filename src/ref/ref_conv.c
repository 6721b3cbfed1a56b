/*
 * ref_conv.c — CPU reference for vkt_conv2d (src/ops/conv.c; shaders im2col.comp, col2im.comp,
 * conv_epilogue.comp, conv_bias_grad.comp): the direct seven-loop convolution in double, and its
 * gradients by the chain rule written as a scatter (each output's gradient sent to the inputs and
 * weights that produced it), a different order from the device's gather. Used by
 * src/check/check_conv.c and tests/test_conv.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ref/ref.h"

vkt__ref_conv_dims vkt__ref_conv_dims_of(const int64_t xs[4], const int64_t ws[4],
                                         const vkt_conv2d_params *p)
{
    vkt__ref_conv_dims d = {
        .n = xs[0],
        .c_in = xs[1],
        .h = xs[2],
        .w = xs[3],
        .c_out = ws[0],
        .kh = ws[2],
        .kw = ws[3],
        .groups = p->groups,
        .sh = p->stride[0],
        .sw = p->stride[1],
        .ph = p->padding[0],
        .pw = p->padding[1],
        .dh = p->dilation[0],
        .dw = p->dilation[1],
    };
    d.oh = (d.h + 2 * d.ph - d.dh * (d.kh - 1) - 1) / d.sh + 1;
    d.ow = (d.w + 2 * d.pw - d.dw * (d.kw - 1) - 1) / d.sw + 1;
    return d;
}

/* Calls body(xi, wi, yi) for every (input, weight, output) triple of the convolution. */
#define CONV_FOR_EACH(d, body)                                                                     \
    do {                                                                                           \
        int64_t cg_ = (d)->c_in / (d)->groups, cog_ = (d)->c_out / (d)->groups;                    \
        for (int64_t n_ = 0; n_ < (d)->n; n_++)                                                    \
            for (int64_t co_ = 0; co_ < (d)->c_out; co_++)                                         \
                for (int64_t oy_ = 0; oy_ < (d)->oh; oy_++)                                        \
                    for (int64_t ox_ = 0; ox_ < (d)->ow; ox_++) {                                  \
                        int64_t yi = ((n_ * (d)->c_out + co_) * (d)->oh + oy_) * (d)->ow + ox_;    \
                        int64_t g_ = co_ / cog_;                                                   \
                        for (int64_t c_ = 0; c_ < cg_; c_++)                                       \
                            for (int64_t ky_ = 0; ky_ < (d)->kh; ky_++) {                          \
                                int64_t iy_ = oy_ * (d)->sh + ky_ * (d)->dh - (d)->ph;             \
                                if (iy_ < 0 || iy_ >= (d)->h)                                      \
                                    continue;                                                      \
                                for (int64_t kx_ = 0; kx_ < (d)->kw; kx_++) {                      \
                                    int64_t ix_ = ox_ * (d)->sw + kx_ * (d)->dw - (d)->pw;         \
                                    if (ix_ < 0 || ix_ >= (d)->w)                                  \
                                        continue;                                                  \
                                    int64_t xi =                                                   \
                                        ((n_ * (d)->c_in + g_ * cg_ + c_) * (d)->h + iy_) *        \
                                            (d)->w +                                               \
                                        ix_;                                                       \
                                    int64_t wi =                                                   \
                                        ((co_ * cg_ + c_) * (d)->kh + ky_) * (d)->kw + kx_;        \
                                    body;                                                          \
                                }                                                                  \
                            }                                                                      \
                    }                                                                              \
    } while (0)

void vkt__ref_conv2d(float *y, double *mag, const float *x, const float *w, const float *bias,
                     const vkt__ref_conv_dims *d)
{
    int64_t ny = d->n * d->c_out * d->oh * d->ow, ohw = d->oh * d->ow;
    double *acc = vkt__calloc((size_t)ny, sizeof *acc);
    double *m = vkt__calloc((size_t)ny, sizeof *m);
    if (!acc || !m) {
        free(acc);
        free(m);
        for (int64_t i = 0; i < ny; i++) {
            y[i] = NAN; /* the check then reports a failure rather than passing */
        }
        return;
    }
    CONV_FOR_EACH(d, {
        double t = (double)x[xi] * (double)w[wi];
        acc[yi] += t;
        m[yi] += fabs(t);
    });
    for (int64_t i = 0; i < ny; i++) {
        double b = bias ? (double)bias[(i / ohw) % d->c_out] : 0.0;
        y[i] = (float)(acc[i] + b);
        if (mag) {
            mag[i] = m[i] + fabs(b);
        }
    }
    free(acc);
    free(m);
}

void vkt__ref_conv2d_backward(float *dx, double *dx_mag, float *dw, double *dw_mag, float *db,
                              double *db_mag, const float *dy, const float *x, const float *w,
                              const vkt__ref_conv_dims *d)
{
    int64_t nx = d->n * d->c_in * d->h * d->w;
    int64_t nw = d->c_out * (d->c_in / d->groups) * d->kh * d->kw;
    int64_t ohw = d->oh * d->ow;
    double *ax = vkt__calloc((size_t)nx, sizeof *ax), *mx = vkt__calloc((size_t)nx, sizeof *mx);
    double *aw = vkt__calloc((size_t)nw, sizeof *aw), *mw = vkt__calloc((size_t)nw, sizeof *mw);
    if (!ax || !mx || !aw || !mw) {
        goto done; /* outputs left as given: the caller's NaN fill makes the check fail */
    }
    CONV_FOR_EACH(d, {
        double g = dy[yi];
        ax[xi] += g * w[wi];
        mx[xi] += fabs(g * w[wi]);
        aw[wi] += g * x[xi];
        mw[wi] += fabs(g * x[xi]);
    });
    for (int64_t i = 0; dx && i < nx; i++) {
        dx[i] = (float)ax[i];
        if (dx_mag) {
            dx_mag[i] = mx[i];
        }
    }
    for (int64_t i = 0; dw && i < nw; i++) {
        dw[i] = (float)aw[i];
        if (dw_mag) {
            dw_mag[i] = mw[i];
        }
    }
    for (int64_t co = 0; db && co < d->c_out; co++) {
        double s = 0.0, m = 0.0;
        for (int64_t n = 0; n < d->n; n++) {
            for (int64_t r = 0; r < ohw; r++) {
                double g = dy[(n * d->c_out + co) * ohw + r];
                s += g;
                m += fabs(g);
            }
        }
        db[co] = (float)s;
        if (db_mag) {
            db_mag[co] = m;
        }
    }
done:
    free(ax);
    free(mx);
    free(aw);
    free(mw);
}
