#version 450
// strided_copy.comp — the one N-d copy behind the shape ops: for every index (i_0, ..., i_{n-1})
// of an iteration shape of at most 6 dimensions,
//     out[o_off + sum_d i_d * os[d]]  =  in[i_off + sum_d i_d * is[d]]      (accumulate == 0)
//     out[o_off + sum_d i_d * os[d]] +=  in[i_off + sum_d i_d * is[d]]      (accumulate != 0, f32)
// One invocation per element of the iteration shape; dimension 5 is the fastest. The host merges
// adjacent dimensions that are contiguous in both tensors first, so a plain copy is one
// dimension. Plain copies move 32-bit words, so they serve f32 and i32 alike.
// An output element is written by at most one invocation (the host never maps two indices to
// one output element), so accumulation needs no atomics.
// Dispatch: vkt__strided_copy in src/ops/copy.c. Reference: vkt__ref_strided_copy in
// src/ref/ref_shape.c. Checks: src/check/check_shape.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

layout(set = 0, binding = 0) readonly buffer In { uint src[]; };
layout(set = 0, binding = 1) buffer Out { uint dst[]; };

layout(push_constant) uniform PC {
    uint n;          // elements of the iteration shape
    uint i_off;
    uint o_off;
    uint accumulate;
    uint ndim;       // dimensions in use: the last ndim of the arrays below
    uint size[6];    // iteration shape, unused leading dimensions are 1
    uint is[6];      // input strides (elements)
    uint os[6];      // output strides (elements)
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n) {
        return;
    }
    uint si = pc.i_off, so = pc.o_off, rest = i;
    // integer division is slow on CPU devices: none for unused dimensions or the outermost one
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
    if (pc.accumulate != 0) {
        dst[so] = floatBitsToUint(uintBitsToFloat(dst[so]) + uintBitsToFloat(src[si]));
    } else {
        dst[so] = src[si];
    }
}
