#version 450
// bench_loads.comp — how fast a kernel can bring values into its invocations, per path: the
// measurement behind the CPU-driver kernels' design (docs/performance.md).
//
// Each invocation runs `iters` rounds of 8 independent accumulations (no dependency chain
// longer than iters / 8), reading its values by the path MODE selects; addresses are
// lane-contiguous and stay within a 64 KiB window per workgroup (cache-resident: this measures
// the load path, not memory bandwidth).
//   MODE 0: storage-buffer float loads      1: storage-buffer vec4 loads
//        2: vec4 texel fetches (set 1)      3: subgroupShuffle at a constant lane (register
//           permutes, values already loaded)  4: FMAs only (the arithmetic ceiling)
// Specialization constants: 0 workgroup size, 1 MODE. Bindings: set 0 binding 0 the source
// (storage buffer, >= 64 KiB + one window per 16 workgroups), set 1 binding 0 the same range as
// texels, set 0 binding 1 one float per invocation (keeps the work live).
// Dispatch: tools/bench_loads.c (`vkt bench loads`).
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "common.glsl"

layout(constant_id = 1) const uint MODE = 0;

layout(set = 0, binding = 0) readonly buffer Src { float src[]; };
layout(set = 0, binding = 0) readonly buffer Src4 { vec4 src4[]; };
layout(set = 1, binding = 0) uniform samplerBuffer srct;
layout(set = 0, binding = 1) writeonly buffer Out { float outv[]; };

layout(push_constant) uniform PC {
    uint iters;   // multiple of 8, < 65535 * 8
    uint windows; // 4096-vec4 windows in the source
} pc;

void main()
{
    const uint W = gl_WorkGroupSize.x;
    uint lane = gl_LocalInvocationID.x;
    uint base4 = (vkt_flat_group() % pc.windows) * 4096u; // in vec4s
    vec4 acc[8];
    for (uint u = 0; u < 8; u++) {
        acc[u] = vec4(float(lane));
    }
    for (uint it = 0; it < pc.iters; it += 8) {
        for (uint u = 0; u < 8; u++) {
            uint i4 = base4 + (((it + u) * W + lane) & 4095u);
            if (MODE == 0) {
                acc[u].x += src[4 * i4];
            } else if (MODE == 1) {
                acc[u] += src4[i4];
            } else if (MODE == 2) {
                acc[u] += texelFetch(srct, int(i4));
            } else if (MODE == 3) {
                acc[u] += vec4(subgroupShuffle(acc[(u + 1) % 8].x, u % 4));
            } else {
                acc[u] = fma(acc[u], vec4(0.999), vec4(0.5));
            }
        }
    }
    vec4 s = vec4(0.0);
    for (uint u = 0; u < 8; u++) {
        s += acc[u];
    }
    outv[vkt_global_index()] = s.x + s.y + s.z + s.w;
}
