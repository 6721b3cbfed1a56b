/*
 * shape.c — vkt_concat (rows of several tensors into one, by device copies) and vkt_cast
 * (shaders/cast.comp). Neither is recorded on the tape.
 * References: vkt__ref_cast (src/ref/ref_elementwise.c); concat is checked against the inputs.
 * Checks: src/check/check_elementwise.c.
 */
#include <string.h>

#include "shaders/cast_ops.h"
#include "tensor/tensor_impl.h"

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

vkt_tensor *vkt_concat(const vkt_tensor *const *parts, uint32_t n)
{
    if (!parts || n == 0) {
        vkt__error(VKT_INVALID_ARGUMENT, "vkt_concat: no tensors given");
        return NULL;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!parts[i]) {
            return NULL;
        }
    }
    const vkt_tensor *p0 = parts[0];
    int64_t rows = 0;
    for (uint32_t i = 0; i < n; i++) {
        const vkt_tensor *p = parts[i];
        bool ok = p->dev == p0->dev && p->dtype == p0->dtype && p->ndim == p0->ndim;
        for (int d = 1; ok && d < p->ndim; d++) {
            ok = p->shape[d] == p0->shape[d];
        }
        if (!ok) {
            char a[96], b[96];
            vkt__error(VKT_SHAPE_MISMATCH,
                       "vkt_concat: part %u is %s but part 0 is %s; all parts "
                       "need the same dtype and trailing dimensions",
                       i, vkt_tensor_describe(p, a, sizeof a),
                       vkt_tensor_describe(p0, b, sizeof b));
            return NULL;
        }
        rows += p->shape[0];
    }
    int64_t shape[VKT_MAX_DIMS];
    memcpy(shape, p0->shape, sizeof shape);
    shape[0] = rows;
    vkt_tensor *out = vkt__new_output(p0->dev, p0->dtype, p0->ndim, shape);
    if (!out) {
        return NULL;
    }
    vkt__binding o = vkt__bind(out, VKT__WRITE);
    VkDeviceSize at = 0;
    for (uint32_t i = 0; i < n; i++) {
        vkt__binding s = vkt__bind(parts[i], VKT__READ);
        if (vkt__copy(out->dev, s.buffer, s.offset, o.buffer, o.offset + at, s.size) != VKT_OK) {
            vkt_tensor_free(out);
            return NULL;
        }
        at += s.size;
    }
    return out;
}
