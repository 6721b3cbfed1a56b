/*
 * attention.c — vkt_attention (torch.nn.functional.scaled_dot_product_attention), fused, and its
 * backward.
 *
 * Shaders: shaders/attention_fwd.comp (forward), attention_bwd_rowdot.comp (D = rowsum(dO * O)),
 * attention_bwd_dq.comp, attention_bwd_dkdv.comp; shared code in attention.glsl, sizes in
 * attention_ops.h. CPU reference: src/ref/ref_attention.c. Checks: src/check/check_attention.c
 * (fused vs the unfused composition of src/ops/attention_unfused.c and vs the CPU reference),
 * check_grad.c (finite differences). Tests: tests/test_attention.c.
 *
 * Forward: one dispatch per pass over the keys (attention.h: passes bound the shaders' loops),
 * one workgroup per (b * h, block of ATTN_ROWS queries). It keeps the per-row logsumexp L
 * (B, H, Tq) as the node's saved tensor, and the mask, if any, as saved2: never a (Tq, Tk) matrix
 * of its own. Backward (FlashAttention-2): rowdot gives D; then dQ by passes over the keys,
 * parallel over query blocks, and dK, dV by passes over the queries, parallel over key blocks.
 * Each output row is owned by one invocation: deterministic, no atomics. Dropout regenerates the
 * forward's Philox multipliers from (seed, offset + flat index of the (b, h, i, j) score).
 * Head dimensions above VKT__ATTN_MAX_FUSED_D (128), and devices with less shared memory than
 * ATTN_SHARED_BYTES, take the unfused composition; so does VKT_ATTENTION_AUTO on CPU-type devices
 * (resolve_impl; vkt_attention_params.impl or the environment's VKT_ATTENTION force either).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/attention.h"
#include "shaders/attention_ops.h"

/* Mirrors `PC` in shaders/attention.glsl. */
typedef struct vkt__pc_attention {
    uint32_t bh, tq, tk, d, blocks, bk, begin, end, first, last, causal, has_mask;
    float scale;
    uint32_t threshold;
    float drop_scale;
    uint32_t seed_lo, seed_hi, off_lo, off_hi;
    uint32_t accumulate;
} vkt__pc_attention;
_Static_assert(sizeof(vkt__pc_attention) <= VKT__PUSH_MAX, "push constants");

#define ROWDOT_WG 256u

typedef struct attn_geom {
    uint32_t bh, tq, tk, d, d4, bk; /* bk: streamed rows per shared tile */
    uint32_t pass;                  /* streamed rows per pass, a multiple of bk */
    bool causal;
    float scale, p;
    uint64_t seed, offset;
} attn_geom;

static attn_geom geom_of(const vkt_tensor *q, const vkt_tensor *k, const vkt_attention_params *p,
                         uint32_t pass_rows)
{
    attn_geom g = {
        .bh = (uint32_t)(q->shape[0] * q->shape[1]),
        .tq = (uint32_t)q->shape[2],
        .tk = (uint32_t)k->shape[2],
        .d = (uint32_t)q->shape[3],
        .causal = p->causal,
        .scale = p->scale != 0.0f ? p->scale : (float)(1.0 / sqrt((double)q->shape[3])),
        .p = p->dropout_p,
        .seed = p->seed,
        .offset = p->offset,
    };
    g.d4 = (g.d + 3) / 4;
    /* rows padded to 4 words (attention.glsl); the forward takes keys four at a time */
    g.bk = ATTN_TILE_WORDS / ((g.d4 + 3) & ~3u) & ~3u;
    g.bk = g.bk > ATTN_MAX_BK ? ATTN_MAX_BK : g.bk;
    /* per streamed row an invocation runs fewer than 2 D4 + 8 loop iterations: its dot-product
     * and update loops (four words and, in the forward, four rows per iteration), its per-row
     * loops and its share of the tile loop and the tile loads */
    uint32_t rows = VKT__ATTN_PASS_BUDGET / (2 * g.d4 + 8);
    if (pass_rows && pass_rows < rows) {
        rows = pass_rows;
    }
    g.pass = rows < g.bk ? g.bk : rows / g.bk * g.bk;
    return g;
}

