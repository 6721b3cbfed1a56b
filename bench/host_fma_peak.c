/* bench/host_fma_peak.c — the host CPU's own fp32 FMA rate, for comparing a CPU Vulkan driver
 * (lavapipe) with the hardware it runs on: `vkt bench peak` measures what the driver's compiled
 * FMA loop reaches, this measures what the cores reach with native 256-bit FMAs, one thread per
 * core, so the two figures say how much of the cores the driver's code generation leaves
 * (docs/performance.md, "What lavapipe's code generation allows").
 *
 * Each thread runs CHAINS independent chains x = fma(x, a, b) on 8-float vectors (one vfmadd
 * each, the function compiled for AVX2 + FMA whatever the build's flags): 12 chains cover the FMA
 * latency (4-5 cycles) times the two FMA ports of current x86 cores. The best of ROUNDS runs is
 * printed, as the device peak is.
 *
 * usage: host_fma_peak [threads = online cores] [rounds = 5]
 * x86-64 only (bench/meson.build); on a CPU without AVX2 + FMA it says so instead of measuring.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define CHAINS 12
#define STEPS 50000000L

typedef struct {
    float sum; /* keeps the chains live */
} worker_out;

__attribute__((target("avx2,fma"))) static void *worker(void *arg)
{
    __m256 x[CHAINS];
    __m256 a = _mm256_set1_ps(0.999f), b = _mm256_set1_ps(0.001f);
    for (int c = 0; c < CHAINS; c++) {
        x[c] = _mm256_set1_ps((float)c / CHAINS);
    }
    for (long s = 0; s < STEPS; s++) {
        for (int c = 0; c < CHAINS; c++) {
            x[c] = _mm256_fmadd_ps(x[c], a, b);
        }
    }
    float sum = 0.0f;
    for (int c = 0; c < CHAINS; c++) {
        float v[8];
        _mm256_storeu_ps(v, x[c]);
        sum += v[0] + v[7];
    }
    ((worker_out *)arg)->sum = sum;
    return NULL;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("host fp32 FMA peak: not measured (this CPU has no AVX2 + FMA)\n");
        return 0;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = argc > 1 ? atoi(argv[1]) : (int)cores;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    if (threads < 1 || threads > 1024 || rounds < 1) {
        fprintf(stderr, "usage: host_fma_peak [threads 1..1024] [rounds >= 1]\n");
        return 2;
    }
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    worker_out *out = calloc((size_t)threads, sizeof *out);
    if (!tid || !out) {
        fprintf(stderr, "host_fma_peak: out of memory\n");
        return 1;
    }
    double best = 0.0;
    float check = 0.0f;
    for (int r = 0; r < rounds; r++) {
        double t0 = now_s();
        for (int t = 0; t < threads; t++) {
            if (pthread_create(&tid[t], NULL, worker, &out[t]) != 0) {
                fprintf(stderr, "host_fma_peak: cannot start thread %d\n", t);
                return 1;
            }
        }
        for (int t = 0; t < threads; t++) {
            pthread_join(tid[t], NULL);
            check += out[t].sum;
        }
        double gflops = 2.0 * 8.0 * CHAINS * (double)STEPS * threads / (now_s() - t0) / 1e9;
        best = gflops > best ? gflops : best;
    }
    printf("host fp32 FMA peak: %.1f GFLOP/s (%d threads, AVX2 + FMA, best of %d; check %g)\n",
           best, threads, rounds, (double)check);
    free(tid);
    free(out);
    return 0;
}
