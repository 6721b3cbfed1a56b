/*
 * ref_optim.c — CPU references for vkt_sgd_step and vkt_adam_step (shaders/sgd_step.comp,
 * shaders/adam_step.comp).
 *
 * Unlike the other references these are not "exact in double": they replay torch.optim's
 * single-tensor update in f32 the way torch's scalar kernels compute it, so the shaders can be
 * held to the last bit (SGD) or a few ulps (Adam: sqrt and division). The mapping:
 *   a.add(b, alpha=s)          a + s * b
 *   a.mul_(s)                  a * s
 *   m.lerp_(g, w)              |w| < 0.5 ? m + w * (g - m) : g - (g - m) * (1 - w)
 *   v.addcmul_(g, g, value=s)  v + s * g * g          (left to right)
 *   p.addcdiv_(m, d, value=s)  p + s * m / d          (left to right)
 * (torch's vectorised CPU kernels fuse add and lerp into fmas: one rounding apart.) Python-side
 * scalars (1 - dampening, 1 - beta2, lr / bias_correction1, sqrt(bias_correction2), 1 - lr * wd)
 * are doubles rounded once to f32. The C11 (ISO) build does not contract a * b + c into an fma.
 */
#include <math.h>

#include "ref/ref.h"

void vkt__ref_sgd_step(float *param, float *momentum_buf, const float *grad,
                       const vkt_sgd_params *p, int64_t n)
{
    float one_minus_dampening = (float)(1.0 - (double)p->dampening);
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        if (p->weight_decay != 0.0f) {
            g = g + p->weight_decay * param[i]; /* grad.add(param, alpha=wd) */
        }
        if (p->momentum != 0.0f) {
            float buf;
            if (p->first_step) {
                buf = g; /* torch.clone(grad) */
            } else {
                buf = momentum_buf[i] * p->momentum; /* buf.mul_(momentum) */
                buf = buf + one_minus_dampening * g; /* .add_(grad, alpha=1 - dampening) */
            }
            momentum_buf[i] = buf;
            g = p->nesterov ? g + p->momentum * buf : buf; /* grad.add(buf, alpha=momentum) */
        }
        param[i] = param[i] + -p->lr * g; /* param.add_(grad, alpha=-lr) */
    }
}

void vkt__ref_adam_step(float *param, float *m, float *v, const float *grad,
                        const vkt_adam_params *p, int64_t n)
{
    double beta1 = p->beta1 != 0.0f ? p->beta1 : 0.9f;
    double beta2 = p->beta2 != 0.0f ? p->beta2 : 0.999f;
    float eps = p->eps != 0.0f ? p->eps : 1e-8f;
    double bias_correction1 = 1.0 - pow(beta1, (double)p->step);
    double bias_correction2 = 1.0 - pow(beta2, (double)p->step);
    float neg_step_size = (float)-((double)p->lr / bias_correction1);
    float bias_correction2_sqrt = (float)sqrt(bias_correction2);
    float weight = (float)(1.0 - beta1);
    float one_minus_beta2 = (float)(1.0 - beta2);
    float decay = (float)(1.0 - (double)p->lr * (double)p->weight_decay);
    for (int64_t i = 0; i < n; i++) {
        float g = grad[i];
        if (p->weight_decay != 0.0f) {
            if (p->decoupled) {
                param[i] = param[i] * decay; /* param.mul_(1 - lr * wd) */
            } else {
                g = g + p->weight_decay * param[i]; /* grad.add(param, alpha=wd) */
            }
        }
        /* exp_avg.lerp_(grad, 1 - beta1) */
        m[i] = fabsf(weight) < 0.5f ? m[i] + weight * (g - m[i])
                                    : g - (g - m[i]) * (1.0f - weight);
        /* exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2) */
        v[i] = v[i] * (float)beta2;
        v[i] = v[i] + one_minus_beta2 * g * g;
        /* denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps) */
        float denom = sqrtf(v[i]) / bias_correction2_sqrt + eps;
        /* param.addcdiv_(exp_avg, denom, value=-step_size) */
        param[i] = param[i] + neg_step_size * m[i] / denom;
    }
}
