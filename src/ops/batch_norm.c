/*
 * batch_norm.c — vkt_batch_norm (torch.nn.functional.batch_norm), vkt_batch_norm_relu (the same
 * followed by a ReLU, as one op) and their backward.
 *
 * Shaders: shaders/batch_norm_stats.comp (per-channel statistics, running-stat update),
 * batch_norm_apply.comp, batch_norm_backward_reduce.comp, batch_norm_backward_apply.comp (and
 * the _texel twins of the two apply kernels, one workgroup per (n, c) plane looping over its
 * vec4s, and of the two reductions, reading vec4s, where S % 4 == 0 and vkt__texel_or_none()
 * gives the ranges); the per-channel sums are in batch_norm_reduce.glsl, the affine map in
 * batch_norm_affine.glsl. The ReLU is a specialization (RELU) of the apply, backward reduce and
 * backward apply kernels: the forward clamps y, the backward masks dy by bn(x) > 0, recomputed
 * from x bit for bit, so no pre-ReLU tensor is kept or read. CPU reference: src/ref/ref_norm.c.
 * Checks: src/check/check_norm.c (device vs reference, fused vs unfused, finite differences) and
 * src/check/check_grad.c (batch_norm_relu). Tests: tests/test_norm.c.
 *
 * x (N, C, *) is seen as (N, C, S). Forward: one stats dispatch (training: one workgroup per
 * channel; eval: mean and invstd copied from the running statistics), one apply dispatch. The
 * stats (2C: mean, invstd) are the node's saved tensor, so backward sees the statistics the forward
 * used even if the running statistics change in between. Backward: one reduce dispatch (sum(dy),
 * sum(dy * xhat), which are also dbias and dweight), then, if x wants a gradient, one apply.
 */
#include <math.h>

