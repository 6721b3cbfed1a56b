/*
 * test_util.h — shared fixtures for the cmocka tests.
 *
 * Every GPU test group opens one device with Khronos validation and synchronization validation
 * (VKT_VALIDATION=1 is set by meson; the fixture also asks for it), and every test's teardown
 * fails the test if the layer reported anything while it ran.
 */
#ifndef VKT_TEST_UTIL_H
#define VKT_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vkt/vkt.h"

extern vkt_device *test_dev;

int test_group_setup(void **state);
int test_group_teardown(void **state);
/* Teardown for each test: fails on validation messages seen since the previous check. */
int test_check_validation(void **state);
/* Runs vkt_selftest(filter) on test_dev, prints every failing row, asserts >0 checks, 0 failures.
 */
void test_run_checks(const char *filter);

#define VKT_TEST(f) cmocka_unit_test_teardown(f, test_check_validation)
/* Runs the group with the shared device fixture. */
#define VKT_RUN_GROUP(tests) cmocka_run_group_tests(tests, test_group_setup, test_group_teardown)

/* A tensor of a text fixture made by tools/make_torch_*_fixtures.py:
 *     tensor <name> <ndim> <dim0> ... <dim ndim-1>
 *     <values, whitespace separated>
 * (the format predates the safetensors fixtures; the older generators keep writing it). */
typedef struct test_fixture {
    char name[96];
    int ndim;
    int64_t dims[4];
    int64_t n;
    float *v;
} test_fixture;

/* Reads every record of `path` (once per process; later calls return the same array) and
 * asserts there are more than `min`; *count (when count is not NULL) gets their number. */
const test_fixture *test_fixtures_load(const char *path, int min, int *count);
/* The loaded record named by the printf-style `fmt`; fails the test when there is none. */
const test_fixture *test_fixture_get(const char *fmt, ...);
/* The same, or NULL when there is none. */
const test_fixture *test_fixture_find(const char *fmt, ...);

/* A new tensor on test_dev of `dtype` and `shape`, holding `v`. */
vkt_tensor *test_upload(vkt_dtype dtype, const void *v, int ndim, const int64_t *shape);
/* A malloc'd copy of t's contents. */
void *test_fetch(const vkt_tensor *t);
/* Calls, in test_dev's profile (read after vkt_device_profile_end), of the kernel `name` or, with
 * prefix, of every kernel whose name starts with it. */
uint64_t test_profile_calls(const char *name, bool prefix);
/* n values ((i * mul + salt) % 101) * 0.02 - 0.999 in [-0.999, 1.001): varied, none zero. */
float *test_ramp(int64_t n, int64_t mul, int64_t salt);

/* Asserts that t is NULL, vkt_last_status() is s and vkt_last_error() contains `needle`. */
void test_expect_error(const vkt_tensor *t, vkt_status s, const char *needle);

/* The floats of `key` in `d` (a fixture read by vkt_checkpoint_load), which must be there with
 * want_numel elements. */
const float *test_dict_floats(const vkt_dict *d, const char *key, int64_t want_numel);

/* max |a - b| / max(|b|, floor): relative, with a floor for values that pass through zero; a
 * NaN anywhere gives INFINITY. */
double test_rel_err(const float *a, const float *b, int64_t n, double floor);
/* test_rel_err of t's contents against `want`, whose element count t must have. */
double test_torch_err(const vkt_tensor *t, const test_fixture *want, double floor);

#endif
