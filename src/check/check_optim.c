/*
 * check_optim.c — vkt_sgd_step and vkt_adam_step against src/ref/ref_optim.c, which replays
 * torch.optim's f32 arithmetic operation by operation.
 *
 * Variants: plain SGD, SGD + weight decay, SGD + momentum (with dampening and weight decay,
 * torch's first-step buffer initialisation), Nesterov, Adam (L2 weight decay, default betas and
 * eps), AdamW (decoupled decay, beta1 0.4 so the lerp takes torch's second form, beta2 0.99,
 * eps 1e-6). Each runs STEPS steps in a row (fresh gradients each step, Adam's step counter
 * 1, 2, 3) on n in {1, 3, 1000, 65537, 10^6 + 3} elements, then compares the parameter and the
 * optimizer state. Learning rates are large (0.5 SGD, 0.1 Adam) so the update is not lost below
 * the parameter's rounding and a wrong update formula shows.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check/check.h"

#define STEPS 3

typedef struct optim_case {
    const char *name;
    bool adam;
    vkt_sgd_params sgd;
    vkt_adam_params adam_params;
} optim_case;

static const optim_case variants[] = {
    {.name = "sgd", .sgd = {.lr = 0.5f}},
    {.name = "sgd_weight_decay", .sgd = {.lr = 0.5f, .weight_decay = 0.1f}},
    {.name = "sgd_momentum",
     .sgd = {.lr = 0.5f, .momentum = 0.9f, .dampening = 0.25f, .weight_decay = 0.01f}},
    {.name = "sgd_nesterov",
     .sgd = {.lr = 0.5f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f}},
    {.name = "adam", .adam = true, .adam_params = {.lr = 0.1f, .weight_decay = 0.05f}},
    {.name = "adamw",
     .adam = true,
     .adam_params = {.lr = 0.1f, .beta1 = 0.4f, .beta2 = 0.99f, .eps = 1e-6f,
                     .weight_decay = 0.1f, .decoupled = true}},
};

static const int64_t sizes[] = {1, 3, 1000, 65537, 1000003};

/* Unit roundoff of f32: half an ulp, relative. */
#define U32 (1.0 / 16777216.0)

/* Each step is compared on its own: the reference replays step k from the device's state after
 * step k - 1 (the device still runs all steps back to back on its own state). Adam's update
 * divides by sqrt(v), so carrying a last-bit difference across steps could be amplified without
 * bound where a gradient nearly cancels; one step at a time the error bounds below hold.
 * Errors are normwise, max_i |got - want| / max_i |want| per array (parameters cross zero, where
 * elementwise relative error means nothing).
 * Tolerances: Vulkan rounds f32 add, sub and mul correctly, and the shaders do exactly the
 * reference's operations in its order (`precise`), so SGD (parameter and momentum buffer) and
 * Adam's moments m and v must match bit for bit: tolerance 0.
 * Adam's parameter also goes through sqrt (Vulkan: as 1 / inversesqrt, <= 4.5 ulp) and two
 * divisions (2.5 ulp each), <= 11 ulp = 22 U32 relative on the update; the update is at most
 * ~lr * 1.1 = 0.11 of max |param| ~ 1 in these inputs (|m^| / sqrt(v^) <= ~1.1 in the first steps),
 * i.e. 2.5 U32, plus a flipped final rounding (2 U32): 8 U32 per step. */
static double param_tolerance(const optim_case *v) { return v->adam ? 8.0 * U32 : 0.0; }

static double normwise_err(const float *got, const float *want, int64_t n)
{
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (!(d <= num)) { /* NaN sticks */
            num = d;
        }
        den = fmax(den, fabs((double)want[i]));
    }
    return isnan(num) ? INFINITY : den > 0.0 ? num / den : num;
}

/* Runs STEPS steps of one variant on n elements; err[0] is the worst parameter error, err[1] the
 * worst optimizer-state error. False with the last error set when an op fails. */
