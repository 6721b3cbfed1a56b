/*
 * peak_fma.c — the measured fp32 FMA peak (src/ops/peak_fma.h).
 * Shader: shaders/peak_fma.comp. Reference: vkt__ref_peak_fma. Checked in check_peak.c;
 * test: tests/test_peak.c; used by tools/bench_peak.c and tools/bench_matmul.c.
 *
 * Vulkan reports no clock rate or FMA units, so the peak is measured, the way a roofline tool
 * does: a grid of invocations with independent FMA chains, large enough to fill the device (its
 * size doubles until one dispatch runs long enough to time with the host clock), timed a few
 * times; the best run counts, since the peak is what the hardware reaches at all.
 */
#include "ops/peak_fma.h"

/* Mirrors `PC` in shaders/peak_fma.comp. */
typedef struct vkt__pc_peak_fma {
    uint32_t n, iters;
    float a, b;
} vkt__pc_peak_fma;
_Static_assert(sizeof(vkt__pc_peak_fma) <= VKT__PUSH_MAX, "push constants");

#define PEAK_WG 64u
/* The first grid: 64 workgroups, several per core of a CPU driver; the largest: 4M invocations
 * (a 16 MiB output), ~16 times what fills an H200 (132 SMs x 2048 resident invocations). */
#define PEAK_MIN_INVOCATIONS (64u * PEAK_WG)
#define PEAK_MAX_INVOCATIONS (1u << 22)
#define PEAK_ITERS 1024u
/* A contraction toward b / (1 - a) = 0.5: values stay in [0, 1), never denormal. */
#define PEAK_A 0.999f
#define PEAK_B 0.0005f

vkt_status vkt__peak_fma(vkt_tensor *out, uint32_t iters, float a, float b)
{
    VKT__ASSERT(out->dtype == VKT_F32 && out->numel >= 1 && out->numel <= UINT32_MAX);
    VKT__ASSERT(iters >= 1 && iters <= VKT__PEAK_FMA_MAX_ITERS);
    vkt__pc_peak_fma pc = {(uint32_t)out->numel, iters, a, b};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_PEAK_FMA,
        .spec = {PEAK_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(out, VKT__WRITE)},
    };
    vkt__groups_2d(VKT__DIV_UP((uint64_t)pc.n, PEAK_WG), d.groups);
    return vkt__dispatch(out->dev, &d);
}

/* Seconds of one dispatch over `out` (recorded, submitted and waited for). */
static vkt_status time_one(vkt_tensor *out, uint32_t iters, double *seconds)
{
    double t0 = vkt__now();
    vkt_status s = vkt__peak_fma(out, iters, PEAK_A, PEAK_B);
    if (s == VKT_OK) {
        s = vkt_device_finish(out->dev);
    }
    *seconds = vkt__now() - t0;
    return s;
}

vkt_status vkt__peak_fma_measure(vkt_device *dev, double min_seconds, uint32_t runs,
                                 vkt__peak_result *out)
{
    VKT__ASSERT(runs >= 1);
    *out = (vkt__peak_result){0};
    vkt_status s = vkt_device_finish(dev);
    if (s != VKT_OK) {
        return s;
    }
    vkt_tensor *part = NULL;
    uint64_t n = PEAK_MIN_INVOCATIONS;
    uint32_t iters = PEAK_ITERS;
    double t = 0.0;
    vkt_scope_begin(dev);
    /* warm-up: pipeline creation and the JIT of a CPU driver */
    part = vkt_tensor_new_1d(dev, VKT_F32, (int64_t)n);
    if (!part || (s = time_one(part, 1, &t)) != VKT_OK) {
        s = part ? s : vkt_last_status();
        goto done;
    }
    for (;;) {
        if ((s = time_one(part, iters, &t)) != VKT_OK) {
            goto done;
        }
        if (t >= min_seconds || (n == PEAK_MAX_INVOCATIONS && iters == VKT__PEAK_FMA_MAX_ITERS)) {
            break;
        }
        if (n < PEAK_MAX_INVOCATIONS) {
            n *= 2;
            vkt_tensor_free(part);
            part = vkt_tensor_new_1d(dev, VKT_F32, (int64_t)n);
            if (!part) {
                s = vkt_last_status();
                goto done;
            }
        } else {
            iters *= 2;
        }
    }
    double best = t;
    for (uint32_t r = 0; r < runs; r++) {
        if ((s = time_one(part, iters, &t)) != VKT_OK) {
            goto done;
        }
        best = t < best ? t : best;
    }
    double flops = 2.0 * (double)n * iters * VKT__PEAK_FMA_UNROLL * VKT__PEAK_FMA_LANES;
    *out = (vkt__peak_result){flops / best * 1e-9, best, n, iters, runs};
done:
    vkt_scope_end(dev);
    return s;
}
