/*
 * dist.c — vkt/dist.h over a backend (dist_mpi.c, dist_none.c): the public calls, and the ring
 * all-reduce the trainer averages gradients with.
 *
 * The ring: the buffer is cut into `size` chunks. In N - 1 reduce-scatter steps rank r sends
 * chunk (r - s) mod N to rank r + 1 and adds the chunk it receives from rank r - 1 into its own
 * copy (received + own, in that order); chunk c then holds x_c + x_(c+1) + ... + x_(c-1), summed
 * left to right, on rank c - 1. N - 1 all-gather steps pass the finished chunks round. Every
 * rank ends with the same bits, and a run with the same ranks and sizes sums in the same order,
 * whatever MPI's own reduction algorithms would choose: that is what makes data-parallel runs
 * repeatable. Each rank sends 2 (N - 1) / N of the buffer, straight from it (no copies).
 *
 * Test: tests/test_ddp.c (run under mpirun by the suite).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist_internal.h"
#include "vkt/gpu.h"

vkt_status vkt_dist_create(const vkt_dist_desc *desc, vkt_dist **out)
{
    if (!out) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dist_create: out is NULL");
    }
    *out = NULL;
    vkt_dist *d = vkt__calloc(1, sizeof *d);
    if (!d) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    vkt_status s = vkt__dist_open(d, desc ? desc->mpi_comm : NULL);
    if (s != VKT_OK) {
        vkt_dist_destroy(d);
        return s;
    }
    const char *env = getenv("VKT_DEVICE");
    if (env && *env) {
        snprintf(d->select, sizeof d->select, "%s", env);
    } else {
        /* more ranks than devices on this machine share them round-robin (lavapipe in tests) */
        uint32_t count = 0;
        if (vkt_enumerate_devices(NULL, 0, &count) != VKT_OK || count == 0) {
            count = 1;
            vkt_clear_error();
        }
        snprintf(d->select, sizeof d->select, "%u", (unsigned)d->local_rank % count);
    }
    *out = d;
    return VKT_OK;
}

void vkt_dist_destroy(vkt_dist *d)
{
    if (!d) {
        return;
    }
    vkt__dist_close(d);
    for (int i = 0; i < VKT__DIST_SCRATCHES; i++) {
        free(d->scratch[i]);
    }
    free(d);
}

float *vkt__dist_scratch(vkt_dist *d, int which, size_t n)
{
    if (n > d->scratch_cap[which]) {
        free(d->scratch[which]);
        d->scratch[which] = vkt__malloc(n * sizeof(float));
        d->scratch_cap[which] = d->scratch[which] ? n : 0;
        if (!d->scratch[which]) {
            vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for %zu floats", n);
            return NULL;
        }
    }
    return d->scratch[which];
}

int vkt_dist_rank(const vkt_dist *d) { return d ? d->rank : 0; }
int vkt_dist_size(const vkt_dist *d) { return d ? d->size : 1; }
int vkt_dist_local_rank(const vkt_dist *d) { return d ? d->local_rank : 0; }
const char *vkt_dist_device_select(const vkt_dist *d) { return d ? d->select : NULL; }

void vkt_dist_get_stats(const vkt_dist *d, vkt_dist_stats *out)
{
    if (out) {
        *out = d ? d->stats : (vkt_dist_stats){0};
    }
}

vkt_status vkt_dist_barrier(vkt_dist *d)
{
    if (!d) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dist_barrier: d is NULL");
    }
    return vkt__dist_barrier(d);
}

vkt_status vkt_dist_broadcast(vkt_dist *d, void *buf, size_t bytes, int root)
{
    if (!d || (!buf && bytes > 0) || root < 0 || root >= d->size) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dist_broadcast: %s",
                          !d     ? "d is NULL"
                          : !buf ? "buf is NULL"
                                 : "root is not a rank");
    }
    return vkt__dist_bcast(d, buf, bytes, root);
}

