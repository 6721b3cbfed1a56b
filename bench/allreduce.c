/*
 * allreduce.c — the cost of vkt's gradient all-reduce (src/dist/dist.c's ring) against buffer
 * size, on the ranks mpirun starts (docs/distributed.md, "Cost"), with MPI's own MPI_Allreduce
 * as the peer: for each size the two alternate round by round on the same buffer, and the
 * medians and their ratio are reported. The ring's time = latency + bytes sent / bandwidth
 * (latency from the smallest size, bandwidth from the two largest) predicts a step's cost for any
 * model: 8 P (N - 1) / N bytes per rank for P fp32 parameters.
 *
 *     mpirun -n 2 build/bench/allreduce [--rounds R]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mpi.h>

#include "vkt/vkt.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int rounds = 15;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        }
    }
    if (rounds < 3) {
        rounds = 3;
    }
    vkt_dist *d;
    if (vkt_dist_create(NULL, &d) != VKT_OK) {
        fprintf(stderr, "allreduce: %s\n", vkt_last_error());
        return 1;
    }
    int rank = vkt_dist_rank(d), n = vkt_dist_size(d);
    enum { SIZES = 8 };
    const size_t sizes[SIZES] = {1 << 8,  1 << 10, 1 << 12, 1 << 14,
                                 1 << 16, 1 << 18, 1 << 20, 1 << 22};
    double t[SIZES], sent[SIZES];
    float *buf = malloc(sizes[SIZES - 1] * sizeof *buf);
    double *times = malloc((size_t)rounds * sizeof *times);
    double *peer = malloc((size_t)rounds * sizeof *peer);
    if (!buf || !times || !peer) {
        return 1;
    }
    if (rank == 0) {
        printf("vkt's ring all-reduce against MPI_Allreduce (%s), %d ranks, median of %d "
               "alternating rounds\n",
               MPI_VERSION >= 3 ? "MPI 3+" : "MPI", n, rounds);
        printf("%10s %12s %12s %11s %11s %7s %9s\n", "floats", "bytes", "sent", "ring ms", "MPI ms",
               "ring/MPI", "GB/s");
    }
    for (int k = 0; k < SIZES; k++) {
        size_t m = sizes[k];
        for (size_t i = 0; i < m; i++) {
            buf[i] = (float)(i % 7) * 0.5f;
        }
        vkt_dist_stats before, after;
        vkt_dist_get_stats(d, &before);
        for (int r = 0; r < rounds; r++) {
            vkt_dist_barrier(d);
            double t0 = now();
            if (vkt_dist_allreduce_sum(d, buf, m) != VKT_OK) {
                fprintf(stderr, "rank %d: %s\n", rank, vkt_last_error());
                return 1;
            }
            times[r] = now() - t0;
            vkt_dist_barrier(d);
            t0 = now();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)m, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            peer[r] = now() - t0;
        }
        vkt_dist_get_stats(d, &after);
        qsort(times, (size_t)rounds, sizeof *times, cmp);
        qsort(peer, (size_t)rounds, sizeof *peer, cmp);
        t[k] = times[rounds / 2];
        double p = peer[rounds / 2];
        sent[k] = (double)(after.sent_bytes - before.sent_bytes) / rounds;
        if (rank == 0) {
            printf("%10zu %12zu %12.0f %11.4f %11.4f %7.2f %9.2f\n", m, m * sizeof(float), sent[k],
                   t[k] * 1e3, p * 1e3, p > 0 ? t[k] / p : 0.0,
                   sent[k] > 0 ? sent[k] / t[k] * 1e-9 : 0.0);
        }
    }
    /* t = latency + sent / bandwidth: the latency from the smallest size (all latency), the
     * bandwidth from the slope between the two largest */
    double lat = t[0];
    double slope = (t[SIZES - 1] - t[SIZES - 2]) / (sent[SIZES - 1] - sent[SIZES - 2]);
    if (rank == 0 && n > 1) {
        printf("model: time = %.1f us + sent bytes / %.2f GB/s, with 8 P (N-1)/N bytes sent per "
               "rank per step for P fp32 parameters: P = 1M on %d ranks -> %.2f ms a step\n",
               lat * 1e6, slope > 0 ? 1e-9 / slope : 0.0, n,
               (lat + slope * 8.0 * 1e6 * (n - 1) / n) * 1e3);
    }
    free(buf);
    free(times);
    free(peer);
    vkt_dist_destroy(d);
    return 0;
}
