/*
 * cli.h — shared pieces of the vkt command-line tool (tools/).
 */
#ifndef VKT_CLI_H
#define VKT_CLI_H

#include <stdbool.h>
#include <time.h>

#include "vkt/vkt.h"

/* Opens the device or exits with the library's message. */
vkt_device *vkt_cli_open_device(const char *select, bool validation);
/* Removes --device D / --validation from argv; returns the new argc. */
int vkt_cli_device_args(int argc, char **argv, const char **select, bool *validation);

/* `vkt train` (tools/train.c); argv[0] is "train". */
int vkt_cli_train(int argc, char **argv);

static inline double vkt__cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* `vkt bench matmul` (tools/bench_matmul.c): the arguments after "matmul". */
int vkt_cli_bench_matmul(vkt_device *dev, int argc, char **argv);

#endif
