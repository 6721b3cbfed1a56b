#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vkt_device *test_dev;
static uint64_t seen_messages;

int test_group_setup(void **state)
{
    (void)state;
    vkt_status s = vkt_device_create(&(vkt_device_desc){.validation = true}, &test_dev);
    if (s != VKT_OK) {
        fprintf(stderr, "cannot open a Vulkan device with validation: %s\n", vkt_last_error());
        return -1;
    }
    const vkt_device_info *info = vkt_device_get_info(test_dev);
    fprintf(stderr, "device: %s (subgroup %u, subgroup arithmetic %s)\n", info->name,
            info->subgroup_size, info->subgroup_arithmetic ? "yes" : "no");
    seen_messages = 0;
    return 0;
}

int test_group_teardown(void **state)
{
    (void)state;
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    vkt_device_destroy(test_dev);
    test_dev = NULL;
    return st.validation_messages > seen_messages ? -1 : 0;
}

int test_check_validation(void **state)
{
    (void)state;
    if (!test_dev) {
        return 0;
    }
    vkt_device_finish(test_dev);
    vkt_device_stats st;
    vkt_device_get_stats(test_dev, &st);
    if (st.validation_messages != seen_messages) {
        fprintf(stderr, "FAIL: %llu validation message(s) during this test\n",
                (unsigned long long)(st.validation_messages - seen_messages));
        seen_messages = st.validation_messages;
        return -1;
    }
    return 0;
}

static void print_failure(const vkt_check_result *r, void *user)
{
    (void)user;
    if (!r->pass) {
        fprintf(stderr, "FAIL %-12s %-16s %-24s err %.3g tol %.3g %s\n", r->family, r->op,
                r->shape, r->max_err, r->tol, r->note ? r->note : "");
    }
}

void test_run_checks(const char *filter)
{
    uint32_t checks = 0, failures = 0;
    vkt_selftest(test_dev, filter, print_failure, NULL, &checks, &failures);
    fprintf(stderr, "%s: %u checks, %u failures\n", filter, checks, failures);
    assert_true(checks > 0);
    assert_int_equal(failures, 0);
}

const test_fixture *test_fixtures_load(const char *path, int min, int *count)
{
    static test_fixture *fx;
    static int n, cap;
    if (!fx) {
        assert_non_null(path);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        char line[512];
        while (fgets(line, sizeof line, f)) {
            if (strncmp(line, "tensor ", 7) != 0) {
                continue;
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 64;
                fx = realloc(fx, (size_t)cap * sizeof *fx);
                assert_non_null(fx);
            }
            test_fixture *x = &fx[n++];
            long long d[4] = {1, 1, 1, 1};
            int got = sscanf(line + 7, "%95s %d %lld %lld %lld %lld", x->name, &x->ndim, &d[0],
                             &d[1], &d[2], &d[3]);
            assert_true(got >= 3 && got == 2 + x->ndim && x->ndim <= 4);
            x->n = 1;
            for (int i = 0; i < x->ndim; i++) {
                x->dims[i] = d[i];
                x->n *= d[i];
            }
            x->v = malloc((size_t)x->n * sizeof *x->v);
            assert_non_null(x->v);
            for (int64_t i = 0; i < x->n; i++) {
                assert_int_equal(fscanf(f, "%f", &x->v[i]), 1);
            }
        }
        fclose(f);
    }
    assert_true(n > min);
    *count = n;
    return fx;
}
