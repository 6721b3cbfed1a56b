/*
 * cli.h — subcommands of the `vkt` tool that live in their own files (tools/vkt.c dispatches).
 * Each takes an open device and the arguments after the subcommand's name, prints its report to
 * stdout and returns the process exit status (0 success, 1 failure, 2 usage error).
 */
#ifndef VKT_TOOLS_CLI_H
#define VKT_TOOLS_CLI_H

#include "vkt/vkt.h"

/* `vkt bench matmul [--sizes LIST] [--repeat N]`: GFLOP/s of both matmul kernels
 * (tools/bench_matmul.c). */
int vkt_cli_bench_matmul(vkt_device *dev, int argc, char **argv);

#endif
