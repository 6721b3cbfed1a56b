/*
 * shape.c — the shape ops: reshape, flatten, vkt__range_view (views), permute, transpose, narrow,
 * slice, cat, stack, pad, expand (copies) and their backward; vkt_concat (vkt_cat along dimension
 * 0, not recorded) and vkt_cast (shaders/cast.comp).
 *
 * Every copy is a vkt__strided_copy (src/ops/copy.c, shaders/strided_copy.comp) described by an
 * iteration shape and a stride map into the input and the output; the backward of each op is the
 * same map with the roles swapped, accumulating into the input's gradient, except expand's (a
 * broadcast: its backward sums over the expanded dimensions, vkt__sum_to_shape). vkt_cat records
 * one tape node per part, all with the same output.
 *
 * References: vkt__ref_strided_copy and the per-op maps in src/ref/ref_shape.c; vkt__ref_cast
 * (src/ref/ref_elementwise.c). Checks: src/check/check_shape.c (cast and concat:
 * src/check/check_elementwise.c). Tests: tests/test_shape.c. Design: docs/shape.md.
 */
#include <string.h>

#include "ops/broadcast.h"
#include "ops/reduce_dim.h"
#include "ops/shape_internal.h"
#include "shaders/cast_ops.h"

typedef struct vkt__pc_cast {
    uint32_t n;
} vkt__pc_cast;
_Static_assert(sizeof(vkt__pc_cast) <= VKT__PUSH_MAX, "push constants");

#define CAST_WG 256u

vkt_tensor *vkt_cast(const vkt_tensor *x, vkt_dtype dtype)
{
    if (!x) {
        return NULL;
    }
    dtype = dtype == VKT_DTYPE_DEFAULT ? VKT_F32 : dtype;
    vkt_tensor *out = vkt__new_output(x->dev, dtype, x->ndim, x->shape);
    if (!out) {
        return NULL;
    }
    vkt_status s;
    if (dtype == x->dtype) {
        s = vkt_copy(out, x);
    } else {
        vkt__pc_cast pc = {(uint32_t)x->numel};
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_CAST,
            .spec = {CAST_WG, dtype == VKT_F32 ? CAST_I32_TO_F32 : CAST_F32_TO_I32},
            .spec_count = 2,
            .push = &pc,
            .push_size = sizeof pc,
            .bindings = {vkt__bind(x, VKT__READ), vkt__bind(out, VKT__WRITE)},
        };
        vkt__elementwise_groups((uint64_t)x->numel, CAST_WG, d.groups);
        s = vkt__dispatch(x->dev, &d);
    }
    if (s != VKT_OK) {
        vkt_tensor_free(out);
        return NULL;
    }
    return out;
}

/* ---- helpers --------------------------------------------------------------------------------- */

/* Only f32 tensors carry gradients. */
static bool wants_record(const vkt_tensor *x) { return x->dtype == VKT_F32 && x->requires_grad; }

static const char *desc(const vkt_tensor *t, char *buf, size_t size)
{
    return vkt_tensor_describe(t, buf, size);
}

/* "[3, 4]" */
static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t size)
{
    size_t at = (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && at < size; i++) {
        at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? ", " : "", (long long)shape[i]);
    }
    if (at < size) {
        snprintf(buf + at, size - at, "]");
    }
    return buf;
}

/* Makes out, runs the forward map, records the node (op NONE: not recorded). */
static vkt_tensor *map_forward(const vkt_tensor *x, int ndim, const int64_t *shape,
                               const vkt__strided *m, vkt__op op, vkt__node **node)
{
    vkt_tensor *out = vkt__new_output(x->dev, x->dtype, ndim, shape);
    if (!out) {
        return NULL;
    }
    if (vkt__strided_copy(x, out, m, false) != VKT_OK) {
        vkt_tensor_free(out);
        return NULL;
    }
    *node = NULL;
    if (op != VKT__OP_NONE && wants_record(x)) {
        *node = vkt__record(op, out, x, NULL, NULL);
        if (!*node) {
            vkt_tensor_free(out);
            return NULL;
        }
    }
    return out;
}

