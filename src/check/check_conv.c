/*
 * check_conv.c — vkt_conv2d and the pooling family against src/ref/ref_conv.c and
 * src/ref/ref_pool.c, forward and backward, on awkward shapes. Ops: src/ops/conv.c,
 * src/ops/pool.c. Finite differences: src/check/check_grad.c. Tests: tests/test_conv.c.
 *
 * Error measures and tolerances (u = 2^-24, the unit roundoff of f32):
 *  - conv2d y, dx, dweight, dbias: each is a sum of products computed in fp32 (matmul, col2im
 *    gathers, chunk and group accumulation) in some order; its rounding error is at most gamma_T
 *    * S with T the depth of the longest chain of additions and S the sum of |terms| (Higham,
 *    Accuracy and Stability, 3.1; as check_matmul.c). The error is |got - want| / S, the
 *    tolerance (T + 3) u: y T = K (+1 bias); dx T = C_out / g * KH * KW (matmul over C_out / g,
 *    then KH * KW gathered); dweight T = N * OH * OW + chunks (per chunk a matmul, then the
 *    chunks added). A dropped or misplaced term costs ~1 / T of S. dbias is a compensated sum
 *    (batch_norm_reduce.glsl: error ~2u |sum| + O(T u^2) S): tol 8u.
 *  - max pooling y and the argmax: comparisons only: exact (tol 0); its backward sums at most
 *    ceil(k / s)^2 gradients per element, relative tol (that + 2) u with vkt__max_err.
 *  - avg / adaptive pooling: a sum of at most `taps` window elements and one division (forward),
 *    or as many quotients summed (backward): vkt__max_err tol 2 (taps + 2) u.
 *  - upsampling: a copy (exact) and a sum of sh * sw gradients: (sh * sw + 2) u.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "ops/conv.h"
#include "shaders/pool_ops.h"

#define U_F32 (1.0 / 16777216.0)

/* ---- conv2d ---------------------------------------------------------------------------------- */

typedef struct conv_case {
    int64_t x[4], w[4];
    bool bias;
    vkt_conv2d_params p;
    int32_t cols_limit; /* 0: the default (VKT__CONV_COLS_LIMIT) */
} conv_case;

/* Odd sizes, stride 2 on odd inputs, dilation 2, padding 0 / 1 / 2, groups 1 / 2 / C (depthwise),
 * C_out 1 / 3 / 65, batch 1 and 3, non-square kernels and inputs; groups whose weight rows start
 * at unaligned offsets (the regrouped path) and at aligned ones (8 x 36 floats... 16 x 36 = 576);
 * one chunked by a small limit (3 chunks of 1 image, 2 groups), and one over the default 64 MiB
 * limit (128 x 1024 x 144 = 18.9M floats of columns: 2 chunks). */
