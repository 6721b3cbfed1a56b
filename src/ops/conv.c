/*
 * conv.c — vkt_conv2d (torch.nn.functional.conv2d) and its backward.
 *
 * Shaders: shaders/im2col.comp, col2im.comp, conv_epilogue.comp, conv_bias_grad.comp,
 * conv_regroup.comp (push constants in conv_geom.glsl), and the CPU-driver forms that read through
 * texel views (docs/shaders.md): im2col_texel.comp and im2col_block.comp, col2im_texel.comp and
 * col2im_block.comp, conv_epilogue_block.comp, conv_bias_grad_texel.comp, used where
 * vkt__texel_or_none() gives the range (the _block forms where the shapes also fit them, tested
 * in tests/test_conv.c); the products are vkt__matmul_into (src/ops/matmul.h). CPU reference:
 * src/ref/ref_conv.c. Checks: src/check/check_conv.c (device vs reference) and
 * src/check/check_grad.c (finite differences). Tests: tests/test_conv.c.
 *
 * For each chunk of images and each group (K = C_in / groups * KH * KW, M = images * OH * OW):
 *   forward   cols (M, K) = im2col(x); rows (M, C_out / g) = cols · W_gᵀ; y = epilogue(rows) + bias
 *             (one group on CPU drivers: y[n] = W · cols[n]ᵀ + bias straight into NCHW, the bias
 *             in the texel matmul's epilogue)
 *   backward  rows = dy in matmul layout; dW_g += rowsᵀ · cols (im2col again, not saved);
 *             dcols = rows · W_g; dx += col2im(dcols), a gather (each input element sums what
 *             read it: deterministic, no atomics); dbias += sums of dy over (N, OH, OW).
 * A group's weight rows are bound as a view; a view's offset must be a multiple of
 * minStorageBufferOffsetAlignment, so when the groups' offsets are not (C_out / g * K not a
 * multiple of 64 floats) the weight, and its gradient, go through a copy with aligned groups
 * (conv_regroup.comp). Where the products run on the texel matmul (K % 4 == 0 only), K is padded
 * to kp, a multiple of 4: cols and dcols get zero columns, the weight is bound through a copy
 * with kp-float rows (zero padding), and dW accumulates in such a copy whose padding columns
 * stay zero (rowsᵀ · zero columns) and are dropped when it is added back.
 */
#include "ops/conv.h"

#include "ops/matmul.h"
#include "shaders/conv_ops.h"
#include "shaders/matmul_ops.h"

/* Mirrors `PC` in shaders/conv_geom.glsl. */
typedef struct vkt__pc_conv {
    uint32_t batch, n0, c_in, h, w, c_group, c0, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
    uint32_t c_out, co_group, co0, has_bias, accumulate, k_stride;
} vkt__pc_conv;
_Static_assert(sizeof(vkt__pc_conv) == 23 * 4 && sizeof(vkt__pc_conv) <= VKT__PUSH_MAX,
               "push constants");

/* Mirrors `PC` in shaders/conv_regroup.comp. */
typedef struct vkt__pc_conv_regroup {
    uint32_t groups, rows, len, src_gstride, src_rstride, dst_gstride, dst_rstride, accumulate;
} vkt__pc_conv_regroup;
_Static_assert(sizeof(vkt__pc_conv_regroup) == 8 * 4 &&
                   sizeof(vkt__pc_conv_regroup) <= VKT__PUSH_MAX,
               "push constants");

#define CONV_WG 256u
/* Group offsets in floats are aligned to this (256 bytes, above every device's
 * minStorageBufferOffsetAlignment). */
#define CONV_ALIGN 64

/* The node's iparam[]. */
enum { P_SH, P_SW, P_PH, P_PW, P_DH, P_DW, P_GROUPS, P_LIMIT };

typedef struct conv_geom {
    int64_t n, c_in, h, w, c_out, kh, kw, oh, ow;
    int64_t groups, cg, cog, k; /* channels per group in and out; k = cg * kh * kw */
    int64_t kp; /* floats per row of cols / dcols and of the weight as bound: k, or k padded
                 * to a multiple of 4 where the products run on the texel matmul */
    int32_t sh, sw, ph, pw, dh, dw;
    int64_t chunk;   /* images per chunk */
    int64_t wstride; /* floats between groups of the weight as bound: cog * kp, or aligned up */
    bool regroup;    /* the weight is bound through a copy (aligned groups, padded rows) */
} conv_geom;

