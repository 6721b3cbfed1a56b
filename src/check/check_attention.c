/*
 * check_attention.c — vkt_attention's fused kernels (src/ops/attention.c) against the CPU
 * reference (src/ref/ref_attention.c, double) and against the unfused composition of
 * differentiable ops on the device (src/ops/attention_unfused.c): the output and the gradients
 * of L = sum(out * R) in q, k and v, on awkward shapes (B, H in 1..3; T in 1, 3, 63, 65, 200 and
 * a few past one pass; D in 3, 16, 32, 64, 65, 128 and 160, the unfused fallback), causal or not,
 * with an additive mask (some entries -inf), Tq != Tk, dropout, and short passes (pass_rows) so
 * that small shapes run several of them. Tests: tests/test_attention.c.
 *
 * Tolerance, vkt__max_err units: the fused kernels accumulate fp32 dot products over D and sums
 * over Tk with per-tile rescaling; with inputs in [-1, 1) the measured error is ~1e-6 for the
 * output and ~3e-6 for the gradients against the double reference; the unfused composition has
 * its own fp32 rounding of the same size. 1e-4 leaves room for other devices' exp.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"
#include "ops/attention.h"

#define ATTN_TOL 1e-4

typedef struct attn_case {
    int64_t b, h, tq, tk, d;
    bool causal, mask;
    float p;            /* dropout */
    uint32_t pass_rows; /* 0: the budget's */
    bool unfused;       /* also compare with the unfused composition on the device */
} attn_case;

static const attn_case cases[] = {
    {1, 1, 1, 1, 3, false, false, 0.0f, 0, true},
    {2, 3, 3, 3, 16, true, false, 0.0f, 0, true},
    {1, 2, 63, 63, 32, true, true, 0.0f, 0, true},
    {3, 1, 65, 65, 65, false, true, 0.0f, 0, true},
    {1, 1, 200, 200, 128, true, false, 0.0f, 0, true},
    {2, 2, 65, 3, 16, false, false, 0.0f, 0, true},
    {1, 3, 3, 200, 32, false, true, 0.0f, 0, true},
    {3, 2, 1, 1, 3, true, false, 0.0f, 0, false},
    {2, 1, 65, 65, 128, true, false, 0.0f, 16, true},
    {1, 2, 200, 63, 3, false, true, 0.0f, 16, true},
    {2, 2, 63, 63, 32, true, false, 0.3f, 0, true},
    {1, 1, 65, 200, 65, false, true, 0.2f, 32, true},
    {2, 3, 33, 33, 64, true, true, 0.1f, 0, true},
    {1, 1, 1, 2000, 128, false, false, 0.0f, 0, false}, /* 5 passes over the keys */
    {1, 1, 700, 5, 128, false, false, 0.0f, 0, false},  /* 2 passes over the queries */
    {1, 2, 33, 33, 160, true, true, 0.0f, 0, false},    /* D > 128: the unfused path */
};

typedef struct attn_run {
    float *out, *grad[3];
} attn_run;

static void run_free(attn_run *r)
{
    free(r->out);
    for (int i = 0; i < 3; i++) {
        free(r->grad[i]);
    }
}

/* out and the gradients of sum(out * R) on the device, fused or unfused; false on error. */
static bool run_device(vkt__check_ctx *c, const attn_case *k, float *const host[3],
                       const float *mask, const float *r, bool fused, attn_run *res)
{
    memset(res, 0, sizeof *res);
    int64_t qs[4] = {k->b, k->h, k->tq, k->d}, ks[4] = {k->b, k->h, k->tk, k->d};
    int64_t ms[2] = {k->tq, k->tk};
    vkt_scope_begin(c->dev);
    vkt_tensor *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = vkt__check_tensor(c->dev, VKT_F32, host[i], 4, i ? ks : qs);
        vkt_tensor_set_requires_grad(t[i], true);
    }
    vkt_tensor *m = mask ? vkt__check_tensor(c->dev, VKT_F32, mask, 2, ms) : NULL;
    vkt_attention_params p = {.causal = k->causal,
                              .mask = m,
                              .dropout_p = k->p,
                              .seed = 0x1234567890abcdefull,
                              .offset = 77};
    vkt_tensor *y = fused ? vkt__attention_ex(t[0], t[1], t[2], &p, k->pass_rows)
                          : vkt__attention_unfused(t[0], t[1], t[2], &p);
    vkt_tensor *w = y ? vkt__check_tensor(c->dev, VKT_F32, r, 4, qs) : NULL;
    vkt_tensor *L = w ? vkt_sum(vkt_mul(y, w)) : NULL;
    bool ok = L && vkt_backward(L) == VKT_OK;
    res->out = ok ? vkt__check_fetch(y) : NULL;
    ok = res->out != NULL;
    for (int i = 0; ok && i < 3; i++) {
        res->grad[i] = vkt__check_fetch(vkt_tensor_grad(t[i]));
        ok = res->grad[i] != NULL;
    }
    vkt_scope_end(c->dev);
    if (!ok) {
        run_free(res);
    }
    return ok;
}

