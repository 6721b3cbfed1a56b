/*
 * op_table.h — the one table of differentiable ops (recipe: docs/adding-an-op.md).
 *
 * Each row X(OP, name, kind, flags, tol) of VKT__OPS names, by convention, the op's functions:
 *   vkt_<name>                the public forward (include/vkt/tensor.h)
 *   vkt__<name>_backward      its backward, defined right after the forward in src/ops/<family>.c:
 *                             vkt_status (vkt__node *n, const vkt_tensor *gout); prototype below
 *   vkt__ref_<name>           its CPU reference (src/ref/ref.h), for UNARY, BINARY and SCALAR
 * and generates from that one line:
 *   - the tape's op code VKT__OP_<OP> (enum vkt__op) and its name vkt__op_name[] ("relu");
 *   - the backward table vkt__op_backward[] (src/ops/op_table.c), through which vkt_backward
 *     (src/tensor/graph.c) calls each node's backward;
 *   - the op's generic checks (src/check/check_ops.c): the device-vs-reference check
 *     (check_elementwise.c) and the finite-difference gradient check (check_grad.c).
 *
 * kind: how the generic check drivers call the forward and the reference
 *   UNARY   y = f(x) elementwise:      vkt_tensor *(const vkt_tensor *x);
 *                                      ref void (float *y, const float *x, int64_t n)
 *   BINARY  y = f(a, b), same shapes:  (a, b); ref (float *y, const float *a, const float *b, n)
 *   BROADCAST  like BINARY, but a and b broadcast (NumPy rules); the reference is BINARY's, called
 *           on inputs broadcast on the host; checked on same and broadcast shape pairs
 *   SCALAR  y = f(x, s), s a float:    (x, s); ref (float *y, const float *x, float s, n)
 *   REDUCE  called like UNARY on 2-D inputs; gradient check generic, device check hand-written
 *           (src/check/check_reduce.c), no generic reference
 *   CUSTOM  hand-written checks only: a case in check_grad.c's custom_cases[] (enforced) and in
 *           the family's check file
 * flags: VKT__OPF_KINK — kinks or ties (relu, max): gradient-check inputs are distinct and away
 *        from them; VKT__OPF_POSITIVE — inputs must be > 0 (ln, sqrt, rsqrt; div: denominators
 *        away from 0).
 * tol: device-vs-reference tolerance in vkt__max_err units (0 = exact), justified beside the
 *      reference.
 */
#ifndef VKT_OPS_OP_TABLE_H
#define VKT_OPS_OP_TABLE_H

#include "vkt/tensor.h"

