/*
 * pool.c — vkt_max_pool2d, vkt_avg_pool2d, vkt_adaptive_avg_pool2d, vkt_upsample_nearest2d
 * (torch.nn.functional) and their backwards.
 *
 * Shaders: shaders/pool2d.comp (forward, one invocation per output element) and
 * pool2d_backward.comp (a gather: one invocation per input element sums the outputs whose window
 * holds it; deterministic, no atomics; for max pooling whose windows tile the input, one
 * invocation per window), both with MODE from shaders/pool_ops.h and the window
 * arithmetic of pool2d.glsl; on CPU drivers, max and avg pooling whose windows tile the input
 * run on pool2d_tiled.comp and pool2d_tiled_backward.comp (four elements per invocation, texel
 * reads, vec4 stores). CPU reference: src/ref/ref_pool.c. Checks: src/check/check_conv.c
 * (device vs reference) and src/check/check_grad.c (finite differences). Tests:
 * tests/test_conv.c. Max pooling saves its argmax (i32, index into the H x W plane, as torch's
 * indices) as the node's saved tensor.
 */
#include "shaders/pool_ops.h"
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/pool2d.glsl. */
typedef struct vkt__pc_pool {
    uint32_t planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw, exclude_pad, accumulate;
} vkt__pc_pool;
_Static_assert(sizeof(vkt__pc_pool) <= VKT__PUSH_MAX, "push constants");

#define POOL_WG 256u

/* The node's iparam[] (max and avg pooling). */
enum { P_KH, P_KW, P_SH, P_SW, P_PH, P_PW, P_EXCLUDE };

static vkt_pool2d_params pool_defaults(const vkt_pool2d_params *p)
{
    vkt_pool2d_params d = p ? *p : (vkt_pool2d_params){0};
    for (int i = 0; i < 2; i++) {
        d.stride[i] = VKT__DEF(d.stride[i], d.kernel[i]);
    }
    return d;
}

/* x must be f32 (N, C, H, W). */
static bool pool_check_x(const char *op, const vkt_tensor *x)
{
    char d[96];
    if (!vkt__check_dtype(op, "x", x, VKT_F32)) {
        return false;
    }
    if (x->ndim != 4) {
        vkt__error(VKT_SHAPE_MISMATCH, "%s: x is %s but must be (N, C, H, W)", op,
                   vkt_tensor_describe(x, d, sizeof d));
        return false;
    }
    return true;
}

static bool pool_validate(const char *op, const vkt_tensor *x, const vkt_pool2d_params *p,
                          bool is_max)
{
    static const char *const axis[2] = {"h", "w"};
    char d[96];
    if (!pool_check_x(op, x)) {
        return false;
    }
    if (!p) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: params are NULL; the kernel size is required", op);
        return false;
    }
    if (is_max && p->exclude_pad) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: exclude_pad is for avg_pool2d only", op);
        return false;
    }
    for (int i = 0; i < 2; i++) {
        if (p->kernel[i] < 1 || p->stride[i] < 1 || p->padding[i] < 0) {
            vkt__error(VKT_INVALID_ARGUMENT,
                       "%s: kernel %d, stride %d, padding %d along %s; kernel must be >= 1, "
                       "stride >= 1 (0 for the kernel size) and padding >= 0",
                       op, p->kernel[i], p->stride[i], p->padding[i], axis[i]);
            return false;
        }
        if (p->padding[i] > p->kernel[i] / 2) {
            vkt__error(VKT_INVALID_ARGUMENT,
                       "%s: padding %d along %s is more than half the kernel size %d (torch "
                       "refuses it too: a window could lie entirely in the padding)",
                       op, p->padding[i], axis[i], p->kernel[i]);
            return false;
        }
        if (p->kernel[i] > x->shape[2 + i] + 2 * (int64_t)p->padding[i]) {
            vkt__error(VKT_SHAPE_MISMATCH,
                       "%s: kernel %d along %s is larger than x %s padded by %d: the output would "
                       "be empty",
                       op, p->kernel[i], axis[i], vkt_tensor_describe(x, d, sizeof d),
                       p->padding[i]);
            return false;
        }
    }
    return true;
}

static vkt__pc_pool pool_pc(const vkt_tensor *x, const vkt_tensor *y, const int32_t k[2],
                            const int32_t s[2], const int32_t pad[2], bool exclude)
{
    return (vkt__pc_pool){
        .planes = (uint32_t)(x->shape[0] * x->shape[1]),
        .h = (uint32_t)x->shape[2],
        .w = (uint32_t)x->shape[3],
        .oh = (uint32_t)y->shape[2],
        .ow = (uint32_t)y->shape[3],
        .kh = (uint32_t)k[0],
        .kw = (uint32_t)k[1],
        .sh = (uint32_t)s[0],
        .sw = (uint32_t)s[1],
        .ph = (uint32_t)pad[0],
        .pw = (uint32_t)pad[1],
        .exclude_pad = exclude,
        .accumulate = 1,
    };
}