#include "shaders/batch_norm_ops.h"
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/batch_norm_stats.comp. */
typedef struct vkt__pc_bn_stats {
    uint32_t batch, channels, spatial;
    float eps, momentum;
    uint32_t update_running, has_nbt;
} vkt__pc_bn_stats;
_Static_assert(sizeof(vkt__pc_bn_stats) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/batch_norm_apply.comp. */
typedef struct vkt__pc_bn_apply {
    uint32_t n, channels, spatial, has_weight, has_bias;
} vkt__pc_bn_apply;
_Static_assert(sizeof(vkt__pc_bn_apply) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/batch_norm_backward_reduce.comp. */
typedef struct vkt__pc_bn_backward_reduce {
    uint32_t batch, channels, spatial, want_dweight, want_dbias, has_weight, has_bias;
} vkt__pc_bn_backward_reduce;
_Static_assert(sizeof(vkt__pc_bn_backward_reduce) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/batch_norm_backward_apply.comp. */
typedef struct vkt__pc_bn_backward_apply {
    uint32_t n, channels, spatial;
    float inv_m;
    uint32_t has_weight, accumulate, has_bias;
} vkt__pc_bn_backward_apply;
_Static_assert(sizeof(vkt__pc_bn_backward_apply) <= VKT__PUSH_MAX, "push constants");

#define BN_DEFAULT_MOMENTUM 0.1f
#define BN_DEFAULT_EPS 1e-5f
/* Elementwise workgroup size; per-channel workgroups are sized by bn_reduce_wg. */
#define BN_WG 256u
/* Smallest per-channel workgroup, and the elements per invocation below which it shrinks: a
 * 3-element channel should not keep 256 invocations waiting at every barrier of the tree. */
#define BN_MIN_WG 32u
#define BN_ITEMS 4u

/* x (N, C, *) as (N, C, S). */
typedef struct bn_dims {
    uint32_t n, c, s;
    uint64_t m; /* values per channel: N * S */
} bn_dims;

static bn_dims bn_dims_of(const vkt_tensor *x)
{
    bn_dims d = {(uint32_t)x->shape[0], (uint32_t)x->shape[1], 1, 0};
    for (int i = 2; i < x->ndim; i++) {
        d.s *= (uint32_t)x->shape[i];
    }
    d.m = (uint64_t)d.n * d.s;
    return d;
}

/* The per-channel workgroup: a power of two in [BN_MIN_WG, reduce_wg], the smallest giving each
 * invocation at most BN_ITEMS values. Depends on the shape and the device only. */
static uint32_t bn_reduce_wg(const vkt_device *dev, uint64_t m)
{
    uint32_t wg = vkt__device_caps(dev)->reduce_wg;
    while (wg / 2 >= BN_MIN_WG && (uint64_t)(wg / 2) * BN_ITEMS >= m) {
        wg /= 2;
    }
    return wg;
}

/* The workgroup of the plane kernels (one workgroup per (n, c) plane, looping over its vec4s):
 * one subgroup, at most BN_PLANE_WG_MAX. On lavapipe (8 lanes) 8 or 16 invocations ran the
 * forward on (128, 32, 28, 28) about 5x faster than one vec4 per invocation in workgroups of 256
 * (58 -> 11 ms), 32 and 64 invocations less so. */
#define BN_PLANE_WG_MAX 64u
static uint32_t bn_plane_wg(const vkt_device *dev)
{
    uint32_t sg = vkt_device_get_info(dev)->subgroup_size;
    return sg == 0 ? BN_PLANE_WG_MAX : VKT__MIN(sg, BN_PLANE_WG_MAX);
}

static vkt_batch_norm_params bn_defaults(const vkt_batch_norm_params *p)
{
    vkt_batch_norm_params d = p ? *p : (vkt_batch_norm_params){0};
    d.momentum = VKT__DEF(d.momentum, BN_DEFAULT_MOMENTUM);
    d.eps = VKT__DEF(d.eps, BN_DEFAULT_EPS);
    return d;
}

/* A per-channel tensor (weight, bias, running statistics): NULL or f32 (C) on x's device. */
static bool bn_check_channel(const char *what, const vkt_tensor *t, const vkt_tensor *x)
{
    if (!t) {
        return true;
    }
    if (!vkt__check_same_device("vkt_batch_norm", x, t)) {
        return false;
    }
    if (t->dtype != VKT_F32 || t->ndim != 1 || t->shape[0] != x->shape[1]) {
        char a[96], b[96];
        vkt__error(t->dtype != VKT_F32 ? VKT_DTYPE_MISMATCH : VKT_SHAPE_MISMATCH,
                   "vkt_batch_norm: %s is %s but x %s has %lld channels; it must be [%lld] f32",
                   what, vkt_tensor_describe(t, a, sizeof a), vkt_tensor_describe(x, b, sizeof b),
                   (long long)x->shape[1], (long long)x->shape[1]);
        return false;
    }
    return true;
}

static bool bn_validate(const vkt_tensor *x, const vkt_tensor *weight, const vkt_tensor *bias,
                        const vkt_tensor *rm, const vkt_tensor *rv, const vkt_batch_norm_params *p)
{
    const char *name = "vkt_batch_norm";
    char d[96];
    if (!vkt__check_dtype(name, "x", x, VKT_F32)) {
        return false;
    }
    if (x->ndim < 2) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: x is %s but must be (N, C, ...) with at least 2 "
                   "dimensions",
                   name, vkt_tensor_describe(x, d, sizeof d));
        return false;
    }
    if (!bn_check_channel("weight", weight, x) || !bn_check_channel("bias", bias, x) ||
        !bn_check_channel("running_mean", rm, x) || !bn_check_channel("running_var", rv, x)) {
        return false;
    }
    if (!isfinite(p->momentum) || p->momentum < 0.0f || p->momentum > 1.0f) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: momentum is %g but must be in [0, 1]", name,
                   (double)p->momentum);
        return false;
    }
    if (!isfinite(p->eps) || p->eps < 0.0f) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: eps is %g but must be finite and >= 0", name,
                   (double)p->eps);
        return false;
    }
    const vkt_tensor *nbt = p->num_batches_tracked;
    if (nbt) {
        if (!vkt__check_same_device(name, x, nbt)) {
            return false;
        }
        if (nbt->dtype != VKT_I32 || nbt->numel != 1) {
            vkt__error(nbt->dtype != VKT_I32 ? VKT_DTYPE_MISMATCH : VKT_SHAPE_MISMATCH,
                       "%s: num_batches_tracked is %s but must be one i32 element", name,
                       vkt_tensor_describe(nbt, d, sizeof d));
            return false;
        }
    }
    if ((rm == NULL) != (rv == NULL)) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: running_mean is %s but running_var is %s; give both "
                   "or neither",
                   name, rm ? "given" : "NULL", rv ? "given" : "NULL");
        return false;
    }
    if (!p->training && !rm) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: eval mode (training = false) normalises with the "
                   "running statistics, but running_mean and running_var "
                   "are NULL",
                   name);
        return false;
    }
    if (p->training && bn_dims_of(x).m <= 1) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: expected more than 1 value per channel when training, got x %s (as "
                   "torch, which raises the same: a one-value batch has no variance)",
                   name, vkt_tensor_describe(x, d, sizeof d));
        return false;
    }
    return true;
}