static double grads_err(const attn_run *a, const float *const want[3], const int64_t n[3])
{
    double e = 0.0;
    for (int i = 0; i < 3; i++) {
        e = fmax(e, vkt__max_err(a->grad[i], want[i], n[i]));
    }
    return e;
}

static void check_case(vkt__check_ctx *c, const attn_case *k)
{
    char shape[96];
    snprintf(shape, sizeof shape, "%lldx%lldx%lldx%lldx%lld%s%s%s%s", (long long)k->b,
             (long long)k->h, (long long)k->tq, (long long)k->tk, (long long)k->d,
             k->causal ? " causal" : "", k->mask ? " mask" : "", k->p > 0.0f ? " dropout" : "",
             k->pass_rows ? " short-passes" : "");
    int64_t bh = k->b * k->h, nq = bh * k->tq * k->d, nk = bh * k->tk * k->d;
    int64_t n[3] = {nq, nk, nk};
    float *host[3] = {vkt__check_rand(c, nq, -1.0f, 1.0f), vkt__check_rand(c, nk, -1.0f, 1.0f),
                      vkt__check_rand(c, nk, -1.0f, 1.0f)};
    float *r = vkt__check_rand(c, nq, -1.0f, 1.0f);
    float *mask = k->mask ? vkt__check_rand(c, k->tq * k->tk, -1.0f, 1.0f) : NULL;
    float *want = vkt__malloc((size_t)nq * sizeof *want);
    float *wg[3] = {vkt__malloc((size_t)nq * sizeof(float)),
                    vkt__malloc((size_t)nk * sizeof(float)),
                    vkt__malloc((size_t)nk * sizeof(float))};
    attn_run fused = {0}, unf = {0};
    bool have_unf = false;
    double t0 = vkt__now();
    if (!host[0] || !host[1] || !host[2] || !r || (k->mask && !mask) || !want || !wg[0] || !wg[1] ||
        !wg[2]) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, "attention", shape);
        goto done;
    }
    if (mask) { /* about one score in eight masked out, never a whole row */
        for (int64_t i = 0; i < k->tq; i++) {
            for (int64_t j = 1; j < k->tk; j++) {
                if (vkt__check_next(c) % 8 == 0) {
                    mask[i * k->tk + j] = -INFINITY;
                }
            }
        }
    }
    vkt__ref_attention_args a = {
        .bh = bh,
        .tq = k->tq,
        .tk = k->tk,
        .d = k->d,
        .causal = k->causal,
        .scale = (float)(1.0 / sqrt((double)k->d)),
        .mask = mask,
        .p = k->p,
        .seed = 0x1234567890abcdefull,
        .offset = 77,
    };
    if (!vkt__ref_attention(&a, host[0], host[1], host[2], want, NULL) ||
        !vkt__ref_attention_backward(&a, host[0], host[1], host[2], r, wg[0], wg[1], wg[2])) {
        vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
        vkt__check_report_failure(c, "attention", shape);
        goto done;
    }
    if (!run_device(c, k, host, mask, r, true, &fused)) {
        vkt__check_report_failure(c, "attention", shape);
        goto done;
    }
    double ms = (vkt__now() - t0) * 1e3;
    vkt__check_report(c, "attention", shape, vkt__max_err(fused.out, want, nq), ATTN_TOL, ms, NULL);
    vkt__check_report(c, "attention_backward", shape,
                      grads_err(&fused, (const float *const *)wg, n), ATTN_TOL, ms, NULL);
    if (k->unfused && vkt__check_wants(c, "attention_vs_unfused")) {
        have_unf = run_device(c, k, host, mask, r, false, &unf);
        if (!have_unf) {
            vkt__check_report_failure(c, "attention_vs_unfused", shape);
            goto done;
        }
        const float *ug[3] = {unf.grad[0], unf.grad[1], unf.grad[2]};
        double e = fmax(vkt__max_err(fused.out, unf.out, nq), grads_err(&fused, ug, n));
        vkt__check_report(c, "attention_vs_unfused", shape, e, ATTN_TOL, 0.0, NULL);
    }

done:
    for (int i = 0; i < 3; i++) {
        free(host[i]);
        free(wg[i]);
    }
    free(r);
    free(mask);
    free(want);
    run_free(&fused);
    if (have_unf) {
        run_free(&unf);
    }
}

void vkt__check_attention(vkt__check_ctx *c)
{
    if (!vkt__check_wants(c, "attention") && !vkt__check_wants(c, "attention_backward") &&
        !vkt__check_wants(c, "attention_vs_unfused")) {
        return;
    }
    for (size_t i = 0; i < VKT__ARRAY_LEN(cases); i++) {
        check_case(c, &cases[i]);
    }
}
