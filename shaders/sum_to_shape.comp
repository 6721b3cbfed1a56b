#version 450
// sum_to_shape.comp — out (+)= alpha * (x summed over its broadcast dims): the gradient of an
// input that was broadcast to x's shape. The host merges x's dims into alternating kept / reduced
// runs (red_mask bit d = dim d reduced); the output is the kept dims, row-major.
// Invocation (p, j): output element j, chunk p of the reduced sub-space, elements
// [p * chunk, min((p + 1) * chunk, n_red)) in row-major order, summed in that fixed order. With one
// chunk it writes out[j]; with several it writes part[p * n_out + j] and a second dispatch of this
// shader sums the (chunks, n_out) partials over their leading dim. The chunking depends only on
// the shapes, so results are deterministic; it keeps e.g. (25088, 64) -> (64) parallel.
// Dispatch: src/ops/sum_to_shape.c. Reference: vkt__ref_sum_to_shape (src/ref/ref_elementwise.c).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

#include "broadcast_ops.h"

layout(set = 0, binding = 0) readonly buffer X { float x[]; };
layout(set = 0, binding = 1) buffer Out { float o[]; };

layout(push_constant, std430) uniform PC {
    uint n_out;
    uint n_red;
    uint chunk;                 // reduced elements per invocation
    uint chunks;                // invocations per output element
    uint accumulate;
    float alpha;
    uint ndim;
    uint red_mask;
    uint shape[BC_MAX_DIMS];    // x's merged dims, outermost first
    uint stride[BC_MAX_DIMS];   // x's element strides
} pc;

void main()
{
    uint i = vkt_global_index();
    if (i >= pc.n_out * pc.chunks) {
        return;
    }
    uint p = i / pc.n_out, j = i % pc.n_out;
    // x offset of output element j: its coordinates in the kept dims
    uint base = 0;
    uint r = j;
    for (int d = int(pc.ndim) - 1; d >= 0; d--) {
        if ((pc.red_mask & (1u << d)) == 0u) {
            base += (r % pc.shape[d]) * pc.stride[d];
            r /= pc.shape[d];
        }
    }
    // coordinates of the chunk's first element in the reduced dims (an odometer from there)
    uint first = p * pc.chunk;
    uint last = min(first + pc.chunk, pc.n_red);
    uint c[BC_MAX_DIMS];
    uint off = base;
    r = first;
    int inner = -1;
    for (int d = int(pc.ndim) - 1; d >= 0; d--) {
        c[d] = 0;
        if ((pc.red_mask & (1u << d)) != 0u) {
            inner = inner < 0 ? d : inner;
            c[d] = r % pc.shape[d];
            r /= pc.shape[d];
            off += c[d] * pc.stride[d];
        }
    }
    float s = 0.0;
    if (bitCount(pc.red_mask) == 1) { // one reduced run (e.g. leading dims): a plain strided loop
        uint st = pc.stride[inner];
        for (uint e = first; e < last; e++, off += st) {
            s += x[off];
        }
        s *= pc.alpha;
        o[i] = pc.accumulate != 0 ? o[i] + s : s;
        return;
    }
    for (uint e = first; e < last; e++) {
        s += x[off];
        // next element: step the innermost reduced dim, carrying outwards
        for (int d = inner; d >= 0; d--) {
            if ((pc.red_mask & (1u << d)) == 0u) {
                continue;
            }
            off += pc.stride[d];
            if (++c[d] < pc.shape[d]) {
                break;
            }
            off -= c[d] * pc.stride[d];
            c[d] = 0;
        }
    }
    s *= pc.alpha;
    o[i] = pc.accumulate != 0 ? o[i] + s : s;
}
