/*
 * matmul.c — vkt_matmul: C = op(A)·op(B) with op = identity or transpose (VKT_TRANS_A/_B), and
 * its backward pass.
 *
 * Shaders: shaders/matmul_tiled.comp (GPU-style shared-memory tiles) and
 * shaders/matmul_regblock.comp (CPU-friendly register blocking), sharing shaders/matmul.glsl.
 * The variant comes from the device's capabilities (cpu_like -> regblock) unless forced through
 * src/ops/matmul.h. Transposes are strides in the push constants: no copies.
 * CPU reference: src/ref/ref_matmul.c. Checks: src/check/check_matmul.c.
 * Tests: tests/test_matmul.c. Bench: tools/bench_matmul.c (`vkt bench matmul`).
 */
#include <string.h>

#include "ops/matmul.h"

/* Mirrors `PC` in shaders/matmul.glsl. */
typedef struct vkt__pc_matmul {
    uint32_t M, N, K;
    uint32_t sa_i, sa_k;
    uint32_t sb_k, sb_j;
    uint32_t tiles_n;
    uint32_t accumulate;
} vkt__pc_matmul;
_Static_assert(sizeof(vkt__pc_matmul) <= VKT__PUSH_MAX, "push constants");

/* Values of A_VEC / B_VEC in matmul_regblock.comp. */
enum { VEC_NONE = 0, VEC_ALONG_K = 1, VEC_ALONG_IJ = 2 };

/* op(A) is (M, K), op(B) is (K, N); strides as in shaders/matmul.glsl. */
typedef struct mm_geom {
    uint32_t M, N, K;
    uint32_t sa_i, sa_k, sb_k, sb_j;
    int flags;
} mm_geom;

const char *vkt__matmul_variant_name(vkt__matmul_variant v)
{
    switch (v) {
    case VKT__MATMUL_AUTO:
        return "auto";
    case VKT__MATMUL_TILED:
        return "tiled";
    case VKT__MATMUL_REGBLOCK:
        return "regblock";
    default:
        return "?";
    }
}

vkt__matmul_variant vkt__matmul_default_variant(const vkt_device *dev)
{
    return vkt__device_caps(dev)->cpu_like ? VKT__MATMUL_REGBLOCK : VKT__MATMUL_TILED;
}

/* Validates the operands and fills the geometry; sets the error and returns false otherwise. */
static bool mm_check(const char *op, const vkt_tensor *a, const vkt_tensor *b, int flags,
                     mm_geom *g)
{
    if (!vkt__check_same_device(op, a, b) || !vkt__check_dtype(op, "a", a, VKT_F32) ||
        !vkt__check_dtype(op, "b", b, VKT_F32) || !vkt__check_ndim(op, "a", a, 2) ||
        !vkt__check_ndim(op, "b", b, 2)) {
        return false;
    }
    if (flags & ~(VKT_TRANS_A | VKT_TRANS_B)) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: unknown flags 0x%x (VKT_TRANS_A | VKT_TRANS_B only)",
                   op, (unsigned)flags);
        return false;
    }
    bool ta = flags & VKT_TRANS_A, tb = flags & VKT_TRANS_B;
    int64_t m = a->shape[ta ? 1 : 0], ka = a->shape[ta ? 0 : 1];
    int64_t kb = b->shape[tb ? 1 : 0], n = b->shape[tb ? 0 : 1];
    if (ka != kb) {
        char da[96], db[96];
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: a is %s%s but b is %s%s; inner dimensions %lld and %lld differ", op,
                   vkt_tensor_describe(a, da, sizeof da), ta ? " (used transposed)" : "",
                   vkt_tensor_describe(b, db, sizeof db), tb ? " (used transposed)" : "",
                   (long long)ka, (long long)kb);
        return false;
    }
    /* numel < 2^32 (the tensor layer's limit), so every dimension and offset fits 32 bits */
    *g = (mm_geom){
        .M = (uint32_t)m,
        .N = (uint32_t)n,
        .K = (uint32_t)ka,
        .sa_i = ta ? 1u : (uint32_t)ka,
        .sa_k = ta ? (uint32_t)m : 1u,
        .sb_k = tb ? 1u : (uint32_t)n,
        .sb_j = tb ? (uint32_t)ka : 1u,
        .flags = flags,
    };
    return true;
}

static bool check_variant(const char *op, vkt__matmul_variant v)
{
    if ((unsigned)v < VKT__MATMUL_VARIANT_COUNT) {
        return true;
    }
    vkt__error(VKT_INVALID_ARGUMENT, "%s: unknown kernel variant %d", op, (int)v);
    return false;
}

/* ---- kernel choice --------------------------------------------------------------------------- */

