/*
 * ref_embedding.c — CPU reference for vkt_embedding (shaders/embedding*.comp via
 * src/ops/embedding.c): the gather, and the weight gradient either in the device's own order
 * (bit-identical: the summation the shaders do, written out sequentially) or in double. Used by
 * src/check/check_embedding.c and tests/test_embedding.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "ref/ref.h"

void vkt__ref_embedding(float *out, const float *weight, const int32_t *indices, int64_t n,
                        int64_t num, int64_t dim)
{
    for (int64_t i = 0; i < n; i++) {
        int32_t idx = indices[i];
        for (int64_t d = 0; d < dim; d++) {
            out[i * dim + d] = idx >= 0 && idx < num ? weight[idx * dim + d] : NAN;
        }
    }
}

typedef struct emb_key {
    uint32_t index, pos; /* the index as unsigned: out-of-range ones sort last, as on the device */
} emb_key;

static int emb_key_cmp(const void *pa, const void *pb)
{
    const emb_key *a = pa, *b = pb;
    if (a->index != b->index) {
        return a->index < b->index ? -1 : 1;
    }
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* The device's two passes (shaders/embedding_backward.comp) for column d: segments summed from 0
 * in position order; whole runs added to grad; runs across chunks as tail + heads in chunk
 * order. */
static void emb_device_order(float *grad, const float *gout, const emb_key *k, int64_t n,
                             int64_t num, int64_t dim, int64_t chunk, float *head, float *tail,
                             int64_t d)
{
    int64_t chunks = VKT__DIV_UP(n, chunk);
    for (int64_t c = 0; c < chunks; c++) {
        int64_t start = c * chunk, end = start + chunk < n ? start + chunk : n;
        bool in_head = start > 0 && k[start - 1].index == k[start].index;
        float acc = 0.0f;
        for (int64_t i = start; i < end; i++) {
            acc += gout[(int64_t)k[i].pos * dim + d];
            if (i + 1 == end || k[i + 1].index != k[i].index) {
                bool goes_on = i + 1 == end && end < n && k[end].index == k[i].index;
                if (in_head) {
                    head[c] = acc;
                } else if (goes_on) {
                    tail[c] = acc;
                } else if (k[i].index < num) {
                    grad[(int64_t)k[i].index * dim + d] += acc;
                }
                acc = 0.0f;
                in_head = false;
            }
        }
    }
    for (int64_t c = 0; c < chunks; c++) {
        int64_t start = c * chunk, end = start + chunk < n ? start + chunk : n;
        uint32_t index = end < n ? k[end - 1].index : 0;
        if (end >= n || k[end].index != index || (start > 0 && k[start - 1].index == index)) {
            continue;
        }
        float acc = tail[c];
        for (int64_t j = c + 1; j < chunks; j++) {
            acc += head[j];
            int64_t jend = (j + 1) * chunk < n ? (j + 1) * chunk : n;
            if (jend >= n || k[jend].index != index) {
                break;
            }
        }
        if (index < num) {
            grad[(int64_t)index * dim + d] += acc;
        }
    }
}

bool vkt__ref_embedding_backward(float *grad, double *mag, const float *gout,
                                 const int32_t *indices, int64_t n, int64_t num, int64_t dim,
                                 int64_t chunk)
{
    emb_key *k = vkt__malloc((size_t)n * sizeof *k);
    int64_t parts = chunk > 0 ? VKT__DIV_UP(n, chunk) : 1;
    float *head = vkt__malloc((size_t)parts * sizeof *head);
    float *tail = vkt__malloc((size_t)parts * sizeof *tail);
    double *sum = vkt__malloc((size_t)dim * sizeof *sum);
    double *abs_sum = vkt__malloc((size_t)dim * sizeof *abs_sum);
    bool ok = k && head && tail && sum && abs_sum;
    if (ok) {
        for (int64_t i = 0; i < n; i++) {
            k[i] = (emb_key){(uint32_t)indices[i], (uint32_t)i};
        }
        qsort(k, (size_t)n, sizeof *k, emb_key_cmp);
    }
    if (ok && mag) {
        memset(mag, 0, (size_t)(num * dim) * sizeof *mag);
    }
    for (int64_t d = 0; ok && chunk > 0 && d < dim; d++) {
        emb_device_order(grad, gout, k, n, num, dim, chunk, head, tail, d);
    }
    /* in double: each run's sum added to grad once; mag gets the run's sum of |terms| */
    for (int64_t i = 0; ok && chunk <= 0 && i < n;) {
        int64_t e = i;
        memset(sum, 0, (size_t)dim * sizeof *sum);
        memset(abs_sum, 0, (size_t)dim * sizeof *abs_sum);
        for (; e < n && k[e].index == k[i].index; e++) {
            for (int64_t d = 0; d < dim; d++) {
                double g = gout[(int64_t)k[e].pos * dim + d];
                sum[d] += g;
                abs_sum[d] += fabs(g);
            }
        }
        for (int64_t d = 0; k[i].index < num && d < dim; d++) {
            int64_t at = (int64_t)k[i].index * dim + d;
            grad[at] = (float)((double)grad[at] + sum[d]);
            if (mag) {
                mag[at] = abs_sum[d];
            }
        }
        i = e;
    }
    free(k);
    free(head);
    free(tail);
    free(sum);
    free(abs_sum);
    return ok;
}
