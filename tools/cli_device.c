/*
 * cli_device.c — the device a command runs on: --device D / --validation, opening it, and the
 * "device:" line the training commands print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

vkt_device *vkt_cli_open_device(const char *select, bool validation)
{
    vkt_device *dev = NULL;
    if (vkt_device_create(&(vkt_device_desc){.select = select, .validation = validation}, &dev) !=
        VKT_OK) {
        fprintf(stderr, "vkt: %s\n", vkt_last_error());
        return NULL;
    }
    return dev;
}

/* Removes "--device D" and "--validation" from argv; returns the new argc. */
int vkt_cli_device_args(int argc, char **argv, const char **select, bool *validation)
{
    int out = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--device") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "vkt: --device needs an index or a name\n");
                exit(2);
            }
            *select = argv[++i];
        } else if (strncmp(argv[i], "--device=", 9) == 0) {
            *select = argv[i] + 9;
        } else if (strcmp(argv[i], "--validation") == 0) {
            *validation = true;
        } else {
            argv[out++] = argv[i];
        }
    }
    return out;
}

vkt_device *vkt_cli_open_device_print(const vkt_cli_device_opts *d)
{
    vkt_device *dev = vkt_cli_open_device(d->select, d->validation);
    if (dev) {
        const vkt_device_info *info = vkt_device_get_info(dev);
        printf("device: %s (%s)\n", info->name, vkt_device_type_name(info->type));
    }
    return dev;
}
