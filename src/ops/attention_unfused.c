/*
 * attention_unfused.c — vkt__attention_unfused: scaled-dot-product attention composed from
 * differentiable whole-tensor ops: softmax(q kᵀ * scale + mask) (dropout) v with the batched
 * vkt_matmul over (B, H), vkt__softmax_scaled (scale, causal triangle and softmax in one pass
 * over the scores, src/ops/softmax.c), vkt_add for a user's (Tq, Tk) mask (broadcast over B and
 * H; then vkt_scale first) and vkt_dropout; its backward is theirs. Keys beyond
 * VKT__SOFTMAX_ROWS_MAX_LEN take vkt_scale, vkt_add of the causal triangle and vkt_softmax. vkt_attention's
 * path for head dimensions above VKT__ATTN_MAX_FUSED_D, and the device-side reference of the
 * fused kernels (src/check/check_attention.c). Unlike the fused path it keeps the (B, H, Tq, Tk)
 * probabilities for the backward.
 * vkt_dropout on the contiguous (B, H, Tq, Tk) probabilities at `offset` draws the multiplier of
 * score (b, h, i, j) from its flat index, as the fused kernels do.
 */
#include <math.h>

#include "ops/attention.h"
#include "ops/shape_internal.h"

/* The causal triangle (0 on and below the diagonal, -inf above) plus the user's mask: a new
 * tensor (*owned) or the user's mask itself, or NULL when there is neither. */
static vkt_tensor *additive_mask(vkt_device *dev, int64_t tq, int64_t tk,
                                 const vkt_attention_params *p, bool *owned, bool *ok)
{
    *ok = true;
    *owned = false;
    if (!p->causal) {
        return (vkt_tensor *)p->mask;
    }
    float *h = vkt__malloc((size_t)(tq * tk) * sizeof *h);
    vkt_tensor *tri = h ? vkt_tensor_new_2d(dev, VKT_F32, tq, tk) : NULL;
    vkt_tensor *m = NULL;
    if (tri) {
        for (int64_t i = 0; i < tq; i++) {
            for (int64_t j = 0; j < tk; j++) {
                h[i * tk + j] = j > i ? -INFINITY : 0.0f;
            }
        }
        if (vkt_tensor_upload(tri, h, (size_t)(tq * tk) * sizeof *h) == VKT_OK) {
            m = p->mask ? vkt_add(tri, p->mask) : tri;
        }
    } else if (!h) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "vkt_attention: out of host memory");
    }
    free(h);
    if (m != tri) {
        vkt_tensor_free(tri);
    }
    *owned = *ok = m != NULL;
    return m;
}

vkt_tensor *vkt__attention_unfused(const vkt_tensor *q, const vkt_tensor *k, const vkt_tensor *v,
                                   const vkt_attention_params *params)
{
    vkt_attention_params p = params ? *params : (vkt_attention_params){0};
    float scale = p.scale != 0.0f ? p.scale : (float)(1.0 / sqrt((double)q->shape[3]));
    vkt_tensor *out = NULL, *qk = NULL, *sc = NULL, *sm = NULL, *pr = NULL, *pd = NULL;
    bool ok = true, owned = false;
    /* the row kernel takes the scale and the causal triangle: one pass over the scores */
    bool rows = k->shape[2] <= VKT__SOFTMAX_ROWS_MAX_LEN;
    vkt_tensor *mask = NULL;
    if (!rows) {
        mask = additive_mask(q->dev, q->shape[2], k->shape[2], &p, &owned, &ok);
    } else {
        mask = (vkt_tensor *)p.mask;
    }
    if (!ok) {
        goto done;
    }
    /* (B, H, Tq, D) · (B, H, Tk, D)ᵀ: one dispatch over every (b, h) */
    qk = vkt_matmul(q, k, VKT_TRANS_B);
    if (rows && !mask) {
        pr = qk ? vkt__softmax_scaled(qk, scale, p.causal) : NULL;
    } else {
        sc = qk ? vkt_scale(qk, scale) : NULL;
        sm = mask && sc ? vkt_add(sc, mask) : sc;
        pr = sm ? (rows ? vkt__softmax_scaled(sm, 1.0f, p.causal) : vkt_softmax(sm, -1)) : NULL;
    }
    pd = p.dropout_p > 0.0f && pr ? vkt_dropout(pr, p.dropout_p, p.seed, p.offset, true) : pr;
    out = pd ? vkt_matmul(pd, v, 0) : NULL;

done:
    if (!out) {
        vkt__error_context("vkt_attention (unfused)");
    }
    /* the tape holds what the backward needs; drop the caller's references */
    vkt_tensor_free(pd != pr ? pd : NULL);
    vkt_tensor_free(pr);
    vkt_tensor_free(sm != sc ? sm : NULL);
    vkt_tensor_free(sc);
    vkt_tensor_free(qk);
    if (owned) {
        vkt_tensor_free(mask);
    }
    return out;
}
