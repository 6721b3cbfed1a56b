/*
 * store_sync.c — under DDP, the ranks' epoch stores made one at the end of each epoch, before
 * the epoch-end hooks read them: a concatenation is gathered (every rank's rows, rank 0's
 * first, as torchmetrics' CatMetric and Lightning's all_gather then cat give them), a reduction
 * is reduced (sums, counts and means summed, min and max taken, mean and variance combined by
 * Chan et al.'s pairwise formula). Each rank's rows of a concatenation stay its own in
 * vkt_store_batches.
 *
 * The values travel through the host: one read-back per store, small all-reduces in f64, and
 * for a concatenation one broadcast per rank of that rank's rows. The ranks first check that
 * they hold the same stores (names, kinds, row shapes), so that their collectives pair up.
 *
 * Test: tests/test_ddp.c (stores on 2 ranks against one process).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist_internal.h"
#include "tensor/tensor_impl.h"
#include "train/store_impl.h"

/* FNV-1a over what the ranks must agree on. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ull;
    }
    return h;
}

static uint64_t signature(const vkt_trainer *t, vkt_stage stage)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < t->n_stores; i++) {
        const vkt__store *s = t->stores[i];
        if (s->stage == stage) {
            int32_t k[3] = {(int32_t)s->kind, (int32_t)s->dtype, s->ndim};
            h = fnv(h, s->name, strlen(s->name) + 1);
            h = fnv(h, k, sizeof k);
            h = fnv(h, &s->row_numel, sizeof s->row_numel);
        }
    }
    return h;
}

/* Every rank's rows, rank 0's first, as the store's concatenation. */
static vkt_status gather(vkt_trainer *t, vkt__store *s)
{
    vkt_dist *d = t->dist;
    int n = d->size;
    size_t row_bytes = (size_t)s->row_numel * vkt__dtype_size(s->dtype);
    uint64_t *rows = vkt__calloc((size_t)n, sizeof *rows);
    if (!rows) {
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    rows[d->rank] = (uint64_t)s->rows;
    vkt_status st = vkt__dist_allreduce_u64(d, rows, n, true);
    uint64_t total = 0, before = 0;
    for (int r = 0; r < n; r++) {
        before += r < d->rank ? rows[r] : 0;
        total += rows[r];
    }
    uint8_t *h = st == VKT_OK && total ? vkt__malloc(total * row_bytes) : NULL;
    if (st == VKT_OK && total && !h) {
        st = vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory for %llu rows",
                        (unsigned long long)total);
    }
    if (st == VKT_OK && s->rows > 0) {
        vkt_tensor *mine = vkt_store_concat(t, s->stage, s->name);
        st = mine ? vkt_tensor_download(mine, h + before * row_bytes, rows[d->rank] * row_bytes)
                  : vkt_last_status();
    }
    uint64_t at = 0;
    for (int r = 0; st == VKT_OK && r < n; r++) {
        if (rows[r]) {
            st = vkt__dist_bcast(d, h + at * row_bytes, rows[r] * row_bytes, r);
        }
        at += rows[r];
    }
    if (st == VKT_OK && total) {
        int64_t shape[VKT_MAX_DIMS];
        memcpy(shape, s->shape, sizeof shape);
        shape[0] = (int64_t)total;
        vkt_tensor *all = vkt_tensor_keep(vkt_tensor_new(t->dev, s->dtype, s->ndim, shape));
        st = all ? vkt_tensor_upload(all, h, total * row_bytes) : vkt_last_status();
        vkt__store_drop_caches(s);
        s->concat = all;
        s->rows = (int64_t)total;
    }
    free(h);
    free(rows);
    return st;
}

/* A rank's accumulator as doubles: zeros when it has no rows (and so no accumulator) yet. */
static vkt_status read_acc(const vkt__store *s, const vkt_tensor *acc, float *buf, double *out)
{
    size_t n = (size_t)s->row_numel;
    vkt_status st = s->rows > 0 ? vkt_tensor_download(acc, buf, n * sizeof *buf) : VKT_OK;
    for (size_t i = 0; i < n; i++) {
        out[i] = s->rows > 0 ? buf[i] : 0.0;
    }
    return st;
}

