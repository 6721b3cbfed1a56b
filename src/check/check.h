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
void vkt__check_norm(vkt__check_ctx *c);

#endif
