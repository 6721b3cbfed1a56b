/*
 * vkt.c — the command-line tool.
 *
 *   vkt devices                      list Vulkan devices, mark the default
 *   vkt train [...]                  train an MLP or a CNN (tools/train.c, models.c), or a GPT
 *                                    on text (--model gpt: tools/train_gpt.c)
 *   vkt generate [...]               text from a GPT checkpoint (tools/generate.c)
 *   vkt test / predict [...]         evaluate a checkpoint on the test split (tools/eval.c)
 *   vkt selftest [--device D] [OP]   check every op against its CPU reference on a device
 *   vkt bench matmul [...]           GFLOP/s of the matmul kernels, and % of the peak
 *   vkt bench peak [...]             the device's measured fp32 FMA peak
 *   vkt bench loads [--repeat N]     how fast kernels can read, by path
 *
 * Exit codes: 0 success, 2 a usage error (bad option or value), 1 anything else (data, device,
 * runtime). Options are parsed with getopt_long, so "--opt value" and "--opt=value" both work.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "vkt/vkt.h"

static int usage(FILE *f)
{
    fprintf(f,
            "usage: vkt <command> [options]\n"
            "\n"
            "commands:\n"
            "  devices                     list every Vulkan device and mark the default\n"
            "  train [options]             train an MLP or a CNN on Fashion-MNIST (vkt train --help),\n"
            "                              or a character GPT on text (vkt train --model gpt --help)\n"
            "  generate --checkpoint PATH [--prompt S] [--tokens N] [--temperature X] [--top-k K]\n"
            "                              text from a checkpoint of vkt train --model gpt\n"
            "  test --checkpoint PATH      evaluate a saved model on the test split\n"
            "  predict --checkpoint PATH [--output FILE]\n"
            "                              write the test split's predictions as CSV\n"
            "  selftest [--device D] [OP]  run every op and reduction check against its CPU\n"
            "                              reference (OP: a family or op name substring)\n"
            "  bench matmul [--device D] [--sizes N,N,...] [--repeat R] [--variant V] [--csv]\n"
            "                              matmul GFLOP/s for square, MLP- and CNN-shaped sizes,\n"
            "                              and as %% of the measured peak (V: all, auto, tiled,\n"
            "                              regblock, texel; sizes S, MxNxK[:AB|AtB|ABt|AtBt],\n"
            "                              BxMxNxK)\n"
            "  bench peak [--device D] [--repeat R] [--csv]\n"
            "                              the device's fp32 peak, measured with an FMA loop\n"
            "  bench loads [--device D] [--repeat R]\n"
            "                              values per second by load path (storage buffer,\n"
            "                              texel fetch, subgroup shuffle)\n"
            "\n"
            "options:\n"
            "  --device D   device index or name substring (default: VKT_DEVICE, else the\n"
            "               first discrete > integrated > virtual > CPU device)\n"
            "  --validation turn on Khronos validation (also VKT_VALIDATION=1)\n"
            "  -h, --help   this text (vkt COMMAND --help: that command's options)\n"
            "  --version    print the version\n");
    return f == stderr ? 2 : 0;
}

static void fmt_bytes(char *buf, size_t n, uint64_t bytes)
{
    if (bytes >= (1ull << 30)) {
        snprintf(buf, n, "%.1f GiB", (double)bytes / (double)(1ull << 30));
    } else if (bytes >= (1ull << 20)) {
        snprintf(buf, n, "%.1f MiB", (double)bytes / (double)(1ull << 20));
    } else {
        snprintf(buf, n, "%.0f KiB", (double)bytes / 1024.0);
    }
}

static int cmd_devices(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {0}};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h') {
            printf("usage: vkt devices\n\nLists every Vulkan device and marks the default.\n");
            return 0;
        }
        return vkt_cli_getopt_error("vkt devices", c, argv, opts);
    }
    if (optind < argc) {
        fprintf(stderr, "vkt devices: takes no arguments, not '%s'\n", argv[optind]);
        return 2;
    }
    vkt_device_info infos[16];
    uint32_t count = 0;
    if (vkt_enumerate_devices(infos, 16, &count) != VKT_OK) {
        fprintf(stderr, "vkt: %s\n", vkt_last_error());
        return 1;
    }
    for (uint32_t i = 0; i < count && i < 16; i++) {
        const vkt_device_info *d = &infos[i];
        char shm[32];
        fmt_bytes(shm, sizeof shm, d->max_shared_memory);
        printf("%s%u: %s\n", d->is_default ? "* " : "  ", d->index, d->name);
        printf("     type %s, driver %s (%s), Vulkan %u.%u.%u%s\n", vkt_device_type_name(d->type),
               d->driver_name[0] ? d->driver_name : "?", d->driver_info[0] ? d->driver_info : "?",
               (d->api_version >> 22) & 0x7F, (d->api_version >> 12) & 0x3FF,
               d->api_version & 0xFFF, d->usable ? "" : "  [not usable: needs Vulkan 1.2]");
        printf("     subgroup %u (%u..%u)%s, shared memory %s, workgroup %u invocations\n",
               d->subgroup_size, d->subgroup_min_size, d->subgroup_max_size,
               d->subgroup_arithmetic ? ", arithmetic" : "", shm, d->max_workgroup_invocations);
        char range[32];
        fmt_bytes(range, sizeof range, d->max_storage_buffer_range);
        printf("     max tensor %s, fp16 %s, %s\n", range, d->fp16 ? "yes" : "no",
               d->uma ? "unified memory" : "dedicated memory");
        for (uint32_t h = 0; h < d->heap_count; h++) {
            char sz[32];
            fmt_bytes(sz, sizeof sz, d->heap_size[h]);
            printf("     heap %u: %s%s\n", h, sz, d->heap_device_local[h] ? " device-local" : "");
        }
    }
    if (count > 16) {
        printf("  (%u more)\n", count - 16);
    }
    printf("* = default (VKT_DEVICE=<index|name> or --device to choose another)\n");
    return 0;
}

static void print_row(const vkt_check_result *r, void *user)
{
    int *n = user;
    if ((*n)++ == 0) {
        printf("%-12s %-18s %-24s %10s %10s %6s %9s\n", "family", "op", "shape", "max err", "tol",
               "result", "ms");
    }
    printf("%-12s %-18s %-24s %10.3g %10.3g %6s %9.2f%s%s\n", r->family, r->op, r->shape,
           r->max_err, r->tol, r->pass ? "pass" : "FAIL", r->ms, r->note ? "  " : "",
           r->note ? r->note : "");
    fflush(stdout);
}

static int cmd_selftest(int argc, char **argv)
{
    const char *select = NULL, *filter = NULL;
    bool validation = false;
    enum { O_DEVICE = 256, O_VALIDATION };
    static const struct option opts[] = {{"device", required_argument, NULL, O_DEVICE},
                                         {"validation", no_argument, NULL, O_VALIDATION},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == O_DEVICE) {
            select = optarg;
        } else if (c == O_VALIDATION) {
            validation = true;
        } else if (c == 'h') {
            printf("usage: vkt selftest [--device D] [--validation] [OP]\n\n"
                   "Runs every op and reduction check against its CPU reference\n"
                   "(OP: a family or op name substring).\n");
            return 0;
        } else {
            return vkt_cli_getopt_error("vkt selftest", c, argv, opts);
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "vkt selftest: one OP filter at most, not '%s'\n", argv[optind + 1]);
        return 2;
    }
    filter = optind < argc ? argv[optind] : NULL;
    vkt_device *dev = vkt_cli_open_device(select, validation);
    if (!dev) {
        return 1;
    }
    const vkt_device_info *info = vkt_device_get_info(dev);
    printf("device: %s (%s), subgroup %u%s\n", info->name, info->driver_info, info->subgroup_size,
           info->subgroup_arithmetic ? " with arithmetic" : "");
    int rows = 0;
    uint32_t checks = 0, failures = 0;
    double t0 = 0;
    (void)t0;
    vkt_status s = vkt_selftest(dev, filter, print_row, &rows, &checks, &failures);
    vkt_device_stats st;
    vkt_device_get_stats(dev, &st);
    vkt_device_destroy(dev);
    if (s == VKT_NOT_FOUND) {
        fprintf(stderr, "vkt: %s\n", vkt_last_error());
        return 2;
    }
    printf("%u checks, %u failed%s\n", checks, failures,
           validation ? "" : " (run with --validation to also check API usage)");
    if (validation && st.validation_messages > 0) {
        printf("%llu validation messages: FAIL\n", (unsigned long long)st.validation_messages);
        return 1;
    }
    return failures ? 1 : 0;
}

static int cmd_bench(int argc, char **argv)
{
    const char *select = NULL;
    bool validation = false;
    argc = vkt_cli_device_args(argc, argv, &select, &validation);
    if (argc < 2) {
        fprintf(stderr, "vkt bench: which benchmark? (matmul, peak, loads)\n");
        return 2;
    }
    static const struct {
        const char *name;
        int (*run)(vkt_device *, int, char **);
    } benches[] = {
        {"matmul", vkt_cli_bench_matmul},
        {"peak", vkt_cli_bench_peak},
        {"loads", vkt_cli_bench_loads},
    };
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (strcmp(argv[1], benches[i].name) == 0) {
            vkt_device *dev = vkt_cli_open_device(select, validation);
            if (!dev) {
                return 1;
            }
            int rc = benches[i].run(dev, argc - 1, argv + 1);
            vkt_device_destroy(dev);
            return rc;
        }
    }
    fprintf(stderr, "vkt bench: unknown benchmark '%s' (matmul, peak, loads)\n", argv[1]);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return usage(stderr);
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        return usage(stdout);
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0 || strcmp(cmd, "version") == 0) {
        printf("vkt %s\n", vkt_version());
        return 0;
    }
    if (cmd[0] == '-') {
        fprintf(stderr, "vkt: unknown option '%s' before the command (see vkt --help)\n", cmd);
        return 2;
    }
    /* each command parses its own options, --help included */
    if (strcmp(cmd, "train") == 0) {
        return vkt_cli_train(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "generate") == 0) {
        return vkt_cli_generate(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "test") == 0) {
        return vkt_cli_test(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "predict") == 0) {
        return vkt_cli_predict(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "bench") == 0) {
        for (int i = 2; i < argc; i++) {
            if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
                return usage(stdout);
            }
        }
    }
    if (strcmp(cmd, "devices") == 0) {
        return cmd_devices(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "selftest") == 0) {
        return cmd_selftest(argc - 1, argv + 1);
    }
    if (strcmp(cmd, "bench") == 0) {
        return cmd_bench(argc - 1, argv + 1);
    }
    fprintf(stderr, "vkt: unknown command '%s'\n", cmd);
    return usage(stderr);
}
