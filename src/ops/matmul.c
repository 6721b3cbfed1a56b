/*
 * matmul.c — vkt_matmul: C = op(A)·op(B) with op = identity or transpose of the last two
 * dimensions (VKT_TRANS_A/_B), batched as torch.matmul for operands of 2 or more dimensions
 * ((..., M, K) · (..., K, N) with equal batch dimensions, or one operand 2-D and shared by every
 * batch), and its backward pass.
 *
 * Shaders: shaders/matmul_tiled.comp (GPU-style shared-memory tiles),
 * shaders/matmul_regblock.comp (CPU-friendly register blocking) and shaders/matmul_texel.comp
 * (CPU drivers: texel fetches and subgroup shuffles), sharing shaders/matmul.glsl. The variant
 * comes from the device's capabilities (cpu_like -> texel where the operands can be viewed as
 * texels, regblock otherwise) unless forced through src/ops/matmul.h. Transposes and batches are
 * strides in the push constants: no copies. One dispatch covers every batch (workgroup = batch *
 * tiles + tile, on a 2-D grid past 65535). CPU reference: src/ref/ref_matmul.c. Checks:
 * src/check/check_matmul.c, finite differences in src/check/check_grad.c. Tests:
 * tests/test_matmul.c (PyTorch agreement on tests/fixtures/torch_bmm.txt from
 * tools/make_torch_bmm_fixtures.py). Bench: tools/bench_matmul.c
 * (`vkt bench matmul`).
 */
#include <stdio.h>
#include <string.h>

#include "ops/matmul.h"
#include "shaders/matmul_ops.h"

/* Mirrors `PC` in shaders/matmul.glsl. */
typedef struct vkt__pc_matmul {
    uint32_t M, N, K;
    uint32_t sa_i, sa_k;
    uint32_t sb_k, sb_j;
    uint32_t tiles_n;
    uint32_t accumulate;
    uint32_t tiles_mn;
    uint32_t batch;
    uint32_t sa_b, sb_b;
    uint32_t a_off, b_off;
} vkt__pc_matmul;
_Static_assert(sizeof(vkt__pc_matmul) <= VKT__PUSH_MAX, "push constants");

/* Values of A_VEC / B_VEC in matmul_regblock.comp. */
enum { VEC_NONE = 0, VEC_ALONG_K = 1, VEC_ALONG_IJ = 2 };

/* Longest inner dimension of one dispatch: the regblock kernel walks it 4 per iteration (32768)
 * and the tiled one 16 (8192), below the 65535 iterations after which lavapipe ends a loop
 * (docs/shaders.md); a longer one, such as a weight gradient over batch * T rows, is split into
 * accumulating dispatches (mm_run). The same bound as VKT__CONV_MAX_ROWS (src/ops/conv.h). */
#define MM_MAX_K (1u << 17)

/* For each batch bt < batch: op(A[bt]) is (M, K), op(B[bt]) is (K, N); strides, batch strides
 * (0: the operand is one 2-D matrix shared by every batch) and offsets as in
 * shaders/matmul.glsl. */
typedef struct mm_geom {
    uint32_t M, N, K;
    uint32_t sa_i, sa_k, sb_k, sb_j;
    uint32_t batch, sa_b, sb_b;
    uint32_t a_off, b_off;
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
    case VKT__MATMUL_TEXEL:
        return "texel";
    default:
        return "?";
    }
}

/* The texel kernel's workgroup is one subgroup, exchanging values with shuffles: it needs
 * shuffles, one fixed subgroup size of at least 4, and blocks viewable as texels. */
static bool texel_device(const vkt_device *dev)
{
    const vkt_device_info *info = vkt_device_get_info(dev);
    return vkt__device_caps(dev)->texel4 && info->subgroup_shuffle &&
           info->subgroup_min_size == info->subgroup_max_size && info->subgroup_size >= 4 &&
           info->subgroup_size <= info->max_workgroup_invocations;
}

