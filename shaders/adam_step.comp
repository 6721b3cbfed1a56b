#version 450
// adam_step.comp — one in-place step of torch.optim.Adam / AdamW per element (vkt_adam_step):
//   Adam:  g = grad + wd * param             AdamW:  param = param * (1 - lr * wd);  g = grad
//   m = lerp(m, g, 1 - beta1)                (= beta1 * m + (1 - beta1) * g)
//   v = v * beta2 + (1 - beta2) * g * g
//   param = param + (-step_size * m) / (sqrt(v) / sqrt(bias_correction2) + eps)
// with step_size = lr / bias_correction1 and the bias corrections computed on the host in double,
// exactly torch's single-tensor arrangement. Each line follows torch's kernels operation by
// operation, one rounding each: add(x, y, alpha) = x + alpha * y, lerp(m, g, w) = m + w * (g - m)
// for |w| < 0.5 else g - (g - m) * (1 - w), addcmul/addcdiv left to right (torch's vectorised
// CPU path fuses add and lerp into fmas: at most one rounding apart). Vulkan rounds mul and add
// correctly but promises no fused fma, so `precise` separate operations match the reference on
// every device; only sqrt and division may differ (a few ulp, see check_optim.c).
// Dispatch: src/ops/optim.c. Reference: vkt__ref_adam_step. Checks: src/check/check_optim.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Grad { float grad[]; };
layout(set = 0, binding = 1) buffer Param { float param[]; };
layout(set = 0, binding = 2) buffer M { float m[]; };
layout(set = 0, binding = 3) buffer V { float v[]; };

#define ADAM_DECOUPLED 1u     // AdamW
#define ADAM_LERP_FROM_END 2u // lerp weight 1 - beta1 >= 0.5: torch's second lerp form

layout(push_constant) uniform PC {
    uint n;
    uint flags;              // ADAM_*
    float weight_decay;      // Adam: L2 term added to the gradient
    float decay;             // AdamW: 1 - lr * wd
    float lerp_coeff;        // w = 1 - beta1, or 1 - w with ADAM_LERP_FROM_END
    float beta2;
    float one_minus_beta2;
    float neg_step_size;     // -lr / (1 - beta1^t)
    float bias_correction2_sqrt;
    float eps;
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    precise float p = param[i];
    precise float g = grad[i];
    if (pc.weight_decay != 0.0) {
        if ((pc.flags & ADAM_DECOUPLED) != 0) {
            p = p * pc.decay;
        } else {
            g = g + pc.weight_decay * p;
        }
    }
    precise float mi = m[i];
    precise float diff = g - mi;
    if ((pc.flags & ADAM_LERP_FROM_END) != 0) {
        mi = g - diff * pc.lerp_coeff;
    } else {
        mi = mi + pc.lerp_coeff * diff;
    }
    precise float vi = v[i] * pc.beta2;
    precise float gg = (pc.one_minus_beta2 * g) * g;
    vi = vi + gg;
    precise float denom = sqrt(vi) / pc.bias_correction2_sqrt + pc.eps;
    precise float upd = (pc.neg_step_size * mi) / denom;
    m[i] = mi;
    v[i] = vi;
    param[i] = p + upd;
}
