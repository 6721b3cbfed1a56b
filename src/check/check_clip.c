/*
 * check_clip.c — gradient clipping by norm and by value (shaders/grad_clip.comp) against
 * src/ref/ref_clip.c, for norms above and below the limit.
 */
#include <math.h>
#include <stdio.h>

#include "check/check.h"
#include "optim/optim_internal.h"


static const int64_t sizes[] = {1, 3, 63, 65, 1000, 235146, 1000003};

void vkt__check_clip(vkt__check_ctx *c)
{
    for (size_t k = 0; k < VKT__ARRAY_LEN(sizes); k++) {
        int64_t n = sizes[k];
        char shape[32];
        snprintf(shape, sizeof shape, "%lld", (long long)n);
        float *g = vkt__check_rand(c, n, -1.0f, 1.0f);
        if (!g) {
            continue;
        }
        /* norm of g is about sqrt(n/3): limits below (clips) and above (no change) */
        float limits[2] = {0.5f * sqrtf((float)n / 3.0f), 4.0f * sqrtf((float)n / 3.0f)};
        for (int j = 0; j < 2 && vkt__check_wants(c, "clip_grad_norm"); j++) {
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *tg = vkt__check_tensor(c->dev, VKT_F32, g, 1, &n);
            vkt_tensor *norm = NULL;
            float *got = NULL, got_norm = NAN;
            if (tg && vkt__clip_grad_norm_tensor(tg, limits[j], &norm) == VKT_OK) {
                got = vkt__check_fetch(tg);
                vkt_tensor_download(norm, &got_norm, sizeof got_norm);
                vkt_tensor_free(norm);
            }
            double ms = (vkt__now() - t0) * 1e3;
            float *want = vkt__malloc((size_t)n * sizeof *want);
            if (got && want) {
                for (int64_t i = 0; i < n; i++) {
                    want[i] = g[i];
                }
                float want_norm = vkt__ref_clip_grad_norm(want, n, limits[j]);
                /* fp32 sum of squares (deterministic tree) vs double: ~1e-6 relative */
                double e = vkt__max_err(got, want, n);
                double en = fabs((double)got_norm - want_norm) / fmax(1.0, want_norm);
                vkt__check_report(c, j ? "clip_grad_norm_noop" : "clip_grad_norm", shape,
                                  e > en ? e : en, 1e-5, ms, NULL);
            } else {
                vkt__check_report_failure(c, "clip_grad_norm", shape);
            }
            free(got);
            free(want);
            vkt_scope_end(c->dev);
        }
        if (vkt__check_wants(c, "clip_grad_value")) {
            vkt_scope_begin(c->dev);
            double t0 = vkt__now();
            vkt_tensor *tg = vkt__check_tensor(c->dev, VKT_F32, g, 1, &n);
            float *got = NULL;
            if (tg && vkt__clip_grad_value_tensor(tg, 0.25f) == VKT_OK) {
                got = vkt__check_fetch(tg);
            }
            double ms = (vkt__now() - t0) * 1e3;
            if (got) {
                vkt__ref_clip_grad_value(g, n, 0.25f);
                vkt__check_report(c, "clip_grad_value", shape, vkt__max_err(got, g, n), 0.0, ms,
                                  NULL);
            } else {
                vkt__check_report_failure(c, "clip_grad_value", shape);
            }
            free(got);
            vkt_scope_end(c->dev);
        }
        free(g);
    }
}
