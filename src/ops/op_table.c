/*
 * op_table.c — the op names and the backward table, generated from VKT__OPS (src/ops/op_table.h).
 */
#include "tensor/tensor_impl.h"

#define VKT__OP_NAME(OP, name, ...) [VKT__OP_##OP] = #name,
const char *const vkt__op_name[] = {
    [VKT__OP_NONE] = "none",
    VKT__OPS(VKT__OP_NAME)
};
#undef VKT__OP_NAME
_Static_assert(VKT__ARRAY_LEN(vkt__op_name) == VKT__OP_COUNT, "one name per op");

#define VKT__OP_BACKWARD(OP, name, ...) [VKT__OP_##OP] = vkt__##name##_backward,
const vkt__backward_fn vkt__op_backward[] = {
    [VKT__OP_NONE] = NULL,
    VKT__OPS(VKT__OP_BACKWARD)
};
#undef VKT__OP_BACKWARD
_Static_assert(VKT__ARRAY_LEN(vkt__op_backward) == VKT__OP_COUNT, "one backward per op");