vkt__matmul_variant vkt__matmul_default_variant(const vkt_device *dev)
{
    if (!vkt__device_caps(dev)->cpu_like) {
        return VKT__MATMUL_TILED;
    }
    return texel_device(dev) ? VKT__MATMUL_TEXEL : VKT__MATMUL_REGBLOCK;
}

/* Validates the operands (torch.matmul's rules for operands of 2 or more dimensions: equal batch
 * dimensions, or one operand 2-D and shared), fills the geometry and the output's shape
 * (batch dimensions, M, N); sets the error and returns false otherwise. */
static bool mm_check(const char *op, const vkt_tensor *a, const vkt_tensor *b, int flags,
                     mm_geom *g, int *out_ndim, int64_t *out_shape)
{
    if (!vkt__check_same_device(op, a, b) || !vkt__check_dtype(op, "a", a, VKT_F32) ||
        !vkt__check_dtype(op, "b", b, VKT_F32)) {
        return false;
    }
    char da[96], db[96];
    if (a->ndim < 2 || b->ndim < 2) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: a is %s and b is %s; both must have at least 2 dimensions (a matrix, or "
                   "a batch of them in the leading dimensions)",
                   op, vkt_tensor_describe(a, da, sizeof da),
                   vkt_tensor_describe(b, db, sizeof db));
        return false;
    }
    if (flags & ~(VKT_TRANS_A | VKT_TRANS_B)) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: unknown flags 0x%x (VKT_TRANS_A | VKT_TRANS_B only)",
                   op, (unsigned)flags);
        return false;
    }
    bool batch_ok = a->ndim == 2 || b->ndim == 2 || a->ndim == b->ndim;
    for (int d = 0; batch_ok && a->ndim > 2 && b->ndim > 2 && d < a->ndim - 2; d++) {
        batch_ok = a->shape[d] == b->shape[d];
    }
    if (!batch_ok) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: a is %s but b is %s; their batch dimensions (all but the last two) must "
                   "be equal, or one of them must be 2-D (one matrix for every batch)",
                   op, vkt_tensor_describe(a, da, sizeof da),
                   vkt_tensor_describe(b, db, sizeof db));
        return false;
    }
    bool ta = flags & VKT_TRANS_A, tb = flags & VKT_TRANS_B;
    int ra = a->ndim - 2, rb = b->ndim - 2; /* where each operand's matrix dimensions start */
    int64_t m = a->shape[ra + (ta ? 1 : 0)], ka = a->shape[ra + (ta ? 0 : 1)];
    int64_t kb = b->shape[rb + (tb ? 1 : 0)], n = b->shape[rb + (tb ? 0 : 1)];
    if (ka != kb) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: a is %s%s but b is %s%s; inner dimensions %lld and %lld differ", op,
                   vkt_tensor_describe(a, da, sizeof da), ta ? " (used transposed)" : "",
                   vkt_tensor_describe(b, db, sizeof db), tb ? " (used transposed)" : "",
                   (long long)ka, (long long)kb);
        return false;
    }
    const vkt_tensor *lead = a->ndim >= b->ndim ? a : b; /* the batched one, if any */
    int64_t batch = 1;
    *out_ndim = lead->ndim;
    for (int d = 0; d < lead->ndim - 2; d++) {
        out_shape[d] = lead->shape[d];
        batch *= lead->shape[d];
    }
    out_shape[lead->ndim - 2] = m;
    out_shape[lead->ndim - 1] = n;
    /* numel < 2^32 (the tensor layer's limit), so every dimension and offset fits 32 bits */
    *g = (mm_geom){
        .M = (uint32_t)m,
        .N = (uint32_t)n,
        .K = (uint32_t)ka,
        .sa_i = ta ? 1u : (uint32_t)ka,
        .sa_k = ta ? (uint32_t)m : 1u,
        .sb_k = tb ? 1u : (uint32_t)n,
        .sb_j = tb ? (uint32_t)ka : 1u,
        .batch = (uint32_t)batch,
        .sa_b = a->ndim > 2 ? (uint32_t)(m * ka) : 0u,
        .sb_b = b->ndim > 2 ? (uint32_t)(ka * n) : 0u,
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
 * shared memory); 32x32 tiles of 2x2 when the product (all batches) is too small to give the
 * device a few dozen workgroups; 32x32 tiles of 4x4 (64 invocations) on devices that allow fewer
 * than 256. */
