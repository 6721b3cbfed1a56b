/*
 * reduce_dim.c — reductions along dimensions: sum_dim, sum_dims, mean_dim, max_dim, min_dim,
 * argmax_dim, argmin_dim, var_dim, std_dim (dispatch and backward), and the
 * kernels they share with softmax.c (vkt__reduce_axis, vkt__axis_pointwise).
 *
 * Shaders: shaders/reduce_axis.comp, shaders/axis_pointwise.comp; the row reductions of
 * shaders/reduce.glsl through vkt__reduce_rows (src/ops/reduce.c). Reference: src/ref/ref_shape.c.
 * Checks: src/check/check_shape.c. Tests: tests/test_shape.c. Design: docs/reductions.md.
 *
 * A reduction over one dimension views x as (outer, len, inner). With inner == 1 the reduced
 * elements are contiguous and the multi-level row reductions run as they are. Otherwise there are
 * two ways: reduce_axis.comp, one invocation per output walking the dimension with stride inner
 * (no copy, neighbouring invocations read neighbouring words, but only outer * inner invocations,
 * each serial over len), or permuting the dimension last (one strided copy of x) and running the
 * row reductions, which split long rows over many workgroups.
 * Measured on lavapipe (2 shared cores, sum over dim 1 of (outer, len, inner), ms per call,
 * strided vs permute + rows): 1x30000x3 0.34 vs 2.9; 1x10000x30 0.60 vs 8.9; 1x1000x300 0.98 vs
 * 9.6; 1x30x10000 0.64 vs 8.7; 30x1000x30 1.7 vs 30; 1x30000x64 4.0 vs 67; 1x1000x1000 1.8 vs 80.
 * On a CPU device the strided kernel wins everywhere, even with 3 outputs: the copy is a full
 * extra pass with integer divisions per element, and a CPU runs few invocations at once anyway.
 * So a cpu_like device always takes it (up to AXIS_MAX_LEN). A GPU needs thousands of
 * invocations in flight: with fewer than AXIS_MIN_OUTPUTS_GPU outputs a serial walk leaves it
 * idle, so it permutes and splits the rows over workgroups instead. That threshold is not
 * measured (no GPU was available); bench it on one.
 * Either way every output's elements combine in a fixed order: deterministic, no atomics.
 */
#include <string.h>

#include "ops/reduce_dim.h"
#include "ops/shape_internal.h"

/* Mirrors `PC` in shaders/reduce_axis.comp. */
typedef struct vkt__pc_reduce_axis {
    uint32_t outer;
    uint32_t len;
    uint32_t inner;
    uint32_t negate;
    float div;
    uint32_t write_value;
} vkt__pc_reduce_axis;
_Static_assert(sizeof(vkt__pc_reduce_axis) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/axis_pointwise.comp. */
typedef struct vkt__pc_axis_pointwise {
    uint32_t n;
    uint32_t len;
    uint32_t inner;
    float alpha;
    uint32_t accumulate;
} vkt__pc_axis_pointwise;
_Static_assert(sizeof(vkt__pc_axis_pointwise) <= VKT__PUSH_MAX, "push constants");

#define RA_WG 64u
#define AX_WG 256u
/* A GPU takes the strided kernel from this many outputs on (see the header). */
#define AXIS_MIN_OUTPUTS_GPU 4096
/* Longer dimensions are never walked by one invocation: lavapipe ends a shader loop after 65535
 * iterations (shaders/reduce_axis.comp), and so long a serial walk is slow anywhere. */
#define AXIS_MAX_LEN 32768

static int axis_path_override = -1;

void vkt__reduce_axis_force(int path) { axis_path_override = path; }

void vkt__axis_split(const vkt_tensor *x, int dim, int64_t *outer, int64_t *len, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < dim; d++) {
        *outer *= x->shape[d];
    }
    for (int d = dim + 1; d < x->ndim; d++) {
        *inner *= x->shape[d];
    }
    *len = x->shape[dim];
}

