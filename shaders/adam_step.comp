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
// Each invocation steps 4 consecutive elements with vec4 loads and stores (on lavapipe a vec4
// store is several times faster than 4 scalar ones; bench/small_kernels measures it); the last
// invocation's n % 4 elements go through the scalar views of the same bindings, so no access
// leaves a binding's range.
// Dispatch: src/ops/optim.c. Reference: vkt__ref_adam_step. Checks: src/check/check_optim.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// Each binding twice: as vec4 for the body, as float for the tail (aliases of one descriptor).
layout(set = 0, binding = 0) readonly buffer Grad4 { vec4 grad4[]; };
layout(set = 0, binding = 1) buffer Param4 { vec4 param4[]; };
layout(set = 0, binding = 2) buffer M4 { vec4 m4[]; };
layout(set = 0, binding = 3) buffer V4 { vec4 v4[]; };
layout(set = 0, binding = 0) readonly buffer Grad { float grad[]; };
layout(set = 0, binding = 1) buffer Param { float param[]; };
layout(set = 0, binding = 2) buffer M { float m[]; };
layout(set = 0, binding = 3) buffer V { float v[]; };
// With TEXEL (CPU drivers, every range aligned) the whole quads are read through texel views of
// the same four ranges: on lavapipe a storage-buffer load is a loop over the SIMD lanes, a texel
// fetch one gather (docs/performance.md). Each element is read and then written by one
// invocation only, so reading through a second descriptor is safe.
layout(constant_id = 1) const uint TEXEL = 0;
layout(set = 1, binding = 0) uniform samplerBuffer grad_t;
layout(set = 1, binding = 1) uniform samplerBuffer param_t;
layout(set = 1, binding = 2) uniform samplerBuffer m_t;
layout(set = 1, binding = 3) uniform samplerBuffer v_t;

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

// One step of 4 independent elements, component by component (padding lanes of the tail hold
// zeros, which step to finite values that are never stored).
void adam(inout vec4 p_io, vec4 g_in, inout vec4 m_io, inout vec4 v_io)
{
    precise vec4 p = p_io;
    precise vec4 g = g_in;
    if (pc.weight_decay != 0.0) {
        if ((pc.flags & ADAM_DECOUPLED) != 0) {
            p = p * pc.decay;
        } else {
            g = g + pc.weight_decay * p;
        }
    }
    precise vec4 mi = m_io;
    precise vec4 diff = g - mi;
    if ((pc.flags & ADAM_LERP_FROM_END) != 0) {
        mi = g - diff * pc.lerp_coeff;
    } else {
        mi = mi + pc.lerp_coeff * diff;
    }
    precise vec4 vi = v_io * pc.beta2;
    precise vec4 gg = (pc.one_minus_beta2 * g) * g;
    vi = vi + gg;
    precise vec4 denom = sqrt(vi) / pc.bias_correction2_sqrt + pc.eps;
    precise vec4 upd = (pc.neg_step_size * mi) / denom;
    m_io = mi;
    v_io = vi;
    p_io = p + upd;
}

void main()
{
    uint i = vkt_global_index();
    uint n4 = pc.n / 4;
    if (i < n4) {
        int t = int(i);
        vec4 p = TEXEL != 0 ? texelFetch(param_t, t) : param4[i];
        vec4 mi = TEXEL != 0 ? texelFetch(m_t, t) : m4[i];
        vec4 vi = TEXEL != 0 ? texelFetch(v_t, t) : v4[i];
        adam(p, TEXEL != 0 ? texelFetch(grad_t, t) : grad4[i], mi, vi);
        m4[i] = mi;
        v4[i] = vi;
        param4[i] = p;
    } else if (i == n4 && pc.n % 4 != 0) {
        uint base = 4 * n4, rest = pc.n - base;
        vec4 p = vec4(0.0), g = vec4(0.0), mi = vec4(0.0), vi = vec4(0.0);
        for (uint k = 0; k < rest; k++) {
            p[k] = param[base + k];
            g[k] = grad[base + k];
            mi[k] = m[base + k];
            vi[k] = v[base + k];
        }
        adam(p, g, mi, vi);
        for (uint k = 0; k < rest; k++) {
            m[base + k] = mi[k];
            v[base + k] = vi[k];
            param[base + k] = p[k];
        }
    }
}
