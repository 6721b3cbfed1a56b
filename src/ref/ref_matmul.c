/*
 * ref_matmul.c — CPU references for vkt_matmul (shaders/matmul_*.comp) and its backward pass,
 * with double accumulation, batched as vkt_matmul: per batch bt, A[bt] is stored (M, K), or (K, M)
 * with VKT_TRANS_A; B[bt] is stored (K, N), or (N, K) with VKT_TRANS_B; C[bt] and G[bt] are
 * (M, N); a shared operand is one matrix for every batch (vkt__ref_mm in src/ref/ref.h).
 * The backward reference is written from the definition (index by index, a shared operand's
 * gradient summed over the batches inside each element's sum), not from the transposed products
 * and batch folding src/ops/matmul.c uses, so the two derivations check each other.
 */
#include <math.h>

#include "ref/ref.h"
#include "vkt/tensor.h"

static inline double op_a(const float *a, int64_t bt, int64_t i, int64_t k, const vkt__ref_mm *g)
{
    const float *m = a + (g->a_shared ? 0 : bt * g->M * g->K);
    return (g->flags & VKT_TRANS_A) ? m[k * g->M + i] : m[i * g->K + k];
}

static inline double op_b(const float *b, int64_t bt, int64_t k, int64_t j, const vkt__ref_mm *g)
{
    const float *m = b + (g->b_shared ? 0 : bt * g->K * g->N);
    return (g->flags & VKT_TRANS_B) ? m[j * g->K + k] : m[k * g->N + j];
}

void vkt__ref_matmul(float *c, const float *a, const float *b, const vkt__ref_mm *g)
{
    for (int64_t bt = 0; bt < g->batch; bt++) {
        for (int64_t i = 0; i < g->M; i++) {
            for (int64_t j = 0; j < g->N; j++) {
                double s = 0.0;
                for (int64_t k = 0; k < g->K; k++) {
                    s += op_a(a, bt, i, k, g) * op_b(b, bt, k, j, g);
                }
                c[(bt * g->M + i) * g->N + j] = (float)s;
            }
        }
    }
}

void vkt__ref_matmul_abs(double *s, const float *a, const float *b, const vkt__ref_mm *g)
{
    for (int64_t bt = 0; bt < g->batch; bt++) {
        for (int64_t i = 0; i < g->M; i++) {
            for (int64_t j = 0; j < g->N; j++) {
                double t = 0.0;
                for (int64_t k = 0; k < g->K; k++) {
                    t += fabs(op_a(a, bt, i, k, g) * op_b(b, bt, k, j, g));
                }
                s[(bt * g->M + i) * g->N + j] = t;
            }
        }
    }
}

void vkt__ref_matmul_backward(float *da, float *db, double *da_abs, double *db_abs,
                              const float *a, const float *b, const float *gout,
                              const vkt__ref_mm *g)
{
    const int64_t M = g->M, N = g->N, K = g->K;
    /* dL/d op(A[bt])[i, k] = sum_j G[bt, i, j] op(B[bt])[k, j], stored where A holds
     * op(A)[bt, i, k]; a shared A holds the sum over bt */
    int64_t na = g->a_shared ? 1 : g->batch;
    for (int64_t ba = 0; ba < na; ba++) {
        for (int64_t i = 0; i < M; i++) {
            for (int64_t k = 0; k < K; k++) {
                double s = 0.0, t = 0.0;
                for (int64_t bt = g->a_shared ? 0 : ba; bt < (g->a_shared ? g->batch : ba + 1);
                     bt++) {
                    for (int64_t j = 0; j < N; j++) {
                        double p = (double)gout[(bt * M + i) * N + j] * op_b(b, bt, k, j, g);
                        s += p;
                        t += fabs(p);
                    }
                }
                int64_t at = ba * M * K + ((g->flags & VKT_TRANS_A) ? k * M + i : i * K + k);
                da[at] = (float)s;
                if (da_abs) {
                    da_abs[at] = t;
                }
            }
        }
    }
    /* dL/d op(B[bt])[k, j] = sum_i op(A[bt])[i, k] G[bt, i, j], stored where B holds
     * op(B)[bt, k, j]; a shared B holds the sum over bt */
    int64_t nb = g->b_shared ? 1 : g->batch;
    for (int64_t bb = 0; bb < nb; bb++) {
        for (int64_t k = 0; k < K; k++) {
            for (int64_t j = 0; j < N; j++) {
                double s = 0.0, t = 0.0;
                for (int64_t bt = g->b_shared ? 0 : bb; bt < (g->b_shared ? g->batch : bb + 1);
                     bt++) {
                    for (int64_t i = 0; i < M; i++) {
                        double p = op_a(a, bt, i, k, g) * gout[(bt * M + i) * N + j];
                        s += p;
                        t += fabs(p);
                    }
                }
                int64_t at = bb * K * N + ((g->flags & VKT_TRANS_B) ? j * K + k : k * N + j);
                db[at] = (float)s;
                if (db_abs) {
                    db_abs[at] = t;
                }
            }
        }
    }
}