static const conv_case conv_cases[] = {
    {.x = {1, 1, 5, 5}, .w = {1, 1, 3, 3}, .bias = false},
    {.x = {1, 1, 1, 1}, .w = {3, 1, 1, 1}, .bias = true},
    {.x = {3, 3, 7, 9},
     .w = {65, 3, 3, 3},
     .bias = true,
     .p = {.stride = {2, 2}, .padding = {1, 1}}},
    {.x = {2, 4, 11, 10},
     .w = {6, 2, 3, 2},
     .bias = true,
     .p = {.stride = {1, 2}, .padding = {2, 0}, .dilation = {2, 1}, .groups = 2}},
    {.x = {3, 6, 8, 7},
     .w = {6, 1, 3, 3},
     .bias = true,
     .p = {.stride = {1, 1}, .padding = {1, 1}, .dilation = {1, 1}, .groups = 6}},
    {.x = {1, 5, 9, 9}, .w = {1, 5, 1, 1}, .bias = false},
    {.x = {2, 4, 6, 6},
     .w = {8, 4, 5, 5},
     .bias = true,
     .p = {.stride = {1, 1}, .padding = {2, 2}}},
    {.x = {2, 8, 6, 5},
     .w = {32, 4, 3, 3},
     .bias = true,
     .p = {.stride = {1, 1}, .padding = {1, 1}, .dilation = {1, 1}, .groups = 2}},
    {.x = {3, 8, 13, 13},
     .w = {16, 4, 3, 3},
     .bias = true,
     .p = {.stride = {1, 1}, .padding = {1, 1}, .dilation = {1, 1}, .groups = 2},
     .cols_limit = 7000},
    {.x = {2, 3, 9, 8},
     .w = {4, 3, 3, 3},
     .bias = true,
     .p = {.stride = {2, 3}, .padding = {1, 2}, .dilation = {2, 2}},
     .cols_limit = 1},
    {.x = {128, 16, 32, 32},
     .w = {8, 16, 3, 3},
     .bias = true,
     .p = {.stride = {1, 1}, .padding = {1, 1}}},
    /* the block kernels (im2col_block.comp: unit horizontal stride and dilation; col2im_block.comp:
     * unit stride, whole-vec4 planes) and their fallbacks, tests/test_conv.c names which runs:
     * the CNN's two layers (one channel, K 9 padded to 12; 32 channels, 14-wide rows that start
     * at every alignment, rows of 8 + 6 pixels); padding 0 on 7 x 9 planes (x whole texels: 252
     * floats; rows of 7 pixels, odd planes); vertical stride and dilation with a 2 x 3 kernel
     * (blocks of 2 of 6 channels); dilation on both axes; two groups of 6 channels (a last block of
     * 2, columns padded 54 -> 56) */
    {.x = {2, 1, 28, 28}, .w = {4, 1, 3, 3}, .bias = true, .p = {.padding = {1, 1}}},
    {.x = {2, 32, 14, 14}, .w = {8, 32, 3, 3}, .bias = true, .p = {.padding = {1, 1}}},
    {.x = {2, 2, 7, 9}, .w = {2, 2, 3, 3}, .bias = false},
    {.x = {2, 6, 9, 8},
     .w = {3, 6, 2, 3},
     .bias = true,
     .p = {.stride = {2, 1}, .padding = {1, 2}, .dilation = {2, 1}}},
    {.x = {1, 2, 8, 6},
     .w = {2, 2, 3, 3},
     .bias = false,
     .p = {.padding = {2, 2}, .dilation = {2, 2}}},
    {.x = {1, 12, 6, 8}, .w = {4, 6, 3, 3}, .bias = true, .p = {.padding = {1, 1}, .groups = 2}},
};