/* Whether max or avg pooling's windows tile the input (kernel = stride, no padding; small
 * windows only, so that an invocation's loop stays short): each input lies in one window. */
static bool pool_tiled(uint32_t mode, const vkt__pc_pool *pc)
{
    return (mode == POOL_MAX || mode == POOL_AVG) && pc->kh == pc->sh && pc->kw == pc->sw &&
           pc->ph == 0 && pc->pw == 0 && pc->h == pc->oh * pc->kh && pc->w == pc->ow * pc->kw &&
           pc->kh * pc->kw <= 64;
}

/* The forward of `mode` into y (and idx for max pooling): pool2d_tiled.comp, four outputs per
 * invocation, where the windows tile the input and x can be viewed as whole texels (CPU drivers,
 * tested in tests/test_conv.c); pool2d.comp, one output per invocation, otherwise. */
static vkt_status pool_forward(uint32_t mode, const vkt_tensor *x, vkt_tensor *idx, vkt_tensor *y,
                               const vkt__pc_pool *pc)
{
    /* binding 1 is statically written: without an argmax it aliases y */
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_POOL2D,
        .spec = {POOL_WG, mode},
        .spec_count = 2,
        .push = pc,
        .push_size = sizeof *pc,
        .bindings = {vkt__bind(x, VKT__READ), vkt__bind(idx ? idx : y, VKT__WRITE),
                     vkt__bind(y, VKT__WRITE)},
    };
    uint64_t per = 1;
    if (vkt__device_caps(x->dev)->cpu_like && pool_tiled(mode, pc)) {
        d.texels[0] = vkt__texel_or_none(x->dev, d.bindings[0]);
        if (d.texels[0].alloc) {
            d.shader = VKT__SHADER_POOL2D_TILED;
            per = 4; /* y and idx are new tensors: their vec4s are aligned */
        }
    }
    vkt__elementwise_groups(VKT__DIV_UP((uint64_t)y->numel, per), POOL_WG, d.groups);
    return vkt__dispatch(x->dev, &d);
}

/* dx (+)= the gradient of `mode` from dy (and the argmax for max pooling); pc->accumulate. Where
 * the windows tile the input: pool2d_tiled_backward.comp (four elements of dx per invocation)
 * where dy and the argmax can be viewed as whole texels and dx starts on a vec4; else, for max
 * pooling, one invocation per window (POOL_MAX_TILED); otherwise one per element of dx, which
 * searches the windows that hold it. */
static vkt_status pool_backward(uint32_t mode, const vkt_tensor *dy, const vkt_tensor *idx,
                                vkt_tensor *dx, const vkt__pc_pool *pc)
{
    bool tiled = pool_tiled(mode, pc);
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_POOL2D_BACKWARD,
        .spec = {POOL_WG, mode},
        .spec_count = 2,
        .push = pc,
        .push_size = sizeof *pc,
        .bindings = {vkt__bind(dy, VKT__READ), idx ? vkt__bind(idx, VKT__READ) : (vkt__binding){0},
                     vkt__bind(dx, VKT__RW)},
    };
    if (tiled && vkt__device_caps(dx->dev)->cpu_like && d.bindings[2].offset % 16 == 0) {
        vkt__binding dyt = vkt__texel_or_none(dx->dev, d.bindings[0]);
        vkt__binding it = idx ? vkt__texel_or_none(dx->dev, d.bindings[1]) : (vkt__binding){0};
        if (dyt.alloc && (it.alloc || !idx)) { /* avg reads no argmax */
            d.shader = VKT__SHADER_POOL2D_TILED_BACKWARD;
            d.texels[0] = dyt;
            d.texels[1] = it;
            d.texel_ints = 1u << 1;
            vkt__elementwise_groups(VKT__DIV_UP((uint64_t)dx->numel, 4u), POOL_WG, d.groups);
            return vkt__dispatch(dx->dev, &d);
        }
    }
    tiled = tiled && mode == POOL_MAX;
    d.spec[1] = tiled ? POOL_MAX_TILED : mode;
    vkt__elementwise_groups((uint64_t)(tiled ? dy->numel : dx->numel), POOL_WG, d.groups);
    return vkt__dispatch(dx->dev, &d);
}

