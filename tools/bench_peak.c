/*
 * bench_peak.c — `vkt bench peak`: the device's measured fp32 FMA rate (shaders/peak_fma.comp,
 * src/ops/peak_fma.c), the yardstick of `vkt bench matmul`'s "% peak" column.
 *
 *   vkt bench peak [--repeat N] [--csv]
 *
 * Vulkan reports no clock rate and no count of FMA units, so the peak is not estimated from the
 * probe but measured: the grid of independent FMA chains grows until one dispatch takes 20 ms,
 * then the fastest of N (default 10) timed dispatches counts.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "ops/peak_fma.h"

enum { O_REPEAT = 256, O_CSV };

int vkt_cli_bench_peak(vkt_device *dev, int argc, char **argv)
{
    static const struct option opts[] = {{"repeat", required_argument, NULL, O_REPEAT},
                                         {"csv", no_argument, NULL, O_CSV},
                                         {0}};
    uint32_t repeat = 10;
    bool csv = false;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        int rc = 0;
        if (c == O_REPEAT) {
            rc = vkt_cli_u32("vkt bench peak", "--repeat", optarg, 1, 1000000, &repeat);
        } else if (c == O_CSV) {
            csv = true;
        } else {
            rc = vkt_cli_getopt_error("vkt bench peak", c, argv, opts);
        }
        if (rc) {
            return rc;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vkt bench peak: unexpected argument '%s' (usage: vkt bench peak "
                        "[--repeat N] [--csv])\n", argv[optind]);
        return 2;
    }
    vkt__peak_result r;
    if (vkt__peak_fma_measure(dev, 0.02, repeat, &r) != VKT_OK) {
        return vkt_cli_fail("vkt bench peak", "measuring");
    }
    const char *name = vkt_device_get_info(dev)->name;
    double fmas = (double)r.iters * VKT__PEAK_FMA_UNROLL * VKT__PEAK_FMA_LANES;
    if (csv) {
        printf("device,peak_gflops,invocations,fmas_per_invocation,seconds\n");
        vkt_cli_csv_quoted(stdout, name);
        printf(",%.2f,%llu,%.0f,%.6f\n", r.gflops, (unsigned long long)r.invocations, fmas,
               r.seconds);
    } else {
        printf("fp32 peak on %s: %.1f GFLOP/s measured\n"
               "(fastest of %u dispatches of %llu invocations x %.0f FMAs, %.2f ms each; "
               "shaders/peak_fma.comp)\n",
               name, r.gflops, r.runs, (unsigned long long)r.invocations, fmas,
               r.seconds * 1e3);
    }
    return 0;
}
