/*
 * grad_reducer.c — DDP's gradient average, bucketed and overlapped with the backward pass, as
 * PyTorch DDP's Reducer does it.
 *
 * The gradient block is cut into buckets of whole parameters in reverse order (the backward
 * finishes the last layers first), each closed once it reaches vkt_trainer_desc.ddp_bucket_bytes,
 * bucket 0 at 1 MiB already (as torch; SIZE_MAX: one bucket). While vkt_backward walks the tape it
 * reports each parameter whose gradient is final (vkt__set_grad_ready, src/tensor/graph.c); when a
 * bucket's last parameter is, the bucket's copy into mapped host memory is recorded and submitted
 * (vkt__copy_to_host), in the middle of the backward. After the backward has been recorded the
 * host takes the buckets in order: waits for its copy, all-reduces it with the deterministic ring
 * of dist.c (the mean: the sum times 1 / ranks), and records its copy back. The ring of bucket k
 * runs while the device is still computing the gradients of buckets k+1, ...
 *
 * Every rank reduces every bucket in index order, so the ranks' messages pair up whatever order
 * their gradients became final in. A parameter the backward never reached has its bucket read
 * after the backward; one whose gradient changed after its bucket was read (a custom backward
 * that calls vkt_backward twice) has its bucket read again.
 *
 * A GPU-direct path would need the block exported to the network card (VK_KHR_external_memory_fd
 * and dma-buf, with a CUDA- or ROCm-aware MPI): see docs/distributed.md.
 *
 * Test: tests/test_ddp.c (buckets of 1 KiB to one bucket, the same weights as one process).
 */
#include <stdint.h>
#include <stdlib.h>

#include "dist/dist_internal.h"
#include "tensor/tensor_impl.h"
#include "train/trainer_impl.h"

#define FIRST_BUCKET_BYTES ((size_t)1 << 20) /* torch's _DEFAULT_FIRST_BUCKET_BYTES */

typedef struct bucket {
    uint64_t first, count; /* floats of the gradient block */
    uint32_t params;       /* its parameters that require a gradient */
    uint32_t pending;      /* those not final yet in this backward */
    uint64_t ready;        /* timeline value of its copy to the host; 0: not copied */
    bool stale;            /* a gradient in it changed after the copy */
} bucket;

typedef struct param_at {
    uint64_t first; /* floats into the block */
    uint32_t bucket;
    bool trained; /* requires a gradient */
} param_at;

struct vkt__reducer {
    vkt_device *dev;
    vkt_dist *dist;
    vkt_tensor *block; /* the model's gradient block (borrowed) */
    vkt__host_buffer *host;
    float *host_data;
    bucket *b;
    uint32_t nb;
    param_at *p; /* by first */
    uint32_t np;
};

static int by_first(const void *a, const void *b)
{
    uint64_t x = ((const param_at *)a)->first, y = ((const param_at *)b)->first;
    return (x > y) - (x < y);
}

/* The model's parameters as offsets into the block, sorted. */
static vkt_status collect_params(vkt__reducer *r, vkt_model *m)
{
    uint32_t n = vkt_model_num_tensors(m);
    r->p = vkt__calloc(n ? n : 1, sizeof *r->p);
    if (!r->p) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    for (uint32_t i = 0; i < n; i++) {
        const vkt_tensor *t = vkt_model_tensor(m, i);
        const vkt_tensor *g = t ? t->grad : NULL;
        if (g && g->alloc == r->block->alloc) {
            r->p[r->np++] =
                (param_at){(g->offset - r->block->offset) / sizeof(float), 0, t->requires_grad};
        }
    }
    qsort(r->p, r->np, sizeof *r->p, by_first);
    return VKT_OK;
}

/* Buckets of whole parameters from the block's end: bucket 0 holds the last ones. */
static vkt_status make_buckets(vkt__reducer *r, size_t cap_bytes)
{
    r->b = vkt__calloc(r->np ? r->np : 1, sizeof *r->b);
    if (!r->b) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    uint64_t end = (uint64_t)vkt_tensor_numel(r->block);
    for (uint32_t i = r->np; i-- > 0;) {
        bucket *b = &r->b[r->nb];
        size_t cap = r->nb == 0 && cap_bytes != SIZE_MAX ? VKT__MIN(cap_bytes, FIRST_BUCKET_BYTES)
                                                         : cap_bytes;
        r->p[i].bucket = r->nb;
        b->params += r->p[i].trained;
        uint64_t first = i == 0 ? 0 : r->p[i].first;
        if (i == 0 || (end - first) * sizeof(float) >= cap) {
            b->first = first;
            b->count = end - first;
            end = first;
            r->nb++;
        }
    }
    return VKT_OK;
}

