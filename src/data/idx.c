/*
 * idx.c — the IDX file format (MNIST, Fashion-MNIST), raw or gzip-compressed.
 *
 * Layout: two zero bytes, a type byte (0x08 = unsigned byte; the only type vkt reads), a byte with
 * the number of dimensions, then each dimension as a big-endian uint32, then the data. zlib's
 * gzread reads raw files unchanged, so one path serves both; a file that starts with the gzip magic
 * but whose stream is broken is reported as corrupt.
 *
 * The header is never trusted for an allocation: a raw file's announced size is checked against
 * the file's size, and data is read in chunks into a buffer that grows with what actually
 * arrives, so a 28-byte file claiming 16 GiB fails on "truncated" having allocated little.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "internal.h"
#include "vkt/data.h"

/* Reads n bytes of `what` into dst; `done` bytes of it (of `whole` in all) came before. */
static vkt_status read_exact(gzFile f, const char *path, void *dst, size_t n, const char *what,
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

vkt_status vkt_idx_read(const char *path, vkt_idx *out)
{
    memset(out, 0, sizeof *out);
    if (!path) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_idx_read: path is NULL");
    }
    gzFile f = gzopen(path, "rb");
    if (!f) {
        return vkt__error(VKT_IO, "%s: cannot open: %s", path,
                          errno ? strerror(errno) : "out of memory");
    }
    gzbuffer(f, 1 << 20);
    uint8_t head[4];
    vkt_status s = read_exact(f, path, head, 4, "the header", 0, 4);
    if (s != VKT_OK) {
        goto fail;
    }
    if (head[0] != 0 || head[1] != 0) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: not an IDX file (bad magic %02x %02x %02x %02x)",
                       path, head[0], head[1], head[2], head[3]);
        goto fail;
    }
    if (head[2] != 0x08) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: IDX data type 0x%02x is not supported (only unsigned "
                                         "bytes, 0x08)",
                       path, head[2]);
        goto fail;
    }
    if (head[3] < 1 || head[3] > 4) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: IDX with %u dimensions (1 to 4 supported)", path,
                       head[3]);
        goto fail;
    }
    out->ndim = head[3];
    uint8_t dims[16];
    s = read_exact(f, path, dims, 4 * (size_t)out->ndim, "the dimensions", 0,
                   4 * (size_t)out->ndim);
    if (s != VKT_OK) {
        goto fail;
    }
    size_t total = 1;
    for (int i = 0; i < out->ndim; i++) {
        uint32_t d = (uint32_t)dims[4 * i] << 24 | (uint32_t)dims[4 * i + 1] << 16 |
                     (uint32_t)dims[4 * i + 2] << 8 | dims[4 * i + 3];
        if (d == 0 || total > ((size_t)1 << 34) / d) {
            s = vkt__error(VKT_CORRUPT_FILE, "%s: dimension %d is %u, which is not a usable size",
                           path, i, d);
            goto fail;
        }
        out->dims[i] = d;
        total *= d;
    }
    if (gzdirect(f)) {
        struct stat st;
        size_t header = 4 + 4 * (size_t)out->ndim;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
            (uint64_t)st.st_size != (uint64_t)header + total) {
            long long have = (long long)st.st_size - (long long)header;
            s = vkt__error(VKT_CORRUPT_FILE,
                           "%s: %s: the header announces %zu data bytes but the file has %lld "
                           "after the %zu-byte header",
                           path, have < (long long)total ? "truncated" : "trailing bytes", total,
                           have, header);
            goto fail;
        }
    }
    /* Grow with the data that arrives: the header's size is a claim, not a promise. */
    size_t cap = 0;
    out->size = 0;
    while (out->size < total) {
        if (out->size == cap) {
            size_t next = VKT__MIN(total, VKT__MAX(cap * 2, (size_t)1 << 16));
            uint8_t *p = vkt__realloc(out->data, next);
            if (!p) {
                s = vkt__error(VKT_OUT_OF_HOST_MEMORY, "%s: out of host memory for %zu bytes",
                               path, next);
                goto fail;
            }
            out->data = p;
            cap = next;
        }
        s = read_exact(f, path, out->data + out->size, cap - out->size, "the data", out->size,
                       total);
        if (s != VKT_OK) {
            goto fail;
        }
        out->size = cap;
    }
    uint8_t extra;
    int r = gzread(f, &extra, 1);
    if (r != 0) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: %s after the %zu data bytes the header announces",
                       path, r > 0 ? "trailing bytes" : "truncated or corrupt compressed data",
                       total);
        goto fail;
    }
    gzclose(f);
    return VKT_OK;

fail:
    gzclose(f);
    vkt_idx_free(out);
    return s;
}

void vkt_idx_free(vkt_idx *idx)
{
    if (idx) {
        free(idx->data);
        memset(idx, 0, sizeof *idx);
    }
}
