/*
 * sample.c — the next token from a language model's logits on the host (include/vkt/nn.h):
 * temperature, top-k and greedy decoding from a seeded splitmix64 draw, as `vkt generate` uses.
 * No shader: one row of logits per generated token is read back anyway. Tests: tests/test_text.c.
 */
#include <math.h>
#include <string.h>

#include "internal.h"
#include "vkt/nn.h"

typedef struct ranked {
    float v;
    uint32_t i;
} ranked;

/* Decreasing logit, then increasing index: a total order, so qsort's result is unique. */
static int by_logit(const void *pa, const void *pb)
{
    const ranked *a = pa, *b = pb;
    if (a->v != b->v) {
        return a->v > b->v ? -1 : 1;
    }
    return a->i < b->i ? -1 : a->i > b->i;
}

vkt_status vkt_sample_logits(const float *logits, uint32_t n, const vkt_sample_desc *desc,
                             uint64_t *rng, int32_t *out)
{
    const char *fn = "vkt_sample_logits";
    if (!logits || !rng || !out || n == 0) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: %s", fn,
                          n == 0 ? "n is 0" : "logits, rng and out are required");
    }
    vkt_sample_desc d = desc ? *desc : (vkt_sample_desc){0};
    float temp = VKT__DEF(d.temperature, 1.0f);
    if (!(temp > 0.0f) || !isfinite(temp)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "%s: temperature %g must be finite and > 0 (greedy "
                                                "decoding is desc.greedy)",
                          fn, (double)d.temperature);
    }
    for (uint32_t i = 0; i < n; i++) {
        if (isnan(logits[i])) {
            return vkt__error(VKT_INVALID_ARGUMENT, "%s: logit %u is NaN", fn, i);
        }
    }
    ranked *r = vkt__malloc((size_t)n * sizeof *r);
    if (!r) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        r[i] = (ranked){logits[i], i};
    }
    qsort(r, n, sizeof *r, by_logit);
    uint32_t k = d.greedy ? 1 : d.top_k ? VKT__MIN(d.top_k, n) : n;
    uint32_t pick = 0;
    if (k > 1 && isfinite(r[0].v)) { /* +inf dominates everything: it is the pick */
        vkt__rng g = {*rng};
        double total = 0.0;
        for (uint32_t j = 0; j < k; j++) {
            total += exp(((double)r[j].v - (double)r[0].v) / (double)temp);
        }
        double u = vkt__rng_uniform(&g) * total, acc = 0.0;
        pick = k - 1; /* rounding may leave u past the last partial sum */
        for (uint32_t j = 0; j < k; j++) {
            acc += exp(((double)r[j].v - (double)r[0].v) / (double)temp);
            if (u < acc) {
                pick = j;
                break;
            }
        }
        *rng = g.state;
    }
    *out = (int32_t)r[pick].i;
    free(r);
    return VKT_OK;
}
