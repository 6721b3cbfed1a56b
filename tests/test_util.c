#include "test_util.h"

#include <math.h>
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

static test_fixture *fx;
static int n_fx;

const test_fixture *test_fixtures_load(const char *path, int min, int *count)
{
    static int cap;
    int n = n_fx;
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
        n_fx = n;
    }
    assert_true(n > min);
    if (count) {
        *count = n;
    }
    return fx;
}

static const test_fixture *fixture_named(bool required, const char *fmt, va_list ap)
{
    char name[128];
    vsnprintf(name, sizeof name, fmt, ap);
    for (int i = 0; i < n_fx; i++) {
        if (strcmp(fx[i].name, name) == 0) {
            return &fx[i];
        }
    }
    if (required) {
        fail_msg("fixture %s missing", name);
    }
    return NULL;
}

const test_fixture *test_fixture_get(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const test_fixture *f = fixture_named(true, fmt, ap);
    va_end(ap);
    return f;
}

const test_fixture *test_fixture_find(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    const test_fixture *f = fixture_named(false, fmt, ap);
    va_end(ap);
    return f;
}

vkt_tensor *test_upload(vkt_dtype dtype, const void *v, int ndim, const int64_t *shape)
{
    vkt_tensor *t = vkt_tensor_new(test_dev, dtype, ndim, shape);
    assert_non_null(t);
    assert_int_equal(vkt_tensor_upload(t, v, vkt_tensor_bytes(t)), VKT_OK);
    return t;
}

void *test_fetch(const vkt_tensor *t)
{
    assert_non_null(t);
    void *p = malloc(vkt_tensor_bytes(t));
    assert_non_null(p);
    assert_int_equal(vkt_tensor_download(t, p, vkt_tensor_bytes(t)), VKT_OK);
    return p;
}

uint64_t test_profile_calls(const char *name, bool prefix)
{
    vkt_profile p;
    assert_int_equal(vkt_device_profile_read(test_dev, &p, NULL, 0), VKT_OK);
    vkt_profile_kernel *k = calloc(p.kernel_count ? p.kernel_count : 1, sizeof *k);
    assert_non_null(k);
    assert_int_equal(vkt_device_profile_read(test_dev, &p, k, p.kernel_count), VKT_OK);
    uint64_t calls = 0;
    for (uint32_t j = 0; j < p.kernel_count; j++) {
        bool match =
            prefix ? strncmp(k[j].name, name, strlen(name)) == 0 : strcmp(k[j].name, name) == 0;
        calls += match ? k[j].calls : 0;
    }
    free(k);
    return calls;
}

float *test_ramp(int64_t n, int64_t mul, int64_t salt)
{
    float *x = malloc((size_t)n * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)((i * mul + salt) % 101) * 0.02f - 1.0f + 0.001f;
    }
    return x;
}

void test_expect_error(const vkt_tensor *t, vkt_status s, const char *needle)
{
    assert_null(t);
    assert_int_equal(vkt_last_status(), s);
    if (!strstr(vkt_last_error(), needle)) {
        fail_msg("error \"%s\" lacks \"%s\"", vkt_last_error(), needle);
    }
}

const float *test_dict_floats(const vkt_dict *d, const char *key, int64_t want_numel)
{
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    const float *v = vkt_dict_get_floats(d, key, &ndim, shape);
    if (!v) {
        fail_msg("the fixture has no %s", key);
    }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        n *= shape[i];
    }
    assert_int_equal(n, want_numel);
    return v;
}

double test_rel_err(const float *a, const float *b, int64_t n, double floor)
{
    double m = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]) / fmax(fabs((double)b[i]), floor);
        m = !(e <= m) ? (isnan(e) ? INFINITY : e) : m;
    }
    return m;
}

double test_torch_err(const vkt_tensor *t, const test_fixture *want, double floor)
{
    assert_non_null(t);
    assert_int_equal(vkt_tensor_numel(t), want->n);
    float *a = test_fetch(t);
    double m = test_rel_err(a, want->v, want->n, floor);
    free(a);
    return m;
}
