/*
 * layer_norm.c — vkt_layer_norm (torch.nn.functional.layer_norm over the last dimension) and
 * vkt_rms_norm (RMSNorm), with their backwards.
 *
 * Shaders: shaders/layer_norm.comp (forward), layer_norm_backward.comp (dx), and their
 * invocation-per-row twins layer_norm_rows.comp, layer_norm_rows_backward.comp (CPU-type devices,
 * short rows: ln_invocation_rows), layer_norm_param_grad.comp (dweight, dbias); codes in shaders/layer_norm_ops.h; the compensated
 * sums and the fixed workgroup tree are batch_norm_reduce.glsl's. CPU reference:
 * src/ref/ref_norm.c. Checks: src/check/check_norm.c (device vs reference), the layer_norm* /
 * rms_norm* cases of src/check/check_grad.c (finite differences). Tests: tests/test_norm.c.
 *
 * x (any shape, f32) is seen as (R, C), C its last dimension. As in llm.c's layernorm_forward /
 * layernorm_backward: the forward is one dispatch, one workgroup per row, writing y and the
 * per-row stats (mean and rstd; RMS: rstd), which are the node's saved tensor; the backward reuses
 * them: one dispatch for dx (one workgroup per row, both row means in one sweep), and the weight
 * and bias gradients as column sums over the rows, chunk by chunk into partials and then the
 * partials' sums (layer_norm_param_grad.comp), never atomics. Every order depends on the shape
 * and device only, so results are bitwise reproducible and do not depend on the subgroup size.
 */
#include <math.h>

