/*
 * store_impl.h — an epoch store (src/train/store.c), shared with src/train/store_sync.c, which
 * makes the ranks' stores one under DDP.
 */
#ifndef VKT_STORE_IMPL_H
#define VKT_STORE_IMPL_H

#include "train/trainer_impl.h"

struct vkt__store {
    char name[64];
    vkt_stage stage;
    vkt_store_kind kind;
    vkt_dtype dtype;
    int ndim; /* of one batch */
    int64_t shape[VKT_MAX_DIMS];
    int64_t row_numel;
    int64_t rows;
    vkt_tensor **batches; /* CONCAT */
    uint32_t n_batches, cap;
    vkt_tensor *acc, *m2;                   /* reductions: one row each */
    vkt_tensor *concat, *result, *variance; /* caches, rebuilt after new rows */
    bool var_unbiased;
    uint64_t bytes;
};

const char *vkt__store_kind_name(vkt_store_kind k);
/* Counts `bytes` more against the trainer's store budget; VKT_OUT_OF_DEVICE_MEMORY naming the
 * store when it would go over. */
vkt_status vkt__store_charge(vkt_trainer *t, vkt__store *s, uint64_t bytes);
/* A reduction store's accumulator (and m2), made and charged when it has none yet. */
vkt_status vkt__store_accumulator(vkt_trainer *t, vkt__store *s);
/* Drops the concatenation, result and variance made from the rows so far. */
void vkt__store_drop_caches(vkt__store *s);

#endif