static mm_config tiled_config(const vkt_device *dev, const mm_geom *g)
{
    uint32_t max_wg = vkt_device_get_info(dev)->max_workgroup_invocations;
    uint32_t bm = 64, bn = 64, tm = 4, tn = 4;
    uint64_t tiles64 = (uint64_t)VKT__DIV_UP(g->M, 64u) * VKT__DIV_UP(g->N, 64u) * g->batch;
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

/* vec4 loads of one operand (matmul_regblock.comp's A_VEC / B_VEC): along k where k has unit
 * stride, along i (j) where rows (columns) do; every vec4 must start on a multiple of 4 floats,
 * in every batch and every slice. For a 2-D product this is K % 4 == 0 (along k) or M (N) % 4 == 0
 * (along i / j). */
static uint32_t vec_mode(uint32_t s_k, uint32_t s_ij, uint32_t ij, uint32_t t_ij, uint32_t s_b,
                         uint32_t off)
{
    if ((s_b | off) % 4 != 0) {
        return VEC_NONE;
    }
    if (s_k == 1 && s_ij % 4 == 0) {
        return VEC_ALONG_K;
    }
    if (s_ij == 1 && s_k % 4 == 0 && ij % 4 == 0 && t_ij % 4 == 0) {
        return VEC_ALONG_IJ;
    }
    return VEC_NONE;
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
    uint32_t avec = vec_mode(g->sa_k, g->sa_i, g->M, tm, g->sa_b, g->a_off);
    uint32_t bvec = vec_mode(g->sb_k, g->sb_j, g->N, tn, g->sb_b, g->b_off);
    return (mm_config){VKT__SHADER_MATMUL_REGBLOCK,
                       {wg, tm, tn, best_wx, avec, bvec},
                       (wg / best_wx) * tm,
                       best_wx * tn};
}

/* matmul_texel.comp's A_MODE / B_MODE for one operand: vec4s along k (1: s_k == 1) or along
 * i / j (2: s_ij == 1, ij % 4 == 0), starting on multiples of 4 floats in every batch, where
 * K % 4 == 0 and the range is whole texels; one fetch per value otherwise (3). */
static uint32_t texel_mode(const mm_geom *g, const vkt__binding *b, uint32_t s_k, uint32_t s_ij,
                           uint32_t ij, uint32_t s_b, uint32_t off)
{
    if (g->K % 4 != 0 || b->size % 16 != 0 || (s_b | off) % 4 != 0) {
        return 3;
    }
    if (s_k == 1 && s_ij % 4 == 0) {
        return 1;
    }
    if (s_ij == 1 && ij % 4 == 0 && s_k % 4 == 0) {
        return 2;
    }
    return 3;
}

/* Tile rows of the texel kernel: 16 (8 for M <= 8). On lavapipe 16 beat 8 by 10-40% on the
 * MLP's products and 1024^3, and 32 (more register spills) was no faster; unrolling k by 8
 * gained nothing measurable (docs/performance.md). */
static uint32_t texel_tm(uint32_t M) { return M > 8 ? 16 : 8; }

/* The texel kernel's configuration, or false where the device or the operands' ranges do not
 * allow texel views. */
static bool texel_config(const vkt_device *dev, const mm_geom *g, const vkt__binding *ab,
                         const vkt__binding *bb, mm_config *cfg)
{
    if (!texel_device(dev) || !vkt__texel_usable(dev, ab) || !vkt__texel_usable(dev, bb)) {
        return false;
    }
    uint32_t s = vkt_device_get_info(dev)->subgroup_size;
    uint32_t am = texel_mode(g, ab, g->sa_k, g->sa_i, g->M, g->sa_b, g->a_off);
    uint32_t bm = texel_mode(g, bb, g->sb_k, g->sb_j, g->N, g->sb_b, g->b_off);
    uint32_t tm = texel_tm(g->M);
    *cfg = (mm_config){VKT__SHADER_MATMUL_TEXEL, {s, tm, am, bm}, tm, 4 * s};
    return true;
}

/* One dispatch: every tile of every batch. With epi (MATMUL_EPI_*, the texel kernel only, never
 * accumulating) the bias (per column or per row) and the ReLU are applied as C is stored. */
static vkt_status mm_dispatch(const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *c,
                              const mm_geom *g, bool accumulate, vkt__matmul_variant v,
                              const vkt_tensor *bias, uint32_t epi)
{
    vkt_device *dev = c->dev;
    vkt__binding ab = vkt__bind(a, VKT__READ), bb = vkt__bind(b, VKT__READ);
    mm_config cfg;
    bool texel = v == VKT__MATMUL_TEXEL && texel_config(dev, g, &ab, &bb, &cfg);
    if (!texel) {
        cfg = v == VKT__MATMUL_TILED ? tiled_config(dev, g) : regblock_config(dev, g);
    }
    VKT__ASSERT(epi == 0 || (texel && !accumulate));
    cfg.spec[4] = texel ? epi : cfg.spec[4];
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
        .tiles_mn = tiles_m * tiles_n,
        .batch = g->batch,
        .sa_b = g->sa_b,
        .sb_b = g->sb_b,
        .a_off = g->a_off,
        .b_off = g->b_off,
    };
    vkt__dispatch_desc d = {
        .shader = cfg.shader,
        .spec_count = texel ? 5 : 6,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {ab, bb, vkt__bind(c, accumulate ? VKT__RW : VKT__WRITE),
                     epi & (MATMUL_EPI_BIAS | MATMUL_EPI_BIAS_ROWS) ? vkt__bind(bias, VKT__READ)
                                                                    : (vkt__binding){0}},
    };
    if (texel) {
        d.texels[0] = ab;
        d.texels[1] = bb;
    }
    memcpy(d.spec, cfg.spec, sizeof cfg.spec);
    vkt__groups_2d((uint64_t)tiles_m * tiles_n * g->batch, d.groups);
    return vkt__dispatch(dev, &d);
}

