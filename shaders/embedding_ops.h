// embedding_ops.h — values of constant_id 1 (MODE) of shaders/embedding_sort.comp and
// shaders/embedding_backward.comp, and the chunking of the backward, included by the shaders, by
// src/ops/embedding.c and by the reference (src/ref/ref_embedding.c), so each is written once.
// Plain #defines only: this file is both GLSL and C (no VKT__ prefix: GLSL reserves identifiers
// with two consecutive underscores).
#ifndef EMBEDDING_OPS_H
#define EMBEDDING_OPS_H

// MODE of embedding_sort.comp (a bitonic sort of (index, position) keys)
#define EMB_SORT_LOCAL 0 // make the keys from the indices, sort each block in shared memory
#define EMB_SORT_STEP 1  // one compare-exchange step (stage k, distance j >= the block)
#define EMB_SORT_MERGE 2 // the steps of stage k with distance j < the block, in shared memory

// MODE of embedding_backward.comp
#define EMB_BACKWARD_SEGMENTS 0 // sum each run's part of a chunk; whole runs go into the gradient
#define EMB_BACKWARD_CARRY 1    // runs that cross chunks: the owner adds the later chunks' heads

// The sorted positions are walked in chunks of EMB_CHUNK_MIN positions, or more when there would
// be over EMB_MAX_CHUNKS chunks: every invocation's loop (positions of a chunk, chunks of a run)
// stays at most 32768 long, under lavapipe's 65535 (docs/shaders.md), for up to 2^30 positions.
// The chunk depends on the number of positions only, so the summation order does too.
#define EMB_CHUNK_MIN 256
#define EMB_MAX_CHUNKS 32768
// The default chunk for n positions (valid C and GLSL).
#define EMB_CHUNK_OF(n)                                                                           \
    ((n) > EMB_CHUNK_MIN * EMB_MAX_CHUNKS ? ((n) + EMB_MAX_CHUNKS - 1) / EMB_MAX_CHUNKS           \
                                          : EMB_CHUNK_MIN)

#endif