static vkt_conv2d_params conv_defaults(const vkt_conv2d_params *p)
{
    vkt_conv2d_params d = p ? *p : (vkt_conv2d_params){0};
    for (int i = 0; i < 2; i++) {
        d.stride[i] = VKT__DEF(d.stride[i], 1);
        d.dilation[i] = VKT__DEF(d.dilation[i], 1);
    }
    d.groups = VKT__DEF(d.groups, 1);
    return d;
}

static bool conv_validate(const vkt_tensor *x, const vkt_tensor *w, const vkt_tensor *b,
                          const vkt_conv2d_params *p)
{
    const char *op = "vkt_conv2d";
    char dx[96], dw[96], db[96];
    if (!vkt__check_same_device(op, x, w) || (b && !vkt__check_same_device(op, x, b)) ||
        !vkt__check_dtype(op, "x", x, VKT_F32) || !vkt__check_dtype(op, "weight", w, VKT_F32) ||
        (b && !vkt__check_dtype(op, "bias", b, VKT_F32))) {
        return false;
    }
    if (x->ndim != 4) {
        vkt__error(VKT_SHAPE_MISMATCH, "%s: x is %s but must be (N, C_in, H, W)", op,
                   vkt_tensor_describe(x, dx, sizeof dx));
        return false;
    }
    if (w->ndim != 4) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: weight is %s but must be (C_out, C_in / groups, KH, KW)", op,
                   vkt_tensor_describe(w, dw, sizeof dw));
        return false;
    }
    static const char *const axis[2] = {"h", "w"};
    for (int i = 0; i < 2; i++) {
        if (p->stride[i] < 1 || p->dilation[i] < 1 || p->padding[i] < 0) {
            vkt__error(VKT_INVALID_ARGUMENT,
                       "%s: stride %d, dilation %d, padding %d along %s; stride and dilation must "
                       "be >= 1 (0 for the default 1) and padding >= 0",
                       op, p->stride[i], p->dilation[i], p->padding[i], axis[i]);
            return false;
        }
    }
    int64_t g = p->groups;
    if (g < 1) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: groups is %d but must be >= 1", op, p->groups);
        return false;
    }
    vkt_tensor_describe(x, dx, sizeof dx);
    vkt_tensor_describe(w, dw, sizeof dw);
    if (x->shape[1] % g != 0 || w->shape[0] % g != 0 || w->shape[1] * g != x->shape[1]) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: x %s has %lld channels and weight %s is (C_out %lld, %lld, ...) with "
                   "groups = %lld; C_in and C_out must be multiples of groups and weight's second "
                   "dimension C_in / groups = %lld",
                   op, dx, (long long)x->shape[1], dw, (long long)w->shape[0],
                   (long long)w->shape[1], (long long)g, (long long)(x->shape[1] / g));
        return false;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        vkt__error(VKT_SHAPE_MISMATCH, "%s: bias is %s but weight %s has %lld output channels", op,
                   vkt_tensor_describe(b, db, sizeof db), dw, (long long)w->shape[0]);
        return false;
    }
    for (int i = 0; i < 2; i++) {
        int64_t in = x->shape[2 + i] + 2 * (int64_t)p->padding[i];
        int64_t span = (int64_t)p->dilation[i] * (w->shape[2 + i] - 1) + 1;
        if (span > in) {
            vkt__error(VKT_SHAPE_MISMATCH,
                       "%s: the kernel spans %lld along %s (size %lld, dilation %d) but x %s "
                       "padded by %d is only %lld: the output would be empty",
                       op, (long long)span, axis[i], (long long)w->shape[2 + i], p->dilation[i], dx,
                       p->padding[i], (long long)in);
            return false;
        }
    }
    return true;
}