/* ---- reshape, flatten ------------------------------------------------------------------------ */

static vkt_tensor *view_of(const char *name, const vkt_tensor *x, int ndim, const int64_t *shape)
{
    vkt_tensor *out = vkt_tensor_view((vkt_tensor *)x, 0, ndim, shape);
    if (!out) {
        vkt__error_context("%s", name);
        return NULL;
    }
    if (wants_record(x) && !vkt__record(VKT__OP_RESHAPE, out, x, NULL, NULL)) {
        vkt_tensor_free(out);
        return NULL;
    }
    return out;
}

vkt_tensor *vkt_reshape(const vkt_tensor *x, int ndim, const int64_t *shape)
{
    if (!x) {
        return NULL;
    }
    char a[128], b[128];
    if (ndim < 1 || ndim > VKT_MAX_DIMS || !shape) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_reshape: ndim must be 1..%d, got %d", VKT_MAX_DIMS,
                   ndim);
        return NULL;
    }
    int64_t s[VKT_MAX_DIMS], known = 1;
    int infer = -1;
    for (int d = 0; d < ndim; d++) {
        s[d] = shape[d];
        if (shape[d] == -1 && infer < 0) {
            infer = d;
        } else if (shape[d] < 1) {
            vkt__error(VKT_INVALID_ARGUMENT,
                       "vkt_reshape: shape %s for x %s: dimension %d is %lld (sizes are >= 1, "
                       "one may be -1)",
                       shape_str(ndim, shape, a, sizeof a), desc(x, b, sizeof b), d,
                       (long long)shape[d]);
            return NULL;
        } else {
            known *= shape[d];
        }
    }
    if (infer >= 0 && x->numel % known == 0) {
        s[infer] = x->numel / known;
        known *= s[infer];
    }
    if (known != x->numel) {
        vkt__error(VKT_SHAPE_MISMATCH, "vkt_reshape: shape %s is invalid for x %s (%lld elements)",
                   shape_str(ndim, shape, a, sizeof a), desc(x, b, sizeof b),
                   (long long)x->numel);
        return NULL;
    }
    return view_of("vkt_reshape", x, ndim, s);
}

vkt_tensor *vkt_flatten(const vkt_tensor *x, int start_dim, int end_dim)
{
    int s0, s1;
    if (!x || !vkt__norm_dim("vkt_flatten", x, start_dim, x->ndim, &s0) ||
        !vkt__norm_dim("vkt_flatten", x, end_dim, x->ndim, &s1)) {
        return NULL;
    }
    if (s0 > s1) {
        char b[128];
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_flatten: start_dim %d comes after end_dim %d for x %s",
                   start_dim, end_dim, desc(x, b, sizeof b));
        return NULL;
    }
    int64_t s[VKT_MAX_DIMS];
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d <= s0 || d > s1) {
            s[n++] = x->shape[d];
        } else {
            s[n - 1] *= x->shape[d];
        }
    }
    return view_of("vkt_flatten", x, n, s);
}

/* The copy writes all of x's gradient: its first writer copies (vkt__grad_first). */
vkt_status vkt__reshape_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    bool accumulate;
    vkt_tensor *g = vkt__grad_first(x, &accumulate);
    if (!g) {
        return vkt_last_status();
    }
    vkt__strided m = {.ndim = 1, .size = {x->numel}, .is = {1}, .os = {1}};
    return vkt__strided_copy(gout, g, &m, accumulate);
}

/* ---- range views ----------------------------------------------------------------------------- */

