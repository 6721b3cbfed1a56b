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
 * asserts there are more than `min`; *count gets their number. */
const test_fixture *test_fixtures_load(const char *path, int min, int *count);

#endif