static conv_geom conv_geom_of(const vkt_tensor *x, const vkt_tensor *w, const vkt_conv2d_params *p,
                              int32_t cols_limit)
{
    conv_geom g = {
        .n = x->shape[0],
        .c_in = x->shape[1],
        .h = x->shape[2],
        .w = x->shape[3],
        .c_out = w->shape[0],
        .kh = w->shape[2],
        .kw = w->shape[3],
        .groups = p->groups,
        .sh = p->stride[0],
        .sw = p->stride[1],
        .ph = p->padding[0],
        .pw = p->padding[1],
        .dh = p->dilation[0],
        .dw = p->dilation[1],
    };
    g.oh = (g.h + 2 * g.ph - (int64_t)g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.ow = (g.w + 2 * g.pw - (int64_t)g.dw * (g.kw - 1) - 1) / g.sw + 1;
    g.cg = g.c_in / g.groups;
    g.cog = g.c_out / g.groups;
    g.k = g.cg * g.kh * g.kw;
    /* zero columns that make every product of the layer fit the texel matmul (K % 4 == 0,
     * vec4-aligned rows) cost less than the regblock kernel it would fall back to */
    bool texel_mm = vkt__matmul_default_variant(x->dev) == VKT__MATMUL_TEXEL;
    g.kp = texel_mm ? VKT__ALIGN_UP(g.k, 4) : g.k;
    int64_t per_image = g.oh * g.ow * VKT__MAX(g.kp, g.cog);
    int64_t images = VKT__MIN((int64_t)cols_limit / per_image, VKT__CONV_MAX_ROWS / (g.oh * g.ow));
    g.chunk = VKT__MAX(1, VKT__MIN(g.n, images));
    bool unaligned = g.groups > 1 && (g.cog * g.kp) % CONV_ALIGN != 0;
    g.regroup = unaligned || g.kp != g.k;
    g.wstride = unaligned ? VKT__ALIGN_UP(g.cog * g.kp, CONV_ALIGN) : g.cog * g.kp;
    return g;
}

static vkt__pc_conv conv_pc(const conv_geom *g, int64_t n0, int64_t nb, int64_t grp)
{
    return (vkt__pc_conv){
        .batch = (uint32_t)nb,
        .n0 = (uint32_t)n0,
        .c_in = (uint32_t)g->c_in,
        .h = (uint32_t)g->h,
        .w = (uint32_t)g->w,
        .c_group = (uint32_t)g->cg,
        .c0 = (uint32_t)(grp * g->cg),
        .oh = (uint32_t)g->oh,
        .ow = (uint32_t)g->ow,
        .kh = (uint32_t)g->kh,
        .kw = (uint32_t)g->kw,
        .sh = (uint32_t)g->sh,
        .sw = (uint32_t)g->sw,
        .ph = (uint32_t)g->ph,
        .pw = (uint32_t)g->pw,
        .dh = (uint32_t)g->dh,
        .dw = (uint32_t)g->dw,
        .c_out = (uint32_t)g->c_out,
        .co_group = (uint32_t)g->cog,
        .co0 = (uint32_t)(grp * g->cog),
        .accumulate = 1,
        .k_stride = (uint32_t)g->kp,
    };
}

/* One conv kernel over `n` invocations with specialization constants 1.. from `spec`; unused
 * bindings are empty. `texel`, where set, is set 1 binding 0 (the _texel / _block kernels). */
static vkt_status conv_run(vkt_device *dev, vkt__shader_id shader, const uint32_t *spec,
                           uint32_t spec_count, const vkt__pc_conv *pc, uint64_t n,
                           const vkt__binding *b, vkt__binding texel)
{
    vkt__dispatch_desc d = {
        .shader = shader,
        .spec = {CONV_WG},
        .spec_count = 1 + spec_count,
        .push = pc,
        .push_size = sizeof *pc,
        .bindings = {b[0], b[1], b[2]},
        .texels = {texel},
    };
    for (uint32_t i = 0; i < spec_count; i++) {
        d.spec[1 + i] = spec[i];
    }
    vkt__elementwise_groups(n, CONV_WG, d.groups);
    return vkt__dispatch(dev, &d);
}

/* Output pixels per invocation of im2col_block.comp (PX there). */
#define IM2COL_BLOCK_PX 8

/* Channels per invocation of im2col_block.comp: the fewest whose columns are whole vec4s, or
 * every channel of the group where it has fewer (one block per row, padded to kp); 0 where the
 * block kernel does not apply (it needs a unit horizontal stride and dilation and vec4 rows, and
 * keeps its 8 x CB * KH * KW columns in registers: at most 36 per pixel). */
static uint32_t conv_im2col_block_channels(const conv_geom *g)
{
    int64_t kk = g->kh * g->kw;
    int64_t cb = kk % 4 == 0 ? 1 : kk % 2 == 0 ? 2 : 4;
    cb = VKT__MIN(cb, g->cg);
    bool fits = g->sw == 1 && g->dw == 1 && g->kp % 4 == 0 && cb * kk <= 36;
    return fits ? (uint32_t)cb : 0;
}

/* cols (m, kp) = im2col(x) for the chunk and group of `pc`: in blocks of 8 pixels x CB channels
 * where conv_im2col_block_channels() allows and x can be viewed as texels; otherwise columns per
 * invocation: the largest multiple of 4 up to 32 that divides kp (vec4 stores, the divisions of
 * one invocation shared by its columns), or 1. */
static vkt_status conv_im2col(const conv_geom *g, const vkt__pc_conv *pc, const vkt_tensor *x,
                              vkt_tensor *cols)
{
    vkt_device *dev = x->dev;
    vkt__binding b[3] = {vkt__bind(x, VKT__READ), vkt__bind(cols, VKT__WRITE)};
    vkt__binding xt = vkt__texel_or_none(dev, b[0]);
    uint32_t cb = conv_im2col_block_channels(g);
    if (xt.alloc && cb && b[1].offset % 16 == 0) {
        uint32_t spec[3] = {(uint32_t)g->kh, (uint32_t)g->kw, cb};
        uint64_t blocks = (uint64_t)(g->cg + cb - 1) / cb;
        return conv_run(dev, VKT__SHADER_IM2COL_BLOCK, spec, 3, pc,
                        (uint64_t)pc->batch * g->oh *
                            (uint64_t)VKT__DIV_UP(g->ow, IM2COL_BLOCK_PX) * blocks,
                        b, xt);
    }
    uint32_t v = 1;
    for (uint32_t c = 32; c >= 4 && v == 1 && b[1].offset % 16 == 0; c -= 4) {
        v = g->kp % c == 0 ? c : 1;
    }
    return conv_run(dev, xt.alloc ? VKT__SHADER_IM2COL_TEXEL : VKT__SHADER_IM2COL, &v, 1, pc,
                    (uint64_t)pc->batch * g->oh * g->ow * g->kp / v, b, xt);
}

/* The epilogue between rows (m, cog) and the NCHW tensor: forward (SCATTER) y = rows + bias,
 * backward (GATHER) rows = dy. 4 x 4 blocks where the shapes and the source's texel view allow. */
static vkt_status conv_epilogue(const conv_geom *g, const vkt__pc_conv *pc, uint32_t mode,
                                const vkt_tensor *src, const vkt_tensor *bias, vkt_tensor *dst)
{
    vkt_device *dev = src->dev;
    vkt__binding b[3] = {vkt__bind(src, VKT__READ),
                         bias ? vkt__bind(bias, VKT__READ) : (vkt__binding){0},
                         vkt__bind(dst, VKT__WRITE)};
    int64_t ohw = g->oh * g->ow;
    vkt__binding st = vkt__texel_or_none(dev, b[0]);
    bool block = st.alloc && ohw % 4 == 0 && g->cog % 4 == 0 && b[2].offset % 16 == 0;
    uint64_t n = (uint64_t)(pc->batch * ohw * g->cog) / (block ? 16 : 1);
    return conv_run(dev, block ? VKT__SHADER_CONV_EPILOGUE_BLOCK : VKT__SHADER_CONV_EPILOGUE, &mode,
                    1, pc, n, b, block ? st : (vkt__binding){0});
}

/* dx (+)= col2im(dcols) for the chunk and group of `pc`: 4 elements of dx per invocation where
 * the planes are whole vec4s; stride 1 without divisions, and with the taps unrolled
 * (col2im_block.comp, kernels of at most 25 taps) where dcols can be viewed as texels and its
 * rows are whole vec4s. */
static vkt_status conv_col2im(const conv_geom *g, const vkt__pc_conv *pc, const vkt_tensor *dcols,
                              vkt_tensor *dx)
{
    vkt_device *dev = dx->dev;
    vkt__binding b[3] = {vkt__bind(dcols, VKT__READ), vkt__bind(dx, VKT__RW)};
    vkt__binding dt = vkt__texel_or_none(dev, b[0]);
    bool vec4 = (g->h * g->w) % 4 == 0 && b[1].offset % 16 == 0;
    bool unit = g->sh == 1 && g->sw == 1;
    uint64_t n = (uint64_t)pc->batch * g->cg * g->h * g->w;
    if (dt.alloc && vec4 && unit && g->kp % 4 == 0 && g->kh * g->kw <= 25) {
        uint32_t spec[2] = {(uint32_t)g->kh, (uint32_t)g->kw};
        return conv_run(dev, VKT__SHADER_COL2IM_BLOCK, spec, 2, pc, n / 4, b, dt);
    }
    uint32_t spec[2] = {vec4 ? 4 : 1, unit};
    return conv_run(dev, dt.alloc ? VKT__SHADER_COL2IM_TEXEL : VKT__SHADER_COL2IM, spec, 2, pc,
                    n / spec[0], b, dt);
}

/* Copies a weight between the dense layout (groups of cog rows of k floats) and the bound one
 * (groups wstride floats apart, rows kp floats apart): to_bound writes the bound copy, its
 * padding columns zero; otherwise the dense destination gets (+)= the bound source. */
static vkt_status conv_regroup(const conv_geom *g, const vkt_tensor *src, vkt_tensor *dst,
                               bool to_bound, bool accumulate)
{
    int64_t dense_g = g->cog * g->k;
    vkt__pc_conv_regroup pc = {
        .groups = (uint32_t)g->groups,
        .rows = (uint32_t)g->cog,
        .len = (uint32_t)g->k,
        .src_gstride = (uint32_t)(to_bound ? dense_g : g->wstride),
        .src_rstride = (uint32_t)(to_bound ? g->k : g->kp),
        .dst_gstride = (uint32_t)(to_bound ? g->wstride : dense_g),
        .dst_rstride = (uint32_t)(to_bound ? g->kp : g->k),
        .accumulate = accumulate,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_CONV_REGROUP,
        .spec = {CONV_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(src, VKT__READ), vkt__bind(dst, accumulate ? VKT__RW : VKT__WRITE)},
    };
    vkt__elementwise_groups((uint64_t)(pc.groups * pc.rows * pc.dst_rstride), CONV_WG, d.groups);
    return vkt__dispatch(src->dev, &d);
}

/* A 2-D (rows, cols) view at element `offset`. The base is only read through the view when it
 * is an op's input (the view API takes a non-const base because views share its memory). */
static vkt_tensor *view2(const vkt_tensor *base, int64_t offset, int64_t rows, int64_t cols)
{
    return vkt_tensor_view((vkt_tensor *)base, offset, 2, (int64_t[2]){rows, cols});
}

/* The weight as the products bind it: itself, or a copy with aligned groups (*owned). */
static vkt_tensor *conv_bound_weight(const conv_geom *g, const vkt_tensor *w, vkt_tensor **owned)
{
    *owned = NULL;
    if (!g->regroup) {
        return (vkt_tensor *)w;
    }
    *owned = vkt_tensor_new_1d(w->dev, VKT_F32, g->groups * g->wstride);
    if (*owned && conv_regroup(g, w, *owned, true, false) != VKT_OK) {
        vkt_tensor_free(*owned);
        *owned = NULL;
    }
    return *owned;
}

/* One group's images n0 .. n0 + nb - 1 of y (N, C_out, OH, OW) written straight from the
 * product: per image, y[n] (C_out, OH * OW) = W (C_out, kp) · cols[n]ᵀ, the bias per row (output
 * channel) in the texel matmul's epilogue. The same sums in the same order as rows = cols · Wᵀ
 * then the epilogue's scatter (fma is commutative), without the scatter pass. *done: false where
 * the texel kernel cannot run it (the caller takes the two-pass path). */
static vkt_status conv_forward_direct(const conv_geom *g, int64_t n0, int64_t nb,
                                      const vkt_tensor *wv, const vkt_tensor *cols,
                                      const vkt_tensor *b, vkt_tensor *y, bool *done)
{
    int64_t ohw = g->oh * g->ow;
    vkt_tensor *c3 = vkt_tensor_view((vkt_tensor *)cols, 0, 3, (int64_t[3]){nb, ohw, g->kp});
    vkt_tensor *y3 = vkt_tensor_view(y, n0 * g->c_out * ohw, 3, (int64_t[3]){nb, g->c_out, ohw});
    vkt_status s = c3 && y3 ? VKT_OK : vkt_last_status();
    if (s == VKT_OK) {
        *done = vkt__matmul_epilogue(wv, c3, VKT_TRANS_B, b, b ? MATMUL_EPI_BIAS_ROWS : 0u, y3, &s);
    }
    vkt_tensor_free(c3);
    vkt_tensor_free(y3);
    return s;
}

/* y = conv(x) + bias, chunk by chunk and group by group. */
static vkt_status conv_forward(const conv_geom *g, const vkt_tensor *x, const vkt_tensor *w,
                               const vkt_tensor *b, vkt_tensor *y)
{
    vkt_status s = VKT_OK;
    vkt_tensor *wown, *colsv = NULL, *rowsv = NULL, *wv = NULL, *rows = NULL;
    int64_t ohw = g->oh * g->ow;
    vkt_tensor *wb = conv_bound_weight(g, w, &wown);
    vkt_tensor *cols = wb ? vkt_tensor_new_1d(x->dev, VKT_F32, g->chunk * ohw * g->kp) : NULL;
    if (!cols) {
        s = vkt_last_status();
        goto done;
    }
    for (int64_t n0 = 0; n0 < g->n; n0 += g->chunk) {
        int64_t nb = VKT__MIN(g->chunk, g->n - n0), m = nb * ohw;
        if (!(colsv = view2(cols, 0, m, g->kp))) {
            s = vkt_last_status();
            goto done;
        }
        for (int64_t grp = 0; grp < g->groups; grp++) {
            vkt__pc_conv pc = conv_pc(g, n0, nb, grp);
            pc.has_bias = b != NULL;
            if (!(wv = view2(wb, grp * g->wstride, g->cog, g->kp))) {
                s = vkt_last_status();
                goto done;
            }
            if ((s = conv_im2col(g, &pc, x, colsv)) != VKT_OK) {
                goto done;
            }
            /* y's view for the chunk must start on a storage-buffer offset alignment */
            bool direct = false;
            if (g->groups == 1 && (n0 == 0 || (n0 * g->c_out * ohw) % CONV_ALIGN == 0) &&
                (s = conv_forward_direct(g, n0, nb, wv, cols, b, y, &direct)) != VKT_OK) {
                goto done;
            }
            if (!direct) {
                /* the two-pass path's rows, made when it first runs */
                if ((!rows &&
                     !(rows = vkt_tensor_new_1d(x->dev, VKT_F32, g->chunk * ohw * g->cog))) ||
                    (!rowsv && !(rowsv = view2(rows, 0, m, g->cog)))) {
                    s = vkt_last_status();
                    goto done;
                }
                if ((s = vkt__matmul_into(colsv, wv, rowsv, VKT_TRANS_B, false,
                                          VKT__MATMUL_AUTO)) != VKT_OK ||
                    (s = conv_epilogue(g, &pc, CONV_EPI_SCATTER, rowsv, b, y)) != VKT_OK) {
                    goto done;
                }
            }
            vkt_tensor_free(wv);
            wv = NULL;
        }
        vkt_tensor_free(colsv);
        vkt_tensor_free(rowsv);
        colsv = rowsv = NULL;
    }
done:
    vkt_tensor_free(wv);
    vkt_tensor_free(colsv);
    vkt_tensor_free(rowsv);
    vkt_tensor_free(rows);
    vkt_tensor_free(cols);
    vkt_tensor_free(wown);
    return s;
}

vkt_tensor *vkt__conv2d_ex(const vkt_tensor *x, const vkt_tensor *weight, const vkt_tensor *bias,
                           const vkt_conv2d_params *params, int32_t cols_limit)
{
    if (!x || !weight) {
        return NULL;
    }
    vkt_conv2d_params p = conv_defaults(params);
    if (!conv_validate(x, weight, bias, &p)) {
        return NULL;
    }
    conv_geom g = conv_geom_of(x, weight, &p, cols_limit);
    int64_t shape[4] = {g.n, g.c_out, g.oh, g.ow};
    vkt_tensor *y = vkt__new_output(x->dev, VKT_F32, 4, shape);
    if (!y || conv_forward(&g, x, weight, bias, y) != VKT_OK) {
        goto fail;
    }
    if (vkt__any_requires_grad(x, weight, bias)) {
        vkt__node *n = vkt__record(VKT__OP_CONV2D, y, x, weight, bias);
        if (!n) {
            goto fail;
        }
        int *ip = n->iparam;
        ip[P_SH] = p.stride[0], ip[P_SW] = p.stride[1];
        ip[P_PH] = p.padding[0], ip[P_PW] = p.padding[1];
        ip[P_DH] = p.dilation[0], ip[P_DW] = p.dilation[1];
        ip[P_GROUPS] = p.groups, ip[P_LIMIT] = cols_limit;
    }
    return y;

fail:
    vkt__error_context("vkt_conv2d");
    vkt_tensor_free(y);
    return NULL;
}

vkt_tensor *vkt_conv2d(const vkt_tensor *x, const vkt_tensor *weight, const vkt_tensor *bias,
                       const vkt_conv2d_params *p)
{
    return vkt__conv2d_ex(x, weight, bias, p, VKT__CONV_COLS_LIMIT);
}

/* dbias (+)= dy summed over images and pixels, per output channel (reading vec4 texels where
 * OH * OW % 4 == 0 and the range allows). */
static vkt_status conv_bias_grad(const conv_geom *g, const vkt_tensor *dy, vkt_tensor *db,
                                 bool accumulate)
{
    vkt__pc_conv pc = conv_pc(g, 0, g->n, 0);
    pc.accumulate = accumulate;
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_CONV_BIAS_GRAD,
        .spec = {vkt__device_caps(dy->dev)->reduce_wg},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(dy, VKT__READ), vkt__bind(db, VKT__RW)},
    };
    if ((g->oh * g->ow) % 4 == 0) {
        d.texels[0] = vkt__texel_or_none(dy->dev, d.bindings[0]);
        d.shader = d.texels[0].alloc ? VKT__SHADER_CONV_BIAS_GRAD_TEXEL : d.shader;
    }
    vkt__groups_2d((uint64_t)g->c_out, d.groups);
    return vkt__dispatch(dy->dev, &d);
}

