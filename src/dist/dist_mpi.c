/*
 * dist_mpi.c — the communicator over MPI (Open MPI or MPICH): a duplicate of the application's
 * communicator (or of MPI_COMM_WORLD) with errors returned, not fatal, so that a failing call
 * becomes a vkt error naming the operation and the rank.
 *
 * Failures reach every rank. Every operation is non-blocking (MPI_Isend/Irecv, MPI-3's
 * MPI_Iallreduce/Ibcast/Ibarrier) and waited for in one loop that also watches a second
 * duplicate, `ctrl`, for a failure notice. A rank whose training fails sends each other rank
 * the reason on ctrl (vkt__dist_fail); a rank waiting in any operation then stops waiting and
 * fails with "rank R failed: <reason>" instead of hanging, and so does every later operation.
 * After a failure nothing is finalised (requests may be left pending): the processes are
 * expected to exit, and the launcher ends the job.
 */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "dist/dist_internal.h"
#include "vkt/train.h"

struct vkt__dist_backend {
    MPI_Comm comm;
    MPI_Comm ctrl; /* failure notices */
    bool finalize; /* vkt initialised MPI */
    bool failed;
    char reason[512]; /* why, once failed */
};

#define TAG_FAIL 1

/* Large transfers in pieces: MPI counts are ints. */
#define PIECE ((size_t)1 << 30)

static vkt_status failed(const vkt_dist *d)
{
    return vkt__error(VKT_DISTRIBUTED, "%s", d->backend->reason);
}

/* A failure notice from another rank, if one has arrived: the backend fails with its reason. */
static bool notice(vkt_dist *d)
{
    vkt__dist_backend *b = d->backend;
    int flag = 0;
    MPI_Status st;
    if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_FAIL, b->ctrl, &flag, &st) != MPI_SUCCESS || !flag) {
        return false;
    }
    char msg[480] = "";
    int len = 0;
    MPI_Get_count(&st, MPI_CHAR, &len);
    len = len < 0 ? 0 : len > (int)sizeof msg - 1 ? (int)sizeof msg - 1 : len;
    MPI_Recv(msg, len, MPI_CHAR, st.MPI_SOURCE, TAG_FAIL, b->ctrl, MPI_STATUS_IGNORE);
    msg[len] = 0;
    snprintf(b->reason, sizeof b->reason, "rank %d failed, so rank %d stops: %s", st.MPI_SOURCE,
             d->rank, msg);
    b->failed = true;
    return true;
}

static vkt_status mpi_error(const vkt_dist *d, int rc, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return vkt__error(VKT_DISTRIBUTED, "rank %d: %s failed: %s", d->rank, what, msg);
}

/* Waits for `n` (at most 2) requests, watching for a failure notice; spins a little, then sleeps in
 * 50 us steps (on a CPU device the other ranks' work needs the cores). */
static vkt_status wait_all(vkt_dist *d, MPI_Request *reqs, int n, const char *what)
{
    /* statuses in an array, not MPI_STATUSES_IGNORE: MPICH's (MPI_Status *)1 trips GCC's
     * -Wstringop-overflow */
    MPI_Status sts[2];
    VKT__ASSERT(n <= 2);
    for (unsigned spins = 0;; spins++) {
        int done = 0;
        int rc = MPI_Testall(n, reqs, &done, sts);
        if (rc != MPI_SUCCESS) {
            return mpi_error(d, rc, what);
        }
        if (done) {
            return VKT_OK;
        }
        if (notice(d)) {
            return failed(d);
        }
        if (spins > 1000) {
            nanosleep(&(struct timespec){0, 50000}, NULL);
        }
    }
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
    rc = MPI_Comm_dup(b->comm, &b->ctrl);
    if (rc != MPI_SUCCESS) {
        b->ctrl = MPI_COMM_NULL;
        return mpi_error(d, rc, "MPI_Comm_dup");
    }
    MPI_Comm_set_errhandler(b->ctrl, MPI_ERRORS_RETURN);
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
    if (!b->failed) {
        if (b->ctrl != MPI_COMM_NULL) {
            MPI_Comm_free(&b->ctrl);
        }
        if (b->comm != MPI_COMM_NULL) {
            MPI_Comm_free(&b->comm);
        }
        int finalized = 0;
        MPI_Finalized(&finalized);
        if (b->finalize && !finalized) {
            MPI_Finalize();
        }
    }
    free(b);
    d->backend = NULL;
}