/* Tile shape of one dispatch: spec constants plus the output tile it covers. */
typedef struct mm_config {
    vkt__shader_id shader;
    uint32_t spec[6];
    uint32_t bm, bn;
} mm_config;

/* Shared-memory kernel: 64x64 tiles of 4x4 per invocation (256 invocations, 16 deep: 8.5 KB of
 * shared memory); 32x32 tiles of 2x2 when the product is too small to give the device a few dozen
 * workgroups; 32x32 tiles of 4x4 (64 invocations) on devices that allow fewer than 256. */
static mm_config tiled_config(const vkt_device *dev, const mm_geom *g)
{
    uint32_t max_wg = vkt_device_get_info(dev)->max_workgroup_invocations;
    uint32_t bm = 64, bn = 64, tm = 4, tn = 4;
    uint64_t tiles64 = (uint64_t)VKT__DIV_UP(g->M, 64u) * VKT__DIV_UP(g->N, 64u);
    if (tiles64 < 32) {
        bm = bn = 32;
        tm = tn = 2;
    }
    if ((bm / tm) * (bn / tn) > max_wg) { /* the spec guarantees 128 */
        bm = bn = 32;
        tm = tn = 4;
    }
    uint32_t wg = (bm / tm) * (bn / tn);
    return (mm_config){VKT__SHADER_MATMUL_TILED, {wg, bm, bn, 16, tm, tn}, bm, bn};
}

/* Register-blocked kernel. Measured on lavapipe (2 cores, LP_NATIVE_VECTOR_WIDTH 128/256/512,
 * tools/bench_matmul.c): 8 invocations per workgroup (one task each; more lanes per group only
 * made tiles bigger, not faster), a 4x8 block per invocation (32 accumulators; 8x4 and 4x4 were
 * 5-30% slower), and the 8 invocations stacked along M (WX = 1: all read the same columns of
 * op(B)) unless a wider tile wastes less work on the edges (e.g. M = 1). */
static mm_config regblock_config(const vkt_device *dev, const mm_geom *g)
{
    uint32_t wg = VKT__MIN(8u, vkt_device_get_info(dev)->max_workgroup_invocations);
    uint32_t tm = 4, tn = 8;
    uint32_t best_wx = 1;
    uint64_t best_cost = UINT64_MAX;
    for (uint32_t wx = 1; wx <= wg; wx *= 2) {
        uint64_t bm = (uint64_t)(wg / wx) * tm, bn = (uint64_t)wx * tn;
        uint64_t cost = VKT__DIV_UP(g->M, bm) * bm * (VKT__DIV_UP(g->N, bn) * bn);
        if (cost < best_cost) { /* ties keep the narrower tile */
            best_cost = cost;
            best_wx = wx;
        }
    }
    bool ta = g->flags & VKT_TRANS_A, tb = g->flags & VKT_TRANS_B;
    uint32_t avec = !ta ? (g->K % 4 == 0 ? VEC_ALONG_K : VEC_NONE)
                        : (g->M % 4 == 0 && tm % 4 == 0 ? VEC_ALONG_IJ : VEC_NONE);
    uint32_t bvec = tb ? (g->K % 4 == 0 ? VEC_ALONG_K : VEC_NONE)
                       : (g->N % 4 == 0 && tn % 4 == 0 ? VEC_ALONG_IJ : VEC_NONE);
    return (mm_config){VKT__SHADER_MATMUL_REGBLOCK,
                       {wg, tm, tn, best_wx, avec, bvec},
                       (wg / best_wx) * tm,
                       best_wx * tn};
}

static vkt_status mm_dispatch(const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *c,
                              const mm_geom *g, bool accumulate, vkt__matmul_variant v)
{
    vkt_device *dev = c->dev;
    if (v == VKT__MATMUL_AUTO) {
        v = vkt__matmul_default_variant(dev);
    }
    mm_config cfg = v == VKT__MATMUL_TILED ? tiled_config(dev, g) : regblock_config(dev, g);
    uint32_t tiles_m = VKT__DIV_UP(g->M, cfg.bm), tiles_n = VKT__DIV_UP(g->N, cfg.bn);
    vkt__pc_matmul pc = {
        .M = g->M,
        .N = g->N,
        .K = g->K,
        .sa_i = g->sa_i,
        .sa_k = g->sa_k,
        .sb_k = g->sb_k,
        .sb_j = g->sb_j,
        .tiles_n = tiles_n,
        .accumulate = accumulate,
    };
    vkt__dispatch_desc d = {
        .shader = cfg.shader,
        .spec_count = 6,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings =
            {
                vkt__bind(a, VKT__READ),
                vkt__bind(b, VKT__READ),
                vkt__bind(c, accumulate ? VKT__RW : VKT__WRITE),
            },
    };
    memcpy(d.spec, cfg.spec, sizeof cfg.spec);
    vkt__groups_2d((uint64_t)tiles_m * tiles_n, d.groups);
    return vkt__dispatch(dev, &d);
}