/* Temporaries of the backward pass; NULL members are not needed. */
typedef struct conv_bwd {
    vkt_tensor *rows, *cols, *dcols; /* chunk-sized */
    vkt_tensor *wb, *wown;           /* the weight as bound (dx) */
    vkt_tensor *dwb, *dwown;         /* where dW accumulates: dW itself or an aligned copy */
    vkt_tensor *rowsv, *colsv, *dcolsv, *wv, *dwv;
    /* dx and dW add to what they hold; false where this backward is their first writer
     * (vkt__grad_first: every element is written once over the chunks and groups) */
    bool dx_acc, dw_acc;
} conv_bwd;

static void conv_bwd_free_views(conv_bwd *t)
{
    vkt_tensor_free(t->rowsv);
    vkt_tensor_free(t->colsv);
    vkt_tensor_free(t->dcolsv);
    vkt_tensor_free(t->wv);
    vkt_tensor_free(t->dwv);
    t->rowsv = t->colsv = t->dcolsv = t->wv = t->dwv = NULL;
}

/* One chunk and group: dW_g (+)= rowsᵀ · cols; dx (+)= col2im(rows · W_g). */
static vkt_status conv_bwd_step(const conv_geom *g, conv_bwd *t, const vkt_tensor *x,
                                const vkt_tensor *dy, vkt_tensor *dx, int64_t n0, int64_t nb,
                                int64_t grp)
{
    int64_t m = nb * g->oh * g->ow;
    vkt__pc_conv pc = conv_pc(g, n0, nb, grp);
    if (!(t->rowsv = view2(t->rows, 0, m, g->cog))) {
        return vkt_last_status();
    }
    vkt_status s = conv_epilogue(g, &pc, CONV_EPI_GATHER, dy, NULL, t->rowsv);
    if (s == VKT_OK && t->dwb) {
        /* the bound copy starts from zero at the first chunk; dW itself keeps its gradient */
        bool acc = n0 > 0 || (!t->dwown && t->dw_acc);
        if (!(t->colsv = view2(t->cols, 0, m, g->kp)) ||
            !(t->dwv = view2(t->dwb, grp * g->wstride, g->cog, g->kp))) {
            return vkt_last_status();
        }
        s = conv_im2col(g, &pc, x, t->colsv);
        if (s == VKT_OK) {
            s = vkt__matmul_into(t->rowsv, t->colsv, t->dwv, VKT_TRANS_A, acc, VKT__MATMUL_AUTO);
        }
    }
    if (s == VKT_OK && dx) {
        if (!(t->dcolsv = view2(t->dcols, 0, m, g->kp)) ||
            !(t->wv = view2(t->wb, grp * g->wstride, g->cog, g->kp))) {
            return vkt_last_status();
        }
        s = vkt__matmul_into(t->rowsv, t->wv, t->dcolsv, 0, false, VKT__MATMUL_AUTO);
        if (s == VKT_OK) {
            pc.accumulate = t->dx_acc;
            s = conv_col2im(g, &pc, t->dcolsv, dx);
        }
    }
    return s;
}