vkt_tensor *vkt__range_view(const vkt_tensor *x, int64_t offset, int ndim, const int64_t *shape)
{
    if (!x) {
        return NULL;
    }
    int64_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        numel *= shape[d];
    }
    uint32_t align = vkt_device_get_info(x->dev)->min_storage_buffer_offset_alignment;
    uint64_t bytes = x->offset + (uint64_t)offset * vkt__dtype_size(x->dtype);
    vkt_tensor *out = NULL;
    if (align <= 1 || bytes % align == 0) {
        out = vkt_tensor_view((vkt_tensor *)x, offset, ndim, shape);
    } else {
        /* a binding must start at a multiple of the alignment: copy the range instead */
        vkt__strided m = {.ndim = 1, .size = {numel}, .is = {1}, .os = {1}, .i_off = offset};
        out = vkt__new_output(x->dev, x->dtype, ndim, shape);
        if (out && vkt__strided_copy(x, out, &m, false) != VKT_OK) {
            vkt_tensor_free(out);
            out = NULL;
        }
    }
    if (out && wants_record(x)) {
        vkt__node *n = vkt__record(VKT__OP_RANGE_VIEW, out, x, NULL, NULL);
        if (n) {
            n->lparam[0] = offset;
        } else {
            vkt_tensor_free(out);
            out = NULL;
        }
    }
    if (!out) {
        vkt__error_context("vkt__range_view");
    }
    return out;
}

vkt_status vkt__range_view_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    vkt__strided m = {
        .ndim = 1, .size = {gout->numel}, .is = {1}, .os = {1}, .o_off = n->lparam[0]};
    return vkt__strided_copy(gout, g, &m, true);
}

/* ---- permute, transpose ---------------------------------------------------------------------- */

static vkt__strided permute_map(const vkt_tensor *x, const int64_t *perm)
{
    vkt__strided m = {.ndim = x->ndim};
    int64_t xs[VKT_MAX_DIMS];
    vkt__contiguous_strides(x->ndim, x->shape, xs);
    for (int d = 0; d < x->ndim; d++) {
        m.size[d] = x->shape[perm[d]];
        m.is[d] = xs[perm[d]];
    }
    vkt__contiguous_strides(m.ndim, m.size, m.os);
    return m;
}

static vkt_tensor *permute_impl(const char *name, const vkt_tensor *x, const int64_t *perm)
{
    vkt__strided m = permute_map(x, perm);
    vkt__node *n;
    vkt_tensor *out = map_forward(x, m.ndim, m.size, &m, VKT__OP_PERMUTE, &n);
    if (!out) {
        vkt__error_context("%s", name);
        return NULL;
    }
    if (n) {
        memcpy(n->lparam, perm, (size_t)x->ndim * sizeof *perm);
    }
    return out;
}

vkt_tensor *vkt_permute(const vkt_tensor *x, const int *dims)
{
    if (!x) {
        return NULL;
    }
    if (!dims) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_permute: dims is NULL");
        return NULL;
    }
    int64_t perm[VKT_MAX_DIMS];
    bool seen[VKT_MAX_DIMS] = {0};
    for (int d = 0; d < x->ndim; d++) {
        int p;
        if (!vkt__norm_dim("vkt_permute", x, dims[d], x->ndim, &p)) {
            return NULL;
        }
        if (seen[p]) {
            char b[128];
            vkt__error(VKT_INVALID_ARGUMENT,
                       "vkt_permute: dims repeats dimension %d; it must be a permutation of "
                       "0..%d for x %s",
                       p, x->ndim - 1, desc(x, b, sizeof b));
            return NULL;
        }
        seen[p] = true;
        perm[d] = p;
    }
    return permute_impl("vkt_permute", x, perm);
}

vkt_tensor *vkt_transpose(const vkt_tensor *x, int d0, int d1)
{
    int a, b;
    if (!x || !vkt__norm_dim("vkt_transpose", x, d0, x->ndim, &a) ||
        !vkt__norm_dim("vkt_transpose", x, d1, x->ndim, &b)) {
        return NULL;
    }
    int64_t perm[VKT_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        perm[d] = d;
    }
    perm[a] = b;
    perm[b] = a;
    return permute_impl("vkt_transpose", x, perm);
}

