/*
 * fuzz_util.h — what the libFuzzer targets in fuzz/ share. The readers under test take paths, so
 * each input is written to an anonymous in-memory file (memfd) and read back through its
 * /proc/self/fd path: no disk traffic, nothing left behind.
 */
#ifndef VKT_FUZZ_UTIL_H
#define VKT_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* libFuzzer's entry point (declared here so -Wmissing-prototypes holds). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An in-memory file holding `data`; `path` names it until vkt_fuzz_file_close. */
typedef struct vkt_fuzz_file {
    int fd;
    char path[64];
} vkt_fuzz_file;

/* Aborts on failure: the harness, not the code under test, is broken then. */
void vkt_fuzz_file_open(vkt_fuzz_file *f, const void *data, size_t size);
void vkt_fuzz_file_close(vkt_fuzz_file *f);

/* A temporary directory (created once per process, emptied by vkt_fuzz_dir_clear). */
const char *vkt_fuzz_dir(void);
void vkt_fuzz_dir_clear(void);

#endif
