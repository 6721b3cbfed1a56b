/*
 * dist_none.c — the communicator of a vkt built without MPI: vkt_dist_create says so, and no
 * other backend call is reached (there is no vkt_dist to call them on).
 */
#include "dist/dist_internal.h"

vkt_status vkt__dist_open(vkt_dist *d, const void *mpi_comm)
{
    (void)d;
    (void)mpi_comm;
    return vkt__error(VKT_UNSUPPORTED, "vkt was built without MPI, so it cannot train on several "
                                       "ranks (install libopenmpi-dev or libmpich-dev and "
                                       "rebuild; meson finds it)");
}

void vkt__dist_close(vkt_dist *d) { (void)d; }

vkt_status vkt__dist_barrier(vkt_dist *d)
{
    (void)d;
    return VKT_UNSUPPORTED;
}

vkt_status vkt__dist_sendrecv(vkt_dist *d, const void *send, size_t send_bytes, int to, void *recv,
                              size_t recv_bytes, int from)
{
    (void)d, (void)send, (void)send_bytes, (void)to, (void)recv, (void)recv_bytes, (void)from;
    return VKT_UNSUPPORTED;
}

vkt_status vkt__dist_bcast(vkt_dist *d, void *buf, size_t bytes, int root)
{
    (void)d, (void)buf, (void)bytes, (void)root;
    return VKT_UNSUPPORTED;
}

vkt_status vkt__dist_allreduce_u64(vkt_dist *d, uint64_t *v, int n, bool max)
{
    (void)d, (void)v, (void)n, (void)max;
    return VKT_UNSUPPORTED;
}

vkt_status vkt__dist_allreduce_f64(vkt_dist *d, double *v, int n, int op)
{
    (void)d, (void)v, (void)n, (void)op;
    return VKT_UNSUPPORTED;
}

vkt_status vkt__dist_fail(vkt_dist *d, const char *reason)
{
    (void)d, (void)reason;
    return VKT_UNSUPPORTED;
}