/* rows: of the parallel operand, in workgroups of wg */
static vkt__pc_attention pc_of(const attn_geom *g, uint32_t rows, uint32_t wg, bool accumulate)
{
    bool drop = g->p > 0.0f;
    return (vkt__pc_attention){
        .bh = g->bh,
        .tq = g->tq,
        .tk = g->tk,
        .d = g->d,
        .blocks = (rows + wg - 1) / wg,
        .bk = g->bk,
        .causal = g->causal,
        .scale = g->scale,
        /* as vkt_dropout: keep iff the 24-bit uniform >= p rounded to a multiple of 2^-24 */
        .threshold = drop ? (uint32_t)lrint((double)g->p * 16777216.0) : 0u,
        .drop_scale = g->p < 1.0f ? (float)(1.0 / (1.0 - (double)g->p)) : 0.0f,
        .seed_lo = (uint32_t)g->seed,
        .seed_hi = (uint32_t)(g->seed >> 32),
        .off_lo = (uint32_t)g->offset,
        .off_hi = (uint32_t)(g->offset >> 32),
        .accumulate = accumulate,
    };
}

/* One dispatch per pass over `streamed` rows; pc.blocks workgroups of wg per (b, h). */
static vkt_status run_passes(vkt_device *dev, vkt__dispatch_desc *d, vkt__pc_attention *pc,
                             const attn_geom *g, uint32_t wg, uint32_t streamed)
{
    d->spec[0] = wg;
    d->spec_count = 1;
    d->push = pc;
    d->push_size = sizeof *pc;
    vkt__groups_2d((uint64_t)pc->bh * pc->blocks, d->groups);
    bool accumulate = pc->accumulate;
    for (uint32_t b = 0; b < streamed; b += g->pass) {
        pc->begin = b;
        pc->end = streamed - b > g->pass ? b + g->pass : streamed;
        pc->first = b == 0;
        pc->last = pc->end == streamed;
        pc->accumulate = accumulate || b > 0;
        vkt_status s = vkt__dispatch(dev, d);
        if (s != VKT_OK) {
            return s;
        }
    }
    return VKT_OK;
}

static bool validate(const vkt_tensor *q, const vkt_tensor *k, const vkt_tensor *v,
                     const vkt_attention_params *p)
{
    const char *op = "vkt_attention";
    const vkt_tensor *in[3] = {q, k, v};
    const char *names[3] = {"q", "k", "v"};
    for (int i = 0; i < 3; i++) {
        if (!vkt__check_dtype(op, names[i], in[i], VKT_F32) ||
            !vkt__check_ndim(op, names[i], in[i], 4)) {
            return false;
        }
    }
    if (!vkt__check_same_device(op, q, k) || !vkt__check_same_device(op, q, v)) {
        return false;
    }
    char dq[96], dk[96], dv[96];
    vkt_tensor_describe(q, dq, sizeof dq);
    vkt_tensor_describe(k, dk, sizeof dk);
    vkt_tensor_describe(v, dv, sizeof dv);
    if (k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] || k->shape[3] != q->shape[3]) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: k is %s but q is %s; k must be (B, H, Tk, D) with q's B, H and D", op, dk,
                   dq);
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (v->shape[i] != k->shape[i]) {
            vkt__error(VKT_SHAPE_MISMATCH, "%s: v is %s but k is %s; they must match", op, dv, dk);
            return false;
        }
    }
    /* the shaders index rows and scores with 32-bit words */
    if (q->numel > UINT32_MAX || k->numel > UINT32_MAX ||
        q->shape[0] * q->shape[1] * q->shape[2] > UINT32_MAX / 2) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: q %s / k %s too large (2^32 elements at most)", op,
                   dq, dk);
        return false;
    }
    if (!p) {
        return true;
    }
    if (p->causal && q->shape[2] != k->shape[2]) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: causal needs as many queries as keys, but q is %s and k is %s", op, dq, dk);
        return false;
    }
    if (!(p->dropout_p >= 0.0f && p->dropout_p <= 1.0f)) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: dropout_p is %g but must be in [0, 1]", op,
                   (double)p->dropout_p);
        return false;
    }
    if ((unsigned)p->impl > VKT_ATTENTION_UNFUSED) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: impl is %d; it must be a vkt_attention_impl", op,
                   (int)p->impl);
        return false;
    }
    if (!isfinite(p->scale)) {
        vkt__error(VKT_INVALID_ARGUMENT, "%s: scale is %g but must be finite (0: 1/sqrt(D))", op,
                   (double)p->scale);
        return false;
    }
    if (p->mask) {
        const vkt_tensor *m = p->mask;
        if (!vkt__check_dtype(op, "mask", m, VKT_F32) || !vkt__check_same_device(op, q, m)) {
            return false;
        }
        if (m->ndim != 2 || m->shape[0] != q->shape[2] || m->shape[1] != k->shape[2]) {
            char dm[96];
            vkt__error(VKT_SHAPE_MISMATCH, "%s: mask is %s but must be (Tq, Tk) = [%lld, %lld]", op,
                       vkt_tensor_describe(m, dm, sizeof dm), (long long)q->shape[2],
                       (long long)k->shape[2]);
            return false;
        }
    }
    return true;
}

