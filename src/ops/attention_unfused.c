/*
 * attention_unfused.c — vkt__attention_unfused: scaled-dot-product attention composed from
 * differentiable ops, one (b, h) slice at a time: softmax(q kᵀ * scale + mask) (dropout) v with
 * vkt_matmul, vkt_scale, vkt_add, vkt_softmax, vkt_dropout, vkt_narrow and vkt_cat; its backward
 * is theirs. vkt_attention's path for head dimensions above VKT__ATTN_MAX_FUSED_D, and the
 * device-side reference of the fused kernels (src/check/check_attention.c). Unlike the fused
 * path it keeps every (Tq, Tk) probability matrix for the backward.
 * The dropout of slice bh uses the stream at offset + bh * Tq * Tk, so its multipliers are the
 * fused kernels' (the flat index of score (b, h, i, j)).
 */
#include <math.h>

#include "ops/attention.h"

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
    int64_t b = q->shape[0], h = q->shape[1], tq = q->shape[2], tk = k->shape[2], d = q->shape[3];
    int64_t bh = b * h;
    float scale = p.scale != 0.0f ? p.scale : (float)(1.0 / sqrt((double)d));
    vkt_tensor *out = NULL, *cat = NULL, *q2 = NULL, *k2 = NULL, *v2 = NULL;
    bool ok = true, owned = false;
    vkt_tensor *mask = additive_mask(q->dev, tq, tk, &p, &owned, &ok);
    vkt_tensor **parts = ok ? vkt__calloc((size_t)bh, sizeof *parts) : NULL;
    if (!parts) {
        goto done;
    }
    int64_t s2[2] = {bh * tq, d}, k2s[2] = {bh * tk, d};
    q2 = vkt_reshape(q, 2, s2);
    k2 = vkt_reshape(k, 2, k2s);
    v2 = vkt_reshape(v, 2, k2s);
    for (int64_t s = 0; q2 && k2 && v2 && s < bh; s++) {
        vkt_tensor *qs = vkt_narrow(q2, 0, s * tq, tq);
        vkt_tensor *ks = vkt_narrow(k2, 0, s * tk, tk);
        vkt_tensor *vs = vkt_narrow(v2, 0, s * tk, tk);
        vkt_tensor *sc = vkt_scale(vkt_matmul(qs, ks, VKT_TRANS_B), scale);
        vkt_tensor *sm = mask && sc ? vkt_add(sc, mask) : sc;
        vkt_tensor *pr = vkt_softmax(sm, 1);
        vkt_tensor *pd =
            p.dropout_p > 0.0f && pr
                ? vkt_dropout(pr, p.dropout_p, p.seed, p.offset + (uint64_t)(s * tq * tk), true)
                : pr;
        parts[s] = vkt_matmul(pd, vs, 0);
        /* the tape holds what the backward needs; drop the caller's references */
        vkt_tensor *tmp[] = {qs, ks, vs, sc, sm != sc ? sm : NULL, pr, pd != pr ? pd : NULL};
        for (size_t i = 0; i < sizeof tmp / sizeof tmp[0]; i++) {
            vkt_tensor_free(tmp[i]);
        }
        if (!parts[s]) {
            goto done;
        }
    }
    if (q2 && k2 && v2) {
        cat = vkt_cat((const vkt_tensor *const *)parts, (uint32_t)bh, 0);
        out = cat ? vkt_reshape(cat, 4, q->shape) : NULL;
    }

done:
    if (!out) {
        vkt__error_context("vkt_attention (unfused)");
    }
    for (int64_t s = 0; parts && s < bh; s++) {
        vkt_tensor_free(parts[s]);
    }
    free(parts);
    vkt_tensor_free(cat);
    vkt_tensor_free(q2);
    vkt_tensor_free(k2);
    vkt_tensor_free(v2);
    if (owned) {
        vkt_tensor_free(mask);
    }
    return out;
}
