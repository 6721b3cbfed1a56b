/*
 * test_profile.c — the device profile (src/gpu/profile.c, docs/profiling.md): exact counts of a
 * known sequence of commands per kernel, barriers and submits; nothing counted while it is off;
 * timed commands spread over several query pools and several command buffers, under validation.
 * Times are only checked to be non-negative: speed is measured by benchmarks, not asserted.
 */
#include <math.h>
#include <string.h>

#include "test_util.h"

#define N 1000

/* The entry of `name` in the profile's kernels, or NULL. */
static const vkt_profile_kernel *find(const vkt_profile_kernel *k, uint32_t n, const char *name)
{
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(k[i].name, name) == 0) {
            return &k[i];
        }
    }
    return NULL;
}

static void check_times(const vkt_profile *p, const vkt_profile_kernel *k, uint32_t n)
{
    assert_true(p->timestamps == (vkt_device_get_info(test_dev)->timestamp_valid_bits > 0 &&
                                  vkt_device_get_info(test_dev)->timestamp_period > 0));
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        assert_true(k[i].device_ms >= 0);
        assert_true(p->timestamps || k[i].device_ms == 0);
        assert_true(i == 0 || k[i - 1].device_ms >= k[i].device_ms); /* most time first */
        sum += k[i].device_ms;
    }
    /* the library adds the commands' times as they come, the kernels' totals in another order */
    assert_true(fabs(p->device_timed_ms - sum) <= 1e-9 * fmax(1.0, sum));
    assert_true(p->device_busy_ms >= 0);
    assert_true(p->host_record_us >= 0);
    assert_true(p->wall_ms >= 0);
}

/* A chain of `chain` dependent scales (more timed commands than one query pool holds), fills and
 * a copy that depend on nothing pending, then one readback. */
static void counts_a_known_sequence_exactly(void **state)
{
    (void)state;
    const int chain = 300, fills = 5;
    float host[N], out[N];
    for (int i = 0; i < N; i++) {
        host[i] = (float)i - 500.0f;
    }
    vkt_scope_begin(test_dev);
    vkt_tensor *x = test_upload(VKT_F32, host, 1, (int64_t[]){N});
    assert_int_equal(vkt_device_finish(test_dev), VKT_OK);
    assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
    assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);

    /* each scale reads what the one before wrote (the first: the upload): one barrier each */
    vkt_tensor *y = x;
    for (int i = 0; i < chain; i++) {
        y = vkt_scale(y, i % 2 ? 0.5f : 2.0f);
        assert_non_null(y);
    }
    /* new tensors nothing pending touches: no barrier */
    for (int i = 0; i < fills; i++) {
        assert_int_equal(vkt_fill(vkt_tensor_new_1d(test_dev, VKT_F32, N), 1.0f), VKT_OK);
    }
    assert_int_equal(vkt_copy(vkt_tensor_new_1d(test_dev, VKT_F32, N), x), VKT_OK);
    /* the readback: a barrier after the last scale's write, one to the host, one submit */
    assert_int_equal(vkt_tensor_download(y, out, sizeof out), VKT_OK);
    assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
    for (int i = 0; i < N; i++) {
        assert_true(out[i] == host[i]); /* x 2 x 0.5 ... exactly: profiling changed nothing */
    }

    vkt_profile p;
    vkt_profile_kernel k[8];
    assert_int_equal(vkt_device_profile_read(test_dev, &p, k, 8), VKT_OK);
    assert_int_equal(p.dispatches, chain);
    assert_int_equal(p.fills, fills);
    assert_int_equal(p.copies, 1);
    assert_int_equal(p.uploads, 0);
    assert_int_equal(p.downloads, 1);
    assert_int_equal(p.barriers, chain + 2);
    assert_int_equal(p.submits, 1);
    assert_int_equal(p.kernel_count, 4);
    assert_int_equal(find(k, 4, "elementwise")->calls, chain);
    assert_int_equal(find(k, 4, "fill")->calls, fills);
    assert_int_equal(find(k, 4, "copy")->calls, 1);
    assert_int_equal(find(k, 4, "download")->calls, 1);
    check_times(&p, k, 4);

    /* off: nothing more is counted, and reading again gives the same totals */
    assert_non_null(vkt_relu(x));
    vkt_profile again;
    assert_int_equal(vkt_device_profile_read(test_dev, &again, NULL, 0), VKT_OK);
    assert_int_equal(again.dispatches, chain);
    assert_int_equal(again.kernel_count, 4);
    assert_true(again.wall_ms == p.wall_ms);
    assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
    assert_int_equal(vkt_device_profile_read(test_dev, &again, NULL, 0), VKT_OK);
    assert_int_equal(again.dispatches, 0);
    assert_int_equal(again.barriers, 0);
    assert_int_equal(again.kernel_count, 0);
    assert_true(again.device_timed_ms == 0);
    vkt_scope_end(test_dev);
}

/* More submits than command buffers rotate: each is reused, and its times collected, while
 * profiling stays on; then begin accumulates onto the totals of the first window. */
static void accumulates_over_submits_and_windows(void **state)
{
    (void)state;
    const int rounds = 7;
    float host[N], out[N];
    for (int i = 0; i < N; i++) {
        host[i] = (float)(i % 7);
    }
    vkt_scope_begin(test_dev);
    vkt_tensor *x = test_upload(VKT_F32, host, 1, (int64_t[]){N});
    assert_int_equal(vkt_device_finish(test_dev), VKT_OK);
    assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
    for (int w = 0; w < 2; w++) {
        assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK);
        assert_int_equal(vkt_device_profile_begin(test_dev), VKT_OK); /* already on: no-op */
        for (int r = 0; r < rounds; r++) {
            vkt_tensor *y = vkt_relu(x);
            assert_non_null(y);
            assert_int_equal(vkt_tensor_upload(x, host, sizeof host), VKT_OK);
            assert_int_equal(vkt_tensor_download(y, out, sizeof out), VKT_OK);
            assert_true(out[N - 1] == host[N - 1]);
        }
        assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK);
        assert_int_equal(vkt_device_profile_end(test_dev), VKT_OK); /* already off: no-op */
    }
    vkt_profile p;
    vkt_profile_kernel k[8];
    assert_int_equal(vkt_device_profile_read(test_dev, &p, k, 8), VKT_OK);
    assert_int_equal(p.kernel_count, 3);
    assert_int_equal(p.dispatches, 2 * rounds);
    assert_int_equal(p.uploads, 2 * rounds);
    assert_int_equal(p.downloads, 2 * rounds);
    assert_int_equal(p.submits, 2 * rounds);
    assert_int_equal(find(k, 3, "elementwise")->calls, 2 * rounds);
    assert_int_equal(find(k, 3, "upload")->calls, 2 * rounds);
    /* max below the kernel count: the first `max`, most time first */
    vkt_profile_kernel one;
    assert_int_equal(vkt_device_profile_read(test_dev, &p, &one, 1), VKT_OK);
    assert_int_equal(p.kernel_count, 3);
    assert_string_equal(one.name, k[0].name);
    check_times(&p, k, 3);
    vkt_scope_end(test_dev);
    assert_int_equal(vkt_device_profile_reset(test_dev), VKT_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(counts_a_known_sequence_exactly),
        VKT_TEST(accumulates_over_submits_and_windows),
    };
    return VKT_RUN_GROUP(tests);
}