vkt_status vkt__conv2d_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0], *w = n->in[1], *b = n->in[2];
    const int *ip = n->iparam;
    vkt_conv2d_params p = {
        {ip[P_SH], ip[P_SW]}, {ip[P_PH], ip[P_PW]}, {ip[P_DH], ip[P_DW]}, ip[P_GROUPS]};
    conv_geom g = conv_geom_of(x, w, &p, ip[P_LIMIT]);
    int64_t ohw = g.oh * g.ow;
    vkt_tensor *dx = NULL, *dw = NULL, *db = NULL;
    conv_bwd t = {.dx_acc = true, .dw_acc = true};
    bool db_acc = true;
    if ((vkt__wants_grad(x) && !(dx = vkt__grad_first(x, &t.dx_acc))) ||
        (vkt__wants_grad(w) && !(dw = vkt__grad_first(w, &t.dw_acc))) ||
        (vkt__wants_grad(b) && !(db = vkt__grad_first(b, &db_acc)))) {
        return vkt_last_status();
    }
    vkt_status s = db ? conv_bias_grad(&g, gout, db, db_acc) : VKT_OK;
    if (s != VKT_OK || (!dx && !dw)) {
        return s;
    }
    if (!(t.rows = vkt_tensor_new_1d(x->dev, VKT_F32, g.chunk * ohw * g.cog))) {
        s = vkt_last_status();
        goto done;
    }
    if (dw) {
        t.dwb = dw;
        if (g.regroup &&
            !(t.dwb = t.dwown = vkt_tensor_new_1d(x->dev, VKT_F32, g.groups * g.wstride))) {
            s = vkt_last_status();
            goto done;
        }
        if (!(t.cols = vkt_tensor_new_1d(x->dev, VKT_F32, g.chunk * ohw * g.kp))) {
            s = vkt_last_status();
            goto done;
        }
    }
    if (dx && (!(t.wb = conv_bound_weight(&g, w, &t.wown)) ||
               !(t.dcols = vkt_tensor_new_1d(x->dev, VKT_F32, g.chunk * ohw * g.kp)))) {
        s = vkt_last_status();
        goto done;
    }
    for (int64_t n0 = 0; n0 < g.n; n0 += g.chunk) {
        for (int64_t grp = 0; grp < g.groups; grp++) {
            s = conv_bwd_step(&g, &t, x, gout, dx, n0, VKT__MIN(g.chunk, g.n - n0), grp);
            conv_bwd_free_views(&t);
            if (s != VKT_OK) {
                goto done;
            }
        }
    }
    s = t.dwown ? conv_regroup(&g, t.dwown, dw, false, t.dw_acc) : VKT_OK;
done:
    conv_bwd_free_views(&t);
    vkt_tensor_free(t.rows);
    vkt_tensor_free(t.cols);
    vkt_tensor_free(t.dcols);
    vkt_tensor_free(t.wown);
    vkt_tensor_free(t.dwown);
    return s;
}
