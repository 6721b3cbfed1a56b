/*
 * ref_shape.c — CPU references for the shape ops (src/ops/shape.c, shaders/strided_copy.comp),
 * the reductions along a dimension (src/ops/reduce_dim.c) and softmax / log_softmax
 * (src/ops/softmax.c). Plain index arithmetic, independent of the stride maps the device code
 * uses; sums in double. Used by src/check/check_shape.c.
 */
#include <math.h>
#include <string.h>

#include "ref/ref.h"

static int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) {
        n *= shape[d];
    }
    return n;
}

/* Multi-index of flat element e of shape. */
static void unflatten(int64_t e, int ndim, const int64_t *shape, int64_t *idx)
{
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = e % shape[d];
        e /= shape[d];
    }
}

static int64_t flatten(const int64_t *idx, int ndim, const int64_t *shape)
{
    int64_t e = 0;
    for (int d = 0; d < ndim; d++) {
        e = e * shape[d] + idx[d];
    }
    return e;
}

void vkt__ref_permute(float *out, const float *x, int ndim, const int64_t *shape, const int *perm)
{
    int64_t oshape[VKT_MAX_DIMS], oi[VKT_MAX_DIMS], xi[VKT_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        oshape[d] = shape[perm[d]];
    }
    for (int64_t e = 0; e < numel_of(ndim, shape); e++) {
        unflatten(e, ndim, oshape, oi);
        for (int d = 0; d < ndim; d++) {
            xi[perm[d]] = oi[d];
        }
        out[e] = x[flatten(xi, ndim, shape)];
    }
}

void vkt__ref_slice(float *out, const float *x, int ndim, const int64_t *shape, int dim,
                    int64_t start, int64_t len, int64_t step)
{
    int64_t oshape[VKT_MAX_DIMS], i[VKT_MAX_DIMS];
    memcpy(oshape, shape, (size_t)ndim * sizeof *shape);
    oshape[dim] = len;
    for (int64_t e = 0; e < numel_of(ndim, oshape); e++) {
        unflatten(e, ndim, oshape, i);
        i[dim] = start + i[dim] * step;
        out[e] = x[flatten(i, ndim, shape)];
    }
}

void vkt__ref_cat(float *out, const float *const *parts, const int64_t *lens, int n, int ndim,
                  const int64_t *shape, int dim, bool stack)
{
    /* out's shape: shape with dim = sum(lens) (cat), or n inserted at dim (stack) */
    int64_t oshape[VKT_MAX_DIMS], i[VKT_MAX_DIMS], pshape[VKT_MAX_DIMS];
    int ondim = stack ? ndim + 1 : ndim;
    int64_t total = 0;
    for (int p = 0; p < n; p++) {
        total += stack ? 1 : lens[p];
    }
    for (int d = 0, k = 0; d < ondim; d++) {
        if (stack) {
            oshape[d] = d == dim ? total : shape[k++];
        } else {
            oshape[d] = d == dim ? total : shape[d];
        }
    }
    for (int64_t e = 0; e < numel_of(ondim, oshape); e++) {
        unflatten(e, ondim, oshape, i);
        int p = 0;
        int64_t at = i[dim];
        while (!stack && at >= lens[p]) {
            at -= lens[p++];
        }
        if (stack) {
            p = (int)at;
            memmove(&i[dim], &i[dim + 1], (size_t)(ondim - dim - 1) * sizeof *i);
        } else {
            i[dim] = at;
        }
        memcpy(pshape, shape, (size_t)ndim * sizeof *shape);
        if (!stack) {
            pshape[dim] = lens[p];
        }
        out[e] = parts[p][flatten(i, ndim, pshape)];
    }
}

