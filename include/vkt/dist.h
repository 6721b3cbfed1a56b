/*
 * vkt/dist.h — data-parallel training: a communicator of ranks, one process per device, as
 * Horovod and PyTorch DDP run (docs/distributed.md).
 *
 *     mpirun -np 2 ./train            every rank runs the same program
 *
 *     vkt_dist *dist;
 *     vkt_dist_create(NULL, &dist);   // MPI_COMM_WORLD (MPI_Init if the program has not)
 *     vkt_device_create(&(vkt_device_desc){.select = vkt_dist_device_select(dist)}, &dev);
 *     ... vkt_trainer_desc.strategy = VKT_STRATEGY_DDP, .dist = dist ...
 *
 * With the DDP strategy the trainer broadcasts rank 0's parameters at the start of fit, averages
 * the gradients over the ranks in each backward that precedes an optimizer step (the contiguous
 * gradient block in buckets, each all-reduced once the backward has finished it while the
 * device computes the rest; a ring over the ranks in a fixed order, so that the sum is the same
 * run to run), gives each rank a disjoint shard of every training and
 * validation epoch (torch's DistributedSampler), and lets rank 0 alone write logs, checkpoints
 * and the progress bar.
 *
 * MPI is optional at build time (meson detects it); without it vkt_dist_create returns
 * VKT_UNSUPPORTED and everything else runs as on one process.
 */
#ifndef VKT_DIST_H
#define VKT_DIST_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct vkt_dist vkt_dist;

typedef struct vkt_dist_desc {
    /* A pointer to the application's MPI_Comm (vkt duplicates it, so vkt's messages never mix
     * with the application's); NULL: MPI_COMM_WORLD. */
    const void *mpi_comm;
} vkt_dist_desc;

/** Joins the communicator (initialising MPI when the program has not; vkt_dist_destroy then
 * finalises it). desc NULL: MPI_COMM_WORLD. */
VKT_API vkt_status vkt_dist_create(const vkt_dist_desc *desc, vkt_dist **out);
VKT_API void vkt_dist_destroy(vkt_dist *d);
/** This process's rank and the number of ranks. */
VKT_API int vkt_dist_rank(const vkt_dist *d);
VKT_API int vkt_dist_size(const vkt_dist *d);
/** The rank among the ranks on this machine (MPI_COMM_TYPE_SHARED). */
VKT_API int vkt_dist_local_rank(const vkt_dist *d);
/** vkt_device_desc.select for this rank: VKT_DEVICE if set (every rank the same device), else
 * the local rank as a device index ("0", "1", ...), modulo the devices there are (more ranks
 * than devices share them: lavapipe in the tests). Valid while d lives. */
VKT_API const char *vkt_dist_device_select(const vkt_dist *d);
/** Waits for every rank. */
VKT_API vkt_status vkt_dist_barrier(vkt_dist *d);
/** buf = the element-wise sum over the ranks of buf (n floats on every rank), added in the same
 * order on every run: a ring over the ranks, 2 (N - 1) / N of the bytes sent per rank. */
VKT_API vkt_status vkt_dist_allreduce_sum(vkt_dist *d, float *buf, size_t n);
/** Rank `root`'s `bytes` into buf on every rank. */
VKT_API vkt_status vkt_dist_broadcast(vkt_dist *d, void *buf, size_t bytes, int root);

/** What the gradient all-reduces cost so far (the trainer's, and vkt_dist_allreduce_sum's). */
typedef struct vkt_dist_stats {
    uint64_t allreduces;
    uint64_t allreduce_bytes; /* of the buffers reduced (each rank's copy) */
    uint64_t sent_bytes;      /* by this rank */
    double allreduce_ms;      /* host time in the ring (waiting for the slowest rank included) */
    /* the trainer's gradient average (in buckets: vkt_trainer_desc.ddp_bucket_bytes) */
    uint64_t buckets;  /* buckets all-reduced */
    double overlap_ms; /* of allreduce_ms: bucket all-reduces that ended while the device was
                          still computing the backward (hidden behind it) */
    double wait_ms;    /* host time waiting for buckets' gradients to be read back: the
                          backward still running on the device, then the copy */
} vkt_dist_stats;
VKT_API void vkt_dist_get_stats(const vkt_dist *d, vkt_dist_stats *out);

#ifdef __cplusplus
}
#endif
#endif