/* stats (2C) from x (training) or from the running statistics (eval). */
static vkt_status bn_stats(const vkt_tensor *x, vkt_tensor *stats, vkt_tensor *rm, vkt_tensor *rv,
                           const vkt_batch_norm_params *p)
{
    bn_dims dm = bn_dims_of(x);
    vkt_tensor *nbt = p->training ? p->num_batches_tracked : NULL;
    vkt__pc_bn_stats pc = {
        .batch = dm.n,
        .channels = dm.c,
        .spatial = dm.s,
        .eps = p->eps,
        .momentum = p->momentum,
        .update_running = p->training && rm,
        .has_nbt = nbt != NULL,
    };
    uint32_t wg = p->training ? bn_reduce_wg(x->dev, dm.m) : BN_WG;
    /* Bindings 2-4 are statically written by the shader: absent ones alias the stats output. */
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_BATCH_NORM_STATS,
        .spec = {wg, p->training ? BN_STATS_BATCH : BN_STATS_RUNNING},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(x, VKT__READ),
                vkt__bind(stats, VKT__WRITE),
                vkt__bind(rm ? rm : stats, VKT__RW),
                vkt__bind(rv ? rv : stats, VKT__RW),
                vkt__bind(nbt ? nbt : stats, VKT__RW),
            },
    };
    if (p->training) {
        d.texels[0] = dm.s % 4 == 0 ? vkt__texel_or_none(x->dev, d.bindings[0]) : (vkt__binding){0};
        d.shader = d.texels[0].alloc ? VKT__SHADER_BATCH_NORM_STATS_TEXEL : d.shader;
        d.spec_count = d.texels[0].alloc ? 1 : 2;
        vkt__groups_2d(dm.c, d.groups);
    } else {
        vkt__elementwise_groups(dm.c, wg, d.groups);
    }
    return vkt__dispatch(x->dev, &d);
}

/* y = bn(x), or max(bn(x), 0) with relu. One workgroup per (n, c) plane, x read as texels, vec4
 * stores, where S % 4 == 0 and the ranges allow (shaders/batch_norm_apply_texel.comp). */
static vkt_status bn_apply(const vkt_tensor *x, const vkt_tensor *stats, const vkt_tensor *weight,
                           const vkt_tensor *bias, vkt_tensor *y, bool relu)
{
    bn_dims dm = bn_dims_of(x);
    vkt__pc_bn_apply pc = {(uint32_t)x->numel, dm.c, dm.s, weight != NULL, bias != NULL};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_BATCH_NORM_APPLY,
        .spec = {BN_WG, relu},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(x, VKT__READ),
                vkt__bind(stats, VKT__READ),
                weight ? vkt__bind(weight, VKT__READ) : (vkt__binding){0},
                bias ? vkt__bind(bias, VKT__READ) : (vkt__binding){0},
                vkt__bind(y, VKT__WRITE),
            },
    };
    d.texels[0] = vkt__texel_or_none(x->dev, d.bindings[0]);
    bool vec4 = dm.s % 4 == 0 && d.texels[0].alloc && d.bindings[4].offset % 16 == 0;
    if (vec4) {
        d.shader = VKT__SHADER_BATCH_NORM_APPLY_TEXEL;
        d.spec[0] = bn_plane_wg(x->dev);
        vkt__groups_2d((uint64_t)dm.n * dm.c, d.groups);
    } else {
        d.texels[0] = (vkt__binding){0};
        vkt__elementwise_groups((uint64_t)x->numel, BN_WG, d.groups);
    }
    return vkt__dispatch(x->dev, &d);
}

