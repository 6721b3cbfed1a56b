/*
 * ref_matmul.c — CPU references for vkt_matmul (shaders/matmul_*.comp) and its backward pass,
 * with double accumulation. Flags as in vkt_matmul: A is stored (M, K), or (K, M) with
 * VKT_TRANS_A; B is stored (K, N), or (N, K) with VKT_TRANS_B; C and G are (M, N).
 * The backward reference is written from the definition (index by index), not from the
 * transposed products src/ops/matmul.c uses, so the two derivations check each other.
 */
#include <math.h>

#include "ref/ref.h"
#include "vkt/tensor.h"

static inline double op_a(const float *a, int64_t i, int64_t k, int64_t M, int64_t K, int flags)
{
    return (flags & VKT_TRANS_A) ? a[k * M + i] : a[i * K + k];
}

static inline double op_b(const float *b, int64_t k, int64_t j, int64_t N, int64_t K, int flags)
{
    return (flags & VKT_TRANS_B) ? b[j * K + k] : b[k * N + j];
}

void vkt__ref_matmul(float *c, const float *a, const float *b, int64_t M, int64_t N, int64_t K,
                     int flags)
{
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) {
                s += op_a(a, i, k, M, K, flags) * op_b(b, k, j, N, K, flags);
            }
            c[i * N + j] = (float)s;
        }
    }
}

void vkt__ref_matmul_abs(double *s, const float *a, const float *b, int64_t M, int64_t N,
                         int64_t K, int flags)
{
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double t = 0.0;
            for (int64_t k = 0; k < K; k++) {
                t += fabs(op_a(a, i, k, M, K, flags) * op_b(b, k, j, N, K, flags));
            }
            s[i * N + j] = t;
        }
    }
}

void vkt__ref_matmul_backward(float *da, float *db, double *da_abs, double *db_abs,
                              const float *a, const float *b, const float *g, int64_t M,
                              int64_t N, int64_t K, int flags)
{
    /* dL/d op(A)[i, k] = sum_j G[i, j] op(B)[k, j], stored where A holds op(A)[i, k] */
    for (int64_t i = 0; i < M; i++) {
        for (int64_t k = 0; k < K; k++) {
            double s = 0.0, t = 0.0;
            for (int64_t j = 0; j < N; j++) {
                double p = (double)g[i * N + j] * op_b(b, k, j, N, K, flags);
                s += p;
                t += fabs(p);
            }
            int64_t at = (flags & VKT_TRANS_A) ? k * M + i : i * K + k;
            da[at] = (float)s;
            if (da_abs) {
                da_abs[at] = t;
            }
        }
    }
    /* dL/d op(B)[k, j] = sum_i op(A)[i, k] G[i, j], stored where B holds op(B)[k, j] */
    for (int64_t k = 0; k < K; k++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0.0, t = 0.0;
            for (int64_t i = 0; i < M; i++) {
                double p = op_a(a, i, k, M, K, flags) * g[i * N + j];
                s += p;
                t += fabs(p);
            }
            int64_t at = (flags & VKT_TRANS_B) ? j * K + k : k * N + j;
            db[at] = (float)s;
            if (db_abs) {
                db_abs[at] = t;
            }
        }
    }
}
