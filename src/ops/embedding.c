/*
 * embedding.c — vkt_embedding (torch.nn.functional.embedding) and its backward.
 *
 * Shaders: shaders/embedding.comp (the forward gather), shaders/embedding_sort.comp and
 * shaders/embedding_backward.comp (the backward; codes in shaders/embedding_ops.h). CPU reference:
 * src/ref/ref_embedding.c. Checks: src/check/check_embedding.c (device vs reference),
 * the "embedding" cases of src/check/check_grad.c (finite differences). Tests:
 * tests/test_embedding.c (with PyTorch fixtures).
 *
 * Forward: one dispatch, one invocation per output element. Backward, deterministic and without
 * atomics: the keys (index, position) of the N positions are bitonic-sorted on the device (one
 * shared-memory pass per block of SORT_WG * 2 keys, then per stage the steps across blocks and one
 * shared-memory merge: O(log^2 N) dispatches); then the sorted positions are walked in chunks
 * (EMB_CHUNK_OF(N)), each run of equal indices summed in position order into its gradient row,
 * with runs that cross chunks finished by a second pass in chunk order. Work O(N log^2 N + N D);
 * rows that no index names are not touched.
 */
#include "ops/embedding.h"

#include "shaders/embedding_ops.h"

/* Mirrors `PC` in shaders/embedding.comp. */
typedef struct vkt__pc_embedding {
    uint32_t n, num, dim;
} vkt__pc_embedding;
_Static_assert(sizeof(vkt__pc_embedding) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/embedding_sort.comp. */
typedef struct vkt__pc_embedding_sort {
    uint32_t n, npad, k, j;
} vkt__pc_embedding_sort;
_Static_assert(sizeof(vkt__pc_embedding_sort) <= VKT__PUSH_MAX, "push constants");

/* Mirrors `PC` in shaders/embedding_backward.comp. */
typedef struct vkt__pc_embedding_backward {
    uint32_t n, num, dim, chunk, chunks, dblocks;
} vkt__pc_embedding_backward;
_Static_assert(sizeof(vkt__pc_embedding_backward) <= VKT__PUSH_MAX, "push constants");

#define FWD_WG 256u
/* The sort's workgroup; a block (the unit of the shared-memory passes) is twice as many keys. */
#define SORT_WG 256u
#define SORT_BLOCK (2u * SORT_WG)
/* Columns per workgroup of the backward walks. */
#define BWD_WG 64u

static bool emb_validate(const vkt_tensor *weight, const vkt_tensor *indices)
{
    static const char fn[] = "vkt_embedding";
    char a[96];
    if (!vkt__check_dtype(fn, "weight", weight, VKT_F32) ||
        !vkt__check_dtype(fn, "indices", indices, VKT_I32) ||
        !vkt__check_same_device(fn, weight, indices)) {
        return false;
    }
    if (weight->ndim != 2) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: weight is %s but must be (num_embeddings, embedding_dim): 2 dimensions", fn,
                   vkt_tensor_describe(weight, a, sizeof a));
        return false;
    }
    if (indices->ndim > VKT_MAX_DIMS - 1) {
        vkt__error(VKT_SHAPE_MISMATCH,
                   "%s: indices is %s; the output adds a dimension (embedding_dim), so indices "
                   "may have at most %d",
                   fn, vkt_tensor_describe(indices, a, sizeof a), VKT_MAX_DIMS - 1);
        return false;
    }
    return true;
}

uint32_t vkt__embedding_chunk(int64_t n, uint32_t chunk)
{
    uint64_t least = VKT__DIV_UP((uint64_t)n, (uint64_t)EMB_MAX_CHUNKS);
    uint64_t c = chunk ? chunk : (uint64_t)EMB_CHUNK_OF((uint64_t)n);
    return (uint32_t)(c > least ? c : least);
}

vkt_tensor *vkt__embedding_ex(const vkt_tensor *weight, const vkt_tensor *indices, uint32_t chunk)
{
    if (!weight || !indices) {
        return NULL;
    }
    if (!emb_validate(weight, indices)) {
        return NULL;
    }
    int64_t shape[VKT_MAX_DIMS];
    for (int i = 0; i < indices->ndim; i++) {
        shape[i] = indices->shape[i];
    }
    shape[indices->ndim] = weight->shape[1];
    vkt_tensor *out = vkt__new_output(weight->dev, VKT_F32, indices->ndim + 1, shape);
    if (!out) {
        goto fail;
    }
    vkt__pc_embedding pc = {(uint32_t)out->numel, (uint32_t)weight->shape[0],
                            (uint32_t)weight->shape[1]};
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_EMBEDDING,
        .spec = {FWD_WG},
        .spec_count = 1,
        .push = &pc,
        .push_size = sizeof pc,
        .bindings = {vkt__bind(weight, VKT__READ), vkt__bind(indices, VKT__READ),
                     vkt__bind(out, VKT__WRITE)},
    };
    vkt__elementwise_groups((uint64_t)out->numel, FWD_WG, d.groups);
    if (vkt__dispatch(weight->dev, &d) != VKT_OK) {
        goto fail;
    }
    if (vkt__any_requires_grad(weight, NULL, NULL)) {
        vkt__node *n = vkt__record(VKT__OP_EMBEDDING, out, weight, indices, NULL);
        if (!n) {
            goto fail;
        }
        n->iparam[0] = (int)chunk;
    }
    return out;

