/*
 * file_read.c — reading IDX and .npy files, raw or gzip-compressed: zlib's gzread reads raw files
 * unchanged, so one path serves both; a file that starts with the gzip magic but whose stream is
 * broken is reported as corrupt. Used by src/data/idx.c and src/data/npy.c; tested by
 * tests/test_data.c and fuzz/fuzz_idx*.c, fuzz/fuzz_npy.c.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

vkt_status vkt__read_open(const char *path, gzFile *out)
{
    errno = 0;
    *out = gzopen(path, "rb");
    if (!*out) {
        return vkt__error(VKT_IO, "%s: cannot open: %s", path,
                          errno ? strerror(errno) : "out of memory");
    }
    gzbuffer(*out, 1 << 20);
    return VKT_OK;
}

vkt_status vkt__read_exact(gzFile f, const char *path, void *dst, size_t n, const char *what,
                           size_t done, size_t whole)
{
    uint8_t *p = dst;
    size_t got = 0;
    while (got < n) {
        unsigned chunk = (unsigned)VKT__MIN(n - got, (size_t)1 << 30);
        int r = gzread(f, p + got, chunk);
        if (r < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            return vkt__error(VKT_CORRUPT_FILE,
                              "%s: truncated or corrupt compressed data while reading %s (%s)",
                              path, what, msg);
        }
        if (r == 0) {
            return vkt__error(VKT_CORRUPT_FILE,
                              "%s: truncated%s: %s needs %zu bytes but the %s ends after %zu",
                              path, gzdirect(f) ? "" : " or corrupt compressed data", what, whole,
                              gzdirect(f) ? "file" : "stream", done + got);
        }
        got += (size_t)r;
    }
    return VKT_OK;
}

vkt_status vkt__read_payload(gzFile f, const char *path, size_t header, size_t total,
                             uint8_t **out)
{
    *out = NULL;
    if (gzdirect(f)) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size != (uint64_t)header + total) {
            long long have = (long long)st.st_size - (long long)header;
            return vkt__error(VKT_CORRUPT_FILE,
                              "%s: %s: the header announces %zu data bytes but the file has %lld "
                              "after the %zu-byte header",
                              path, have < (long long)total ? "truncated" : "trailing bytes",
                              total, have, header);
        }
    }
    uint8_t *data = NULL;
    size_t cap = 0, size = 0;
    vkt_status s = VKT_OK;
    while (size < total) {
        if (size == cap) {
            size_t next = VKT__MIN(total, VKT__MAX(cap * 2, (size_t)1 << 16));
            uint8_t *p = vkt__realloc(data, next);
            if (!p) {
                s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory for %zu bytes",
                               path, next);
                goto fail;
            }
            data = p;
            cap = next;
        }
        s = vkt__read_exact(f, path, data + size, cap - size, "the data", size, total);
        if (s != VKT_OK) {
            goto fail;
        }
        size = cap;
    }
    uint8_t extra;
    int r = gzread(f, &extra, 1);
    if (r != 0) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: %s after the %zu data bytes the header announces",
                       path, r > 0 ? "trailing bytes" : "truncated or corrupt compressed data",
                       total);
        goto fail;
    }
    *out = data;
    return VKT_OK;

fail:
    free(data);
    return s;
}

bool vkt__shape_elems(int ndim, const int64_t *dims, uint64_t limit, uint64_t *out)
{
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || (dims[i] > 0 && n > limit / (uint64_t)dims[i])) {
            return false;
        }
        n *= (uint64_t)dims[i];
    }
    *out = n;
    return n <= limit;
}