#include "shaders/layer_norm_ops.h"
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/layer_norm.comp and shaders/layer_norm_backward.comp. */
typedef struct vkt__pc_ln_rows {
    uint32_t rows, cols;
    float eps;
    uint32_t has_weight, has_bias;
} vkt__pc_ln_rows;
_Static_assert(sizeof(vkt__pc_ln_rows) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/layer_norm_param_grad.comp. */
typedef struct vkt__pc_ln_param_grad {
    uint32_t rows, cols, stat_rows, chunk, chunks, want_w, want_b, accumulate;
} vkt__pc_ln_param_grad;
_Static_assert(sizeof(vkt__pc_ln_param_grad) <= VKT__PUSH_MAX, "push constants");

#define LN_DEFAULT_EPS 1e-5f
#define RMS_DEFAULT_EPS 1e-6f
/* Smallest row workgroup: a row of 3 should not keep 256 invocations waiting at every barrier. */
#define LN_MIN_WG 32u
#define LN_CPU_ITEMS 64u
/* Loop trips per pass the row kernels may take: with 3 passes and the trees' few trips this stays
 * under lavapipe's 65535 per shader, which counts every loop of an invocation together. */
#define LN_MAX_TRIPS 16384u
/* Column partials: rows per invocation at the first level (several chunks per column keep a GPU
 * busy at C = 768) and at the levels over partials (few rows each). */
#define LN_PG_WG 64u
#define LN_PG_CHUNK 256u
#define LN_PG_PARTIAL_CHUNK 1024u

/* x as (rows, cols). */
typedef struct ln_dims {
    uint32_t rows, cols;
} ln_dims;

static ln_dims ln_dims_of(const vkt_tensor *x)
{
    uint32_t cols = (uint32_t)x->shape[x->ndim - 1];
    return (ln_dims){(uint32_t)(x->numel / cols), cols};
}

/* The row workgroup: a power of two in [LN_MIN_WG, reduce_wg], the smallest that gives each
 * invocation at most LN_UNROLL columns (one loop trip) on a GPU, LN_CPU_ITEMS on a CPU-like
 * device, where every barrier of a large workgroup switches between its SIMD slices (lavapipe,
 * (8192, 768): forward ~4x faster at 32 invocations x 24 columns than at 256 x 3). Depends on the
 * shape and the device only. */
static uint32_t ln_row_wg(const vkt_device *dev, uint32_t cols)
{
    const vkt__caps *caps = vkt__device_caps(dev);
    uint32_t wg = caps->reduce_wg, items = caps->cpu_like ? LN_CPU_ITEMS : LN_UNROLL;
    while (wg / 2 >= LN_MIN_WG && (uint64_t)(wg / 2) * items >= cols) {
        wg /= 2;
    }
    return wg;
}

/* Workgroup of the invocation-per-row kernels. */
#define LN_ROWS_WG 64u

/* One invocation per row (layer_norm_rows*.comp) on CPU-type devices for rows of at most
 * LN_ROWS_MAX_COLS: lavapipe, (1024, 128) (vkt train --model gpt's rows), runs the workgroup
 * kernels' forward at about 6 ms and the invocation kernels' well under 1 ms. */
static bool ln_invocation_rows(const vkt_device *dev, uint32_t cols)
{
    return vkt__device_caps(dev)->cpu_like && cols <= LN_ROWS_MAX_COLS;
}

static uint64_t ln_max_cols(const vkt_device *dev)
{
    return (uint64_t)LN_MAX_TRIPS * LN_UNROLL * vkt__device_caps(dev)->reduce_wg;
}

/* weight / bias: NULL or f32 (C) on x's device. */
static bool ln_check_affine(const char *fn, const char *what, const vkt_tensor *t,
                            const vkt_tensor *x)
{
    if (!t) {
        return true;
    }
    if (!vkt__check_same_device(fn, x, t)) {
        return false;
    }
    int64_t c = x->shape[x->ndim - 1];
    if (t->dtype != VKT_F32 || t->ndim != 1 || t->shape[0] != c) {
        char a[96], b[96];
        vkt__error(t->dtype != VKT_F32 ? VKT_DTYPE_MISMATCH : VKT_SHAPE_MISMATCH,
                   "%s: %s is %s but x %s has %lld elements in its last dimension; it must be "
                   "[%lld] f32",
                   fn, what, vkt_tensor_describe(t, a, sizeof a),
                   vkt_tensor_describe(x, b, sizeof b), (long long)c, (long long)c);
        return false;
    }
    return true;
}

static bool ln_validate(const char *fn, const vkt_tensor *x, const vkt_tensor *weight,
                        const vkt_tensor *bias, float eps)
{
    if (!vkt__check_dtype(fn, "x", x, VKT_F32) || !ln_check_affine(fn, "weight", weight, x) ||
        !ln_check_affine(fn, "bias", bias, x)) {
        return false;
    }
    if (!isfinite(eps) || eps < 0.0f) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: eps is %g but must be finite and >= 0", fn,
                   (double)eps);
        return false;
    }
    uint64_t cols = (uint64_t)x->shape[x->ndim - 1], max = ln_max_cols(x->dev);
    if (cols > max) {
        char d[96];
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: x is %s; rows of more than %llu elements are not supported (one "
                   "workgroup per row, within lavapipe's 65535 loop trips per shader)",
                   fn, vkt_tensor_describe(x, d, sizeof d), (unsigned long long)max);
        return false;
    }
    return true;
}

static vkt_status ln_forward_dispatch(const vkt_tensor *x, const vkt_tensor *weight,
                                      const vkt_tensor *bias, float eps, uint32_t mode,
                                      vkt_tensor *y, vkt_tensor *stats)
{
    ln_dims dm = ln_dims_of(x);
    vkt__pc_ln_rows pc = {dm.rows, dm.cols, eps, weight != NULL, bias != NULL};
    bool inv = ln_invocation_rows(x->dev, dm.cols);
    vkt__dispatch_desc d = {
        .shader = inv ? VKT__SHADER_LAYER_NORM_ROWS : VKT__SHADER_LAYER_NORM,
        .spec = {inv ? LN_ROWS_WG : ln_row_wg(x->dev, dm.cols), mode},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(x, VKT__READ),
                weight ? vkt__bind(weight, VKT__READ) : (vkt__binding){0},
                bias ? vkt__bind(bias, VKT__READ) : (vkt__binding){0},
                vkt__bind(y, VKT__WRITE),
                vkt__bind(stats, VKT__WRITE),
            },
    };
    vkt__groups_2d(inv ? VKT__DIV_UP(dm.rows, LN_ROWS_WG) : dm.rows, d.groups);
    return vkt__dispatch(x->dev, &d);
}