static vkt_status strided_kernel(const vkt_tensor *x, int64_t outer, int64_t len, int64_t inner,
                                 bool arg, bool negate, float div, vkt_tensor *out_val,
                                 vkt_tensor *out_idx)
{
    vkt__pc_reduce_axis pc = {
        .outer = (uint32_t)outer,
        .len = (uint32_t)len,
        .inner = (uint32_t)inner,
        .negate = negate,
        .div = div,
        .write_value = out_val != NULL,
    };
    /* the shader statically writes both outputs: an unused one aliases the other */
    vkt_tensor *o0 = out_val ? out_val : out_idx, *o1 = arg && out_idx ? out_idx : o0;
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_REDUCE_AXIS,
        .spec = {RA_WG, arg ? RA_ARGMAX : RA_SUM},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(x, VKT__READ), vkt__bind(o0, VKT__WRITE),
                     vkt__bind(o1, VKT__WRITE)},
    };
    vkt__groups_2d(VKT__DIV_UP((uint64_t)outer * inner, RA_WG), d.groups);
    return vkt__dispatch(x->dev, &d);
}

vkt_status vkt__reduce_axis(const vkt_tensor *x, int64_t outer, int64_t len, int64_t inner,
                            bool arg, bool negate, float div, vkt_tensor *out_val,
                            vkt_tensor *out_idx)
{
    if (inner == 1) {
        return vkt__reduce_rows(x, (uint32_t)outer, (uint32_t)len, arg, negate, div, out_val,
                                out_idx);
    }
    int64_t outputs = outer * inner;
    bool strided = len <= AXIS_MAX_LEN &&
                   (axis_path_override >= 0
                        ? axis_path_override == 1
                        : vkt__device_caps(x->dev)->cpu_like || outputs >= AXIS_MIN_OUTPUTS_GPU);
    if (strided) {
        return strided_kernel(x, outer, len, inner, arg, negate, div, out_val, out_idx);
    }
    /* (outer, len, inner) -> (outer, inner, len), then rows of len */
    vkt_tensor *t = vkt_tensor_new(x->dev, VKT_F32, 1, &x->numel);
    if (!t) {
        return vkt_last_status();
    }
    vkt__strided m = {
        .ndim = 3,
        .size = {outer, inner, len},
        .is = {len * inner, 1, inner},
        .os = {inner * len, len, 1},
    };
    vkt_status s = vkt__strided_copy(x, t, &m, false);
    if (s == VKT_OK) {
        s = vkt__reduce_rows(t, (uint32_t)outputs, (uint32_t)len, arg, negate, div, out_val,
                             out_idx);
    }
    vkt_tensor_free(t);
    return s;
}

vkt_status vkt__axis_pointwise(uint32_t op, const vkt_tensor *x, const vkt_tensor *y,
                               const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *out,
                               int64_t len, int64_t inner, float alpha, bool accumulate)
{
    vkt__pc_axis_pointwise pc = {
        .n = (uint32_t)out->numel,
        .len = (uint32_t)len,
        .inner = (uint32_t)inner,
        .alpha = alpha,
        .accumulate = accumulate,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_AXIS_POINTWISE,
        .spec = {AX_WG, op},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                x ? vkt__bind(x, VKT__READ) : (vkt__binding){0},
                y ? vkt__bind(y, VKT__READ) : (vkt__binding){0},
                a ? vkt__bind(a, VKT__READ) : (vkt__binding){0},
                b ? vkt__bind(b, VKT__READ) : (vkt__binding){0},
                vkt__bind(out, accumulate ? VKT__RW : VKT__WRITE),
            },
    };
    vkt__elementwise_groups((uint64_t)out->numel, AX_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}

/* ---- multi-dimension sums -------------------------------------------------------------------- */

/* out = sum of x over the dimensions in mask, divided by div, in the order of the kept
 * dimensions. Runs of adjacent kept / reduced dimensions are merged first: [K, R] is a row
 * reduction, [R, K] and [K, R, K] one reduce_axis, anything else a permute (kept dimensions
 * first) and then a row reduction. */
