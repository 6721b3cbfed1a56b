#version 450
// peak_fma.comp — the device's fp32 FMA rate: invocation g runs CHAINS independent chains
// x = fma(x, a, b), UNROLL steps per trip of a loop of `iters` trips, and writes the sum of its
// chains to o[g] (so no step is dead code). The chains hide the FMA latency (a CPU core needs
// latency × FMA ports ≈ 8 vectors in flight; a GPU also has other warps), and with |a| < 1 the
// values stay bounded and away from denormals. One invocation does 2 · iters · UNROLL · CHAINS
// flops; the dispatch keeps iters below lavapipe's 65535 loop trips (docs/shaders.md).
// Dispatch: src/ops/peak_fma.c. Reference: vkt__ref_peak_fma (src/ref/ref_peak.c).
// Checks: src/check/check_peak.c.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

// Mirrors PEAK_FMA_CHAINS / PEAK_FMA_UNROLL in src/ops/peak_fma.h.
#define CHAINS 4 // vec4s: 16 scalar chains
#define UNROLL 8

layout(set = 0, binding = 0) writeonly buffer Out { float o[]; };

layout(push_constant) uniform PC {
    uint n; // invocations
    uint iters; // loop trips per invocation
    float a;
    float b;
} pc;

void main()
{
    uint g = vkt_global_index();
    if (g >= pc.n) {
        return;
    }
    vec4 x[CHAINS];
    [[unroll]] for (uint c = 0; c < CHAINS; c++) {
        // start values in [0, 1), distinct per chain and invocation
        uvec4 k = (uvec4(g * 4u * CHAINS + 4u * c) + uvec4(0, 1, 2, 3)) % 1021u;
        x[c] = vec4(k) * (1.0 / 1021.0);
    }
    for (uint i = 0; i < pc.iters; i++) {
        [[unroll]] for (uint u = 0; u < UNROLL; u++) {
            [[unroll]] for (uint c = 0; c < CHAINS; c++) {
                x[c] = fma(x[c], vec4(pc.a), vec4(pc.b));
            }
        }
    }
    vec4 s = vec4(0.0);
    [[unroll]] for (uint c = 0; c < CHAINS; c++) {
        s += x[c];
    }
    o[g] = (s.x + s.y) + (s.z + s.w);
}