/* max |got - want| / S per element (S: sum of |terms|; a zero sum must give exactly want). */
static double scaled_err(const float *got, const float *want, const double *mag, int64_t n)
{
    double m = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        e = mag[i] > 0.0 ? e / mag[i] : (e == 0.0 ? 0.0 : INFINITY);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

static void conv_shape_str(const conv_case *k, char *buf, size_t size)
{
    vkt_conv2d_params p = k->p;
    snprintf(buf, size, "x%lldx%lldx%lldx%lld_w%lldx%lldx%lldx%lld_s%d,%d_p%d,%d_d%d,%d_g%d%s",
             (long long)k->x[0], (long long)k->x[1], (long long)k->x[2], (long long)k->x[3],
             (long long)k->w[0], (long long)k->w[1], (long long)k->w[2], (long long)k->w[3],
             VKT__DEF(p.stride[0], 1), VKT__DEF(p.stride[1], 1), p.padding[0], p.padding[1],
             VKT__DEF(p.dilation[0], 1), VKT__DEF(p.dilation[1], 1), VKT__DEF(p.groups, 1),
             k->cols_limit ? "_chunked" : "");
}

typedef struct conv_host {
    float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db;      /* the device's */
    float *ry, *rdx, *rdw, *rdb;  /* the reference's */
    double *my, *mdx, *mdw, *mdb; /* sums of |terms| */
} conv_host;

static void conv_host_free(conv_host *h)
{
    void *p[] = {h->x,  h->w,   h->b,   h->dy,  h->y,  h->dx,  h->dw,  h->db,
                 h->ry, h->rdx, h->rdw, h->rdb, h->my, h->mdx, h->mdw, h->mdb};
    for (size_t i = 0; i < VKT__ARRAY_LEN(p); i++) {
        free(p[i]);
    }
}

static void check_conv_case(vkt__check_ctx *c, const conv_case *k)
{
    const char *op = "conv2d";
    if (!vkt__check_wants(c, op)) {
        return;
    }
    char shape[128], name[64];
    conv_shape_str(k, shape, sizeof shape);
    vkt_conv2d_params p = k->p; /* defaulted as vkt_conv2d does, for the reference */
    for (int i = 0; i < 2; i++) {
        p.stride[i] = VKT__DEF(p.stride[i], 1);
        p.dilation[i] = VKT__DEF(p.dilation[i], 1);
    }
    p.groups = VKT__DEF(p.groups, 1);
    vkt__ref_conv_dims d = vkt__ref_conv_dims_of(k->x, k->w, &p);
    int64_t nx = d.n * d.c_in * d.h * d.w, nw = d.c_out * k->w[1] * d.kh * d.kw;
    int64_t ny = d.n * d.c_out * d.oh * d.ow, nb = d.c_out;
    int64_t yshape[4] = {d.n, d.c_out, d.oh, d.ow};
    conv_host h = {0};
    h.x = vkt__check_rand(c, nx, -1.0f, 1.0f);
    h.w = vkt__check_rand(c, nw, -1.0f, 1.0f);
    h.b = vkt__check_rand(c, nb, -1.0f, 1.0f);
    h.dy = vkt__check_rand(c, ny, -1.0f, 1.0f);
    h.ry = vkt__malloc((size_t)ny * sizeof *h.ry);
    h.rdx = vkt__malloc((size_t)nx * sizeof *h.rdx);
    h.rdw = vkt__malloc((size_t)nw * sizeof *h.rdw);
    h.rdb = vkt__malloc((size_t)nb * sizeof *h.rdb);
    h.my = vkt__malloc((size_t)ny * sizeof *h.my);
    h.mdx = vkt__malloc((size_t)nx * sizeof *h.mdx);
    h.mdw = vkt__malloc((size_t)nw * sizeof *h.mdw);
    h.mdb = vkt__malloc((size_t)nb * sizeof *h.mdb);
    vkt_scope_begin(c->dev);
    if (!h.x || !h.w || !h.b || !h.dy || !h.ry || !h.rdx || !h.rdw || !h.rdb || !h.my || !h.mdx ||
        !h.mdw || !h.mdb) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    vkt_tensor *tx = vkt__check_tensor(c->dev, VKT_F32, h.x, 4, k->x);
    vkt_tensor *tw = vkt__check_tensor(c->dev, VKT_F32, h.w, 4, k->w);
    vkt_tensor *tb = k->bias ? vkt__check_tensor(c->dev, VKT_F32, h.b, 1, &nb) : NULL;
    vkt_tensor *tdy = vkt__check_tensor(c->dev, VKT_F32, h.dy, 4, yshape);
    vkt_tensor_set_requires_grad(tx, true);
    vkt_tensor_set_requires_grad(tw, true);
    vkt_tensor_set_requires_grad(tb, true);
    double t0 = vkt__now();
    vkt_tensor *ty = tx && tw && tdy && (!k->bias || tb)
                         ? vkt__conv2d_ex(tx, tw, tb, &k->p,
                                          k->cols_limit ? k->cols_limit : VKT__CONV_COLS_LIMIT)
                         : NULL;
    h.y = vkt__check_fetch(ty);
    double ms = (vkt__now() - t0) * 1e3;
    vkt_tensor *L = h.y ? vkt_sum(vkt_mul(ty, tdy)) : NULL; /* y's gradient is dy exactly */
    if (L && vkt_backward(L) == VKT_OK) {
        h.dx = vkt__check_fetch(vkt_tensor_grad(tx));
        h.dw = vkt__check_fetch(vkt_tensor_grad(tw));
        h.db = k->bias ? vkt__check_fetch(vkt_tensor_grad(tb)) : NULL;
    }
    if (!h.y || !h.dx || !h.dw || (k->bias && !h.db)) {
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    vkt__ref_conv2d(h.ry, h.my, h.x, h.w, k->bias ? h.b : NULL, &d);
    vkt__ref_conv2d_backward(h.rdx, h.mdx, h.rdw, h.mdw, h.rdb, h.mdb, h.dy, h.x, h.w, &d);
    int64_t kk = d.kh * d.kw, cog = d.c_out / d.groups, pixels = d.n * d.oh * d.ow;
    int64_t per_image = d.oh * d.ow * VKT__MAX(k->w[1] * kk, cog);
    int32_t limit = k->cols_limit ? k->cols_limit : VKT__CONV_COLS_LIMIT;
    int64_t images = VKT__MIN(limit / per_image, VKT__CONV_MAX_ROWS / (d.oh * d.ow));
    int64_t chunks = VKT__DIV_UP(d.n, VKT__MAX(1, VKT__MIN(d.n, images)));
    vkt__check_report(c, "conv2d/y", shape, scaled_err(h.y, h.ry, h.my, ny),
                      (double)(k->w[1] * kk + 4) * U_F32, ms, "error / sum|terms|");
    vkt__check_report(c, "conv2d/dx", shape, scaled_err(h.dx, h.rdx, h.mdx, nx),
                      (double)(cog * kk + kk + 3) * U_F32, 0.0, NULL);
    snprintf(name, sizeof name, "conv2d/dweight");
    vkt__check_report(c, name, shape, scaled_err(h.dw, h.rdw, h.mdw, nw),
                      (double)(pixels + chunks + 3) * U_F32, 0.0, NULL);
    if (k->bias) {
        vkt__check_report(c, "conv2d/dbias", shape, scaled_err(h.db, h.rdb, h.mdb, nb), 8.0 * U_F32,
                          0.0, NULL);
    }
done:
    vkt_scope_end(c->dev);
    conv_host_free(&h);
}

/* ---- pooling and upsampling ------------------------------------------------------------------ */

typedef struct pool_case {
    int mode; /* POOL_* */
    int64_t x[4];
    vkt_pool2d_params p; /* max / avg */
    int64_t oh, ow;      /* adaptive: output size; upsample: scale factors */
} pool_case;

static const char *const pool_names[] = {"max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
                                         "upsample_nearest2d"};
_Static_assert(POOL_MAX == 0 && POOL_AVG == 1 && POOL_ADAPTIVE_AVG == 2 && POOL_UPSAMPLE == 3,
               "pool_names follows pool_ops.h");

/* One-element planes, odd and non-square sizes, stride 2 on odd inputs, default strides,
 * padding 0 / 1, 65 channels, 3 x 2 kernels, padding counted and not; adaptive pooling down,
 * up (more outputs than inputs), to 1 x 1 and on uneven windows; upsampling by (2, 2), (3, 1),
 * (1, 3); and a 64 x 32 x 28 x 28 batch (1.6M elements: a 2-D grid of workgroups... 6272 groups
 * of 256: the flat index over planes) for each op. */
static const pool_case pool_cases[] = {
    {.mode = POOL_MAX, .x = {1, 1, 1, 1}, .p = {.kernel = {1, 1}}},
    {.mode = POOL_MAX,
     .x = {3, 2, 7, 9},
     .p = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}},
    {.mode = POOL_MAX, .x = {2, 3, 8, 8}, .p = {.kernel = {2, 2}}},
    {.mode = POOL_MAX,
     .x = {1, 65, 5, 6},
     .p = {.kernel = {3, 2}, .stride = {1, 2}, .padding = {1, 1}}},
    {.mode = POOL_MAX, .x = {64, 32, 28, 28}, .p = {.kernel = {2, 2}}},
    /* windows that tile the input (pool2d_tiled.comp on CPU drivers): outputs not a multiple of 4
     * (45, 100: a partial last vec4), a 3 x 2 window, one window per plane */
    {.mode = POOL_MAX, .x = {1, 3, 6, 10}, .p = {.kernel = {2, 2}}},
    {.mode = POOL_MAX, .x = {2, 5, 6, 10}, .p = {.kernel = {3, 2}}},
    {.mode = POOL_MAX, .x = {4, 1, 4, 4}, .p = {.kernel = {4, 4}}},
    {.mode = POOL_AVG, .x = {1, 1, 1, 1}, .p = {.kernel = {1, 1}}},
    {.mode = POOL_AVG,
     .x = {3, 2, 7, 9},
     .p = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}},
    {.mode = POOL_AVG,
     .x = {3, 2, 7, 9},
     .p = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}, .exclude_pad = true}},
    {.mode = POOL_AVG,
     .x = {1, 65, 5, 6},
     .p = {.kernel = {3, 2}, .stride = {1, 2}, .padding = {1, 1}, .exclude_pad = true}},
    {.mode = POOL_AVG, .x = {2, 3, 8, 8}, .p = {.kernel = {2, 2}}},
    {.mode = POOL_AVG, .x = {1, 3, 4, 6}, .p = {.kernel = {2, 3}}},
    {.mode = POOL_AVG, .x = {16, 32, 14, 14}, .p = {.kernel = {2, 2}}},
    {.mode = POOL_AVG,
     .x = {64, 32, 28, 28},
     .p = {.kernel = {3, 3}, .stride = {2, 2}, .padding = {1, 1}}},
    {.mode = POOL_ADAPTIVE_AVG, .x = {1, 1, 1, 1}, .oh = 1, .ow = 1},
    {.mode = POOL_ADAPTIVE_AVG, .x = {2, 3, 7, 9}, .oh = 3, .ow = 4},
    {.mode = POOL_ADAPTIVE_AVG, .x = {1, 2, 5, 5}, .oh = 7, .ow = 3},
    {.mode = POOL_ADAPTIVE_AVG, .x = {3, 4, 14, 13}, .oh = 1, .ow = 1},
    {.mode = POOL_ADAPTIVE_AVG, .x = {64, 32, 28, 28}, .oh = 7, .ow = 7},
    {.mode = POOL_UPSAMPLE, .x = {1, 1, 1, 1}, .oh = 3, .ow = 1},
    {.mode = POOL_UPSAMPLE, .x = {2, 3, 5, 7}, .oh = 2, .ow = 2},
    {.mode = POOL_UPSAMPLE, .x = {3, 2, 4, 3}, .oh = 1, .ow = 3},
    {.mode = POOL_UPSAMPLE, .x = {64, 32, 14, 14}, .oh = 2, .ow = 2},
};

