/*
 * vkt.c — the command-line tool: devices, selftest, bench.
 */
#include <stdio.h>
#include <string.h>

#include "vkt/vkt.h"

static int usage(FILE *f)
{
    fprintf(f, "usage: vkt <command> [options]\n"
               "commands:\n"
               "  devices                  list Vulkan devices\n"
               "  selftest [--device D]    check every op against its CPU reference\n");
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        return usage(stderr);
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        return usage(stdout);
    }
    fprintf(stderr, "vkt: unknown command '%s'\n", argv[1]);
    return usage(stderr);
}
