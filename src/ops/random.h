/*
 * random.h — the raw Philox4x32-10 generator on the device (src/ops/random.c, shaders/rand.comp),
 * for the known-answer checks in src/check/check_norm.c.
 */
#ifndef VKT_OPS_RANDOM_H
#define VKT_OPS_RANDOM_H

#include "tensor/tensor_impl.h"

/* out (i32, 4n words) gets n blocks: block i at counter (offset + i as 64 bits, c2, c3), key =
 * (lo32(seed), hi32(seed)), word j at 4i + j. */
vkt_status vkt__rand_bits(vkt_tensor *out, uint64_t seed, uint64_t offset, uint32_t c2,
                          uint32_t c3);

#endif
