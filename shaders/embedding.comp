#version 450
// embedding.comp — forward of vkt_embedding (torch.nn.functional.embedding): one invocation per
// output element of out (N, D),
//   out[i, d] = weight[indices[i], d]        (NaN where indices[i] is outside [0, V))
// Dispatch: src/ops/embedding.c. Reference: vkt__ref_embedding (src/ref/ref_embedding.c).
// Checks: src/check/check_embedding.c. Backward: embedding_sort.comp, embedding_backward.comp.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer Weight { float weight[]; };
layout(set = 0, binding = 1) readonly buffer Indices { int indices[]; };
layout(set = 0, binding = 2) writeonly buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint n; // N * D
    uint num; // V
    uint dim; // D
} pc;

void main()
{
    uint e = vkt_global_index();
    if (e >= pc.n) {
        return;
    }
    uint row = e / pc.dim;
    int idx = indices[row];
    o[e] = idx >= 0 && uint(idx) < pc.num ? weight[uint(idx) * pc.dim + (e - row * pc.dim)]
                                          : uintBitsToFloat(0x7fc00000u);
}