static vkt_status sum_mask(const vkt_tensor *x, uint32_t mask, float div, vkt_tensor *out)
{
    int64_t size[VKT_MAX_DIMS] = {0};
    bool red[VKT_MAX_DIMS] = {0};
    int runs = 0;
    for (int d = 0; d < x->ndim; d++) {
        bool r = (mask >> d) & 1u;
        if (x->shape[d] == 1 && runs > 0) {
            r = red[runs - 1]; /* a size-1 dimension joins either neighbour */
        }
        if (runs > 0 && red[runs - 1] == r) {
            size[runs - 1] *= x->shape[d];
        } else {
            size[runs] = x->shape[d];
            red[runs] = r;
            runs++;
        }
    }
    int64_t kept = 1, reduced = 1;
    for (int k = 0; k < runs; k++) {
        *(red[k] ? &reduced : &kept) *= size[k];
    }
    if (runs == 1 && !red[0]) { /* nothing reduced (only size-1 dimensions) */
        vkt__strided m = {.ndim = 1, .size = {x->numel}, .is = {1}, .os = {1}};
        return div == 1.0f ? vkt__strided_copy(x, out, &m, false)
                           : vkt__axis_pointwise(AX_BCAST, NULL, NULL, x, NULL, out, 1, 1,
                                                 1.0f / div, false);
    }
    if (runs == 1 || (runs == 2 && !red[0])) {
        return vkt__reduce_rows(x, (uint32_t)kept, (uint32_t)reduced, false, false, div, out,
                                NULL);
    }
    if (runs == 2 || (runs == 3 && !red[0])) {
        int64_t outer = red[0] ? 1 : size[0], inner = size[runs - 1];
        return vkt__reduce_axis(x, outer, reduced, inner, false, false, div, out, NULL);
    }
    /* permute: kept dimensions first (in order), then the reduced ones */
    int64_t xs[VKT_MAX_DIMS];
    vkt__contiguous_strides(runs, size, xs);
    vkt__strided m = {.ndim = runs};
    int at = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < runs; k++) {
            if (red[k] == (pass == 1)) {
                m.size[at] = size[k];
                m.is[at] = xs[k];
                at++;
            }
        }
    }
    vkt__contiguous_strides(runs, m.size, m.os);
    vkt_tensor *t = vkt_tensor_new(x->dev, VKT_F32, 1, &x->numel);
    if (!t) {
        return vkt_last_status();
    }
    vkt_status s = vkt__strided_copy(x, t, &m, false);
    if (s == VKT_OK) {
        s = vkt__reduce_rows(t, (uint32_t)kept, (uint32_t)reduced, false, false, div, out, NULL);
    }
    vkt_tensor_free(t);
    return s;
}

/* ---- the ops --------------------------------------------------------------------------------- */

/* The output shape of a reduction over mask. */
static int reduced_shape(const vkt_tensor *x, uint32_t mask, bool keepdim, int64_t *shape)
{
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!((mask >> d) & 1u)) {
            shape[n++] = x->shape[d];
        } else if (keepdim) {
            shape[n++] = 1;
        }
    }
    if (n == 0) {
        shape[n++] = 1; /* no 0-d tensors: a full reduction is [1] */
    }
    return n;
}

static bool check_x(const char *name, const vkt_tensor *x, int dim, int *d)
{
    return vkt__check_dtype(name, "x", x, VKT_F32) && vkt__norm_dim(name, x, dim, x->ndim, d);
}

static vkt_tensor *new_reduced(const vkt_tensor *x, uint32_t mask, bool keepdim, vkt_dtype t)
{
    int64_t shape[VKT_MAX_DIMS];
    int n = reduced_shape(x, mask, keepdim, shape);
    return vkt__new_output(x->dev, t, n, shape);
}

static vkt_tensor *record_or_free(vkt_tensor *out, vkt__op op, const vkt_tensor *x,
                                  vkt_tensor *saved, int dim, uint32_t mask, float f)
{
    if (out && x->requires_grad) {
        vkt__node *n = vkt__record(op, out, x, NULL, NULL);
        if (!n) {
            vkt_tensor_free(out);
            return NULL;
        }
        n->saved = vkt__ref(saved);
        n->iparam[0] = dim;
        n->iparam[1] = (int)mask;
        n->fparam[0] = f;
    }
    return out;
}

static vkt_tensor *fail(const char *name, vkt_tensor *out)
{
    vkt__error_context("%s", name);
    vkt_tensor_free(out);
    return NULL;
}

static vkt_tensor *sum_dims_impl(const char *name, const vkt_tensor *x, uint32_t mask,
                                 bool keepdim)
{
    vkt_tensor *out = new_reduced(x, mask, keepdim, VKT_F32);
    if (!out) {
        return NULL;
    }
    if (sum_mask(x, mask, 1.0f, out) != VKT_OK) {
        return fail(name, out);
    }
    return record_or_free(out, VKT__OP_SUM_DIMS, x, NULL, 0, mask, 1.0f);
}

