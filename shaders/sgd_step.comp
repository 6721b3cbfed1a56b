#version 450
// sgd_step.comp — one in-place step of torch.optim.SGD per element (vkt_sgd_step):
//   g = grad;  if wd != 0:  g = g + wd * param
//   if momentum:  buf = first_step ? g : momentum * buf + (1 - dampening) * g
//                 g = nesterov ? g + momentum * buf : buf
//   param = param - lr * g
// The arithmetic follows torch's kernels operation by operation, each torch op rounding once
// (add(x, y, alpha) = x + alpha * y is two roundings, as in torch's scalar path; its vectorised
// CPU path fuses them into an fma, which differs by at most one rounding). Vulkan rounds mul and
// add correctly but does not promise a fused fma, so separate operations, kept apart by
// `precise`, make every conformant device match the reference vkt__ref_sgd_step bit for bit.
// Dispatch: src/ops/optim.c. Checks: src/check/check_optim.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Grad { float grad[]; };
layout(set = 0, binding = 1) buffer Param { float param[]; };
layout(set = 0, binding = 2) buffer Buf { float buf[]; }; // unused without momentum

#define SGD_MOMENTUM 1u
#define SGD_NESTEROV 2u
#define SGD_FIRST_STEP 4u

layout(push_constant) uniform PC {
    uint n;
    uint flags;          // SGD_*
    float neg_lr;        // -lr
    float weight_decay;
    float momentum;
    float one_minus_dampening;
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
        g = g + pc.weight_decay * p;
    }
    if ((pc.flags & SGD_MOMENTUM) != 0) {
        precise float b;
        if ((pc.flags & SGD_FIRST_STEP) != 0) {
            b = g;
        } else {
            precise float decayed = buf[i] * pc.momentum;
            b = decayed + pc.one_minus_dampening * g;
        }
        buf[i] = b;
        g = (pc.flags & SGD_NESTEROV) != 0 ? g + pc.momentum * b : b;
    }
    param[i] = p + pc.neg_lr * g;
}