/* vkt_batch_norm, followed by a ReLU with relu (vkt_batch_norm_relu). */
static vkt_tensor *bn_forward(const vkt_tensor *x, const vkt_tensor *weight, const vkt_tensor *bias,
                              vkt_tensor *running_mean, vkt_tensor *running_var,
                              const vkt_batch_norm_params *params, bool relu)
{
    if (!x) {
        return NULL;
    }
    vkt_batch_norm_params p = bn_defaults(params);
    if (!bn_validate(x, weight, bias, running_mean, running_var, &p)) {
        return NULL;
    }
    int64_t sshape[1] = {2 * x->shape[1]};
    vkt_tensor *stats = vkt_tensor_new(x->dev, VKT_F32, 1, sshape);
    vkt_tensor *y = stats ? vkt__new_output(x->dev, VKT_F32, x->ndim, x->shape) : NULL;
    if (!y) {
        goto fail;
    }
    if (bn_stats(x, stats, running_mean, running_var, &p) != VKT_OK ||
        bn_apply(x, stats, weight, bias, y, relu) != VKT_OK) {
        goto fail;
    }
    if (vkt__any_requires_grad(x, weight, bias)) {
        vkt__node *n =
            vkt__record(relu ? VKT__OP_BATCH_NORM_RELU : VKT__OP_BATCH_NORM, y, x, weight, bias);
        if (!n) {
            goto fail;
        }
        n->saved = vkt__ref(stats);
        n->iparam[0] = p.training;
    }
    vkt_tensor_free(stats); /* the node, if any, holds its own reference */
    return y;

fail:
    vkt__error_context(relu ? "vkt_batch_norm_relu" : "vkt_batch_norm");
    vkt_tensor_free(y);
    vkt_tensor_free(stats);
    return NULL;
}

vkt_tensor *vkt_batch_norm(const vkt_tensor *x, const vkt_tensor *weight, const vkt_tensor *bias,
                           vkt_tensor *running_mean, vkt_tensor *running_var,
                           const vkt_batch_norm_params *params)
{
    return bn_forward(x, weight, bias, running_mean, running_var, params, false);
}

vkt_tensor *vkt_batch_norm_relu(const vkt_tensor *x, const vkt_tensor *weight,
                                const vkt_tensor *bias, vkt_tensor *running_mean,
                                vkt_tensor *running_var, const vkt_batch_norm_params *params)
{
    return bn_forward(x, weight, bias, running_mean, running_var, params, true);
}

/* The forward's inputs and saved values as its backward sees them. */
typedef struct bn_saved {
    const vkt_tensor *x, *weight, *bias, *stats;
    bool relu; /* dy is masked by the forward's bn(x) > 0 first (vkt_batch_norm_relu) */
} bn_saved;

/* sums (2C) = sum(dy), sum(dy * xhat) per channel; dweight / dbias (may be NULL) += them. */
static vkt_status bn_backward_reduce(const bn_saved *f, const vkt_tensor *dy, vkt_tensor *sums,
                                     vkt_tensor *dweight, vkt_tensor *dbias)
{
    const vkt_tensor *x = f->x;
    bn_dims dm = bn_dims_of(x);
    vkt__pc_bn_backward_reduce pc = {
        dm.n, dm.c, dm.s, dweight != NULL, dbias != NULL, f->weight != NULL, f->bias != NULL,
    };
    /* Bindings 4 and 5 are statically written by the shader: absent ones alias sums. */
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_BATCH_NORM_BACKWARD_REDUCE,
        .spec = {bn_reduce_wg(x->dev, dm.m), f->relu},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(x, VKT__READ),
                vkt__bind(dy, VKT__READ),
                vkt__bind(f->stats, VKT__READ),
                vkt__bind(sums, VKT__WRITE),
                vkt__bind(dweight ? dweight : sums, VKT__RW),
                vkt__bind(dbias ? dbias : sums, VKT__RW),
                f->relu && f->weight ? vkt__bind(f->weight, VKT__READ) : (vkt__binding){0},
                f->relu && f->bias ? vkt__bind(f->bias, VKT__READ) : (vkt__binding){0},
            },
    };
    d.texels[0] = dm.s % 4 == 0 ? vkt__texel_or_none(x->dev, d.bindings[0]) : (vkt__binding){0};
    d.texels[1] = vkt__texel_or_none(x->dev, d.bindings[1]);
    if (d.texels[0].alloc && d.texels[1].alloc) {
        d.shader = VKT__SHADER_BATCH_NORM_BACKWARD_REDUCE_TEXEL;
    } else {
        d.texels[0] = d.texels[1] = (vkt__binding){0};
    }
    vkt__groups_2d(dm.c, d.groups);
    return vkt__dispatch(x->dev, &d);
}