vkt_tensor *vkt__attention_ex(const vkt_tensor *q, const vkt_tensor *k, const vkt_tensor *v,
                              const vkt_attention_params *params, uint32_t pass_rows)
{
    if (!q || !k || !v) {
        return NULL;
    }
    if (!validate(q, k, v, params)) {
        return NULL;
    }
    vkt_attention_params p = params ? *params : (vkt_attention_params){0};
    if (q->shape[3] > VKT__ATTN_MAX_FUSED_D ||
        vkt_device_get_info(q->dev)->max_shared_memory < ATTN_SHARED_BYTES) {
        return vkt__attention_unfused(q, k, v, &p);
    }
    attn_geom g = geom_of(q, k, &p, pass_rows);
    int64_t lshape[3] = {q->shape[0], q->shape[1], q->shape[2]};
    vkt_tensor *lse = vkt_tensor_new(q->dev, VKT_F32, 3, lshape);
    vkt_tensor *out = lse ? vkt__new_output(q->dev, VKT_F32, 4, q->shape) : NULL;
    if (!out) {
        goto fail;
    }
    vkt__pc_attention pc = pc_of(&g, g.tq, ATTN_ROWS, false);
    pc.has_mask = p.mask != NULL;
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_ATTENTION_FWD,
        .bindings = {vkt__bind(q, VKT__READ), vkt__bind(k, VKT__READ), vkt__bind(v, VKT__READ),
                     p.mask ? vkt__bind(p.mask, VKT__READ) : (vkt__binding){0},
                     vkt__bind(out, VKT__RW), vkt__bind(lse, VKT__RW)},
    };
    if (run_passes(q->dev, &d, &pc, &g, ATTN_ROWS, g.tk) != VKT_OK) {
        goto fail;
    }
    if (vkt__any_requires_grad(q, k, v)) {
        vkt__node *n = vkt__record(VKT__OP_ATTENTION, out, q, k, v);
        if (!n) {
            goto fail;
        }
        n->saved = vkt__ref(lse);
        n->saved2 = p.mask ? vkt__ref((vkt_tensor *)p.mask) : NULL;
        n->iparam[0] = p.causal;
        n->iparam[1] = (int)(uint32_t)p.seed;
        n->iparam[2] = (int)(uint32_t)(p.seed >> 32);
        n->iparam[3] = (int)(uint32_t)p.offset;
        n->iparam[4] = (int)(uint32_t)(p.offset >> 32);
        n->iparam[5] = (int)pass_rows;
        n->fparam[0] = p.scale;
        n->fparam[1] = p.dropout_p;
    }
    vkt_tensor_free(lse); /* the node, if any, holds its own reference */
    return out;

fail:
    vkt__error_context("vkt_attention");
    vkt_tensor_free(out);
    vkt_tensor_free(lse);
    return NULL;
}

/* VKT_ATTENTION_AUTO resolved: the environment's choice, else by device class. On lavapipe the
 * unfused composition's batched matmuls (matmul_texel.comp) beat the fused kernels, whose
 * per-invocation loops over D compile to scalar code (docs/ops.md "Attention" has the numbers). */
static bool resolve_impl(const vkt_tensor *q, vkt_attention_impl *impl)
{
    if (*impl != VKT_ATTENTION_AUTO) {
        return true;
    }
    const char *e = getenv("VKT_ATTENTION");
    if (e && e[0] && strcmp(e, "auto") != 0) {
        if (strcmp(e, "fused") == 0) {
            *impl = VKT_ATTENTION_FUSED;
        } else if (strcmp(e, "unfused") == 0) {
            *impl = VKT_ATTENTION_UNFUSED;
        } else {
            vkt__error(VKT_INVALID_ARGUMENT,
                       "vkt_attention: VKT_ATTENTION is \"%s\"; it must be fused, unfused or auto",
                       e);
            return false;
        }
        return true;
    }
    *impl = vkt__device_caps(q->dev)->cpu_like ? VKT_ATTENTION_UNFUSED : VKT_ATTENTION_FUSED;
    return true;
}

vkt_tensor *vkt_attention(const vkt_tensor *q, const vkt_tensor *k, const vkt_tensor *v,
                          const vkt_attention_params *p)
{
    if (!q || !k || !v || !validate(q, k, v, p)) {
        return NULL;
    }
    vkt_attention_impl impl = p ? p->impl : VKT_ATTENTION_AUTO;
    if (!resolve_impl(q, &impl)) {
        return NULL;
    }
    if (impl == VKT_ATTENTION_UNFUSED) {
        return vkt__attention_unfused(q, k, v, p);
    }
    return vkt__attention_ex(q, k, v, p, 0);
}