/* The shared forward of both ops; `fn` names the op in errors. */
static vkt_tensor *ln_forward(const char *fn, vkt__op op, uint32_t mode, const vkt_tensor *x,
                              const vkt_tensor *weight, const vkt_tensor *bias, float eps)
{
    if (!x) {
        return NULL;
    }
    if (!ln_validate(fn, x, weight, bias, eps)) {
        return NULL;
    }
    eps = VKT__DEF(eps, mode == LN_RMS ? RMS_DEFAULT_EPS : LN_DEFAULT_EPS);
    ln_dims dm = ln_dims_of(x);
    int64_t sshape[1] = {(mode == LN_LAYER ? 2 : 1) * (int64_t)dm.rows};
    vkt_tensor *stats = vkt_tensor_new(x->dev, VKT_F32, 1, sshape);
    vkt_tensor *y = stats ? vkt__new_output(x->dev, VKT_F32, x->ndim, x->shape) : NULL;
    if (!y || ln_forward_dispatch(x, weight, bias, eps, mode, y, stats) != VKT_OK) {
        goto fail;
    }
    if (vkt__any_requires_grad(x, weight, bias)) {
        vkt__node *n = vkt__record(op, y, x, weight, bias);
        if (!n) {
            goto fail;
        }
        n->saved = vkt__ref(stats);
        n->iparam[0] = (int)mode;
    }
    vkt_tensor_free(stats); /* the node, if any, holds its own reference */
    return y;

fail:
    vkt__error_context("%s", fn);
    vkt_tensor_free(y);
    vkt_tensor_free(stats);
    return NULL;
}

vkt_tensor *vkt_layer_norm(const vkt_tensor *x, const vkt_tensor *weight, const vkt_tensor *bias,
                           float eps)
{
    return ln_forward("vkt_layer_norm", VKT__OP_LAYER_NORM, LN_LAYER, x, weight, bias, eps);
}

vkt_tensor *vkt_rms_norm(const vkt_tensor *x, const vkt_tensor *weight, float eps)
{
    return ln_forward("vkt_rms_norm", VKT__OP_RMS_NORM, LN_RMS, x, weight, NULL, eps);
}

/* dx += the input gradient. */
static vkt_status ln_backward_dx(const vkt_tensor *x, const vkt_tensor *dy,
                                 const vkt_tensor *weight, const vkt_tensor *stats, uint32_t mode,
                                 vkt_tensor *dx)
{
    ln_dims dm = ln_dims_of(x);
    vkt__pc_ln_rows pc = {dm.rows, dm.cols, 0.0f, weight != NULL, 0};
    bool inv = ln_invocation_rows(x->dev, dm.cols);
    vkt__dispatch_desc d = {
        .shader = inv ? VKT__SHADER_LAYER_NORM_ROWS_BACKWARD : VKT__SHADER_LAYER_NORM_BACKWARD,
        .spec = {inv ? LN_ROWS_WG : ln_row_wg(x->dev, dm.cols), mode},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(x, VKT__READ),
                vkt__bind(dy, VKT__READ),
                weight ? vkt__bind(weight, VKT__READ) : (vkt__binding){0},
                vkt__bind(stats, VKT__READ),
                vkt__bind(dx, VKT__RW),
            },
    };
    vkt__groups_2d(inv ? VKT__DIV_UP(dm.rows, LN_ROWS_WG) : dm.rows, d.groups);
    return vkt__dispatch(x->dev, &d);
}

/* One level of the column sums: in0/in1 (rows, cols) -> out_w / out_b (chunks, cols); a NULL
 * output is not wanted (its binding aliases the other one, and a missing input likewise). */