/* A permutation writes all of x's gradient: its first writer copies (vkt__grad_first). */
vkt_status vkt__permute_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    bool accumulate;
    vkt_tensor *g = vkt__grad_first(x, &accumulate);
    if (!g) {
        return vkt_last_status();
    }
    vkt__strided m = permute_map(x, n->lparam);
    return vkt__strided_copy_back(gout, g, &m, accumulate);
}

/* ---- narrow, slice --------------------------------------------------------------------------- */

static vkt__strided slice_map(const vkt_tensor *x, const vkt_tensor *out, int dim, int64_t start,
                              int64_t step)
{
    vkt__strided m = {.ndim = x->ndim};
    memcpy(m.size, out->shape, sizeof m.size);
    vkt__contiguous_strides(x->ndim, x->shape, m.is);
    m.i_off = start * m.is[dim];
    m.is[dim] *= step;
    vkt__contiguous_strides(out->ndim, out->shape, m.os);
    return m;
}

static vkt_tensor *slice_impl(const vkt_tensor *x, int dim, int64_t start, int64_t len,
                              int64_t step)
{
    int64_t shape[VKT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = len;
    vkt_tensor tmp = {.ndim = x->ndim};
    memcpy(tmp.shape, shape, sizeof shape);
    vkt__strided m = slice_map(x, &tmp, dim, start, step);
    vkt__node *n;
    vkt_tensor *out = map_forward(x, x->ndim, shape, &m, VKT__OP_SLICE, &n);
    if (out && n) {
        n->iparam[0] = dim;
        n->lparam[0] = start;
        n->lparam[1] = step;
    }
    return out;
}

vkt_tensor *vkt_narrow(const vkt_tensor *x, int dim, int64_t start, int64_t length)
{
    int d;
    if (!x || !vkt__norm_dim("vkt_narrow", x, dim, x->ndim, &d)) {
        return NULL;
    }
    int64_t size = x->shape[d];
    int64_t s = start < 0 ? start + size : start;
    if (s < 0 || s > size || length < 1 || length > size - s) {
        char b[128];
        vkt__error(VKT_INVALID_ARGUMENT,
                   "vkt_narrow: start %lld, length %lld do not fit dimension %d (size %lld) of "
                   "x %s",
                   (long long)start, (long long)length, d, (long long)size, desc(x, b, sizeof b));
        return NULL;
    }
    vkt_tensor *out = slice_impl(x, d, s, length, 1);
    if (!out) {
        vkt__error_context("vkt_narrow");
    }
    return out;
}

vkt_tensor *vkt_slice(const vkt_tensor *x, int dim, int64_t start, int64_t end, int64_t step)
{
    int d;
    if (!x || !vkt__norm_dim("vkt_slice", x, dim, x->ndim, &d)) {
        return NULL;
    }
    char b[128];
    if (step < 1) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_slice: step is %lld for x %s; it must be >= 1",
                   (long long)step, desc(x, b, sizeof b));
        return NULL;
    }
    int64_t size = x->shape[d];
    /* Python's slice rules: negatives count from the end, then clamp to [0, size] */
    int64_t s = start < 0 ? start + size : start, e = end < 0 ? end + size : end;
    s = s < 0 ? 0 : (s > size ? size : s);
    e = e < 0 ? 0 : (e > size ? size : e);
    int64_t len = e > s ? (e - s + step - 1) / step : 0;
    if (len == 0) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "vkt_slice: %lld:%lld:%lld of dimension %d (size %lld) of x %s is empty",
                   (long long)start, (long long)end, (long long)step, d, (long long)size,
                   desc(x, b, sizeof b));
        return NULL;
    }
    vkt_tensor *out = slice_impl(x, d, s, len, step);
    if (!out) {
        vkt__error_context("vkt_slice");
    }
    return out;
}

vkt_status vkt__slice_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    vkt__strided m = slice_map(x, n->out, n->iparam[0], n->lparam[0], n->lparam[1]);
    return vkt__strided_copy_back(gout, g, &m, true);
}

/* ---- cat, stack, concat ---------------------------------------------------------------------- */