/* ---- public op ------------------------------------------------------------------------------- */

vkt_tensor *vkt__matmul_ex(const vkt_tensor *a, const vkt_tensor *b, int flags,
                           vkt__matmul_variant v)
{
    if (!a || !b) {
        return NULL;
    }
    mm_geom g;
    if (!mm_check("vkt_matmul", a, b, flags, &g) || !check_variant("vkt_matmul", v)) {
        return NULL;
    }
    int64_t shape[2] = {g.M, g.N};
    vkt_tensor *out = vkt__new_output(a->dev, VKT_F32, 2, shape);
    if (!out) {
        return NULL;
    }
    if (mm_dispatch(a, b, out, &g, false, v) != VKT_OK) {
        vkt_tensor_free(out);
        return NULL;
    }
    if (vkt__any_requires_grad(a, b, NULL)) {
        vkt__node *n = vkt__record(VKT__OP_MATMUL, out, a, b, NULL);
        if (!n) {
            vkt_tensor_free(out);
            return NULL;
        }
        n->iparam[0] = flags;
        n->iparam[1] = (int)v;
    }
    return out;
}

vkt_tensor *vkt_matmul(const vkt_tensor *a, const vkt_tensor *b, int flags)
{
    return vkt__matmul_ex(a, b, flags, VKT__MATMUL_AUTO);
}

vkt_status vkt__matmul_into(const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *c, int flags,
                            bool accumulate, vkt__matmul_variant v)
{
    const char *op = "vkt__matmul_into";
    if (!a || !b || !c) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: a tensor is NULL", op);
    }
    mm_geom g;
    if (!mm_check(op, a, b, flags, &g) || !vkt__check_same_device(op, a, c) ||
        !vkt__check_dtype(op, "c", c, VKT_F32)) {
        return vkt_last_status();
    }
    /* only the element count matters (gradients may be differently shaped views of a block) */
    if (c->numel != (int64_t)g.M * g.N) {
        char dc[96];
        return vkt__error(VKT_SHAPE_MISMATCH, "%s: c is %s but the product is [%u, %u]", op,
                          vkt_tensor_describe(c, dc, sizeof dc), g.M, g.N);
    }
    if (!check_variant(op, v)) {
        return vkt_last_status();
    }
    return mm_dispatch(a, b, c, &g, accumulate, v);
}

/* ---- backward --------------------------------------------------------------------------------
 * With G = dL/dC and C = op(A)·op(B):  d op(A) = G·op(B)ᵀ  and  d op(B) = op(A)ᵀ·G.
 * Undoing op on the gradients gives, per flag combination (each a product of the stored tensors,
 * so transposes stay strides):
 *   flags   dA            dB
 *   0       G·Bᵀ          Aᵀ·G
 *   TA      B·Gᵀ          A·G
 *   TB      G·B           Gᵀ·A
 *   TA|TB   Bᵀ·Gᵀ         Gᵀ·Aᵀ
 */
vkt_status vkt__matmul_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *a = n->in[0], *b = n->in[1];
    int flags = n->iparam[0];
    vkt__matmul_variant v = (vkt__matmul_variant)n->iparam[1];
    bool ta = flags & VKT_TRANS_A, tb = flags & VKT_TRANS_B;
    vkt_status s = VKT_OK;
    if (vkt__wants_grad(a)) {
        vkt_tensor *ga = vkt__grad_of(a);
        if (!ga) {
            return vkt_last_status();
        }
        if (!ta) {
            s = vkt__matmul_into(gout, b, ga, tb ? 0 : VKT_TRANS_B, true, v);
        } else {
            s = vkt__matmul_into(b, gout, ga, tb ? VKT_TRANS_A | VKT_TRANS_B : VKT_TRANS_B, true,
                                 v);
        }
    }
    if (s == VKT_OK && vkt__wants_grad(b)) {
        vkt_tensor *gb = vkt__grad_of(b);
        if (!gb) {
            return vkt_last_status();
        }
        if (!tb) {
            s = vkt__matmul_into(a, gout, gb, ta ? 0 : VKT_TRANS_A, true, v);
        } else {
            s = vkt__matmul_into(gout, a, gb, ta ? VKT_TRANS_A | VKT_TRANS_B : VKT_TRANS_A, true,
                                 v);
        }
    }
    return s;
}