vkt_tensor *vkt_sum_dim(const vkt_tensor *x, int dim, bool keepdim)
{
    int d;
    if (!x || !check_x("vkt_sum_dim", x, dim, &d)) {
        return NULL;
    }
    return sum_dims_impl("vkt_sum_dim", x, 1u << d, keepdim);
}

vkt_tensor *vkt_sum_dims(const vkt_tensor *x, uint32_t mask, bool keepdim)
{
    const char *name = "vkt_sum_dims";
    if (!x || !vkt__check_dtype(name, "x", x, VKT_F32)) {
        return NULL;
    }
    if (mask == 0 || (mask >> x->ndim) != 0) {
        char b[128];
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: mask 0x%x names no dimension or one past the last of x %s", name, mask,
                   vkt_tensor_describe(x, b, sizeof b));
        return NULL;
    }
    return sum_dims_impl(name, x, mask, keepdim);
}

vkt_status vkt__sum_dims_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    /* dx += gout broadcast back: gout laid out as the keepdim shape, stride 0 where reduced */
    uint32_t mask = (uint32_t)n->iparam[1];
    int64_t keep[VKT_MAX_DIMS];
    reduced_shape(x, mask, true, keep);
    vkt__strided m = {.ndim = x->ndim};
    memcpy(m.size, x->shape, sizeof m.size);
    vkt__contiguous_strides(x->ndim, keep, m.is);
    for (int d = 0; d < x->ndim; d++) {
        if ((mask >> d) & 1u) {
            m.is[d] = 0;
        }
    }
    vkt__contiguous_strides(x->ndim, x->shape, m.os);
    return vkt__strided_copy(gout, g, &m, true);
}

vkt_tensor *vkt_mean_dim(const vkt_tensor *x, int dim, bool keepdim)
{
    const char *name = "vkt_mean_dim";
    int d;
    if (!x || !check_x(name, x, dim, &d)) {
        return NULL;
    }
    vkt_tensor *out = new_reduced(x, 1u << d, keepdim, VKT_F32);
    if (!out) {
        return NULL;
    }
    int64_t outer, len, inner;
    vkt__axis_split(x, d, &outer, &len, &inner);
    if (vkt__reduce_axis(x, outer, len, inner, false, false, (float)len, out, NULL) != VKT_OK) {
        return fail(name, out);
    }
    return record_or_free(out, VKT__OP_MEAN_DIM, x, NULL, d, 0, 0.0f);
}

vkt_status vkt__mean_dim_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    int64_t outer, len, inner;
    vkt__axis_split(x, n->iparam[0], &outer, &len, &inner);
    return vkt__axis_pointwise(AX_BCAST, NULL, NULL, gout, NULL, g, len, inner,
                               1.0f / (float)len, true);
}

/* max / min (values, recorded) and argmax / argmin (indices, not recorded) */
static vkt_tensor *extreme_dim(const char *name, const vkt_tensor *x, int dim, bool keepdim,
                               bool negate, bool indices)
{
    int d;
    if (!x || !check_x(name, x, dim, &d)) {
        return NULL;
    }
    vkt_tensor *out = new_reduced(x, 1u << d, keepdim, indices ? VKT_I32 : VKT_F32);
    vkt_tensor *idx = indices ? out : (out ? new_reduced(x, 1u << d, true, VKT_I32) : NULL);
    if (!out || !idx) {
        vkt_tensor_free(out);
        return NULL;
    }
    int64_t outer, len, inner;
    vkt__axis_split(x, d, &outer, &len, &inner);
    vkt_tensor *res = NULL;
    if (vkt__reduce_axis(x, outer, len, inner, true, negate, 1.0f, indices ? NULL : out, idx) !=
        VKT_OK) {
        vkt__error_context("%s", name);
        vkt_tensor_free(out);
    } else {
        res = indices ? out : record_or_free(out, VKT__OP_MAX_DIM, x, idx, d, 0, 0.0f);
    }
    if (!indices) {
        vkt_tensor_free(idx); /* the node holds its own reference */
    }
    return res;
}

vkt_tensor *vkt_max_dim(const vkt_tensor *x, int dim, bool keepdim)
{
    return extreme_dim("vkt_max_dim", x, dim, keepdim, false, false);
}

vkt_tensor *vkt_min_dim(const vkt_tensor *x, int dim, bool keepdim)
{
    return extreme_dim("vkt_min_dim", x, dim, keepdim, true, false);
}