/* clang-format off */
#define VKT__OPS(X)                                        \
    /* OP           name          kind       flags              tol */ \
    X(MATMUL,       matmul,       CUSTOM,    0,                 0.0) \
    X(ADD_BIAS,     add_bias,     CUSTOM,    0,                 0.0) \
    X(LINEAR,       linear,       CUSTOM,    0,                 0.0) \
    X(LINEAR_RELU,  linear_relu,  CUSTOM,    0,                 0.0) \
    X(SOFTMAX_XENT, softmax_xent, CUSTOM,    0,                 0.0) \
    X(ADD,          add,          BROADCAST, 0,                 0.0) \
    X(SUB,          sub,          BROADCAST, 0,                 0.0) \
    X(MUL,          mul,          BROADCAST, 0,                 0.0) \
    X(DIV,          div,          BROADCAST, VKT__OPF_POSITIVE, 3e-7) \
    X(MAXIMUM,      maximum,      BROADCAST, VKT__OPF_KINK,     0.0) \
    X(MINIMUM,      minimum,      BROADCAST, VKT__OPF_KINK,     0.0) \
    X(POW,          pow,          BROADCAST, VKT__OPF_POSITIVE, 2e-6) \
    X(WHERE,        where,        CUSTOM,    0,                 0.0) \
    X(SCALE,        scale,        SCALAR,    0,                 0.0) \
    X(ADD_SCALAR,   add_scalar,   SCALAR,    0,                 0.0) \
    X(RELU,         relu,         UNARY,     VKT__OPF_KINK,     0.0) \
    X(TANH,         tanh,         UNARY,     0,                 1e-6) \
    X(EXP,          exp,          UNARY,     0,                 1e-6) \
    X(LN,           ln,           UNARY,     VKT__OPF_POSITIVE, 1e-6) \
    X(SQRT,         sqrt,         UNARY,     VKT__OPF_POSITIVE, 3e-7) \
    X(RSQRT,        rsqrt,        UNARY,     VKT__OPF_POSITIVE, 1e-6) \
    X(ABS,          abs,          UNARY,     VKT__OPF_KINK,     0.0) \
    X(NEG,          neg,          UNARY,     0,                 0.0) \
    X(SIGMOID,      sigmoid,      UNARY,     0,                 1e-6) \
    X(GELU,         gelu,         UNARY,     0,                 1e-6) \
    X(GELU_TANH,    gelu_tanh,    UNARY,     0,                 1e-6) \
    X(SILU,         silu,         UNARY,     0,                 1e-6) \
    X(LEAKY_RELU,   leaky_relu,   SCALAR,    VKT__OPF_KINK,     0.0) \
    X(ELU,          elu,          SCALAR,    VKT__OPF_KINK,     1e-6) \
    X(CLAMP,        clamp,        CUSTOM,    0,                 0.0) \
    X(POW_SCALAR,   pow_scalar,   SCALAR,    VKT__OPF_POSITIVE, 2e-6) \
    X(SOFTPLUS,     softplus,     UNARY,     0,                 1e-6) \
    X(LOG1P,        log1p,        UNARY,     VKT__OPF_POSITIVE, 1e-6) \
    X(SUM,          sum,          REDUCE,    0,                 0.0) \
    X(MEAN,         mean,         REDUCE,    0,                 0.0) \
    X(MAX,          max,          REDUCE,    VKT__OPF_KINK,     0.0) \
    X(MIN,          min,          REDUCE,    VKT__OPF_KINK,     0.0) \
    X(SUM_ROWS,     sum_rows,     REDUCE,    0,                 0.0) \
    X(MEAN_ROWS,    mean_rows,    REDUCE,    0,                 0.0) \
    X(MAX_ROWS,     max_rows,     REDUCE,    VKT__OPF_KINK,     0.0) \
    X(MIN_ROWS,     min_rows,     REDUCE,    VKT__OPF_KINK,     0.0) \
    X(BATCH_NORM,   batch_norm,   CUSTOM,    0,                 0.0) \
    X(BATCH_NORM_RELU, batch_norm_relu, CUSTOM, 0,              0.0) \
    X(DROPOUT,      dropout,      CUSTOM,    0,                 0.0) \
    X(RESHAPE,      reshape,      CUSTOM,    0,                 0.0) \
    X(PERMUTE,      permute,      CUSTOM,    0,                 0.0) \
    X(SLICE,        slice,        CUSTOM,    0,                 0.0) \
    X(CAT,          cat,          CUSTOM,    0,                 0.0) \
    X(STACK,        stack,        CUSTOM,    0,                 0.0) \
    X(PAD,          pad,          CUSTOM,    0,                 0.0) \
    X(EXPAND,       expand,       CUSTOM,    0,                 0.0) \
    X(SUM_DIMS,     sum_dims,     CUSTOM,    0,                 0.0) \
    X(MEAN_DIM,     mean_dim,     CUSTOM,    0,                 0.0) \
    X(MAX_DIM,      max_dim,      CUSTOM,    VKT__OPF_KINK,     0.0) \
    X(VAR_DIM,      var_dim,      CUSTOM,    0,                 0.0) \
    X(STD_DIM,      std_dim,      CUSTOM,    0,                 0.0) \
    X(SOFTMAX,      softmax,      CUSTOM,    0,                 0.0) \
    X(LOG_SOFTMAX,  log_softmax,  CUSTOM,    0,                 0.0) \
    X(CONV2D,       conv2d,       CUSTOM,    0,                 0.0) \
    X(MAX_POOL2D,   max_pool2d,   CUSTOM,    VKT__OPF_KINK,     0.0) \
    X(AVG_POOL2D,   avg_pool2d,   CUSTOM,    0,                 0.0) \
    X(ADAPTIVE_AVG_POOL2D, adaptive_avg_pool2d, CUSTOM,    0,                 0.0) \
    X(UPSAMPLE_NEAREST2D,  upsample_nearest2d,  CUSTOM,    0,                 0.0) \
    X(NLL_ROWS,     nll_rows,     CUSTOM,    0,                 0.0) \
    X(EMBEDDING,    embedding,    CUSTOM,    0,                 0.0) \
    X(LAYER_NORM,   layer_norm,   CUSTOM,    0,                 0.0) \
    X(RMS_NORM,     rms_norm,     CUSTOM,    0,                 0.0) \
    X(ATTENTION,    attention,    CUSTOM,    0,                 0.0) \
    X(RANGE_VIEW,   range_view,   CUSTOM,    0,                 0.0)
/* clang-format on */

struct vkt__node;

typedef enum vkt__op {
    VKT__OP_NONE = 0, /* not recorded (argmax); never on the tape */
#define VKT__OP_ENUM(OP, ...) VKT__OP_##OP,
    VKT__OPS(VKT__OP_ENUM)
#undef VKT__OP_ENUM
        VKT__OP_COUNT
} vkt__op;

typedef enum vkt__op_kind {
    VKT__OPK_CUSTOM = 0,
    VKT__OPK_UNARY,
    VKT__OPK_BINARY,
    VKT__OPK_BROADCAST,
    VKT__OPK_SCALAR,
    VKT__OPK_REDUCE,
} vkt__op_kind;

enum {
    VKT__OPF_KINK = 1u << 0,
    VKT__OPF_POSITIVE = 1u << 1,
};

/* Accumulates into the gradients of node->in[] given gout = d(loss)/d(node->out). */
typedef vkt_status (*vkt__backward_fn)(struct vkt__node *n, const vkt_tensor *gout);

/* Indexed by vkt__op; both have VKT__OP_COUNT entries (static-asserted in op_table.c). */
extern const char *const vkt__op_name[];
extern const vkt__backward_fn vkt__op_backward[];

/* The backward functions, one per row, each defined beside its forward in src/ops/<family>.c. */
#define VKT__OP_BACKWARD_DECL(OP, name, ...)                                                       \
    vkt_status vkt__##name##_backward(struct vkt__node *n, const vkt_tensor *gout);
VKT__OPS(VKT__OP_BACKWARD_DECL)
#undef VKT__OP_BACKWARD_DECL

#endif
