/*
 * ref_attention.c — CPU reference of vkt_attention (src/ops/attention.c): forward and backward of
 * softmax(q kᵀ scale + mask) (dropout) v in double, one (b * h, query row) at a time, with the
 * dropout multipliers of vkt__ref_dropout_keep (bit-identical to the device's). Used by
 * src/check/check_attention.c and tests/test_attention.c.
 *
 * Tolerance of the fused kernels against it (check_attention.c): the device accumulates fp32
 * dot products of D terms and sums of Tk terms with the online-softmax rescaling; with inputs in
 * [-1, 1) and T <= 200 the measured error is below 1e-5 (vkt__max_err units); 1e-4 leaves room
 * for other devices' exp and summation order.
 */
#include <math.h>
#include <stdlib.h>

#include "ref/ref.h"

/* The scores of query row (s, i) into sc[tk] (-inf where masked) and the probabilities into
 * pr[tk] (times the dropout multiplier into pz[tk]); returns the logsumexp. */
static double row_probs(const vkt__ref_attention_args *a, const float *q, const float *k, int64_t s,
                        int64_t i, double *pr, double *pz)
{
    const float *qi = q + (s * a->tq + i) * a->d;
    double mx = -INFINITY;
    for (int64_t j = 0; j < a->tk; j++) {
        const float *kj = k + (s * a->tk + j) * a->d;
        double dot = 0.0;
        for (int64_t e = 0; e < a->d; e++) {
            dot += (double)qi[e] * (double)kj[e];
        }
        double sc = dot * (double)a->scale + (a->mask ? (double)a->mask[i * a->tk + j] : 0.0);
        if (a->causal && j > i) {
            sc = -INFINITY;
        }
        pr[j] = sc;
        mx = fmax(mx, sc);
    }
    if (mx == -INFINITY) {
        for (int64_t j = 0; j < a->tk; j++) {
            pr[j] = pz[j] = NAN;
        }
        return -INFINITY;
    }
    double sum = 0.0;
    for (int64_t j = 0; j < a->tk; j++) {
        pr[j] = exp(pr[j] - mx);
        sum += pr[j];
    }
    double keep_scale = a->p < 1.0f ? (double)(float)(1.0 / (1.0 - (double)a->p)) : 0.0;
    for (int64_t j = 0; j < a->tk; j++) {
        pr[j] /= sum;
        double z = 1.0;
        if (a->p > 0.0f) {
            int64_t flat = (s * a->tq + i) * a->tk + j;
            z = vkt__ref_dropout_keep(a->p, a->seed, a->offset, flat) ? keep_scale : 0.0;
        }
        pz[j] = pr[j] * z;
    }
    return mx + log(sum);
}

bool vkt__ref_attention(const vkt__ref_attention_args *a, const float *q, const float *k,
                        const float *v, float *out, float *lse)
{
    double *pr = malloc((size_t)a->tk * 2 * sizeof *pr);
    if (!pr) {
        return false;
    }
    double *pz = pr + a->tk;
    for (int64_t s = 0; s < a->bh; s++) {
        for (int64_t i = 0; i < a->tq; i++) {
            double l = row_probs(a, q, k, s, i, pr, pz);
            if (lse) {
                lse[s * a->tq + i] = (float)l;
            }
            for (int64_t e = 0; e < a->d; e++) {
                double acc = 0.0;
                for (int64_t j = 0; j < a->tk; j++) {
                    acc += pz[j] * (double)v[(s * a->tk + j) * a->d + e];
                }
                out[(s * a->tq + i) * a->d + e] = (float)acc;
            }
        }
    }
    free(pr);
    return true;
}

bool vkt__ref_attention_backward(const vkt__ref_attention_args *a, const float *q, const float *k,
                                 const float *v, const float *dout, float *dq, float *dk, float *dv)
{
    int64_t nk = a->bh * a->tk * a->d;
    double *pr = malloc(((size_t)a->tk * 3 + (size_t)nk * 2 + (size_t)a->d) * sizeof *pr);
    if (!pr) {
        return false;
    }
    double *pz = pr + a->tk, *ds = pz + a->tk, *dka = ds + a->tk, *dva = dka + nk, *dqa = dva + nk;
    for (int64_t x = 0; x < 2 * nk; x++) {
        dka[x] = 0.0;
    }
    for (int64_t s = 0; s < a->bh; s++) {
        for (int64_t i = 0; i < a->tq; i++) {
            row_probs(a, q, k, s, i, pr, pz);
            const float *qi = q + (s * a->tq + i) * a->d, *gi = dout + (s * a->tq + i) * a->d;
            /* dP_j = dO_i . v_j (through the dropout), D_i = sum_j P_j z_j dO_i . v_j */
            double dsum = 0.0;
            for (int64_t j = 0; j < a->tk; j++) {
                const float *vj = v + (s * a->tk + j) * a->d;
                double dp = 0.0;
                for (int64_t e = 0; e < a->d; e++) {
                    dp += (double)gi[e] * (double)vj[e];
                }
                ds[j] = dp;
                dsum += pz[j] * dp;
            }
            for (int64_t e = 0; e < a->d; e++) {
                dqa[e] = 0.0;
            }
            for (int64_t j = 0; j < a->tk; j++) {
                double z = pr[j] != 0.0 ? pz[j] / pr[j] : 0.0;
                double g = pr[j] * (z * ds[j] - dsum) * (double)a->scale;
                const float *kj = k + (s * a->tk + j) * a->d;
                for (int64_t e = 0; e < a->d; e++) {
                    dqa[e] += g * (double)kj[e];
                    dka[(s * a->tk + j) * a->d + e] += g * (double)qi[e];
                    dva[(s * a->tk + j) * a->d + e] += pz[j] * (double)gi[e];
                }
            }
            for (int64_t e = 0; e < a->d; e++) {
                dq[(s * a->tq + i) * a->d + e] = (float)dqa[e];
            }
        }
    }
    for (int64_t x = 0; x < nk; x++) {
        dk[x] = (float)dka[x];
        dv[x] = (float)dva[x];
    }
    free(pr);
    return true;
}