vkt_status vkt__reducer_create(vkt_dist *dist, vkt_model *m, size_t bucket_bytes,
                               vkt__reducer **out)
{
    *out = NULL;
    vkt_tensor *block = vkt_model_grad_block(m);
    if (!block) {
        return vkt_last_status();
    }
    vkt__reducer *r = vkt__calloc(1, sizeof *r);
    if (!r) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    r->dev = block->dev;
    r->dist = dist;
    r->block = block;
    vkt_status s = collect_params(r, m);
    if (s == VKT_OK) {
        s = make_buckets(r, bucket_bytes);
    }
    if (s == VKT_OK) {
        s = vkt__host_buffer_create(r->dev, (uint64_t)block->numel * sizeof(float), &r->host);
    }
    if (s != VKT_OK) {
        vkt__reducer_destroy(r);
        return s;
    }
    r->host_data = vkt__host_buffer_data(r->host);
    *out = r;
    return VKT_OK;
}

void vkt__reducer_destroy(vkt__reducer *r)
{
    if (!r) {
        return;
    }
    (void)vkt__set_grad_ready(r->dev, NULL, NULL);
    vkt__host_buffer_destroy(r->dev, r->host);
    free(r->b);
    free(r->p);
    free(r);
}

uint32_t vkt__reducer_buckets(const vkt__reducer *r) { return r ? r->nb : 0; }

static vkt__binding bucket_range(const vkt__reducer *r, const bucket *b, uint32_t access)
{
    return vkt__subrange(vkt__bind(r->block, access), b->first * sizeof(float),
                         b->count * sizeof(float));
}

static vkt_status read_back(vkt__reducer *r, bucket *b)
{
    b->stale = false;
    return vkt__copy_to_host(r->dev, bucket_range(r, b, VKT__READ), r->host,
                             b->first * sizeof(float), &b->ready);
}

static vkt_status on_grad_ready(void *ctx, vkt_tensor *leaf)
{
    vkt__reducer *r = ctx;
    const vkt_tensor *g = leaf->grad;
    if (!g || g->alloc != r->block->alloc || g->offset < r->block->offset) {
        return VKT_OK; /* not one of the model's parameters */
    }
    param_at key = {(g->offset - r->block->offset) / sizeof(float), 0, false};
    const param_at *p = bsearch(&key, r->p, r->np, sizeof *r->p, by_first);
    if (!p) {
        return VKT_OK;
    }
    bucket *b = &r->b[p->bucket];
    if (b->ready) {
        b->stale = true;
        return VKT_OK;
    }
    if (b->pending > 0 && --b->pending == 0) {
        return read_back(r, b);
    }
    return VKT_OK;
}

vkt_status vkt__reducer_arm(vkt__reducer *r)
{
    for (uint32_t k = 0; k < r->nb; k++) {
        r->b[k].pending = r->b[k].params;
        r->b[k].ready = 0;
        r->b[k].stale = false;
    }
    return vkt__set_grad_ready(r->dev, on_grad_ready, r);
}

vkt_status vkt__reducer_disarm(vkt__reducer *r) { return vkt__set_grad_ready(r->dev, NULL, NULL); }

vkt_status vkt__reducer_run(vkt__reducer *r)
{
    vkt_dist_stats *st = &r->dist->stats;
    vkt_status s = VKT_OK;
    for (uint32_t k = 0; k < r->nb && s == VKT_OK; k++) {
        if (!r->b[k].ready || r->b[k].stale) {
            s = read_back(r, &r->b[k]);
        }
    }
    /* the last copy follows the whole backward on the queue */
    uint64_t backward_done = r->nb ? r->b[r->nb - 1].ready : 0;
    for (uint32_t k = 0; k < r->nb && s == VKT_OK; k++) {
        bucket *b = &r->b[k];
        double t0 = vkt__now();
        s = vkt__host_buffer_wait(r->dev, b->ready);
        st->wait_ms += (vkt__now() - t0) * 1e3;
        double ring = st->allreduce_ms;
        if (s == VKT_OK) {
            s = vkt__dist_allreduce_mean(r->dist, r->host_data + b->first, b->count);
        }
        if (s == VKT_OK && !vkt__copy_done(r->dev, backward_done)) {
            st->overlap_ms += st->allreduce_ms - ring;
        }
        if (s == VKT_OK) {
            s = vkt__copy_from_host(r->dev, r->host, b->first * sizeof(float),
                                    bucket_range(r, b, VKT__WRITE));
            st->buckets++;
        }
    }
    return s;
}
