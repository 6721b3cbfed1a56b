/*
 * fuzz_bytes.h — reading structured values out of a fuzz input (header-only, static functions):
 * each take_* consumes bytes from the front and returns a default when the input runs out, so
 * every input decodes to something.
 */
#ifndef VKT_FUZZ_BYTES_H
#define VKT_FUZZ_BYTES_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct vkt_fuzz_bytes {
    const uint8_t *p;
    size_t left;
} vkt_fuzz_bytes;

static inline uint8_t vkt_fuzz_u8(vkt_fuzz_bytes *b)
{
    if (!b->left) {
        return 0;
    }
    b->left--;
    return *b->p++;
}

static inline uint64_t vkt_fuzz_u64(vkt_fuzz_bytes *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | vkt_fuzz_u8(b);
    }
    return v;
}

static inline double vkt_fuzz_double(vkt_fuzz_bytes *b)
{
    uint64_t u = vkt_fuzz_u64(b);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* A string of up to `cap - 1` bytes: a length byte, then that many bytes (NULs dropped). */
static inline void vkt_fuzz_str(vkt_fuzz_bytes *b, char *out, size_t cap)
{
    size_t n = vkt_fuzz_u8(b), o = 0;
    for (size_t i = 0; i < n && b->left; i++) {
        uint8_t c = vkt_fuzz_u8(b);
        if (c && o + 1 < cap) {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

#endif
