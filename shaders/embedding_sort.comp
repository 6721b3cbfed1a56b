#version 450
// embedding_sort.comp — the first half of vkt_embedding's backward: a bitonic sort, ascending, of
// the keys (index, position) of the N positions, padded to npad (a power of two, at least one
// block of 2 * WG keys) with (0xffffffff, 0xffffffff), which sorts after every real key (positions
// are < 2^31). The keys are distinct, so the sorted order is unique: it depends on nothing but the
// indices. The indices compare as unsigned, so the out-of-range ones (negative ones included) sort
// after every index < V. Network: for each stage k = 2, 4, ..., npad and each distance j = k/2,
// ..., 1, key i and key i ^ j are exchanged if out of order, ascending where i & k is 0.
// MODE (constant_id 1; shaders/embedding_ops.h):
//   EMB_SORT_LOCAL  one workgroup per block of 2 * WG keys: makes the keys from the indices and
//                   runs every stage k <= 2 * WG in shared memory (log2(2 WG) (log2(2 WG) + 1) / 2
//                   steps: 45 for WG 256);
//   EMB_SORT_STEP   one invocation per pair for one step (k, j) with j >= 2 * WG, in the buffer;
//   EMB_SORT_MERGE  one workgroup per block: the steps j = WG, ..., 1 of stage k in shared memory.
// src/ops/embedding.c runs LOCAL, then for k = 4 WG, ..., npad: STEP for j = k/2, ..., 2 WG, then
// MERGE. Next: embedding_backward.comp walks the sorted keys.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "embedding_ops.h"

layout(constant_id = 1) const uint MODE = EMB_SORT_LOCAL;

layout(set = 0, binding = 0) readonly buffer Indices { int indices[]; };
layout(set = 0, binding = 1) buffer Keys { uvec2 keys[]; };

layout(push_constant) uniform PC {
    uint n;    // N, the real keys
    uint npad; // keys in the buffer
    uint k;    // stage (STEP, MERGE)
    uint j;    // distance (STEP)
} pc;

shared uvec2 s[2 * gl_WorkGroupSize.x];

bool greater(uvec2 a, uvec2 b)
{
    return a.x > b.x || (a.x == b.x && a.y > b.y);
}

// The compare-exchange of the pair (i, i + j) of the block in shared memory; `base` is the
// block's first key, so the direction follows the global index.
void exchange_shared(uint base, uint t, uint j, uint k)
{
    uint i = ((t & ~(j - 1u)) << 1) | (t & (j - 1u));
    uvec2 a = s[i], b = s[i + j];
    bool ascending = ((base + i) & k) == 0u;
    if (greater(a, b) == ascending) {
        s[i] = b;
        s[i + j] = a;
    }
}

void main()
{
    const uint wg = gl_WorkGroupSize.x, t = gl_LocalInvocationID.x;
    if (MODE == EMB_SORT_STEP) {
        uint p = vkt_global_index();
        if (p >= pc.npad / 2u) {
            return;
        }
        uint j = pc.j;
        uint i = ((p & ~(j - 1u)) << 1) | (p & (j - 1u));
        uvec2 a = keys[i], b = keys[i + j];
        bool ascending = (i & pc.k) == 0u;
        if (greater(a, b) == ascending) {
            keys[i] = b;
            keys[i + j] = a;
        }
        return;
    }
    // LOCAL and MERGE: one block of 2 * wg keys per workgroup (npad is a multiple of it, so no
    // invocation leaves before a barrier; groups past the end leave together)
    uint base = vkt_flat_group() * 2u * wg;
    if (base >= pc.npad) {
        return;
    }
    for (uint h = 0u; h < 2u; h++) {
        uint g = base + t + h * wg;
        if (MODE == EMB_SORT_LOCAL) {
            s[t + h * wg] = g < pc.n ? uvec2(uint(indices[g]), g) : uvec2(0xffffffffu);
        } else {
            s[t + h * wg] = keys[g];
        }
    }
    if (MODE == EMB_SORT_LOCAL) {
        for (uint k = 2u; k <= 2u * wg; k <<= 1) {
            for (uint j = k >> 1; j > 0u; j >>= 1) {
                barrier();
                exchange_shared(base, t, j, k);
            }
        }
    } else {
        for (uint j = wg; j > 0u; j >>= 1) {
            barrier();
            exchange_shared(base, t, j, pc.k);
        }
    }
    barrier();
    keys[base + t] = s[t];
    keys[base + t + wg] = s[t + wg];
}