/* Max and avg pooling: validate, run, record (iparam: kernel, stride, padding, exclude_pad). */
static vkt_tensor *pool_windowed(const char *op, vkt__op code, uint32_t mode, const vkt_tensor *x,
                                 const vkt_pool2d_params *params)
{
    if (!x) {
        return NULL;
    }
    vkt_pool2d_params p = pool_defaults(params);
    if (!pool_validate(op, x, params ? &p : NULL, mode == POOL_MAX)) {
        return NULL;
    }
    int64_t shape[4] = {x->shape[0], x->shape[1],
                        (x->shape[2] + 2 * p.padding[0] - p.kernel[0]) / p.stride[0] + 1,
                        (x->shape[3] + 2 * p.padding[1] - p.kernel[1]) / p.stride[1] + 1};
    vkt_tensor *idx = NULL, *y = vkt__new_output(x->dev, VKT_F32, 4, shape);
    if (!y || (mode == POOL_MAX && !(idx = vkt_tensor_new(x->dev, VKT_I32, 4, shape)))) {
        goto fail;
    }
    vkt__pc_pool pc = pool_pc(x, y, p.kernel, p.stride, p.padding, p.exclude_pad);
    if (pool_forward(mode, x, idx, y, &pc) != VKT_OK) {
        goto fail;
    }
    if (vkt__any_requires_grad(x, NULL, NULL)) {
        vkt__node *n = vkt__record(code, y, x, NULL, NULL);
        if (!n) {
            goto fail;
        }
        n->saved = idx ? vkt__ref(idx) : NULL;
        int *ip = n->iparam;
        ip[P_KH] = p.kernel[0], ip[P_KW] = p.kernel[1];
        ip[P_SH] = p.stride[0], ip[P_SW] = p.stride[1];
        ip[P_PH] = p.padding[0], ip[P_PW] = p.padding[1];
        ip[P_EXCLUDE] = p.exclude_pad;
    }
    vkt_tensor_free(idx); /* the node, if any, holds its own reference */
    return y;

fail:
    vkt__error_context("%s", op);
    vkt_tensor_free(y);
    vkt_tensor_free(idx);
    return NULL;
}

static vkt_status pool_windowed_backward(uint32_t mode, vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    const int *ip = n->iparam;
    vkt__pc_pool pc =
        pool_pc(x, n->out, (int32_t[2]){ip[P_KH], ip[P_KW]}, (int32_t[2]){ip[P_SH], ip[P_SW]},
                (int32_t[2]){ip[P_PH], ip[P_PW]}, ip[P_EXCLUDE] != 0);
    /* every dispatch writes every element of dx: its first writer needs no zero-fill */
    bool accumulate = true;
    vkt_tensor *dx = vkt__grad_first(x, &accumulate);
    if (!dx) {
        return vkt_last_status();
    }
    pc.accumulate = accumulate;
    return pool_backward(mode, gout, n->saved, dx, &pc);
}

vkt_tensor *vkt_max_pool2d(const vkt_tensor *x, const vkt_pool2d_params *p)
{
    return pool_windowed("vkt_max_pool2d", VKT__OP_MAX_POOL2D, POOL_MAX, x, p);
}

vkt_status vkt__max_pool2d_backward(vkt__node *n, const vkt_tensor *gout)
{
    return pool_windowed_backward(POOL_MAX, n, gout);
}

vkt_tensor *vkt_avg_pool2d(const vkt_tensor *x, const vkt_pool2d_params *p)
{
    return pool_windowed("vkt_avg_pool2d", VKT__OP_AVG_POOL2D, POOL_AVG, x, p);
}

vkt_status vkt__avg_pool2d_backward(vkt__node *n, const vkt_tensor *gout)
{
    return pool_windowed_backward(POOL_AVG, n, gout);
}

/* Adaptive pooling and upsampling: y has `shape`; the backward reads the sizes from x and y. */
static vkt_tensor *pool_resize(const char *op, vkt__op code, uint32_t mode, const vkt_tensor *x,
                               const int64_t shape[4], const int32_t scale[2])
{
    static const int32_t zero[2] = {0, 0};
    vkt_tensor *y = vkt__new_output(x->dev, VKT_F32, 4, shape);
    if (!y) {
        goto fail;
    }
    vkt__pc_pool pc = pool_pc(x, y, zero, scale, zero, false);
    if (pool_forward(mode, x, NULL, y, &pc) != VKT_OK) {
        goto fail;
    }
    if (vkt__any_requires_grad(x, NULL, NULL)) {
        vkt__node *n = vkt__record(code, y, x, NULL, NULL);
        if (!n) {
            goto fail;
        }
        n->iparam[P_SH] = scale[0], n->iparam[P_SW] = scale[1];
    }
    return y;

fail:
    vkt__error_context("%s", op);
    vkt_tensor_free(y);
    return NULL;
}

static vkt_status pool_resize_backward(uint32_t mode, vkt__node *n, const vkt_tensor *gout)
{
    static const int32_t zero[2] = {0, 0};
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *dx = vkt__grad_of(x);
    if (!dx) {
        return vkt_last_status();
    }
    vkt__pc_pool pc =
        pool_pc(x, n->out, zero, (int32_t[2]){n->iparam[P_SH], n->iparam[P_SW]}, zero, false);
    return pool_backward(mode, gout, NULL, dx, &pc);
}

