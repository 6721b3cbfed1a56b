/*
 * ref_random.c — CPU twin of the Philox4x32-10 stream (shaders/philox.glsl) behind vkt_dropout,
 * vkt_rand_uniform and vkt_rand_normal (src/ops/dropout.c, src/ops/random.c). Bits, uniforms and
 * dropout masks are bit-identical to the device's; normals are computed in double. Used by
 * src/check/check_norm.c and tests/test_norm.c.
 */
#include <math.h>

#include "ref/ref.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void vkt__ref_philox(uint32_t out[4], const uint32_t ctr[4], const uint32_t key[2])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c0 = n0;
        c1 = (uint32_t)p1;
        c2 = n2;
        c3 = (uint32_t)p0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* The block of stream element `index` (= offset + i). */
static void block(uint32_t out[4], uint64_t seed, uint64_t index, uint32_t c2, uint32_t c3)
{
    uint32_t ctr[4] = {(uint32_t)index, (uint32_t)(index >> 32), c2, c3};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    vkt__ref_philox(out, ctr, key);
}

void vkt__ref_rand_bits(uint32_t *out, uint64_t seed, uint64_t offset, uint32_t c2, uint32_t c3,
                        int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        block(out + 4 * i, seed, offset + (uint64_t)i, c2, c3);
    }
}

void vkt__ref_rand_uniform(float *out, uint64_t seed, uint64_t offset, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t w[4];
        block(w, seed, offset + (uint64_t)i, 0, 0);
        out[i] = (float)(w[0] >> 8) * (1.0f / 16777216.0f);
    }
}

void vkt__ref_rand_normal(float *out, uint64_t seed, uint64_t offset, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        uint32_t w[4];
        block(w, seed, offset + (uint64_t)i, 0, 0);
        double u1 = (double)((w[0] >> 8) + 1u) / 16777216.0;
        double u2 = (double)(w[1] >> 8) / 16777216.0;
        out[i] = (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
    }
}

bool vkt__ref_dropout_keep(float p, uint64_t seed, uint64_t offset, int64_t i)
{
    uint32_t w[4];
    block(w, seed, offset + (uint64_t)i, 0, 0);
    return (w[0] >> 8) >= (uint32_t)lrint((double)p * 16777216.0);
}

void vkt__ref_dropout(float *out, const float *x, float p, uint64_t seed, uint64_t offset,
                      int64_t n)
{
    float scale = p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f;
    for (int64_t i = 0; i < n; i++) {
        out[i] = vkt__ref_dropout_keep(p, seed, offset, i) ? x[i] * scale : 0.0f;
    }
}