static vkt_status ln_param_grad_pass(uint32_t level, uint32_t mode, const vkt_tensor *in0,
                                     const vkt_tensor *in1, const vkt_tensor *stats, uint32_t rows,
                                     uint32_t cols, uint32_t stat_rows, uint32_t chunk,
                                     vkt_tensor *out_w, vkt_tensor *out_b, bool accumulate)
{
    uint32_t chunks = (rows + chunk - 1) / chunk;
    vkt__pc_ln_param_grad pc = {rows,   cols,          stat_rows,     chunk,
                                chunks, out_w != NULL, out_b != NULL, accumulate};
    const vkt_tensor *a = in0 ? in0 : in1, *b = in1 ? in1 : in0;
    vkt_tensor *ow = out_w ? out_w : out_b, *ob = out_b ? out_b : out_w;
    uint32_t access = accumulate ? VKT__RW : VKT__WRITE;
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_LAYER_NORM_PARAM_GRAD,
        .spec = {LN_PG_WG, mode, level},
        .spec_count = 3,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(a, VKT__READ),
                vkt__bind(b, VKT__READ),
                vkt__bind(stats, VKT__READ),
                vkt__bind(ow, access),
                vkt__bind(ob, access),
            },
    };
    vkt__elementwise_groups((uint64_t)chunks * cols, LN_PG_WG, d.groups);
    return vkt__dispatch(ow->dev, &d);
}

/* dweight += sum over rows of dy * xhat, dbias += sum of dy (either may be NULL): the first level
 * from the rows, then levels over the partials until one row is left. */
static vkt_status ln_param_grad(const vkt_tensor *x, const vkt_tensor *dy, const vkt_tensor *stats,
                                uint32_t mode, vkt_tensor *dweight, vkt_tensor *dbias)
{
    ln_dims dm = ln_dims_of(x);
    uint32_t level = LN_PG_FROM_ROWS, rows = dm.rows, chunk = LN_PG_CHUNK;
    const vkt_tensor *in0 = x, *in1 = dy;
    vkt_tensor *held[2] = {NULL, NULL}; /* this level's inputs when they are partials */
    vkt_status s = VKT_OK;
    while (s == VKT_OK) {
        uint32_t chunks = (rows + chunk - 1) / chunk;
        if (chunks == 1) {
            s = ln_param_grad_pass(level, mode, in0, in1, stats, rows, dm.cols, dm.rows, chunk,
                                   dweight, dbias, true);
            break;
        }
        vkt_tensor *pw = dweight ? vkt_tensor_new_2d(x->dev, VKT_F32, chunks, dm.cols) : NULL;
        vkt_tensor *pb = dbias ? vkt_tensor_new_2d(x->dev, VKT_F32, chunks, dm.cols) : NULL;
        if ((dweight && !pw) || (dbias && !pb)) {
            s = vkt_last_status();
        } else {
            s = ln_param_grad_pass(level, mode, in0, in1, stats, rows, dm.cols, dm.rows, chunk, pw,
                                   pb, false);
        }
        /* freed tensors return to the allocator once the work reading them has finished */
        vkt_tensor_free(held[0]);
        vkt_tensor_free(held[1]);
        held[0] = pw;
        held[1] = pb;
        in0 = pw;
        in1 = pb;
        level = LN_PG_FROM_PARTIALS;
        rows = chunks;
        chunk = LN_PG_PARTIAL_CHUNK;
    }
    vkt_tensor_free(held[0]);
    vkt_tensor_free(held[1]);
    return s;
}

static vkt_status ln_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0], *weight = n->in[1], *bias = n->in[2], *stats = n->saved;
    uint32_t mode = (uint32_t)n->iparam[0];
    vkt_tensor *dx = NULL, *dweight = NULL, *dbias = NULL;
    if ((vkt__wants_grad(x) && !(dx = vkt__grad_of(x))) ||
        (vkt__wants_grad(weight) && !(dweight = vkt__grad_of(weight))) ||
        (vkt__wants_grad(bias) && !(dbias = vkt__grad_of(bias)))) {
        return vkt_last_status();
    }
    vkt_status s = VKT_OK;
    if (dx) {
        s = ln_backward_dx(x, gout, weight, stats, mode, dx);
    }
    if (s == VKT_OK && (dweight || dbias)) {
        s = ln_param_grad(x, gout, stats, mode, dweight, dbias);
    }
    return s;
}

vkt_status vkt__layer_norm_backward(vkt__node *n, const vkt_tensor *gout)
{
    return ln_backward(n, gout);
}

vkt_status vkt__rms_norm_backward(vkt__node *n, const vkt_tensor *gout)
{
    return ln_backward(n, gout);
}