/* Iterations one invocation may run, nested loops counted together: lavapipe ends a loop after
 * 65535 (2 x 32767 windows came out short; docs/shaders.md), so keep a margin. */
#define POOL_LOOP_MAX 60000

/* The most input indices one adaptive window holds along an axis of n -> on (the formula of
 * pool2d.glsl: floor(n / on), plus up to 2 when on does not divide n); swapped, the most outputs
 * whose windows hold one input (the backward's loop). */
static int64_t adaptive_span(int64_t n, int64_t on) { return n / on + (n % on ? 2 : 0); }

vkt_tensor *vkt_adaptive_avg_pool2d(const vkt_tensor *x, int64_t oh, int64_t ow)
{
    const char *op = "vkt_adaptive_avg_pool2d";
    if (!x) {
        return NULL;
    }
    if (!pool_check_x(op, x)) {
        return NULL;
    }
    /* the window arithmetic multiplies indices by sizes in 32 bits */
    if (oh < 1 || ow < 1 || oh * x->shape[2] > UINT32_MAX || ow * x->shape[3] > UINT32_MAX) {
        char d[96];
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: output size (%lld, %lld) for x %s; it must be >= 1 and its product with "
                   "the input size below 2^32",
                   op, (long long)oh, (long long)ow, vkt_tensor_describe(x, d, sizeof d));
        return NULL;
    }
    /* the forward walks wy (wx + 1) iterations, the backward cy (cx + 1) */
    int64_t h = x->shape[2], w = x->shape[3];
    int64_t wy = adaptive_span(h, oh), wx = adaptive_span(w, ow);
    int64_t cy = adaptive_span(oh, h), cx = adaptive_span(ow, w);
    if (wy * (wx + 1) > POOL_LOOP_MAX || cy * (cx + 1) > POOL_LOOP_MAX) {
        /* the two passes below walk 1 (wx + 1) and wy (1 + 1), and so for the backward */
        if (VKT__MAX(wx, cx) + 1 > POOL_LOOP_MAX || 2 * VKT__MAX(wy, cy) > POOL_LOOP_MAX) {
            char d[96];
            vkt__error(VKT_INVALID_ARGUMENT,
                       "%s: output size (%lld, %lld) for x %s needs windows of up to %lld x %lld "
                       "inputs (or puts an input in up to %lld x %lld windows); one shader "
                       "invocation walks at most %d (lavapipe ends longer loops): pool in steps",
                       op, (long long)oh, (long long)ow, vkt_tensor_describe(x, d, sizeof d),
                       (long long)wy, (long long)wx, (long long)cy, (long long)cx, POOL_LOOP_MAX);
            return NULL;
        }
        /* separable: the columns' averages (rows untouched: windows of one), then the rows' */
        vkt_tensor *cols = vkt_adaptive_avg_pool2d(x, h, ow);
        vkt_tensor *y = cols ? vkt_adaptive_avg_pool2d(cols, oh, ow) : NULL;
        vkt_tensor_free(cols); /* y's node, if any, holds it */
        return y;
    }
    int64_t shape[4] = {x->shape[0], x->shape[1], oh, ow};
    static const int32_t one[2] = {1, 1};
    return pool_resize(op, VKT__OP_ADAPTIVE_AVG_POOL2D, POOL_ADAPTIVE_AVG, x, shape, one);
}

vkt_status vkt__adaptive_avg_pool2d_backward(vkt__node *n, const vkt_tensor *gout)
{
    return pool_resize_backward(POOL_ADAPTIVE_AVG, n, gout);
}

vkt_tensor *vkt_upsample_nearest2d(const vkt_tensor *x, int32_t scale_h, int32_t scale_w)
{
    const char *op = "vkt_upsample_nearest2d";
    if (!x) {
        return NULL;
    }
    if (!pool_check_x(op, x)) {
        return NULL;
    }
    if (scale_h < 1 || scale_w < 1) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: scale factors (%d, %d) must be >= 1", op, scale_h,
                   scale_w);
        return NULL;
    }
    int64_t shape[4] = {x->shape[0], x->shape[1], x->shape[2] * scale_h, x->shape[3] * scale_w};
    return pool_resize(op, VKT__OP_UPSAMPLE_NEAREST2D, POOL_UPSAMPLE, x, shape,
                       (int32_t[2]){scale_h, scale_w});
}

vkt_status vkt__upsample_nearest2d_backward(vkt__node *n, const vkt_tensor *gout)
{
    return pool_resize_backward(POOL_UPSAMPLE, n, gout);
}