/* Part p placed at `at` along dim of out (cat), or as index `at` of a new dim (stack). */
static vkt__strided part_map(const vkt_tensor *p, const vkt_tensor *out, int dim, int64_t at,
                             bool stack)
{
    vkt__strided m = {.ndim = p->ndim};
    memcpy(m.size, p->shape, sizeof m.size);
    vkt__contiguous_strides(p->ndim, p->shape, m.is);
    int64_t os[VKT_MAX_DIMS];
    vkt__contiguous_strides(out->ndim, out->shape, os);
    for (int d = 0, k = 0; d < out->ndim; d++) {
        if (!(stack && d == dim)) {
            m.os[k++] = os[d];
        }
    }
    m.o_off = at * os[dim];
    return m;
}

static bool check_parts(const char *name, const vkt_tensor *const *parts, uint32_t n)
{
    if (!parts || n == 0) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: no tensors given", name);
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!parts[i]) {
            return false;
        }
    }
    return true;
}

static vkt_tensor *cat_impl(const char *name, const vkt_tensor *const *parts, uint32_t n, int dim,
                            bool record)
{
    if (!check_parts(name, parts, n)) {
        return NULL;
    }
    const vkt_tensor *p0 = parts[0];
    int d;
    if (!vkt__norm_dim(name, p0, dim, p0->ndim, &d)) {
        return NULL;
    }
    int64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        const vkt_tensor *p = parts[i];
        bool ok = p->dev == p0->dev && p->dtype == p0->dtype && p->ndim == p0->ndim;
        for (int k = 0; ok && k < p->ndim; k++) {
            ok = k == d || p->shape[k] == p0->shape[k];
        }
        if (!ok) {
            char a[128], b[128];
            vkt__error(VKT_SHAPE_MISMATCH,
                       "%s: part %u is %s but part 0 is %s; all parts need the same device, "
                       "dtype, ndim and sizes except in dimension %d",
                       name, i, desc(p, a, sizeof a), desc(p0, b, sizeof b), d);
            return NULL;
        }
        total += p->shape[d];
    }
    int64_t shape[VKT_MAX_DIMS];
    memcpy(shape, p0->shape, sizeof shape);
    shape[d] = total;
    vkt_tensor *out = vkt__new_output(p0->dev, p0->dtype, p0->ndim, shape);
    if (!out) {
        return NULL;
    }
    int64_t at = 0;
    for (uint32_t i = 0; i < n; i++) {
        vkt__strided m = part_map(parts[i], out, d, at, false);
        if (vkt__strided_copy(parts[i], out, &m, false) != VKT_OK) {
            goto fail;
        }
        if (record && wants_record(parts[i])) {
            vkt__node *node = vkt__record(VKT__OP_CAT, out, parts[i], NULL, NULL);
            if (!node) {
                goto fail;
            }
            node->iparam[0] = d;
            node->lparam[0] = at;
        }
        at += parts[i]->shape[d];
    }
    return out;
fail:
    vkt__error_context("%s", name);
    vkt_tensor_free(out);
    return NULL;
}

vkt_tensor *vkt_cat(const vkt_tensor *const *parts, uint32_t n, int dim)
{
    return cat_impl("vkt_cat", parts, n, dim, true);
}

vkt_tensor *vkt_concat(const vkt_tensor *const *parts, uint32_t n)
{
    return cat_impl("vkt_concat", parts, n, 0, false);
}