/* C[bt] (+)= op(A[bt])·op(B[bt]) for every batch. A shared B over a contiguous A (x (B, T, C) · W)
 * is one 2-D product over batch * M rows (A's rows and C's rows run on across batches). Inner
 * dimensions longer than MM_MAX_K are split into slices that accumulate. */
static vkt_status mm_run(const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *c, mm_geom g,
                         bool accumulate, vkt__matmul_variant v)
{
    if (v == VKT__MATMUL_AUTO) {
        v = vkt__matmul_default_variant(c->dev);
    }
    if (g.batch > 1 && g.sb_b == 0 && g.sa_b == g.M * g.sa_i) {
        g.M *= g.batch;
        g.batch = 1;
        g.sa_b = 0;
    }
    vkt_status s = VKT_OK;
    for (uint32_t k0 = 0; s == VKT_OK && k0 < g.K; k0 += MM_MAX_K) {
        mm_geom slice = g;
        slice.K = VKT__MIN(MM_MAX_K, g.K - k0);
        slice.a_off = g.a_off + k0 * g.sa_k;
        slice.b_off = g.b_off + k0 * g.sb_k;
        s = mm_dispatch(a, b, c, &slice, accumulate || k0 > 0, v, NULL, 0);
    }
    return s;
}

/* C (M, N) (+)= sum over bt of op(A[bt])·op(B[bt]): the gradient of an operand shared by every
 * batch. Where both operands run on along k from one batch to the next (their batch stride is K
 * times their k stride, e.g. Aᵀ·G over contiguous A and G), batches and k fuse into one inner
 * dimension of batch * K: one 2-D product. Otherwise the per-batch products go to a temporary
 * (batch, M·N) and vkt__sum_cols adds them up (fixed order; groups of batches when the temporary
 * would pass temp_limit floats). */
