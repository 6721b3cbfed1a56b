/*
 * test_peak.c — the peak FMA kernel (shaders/peak_fma.comp, src/ops/peak_fma.c): its sums
 * against the CPU reference (src/check/check_peak.c), and a measurement that runs to the end
 * with a positive, finite rate (the rate itself is the benchmark's business, not the test's).
 */
#include <math.h>

#include "ops/peak_fma.h"
#include "test_util.h"

static void peak_kernel_matches_reference(void **state)
{
    (void)state;
    test_run_checks("peak");
}

static void measurement_gives_a_positive_finite_rate(void **state)
{
    (void)state;
    vkt__peak_result r = {0};
    assert_int_equal(vkt__peak_fma_measure(test_dev, 1e-3, 2, &r), VKT_OK);
    assert_true(isfinite(r.gflops) && r.gflops > 0.0);
    assert_true(isfinite(r.seconds) && r.seconds > 0.0);
    assert_true(r.invocations > 0 && r.iters >= 1 && r.iters <= VKT__PEAK_FMA_MAX_ITERS);
    assert_int_equal(r.runs, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        VKT_TEST(peak_kernel_matches_reference),
        VKT_TEST(measurement_gives_a_positive_finite_rate),
    };
    return VKT_RUN_GROUP(tests);
}