/* A gradient buffer for an input that wants none: the dK/dV kernel writes both. */
static vkt_tensor *grad_or_scratch(vkt_tensor *t, bool *scratch)
{
    *scratch = !vkt__wants_grad(t);
    return *scratch ? vkt_tensor_new(t->dev, VKT_F32, t->ndim, t->shape) : vkt__grad_of(t);
}

vkt_status vkt__attention_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
    vkt_attention_params p = {
        .causal = n->iparam[0] != 0,
        .scale = n->fparam[0],
        .mask = n->saved2,
        .dropout_p = n->fparam[1],
        .seed = (uint64_t)(uint32_t)n->iparam[1] | (uint64_t)(uint32_t)n->iparam[2] << 32,
        .offset = (uint64_t)(uint32_t)n->iparam[3] | (uint64_t)(uint32_t)n->iparam[4] << 32,
    };
    attn_geom g = geom_of(q, k, &p, (uint32_t)n->iparam[5]);
    vkt_status s = VKT_OK;
    bool k_scratch = false, v_scratch = false;
    vkt_tensor *dk = NULL, *dv = NULL;
    int64_t sshape[1] = {2 * (int64_t)g.bh * g.tq};
    vkt_tensor *stats = vkt_tensor_new(q->dev, VKT_F32, 1, sshape);
    if (!stats) {
        return vkt_last_status();
    }
    vkt__binding mask = p.mask ? vkt__bind(p.mask, VKT__READ) : (vkt__binding){0};

    vkt__pc_attention pc = pc_of(&g, g.bh * g.tq, ROWDOT_WG, false);
    vkt__dispatch_desc rd = {
        .shader = VKT__SHADER_ATTENTION_BWD_ROWDOT,
        .spec = {ROWDOT_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(n->out, VKT__READ), vkt__bind(gout, VKT__READ),
                     vkt__bind(n->saved, VKT__READ), vkt__bind(stats, VKT__WRITE)},
    };
    vkt__groups_2d(((uint64_t)g.bh * g.tq + ROWDOT_WG - 1) / ROWDOT_WG, rd.groups);
    s = vkt__dispatch(q->dev, &rd);
    if (s != VKT_OK) {
        goto done;
    }
    if (vkt__wants_grad(q)) {
        vkt_tensor *dq = vkt__grad_of(q);
        if (!dq) {
            s = vkt_last_status();
            goto done;
        }
        pc = pc_of(&g, g.tq, ATTN_ROWS, true);
        pc.has_mask = p.mask != NULL;
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_ATTENTION_BWD_DQ,
            .bindings = {vkt__bind(q, VKT__READ), vkt__bind(k, VKT__READ), vkt__bind(v, VKT__READ),
                         mask, vkt__bind(gout, VKT__READ), vkt__bind(stats, VKT__READ),
                         vkt__bind(dq, VKT__RW)},
        };
        s = run_passes(q->dev, &d, &pc, &g, ATTN_ROWS, g.tk);
        if (s != VKT_OK) {
            goto done;
        }
    }
    if (vkt__wants_grad(k) || vkt__wants_grad(v)) {
        dk = grad_or_scratch(k, &k_scratch);
        dv = dk ? grad_or_scratch(v, &v_scratch) : NULL;
        if (!dv) {
            s = vkt_last_status();
            goto done;
        }
        pc = pc_of(&g, g.tk, ATTN_ROWS_DKDV, true);
        pc.has_mask = p.mask != NULL;
        vkt__dispatch_desc d = {
            .shader = VKT__SHADER_ATTENTION_BWD_DKDV,
            .bindings = {vkt__bind(q, VKT__READ), vkt__bind(k, VKT__READ), vkt__bind(v, VKT__READ),
                         mask, vkt__bind(gout, VKT__READ), vkt__bind(stats, VKT__READ),
                         vkt__bind(dk, VKT__RW), vkt__bind(dv, VKT__RW)},
        };
        if (k_scratch || v_scratch) {
            /* one accumulate flag covers both outputs: the scratch one starts at zero */
            s = vkt_fill(k_scratch ? dk : dv, 0.0f);
            if (s != VKT_OK) {
                goto done;
            }
        }
        s = run_passes(q->dev, &d, &pc, &g, ATTN_ROWS_DKDV, g.tq);
    }

done:
    if (k_scratch) {
        vkt_tensor_free(dk);
    }
    if (v_scratch) {
        vkt_tensor_free(dv);
    }
    vkt_tensor_free(stats);
    return s;
}