vkt_tensor *vkt_stack(const vkt_tensor *const *parts, uint32_t n, int dim)
{
    const char *name = "vkt_stack";
    if (!check_parts(name, parts, n)) {
        return NULL;
    }
    const vkt_tensor *p0 = parts[0];
    char a[128], b[128];
    if (p0->ndim >= VKT_MAX_DIMS) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: parts are %s; stacking would exceed %d dimensions",
                   name, desc(p0, a, sizeof a), VKT_MAX_DIMS);
        return NULL;
    }
    int d;
    if (!vkt__norm_dim(name, p0, dim, p0->ndim + 1, &d)) {
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        const vkt_tensor *p = parts[i];
        bool ok = p->dev == p0->dev && p->dtype == p0->dtype && p->ndim == p0->ndim;
        for (int k = 0; ok && k < p->ndim; k++) {
            ok = p->shape[k] == p0->shape[k];
        }
        if (!ok) {
            vkt__error(VKT_SHAPE_MISMATCH,
                       "%s: part %u is %s but part 0 is %s; all parts need the same device, "
                       "dtype and shape",
                       name, i, desc(p, a, sizeof a), desc(p0, b, sizeof b));
            return NULL;
        }
    }
    int64_t shape[VKT_MAX_DIMS];
    for (int k = 0, j = 0; k <= p0->ndim; k++) {
        shape[k] = k == d ? (int64_t)n : p0->shape[j++];
    }
    vkt_tensor *out = vkt__new_output(p0->dev, p0->dtype, p0->ndim + 1, shape);
    if (!out) {
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        vkt__strided m = part_map(parts[i], out, d, i, true);
        if (vkt__strided_copy(parts[i], out, &m, false) != VKT_OK) {
            goto fail;
        }
        if (wants_record(parts[i])) {
            vkt__node *node = vkt__record(VKT__OP_STACK, out, parts[i], NULL, NULL);
            if (!node) {
                goto fail;
            }
            node->iparam[0] = d;
            node->lparam[0] = i;
        }
    }
    return out;
fail:
    vkt__error_context("%s", name);
    vkt_tensor_free(out);
    return NULL;
}

static vkt_status part_backward(vkt__node *n, const vkt_tensor *gout, bool stack)
{
    vkt_tensor *p = n->in[0];
    if (!vkt__wants_grad(p)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(p);
    if (!g) {
        return vkt_last_status();
    }
    vkt__strided m = part_map(p, n->out, n->iparam[0], n->lparam[0], stack);
    return vkt__strided_copy_back(gout, g, &m, true);
}

vkt_status vkt__cat_backward(vkt__node *n, const vkt_tensor *gout)
{
    return part_backward(n, gout, false);
}

vkt_status vkt__stack_backward(vkt__node *n, const vkt_tensor *gout)
{
    return part_backward(n, gout, true);
}

/* ---- pad ------------------------------------------------------------------------------------- */

/* The region of x that lands in out: lo[d] > 0 pads before dimension d, < 0 crops. */
static vkt__strided pad_map(const vkt_tensor *x, const vkt_tensor *out, const int64_t *lo)
{
    vkt__strided m = {.ndim = x->ndim};
    vkt__contiguous_strides(x->ndim, x->shape, m.is);
    vkt__contiguous_strides(out->ndim, out->shape, m.os);
    for (int d = 0; d < x->ndim; d++) {
        int64_t hi = out->shape[d] - x->shape[d] - lo[d];
        int64_t skip_lo = lo[d] < 0 ? -lo[d] : 0, skip_hi = hi < 0 ? -hi : 0;
        m.size[d] = x->shape[d] - skip_lo - skip_hi;
        m.i_off += skip_lo * m.is[d];
        m.o_off += (lo[d] > 0 ? lo[d] : 0) * m.os[d];
    }
    return m;
}

vkt_tensor *vkt_pad(const vkt_tensor *x, int n_pads, const int64_t *pads, float value)
{
    const char *name = "vkt_pad";
    if (!x) {
        return NULL;
    }
    char b[128];
    if (n_pads < 0 || n_pads % 2 != 0 || n_pads > 2 * x->ndim || (n_pads > 0 && !pads)) {
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: %d pads given for x %s; need an even number, at most 2 * ndim = %d", name,
                   n_pads, desc(x, b, sizeof b), 2 * x->ndim);
        return NULL;
    }
    int64_t lo[VKT_MAX_DIMS] = {0}, shape[VKT_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    bool overlap = true;
    for (int k = 0; k < n_pads / 2; k++) {
        int d = x->ndim - 1 - k; /* torch: the first pair pads the last dimension */
        lo[d] = pads[2 * k];
        shape[d] = x->shape[d] + pads[2 * k] + pads[2 * k + 1];
        if (shape[d] < 1) {
            vkt__error(VKT_INVALID_ARGUMENT,
                       "%s: pads (%lld, %lld) make dimension %d of x %s empty or negative", name,
                       (long long)pads[2 * k], (long long)pads[2 * k + 1], d,
                       desc(x, b, sizeof b));
            return NULL;
        }
    }
    vkt_tensor *out = vkt__new_output(x->dev, x->dtype, x->ndim, shape);
    if (!out) {
        return NULL;
    }
    vkt__strided m = pad_map(x, out, lo);
    for (int d = 0; d < x->ndim; d++) {
        overlap = overlap && m.size[d] >= 1; /* crops may remove all of x */
    }
    if (vkt_fill(out, value) != VKT_OK ||
        (overlap && vkt__strided_copy(x, out, &m, false) != VKT_OK)) {
        goto fail;
    }
    if (wants_record(x)) {
        vkt__node *n = vkt__record(VKT__OP_PAD, out, x, NULL, NULL);
        if (!n) {
            goto fail;
        }
        memcpy(n->lparam, lo, sizeof lo);
        n->iparam[0] = overlap;
    }
    return out;
fail:
    vkt__error_context("%s", name);
    vkt_tensor_free(out);
    return NULL;
}

vkt_status vkt__pad_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    if (!n->iparam[0]) {
        return VKT_OK; /* x was cropped away entirely */
    }
    vkt__strided m = pad_map(x, n->out, n->lparam);
    return vkt__strided_copy_back(gout, g, &m, true);
}

