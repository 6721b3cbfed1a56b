/*
 * check_peak.c — the peak FMA kernel (shaders/peak_fma.comp; src/ops/peak_fma.c) against
 * vkt__ref_peak_fma: a partial last workgroup, a few trips, and the largest trip count at a
 * contraction slow enough that a loop cut short gives a different sum.
 */
#include <stdio.h>

#include "check/check.h"
#include "ops/peak_fma.h"

typedef struct peak_case {
    int64_t n;
    uint32_t iters;
    float a, b;
    double tol;
} peak_case;

/* Fused FMAs match the reference exactly; an unfused multiply-add (allowed by Vulkan's precision
 * rules for fma) rounds twice per step, damped by a per step: at most about 1 / (1 - a) ulps. */
static const peak_case cases[] = {
    {1, 1, 0.99f, 0.004f, 1e-5},
    {63, 3, 0.99f, 0.004f, 1e-5},
    {1000, 20, 0.99f, 0.004f, 1e-5},
    /* 131072 steps of a = 1 - 2^-18: the chains are still 0.61 of their way from the start */
    {16, VKT__PEAK_FMA_MAX_ITERS, 1.0f - 0x1p-18f, 0x1p-19f, 1e-3},
};

void vkt__check_peak(vkt__check_ctx *c)
{
    for (size_t k = 0; k < VKT__ARRAY_LEN(cases) && vkt__check_wants(c, "peak_fma"); k++) {
        const peak_case *p = &cases[k];
        char shape[48];
        snprintf(shape, sizeof shape, "%lld x %u trips", (long long)p->n, p->iters);
        vkt_scope_begin(c->dev);
        double t0 = vkt__now();
        vkt_tensor *out = vkt_tensor_new_1d(c->dev, VKT_F32, p->n);
        float *got = NULL;
        if (out && vkt__peak_fma(out, p->iters, p->a, p->b) == VKT_OK) {
            got = vkt__check_fetch(out);
        }
        double ms = (vkt__now() - t0) * 1e3;
        float *want = vkt__malloc((size_t)p->n * sizeof *want);
        if (got && want) {
            vkt__ref_peak_fma(want, p->n, p->iters, p->a, p->b);
            vkt__check_report(c, "peak_fma", shape, vkt__max_err(got, want, p->n), p->tol, ms,
                              NULL);
        } else {
            vkt__check_report_failure(c, "peak_fma", shape);
        }
        free(got);
        free(want);
        vkt_scope_end(c->dev);
    }
}