static vkt_status mm_sum(const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *c, mm_geom g,
                         bool accumulate, vkt__matmul_variant v, uint32_t temp_limit)
{
    if (g.batch == 1 || (g.sa_b == g.K * g.sa_k && g.sb_b == g.K * g.sb_k)) {
        g.K *= g.batch;
        g.batch = 1;
        return mm_run(a, b, c, g, accumulate, v);
    }
    uint64_t mn = (uint64_t)g.M * g.N;
    uint32_t group = (uint32_t)VKT__MAX(1u, VKT__MIN((uint64_t)g.batch, temp_limit / mn));
    vkt_tensor *temp = vkt_tensor_new_1d(c->dev, VKT_F32, (int64_t)(group * mn));
    if (!temp) {
        return vkt_last_status();
    }
    vkt_status s = VKT_OK;
    for (uint32_t b0 = 0; s == VKT_OK && b0 < g.batch; b0 += group) {
        mm_geom part = g;
        part.batch = VKT__MIN(group, g.batch - b0);
        part.a_off = g.a_off + b0 * g.sa_b;
        part.b_off = g.b_off + b0 * g.sb_b;
        vkt_tensor *rows =
            vkt_tensor_view(temp, 0, 2, (int64_t[2]){(int64_t)part.batch, (int64_t)mn});
        s = rows ? mm_run(a, b, temp, part, false, v) : vkt_last_status();
        if (s == VKT_OK) {
            s = vkt__sum_cols(rows, c, accumulate || b0 > 0);
        }
        vkt_tensor_free(rows);
    }
    vkt_tensor_free(temp); /* memory returns once the passes that use it are done */
    return s;
}

/* ---- with an epilogue (vkt_linear: src/ops/linear.c; vkt_conv2d: src/ops/conv.c) ------------ */

bool vkt__matmul_epilogue(const vkt_tensor *a, const vkt_tensor *b, int flags,
                          const vkt_tensor *bias, uint32_t epi, vkt_tensor *out, vkt_status *status)
{
    vkt_device *dev = out->dev;
    mm_geom g;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    if (vkt__matmul_default_variant(dev) != VKT__MATMUL_TEXEL ||
        !mm_check("vkt__matmul_epilogue", a, b, flags, &g, &ndim, shape) || g.K > MM_MAX_K) {
        return false; /* the callers validated a and b: mm_check does not fail here */
    }
    if (g.batch > 1 && g.sb_b == 0 && g.sa_b == g.M * g.sa_i) { /* as mm_run folds it */
        if (epi & MATMUL_EPI_BIAS_ROWS) {
            return false; /* the folded rows run on across batches: not one bias per row */
        }
        g.M *= g.batch;
        g.batch = 1;
        g.sa_b = 0;
    }
    vkt__binding ab = vkt__bind(a, VKT__READ), bb = vkt__bind(b, VKT__READ);
    mm_config cfg;
    if (!texel_config(dev, &g, &ab, &bb, &cfg)) {
        return false;
    }
    *status = mm_dispatch(a, b, out, &g, false, VKT__MATMUL_TEXEL, bias, epi);
    return true;
}

/* ---- public op ------------------------------------------------------------------------------- */