/* ---- expand ---------------------------------------------------------------------------------- */

vkt_tensor *vkt_expand(const vkt_tensor *x, int ndim, const int64_t *shape)
{
    const char *name = "vkt_expand";
    if (!x) {
        return NULL;
    }
    char a[128], b[128];
    if (ndim < x->ndim || ndim > VKT_MAX_DIMS || !shape) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: x %s cannot expand to %d dimensions (%d..%d)", name,
                   desc(x, b, sizeof b), ndim, x->ndim, VKT_MAX_DIMS);
        return NULL;
    }
    int lead = ndim - x->ndim;
    int64_t xs[VKT_MAX_DIMS], s[VKT_MAX_DIMS];
    vkt__contiguous_strides(x->ndim, x->shape, xs);
    vkt__strided m = {.ndim = ndim};
    for (int d = 0; d < ndim; d++) {
        int64_t have = d < lead ? 1 : x->shape[d - lead];
        int64_t want = shape[d] == -1 && d >= lead ? have : shape[d];
        if (want < 1 || (have != 1 && want != have)) {
            vkt__error(VKT_SHAPE_MISMATCH,
                       "%s: x %s cannot expand to %s: dimension %d is %lld, wanted %lld (only "
                       "size-1 dimensions grow)",
                       name, desc(x, b, sizeof b), shape_str(ndim, shape, a, sizeof a), d,
                       (long long)have, (long long)shape[d]);
            return NULL;
        }
        s[d] = want;
        m.size[d] = want;
        m.is[d] = (d < lead || have != want) ? 0 : xs[d - lead];
    }
    vkt__contiguous_strides(ndim, s, m.os);
    vkt__node *n;
    vkt_tensor *out = map_forward(x, ndim, s, &m, VKT__OP_EXPAND, &n);
    if (!out) {
        vkt__error_context("%s", name);
    }
    return out;
}

vkt_status vkt__expand_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *x = n->in[0];
    if (!vkt__wants_grad(x)) {
        return VKT_OK;
    }
    vkt_tensor *g = vkt__grad_of(x);
    if (!g) {
        return vkt_last_status();
    }
    return vkt__sum_to_shape(gout, x->ndim, x->shape, g, true);
}
