/*
 * dist_internal.h — the communicator behind vkt/dist.h: the struct, and the few point-to-point
 * and collective operations a backend provides (dist_mpi.c over MPI; dist_none.c when vkt is
 * built without it). dist.c builds the public API, the ring all-reduce among it, on them.
 */
#ifndef VKT_DIST_INTERNAL_H
#define VKT_DIST_INTERNAL_H

#include "internal.h"
#include "vkt/dist.h"

typedef struct vkt__dist_backend vkt__dist_backend;

/* Host buffers kept across calls, so that a training step allocates nothing. */
enum { VKT__DIST_RING, VKT__DIST_STAGING, VKT__DIST_SCRATCHES };

struct vkt_dist {
    int rank, size, local_rank;
    char select[32];
    vkt_dist_stats stats;
    vkt__dist_backend *backend;
    float *scratch[VKT__DIST_SCRATCHES];
    size_t scratch_cap[VKT__DIST_SCRATCHES];
};

/* Scratch buffer `which` of at least n floats (kept until vkt_dist_destroy); NULL, with the
 * error set, when out of host memory. */
float *vkt__dist_scratch(vkt_dist *d, int which, size_t n);

/* Fills rank, size and local_rank. */
vkt_status vkt__dist_open(vkt_dist *d, const void *mpi_comm);
void vkt__dist_close(vkt_dist *d);
vkt_status vkt__dist_barrier(vkt_dist *d);
/* Sends `send_bytes` to rank `to` while receiving `recv_bytes` from rank `from`. */
vkt_status vkt__dist_sendrecv(vkt_dist *d, const void *send, size_t send_bytes, int to, void *recv,
                              size_t recv_bytes, int from);
vkt_status vkt__dist_bcast(vkt_dist *d, void *buf, size_t bytes, int root);
/* v[i] = the minimum (max false) or maximum over the ranks, for n values. */
vkt_status vkt__dist_allreduce_u64(vkt_dist *d, uint64_t *v, int n, bool max);
/* v[i] = the sum, maximum or minimum (VKT_REDUCE_SUM, _MAX, _MIN) over the ranks; n may be 0. */
vkt_status vkt__dist_allreduce_f64(vkt_dist *d, double *v, int n, int op);

/* Tells every other rank this one failed, with `reason` (once; not after a peer's failure):
 * their pending and later operations fail with it instead of waiting. This rank's later
 * operations fail too. */
vkt_status vkt__dist_fail(vkt_dist *d, const char *reason);

/* The trainer's: averages n floats over the ranks (the ring sum, then times 1 / size, as
 * PyTorch DDP divides the summed gradients by the world size). */
vkt_status vkt__dist_allreduce_mean(vkt_dist *d, float *buf, size_t n);
/* Fails with the reason naming each rank whose `value` differs from rank 0's: `what` names it. */
vkt_status vkt__dist_check_same(vkt_dist *d, uint64_t value, const char *what);

#endif
