/*
 * dist_mpi.c — the communicator over MPI (Open MPI or MPICH): a duplicate of the application's
 * communicator (or of MPI_COMM_WORLD) with errors returned, not fatal, so that a failing call
 * becomes a vkt error naming the operation and the rank.
 */
#include <limits.h>
#include <mpi.h>

#include "dist/dist_internal.h"
#include "vkt/train.h"

struct vkt__dist_backend {
    MPI_Comm comm;
    bool finalize; /* vkt initialised MPI */
};

/* Large transfers in pieces: MPI counts are ints. */
#define PIECE ((size_t)1 << 30)

static vkt_status mpi_error(const vkt_dist *d, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return vkt__error(VKT_DISTRIBUTED, "rank %d: %s failed: %s", d->rank, what, msg);
}

vkt_status vkt__dist_open(vkt_dist *d, const void *mpi_comm)
{
    vkt__dist_backend *b = vkt__calloc(1, sizeof *b);
    if (!b) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    d->backend = b;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int rc = MPI_Init(NULL, NULL);
        if (rc != MPI_SUCCESS) {
            return mpi_error(d, rc, "MPI_Init");
        }
        b->finalize = true;
    }
    MPI_Comm base = mpi_comm ? *(const MPI_Comm *)mpi_comm : MPI_COMM_WORLD;
    int rc = MPI_Comm_dup(base, &b->comm);
    if (rc != MPI_SUCCESS) {
        b->comm = MPI_COMM_NULL;
        return mpi_error(d, rc, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(b->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(b->comm, &d->rank);
    MPI_Comm_size(b->comm, &d->size);
    MPI_Comm local;
    rc = MPI_Comm_split_type(b->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local);
    if (rc != MPI_SUCCESS) {
        return mpi_error(d, rc, "MPI_Comm_split_type");
    }
    MPI_Comm_rank(local, &d->local_rank);
    MPI_Comm_free(&local);
    return VKT_OK;
}

void vkt__dist_close(vkt_dist *d)
{
    vkt__dist_backend *b = d->backend;
    if (!b) {
        return;
    }
    if (b->comm != MPI_COMM_NULL) {
        MPI_Comm_free(&b->comm);
    }
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (b->finalize && !finalized) {
        MPI_Finalize();
    }
    free(b);
    d->backend = NULL;
}

vkt_status vkt__dist_barrier(vkt_dist *d)
{
    int rc = MPI_Barrier(d->backend->comm);
    return rc == MPI_SUCCESS ? VKT_OK : mpi_error(d, rc, "MPI_Barrier");
}

vkt_status vkt__dist_sendrecv(vkt_dist *d, const void *send, size_t send_bytes, int to, void *recv,
                              size_t recv_bytes, int from)
{
    const char *s = send;
    char *r = recv;
    size_t most = VKT__MAX(send_bytes, recv_bytes);
    for (size_t done = 0; done < most || most == 0; done += PIECE) {
        int ns = (int)(done < send_bytes ? VKT__MIN(PIECE, send_bytes - done) : 0);
        int nr = (int)(done < recv_bytes ? VKT__MIN(PIECE, recv_bytes - done) : 0);
        int rc = MPI_Sendrecv(s + (ns ? done : 0), ns, MPI_BYTE, to, 0, r + (nr ? done : 0), nr,
                              MPI_BYTE, from, 0, d->backend->comm, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            return mpi_error(d, rc, "MPI_Sendrecv");
        }
        if (most == 0) {
            break;
        }
    }
    d->stats.sent_bytes += send_bytes;
    return VKT_OK;
}

vkt_status vkt__dist_bcast(vkt_dist *d, void *buf, size_t bytes, int root)
{
    char *p = buf;
    for (size_t done = 0; done < bytes; done += PIECE) {
        int rc = MPI_Bcast(p + done, (int)VKT__MIN(PIECE, bytes - done), MPI_BYTE, root,
                           d->backend->comm);
        if (rc != MPI_SUCCESS) {
            return mpi_error(d, rc, "MPI_Bcast");
        }
    }
    return VKT_OK;
}

vkt_status vkt__dist_allreduce_u64(vkt_dist *d, uint64_t *v, int n, bool max)
{
    int rc =
        MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, max ? MPI_MAX : MPI_MIN, d->backend->comm);
    return rc == MPI_SUCCESS ? VKT_OK : mpi_error(d, rc, "MPI_Allreduce");
}

vkt_status vkt__dist_allreduce_f64(vkt_dist *d, double *v, int n, int op)
{
    MPI_Op mop = op == VKT_REDUCE_MAX ? MPI_MAX : op == VKT_REDUCE_MIN ? MPI_MIN : MPI_SUM;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, mop, d->backend->comm);
    return rc == MPI_SUCCESS ? VKT_OK : mpi_error(d, rc, "MPI_Allreduce");
}