fail:
    vkt__error_context("vkt_embedding");
    vkt_tensor_free(out);
    return NULL;
}

vkt_tensor *vkt_embedding(const vkt_tensor *weight, const vkt_tensor *indices)
{
    return vkt__embedding_ex(weight, indices, 0);
}

static vkt_status emb_sort_pass(const vkt_tensor *indices, vkt_tensor *keys, uint32_t mode,
                                const vkt__pc_embedding_sort *pc)
{
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_EMBEDDING_SORT,
        .spec = {SORT_WG, mode},
        .spec_count = 2,
        .push = pc,
        .push_size = sizeof *pc,
        .bindings = {vkt__bind(indices, VKT__READ),
                     vkt__bind(keys, mode == EMB_SORT_LOCAL ? VKT__WRITE : VKT__RW)},
    };
    vkt__groups_2d(mode == EMB_SORT_STEP ? VKT__DIV_UP(pc->npad / 2u, SORT_WG)
                                         : pc->npad / SORT_BLOCK,
                   d.groups);
    return vkt__dispatch(keys->dev, &d);
}

/* keys (2 npad i32 words) = the (index, position) pairs of indices, sorted. */
static vkt_status emb_sort(const vkt_tensor *indices, vkt_tensor *keys, uint32_t npad)
{
    vkt__pc_embedding_sort pc = {(uint32_t)indices->numel, npad, 0, 0};
    vkt_status s = emb_sort_pass(indices, keys, EMB_SORT_LOCAL, &pc);
    for (uint32_t k = 2 * SORT_BLOCK; s == VKT_OK && k <= npad; k <<= 1) {
        pc.k = k;
        for (uint32_t j = k / 2; s == VKT_OK && j >= SORT_BLOCK; j >>= 1) {
            pc.j = j;
            s = emb_sort_pass(indices, keys, EMB_SORT_STEP, &pc);
        }
        if (s == VKT_OK) {
            s = emb_sort_pass(indices, keys, EMB_SORT_MERGE, &pc);
        }
    }
    return s;
}

static vkt_status emb_walk(uint32_t mode, const vkt_tensor *keys, const vkt_tensor *gout,
                           vkt_tensor *head, vkt_tensor *tail, vkt_tensor *grad,
                           const vkt__pc_embedding_backward *pc)
{
    uint32_t parts = mode == EMB_BACKWARD_SEGMENTS ? VKT__WRITE : VKT__READ;
    vkt__dispatch_desc d = {
        .shader = VKT__SHADER_EMBEDDING_BACKWARD,
        .spec = {BWD_WG, mode},
        .spec_count = 2,
        .push = pc,
        .push_size = sizeof *pc,
        .bindings = {vkt__bind(keys, VKT__READ), vkt__bind(gout, VKT__READ), vkt__bind(head, parts),
                     vkt__bind(tail, parts), vkt__bind(grad, VKT__RW)},
    };
    vkt__groups_2d((uint64_t)pc->chunks * pc->dblocks, d.groups);
    return vkt__dispatch(grad->dev, &d);
}

vkt_status vkt__embedding_backward(vkt__node *n, const vkt_tensor *gout)
{
    vkt_tensor *weight = n->in[0], *indices = n->in[1];
    if (!vkt__wants_grad(weight)) {
        return VKT_OK;
    }
    vkt_tensor *grad = vkt__grad_of(weight);
    if (!grad) {
        return vkt_last_status();
    }
    int64_t count = indices->numel;
    uint64_t npad = SORT_BLOCK;
    while (npad < (uint64_t)count) {
        npad <<= 1;
    }
    if (npad > (1u << 30)) {
        return vkt__error(VKT_TOO_LARGE,
                          "vkt_embedding backward: %lld indices; the sort takes at most 2^30",
                          (long long)count);
    }
    uint32_t chunk = vkt__embedding_chunk(count, (uint32_t)n->iparam[0]);
    vkt__pc_embedding_backward pc = {
        .n = (uint32_t)count,
        .num = (uint32_t)weight->shape[0],
        .dim = (uint32_t)weight->shape[1],
        .chunk = chunk,
        .chunks = (uint32_t)VKT__DIV_UP((uint64_t)count, chunk),
        .dblocks = (uint32_t)VKT__DIV_UP(weight->shape[1], BWD_WG),
    };
    int64_t key_words = 2 * (int64_t)npad, part_floats = (int64_t)pc.chunks * pc.dim;
    vkt_tensor *keys = vkt_tensor_new(weight->dev, VKT_I32, 1, &key_words);
    vkt_tensor *head = keys ? vkt_tensor_new(weight->dev, VKT_F32, 1, &part_floats) : NULL;
    vkt_tensor *tail = head ? vkt_tensor_new(weight->dev, VKT_F32, 1, &part_floats) : NULL;
    vkt_status s = tail ? VKT_OK : vkt_last_status();
    if (s == VKT_OK) {
        s = emb_sort(indices, keys, (uint32_t)npad);
    }
    if (s == VKT_OK) {
        s = emb_walk(EMB_BACKWARD_SEGMENTS, keys, gout, head, tail, grad, &pc);
    }
    if (s == VKT_OK) {
        s = emb_walk(EMB_BACKWARD_CARRY, keys, gout, head, tail, grad, &pc);
    }
    vkt_tensor_free(keys); /* released once the work reading them has finished */
    vkt_tensor_free(head);
    vkt_tensor_free(tail);
    return s;
}