vkt_tensor *vkt__matmul_ex(const vkt_tensor *a, const vkt_tensor *b, int flags,
                           vkt__matmul_variant v)
{
    if (!a || !b) {
        return NULL;
    }
    mm_geom g;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    if (!mm_check("vkt_matmul", a, b, flags, &g, &ndim, shape) || !check_variant("vkt_matmul", v)) {
        return NULL;
    }
    vkt_tensor *out = vkt__new_output(a->dev, VKT_F32, ndim, shape);
    if (!out) {
        return NULL;
    }
    if (mm_run(a, b, out, g, false, v) != VKT_OK) {
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
    return vkt__matmul_into_ex(a, b, c, flags, accumulate, v, VKT__MATMUL_SUM_TEMP);
}

vkt_status vkt__matmul_into_ex(const vkt_tensor *a, const vkt_tensor *b, vkt_tensor *c, int flags,
                               bool accumulate, vkt__matmul_variant v, uint32_t sum_temp)
{
    const char *op = "vkt__matmul_into";
    if (!a || !b || !c) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: a tensor is NULL", op);
    }
    bool sum = flags & VKT__MATMUL_SUM_BATCHES;
    mm_geom g;
    int ndim;
    int64_t shape[VKT_MAX_DIMS];
    if (!mm_check(op, a, b, flags & ~VKT__MATMUL_SUM_BATCHES, &g, &ndim, shape) ||
        !vkt__check_same_device(op, a, c) || !vkt__check_dtype(op, "c", c, VKT_F32)) {
        return vkt_last_status();
    }
    /* only the element count matters (gradients may be differently shaped views of a block) */
    if (c->numel != (int64_t)g.M * g.N * (sum ? 1 : g.batch)) {
        char dc[96], dp[96];
        vkt_tensor_describe(c, dc, sizeof dc);
        size_t at = 0;
        for (int d = sum ? ndim - 2 : 0; d < ndim; d++) {
            at += (size_t)snprintf(dp + at, sizeof dp - at, "%s%lld", at ? ", " : "[",
                                   (long long)shape[d]);
        }
        return vkt__error(VKT_SHAPE_MISMATCH, "%s: c is %s but the product is %s]", op, dc, dp);
    }
    if (!check_variant(op, v)) {
        return vkt_last_status();
    }
    return sum ? mm_sum(a, b, c, g, accumulate, v, sum_temp) : mm_run(a, b, c, g, accumulate, v);
}

/* ---- backward --------------------------------------------------------------------------------
 * With G = dL/dC and C = op(A)·op(B) (per batch):  d op(A) = G·op(B)ᵀ  and  d op(B) = op(A)ᵀ·G.
 * Undoing op on the gradients gives, per flag combination (each a product of the stored tensors,
 * so transposes stay strides):
 *   flags   dA            dB
 *   0       G·Bᵀ          Aᵀ·G
 *   TA      B·Gᵀ          A·G
 *   TB      G·B           Gᵀ·A
 *   TA|TB   Bᵀ·Gᵀ         Gᵀ·Aᵀ
 * Batched, these are batched products; the gradient of a 2-D operand shared by every batch of a
 * batched product is the sum of the per-batch terms (VKT__MATMUL_SUM_BATCHES).
 */
vkt_status vkt__matmul_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *a = n->in[0], *b = n->in[1];
    int flags = n->iparam[0];
    vkt__matmul_variant v = (vkt__matmul_variant)n->iparam[1];
    bool ta = flags & VKT_TRANS_A, tb = flags & VKT_TRANS_B;
    bool batched = n->out->ndim > 2;
    int sum_a = batched && a->ndim == 2 ? VKT__MATMUL_SUM_BATCHES : 0;
    int sum_b = batched && b->ndim == 2 ? VKT__MATMUL_SUM_BATCHES : 0;
    vkt_status s = VKT_OK;
    /* each product writes every element of its gradient: it overwrites a gradient it is the
     * first to write (vkt__grad_first) and adds to one already written */
    bool acc;
    if (vkt__wants_grad(a)) {
        vkt_tensor *ga = vkt__grad_first(a, &acc);
        if (!ga) {
            return vkt_last_status();
        }
        if (!ta) {
            s = vkt__matmul_into(gout, b, ga, (tb ? 0 : VKT_TRANS_B) | sum_a, acc, v);
        } else {
            s = vkt__matmul_into(b, gout, ga,
                                 (tb ? VKT_TRANS_A | VKT_TRANS_B : VKT_TRANS_B) | sum_a, acc, v);
        }
    }
    if (s == VKT_OK && vkt__wants_grad(b)) {
        vkt_tensor *gb = vkt__grad_first(b, &acc);
        if (!gb) {
            return vkt_last_status();
        }
        if (!tb) {
            s = vkt__matmul_into(a, gout, gb, (ta ? 0 : VKT_TRANS_A) | sum_b, acc, v);
        } else {
            s = vkt__matmul_into(gout, a, gb,
                                 (ta ? VKT_TRANS_A | VKT_TRANS_B : VKT_TRANS_A) | sum_b, acc, v);
        }
    }
    return s;
}
