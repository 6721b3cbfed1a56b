/*
 * vkt/selftest.h — every op and reduction checked against its CPU reference on a device.
 *
 * This is how a user vets a new driver (`vkt selftest --device 1`), and it is the same code the
 * test suite runs. Each check runs an op on the device on awkward shapes (1, 3, 63, 64, 65, 1000,
 * non-square, not multiples of the tile size) and compares it with src/ref.
 *
 *     static void print(const vkt_check_result *r, void *u) { printf("%s %s %g\n", r->op, r->shape,
 * r->max_err); } uint32_t checks, failures; vkt_selftest(dev, NULL, print, NULL, &checks,
 * &failures);
 */
#ifndef VKT_SELFTEST_H
#define VKT_SELFTEST_H

#include "gpu.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkt_check_result {
    const char *family;   /* "matmul", "reduce", ... */
    const char *op;       /* "matmul_tn", "sum_rows", ... */
    const char *shape;    /* "63x65 * 65x1" */
    double max_err;       /* max |got - want| / max(1, |want|) (or as the note says) */
    double tol;
    bool pass;
    double ms;            /* wall time of the device work including readback */
    const char *note;     /* may be NULL; the error message when the op itself failed */
} vkt_check_result;

typedef void (*vkt_check_fn)(const vkt_check_result *r, void *user);

/**
 * Runs the checks whose family or op name contains `filter` (NULL or "" = all), calling `fn`
 * (may be NULL) after each. Sets *checks and *failures (either may be NULL). Returns VKT_OK when
 * every check ran and passed, VKT_ERROR when one failed, VKT_NOT_FOUND when no check matched.
 */
VKT_API vkt_status vkt_selftest(vkt_device *dev, const char *filter, vkt_check_fn fn, void *user,
                                uint32_t *checks, uint32_t *failures);

/** The names of the check families, NULL-terminated. */
VKT_API const char *const *vkt_selftest_families(void);

#ifdef __cplusplus
}
#endif
#endif
