/*
 * check.h — helpers for the device-vs-reference checks (src/check/check_<family>.c).
 *
 * A family's check function runs its ops on each shape of its case table and calls
 * vkt__check_report once per (op, shape). Conventions:
 *   - inputs come from vkt__check_rand (seeded; same inputs every run);
 *   - the error is vkt__max_err (NaN or Inf counts as infinite error);
 *   - an op that fails reports with the error message as the note, never aborts the run;
 *   - everything is made inside a vkt_scope so nothing leaks.
 */
#ifndef VKT_CHECK_H
#define VKT_CHECK_H

#include "ref/ref.h"
#include "tensor/tensor_impl.h"
#include "vkt/selftest.h"

typedef struct vkt__check_ctx {
    vkt_device *dev;
    const char *filter;
    const char *family;
    vkt_check_fn fn;
    void *user;
    uint32_t checks, failures;
    uint64_t rng;
} vkt__check_ctx;

/* Whether `op` of the current family passes the filter. */
bool vkt__check_wants(const vkt__check_ctx *c, const char *op);
/* Reports one result; `note` may be NULL. */
void vkt__check_report(vkt__check_ctx *c, const char *op, const char *shape, double max_err,
                       double tol, double ms, const char *note);
/* Reports an op that failed outright (NULL output / error status): uses vkt_last_error(). */
void vkt__check_report_failure(vkt__check_ctx *c, const char *op, const char *shape);

/* malloc'd array of n uniform floats in [lo, hi); abort-free: NULL on out of memory. */
float *vkt__check_rand(vkt__check_ctx *c, int64_t n, float lo, float hi);
/* malloc'd array of n ints uniform in [0, hi). */
int32_t *vkt__check_rand_int(vkt__check_ctx *c, int64_t n, int32_t hi);
uint64_t vkt__check_next(vkt__check_ctx *c);
/* A tensor holding `data` (f32 or i32 by dtype); NULL on error. */
vkt_tensor *vkt__check_tensor(vkt_device *dev, vkt_dtype dtype, const void *data, int ndim,
                              const int64_t *shape);
/* Downloads into a malloc'd array; NULL on error. */
void *vkt__check_fetch(const vkt_tensor *t);
/* max_i |got - want| / max(1, |want|); INFINITY if any value is NaN/Inf where want is finite. */
double vkt__max_err(const float *got, const float *want, int64_t n);

/* ---- the op table's generic cases (src/check/check_ops.c, from VKT__OPS in src/ops/op_table.h) */

typedef vkt_tensor *(*vkt__unary_fn)(const vkt_tensor *x);
typedef vkt_tensor *(*vkt__binary_fn)(const vkt_tensor *a, const vkt_tensor *b);
typedef vkt_tensor *(*vkt__scalar_fn)(const vkt_tensor *x, float s);
typedef void (*vkt__unary_ref)(float *y, const float *x, int64_t n);
typedef void (*vkt__binary_ref)(float *y, const float *a, const float *b, int64_t n);
typedef void (*vkt__scalar_ref)(float *y, const float *x, float s, int64_t n);

/* One row of the op table as the check drivers see it; the union member in use is the kind's. */
typedef struct vkt__op_case {
    const char *name;
    vkt__op_kind kind;
    union {
        const void *custom; /* NULL */
        vkt__unary_fn unary; /* UNARY, REDUCE */
        vkt__binary_fn binary;
        vkt__scalar_fn scalar;
    } forward;
    union {
        const void *custom; /* NULL: REDUCE and CUSTOM ops have hand-written device checks */
        vkt__unary_ref unary;
        vkt__binary_ref binary;
        vkt__scalar_ref scalar;
    } reference;
    unsigned flags; /* VKT__OPF_* */
    double tol;
} vkt__op_case;

/* Indexed by vkt__op (VKT__OP_COUNT entries; [VKT__OP_NONE] is empty). */
extern const vkt__op_case vkt__op_cases[];
/* The scalar argument the checks pass to SCALAR ops. */
#define VKT__CHECK_SCALAR (-0.37f)
/* Random inputs in [lo, hi) for an op with these VKT__OPF_* flags: [0.1, hi) when POSITIVE. */
float *vkt__check_rand_for(vkt__check_ctx *c, unsigned flags, int64_t n, float lo, float hi);
/* The op applied to t[0] (and t[1] for BINARY); NULL for CUSTOM. */
vkt_tensor *vkt__op_case_apply(const vkt__op_case *k, vkt_tensor *const *t);
/* Number of tensor inputs of a generic kind (0 for CUSTOM). */
int vkt__op_case_inputs(const vkt__op_case *k);

/* The families (one function each, in src/check/check_<family>.c). */
void vkt__check_elementwise(vkt__check_ctx *c);
void vkt__check_softmax_xent(vkt__check_ctx *c);
void vkt__check_optim(vkt__check_ctx *c);
void vkt__check_reduce(vkt__check_ctx *c);
void vkt__check_grad(vkt__check_ctx *c);
void vkt__check_data(vkt__check_ctx *c);
void vkt__check_clip(vkt__check_ctx *c);
void vkt__check_store(vkt__check_ctx *c);
void vkt__check_matmul(vkt__check_ctx *c);
void vkt__check_metrics(vkt__check_ctx *c);
void vkt__check_shape(vkt__check_ctx *c);
/* Whether check_shape.c has a finite-difference case for `op` (its ops are N-d; the "grad"
 * family's cases are 2-D): check_grad.c counts these as covering a CUSTOM op. */
bool vkt__check_shape_grad_covers(vkt__op op);
void vkt__check_norm(vkt__check_ctx *c);
void vkt__check_conv(vkt__check_ctx *c);
void vkt__check_embedding(vkt__check_ctx *c);
void vkt__check_attention(vkt__check_ctx *c);
void vkt__check_peak(vkt__check_ctx *c);

#endif