/* dx (+)= the input gradient; sums is NULL in eval mode. One workgroup per (n, c) plane, x and dy
 * read as texels, where S % 4 == 0 and the ranges allow
 * (shaders/batch_norm_backward_apply_texel.comp). */
static vkt_status bn_backward_apply(const bn_saved *f, const vkt_tensor *dy, const vkt_tensor *sums,
                                    vkt_tensor *dx, bool accumulate)
{
    const vkt_tensor *x = f->x, *weight = f->weight;
    bn_dims dm = bn_dims_of(x);
    vkt__pc_bn_backward_apply pc = {
        .n = (uint32_t)x->numel,
        .channels = dm.c,
        .spatial = dm.s,
        .inv_m = (float)(1.0 / (double)dm.m),
        .has_weight = weight != NULL,
        .accumulate = accumulate,
        .has_bias = f->bias != NULL,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_BATCH_NORM_BACKWARD_APPLY,
        .spec = {BN_WG, sums ? BN_BACKWARD_TRAIN : BN_BACKWARD_EVAL, f->relu},
        .spec_count = 3,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(x, VKT__READ),
                vkt__bind(dy, VKT__READ),
                vkt__bind(f->stats, VKT__READ),
                sums ? vkt__bind(sums, VKT__READ) : (vkt__binding){0},
                weight ? vkt__bind(weight, VKT__READ) : (vkt__binding){0},
                vkt__bind(dx, VKT__RW),
                f->relu && f->bias ? vkt__bind(f->bias, VKT__READ) : (vkt__binding){0},
            },
    };
    d.texels[0] = vkt__texel_or_none(x->dev, d.bindings[0]);
    d.texels[1] = vkt__texel_or_none(x->dev, d.bindings[1]);
    bool vec4 =
        dm.s % 4 == 0 && d.texels[0].alloc && d.texels[1].alloc && d.bindings[5].offset % 16 == 0;
    if (vec4) {
        d.shader = VKT__SHADER_BATCH_NORM_BACKWARD_APPLY_TEXEL;
        d.spec[0] = bn_plane_wg(x->dev);
        vkt__groups_2d((uint64_t)dm.n * dm.c, d.groups);
    } else {
        d.texels[0] = d.texels[1] = (vkt__binding){0};
        vkt__elementwise_groups((uint64_t)x->numel, BN_WG, d.groups);
    }
    return vkt__dispatch(x->dev, &d);
}

/* The backward of both ops: vkt_batch_norm's, and with relu vkt_batch_norm_relu's. */
static vkt_status bn_backward(vkt__node *n, const vkt_tensor *gout, bool relu)
{
    vkt_tensor *x = n->in[0], *weight = n->in[1], *bias = n->in[2];
    const bn_saved f = {x, weight, bias, n->saved, relu};
    bool training = n->iparam[0] != 0;
    bool want_x = vkt__wants_grad(x);
    vkt_tensor *dweight = NULL, *dbias = NULL, *dx = NULL, *sums = NULL;
    bool dx_acc = true;
    vkt_status s = VKT_OK;
    if ((vkt__wants_grad(weight) && !(dweight = vkt__grad_of(weight))) ||
        (vkt__wants_grad(bias) && !(dbias = vkt__grad_of(bias))) ||
        (want_x && !(dx = vkt__grad_first(x, &dx_acc)))) {
        return vkt_last_status();
    }
    /* The sums are needed for dweight, dbias, and for dx in training mode. */
    if (dweight || dbias || (dx && training)) {
        int64_t sshape[1] = {2 * x->shape[1]};
        sums = vkt_tensor_new(x->dev, VKT_F32, 1, sshape);
        if (!sums) {
            return vkt_last_status();
        }
        s = bn_backward_reduce(&f, gout, sums, dweight, dbias);
    }
    if (s == VKT_OK && dx) {
        s = bn_backward_apply(&f, gout, training ? sums : NULL, dx, dx_acc);
    }
    vkt_tensor_free(sums); /* released once the work reading it has finished */
    return s;
}

vkt_status vkt__batch_norm_backward(vkt__node *n, const vkt_tensor *gout)
{
    return bn_backward(n, gout, false);
}

vkt_status vkt__batch_norm_relu_backward(vkt__node *n, const vkt_tensor *gout)
{
    return bn_backward(n, gout, true);
}
