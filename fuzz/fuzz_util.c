/*
 * fuzz_util.c — in-memory files and a scratch directory for the fuzz targets (fuzz_util.h).
 */
#include "fuzz_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void vkt_fuzz_file_open(vkt_fuzz_file *f, const void *data, size_t size)
{
    f->fd = memfd_create("vkt_fuzz", 0);
    if (f->fd < 0) {
        perror("memfd_create");
        abort();
    }
    const uint8_t *p = data;
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(f->fd, p + done, size - done);
        if (w <= 0) {
            perror("write");
            abort();
        }
        done += (size_t)w;
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

void vkt_fuzz_file_close(vkt_fuzz_file *f)
{
    close(f->fd);
    f->fd = -1;
}

static char scratch[256];

static void remove_scratch(void)
{
    vkt_fuzz_dir_clear();
    rmdir(scratch);
}

const char *vkt_fuzz_dir(void)
{
    if (!scratch[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/vkt_fuzz_XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
        if (!mkdtemp(scratch)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_scratch);
    }
    return scratch;
}

void vkt_fuzz_dir_clear(void)
{
    if (!scratch[0]) {
        return;
    }
    DIR *d = opendir(scratch);
    if (!d) {
        return;
    }
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", scratch, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
}