void vkt__ref_pad(float *out, const float *x, int ndim, const int64_t *shape, int n_pads,
                  const int64_t *pads, float value)
{
    int64_t lo[VKT_MAX_DIMS] = {0}, oshape[VKT_MAX_DIMS], i[VKT_MAX_DIMS];
    memcpy(oshape, shape, (size_t)ndim * sizeof *shape);
    for (int k = 0; k < n_pads / 2; k++) {
        int d = ndim - 1 - k;
        lo[d] = pads[2 * k];
        oshape[d] += pads[2 * k] + pads[2 * k + 1];
    }
    for (int64_t e = 0; e < numel_of(ndim, oshape); e++) {
        unflatten(e, ndim, oshape, i);
        bool inside = true;
        for (int d = 0; d < ndim; d++) {
            i[d] -= lo[d];
            inside = inside && i[d] >= 0 && i[d] < shape[d];
        }
        out[e] = inside ? x[flatten(i, ndim, shape)] : value;
    }
}

void vkt__ref_expand(float *out, const float *x, int xndim, const int64_t *xshape, int ndim,
                     const int64_t *shape)
{
    int64_t i[VKT_MAX_DIMS], xi[VKT_MAX_DIMS];
    int lead = ndim - xndim;
    for (int64_t e = 0; e < numel_of(ndim, shape); e++) {
        unflatten(e, ndim, shape, i);
        for (int d = 0; d < xndim; d++) {
            xi[d] = xshape[d] == 1 ? 0 : i[lead + d];
        }
        out[e] = x[flatten(xi, xndim, xshape)];
    }
}

void vkt__ref_sum_dims(double *out, const float *x, int ndim, const int64_t *shape, uint32_t mask)
{
    int64_t oshape[VKT_MAX_DIMS], i[VKT_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        oshape[d] = (mask >> d) & 1u ? 1 : shape[d];
    }
    memset(out, 0, (size_t)numel_of(ndim, oshape) * sizeof *out);
    for (int64_t e = 0; e < numel_of(ndim, shape); e++) {
        unflatten(e, ndim, shape, i);
        for (int d = 0; d < ndim; d++) {
            i[d] = (mask >> d) & 1u ? 0 : i[d];
        }
        out[flatten(i, ndim, oshape)] += x[e];
    }
}

void vkt__ref_reduce_dim(float *out, int32_t *idx, const float *x, int64_t outer, int64_t len,
                         int64_t inner, vkt__ref_dim_op op, float correction)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *p = x + o * len * inner + i;
            int64_t r = o * inner + i;
            if (op == VKT__REF_DIM_MAX || op == VKT__REF_DIM_MIN) {
                float sign = op == VKT__REF_DIM_MIN ? -1.0f : 1.0f, best = sign * p[0];
                int64_t at = 0;
                for (int64_t j = 1; j < len && !isnan(best); j++) {
                    float v = sign * p[j * inner];
                    if (isnan(v) || v > best) {
                        best = v;
                        at = j;
                    }
                }
                if (out) {
                    out[r] = sign * best;
                }
                if (idx) {
                    idx[r] = (int32_t)at;
                }
                continue;
            }
            double s = 0.0;
            for (int64_t j = 0; j < len; j++) {
                s += p[j * inner];
            }
            if (op == VKT__REF_DIM_SUM) {
                out[r] = (float)s;
                continue;
            }
            double mean = s / (double)len;
            if (op == VKT__REF_DIM_MEAN) {
                out[r] = (float)mean;
                continue;
            }
            double q = 0.0;
            for (int64_t j = 0; j < len; j++) {
                double dv = p[j * inner] - mean;
                q += dv * dv;
            }
            double div = fmax(0.0, (double)len - correction);
            double var = q / div;
            out[r] = (float)(op == VKT__REF_DIM_STD ? sqrt(var) : var);
        }
    }
}

void vkt__ref_softmax(float *out, const float *x, int64_t outer, int64_t len, int64_t inner,
                      bool log_softmax)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *p = x + o * len * inner + i;
            float *q = out + o * len * inner + i;
            double m = -INFINITY, s = 0.0;
            for (int64_t j = 0; j < len; j++) {
                m = fmax(m, p[j * inner]);
            }
            for (int64_t j = 0; j < len; j++) {
                s += exp(p[j * inner] - m);
            }
            for (int64_t j = 0; j < len; j++) {
                double v = p[j * inner] - m;
                q[j * inner] = (float)(log_softmax ? v - log(s) : exp(v) / s);
            }
        }
    }
}
