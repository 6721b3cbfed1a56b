#version 450
// batch_norm_backward_reduce.comp — per channel c of x (N, C, S), one workgroup each
// (batch_norm_reduce.glsl): sum_dy = sum(dy) and sum_dyx = sum(dy * xhat), xhat = (x - mean[c]) *
// invstd[c] from the forward's stats (2C). Writes sums[c] = sum_dy, sums[C + c] = sum_dyx (read by
// batch_norm_backward_apply.comp in training mode), and adds dweight[c] += sum_dyx (want_dweight)
// and dbias[c] += sum_dy (want_dbias). Bindings 4 and 5 are statically written, so the dispatch
// binds real ranges there even when they are unwanted (sums again; the flags keep them unwritten).
// Dispatch: src/ops/batch_norm.c. Reference: vkt__ref_batch_norm_backward (src/ref/ref_norm.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "batch_norm_reduce.glsl"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) readonly buffer Dy { float dy[]; };
layout(set = 0, binding = 2) readonly buffer Stats { float stats[]; };
layout(set = 0, binding = 3) writeonly buffer Sums { float sums[]; };
layout(set = 0, binding = 4) buffer DWeight { float dweight[]; };
layout(set = 0, binding = 5) buffer DBias { float dbias[]; };

layout(push_constant) uniform PC {
    uint batch;    // N
    uint channels; // C
    uint spatial;  // S
    uint want_dweight;
    uint want_dbias;
} pc;

void main()
{
    uint c = vkt_flat_group();
    if (c >= pc.channels) {
        return; // whole workgroup: the 2-D grid's tail
    }
    float mean = stats[c], invstd = stats[pc.channels + c];
    uint m = pc.batch * pc.spatial;
    vec2 s_dy = vec2(0.0), s_dyx = vec2(0.0);
    for (uint k = gl_LocalInvocationID.x; k < m; k += gl_WorkGroupSize.x) {
        uint i = bn_index(k, c, pc.channels, pc.spatial);
        float g = dy[i];
        bn_add(s_dy, g, 0.0);
        bn_add(s_dyx, g * ((x[i] - mean) * invstd), 0.0);
    }
    vec4 r = bn_workgroup_sum(vec4(s_dy, s_dyx));
    if (gl_LocalInvocationID.x != 0u) {
        return;
    }
    float sum_dy = bn_value(r.xy), sum_dyx = bn_value(r.zw);
    sums[c] = sum_dy;
    sums[pc.channels + c] = sum_dyx;
    if (pc.want_dweight != 0u) {
        dweight[c] += sum_dyx;
    }
    if (pc.want_dbias != 0u) {
        dbias[c] += sum_dy;
    }
}