vkt_status vkt__dist_fail(vkt_dist *d, const char *reason)
{
    vkt__dist_backend *b = d->backend;
    if (b->failed) {
        return VKT_OK; /* a peer's failure: it has told everyone */
    }
    b->failed = true;
    snprintf(b->reason, sizeof b->reason, "rank %d failed: %s", d->rank, reason);
    int len = (int)strlen(reason);
    for (int r = 0; r < d->size; r++) {
        if (r != d->rank) {
            /* a short message: sent eagerly, whether or not the peer ever receives it */
            MPI_Send(reason, len, MPI_CHAR, r, TAG_FAIL, b->ctrl);
        }
    }
    return VKT_OK;
}

vkt_status vkt__dist_barrier(vkt_dist *d)
{
    if (d->backend->failed) {
        return failed(d);
    }
    MPI_Request req;
    int rc = MPI_Ibarrier(d->backend->comm, &req);
    return rc == MPI_SUCCESS ? wait_all(d, &req, 1, "MPI_Ibarrier")
                             : mpi_error(d, rc, "MPI_Ibarrier");
}

vkt_status vkt__dist_sendrecv(vkt_dist *d, const void *send, size_t send_bytes, int to, void *recv,
                              size_t recv_bytes, int from)
{
    if (d->backend->failed) {
        return failed(d);
    }
    const char *s = send;
    char *r = recv;
    size_t most = VKT__MAX(send_bytes, recv_bytes);
    for (size_t done = 0; done < most || most == 0; done += PIECE) {
        int ns = (int)(done < send_bytes ? VKT__MIN(PIECE, send_bytes - done) : 0);
        int nr = (int)(done < recv_bytes ? VKT__MIN(PIECE, recv_bytes - done) : 0);
        MPI_Request reqs[2];
        int rc = MPI_Irecv(r + (nr ? done : 0), nr, MPI_BYTE, from, 0, d->backend->comm, &reqs[0]);
        if (rc == MPI_SUCCESS) {
            rc = MPI_Isend(s + (ns ? done : 0), ns, MPI_BYTE, to, 0, d->backend->comm, &reqs[1]);
        }
        if (rc != MPI_SUCCESS) {
            return mpi_error(d, rc, "MPI_Isend/Irecv");
        }
        vkt_status st = wait_all(d, reqs, 2, "MPI_Isend/Irecv");
        if (st != VKT_OK) {
            return st;
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
    if (d->backend->failed) {
        return failed(d);
    }
    char *p = buf;
    for (size_t done = 0; done < bytes; done += PIECE) {
        MPI_Request req;
        int rc = MPI_Ibcast(p + done, (int)VKT__MIN(PIECE, bytes - done), MPI_BYTE, root,
                            d->backend->comm, &req);
        vkt_status st =
            rc == MPI_SUCCESS ? wait_all(d, &req, 1, "MPI_Ibcast") : mpi_error(d, rc, "MPI_Ibcast");
        if (st != VKT_OK) {
            return st;
        }
    }
    return VKT_OK;
}

vkt_status vkt__dist_allreduce_u64(vkt_dist *d, uint64_t *v, int n, bool max)
{
    if (d->backend->failed) {
        return failed(d);
    }
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_UINT64_T, max ? MPI_MAX : MPI_MIN,
                            d->backend->comm, &req);
    return rc == MPI_SUCCESS ? wait_all(d, &req, 1, "MPI_Iallreduce")
                             : mpi_error(d, rc, "MPI_Iallreduce");
}

vkt_status vkt__dist_allreduce_f64(vkt_dist *d, double *v, int n, int op)
{
    if (d->backend->failed) {
        return failed(d);
    }
    MPI_Op mop = op == VKT_REDUCE_MAX ? MPI_MAX : op == VKT_REDUCE_MIN ? MPI_MIN : MPI_SUM;
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, mop, d->backend->comm, &req);
    return rc == MPI_SUCCESS ? wait_all(d, &req, 1, "MPI_Iallreduce")
                             : mpi_error(d, rc, "MPI_Iallreduce");
}
