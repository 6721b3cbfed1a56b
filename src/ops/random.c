/*
 * random.c — vkt_rand_uniform and vkt_rand_normal: tensors from the Philox4x32-10 stream that
 * vkt_dropout also uses, and vkt__rand_bits (the raw generator, for the known-answer checks).
 *
 * Shader: shaders/rand.comp (generator: shaders/philox.glsl). CPU reference: src/ref/ref_random.c.
 * Checks: src/check/check_norm.c. Tests: tests/test_norm.c.
 */
#include "shaders/rand_ops.h"
#include "ops/random.h"

/* Mirrors `PC` in shaders/rand.comp. */
typedef struct vkt__pc_rand {
    uint32_t n;
    uint32_t seed_lo, seed_hi;
    uint32_t off_lo, off_hi;
    uint32_t c2, c3;
} vkt__pc_rand;
_Static_assert(sizeof(vkt__pc_rand) <= VKT__PUSH_MAX, "push constants");

#define RAND_WG 256u

/* out gets n values (DIST_BITS: n blocks of 4 words). */
static vkt_status rand_dispatch(vkt_tensor *out, uint32_t dist, uint32_t n, uint64_t seed,
                                uint64_t offset, uint32_t c2, uint32_t c3)
{
    vkt__pc_rand pc = {
        .n = n,
        .seed_lo = (uint32_t)seed,
        .seed_hi = (uint32_t)(seed >> 32),
        .off_lo = (uint32_t)offset,
        .off_hi = (uint32_t)(offset >> 32),
        .c2 = c2,
        .c3 = c3,
    };
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_RAND,
        .spec = {RAND_WG, dist},
        .spec_count = 2,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(out, VKT__WRITE)},
    };
    vkt__elementwise_groups(n, RAND_WG, d.groups);
    return vkt__dispatch(out->dev, &d);
}

static vkt_tensor *rand_tensor(const char *name, uint32_t dist, vkt_device *dev, int ndim,
                               const int64_t *shape, uint64_t seed, uint64_t offset)
{
    if (!dev) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: device is NULL", name);
        return NULL;
    }
    vkt_tensor *t = vkt__new_output(dev, VKT_F32, ndim, shape);
    if (!t) {
        vkt__error_context("%s", name);
        return NULL;
    }
    if (rand_dispatch(t, dist, (uint32_t)t->numel, seed, offset, 0, 0) != VKT_OK) {
        vkt__error_context("%s", name);
        vkt_tensor_free(t);
        return NULL;
    }
    return t;
}

vkt_tensor *vkt_rand_uniform(vkt_device *dev, int ndim, const int64_t *shape, uint64_t seed,
                             uint64_t offset)
{
    return rand_tensor("vkt_rand_uniform", DIST_UNIFORM, dev, ndim, shape, seed, offset);
}

vkt_tensor *vkt_rand_normal(vkt_device *dev, int ndim, const int64_t *shape, uint64_t seed,
                            uint64_t offset)
{
    return rand_tensor("vkt_rand_normal", DIST_NORMAL, dev, ndim, shape, seed, offset);
}

vkt_status vkt__rand_bits(vkt_tensor *out, uint64_t seed, uint64_t offset, uint32_t c2, uint32_t c3)
{
    VKT__ASSERT(out->dtype == VKT_I32 && out->numel % 4 == 0);
    return rand_dispatch(out, DIST_BITS, (uint32_t)(out->numel / 4), seed, offset, c2, c3);
}