static vkt__ref_pool_dims pool_dims(const pool_case *k)
{
    vkt__ref_pool_dims d = {.n = k->x[0], .c = k->x[1], .h = k->x[2], .w = k->x[3]};
    if (k->mode == POOL_ADAPTIVE_AVG) {
        d.oh = k->oh, d.ow = k->ow;
    } else if (k->mode == POOL_UPSAMPLE) {
        d.sh = k->oh, d.sw = k->ow;
        d.oh = d.h * d.sh, d.ow = d.w * d.sw;
    } else {
        d.kh = k->p.kernel[0], d.kw = k->p.kernel[1];
        d.sh = VKT__DEF(k->p.stride[0], d.kh), d.sw = VKT__DEF(k->p.stride[1], d.kw);
        d.ph = k->p.padding[0], d.pw = k->p.padding[1];
        d.exclude_pad = k->p.exclude_pad;
        d.oh = (d.h + 2 * d.ph - d.kh) / d.sh + 1;
        d.ow = (d.w + 2 * d.pw - d.kw) / d.sw + 1;
    }
    return d;
}

static vkt_tensor *pool_apply(const pool_case *k, const vkt_tensor *x)
{
    switch (k->mode) {
    case POOL_MAX:
        return vkt_max_pool2d(x, &k->p);
    case POOL_AVG:
        return vkt_avg_pool2d(x, &k->p);
    case POOL_ADAPTIVE_AVG:
        return vkt_adaptive_avg_pool2d(x, k->oh, k->ow);
    default:
        return vkt_upsample_nearest2d(x, (int32_t)k->oh, (int32_t)k->ow);
    }
}

