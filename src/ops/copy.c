/*
 * copy.c — vkt__strided_copy: the N-d strided copy (and strided accumulate) that implements every
 * shape op and their backward (src/ops/shape.c) and the permutes of src/ops/reduce_dim.c.
 *
 * Shaders: shaders/strided_copy.comp, strided_copy4.comp (f32 maps of whole vec4s through a
 * texel binding). Reference: vkt__ref_strided_copy (src/ref/ref_shape.c).
 * Checks: src/check/check_shape.c. Tests: tests/test_shape.c.
 *
 * Before dispatching, dimensions of size 1 are dropped and neighbours d, d+1 that are contiguous
 * in both tensors (is[d] == is[d+1] * size[d+1], same for os) are merged, so the kernel divides
 * by as few sizes as possible and a contiguous copy becomes a single vkCmdCopyBuffer.
 */
#include <string.h>

#include "ops/shape_internal.h"

/* Mirrors `PC` in shaders/strided_copy.comp. */
typedef struct vkt__pc_strided_copy {
    uint32_t n;
    uint32_t i_off;
    uint32_t o_off;
    uint32_t accumulate;
    uint32_t ndim;
    uint32_t size[6];
    uint32_t is[6];
    uint32_t os[6];
} vkt__pc_strided_copy;
_Static_assert(sizeof(vkt__pc_strided_copy) <= VKT__PUSH_MAX, "push constants");
_Static_assert(VKT_MAX_DIMS <= 6, "strided_copy.comp has 6 dimensions");

#define SC_WG 256u

void vkt__contiguous_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        strides[d] = s;
        s *= shape[d];
    }
}

bool vkt__norm_dim(const char *op, const vkt_tensor *x, int dim, int ndim, int *out)
{
    int d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= ndim) {
        char desc[128];
        vkt__error(VKT_INVALID_ARGUMENT,
                   "%s: dim %d is out of range for x %s (valid: %d..%d)", op, dim,
                   vkt_tensor_describe(x, desc, sizeof desc), -ndim, ndim - 1);
        return false;
    }
    *out = d;
    return true;
}

/* Drops size-1 dimensions and merges neighbours contiguous in both tensors. */
static vkt__strided simplify(const vkt__strided *s)
{
    vkt__strided m = {.i_off = s->i_off, .o_off = s->o_off};
    for (int d = 0; d < s->ndim; d++) {
        if (s->size[d] == 1) {
            continue;
        }
        int k = m.ndim - 1;
        if (k >= 0 && m.is[k] == s->is[d] * s->size[d] && m.os[k] == s->os[d] * s->size[d]) {
            m.size[k] *= s->size[d];
            m.is[k] = s->is[d];
            m.os[k] = s->os[d];
            continue;
        }
        m.size[m.ndim] = s->size[d];
        m.is[m.ndim] = s->is[d];
        m.os[m.ndim] = s->os[d];
        m.ndim++;
    }
    if (m.ndim == 0) { /* one element */
        m.ndim = 1;
        m.size[0] = 1;
        m.is[0] = 1;
        m.os[0] = 1;
    }
    return m;
}

/* Whether the simplified map m runs four f32 words per invocation (shaders/strided_copy4.comp):
 * its innermost dimension is contiguous in both tensors and every size, stride and offset along it
 * is whole vec4s, and the input can be read through a texel binding. */
static bool vec4_fits(const vkt__strided *m, const vkt_tensor *in, const vkt__binding *bi)
{
    int last = m->ndim - 1;
    if (in->dtype != VKT_F32 || m->is[last] != 1 || m->os[last] != 1 || m->size[last] % 4 != 0 ||
        m->i_off % 4 != 0 || m->o_off % 4 != 0) {
        return false;
    }
    for (int d = 0; d < last; d++) {
        if (m->is[d] % 4 != 0 || m->os[d] % 4 != 0) {
            return false;
        }
    }
    return vkt__texel_usable(in->dev, bi);
}

/* m in vec4 units (vec4_fits holds). */
static void quarter(vkt__strided *m)
{
    int last = m->ndim - 1;
    m->size[last] /= 4;
    for (int d = 0; d < last; d++) {
        m->is[d] /= 4;
        m->os[d] /= 4;
    }
    m->i_off /= 4;
    m->o_off /= 4;
}

vkt_status vkt__strided_copy(const vkt_tensor *in, vkt_tensor *out, const vkt__strided *s,
                             bool accumulate)
{
    VKT__ASSERT(s->ndim >= 1 && s->ndim <= VKT_MAX_DIMS);
    VKT__ASSERT(in->dtype == out->dtype && (!accumulate || out->dtype == VKT_F32));
    vkt__strided m = simplify(s);
    int64_t n = 1;
    for (int d = 0; d < m.ndim; d++) {
        n *= m.size[d];
    }
    vkt__binding bi = vkt__bind(in, VKT__READ);
    vkt__binding bo = vkt__bind(out, accumulate ? VKT__RW : VKT__WRITE);
    if (!accumulate && m.ndim == 1 && m.is[0] == 1 && m.os[0] == 1) {
        return vkt__copy(out->dev, vkt__subrange(bi, (uint64_t)m.i_off * 4, (uint64_t)n * 4),
                         vkt__subrange(bo, (uint64_t)m.o_off * 4, (uint64_t)n * 4));
    }
    bool vec4 = vec4_fits(&m, in, &bi);
    if (vec4) {
        quarter(&m);
        n /= 4;
    }
    vkt__pc_strided_copy pc = {
        .n = (uint32_t)n,
        .i_off = (uint32_t)m.i_off,
        .o_off = (uint32_t)m.o_off,
        .accumulate = accumulate,
        .ndim = (uint32_t)m.ndim,
    };
    int lead = 6 - m.ndim; /* right-align: dimension 5 is the fastest */
    for (int d = 0; d < 6; d++) {
        pc.size[d] = 1;
    }
    for (int d = 0; d < m.ndim; d++) {
        pc.size[lead + d] = (uint32_t)m.size[d];
        pc.is[lead + d] = (uint32_t)m.is[d];
        pc.os[lead + d] = (uint32_t)m.os[d];
    }
    vkt__dispatch_desc d = {
        .shader = vec4 ? VKT__SHADER_STRIDED_COPY4 : VKT__SHADER_STRIDED_COPY,
        .spec = {SC_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {bi, bo},
    };
    if (vec4) {
        d.texels[0] = bi;
    }
    vkt__elementwise_groups((uint64_t)n, SC_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}

vkt_status vkt__strided_copy_back(const vkt_tensor *gout, vkt_tensor *gin, const vkt__strided *s,
                                  bool accumulate)
{
    vkt__strided r = *s;
    memcpy(r.is, s->os, sizeof r.is);
    memcpy(r.os, s->is, sizeof r.os);
    r.i_off = s->o_off;
    r.o_off = s->i_off;
    return vkt__strided_copy(gout, gin, &r, accumulate);
}
