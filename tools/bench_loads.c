/*
 * bench_loads.c — `vkt bench loads`: the rate at which a kernel brings values into its
 * invocations by each path (shaders/bench_loads.comp): storage-buffer floats and vec4s, vec4
 * texel fetches, subgroup shuffles, and FMAs alone. On CPU drivers this decides how kernels
 * read memory (docs/performance.md): a storage-buffer load there is a scalar loop over the SIMD
 * lanes, a texel fetch one gather.
 *
 *   vkt bench loads [--repeat N]
 *
 * Each path: one warm-up dispatch, then N timed dispatches (default 5); the median gives
 * values per second (floats delivered to invocations) and, for the memory paths, GB/s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tensor/tensor_impl.h"

/* Mirrors `PC` in shaders/bench_loads.comp. */
typedef struct pc_loads {
    uint32_t iters, windows;
} pc_loads;
_Static_assert(sizeof(pc_loads) <= VKT__PUSH_MAX, "push constants");

enum { LOAD_F32, LOAD_VEC4, LOAD_TEXEL, LOAD_SHUFFLE, LOAD_FMA, LOAD_COUNT };
static const char *const load_names[LOAD_COUNT] = {
    "storage buffer, float", "storage buffer, vec4", "texel fetch, vec4",
    "subgroup shuffle", "FMA only (vec4)"};
/* floats each invocation receives per round (FMA: floats computed) */
static const double load_floats[LOAD_COUNT] = {1, 4, 4, 4, 4};

#define LOAD_ITERS 4096u
#define LOAD_WINDOWS 16u
#define LOAD_GROUPS 4096u

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* Median seconds of one dispatch of `mode`; negative on error. */
static double time_mode(vkt_device *dev, int mode, uint32_t wg, vkt_tensor *src, vkt_tensor *out,
                        int repeat)
{
    pc_loads pc = {LOAD_ITERS, LOAD_WINDOWS};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_BENCH_LOADS,
        .spec = {wg, (uint32_t)mode},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(src, VKT__READ), vkt__bind(out, VKT__WRITE)},
        .groups = {LOAD_GROUPS, 1, 1},
    };
    d.texels[0] = d.bindings[0];
    double t[64];
    for (int r = -1; r < repeat; r++) {
        double t0 = vkt__now();
        if (vkt__dispatch(dev, &d) != VKT_OK || vkt_device_finish(dev) != VKT_OK) {
            return -1.0;
        }
        if (r >= 0) {
            t[r] = vkt__now() - t0;
        }
    }
    qsort(t, (size_t)repeat, sizeof *t, cmp_double);
    return t[repeat / 2];
}

int vkt_cli_bench_loads(vkt_device *dev, int argc, char **argv)
{
    int repeat = 5;
    for (int i = 1; i < argc; i++) { /* argv[0] is "loads" */
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            repeat = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: vkt bench loads [--repeat N]\n");
            return 2;
        }
    }
    if (repeat < 1 || repeat > 64) {
        fprintf(stderr, "vkt bench loads: --repeat must be 1..64\n");
        return 2;
    }
    const vkt_device_info *info = vkt_device_get_info(dev);
    uint32_t wg = info->subgroup_size; /* one subgroup: the shuffle path reads its own lanes */
    vkt__binding probe = {0};
    vkt_tensor *src = vkt_tensor_new_1d(dev, VKT_F32, (int64_t)LOAD_WINDOWS * 4096 * 4);
    vkt_tensor *out = vkt_tensor_new_1d(dev, VKT_F32, (int64_t)LOAD_GROUPS * wg);
    int status = 0;
    if (!src || !out || vkt_fill(src, 0.5f) != VKT_OK) {
        fprintf(stderr, "vkt bench loads: %s\n", vkt_last_error());
        status = 1;
        goto done;
    }
    probe = vkt__bind(src, VKT__READ);
    printf("load paths on %s (subgroup %u): values delivered per second, median of %d\n",
           info->name, wg, repeat);
    printf("%-24s %12s %10s %10s\n", "path", "Gvalues/s", "GB/s", "vs float");
    double base = 0.0;
    for (int m = 0; m < LOAD_COUNT && status == 0; m++) {
        if ((m == LOAD_TEXEL && !vkt__texel_usable(dev, &probe)) ||
            (m == LOAD_SHUFFLE && !info->subgroup_shuffle)) {
            printf("%-24s %12s\n", load_names[m], "n/a on this device");
            continue;
        }
        double t = time_mode(dev, m, wg, src, out, repeat);
        if (t <= 0.0) {
            fprintf(stderr, "vkt bench loads: %s: %s\n", load_names[m], vkt_last_error());
            status = 1;
            break;
        }
        double v = (double)LOAD_GROUPS * wg * LOAD_ITERS * load_floats[m] / t;
        if (m == LOAD_F32) {
            base = v;
        }
        char gbs[16] = "-";
        if (m <= LOAD_TEXEL) {
            snprintf(gbs, sizeof gbs, "%.1f", v * 4e-9);
        }
        printf("%-24s %12.2f %10s %9.1fx\n", load_names[m], v * 1e-9, gbs, v / base);
    }
done:
    vkt_tensor_free(src);
    vkt_tensor_free(out);
    return status;
}