/* Chunk c of n floats cut into `parts`: [*first, *first + *count). */
static void chunk(size_t n, int parts, int c, size_t *first, size_t *count)
{
    size_t base = n / (size_t)parts, extra = n % (size_t)parts;
    size_t i = (size_t)c;
    *first = i * base + VKT__MIN(i, extra);
    *count = base + (i < extra);
}

vkt_status vkt_dist_allreduce_sum(vkt_dist *d, float *buf, size_t n)
{
    if (!d || (!buf && n > 0)) {
        return vkt__error(VKT_INVALID_ARGUMENT, "vkt_dist_allreduce_sum: %s is NULL",
                          !d ? "d" : "buf");
    }
    double t0 = vkt__now();
    int N = d->size, r = d->rank;
    d->stats.allreduces++;
    d->stats.allreduce_bytes += n * sizeof *buf;
    if (N == 1 || n == 0) {
        d->stats.allreduce_ms += (vkt__now() - t0) * 1e3;
        return VKT_OK;
    }
    /* a reduce-scatter message lands here before it is added in; the gather's go in place */
    size_t most = n / (size_t)N + 1;
    float *recv = vkt__dist_scratch(d, VKT__DIST_RING, most);
    if (!recv) {
        return vkt_last_status();
    }
    int next = (r + 1) % N, prev = (r + N - 1) % N;
    vkt_status s = VKT_OK;
    /* steps 0..N-2 reduce-scatter, N-1..2N-3 all-gather */
    for (int step = 0; step < 2 * (N - 1) && s == VKT_OK; step++) {
        bool gather = step >= N - 1;
        int k = gather ? step - (N - 1) - 1 : step; /* the gather starts from the finished chunk */
        int send_c = ((r - k) % N + N) % N, recv_c = ((r - k - 1) % N + N) % N;
        size_t sf, sn, rf, rn;
        chunk(n, N, send_c, &sf, &sn);
        chunk(n, N, recv_c, &rf, &rn);
        float *into = gather ? buf + rf : recv;
        s = vkt__dist_sendrecv(d, buf + sf, sn * sizeof *buf, next, into, rn * sizeof *buf, prev);
        for (size_t i = 0; s == VKT_OK && !gather && i < rn; i++) {
            buf[rf + i] = recv[i] + buf[rf + i];
        }
    }
    d->stats.allreduce_ms += (vkt__now() - t0) * 1e3;
    return s;
}

vkt_status vkt__dist_allreduce_mean(vkt_dist *d, float *buf, size_t n)
{
    vkt_status s = vkt_dist_allreduce_sum(d, buf, n);
    float inv = 1.0f / (float)d->size;
    for (size_t i = 0; s == VKT_OK && i < n; i++) {
        buf[i] *= inv;
    }
    return s;
}

vkt_status vkt__dist_check_same(vkt_dist *d, uint64_t value, const char *what)
{
    uint64_t v[2] = {value, ~value};
    vkt_status s = vkt__dist_allreduce_u64(d, v, 2, true);
    if (s != VKT_OK) {
        return s;
    }
    uint64_t hi = v[0], lo = ~v[1];
    if (hi == lo) {
        return VKT_OK;
    }
    uint64_t root = value;
    s = vkt__dist_bcast(d, &root, sizeof root, 0);
    if (s != VKT_OK) {
        return s;
    }
    char whose[64];
    if (d->rank == 0) {
        snprintf(whose, sizeof whose, "another rank differs");
    } else {
        snprintf(whose, sizeof whose, "rank 0 has %llu", (unsigned long long)root);
    }
    return vkt__error(VKT_DISTRIBUTED,
                      "the ranks disagree on %s: rank %d has %llu, %s (values from %llu to "
                      "%llu); every rank must run the same model and configuration",
                      what, d->rank, (unsigned long long)value, whose, (unsigned long long)lo,
                      (unsigned long long)hi);
}
