/*
 * idx.c — the IDX file format (MNIST, Fashion-MNIST), raw or gzip-compressed.
 *
 * Layout: two zero bytes, a type byte (0x08 = unsigned byte, 0x0C = int32, 0x0D = float32; the
 * types vkt reads), a byte with the number of dimensions, then each dimension as a big-endian
 * uint32, then the data, multi-byte elements big-endian. The header is never trusted for an
 * allocation (vkt__read_payload). Tests: tests/test_data.c; fuzz/fuzz_idx.c, fuzz/fuzz_idx_gz.c.
 */
#include <string.h>

#include "data/data_internal.h"

/* Types the reader knows, with their IDX codes. */
#define VKT__IDX_TYPES(X)                                                                          \
    X(0x08, VKT_DATA_U8)                                                                           \
    X(0x0C, VKT_DATA_I32)                                                                          \
    X(0x0D, VKT_DATA_F32)

static vkt_data_type idx_type(uint8_t code)
{
#define X(c, t)                                                                                    \
    if (code == (c)) {                                                                             \
        return (t);                                                                                \
    }
    VKT__IDX_TYPES(X)
#undef X
    return VKT_DATA_DEFAULT;
}

vkt_status vkt_idx_read(const char *path, vkt_idx *out)
{
    memset(out, 0, sizeof *out);
    if (!path) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_idx_read: path is NULL");
    }
    gzFile f;
    vkt_status s = vkt__read_open(path, &f);
    if (s != VKT_OK) {
        return s;
    }
    uint8_t head[4];
    s = vkt__read_exact(f, path, head, 4, "the header", 0, 4);
    if (s != VKT_OK) {
        goto fail;
    }
    if (head[0] != 0 || head[1] != 0) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: not an IDX file (bad magic %02x %02x %02x %02x)",
                       path, head[0], head[1], head[2], head[3]);
        goto fail;
    }
    out->type = idx_type(head[2]);
    if (out->type == VKT_DATA_DEFAULT) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: IDX data type 0x%02x is not supported (0x08 unsigned "
                                         "byte, 0x0C int32 and 0x0D float32 are)",
                       path, head[2]);
        goto fail;
    }
    if (head[3] < 1 || head[3] > VKT_MAX_DIMS) {
        s = vkt__error(VKT_CORRUPT_FILE, "%s: IDX with %u dimensions (1 to %d supported)", path,
                       head[3], VKT_MAX_DIMS);
        goto fail;
    }
    out->ndim = head[3];
    uint8_t dims[4 * VKT_MAX_DIMS];
    s = vkt__read_exact(f, path, dims, 4 * (size_t)out->ndim, "the dimensions", 0,
                        4 * (size_t)out->ndim);
    if (s != VKT_OK) {
        goto fail;
    }
    size_t esize = vkt_data_type_size(out->type), total = esize;
    for (int i = 0; i < out->ndim; i++) {
        uint32_t d = (uint32_t)dims[4 * i] << 24 | (uint32_t)dims[4 * i + 1] << 16 |
                     (uint32_t)dims[4 * i + 2] << 8 | dims[4 * i + 3];
        if (d == 0 || total > ((size_t)1 << 36) / d) {
            s = vkt__error(VKT_CORRUPT_FILE, "%s: dimension %d is %u, which is not a usable size",
                           path, i, d);
            goto fail;
        }
        out->dims[i] = d;
        total *= d;
    }
    s = vkt__read_payload(f, path, 4 + 4 * (size_t)out->ndim, total, &out->data);
    if (s != VKT_OK) {
        goto fail;
    }
    out->size = total;
    if (esize == 4) { /* big-endian words to host order */
        for (size_t i = 0; i < total; i += 4) {
            uint8_t *p = out->data + i;
            uint32_t w = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
            memcpy(p, &w, 4);
        }
    }
    gzclose(f);
    return VKT_OK;

fail:
    gzclose(f);
    vkt_idx_free(out);
    return s;
}

void vkt_idx_free(vkt_idx *idx) { vkt_array_free(idx); }
