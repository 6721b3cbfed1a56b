/*
 * check_ops.c — the op table (src/ops/op_table.h) as check cases: each row's kind, forward,
 * reference, flags and tolerance, for the generic drivers in check_elementwise.c (device vs
 * reference) and check_grad.c (finite differences).
 */
#include <stddef.h>

#include "check/check.h"

/* Per kind: the union member its forward / reference is stored in, and the functions (by the
 * table's naming convention) or NULL. */
#define VKT__FWD_FIELD_UNARY unary
#define VKT__FWD_FIELD_BINARY binary
#define VKT__FWD_FIELD_BROADCAST binary
#define VKT__FWD_FIELD_SCALAR scalar
#define VKT__FWD_FIELD_REDUCE unary
#define VKT__FWD_FIELD_CUSTOM custom
#define VKT__FWD_UNARY(name) vkt_##name
#define VKT__FWD_BINARY(name) vkt_##name
#define VKT__FWD_BROADCAST(name) vkt_##name
#define VKT__FWD_SCALAR(name) vkt_##name
#define VKT__FWD_REDUCE(name) vkt_##name
#define VKT__FWD_CUSTOM(name) NULL
#define VKT__REF_FIELD_UNARY unary
#define VKT__REF_FIELD_BINARY binary
#define VKT__REF_FIELD_BROADCAST binary
#define VKT__REF_FIELD_SCALAR scalar
#define VKT__REF_FIELD_REDUCE custom
#define VKT__REF_FIELD_CUSTOM custom
#define VKT__REF_UNARY(name) vkt__ref_##name
#define VKT__REF_BINARY(name) vkt__ref_##name
#define VKT__REF_BROADCAST(name) vkt__ref_##name
#define VKT__REF_SCALAR(name) vkt__ref_##name
#define VKT__REF_REDUCE(name) NULL
#define VKT__REF_CUSTOM(name) NULL

#define VKT__OP_CASE(OP, name_, kind_, flags_, tol_)                                               \
    [VKT__OP_##OP] = {                                                                             \
        .name = #name_,                                                                            \
        .kind = VKT__OPK_##kind_,                                                                  \
        .forward.VKT__FWD_FIELD_##kind_ = VKT__FWD_##kind_(name_),                                 \
        .reference.VKT__REF_FIELD_##kind_ = VKT__REF_##kind_(name_),                               \
        .flags = flags_,                                                                           \
        .tol = tol_,                                                                               \
    },
const vkt__op_case vkt__op_cases[] = {
    [VKT__OP_NONE] = {.name = "none"},
    VKT__OPS(VKT__OP_CASE)
};
#undef VKT__OP_CASE
_Static_assert(VKT__ARRAY_LEN(vkt__op_cases) == VKT__OP_COUNT, "one check case per op");

float *vkt__check_rand_for(vkt__check_ctx *c, unsigned flags, int64_t n, float lo, float hi)
{
    return vkt__check_rand(c, n, (flags & VKT__OPF_POSITIVE) ? 0.1f : lo, hi);
}

int vkt__op_case_inputs(const vkt__op_case *k)
{
    switch (k->kind) {
    case VKT__OPK_UNARY:
    case VKT__OPK_SCALAR:
    case VKT__OPK_REDUCE:
        return 1;
    case VKT__OPK_BINARY:
    case VKT__OPK_BROADCAST:
        return 2;
    case VKT__OPK_CUSTOM:
        break;
    }
    return 0;
}

vkt_tensor *vkt__op_case_apply(const vkt__op_case *k, vkt_tensor *const *t)
{
    switch (k->kind) {
    case VKT__OPK_UNARY:
    case VKT__OPK_REDUCE:
        return k->forward.unary(t[0]);
    case VKT__OPK_BINARY:
    case VKT__OPK_BROADCAST:
        return k->forward.binary(t[0], t[1]);
    case VKT__OPK_SCALAR:
        return k->forward.scalar(t[0], VKT__CHECK_SCALAR);
    case VKT__OPK_CUSTOM:
        break;
    }
    return NULL;
}