/* Tolerances (see the header): forward and backward. */
static void pool_tols(const pool_case *k, const vkt__ref_pool_dims *d, double *fwd, double *bwd)
{
    if (k->mode == POOL_UPSAMPLE) {
        *fwd = 0.0;
        *bwd = (double)(d->sh * d->sw + 2) * U_F32;
        return;
    }
    int64_t taps, cover;
    if (k->mode == POOL_ADAPTIVE_AVG) {
        taps = (VKT__DIV_UP(d->h, d->oh) + 1) * (VKT__DIV_UP(d->w, d->ow) + 1);
        cover = (VKT__DIV_UP(d->oh, d->h) + 1) * (VKT__DIV_UP(d->ow, d->w) + 1);
    } else {
        taps = d->kh * d->kw;
        cover = VKT__DIV_UP(d->kh, d->sh) * VKT__DIV_UP(d->kw, d->sw);
    }
    *fwd = k->mode == POOL_MAX ? 0.0 : 2.0 * (double)(taps + 2) * U_F32;
    *bwd = (k->mode == POOL_MAX ? 1.0 : 2.0) * (double)(cover + 2) * U_F32;
}

static void check_pool_case(vkt__check_ctx *c, const pool_case *k)
{
    const char *op = pool_names[k->mode];
    if (!vkt__check_wants(c, op)) {
        return;
    }
    vkt__ref_pool_dims d = pool_dims(k);
    char shape[96], name[64];
    snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lld->%lldx%lld%s", (long long)d.n,
             (long long)d.c, (long long)d.h, (long long)d.w, (long long)d.oh, (long long)d.ow,
             d.exclude_pad ? "_excl" : "");
    int64_t nx = d.n * d.c * d.h * d.w, ny = d.n * d.c * d.oh * d.ow;
    int64_t yshape[4] = {d.n, d.c, d.oh, d.ow};
    float *x = vkt__check_rand(c, nx, -1.0f, 1.0f), *dy = vkt__check_rand(c, ny, -1.0f, 1.0f);
    float *ry = vkt__malloc((size_t)ny * sizeof *ry), *rdx = vkt__malloc((size_t)nx * sizeof *rdx);
    int32_t *ridx = vkt__malloc((size_t)ny * sizeof *ridx), *idx = NULL;
    float *y = NULL, *dx = NULL;
    vkt_scope_begin(c->dev);
    if (!x || !dy || !ry || !rdx || !ridx) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    vkt_tensor *tx = vkt__check_tensor(c->dev, VKT_F32, x, 4, k->x);
    vkt_tensor *tdy = vkt__check_tensor(c->dev, VKT_F32, dy, 4, yshape);
    vkt_tensor_set_requires_grad(tx, true);
    double t0 = vkt__now();
    vkt_tensor *ty = tx && tdy ? pool_apply(k, tx) : NULL;
    y = vkt__check_fetch(ty);
    double ms = (vkt__now() - t0) * 1e3;
    if (y && k->mode == POOL_MAX) {
        idx = vkt__check_fetch(ty->node->saved);
    }
    vkt_tensor *L = y ? vkt_sum(vkt_mul(ty, tdy)) : NULL;
    if (L && vkt_backward(L) == VKT_OK) {
        dx = vkt__check_fetch(vkt_tensor_grad(tx));
    }
    if (!y || !dx || (k->mode == POOL_MAX && !idx)) {
        vkt__check_report_failure(c, op, shape);
        goto done;
    }
    double tf, tb;
    pool_tols(k, &d, &tf, &tb);
    vkt__ref_pool2d(ry, ridx, x, k->mode, &d);
    vkt__ref_pool2d_backward(rdx, dy, ridx, k->mode, &d);
    snprintf(name, sizeof name, "%s/y", op);
    vkt__check_report(c, name, shape, vkt__max_err(y, ry, ny), tf, ms, NULL);
    if (k->mode == POOL_MAX) {
        int64_t wrong = 0;
        for (int64_t i = 0; i < ny; i++) {
            wrong += idx[i] != ridx[i];
        }
        snprintf(name, sizeof name, "%s/argmax", op);
        vkt__check_report(c, name, shape, (double)wrong, 0.0, 0.0, "indices that differ");
    }
    snprintf(name, sizeof name, "%s/dx", op);
    vkt__check_report(c, name, shape, vkt__max_err(dx, rdx, nx), tb, 0.0, NULL);
done:
    vkt_scope_end(c->dev);
    free(x);
    free(dy);
    free(ry);
    free(rdx);
    free(ridx);
    free(idx);
    free(y);
    free(dx);
}

void vkt__check_conv(vkt__check_ctx *c)
{
    for (size_t i = 0; i < VKT__ARRAY_LEN(conv_cases); i++) {
        check_conv_case(c, &conv_cases[i]);
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(pool_cases); i++) {
        check_pool_case(c, &pool_cases[i]);
    }
}