vkt_tensor *vkt_argmax_dim(const vkt_tensor *x, int dim, bool keepdim)
{
    return extreme_dim("vkt_argmax_dim", x, dim, keepdim, false, true);
}

vkt_tensor *vkt_argmin_dim(const vkt_tensor *x, int dim, bool keepdim)
{
    return extreme_dim("vkt_argmin_dim", x, dim, keepdim, true, true);
}

vkt_status vkt__max_dim_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    int64_t outer, len, inner;
    vkt__axis_split(x, n->iparam[0], &outer, &len, &inner);
    return vkt__axis_pointwise(AX_SCATTER, NULL, NULL, gout, n->saved, g, len, inner, 1.0f,
                               true);
}

/* var (std = false) or std: N - correction clamped at 0, as torch */
static vkt_tensor *var_impl(const char *name, const vkt_tensor *x, int dim, bool keepdim,
                            float correction, bool std)
{
    int d;
    if (!x || !check_x(name, x, dim, &d)) {
        return NULL;
    }
    int64_t outer, len, inner;
    vkt__axis_split(x, d, &outer, &len, &inner);
    int64_t nr = outer * inner;
    float div = (float)len - correction;
    div = div > 0.0f ? div : 0.0f;
    vkt_tensor *out = new_reduced(x, 1u << d, keepdim, VKT_F32);
    vkt_tensor *mean = vkt_tensor_new(x->dev, VKT_F32, 1, &nr);
    vkt_tensor *sq = vkt_tensor_new(x->dev, VKT_F32, 1, &x->numel);
    vkt_tensor *var = std ? vkt_tensor_new(x->dev, VKT_F32, 1, &nr) : out;
    vkt_tensor *res = NULL;
    if (!out || !mean || !sq || !var) {
        goto done;
    }
    if (vkt__reduce_axis(x, outer, len, inner, false, false, (float)len, mean, NULL) != VKT_OK ||
        vkt__axis_pointwise(AX_CENTER_SQ, x, NULL, mean, NULL, sq, len, inner, 0.0f,
                            false) != VKT_OK ||
        vkt__reduce_axis(sq, outer, len, inner, false, false, div, var, NULL) != VKT_OK ||
        (std && vkt__axis_pointwise(AX_SQRT, var, NULL, NULL, NULL, out, 1, 1, 0.0f,
                                    false) != VKT_OK)) {
        vkt__error_context("%s", name);
        goto done;
    }
    res = record_or_free(out, std ? VKT__OP_STD_DIM : VKT__OP_VAR_DIM, x, mean, d, 0, div);
    out = NULL;
done:
    if (std) {
        vkt_tensor_free(var);
    }
    vkt_tensor_free(out);
    vkt_tensor_free(sq);
    vkt_tensor_free(mean); /* the node holds its own reference */
    return res;
}

vkt_tensor *vkt_var_dim(const vkt_tensor *x, int dim, bool keepdim, float correction)
{
    return var_impl("vkt_var_dim", x, dim, keepdim, correction, false);
}

vkt_tensor *vkt_std_dim(const vkt_tensor *x, int dim, bool keepdim, float correction)
{
    return var_impl("vkt_std_dim", x, dim, keepdim, correction, true);
}

vkt_status vkt__var_dim_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    /* d var / d x_j = 2 (x_j - mean) / (N - correction) */
    int64_t outer, len, inner;
    vkt__axis_split(x, n->iparam[0], &outer, &len, &inner);
    return vkt__axis_pointwise(AX_VAR_BACKWARD, x, NULL, gout, n->saved, g, len, inner,
                               2.0f / n->fparam[0], true);
}

vkt_status vkt__std_dim_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    /* d std / d x_j = (x_j - mean) / ((N - correction) std) */
    int64_t outer, len, inner;
    vkt__axis_split(x, n->iparam[0], &outer, &len, &inner);
    int64_t nr = outer * inner;
    vkt_tensor *gs = vkt_tensor_new(x->dev, VKT_F32, 1, &nr);
    if (!gs) {
        return vkt_last_status();
    }
    vkt_status s = vkt__axis_pointwise(AX_DIV, gout, NULL, n->out, NULL, gs, 1, 1, 0.0f,
                                       false);
    if (s == VKT_OK) {
        s = vkt__axis_pointwise(AX_VAR_BACKWARD, x, NULL, gs, n->saved, g, len, inner,
                                1.0f / n->fparam[0], true);
    }
    vkt_tensor_free(gs);
    return s;
}
