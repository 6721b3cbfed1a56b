#version 450
// embedding_backward.comp — the second half of vkt_embedding's backward: with the keys
// (index, position) sorted (embedding_sort.comp), each run of equal indices sums its positions'
// gradient rows in position order into grad[index] (+=, accumulate semantics). The sorted
// positions are cut into chunks of `chunk` (shaders/embedding_ops.h); a run's part in one chunk is
// a segment. Invocation (c, d) handles column d of chunk c; workgroup g covers chunk g / dblocks
// and the WG columns of block g % dblocks. No atomics: every grad element has one writer, and the
// order of the additions depends on the indices and N only.
// MODE (constant_id 1; shaders/embedding_ops.h):
//   EMB_BACKWARD_SEGMENTS  walks the chunk, summing each segment from 0 in position order:
//       - a whole run (starts and ends in the chunk): grad[index, d] += sum;
//       - the chunk's first segment, of a run that began in an earlier chunk: head[c, d] = sum;
//       - the chunk's last segment, of a run that begins here and goes on: tail[c, d] = sum.
//   EMB_BACKWARD_CARRY  for a chunk with a tail: sum = tail[c, d] + head[c + 1, d] + ... up to the
//       chunk where the run ends, then grad[index, d] += sum.
// Indices outside [0, num) (sorted after the others) add nothing. Each invocation walks at most
// `chunk` positions or `chunks` chunks (<= 32768: lavapipe's loop limit, docs/shaders.md).
// Dispatch: src/ops/embedding.c. Reference: vkt__ref_embedding_backward (src/ref/ref_embedding.c),
// which adds in the same order. Checks: src/check/check_embedding.c.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "embedding_ops.h"

layout(constant_id = 1) const uint MODE = EMB_BACKWARD_SEGMENTS;

layout(set = 0, binding = 0) readonly buffer Keys { uvec2 keys[]; };
layout(set = 0, binding = 1) readonly buffer Gout { float gout[]; };
layout(set = 0, binding = 2) buffer Head { float head[]; };
layout(set = 0, binding = 3) buffer Tail { float tail[]; };
layout(set = 0, binding = 4) buffer Grad { float grad[]; };

layout(push_constant) uniform PC {
    uint n;       // N positions
    uint num;     // V rows of the weight
    uint dim;     // D
    uint chunk;   // positions per chunk
    uint chunks;  // ceil(N / chunk)
    uint dblocks; // ceil(D / WG)
} pc;

void main()
{
    uint g = vkt_flat_group();
    uint c = g / pc.dblocks;
    uint d = (g - c * pc.dblocks) * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
    if (c >= pc.chunks || d >= pc.dim) {
        return;
    }
    uint start = c * pc.chunk, end = min(start + pc.chunk, pc.n);
    uint dim = pc.dim;
    if (MODE == EMB_BACKWARD_SEGMENTS) {
        // the first segment continues a run of an earlier chunk
        bool in_head = start > 0u && keys[start - 1u].x == keys[start].x;
        float acc = 0.0;
        for (uint i = start; i < end; i++) {
            uvec2 key = keys[i];
            acc += gout[key.y * dim + d];
            bool last = i + 1u == end || keys[i + 1u].x != key.x;
            if (last) {
                bool goes_on = i + 1u == end && end < pc.n && keys[end].x == key.x;
                if (in_head) {
                    head[c * dim + d] = acc;
                } else if (goes_on) {
                    tail[c * dim + d] = acc;
                } else if (key.x < pc.num) {
                    grad[key.x * dim + d] += acc;
                }
                acc = 0.0;
                in_head = false;
            }
        }
        return;
    }
    // CARRY: only the chunk where a run begins and which it outlasts
    if (end >= pc.n) {
        return;
    }
    uint index = keys[end - 1u].x;
    if (keys[end].x != index || (start > 0u && keys[start - 1u].x == index)) {
        return;
    }
    float acc = tail[c * dim + d];
    for (uint j = c + 1u; j < pc.chunks; j++) {
        acc += head[j * dim + d];
        uint jend = min(j * pc.chunk + pc.chunk, pc.n);
        if (jend >= pc.n || keys[jend].x != index) {
            break;
        }
    }
    if (index < pc.num) {
        grad[index * dim + d] += acc;
    }
}
