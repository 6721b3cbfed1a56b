/*
 * embedding.h — internal entry point of vkt_embedding (src/ops/embedding.c), for the checks and
 * the tests.
 *
 * The backward walks the sorted positions in chunks (shaders/embedding_backward.comp); by default
 * EMB_CHUNK_OF(N) positions (shaders/embedding_ops.h). vkt__embedding_ex takes the chunk as an
 * argument, so that small shapes exercise runs that cross many chunks; the tape node keeps it.
 */
#ifndef VKT_OPS_EMBEDDING_H
#define VKT_OPS_EMBEDDING_H

#include "tensor/tensor_impl.h"

/* vkt_embedding whose backward uses chunks of `chunk` positions (0: the default), raised where
 * needed so that there are at most EMB_MAX_CHUNKS chunks. */
vkt_tensor *vkt__embedding_ex(const vkt_tensor *weight, const vkt_tensor *indices, uint32_t chunk);
/* The chunk the backward uses for n positions given the requested one (0: the default). */
uint32_t vkt__embedding_chunk(int64_t n, uint32_t chunk);

#endif
