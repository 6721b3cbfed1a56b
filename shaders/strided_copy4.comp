#version 450
// strided_copy4.comp — strided_copy.comp four f32 words at a time: the same map over vec4s, for
// copies whose innermost dimension is contiguous in both tensors and whose sizes, strides and
// offsets in that dimension's units are whole vec4s (the host divides them by 4). The input is
// read through a texel binding (set 1; docs/shaders.md "Texel bindings"): on CPU drivers one
// vectorised gather, where strided_copy.comp's storage load is a scalar loop per SIMD lane, and
// the index arithmetic is shared by four words. f32 only (texels are floats).
// Dispatch: vkt__strided_copy in src/ops/copy.c. Reference: vkt__ref_strided_copy in
// src/ref/ref_shape.c. Checks: src/check/check_shape.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 1) buffer Out { vec4 dst[]; };
layout(set = 1, binding = 0) uniform samplerBuffer Src;

layout(push_constant) uniform PC {
    uint n;          // vec4s of the iteration shape
    uint i_off;      // in vec4s
    uint o_off;
    uint accumulate;
    uint ndim;
    uint size[6];    // iteration shape in vec4s along the last dimension
    uint is[6];      // strides in vec4s
    uint os[6];
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    uint si = pc.i_off, so = pc.o_off, rest = i;
    int first = 6 - int(pc.ndim);
    for (int d = 5; d > first; d--) {
        uint q = rest / pc.size[d];
        uint c = rest - q * pc.size[d];
        rest = q;
        si += c * pc.is[d];
        so += c * pc.os[d];
    }
    si += rest * pc.is[first];
    so += rest * pc.os[first];
    vec4 v = texelFetch(Src, int(si));
    if (pc.accumulate != 0u) {
        v += dst[so];
    }
    dst[so] = v;
}