static vkt_status write_acc(const vkt__store *s, vkt_tensor *acc, float *buf, const double *v)
{
    for (int64_t i = 0; i < s->row_numel; i++) {
        buf[i] = (float)v[i];
    }
    return vkt_tensor_upload(acc, buf, (size_t)s->row_numel * sizeof *buf);
}

/* Sums, counts, means (the accumulator is the sum), min and max; mean and variance: with n_r rows,
 * mean m_r and sum of squared deviations M2_r on rank r, the mean is sum n_r m_r / n and
 * M2 = sum (M2_r + n_r (m_r - mean)^2). */
static vkt_status reduce(vkt_trainer *t, vkt__store *s)
{
    vkt_dist *d = t->dist;
    size_t n = (size_t)s->row_numel;
    bool var = s->kind == VKT_STORE_MEAN_VAR;
    double mine = (double)s->rows, rows = mine;
    vkt_status st = vkt__dist_allreduce_f64(d, &rows, 1, VKT_REDUCE_SUM);
    if (st != VKT_OK || s->kind == VKT_STORE_COUNT || rows == 0) {
        s->rows = (int64_t)rows;
        vkt__store_drop_caches(s);
        return st;
    }
    float *buf = vkt__malloc(n * sizeof *buf);
    double *acc = vkt__malloc(3 * n * sizeof *acc); /* acc, m2, this rank's mean */
    if (!buf || !acc) {
        free(buf);
        free(acc);
        return vkt__error(VKT_OUT_OF_HOST_MEMORY, "out of host memory");
    }
    double *m2 = acc + n, *local_mean = acc + 2 * n;
    st = read_acc(s, s->acc, buf, acc);
    if (st == VKT_OK && var) {
        st = read_acc(s, s->m2, buf, m2);
    }
    int op = s->kind == VKT_STORE_MAX   ? VKT_REDUCE_MAX
             : s->kind == VKT_STORE_MIN ? VKT_REDUCE_MIN
                                        : VKT_REDUCE_SUM;
    for (size_t i = 0; i < n; i++) {
        if (s->rows == 0 && op != VKT_REDUCE_SUM) {
            acc[i] = op == VKT_REDUCE_MAX ? -INFINITY : INFINITY; /* no rows: the identity */
        }
        local_mean[i] = acc[i];
        acc[i] *= var ? mine : 1.0;
    }
    if (st == VKT_OK) {
        st = vkt__dist_allreduce_f64(d, acc, (int)n, op);
    }
    if (st == VKT_OK && var) {
        for (size_t i = 0; i < n; i++) {
            acc[i] /= rows;
            double dev = local_mean[i] - acc[i];
            m2[i] += mine * dev * dev;
        }
        st = vkt__dist_allreduce_f64(d, m2, (int)n, VKT_REDUCE_SUM);
    }
    if (st == VKT_OK) {
        st = vkt__store_accumulator(t, s);
    }
    if (st == VKT_OK) {
        st = write_acc(s, s->acc, buf, acc);
    }
    if (st == VKT_OK && var) {
        st = write_acc(s, s->m2, buf, m2);
    }
    if (st == VKT_OK) {
        s->rows = (int64_t)rows;
        vkt__store_drop_caches(s);
    }
    free(buf);
    free(acc);
    return st;
}

vkt_status vkt__stores_sync(vkt_trainer *t, vkt_stage stage)
{
    if (!t->dist) {
        return VKT_OK;
    }
    vkt_status st = vkt__dist_check_same(t->dist, signature(t, stage),
                                         "the epoch stores (vkt_store names, kinds and row "
                                         "shapes) of the stage");
    for (uint32_t i = 0; st == VKT_OK && i < t->n_stores; i++) {
        vkt__store *s = t->stores[i];
        if (s->stage == stage) {
            st = s->kind == VKT_STORE_CONCAT ? gather(t, s) : reduce(t, s);
            if (st != VKT_OK) {
                vkt__error_context("epoch store \"%s\" across the ranks", s->name);
            }
        }
    }
    return st;
}