static bool run_case(vkt__check_ctx *c, const optim_case *v, int64_t n, float *param, float *s1,
                     float *s2, float *const *grads, double err[2], double *ms)
{
    vkt_device *dev = c->dev;
    float *want[3] = {param, s1, s2};
    vkt_scope_begin(dev);
    double t0 = vkt__now();
    vkt_tensor *t[3] = {vkt__check_tensor(dev, VKT_F32, param, 1, &n),
                        vkt__check_tensor(dev, VKT_F32, s1, 1, &n),
                        vkt__check_tensor(dev, VKT_F32, s2, 1, &n)};
    bool ok = t[0] && t[1] && t[2];
    for (int step = 1; step <= STEPS && ok; step++) {
        vkt_tensor *tg = vkt__check_tensor(dev, VKT_F32, grads[step - 1], 1, &n);
        vkt_adam_params ap = v->adam_params;
        vkt_sgd_params sp = v->sgd;
        ap.step = (uint32_t)step;
        sp.first_step = step == 1;
        vkt_status s = !tg      ? vkt_last_status()
                       : v->adam ? vkt_adam_step(t[0], tg, t[1], t[2], &ap)
                                 : vkt_sgd_step(t[0], tg, t[1], &sp);
        float *got[3] = {NULL, NULL, NULL};
        for (int i = 0; i < 3 && s == VKT_OK; i++) {
            got[i] = vkt__check_fetch(t[i]);
            s = got[i] ? VKT_OK : vkt_last_status();
        }
        ok = s == VKT_OK;
        if (ok) {
            if (v->adam) {
                vkt__ref_adam_step(param, s1, s2, grads[step - 1], &ap, n);
            } else {
                vkt__ref_sgd_step(param, s1, grads[step - 1], &sp, n);
            }
            err[0] = fmax(err[0], normwise_err(got[0], param, n));
            err[1] = fmax(err[1], fmax(normwise_err(got[1], s1, n), normwise_err(got[2], s2, n)));
            for (int i = 0; i < 3; i++) { /* the next step starts from the device's state */
                memcpy(want[i], got[i], (size_t)n * sizeof(float));
            }
        }
        for (int i = 0; i < 3; i++) {
            free(got[i]);
        }
    }
    *ms = (vkt__now() - t0) * 1e3;
    vkt_scope_end(dev);
    return ok;
}

void vkt__check_optim(vkt__check_ctx *c)
{
    for (size_t vi = 0; vi < VKT__ARRAY_LEN(variants); vi++) {
        const optim_case *v = &variants[vi];
        char state_op[48];
        snprintf(state_op, sizeof state_op, "%s_state", v->name);
        bool has_state = v->adam || v->sgd.momentum != 0.0f;
        if (!vkt__check_wants(c, v->name) && !(has_state && vkt__check_wants(c, state_op))) {
            continue;
        }
        for (size_t si = 0; si < VKT__ARRAY_LEN(sizes); si++) {
            int64_t n = sizes[si];
            char shape[32];
            snprintf(shape, sizeof shape, "%lld x%d steps", (long long)n, STEPS);
            float *param = vkt__check_rand(c, n, -1.0f, 1.0f);
            float *s1 = vkt__calloc((size_t)n, sizeof *s1), *s2 = vkt__calloc((size_t)n, sizeof *s2);
            float *grads[STEPS];
            bool ok = param && s1 && s2;
            for (int k = 0; k < STEPS; k++) {
                grads[k] = vkt__check_rand(c, n, -1.0f, 1.0f);
                ok = ok && grads[k];
            }
            double err[2] = {0.0, 0.0}, ms = 0.0;
            if (!ok) {
                vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
            }
            if (!ok || !run_case(c, v, n, param, s1, s2, grads, err, &ms)) {
                vkt__check_report_failure(c, v->name, shape);
            } else {
                vkt__check_report(c, v->name, shape, err[0], param_tolerance(v), ms, NULL);
                if (has_state) {
                    /* momentum buffer, or Adam's m and v: exact (see the tolerances above) */
                    vkt__check_report(c, state_op, shape, err[1], 0.0, ms, NULL);
                }
            }
            free(param);
            free(s1);
            free(s2);
            for (int k = 0; k < STEPS; k++) {
                free(grads[k]);
            }
        }
    }
}
