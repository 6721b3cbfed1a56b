/*
 * peak_fma.h — the device's measured fp32 peak: a kernel of independent FMA chains
 * (shaders/peak_fma.comp) and its timing, so benchmarks can give each kernel's rate as a
 * fraction of what the device reaches at all (`vkt bench peak`, `vkt bench matmul`).
 * Dispatch and measurement: src/ops/peak_fma.c. Reference: vkt__ref_peak_fma
 * (src/ref/ref_peak.c). Checks: src/check/check_peak.c. Test: tests/test_peak.c.
 */
#ifndef VKT_OPS_PEAK_FMA_H
#define VKT_OPS_PEAK_FMA_H

#include "tensor/tensor_impl.h"

/* Mirror CHAINS (vec4s) and UNROLL in shaders/peak_fma.comp. */
#define VKT__PEAK_FMA_LANES 16u /* scalar chains per invocation: 4 vec4 */
#define VKT__PEAK_FMA_UNROLL 8u
/* Loop trips per invocation at most: below lavapipe's 65535 (docs/shaders.md). */
#define VKT__PEAK_FMA_MAX_ITERS 16384u

/* out[g] for g < numel(out) = the sum of invocation g's chains after iters · UNROLL steps of
 * x = fma(x, a, b); iters in [1, VKT__PEAK_FMA_MAX_ITERS]. */
vkt_status vkt__peak_fma(vkt_tensor *out, uint32_t iters, float a, float b);

typedef struct vkt__peak_result {
    double gflops;     /* best of the timed runs: 2 flops per FMA */
    double seconds;    /* that run's time per dispatch */
    uint64_t invocations;
    uint32_t iters;
    uint32_t runs;
} vkt__peak_result;

/* The measured fp32 FMA peak of dev: after a warm-up, the grid doubles until one dispatch takes
 * at least min_seconds (or reaches its cap), then the best of `runs` timed dispatches (runs >= 1)
 * counts. Waits for the device's queued work first. */
vkt_status vkt__peak_fma_measure(vkt_device *dev, double min_seconds, uint32_t runs,
                                 vkt__peak_result *out);

#endif
