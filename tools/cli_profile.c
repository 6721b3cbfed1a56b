/*
 * cli_profile.c — `vkt train --profile`: the device profile (include/vkt/gpu.h,
 * docs/profiling.md) of the training windows as a table for one average training step.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int vkt_cli_profile_print(const char *cmd, vkt_device *dev, const vkt_cli_clock *c, FILE *f)
{
    vkt_profile p;
    if (vkt_device_profile_read(dev, &p, NULL, 0) != VKT_OK) {
        return vkt_cli_fail(cmd, "reading the profile");
    }
    vkt_profile_kernel *k = calloc(p.kernel_count ? p.kernel_count : 1, sizeof *k);
    if (!k) {
        fprintf(stderr, "%s: out of host memory for the profile\n", cmd);
        return 1;
    }
    int rc = 0;
    if (vkt_device_profile_read(dev, &p, k, p.kernel_count) != VKT_OK) {
        rc = vkt_cli_fail(cmd, "reading the profile");
        goto cleanup;
    }
    if (c->steps == 0) {
        fprintf(f, "profile: no training step ran\n");
        goto cleanup;
    }
    double n = (double)c->steps;
    /* pipelines are created once, on a kernel variant's first use: not part of a step */
    double step_ms = (p.wall_ms - p.compile_ms) / n;
    fprintf(f, "profile: %llu training steps, %.3f ms/step wall (pipeline creation, %.0f ms in "
               "all, left out)\n",
            (unsigned long long)c->steps, step_ms, p.compile_ms);
    if (!p.timestamps) {
        fprintf(f, "  the device's queue has no timestamp queries (timestampValidBits 0): counts "
                   "only, no device times\n");
    }
    fprintf(f, "  %-32s %10s %10s %9s\n", "kernel", "calls/step", "ms/step", "% of step");
    for (uint32_t i = 0; i < p.kernel_count; i++) {
        fprintf(f, "  %-32s %10.2f %10.4f %9.1f\n", k[i].name, (double)k[i].calls / n,
                k[i].device_ms / n, step_ms > 0 ? 100.0 * k[i].device_ms / n / step_ms : 0.0);
    }
    uint64_t commands = p.dispatches + p.fills + p.copies + p.uploads + p.downloads;
    fprintf(f, "  %-32s %10.2f %10.4f %9.1f\n", "(all timed commands)", (double)commands / n,
            p.device_timed_ms / n, step_ms > 0 ? 100.0 * p.device_timed_ms / n / step_ms : 0.0);
    fprintf(f, "  device busy (first to last timestamp of each submit): %.4f ms/step\n",
            p.device_busy_ms / n);
    fprintf(f, "  per step: %.2f dispatches, %.2f barriers, %.2f fills, %.2f copies, %.2f uploads, "
               "%.2f downloads, %.2f submits; host recording %.1f us/step\n",
            (double)p.dispatches / n, (double)p.barriers / n, (double)p.fills / n,
            (double)p.copies / n, (double)p.uploads / n, (double)p.downloads / n,
            (double)p.submits / n, p.host_record_us / n);
    fprintf(f, "  host waits on the device: %.2f/step, %.3f ms/step; memory blocks allocated: "
               "%.2f/step\n",
            (double)p.waits / n, p.wait_ms / n, (double)p.blocks / n);

cleanup:
    free(k);
    return rc;
}
